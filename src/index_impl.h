/* index_impl.h — private to index*.c: the record layout, the shared search
 * engine's state and the hooks each index kind provides. */
#ifndef PROXIMITY_INDEX_IMPL_H
#define PROXIMITY_INDEX_IMPL_H

#include <pthread.h>
#include <stdatomic.h>

#include "geo.h"
#include "geohash.h"
#include "index.h"

/* One point, 28 bytes in two parallel arrays: the whole per-point cost of
 * the search structure. The location (8 bytes) is what a search scans for
 * every point of a boundary leaf, so it lives apart from the rest (20
 * bytes), which is read only for points inside the circle: a leaf of 64
 * points is 8 cache lines of locations instead of 28 of whole records.
 * The version is kept as an offset from its run's base version: versions
 * come from one database sequence, so a run spans far less than 2^32 of
 * them, and the rare one that does not fit goes in the run's table of big
 * versions. Packed to 4-byte alignment: x86 loads the 8-byte fields at any
 * alignment at no cost. */
typedef struct {
    int32_t lat, lng; /* geo_coord_encode units */
} index_loc_t;

typedef struct __attribute__((packed, aligned(4))) {
    int64_t id;
    category_set_t cats;
    uint32_t ver; /* version - run base, or one of the two below */
} index_rec_t;

_Static_assert(sizeof(index_loc_t) + sizeof(index_rec_t) == 28, "a point must stay 28 bytes");

#define INDEX_VER_DELETED UINT32_MAX /* superseded in the base */
#define INDEX_VER_BIG (UINT32_MAX - 1) /* in the run's big-version table */
#define INDEX_NO_NODE UINT32_MAX

/* A quadtree node: its points are positions [begin, end) of the base;
 * its four children (key order) are nodes[child .. child+3], child 0 =
 * leaf. 16 bytes, so four siblings share one cache line and the walks and
 * splits of a search touch one line a level; the category masks, needed
 * only by filtered searches, are a parallel array. */
typedef struct {
    uint32_t begin, end, child, live;
} index_qnode_t;

/* The masks cover every point ever in the node: deleted points only make
 * cat_or larger and cat_and smaller, which keeps both conservative. */
typedef struct {
    category_set_t cat_or, cat_and;
} index_qmask_t;

/* The immutable-between-merges sorted part of an index. */
typedef struct {
    index_loc_t *locs; /* sorted by geohash_key */
    index_rec_t *recs; /* the rest of each point, same positions */
    size_t n;
    uint32_t *deleted; /* sorted positions of superseded records */
    size_t ndeleted, deleted_cap;
    index_qnode_t *nodes; /* quadtree kind only; nodes[0] is the root */
    index_qmask_t *masks; /* and their category masks */
    size_t nnodes;
    uint64_t *sample; /* geohash kind: key of every INDEX_SAMPLE-th record */
    int64_t vbase;    /* version of a record = vbase + ver */
    uint32_t *big_pos; /* ascending positions of INDEX_VER_BIG records */
    int64_t *big_ver;  /* and their versions */
    size_t nbig, big_cap;
} index_base_t;

/* A binary search over the sampled keys touches a dense 0.5 B/point array
 * instead of a cache line of records per probe, then ends among 16. */
#define INDEX_SAMPLE 16

/* id → where the live record is (packed location) or a tombstone version:
 * a sorted part from the build and a hash of ids seen since (index.c). */
typedef struct {
    int64_t *sids;  /* ascending */
    uint64_t *svals;
    size_t ns, scap;
    int64_t *ids;   /* hash; INT64_MIN = empty bucket */
    uint64_t *vals;
    size_t cap, used;
    size_t tombstones; /* in both parts */
} index_idmap_t;

struct index {
    index_kind_t kind;
    unsigned leaf_capacity;
    size_t delta_option;
    pthread_rwlock_t lock;   /* searches: read; one small change: write */
    pthread_mutex_t wlock;   /* serialises writers for the whole operation */
    index_base_t *base;
    index_loc_t *delta_loc;  /* recent upserts, sorted by key, all live */
    index_rec_t *delta;      /* the rest of them, same positions */
    int64_t *delta_ver;      /* their versions (ver is unused in the delta) */
    size_t ndelta, delta_alloc, delta_limit;
    index_idmap_t map;
    uint64_t generation;
    atomic_uint_fast64_t refs; /* index_live.c reference count */
};

/* A search cell: a geohash cell, its record range in the current run and,
 * for quadtree runs, its node; lb/ub bound the haversine term h. */
