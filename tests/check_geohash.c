/* check_geohash.c — geohash strings, keys, neighbours and coverings. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "geohash.h"
#include "check_run.h"

static uint64_t rng_state;

static double rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

START_TEST(test_encode_known)
{
    char s[13];
    ck_assert_int_eq(geohash_encode(42.605, -5.603, 5, s), 0);
    ck_assert_str_eq(s, "ezs42");
    ck_assert_int_eq(geohash_encode(57.64911, 10.40744, 11, s), 0);
    ck_assert_str_eq(s, "u4pruydqqvj");
    ck_assert_int_eq(geohash_encode(-90, -180, 3, s), 0);
    ck_assert_str_eq(s, "000");
    ck_assert_int_eq(geohash_encode(90, 180, 3, s), 0);
    ck_assert_str_eq(s, "zzz");
    ck_assert_int_eq(geohash_encode(91, 0, 3, s), -1);
    ck_assert_int_eq(geohash_encode(0, 0, 13, s), -1);
}
END_TEST

START_TEST(test_decode)
{
    geohash_cell_t c;
    geo_rect_t r;
    ck_assert_int_eq(geohash_decode("ezs42", &c), 0);
    geohash_cell_rect(c, &r);
    ck_assert(r.lat_lo <= 42.605 && r.lat_hi >= 42.605 && r.lng_lo <= -5.603 && r.lng_hi >= -5.603);
    ck_assert_double_eq_tol(r.lat_hi - r.lat_lo, 180.0 / 4096, 1e-12);
    ck_assert_double_eq_tol(r.lng_hi - r.lng_lo, 360.0 / 8192, 1e-12);
    ck_assert_int_eq(geohash_decode("EZS42", &c), 0);
    ck_assert_int_eq(geohash_decode("ezs4a", &c), -1);
    ck_assert_int_eq(geohash_decode("", &c), -1);
    ck_assert_int_eq(geohash_decode("0123456789bcd", &c), -1);
    char s[13];
    ck_assert_int_eq(geohash_cell_string(c.nbits ? c : c, s), 0);
}
END_TEST

START_TEST(test_key_in_rect)
{
    /* Every location lies in the rectangle of every prefix of its key. */
    for (int i = 0; i < 20000; i++) {
        int32_t la = geo_coord_encode(i < 4 ? (i & 1 ? 90 : -90) : rnd() * 180 - 90);
        int32_t lo = geo_coord_encode(i < 4 ? (i & 2 ? 180 : -180) : rnd() * 360 - 180);
        uint64_t key = geohash_key(la, lo);
        unsigned nbits = (unsigned)(rnd() * 65);
        geohash_cell_t c = geohash_cell_of_key(key, nbits);
        geo_rect_t r;
        geohash_cell_rect(c, &r);
        double lat = geo_coord_decode(la), lng = geo_coord_decode(lo);
        ck_assert(key >= geohash_cell_lo(c) && key <= geohash_cell_hi(c));
        ck_assert_msg(lat >= r.lat_lo - 1e-12 && lat <= r.lat_hi + 1e-12, "lat %.9f in [%.12f,%.12f]", lat,
                      r.lat_lo, r.lat_hi);
        ck_assert(lng >= r.lng_lo - 1e-12 && lng <= r.lng_hi + 1e-12);
    }
}
END_TEST

START_TEST(test_neighbours)
{
    geohash_cell_t c, nb[8];
    char s[13];
    ck_assert_int_eq(geohash_decode("u4pru", &c), 0);
    size_t n = geohash_neighbours(c, nb);
    ck_assert_int_eq(n, 8);
    /* Each neighbour is the cell one cell size away in its direction. */
    static const int dlat[8] = {1, 1, 0, -1, -1, -1, 0, 1}, dlng[8] = {0, 1, 1, 1, 0, -1, -1, -1};
    geo_rect_t r;
    geohash_cell_rect(c, &r);
    double h = r.lat_hi - r.lat_lo, w = r.lng_hi - r.lng_lo;
    for (size_t i = 0; i < 8; i++) {
        char want[13];
        geohash_encode((r.lat_lo + r.lat_hi) / 2 + dlat[i] * h, (r.lng_lo + r.lng_hi) / 2 + dlng[i] * w, 5, want);
        geohash_cell_string(nb[i], s);
        ck_assert_str_eq(s, want);
    }
    ck_assert_str_eq(s, "u4r25");
    /* Top row: no northern neighbours; east of the last column wraps. */
    ck_assert_int_eq(geohash_decode("zzz", &c), 0);
    n = geohash_neighbours(c, nb);
    ck_assert_int_eq(n, 5);
    geohash_cell_string(nb[0], s); /* east across 180: the first column */
    char want[13];
    geohash_encode(89.9, -179.9, 3, want);
    ck_assert_str_eq(s, want);
    ck_assert_int_eq(geohash_decode("000", &c), 0);
    ck_assert_int_eq(geohash_neighbours(c, nb), 5);
}
END_TEST

