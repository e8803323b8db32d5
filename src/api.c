/* api.c — the route table and the operational endpoints. */
#include "api.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "replstream.h"
#include "xalloc.h"

static void healthz(http_request_t *req, void *ctx)
{
    (void)ctx;
    http_respond_json(req, 200, json_pack("{s:s}", "status", "alive"));
}

const char *api_not_ready_reason(app_t *app)
{
    if (atomic_load(&app->draining))
        return "shutting down: draining before exit";
    if (!searcher_ready(app->searcher))
        return "the search index is still being built";
    if (!atomic_load(&app->prewarmed))
        return "the business cache is still being filled";
    if (app->cdc != NULL && !cdc_caught_up(app->cdc, app->cfg->cdc_max_lag_ms))
        return "the change stream is away or lags more than PROXIMITY_CDC_MAX_LAG";
    if (!store_readable(app->store))
        return "no database server is reachable";
    return NULL;
}

static void readyz(http_request_t *req, void *ctx)
{
    const char *why = api_not_ready_reason(ctx);
    if (why != NULL)
        http_respond_error(req, 503, "NOT_READY", NULL, "%s", why);
    else
        http_respond_json(req, 200, json_pack("{s:s}", "status", "ready"));
}

bool api_consistency(http_request_t *req, app_t *app, const char **token)
{
    static const char *const name = "X-Consistency-Token";
    uint64_t lsn;
    *token = http_header(req, name);
    if (*token == NULL)
        return true;
    if (!store_token_valid(*token) || replstream_lsn_parse(*token, &lsn) != 0) {
        http_respond_error(req, 400, "VALIDATION_ERROR", name,
                           "%s must be a token from an earlier write's response", name);
        return false;
    }
    if (app->cdc == NULL || searcher_wait_position(app->searcher, lsn, app->cfg->consistency_wait_ms))
        return true;
    http_add_header(req, "Retry-After", "1");
    http_respond_error(req, 503, "NOT_CAUGHT_UP", name,
                       "this replica has not applied that write yet; retry shortly");
    return false;
}

void api_debug_index(http_request_t *req, void *ctx)
{
    app_t *app = ctx;
    searcher_view_t view;
    index_stats_t st;
    char pos[REPLSTREAM_LSN_LEN];

    if (!app->cfg->debug) {
        http_respond_error(req, 404, "NOT_FOUND", NULL, "no such endpoint");
        return;
    }
    /* Read the position first: the dump is then at least that current. */
    replstream_lsn_format(searcher_position(app->searcher), pos, sizeof pos);
    searcher_acquire(app->searcher, &view);
    if (view.index == NULL) {
        searcher_release(app->searcher, &view);
        http_respond_error(req, 503, "NOT_READY", NULL, "the search index is still being built");
        return;
    }
    index_stats(view.index, &st);
    /* Nearest with no radius and room for all: every live point. */
    index_query_t q = {.lat = 0, .lng = 0, .limit = st.count};
    index_hit_t *hits = xmalloc((st.count + 1) * sizeof *hits);
    size_t n = 0;
    char err[128];
    json_t *pts = json_array();
    if (index_search_nearest(view.index, &q, hits, &n, NULL, err, sizeof err) == 0)
        for (size_t i = 0; i < n; i++)
            json_array_append_new(pts, json_pack("[I,I,f,f]", (json_int_t)hits[i].id,
                                                 (json_int_t)hits[i].version, hits[i].lat, hits[i].lng));
    searcher_release(app->searcher, &view);
    free(hits);
    http_respond_json(req, 200, json_pack("{s:s,s:I,s:o}", "position", pos, "build", (json_int_t)view.build,
                                          "points", pts));
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
    {"GET", "/debug/index", api_debug_index},
    /* the demo page */
    {"GET", "/", api_static_index},
    {"GET", "/demo", api_static_index},
    {"GET", "/static/{file}", api_static_file},
    {NULL, NULL, NULL},
};

const http_route_t *api_routes(void)
{
    return routes;
}
