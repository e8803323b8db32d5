/* it_soak.c — minutes of mixed load on one real proximityd (issue 9):
 * search threads (random circles, filters, next pages), writer threads
 * (create, replace, patch, delete, read back with the consistency token,
 * each on ids of its own so every answer is predictable), and a killer
 * that terminates proximityd's logical replication connection at random
 * moments. Afterwards the index must equal the table row by row, and
 * proximityd must exit 0 (under ASan: no leak, no error report).
 * PROXIMITY_SOAK_SECONDS sets the length (default 30; CI's ASan pass 300);
 * PROXIMITY_TEST_SEED repeats a run. Prints the figures. */
#include <check.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check_run.h"
#include "testutil.h"

#define SEARCHERS 3
#define WRITERS 2
#define IDS_PER_WRITER 64

static const char *const J = "Content-Type: application/json";
static const char *server_args[] = {"--connect-timeout=1", "--threads=4", "--debug=1", NULL};
static tu_server_t srv;
static int server_exit = -1;
static unsigned seed;
static volatile int running;

/* Figures. */
static long n_searches, n_writes, n_reads, n_errors, n_not_caught_up, n_kills;

static void count(long *c)
{
    __atomic_add_fetch(c, 1, __ATOMIC_RELAXED);
}

static double rnd(unsigned *rs, double lo, double hi)
{
    return lo + (hi - lo) * ((double)rand_r(rs) / RAND_MAX);
}

/* An unexpected answer: counted, the first few printed. */
static void error(const char *what, long status, const char *body)
{
    long n = __atomic_add_fetch(&n_errors, 1, __ATOMIC_RELAXED);
    if (n <= 10)
        fprintf(stderr, "it_soak: unexpected: %s answered %ld %.300s\n", what, status, body ? body : "");
}

/* ------------------------------------------------------------ searchers */

static const char *const cats[] = {"cafe", "bakery", "restaurant", "bar", "pharmacy"};

static void *searcher(void *arg)
{
    unsigned rs = *(unsigned *)arg;
    while (running) {
        char path[512];
        int n = snprintf(path, sizeof path, "/v1/search/nearby?latitude=%.6f&longitude=%.6f",
                         rnd(&rs, 9.9, 10.3), rnd(&rs, -0.1, 3.1));
        if (rand_r(&rs) % 4 == 0)
            n += snprintf(path + n, sizeof path - (size_t)n, "&mode=nearest");
        else
            n += snprintf(path + n, sizeof path - (size_t)n, "&radius=%d", 100 + rand_r(&rs) % 39900);
        n += snprintf(path + n, sizeof path - (size_t)n, "&limit=%d", 1 + rand_r(&rs) % 50);
        if (rand_r(&rs) % 5 == 0)
            snprintf(path + n, sizeof path - (size_t)n, "&categories=%s", cats[rand_r(&rs) % 5]);
        /* This page, then up to two more through next_cursor. */
        for (int page = 0; page < 3 && running; page++) {
            tu_response_t r;
            int rc = tu_http(&srv, "GET", path, NULL, NULL, 0, &r);
            count(&n_searches);
            if (rc != 0 || r.status != 200 || !json_is_array(json_object_get(r.json, "businesses"))) {
                error("search", r.status, r.body);
                tu_response_free(&r);
                break;
            }
            const char *next = json_string_value(json_object_get(r.json, "next_cursor"));
            char *q = strchr(path, '&');
            if (next == NULL || rand_r(&rs) % 2 || strlen(path) + strlen(next) + 16 > sizeof path || !q) {
                tu_response_free(&r);
                break;
            }
            char *c = strstr(path, "&cursor=");
            if (c)
                *c = '\0';
            strcat(path, "&cursor=");
            strcat(path, next);
            tu_response_free(&r);
        }
    }
    return NULL;
}

/* ------------------------------------------------------------ writers */

typedef struct {
    unsigned rs;
    int64_t id[IDS_PER_WRITER];
    bool live[IDS_PER_WRITER];
    double lat[IDS_PER_WRITER], lng[IDS_PER_WRITER];
    char token[64];
} writer_t;

