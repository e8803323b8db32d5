/* check_index.c — both spatial indexes against a brute-force oracle. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "geo.h"
#include "index.h"
#include "index_oracle.h"
#include "check_run.h"

/* ------------------------------------------------------------ random */

static uint64_t rng_state;

static uint64_t rnext(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static double rnd(void)
{
    return (double)(rnext() >> 11) / 9007199254740992.0;
}

/* ------------------------------------------------------------ data */

/* Snapped like the database snaps, so the oracle sees what the index sees. */
static double snap(double x)
{
    return geo_coord_decode(geo_coord_encode(x));
}

static const double hot[][2] = {
    {90, 0}, {-90, 0}, {89.9999, 45}, {-89.99, -120}, {0, 180}, {0, -180}, {-16.5, 179.999},
    {65.5, -179.9995}, {48.8566, 2.3522}, {0, 0}, {35.6762, 139.6503}, {-33.86, 151.2},
};
#define NHOT (sizeof hot / sizeof hot[0])

static void random_spot(double *lat, double *lng)
{
    if (rnd() < 0.15) {
        *lat = rnd() * 180 - 90;
        *lng = rnd() * 360 - 180;
        return;
    }
    const double *h = hot[rnext() % NHOT];
    double spread = rnd() < 0.3 ? 1e-4 : rnd() < 0.5 ? 0.05 : 0.6;
    *lat = h[0] + (rnd() - 0.5) * spread;
    *lng = h[1] + (rnd() - 0.5) * spread * 2;
    if (*lat > 90)
        *lat = 180 - *lat;
    if (*lat < -90)
        *lat = -180 - *lat;
    *lng = remainder(*lng, 360.0);
}

static void random_point(index_point_t *p, int64_t id, int64_t version)
{
    random_spot(&p->lat, &p->lng);
    p->lat = snap(p->lat);
    p->lng = snap(p->lng);
    p->id = id;
    p->version = version;
    p->categories = rnd() < 0.1 ? 0 : (rnext() & 0xFF) | (rnd() < 0.05 ? (uint64_t)1 << 63 : 0);
}

static void random_query(index_query_t *q)
{
    memset(q, 0, sizeof *q);
    random_spot(&q->lat, &q->lng);
    double u = rnd();
    q->radius_m = u < 0.1 ? 0 : u < 0.2 ? 1 : u < 0.35 ? 40000 : u < 0.45 ? 2e6 : rnd() * 50000;
    q->limit = rnd() < 0.1 ? 0 : 1 + rnext() % 30;
    q->categories = rnd() < 0.6 ? 0 : rnext() & 0xFF;
}

/* ------------------------------------------------------------ compare */

static void expect_same(const char *what, uint64_t seed, const index_query_t *q, const index_hit_t *want,
                        size_t nwant, uint64_t twant, const index_hit_t *got, size_t ngot, uint64_t tgot)
{
    int ok = twant == tgot && oracle_hits_equal(want, nwant, got, ngot);
    if (!ok) {
        fprintf(stderr, "%s: seed %llu query (%.7f,%.7f) r=%.3f limit=%zu cats=%llx after=%d(%.17g,%lld)\n",
                what, (unsigned long long)seed, q->lat, q->lng, q->radius_m, q->limit,
                (unsigned long long)q->categories, q->has_after, q->after_distance_m, (long long)q->after_id);
        fprintf(stderr, "  want %zu hits total %llu, got %zu total %llu\n", nwant, (unsigned long long)twant,
                ngot, (unsigned long long)tgot);
        for (size_t i = 0; i < nwant || i < ngot; i++)
            fprintf(stderr, "  %zu: want %lld %.17g  got %lld %.17g\n", i, i < nwant ? (long long)want[i].id : -1,
                    i < nwant ? want[i].distance_m : -1, i < ngot ? (long long)got[i].id : -1,
                    i < ngot ? got[i].distance_m : -1);
    }
    ck_assert_msg(ok, "%s differs from the oracle (seed %llu; add it to tests/regress/index_seeds.txt)", what,
                  (unsigned long long)seed);
}

static void check_query(index_t *ix, oracle_t *o, const index_query_t *q, int bounded, uint64_t seed)
{
    index_hit_t got[64];
    size_t ngot, nwant;
    uint64_t tgot, twant;
    char err[128];
    index_hit_t *want = oracle_search(o, q, bounded, &nwant, &twant);
    int rc = bounded ? index_search_radius(ix, q, got, &ngot, &tgot, err, sizeof err)
                     : index_search_nearest(ix, q, got, &ngot, &tgot, err, sizeof err);
    ck_assert_msg(rc == 0, "search failed: %s", err);
    expect_same(bounded ? index_kind_name(index_kind(ix)) : "nearest", seed, q, want, nwant, twant, got, ngot,
                tgot);
    free(want);
}

/* Walks every page of a query; the pages must concatenate to the full list. */
static void check_pages(index_t *ix, oracle_t *o, const index_query_t *q0, int bounded, uint64_t seed)
{
    index_query_t q = *q0;
    size_t nall;
    uint64_t tall;
    q.limit = SIZE_MAX;
    q.has_after = 0;
    index_hit_t *all = oracle_search(o, &q, bounded, &nall, &tall);
    size_t seen = 0;
    q.limit = 1 + rnext() % 9;
    for (int pages = 0; pages < 100000; pages++) {
        index_hit_t got[16];
        size_t ngot;
        uint64_t tgot;
        char err[128];
        ck_assert(0 == (bounded ? index_search_radius(ix, &q, got, &ngot, &tgot, err, sizeof err)
                                : index_search_nearest(ix, &q, got, &ngot, &tgot, err, sizeof err)));
        ck_assert_msg(tgot == tall, "seed %llu: page total %llu != %llu", (unsigned long long)seed,
                      (unsigned long long)tgot, (unsigned long long)tall);
        for (size_t i = 0; i < ngot; i++, seen++) {
            ck_assert_msg(seen < nall && all[seen].id == got[i].id && all[seen].distance_m == got[i].distance_m,
                          "seed %llu: %s %s page walk diverges at %zu of %zu (limit %zu): want %lld %.17g got %lld %.17g",
                          (unsigned long long)seed, index_kind_name(index_kind(ix)), bounded ? "radius" : "nearest",
                          seen, nall, q.limit, seen < nall ? (long long)all[seen].id : -1LL,
                          seen < nall ? all[seen].distance_m : -1.0, (long long)got[i].id, got[i].distance_m);
        }
        if (ngot < q.limit)
            break;
        q.has_after = 1;
        q.after_distance_m = got[ngot - 1].distance_m;
        q.after_id = got[ngot - 1].id;
    }
    ck_assert_msg(seen == nall, "seed %llu: pages gave %zu of %zu", (unsigned long long)seed, seen, nall);
    free(all);
}

/* One randomized round: bulk load, queries, writes, queries again. */
static void run_seed(uint64_t seed, size_t npoints, size_t nqueries)
{
    rng_state = seed ? seed : 1;
    oracle_t o = {0};
    size_t n = npoints ? 1 + rnext() % npoints : 0;
    index_point_t *pts = malloc((n + 1) * sizeof *pts);
    for (size_t i = 0; i < n; i++) {
        /* Some ids repeat with other versions: the newest must win. */
        int64_t id = rnd() < 0.05 && i ? pts[rnext() % i].id : (int64_t)(rnext() % 1000000000);
        random_point(&pts[i], id, (int64_t)(rnext() % 1000));
        if (rnd() < 0.1 && i) { /* many points on one spot */
            pts[i].lat = pts[i - 1].lat;
            pts[i].lng = pts[i - 1].lng;
        }
        oracle_upsert(&o, &pts[i]);
    }
    /* Equal versions of one id make "newest" ambiguous; keep them distinct. */
    for (size_t i = 0; i < n; i++) {
        oracle_rec_t *r = oracle_find(&o, pts[i].id);
        if (r->p.version == pts[i].version && (r->p.lat != pts[i].lat || r->p.lng != pts[i].lng ||
                                               r->p.categories != pts[i].categories))
            pts[i].version = -2; /* marker: drop below */
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (pts[i].version != -2)
            pts[m++] = pts[i];
    n = m;

    index_options_t opt = {.leaf_capacity = 1 + (unsigned)(rnext() % 40), .delta_capacity = 1 + rnext() % 64};
    index_t *ix[2] = {index_new(INDEX_GEOHASH, &opt), index_new(INDEX_QUADTREE, &opt)};
    char err[128];
    for (int k = 0; k < 2; k++)
        ck_assert_msg(index_build(ix[k], pts, n, err, sizeof err) == 0, "%s", err);

    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < nqueries; i++) {
            index_query_t q;
            random_query(&q);
            if (rnd() < 0.3) { /* resume from a random point of the full list */
                size_t na;
                uint64_t ta;
                index_query_t qa = q;
                qa.limit = SIZE_MAX;
                index_hit_t *all = oracle_search(&o, &qa, 1, &na, &ta);
                if (na) {
                    q.has_after = 1;
                    q.after_distance_m = all[rnext() % na].distance_m;
                    q.after_id = rnd() < 0.8 ? all[rnext() % na].id : (int64_t)(rnext() % 1000000000);
                }
                free(all);
            }
            for (int k = 0; k < 2; k++) {
                check_query(ix[k], &o, &q, 1, seed);
                if (i % 4 == 0)
                    check_query(ix[k], &o, &q, 0, seed);
                if (i % 16 == 0 && q.radius_m <= 50000)
                    check_pages(ix[k], &o, &q, 1, seed);
                if (i % 32 == 0)
                    check_pages(ix[k], &o, &q, 0, seed);
            }
        }
        /* Writes with out-of-order versions; both indexes and the oracle
         * must agree on every outcome. */
        size_t nops = 1 + rnext() % (2 * npoints + 1);
        for (size_t i = 0; i < nops; i++) {
            int64_t id = o.n && rnd() < 0.7 ? o.v[rnext() % o.n].p.id : (int64_t)(rnext() % 1000000000);
            int64_t version = (int64_t)(rnext() % 2000);
            int applied;
            if (rnd() < 0.7) {
                index_point_t p;
                random_point(&p, id, version);
                oracle_rec_t *r = oracle_find(&o, id);
                if (r && r->p.version == version)
                    continue; /* same version, other content: ambiguous */
                applied = oracle_upsert(&o, &p);
                for (int k = 0; k < 2; k++)
                    ck_assert_msg(index_upsert(ix[k], &p) == (applied != 0), "seed %llu: upsert outcome",
                                  (unsigned long long)seed);
            } else {
                applied = oracle_remove(&o, id, version);
                for (int k = 0; k < 2; k++)
                    ck_assert_msg(index_remove(ix[k], id, version) == (applied != 0), "seed %llu: remove outcome",
                                  (unsigned long long)seed);
            }
        }
        size_t live = 0;
        for (size_t i = 0; i < o.n; i++)
            live += o.v[i].live;
        for (int k = 0; k < 2; k++) {
            index_stats_t st;
            index_stats(ix[k], &st);
            ck_assert_uint_eq(st.count, live);
            ck_assert_uint_eq(st.tombstones, o.n - live);
        }
    }
    for (size_t i = 0; i < o.n; i++) {
        index_point_t got;
        for (int k = 0; k < 2; k++) {
            ck_assert(index_get(ix[k], o.v[i].p.id, &got) == o.v[i].live);
            if (o.v[i].live)
                ck_assert(got.version == o.v[i].p.version && got.lat == o.v[i].p.lat);
        }
    }
    index_free(ix[0]);
    index_free(ix[1]);
    free(pts);
    oracle_free(&o);
}

