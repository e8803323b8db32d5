/* jwt_mint.h — test-only JWT signing (HS256, RS256, ES256) with OpenSSL,
 * so tests mint their own tokens instead of carrying fixed ones. */
#ifndef PROXIMITY_JWT_MINT_H
#define PROXIMITY_JWT_MINT_H

#include <stddef.h>

typedef struct jwt_mint_key jwt_mint_key_t;

/* A fresh key pair: "RSA" (2048 bits) or "EC" (P-256). NULL on failure. */
jwt_mint_key_t *jwt_mint_keygen(const char *type);
void jwt_mint_key_free(jwt_mint_key_t *k);

/* The public half in PEM (malloc'd). */
char *jwt_mint_public_pem(const jwt_mint_key_t *k);

/* header.payload.signature for the given header and payload JSON texts:
 * alg "HS256" signs with secret, "RS256"/"ES256" with key, "none" leaves
 * the signature empty. Returns a malloc'd token, or NULL. */
char *jwt_mint(const char *alg, const char *header_json, const char *payload_json,
               const unsigned char *secret, size_t secret_len, const jwt_mint_key_t *key);

/* The common case: {"alg":alg,"typ":"JWT"} over payload_json. */
char *jwt_mint_simple(const char *alg, const char *payload_json, const unsigned char *secret,
                      size_t secret_len, const jwt_mint_key_t *key);

#endif