typedef struct {
    double lb, ub;
    uint64_t bits;
    uint32_t begin, end, node;
    unsigned nbits;
} index_cell_t;

/* State of one search over one or more runs (base, then delta). */
typedef struct {
    const index_loc_t *locs;
    const index_rec_t *recs;
    size_t nrecs;
    const uint32_t *deleted;
    size_t ndeleted;
    const index_qnode_t *nodes; /* NULL: run is searched as plain geohash */
    const index_qmask_t *masks;
    const uint64_t *sample;     /* NULL: no sampled keys (the delta) */
    unsigned leaf;              /* geohash runs: scan ranges this short */
    int64_t vbase;              /* versions of the run (index_base_t) */
    const uint32_t *big_pos;
    const int64_t *big_ver;
    size_t nbig;
    const int64_t *full_ver;    /* non-NULL: the version of each record */

    geo_origin_t o;
    double sin_lat;             /* of the origin, for the series path */
    geo_bounds_t box;           /* bounded searches: the circle's box */
    int32_t box_lat, box_lng;   /* the box on the 1e-7° grid, widened: a */
    uint32_t box_dlat, box_dlng; /* point off [lat, lat+dlat] is outside */
    double radius_m;
    double h_in, h_out;         /* cell inside / outside thresholds */
    double h_pt_lo, h_pt_hi;    /* point surely in / surely out */
    bool quad;                  /* the quadratic estimate of h is on: */
    double q_lat0, q_lng0;      /* origin in grid units */
    double q_amax, q_bmax;      /* |Δlat|, wrapped |Δlng| bounds (grid units) */
    double q_p, q_q, q_s;       /* h ~ p·Δlat² + (q - s·Δlat)·Δlng² */
    double q_err;               /* its error bound over that box */
    double q_in, q_out;         /* q below / above: surely in / out */
    category_set_t filter;
    bool count_total, bounded;
    uint64_t total;

    bool has_after;
    double after_d, after_h_lo;
    int64_t after_id;

    index_hit_t *hits; /* max-heap on (distance, id) of size <= limit */
    size_t nhits, limit;
    double kth_h_hi;   /* a cell with lb above this cannot improve the hits */

    index_cell_t *pq; /* min-heap on lb */
    size_t npq, pq_cap;
} index_search_t;

/* Engine (index.c): sets the bounds of c from its cell and pushes it unless
 * it lies wholly outside the circle. */
void index_engine_push(index_search_t *s, index_cell_t *c);

/* Engine: the same for the four quarter cells k[0..3] of parent (key
 * order, two bits deeper), bounding their latitude bands and longitude ranges
 * once; a quarter with begin >= end is skipped. Returns the set of those
 * pushed (bit i for k[i]). */
unsigned index_engine_push_quarters(index_search_t *s, const index_cell_t *parent, index_cell_t k[4]);

/* Engine: live records of c that match the filter (count-only path). */
uint64_t index_engine_count_range(const index_search_t *s, uint32_t begin, uint32_t end);

/* First position in locs[lo, hi) whose key is >= key. */
size_t index_lower_bound(const index_loc_t *locs, size_t lo, size_t hi, uint64_t key);

/* First position in s->locs[lo, hi) whose key is >= key, using samples. */
size_t index_run_lower_bound(const index_search_t *s, size_t lo, size_t hi, uint64_t key);

/* Key of a location. */
static inline uint64_t index_loc_key(const index_loc_t *l)
{
    return geohash_key(l->lat, l->lng);
}

/* Geohash kind (index_geohash.c): pushes the covering cells of the query. */
void index_gh_seed(index_search_t *s);

/* Geohash: pushes the four quarter cells of c. */
void index_gh_split(index_search_t *s, const index_cell_t *c);

/* Quadtree kind (index_quadtree.c): builds b->nodes over b->recs; keys
 * (may be NULL) holds the key of each record. */
void index_qt_build(index_base_t *b, unsigned leaf_capacity, const uint64_t *keys);

/* Quadtree: pushes the root. */
void index_qt_seed(index_search_t *s);

/* Quadtree: pushes the non-empty children of c. */
void index_qt_split(index_search_t *s, const index_cell_t *c);

/* Quadtree: live points of c's node matching the filter, using the masks. */
uint64_t index_qt_count(const index_search_t *s, uint32_t node);

/* Quadtree: accounts for the deletion of base position pos. */
void index_qt_mark_deleted(index_base_t *b, size_t pos);

#endif
