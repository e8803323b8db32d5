/* check_debezium.c — the Debezium envelope codec: hand-written genuine-looking
 * events (tests/debezium/good, bad), encode → parse round trips of random
 * rows, timestamps, and truncated or mutated input refused without a crash. */
#include <check.h>
#include <dirent.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "debezium.h"
#include "debezium_expect.h"
#include "xalloc.h"

static const char *datadir(char *buf, size_t len, const char *sub)
{
    const char *top = getenv("top_srcdir");
    snprintf(buf, len, "%s/tests/debezium/%s", top ? top : PROXIMITY_SRCDIR, sub);
    return buf;
}

/* Every NAME with a file NAME.<ext> in dir, sorted. */
static size_t list_cases(const char *dir, const char *ext, char names[][128], size_t cap)
{
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "cannot open %s", dir);
    size_t n = 0, el = strlen(ext);
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < cap) {
        size_t l = strlen(e->d_name);
        if (l > el && strcmp(e->d_name + l - el, ext) == 0 && l - el < 128) {
            memcpy(names[n], e->d_name, l - el);
            names[n++][l - el] = '\0';
        }
    }
    closedir(d);
    qsort(names, n, sizeof names[0], (int (*)(const void *, const void *))strcmp);
    return n;
}

static char *read_case(const char *dir, const char *name, const char *ext, size_t *len)
{
    char path[1400];
    snprintf(path, sizeof path, "%s/%s%s", dir, name, ext);
    return debezium_expect_slurp(path, len);
}

START_TEST(good_events)
{
    char dir[1024], names[64][128], err[256], why[256];
    datadir(dir, sizeof dir, "good");
    size_t n = list_cases(dir, ".expect", names, 64);
    ck_assert_uint_ge(n, 10);
    for (size_t i = 0; i < n; i++) {
        size_t vlen = 0, klen = 0, elen;
        char *value = read_case(dir, names[i], ".value", &vlen);
        char *key = read_case(dir, names[i], ".key", &klen);
        char *expect_txt = read_case(dir, names[i], ".expect", &elen);
        json_t *expect = json_loads(expect_txt, 0, NULL);
        ck_assert_msg(expect != NULL, "%s.expect is not JSON", names[i]);
        debezium_event_t ev;
        int rc = debezium_parse(value, vlen, key, klen, &ev, err, sizeof err);
        ck_assert_msg(rc == 0, "%s: refused: %s", names[i], err);
        ck_assert_msg(debezium_expect_match(expect, &ev, why, sizeof why), "%s: %s", names[i], why);
        debezium_event_clear(&ev);
        json_decref(expect);
        free(value);
        free(key);
        free(expect_txt);
    }
}
END_TEST

START_TEST(bad_events)
{
    char dir[1024], names[64][128], err[256];
    datadir(dir, sizeof dir, "bad");
    size_t n = list_cases(dir, ".value", names, 64);
    ck_assert_uint_ge(n, 20);
    for (size_t i = 0; i < n; i++) {
        size_t vlen, klen = 0;
        char *value = read_case(dir, names[i], ".value", &vlen);
        char *key = read_case(dir, names[i], ".key", &klen);
        debezium_event_t ev;
        err[0] = '\0';
        int rc = debezium_parse(value, vlen, key, klen, &ev, err, sizeof err);
        ck_assert_msg(rc == -1, "%s: accepted", names[i]);
        ck_assert_msg(err[0] != '\0', "%s: no error message", names[i]);
        ck_assert_int_eq(ev.row.id, 0); /* cleared */
        free(value);
        free(key);
    }
}
END_TEST

/* ---- round trips ------------------------------------------------------- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static char *rnd_text(void)
{
    static const char *pool[] = {"a", "Zum Löwen", "quote \" and \\ backslash", "tab\tnew\nline",
                                 "emoji 😀", "", "long long long long long long long name"};
    if (rnd() % 5 == 0)
        return NULL;
    return xstrdup(pool[rnd() % (sizeof pool / sizeof pool[0])]);
}

static char *rnd_ts(void)
{
    /* PostgreSQL's walsender text: "YYYY-MM-DD HH:MM:SS.ffffff+00" or a zone. */
    static const char *pool[] = {"2026-12-04 21:10:00.123456+00", "1999-12-31 23:59:59+01",
                                 "2026-02-28 00:00:00.5-05:30", "2000-01-01 00:00:00+00"};
    return xstrdup(pool[rnd() % 4]);
}

