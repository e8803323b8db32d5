/* check_ratelimit.c — token buckets on a fixed clock: burst, refill,
 * separate clients, the bounded table, header values; trusted proxies and
 * X-Forwarded-For. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "ratelimit.h"
#include "check_run.h"

START_TEST(burst_then_refill)
{
    ratelimit_t *rl = ratelimit_new(5, 5, 1024);
    ratelimit_result_t r;
    for (int i = 0; i < 5; i++) {
        ratelimit_take(rl, "ip:1.2.3.4", 100.0, &r);
        ck_assert(r.allowed);
        ck_assert_int_eq(r.limit, 5);
        ck_assert_int_eq(r.remaining, 4 - i);
    }
    for (int i = 0; i < 10; i++) { /* the 6th..15th at the same instant */
        ratelimit_take(rl, "ip:1.2.3.4", 100.0, &r);
        ck_assert(!r.allowed);
        ck_assert_int_eq(r.remaining, 0);
        ck_assert_int_eq(r.retry_after, 1);
        ck_assert_int_eq(r.reset_s, 1);
    }
    /* Another client is not affected. */
    ratelimit_take(rl, "ip:1.2.3.5", 100.0, &r);
    ck_assert(r.allowed);
    /* 0.2 s gives one token back, 0.1 s more does not give another. */
    ratelimit_take(rl, "ip:1.2.3.4", 100.2, &r);
    ck_assert(r.allowed);
    ratelimit_take(rl, "ip:1.2.3.4", 100.3, &r);
    ck_assert(!r.allowed);
    /* A long pause fills the bucket, never above the burst. */
    ratelimit_take(rl, "ip:1.2.3.4", 1000.0, &r);
    ck_assert(r.allowed);
    ck_assert_int_eq(r.remaining, 4);
    /* A clock that steps back takes nothing away and adds nothing. */
    ratelimit_take(rl, "ip:1.2.3.4", 999.0, &r);
    ck_assert(r.allowed);
    ck_assert_int_eq(r.remaining, 3);
    ratelimit_free(rl);
}
END_TEST

START_TEST(slow_rate_retry_after)
{
    ratelimit_t *rl = ratelimit_new(0.5, 2, 64); /* one request per 2 s */
    ratelimit_result_t r;
    ratelimit_take(rl, "k", 10, &r);
    ratelimit_take(rl, "k", 10, &r);
    ck_assert(r.allowed);
    ratelimit_take(rl, "k", 10, &r);
    ck_assert(!r.allowed);
    ck_assert_int_eq(r.retry_after, 2);
    ck_assert_int_eq(r.reset_s, 4);
    ratelimit_free(rl);
}
END_TEST

START_TEST(bounded_table)
{
    /* A million clients through a 64-bucket table: the memory is what it
     * was, the newest clients are tracked, the oldest forgotten. */
    ratelimit_t *rl = ratelimit_new(1, 1, 64);
    ratelimit_result_t r;
    char key[32];
    ratelimit_take(rl, "first", 0, &r);
    ck_assert(r.allowed);
    ratelimit_take(rl, "first", 0, &r);
    ck_assert(!r.allowed);
    for (int i = 0; i < 1000000; i++) {
        snprintf(key, sizeof key, "ip:%d", i);
        ratelimit_take(rl, key, 0.000001 * i, &r);
        ck_assert(r.allowed);
    }
    /* The last client is still remembered (refused at once again)... */
    ratelimit_take(rl, key, 1.0, &r);
    ck_assert(!r.allowed);
    /* ...and the first was evicted: a fresh bucket. */
    ratelimit_take(rl, "first", 1.0, &r);
    ck_assert(r.allowed);
    ratelimit_free(rl);
}
END_TEST

START_TEST(nets_and_forwarded_for)
{
    ratelimit_nets_t t;
    char out[16];
    ck_assert_int_eq(ratelimit_nets_parse("", &t), 0);
    ck_assert_int_eq(t.n, 0);
    ck_assert_int_eq(ratelimit_nets_parse("10.0.0.1, 192.168.0.0/16,", &t), 0);
    ck_assert_int_eq(t.n, 2);
    static const char *const bad[] = {"10.0.0", "10.0.0.1/33", "10.0.0.1/", "x", "10.0.0.1/8x", "::1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(ratelimit_nets_parse(bad[i], &t) == -1, "accepted %s", bad[i]);

    ck_assert_int_eq(ratelimit_nets_parse("10.0.0.1,192.168.0.0/16", &t), 0);
    /* An untrusted peer: its X-Forwarded-For is ignored. */
    ratelimit_client_addr(&t, "203.0.113.9", "1.1.1.1", out);
    ck_assert_str_eq(out, "203.0.113.9");
    /* A trusted peer: the last hop it saw. */
    ratelimit_client_addr(&t, "10.0.0.1", "198.51.100.7", out);
    ck_assert_str_eq(out, "198.51.100.7");
    /* Past trusted hops, but not past an untrusted one: the client
     * cannot choose its address by prepending one. */
    ratelimit_client_addr(&t, "10.0.0.1", "6.6.6.6, 198.51.100.7, 192.168.4.4", out);
    ck_assert_str_eq(out, "198.51.100.7");
    /* Garbage at the right: the proxy itself. */
    ratelimit_client_addr(&t, "10.0.0.1", "1.2.3.4, not-an-ip", out);
    ck_assert_str_eq(out, "10.0.0.1");
    /* All trusted: the leftmost. */
    ratelimit_client_addr(&t, "10.0.0.1", "192.168.1.1,192.168.1.2", out);
    ck_assert_str_eq(out, "192.168.1.1");
    ratelimit_client_addr(&t, "10.0.0.1", NULL, out);
    ck_assert_str_eq(out, "10.0.0.1");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ratelimit");
    TCase *tc = tcase_create("buckets");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, burst_then_refill);
    tcase_add_test(tc, slow_rate_retry_after);
    tcase_add_test(tc, bounded_table);
    tcase_add_test(tc, nets_and_forwarded_for);
    suite_add_tcase(s, tc);
    return check_run(s, CK_NOFORK);
}
