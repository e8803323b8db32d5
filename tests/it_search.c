/* it_search.c — GET /v1/search/nearby end to end against PostGIS as the
 * oracle: 100k businesses, random queries (radius, categories, nearest),
 * every page of a cursor, the PostGIS fallback of a cold replica, writes
 * seen by search, rebuilds under load, hydration failover, metrics. */
#include <check.h>
#include <libpq-fe.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "category.h"
#include "check_run.h"
#include "testutil.h"

#define BUSINESSES 100000

static tu_server_t srv;
static PGconn *oracle;
static unsigned seed;
static const char *const J = "Content-Type: application/json";

typedef struct query {
    double lat, lng, radius;
    int limit;
    char categories[128]; /* "" = none */
    bool nearest;
} query_t;

/* ------------------------------------------------------------ set-up */

static void load_businesses(void)
{
    char cmd[4096], cities[512];
    const char *build = getenv("top_builddir");
    tu_srcpath("tests/data/cities-small.tsv", cities, sizeof cities);
    char *count = tu_sql("SELECT count(*) FROM businesses");
    bool loaded = count && atoi(count) >= BUSINESSES;
    free(count);
    if (loaded)
        return;
    snprintf(cmd, sizeof cmd,
             "%s/loadtest/proximity-gen businesses --count %d --seed 7 --cities %s | "
             "psql -q -v ON_ERROR_STOP=1 '%s' -c \"COPY businesses (owner, name, categories, street, "
             "city, region, postal_code, country, phone, website, price, location) FROM STDIN\"",
             build ? build : ".", BUSINESSES, cities, getenv("PROXIMITY_PRIMARY_URL"));
    ck_assert_msg(system(cmd) == 0, "loading businesses failed: %s", cmd);
    free(tu_sql("ANALYZE businesses"));
    if (getenv("PROXIMITY_TEST_PGDIR"))
        ck_assert_int_eq(tu_pgcluster("wait-replay {dir}"), 0);
    else
        sleep(2);
}

static void setup(void)
{
    static const char *args[] = {"--threads=2", "--log-level=warn", NULL};
    ck_assert_msg(getenv("PROXIMITY_PRIMARY_URL") != NULL, "run under tests/with-pg");
    const char *s = getenv("PROXIMITY_TEST_SEED");
    seed = s ? (unsigned)strtoul(s, NULL, 10) : (unsigned)time(NULL);
    fprintf(stderr, "it_search: seed %u (PROXIMITY_TEST_SEED=%u repeats this run)\n", seed, seed);
    load_businesses();
    oracle = PQconnectdb(getenv("PROXIMITY_PRIMARY_URL"));
    ck_assert_int_eq(PQstatus(oracle), CONNECTION_OK);
    ck_assert_int_eq(tu_server_start(&srv, args), 0);
    ck_assert_msg(tu_wait_ready(&srv, 120), "the index was not built in time");
}

static void teardown(void)
{
    tu_server_stop(&srv);
    PQfinish(oracle);
}

/* ------------------------------------------------------------ oracle */

static double urand(void)
{
    return (double)rand_r(&seed) / ((double)RAND_MAX + 1.0);
}

/* Queries are drawn around the cities the data was drawn around. */
static void random_query(query_t *q)
{
    static const double centers[][2] = {{52.52, 13.405}, {40.7128, -74.006}, {-33.8688, 151.2093},
                                        {35.6762, 139.6503}, {51.5072, -0.1276}, {-23.5505, -46.6333}};
    static const double radii[] = {500, 1000, 2000, 5000, 20000, 1, 40000};
    const double *c = centers[rand_r(&seed) % 6];
    memset(q, 0, sizeof *q);
    q->lat = c[0] + (urand() - 0.5) * 0.4;
    q->lng = c[1] + (urand() - 0.5) * 0.4;
    q->radius = radii[rand_r(&seed) % 7];
    q->limit = 1 + rand_r(&seed) % 50;
    if (rand_r(&seed) % 4 == 0)
        snprintf(q->categories, sizeof q->categories, "%s,%s", category_name((size_t)rand_r(&seed) % category_count()),
                 category_name((size_t)rand_r(&seed) % category_count()));
}

