/* jwt.c — JWS compact tokens verified with OpenSSL: HMAC-SHA256 for
 * HS256, EVP_DigestVerify for RS256 and ES256 (whose raw r||s signature
 * is turned into DER first). Claims parsed with jansson. */
#include "jwt.h"

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

/* Longer than any token a client needs; bounds the work a request costs. */
#define JWT_MAX_LEN 8192

typedef enum { ALG_HS256, ALG_RS256, ALG_ES256 } jwt_alg_t;

struct jwt_verifier {
    unsigned char *secret; /* HS256 key, or NULL */
    size_t secret_len;
    EVP_PKEY *pkey;        /* public key, or NULL */
    bool pkey_is_ec;       /* P-256 (ES256) rather than RSA (RS256) */
    char *admin_role;
    char *issuer, *audience; /* NULL = not checked */
};

/* ---------------------------------------------------------------- base64url */

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

long jwt_b64url_decode(const char *in, size_t len, unsigned char *out)
{
    if (len % 4 == 1)
        return -1;
    size_t n = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64_value((unsigned char)in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) /* non-canonical: leftover bits must be zero */
        return -1;
    return (long)n;
}

size_t jwt_b64url_encode(const unsigned char *in, size_t len, char *out)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t n = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        acc = (acc << 8) | in[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[n++] = alphabet[(acc >> bits) & 63];
        }
    }
    if (bits > 0)
        out[n++] = alphabet[(acc << (6 - bits)) & 63];
    out[n] = '\0';
    return n;
}

/* ---------------------------------------------------------------- keys */

jwt_verifier_t *jwt_verifier_new(const unsigned char *secret, size_t secret_len, const char *public_pem,
                                 const char *admin_role, char *err, size_t errlen)
{
    jwt_verifier_t *v = xcalloc(1, sizeof *v);
    v->admin_role = xstrdup(admin_role ? admin_role : "admin");
    if (secret != NULL && secret_len > 0) {
        /* RFC 7518 §3.2: a key at least as long as the hash output. */
        if (secret_len < 32) {
            snprintf(err, errlen, "the HS256 secret must be at least 32 bytes");
            goto fail;
        }
        v->secret = xmalloc(secret_len);
        memcpy(v->secret, secret, secret_len);
        v->secret_len = secret_len;
    }
    if (public_pem != NULL && public_pem[0] != '\0') {
        BIO *bio = BIO_new_mem_buf(public_pem, -1);
        v->pkey = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
        BIO_free(bio);
        if (v->pkey == NULL) {
            snprintf(err, errlen, "the public key is not a PEM public key (BEGIN PUBLIC KEY)");
            goto fail;
        }
        int id = EVP_PKEY_get_base_id(v->pkey);
        if (id == EVP_PKEY_RSA) {
            if (EVP_PKEY_get_bits(v->pkey) < 2048) {
                snprintf(err, errlen, "the RSA public key must have at least 2048 bits");
                goto fail;
            }
        } else if (id == EVP_PKEY_EC) {
            char group[64] = "";
            size_t glen = 0;
            if (EVP_PKEY_get_group_name(v->pkey, group, sizeof group, &glen) != 1 ||
                (strcmp(group, "prime256v1") != 0 && strcmp(group, "P-256") != 0)) {
                snprintf(err, errlen, "the EC public key must be on P-256 (ES256)");
                goto fail;
            }
            v->pkey_is_ec = true;
        } else {
            snprintf(err, errlen, "the public key must be RSA (RS256) or EC P-256 (ES256)");
            goto fail;
        }
    }
    if (v->secret == NULL && v->pkey == NULL) {
        snprintf(err, errlen, "no JWT key: give a secret or a public key");
        goto fail;
    }
    return v;
fail:
    jwt_verifier_free(v);
    return NULL;
}

void jwt_verifier_free(jwt_verifier_t *v)
{
    if (v == NULL)
        return;
    if (v->secret != NULL) {
        OPENSSL_cleanse(v->secret, v->secret_len);
        free(v->secret);
    }
    EVP_PKEY_free(v->pkey);
    free(v->admin_role);
    free(v->issuer);
    free(v->audience);
    free(v);
}

void jwt_verifier_expect(jwt_verifier_t *v, const char *issuer, const char *audience)
{
    free(v->issuer);
    free(v->audience);
    v->issuer = issuer && issuer[0] ? xstrdup(issuer) : NULL;
    v->audience = audience && audience[0] ? xstrdup(audience) : NULL;
}