START_TEST(test_precision_table)
{
    ck_assert_uint_eq(geohash_precision_for_radius(40000), 3);
    ck_assert_uint_eq(geohash_precision_for_radius(5000), 4);
    ck_assert_uint_eq(geohash_precision_for_radius(4000), 5);
    ck_assert_uint_eq(geohash_precision_for_radius(500), 6);
    ck_assert_uint_eq(geohash_precision_for_radius(1), 9);
    ck_assert_uint_eq(geohash_precision_for_radius(0), 12);
    ck_assert_uint_eq(geohash_precision_for_radius(1e8), 1);
}
END_TEST

/* A point at distance d, bearing t from (lat, lng). */
static void destination(double lat, double lng, double d, double t, double *olat, double *olng)
{
    double p1 = lat * GEO_DEG_TO_RAD, l1 = lng * GEO_DEG_TO_RAD, a = d / GEO_EARTH_RADIUS_M;
    double p2 = asin(sin(p1) * cos(a) + cos(p1) * sin(a) * cos(t));
    double l2 = l1 + atan2(sin(t) * sin(a) * cos(p1), cos(a) - sin(p1) * sin(p2));
    *olat = p2 / GEO_DEG_TO_RAD;
    *olng = remainder(l2 / GEO_DEG_TO_RAD, 360.0);
}

START_TEST(test_cover_random)
{
    geohash_cell_t cells[64];
    for (int i = 0; i < 2000; i++) {
        double lat = rnd() < 0.2 ? (rnd() < 0.5 ? -1 : 1) * (89.5 + rnd() * 0.5) : rnd() * 180 - 90;
        double lng = rnd() < 0.2 ? (rnd() < 0.5 ? -1 : 1) * (179.9 + rnd() * 0.1) : rnd() * 360 - 180;
        double r = rnd() < 0.3 ? 1 + rnd() * 10 : rnd() * 40000;
        size_t n = geohash_cover(lat, lng, r, cells, 64);
        ck_assert(n >= 1 && n <= 64);
        for (int j = 0; j < 64; j++) {
            double plat, plng;
            destination(lat, lng, r * (j == 0 ? 1.0 : rnd()), rnd() * 2 * M_PI, &plat, &plng);
            int32_t la = geo_coord_encode(plat), lo = geo_coord_encode(plng);
            if (geo_distance_m(lat, lng, geo_coord_decode(la), geo_coord_decode(lo)) > r)
                continue;
            uint64_t key = geohash_key(la, lo);
            int found = 0;
            for (size_t k = 0; k < n && !found; k++)
                found = key >= geohash_cell_lo(cells[k]) && key <= geohash_cell_hi(cells[k]);
            ck_assert_msg(found, "(%.7f,%.7f) r=%g: point (%.7f,%.7f) not covered", lat, lng, r, plat, plng);
        }
    }
}
END_TEST

static Suite *geohash_suite(void)
{
    Suite *s = suite_create("geohash");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_encode_known);
    tcase_add_test(tc, test_decode);
    tcase_add_test(tc, test_key_in_rect);
    tcase_add_test(tc, test_neighbours);
    tcase_add_test(tc, test_precision_table);
    tcase_add_test(tc, test_cover_random);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    const char *env = getenv("PROXIMITY_TEST_SEED");
    rng_state = env ? strtoull(env, NULL, 0) : (uint64_t)time(NULL) * 2654435761u;
    if (rng_state == 0)
        rng_state = 1;
    printf("check_geohash seed %llu (PROXIMITY_TEST_SEED to replay)\n", (unsigned long long)rng_state);
    return check_run(geohash_suite(), CK_NOFORK);
}