typedef struct expect {
    int64_t *ids;
    double *dist;
    size_t n;      /* all matches */
    uint64_t total;
} expect_t;

/* Every match, in (distance, id) order, straight from PostGIS on the
 * same sphere. */
static void ask_oracle(const query_t *q, expect_t *e)
{
    char sql[1024], cats[160];
    snprintf(cats, sizeof cats, "{%s}", q->categories);
    snprintf(sql, sizeof sql,
             "WITH p AS (SELECT ST_SetSRID(ST_MakePoint(%.17g, %.17g), 4326)::geography g) "
             "SELECT id, ST_Distance(location, p.g, false) d FROM businesses, p "
             "WHERE deleted_at IS NULL %s %s ORDER BY d, id %s",
             q->lng, q->lat,
             q->nearest ? "AND $1::float8 IS NOT NULL" : "AND ST_DWithin(location, p.g, $1::float8, false)",
             q->categories[0] ? "AND categories && $2::text[]" : "AND $2::text IS NOT NULL",
             q->nearest ? "LIMIT 500" : "");
    char radius[32];
    snprintf(radius, sizeof radius, "%.17g", q->radius);
    const char *params[2] = {radius, cats};
    PGresult *r = PQexecParams(oracle, sql, 2, NULL, params, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "oracle: %s", PQerrorMessage(oracle));
    e->n = (size_t)PQntuples(r);
    e->ids = malloc((e->n + 1) * sizeof *e->ids);
    e->dist = malloc((e->n + 1) * sizeof *e->dist);
    for (size_t i = 0; i < e->n; i++) {
        e->ids[i] = strtoll(PQgetvalue(r, (int)i, 0), NULL, 10);
        e->dist[i] = strtod(PQgetvalue(r, (int)i, 1), NULL);
    }
    e->total = e->n;
    PQclear(r);
    if (q->nearest) {
        snprintf(sql, sizeof sql, "SELECT count(*) FROM businesses WHERE deleted_at IS NULL %s",
                 q->categories[0] ? "AND categories && $1::text[]" : "AND $1::text IS NOT NULL");
        const char *p1[1] = {cats};
        r = PQexecParams(oracle, sql, 1, NULL, p1, NULL, NULL, 0);
        e->total = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
    }
}

static void expect_free(expect_t *e)
{
    free(e->ids);
    free(e->dist);
}

static void query_path(const query_t *q, const char *cursor, char *path, size_t len)
{
    int n = snprintf(path, len, "/v1/search/nearby?latitude=%.17g&longitude=%.17g&limit=%d", q->lat, q->lng,
                     q->limit);
    if (q->nearest)
        n += snprintf(path + n, len - (size_t)n, "&mode=nearest");
    else
        n += snprintf(path + n, len - (size_t)n, "&radius=%.17g", q->radius);
    if (q->categories[0])
        n += snprintf(path + n, len - (size_t)n, "&categories=%s", q->categories);
    if (cursor)
        snprintf(path + n, len - (size_t)n, "&cursor=%s", cursor);
}

/* Compares one page (starting at offset into the oracle's list). Returns
 * NULL or a message (malloc'd). */
