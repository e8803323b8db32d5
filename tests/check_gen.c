/* check_gen.c — the generator: determinism, ranges, the 1e-7 grid, the radius mix, ∝ population. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gen.h"
#include "check_run.h"

#define SMALL PROXIMITY_SRCDIR "/tests/data/cities-small.tsv"
#define DRAWS 100000

static gen_t *open_small(uint64_t seed)
{
    char err[256] = "";
    gen_t *g = gen_new(SMALL, seed, err, sizeof err);

    ck_assert_msg(g != NULL, "gen_new: %s", err);
    return g;
}

/* Writes text to a temporary cities file; the caller unlinks path. */
static void write_tmp(char *path, size_t len, const char *text)
{
    int fd;
    FILE *f;

    snprintf(path, len, "%s/check_gen_XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    f = fdopen(fd, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static int on_grid(double x)
{
    double k = rint(x / 1e-7);
    return fabs(k) < 4e9 && x == k * 1e-7;
}

START_TEST(same_seed_same_sequence)
{
    gen_t *a = open_small(42), *b = open_small(42), *c = open_small(43);
    int differ = 0;

    for (int i = 0; i < 10000; i++) {
        double la, lo, ra, lb, ob, rb, lc, oc, rc;
        gen_query(a, &la, &lo, &ra);
        gen_query(b, &lb, &ob, &rb);
        gen_query(c, &lc, &oc, &rc);
        ck_assert(la == lb && lo == ob && ra == rb);
        ck_assert_str_eq(gen_city_name(a), gen_city_name(b));
        ck_assert_uint_eq(gen_next(a), gen_next(b));
        differ += la != lc || lo != oc;
        (void)gen_next(c);
    }
    ck_assert_int_gt(differ, 9990);
    gen_free(a);
    gen_free(b);
    gen_free(c);
}
END_TEST

/* Pinned values: if these change, every stored benchmark figure and
 * every sample database built from a seed changes meaning. Update them
 * only on purpose. */
START_TEST(golden_values)
{
    gen_t *g = open_small(1);
    int32_t lat, lng;

    ck_assert_uint_eq(gen_next(g), 0xb3f2af6d0fc710c5ULL);
    gen_point_e7(g, &lat, &lng);
    ck_assert_int_eq(lat, 357459875);
    ck_assert_int_eq(lng, 1396148699);
    ck_assert_str_eq(gen_city_name(g), "Tokyo");
    gen_free(g);
}
END_TEST

START_TEST(points_in_range_and_on_grid)
{
    gen_t *g = open_small(7);

    for (int i = 0; i < DRAWS; i++) {
        double lat, lng, r;
        gen_query(g, &lat, &lng, &r);
        ck_assert(lat >= -90.0 && lat <= 90.0);
        ck_assert(lng >= -180.0 && lng <= 180.0);
        ck_assert_msg(on_grid(lat) && on_grid(lng), "off grid: %.17g %.17g", lat, lng);
        ck_assert_str_eq(gen_city_country(g), gen_city_country(g));
        ck_assert_uint_eq(strlen(gen_city_country(g)), 2);
    }
    gen_free(g);
}
END_TEST

START_TEST(uniform_in_unit_interval)
{
    gen_t *g = open_small(3);
    double sum = 0;

    for (int i = 0; i < DRAWS; i++) {
        double u = gen_uniform(g);
        ck_assert(u >= 0.0 && u < 1.0);
        sum += u;
    }
    ck_assert(fabs(sum / DRAWS - 0.5) < 0.01);
    for (int i = 0; i < DRAWS; i++)
        ck_assert_uint_lt(gen_range(g, 7), 7);
    ck_assert_uint_eq(gen_range(g, 0), 0);
    gen_free(g);
}
END_TEST

START_TEST(radius_mix)
{
    static const double radius[] = {500, 1000, 2000, 5000, 20000};
    static const double share[] = {0.30, 0.30, 0.20, 0.15, 0.05};
    int seen[5] = {0};
    gen_t *g = open_small(11);

    for (int i = 0; i < DRAWS; i++) {
        double lat, lng, r;
        int k;
        gen_query(g, &lat, &lng, &r);
        for (k = 0; k < 5 && radius[k] != r; k++)
            ;
        ck_assert_msg(k < 5, "unexpected radius %g", r);
        seen[k]++;
    }
    /* 5 standard deviations of a binomial share: a false alarm is ~1e-6 */
    for (int k = 0; k < 5; k++) {
        double p = share[k], got = (double)seen[k] / DRAWS;
        double tol = 5 * sqrt(p * (1 - p) / DRAWS);
        ck_assert_msg(fabs(got - p) < tol, "radius %g: %.4f, want %.2f", radius[k], got, p);
    }
    gen_free(g);
}
END_TEST

/* Parses the small file independently and compares pick frequencies. */
START_TEST(proportional_to_population)
{
    char names[32][64], line[512];
    double pop[32], total = 0;
    int seen[32] = {0}, n = 0;
    FILE *f = fopen(SMALL, "r");
    gen_t *g = open_small(5);

    ck_assert_ptr_nonnull(f);
    while (fgets(line, sizeof line, f) != NULL && n < 32) {
        double la, lo;
        if (line[0] == '#' || line[0] == '\n')
            continue;
        ck_assert_int_eq(sscanf(line, "%lf\t%lf\t%lf\t%63[^\t]", &la, &lo, &pop[n], names[n]), 4);
        total += pop[n++];
    }
    fclose(f);
    ck_assert_uint_eq(gen_city_count(g), (size_t)n);
    for (int i = 0; i < DRAWS; i++) {
        double lat, lng;
        int k;
        gen_point(g, &lat, &lng);
        for (k = 0; k < n && strcmp(names[k], gen_city_name(g)) != 0; k++)
            ;
        ck_assert_int_lt(k, n);
        seen[k]++;
    }
    for (int k = 0; k < n; k++) {
        double p = pop[k] / total, got = (double)seen[k] / DRAWS;
        double tol = 5 * sqrt(p * (1 - p) / DRAWS) + 1e-4;
        ck_assert_msg(fabs(got - p) < tol, "%s: %.5f, want %.5f", names[k], got, p);
    }
    gen_free(g);
}
END_TEST

/* Scatter is "a few km": within 6 sigma of at most 8 km of the city. */
START_TEST(scatter_stays_near_city)
{
    char path[256];
    gen_t *g;
    char err[256];
    double sum = 0, max = 0;

    write_tmp(path, sizeof path, "52.0\t5.0\t1000000\tMidtown\tNL\n");
    g = gen_new(path, 9, err, sizeof err);
    unlink(path);
    ck_assert_msg(g != NULL, "%s", err);
    for (int i = 0; i < DRAWS; i++) {
        double lat, lng, dy, dx, d;
        gen_point(g, &lat, &lng);
        dy = (lat - 52.0) * 111195.08;
        dx = (lng - 5.0) * 111195.08 * cos(52.0 * M_PI / 180);
        d = sqrt(dx * dx + dy * dy);
        sum += d;
        if (d > max)
            max = d;
    }
    /* sigma 3.16 km for a million people: mean distance sigma*sqrt(pi/2) */
    ck_assert_msg(sum / DRAWS > 3000 && sum / DRAWS < 5000, "mean %.0f m", sum / DRAWS);
    ck_assert_msg(max < 6 * 3163 * 1.5, "max %.0f m", max);
    gen_free(g);
}
END_TEST

/* A city on the 180° meridian and one at the pole stay inside the ranges. */
START_TEST(antimeridian_and_pole)
{
    char path[256], err[256];
    gen_t *g;
    int west = 0, east = 0;

    write_tmp(path, sizeof path, "0.0\t179.999\t5000000\tEdge\tFJ\n89.999\t-180\t5000000\tPole\tAQ\tX\n");
    g = gen_new(path, 13, err, sizeof err);
    unlink(path);
    ck_assert_msg(g != NULL, "%s", err);
    for (int i = 0; i < DRAWS; i++) {
        double lat, lng;
        gen_point(g, &lat, &lng);
        ck_assert(lat >= -90.0 && lat <= 90.0 && lng >= -180.0 && lng <= 180.0);
        ck_assert(on_grid(lat) && on_grid(lng));
        if (strcmp(gen_city_name(g), "Edge") == 0) {
            west += lng < 0;
            east += lng > 0;
        } else {
            ck_assert_str_eq(gen_city_region(g), "X");
        }
    }
    ck_assert_int_gt(west, DRAWS / 10);
    ck_assert_int_gt(east, DRAWS / 10);
    gen_free(g);
}
END_TEST

START_TEST(bad_files_are_errors)
{
    static const char *const bad[] = {
        "",                                       /* no cities */
        "# only a comment\n",
        "91\t0\t1000\tX\tFR\n",                   /* latitude */
        "0\t181\t1000\tX\tFR\n",                  /* longitude */
        "0\t0\t0\tX\tFR\n",                       /* population */
        "0\t0\t-5\tX\tFR\n",
        "0\t0\t1000\t\tFR\n",                     /* name */
        "0\t0\t1000\tX\tFRA\n",                   /* country */
        "0\t0\t1000\tX\n",                        /* fields */
        "0\t0\t1000\tX\tFR\ta\tb\n",
        "0x\t0\t1000\tX\tFR\n",
    };
    char path[256], err[256];

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        gen_t *g;
        err[0] = '\0';
        write_tmp(path, sizeof path, bad[i]);
        g = gen_new(path, 1, err, sizeof err);
        unlink(path);
        ck_assert_msg(g == NULL, "accepted bad file %zu", i);
        ck_assert_msg(err[0] != '\0', "no message for bad file %zu", i);
    }
    ck_assert_ptr_null(gen_new("/nonexistent/cities.tsv", 1, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/cities.tsv"));
    gen_free(NULL);
}
END_TEST

static Suite *gen_suite(void)
{
    Suite *s = suite_create("gen");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, same_seed_same_sequence);
    tcase_add_test(tc, golden_values);
    tcase_add_test(tc, points_in_range_and_on_grid);
    tcase_add_test(tc, uniform_in_unit_interval);
    tcase_add_test(tc, radius_mix);
    tcase_add_test(tc, proportional_to_population);
    tcase_add_test(tc, scatter_stays_near_city);
    tcase_add_test(tc, antimeridian_and_pole);
    tcase_add_test(tc, bad_files_are_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_run(gen_suite(), CK_FORK_GETENV);
}
