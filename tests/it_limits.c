/* it_limits.c — abuse limits of the real proximityd: token-bucket rate
 * limits per client for reads and writes (429, Retry-After, RateLimit-*),
 * X-Forwarded-For believed only from trusted proxies, API keys as client
 * names; slow clients cut off by the connection timeout, and the cap on
 * connections per address. Counts, not timings: bounds only. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "testutil.h"
#include "check_run.h"

static tu_server_t srv;

/* Burst 5 at 1 request/s: the 6th immediate request is refused unless a
 * whole second passed, which the bounds below allow for. */
static const char *const args[] = {"--threads=2", "--rate-limit-read=1", "--rate-limit-write=1",
                                   "--rate-limit-burst=5", "--trusted-proxies=127.0.0.1",
                                   "--connection-timeout=2", "--connection-limit-per-ip=8", NULL};

static void setup(void)
{
    ck_assert_msg(getenv("PROXIMITY_PRIMARY_URL") != NULL, "run under tests/with-pg");
    ck_assert_int_eq(tu_server_start(&srv, args), 0);
    ck_assert_msg(tu_wait_ready(&srv, 60), "proximityd not ready within 60 s");
}

static void teardown(void)
{
    tu_server_stop(&srv);
}

/* Sends n requests as one client; returns how many were not 429 and
 * checks every 429 on the way. *elapsed gets the seconds it took. */
static int burst(const tu_server_t *s, const char *method, const char *path, const char *client_header,
                 const char *body, int n, double *elapsed)
{
    const char *h[] = {"Content-Type: application/json", client_header, NULL};
    int ok = 0;
    double t0 = clock_monotonic();
    for (int i = 0; i < n; i++) {
        tu_response_t r;
        ck_assert_int_eq(tu_http(s, method, path, h, body, body ? strlen(body) : 0, &r), 0);
        if (r.status == 429) {
            ck_assert_ptr_nonnull(r.json);
            ck_assert_str_eq(json_string_value(json_object_get(json_object_get(r.json, "error"), "code")),
                             "RATE_LIMITED");
            ck_assert_ptr_nonnull(tu_header(&r, "Retry-After"));
            ck_assert_int_ge(atoi(tu_header(&r, "Retry-After")), 1);
            ck_assert_str_eq(tu_header(&r, "RateLimit-Remaining"), "0");
        } else {
            ok++;
            ck_assert_msg(r.status < 500, "%s %s: %ld %s", method, path, r.status, r.body);
            ck_assert_str_eq(tu_header(&r, "RateLimit-Limit"), "5");
            ck_assert_ptr_nonnull(tu_header(&r, "RateLimit-Reset"));
        }
        /* The first five are within the burst, whatever the clock did. */
        if (i < 5)
            ck_assert_msg(r.status != 429, "request %d of a fresh client refused", i + 1);
        tu_response_free(&r);
    }
    *elapsed = clock_monotonic() - t0;
    return ok;
}

/* At most the burst plus what the rate refilled meanwhile got through,
 * and (when that was under n) some were refused. */
static void check_limited(int ok, int n, double elapsed)
{
    int most = 5 + (int)elapsed + 1;
    ck_assert_msg(ok <= most, "%d of %d allowed in %.2f s (at most %d)", ok, n, elapsed, most);
    ck_assert_msg(ok >= 5, "only %d allowed", ok);
}

static const char *const search = "/v1/search/nearby?latitude=10&longitude=10&radius=1000";

START_TEST(reads_limited_per_client)
{
    double el;
    int ok = burst(&srv, "GET", search, "X-Forwarded-For: 198.51.100.1", NULL, 15, &el);
    check_limited(ok, 15, el);
    /* Another client behind the same (trusted) proxy has its own bucket. */
    ok = burst(&srv, "GET", search, "X-Forwarded-For: 198.51.100.2", NULL, 5, &el);
    ck_assert_int_eq(ok, 5);
    /* An API key names the client whatever its address. */
    ok = burst(&srv, "GET", "/v1/businesses/12345", "X-API-Key: it-limits-key", NULL, 15, &el);
    check_limited(ok, 15, el);
    /* Operational endpoints are not limited. */
    for (int i = 0; i < 20; i++) {
        tu_response_t r;
        ck_assert_int_eq(tu_http(&srv, "GET", "/healthz", NULL, NULL, 0, &r), 0);
        ck_assert_int_eq(r.status, 200);
        tu_response_free(&r);
    }
}
END_TEST

