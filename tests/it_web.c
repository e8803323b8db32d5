/* it_web.c — what browsers and phones meet, against the real proximityd:
 * CORS (listed origins, "*", preflights, credentials refused for "*"),
 * gzip negotiation, caching headers, UTF-8 and JSON shape, the demo page's
 * static files. Its traffic is also recorded for tests/contract.sh. */
#include <check.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "testutil.h"
#include "check_run.h"

static const char *const J = "Content-Type: application/json";
static const char *const APP = "http://app.example";
static tu_server_t srv;
static char biz_path[64];
static char biz_etag[32];

/* Names in several scripts, to come back byte for byte: emoji (with a
 * ZWJ sequence), CJK, Hebrew and Arabic (right to left), combining marks. */
static const char *const utf8_name = "Caf\xc3\xa9 \xf0\x9f\x8d\xa9\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x8d\xb3 "
                                     "\xe6\x9d\xb1\xe4\xba\xac\xe3\x82\xab\xe3\x83\x95\xe3\x82\xa7 "
                                     "\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d \xd9\x85\xd9\x82\xd9\x87\xd9\x89 e\xcc\x81";

static void create(const char *body, char *path, size_t plen, char *etag, size_t elen)
{
    tu_response_t r;
    const char *h[] = {J, NULL};
    ck_assert_int_eq(tu_http(&srv, "POST", "/v1/businesses", h, body, strlen(body), &r), 0);
    ck_assert_msg(r.status == 201, "create: %ld %s", r.status, r.body);
    if (path)
        snprintf(path, plen, "%s", tu_header(&r, "Location"));
    if (etag)
        snprintf(etag, elen, "%s", tu_header(&r, "ETag"));
    tu_response_free(&r);
}

static void setup(void)
{
    static const char *args[] = {"--cors-origins=http://app.example,http://localhost:5173", "--debug=1",
                                 "--threads=2", NULL};
    ck_assert_msg(getenv("PROXIMITY_PRIMARY_URL") != NULL, "run under tests/with-pg");
    ck_assert_int_eq(tu_server_start(&srv, args), 0);
    ck_assert_msg(tu_wait_ready(&srv, 60), "proximityd not ready within 60 s");
    char body[1024];
    snprintf(body, sizeof body,
             "{\"name\":\"%s\",\"categories\":[\"cafe\"],\"latitude\":35.6895,\"longitude\":139.6917,"
             "\"address\":{\"city\":\"\xe6\x9d\xb1\xe4\xba\xac\",\"country\":\"jp\"},\"price\":2}",
             utf8_name);
    create(body, biz_path, sizeof biz_path, biz_etag, sizeof biz_etag);
    /* Enough neighbours for a search body worth compressing. */
    for (int i = 0; i < 40; i++) {
        snprintf(body, sizeof body,
                 "{\"name\":\"Neighbour %d \xe3\x82\xab\xe3\x83\x95\xe3\x82\xa7\",\"categories\":[\"cafe\",\"bakery\"],"
                 "\"latitude\":%.6f,\"longitude\":%.6f,\"website\":\"https://example.org/%d\"}",
                 i, 35.6895 + 0.0004 * (i % 7), 139.6917 + 0.0005 * (i / 7), i);
        create(body, NULL, 0, NULL, 0);
    }
}

static void teardown(void)
{
    tu_server_stop(&srv);
}

static void get(const char *path, const char *const *headers, tu_response_t *r)
{
    ck_assert_int_eq(tu_http(&srv, "GET", path, headers, NULL, 0, r), 0);
}

static bool header_has(const tu_response_t *r, const char *name, const char *token)
{
    const char *v = tu_header(r, name);
    return v != NULL && strstr(v, token) != NULL;
}

/* ---------------------------------------------------------------- CORS */