/* ---------------------------------------------------------------- signatures */

static bool verify_hs256(const jwt_verifier_t *v, const char *data, size_t len,
                         const unsigned char *sig, size_t siglen)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    if (HMAC(EVP_sha256(), v->secret, (int)v->secret_len, (const unsigned char *)data, len, mac,
             &maclen) == NULL)
        return false;
    return siglen == maclen && CRYPTO_memcmp(mac, sig, maclen) == 0;
}

/* ES256 signs as r||s, 32 bytes each (RFC 7518 §3.4); OpenSSL wants DER. */
static unsigned char *es256_der(const unsigned char *sig, size_t siglen, int *derlen)
{
    if (siglen != 64)
        return NULL;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
    unsigned char *der = NULL;
    if (es == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1) {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(es);
        return NULL;
    }
    *derlen = i2d_ECDSA_SIG(es, &der);
    ECDSA_SIG_free(es);
    return *derlen > 0 ? der : NULL;
}

static bool verify_pkey(const jwt_verifier_t *v, const char *data, size_t len,
                        const unsigned char *sig, size_t siglen)
{
    unsigned char *der = NULL;
    int derlen = 0;
    if (v->pkey_is_ec) {
        der = es256_der(sig, siglen, &derlen);
        if (der == NULL)
            return false;
        sig = der;
        siglen = (size_t)derlen;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx != NULL && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, v->pkey) == 1 &&
              EVP_DigestVerify(ctx, sig, siglen, (const unsigned char *)data, len) == 1;
    EVP_MD_CTX_free(ctx);
    OPENSSL_free(der);
    return ok;
}

/* ---------------------------------------------------------------- claims */

/* Decodes one base64url JSON object segment; NULL when it is not one. */
static json_t *decode_json_segment(const char *seg, size_t len)
{
    unsigned char *buf = xmalloc(len * 3 / 4 + 2);
    long n = jwt_b64url_decode(seg, len, buf);
    json_t *doc = n > 0 ? json_loadb((const char *)buf, (size_t)n, JSON_REJECT_DUPLICATES, NULL) : NULL;
    free(buf);
    if (doc != NULL && !json_is_object(doc)) {
        json_decref(doc);
        doc = NULL;
    }
    return doc;
}

/* A NumericDate (RFC 7519 §2): a JSON number of seconds. */
static int numeric_date(const json_t *claims, const char *name, bool required, double *out,
                        char *err, size_t errlen)
{
    const json_t *j = json_object_get(claims, name);
    if (j == NULL) {
        if (required)
            snprintf(err, errlen, "the token has no %s claim", name);
        return required ? -1 : 1;
    }
    if (!json_is_number(j)) {
        snprintf(err, errlen, "the token's %s claim is not a number", name);
        return -1;
    }
    *out = json_number_value(j);
    return 0;
}

static bool role_is_admin(const jwt_verifier_t *v, const json_t *claims)
{
    const json_t *role = json_object_get(claims, "role");
    if (json_is_string(role) && strcmp(json_string_value(role), v->admin_role) == 0)
        return true;
    const json_t *roles = json_object_get(claims, "roles");
    size_t i;
    const json_t *r;
    json_array_foreach(roles, i, r) {
        if (json_is_string(r) && strcmp(json_string_value(r), v->admin_role) == 0)
            return true;
    }
    return false;
}

/* aud is one string or an array of them (RFC 7519 §4.1.3). */
static bool audience_has(const json_t *aud, const char *want)
{
    if (json_is_string(aud))
        return strcmp(json_string_value(aud), want) == 0;
    size_t i;
    const json_t *a;
    json_array_foreach(aud, i, a) {
        if (json_is_string(a) && strcmp(json_string_value(a), want) == 0)
            return true;
    }
    return false;
}

