/* it_idempotency.c — Idempotency-Key on POST /v1/businesses through the
 * real proximityd and PostgreSQL: a retry replays the first response and
 * creates nothing; another body under the key is a 422; parallel retries
 * with one key create exactly once; keys are per principal, expire, and a
 * refused request does not use its key up. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jwt_mint.h"
#include "testutil.h"
#include "check_run.h"

static const char secret[] = "it-idempotency-secret-0123456789-abcdefgh";
static tu_server_t srv;
static char alice[1024], bob[1024];

static void token(char *out, size_t len, const char *sub)
{
    char payload[128];
    snprintf(payload, sizeof payload, "{\"sub\":\"%s\",\"exp\":%ld}", sub, (long)time(NULL) + 3600);
    char *t = jwt_mint_simple("HS256", payload, (const unsigned char *)secret, strlen(secret), NULL);
    snprintf(out, len, "Authorization: Bearer %s", t);
    free(t);
}

static void setup(void)
{
    ck_assert_msg(getenv("PROXIMITY_PRIMARY_URL") != NULL, "run under tests/with-pg");
    static char secretarg[128];
    snprintf(secretarg, sizeof secretarg, "--jwt-secret=%s", secret);
    const char *args[] = {"--threads=4", "--auth=jwt", secretarg, NULL};
    ck_assert_int_eq(tu_server_start(&srv, args), 0);
    ck_assert_msg(tu_wait_ready(&srv, 60), "proximityd not ready within 60 s");
    token(alice, sizeof alice, "alice");
    token(bob, sizeof bob, "bob");
}

static void teardown(void)
{
    tu_server_stop(&srv);
}

static long post(const char *auth, const char *key_header, const char *body, tu_response_t *out)
{
    const char *h[] = {"Content-Type: application/json", auth, key_header, NULL};
    tu_response_t r;
    ck_assert_int_eq(tu_http(&srv, "POST", "/v1/businesses", h, body, strlen(body), &r), 0);
    long st = r.status;
    if (out)
        *out = r;
    else
        tu_response_free(&r);
    return st;
}

static long count_named(const char *name)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM businesses WHERE name = '%s'", name);
    char *v = tu_sql(sql);
    long n = v ? atol(v) : -1;
    free(v);
    return n;
}

START_TEST(retry_replays)
{
    const char *body = "{\"name\":\"Idem One\",\"latitude\":5,\"longitude\":5}";
    const char *k = "Idempotency-Key: \"4f7d9a52-one\"";
    tu_response_t a, b;
    ck_assert_int_eq(post(alice, k, body, &a), 201);
    ck_assert_ptr_null(tu_header(&a, "Idempotent-Replayed"));
    char loc[64], etag[32];
    snprintf(loc, sizeof loc, "%s", tu_header(&a, "Location"));
    snprintf(etag, sizeof etag, "%s", tu_header(&a, "ETag"));
    ck_assert_int_eq(post(alice, k, body, &b), 201);
    ck_assert_str_eq(tu_header(&b, "Idempotent-Replayed"), "true");
    ck_assert_str_eq(tu_header(&b, "Location"), loc);
    ck_assert_str_eq(tu_header(&b, "ETag"), etag);
    ck_assert_ptr_nonnull(tu_header(&b, "X-Consistency-Token"));
    ck_assert_str_eq(a.body, b.body);
    tu_response_free(&a);
    tu_response_free(&b);
    ck_assert_int_eq(count_named("Idem One"), 1);

    /* Another request under the same key: 422, nothing created. */
    ck_assert_int_eq(post(alice, k, "{\"name\":\"Idem Other\",\"latitude\":5,\"longitude\":5}", &a), 422);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(a.json, "error"), "code")),
                     "IDEMPOTENCY_KEY_REUSED");
    tu_response_free(&a);
    ck_assert_int_eq(count_named("Idem Other"), 0);

    /* The same key from another principal is another key. */
    ck_assert_int_eq(post(bob, k, body, &b), 201);
    ck_assert_ptr_null(tu_header(&b, "Idempotent-Replayed"));
    ck_assert_str_ne(tu_header(&b, "Location"), loc);
    tu_response_free(&b);
    ck_assert_int_eq(count_named("Idem One"), 2);
    /* Without a key, the same body creates again. */
    ck_assert_int_eq(post(alice, NULL, body, NULL), 201);
    ck_assert_int_eq(count_named("Idem One"), 3);
}
END_TEST

