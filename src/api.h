/* api.h — the HTTP API: routes and the state handlers share. */
#ifndef PROXIMITY_API_H
#define PROXIMITY_API_H

#include <stdatomic.h>

#include "auth.h"
#include "cache.h"
#include "cdc.h"
#include "config.h"
#include "http.h"
#include "searcher.h"
#include "store.h"

/* What every handler gets as its context. */
typedef struct app {
    const config_t *cfg;
    store_t *store;
    searcher_t *searcher;
    cache_t *cache;
    cdc_t *cdc; /* NULL when PROXIMITY_CDC=off */
    atomic_ullong searches_index, searches_postgis, search_errors;
    atomic_bool prewarmed; /* the start-up cache fill is over (or off) */
    auth_t *auth;          /* who may write (auth.c) */
    struct api_limits *limits; /* rate limits per client (api_security.c) */
    atomic_bool draining;  /* SIGTERM arrived: /readyz fails from now on */
    double started_at;     /* wall-clock start, for /metrics */
} app_t;

/* The route table (static storage), for http_server_start. */
const http_route_t *api_routes(void);

/* Business CRUD handlers (api_business.c). */
void api_business_create(http_request_t *req, void *ctx);
void api_business_get(http_request_t *req, void *ctx);
void api_business_replace(http_request_t *req, void *ctx);
void api_business_patch(http_request_t *req, void *ctx);
void api_business_delete(http_request_t *req, void *ctx);

/* GET /v1/search/nearby (api_search.c). */
void api_search_nearby(http_request_t *req, void *ctx);

/* Why /readyz answers 503 now (a static string), or NULL when ready. */
const char *api_not_ready_reason(app_t *app);

/* GET /metrics in Prometheus text format (api_metrics.c). */
void api_metrics(http_request_t *req, void *ctx);

/* The demo page (api_static.c): GET / and /demo serve index.html, GET
 * /static/{file} a file of PROXIMITY_WEB_ROOT (html, js, css, txt). */
void api_static_index(http_request_t *req, void *ctx);
void api_static_file(http_request_t *req, void *ctx);

/* A request carrying X-Consistency-Token: true to go on (*token set to
 * it, or NULL when absent); false when it was answered (a malformed token
 * is a 400; with a change stream, a token this replica has not applied
 * within PROXIMITY_CONSISTENCY_WAIT is a 503 NOT_CAUGHT_UP). */
bool api_consistency(http_request_t *req, app_t *app, const char **token);

/* Rate limits (api_security.c): from cfg, NULL with err set when
 * PROXIMITY_TRUSTED_PROXIES does not parse. */
struct api_limits *api_limits_new(const config_t *cfg, char *err, size_t errlen);
void api_limits_free(struct api_limits *l);

/* Takes a token from the client's read or write bucket and adds the
 * RateLimit-* headers; false when it answered 429 (with Retry-After). */
bool api_rate_limit(http_request_t *req, app_t *app, bool write);

/* GET /debug/index: every live point of the index (PROXIMITY_DEBUG). */
void api_debug_index(http_request_t *req, void *ctx);

/* Answers a store error: 503 when the database is unreachable or timed
 * out, 409 on a serialization conflict, 400 when the database refused the
 * data, 500 otherwise. */
void api_store_error(http_request_t *req, const store_error_t *err);

#endif