static char *check_page(const query_t *q, const json_t *page, const expect_t *e, size_t offset)
{
    char *msg = NULL;
    json_t *list = json_object_get(page, "businesses");
    uint64_t total = (uint64_t)json_integer_value(json_object_get(page, "total"));
    if (total != e->total)
        return asprintf(&msg, "total %llu, oracle %llu", (unsigned long long)total, (unsigned long long)e->total) < 0 ? NULL : msg;
    size_t want = e->n > offset ? e->n - offset : 0;
    if (want > (size_t)q->limit)
        want = (size_t)q->limit;
    if (json_array_size(list) != want)
        return asprintf(&msg, "%zu results at offset %zu, oracle %zu", json_array_size(list), offset, want) < 0 ? NULL : msg;
    for (size_t i = 0; i < want; i++) {
        json_t *b = json_array_get(list, i);
        int64_t id = json_integer_value(json_object_get(b, "id"));
        double d = json_number_value(json_object_get(b, "distance"));
        double od = e->dist[offset + i];
        if (id != e->ids[offset + i])
            return asprintf(&msg, "result %zu is id %lld (%.9f m), oracle id %lld (%.9f m)", offset + i,
                            (long long)id, d, (long long)e->ids[offset + i], od) < 0 ? NULL : msg;
        if (fabs(d - od) > 1e-6 * (od > 1 ? od : 1))
            return asprintf(&msg, "id %lld distance %.12g, oracle %.12g", (long long)id, d, od) < 0 ? NULL : msg;
        if (!json_is_string(json_object_get(b, "name")) || !json_is_object(json_object_get(b, "address")))
            return asprintf(&msg, "id %lld is not hydrated", (long long)id) < 0 ? NULL : msg;
    }
    bool more = offset + want < e->n;
    if (more != json_is_string(json_object_get(page, "next_cursor")))
        return asprintf(&msg, "next_cursor %s, but %s", more ? "missing" : "present",
                        more ? "more results exist" : "this is the last page") < 0 ? NULL : msg;
    return NULL;
}

static json_t *search(const tu_server_t *s, const char *path, char *source, size_t srclen)
{
    tu_response_t r;
    ck_assert_int_eq(tu_http(s, "GET", path, NULL, NULL, 0, &r), 0);
    ck_assert_msg(r.status == 200, "%s: %ld %s", path, r.status, r.body);
    if (source)
        snprintf(source, srclen, "%s", tu_header(&r, "X-Search-Source") ? tu_header(&r, "X-Search-Source") : "");
    json_t *j = json_incref(r.json);
    tu_response_free(&r);
    return j;
}

/* Runs n random queries against s; returns how many disagreed. */
static int compare_queries(const tu_server_t *s, int n, bool nearest_share, const char *want_source)
{
    int bad = 0;
    for (int i = 0; i < n; i++) {
        query_t q;
        expect_t e;
        char path[512], source[32];
        random_query(&q);
        q.nearest = nearest_share && i % 5 == 0;
        ask_oracle(&q, &e);
        query_path(&q, NULL, path, sizeof path);
        json_t *page = search(s, path, source, sizeof source);
        char *msg = check_page(&q, page, &e, 0);
        if (msg == NULL && want_source && strcmp(source, want_source) != 0 &&
            asprintf(&msg, "served by \"%s\", not %s", source, want_source) < 0)
            msg = NULL;
        if (msg != NULL) {
            fprintf(stderr, "MISMATCH %s: %s\n", path, msg);
            free(msg);
            bad++;
        }
        json_decref(page);
        expect_free(&e);
    }
    return bad;
}

/* ------------------------------------------------------------ tests */

START_TEST(matches_postgis)
{
    ck_assert_int_eq(compare_queries(&srv, 500, false, "index"), 0);
}
END_TEST

START_TEST(nearest_matches_postgis)
{
    ck_assert_int_eq(compare_queries(&srv, 100, true, "index"), 0);
}
END_TEST

