/* api_business.c — business CRUD over HTTP (DESIGN §3). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "business_store.h"
#include "category.h"
#include "idempotency.h"

/* ------------------------------------------------ who may write (issue 9) */

/* The author of a create: false when answered (401). */
static bool write_principal(http_request_t *req, app_t *app, auth_identity_t *who)
{
    return auth_authenticate(app->auth, req, who);
}

/* The author of a change to id: authenticated, and its owner or an admin.
 * False when answered (401, 403, 404, 503). */
static bool may_change(http_request_t *req, app_t *app, int64_t id)
{
    auth_identity_t who;
    store_error_t err;
    char owner[256];

    if (!auth_authenticate(app->auth, req, &who))
        return false;
    if (who.admin)
        return true;
    business_store_result_t res = business_store_owner(app->store, id, owner, sizeof owner, &err);
    if (res == BSTORE_NOT_FOUND) {
        http_respond_error(req, 404, "NOT_FOUND", NULL, "no business with id %s", req->params[0]);
        return false;
    }
    if (res != BSTORE_OK) {
        api_store_error(req, &err);
        return false;
    }
    if (!auth_may_modify(&who, owner)) {
        http_respond_error(req, 403, "FORBIDDEN", NULL, "only the owner or an admin may change this business");
        return false;
    }
    return true;
}

/* Parses the {id} segment: a positive decimal bigint. */
static bool parse_id(http_request_t *req, int64_t *id)
{
    const char *s = req->params[0];
    size_t n = strlen(s);
    bool ok = n > 0 && n <= 19;
    for (size_t i = 0; ok && i < n; i++)
        ok = s[i] >= '0' && s[i] <= '9';
    unsigned long long v = ok ? strtoull(s, NULL, 10) : 0;
    if (!ok || v == 0 || v > INT64_MAX) {
        http_respond_error(req, 400, "VALIDATION_ERROR", "id", "id must be a positive integer");
        return false;
    }
    *id = (int64_t)v;
    return true;
}

