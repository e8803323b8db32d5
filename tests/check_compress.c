/* check_compress.c — Accept-Encoding negotiation and gzip round trips. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "compress.h"
#include "check_run.h"

static const struct {
    const char *header;
    bool gzip;
} cases[] = {
    {NULL, false},
    {"", false},
    {"gzip", true},
    {"GZIP", true},
    {"gzip, deflate, br", true},
    {"br;q=1.0, gzip;q=0.8, *;q=0.1", true},
    {"deflate, br", false},
    {"gzip;q=0", false},
    {"gzip; q=0.000", false},
    {"*", true},
    {"*;q=0", false},
    {"*, gzip;q=0", false},
    {"identity", false},
    {"x-gzip", true},
    {"gzipx", false},
    {"br, gzip;q=0.5", true},
};

START_TEST(negotiates)
{
    ck_assert_msg(compress_accepts_gzip(cases[_i].header) == cases[_i].gzip, "Accept-Encoding: %s",
                  cases[_i].header ? cases[_i].header : "(none)");
}
END_TEST

START_TEST(types)
{
    ck_assert(compress_type_worth_it("application/json"));
    ck_assert(compress_type_worth_it("text/html; charset=utf-8"));
    ck_assert(compress_type_worth_it("text/plain; version=0.0.4"));
    ck_assert(compress_type_worth_it("text/javascript; charset=utf-8"));
    ck_assert(!compress_type_worth_it("image/png"));
    ck_assert(!compress_type_worth_it(NULL));
}
END_TEST

/* Gunzips gz and compares it with want. */
static void assert_gunzips_to(const char *gz, size_t gz_len, const char *want, size_t n)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    ck_assert_int_eq(inflateInit2(&zs, 15 + 16), Z_OK);
    char *out = malloc(n + 1);
    zs.next_in = (Bytef *)(uintptr_t)gz;
    zs.avail_in = (uInt)gz_len;
    zs.next_out = (Bytef *)out;
    zs.avail_out = (uInt)(n + 1);
    ck_assert_int_eq(inflate(&zs, Z_FINISH), Z_STREAM_END);
    ck_assert_uint_eq(zs.total_out, n);
    ck_assert(memcmp(want, out, n) == 0);
    inflateEnd(&zs);
    free(out);
}

START_TEST(round_trip)
{
    /* A search-like body: repetitive JSON with UTF-8 in it. */
    size_t n = 0, cap = 64 * 1024;
    char *in = malloc(cap);
    while (n + 200 < cap)
        n += (size_t)snprintf(in + n, cap - n, "{\"id\":%zu,\"name\":\"Caf\xc3\xa9 \xf0\x9f\x8d\xa9 %zu\"},",
                              n, n * 7919 % 1000);
    size_t gz_len = 0;
    char *gz = compress_gzip_new(in, n, 1, &gz_len);
    ck_assert_ptr_nonnull(gz);
    ck_assert_msg(gz_len < n / 3, "gzip %zu of %zu bytes", gz_len, n);
    ck_assert_int_eq((unsigned char)gz[0], 0x1f); /* gzip magic */
    ck_assert_int_eq((unsigned char)gz[1], 0x8b);

    assert_gunzips_to(gz, gz_len, in, n);
    free(gz);

    /* The thread's stream is reused: later bodies (other sizes, another
     * level) come out whole too, none carrying state from the one before. */
    for (int round = 0; round < 4; round++) {
        size_t part = n / (size_t)(round + 2);
        gz = compress_gzip_new(in + round, part, round == 2 ? 6 : 1, &gz_len);
        ck_assert_ptr_nonnull(gz);
        assert_gunzips_to(gz, gz_len, in + round, part);
        free(gz);
    }
    free(in);

    gz = compress_gzip_new("", 0, 1, &gz_len);
    ck_assert_ptr_nonnull(gz);
    ck_assert_uint_gt(gz_len, 0);
    free(gz);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("compress");
    TCase *tc = tcase_create("core");
    tcase_add_loop_test(tc, negotiates, 0, sizeof cases / sizeof cases[0]);
    tcase_add_test(tc, types);
    tcase_add_test(tc, round_trip);
    suite_add_tcase(s, tc);
    return check_run(s, CK_FORK_GETENV);
}
