/* check_jwt.c — the JWT verifier against tokens minted here: HS256, RS256
 * and ES256, expiry and nbf with leeway, forged and malformed tokens,
 * alg=none and algorithm confusion. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jwt.h"
#include "jwt_mint.h"
#include "check_run.h"

static const unsigned char secret[] = "0123456789abcdef0123456789abcdef-test-secret";
#define SECRET_LEN (sizeof secret - 1)
static const time_t now = 1800000000;
static jwt_mint_key_t *rsa, *ec;
static char *rsa_pem, *ec_pem;

static void keys(void)
{
    if (rsa == NULL) {
        rsa = jwt_mint_keygen("RSA");
        ec = jwt_mint_keygen("EC");
        ck_assert_ptr_nonnull(rsa);
        ck_assert_ptr_nonnull(ec);
        rsa_pem = jwt_mint_public_pem(rsa);
        ec_pem = jwt_mint_public_pem(ec);
    }
}

static jwt_verifier_t *verifier(const char *pem)
{
    char err[256];
    jwt_verifier_t *v = jwt_verifier_new(secret, SECRET_LEN, pem, "admin", err, sizeof err);
    ck_assert_msg(v != NULL, "%s", err);
    return v;
}

/* Verifies tok (freed); returns the rc, claims and reason in *c / err. */
static int check(const jwt_verifier_t *v, char *tok, jwt_claims_t *c, char *err, size_t errlen)
{
    ck_assert_ptr_nonnull(tok);
    int rc = jwt_verify(v, tok, now, 30, c, err, errlen);
    free(tok);
    return rc;
}

static const char *const good = "{\"sub\":\"alice\",\"exp\":1800000600}";

START_TEST(b64url_roundtrip)
{
    unsigned char in[256], dec[256];
    char enc[400];
    for (int i = 0; i < 256; i++)
        in[i] = (unsigned char)(i * 7 + 3);
    for (size_t len = 0; len < 40; len++) {
        size_t n = jwt_b64url_encode(in, len, enc);
        ck_assert_int_eq(jwt_b64url_decode(enc, n, dec), (long)len);
        ck_assert_int_eq(memcmp(in, dec, len), 0);
    }
    ck_assert_int_eq(jwt_b64url_decode("ab=c", 4, dec), -1);  /* padding */
    ck_assert_int_eq(jwt_b64url_decode("ab+c", 4, dec), -1);  /* base64, not url */
    ck_assert_int_eq(jwt_b64url_decode("abcde", 5, dec), -1); /* impossible length */
    ck_assert_int_eq(jwt_b64url_decode("AB", 2, dec), -1);    /* non-zero spare bits */
}
END_TEST

START_TEST(hs256_ok_and_roles)
{
    jwt_verifier_t *v = verifier(NULL);
    jwt_claims_t c;
    char err[256];
    ck_assert_int_eq(check(v, jwt_mint_simple("HS256", good, secret, SECRET_LEN, NULL), &c, err, sizeof err), 0);
    ck_assert_str_eq(c.sub, "alice");
    ck_assert(!c.admin);
    ck_assert_int_eq(check(v, jwt_mint_simple("HS256", "{\"sub\":\"root\",\"exp\":1800000600,\"role\":\"admin\"}",
                                              secret, SECRET_LEN, NULL), &c, err, sizeof err), 0);
    ck_assert(c.admin);
    ck_assert_int_eq(check(v, jwt_mint_simple("HS256", "{\"sub\":\"r\",\"exp\":1800000600,\"roles\":[\"x\",\"admin\"]}",
                                              secret, SECRET_LEN, NULL), &c, err, sizeof err), 0);
    ck_assert(c.admin);
    ck_assert_int_eq(check(v, jwt_mint_simple("HS256", "{\"sub\":\"r\",\"exp\":1800000600,\"role\":\"Admin\"}",
                                              secret, SECRET_LEN, NULL), &c, err, sizeof err), 0);
    ck_assert(!c.admin);
    jwt_verifier_free(v);
}
END_TEST

START_TEST(rs256_and_es256_ok)
{
    keys();
    jwt_claims_t c;
    char err[256];
    jwt_verifier_t *vr = verifier(rsa_pem), *ve = verifier(ec_pem);
    ck_assert_int_eq(check(vr, jwt_mint_simple("RS256", good, NULL, 0, rsa), &c, err, sizeof err), 0);
    ck_assert_str_eq(c.sub, "alice");
    ck_assert_int_eq(check(ve, jwt_mint_simple("ES256", good, NULL, 0, ec), &c, err, sizeof err), 0);
    ck_assert_str_eq(c.sub, "alice");
    /* A key of the other kind, or another key of the same kind, fails. */
    ck_assert_int_eq(check(vr, jwt_mint_simple("ES256", good, NULL, 0, ec), &c, err, sizeof err), -1);
    ck_assert_int_eq(check(ve, jwt_mint_simple("RS256", good, NULL, 0, rsa), &c, err, sizeof err), -1);
    jwt_mint_key_t *other = jwt_mint_keygen("EC");
    ck_assert_int_eq(check(ve, jwt_mint_simple("ES256", good, NULL, 0, other), &c, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "signature"));
    jwt_mint_key_free(other);
    /* Both kinds of key at once: each algorithm with its own. */
    ck_assert_int_eq(check(vr, jwt_mint_simple("HS256", good, secret, SECRET_LEN, NULL), &c, err, sizeof err), 0);
    jwt_verifier_free(vr);
    jwt_verifier_free(ve);
}
END_TEST

