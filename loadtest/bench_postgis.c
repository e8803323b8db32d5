/* bench_postgis.c — the nearby search answered straight by PostGIS, the way a
 * user without proximityd would ask it: top 20 by distance plus the exact
 * total, prepared, K connections (one thread each) for T seconds.
 *
 *   bench_postgis --url URL --queries FILE [--connections K] [--seconds T]
 *                 [--warmup W] [--mode window|cte|two]
 *
 * FILE holds TSV lines `lat<TAB>lng<TAB>radius_m` (proximity-gen queries).
 * Thread i starts at line i*N/K and walks the file cyclically. --mode picks
 * how the total is fetched (see the statements below; `window` measured
 * fastest). Prints figures and one `RESULT key=value ...` line for scripts;
 * nothing here is a pass/fail timing assertion. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include <libpq-fe.h>

#define FLOAT8OID 701

/* The brief's query: exact sphere distance (use_spheroid = false, like the
 * service), ties by id, tombstones skipped. The point is built once in a
 * one-row subquery so ST_DWithin can use the GiST index on `location`. */
#define NEAR_FROM                                                                                  \
    " FROM businesses, (SELECT ST_SetSRID(ST_MakePoint($2, $1), 4326)::geography AS q) p"          \
    " WHERE deleted_at IS NULL AND ST_DWithin(location, q, $3, false)"

/* window: one statement; count(*) OVER () is computed over every match
 * before ORDER BY/LIMIT, so each of the 20 rows carries the exact total.
 * It returns no row when nothing matches (total is then 0). */
static const char sql_window[] = "SELECT id, ST_Distance(location, q, false) AS d, count(*) OVER () AS total"
                                 NEAR_FROM " ORDER BY d, id LIMIT 20";

/* cte: one statement; the CTE is referenced twice, so it is materialised
 * once and both the count and the top 20 read it. */
static const char sql_cte[] = "WITH m AS (SELECT id, ST_Distance(location, q, false) AS d" NEAR_FROM ")"
                              " SELECT id, d, (SELECT count(*) FROM m) AS total FROM m ORDER BY d, id LIMIT 20";

/* two: two statements per search, as a naive client would send them. */
static const char sql_top[] = "SELECT id, ST_Distance(location, q, false) AS d" NEAR_FROM " ORDER BY d, id LIMIT 20";
static const char sql_count[] = "SELECT count(*)" NEAR_FROM;

enum mode { MODE_WINDOW, MODE_CTE, MODE_TWO };
static const char *const mode_names[] = {"window", "cte", "two"};

typedef struct {
    char lat[32], lng[32], radius[16];
} query_t;

typedef struct {
    int no;
    pthread_t tid;
    /* results */
    uint32_t *lat_us; /* completed measured searches, µs */
    size_t n, cap;
    size_t errors, rows, total_sum;
    char errmsg[256];
} worker_t;

static const char *url;
static query_t *queries;
static size_t nqueries;
static int nconn = 2;
static double seconds = 10, warmup = 2;
static enum mode mode = MODE_WINDOW;
static double t_start, t_measure, t_end;
static pthread_barrier_t ready;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(int code, const char *msg, const char *detail)
{
    fprintf(stderr, "bench_postgis: %s%s%s\n", msg, detail ? ": " : "", detail ? detail : "");
    exit(code);
}

static void *xrealloc(void *p, size_t size)
{
    void *q = realloc(p, size);
    if (q == NULL)
        die(EX_OSERR, "out of memory", NULL);
    return q;
}

/* Reads FILE into `queries`; returns 0, or -1 with a message printed. */
static int load_queries(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "bench_postgis: %s: %s\n", path, strerror(errno));
        return -1;
    }
    char line[256];
    size_t cap = 0, lineno = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        lineno++;
        query_t q;
        char *a, *b, *c, *save = NULL;
        if ((a = strtok_r(line, "\t\r\n", &save)) == NULL)
            continue;
        b = strtok_r(NULL, "\t\r\n", &save);
        c = strtok_r(NULL, "\t\r\n", &save);
        if (b == NULL || c == NULL || strlen(a) >= sizeof q.lat || strlen(b) >= sizeof q.lng ||
            strlen(c) >= sizeof q.radius) {
            fprintf(stderr, "bench_postgis: %s:%zu: expected lat<TAB>lng<TAB>radius\n", path, lineno);
            fclose(f);
            return -1;
        }
        strcpy(q.lat, a);
        strcpy(q.lng, b);
        strcpy(q.radius, c);
        if (nqueries == cap) {
            cap = cap ? cap * 2 : 4096;
            queries = xrealloc(queries, cap * sizeof *queries);
        }
        queries[nqueries++] = q;
    }
    fclose(f);
    if (nqueries == 0) {
        fprintf(stderr, "bench_postgis: %s: no queries\n", path);
        return -1;
    }
    return 0;
}

