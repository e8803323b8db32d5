/* cors.c — Cross-Origin Resource Sharing policy and headers (Fetch
 * standard §3.2). */
#include "cors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "field_error.h"
#include "xalloc.h"

#define CORS_MAX_ORIGINS 32

struct cors {
    bool any;
    bool credentials;
    int norigins;
    char *origins[CORS_MAX_ORIGINS];
    char max_age[16];
};

/* What a browser may send besides the CORS-safelisted headers, and what
 * its scripts may read of a response (ETag for If-Match, the consistency
 * token for read-your-writes, Location after a create, the auth challenge,
 * rate-limit state, …). X-API-Key is PROXIMITY_RATE_LIMIT_KEY_HEADER's default. */
static const char *const allow_methods = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";
static const char *const allow_headers =
    "Authorization, Content-Type, Idempotency-Key, If-Match, If-None-Match, X-API-Key, "
    "X-Consistency-Token, X-Request-Id";
static const char *const expose_headers =
    "ETag, Idempotent-Replayed, Location, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, "
    "Retry-After, Server-Timing, WWW-Authenticate, X-Consistency-Token, X-Index-As-Of, "
    "X-Index-Build, X-Request-Id, X-Search-Source";

/* scheme://host[:port], lower-case scheme and host, no path or slash. */
static bool origin_ok(const char *s, size_t n)
{
    const char *sep = memmem(s, n, "://", 3);
    if (sep == NULL || sep == s)
        return false;
    for (const char *p = s; p < sep; p++)
        if (!((*p >= 'a' && *p <= 'z') || (p > s && ((*p >= '0' && *p <= '9') || *p == '+' || *p == '-' || *p == '.'))))
            return false;
    const char *host = sep + 3, *end = s + n;
    if (host == end)
        return false;
    for (const char *p = host; p < end; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' ||
              *p == ':' || *p == '[' || *p == ']'))
            return false;
    return true;
}

cors_t *cors_new(const char *origins, bool credentials, int max_age_s, char *err, size_t errlen)
{
    cors_t *c = xcalloc(1, sizeof *c);
    c->credentials = credentials;
    snprintf(c->max_age, sizeof c->max_age, "%d", max_age_s);
    const char *p = origins ? origins : "";
    while (*p != '\0') {
        while (*p == ' ' || *p == ',')
            p++;
        size_t n = strcspn(p, ", ");
        if (n == 0)
            break;
        if (n == 1 && *p == '*') {
            c->any = true;
        } else if (!origin_ok(p, n)) {
            errbuf_set(err, errlen, "--cors-origins: \"%.*s\" is not an origin (scheme://host[:port], "
                       "lower case, no path)", (int)(n > 100 ? 100 : n), p);
            goto fail;
        } else if (c->norigins == CORS_MAX_ORIGINS) {
            errbuf_set(err, errlen, "--cors-origins: more than %d origins", CORS_MAX_ORIGINS);
            goto fail;
        } else {
            c->origins[c->norigins] = xmalloc(n + 1);
            memcpy(c->origins[c->norigins], p, n);
            c->origins[c->norigins][n] = '\0';
            c->norigins++;
        }
        p += n;
    }
    if (c->any && c->norigins > 0) {
        errbuf_set(err, errlen, "--cors-origins: \"*\" and a list of origins do not mix");
        goto fail;
    }
    /* Credentials for any origin would let every site act as the user:
     * the Fetch standard forbids it, and so do we. */
    if (c->any && credentials) {
        errbuf_set(err, errlen, "--cors-credentials=1 needs a list of origins, not \"*\"");
        goto fail;
    }
    if (credentials && c->norigins == 0) {
        errbuf_set(err, errlen, "--cors-credentials=1 needs --cors-origins");
        goto fail;
    }
    return c;
fail:
    cors_free(c);
    return NULL;
}

void cors_free(cors_t *c)
{
    if (c == NULL)
        return;
    for (int i = 0; i < c->norigins; i++)
        free(c->origins[i]);
    free(c);
}

bool cors_enabled(const cors_t *c)
{
    return c != NULL && (c->any || c->norigins > 0);
}

bool cors_any(const cors_t *c)
{
    return c != NULL && c->any;
}

bool cors_origin_allowed(const cors_t *c, const char *origin)
{
    if (c == NULL || origin == NULL)
        return false;
    if (c->any)
        return true;
    /* Origins compare as strings (scheme and host are lower case). */
    for (int i = 0; i < c->norigins; i++)
        if (strcmp(c->origins[i], origin) == 0)
            return true;
    return false;
}

void cors_headers(const cors_t *c, const char *origin, const char *method, const char *request_method,
                  void (*add)(void *ctx, const char *name, const char *value), void *ctx)
{
    if (!cors_enabled(c))
        return;
    if (!c->any)
        add(ctx, "Vary", "Origin");
    if (!cors_origin_allowed(c, origin))
        return;
    add(ctx, "Access-Control-Allow-Origin", c->any ? "*" : origin);
    if (c->credentials)
        add(ctx, "Access-Control-Allow-Credentials", "true");
    if (method != NULL && strcmp(method, "OPTIONS") == 0 && request_method != NULL) {
        add(ctx, "Access-Control-Allow-Methods", allow_methods);
        add(ctx, "Access-Control-Allow-Headers", allow_headers);
        add(ctx, "Access-Control-Max-Age", c->max_age);
    } else {
        add(ctx, "Access-Control-Expose-Headers", expose_headers);
    }
}
