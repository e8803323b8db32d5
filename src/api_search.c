/* api_search.c — GET /v1/search/nearby: the index (or PostGIS while the
 * index is cold) → one batched hydrate through the cache → the response,
 * spliced from pre-encoded business JSON plus each distance (DESIGN §6). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "category.h"
#include "clock.h"
#include "search_params.h"
#include "xalloc.h"

/* ------------------------------------------------------------ buffer */

typedef struct buf {
    char *p;
    size_t n, cap;
} buf_t;

static void buf_add(buf_t *b, const char *s, size_t len)
{
    if (b->n + len + 1 > b->cap) {
        b->cap = (b->n + len + 1) * 2;
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, len);
    b->n += len;
    b->p[b->n] = '\0';
}

static void buf_str(buf_t *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

/* Appends ,"distance":d} with d rounded to 1e-7 m, in integer arithmetic:
 * printf's float formatting was a tenth of the search path in profiles. */
static void buf_distance(buf_t *b, double d)
{
    char tmp[48], *p = tmp + sizeof tmp;
    uint64_t v = (uint64_t)llround(d * 1e7);
    uint64_t whole = v / 10000000u, frac = v % 10000000u;
    *--p = '}';
    int digits = 7;
    while (digits > 0 && frac % 10 == 0) { /* shortest form: 776.5 not 776.5000000 */
        frac /= 10;
        digits--;
    }
    for (int i = 0; i < digits; i++, frac /= 10)
        *--p = (char)('0' + frac % 10);
    if (digits > 0)
        *--p = '.';
    do {
        *--p = (char)('0' + whole % 10);
        whole /= 10;
    } while (whole > 0);
    static const char key[] = ",\"distance\":";
    p -= sizeof key - 1;
    memcpy(p, key, sizeof key - 1);
    buf_add(b, p, (size_t)(tmp + sizeof tmp - p));
}

/* ------------------------------------------------------------ query args */

typedef struct args {
    search_arg_t v[16];
    size_t n;
    bool too_many;
} args_t;

static int collect(void *ctx, const char *key, const char *value)
{
    args_t *a = ctx;
    if (a->n == sizeof a->v / sizeof a->v[0]) {
        a->too_many = true;
        return 1;
    }
    a->v[a->n].key = key;
    a->v[a->n].value = value;
    a->n++;
    return 0;
}

/* ------------------------------------------------------------ sources */

typedef struct result {
    uint64_t total;
    size_t n;             /* hits to return (<= limit) */
    bool more;            /* another page exists */
    index_hit_t hits[SEARCH_LIMIT_MAX + 1];
} result_t;

static void from_index(index_t *ix, const search_params_t *p, result_t *r)
{
    index_query_t q = {
        .lat = p->lat, .lng = p->lng, .radius_m = p->radius_m,
        .limit = p->limit + 1, /* one more tells whether a next page exists */
        .categories = p->categories, .has_after = p->has_cursor,
        .after_distance_m = p->after_distance_m, .after_id = p->after_id,
    };
    char err[128];
    size_t n = 0;
    int rc = p->nearest ? index_search_nearest(ix, &q, r->hits, &n, &r->total, err, sizeof err)
                        : index_search_radius(ix, &q, r->hits, &n, &r->total, err, sizeof err);
    if (rc != 0)
        n = 0;
    r->more = n > p->limit;
    r->n = r->more ? p->limit : n;
}

/* The same question asked of PostGIS on a read node, on the same sphere
 * (use_spheroid = false), while no index is built yet. */
static int from_postgis(app_t *app, const search_params_t *p, const char *min_token, result_t *r,
                        store_error_t *err)
{
    static const char *const radius_sql =
        "WITH q AS (SELECT ST_SetSRID(ST_MakePoint($2::float8, $1::float8), 4326)::geography AS g), "
        "m AS (SELECT b.id, b.version, ST_Distance(b.location, q.g, false) AS d FROM businesses b, q "
        "      WHERE b.deleted_at IS NULL AND ST_DWithin(b.location, q.g, $3::float8, false) "
        "        AND ($4::text[] IS NULL OR b.categories && $4::text[])) "
        "SELECT (SELECT count(*) FROM m), p.id, p.version, p.d FROM (SELECT 1) one LEFT JOIN "
        "  (SELECT * FROM m WHERE NOT $5::bool OR (d, id) > ($6::float8, $7::bigint) "
        "   ORDER BY d, id LIMIT $8) p ON true ORDER BY p.d, p.id";
    /* Nearest: PostGIS's KNN order (<->, also on the sphere), then exact. */
    static const char *const nearest_sql = /* $3 (radius) unused, but typed for one param list */
        "WITH q AS (SELECT ST_SetSRID(ST_MakePoint($2::float8, $1::float8), 4326)::geography AS g "
        "           WHERE $3::float8 IS NOT NULL) "
        "SELECT (SELECT count(*) FROM businesses b WHERE b.deleted_at IS NULL "
        "          AND ($4::text[] IS NULL OR b.categories && $4::text[])), p.id, p.version, p.d "
        "FROM (SELECT 1) one LEFT JOIN "
        "  (SELECT b.id, b.version, ST_Distance(b.location, q.g, false) AS d FROM businesses b, q "
        "   WHERE b.deleted_at IS NULL AND ($4::text[] IS NULL OR b.categories && $4::text[]) "
        "     AND (NOT $5::bool OR (ST_Distance(b.location, q.g, false), b.id) > ($6::float8, $7::bigint)) "
        "   ORDER BY b.location <-> q.g LIMIT $8) p ON true ORDER BY p.d, p.id";
    char lat[32], lng[32], radius[32], after_d[40], after_id[24], limit[16], cats[1024];
    const char *params[8];
    PGresult *res = NULL;

    snprintf(lat, sizeof lat, "%.17g", p->lat);
    snprintf(lng, sizeof lng, "%.17g", p->lng);
    snprintf(radius, sizeof radius, "%.17g", p->radius_m);
    snprintf(after_d, sizeof after_d, "%.17g", p->after_distance_m);
    snprintf(after_id, sizeof after_id, "%" PRId64, p->after_id);
    snprintf(limit, sizeof limit, "%zu", p->limit + 1);
    size_t o = 0;
    cats[o++] = '{';
    for (size_t i = 0; i < category_count(); i++)
        if (p->categories & ((category_set_t)1 << i))
            o += (size_t)snprintf(cats + o, sizeof cats - o, "%s%s", o > 1 ? "," : "", category_name(i));
    snprintf(cats + o, sizeof cats - o, "}");
    params[0] = lat;
    params[1] = lng;
    params[2] = radius;
    params[3] = p->categories ? cats : NULL;
    params[4] = p->has_cursor ? "true" : "false";
    params[5] = after_d;
    params[6] = after_id;
    params[7] = limit;
    if (store_read(app->store, min_token, p->nearest ? nearest_sql : radius_sql, 8, params, &res, err) != 0)
        return -1;
    r->total = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
    size_t n = 0;
    for (int row = 0; row < PQntuples(res) && n <= p->limit; row++) {
        if (PQgetisnull(res, row, 1))
            continue;
        r->hits[n].id = strtoll(PQgetvalue(res, row, 1), NULL, 10);
        r->hits[n].version = strtoll(PQgetvalue(res, row, 2), NULL, 10);
        r->hits[n].distance_m = strtod(PQgetvalue(res, row, 3), NULL);
        n++;
    }
    PQclear(res);
    r->more = n > p->limit;
    r->n = r->more ? p->limit : n;
    return 0;
}

/* ------------------------------------------------------------ handler */

/* Milliseconds since *t0, which moves on to now. */
static double ms_since(double *t0)
{
    double t1 = clock_monotonic();
    double ms = (t1 - *t0) * 1e3;
    *t0 = t1;
    return ms;
}

void api_search_nearby(http_request_t *req, void *ctx)
{
    app_t *app = ctx;
    if (!api_rate_limit(req, app, false))
        return;
    args_t args = {.n = 0};
    search_params_t p;
    search_error_t perr;
    result_t *r = xmalloc(sizeof *r);
    searcher_view_t view;
    double t;
    char hdr[256];

    http_query_each(req, collect, &args);
    if (args.too_many) {
        http_respond_error(req, 400, "VALIDATION_ERROR", NULL, "too many query parameters");
        goto out;
    }
    if (search_params_parse(args.v, args.n, &p, &perr) != 0) {
        http_respond_error(req, 400, "VALIDATION_ERROR", perr.field[0] ? perr.field : NULL, "%s",
                           perr.message);
        goto out;
    }

    /* A client's own write must show: wait for the stream to bring it
     * here, or, without one, ask a node that has it. */
    const char *token;
    if (!api_consistency(req, app, &token))
        goto out;
    const char *pg_token = app->cdc == NULL ? token : NULL;

    t = clock_monotonic();
    searcher_acquire(app->searcher, &view);
    bool indexed = view.index != NULL && pg_token == NULL;
    if (indexed) {
        from_index(view.index, &p, r);
        atomic_fetch_add(&app->searches_index, 1);
        http_add_header(req, "X-Search-Source", "index");
        snprintf(hdr, sizeof hdr, "%" PRIu64, view.build);
        http_add_header(req, "X-Index-Build", hdr);
        time_t sec = (time_t)view.built_at;
        struct tm tm;
        gmtime_r(&sec, &tm);
        strftime(hdr, sizeof hdr, "%Y-%m-%dT%H:%M:%SZ", &tm);
        http_add_header(req, "X-Index-As-Of", hdr);
    }
    searcher_release(app->searcher, &view);
    if (!indexed) {
        store_error_t err;
        if (from_postgis(app, &p, pg_token, r, &err) != 0) {
            atomic_fetch_add(&app->search_errors, 1);
            api_store_error(req, &err);
            goto out;
        }
        atomic_fetch_add(&app->searches_postgis, 1);
        /* Slow but exact: the client can tell it was not the index. */
        http_add_header(req, "X-Search-Source", "postgis");
    }
    double index_ms = ms_since(&t);

    /* Hydrate every hit in one batch; the index's version is a floor, so a
     * cached copy older than what the index knows is fetched again. */
    int64_t ids[SEARCH_LIMIT_MAX], versions[SEARCH_LIMIT_MAX];
    cache_entry_t *entries[SEARCH_LIMIT_MAX];
    char msg[256];
    for (size_t i = 0; i < r->n; i++) {
        ids[i] = r->hits[i].id;
        versions[i] = r->hits[i].version;
    }
    if (r->n > 0 && cache_get_many(app->cache, ids, versions, r->n, entries, msg, sizeof msg) != 0) {
        store_error_t err = {.kind = STORE_ERR_UNAVAILABLE};
        snprintf(err.message, sizeof err.message, "%s", msg);
        atomic_fetch_add(&app->search_errors, 1);
        api_store_error(req, &err);
        goto out;
    }
    double hydrate_ms = ms_since(&t);

    buf_t b = {NULL, 0, 0};
    char num[64];
    snprintf(num, sizeof num, "{\"total\":%" PRIu64 ",\"businesses\":[", r->total);
    buf_str(&b, num);
    bool first = true;
    for (size_t i = 0; i < r->n; i++) {
        size_t len;
        if (entries[i] == NULL)
            continue; /* deleted since the index saw it */
        const char *json = cache_entry_json(entries[i], &len);
        if (!first)
            buf_add(&b, ",", 1);
        first = false;
        /* "{…}" → "{…,"distance":d}": the stored object minus its brace. */
        buf_add(&b, json, len - 1);
        buf_distance(&b, r->hits[i].distance_m);
        cache_entry_release(entries[i]);
    }
    buf_str(&b, "],\"next_cursor\":");
    if (r->more) {
        char cursor[SEARCH_CURSOR_MAX + 1];
        const index_hit_t *last = &r->hits[r->n - 1];
        search_cursor_encode(&p, last->distance_m, last->id, cursor);
        buf_str(&b, "\"");
        buf_str(&b, cursor);
        buf_str(&b, "\"}");
    } else {
        buf_str(&b, "null}");
    }
    double encode_ms = ms_since(&t);
    snprintf(hdr, sizeof hdr, "index;dur=%.3f, hydrate;dur=%.3f, encode;dur=%.3f", index_ms,
             hydrate_ms, encode_ms);
    http_add_header(req, "Server-Timing", hdr);
    /* Results move with every edit nearby: shareable, but only briefly. */
    http_add_header(req, "Cache-Control", "public, max-age=5");
    http_respond_owned(req, 200, "application/json", b.p, b.n);
out:
    free(r);
}