/* Runs one prepared statement; returns its result if it returned tuples,
 * else NULL with the message in w->errmsg (the result is cleared). */
static PGresult *exec_one(PGconn *conn, const char *stmt, const query_t *q, worker_t *w)
{
    const char *params[3] = {q->lat, q->lng, q->radius};
    PGresult *res = PQexecPrepared(conn, stmt, 3, params, NULL, NULL, 0);
    if (PQresultStatus(res) == PGRES_TUPLES_OK)
        return res;
    snprintf(w->errmsg, sizeof w->errmsg, "%s", PQerrorMessage(conn));
    PQclear(res);
    return NULL;
}

/* One search; returns 0 with the rows returned and the total, or -1. */
static int search(PGconn *conn, const query_t *q, worker_t *w, int *rows, size_t *total)
{
    PGresult *res;
    if (mode == MODE_TWO) {
        if ((res = exec_one(conn, "count", q, w)) == NULL)
            return -1;
        *total = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
        PQclear(res);
        if ((res = exec_one(conn, "near", q, w)) == NULL)
            return -1;
        *rows = PQntuples(res);
    } else {
        if ((res = exec_one(conn, "near", q, w)) == NULL)
            return -1;
        *rows = PQntuples(res);
        *total = *rows > 0 ? strtoull(PQgetvalue(res, 0, 2), NULL, 10) : 0;
    }
    PQclear(res);
    return 0;
}

static int prepare(PGconn *conn, const char *name, const char *sql)
{
    static const unsigned types[3] = {FLOAT8OID, FLOAT8OID, FLOAT8OID};
    PGresult *res = PQprepare(conn, name, sql, 3, types);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok)
        fprintf(stderr, "bench_postgis: prepare %s: %s", name, PQerrorMessage(conn));
    PQclear(res);
    return ok ? 0 : -1;
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    int failed = 0;
    PGconn *conn = PQconnectdb(url);
    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "bench_postgis: connection %d: %s", w->no, PQerrorMessage(conn));
        failed = 1;
    } else if (mode == MODE_TWO) {
        failed = prepare(conn, "near", sql_top) != 0 || prepare(conn, "count", sql_count) != 0;
    } else {
        failed = prepare(conn, "near", mode == MODE_CTE ? sql_cte : sql_window) != 0;
    }
    /* Everyone connected and prepared before the clock starts; a failure
     * makes main exit after the barrier. */
    if (failed)
        w->errors = SIZE_MAX;
    pthread_barrier_wait(&ready);
    pthread_barrier_wait(&ready);
    if (failed) {
        PQfinish(conn);
        return NULL;
    }

    size_t i = (size_t)w->no * (nqueries / (size_t)nconn);
    for (;;) {
        double t0 = now_s();
        if (t0 >= t_end)
            break;
        int rows = 0;
        size_t total = 0;
        int rc = search(conn, &queries[i], w, &rows, &total);
        double t1 = now_s();
        if (++i == nqueries)
            i = 0;
        if (t0 < t_measure || t1 > t_end)
            continue; /* warm-up, or finished after the bell */
        if (rc != 0) {
            w->errors++;
            if (PQstatus(conn) != CONNECTION_OK)
                PQreset(conn); /* prepared statements are gone: next calls fail and count */
            continue;
        }
        w->rows += (size_t)rows;
        w->total_sum += total;
        if (w->n == w->cap) {
            w->cap = w->cap ? w->cap * 2 : 65536;
            w->lat_us = xrealloc(w->lat_us, w->cap * sizeof *w->lat_us);
        }
        double us = (t1 - t0) * 1e6;
        w->lat_us[w->n++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
    }
    PQfinish(conn);
    return NULL;
}

static int u32_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static double pct_ms(const uint32_t *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t k = (size_t)((double)n * p);
    return v[k < n ? k : n - 1] / 1000.0;
}

static void usage(int code)
{
    fprintf(code ? stderr : stdout,
            "usage: bench_postgis --url URL --queries FILE [--connections K] [--seconds T]\n"
            "                     [--warmup W] [--mode window|cte|two]\n"
            "Runs the nearby search (top 20 by distance + exact total) straight on PostGIS\n"
            "with K connections (one thread each) for T seconds after W seconds of warm-up\n"
            "(defaults K=2 T=10 W=2 mode=window) and prints queries/s and latency.\n");
    exit(code);
}

