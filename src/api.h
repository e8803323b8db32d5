/* api.h — the HTTP API: routes and the state handlers share. */
#ifndef PROXIMITY_API_H
#define PROXIMITY_API_H

#include "config.h"
#include "http.h"
#include "store.h"

/* What every handler gets as its context. */
typedef struct app {
    const config_t *cfg;
    store_t *store;
} app_t;

/* The route table (static storage), for http_server_start. */
const http_route_t *api_routes(void);

/* Business CRUD handlers (api_business.c). */
void api_business_create(http_request_t *req, void *ctx);
void api_business_get(http_request_t *req, void *ctx);
void api_business_replace(http_request_t *req, void *ctx);
void api_business_patch(http_request_t *req, void *ctx);
void api_business_delete(http_request_t *req, void *ctx);

/* Answers a store error: 503 when the database is unreachable or timed
 * out, 409 on a serialization conflict, 400 when the database refused the
 * data, 500 otherwise. */
void api_store_error(http_request_t *req, const store_error_t *err);

#endif
