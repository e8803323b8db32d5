/* it_hostile.c — hostile strings through every field of create, replace
 * and patch, every query parameter of search, the id segment and the
 * request headers proximityd reads: SQL injection, quotes, NUL, control
 * characters, very long and invalid UTF-8 text. Every answer must be a
 * JSON error or a correct store (the value reads back byte for byte), no
 * 5xx, and the table must be intact afterwards. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "check_run.h"

static tu_server_t srv;
static char fixture[64];
static long created;

/* Valid UTF-8 strings a store must keep exactly, or refuse. */
static const char *const hostile[] = {
    "'; DROP TABLE businesses; --",
    "\" OR 1=1 --",
    "Robert'); DELETE FROM businesses WHERE ('1'='1",
    "1; UPDATE businesses SET owner = 'mallory'",
    "$1", "$$ ; SELECT pg_sleep(10); $$", "::text", "\\", "\\x00", "%00", "%27%20OR%201%3D1",
    "{a,b}", "{\"x\":1}", "NULL", "null", "<script>alert(1)</script>", "../../etc/passwd",
    "Caf\xc3\xa9 \xe2\x98\x95 \xf0\x9f\x98\x80", /* é ☕ 😀 */
    "line\nbreak", "tab\tinside", "\x7f", "e\xcc\x81\xe2\x80\xae", /* combining, RTL override */
    "", " ",
};

static const char *const string_fields[] = {"name", "street", "city", "region", "postal_code", "country",
                                            "phone", "website", NULL};

static bool is_address(const char *f)
{
    return strcmp(f, "street") == 0 || strcmp(f, "city") == 0 || strcmp(f, "region") == 0 ||
           strcmp(f, "postal_code") == 0 || strcmp(f, "country") == 0;
}

/* A valid business with field set to value (a JSON value, stolen). */
static char *body_with(const char *field, json_t *value)
{
    json_t *b = json_pack("{s:s, s:[s], s:f, s:f}", "name", "Hostile", "categories", "cafe", "latitude", 12.5,
                          "longitude", 12.5);
    if (field == NULL)
        json_decref(value);
    else if (is_address(field))
        json_object_set_new(b, "address", json_pack("{s:o}", field, value));
    else
        json_object_set_new(b, field, value);
    char *s = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    return s;
}

/* Checks one answer: no 5xx, JSON; an error has the error shape. Returns
 * the status. */
static long check_answer(const char *what, const tu_response_t *r)
{
    ck_assert_msg(r->status > 0 && r->status < 500, "%s: %ld %s", what, r->status, r->body);
    if (r->status == 204 || r->status == 304)
        return r->status;
    ck_assert_msg(r->json != NULL, "%s: not JSON: %s", what, r->body);
    if (r->status >= 400) {
        json_t *e = json_object_get(r->json, "error");
        ck_assert_msg(json_is_string(json_object_get(e, "code")) && json_is_string(json_object_get(e, "description")),
                      "%s: not an error document: %s", what, r->body);
    }
    return r->status;
}

static long send(const char *method, const char *path, const char *const *extra, const char *body, size_t len,
                 const char *what, tu_response_t *out)
{
    const char *h[8] = {"Content-Type: application/json"};
    int n = 1;
    for (int i = 0; extra && extra[i] && n < 7; i++)
        h[n++] = extra[i];
    h[n] = NULL;
    tu_response_t r;
    ck_assert_int_eq(tu_http(&srv, method, path, h, body, len, &r), 0);
    long st = check_answer(what, &r);
    if (out)
        *out = r;
    else
        tu_response_free(&r);
    return st;
}

/* The stored value of field in the business document doc. */
static const char *stored_field(const json_t *doc, const char *field)
{
    const json_t *v = is_address(field) ? json_object_get(json_object_get(doc, "address"), field)
                                        : json_object_get(doc, field);
    return json_string_value(v);
}

