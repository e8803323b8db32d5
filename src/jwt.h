/* jwt.h — verification of JSON Web Tokens (RFC 7519) in compact JWS form:
 * HS256 with a shared secret, RS256 / ES256 with a PEM public key. Pure:
 * knows nothing of HTTP; the clock is the caller's. */
#ifndef PROXIMITY_JWT_H
#define PROXIMITY_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

typedef struct jwt_verifier jwt_verifier_t;

/* What a verified token says about its bearer. */
typedef struct jwt_claims {
    char sub[256];  /* the subject: the owner of what it creates */
    bool admin;     /* the role claim names the admin role */
} jwt_claims_t;

/* A verifier for tokens signed with secret (HS256; NULL or empty = none)
 * and/or the public key in PEM text (RSA → RS256, EC P-256 → ES256; NULL
 * or empty = none). admin_role is the value of the "role" claim (or a
 * member of a "roles" array) that makes an admin; it is copied. Each
 * algorithm is accepted only with its own kind of key, so a token cannot
 * pick HS256 to be checked against the public key. Returns NULL with err
 * set when a key cannot be used or none is given. */
jwt_verifier_t *jwt_verifier_new(const unsigned char *secret, size_t secret_len, const char *public_pem,
                                 const char *admin_role, char *err, size_t errlen);
void jwt_verifier_free(jwt_verifier_t *v);

/* From now on tokens must carry this iss and/or list this aud (a string
 * or an array of strings); NULL or empty = not checked. Copied. Set it
 * when the key is an identity provider's that signs tokens for other
 * services too. */
void jwt_verifier_expect(jwt_verifier_t *v, const char *issuer, const char *audience);

/* Verifies token at time now: structure, alg (never "none"), signature,
 * then exp (required) and nbf (optional) within leeway_s seconds, and a
 * non-empty string sub. Returns 0 with claims filled, or -1 with a reason
 * in err that is safe to show the client (it never echoes the token). */
int jwt_verify(const jwt_verifier_t *v, const char *token, time_t now, int leeway_s,
               jwt_claims_t *claims, char *err, size_t errlen);

/* Base64url without padding (RFC 7515 §2): decodes in (len bytes) into
 * out (room for len * 3 / 4 + 1 bytes). Returns the decoded length, or -1
 * on any character outside the alphabet, padding or an impossible
 * length. Exposed for the tests. */
long jwt_b64url_decode(const char *in, size_t len, unsigned char *out);

/* Encodes len bytes as base64url without padding into out (room for
 * len * 4 / 3 + 4 bytes, NUL-terminated). Returns the length written. */
size_t jwt_b64url_encode(const unsigned char *in, size_t len, char *out);

#endif