START_TEST(times)
{
    jwt_verifier_t *v = verifier(NULL);
    jwt_claims_t c;
    char err[256];
    /* exp 10 s ago: inside the 30 s leeway; 31 s ago: expired. */
    ck_assert_int_eq(check(v, jwt_mint_simple("HS256", "{\"sub\":\"a\",\"exp\":1799999990}", secret, SECRET_LEN, NULL),
                           &c, err, sizeof err), 0);
    ck_assert_int_eq(check(v, jwt_mint_simple("HS256", "{\"sub\":\"a\",\"exp\":1799999969}", secret, SECRET_LEN, NULL),
                           &c, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "expired"));
    ck_assert_int_eq(check(v, jwt_mint_simple("HS256", "{\"sub\":\"a\",\"exp\":1800000600,\"nbf\":1800000020}",
                                              secret, SECRET_LEN, NULL), &c, err, sizeof err), 0);
    ck_assert_int_eq(check(v, jwt_mint_simple("HS256", "{\"sub\":\"a\",\"exp\":1800000600,\"nbf\":1800000100}",
                                              secret, SECRET_LEN, NULL), &c, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "nbf"));
    /* exp is required and must be a number. */
    ck_assert_int_eq(check(v, jwt_mint_simple("HS256", "{\"sub\":\"a\"}", secret, SECRET_LEN, NULL), &c, err, sizeof err), -1);
    ck_assert_int_eq(check(v, jwt_mint_simple("HS256", "{\"sub\":\"a\",\"exp\":\"1800000600\"}", secret, SECRET_LEN, NULL),
                           &c, err, sizeof err), -1);
    jwt_verifier_free(v);
}
END_TEST

START_TEST(forged_and_confused)
{
    keys();
    jwt_claims_t c;
    char err[256];
    jwt_verifier_t *v = verifier(NULL), *vk = NULL;
    static const unsigned char other[] = "another-secret-of-at-least-32-bytes!!";
    ck_assert_int_eq(check(v, jwt_mint_simple("HS256", good, other, sizeof other - 1, NULL), &c, err, sizeof err), -1);
    /* alg=none with an empty signature, and with a copied one. */
    ck_assert_int_eq(check(v, jwt_mint_simple("none", good, NULL, 0, NULL), &c, err, sizeof err), -1);
    ck_assert_int_eq(check(v, jwt_mint("none", "{\"alg\":\"NONE\"}", good, NULL, 0, NULL), &c, err, sizeof err), -1);
    /* A payload swapped under a valid signature. */
    char *t1 = jwt_mint_simple("HS256", good, secret, SECRET_LEN, NULL);
    char *t2 = jwt_mint_simple("HS256", "{\"sub\":\"mallory\",\"exp\":1800000600}", secret, SECRET_LEN, NULL);
    char *d1 = strchr(t1, '.'), *d2 = strchr(t2, '.');
    char spliced[2048];
    snprintf(spliced, sizeof spliced, "%.*s.%.*s%s", (int)(d1 - t1), t1,
             (int)(strrchr(t2, '.') - d2 - 1), d2 + 1, strrchr(t1, '.'));
    ck_assert_int_eq(jwt_verify(v, spliced, now, 30, &c, err, sizeof err), -1);
    free(t1);
    free(t2);
    jwt_verifier_free(v);
    /* Algorithm confusion: with only a public key, an HS256 token signed
     * with the PEM text as the HMAC secret is refused. */
    char e2[256];
    vk = jwt_verifier_new(NULL, 0, rsa_pem, "admin", e2, sizeof e2);
    ck_assert_ptr_nonnull(vk);
    ck_assert_int_eq(check(vk, jwt_mint_simple("HS256", good, (const unsigned char *)rsa_pem, strlen(rsa_pem), NULL),
                           &c, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "algorithm"));
    ck_assert_int_eq(check(vk, jwt_mint_simple("RS256", good, NULL, 0, rsa), &c, err, sizeof err), 0);
    jwt_verifier_free(vk);
}
END_TEST

