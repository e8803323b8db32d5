/* jwt_mint.c — signs test tokens with OpenSSL (the inverse of src/jwt.c). */
#include "jwt_mint.h"

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jwt.h"

struct jwt_mint_key {
    EVP_PKEY *pkey;
    int is_ec;
};

jwt_mint_key_t *jwt_mint_keygen(const char *type)
{
    jwt_mint_key_t *k = calloc(1, sizeof *k);
    if (strcmp(type, "RSA") == 0) {
        k->pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    } else {
        k->pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        k->is_ec = 1;
    }
    if (k->pkey == NULL) {
        free(k);
        return NULL;
    }
    return k;
}

void jwt_mint_key_free(jwt_mint_key_t *k)
{
    if (k == NULL)
        return;
    EVP_PKEY_free(k->pkey);
    free(k);
}

char *jwt_mint_public_pem(const jwt_mint_key_t *k)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data, *out = NULL;
    if (bio != NULL && PEM_write_bio_PUBKEY(bio, k->pkey) == 1) {
        long n = BIO_get_mem_data(bio, &data);
        out = malloc((size_t)n + 1);
        memcpy(out, data, (size_t)n);
        out[n] = '\0';
    }
    BIO_free(bio);
    return out;
}

/* Signs data with the private key; ES256 as raw r||s. */
static int sign_pkey(const jwt_mint_key_t *k, const char *data, size_t len, unsigned char *sig,
                     size_t *siglen)
{
    unsigned char der[600];
    size_t derlen = sizeof der;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx != NULL && EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, k->pkey) == 1 &&
             EVP_DigestSign(ctx, der, &derlen, (const unsigned char *)data, len) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok)
        return -1;
    if (!k->is_ec) {
        memcpy(sig, der, derlen);
        *siglen = derlen;
        return 0;
    }
    const unsigned char *p = der;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)derlen);
    if (es == NULL)
        return -1;
    const BIGNUM *r, *s;
    ECDSA_SIG_get0(es, &r, &s);
    BN_bn2binpad(r, sig, 32);
    BN_bn2binpad(s, sig + 32, 32);
    ECDSA_SIG_free(es);
    *siglen = 64;
    return 0;
}

char *jwt_mint(const char *alg, const char *header_json, const char *payload_json,
               const unsigned char *secret, size_t secret_len, const jwt_mint_key_t *key)
{
    size_t hl = strlen(header_json), pl = strlen(payload_json);
    char *tok = malloc((hl + pl) * 2 + 1024);
    size_t n = jwt_b64url_encode((const unsigned char *)header_json, hl, tok);
    tok[n++] = '.';
    n += jwt_b64url_encode((const unsigned char *)payload_json, pl, tok + n);
    unsigned char sig[600];
    size_t siglen = 0;
    if (strcmp(alg, "HS256") == 0) {
        unsigned int l = 0;
        HMAC(EVP_sha256(), secret, (int)secret_len, (const unsigned char *)tok, n, sig, &l);
        siglen = l;
    } else if (strcmp(alg, "none") != 0) {
        if (key == NULL || sign_pkey(key, tok, n, sig, &siglen) != 0) {
            free(tok);
            return NULL;
        }
    }
    tok[n++] = '.';
    jwt_b64url_encode(sig, siglen, tok + n);
    return tok;
}

char *jwt_mint_simple(const char *alg, const char *payload_json, const unsigned char *secret,
                      size_t secret_len, const jwt_mint_key_t *key)
{
    char header[64];
    snprintf(header, sizeof header, "{\"alg\":\"%s\",\"typ\":\"JWT\"}", alg);
    return jwt_mint(alg, header, payload_json, secret, secret_len, key);
}