static void setup(void)
{
    ck_assert_msg(getenv("PROXIMITY_PRIMARY_URL") != NULL, "run under tests/with-pg");
    const char *args[] = {"--threads=2", NULL};
    ck_assert_int_eq(tu_server_start(&srv, args), 0);
    ck_assert_msg(tu_wait_ready(&srv, 60), "proximityd not ready within 60 s");
    tu_response_t r;
    const char *b = "{\"name\":\"Bystander\",\"categories\":[\"bakery\"],\"latitude\":-33.9,\"longitude\":18.4}";
    ck_assert_int_eq(send("POST", "/v1/businesses", NULL, b, strlen(b), "fixture", &r), 201);
    snprintf(fixture, sizeof fixture, "%s", tu_header(&r, "Location"));
    tu_response_free(&r);
}

static void teardown(void)
{
    tu_server_stop(&srv);
}

START_TEST(every_field_create_replace_patch)
{
    char path[64];
    tu_response_t r;
    const char *b = "{\"name\":\"Target\",\"latitude\":12.5,\"longitude\":12.5}";
    ck_assert_int_eq(send("POST", "/v1/businesses", NULL, b, strlen(b), "target", &r), 201);
    snprintf(path, sizeof path, "%s", tu_header(&r, "Location"));
    tu_response_free(&r);
    for (const char *const *f = string_fields; *f; f++) {
        for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
            const char *v = hostile[i];
            char what[128];
            for (int m = 0; m < 3; m++) {
                static const char *const methods[] = {"POST", "PUT", "PATCH"};
                char *body = m == 2 ? NULL : body_with(*f, json_string(v));
                if (m == 2) {
                    json_t *p = is_address(*f) ? json_pack("{s:{s:s}}", "address", *f, v)
                                               : json_pack("{s:s}", *f, v);
                    body = json_dumps(p, JSON_COMPACT);
                    json_decref(p);
                }
                snprintf(what, sizeof what, "%s %s=#%zu", methods[m], *f, i);
                long st = send(methods[m], m == 0 ? "/v1/businesses" : path, NULL, body, strlen(body), what, &r);
                free(body);
                ck_assert_msg(st == 200 || st == 201 || st == 400, "%s: %ld", what, st);
                if (st == 201)
                    created++;
                if (st < 300) {
                    /* Stored: exactly what was sent, in the answer and on a fresh read. */
                    const char *got = stored_field(r.json, *f);
                    ck_assert_msg(got != NULL && strcmp(got, v) == 0, "%s: stored \"%s\"", what, got ? got : "(null)");
                    char loc[64];
                    snprintf(loc, sizeof loc, "%s", m == 0 ? tu_header(&r, "Location") : path);
                    char tok[128];
                    snprintf(tok, sizeof tok, "X-Consistency-Token: %s", tu_header(&r, "X-Consistency-Token"));
                    const char *h[] = {tok, NULL};
                    tu_response_t g;
                    ck_assert_int_eq(send("GET", loc, h, NULL, 0, what, &g), 200);
                    ck_assert_str_eq(stored_field(g.json, *f), v);
                    tu_response_free(&g);
                }
                tu_response_free(&r);
            }
        }
    }
    /* Non-string fields given hostile strings, and strings in arrays. */
    static const char *const typed[] = {"latitude", "longitude", "price", "categories", NULL};
    for (const char *const *f = typed; *f; f++)
        for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
            char *body = body_with(*f, strcmp(*f, "categories") == 0 ? json_pack("[s]", hostile[i])
                                                                       : json_string(hostile[i]));
            ck_assert_int_eq(send("POST", "/v1/businesses", NULL, body, strlen(body), *f, NULL), 400);
            free(body);
        }
    /* Hostile field names, and server-owned fields with hostile values. */
    for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
        json_t *d = json_pack("{s:s, s:f, s:f, s:i}", "name", "Keys", "latitude", 1.0, "longitude", 1.0, hostile[i], 1);
        char *body = json_dumps(d, JSON_COMPACT);
        json_decref(d);
        ck_assert_int_eq(send("POST", "/v1/businesses", NULL, body, strlen(body), "key name", NULL), 400);
        free(body);
        body = body_with("owner", json_string(hostile[i]));
        long st = send("POST", "/v1/businesses", NULL, body, strlen(body), "owner", &r);
        free(body);
        if (st == 201) {
            created++;
            ck_assert_str_eq(json_string_value(json_object_get(r.json, "owner")), "anonymous");
        }
        tu_response_free(&r);
    }
}
END_TEST