static void body_at(char *body, size_t cap, unsigned *rs, double lat, double lng)
{
    snprintf(body, cap, "{\"name\":\"Soak %u\",\"categories\":[\"%s\"],\"latitude\":%.7f,"
             "\"longitude\":%.7f,\"price\":%d}", (unsigned)rand_r(rs), cats[rand_r(rs) % 5], lat, lng,
             1 + rand_r(rs) % 4);
}

static void take_token(writer_t *w, const tu_response_t *r)
{
    const char *t = tu_header(r, "X-Consistency-Token");
    if (t)
        snprintf(w->token, sizeof w->token, "%s", t);
}

/* One random operation on one of w's ids; every answer is predictable. */
static void write_one(writer_t *w)
{
    int k = rand_r(&w->rs) % IDS_PER_WRITER;
    char path[64], body[256], th[96];
    const char *h[] = {J, th, NULL};
    snprintf(th, sizeof th, "X-Consistency-Token: %s", w->token[0] ? w->token : "0/0");
    snprintf(path, sizeof path, "/v1/businesses/%lld", (long long)w->id[k]);
    tu_response_t r;
    int op = rand_r(&w->rs) % 10;
    double lat = rnd(&w->rs, 10, 10.2), lng = rnd(&w->rs, 0, 3);

    if (w->id[k] == 0 || (!w->live[k] && op < 5)) { /* create (again) */
        body_at(body, sizeof body, &w->rs, lat, lng);
        int rc = tu_http(&srv, "POST", "/v1/businesses", h, body, strlen(body), &r);
        count(&n_writes);
        if (rc != 0 || r.status != 201) {
            error("create", r.status, r.body);
        } else {
            w->id[k] = json_integer_value(json_object_get(r.json, "id"));
            w->live[k] = true;
            w->lat[k] = lat, w->lng[k] = lng;
            take_token(w, &r);
        }
    } else if (!w->live[k]) { /* a deleted id reads as 404 */
        int rc = tu_http(&srv, "GET", path, h + 1, NULL, 0, &r);
        count(&n_reads);
        if (rc != 0 || r.status != 404)
            error("read of a deleted id", r.status, r.body);
    } else if (op < 4) { /* replace: moves it */
        body_at(body, sizeof body, &w->rs, lat, lng);
        int rc = tu_http(&srv, "PUT", path, h, body, strlen(body), &r);
        count(&n_writes);
        if (rc != 0 || r.status != 200) {
            error("replace", r.status, r.body);
        } else {
            w->lat[k] = lat, w->lng[k] = lng;
            take_token(w, &r);
        }
    } else if (op < 6) { /* patch */
        snprintf(body, sizeof body, "{\"phone\":\"+1 555 %04d\",\"price\":null}", rand_r(&w->rs) % 10000);
        int rc = tu_http(&srv, "PATCH", path, h, body, strlen(body), &r);
        count(&n_writes);
        if (rc != 0 || r.status != 200)
            error("patch", r.status, r.body);
        else
            take_token(w, &r);
    } else if (op < 7) { /* delete */
        int rc = tu_http(&srv, "DELETE", path, h + 1, NULL, 0, &r);
        count(&n_writes);
        if (rc != 0 || r.status != 204) {
            error("delete", r.status, r.body);
        } else {
            w->live[k] = false;
            take_token(w, &r);
        }
    } else if (op < 9) { /* read back own write */
        int rc = tu_http(&srv, "GET", path, h + 1, NULL, 0, &r);
        count(&n_reads);
        if (rc != 0 || r.status != 200)
            error("read back", r.status, r.body);
    } else { /* search with the token: the own write is there at once */
        char spath[160];
        snprintf(spath, sizeof spath, "/v1/search/nearby?latitude=%.7f&longitude=%.7f&radius=5&limit=50",
                 w->lat[k], w->lng[k]);
        int rc = tu_http(&srv, "GET", spath, h + 1, NULL, 0, &r);
        count(&n_searches);
        const char *code = json_string_value(json_object_get(json_object_get(r.json, "error"), "code"));
        if (rc == 0 && r.status == 503 && code && strcmp(code, "NOT_CAUGHT_UP") == 0) {
            /* The stream was just killed: the bounded wait ran out. This
             * is the injected fault showing, said clearly, not an error. */
            count(&n_not_caught_up);
        } else if (rc != 0 || r.status != 200) {
            error("search with a token", r.status, r.body);
        } else {
            bool found = false;
            size_t i;
            json_t *b;
            json_array_foreach(json_object_get(r.json, "businesses"), i, b)
                found |= json_integer_value(json_object_get(b, "id")) == w->id[k];
            if (!found)
                error("search with a token missed the own write", r.status, r.body);
        }
    }
    tu_response_free(&r);
}

