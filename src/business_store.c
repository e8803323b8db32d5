/* business_store.c — business rows in PostgreSQL. */
#include "business_store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

/* The columns every statement returns, in the order row_to_business reads. */
#define COLUMNS                                                                         \
    "id, owner, name, array_to_string(categories, ','), "                               \
    "ST_Y(location::geometry), ST_X(location::geometry), "                              \
    "street, city, region, postal_code, country, phone, website, price, version, "      \
    "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "     \
    "to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

#define POINT_PARAMS(lat, lng) \
    "ST_SetSRID(ST_MakePoint(" lng "::float8, " lat "::float8), 4326)::geography"

enum { NCOLUMNS = 17 };

static char *opt_text(const char *v)
{
    return v ? xstrdup(v) : NULL;
}

/* Fills b from the COLUMNS of one row as text (NULL = SQL NULL): one
 * reader for query results and COPY streams alike. */
static void fields_to_business(const char *const *f, business_t *b)
{
    memset(b, 0, sizeof *b);
    b->id = strtoll(f[0], NULL, 10);
    b->owner = xstrdup(f[1] ? f[1] : "");
    b->name = xstrdup(f[2] ? f[2] : "");
    /* Category names are slugs from a fixed list: no commas to escape. */
    char *cats = xstrdup(f[3] ? f[3] : ""), *save = NULL;
    for (char *t = strtok_r(cats, ",", &save); t && b->ncategories < BUSINESS_MAX_CATEGORIES;
         t = strtok_r(NULL, ",", &save))
        b->categories[b->ncategories++] = xstrdup(t);
    free(cats);
    b->latitude = strtod(f[4], NULL);
    b->longitude = strtod(f[5], NULL);
    b->street = opt_text(f[6]);
    b->city = opt_text(f[7]);
    b->region = opt_text(f[8]);
    b->postal_code = opt_text(f[9]);
    b->country = opt_text(f[10]);
    b->phone = opt_text(f[11]);
    b->website = opt_text(f[12]);
    b->price = f[13] ? atoi(f[13]) : 0;
    b->version = strtoll(f[14], NULL, 10);
    b->created_at = xstrdup(f[15] ? f[15] : "");
    b->updated_at = xstrdup(f[16] ? f[16] : "");
}

static void row_to_business(const PGresult *r, int row, business_t *b)
{
    const char *f[NCOLUMNS];
    for (int i = 0; i < NCOLUMNS; i++)
        f[i] = PQgetisnull(r, row, i) ? NULL : PQgetvalue(r, row, i);
    fields_to_business(f, b);
}

/* The text parameters of the client-owned fields, $first.. in this order:
 * name, categories, latitude, longitude, street, city, region,
 * postal_code, country, phone, website, price. Strings point into in or
 * into bufs. */
enum { FIELD_PARAMS = 12 };

static void field_params(const business_t *in, const char **p, char bufs[4][1024])
{
    size_t n = 0;
    bufs[0][n++] = '{';
    for (int i = 0; i < in->ncategories; i++)
        n += (size_t)snprintf(bufs[0] + n, 1024 - n, "%s%s", i ? "," : "", in->categories[i]);
    snprintf(bufs[0] + n, 1024 - n, "}");
    snprintf(bufs[1], 1024, "%.17g", in->latitude);
    snprintf(bufs[2], 1024, "%.17g", in->longitude);
    snprintf(bufs[3], 1024, "%d", in->price);
    p[0] = in->name;
    p[1] = bufs[0];
    p[2] = bufs[1];
    p[3] = bufs[2];
    p[4] = in->street;
    p[5] = in->city;
    p[6] = in->region;
    p[7] = in->postal_code;
    p[8] = in->country;
    p[9] = in->phone;
    p[10] = in->website;
    p[11] = in->price ? bufs[3] : NULL;
}

void business_etag(int64_t version, char *buf, size_t len)
{
    snprintf(buf, len, "\"%" PRId64 "\"", version);
}

/* True when the ETag list (or "*") names version. Strong comparison
 * (RFC 9110 §13.1.1) refuses weak tags, as If-Match needs; weak
 * comparison (§13.1.2) ignores the W/ prefix, as If-None-Match needs. */
