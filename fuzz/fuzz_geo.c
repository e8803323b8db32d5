/* fuzz_geo.c — geometry, geohash and both spatial indexes against the
 * brute-force oracle of tests/index_oracle.c. The input describes points
 * (anywhere, or near the query point so a radius catches them), a bulk
 * load, later upserts and removals with any versions, and one query.
 * Properties: both indexes agree with the oracle on every write's outcome
 * and on every radius and nearest search (hits, order, distances, total,
 * resume point); a geohash covering of the circle holds every hit; a
 * point lies inside the cell its geohash decodes to. */
#include <math.h>
#include <string.h>

#include "fuzz.h"
#include "geo.h"
#include "geohash.h"
#include "index.h"
#include "index_oracle.h"

#define HEADER 16
#define OP_SIZE 11
#define MAX_OPS 256

typedef struct {
    const uint8_t *p;
    size_t n;
} reader_t;

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int32_t lat_e7_of(uint32_t u)
{
    return (int32_t)(u % 1800000001u) - 900000000;
}

static int32_t lng_e7_of(uint32_t u)
{
    return (int32_t)((int64_t)(u % 3600000001u) - 1800000000);
}

/* A point near (qlat, qlng): offsets of up to ±3.2 km, folded at the
 * poles and wrapped at ±180 like real coordinates. */
static void near(int32_t qlat, int32_t qlng, int16_t dlat, int16_t dlng, int32_t *lat, int32_t *lng)
{
    int64_t la = (int64_t)qlat + (int64_t)dlat * 16, lo = (int64_t)qlng + (int64_t)dlng * 16;
    if (la > 900000000)
        la = 1800000000 - la;
    if (la < -900000000)
        la = -1800000000 - la;
    if (lo > 1800000000)
        lo -= 3600000000;
    if (lo < -1800000000)
        lo += 3600000000;
    *lat = (int32_t)la;
    *lng = (int32_t)lo;
}

static void check_search(index_t *const ix[2], const oracle_t *o, const index_query_t *q, int bounded)
{
    size_t nwant;
    uint64_t twant;
    index_hit_t *want = oracle_search(o, q, bounded, &nwant, &twant);
    for (int k = 0; k < 2; k++) {
        index_hit_t got[64];
        size_t ngot = 0;
        uint64_t tgot = 0;
        char err[128] = "";
        int rc = bounded ? index_search_radius(ix[k], q, got, &ngot, &tgot, err, sizeof err)
                         : index_search_nearest(ix[k], q, got, &ngot, &tgot, err, sizeof err);
        FUZZ_CHECK(rc == 0, "%s search failed: %s", index_kind_name(index_kind(ix[k])), err);
        FUZZ_CHECK(tgot == twant && oracle_hits_equal(want, nwant, got, ngot),
                   "%s %s search (%.7f,%.7f) r=%.17g limit=%zu cats=%llx after=%d: "
                   "%zu hits of %llu, oracle %zu of %llu",
                   index_kind_name(index_kind(ix[k])), bounded ? "radius" : "nearest", q->lat, q->lng,
                   q->radius_m, q->limit, (unsigned long long)q->categories, q->has_after, ngot,
                   (unsigned long long)tgot, nwant, (unsigned long long)twant);
    }
    free(want);
}

/* Every point within the radius lies in one of the covering's cells. */
static void check_cover(const oracle_t *o, const index_query_t *q)
{
    geohash_cell_t cells[64];
    size_t nc = geohash_cover(q->lat, q->lng, q->radius_m, cells, 64);
    FUZZ_CHECK(nc >= 1 && nc <= 64, "%zu cells", nc);
    index_query_t all = *q;
    all.limit = SIZE_MAX;
    all.has_after = false;
    all.categories = 0;
    size_t n;
    uint64_t total;
    index_hit_t *hits = oracle_search(o, &all, 1, &n, &total);
    for (size_t i = 0; i < n; i++) {
        uint64_t key = geohash_key(geo_coord_encode(hits[i].lat), geo_coord_encode(hits[i].lng));
        bool in = false;
        for (size_t c = 0; c < nc && !in; c++)
            in = key >= geohash_cell_lo(cells[c]) && key <= geohash_cell_hi(cells[c]);
        FUZZ_CHECK(in, "point %.7f,%.7f at %.17g m is outside the covering of r=%.17g", hits[i].lat,
                   hits[i].lng, hits[i].distance_m, q->radius_m);
    }
    free(hits);
}