/* ------------------------------------------------------------ tests */

static uint64_t fresh_seed;

START_TEST(test_regress_seeds)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/regress/index_seeds.txt", PROXIMITY_SRCDIR);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    char line[256];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        unsigned long long seed, npts, nq;
        int k = sscanf(line, "%llu %llu %llu", &seed, &npts, &nq);
        ck_assert(k >= 1);
        run_seed(seed, k >= 2 ? npts : 500, k >= 3 ? nq : 60);
        n++;
    }
    fclose(f);
    ck_assert(n > 0);
}
END_TEST

START_TEST(test_random_seeds)
{
    for (uint64_t i = 0; i < 6; i++) {
        uint64_t seed = fresh_seed + i * 7919;
        printf("check_index random seed %llu\n", (unsigned long long)seed);
        fflush(stdout);
        run_seed(seed, i == 0 ? 3000 : 400, 80);
    }
}
END_TEST

START_TEST(test_empty_and_one)
{
    char err[128];
    index_hit_t hits[4];
    size_t n;
    uint64_t total;
    for (int k = 0; k < 2; k++) {
        index_t *ix = index_new(k ? INDEX_QUADTREE : INDEX_GEOHASH, NULL);
        index_query_t q = {.lat = 10, .lng = 20, .radius_m = 40000, .limit = 4};
        ck_assert_int_eq(index_search_radius(ix, &q, hits, &n, &total, err, sizeof err), 0);
        ck_assert(n == 0 && total == 0);
        ck_assert_int_eq(index_search_nearest(ix, &q, hits, &n, &total, err, sizeof err), 0);
        ck_assert(n == 0 && total == 0);
        ck_assert_int_eq(index_build(ix, NULL, 0, err, sizeof err), 0);
        index_point_t p = {42, 10.0000001, 20, 1, 7};
        ck_assert(index_upsert(ix, &p));
        ck_assert(!index_upsert(ix, &p));
        ck_assert_int_eq(index_search_radius(ix, &q, hits, &n, &total, err, sizeof err), 0);
        ck_assert(n == 1 && total == 1 && hits[0].id == 42 && hits[0].version == 7);
        ck_assert_double_eq(hits[0].distance_m, geo_distance_m(10, 20, 10.0000001, 20));
        q.radius_m = 0.01; /* the point is 1.1 cm away */
        ck_assert_int_eq(index_search_radius(ix, &q, hits, &n, &total, err, sizeof err), 0);
        ck_assert(n == 0 && total == 0);
        q.radius_m = hits[0].distance_m;
        q.radius_m = geo_distance_m(10, 20, 10.0000001, 20); /* inclusive */
        ck_assert_int_eq(index_search_radius(ix, &q, hits, &n, &total, err, sizeof err), 0);
        ck_assert(n == 1 && total == 1);
        ck_assert(index_remove(ix, 42, 8));
        ck_assert(!index_upsert(ix, &p)); /* the tombstone wins over v7 */
        ck_assert_int_eq(index_search_nearest(ix, &q, hits, &n, &total, err, sizeof err), 0);
        ck_assert(n == 0 && total == 0);
        ck_assert_uint_eq(index_forget_tombstones(ix, 8), 1);
        p.version = 9;
        ck_assert(index_upsert(ix, &p));
        q.lat = 91;
        ck_assert_int_eq(index_search_radius(ix, &q, hits, &n, &total, err, sizeof err), -1);
        q.lat = 0;
        q.radius_m = -1;
        ck_assert_int_eq(index_search_radius(ix, &q, hits, &n, &total, err, sizeof err), -1);
        ck_assert_int_eq(index_build(ix, &p, 1, err, sizeof err), -1); /* not empty */
        index_free(ix);
    }
}
END_TEST

