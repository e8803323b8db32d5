/* check_index_concurrency.c — searches racing one writer and index swaps.
 * Built twice: normally and under ThreadSanitizer (check_index_concurrency_tsan). */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "geo.h"
#include "index.h"
#include "index_live.h"
#include "check_run.h"

/* NPTS points live in a disc of DISC_M around the centre; the writer only
 * moves them inside the disc, so every search covering the disc must see
 * exactly NPTS points, each id once, whatever it interleaves with. */
#define NPTS 3000
#define OUTSIDE 2000
#define DISC_M 3000.0
#define READERS 3
#define CLAT 59.9
#define CLNG 179.99 /* the disc straddles the antimeridian */
/* ThreadSanitizer runs ~10x slower; fewer moves still interleave plenty. */
#ifdef __SANITIZE_THREAD__
#define MOVES 1500
#else
#define MOVES 6000
#endif

static atomic_int writer_done;
static index_live_t *live;
static index_kind_t kind;

static uint64_t xs(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void disc_point(uint64_t *s, double *lat, double *lng)
{
    /* Inside a square of side DISC_M·√2 / 2 degrees-ish: well within the disc. */
    double dlat = ((double)(xs(s) % 2000) / 1000.0 - 1.0) * 0.018;
    double dlng = ((double)(xs(s) % 2000) / 1000.0 - 1.0) * 0.036;
    *lat = geo_coord_decode(geo_coord_encode(CLAT + dlat));
    *lng = geo_coord_decode(geo_coord_encode(remainder(CLNG + dlng, 360.0)));
}

static index_t *fresh_index(uint64_t seed)
{
    index_options_t opt = {.leaf_capacity = 8, .delta_capacity = 97};
    index_t *ix = index_new(kind, &opt);
    index_point_t *pts = malloc((NPTS + OUTSIDE) * sizeof *pts);
    uint64_t s = seed;
    for (int i = 0; i < NPTS + OUTSIDE; i++) {
        pts[i].id = i + 1;
        pts[i].version = 1;
        pts[i].categories = (uint64_t)1 << (i % 4);
        if (i < NPTS) {
            disc_point(&s, &pts[i].lat, &pts[i].lng);
        } else {
            pts[i].lat = -40 + (double)(xs(&s) % 1000) / 100.0;
            pts[i].lng = (double)(xs(&s) % 1000) / 10.0;
        }
    }
    char err[128];
    ck_assert_msg(index_build(ix, pts, NPTS + OUTSIDE, err, sizeof err) == 0, "%s", err);
    free(pts);
    return ix;
}

static void *reader(void *arg)
{
    uint64_t s = (uint64_t)(uintptr_t)arg * 7919 + 1;
    index_hit_t *hits = malloc(NPTS * sizeof *hits);
    uint8_t *seen = malloc(NPTS + 1);
    long searches = 0;
    char err[128];
    /* The disc's points all lie within 2.3 km of the centre. */
    index_query_t q = {.lat = CLAT, .lng = CLNG, .radius_m = DISC_M, .limit = NPTS};

    while (!atomic_load(&writer_done) || searches < 50) {
        index_t *ix = index_live_acquire(live);
        size_t n;
        uint64_t total;
        q.categories = xs(&s) % 3 == 0 ? 1 : 0;
        q.limit = xs(&s) % 2 ? NPTS : 20;
        ck_assert(index_search_radius(ix, &q, hits, &n, &total, err, sizeof err) == 0);
        uint64_t want = q.categories ? NPTS / 4 : NPTS;
        ck_assert_msg(total == want, "search saw %llu points, not %llu", (unsigned long long)total,
                      (unsigned long long)want);
        ck_assert(n == (q.limit < want ? q.limit : want));
        memset(seen, 0, NPTS + 1);
        for (size_t i = 0; i < n; i++) {
            ck_assert(hits[i].id >= 1 && hits[i].id <= NPTS && !seen[hits[i].id]);
            seen[hits[i].id] = 1;
            ck_assert(hits[i].distance_m <= DISC_M);
            if (i)
                ck_assert(hits[i - 1].distance_m <= hits[i].distance_m);
        }
        if (searches % 8 == 0) {
            q.limit = 5;
            ck_assert(index_search_nearest(ix, &q, hits, &n, &total, err, sizeof err) == 0);
            ck_assert(n == 5 && total == (q.categories ? (NPTS + OUTSIDE) / 4 : NPTS + OUTSIDE));
        }
        index_live_release(live, ix);
        searches++;
    }
    free(hits);
    free(seen);
    return NULL;
}

/* Moves points around the disc with rising versions, plus stale events
 * that must be ignored. */
static void *writer(void *arg)
{
    uint64_t s = (uint64_t)(uintptr_t)arg;
    int64_t version = 2;
    for (int i = 0; i < MOVES; i++) {
        index_t *ix = index_live_acquire(live);
        index_point_t p = {.id = 1 + (int64_t)(xs(&s) % NPTS), .version = version++};
        p.categories = (uint64_t)1 << ((p.id - 1) % 4);
        disc_point(&s, &p.lat, &p.lng);
        ck_assert(index_upsert(ix, &p));
        p.version = 1;
        ck_assert(!index_upsert(ix, &p));
        ck_assert(!index_remove(ix, p.id, 1));
        index_live_release(live, ix);
        if (i % (MOVES / 4) == MOVES / 4 - 1) /* a reload: a new index built beside, swapped in */
            index_live_swap(live, fresh_index(s));
    }
    atomic_store(&writer_done, 1);
    return NULL;
}

static void run(index_kind_t k)
{
    pthread_t r[READERS], w;
    kind = k;
    atomic_store(&writer_done, 0);
    live = index_live_new(fresh_index(42));
    for (uintptr_t i = 0; i < READERS; i++)
        pthread_create(&r[i], NULL, reader, (void *)(i + 1));
    pthread_create(&w, NULL, writer, (void *)(uintptr_t)12345);
    pthread_join(w, NULL);
    for (int i = 0; i < READERS; i++)
        pthread_join(r[i], NULL);
    index_t *ix = index_live_acquire(live);
    index_stats_t st;
    index_stats(ix, &st);
    ck_assert_uint_eq(st.count, NPTS + OUTSIDE);
    index_live_release(live, ix);
    index_live_free(live);
}

START_TEST(test_geohash_readers_writer)
{
    run(INDEX_GEOHASH);
}
END_TEST

START_TEST(test_quadtree_readers_writer)
{
    run(INDEX_QUADTREE);
}
END_TEST

static Suite *concurrency_suite(void)
{
    Suite *s = suite_create("index_concurrency");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_geohash_readers_writer);
    tcase_add_test(tc, test_quadtree_readers_writer);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_run(concurrency_suite(), CK_NOFORK);
}