static double parse_num(const char *opt, const char *s, double lo, double hi)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v >= lo && v <= hi)) {
        fprintf(stderr, "bench_postgis: --%s: expected a number in %g..%g, got '%s'\n", opt, lo, hi, s);
        exit(EX_USAGE);
    }
    return v;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"url", required_argument, NULL, 'u'},     {"queries", required_argument, NULL, 'q'},
        {"connections", required_argument, NULL, 'c'}, {"seconds", required_argument, NULL, 's'},
        {"warmup", required_argument, NULL, 'w'},  {"mode", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    const char *qpath = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "u:q:c:s:w:m:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'u': url = optarg; break;
        case 'q': qpath = optarg; break;
        case 'c': nconn = (int)parse_num("connections", optarg, 1, 1024); break;
        case 's': seconds = parse_num("seconds", optarg, 0.1, 86400); break;
        case 'w': warmup = parse_num("warmup", optarg, 0, 3600); break;
        case 'm':
            if (strcmp(optarg, "window") == 0)
                mode = MODE_WINDOW;
            else if (strcmp(optarg, "cte") == 0)
                mode = MODE_CTE;
            else if (strcmp(optarg, "two") == 0)
                mode = MODE_TWO;
            else
                usage(EX_USAGE);
            break;
        case 'h': usage(0); break;
        default: usage(EX_USAGE);
        }
    }
    if (url == NULL || qpath == NULL || optind != argc)
        usage(EX_USAGE);
    if (load_queries(qpath) != 0)
        return EX_NOINPUT;

    worker_t *w = calloc((size_t)nconn, sizeof *w);
    if (w == NULL)
        die(EX_OSERR, "out of memory", NULL);
    pthread_barrier_init(&ready, NULL, (unsigned)nconn + 1);
    for (int i = 0; i < nconn; i++) {
        w[i].no = i;
        if (pthread_create(&w[i].tid, NULL, worker_main, &w[i]) != 0)
            die(EX_OSERR, "pthread_create failed", NULL);
    }
    pthread_barrier_wait(&ready); /* all connected (or failed) */
    int setup_failed = 0;
    for (int i = 0; i < nconn; i++)
        setup_failed |= w[i].errors == SIZE_MAX;
    t_start = now_s();
    t_measure = t_start + warmup;
    t_end = setup_failed ? t_start : t_measure + seconds;
    pthread_barrier_wait(&ready); /* go */
    for (int i = 0; i < nconn; i++)
        pthread_join(w[i].tid, NULL);
    if (setup_failed)
        return EX_UNAVAILABLE;

    size_t n = 0, errors = 0, rows = 0, totals = 0;
    for (int i = 0; i < nconn; i++) {
        n += w[i].n;
        errors += w[i].errors;
        rows += w[i].rows;
        totals += w[i].total_sum;
    }
    uint32_t *all = malloc((n ? n : 1) * sizeof *all);
    if (all == NULL)
        die(EX_OSERR, "out of memory", NULL);
    size_t k = 0;
    for (int i = 0; i < nconn; i++) {
        memcpy(all + k, w[i].lat_us, w[i].n * sizeof *all);
        k += w[i].n;
    }
    qsort(all, n, sizeof *all, u32_cmp);
    double qps = (double)n / seconds;
    printf("bench_postgis: %zu queries from %s, %d connections, mode %s, %.1f s (+%.1f s warm-up)\n",
           nqueries, qpath, nconn, mode_names[mode], seconds, warmup);
    printf("  %.0f searches/s  p50 %.2f ms  p99 %.2f ms  p99.9 %.2f ms  max %.2f ms  errors %zu\n", qps,
           pct_ms(all, n, 0.5), pct_ms(all, n, 0.99), pct_ms(all, n, 0.999), pct_ms(all, n, 1.0), errors);
    printf("  mean rows %.1f, mean total %.1f per search\n", n ? (double)rows / (double)n : 0,
           n ? (double)totals / (double)n : 0);
    for (int i = 0; i < nconn; i++)
        if (w[i].errmsg[0] != '\0') {
            fprintf(stderr, "bench_postgis: connection %d, last error: %s", i, w[i].errmsg);
            break;
        }
    printf("RESULT rps=%.1f p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f errors=%zu n=%zu\n", qps, pct_ms(all, n, 0.5),
           pct_ms(all, n, 0.99), pct_ms(all, n, 0.999), errors, n);
    for (int i = 0; i < nconn; i++)
        free(w[i].lat_us);
    free(all);
    free(w);
    free(queries);
    pthread_barrier_destroy(&ready);
    return 0;
}
