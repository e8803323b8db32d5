/* api_security.c — rate limits per client on the /v1 endpoints (issue 9):
 * a read and a write token bucket per client, RateLimit-* headers, 429. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "clock.h"
#include "ratelimit.h"
#include "xalloc.h"

struct api_limits {
    ratelimit_t *read, *write; /* NULL = no limit */
    ratelimit_nets_t trusted;
    const char *key_header;    /* NULL = addresses only */
};

static ratelimit_t *limiter(int rate, int burst, int slots)
{
    if (rate <= 0)
        return NULL;
    return ratelimit_new(rate, burst > 0 ? burst : rate, (size_t)slots);
}

struct api_limits *api_limits_new(const config_t *cfg, char *err, size_t errlen)
{
    struct api_limits *l = xcalloc(1, sizeof *l);
    if (ratelimit_nets_parse(cfg->trusted_proxies, &l->trusted) != 0) {
        snprintf(err, errlen, "PROXIMITY_TRUSTED_PROXIES must be a comma list of IPv4 addresses or CIDRs "
                              "(at most 64)");
        free(l);
        return NULL;
    }
    l->read = limiter(cfg->rate_limit_read, cfg->rate_limit_burst, cfg->rate_limit_clients);
    l->write = limiter(cfg->rate_limit_write, cfg->rate_limit_burst, cfg->rate_limit_clients);
    l->key_header = cfg->rate_limit_key_header[0] ? cfg->rate_limit_key_header : NULL;
    return l;
}

void api_limits_free(struct api_limits *l)
{
    if (l == NULL)
        return;
    ratelimit_free(l->read);
    ratelimit_free(l->write);
    free(l);
}

/* "key:<API key>" when the client names itself, else "ip:<address>". */
static void client_key(const struct api_limits *l, const http_request_t *req, char *key, size_t len)
{
    const char *api_key = l->key_header ? http_header(req, l->key_header) : NULL;
    if (api_key != NULL && api_key[0] != '\0' && strlen(api_key) <= 200) {
        snprintf(key, len, "key:%s", api_key);
        return;
    }
    char peer[64], addr[64];
    http_client_ip(req, peer, sizeof peer);
    ratelimit_client_addr(&l->trusted, peer, http_header(req, "X-Forwarded-For"), addr);
    snprintf(key, len, "ip:%s", addr);
}

bool api_rate_limit(http_request_t *req, app_t *app, bool write)
{
    const struct api_limits *l = app->limits;
    ratelimit_t *rl = l == NULL ? NULL : write ? l->write : l->read;
    if (rl == NULL)
        return true;
    char key[256], v[32];
    ratelimit_result_t res;
    client_key(l, req, key, sizeof key);
    ratelimit_take(rl, key, clock_monotonic(), &res);
    snprintf(v, sizeof v, "%ld", res.limit);
    http_add_header(req, "RateLimit-Limit", v);
    snprintf(v, sizeof v, "%ld", res.remaining);
    http_add_header(req, "RateLimit-Remaining", v);
    snprintf(v, sizeof v, "%ld", res.reset_s);
    http_add_header(req, "RateLimit-Reset", v);
    if (res.allowed)
        return true;
    snprintf(v, sizeof v, "%ld", res.retry_after);
    http_add_header(req, "Retry-After", v);
    http_respond_error(req, 429, "RATE_LIMITED", NULL, "too many %s requests from this client; retry in %ld s",
                       write ? "write" : "read", res.retry_after);
    return false;
}
