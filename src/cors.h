/* cors.h — Cross-Origin Resource Sharing: which browser origins may call
 * the API, and the headers that tell the browser so. */
#ifndef PROXIMITY_CORS_H
#define PROXIMITY_CORS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct cors cors_t;

/* Parses PROXIMITY_CORS_ORIGINS: "" (no cross-origin access), "*" (any
 * origin, never with credentials), or a comma list of origins
 * ("https://app.example", "http://localhost:3000": scheme, host and an
 * optional port, no path). Returns an owned policy, or NULL with err set
 * when the list is malformed or asks for credentials with "*". */
cors_t *cors_new(const char *origins, bool credentials, int max_age_s, char *err, size_t errlen);
void cors_free(cors_t *c);

/* True when cross-origin access is configured at all. */
bool cors_enabled(const cors_t *c);

/* True when every origin is allowed ("*"). */
bool cors_any(const cors_t *c);

/* True when a request's Origin value may call the API. */
bool cors_origin_allowed(const cors_t *c, const char *origin);

/* The response headers for a request from origin (NULL = none sent) with
 * method and Access-Control-Request-Method (NULL when not a preflight):
 * calls add(ctx, name, value) for each. Adds nothing for an origin that
 * is not allowed, except Vary: Origin, which any response of a per-origin
 * policy needs so that caches keep the answers apart. */
void cors_headers(const cors_t *c, const char *origin, const char *method, const char *request_method,
                  void (*add)(void *ctx, const char *name, const char *value), void *ctx);

#endif