static int check_claims(const jwt_verifier_t *v, const json_t *claims, time_t now, int leeway_s,
                        jwt_claims_t *out, char *err, size_t errlen)
{
    const char *iss = json_string_value(json_object_get(claims, "iss"));
    if (v->issuer != NULL && (iss == NULL || strcmp(iss, v->issuer) != 0)) {
        snprintf(err, errlen, "the token's issuer is not accepted here");
        return -1;
    }
    if (v->audience != NULL && !audience_has(json_object_get(claims, "aud"), v->audience)) {
        snprintf(err, errlen, "the token is not meant for this service (aud)");
        return -1;
    }
    double exp = 0, nbf = 0;
    if (numeric_date(claims, "exp", true, &exp, err, errlen) != 0)
        return -1;
    if ((double)now - leeway_s >= exp) {
        snprintf(err, errlen, "the token has expired");
        return -1;
    }
    int rc = numeric_date(claims, "nbf", false, &nbf, err, errlen);
    if (rc < 0)
        return -1;
    if (rc == 0 && (double)now + leeway_s < nbf) {
        snprintf(err, errlen, "the token is not valid yet (nbf)");
        return -1;
    }
    const json_t *sub = json_object_get(claims, "sub");
    const char *s = json_string_value(sub);
    size_t n = s ? json_string_length(sub) : 0;
    /* strlen != length: an embedded NUL would cut the owner short. */
    if (s == NULL || n == 0 || n >= sizeof out->sub || strlen(s) != n) {
        snprintf(err, errlen, "the token's sub claim must be a non-empty string of under %zu bytes",
                 sizeof out->sub);
        return -1;
    }
    memcpy(out->sub, s, n + 1);
    out->admin = role_is_admin(v, claims);
    return 0;
}

/* ---------------------------------------------------------------- verify */

int jwt_verify(const jwt_verifier_t *v, const char *token, time_t now, int leeway_s,
               jwt_claims_t *claims, char *err, size_t errlen)
{
    json_t *header = NULL, *payload = NULL;
    unsigned char *sig = NULL;
    int rc = -1;

    memset(claims, 0, sizeof *claims);
    size_t len = strnlen(token, JWT_MAX_LEN + 1);
    if (len > JWT_MAX_LEN) {
        snprintf(err, errlen, "the token is longer than %d bytes", JWT_MAX_LEN);
        return -1;
    }
    const char *dot1 = memchr(token, '.', len);
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
    if (dot1 == NULL || dot2 == NULL || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)) != NULL) {
        snprintf(err, errlen, "the token is not header.payload.signature");
        return -1;
    }
    header = decode_json_segment(token, (size_t)(dot1 - token));
    if (header == NULL) {
        snprintf(err, errlen, "the token's header is not base64url JSON");
        goto out;
    }
    const char *alg_name = json_string_value(json_object_get(header, "alg"));
    jwt_alg_t alg;
    if (alg_name == NULL) {
        snprintf(err, errlen, "the token's header has no alg");
        goto out;
    }
    /* The algorithm must fit a key we hold: HS256 only with the secret,
     * RS256/ES256 only with a public key of that type. */
    if (strcmp(alg_name, "HS256") == 0 && v->secret != NULL)
        alg = ALG_HS256;
    else if (strcmp(alg_name, "RS256") == 0 && v->pkey != NULL && !v->pkey_is_ec)
        alg = ALG_RS256;
    else if (strcmp(alg_name, "ES256") == 0 && v->pkey != NULL && v->pkey_is_ec)
        alg = ALG_ES256;
    else {
        snprintf(err, errlen, "the token's algorithm is not accepted here");
        goto out;
    }
    if (json_object_get(header, "crit") != NULL) { /* RFC 7515 §4.1.11: we know no extensions */
        snprintf(err, errlen, "the token's header has crit extensions");
        goto out;
    }
    size_t siglen_b64 = len - (size_t)(dot2 + 1 - token);
    sig = xmalloc(siglen_b64 * 3 / 4 + 2);
    long siglen = jwt_b64url_decode(dot2 + 1, siglen_b64, sig);
    if (siglen <= 0) {
        snprintf(err, errlen, "the token's signature is not base64url");
        goto out;
    }
    size_t signed_len = (size_t)(dot2 - token);
    bool good = alg == ALG_HS256 ? verify_hs256(v, token, signed_len, sig, (size_t)siglen)
                                 : verify_pkey(v, token, signed_len, sig, (size_t)siglen);
    if (!good) {
        snprintf(err, errlen, "the token's signature does not verify");
        goto out;
    }
    payload = decode_json_segment(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    if (payload == NULL) {
        snprintf(err, errlen, "the token's payload is not base64url JSON");
        goto out;
    }
    rc = check_claims(v, payload, now, leeway_s, claims, err, errlen);
out:
    json_decref(header);
    json_decref(payload);
    free(sig);
    return rc;
}