static void check_geohash(double lat, double lng, unsigned len)
{
    char s[GEOHASH_MAX_CHARS + 1];
    FUZZ_CHECK(geohash_encode(lat, lng, len, s) == 0, "encode %.7f,%.7f", lat, lng);
    geohash_cell_t c;
    FUZZ_CHECK(geohash_decode(s, &c) == 0 && c.nbits == 5 * len, "decode %s", s);
    geo_rect_t r;
    geohash_cell_rect(c, &r);
    double slat = geo_coord_decode(geo_coord_encode(lat)), slng = geo_coord_decode(geo_coord_encode(lng));
    FUZZ_CHECK(slat >= r.lat_lo && slat <= r.lat_hi && slng >= r.lng_lo && slng <= r.lng_hi,
               "%.7f,%.7f outside its cell %s", slat, slng, s);
    char back[GEOHASH_MAX_CHARS + 1];
    FUZZ_CHECK(geohash_cell_string(c, back) == 0 && strcmp(back, s) == 0, "cell string %s", s);
    geohash_cell_t nb[8];
    size_t nn = geohash_neighbours(c, nb);
    FUZZ_CHECK(nn <= 8, "%zu neighbours", nn);
    for (size_t i = 0; i < nn; i++)
        FUZZ_CHECK(nb[i].nbits == c.nbits && nb[i].bits != c.bits, "neighbour %zu of %s", i, s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < HEADER)
        return 0;
    int32_t qlat = lat_e7_of(get_u32(data)), qlng = lng_e7_of(get_u32(data + 4));
    uint32_t rraw = get_u32(data + 8);
    uint8_t limit = data[12], qcats = data[13], flags = data[14], leaf = data[15];

    index_query_t q = {
        .lat = geo_coord_decode(qlat), .lng = geo_coord_decode(qlng),
        /* Mostly the API's 1..40000 m; now and then 0 or up to the antipode. */
        .radius_m = flags & 1 ? (double)(rraw % 20100000u) : (double)(rraw % 40001u) + (rraw >> 24) / 256.0,
        .limit = limit % 52, /* 51 = the API's limit + 1 */
        .categories = flags & 2 ? qcats : 0,
    };
    index_options_t opt = {.leaf_capacity = 1 + leaf % 16, .delta_capacity = 1 + (leaf >> 4)};
    index_t *ix[2] = {index_new(INDEX_GEOHASH, &opt), index_new(INDEX_QUADTREE, &opt)};
    oracle_t o = {0};

    size_t nops = (size - HEADER) / OP_SIZE;
    if (nops > MAX_OPS)
        nops = MAX_OPS;
    index_point_t build[MAX_OPS];
    size_t nbuild = 0;
    const uint8_t *op = data + HEADER;
    /* Leading ops with kind 0 are the bulk load, the rest are writes. */
    size_t i = 0;
    for (; i < nops && (op[i * OP_SIZE] & 3) == 0; i++) {
        const uint8_t *r = op + i * OP_SIZE;
        int32_t la, lo;
        if (r[0] & 4)
            near(qlat, qlng, (int16_t)(r[1] << 8 | r[2]), (int16_t)(r[3] << 8 | r[4]), &la, &lo);
        else
            la = lat_e7_of(get_u32(r + 1)), lo = lng_e7_of(get_u32(r + 5));
        /* Unique versions: two loads of one id at one version would be
         * ambiguous, and the database never makes them. */
        build[nbuild] = (index_point_t){.id = r[9] % 64 + 1, .lat = geo_coord_decode(la),
                                        .lng = geo_coord_decode(lo), .categories = r[10] & 0x3F ? r[10] : 0,
                                        .version = (int64_t)nbuild};
        oracle_upsert(&o, &build[nbuild]);
        nbuild++;
    }
    char err[128];
    for (int k = 0; k < 2; k++)
        FUZZ_CHECK(index_build(ix[k], build, nbuild, err, sizeof err) == 0, "build: %s", err);
    for (; i < nops; i++) {
        const uint8_t *r = op + i * OP_SIZE;
        int64_t id = r[9] % 64 + 1, version = (int64_t)(r[10] >> 2) * 8 + (r[0] >> 5);
        int applied;
        bool got[2];
        if ((r[0] & 3) == 2) {
            applied = oracle_remove(&o, id, version);
            for (int k = 0; k < 2; k++)
                got[k] = index_remove(ix[k], id, version);
        } else {
            int32_t la, lo;
            if (r[0] & 4)
                near(qlat, qlng, (int16_t)(r[1] << 8 | r[2]), (int16_t)(r[3] << 8 | r[4]), &la, &lo);
            else
                la = lat_e7_of(get_u32(r + 1)), lo = lng_e7_of(get_u32(r + 5));
            index_point_t p = {.id = id, .lat = geo_coord_decode(la), .lng = geo_coord_decode(lo),
                               .categories = (category_set_t)(r[10] & 3) << (r[0] & 0x18),
                               .version = version};
            oracle_rec_t *rec = oracle_find(&o, id);
            if (rec && rec->p.version == version)
                continue; /* same version, other content: ambiguous */
            applied = oracle_upsert(&o, &p);
            for (int k = 0; k < 2; k++)
                got[k] = index_upsert(ix[k], &p);
        }
        for (int k = 0; k < 2; k++)
            FUZZ_CHECK(got[k] == (applied != 0), "%s write %zu: index %d, oracle %d",
                       index_kind_name(index_kind(ix[k])), i, got[k], applied);
    }

    /* Resume after one of the results (flags bits 2..7 pick which), as a
     * cursor would, or after a point that is not a result. */
    if (flags & 4) {
        index_query_t all = q;
        all.limit = SIZE_MAX;
        size_t n;
        uint64_t total;
        index_hit_t *hits = oracle_search(&o, &all, 1, &n, &total);
        if (n > 0) {
            q.has_after = true;
            q.after_distance_m = hits[(flags >> 3) % n].distance_m;
            q.after_id = flags & 0x80 ? hits[(flags >> 3) % n].id : (int64_t)(flags >> 3);
        }
        free(hits);
    }
    check_search(ix, &o, &q, 1);
    check_search(ix, &o, &q, 0);
    check_cover(&o, &q);
    check_geohash(q.lat, q.lng, 1 + leaf % GEOHASH_MAX_CHARS);

    /* The distance function itself: symmetric, bounded, zero on itself. */
    double d = geo_distance_m(q.lat, q.lng, -q.lat, q.lng > 0 ? q.lng - 180 : q.lng + 180);
    FUZZ_CHECK(d >= 0 && d <= GEO_MAX_DISTANCE_M, "antipode distance %.17g", d);
    FUZZ_CHECK(geo_distance_m(q.lat, q.lng, q.lat, q.lng) == 0, "distance to itself");

    for (int k = 0; k < 2; k++)
        index_free(ix[k]);
    oracle_free(&o);
    return 0;
}