static void rnd_business(pgoutput_business_t *b)
{
    memset(b, 0, sizeof *b);
    b->present = 0x1FFFF; /* every column */
    b->id = (int64_t)(rnd() % 1000000000) + 1;
    b->version = (int64_t)(rnd() % 1000000000000ull);
    b->has_location = rnd() % 8 != 0;
    if (b->has_location) {
        b->lat = (double)(int64_t)(rnd() % 1800000001) / 1e7 - 90;
        b->lng = (double)(int64_t)(rnd() % 3600000001) / 1e7 - 180;
    }
    b->ncategories = rnd() % 4;
    b->categories = xcalloc(b->ncategories + 1, sizeof *b->categories);
    for (size_t i = 0; i < b->ncategories; i++)
        b->categories[i] = xstrdup(i % 2 ? "cafe" : "bar");
    b->price = (int)(rnd() % 5);
    b->owner = xstrdup("owner");
    b->name = rnd_text();
    b->street = rnd_text();
    b->city = rnd_text();
    b->region = rnd_text();
    b->postal_code = rnd_text();
    b->country = rnd() % 2 ? xstrdup("DE") : NULL;
    b->phone = rnd_text();
    b->website = rnd_text();
    b->created_at = rnd_ts();
    b->updated_at = rnd_ts();
    if (rnd() % 3 == 0) {
        b->deleted_at = rnd_ts();
        b->deleted = true;
    }
}

static void same_ts(const char *pg, const char *iso)
{
    int64_t a, b;
    if (!pg) {
        ck_assert_ptr_null(iso);
        return;
    }
    ck_assert_ptr_nonnull(iso);
    ck_assert_int_eq(debezium_ts_parse(pg, strlen(pg), &a), 0);
    ck_assert_int_eq(debezium_ts_parse(iso, strlen(iso), &b), 0);
    ck_assert_int_eq(a, b);
}

static void same_str(const char *a, const char *b)
{
    if (!a)
        ck_assert_ptr_null(b);
    else
        ck_assert_str_eq(a, b);
}

START_TEST(round_trip)
{
    rng_state = 20261204;
    printf("round_trip seed %" PRIu64 "\n", rng_state);
    char err[256];
    for (int it = 0; it < 2000; it++) {
        pgoutput_business_t b;
        rnd_business(&b);
        debezium_op_t op = (debezium_op_t) "cudr"[it % 4];
        debezium_source_t src = {.name = "proximity", .db = "proximity", .lsn = rnd() >> 2,
                                 .txid = (int64_t)(rnd() % 100000), .ts_ms = 1764882600000 + it};
        size_t len;
        char *v = op == DEBEZIUM_DELETE
                      ? debezium_value_new(op, &b, NULL, &src, 1, &len, err, sizeof err)
                      : debezium_value_new(op, NULL, &b, &src, 1, &len, err, sizeof err);
        ck_assert_msg(v != NULL, "%s", err);
        char *key = debezium_key_new(b.id);
        debezium_event_t ev;
        ck_assert_msg(debezium_parse(v, len, key, strlen(key), &ev, err, sizeof err) == 0,
                      "%s: %s", v, err);
        ck_assert_int_eq(ev.op, op);
        ck_assert_uint_eq(ev.lsn, src.lsn);
        ck_assert_int_eq(ev.txid, src.txid);
        ck_assert_int_eq(ev.ts_ms, src.ts_ms);
        const pgoutput_business_t *r = &ev.row;
        ck_assert_uint_eq(r->present, b.present);
        ck_assert_int_eq(r->id, b.id);
        ck_assert_int_eq(r->version, b.version);
        ck_assert_int_eq(r->has_location, b.has_location);
        if (b.has_location) { /* WKB carries the doubles exactly */
            ck_assert(r->lat == b.lat);
            ck_assert(r->lng == b.lng);
        }
        ck_assert_int_eq(r->deleted, b.deleted || op == DEBEZIUM_DELETE);
        ck_assert_int_eq(r->price, b.price);
        ck_assert_uint_eq(r->ncategories, b.ncategories);
        for (size_t i = 0; i < b.ncategories; i++)
            ck_assert_str_eq(r->categories[i], b.categories[i]);
        same_str(b.owner, r->owner);
        same_str(b.name, r->name);
        same_str(b.street, r->street);
        same_str(b.city, r->city);
        same_str(b.region, r->region);
        same_str(b.postal_code, r->postal_code);
        same_str(b.country, r->country);
        same_str(b.phone, r->phone);
        same_str(b.website, r->website);
        same_ts(b.created_at, r->created_at);
        same_ts(b.updated_at, r->updated_at);
        same_ts(b.deleted_at, r->deleted_at);
        debezium_event_clear(&ev);

        /* The tombstone after a delete: just the key's id. */
        ck_assert_int_eq(debezium_parse(NULL, 0, key, strlen(key), &ev, err, sizeof err), 0);
        ck_assert_int_eq(ev.op, DEBEZIUM_TOMBSTONE);
        ck_assert_int_eq(ev.row.id, b.id);
        debezium_event_clear(&ev);
        free(key);
        free(v);
        pgoutput_business_clear(&b);
    }
}
END_TEST

