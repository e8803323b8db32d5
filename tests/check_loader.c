/* check_loader.c — parsing snapshot rows (COPY text with hex EWKB). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "loader.h"
#include "check_run.h"

/* POINT(-122.4194 37.7749), SRID 4326, little-endian EWKB, as PostGIS prints it. */
#define SF "0101000020E610000050FC1873D79A5EC0D0D556EC2FE34240"
/* The same point big-endian. */
#define SF_BE "0020000001000010E6C05E9AD77318FC504042E32FEC56D5D0"

static int parse(const char *row, index_point_t *p)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", row);
    return loader_parse_row(buf, p);
}

START_TEST(valid_rows)
{
    index_point_t p;
    ck_assert_int_eq(parse("42\t" SF "\t{cafe,bakery}\t7", &p), 0);
    ck_assert_int_eq(p.id, 42);
    ck_assert_int_eq(p.version, 7);
    ck_assert_double_eq_tol(p.lat, 37.7749, 1e-12);
    ck_assert_double_eq_tol(p.lng, -122.4194, 1e-12);
    ck_assert(p.categories == ((1u << 1) | (1u << 3))); /* cafe, bakery */
    ck_assert_int_eq(parse("1\t" SF_BE "\t{}\t1", &p), 0);
    ck_assert_double_eq_tol(p.lat, 37.7749, 1e-12);
    ck_assert_double_eq_tol(p.lng, -122.4194, 1e-12);
    ck_assert(p.categories == 0);
    /* a name the service does not know is ignored, not fatal */
    ck_assert_int_eq(parse("1\t" SF "\t{cafe,teleporter}\t1", &p), 0);
    ck_assert(p.categories == (1u << 1));
}
END_TEST

START_TEST(tombstone_flag)
{
    index_point_t p;
    ck_assert_int_eq(parse("42\t" SF "\t{cafe}\t7\tf", &p), 0);
    ck_assert_int_eq(parse("43\t" SF "\t{cafe}\t9\tt", &p), 1);
    ck_assert(p.id == 43 && p.version == 9);
}
END_TEST

static const char *const malformed[] = {
    "",
    "42",
    "42\t" SF "\t{cafe}",                    /* missing version */
    "x42\t" SF "\t{cafe}\t7",                /* id not a number */
    "42\t" SF "\t{cafe}\t7x",                /* version not a number */
    "42\tnot-hex\t{cafe}\t7",
    "42\t0101000020E610000050FC1873D79A5EC0\t{cafe}\t7",            /* cut short */
    "42\t0102000020E610000050FC1873D79A5EC0D0D556EC2FE34240\t{}\t7", /* a line, not a point */
    "42\t" SF "\tcafe\t7",                   /* not an array literal */
    "42\t" SF "\t{cafe}\t7\tmaybe",          /* tombstone flag neither t nor f */
    "42\t" SF "\t{cafe}\t7\tt\textra",       /* a sixth field */
};

START_TEST(malformed_rows)
{
    index_point_t p;
    ck_assert_msg(parse(malformed[_i], &p) == -1, "accepted \"%s\"", malformed[_i]);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("loader");
    TCase *tc = tcase_create("rows");
    tcase_add_test(tc, valid_rows);
    tcase_add_test(tc, tombstone_flag);
    tcase_add_loop_test(tc, malformed_rows, 0, sizeof malformed / sizeof malformed[0]);
    suite_add_tcase(s, tc);
    return check_run(s, CK_FORK_GETENV);
}
