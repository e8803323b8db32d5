/* it_metrics.c — GET /metrics is strict Prometheus text and its figures
 * move with the requests made; SIGTERM with a drain delay fails /readyz
 * first, keeps serving, then exits cleanly. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_run.h"
#include "promtext.h"
#include "testutil.h"

static const char *const J = "Content-Type: application/json";
static const char *const SEARCH = "/v1/search/nearby?latitude=48.85&longitude=2.35&radius=2000";

/* GET /metrics, parsed strictly (the test fails on any malformed line). */
static void scrape(const tu_server_t *srv, promtext_t *p)
{
    tu_response_t r;
    char err[512];
    ck_assert_int_eq(tu_http(srv, "GET", "/metrics", NULL, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(strncmp(tu_header(&r, "Content-Type"), "text/plain; version=0.0.4", 25) == 0, "Content-Type %s",
                  tu_header(&r, "Content-Type"));
    if (promtext_parse(r.body, p, err, sizeof err) != 0)
        ck_abort_msg("/metrics is not valid exposition text: %s\n%s", err, r.body);
    tu_response_free(&r);
}

static double value(const promtext_t *p, const char *name, const char *labels)
{
    int n;
    double v = promtext_sum(p, name, labels, &n);
    return n > 0 ? v : -1;
}

static long call(const tu_server_t *srv, const char *method, const char *path, const char *body)
{
    tu_response_t r;
    const char *h[] = {J, NULL};
    ck_assert_int_eq(tu_http(srv, method, path, h, body, body ? strlen(body) : 0, &r), 0);
    long st = r.status;
    tu_response_free(&r);
    return st;
}

START_TEST(exposition_moves_with_requests)
{
    tu_server_t srv;
    const char *args[] = {"--threads=2", NULL};
    promtext_t a, b;

    ck_assert_int_eq(tu_server_start(&srv, args), 0);
    ck_assert_msg(tu_wait_ready(&srv, 60), "not ready within 60 s");
    scrape(&srv, &a);

    for (int i = 0; i < 7; i++)
        ck_assert_int_eq(call(&srv, "GET", SEARCH, NULL), 200);
    ck_assert_int_eq(call(&srv, "GET", "/v1/businesses/987654321", NULL), 404);
    ck_assert_int_eq(call(&srv, "POST", "/v1/businesses", "{not json"), 400);
    ck_assert_int_eq(call(&srv, "POST", "/v1/businesses",
                          "{\"name\":\"Metered\",\"categories\":[\"cafe\"],\"latitude\":1.5,\"longitude\":2.5}"),
                     201);
    ck_assert_int_eq(call(&srv, "GET", "/no/such/path", NULL), 404);
    ck_assert_int_eq(call(&srv, "DELETE", "/healthz", NULL), 405);
    scrape(&srv, &b);

    /* Types of the families operators alert on. */
    static const char *const typed[][2] = {
        {"proximity_http_requests_total", "counter"},
        {"proximity_http_request_duration_seconds", "histogram"},
        {"proximity_http_requests_in_flight", "gauge"},
        {"proximity_build_info", "gauge"},
        {"proximity_ready", "gauge"},
        {"proximity_index_age_seconds", "gauge"},
        {"proximity_index_points", "gauge"},
        {"proximity_index_generation", "gauge"},
        {"proximity_cache_hits_total", "counter"},
        {"proximity_cache_misses_total", "counter"},
        {"proximity_cache_evictions_total", "counter"},
        {"proximity_cache_bytes", "gauge"},
        {"proximity_cdc_lag_seconds", "gauge"},
        {"proximity_cdc_events_total", "counter"},
        {"proximity_db_pool_in_use", "gauge"},
        {"proximity_db_errors_total", "counter"},
    };
    for (size_t i = 0; i < sizeof typed / sizeof typed[0]; i++) {
        const char *t = promtext_type(&b, typed[i][0]);
        ck_assert_msg(t != NULL && strcmp(t, typed[i][1]) == 0, "%s: type %s, want %s", typed[i][0],
                      t ? t : "(none)", typed[i][1]);
    }

    /* Counters moved by exactly what was asked (the scrape between is
     * the only other request, and it is counted under /metrics). */
    static const struct { const char *labels; double delta; } moved[] = {
        {"route=/v1/search/nearby,method=GET,status=200", 7},
        {"route=/v1/businesses/{id},method=GET,status=404", 1},
        {"route=/v1/businesses,method=POST,status=400", 1},
        {"route=/v1/businesses,method=POST,status=201", 1},
        {"route=unmatched,method=GET,status=404", 1},
        {"route=/healthz,method=DELETE,status=405", 1},
        {"route=/metrics,method=GET,status=200", 1},
    };
    for (size_t i = 0; i < sizeof moved / sizeof moved[0]; i++) {
        double before = value(&a, "proximity_http_requests_total", moved[i].labels);
        double after = value(&b, "proximity_http_requests_total", moved[i].labels);
        ck_assert_msg(after - (before < 0 ? 0 : before) == moved[i].delta, "%s: %g -> %g, want +%g",
                      moved[i].labels, before, after, moved[i].delta);
    }
    double c0 = value(&a, "proximity_http_request_duration_seconds_count", "route=/v1/search/nearby,method=GET");
    double c1 = value(&b, "proximity_http_request_duration_seconds_count", "route=/v1/search/nearby,method=GET");
    ck_assert_msg(c1 - (c0 < 0 ? 0 : c0) == 7, "search latency count %g -> %g", c0, c1);
    ck_assert(value(&b, "proximity_http_request_duration_seconds_sum", "route=/v1/search/nearby,method=GET") > 0);
    /* The searches hydrated businesses, or found none: hits+misses moved or not, never back. */
    ck_assert(value(&b, "proximity_cache_misses_total", NULL) >= value(&a, "proximity_cache_misses_total", NULL));
    /* The change stream brings the POST back, asynchronously. */
    double ev0 = value(&a, "proximity_cdc_events_total", NULL), ev = -1;
    for (int i = 0; i < 100; i++) {
        promtext_t c;
        scrape(&srv, &c);
        ev = value(&c, "proximity_cdc_events_total", NULL);
        promtext_free(&c);
        if (ev >= ev0 + 1)
            break;
        usleep(50000);
    }
    ck_assert_msg(ev >= ev0 + 1, "cdc events %g -> %g", ev0, ev);

    ck_assert(value(&b, "proximity_ready", NULL) == 1);
    ck_assert(value(&b, "proximity_draining", NULL) == 0);
    ck_assert(value(&b, "proximity_build_info", "version=" PACKAGE_VERSION) == 1);
    ck_assert(value(&b, "proximity_index_age_seconds", NULL) >= 0);
    ck_assert(value(&b, "proximity_db_connects_total", "role=primary") >= 1);
    ck_assert(value(&b, "proximity_db_pool_in_use", NULL) >= 0);
    ck_assert(value(&b, "proximity_db_errors_total", NULL) >= 0);
    ck_assert(value(&b, "proximity_http_requests_in_flight", NULL) >= 1); /* this scrape */
    promtext_free(&a);
    promtext_free(&b);
    ck_assert_int_eq(tu_server_stop(&srv), 0);
}
END_TEST

/* The parser itself refuses what Prometheus would refuse. */
START_TEST(parser_is_strict)
{
    static const char *const bad[] = {
        "x 1",                                  /* no newline */
        "x{a=\"1\"} 1\nx{a=\"1\"} 2\n",         /* duplicate series */
        "x{a=1} 1\n",                           /* unquoted */
        "x one\n",                              /* value */
        "1x 1\n",                               /* name */
        "x 1\ny 1\nx{a=\"b\"} 1\n",             /* family split */
        "x 1\n# TYPE x gauge\n",                /* TYPE after samples */
        "# TYPE c counter\nc -1\n",             /* negative counter */
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\nh_sum 1\n",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_count 1\nh_sum 1\n", /* no +Inf */
        "x{a=\"\\q\"} 1\n",                     /* escape */
    };
    promtext_t p;
    char err[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(promtext_parse(bad[i], &p, err, sizeof err) != 0, "accepted: %s", bad[i]);
        promtext_free(&p);
    }
    ck_assert_int_eq(promtext_parse("# HELP x a thing\n# TYPE x gauge\nx{a=\"q\\\"\\\\\\n\",b=\"\"} -Inf 12\n"
                                    "# TYPE h histogram\nh_bucket{le=\"0.5\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n",
                                    &p, err, sizeof err),
                     0);
    ck_assert_int_eq((int)p.nsamples, 5);
    promtext_free(&p);
}
END_TEST

/* SIGTERM with --drain-delay: /readyz fails at once while requests are
 * still served; then the port closes and the process exits 0. */
START_TEST(drain_delay_fails_readiness_first)
{
    tu_server_t srv;
    const char *args[] = {"--threads=2", "--drain-delay=2000", NULL};
    tu_response_t r;

    ck_assert_int_eq(tu_server_start(&srv, args), 0);
    ck_assert_msg(tu_wait_ready(&srv, 60), "not ready within 60 s");
    ck_assert_int_eq(kill(srv.pid, SIGTERM), 0);
    usleep(300000);
    ck_assert_int_eq(tu_http(&srv, "GET", "/readyz", NULL, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 503);
    ck_assert_msg(strstr(r.body, "NOT_READY") && strstr(r.body, "draining"), "%s", r.body);
    tu_response_free(&r);
    ck_assert_int_eq(call(&srv, "GET", "/healthz", NULL), 200);
    ck_assert_int_eq(call(&srv, "GET", SEARCH, NULL), 200);
    promtext_t p;
    scrape(&srv, &p);
    ck_assert(value(&p, "proximity_draining", NULL) == 1);
    ck_assert(value(&p, "proximity_ready", NULL) == 0);
    promtext_free(&p);
    int st = -1;
    for (int i = 0; i < 200 && waitpid(srv.pid, &st, WNOHANG) != srv.pid; i++)
        usleep(50000);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status %d", st);
    srv.pid = 0;
    ck_assert_int_ne(tu_http(&srv, "GET", "/healthz", NULL, NULL, 0, &r), 0); /* port closed */
    tu_response_free(&r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("metrics");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, parser_is_strict);
    if (getenv("PROXIMITY_PRIMARY_URL") != NULL) {
        tcase_add_test(tc, exposition_moves_with_requests);
        tcase_add_test(tc, drain_delay_fails_readiness_first);
    } else {
        fprintf(stderr, "note: no PROXIMITY_PRIMARY_URL (run under tests/with-pg): server tests not run\n");
    }
    suite_add_tcase(s, tc);
    return check_run(s, CK_FORK);
}