START_TEST(writes_have_their_own_bucket)
{
    double el;
    const char *xff = "X-Forwarded-For: 198.51.100.3";
    /* Use up the reads of this client first: writes still go through. */
    int reads = burst(&srv, "GET", search, xff, NULL, 10, &el);
    check_limited(reads, 10, el);
    const char *body = "{\"name\":\"Limited\",\"latitude\":10,\"longitude\":10}";
    char *before = tu_sql("SELECT count(*) FROM businesses WHERE name = 'Limited'");
    int ok = burst(&srv, "POST", "/v1/businesses", xff, body, 12, &el);
    check_limited(ok, 12, el);
    char *after = tu_sql("SELECT count(*) FROM businesses WHERE name = 'Limited'");
    /* A refused write stored nothing. */
    ck_assert_int_eq(atoi(after) - atoi(before), ok);
    free(before);
    free(after);
}
END_TEST

START_TEST(forwarded_for_ignored_from_untrusted)
{
    tu_server_t own;
    const char *a[] = {"--threads=1", "--rate-limit-read=1", "--rate-limit-burst=5", "--cdc=off",
                       "--cache-prewarm=0", "--trusted-proxies=10.9.9.9", NULL};
    ck_assert_int_eq(tu_server_start(&own, a), 0);
    double el;
    int ok = burst(&own, "GET", "/v1/businesses/1", "X-Forwarded-For: 203.0.113.1", NULL, 10, &el);
    check_limited(ok, 10, el);
    /* A new forged address does not buy a new bucket. */
    const char *h[] = {"X-Forwarded-For: 203.0.113.2", NULL};
    tu_response_t r;
    int refused = 0;
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(tu_http(&own, "GET", "/v1/businesses/1", h, NULL, 0, &r), 0);
        refused += r.status == 429;
        tu_response_free(&r);
    }
    ck_assert_int_ge(refused, 1);
    ck_assert_int_eq(tu_server_stop(&own), 0);
}
END_TEST

static int dial(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

/* Waits up to limit_s for the server to close fd; returns the seconds
 * it took, or -1 if it did not. Anything the server says is drained. */
static double wait_closed(int fd, double limit_s)
{
    double t0 = clock_monotonic();
    char buf[4096];
    while (clock_monotonic() - t0 < limit_s) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t k = read(fd, buf, sizeof buf);
        if (k == 0 || (k < 0 && errno == ECONNRESET))
            return clock_monotonic() - t0;
    }
    return -1;
}

