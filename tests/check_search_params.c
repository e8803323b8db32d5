/* check_search_params.c — strict query parsing and exact, query-bound cursors. */
#include <check.h>
#include <stdarg.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "search_params.h"
#include "check_run.h"

static int parse(search_params_t *p, search_error_t *err, ...)
{
    search_arg_t args[16];
    size_t n = 0;
    va_list ap;
    va_start(ap, err);
    const char *k;
    while ((k = va_arg(ap, const char *)) != NULL && n < 16) {
        args[n].key = k;
        args[n].value = va_arg(ap, const char *);
        n++;
    }
    va_end(ap);
    return search_params_parse(args, n, p, err);
}

START_TEST(defaults)
{
    search_params_t p;
    search_error_t e;
    ck_assert_int_eq(parse(&p, &e, "latitude", "-33.8688", "longitude", "151.2093", NULL), 0);
    ck_assert_double_eq(p.lat, -33.8688);
    ck_assert_double_eq(p.radius_m, 5000);
    ck_assert_int_eq(p.limit, 20);
    ck_assert(!p.nearest && !p.has_cursor && p.categories == 0);
    ck_assert_int_eq(parse(&p, &e, "latitude", "90", "longitude", "-180", "radius", "1", "limit", "50",
                           "categories", "cafe,bar", NULL), 0);
    ck_assert_int_eq(p.limit, 50);
    ck_assert(p.categories == 0x6); /* cafe = bit 1, bar = bit 2 */
    ck_assert_int_eq(parse(&p, &e, "latitude", "1e1", "longitude", "+2.5", "mode", "nearest", NULL), 0);
    ck_assert(p.nearest);
    ck_assert_double_eq(p.lat, 10);
}
END_TEST

static const char *const bad[][3] = {
    /* key, value, field */
    {"latitude", "", "latitude"},     {"latitude", "nan", "latitude"},   {"latitude", "inf", "latitude"},
    {"latitude", "0x10", "latitude"}, {"latitude", " 1", "latitude"},    {"latitude", ".", "latitude"},
    {"latitude", "-90.0001", "latitude"}, {"latitude", "1e400", "latitude"}, {"latitude", "1e", "latitude"},
    {"radius", "0.5", "radius"},      {"radius", "40001", "radius"},     {"radius", "-5", "radius"},
    {"limit", "0", "limit"},          {"limit", "-1", "limit"},          {"limit", "51", "limit"},
    {"limit", "1.5", "limit"},        {"limit", "", "limit"},            {"categories", "", "categories"},
    {"categories", "cafe,", "categories"}, {"categories", "Cafe", "categories"}, {"mode", "far", "mode"},
    {"cursor", "", "cursor"},         {"cursor", "!!!!", "cursor"},      {"cursor", "AAAA", "cursor"},
};

START_TEST(refuses)
{
    search_params_t p;
    search_error_t e;
    const char *lat = strcmp(bad[_i][0], "latitude") == 0 ? bad[_i][1] : "1";
    int rc = strcmp(bad[_i][0], "latitude") == 0
                 ? parse(&p, &e, "latitude", lat, "longitude", "1", NULL)
                 : parse(&p, &e, "latitude", "1", "longitude", "1", bad[_i][0], bad[_i][1], NULL);
    ck_assert_msg(rc == -1, "accepted %s=%s", bad[_i][0], bad[_i][1]);
    ck_assert_str_eq(e.field, bad[_i][2]);
}
END_TEST

START_TEST(refuses_combinations)
{
    search_params_t p;
    search_error_t e;
    ck_assert_int_eq(parse(&p, &e, "longitude", "1", NULL), -1);
    ck_assert_str_eq(e.field, "latitude");
    ck_assert_int_eq(parse(&p, &e, "latitude", "1", "longitude", "1", "mode", "nearest", "radius", "5", NULL), -1);
    ck_assert_str_eq(e.field, "radius");
    ck_assert_int_eq(parse(&p, &e, "latitude", "1", "longitude", "1", "latitude", "2", NULL), -1);
    ck_assert_int_eq(parse(&p, &e, "latitude", "1", "longitude", "1", "page", "2", NULL), -1);
}
END_TEST

START_TEST(cursor_round_trip)
{
    search_params_t p, q;
    search_error_t e;
    char cur[SEARCH_CURSOR_MAX + 1];
    ck_assert_int_eq(parse(&p, &e, "latitude", "48.8566", "longitude", "2.3522", "radius", "2000",
                           "categories", "museum", NULL), 0);
    /* exact: the next distance up must not compare equal */
    double d = 1234.5678901234567;
    search_cursor_encode(&p, d, 987654321012LL, cur);
    ck_assert(strlen(cur) < SEARCH_CURSOR_MAX);
    ck_assert(strspn(cur, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == strlen(cur));
    ck_assert_int_eq(parse(&q, &e, "latitude", "48.8566", "longitude", "2.3522", "radius", "2000",
                           "categories", "museum", "cursor", cur, "limit", "5", NULL), 0);
    ck_assert(q.has_cursor);
    ck_assert(q.after_distance_m == d);
    ck_assert_int_eq(q.after_id, 987654321012LL);
    /* bound to its query: another radius, point or filter refuses it */
    ck_assert_int_eq(parse(&q, &e, "latitude", "48.8566", "longitude", "2.3522", "radius", "2001",
                           "categories", "museum", "cursor", cur, NULL), -1);
    ck_assert_int_eq(parse(&q, &e, "latitude", "48.8566", "longitude", "2.3522", "radius", "2000",
                           "cursor", cur, NULL), -1);
    /* tampering with any character is caught or changes nothing silently */
    for (size_t i = 0; i < strlen(cur); i++) {
        char t[SEARCH_CURSOR_MAX + 1];
        strcpy(t, cur);
        t[i] = t[i] == 'A' ? 'B' : 'A';
        int rc = parse(&q, &e, "latitude", "48.8566", "longitude", "2.3522", "radius", "2000",
                       "categories", "museum", "cursor", t, NULL);
        ck_assert(rc == -1 || q.after_distance_m != d || q.after_id != 987654321012LL);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("search_params");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, defaults);
    tcase_add_loop_test(tc, refuses, 0, sizeof bad / sizeof bad[0]);
    tcase_add_test(tc, refuses_combinations);
    tcase_add_test(tc, cursor_round_trip);
    suite_add_tcase(s, tc);
    return check_run(s, CK_FORK_GETENV);
}