/* Builds big enough for the radix sorts (>= 4096 points), with ids out of
 * order, repeated and negative, then enough new ids that the id map merges
 * its hash into its sorted part; every id is checked with index_get. */
typedef struct {
    int64_t id;
    double d;
} id_dist_t;

static int id_dist_cmp(const void *a, const void *b)
{
    const id_dist_t *x = a, *y = b;
    if (x->d != y->d)
        return x->d < y->d ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static void check_ids(index_t *ix, const index_point_t *want, size_t nids)
{
    size_t live = 0;
    for (size_t j = 0; j < nids; j++) {
        index_point_t got;
        bool found = index_get(ix, want[j].id, &got);
        ck_assert_int_eq(found, want[j].version >= 0);
        if (!found)
            continue;
        live++;
        ck_assert_int_eq(got.version, want[j].version);
        ck_assert_uint_eq(got.categories, want[j].categories);
        ck_assert_double_eq(got.lat, geo_coord_decode(geo_coord_encode(want[j].lat)));
        ck_assert_double_eq(got.lng, geo_coord_decode(geo_coord_encode(want[j].lng)));
    }
    index_stats_t st;
    index_stats(ix, &st);
    ck_assert_uint_eq(st.count, live);

    /* One wide query against a scan of the expected points. */
    index_query_t q = {.lat = 10, .lng = 10, .radius_m = 4e6, .limit = 8};
    index_hit_t hits[8];
    size_t nh, nb = 0;
    uint64_t total;
    char err[128];
    id_dist_t *all = malloc(nids * sizeof *all);
    for (size_t j = 0; j < nids; j++) {
        if (want[j].version < 0)
            continue;
        double d = geo_distance_m(10, 10, geo_coord_decode(geo_coord_encode(want[j].lat)),
                                  geo_coord_decode(geo_coord_encode(want[j].lng)));
        if (d <= q.radius_m)
            all[nb++] = (id_dist_t){want[j].id, d};
    }
    qsort(all, nb, sizeof *all, id_dist_cmp);
    ck_assert_int_eq(index_search_radius(ix, &q, hits, &nh, &total, err, sizeof err), 0);
    ck_assert_uint_eq(total, nb);
    ck_assert_uint_eq(nh, nb < 8 ? nb : 8);
    for (size_t i = 0; i < nh; i++) {
        ck_assert_int_eq(hits[i].id, all[i].id);
        ck_assert_double_eq(hits[i].distance_m, all[i].d);
        for (size_t j = 0; j < nids; j++)
            if (want[j].id == hits[i].id)
                ck_assert_int_eq(hits[i].version, want[j].version);
    }
    free(all);
}

START_TEST(test_large_build_idmap)
{
    enum { N = 30000, IDS = 20000, NEW = 6000, GONE = 1000 };
    char err[128];
    index_point_t *pts = malloc(N * sizeof *pts), *want = malloc((IDS + NEW) * sizeof *want);
    rng_state = 0x9E3779B97F4A7C15ull;
    for (size_t j = 0; j < IDS + NEW; j++)
        want[j] = (index_point_t){.id = ((int64_t)j - IDS / 2) * 1000003, .version = -1};
    for (size_t i = 0; i < N; i++) {
        size_t j = rnext() % IDS;
        pts[i] = (index_point_t){want[j].id, rnd() * 40 - 10, rnd() * 40 - 10, rnext(), (int64_t)(rnext() % 5)};
        if (rnext() % 64 == 0) /* beyond the 32-bit version offset */
            pts[i].version += (int64_t)1 << (32 + rnext() % 30);
        if (pts[i].version > want[j].version)
            want[j] = pts[i]; /* the first of equal versions wins */
    }
    for (int k = 0; k < 2; k++) {
        index_point_t *w = malloc((IDS + NEW) * sizeof *w);
        memcpy(w, want, (IDS + NEW) * sizeof *w);
        index_t *ix = index_new(k ? INDEX_QUADTREE : INDEX_GEOHASH, NULL);
        ck_assert_msg(index_build(ix, pts, N, err, sizeof err) == 0, "%s", err);
        check_ids(ix, w, IDS + NEW);
        for (size_t j = IDS; j < IDS + NEW; j++) {
            w[j] = (index_point_t){w[j].id, rnd() * 40 - 10, rnd() * 40 - 10, rnext(),
                                   j % 3 ? 1 : INT64_MAX - (int64_t)j};
            ck_assert(index_upsert(ix, &w[j]));
        }
        for (size_t j = 0; j < GONE; j++) {
            ck_assert(index_remove(ix, w[j * 7].id, (int64_t)1 << 62));
            w[j * 7].version = -1;
        }
        check_ids(ix, w, IDS + NEW);
        ck_assert_uint_eq(index_forget_tombstones(ix, (int64_t)1 << 62), GONE);
        check_ids(ix, w, IDS + NEW);
        index_free(ix);
        free(w);
    }
    free(pts);
    free(want);
}
END_TEST

/* Points on and a hair either side of the circle, at every bearing, for
 * origins at the equator, mid and high latitudes and beside the
 * antimeridian, and radii from the smallest the quadratic estimate takes
 * to 40 km: whatever the search estimates, membership, order and total
 * must be the oracle's. Some queries use a point's own distance as the
 * radius (inclusive). */
static void edge_point(double lat, double lng, double dist_m, double bearing, double *plat, double *plng)
{
    double p1 = lat * GEO_DEG_TO_RAD, d = dist_m / GEO_EARTH_RADIUS_M;
    double p2 = asin(sin(p1) * cos(d) + cos(p1) * sin(d) * cos(bearing));
    double l2 = lng * GEO_DEG_TO_RAD + atan2(sin(bearing) * sin(d) * cos(p1), cos(d) - sin(p1) * sin(p2));
    *plat = snap(p2 / GEO_DEG_TO_RAD);
    *plng = snap(remainder(l2 / GEO_DEG_TO_RAD, 360.0));
}

START_TEST(test_circle_edge)
{
    static const double origins[][2] = {{0.3, 10.1},   {45.51, -73.56}, {-33.87, 151.21}, {69.65, 18.96},
                                        {-77.85, 166.67}, {0.1, 179.995}, {-16.5, -179.999}, {51.48, 0.0001}};
    static const double radii[] = {50, 73.5, 500, 1000, 2000, 5000, 20000, 40000};
    static const double eps[] = {0, 1e-10, -1e-10, 1e-9, -1e-9, 1e-8, -1e-8, 1e-7, -1e-7, 1e-6, -1e-6, 1e-5, -1e-5, 1e-3, -1e-3};
    enum { PER = 400 };
    rng_state = 0xC0FFEEull;
    for (size_t oi = 0; oi < sizeof origins / sizeof origins[0]; oi++) {
        for (size_t ri = 0; ri < sizeof radii / sizeof radii[0]; ri++) {
            double lat = origins[oi][0], lng = origins[oi][1], r = radii[ri];
            oracle_t o = {0};
            index_point_t *pts = malloc(PER * sizeof *pts);
            for (size_t i = 0; i < PER; i++) {
                double e = i % 8 == 7 ? (rnd() - 0.5) * 0.4 : eps[rnext() % (sizeof eps / sizeof eps[0])];
                pts[i] = (index_point_t){.id = (int64_t)i, .categories = 1, .version = 1};
                edge_point(lat, lng, r * (1.0 + e), rnd() * 2 * M_PI, &pts[i].lat, &pts[i].lng);
                oracle_upsert(&o, &pts[i]);
            }
            index_options_t opt = {.leaf_capacity = 1 + (unsigned)(rnext() % 8)};
            index_t *ix[2] = {index_new(INDEX_GEOHASH, &opt), index_new(INDEX_QUADTREE, &opt)};
            char err[128];
            for (int k = 0; k < 2; k++)
                ck_assert_msg(index_build(ix[k], pts, PER, err, sizeof err) == 0, "%s", err);
            for (int t = 0; t < 12; t++) {
                index_query_t q = {.lat = lat, .lng = lng, .radius_m = r, .limit = t % 3 ? 50 : 7};
                if (t >= 6) { /* a point's own distance: it must be in */
                    const index_point_t *p = &pts[rnext() % PER];
                    q.radius_m = geo_distance_m(lat, lng, p->lat, p->lng);
                }
                for (int k = 0; k < 2; k++)
                    check_query(ix[k], &o, &q, 1, oi * 100 + ri);
            }
            index_free(ix[0]);
            index_free(ix[1]);
            free(pts);
            free(o.v);
        }
    }
}
END_TEST

START_TEST(test_kind_parse)
{
    index_kind_t k;
    ck_assert_int_eq(index_kind_parse("geohash", &k), 0);
    ck_assert_int_eq(k, INDEX_GEOHASH);
    ck_assert_int_eq(index_kind_parse("quadtree", &k), 0);
    ck_assert_int_eq(k, INDEX_QUADTREE);
    ck_assert_int_eq(index_kind_parse("rtree", &k), -1);
    ck_assert_str_eq(index_kind_name(INDEX_QUADTREE), "quadtree");
}
END_TEST

static Suite *index_suite(void)
{
    Suite *s = suite_create("index");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_kind_parse);
    tcase_add_test(tc, test_empty_and_one);
    tcase_add_test(tc, test_large_build_idmap);
    tcase_add_test(tc, test_circle_edge);
    tcase_add_test(tc, test_regress_seeds);
    tcase_add_test(tc, test_random_seeds);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    const char *env = getenv("PROXIMITY_TEST_SEED");
    fresh_seed = env ? strtoull(env, NULL, 0) : (uint64_t)time(NULL);
    printf("check_index seed %llu (PROXIMITY_TEST_SEED to replay)\n", (unsigned long long)fresh_seed);
    return check_run(index_suite(), CK_NOFORK);
}
