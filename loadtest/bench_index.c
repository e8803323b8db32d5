/* bench_index.c — build time, memory and single-core query latency of both
 * spatial indexes and a brute-force scan, on generated city data.
 *
 *   bench_index [SIZE...]          default: 1000000 10000000
 *   BENCH_QUERIES=N                queries per index and size (default 200000)
 *   BENCH_BRUTE=N                  brute-force sample (default 1000, 100 at >= 5M)
 *   BENCH_KINDS=geohash|quadtree   only that index (default both)
 *   BENCH_LEAF=N                   quadtree leaf capacity (default: the index's)
 *   BENCH_UPSERTS=N                moves timed after the queries (default 200000)
 *   PROXIMITY_CITIES=path          default loadtest/data/cities.tsv
 *
 * Prints figures only; nothing here is a pass/fail timing assertion. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gen.h"
#include "geo.h"
#include "index.h"
#include "xalloc.h"

#define LIMIT 20
#define NRADII 5
static const double radii[NRADII] = {500, 1000, 2000, 5000, 20000};

typedef struct {
    double lat, lng, radius;
} query_t;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Sorts lat[0..n) in place and prints count, rate and percentiles (µs). */
static void report(const char *label, double *lat_us, size_t n, double wall_s)
{
    if (n == 0)
        return;
    qsort(lat_us, n, sizeof *lat_us, dbl_cmp);
    printf("  %-22s n=%-7zu %9.0f q/s  p50 %7.2f  p99 %8.2f  p99.9 %8.2f  max %8.1f us\n", label, n,
           (double)n / wall_s, lat_us[n / 2], lat_us[(size_t)((double)n * 0.99)],
           lat_us[(size_t)((double)n * 0.999)], lat_us[n - 1]);
}

static int radius_class(double r)
{
    for (int k = 0; k < NRADII; k++)
        if (r <= radii[k])
            return k;
    return NRADII - 1;
}

/* Runs queries and prints the mix and per-radius figures. */
static void run_queries(const char *name, index_t *ix, const query_t *qs, size_t nq, uint64_t *totals)
{
    double *lat = xmalloc(nq * sizeof *lat), *per[NRADII], wall[NRADII] = {0};
    size_t nper[NRADII] = {0};
    index_hit_t hits[LIMIT];
    char err[128];
    size_t nh;
    for (int k = 0; k < NRADII; k++)
        per[k] = xmalloc(nq * sizeof *per[k]);

    double t0 = now_s();
    for (size_t i = 0; i < nq; i++) {
        index_query_t q = {.lat = qs[i].lat, .lng = qs[i].lng, .radius_m = qs[i].radius, .limit = LIMIT};
        double a = now_s();
        if (index_search_radius(ix, &q, hits, &nh, &totals[i], err, sizeof err) < 0) {
            fprintf(stderr, "search: %s\n", err);
            exit(1);
        }
        double us = (now_s() - a) * 1e6;
        int k = radius_class(qs[i].radius);
        lat[i] = us;
        per[k][nper[k]++] = us;
        wall[k] += us * 1e-6;
    }
    double t = now_s() - t0;
    printf(" %s, radius search, limit %d, exact total:\n", name, LIMIT);
    report("mix", lat, nq, t);
    for (int k = 0; k < NRADII; k++) {
        char label[32];
        snprintf(label, sizeof label, "r=%.0f m", radii[k]);
        report(label, per[k], nper[k], wall[k]);
        free(per[k]);
    }

    /* The same points, nearest-20 with no radius. */
    size_t nn = nq < 20000 ? nq : 20000;
    t0 = now_s();
    for (size_t i = 0; i < nn; i++) {
        index_query_t q = {.lat = qs[i].lat, .lng = qs[i].lng, .limit = LIMIT};
        double a = now_s();
        index_search_nearest(ix, &q, hits, &nh, NULL, err, sizeof err);
        lat[i] = (now_s() - a) * 1e6;
    }
    report("nearest-20", lat, nn, now_s() - t0);
    free(lat);
}

/* The baseline: scan every point, count, keep the 20 nearest. */
static uint64_t brute(const index_point_t *pts, size_t n, const query_t *q)
{
    geo_origin_t o;
    double best[LIMIT];
    size_t nb = 0;
    uint64_t total = 0;
    geo_origin_init(&o, q->lat, q->lng);
    for (size_t i = 0; i < n; i++) {
        double d = geo_distance_from(&o, pts[i].lat, pts[i].lng);
        if (d > q->radius)
            continue;
        total++;
        if (nb < LIMIT) {
            best[nb++] = d;
        } else {
            size_t w = 0;
            for (size_t j = 1; j < LIMIT; j++)
                if (best[j] > best[w])
                    w = j;
            if (d < best[w])
                best[w] = d;
        }
    }
    return total;
}