START_TEST(cursor_walks_every_result)
{
    for (int k = 0; k < 6; k++) {
        query_t q;
        expect_t e;
        char path[1024], *cursor = NULL;
        random_query(&q);
        q.radius = k < 3 ? 2000 : 5000;
        q.limit = 7 + k;
        q.nearest = k == 5;
        ask_oracle(&q, &e);
        size_t offset = 0, pages = 0;
        for (;;) {
            query_path(&q, cursor, path, sizeof path);
            json_t *page = search(&srv, path, NULL, 0);
            char *msg = check_page(&q, page, &e, offset);
            ck_assert_msg(msg == NULL, "%s: %s", path, msg);
            offset += json_array_size(json_object_get(page, "businesses"));
            pages++;
            free(cursor);
            json_t *next = json_object_get(page, "next_cursor");
            cursor = json_is_string(next) ? strdup(json_string_value(next)) : NULL;
            json_decref(page);
            if (cursor == NULL || (q.nearest && offset >= 60))
                break;
        }
        free(cursor);
        if (!q.nearest)
            ck_assert_int_eq(offset, e.n); /* no gaps, no repeats */
        ck_assert_int_gt(pages, 0);
        expect_free(&e);
    }
}
END_TEST

START_TEST(bad_parameters)
{
    static const char *const bad[][2] = {
        {"/v1/search/nearby?longitude=1", "latitude"},
        {"/v1/search/nearby?latitude=1", "longitude"},
        {"/v1/search/nearby?latitude=abc&longitude=1", "latitude"},
        {"/v1/search/nearby?latitude=NaN&longitude=1", "latitude"},
        {"/v1/search/nearby?latitude=inf&longitude=1", "latitude"},
        {"/v1/search/nearby?latitude=91&longitude=1", "latitude"},
        {"/v1/search/nearby?latitude=1&longitude=-180.5", "longitude"},
        {"/v1/search/nearby?latitude=1&longitude=1&radius=0", "radius"},
        {"/v1/search/nearby?latitude=1&longitude=1&radius=40000.5", "radius"},
        {"/v1/search/nearby?latitude=1&longitude=1&radius=1e9", "radius"},
        {"/v1/search/nearby?latitude=1&longitude=1&limit=0", "limit"},
        {"/v1/search/nearby?latitude=1&longitude=1&limit=51", "limit"},
        {"/v1/search/nearby?latitude=1&longitude=1&limit=2.5", "limit"},
        {"/v1/search/nearby?latitude=1&longitude=1&categories=cafe,,bar", "categories"},
        {"/v1/search/nearby?latitude=1&longitude=1&categories=spaceport", "categories"},
        {"/v1/search/nearby?latitude=1&longitude=1&cursor=garbage", "cursor"},
        {"/v1/search/nearby?latitude=1&longitude=1&mode=nearest&radius=10", "radius"},
        {"/v1/search/nearby?latitude=1&longitude=1&mode=farthest", "mode"},
        {"/v1/search/nearby?latitude=1&longitude=1&latitude=2", "latitude"},
        {"/v1/search/nearby?latitude=1&longitude=1&radious=5", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tu_response_t r;
        ck_assert_int_eq(tu_http(&srv, "GET", bad[i][0], NULL, NULL, 0, &r), 0);
        ck_assert_msg(r.status == 400, "%s: %ld", bad[i][0], r.status);
        json_t *err = json_object_get(r.json, "error");
        ck_assert_str_eq(json_string_value(json_object_get(err, "code")), "VALIDATION_ERROR");
        if (bad[i][1])
            ck_assert_str_eq(json_string_value(json_object_get(err, "field")), bad[i][1]);
        tu_response_free(&r);
    }
    /* A cursor is bound to its query: another query refuses it. */
    json_t *page = search(&srv, "/v1/search/nearby?latitude=52.52&longitude=13.405&radius=5000&limit=1", NULL, 0);
    const char *cursor = json_string_value(json_object_get(page, "next_cursor"));
    ck_assert_ptr_nonnull(cursor);
    char path[512];
    tu_response_t r;
    snprintf(path, sizeof path, "/v1/search/nearby?latitude=52.52&longitude=13.405&radius=4000&limit=1&cursor=%s", cursor);
    ck_assert_int_eq(tu_http(&srv, "GET", path, NULL, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 400);
    tu_response_free(&r);
    json_decref(page);
    /* Poles and the antimeridian answer. */
    json_decref(search(&srv, "/v1/search/nearby?latitude=90&longitude=0&radius=40000", NULL, 0));
    json_decref(search(&srv, "/v1/search/nearby?latitude=-90&longitude=180&radius=40000", NULL, 0));
    json_decref(search(&srv, "/v1/search/nearby?latitude=0&longitude=-180&radius=40000", NULL, 0));
}
END_TEST

static bool has_id(const json_t *page, int64_t id)
{
    size_t i;
    json_t *b;
    json_array_foreach(json_object_get(page, "businesses"), i, b)
        if (json_integer_value(json_object_get(b, "id")) == id)
            return true;
    return false;
}

/* A write made through this replica shows in its searches at once. */
START_TEST(writes_show_in_search)
{
    tu_response_t r;
    const char *h[] = {J, NULL};
    const char *body = "{\"name\":\"Antarctic Espresso\",\"categories\":[\"cafe\"],\"latitude\":-77.846,\"longitude\":166.676}";
    ck_assert_int_eq(tu_http(&srv, "POST", "/v1/businesses", h, body, strlen(body), &r), 0);
    ck_assert_int_eq(r.status, 201);
    int64_t id = json_integer_value(json_object_get(r.json, "id"));
    char path[64];
    snprintf(path, sizeof path, "/v1/businesses/%lld", (long long)id);
    tu_response_free(&r);

    const char *there = "/v1/search/nearby?latitude=-77.846&longitude=166.676&radius=100&categories=cafe";
    const char *elsewhere = "/v1/search/nearby?latitude=64.1466&longitude=-21.9426&radius=100";
    json_t *p = search(&srv, there, NULL, 0);
    ck_assert(has_id(p, id));
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(p, "businesses"), 0), "name")),
                     "Antarctic Espresso");
    json_decref(p);

    /* Moved across the map: gone from the old spot, found at the new. */
    const char *move = "{\"latitude\":64.1466,\"longitude\":-21.9426,\"name\":\"Reykjavik Espresso\"}";
    ck_assert_int_eq(tu_http(&srv, "PATCH", path, h, move, strlen(move), &r), 0);
    ck_assert_int_eq(r.status, 200);
    tu_response_free(&r);
    p = search(&srv, there, NULL, 0);
    ck_assert(!has_id(p, id));
    json_decref(p);
    p = search(&srv, elsewhere, NULL, 0);
    ck_assert(has_id(p, id));
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(p, "businesses"), 0), "name")),
                     "Reykjavik Espresso");
    json_decref(p);

    ck_assert_int_eq(tu_http(&srv, "DELETE", path, NULL, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 204);
    tu_response_free(&r);
    p = search(&srv, elsewhere, NULL, 0);
    ck_assert(!has_id(p, id));
    json_decref(p);
}
END_TEST