START_TEST(bad_keys_and_refused_requests)
{
    static const char *const bad[] = {"Idempotency-Key: \"\"", "Idempotency-Key: a\x01b",
                                      "Idempotency-Key: \"a\"b\""};
    const char *body = "{\"name\":\"Idem Bad\",\"latitude\":5,\"longitude\":5}";
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(post(alice, bad[i], body, NULL) == 400, "%s accepted", bad[i]);
    char longkey[300] = "Idempotency-Key: ";
    memset(longkey + strlen(longkey), 'k', 260);
    longkey[sizeof longkey - 1] = '\0';
    ck_assert_int_eq(post(alice, longkey, body, NULL), 400);
    ck_assert_int_eq(count_named("Idem Bad"), 0);
    /* A refused body does not use the key up. */
    const char *k = "Idempotency-Key: refused-first";
    ck_assert_int_eq(post(alice, k, "{\"name\":\"Idem Bad\",\"latitude\":500,\"longitude\":5}", NULL), 400);
    ck_assert_int_eq(post(alice, k, body, NULL), 201);
    ck_assert_int_eq(count_named("Idem Bad"), 1);
    /* Nor does a 401. */
    ck_assert_int_eq(post(NULL, "Idempotency-Key: unauth", body, NULL), 401);
    char *n = tu_sql("SELECT count(*) FROM idempotency_keys WHERE key = 'unauth'");
    ck_assert_str_eq(n, "0");
    free(n);
}
END_TEST

START_TEST(expired_key_creates_again)
{
    const char *body = "{\"name\":\"Idem Expiry\",\"latitude\":6,\"longitude\":6}";
    const char *k = "Idempotency-Key: expiring";
    ck_assert_int_eq(post(alice, k, body, NULL), 201);
    ck_assert_int_eq(post(alice, k, body, NULL), 201);
    ck_assert_int_eq(count_named("Idem Expiry"), 1);
    char *row = tu_sql("SELECT status || ' ' || (expires_at > now() + interval '23 hours') FROM idempotency_keys "
                       "WHERE principal = 'alice' AND key = 'expiring'");
    ck_assert_str_eq(row, "201 true");
    free(row);
    free(tu_sql("UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE key = 'expiring' "
                "RETURNING 1"));
    ck_assert_int_eq(post(alice, k, body, NULL), 201);
    ck_assert_int_eq(count_named("Idem Expiry"), 2);
}
END_TEST

typedef struct racer {
    pthread_barrier_t *go;
    long status;
    char location[64];
    char body[2048];
} racer_t;

static void *race(void *arg)
{
    racer_t *r = arg;
    const char *h[] = {"Content-Type: application/json", alice, "Idempotency-Key: raced-key", NULL};
    const char *body = "{\"name\":\"Idem Race\",\"latitude\":7,\"longitude\":7}";
    tu_response_t resp;
    pthread_barrier_wait(r->go);
    if (tu_http(&srv, "POST", "/v1/businesses", h, body, strlen(body), &resp) == 0) {
        r->status = resp.status;
        const char *l = tu_header(&resp, "Location");
        snprintf(r->location, sizeof r->location, "%s", l ? l : "");
        snprintf(r->body, sizeof r->body, "%s", resp.body ? resp.body : "");
        tu_response_free(&resp);
    }
    return NULL;
}

START_TEST(parallel_retries_create_once)
{
    enum { N = 8 };
    pthread_t t[N];
    racer_t rs[N];
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, N);
    for (int i = 0; i < N; i++) {
        memset(&rs[i], 0, sizeof rs[i]);
        rs[i].go = &go;
        pthread_create(&t[i], NULL, race, &rs[i]);
    }
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&go);
    for (int i = 0; i < N; i++) {
        ck_assert_msg(rs[i].status == 201, "racer %d: %ld %s", i, rs[i].status, rs[i].body);
        ck_assert_str_eq(rs[i].location, rs[0].location);
        ck_assert_str_eq(rs[i].body, rs[0].body);
    }
    ck_assert_int_eq(count_named("Idem Race"), 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("idempotency");
    TCase *tc = tcase_create("keys");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, retry_replays);
    tcase_add_test(tc, bad_keys_and_refused_requests);
    tcase_add_test(tc, expired_key_creates_again);
    tcase_add_test(tc, parallel_retries_create_once);
    suite_add_tcase(s, tc);
    return check_run(s, CK_NOFORK);
}