static bool etag_list_has(const char *list, int64_t version, bool weak)
{
    char tag[32];
    size_t tlen;
    const char *p = list;

    business_etag(version, tag, sizeof tag);
    tlen = strlen(tag);
    while (*p) {
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        if (*p == '*')
            return true;
        if (weak && p[0] == 'W' && p[1] == '/')
            p += 2;
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len == tlen && memcmp(p, tag, tlen) == 0)
            return true;
        p += len;
        while (*p && *p != ',')
            p++;
    }
    return false;
}

bool business_etag_matches(const char *if_match, int64_t version)
{
    return etag_list_has(if_match, version, false);
}

bool business_etag_none_match(const char *if_none_match, int64_t version)
{
    return !etag_list_has(if_none_match, version, true);
}

/* Runs the INSERT/UPDATE … RETURNING of a write, reads the stored row
 * into out and commits; rolls back on any failure. */
static business_store_result_t write_row(store_conn_t *c, const char *sql, const char *const *p,
                                         business_t *out, char *token, store_error_t *err)
{
    PGresult *r = NULL;
    if (store_exec(c, sql, FIELD_PARAMS + 1, p, &r, err) != 0) {
        store_rollback(c);
        return BSTORE_ERROR;
    }
    row_to_business(r, 0, out);
    PQclear(r);
    if (store_commit(c, token, err) != 0) {
        business_clear(out);
        return BSTORE_ERROR;
    }
    return BSTORE_OK;
}

#define INSERT_SQL                                                                           \
    "INSERT INTO businesses (name, categories, location, street, city, region, "               \
    "postal_code, country, phone, website, price, owner) VALUES "                               \
    "($1, $2::text[], " POINT_PARAMS("$3", "$4") ", $5, $6, $7, $8, $9, $10, $11, "             \
    "$12::smallint, $13) RETURNING " COLUMNS

business_store_result_t business_store_create(store_t *s, const char *owner, const business_t *in,
                                              business_t *out, char *token, store_error_t *err)
{
    const char *p[FIELD_PARAMS + 1];
    char bufs[4][1024];

    field_params(in, p, bufs);
    p[FIELD_PARAMS] = owner;
    store_conn_t *c = store_begin(s, err);
    if (c == NULL)
        return BSTORE_ERROR;
    return write_row(c, INSERT_SQL, p, out, token, err);
}

business_store_result_t business_store_insert(store_conn_t *c, const char *owner, const business_t *in,
                                              business_t *out, store_error_t *err)
{
    const char *p[FIELD_PARAMS + 1];
    char bufs[4][1024];
    PGresult *r = NULL;

    field_params(in, p, bufs);
    p[FIELD_PARAMS] = owner;
    if (store_exec(c, INSERT_SQL, FIELD_PARAMS + 1, p, &r, err) != 0)
        return BSTORE_ERROR;
    row_to_business(r, 0, out);
    PQclear(r);
    return BSTORE_OK;
}

business_store_result_t business_store_get(store_t *s, int64_t id, const char *min_token,
                                           business_t *out, store_error_t *err)
{
    char idbuf[24];
    const char *p[1] = {idbuf};
    PGresult *r = NULL;

    snprintf(idbuf, sizeof idbuf, "%" PRId64, id);
    if (store_read(s, min_token, "SELECT " COLUMNS " FROM businesses WHERE id = $1 AND deleted_at IS NULL",
                   1, p, &r, err) != 0)
        return BSTORE_ERROR;
    business_store_result_t res = PQntuples(r) == 1 ? BSTORE_OK : BSTORE_NOT_FOUND;
    if (res == BSTORE_OK)
        row_to_business(r, 0, out);
    PQclear(r);
    return res;
}

/* Opens a transaction holding id's live row locked; checks If-Match.
 * On BSTORE_OK, *cp is the open transaction and current (if not NULL)
 * the row. */
static business_store_result_t lock_current(store_t *s, int64_t id, const char *if_match,
                                            store_conn_t **cp, business_t *current,
                                            store_error_t *err)
{
    char idbuf[24];
    const char *p[1] = {idbuf};
    PGresult *r = NULL;

    snprintf(idbuf, sizeof idbuf, "%" PRId64, id);
    store_conn_t *c = store_begin(s, err);
    if (c == NULL)
        return BSTORE_ERROR;
    if (store_exec(c, "SELECT " COLUMNS " FROM businesses WHERE id = $1 AND deleted_at IS NULL "
                      "FOR UPDATE", 1, p, &r, err) != 0) {
        store_rollback(c);
        return BSTORE_ERROR;
    }
    if (PQntuples(r) != 1) {
        PQclear(r);
        store_rollback(c);
        return BSTORE_NOT_FOUND;
    }
    int64_t version = strtoll(PQgetvalue(r, 0, 14), NULL, 10);
    if (if_match != NULL && !business_etag_matches(if_match, version)) {
        PQclear(r);
        store_rollback(c);
        return BSTORE_PRECONDITION_FAILED;
    }
    if (current != NULL)
        row_to_business(r, 0, current);
    PQclear(r);
    *cp = c;
    return BSTORE_OK;
}