static volatile int searching;
static int search_failures, searches_done;

static void *search_loop(void *arg)
{
    (void)arg;
    while (searching) {
        tu_response_t r;
        tu_http(&srv, "GET", "/v1/search/nearby?latitude=40.7128&longitude=-74.006&radius=2000", NULL, NULL, 0, &r);
        if (r.status != 200 || strcmp(tu_header(&r, "X-Search-Source") ? tu_header(&r, "X-Search-Source") : "", "index") != 0)
            __atomic_add_fetch(&search_failures, 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&searches_done, 1, __ATOMIC_RELAXED);
        tu_response_free(&r);
    }
    return NULL;
}

static int index_build_of(void)
{
    tu_response_t r;
    tu_http(&srv, "GET", "/v1/search/nearby?latitude=1&longitude=1", NULL, NULL, 0, &r);
    int b = tu_header(&r, "X-Index-Build") ? atoi(tu_header(&r, "X-Index-Build")) : -1;
    tu_response_free(&r);
    return b;
}

/* SIGHUP rebuilds beside the live index: searches never fail or fall back. */
START_TEST(rebuild_while_searching)
{
    pthread_t t[2];
    int before = index_build_of();
    searching = 1;
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, search_loop, NULL);
    usleep(200000);
    kill(srv.pid, SIGHUP);
    int after = before;
    for (int i = 0; i < 300 && after == before; i++) {
        usleep(100000);
        after = index_build_of();
    }
    usleep(200000);
    searching = 0;
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    ck_assert_int_eq(after, before + 1);
    ck_assert_int_gt(searches_done, 10);
    ck_assert_int_eq(search_failures, 0);
    ck_assert_int_eq(compare_queries(&srv, 50, false, "index"), 0);
}
END_TEST