static void bench_size(const char *cities, size_t n, size_t nq)
{
    char err[256];
    gen_t *g = gen_new(cities, 20240601, err, sizeof err);
    if (g == NULL) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    printf("== %zu points (gen seed 20240601), %zu queries (seed 777)\n", n, nq);
    index_point_t *pts = xmalloc(n * sizeof *pts);
    for (size_t i = 0; i < n; i++) {
        gen_point(g, &pts[i].lat, &pts[i].lng);
        pts[i].id = (int64_t)i + 1;
        pts[i].version = 1;
        pts[i].categories = (uint64_t)1 << (gen_next(g) % 48);
    }
    gen_free(g);
    g = gen_new(cities, 777, err, sizeof err);
    query_t *qs = xmalloc(nq * sizeof *qs);
    for (size_t i = 0; i < nq; i++)
        gen_query(g, &qs[i].lat, &qs[i].lng, &qs[i].radius);
    gen_free(g);
    uint64_t *tot[2] = {xmalloc(nq * sizeof(uint64_t)), xmalloc(nq * sizeof(uint64_t))};

    for (int k = 0; k < 2; k++) {
        index_kind_t kind = k ? INDEX_QUADTREE : INDEX_GEOHASH;
        const char *only = getenv("BENCH_KINDS");
        if (only && strcmp(only, index_kind_name(kind)) != 0) {
            memset(tot[k], 0, nq * sizeof(uint64_t));
            continue;
        }
        index_options_t opt = {0};
        if (getenv("BENCH_LEAF"))
            opt.leaf_capacity = (unsigned)strtoul(getenv("BENCH_LEAF"), NULL, 10);
        index_t *ix = index_new(kind, &opt);
        double t0 = now_s();
        if (index_build(ix, pts, n, err, sizeof err) < 0) {
            fprintf(stderr, "%s\n", err);
            exit(1);
        }
        double t = now_s() - t0;
        index_stats_t st;
        index_stats(ix, &st);
        printf(" %s: build %.2f s (%.2f M points/s, id map included); %.2f B/point index, "
               "%.2f B/point id map, %.2f B/point total\n",
               index_kind_name(kind), t, (double)n / t / 1e6, (double)st.bytes_index / (double)n,
               (double)st.bytes_idmap / (double)n, (double)(st.bytes_index + st.bytes_idmap) / (double)n);
        run_queries(index_kind_name(kind), ix, qs, nq, tot[k]);

        /* Writes: moves of random points, merges included. */
        gen_t *gw = gen_new(cities, 99, err, sizeof err);
        size_t nw = getenv("BENCH_UPSERTS") ? strtoull(getenv("BENCH_UPSERTS"), NULL, 10) : 200000;
        t0 = now_s();
        for (size_t i = 0; i < nw; i++) {
            index_point_t p = {.id = 1 + (int64_t)gen_range(gw, n), .version = 2 + (int64_t)i, .categories = 1};
            gen_point(gw, &p.lat, &p.lng);
            index_upsert(ix, &p);
        }
        t = now_s() - t0;
        gen_free(gw);
        printf("  upserts (moves)        n=%-7zu %9.0f /s (delta merges included)\n", nw, (double)nw / t);
        index_free(ix);
    }
    size_t diff = 0;
    for (size_t i = 0; i < nq; i++)
        diff += tot[0][i] != tot[1][i];
    printf(" geohash and quadtree totals differ on %zu of %zu queries\n", diff, nq);

    size_t nb = n >= 5000000 ? 100 : 1000;
    if (getenv("BENCH_BRUTE"))
        nb = strtoull(getenv("BENCH_BRUTE"), NULL, 10);
    if (nb > nq)
        nb = nq;
    double *lat = xmalloc(nb * sizeof *lat);
    double t0 = now_s();
    size_t bad = 0;
    int ref = getenv("BENCH_KINDS") && strcmp(getenv("BENCH_KINDS"), "quadtree") == 0;
    for (size_t i = 0; i < nb; i++) {
        double a = now_s();
        uint64_t total = brute(pts, n, &qs[i]);
        lat[i] = (now_s() - a) * 1e6;
        bad += total != tot[ref][i]; /* before the upserts above: same data */
    }
    printf(" brute force (sample of %zu queries; totals differ from the index on %zu):\n", nb, bad);
    if (nb)
        report("mix", lat, nb, now_s() - t0);
    free(lat);
    free(tot[0]);
    free(tot[1]);
    free(qs);
    free(pts);
}

int main(int argc, char **argv)
{
    const char *cities = getenv("PROXIMITY_CITIES");
    if (cities == NULL)
        cities = "loadtest/data/cities.tsv";
    FILE *f = fopen(cities, "r");
    if (f == NULL) {
        printf("bench_index: %s not found; build it with `make loadtest/data/cities.tsv` "
               "(needs node and npm) or set PROXIMITY_CITIES. Skipping.\n",
               cities);
        return 0;
    }
    fclose(f);
    size_t nq = getenv("BENCH_QUERIES") ? strtoull(getenv("BENCH_QUERIES"), NULL, 10) : 200000;
    if (argc > 1) {
        for (int i = 1; i < argc; i++)
            bench_size(cities, strtoull(argv[i], NULL, 10), nq);
    } else {
        bench_size(cities, 1000000, nq);
        bench_size(cities, 10000000, nq);
    }
    return 0;
}