START_TEST(key_only_delete_round_trip)
{
    /* What the relay sends for a purge with REPLICA IDENTITY DEFAULT. */
    pgoutput_business_t b = {.present = PGOUTPUT_BF_ID, .id = 77};
    debezium_source_t src = {.name = "p", .db = "d", .lsn = 5};
    char err[128];
    size_t len;
    char *v = debezium_value_new(DEBEZIUM_DELETE, &b, NULL, &src, 0, &len, err, sizeof err);
    ck_assert_ptr_nonnull(v);
    ck_assert_ptr_nonnull(strstr(v, "\"before\":{\"id\":77}"));
    ck_assert_ptr_nonnull(strstr(v, "\"after\":null"));
    ck_assert_ptr_nonnull(strstr(v, "\"op\":\"d\""));
    debezium_event_t ev;
    ck_assert_int_eq(debezium_parse(v, len, NULL, 0, &ev, err, sizeof err), 0);
    ck_assert_int_eq(ev.row.id, 77);
    ck_assert(ev.row.deleted);
    debezium_event_clear(&ev);
    free(v);
    /* Combinations Debezium never emits are refused. */
    ck_assert_ptr_null(debezium_value_new(DEBEZIUM_CREATE, &b, NULL, &src, 0, &len, err, sizeof err));
    ck_assert_ptr_null(debezium_value_new(DEBEZIUM_DELETE, &b, &b, &src, 0, &len, err, sizeof err));
    ck_assert_ptr_null(debezium_value_new((debezium_op_t)'z', NULL, &b, &src, 0, &len, err, sizeof err));
}
END_TEST