START_TEST(malformed_bytes)
{
    /* Bodies that are not valid JSON text: raw invalid UTF-8, NUL escapes,
     * lone surrogates, overlong encodings, a NUL byte, deep nesting. */
    static const char *const bodies[] = {
        "{\"name\":\"\xff\xfe\",\"latitude\":1,\"longitude\":1}",
        "{\"name\":\"\xc0\xaf\",\"latitude\":1,\"longitude\":1}",
        "{\"name\":\"\xed\xa0\x80\",\"latitude\":1,\"longitude\":1}",
        "{\"name\":\"a\\u0000b\",\"latitude\":1,\"longitude\":1}",
        "{\"name\":\"\\ud800\",\"latitude\":1,\"longitude\":1}",
        "{\"name\":\"x\"\"latitude\":1}",
        "{\"name\":\"x\",\"name\":\"y\",\"latitude\":1,\"longitude\":1}",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        ck_assert_int_eq(send("POST", "/v1/businesses", NULL, bodies[i], strlen(bodies[i]), bodies[i], NULL), 400);
        ck_assert_int_eq(send("PATCH", fixture, NULL, bodies[i], strlen(bodies[i]), bodies[i], NULL), 400);
    }
    const char nul[] = "{\"name\":\"a\0b\",\"latitude\":1,\"longitude\":1}";
    ck_assert_int_eq(send("POST", "/v1/businesses", NULL, nul, sizeof nul - 1, "raw NUL", NULL), 400);
    char *deep = malloc(40001);
    for (int i = 0; i < 20000; i++) {
        deep[i] = '[';
        deep[20000 + i] = ']';
    }
    deep[40000] = '\0';
    ck_assert_int_eq(send("POST", "/v1/businesses", NULL, deep, 40000, "deep nesting", NULL), 400);
    free(deep);
    /* Very long: a field of 10,000 characters (400), a body over the limit (413). */
    char *lng = malloc(10001);
    memset(lng, 'A', 10000);
    lng[10000] = '\0';
    for (const char *const *f = string_fields; *f; f++) {
        char *body = body_with(*f, json_string(lng));
        ck_assert_int_eq(send("POST", "/v1/businesses", NULL, body, strlen(body), "long", NULL), 400);
        free(body);
    }
    free(lng);
    char *huge = malloc(200001);
    memset(huge, 'B', 200000);
    huge[200000] = '\0';
    char *body = body_with("name", json_string(huge));
    ck_assert_int_eq(send("POST", "/v1/businesses", NULL, body, strlen(body), "huge", NULL), 413);
    free(body);
    free(huge);
}
END_TEST

/* Percent-encodes every byte but unreserved ones. */
static void pct(const char *in, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p && n + 4 < cap; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
            *p == '.' || *p == '_' || *p == '~') {
            out[n++] = (char)*p;
        } else {
            out[n++] = '%';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 15];
        }
    }
    out[n] = '\0';
}