static business_store_result_t update_locked(store_conn_t *c, int64_t id, const business_t *in,
                                             business_t *out, char *token, store_error_t *err)
{
    const char *p[FIELD_PARAMS + 1];
    char bufs[4][1024], idbuf[24];

    field_params(in, p, bufs);
    snprintf(idbuf, sizeof idbuf, "%" PRId64, id);
    p[FIELD_PARAMS] = idbuf;
    return write_row(c,
                     "UPDATE businesses SET name = $1, categories = $2::text[], location = "
                     POINT_PARAMS("$3", "$4") ", street = $5, city = $6, region = $7, "
                     "postal_code = $8, country = $9, phone = $10, website = $11, "
                     "price = $12::smallint WHERE id = $13 RETURNING " COLUMNS,
                     p, out, token, err);
}

business_store_result_t business_store_replace(store_t *s, int64_t id, const business_t *in,
                                               const char *if_match, business_t *out,
                                               char *token, store_error_t *err)
{
    store_conn_t *c = NULL;
    business_store_result_t res = lock_current(s, id, if_match, &c, NULL, err);
    if (res != BSTORE_OK)
        return res;
    return update_locked(c, id, in, out, token, err);
}

business_store_result_t business_store_patch(store_t *s, int64_t id, const json_t *patch,
                                             const char *if_match, business_t *out,
                                             business_error_t *verr, char *token,
                                             store_error_t *err)
{
    store_conn_t *c = NULL;
    business_t current, merged_b;
    business_store_result_t res = lock_current(s, id, if_match, &c, &current, err);
    if (res != BSTORE_OK)
        return res;
    json_t *doc = business_to_json(&current);
    business_clear(&current);
    json_t *merged = business_merge_patch(doc, patch);
    json_decref(doc);
    int rc = business_from_json(merged, &merged_b, verr);
    json_decref(merged);
    if (rc != 0) {
        store_rollback(c);
        return BSTORE_INVALID;
    }
    res = update_locked(c, id, &merged_b, out, token, err);
    business_clear(&merged_b);
    return res;
}

business_store_result_t business_store_delete(store_t *s, int64_t id, const char *if_match,
                                              int64_t *version, char *token, store_error_t *err)
{
    char idbuf[24];
    const char *p[1] = {idbuf};
    store_conn_t *c = NULL;
    business_store_result_t res = lock_current(s, id, if_match, &c, NULL, err);

    if (res != BSTORE_OK)
        return res;
    snprintf(idbuf, sizeof idbuf, "%" PRId64, id);
    PGresult *r = NULL;
    if (store_exec(c, "UPDATE businesses SET deleted_at = now() WHERE id = $1 RETURNING version", 1, p,
                   &r, err) != 0) {
        store_rollback(c);
        return BSTORE_ERROR;
    }
    *version = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return store_commit(c, token, err) == 0 ? BSTORE_OK : BSTORE_ERROR;
}

char *business_store_json(const business_t *b, size_t *len)
{
    json_t *j = business_to_json(b);
    /* The same flags as http_respond_json, so cached and direct answers
     * are byte for byte the same. */
    char *text = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(j);
    if (text == NULL)
        abort(); /* jansson fails only on allocation */
    *len = strlen(text);
    return text;
}