START_TEST(slow_headers_cut_off)
{
    /* Half a request line and some headers, then silence. */
    int fd = dial(srv.port);
    const char *part = "GET /v1/search/nearby?latitude=1&longitude=1 HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    ck_assert_int_eq(write(fd, part, strlen(part)), (ssize_t)strlen(part));
    double t = wait_closed(fd, 15);
    close(fd);
    ck_assert_msg(t >= 0, "a silent half-sent request was not cut off within 15 s (timeout 2 s)");
    /* A half-sent body too. */
    fd = dial(srv.port);
    const char *post = "POST /v1/businesses HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       "Content-Length: 100\r\n\r\n{\"name\":";
    ck_assert_int_eq(write(fd, post, strlen(post)), (ssize_t)strlen(post));
    t = wait_closed(fd, 15);
    close(fd);
    ck_assert_msg(t >= 0, "a silent half-sent body was not cut off within 15 s");
}
END_TEST

/* A slowloris: the request line and headers a byte every 200 ms, never
 * idle long enough for the 30 s idle timeout; the 2 s header deadline
 * cuts it. Bounds only: cut at all within 12 s, and not before 1 s. */
START_TEST(trickled_headers_cut_off)
{
    tu_server_t own;
    const char *a[] = {"--threads=1", "--cdc=off", "--cache-prewarm=0", "--connection-timeout=30",
                       "--header-timeout=2", NULL};
    ck_assert_int_eq(tu_server_start(&own, a), 0);
    int fd = dial(own.port);
    const char *req = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    double t0 = clock_monotonic(), cut = -1;
    size_t sent = 0;
    while (clock_monotonic() - t0 < 12 && cut < 0) {
        if (sent < strlen(req) && send(fd, req + sent, 1, MSG_NOSIGNAL) != 1) {
            cut = clock_monotonic() - t0;
            break;
        }
        sent++;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 200) > 0) {
            char buf[512];
            ssize_t k = read(fd, buf, sizeof buf);
            ck_assert_msg(k <= 0, "the server answered a request that never finished its headers");
            cut = clock_monotonic() - t0;
        }
    }
    close(fd);
    ck_assert_msg(cut >= 0, "a trickling client was not cut off within 12 s (header deadline 2 s)");
    ck_assert_msg(cut >= 1.0, "cut after %.2f s, before the 2 s deadline", cut);
    /* A client that sends its request in time is served, on the same server. */
    tu_response_t r;
    ck_assert_int_eq(tu_http(&own, "GET", "/healthz", NULL, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 200);
    tu_response_free(&r);
    ck_assert_int_eq(tu_server_stop(&own), 0);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "grep -q 'connection cut' %s/proximityd.log", own.dir);
    ck_assert_msg(system(cmd) == 0, "no 'connection cut' line in the log");
}
END_TEST

START_TEST(connections_per_address_capped)
{
    int idle[8];
    for (int i = 0; i < 8; i++)
        idle[i] = dial(srv.port);
    usleep(300000); /* let the server accept them all */
    /* The ninth is closed without an answer. */
    int fd = dial(srv.port);
    const char *req = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    ssize_t w = write(fd, req, strlen(req));
    (void)w;
    char buf[512];
    ssize_t k = -1;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 5000) > 0)
        k = read(fd, buf, sizeof buf);
    close(fd);
    ck_assert_msg(k <= 0 || strncmp(buf, "HTTP/1.1 200", 12) != 0, "the ninth connection was served");
    for (int i = 0; i < 8; i++)
        close(idle[i]);
    /* Once they are gone, requests are served again. */
    long status = 0;
    for (int i = 0; i < 50 && status != 200; i++) {
        tu_response_t r;
        if (tu_http(&srv, "GET", "/healthz", NULL, NULL, 0, &r) == 0)
            status = r.status;
        tu_response_free(&r);
        if (status != 200)
            usleep(100000);
    }
    ck_assert_int_eq(status, 200);
}
END_TEST

START_TEST(oversized_headers_refused)
{
    /* 64 KB of one header: over libmicrohttpd's per-connection memory. */
    size_t n = 64 * 1024;
    char *h = malloc(n + 32);
    memcpy(h, "X-Big: ", 7);
    memset(h + 7, 'h', n);
    h[7 + n] = '\0';
    const char *hdrs[] = {h, NULL};
    tu_response_t r;
    int rc = tu_http(&srv, "GET", "/healthz", hdrs, NULL, 0, &r);
    ck_assert_msg(rc != 0 || (r.status >= 400 && r.status < 500), "a 64 KB header was answered %ld", r.status);
    tu_response_free(&r);
    free(h);
    ck_assert_int_eq(tu_http(&srv, "GET", "/healthz", NULL, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 200);
    tu_response_free(&r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("limits");
    TCase *tc = tcase_create("limits");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, reads_limited_per_client);
    tcase_add_test(tc, writes_have_their_own_bucket);
    tcase_add_test(tc, forwarded_for_ignored_from_untrusted);
    tcase_add_test(tc, slow_headers_cut_off);
    tcase_add_test(tc, trickled_headers_cut_off);
    tcase_add_test(tc, connections_per_address_capped);
    tcase_add_test(tc, oversized_headers_refused);
    suite_add_tcase(s, tc);
    return check_run(s, CK_NOFORK);
}