/* Checks the media type (parameters such as charset ignored). */
static bool media_type_is(const char *ct, const char *want)
{
    size_t n = strlen(want);
    if (ct == NULL || strncasecmp(ct, want, n) != 0)
        return false;
    return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

/* Parses the body as a JSON document of an accepted media type; answers
 * 415/400 itself and returns NULL when it cannot. */
static json_t *parse_body(http_request_t *req, bool merge_patch)
{
    const char *ct = http_header(req, "Content-Type");
    if (!media_type_is(ct, "application/json") &&
        !(merge_patch && media_type_is(ct, "application/merge-patch+json"))) {
        http_respond_error(req, 415, "UNSUPPORTED_MEDIA_TYPE", NULL, "send %s",
                           merge_patch ? "application/merge-patch+json or application/json"
                                       : "application/json");
        return NULL;
    }
    json_error_t jerr;
    json_t *doc = json_loadb(req->body ? req->body : "", req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL) {
        http_respond_error(req, 400, "MALFORMED_JSON", NULL, "malformed JSON at line %d column %d: %s",
                           jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    if (!json_is_object(doc)) {
        json_decref(doc);
        http_respond_error(req, 400, "VALIDATION_ERROR", NULL, "the body must be a JSON object");
        return NULL;
    }
    return doc;
}

/* The header that carries consistency tokens both ways (DESIGN §2.5). */
static const char *const token_header = "X-Consistency-Token";

/* The preamble of PUT and PATCH: the id, then the JSON body. NULL when
 * either was refused (answered already). */
static json_t *parse_target(http_request_t *req, app_t *app, bool merge_patch, int64_t *id)
{
    if (!parse_id(req, id) || !may_change(req, app, *id))
        return NULL;
    return parse_body(req, merge_patch);
}

/* Caching of business reads: a browser or CDN may keep a copy but must
 * revalidate it (owners expect their edit on the next load), which the
 * ETag makes cheap. Returns true when the client's copy is current and a
 * 304 without a body has been set. */
static bool not_modified(http_request_t *req, int64_t version)
{
    const char *inm = http_header(req, "If-None-Match");
    http_add_header(req, "Cache-Control", "no-cache");
    if (inm == NULL || business_etag_none_match(inm, version))
        return false;
    char etag[32];
    business_etag(version, etag, sizeof etag);
    http_add_header(req, "ETag", etag);
    http_respond_raw(req, 304, NULL, "", 0);
    return true;
}

static void respond_business(http_request_t *req, unsigned status, const business_t *b,
                             const char *token)
{
    char etag[32];
    business_etag(b->version, etag, sizeof etag);
    http_add_header(req, "ETag", etag);
    if (token != NULL && token[0] != '\0')
        http_add_header(req, token_header, token);
    http_respond_json(req, status, business_to_json(b));
}

/* A write that succeeded here is applied to this replica's cache and
 * index at once, by version, so change events that follow are no-ops. */
static void remember(app_t *app, const business_t *b)
{
    index_point_t p = {.id = b->id, .lat = b->latitude, .lng = b->longitude, .version = b->version};
    for (int i = 0; i < b->ncategories; i++) {
        int bit = category_lookup(b->categories[i], strlen(b->categories[i]));
        if (bit >= 0)
            p.categories |= (category_set_t)1 << bit;
    }
    searcher_upsert(app->searcher, &p);
    size_t len;
    char *json = business_store_json(b, &len);
    cache_put(app->cache, b->id, b->version, json, len);
}

/* The tail every successful replace or patch shares. */
static void respond_updated(http_request_t *req, app_t *app, business_t *out, const char *token)
{
    remember(app, out);
    respond_business(req, 200, out, token);
    business_clear(out);
}

static void respond_invalid(http_request_t *req, const business_error_t *verr)
{
    http_respond_error(req, 400, "VALIDATION_ERROR", verr->field[0] ? verr->field : NULL, "%s",
                       verr->message);
}

/* Answers the outcomes every write shares; false if res was not OK. */
static bool write_outcome(http_request_t *req, business_store_result_t res, const store_error_t *err)
{
    switch (res) {
    case BSTORE_OK:
        return true;
    case BSTORE_NOT_FOUND:
        http_respond_error(req, 404, "NOT_FOUND", NULL, "no business with id %s", req->params[0]);
        break;
    case BSTORE_PRECONDITION_FAILED:
        http_respond_error(req, 412, "PRECONDITION_FAILED", NULL,
                           "If-Match does not match the current ETag; fetch it again");
        break;
    case BSTORE_INVALID: /* answered by the caller */
        break;
    case BSTORE_ERROR:
        api_store_error(req, err);
        break;
    }
    return false;
}

/* ------------------------------------------ Idempotency-Key (issue 9) */

/* Replays a stored response: status, its headers, its body. */
static void respond_stored(http_request_t *req, const idempotency_stored_t *st)
{
    const char *name;
    json_t *v;
    json_object_foreach(st->headers, name, v) {
        if (json_is_string(v))
            http_add_header(req, name, json_string_value(v));
    }
    http_add_header(req, "Idempotent-Replayed", "true");
    http_respond_raw(req, (unsigned)st->status, "application/json", st->body, strlen(st->body));
}

/* POST with Idempotency-Key: the key is claimed in the create's own
 * transaction, so a retry (even a concurrent one) either replays the
 * first response or, if the first failed, creates. */
static void create_idempotent(http_request_t *req, app_t *app, const char *owner, const char *key,
                              const business_t *in)
{
    char fp[65], token[STORE_TOKEN_LEN], location[64], etag[32];
    store_error_t err;
    idempotency_stored_t st;
    business_t out;

    idempotency_fingerprint(req->method, req->path, req->body, req->body_len, fp);
    store_conn_t *c = store_begin(app->store, &err);
    if (c == NULL) {
        api_store_error(req, &err);
        return;
    }
    idempotency_result_t ir = idempotency_claim(c, owner, key, fp, app->cfg->idempotency_ttl_s, &st, &err);
    if (ir == IDEM_REPLAY) {
        /* The primary's position now is past the first commit: a valid
         * consistency token for the replayed create. */
        if (store_commit(c, token, &err) != 0)
            api_store_error(req, &err);
        else {
            if (token[0] != '\0')
                http_add_header(req, token_header, token);
            respond_stored(req, &st);
        }
        idempotency_stored_clear(&st);
        return;
    }
    if (ir != IDEM_NEW) {
        store_rollback(c);
        if (ir == IDEM_ERROR)
            api_store_error(req, &err);
        else
            http_respond_error(req, 422, "IDEMPOTENCY_KEY_REUSED", "Idempotency-Key",
                               "this Idempotency-Key was used for a different request");
        idempotency_stored_clear(&st);
        return;
    }
    if (business_store_insert(c, owner, in, &out, &err) != BSTORE_OK) {
        store_rollback(c);
        api_store_error(req, &err);
        return;
    }
    snprintf(location, sizeof location, "/v1/businesses/%" PRId64, out.id);
    business_etag(out.version, etag, sizeof etag);
    size_t len;
    char *json = business_store_json(&out, &len);
    json_t *hdrs = json_pack("{s:s, s:s}", "Location", location, "ETag", etag);
    /* The consistency token is not stored: a replay gets a fresh one. */
    if (idempotency_save(c, owner, key, 201, hdrs, json, &err) != 0) {
        store_rollback(c);
        api_store_error(req, &err);
    } else if (store_commit(c, token, &err) != 0) {
        api_store_error(req, &err);
    } else {
        remember(app, &out);
        http_add_header(req, "Location", location);
        http_add_header(req, "ETag", etag);
        if (token[0] != '\0')
            http_add_header(req, token_header, token);
        http_respond_owned(req, 201, "application/json", json, len);
        json = NULL;
    }
    free(json);
    json_decref(hdrs);
    business_clear(&out);
}

void api_business_create(http_request_t *req, void *ctx)
{
    app_t *app = ctx;
    if (!api_rate_limit(req, app, true))
        return;
    business_t in, out;
    business_error_t verr;
    store_error_t err;
    char token[STORE_TOKEN_LEN];
    auth_identity_t who;

    if (!write_principal(req, app, &who))
        return;
    json_t *doc = parse_body(req, false);
    if (doc == NULL)
        return;
    int rc = business_from_json(doc, &in, &verr);
    json_decref(doc);
    if (rc != 0) {
        respond_invalid(req, &verr);
        return;
    }
    const char *idem = http_header(req, "Idempotency-Key");
    if (idem != NULL) {
        char key[256];
        if (idempotency_key_parse(idem, key) != 0)
            http_respond_error(req, 400, "VALIDATION_ERROR", "Idempotency-Key",
                               "Idempotency-Key must be 1..255 printable ASCII characters");
        else
            create_idempotent(req, app, who.owner, key, &in);
        business_clear(&in);
        return;
    }
    business_store_result_t res = business_store_create(app->store, who.owner, &in, &out, token, &err);
    business_clear(&in);
    if (!write_outcome(req, res, &err))
        return;
    remember(app, &out);
    char location[64];
    snprintf(location, sizeof location, "/v1/businesses/%" PRId64, out.id);
    http_add_header(req, "Location", location);
    respond_business(req, 201, &out, token);
    business_clear(&out);
}

void api_business_get(http_request_t *req, void *ctx)
{
    app_t *app = ctx;
    if (!api_rate_limit(req, app, false))
        return;
    business_t b;
    store_error_t err;
    int64_t id;

    if (!parse_id(req, &id))
        return;
    const char *token = http_header(req, token_header);
    if (token != NULL && !store_token_valid(token)) {
        http_respond_error(req, 400, "VALIDATION_ERROR", token_header,
                           "%s must be a token from an earlier write's response", token_header);
        return;
    }
    if (token != NULL) {
        /* The client's own write must show: a node that has it, not the cache. */
        business_store_result_t res = business_store_get(app->store, id, token, &b, &err);
        if (!write_outcome(req, res, &err))
            return;
        remember(app, &b);
        if (!not_modified(req, b.version))
            respond_business(req, 200, &b, NULL);
        business_clear(&b);
        return;
    }
    cache_entry_t *e = NULL;
    char msg[256];
    if (cache_get_many(app->cache, &id, NULL, 1, &e, msg, sizeof msg) != 0) {
        err.kind = STORE_ERR_UNAVAILABLE;
        err.sqlstate[0] = '\0';
        snprintf(err.message, sizeof err.message, "%s", msg);
        api_store_error(req, &err);
        return;
    }
    if (e == NULL) {
        http_respond_error(req, 404, "NOT_FOUND", NULL, "no business with id %s", req->params[0]);
        return;
    }
    if (not_modified(req, cache_entry_version(e))) {
        cache_entry_release(e);
        return;
    }
    size_t len;
    const char *json = cache_entry_json(e, &len);
    char etag[32];
    business_etag(cache_entry_version(e), etag, sizeof etag);
    http_add_header(req, "ETag", etag);
    http_respond_raw(req, 200, "application/json", json, len);
    cache_entry_release(e);
}

void api_business_replace(http_request_t *req, void *ctx)
{
    app_t *app = ctx;
    if (!api_rate_limit(req, app, true))
        return;
    business_t in, out;
    business_error_t verr;
    store_error_t err;
    char token[STORE_TOKEN_LEN];
    int64_t id;

    json_t *doc = parse_target(req, app, false, &id);
    if (doc == NULL)
        return;
    int rc = business_from_json(doc, &in, &verr);
    json_decref(doc);
    if (rc != 0) {
        respond_invalid(req, &verr);
        return;
    }
    business_store_result_t res =
        business_store_replace(app->store, id, &in, http_header(req, "If-Match"), &out, token, &err);
    business_clear(&in);
    if (write_outcome(req, res, &err))
        respond_updated(req, app, &out, token);
}

void api_business_patch(http_request_t *req, void *ctx)
{
    app_t *app = ctx;
    if (!api_rate_limit(req, app, true))
        return;
    business_t out;
    business_error_t verr;
    store_error_t err;
    char token[STORE_TOKEN_LEN];
    int64_t id;

    json_t *patch = parse_target(req, app, true, &id);
    if (patch == NULL)
        return;
    business_store_result_t res = business_store_patch(app->store, id, patch,
                                                       http_header(req, "If-Match"), &out, &verr, token, &err);
    json_decref(patch);
    if (res == BSTORE_INVALID) {
        respond_invalid(req, &verr);
        return;
    }
    if (write_outcome(req, res, &err))
        respond_updated(req, app, &out, token);
}

void api_business_delete(http_request_t *req, void *ctx)
{
    app_t *app = ctx;
    if (!api_rate_limit(req, app, true))
        return;
    store_error_t err;
    char token[STORE_TOKEN_LEN];
    int64_t id, version = 0;

    if (!parse_id(req, &id) || !may_change(req, app, id))
        return;
    business_store_result_t res =
        business_store_delete(app->store, id, http_header(req, "If-Match"), &version, token, &err);
    if (!write_outcome(req, res, &err))
        return;
    searcher_remove(app->searcher, id, version);
    cache_remove(app->cache, id, version);
    if (token[0] != '\0')
        http_add_header(req, token_header, token);
    http_respond_raw(req, 204, NULL, "", 0);
}