static void *writer(void *arg)
{
    writer_t *w = arg;
    while (running)
        write_one(w);
    return NULL;
}

/* ------------------------------------------------------------ killer */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* How long the index took to apply what the primary had at the kill. */
static double recovery_sum_ms, recovery_max_ms;
static long n_recovered;

static void *killer(void *arg)
{
    unsigned rs = *(unsigned *)arg;
    PGconn *c = PQconnectdb(getenv("PROXIMITY_PRIMARY_URL"));
    while (running) {
        /* 0.5 to 3 s apart */
        for (int t = 500 + rand_r(&rs) % 2500; running && t > 0; t -= 100)
            usleep(100000);
        if (!running)
            break;
        if (PQstatus(c) != CONNECTION_OK)
            PQreset(c);
        PGresult *r = PQexec(c, "SELECT count(*) FILTER (WHERE pg_terminate_backend(active_pid)), "
                                "pg_current_wal_insert_lsn() FROM pg_replication_slots "
                                "WHERE slot_name LIKE 'proximityd_%' AND active_pid IS NOT NULL");
        long killed = 0;
        char th[96] = "";
        if (PQresultStatus(r) == PGRES_TUPLES_OK) {
            killed = atol(PQgetvalue(r, 0, 0));
            snprintf(th, sizeof th, "X-Consistency-Token: %s", PQgetvalue(r, 0, 1));
        }
        PQclear(r);
        if (killed == 0)
            continue;
        __atomic_add_fetch(&n_kills, killed, __ATOMIC_RELAXED);
        /* Until a search presenting the position at the kill is answered
         * (each waits up to the consistency wait inside proximityd). */
        double t0 = now_ms();
        const char *h[] = {th, NULL};
        while (running && now_ms() - t0 < 60000) {
            tu_response_t resp;
            int rc = tu_http(&srv, "GET", "/v1/search/nearby?latitude=0&longitude=0&radius=1", h, NULL, 0,
                             &resp);
            long st = resp.status;
            tu_response_free(&resp);
            if (rc == 0 && st == 200) {
                double ms = now_ms() - t0;
                recovery_sum_ms += ms;
                recovery_max_ms = ms > recovery_max_ms ? ms : recovery_max_ms;
                n_recovered++;
                break;
            }
        }
    }
    PQfinish(c);
    return NULL;
}

/* ------------------------------------------------------------ the run */