START_TEST(keys)
{
    char err[128];
    int64_t id = 0;
    char *k = debezium_key_new(9007199254740993);
    ck_assert_str_eq(k, "{\"id\":9007199254740993}");
    ck_assert_int_eq(debezium_key_parse(k, strlen(k), &id, err, sizeof err), 0);
    ck_assert_int_eq(id, 9007199254740993);
    free(k);
    const char *sch = "{\"schema\":{\"type\":\"struct\"},\"payload\":{\"id\":12}}";
    ck_assert_int_eq(debezium_key_parse(sch, strlen(sch), &id, err, sizeof err), 0);
    ck_assert_int_eq(id, 12);
    const char *bad[] = {"", "{}", "{\"id\":0}", "{\"id\":\"1\"}", "[1]", "{\"id\":1", "null"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(debezium_key_parse(bad[i], strlen(bad[i]), &id, err, sizeof err) == -1,
                      "accepted key %s", bad[i]);
    /* A tombstone whose key does not parse still parses, without an id. */
    debezium_event_t ev;
    ck_assert_int_eq(debezium_parse(NULL, 0, "junk", 4, &ev, err, sizeof err), 0);
    ck_assert_int_eq(ev.op, DEBEZIUM_TOMBSTONE);
    ck_assert_int_eq(ev.row.id, 0);
}
END_TEST

/* source.lsn as Debezium writes it, a Java long: up to INT64_MAX as a
 * number, a decimal string or "X/Y"; beyond it refused (the fuzzer found
 * "92233720368547758073748" read as 2^64-1 and written back as -1). */
START_TEST(lsn_bounds)
{
    struct { const char *lsn; int rc; uint64_t want; } cases[] = {
        {"0", 0, 0}, {"\"16/B374D848\"", 0, 0x16B374D848ull}, {"\"9223372036854775807\"", 0, INT64_MAX},
        {"9223372036854775807", 0, INT64_MAX}, {"\"7FFFFFFF/FFFFFFFF\"", 0, INT64_MAX},
        {"\"9223372036854775808\"", -1, 0}, {"\"92233720368547758073748\"", -1, 0},
        {"\"80000000/0\"", -1, 0}, {"\"FFFFFFFF/FFFFFFFF\"", -1, 0}, {"-1", -1, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char v[512], err[128];
        snprintf(v, sizeof v, "{\"op\":\"d\",\"before\":{\"id\":7,\"version\":3},\"after\":null,"
                 "\"source\":{\"lsn\":%s,\"txId\":1,\"ts_ms\":1}}", cases[i].lsn);
        debezium_event_t ev;
        int rc = debezium_parse(v, strlen(v), NULL, 0, &ev, err, sizeof err);
        ck_assert_msg(rc == cases[i].rc, "lsn %s: %d (%s)", cases[i].lsn, rc, rc ? err : "");
        if (rc == 0) {
            ck_assert_uint_eq(ev.lsn, cases[i].want);
            debezium_event_clear(&ev);
        }
    }
}
END_TEST

START_TEST(timestamps)
{
    struct { const char *in; const char *out; } ok[] = {
        {"2026-12-04T21:10:00Z", "2026-12-04T21:10:00.000000Z"},
        {"2026-12-04 21:10:00.123456+00", "2026-12-04T21:10:00.123456Z"},
        {"2026-12-04T21:10:00.1234569Z", "2026-12-04T21:10:00.123456Z"},
        {"2026-12-04T00:10:00+01:00", "2026-12-03T23:10:00.000000Z"},
        {"2026-12-04T00:10:00-0930", "2026-12-04T09:40:00.000000Z"},
        {"1970-01-01T00:00:00Z", "1970-01-01T00:00:00.000000Z"},
        {"1969-12-31T23:59:59.5Z", "1969-12-31T23:59:59.500000Z"},
        {"2024-02-29 12:00:00", "2024-02-29T12:00:00.000000Z"},
    };
    char buf[DEBEZIUM_TS_LEN];
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int64_t us;
        ck_assert_msg(debezium_ts_parse(ok[i].in, strlen(ok[i].in), &us) == 0, "%s", ok[i].in);
        ck_assert_str_eq(debezium_ts_format(us, buf, sizeof buf), ok[i].out);
    }
    /* Micro-epoch integers of any value format without overflow (the
     * fuzzer's find: negating INT64_MIN; fuzz/regress/debezium). */
    ck_assert_str_eq(debezium_ts_format(-1, buf, sizeof buf), "1969-12-31T23:59:59.999999Z");
    ck_assert_str_eq(debezium_ts_format(-86400000001, buf, sizeof buf), "1969-12-30T23:59:59.999999Z");
    ck_assert_str_eq(debezium_ts_format(INT64_MIN, buf, sizeof buf), "-290308-12-21T19:59:05.224192Z");
    ck_assert_str_eq(debezium_ts_format(INT64_MAX, buf, sizeof buf), "294247-01-10T04:00:54.775807Z");
    const char *bad[] = {"", "2026-12-04", "2026-12-04T21:10", "2026-12-04T21:10:00.", "2026-00-04T21:10:00Z",
                         "2026-12-04T25:10:00Z", "2026-12-04T21:10:00+", "2026-12-04T21:10:00Zjunk",
                         "20261204T211000Z", "2026-12-04T21:10:00.1234567890Z"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t us;
        ck_assert_msg(debezium_ts_parse(bad[i], strlen(bad[i]), &us) == -1, "accepted %s", bad[i]);
    }
}
END_TEST

/* Every prefix and random byte mutations of every good event: parse
 * answers 0 or -1, never crashes or reads outside (run under ASan). */
START_TEST(truncations_and_mutations)
{
    char dir[1024], names[64][128], err[256];
    datadir(dir, sizeof dir, "good");
    size_t n = list_cases(dir, ".value", names, 64);
    rng_state = 777;
    size_t refused = 0, total = 0;
    for (size_t i = 0; i < n; i++) {
        size_t vlen;
        char *value = read_case(dir, names[i], ".value", &vlen);
        for (size_t l = 1; l < vlen; l++) {
            char *copy = xmalloc(l); /* exactly l bytes: ASan sees any over-read */
            memcpy(copy, value, l);
            debezium_event_t ev;
            if (debezium_parse(copy, l, "{\"id\":1}", 8, &ev, err, sizeof err) < 0)
                refused++;
            debezium_event_clear(&ev);
            total++;
            free(copy);
        }
        for (int m = 0; m < 300; m++) {
            char *copy = xmalloc(vlen);
            memcpy(copy, value, vlen);
            for (int k = 0; k < 1 + (int)(rnd() % 4); k++)
                copy[rnd() % vlen] = (char)(rnd() & 0xFF);
            debezium_event_t ev;
            if (debezium_parse(copy, vlen, NULL, 0, &ev, err, sizeof err) < 0)
                refused++;
            debezium_event_clear(&ev);
            total++;
            free(copy);
        }
        free(value);
    }
    /* Nearly every prefix of a JSON document is not JSON. */
    ck_assert_uint_gt(refused, total / 2);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("debezium");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, good_events);
    tcase_add_test(tc, bad_events);
    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, key_only_delete_round_trip);
    tcase_add_test(tc, keys);
    tcase_add_test(tc, lsn_bounds);
    tcase_add_test(tc, timestamps);
    tcase_add_test(tc, truncations_and_mutations);
    suite_add_tcase(s, tc);
    return check_run(s, CK_FORK);
}
