/* auth.h — who is writing: bearer JWTs on write requests (issue 9), the
 * owner and admin checks of PUT/PATCH/DELETE. */
#ifndef PROXIMITY_AUTH_H
#define PROXIMITY_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "http.h"

typedef struct auth auth_t;

/* The principal of a write. */
typedef struct auth_identity {
    char owner[256]; /* the token's sub, or "anonymous" with auth off */
    bool admin;      /* may change anyone's listing */
} auth_identity_t;

/* From cfg: PROXIMITY_AUTH (jwt | off), the secret (PROXIMITY_JWT_SECRET
 * or _SECRET_FILE) and/or PROXIMITY_JWT_PUBLIC_KEY_FILE, leeway, admin
 * role. With jwt and no key every write is refused (401). Returns NULL
 * with err set when the configuration cannot be used (unknown mode, an
 * unreadable file, a weak or unusable key); err never holds the secret. */
auth_t *auth_new(const config_t *cfg, char *err, size_t errlen);
void auth_free(auth_t *a);

/* "off", "jwt" or "jwt-without-key", for the start-up log. */
const char *auth_describe(const auth_t *a);

/* Authenticates a write from its Authorization header. True with *id
 * filled; false when it answered 401 (with WWW-Authenticate). */
bool auth_authenticate(const auth_t *a, http_request_t *req, auth_identity_t *id);

/* May id change a listing owned by owner? (The owner itself or an admin.) */
bool auth_may_modify(const auth_identity_t *id, const char *owner);

#endif
