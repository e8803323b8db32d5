/* check_cors.c — the CORS policy: parsing the origin list, refusing
 * credentials for "*", and the headers each kind of request gets. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "cors.h"
#include "check_run.h"

typedef struct seen {
    char text[2048];
    int n;
} seen_t;

static void add(void *ctx, const char *name, const char *value)
{
    seen_t *s = ctx;
    size_t len = strlen(s->text);
    snprintf(s->text + len, sizeof s->text - len, "%s: %s\n", name, value);
    s->n++;
}

static cors_t *policy(const char *origins, bool credentials)
{
    char err[256] = "";
    cors_t *c = cors_new(origins, credentials, 600, err, sizeof err);
    ck_assert_msg(c != NULL, "%s: %s", origins, err);
    return c;
}

START_TEST(parses_lists)
{
    cors_t *c = policy("https://app.example, http://localhost:5173,http://[::1]:8080", false);
    ck_assert(cors_enabled(c));
    ck_assert(!cors_any(c));
    ck_assert(cors_origin_allowed(c, "https://app.example"));
    ck_assert(cors_origin_allowed(c, "http://localhost:5173"));
    ck_assert(cors_origin_allowed(c, "http://[::1]:8080"));
    ck_assert(!cors_origin_allowed(c, "http://app.example"));       /* other scheme */
    ck_assert(!cors_origin_allowed(c, "https://app.example:8443")); /* other port */
    ck_assert(!cors_origin_allowed(c, "https://evil.app.example"));
    ck_assert(!cors_origin_allowed(c, "null"));
    ck_assert(!cors_origin_allowed(c, NULL));
    cors_free(c);

    c = policy("", false);
    ck_assert(!cors_enabled(c));
    ck_assert(!cors_origin_allowed(c, "https://app.example"));
    cors_free(c);

    c = policy("*", false);
    ck_assert(cors_any(c));
    ck_assert(cors_origin_allowed(c, "https://anything.example"));
    cors_free(c);
}
END_TEST

static const struct {
    const char *origins;
    bool credentials;
    const char *why;
} bad[] = {
    {"*", true, "needs a list of origins"},
    {"", true, "needs --cors-origins"},
    {"https://app.example/", false, "not an origin"},
    {"https://app.example/path", false, "not an origin"},
    {"app.example", false, "not an origin"},
    {"HTTPS://APP.EXAMPLE", false, "not an origin"},
    {"*,https://app.example", false, "do not mix"},
    {"https://app.example\"x", false, "not an origin"},
};

START_TEST(refuses)
{
    char err[256] = "";
    cors_t *c = cors_new(bad[_i].origins, bad[_i].credentials, 600, err, sizeof err);
    ck_assert_msg(c == NULL, "accepted \"%s\"", bad[_i].origins);
    ck_assert_msg(strstr(err, bad[_i].why) != NULL, "\"%s\": %s", bad[_i].origins, err);
}
END_TEST

START_TEST(headers_for_listed_origin)
{
    cors_t *c = policy("https://app.example", true);
    seen_t s = {"", 0};
    cors_headers(c, "https://app.example", "GET", NULL, add, &s);
    ck_assert_msg(strstr(s.text, "Vary: Origin\n") != NULL, "%s", s.text);
    ck_assert(strstr(s.text, "Access-Control-Allow-Origin: https://app.example\n") != NULL);
    ck_assert(strstr(s.text, "Access-Control-Allow-Credentials: true\n") != NULL);
    ck_assert(strstr(s.text, "Access-Control-Expose-Headers: ") != NULL);
    ck_assert(strstr(s.text, "X-Consistency-Token") != NULL && strstr(s.text, "ETag") != NULL);
    /* What auth, rate limits and idempotent creates answer with. */
    static const char *const exposed[] = {"WWW-Authenticate", "Retry-After", "RateLimit-Limit",
                                          "RateLimit-Remaining", "RateLimit-Reset", "Idempotent-Replayed"};
    for (size_t i = 0; i < sizeof exposed / sizeof exposed[0]; i++)
        ck_assert_msg(strstr(s.text, exposed[i]) != NULL, "%s not exposed: %s", exposed[i], s.text);
    ck_assert(strstr(s.text, "Access-Control-Allow-Methods") == NULL);

    memset(&s, 0, sizeof s);
    cors_headers(c, "https://app.example", "OPTIONS", "PATCH", add, &s);
    ck_assert(strstr(s.text, "Access-Control-Allow-Methods: ") != NULL);
    ck_assert(strstr(s.text, "PATCH") != NULL);
    ck_assert(strstr(s.text, "Access-Control-Allow-Headers: ") != NULL);
    ck_assert(strstr(s.text, "If-Match") != NULL);
    ck_assert(strstr(s.text, "Idempotency-Key") != NULL && strstr(s.text, "X-API-Key") != NULL);
    ck_assert(strstr(s.text, "Access-Control-Max-Age: 600\n") != NULL);

    /* Another origin: only Vary, so that caches keep the answers apart. */
    memset(&s, 0, sizeof s);
    cors_headers(c, "https://evil.example", "OPTIONS", "DELETE", add, &s);
    ck_assert_int_eq(s.n, 1);
    ck_assert_str_eq(s.text, "Vary: Origin\n");
    /* No Origin at all: the same answer may be cached for browsers too. */
    memset(&s, 0, sizeof s);
    cors_headers(c, NULL, "GET", NULL, add, &s);
    ck_assert_str_eq(s.text, "Vary: Origin\n");
    cors_free(c);
}
END_TEST

START_TEST(headers_for_any_origin)
{
    cors_t *c = policy("*", false);
    seen_t s = {"", 0};
    cors_headers(c, "https://someone.example", "GET", NULL, add, &s);
    ck_assert(strstr(s.text, "Access-Control-Allow-Origin: *\n") != NULL);
    ck_assert(strstr(s.text, "Vary") == NULL);
    ck_assert(strstr(s.text, "Credentials") == NULL);
    cors_free(c);

    c = policy("", false);
    memset(&s, 0, sizeof s);
    cors_headers(c, "https://someone.example", "OPTIONS", "GET", add, &s);
    ck_assert_int_eq(s.n, 0);
    cors_free(c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cors");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, parses_lists);
    tcase_add_loop_test(tc, refuses, 0, sizeof bad / sizeof bad[0]);
    tcase_add_test(tc, headers_for_listed_origin);
    tcase_add_test(tc, headers_for_any_origin);
    suite_add_tcase(s, tc);
    return check_run(s, CK_FORK_GETENV);
}
