/* api.c — the route table and the operational endpoints. */
#include "api.h"

#include <string.h>

#include "log.h"

static void healthz(http_request_t *req, void *ctx)
{
    (void)ctx;
    http_respond_json(req, 200, json_pack("{s:s}", "status", "alive"));
}

static void readyz(http_request_t *req, void *ctx)
{
    app_t *app = ctx;
    if (!searcher_ready(app->searcher))
        http_respond_error(req, 503, "NOT_READY", NULL, "the search index is still being built");
    else if (!atomic_load(&app->prewarmed))
        http_respond_error(req, 503, "NOT_READY", NULL, "the business cache is still being filled");
    else if (!store_readable(app->store))
        http_respond_error(req, 503, "NOT_READY", NULL, "no database server is reachable");
    else
        http_respond_json(req, 200, json_pack("{s:s}", "status", "ready"));
}

void api_store_error(http_request_t *req, const store_error_t *err)
{
    char esc[300];

    LOG_WARN("database error", "\"request_id\":\"%s\",\"sqlstate\":\"%s\",\"error\":\"%s\"",
             req->request_id, err->sqlstate, log_esc(esc, sizeof esc, err->message));
    if (err->kind == STORE_ERR_UNAVAILABLE || strcmp(err->sqlstate, "57014") == 0 ||
        strcmp(err->sqlstate, "25006") == 0) {
        http_add_header(req, "Retry-After", "1");
        http_respond_error(req, 503, "SERVICE_UNAVAILABLE", NULL,
                           "the database is unavailable; try again shortly");
    } else if (strcmp(err->sqlstate, "40001") == 0 || strcmp(err->sqlstate, "40P01") == 0) {
        http_respond_error(req, 409, "CONFLICT", NULL, "a concurrent change conflicted; retry");
    } else if (strncmp(err->sqlstate, "22", 2) == 0 || strncmp(err->sqlstate, "23", 2) == 0) {
        /* The C validation should have caught it; the database's own
         * constraints are the backstop. */
        http_respond_error(req, 400, "VALIDATION_ERROR", NULL, "the database refused the data");
    } else {
        http_respond_error(req, 500, "INTERNAL", NULL, "unexpected database error");
    }
}

static const http_route_t routes[] = {
    {"GET", "/healthz", healthz},
    {"GET", "/readyz", readyz},
    {"GET", "/metrics", api_metrics},
    {"GET", "/v1/search/nearby", api_search_nearby},
    {"POST", "/v1/businesses", api_business_create},
    {"GET", "/v1/businesses/{id}", api_business_get},
    {"PUT", "/v1/businesses/{id}", api_business_replace},
    {"PATCH", "/v1/businesses/{id}", api_business_patch},
    {"DELETE", "/v1/businesses/{id}", api_business_delete},
    {NULL, NULL, NULL},
};

const http_route_t *api_routes(void)
{
    return routes;
}
