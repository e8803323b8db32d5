/* index.h — the in-process spatial index of businesses: exact radius search
 * with an exact total, k-nearest search, and versioned upserts/removals.
 *
 * Two implementations behind one interface (PROXIMITY_INDEX):
 *   geohash  — points sorted by 64-bit geohash key; a circle is covered by
 *              geohash cells at a precision chosen from the radius, each
 *              cell a key range found by binary search.
 *   quadtree — the same sorted points under an explicit PR-quadtree whose
 *              nodes store their point range, live count and category
 *              masks, so no search ever binary-searches.
 * Both return exactly the points whose haversine distance (geo.h) is <= the
 * radius, ordered by (distance, id), identical to a brute-force scan.
 *
 * Concurrency: any number of threads may search while one thread writes.
 * Searches hold a reader lock; the writer takes the writer side only to
 * apply one small change (a mark in the sorted base plus an insertion into
 * a bounded delta of recent changes), never for a scan or a rebuild. When
 * the delta fills up, the writer merges it into a new base beside the old
 * one, unlocked, and swaps pointers under the lock. Writes from several
 * threads are serialised internally. Replacing a whole index (a snapshot
 * reload) goes through index_live.h. */
#ifndef PROXIMITY_INDEX_H
#define PROXIMITY_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "category.h"

typedef struct index index_t;

typedef enum { INDEX_GEOHASH, INDEX_QUADTREE } index_kind_t;

/* A business as the index sees it. lat/lng are snapped to 1e-7 degrees on
 * entry (geo_coord_encode); version must be >= 0; id must not be INT64_MIN. */
typedef struct {
    int64_t id;
    double lat, lng;
    category_set_t categories;
    int64_t version;
} index_point_t;

typedef struct {
    /* Quadtree: a node holding more points than this is split (default 64). */
    unsigned leaf_capacity;
    /* Changes buffered before the writer merges them into the base
     * (0 = automatic: grows with the index, 1024..65536). */
    size_t delta_capacity;
} index_options_t;

typedef struct {
    double lat, lng;             /* query point, degrees */
    double radius_m;             /* >= 0; ignored by index_search_nearest */
    size_t limit;                /* hits wanted; 0 = only the total */
    category_set_t categories;   /* any-of filter; 0 = no filter */
    bool has_after;              /* resume after the (distance, id) below */
    double after_distance_m;
    int64_t after_id;
} index_query_t;

typedef struct {
    int64_t id;
    double distance_m;
    double lat, lng;
    category_set_t categories;
    int64_t version;
} index_hit_t;

typedef struct {
    size_t count;        /* live points */
    size_t tombstones;   /* removed ids remembered with their version */
    size_t delta;        /* changes not yet merged into the base */
    size_t bytes_index;  /* sorted points, tree/delta/marks: what search needs */
    size_t bytes_idmap;  /* id → location/version map used only by writes */
    uint64_t generation; /* bumped by every applied change and by build */
} index_stats_t;

/* Parses "geohash" or "quadtree" into *kind. Returns 0, or -1 if unknown. */
int index_kind_parse(const char *s, index_kind_t *kind);

/* The name index_kind_parse accepts for kind (static storage). */
const char *index_kind_name(index_kind_t kind);

/* A new, empty index owned by the caller (free with index_free); opt may
 * be NULL for defaults. */
index_t *index_new(index_kind_t kind, const index_options_t *opt);

/* Frees ix and everything it owns. No search may be running on it. */
void index_free(index_t *ix);

/* The kind ix was created with. */
index_kind_t index_kind(const index_t *ix);

/* Bulk-loads n points (the caller keeps pts) into an empty index; for a
 * repeated id the highest version wins. Returns 0, or -1 with a message in
 * err if the index is not empty or a point is invalid (nothing loaded). */
int index_build(index_t *ix, const index_point_t *pts, size_t n, char *err, size_t errlen);

/* Inserts or replaces p->id. Applied only if p->version is newer than the
 * version held for that id, a removal's tombstone included. Returns true
 * if applied, false if stale or invalid. */
bool index_upsert(index_t *ix, const index_point_t *p);

/* Removes id as of version, leaving a tombstone so an older upsert cannot
 * bring it back. Returns true if applied (also for an id never seen),
 * false if version is not newer than what is held. */
bool index_remove(index_t *ix, int64_t id, int64_t version);

/* Forgets tombstones with version <= upto (once no older event can be
 * replayed). Returns how many were forgotten. */
size_t index_forget_tombstones(index_t *ix, int64_t upto);

/* Points within q->radius_m of (q->lat, q->lng) matching the filter, the
 * first q->limit of those after the resume point, ordered by (distance,
 * id), into hits[0..*nhits). *total (may be NULL) = all matches within the
 * radius, ignoring the resume point and limit. Returns 0, or -1 with a
 * message in err for an invalid query. */
int index_search_radius(index_t *ix, const index_query_t *q, index_hit_t *hits, size_t *nhits,
                        uint64_t *total, char *err, size_t errlen);

/* The q->limit points nearest to (q->lat, q->lng) matching the filter and
 * after the resume point, with no radius, in (distance, id) order.
 * *total (may be NULL) = all points matching the filter (this one scans
 * when a filter is given). Returns 0, or -1 as index_search_radius. */
int index_search_nearest(index_t *ix, const index_query_t *q, index_hit_t *hits, size_t *nhits,
                         uint64_t *total, char *err, size_t errlen);

/* Fills *st with a consistent snapshot of the counters. */
void index_stats(index_t *ix, index_stats_t *st);

/* Looks up id: true and *out filled if it is live, false otherwise. */
bool index_get(index_t *ix, int64_t id, index_point_t *out);

#endif