START_TEST(cors_preflight_listed_origin)
{
    tu_response_t r;
    const char *h[] = {"Origin: http://app.example", "Access-Control-Request-Method: PATCH",
                       "Access-Control-Request-Headers: content-type, if-match, x-consistency-token", NULL};
    ck_assert_int_eq(tu_http(&srv, "OPTIONS", biz_path, h, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 204);
    ck_assert_str_eq(tu_header(&r, "Access-Control-Allow-Origin"), APP);
    ck_assert(header_has(&r, "Access-Control-Allow-Methods", "PATCH"));
    ck_assert(header_has(&r, "Access-Control-Allow-Methods", "DELETE"));
    ck_assert(header_has(&r, "Access-Control-Allow-Headers", "If-Match"));
    ck_assert(header_has(&r, "Access-Control-Allow-Headers", "X-Consistency-Token"));
    ck_assert(header_has(&r, "Access-Control-Allow-Headers", "Content-Type"));
    ck_assert_str_eq(tu_header(&r, "Access-Control-Max-Age"), "600");
    ck_assert(header_has(&r, "Vary", "Origin"));
    ck_assert_str_eq(tu_header(&r, "Allow"), "GET, HEAD, PUT, PATCH, DELETE, OPTIONS");
    ck_assert_ptr_null(tu_header(&r, "Access-Control-Allow-Credentials"));
    ck_assert_uint_eq(r.body_len, 0);
    tu_response_free(&r);

    const char *h2[] = {"Origin: http://localhost:5173", "Access-Control-Request-Method: POST", NULL};
    ck_assert_int_eq(tu_http(&srv, "OPTIONS", "/v1/businesses", h2, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 204);
    ck_assert_str_eq(tu_header(&r, "Access-Control-Allow-Origin"), "http://localhost:5173");
    tu_response_free(&r);

    ck_assert_int_eq(tu_http(&srv, "OPTIONS", "/v1/search/nearby", h2, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 204);
    ck_assert_str_eq(tu_header(&r, "Allow"), "GET, HEAD, OPTIONS");
    tu_response_free(&r);
}
END_TEST

START_TEST(cors_other_origin_gets_nothing)
{
    tu_response_t r;
    const char *h[] = {"Origin: http://evil.example", "Access-Control-Request-Method: DELETE", NULL};
    ck_assert_int_eq(tu_http(&srv, "OPTIONS", biz_path, h, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 204);
    ck_assert_ptr_null(tu_header(&r, "Access-Control-Allow-Origin"));
    ck_assert_ptr_null(tu_header(&r, "Access-Control-Allow-Methods"));
    ck_assert(header_has(&r, "Vary", "Origin"));
    tu_response_free(&r);

    const char *g[] = {"Origin: http://app.example.evil.example", NULL};
    get(biz_path, g, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_null(tu_header(&r, "Access-Control-Allow-Origin"));
    tu_response_free(&r);
}
END_TEST

START_TEST(cors_simple_request_exposes_headers)
{
    tu_response_t r;
    const char *h[] = {"Origin: http://app.example", NULL};
    get(biz_path, h, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(tu_header(&r, "Access-Control-Allow-Origin"), APP);
    ck_assert(header_has(&r, "Access-Control-Expose-Headers", "ETag"));
    ck_assert(header_has(&r, "Access-Control-Expose-Headers", "X-Consistency-Token"));
    ck_assert(header_has(&r, "Access-Control-Expose-Headers", "Location"));
    ck_assert(header_has(&r, "Vary", "Origin"));
    tu_response_free(&r);

    /* Errors are readable cross-origin too: a page can show why. */
    get("/v1/search/nearby?latitude=91&longitude=0", h, &r);
    ck_assert_int_eq(r.status, 400);
    ck_assert_str_eq(tu_header(&r, "Access-Control-Allow-Origin"), APP);
    tu_response_free(&r);

    /* A write from the page: the created business, the ETag readable. */
    const char *w[] = {"Origin: http://app.example", J, NULL};
    const char *body = "{\"name\":\"From a page\",\"latitude\":1,\"longitude\":2}";
    ck_assert_int_eq(tu_http(&srv, "POST", "/v1/businesses", w, body, strlen(body), &r), 0);
    ck_assert_int_eq(r.status, 201);
    ck_assert_str_eq(tu_header(&r, "Access-Control-Allow-Origin"), APP);
    tu_response_free(&r);
}
END_TEST

START_TEST(options_without_cors)
{
    tu_response_t r;
    ck_assert_int_eq(tu_http(&srv, "OPTIONS", "/v1/businesses", NULL, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 204);
    ck_assert_str_eq(tu_header(&r, "Allow"), "POST, OPTIONS");
    ck_assert_ptr_null(tu_header(&r, "Access-Control-Allow-Origin"));
    tu_response_free(&r);
    ck_assert_int_eq(tu_http(&srv, "OPTIONS", "/no/such/path", NULL, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 404);
    tu_response_free(&r);
}
END_TEST

/* Log of a server that refused to start (for its reason). */
static bool log_says(const tu_server_t *s, const char *what)
{
    char path[512], buf[8192];
    snprintf(path, sizeof path, "%s/proximityd.log", s->dir);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return strstr(buf, what) != NULL;
}

START_TEST(cors_any_origin_never_with_credentials)
{
    tu_server_t any;
    static const char *refused[] = {"--cors-origins=*", "--cors-credentials=1", NULL};
    ck_assert_int_eq(tu_server_start(&any, refused), -1);
    ck_assert_msg(log_says(&any, "needs a list of origins"), "no reason in %s", any.dir);

    static const char *star[] = {"--cors-origins=*", NULL};
    ck_assert_int_eq(tu_server_start(&any, star), 0);
    tu_response_t r;
    const char *h[] = {"Origin: https://anyone.example", NULL};
    ck_assert_int_eq(tu_http(&any, "GET", "/healthz", h, NULL, 0, &r), 0);
    ck_assert_str_eq(tu_header(&r, "Access-Control-Allow-Origin"), "*");
    ck_assert_ptr_null(tu_header(&r, "Access-Control-Allow-Credentials"));
    ck_assert_ptr_null(tu_header(&r, "Vary"));
    tu_response_free(&r);
    ck_assert_int_eq(tu_server_stop(&any), 0);

    static const char *creds[] = {"--cors-origins=http://app.example", "--cors-credentials=1", NULL};
    ck_assert_int_eq(tu_server_start(&any, creds), 0);
    const char *h2[] = {"Origin: http://app.example", NULL};
    ck_assert_int_eq(tu_http(&any, "GET", "/healthz", h2, NULL, 0, &r), 0);
    ck_assert_str_eq(tu_header(&r, "Access-Control-Allow-Origin"), APP);
    ck_assert_str_eq(tu_header(&r, "Access-Control-Allow-Credentials"), "true");
    tu_response_free(&r);
    ck_assert_int_eq(tu_server_stop(&any), 0);
}
END_TEST

/* ---------------------------------------------------------------- gzip */

static char *gunzip(const char *in, size_t n, size_t *out_len)
{
    size_t cap = n * 20 + 1024;
    char *out = malloc(cap);
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    ck_assert_int_eq(inflateInit2(&zs, 15 + 16), Z_OK);
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = (uInt)n;
    zs.next_out = (Bytef *)out;
    zs.avail_out = (uInt)cap - 1;
    int rc = inflate(&zs, Z_FINISH);
    ck_assert_msg(rc == Z_STREAM_END, "not a complete gzip stream (%d)", rc);
    *out_len = zs.total_out;
    out[*out_len] = '\0';
    inflateEnd(&zs);
    return out;
}

static const char *const search_all =
    "/v1/search/nearby?latitude=35.6895&longitude=139.6917&radius=2000&limit=50";

START_TEST(gzip_when_accepted_and_worth_it)
{
    tu_response_t plain, gz;
    get(search_all, NULL, &plain);
    ck_assert_int_eq(plain.status, 200);
    ck_assert_ptr_null(tu_header(&plain, "Content-Encoding"));
    ck_assert(header_has(&plain, "Vary", "Accept-Encoding"));
    ck_assert_uint_gt(plain.body_len, 4096);

    const char *h[] = {"Accept-Encoding: br;q=1.0, gzip;q=0.5", NULL};
    get(search_all, h, &gz);
    ck_assert_int_eq(gz.status, 200);
    ck_assert_str_eq(tu_header(&gz, "Content-Encoding"), "gzip");
    ck_assert(header_has(&gz, "Vary", "Accept-Encoding"));
    ck_assert_msg(gz.body_len * 3 < plain.body_len, "gzip %zu vs %zu bytes", gz.body_len, plain.body_len);
    size_t n;
    char *text = gunzip(gz.body, gz.body_len, &n);
    json_t *doc = json_loadb(text, n, 0, NULL);
    ck_assert_ptr_nonnull(doc);
    /* Same results (Server-Timing aside, the bodies are the same query). */
    ck_assert(json_equal(json_object_get(doc, "total"), json_object_get(plain.json, "total")));
    ck_assert_int_eq(json_array_size(json_object_get(doc, "businesses")),
                     json_array_size(json_object_get(plain.json, "businesses")));
    ck_assert_uint_eq(n, plain.body_len);
    json_decref(doc);
    free(text);
    tu_response_free(&gz);

    const char *no[] = {"Accept-Encoding: gzip;q=0, deflate", NULL};
    get(search_all, no, &gz);
    ck_assert_ptr_null(tu_header(&gz, "Content-Encoding"));
    ck_assert_uint_eq(gz.body_len, plain.body_len);
    tu_response_free(&gz);
    tu_response_free(&plain);

    /* Small bodies go as they are, and do not vary. */
    const char *yes[] = {"Accept-Encoding: gzip", NULL};
    get("/healthz", yes, &gz);
    ck_assert_ptr_null(tu_header(&gz, "Content-Encoding"));
    ck_assert(!header_has(&gz, "Vary", "Accept-Encoding"));
    tu_response_free(&gz);

    /* Metrics (text) and static files (weak ETags) compress too. */
    get("/metrics", yes, &gz);
    ck_assert_int_eq(gz.status, 200);
    ck_assert_str_eq(tu_header(&gz, "Content-Encoding"), "gzip");
    free(gunzip(gz.body, gz.body_len, &n));
    tu_response_free(&gz);
    get("/static/leaflet.js", yes, &gz);
    ck_assert_int_eq(gz.status, 200);
    ck_assert_str_eq(tu_header(&gz, "Content-Encoding"), "gzip");
    text = gunzip(gz.body, gz.body_len, &n);
    ck_assert_uint_gt(n, 100000);
    free(text);
    tu_response_free(&gz);
}
END_TEST

START_TEST(strong_etag_stays_identity)
{
    /* A business over 1 KB: its strong ETag names one representation. */
    char body[2048], path[64], name[201];
    memset(name, 'x', 200);
    name[200] = '\0';
    snprintf(body, sizeof body,
             "{\"name\":\"%s\",\"latitude\":10,\"longitude\":10,\"address\":{\"street\":\"%.190s\","
             "\"city\":\"%.99s\",\"region\":\"%.99s\"},\"website\":\"https://example.org/%.400s\"}",
             name, name, name, name, name);
    create(body, path, sizeof path, NULL, 0);
    tu_response_t r;
    const char *h[] = {"Accept-Encoding: gzip", NULL};
    get(path, h, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_gt(r.body_len, 1024);
    ck_assert_ptr_null(tu_header(&r, "Content-Encoding"));
    tu_response_free(&r);
}
END_TEST

/* ------------------------------------------------------------- caching */

START_TEST(cache_headers)
{
    tu_response_t r;
    get(biz_path, NULL, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(tu_header(&r, "Cache-Control"), "no-cache");
    ck_assert_str_eq(tu_header(&r, "ETag"), biz_etag);
    tu_response_free(&r);

    char inm[64];
    snprintf(inm, sizeof inm, "If-None-Match: %s", biz_etag);
    const char *h[] = {inm, NULL};
    get(biz_path, h, &r);
    ck_assert_int_eq(r.status, 304);
    ck_assert_uint_eq(r.body_len, 0);
    ck_assert_str_eq(tu_header(&r, "ETag"), biz_etag);
    tu_response_free(&r);

    get(search_all, NULL, &r);
    ck_assert_str_eq(tu_header(&r, "Cache-Control"), "public, max-age=5");
    tu_response_free(&r);

    /* Errors, probes and metrics are never stored. */
    const char *paths[] = {"/v1/search/nearby?latitude=0", "/v1/businesses/999999999", "/healthz",
                           "/readyz", "/metrics", "/nope"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        get(paths[i], NULL, &r);
        ck_assert_msg(tu_header(&r, "Cache-Control") && strcmp(tu_header(&r, "Cache-Control"), "no-store") == 0,
                      "%s: Cache-Control %s", paths[i], tu_header(&r, "Cache-Control"));
        tu_response_free(&r);
    }
}
END_TEST

/* ------------------------------------------------- JSON and UTF-8 */

static void keys_snake_case(const json_t *v)
{
    const char *key;
    json_t *child;
    size_t i;
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, key, child) {
            for (const char *p = key; *p; p++)
                ck_assert_msg(islower((unsigned char)*p) || *p == '_', "key \"%s\" is not snake_case", key);
            keys_snake_case(child);
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, child)
            keys_snake_case(child);
    }
}

START_TEST(utf8_and_json_shape)
{
    tu_response_t r;
    get(biz_path, NULL, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(r.json);
    /* The raw bytes, not \u escapes: the name comes back as it was sent. */
    ck_assert_msg(strstr(r.body, utf8_name) != NULL, "name not byte for byte in %s", r.body);
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "name")), utf8_name);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(r.json, "address"), "country")), "JP");
    ck_assert(json_is_integer(json_object_get(r.json, "id")));
    ck_assert(json_is_integer(json_object_get(r.json, "price")));
    ck_assert(json_is_number(json_object_get(r.json, "latitude")));
    ck_assert(json_is_integer(json_object_get(r.json, "version")));
    ck_assert_int_eq(r.body[r.body_len - 1], '}'); /* nothing after the document */
    keys_snake_case(r.json);
    tu_response_free(&r);

    get(search_all, NULL, &r);
    ck_assert_ptr_nonnull(r.json);
    json_error_t e;
    json_t *strict = json_loadb(r.body, r.body_len, 0, &e); /* fails on trailing garbage */
    ck_assert_msg(strict != NULL, "%s", e.text);
    json_decref(strict);
    ck_assert(json_is_integer(json_object_get(r.json, "total")));
    json_t *first = json_array_get(json_object_get(r.json, "businesses"), 0);
    ck_assert(json_is_number(json_object_get(first, "distance")));
    ck_assert_str_eq(json_string_value(json_object_get(first, "name")), utf8_name); /* nearest */
    ck_assert(strstr(r.body, utf8_name) != NULL);
    keys_snake_case(r.json);
    tu_response_free(&r);
}
END_TEST

/* ------------------------------------------------------ demo page */

START_TEST(static_files)
{
    tu_response_t r;
    get("/", NULL, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(tu_header(&r, "Content-Type"), "text/html; charset=utf-8");
    ck_assert(strstr(r.body, "<title>") != NULL && strstr(r.body, "/static/demo.js") != NULL);
    ck_assert_str_eq(tu_header(&r, "Cache-Control"), "no-cache");
    char etag[64];
    snprintf(etag, sizeof etag, "%s", tu_header(&r, "ETag"));
    ck_assert_msg(strncmp(etag, "W/\"", 3) == 0, "ETag %s", etag);
    tu_response_free(&r);

    get("/demo", NULL, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(tu_header(&r, "ETag"), etag);
    tu_response_free(&r);

    char inm[96];
    snprintf(inm, sizeof inm, "If-None-Match: \"x\", %s", etag + 2); /* weak comparison */
    const char *h[] = {inm, NULL};
    get("/", h, &r);
    ck_assert_int_eq(r.status, 304);
    ck_assert_uint_eq(r.body_len, 0);
    tu_response_free(&r);

    get("/static/demo.js", NULL, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(tu_header(&r, "Content-Type"), "text/javascript; charset=utf-8");
    ck_assert(strstr(r.body, "/v1/search/nearby") != NULL);
    tu_response_free(&r);
    get("/static/demo.css", NULL, &r);
    ck_assert_str_eq(tu_header(&r, "Content-Type"), "text/css; charset=utf-8");
    tu_response_free(&r);
    ck_assert_int_eq(tu_http(&srv, "HEAD", "/static/leaflet.css", NULL, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(r.body_len, 0);
    tu_response_free(&r);

    /* Nothing outside the web root, no hidden files, only known types. */
    const struct {
        const char *path;
        long status;
    } refused[] = {
        {"/static/..%2F..%2Fetc%2Fpasswd", 0}, {"/static/%2e%2e", 0}, {"/static/.htaccess", 400},
        {"/static/missing.js", 404},             {"/static/index", 404},  {"/static/a/b.js", 404},
        {"/static/Makefile.am", 404},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        get(refused[i].path, NULL, &r);
        /* 0: refused either way (MHD decodes %2F, and the route then differs) */
        bool ok = refused[i].status ? r.status == refused[i].status : (r.status == 400 || r.status == 404);
        ck_assert_msg(ok, "%s: %ld", refused[i].path, r.status);
        ck_assert_ptr_nonnull(json_object_get(r.json, "error"));
        tu_response_free(&r);
    }

    ck_assert_int_eq(tu_http(&srv, "POST", "/static/demo.js", NULL, "", 0, &r), 0);
    ck_assert_int_eq(r.status, 405);
    tu_response_free(&r);
}
END_TEST

START_TEST(web_root_option)
{
    /* An operator's own page: --web-root wins over the default. */
    tu_server_t own;
    char dir[] = "/tmp/proximity-webroot-XXXXXX", arg[64], file[96];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(file, sizeof file, "%s/index.html", dir);
    FILE *f = fopen(file, "w");
    fputs("<!doctype html><title>ours</title>", f);
    fclose(f);
    snprintf(arg, sizeof arg, "--web-root=%s", dir);
    const char *args[] = {arg, "--cdc=off", "--cache-prewarm=0", NULL};
    ck_assert_int_eq(tu_server_start(&own, args), 0);
    tu_response_t r;
    ck_assert_int_eq(tu_http(&own, "GET", "/", NULL, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert(strstr(r.body, "<title>ours</title>") != NULL);
    tu_response_free(&r);
    ck_assert_int_eq(tu_http(&own, "GET", "/static/demo.js", NULL, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 404);
    tu_response_free(&r);
    ck_assert_int_eq(tu_server_stop(&own), 0);
    remove(file);
    rmdir(dir);
}
END_TEST

START_TEST(operations_endpoints)
{
    tu_response_t r;
    get("/metrics", NULL, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert(strncmp(tu_header(&r, "Content-Type"), "text/plain", 10) == 0);
    tu_response_free(&r);
    get("/debug/index", NULL, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_ge(json_array_size(json_object_get(r.json, "points")), 41);
    tu_response_free(&r);
    ck_assert_int_eq(tu_http(&srv, "HEAD", "/healthz", NULL, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 200);
    tu_response_free(&r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("web");
    TCase *tc = tcase_create("web");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, cors_preflight_listed_origin);
    tcase_add_test(tc, cors_other_origin_gets_nothing);
    tcase_add_test(tc, cors_simple_request_exposes_headers);
    tcase_add_test(tc, options_without_cors);
    tcase_add_test(tc, cors_any_origin_never_with_credentials);
    tcase_add_test(tc, gzip_when_accepted_and_worth_it);
    tcase_add_test(tc, strong_etag_stays_identity);
    tcase_add_test(tc, cache_headers);
    tcase_add_test(tc, utf8_and_json_shape);
    tcase_add_test(tc, static_files);
    tcase_add_test(tc, web_root_option);
    tcase_add_test(tc, operations_endpoints);
    suite_add_tcase(s, tc);
    return check_run(s, CK_FORK_GETENV);
}
