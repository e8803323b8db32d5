/* it_auth.c — write authentication through the real proximityd and
 * PostgreSQL: 401 without or with a bad token, creates owned by the
 * token's sub, 403 for someone else's listing, admins may change any,
 * reads and search stay public, no key configured = every write 401,
 * and the secret never reaches the log. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jwt_mint.h"
#include "testutil.h"
#include "check_run.h"

static const char *const J = "Content-Type: application/json";
static const char secret[] = "it-auth-secret-0123456789-abcdefghijklmnop";
static tu_server_t srv;
static jwt_mint_key_t *ec;
static char keyfile[300];

static const char *const body =
    "{\"name\":\"Owned\",\"categories\":[\"cafe\"],\"latitude\":52.52,\"longitude\":13.405}";

/* "Authorization: Bearer <token>" for sub (and role), signed with alg
 * ("HS256" with the secret, "ES256" with the key); exp_in seconds from now. */
static char *bearer(const char *alg, const char *sub, const char *role, long exp_in)
{
    char payload[512];
    snprintf(payload, sizeof payload, "{\"sub\":\"%s\",\"exp\":%ld%s%s%s}", sub, (long)time(NULL) + exp_in,
             role ? ",\"role\":\"" : "", role ? role : "", role ? "\"" : "");
    char *tok = jwt_mint_simple(alg, payload, (const unsigned char *)secret, strlen(secret), ec);
    ck_assert_ptr_nonnull(tok);
    char *h = malloc(strlen(tok) + 32);
    sprintf(h, "Authorization: Bearer %s", tok);
    free(tok);
    return h;
}

/* One request with an optional Authorization line; returns the status. */
static long call(const char *method, const char *path, const char *auth, const char *data,
                 tu_response_t *out)
{
    const char *h[] = {J, auth, NULL};
    tu_response_t r;
    ck_assert_int_eq(tu_http(&srv, method, path, h, data, data ? strlen(data) : 0, &r), 0);
    long st = r.status;
    if (out != NULL)
        *out = r;
    else
        tu_response_free(&r);
    return st;
}

static long count_rows(void)
{
    char *n = tu_sql("SELECT count(*) FROM businesses");
    long v = n ? atol(n) : -1;
    free(n);
    return v;
}

static void setup(void)
{
    ck_assert_msg(getenv("PROXIMITY_PRIMARY_URL") != NULL, "run under tests/with-pg");
    ec = jwt_mint_keygen("EC");
    ck_assert_ptr_nonnull(ec);
    char *pem = jwt_mint_public_pem(ec);
    snprintf(keyfile, sizeof keyfile, "/tmp/it_auth_key_%d.pem", (int)getpid());
    FILE *f = fopen(keyfile, "w");
    ck_assert_ptr_nonnull(f);
    fputs(pem, f);
    fclose(f);
    free(pem);
    static char keyarg[350], secretarg[128];
    snprintf(keyarg, sizeof keyarg, "--jwt-public-key-file=%s", keyfile);
    setenv("PROXIMITY_JWT_SECRET", secret, 1); /* from the environment, as in production */
    snprintf(secretarg, sizeof secretarg, "--auth=jwt");
    const char *args[] = {"--threads=2", secretarg, keyarg, NULL};
    ck_assert_int_eq(tu_server_start(&srv, args), 0);
    unsetenv("PROXIMITY_JWT_SECRET");
    ck_assert_msg(tu_wait_ready(&srv, 60), "proximityd not ready within 60 s");
}

static void teardown(void)
{
    tu_server_stop(&srv);
    unlink(keyfile);
    jwt_mint_key_free(ec);
}

START_TEST(refused_without_good_token)
{
    long before = count_rows();
    tu_response_t r;
    ck_assert_int_eq(call("POST", "/v1/businesses", NULL, body, &r), 401);
    ck_assert_ptr_nonnull(tu_header(&r, "WWW-Authenticate"));
    ck_assert_ptr_nonnull(strstr(tu_header(&r, "WWW-Authenticate"), "Bearer"));
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(r.json, "error"), "code")), "UNAUTHORIZED");
    tu_response_free(&r);

    static const char *const bad[] = {
        "Authorization: Basic YWxpY2U6cHc=",
        "Authorization: Bearer ",
        "Authorization: Bearer not.a.token",
        "Authorization: Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSIsImV4cCI6OTk5OTk5OTk5OX0.",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(call("POST", "/v1/businesses", bad[i], body, &r), 401);
        ck_assert_ptr_nonnull(strstr(tu_header(&r, "WWW-Authenticate"), "invalid_token"));
        tu_response_free(&r);
    }
    char *expired = bearer("HS256", "alice", NULL, -3600);
    ck_assert_int_eq(call("POST", "/v1/businesses", expired, body, &r), 401);
    ck_assert_ptr_nonnull(strstr(r.body, "expired"));
    tu_response_free(&r);
    free(expired);
    /* Signed with another secret. */
    char payload[128];
    snprintf(payload, sizeof payload, "{\"sub\":\"alice\",\"exp\":%ld}", (long)time(NULL) + 600);
    static const char other[] = "a-different-secret-of-32-bytes-or-more!!";
    char *tok = jwt_mint_simple("HS256", payload, (const unsigned char *)other, strlen(other), NULL);
    char h[1024];
    snprintf(h, sizeof h, "Authorization: Bearer %s", tok);
    free(tok);
    ck_assert_int_eq(call("POST", "/v1/businesses", h, body, NULL), 401);
    ck_assert_int_eq(count_rows(), before);
}
END_TEST