START_TEST(soak)
{
    const char *d = getenv("PROXIMITY_SOAK_SECONDS");
    int seconds = d ? atoi(d) : 30;
    ck_assert_int_gt(seconds, 0);
    fprintf(stderr, "it_soak: %d s, %d searchers, %d writers, random stream kills; seed %u "
            "(PROXIMITY_TEST_SEED=%u repeats it)\n", seconds, SEARCHERS, WRITERS, seed, seed);

    pthread_t ts[SEARCHERS], tw[WRITERS], tk;
    unsigned sseed[SEARCHERS], kseed = seed ^ 0x4b1du;
    static writer_t w[WRITERS];
    memset(w, 0, sizeof w);
    running = 1;
    for (int i = 0; i < SEARCHERS; i++) {
        sseed[i] = seed + 17u * (unsigned)i;
        pthread_create(&ts[i], NULL, searcher, &sseed[i]);
    }
    for (int i = 0; i < WRITERS; i++) {
        w[i].rs = seed ^ (0x9e3779b9u * (unsigned)(i + 1));
        pthread_create(&tw[i], NULL, writer, &w[i]);
    }
    /* PROXIMITY_SOAK_KILLS=0: the same load without faults, a baseline. */
    const char *k = getenv("PROXIMITY_SOAK_KILLS");
    bool kills = !(k && strcmp(k, "0") == 0);
    if (kills)
        pthread_create(&tk, NULL, killer, &kseed);
    for (int t = 0; t < seconds; t++) {
        sleep(1);
        if (t % 30 == 29)
            fprintf(stderr, "it_soak: %d s: %ld searches, %ld writes, %ld reads, %ld kills, %ld errors\n",
                    t + 1, n_searches, n_writes, n_reads, n_kills, n_errors);
    }
    running = 0;
    for (int i = 0; i < SEARCHERS; i++)
        pthread_join(ts[i], NULL);
    for (int i = 0; i < WRITERS; i++)
        pthread_join(tw[i], NULL);
    if (kills)
        pthread_join(tk, NULL);

    char token[64];
    ck_assert_int_eq(tu_primary_position(token, sizeof token), 0);
    ck_assert_msg(tu_wait_applied(&srv, token, 60), "the index did not catch up with %s", token);
    size_t rows = 0;
    long diff = tu_index_diff(&srv, &rows);
    fprintf(stderr, "it_soak: %ld requests sent (%ld searches, %ld writes, %ld reads), %ld stream kills "
            "injected, %ld token searches answered NOT_CAUGHT_UP right after a kill, %ld errors, "
            "%ld differences between index and table (%zu live rows)\n",
            n_searches + n_writes + n_reads, n_searches, n_writes, n_reads, n_kills, n_not_caught_up,
            n_errors, diff, rows);
    fprintf(stderr, "it_soak: after a kill the index had applied the primary's position at the kill "
            "in %.0f ms on average, %.0f ms at most (%ld kills measured)\n",
            n_recovered ? recovery_sum_ms / (double)n_recovered : 0.0, recovery_max_ms, n_recovered);
    ck_assert(!kills || n_kills > 0);
    ck_assert_int_gt(n_writes, 0);
    ck_assert_int_eq(n_errors, 0);
    ck_assert_int_eq(diff, 0);
}
END_TEST

static void setup(void)
{
    ck_assert_msg(getenv("PROXIMITY_PRIMARY_URL") != NULL, "run under tests/with-pg");
    const char *s = getenv("PROXIMITY_TEST_SEED");
    seed = s ? (unsigned)strtoul(s, NULL, 10) : (unsigned)time(NULL);
    free(tu_sql("INSERT INTO businesses (owner, name, categories, location) SELECT 'soak', 'Seed ' || g, "
                "ARRAY[(ARRAY['cafe','bakery','restaurant','bar','pharmacy'])[1 + g % 5]], "
                "ST_SetSRID(ST_MakePoint((g % 100) * 0.03, 10 + (g / 100) * 0.05), 4326)::geography "
                "FROM generate_series(1, 500) g"));
    ck_assert_int_eq(tu_server_start(&srv, server_args), 0);
    ck_assert_msg(tu_wait_ready(&srv, 60), "proximityd not ready within 60 s");
}

static void teardown(void)
{
    server_exit = tu_server_stop(&srv);
    fprintf(stderr, "it_soak: proximityd exited with %d%s; its log: %s/proximityd.log\n", server_exit,
            server_exit ? " (a sanitizer report or a crash)" : "", srv.dir);
    if (server_exit != 0) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "tail -n 40 %s/proximityd.log >&2", srv.dir);
        if (system(cmd) != 0)
            fprintf(stderr, "no log in %s\n", srv.dir);
    }
}

static Suite *soak_suite(void)
{
    Suite *s = suite_create("soak");
    TCase *tc = tcase_create("soak");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    const char *d = getenv("PROXIMITY_SOAK_SECONDS");
    tcase_set_timeout(tc, (d ? atoi(d) : 30) + 180);
    tcase_add_test(tc, soak);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int rc = check_run(soak_suite(), CK_NOFORK);
    return rc != 0 || server_exit != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