START_TEST(malformed)
{
    jwt_verifier_t *v = verifier(NULL);
    jwt_claims_t c;
    char err[256];
    static const char *const bad[] = {
        "", ".", "..", "a.b", "a.b.c.d", "!!!.e30.abc", "e30.e30.", "eyJhbGciOiJIUzI1NiJ9.e30.%%%",
        "eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.c2ln", /* payload "not json" */
        "WzFd.e30.c2ln",                          /* header is an array */
        "eyJhbGciOjF9.e30.c2ln",                  /* alg is a number */
        "eyJhbGciOiJIUzI1NiIsImNyaXQiOlsiZXhwIl19.e30.c2ln", /* crit */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(jwt_verify(v, bad[i], now, 30, &c, err, sizeof err) == -1, "accepted \"%s\"", bad[i]);
    /* sub: missing, empty, not a string, with a NUL, too long. */
    static const char *const subs[] = {
        "{\"exp\":1800000600}", "{\"sub\":\"\",\"exp\":1800000600}", "{\"sub\":7,\"exp\":1800000600}",
        "{\"sub\":\"a\\u0000b\",\"exp\":1800000600}",
    };
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
        ck_assert_msg(check(v, jwt_mint_simple("HS256", subs[i], secret, SECRET_LEN, NULL), &c, err, sizeof err) == -1,
                      "accepted %s", subs[i]);
    char longsub[400];
    snprintf(longsub, sizeof longsub, "{\"sub\":\"%0300d\",\"exp\":1800000600}", 1);
    ck_assert_int_eq(check(v, jwt_mint_simple("HS256", longsub, secret, SECRET_LEN, NULL), &c, err, sizeof err), -1);
    /* Duplicate keys are refused rather than resolved either way. */
    ck_assert_int_eq(check(v, jwt_mint_simple("HS256", "{\"sub\":\"a\",\"sub\":\"b\",\"exp\":1800000600}", secret,
                                              SECRET_LEN, NULL), &c, err, sizeof err), -1);
    /* Very long tokens are refused before any work. */
    char *huge = malloc(20000);
    memset(huge, 'a', 19999);
    huge[19999] = '\0';
    ck_assert_int_eq(jwt_verify(v, huge, now, 30, &c, err, sizeof err), -1);
    free(huge);
    jwt_verifier_free(v);
}
END_TEST

START_TEST(issuer_and_audience)
{
    jwt_verifier_t *v = verifier(NULL);
    jwt_claims_t c;
    char err[256];
    /* Not checked until asked for. */
    ck_assert_int_eq(check(v, jwt_mint_simple("HS256", good, secret, SECRET_LEN, NULL), &c, err, sizeof err), 0);
    jwt_verifier_expect(v, "https://idp.example", "proximity");
    ck_assert_int_eq(check(v, jwt_mint_simple("HS256", good, secret, SECRET_LEN, NULL), &c, err, sizeof err), -1);
    static const char *const ok[] = {
        "{\"sub\":\"a\",\"exp\":1800000600,\"iss\":\"https://idp.example\",\"aud\":\"proximity\"}",
        "{\"sub\":\"a\",\"exp\":1800000600,\"iss\":\"https://idp.example\",\"aud\":[\"x\",\"proximity\"]}",
    };
    for (size_t i = 0; i < 2; i++)
        ck_assert_msg(check(v, jwt_mint_simple("HS256", ok[i], secret, SECRET_LEN, NULL), &c, err, sizeof err) == 0,
                      "%s: %s", ok[i], err);
    static const char *const bad[] = {
        "{\"sub\":\"a\",\"exp\":1800000600,\"iss\":\"https://evil.example\",\"aud\":\"proximity\"}",
        "{\"sub\":\"a\",\"exp\":1800000600,\"iss\":\"https://idp.example\",\"aud\":\"other\"}",
        "{\"sub\":\"a\",\"exp\":1800000600,\"iss\":\"https://idp.example\",\"aud\":[\"other\"]}",
        "{\"sub\":\"a\",\"exp\":1800000600,\"iss\":\"https://idp.example\"}",
    };
    for (size_t i = 0; i < 4; i++)
        ck_assert_msg(check(v, jwt_mint_simple("HS256", bad[i], secret, SECRET_LEN, NULL), &c, err, sizeof err) == -1,
                      "accepted %s", bad[i]);
    jwt_verifier_free(v);
}
END_TEST

START_TEST(bad_keys)
{
    char err[256];
    ck_assert_ptr_null(jwt_verifier_new(NULL, 0, NULL, "admin", err, sizeof err));
    ck_assert_ptr_null(jwt_verifier_new((const unsigned char *)"short", 5, NULL, "admin", err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "32"));
    ck_assert_ptr_null(jwt_verifier_new(NULL, 0, "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n",
                                        "admin", err, sizeof err));
}
END_TEST

static Suite *jwt_suite(void)
{
    Suite *s = suite_create("jwt");
    TCase *tc = tcase_create("verify");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, b64url_roundtrip);
    tcase_add_test(tc, hs256_ok_and_roles);
    tcase_add_test(tc, rs256_and_es256_ok);
    tcase_add_test(tc, times);
    tcase_add_test(tc, forged_and_confused);
    tcase_add_test(tc, malformed);
    tcase_add_test(tc, issuer_and_audience);
    tcase_add_test(tc, bad_keys);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int rc = check_run(jwt_suite(), CK_NOFORK);
    jwt_mint_key_free(rsa);
    jwt_mint_key_free(ec);
    free(rsa_pem);
    free(ec_pem);
    return rc;
}