START_TEST(owner_admin_and_others)
{
    char *alice = bearer("HS256", "alice", NULL, 600);
    char *bob = bearer("ES256", "bob", NULL, 600);
    char *root = bearer("ES256", "root", "admin", 600);
    tu_response_t r;
    char path[64];

    /* A create is owned by sub, whatever the body says. */
    const char *with_owner = "{\"name\":\"Mine\",\"owner\":\"bob\",\"latitude\":1.5,\"longitude\":2.5}";
    ck_assert_int_eq(call("POST", "/v1/businesses", alice, with_owner, &r), 201);
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "owner")), "alice");
    snprintf(path, sizeof path, "%s", tu_header(&r, "Location"));
    tu_response_free(&r);
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT owner FROM businesses WHERE id = %s", strrchr(path, '/') + 1);
    char *owner = tu_sql(sql);
    ck_assert_str_eq(owner, "alice");
    free(owner);

    /* Reads stay public. */
    ck_assert_int_eq(call("GET", path, NULL, NULL, NULL), 200);
    ck_assert_int_eq(call("GET", "/v1/search/nearby?latitude=1.5&longitude=2.5&radius=100", NULL, NULL, NULL), 200);

    /* Someone else: 403 on every change, nothing changes. */
    char *before = tu_sql("SELECT version || name FROM businesses WHERE owner = 'alice' AND name = 'Mine'");
    ck_assert_int_eq(call("PUT", path, bob, "{\"name\":\"Stolen\",\"latitude\":1,\"longitude\":2}", &r), 403);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(r.json, "error"), "code")), "FORBIDDEN");
    tu_response_free(&r);
    ck_assert_int_eq(call("PATCH", path, bob, "{\"name\":\"Stolen\"}", NULL), 403);
    ck_assert_int_eq(call("DELETE", path, bob, NULL, NULL), 403);
    /* Without a token the change is a 401 before anything else. */
    ck_assert_int_eq(call("PATCH", path, NULL, "{\"name\":\"Stolen\"}", NULL), 401);
    ck_assert_int_eq(call("DELETE", path, NULL, NULL, NULL), 401);
    char *after = tu_sql("SELECT version || name FROM businesses WHERE owner = 'alice' AND name = 'Mine'");
    ck_assert_str_eq(before, after);
    free(before);
    free(after);

    /* The owner may; an admin may, and the owner stays. */
    ck_assert_int_eq(call("PATCH", path, alice, "{\"name\":\"Mine, renamed\"}", NULL), 200);
    ck_assert_int_eq(call("PUT", path, root, "{\"name\":\"Moderated\",\"latitude\":1.5,\"longitude\":2.5}", &r), 200);
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "owner")), "alice");
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "name")), "Moderated");
    tu_response_free(&r);
    /* An unknown id is a 404 for anyone authenticated. */
    ck_assert_int_eq(call("DELETE", "/v1/businesses/999999999", bob, NULL, NULL), 404);
    ck_assert_int_eq(call("DELETE", path, alice, NULL, NULL), 204);
    ck_assert_int_eq(call("GET", path, NULL, NULL, NULL), 404);

    /* Bob's own listing, deleted by an admin. */
    ck_assert_int_eq(call("POST", "/v1/businesses", bob, body, &r), 201);
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "owner")), "bob");
    snprintf(path, sizeof path, "%s", tu_header(&r, "Location"));
    tu_response_free(&r);
    ck_assert_int_eq(call("PATCH", path, alice, "{\"name\":\"x\"}", NULL), 403);
    ck_assert_int_eq(call("DELETE", path, root, NULL, NULL), 204);
    free(alice);
    free(bob);
    free(root);
}
END_TEST

START_TEST(secret_not_logged)
{
    char log[400];
    snprintf(log, sizeof log, "%s/proximityd.log", srv.dir);
    FILE *f = fopen(log, "r");
    ck_assert_ptr_nonnull(f);
    char line[8192];
    bool listening = false;
    while (fgets(line, sizeof line, f) != NULL) {
        ck_assert_msg(strstr(line, secret) == NULL, "the secret is in the log: %s", line);
        listening |= strstr(line, "\"auth\":\"jwt\"") != NULL;
    }
    fclose(f);
    ck_assert_msg(listening, "the start-up line does not say auth jwt");
}
END_TEST

START_TEST(no_key_refuses_writes)
{
    tu_server_t bare;
    const char *args[] = {"--threads=1", "--auth=jwt", "--cache-prewarm=0", "--cdc=off", NULL};
    ck_assert_int_eq(tu_server_start(&bare, args), 0);
    const char *h[] = {J, "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.c2ln", NULL};
    tu_response_t r;
    ck_assert_int_eq(tu_http(&bare, "POST", "/v1/businesses", h, body, strlen(body), &r), 0);
    ck_assert_int_eq(r.status, 401);
    ck_assert_ptr_nonnull(strstr(r.body, "no JWT key"));
    tu_response_free(&r);
    ck_assert_int_eq(tu_http(&bare, "GET", "/healthz", NULL, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 200);
    tu_response_free(&r);
    ck_assert_int_eq(tu_server_stop(&bare), 0);

    /* A weak secret or a bad mode stops start-up with a clear error. */
    const char *weak[] = {"--auth=jwt", "--jwt-secret=short", NULL};
    ck_assert_int_ne(tu_server_start(&bare, weak), 0);
    tu_server_stop(&bare);
    const char *mode[] = {"--auth=maybe", NULL};
    ck_assert_int_ne(tu_server_start(&bare, mode), 0);
    tu_server_stop(&bare);
}
END_TEST

static Suite *auth_suite(void)
{
    Suite *s = suite_create("auth");
    TCase *tc = tcase_create("jwt");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, refused_without_good_token);
    tcase_add_test(tc, owner_admin_and_others);
    tcase_add_test(tc, secret_not_logged);
    tcase_add_test(tc, no_key_refuses_writes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_run(auth_suite(), CK_NOFORK);
}