int business_store_fetch(void *ctx, const int64_t *ids, size_t n, cache_fetched_t *out, char *err,
                         size_t errlen)
{
    store_t *s = ctx;
    store_error_t serr;
    PGresult *r = NULL;
    size_t cap = n * 21 + 3, o = 0;
    char *list = xmalloc(cap);

    list[o++] = '{';
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(list + o, cap - o, "%s%" PRId64, i ? "," : "", ids[i]);
    snprintf(list + o, cap - o, "}");
    const char *p[1] = {list};
    int rc = store_read(s, NULL, "SELECT " COLUMNS " FROM businesses WHERE id = ANY($1::bigint[]) "
                        "AND deleted_at IS NULL", 1, p, &r, &serr);
    free(list);
    if (rc != 0) {
        snprintf(err, errlen, "%s", serr.message);
        return -1;
    }
    for (int row = 0; row < PQntuples(r); row++) {
        business_t b;
        row_to_business(r, row, &b);
        for (size_t i = 0; i < n; i++) {
            if (ids[i] == b.id && !out[i].found) {
                out[i].found = true;
                out[i].version = b.version;
                out[i].json = business_store_json(&b, &out[i].len);
                break;
            }
        }
        business_clear(&b);
    }
    PQclear(r);
    return 0;
}

/* Undoes COPY text escaping in place (\\N is NULL, handled by the caller). */
static void copy_unescape(char *s)
{
    char *o = s;
    for (char *p = s; *p; p++) {
        if (*p != '\\' || p[1] == '\0') {
            *o++ = *p;
            continue;
        }
        p++;
        switch (*p) {
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'v': *o++ = '\v'; break;
        case 'x': {
            int v = 0, k = 0;
            while (k < 2 && ((p[1] >= '0' && p[1] <= '9') || (p[1] >= 'a' && p[1] <= 'f') ||
                             (p[1] >= 'A' && p[1] <= 'F'))) {
                char c = *++p;
                v = v * 16 + (c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
                k++;
            }
            *o++ = (char)v;
            break;
        }
        default:
            if (*p >= '0' && *p <= '7') {
                int v = *p - '0', k = 1;
                while (k < 3 && p[1] >= '0' && p[1] <= '7') {
                    v = v * 8 + (*++p - '0');
                    k++;
                }
                *o++ = (char)v;
            } else {
                *o++ = *p; /* \\ and any other escaped character */
            }
        }
    }
    *o = '\0';
}

typedef struct prewarm {
    cache_t *cache;
    long limit, rows;
    size_t max_bytes;
    bool malformed;
} prewarm_t;

static int prewarm_row(void *ctx, char *line, size_t len)
{
    prewarm_t *pw = ctx;
    const char *f[NCOLUMNS];
    char *save = NULL;
    int n = 0;
    (void)len;

    for (char *t = strtok_r(line, "\t", &save); t != NULL && n < NCOLUMNS; t = strtok_r(NULL, "\t", &save)) {
        if (strcmp(t, "\\N") == 0) {
            f[n++] = NULL;
        } else {
            copy_unescape(t);
            f[n++] = t;
        }
    }
    if (n != NCOLUMNS || f[0] == NULL || f[4] == NULL || f[5] == NULL || f[14] == NULL) {
        pw->malformed = true;
        return -1;
    }
    business_t b;
    size_t jlen;
    fields_to_business(f, &b);
    char *json = business_store_json(&b, &jlen);
    cache_put(pw->cache, b.id, b.version, json, jlen);
    business_clear(&b);
    /* Stop at the limit, or once the cache is nearly full: more would
     * only evict what was just loaded. */
    if (++pw->rows >= pw->limit)
        return -1;
    if (pw->rows % 4096 == 0) {
        cache_stats_t st;
        cache_stats(pw->cache, &st);
        if (st.bytes >= pw->max_bytes / 10 * 9)
            return -1;
    }
    return 0;
}

long business_store_prewarm(store_t *s, cache_t *cache, long limit, size_t max_bytes)
{
    prewarm_t pw = {.cache = cache, .limit = limit, .max_bytes = max_bytes};
    store_error_t err;

    if (limit <= 0)
        return 0;
    int rc = store_copy_out(s, NULL, 0, "COPY (SELECT " COLUMNS " FROM businesses WHERE deleted_at IS NULL) TO STDOUT",
                            prewarm_row, &pw, &err);
    if (rc != 0 && (pw.rows == 0 || pw.malformed))
        return -1;
    return pw.rows;
}

/* ---------------------------------------------------------------- owners */

business_store_result_t business_store_owner(store_t *s, int64_t id, char *owner, size_t len,
                                             store_error_t *err)
{
    store_conn_t *c = NULL;
    business_t current;
    business_store_result_t res = lock_current(s, id, NULL, &c, &current, err);
    if (res != BSTORE_OK)
        return res;
    snprintf(owner, len, "%s", current.owner);
    business_clear(&current);
    store_rollback(c); /* read only: the lock ends here */
    return BSTORE_OK;
}