START_TEST(every_query_parameter_and_id)
{
    static const char *const params[] = {"latitude", "longitude", "radius", "limit", "cursor", "categories",
                                         "mode", "unknown", NULL};
    static const char *const extra_bad[] = {"%00", "%FF%FE", "%C0%AF", "1%001", "%", "%zz"};
    char path[4096], enc[1024];
    for (const char *const *p = params; *p; p++) {
        for (size_t i = 0; i < sizeof hostile / sizeof hostile[0] + sizeof extra_bad / sizeof extra_bad[0]; i++) {
            if (i < sizeof hostile / sizeof hostile[0])
                pct(hostile[i], enc, sizeof enc);
            else
                snprintf(enc, sizeof enc, "%s", extra_bad[i - sizeof hostile / sizeof hostile[0]]);
            bool coord = strcmp(*p, "latitude") == 0 || strcmp(*p, "longitude") == 0;
            snprintf(path, sizeof path, "/v1/search/nearby?%s%s=%s", coord ? "" : "latitude=1&longitude=1&", *p,
                     enc);
            if (coord)
                snprintf(path + strlen(path), sizeof path - strlen(path), "&%s=1",
                         strcmp(*p, "latitude") == 0 ? "longitude" : "latitude");
            long st = send("GET", path, NULL, NULL, 0, path, NULL);
            /* An empty categories list may mean "any"; all else is refused. */
            ck_assert_msg(st == 400 || (st == 200 && (hostile[i][0] == '\0' || hostile[i][0] == ' ')),
                          "%s: %ld", path, st);
        }
    }
    /* A NUL in the path must not cut it to another resource's. */
    snprintf(path, sizeof path, "%s%%00junk", fixture);
    long nul = send("GET", path, NULL, NULL, 0, path, NULL);
    ck_assert_msg(nul == 400 || nul == 404, "%s: %ld", path, nul);
    /* The id segment, on every method. */
    static const char *const methods[] = {"GET", "PUT", "PATCH", "DELETE"};
    const char *b = "{\"name\":\"x\",\"latitude\":1,\"longitude\":1}";
    for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
        pct(hostile[i], enc, sizeof enc);
        if (enc[0] == '\0')
            continue;
        snprintf(path, sizeof path, "/v1/businesses/%s", enc);
        for (int m = 0; m < 4; m++) {
            long st = send(methods[m], path, NULL, b, m == 0 || m == 3 ? 0 : strlen(b), path, NULL);
            ck_assert_msg(st == 400 || st == 404, "%s %s: %ld", methods[m], path, st);
        }
    }
}
END_TEST

START_TEST(hostile_headers)
{
    /* Header values proximityd reads; curl cannot send CR/LF or NUL. */
    static const char *const names[] = {"If-Match", "If-None-Match", "X-Consistency-Token", "Idempotency-Key",
                                        "X-Request-Id", "Authorization", "X-Forwarded-For", "X-API-Key"};
    char h[1200];
    const char *b = "{\"name\":\"Hdr\",\"latitude\":1,\"longitude\":1}";
    for (size_t n = 0; n < sizeof names / sizeof names[0]; n++)
        for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
            if (strchr(hostile[i], '\n'))
                continue;
            snprintf(h, sizeof h, "%s: %s", names[n], hostile[i]);
            const char *extra[] = {h, NULL};
            long st = send("PATCH", fixture, extra, "{}", 2, h, NULL);
            ck_assert_msg(st == 200 || st == 400 || st == 412, "%s: %ld", h, st);
            st = send("GET", fixture, extra, NULL, 0, h, NULL);
            ck_assert_msg(st == 200 || st == 304 || st == 400, "%s: %ld", h, st);
            st = send("POST", "/v1/businesses", extra, b, strlen(b), h, NULL);
            ck_assert_msg(st == 201 || st == 400, "%s: %ld", h, st);
            if (st == 201)
                created++;
        }
}
END_TEST

START_TEST(table_intact)
{
    char *t = tu_sql("SELECT to_regclass('public.businesses') IS NOT NULL AND to_regclass('public.idempotency_keys') "
                     "IS NOT NULL");
    ck_assert_str_eq(t, "t");
    free(t);
    /* The bystander was never touched by anything the tests sent, except
     * the empty PATCHes of hostile_headers (which change nothing but its version). */
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT name || '|' || owner || '|' || array_to_string(categories, ',') FROM businesses "
                              "WHERE id = %s AND deleted_at IS NULL", strrchr(fixture, '/') + 1);
    char *row = tu_sql(sql);
    ck_assert_str_eq(row, "Bystander|anonymous|bakery");
    free(row);
    char *owners = tu_sql("SELECT string_agg(DISTINCT owner, ',') FROM businesses");
    ck_assert_str_eq(owners, "anonymous");
    free(owners);
    /* Every create the tests counted is there, and nothing else. */
    char *n = tu_sql("SELECT count(*) FROM businesses");
    ck_assert_int_eq(atol(n), created + 2); /* + bystander + target */
    free(n);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hostile");
    TCase *tc = tcase_create("inputs");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, every_field_create_replace_patch);
    tcase_add_test(tc, malformed_bytes);
    tcase_add_test(tc, every_query_parameter_and_id);
    tcase_add_test(tc, hostile_headers);
    tcase_add_test(tc, table_intact);
    suite_add_tcase(s, tc);
    return check_run(s, CK_NOFORK);
}