/* With the replica down, cache misses are fetched from the primary. */
START_TEST(hydration_fails_over)
{
    if (getenv("PROXIMITY_TEST_PGDIR") == NULL)
        return;
    ck_assert_int_eq(tu_pgcluster("stop-node {dir} replica"), 0);
    int bad = compare_queries(&srv, 40, false, "index");
    ck_assert_int_eq(tu_pgcluster("start-node {dir} replica"), 0);
    ck_assert_int_eq(bad, 0);
}
END_TEST

START_TEST(metrics_report_cache_and_index)
{
    tu_response_t r;
    ck_assert_int_eq(tu_http(&srv, "GET", "/metrics", NULL, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 200);
    const char *want[] = {"proximity_cache_hits_total ", "proximity_cache_misses_total ",
                          "proximity_cache_evictions_total ", "proximity_cache_bytes ",
                          "proximity_index_points ", "proximity_index_ready 1", NULL};
    for (int i = 0; want[i]; i++)
        ck_assert_msg(strstr(r.body, want[i]) != NULL, "no %s in /metrics", want[i]);
    /* the sample lines, not the "# HELP" lines that name them too */
    double hits = strtod(strstr(r.body, "\nproximity_cache_hits_total ") + 28, NULL);
    ck_assert(hits > 0);
    double points = strtod(strstr(r.body, "\nproximity_index_points ") + 24, NULL);
    ck_assert(points >= BUSINESSES);
    tu_response_free(&r);
}
END_TEST

/* A replica whose index cannot be built yet still answers every search,
 * exactly, from PostGIS, says so, and is not ready. Its snapshot (100k
 * rows, ~35 MB of COPY output) cannot finish in the 20 ms given here, so
 * every build fails and is retried, while single searches keep the usual
 * statement timeout. */
START_TEST(cold_replica_answers_from_postgis)
{
    static const char *args[] = {"--threads=2", "--log-level=warn", "--snapshot-timeout=20",
                                 "--cache-prewarm=0", NULL};
    tu_server_t cold;
    ck_assert_int_eq(tu_server_start(&cold, args), 0);
    tu_response_t r;
    ck_assert_int_eq(tu_http(&cold, "GET", "/readyz", NULL, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 503);
    tu_response_free(&r);
    int bad = compare_queries(&cold, 40, true, "postgis");
    ck_assert_int_eq(tu_server_stop(&cold), 0);
    ck_assert_int_eq(bad, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("search");
    TCase *tc = tcase_create("search");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, matches_postgis);
    tcase_add_test(tc, nearest_matches_postgis);
    tcase_add_test(tc, cursor_walks_every_result);
    tcase_add_test(tc, bad_parameters);
    tcase_add_test(tc, writes_show_in_search);
    tcase_add_test(tc, rebuild_while_searching);
    tcase_add_test(tc, hydration_fails_over);
    tcase_add_test(tc, metrics_report_cache_and_index);
    tcase_add_test(tc, cold_replica_answers_from_postgis);
    suite_add_tcase(s, tc);
    /* One process: the random queries continue one seeded sequence. */
    return check_run(s, CK_NOFORK);
}
