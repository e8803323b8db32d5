/* debezium.c — Debezium-style JSON envelopes of businesses rows: encoding
 * (schemas disabled, as the relay produces) and a lenient parser for ours
 * and for genuine Debezium PostgreSQL-connector events. */
#include "debezium.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "field_error.h"
#include "xalloc.h"

#define fail errbuf_set

/* Debezium's version string in source.version: the format we follow. */
#define DEBEZIUM_FORMAT_VERSION "2.1.0.proximity"

/* ------------------------------------------------------------------ */
/* Timestamps                                                           */
/* ------------------------------------------------------------------ */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* n decimal digits at s[*i] into *v. */
static int digits(const char *s, size_t len, size_t *i, int n, int *v)
{
    int x = 0;
    for (int k = 0; k < n; k++, (*i)++) {
        if (*i >= len || s[*i] < '0' || s[*i] > '9')
            return -1;
        x = x * 10 + (s[*i] - '0');
    }
    *v = x;
    return 0;
}

static int expect_char(const char *s, size_t len, size_t *i, char c)
{
    if (*i >= len || s[*i] != c)
        return -1;
    (*i)++;
    return 0;
}

int debezium_ts_parse(const char *s, size_t len, int64_t *us)
{
    size_t i = 0;
    int y, mo, d, h, mi, sec;
    if (digits(s, len, &i, 4, &y) < 0 || expect_char(s, len, &i, '-') < 0 ||
        digits(s, len, &i, 2, &mo) < 0 || expect_char(s, len, &i, '-') < 0 ||
        digits(s, len, &i, 2, &d) < 0)
        return -1;
    if (i >= len || (s[i] != 'T' && s[i] != ' '))
        return -1;
    i++;
    if (digits(s, len, &i, 2, &h) < 0 || expect_char(s, len, &i, ':') < 0 ||
        digits(s, len, &i, 2, &mi) < 0 || expect_char(s, len, &i, ':') < 0 ||
        digits(s, len, &i, 2, &sec) < 0)
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    int64_t frac = 0;
    if (i < len && s[i] == '.') {
        int n = 0;
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, n++)
            if (n < 6)
                frac = frac * 10 + (s[i] - '0');
        if (n == 0 || n > 9)
            return -1;
        for (; n < 6; n++)
            frac *= 10;
    }
    int64_t off_s = 0;
    if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i < len && (s[i] == '+' || s[i] == '-')) {
        int sign = s[i++] == '-' ? -1 : 1, oh, om = 0, os = 0;
        if (digits(s, len, &i, 2, &oh) < 0)
            return -1;
        if (i < len && s[i] == ':')
            i++;
        if (i < len && digits(s, len, &i, 2, &om) < 0)
            return -1;
        if (i < len && s[i] == ':') {
            i++;
            if (digits(s, len, &i, 2, &os) < 0)
                return -1;
        }
        if (oh > 15 || om > 59 || os > 59)
            return -1;
        off_s = sign * (oh * 3600 + om * 60 + os);
    }
    if (i != len)
        return -1;
    int64_t days = days_from_civil(y, (unsigned)mo, (unsigned)d);
    *us = ((days * 86400 + h * 3600 + mi * 60 + sec) - off_s) * 1000000 + frac;
    return 0;
}

char *debezium_ts_format(int64_t us, char *buf, size_t len)
{
    /* Floor division by remainders: negating us overflows at INT64_MIN,
     * which a micro-epoch integer in an envelope may be (fuzz/regress). */
    int64_t s = us / 1000000, frac = us % 1000000;
    if (frac < 0) {
        frac += 1000000;
        s--;
    }
    int64_t days = s / 86400, rem = s % 86400, y;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    snprintf(buf, len, "%04" PRId64 "-%02u-%02uT%02d:%02d:%02d.%06dZ", y, m, d, (int)(rem / 3600),
             (int)(rem / 60 % 60), (int)(rem % 60), (int)frac);
    return buf;
}

/* ------------------------------------------------------------------ */
/* Base64 and the location                                              */
/* ------------------------------------------------------------------ */

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void base64_encode(const uint8_t *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) |
                     (i + 2 < n ? in[i + 2] : 0);
        out[o++] = b64chars[v >> 18 & 63];
        out[o++] = b64chars[v >> 12 & 63];
        out[o++] = i + 1 < n ? b64chars[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? b64chars[v & 63] : '=';
    }
    out[o] = '\0';
}

static int b64val(char c)
{
    const char *p = c ? strchr(b64chars, c) : NULL;
    return p ? (int)(p - b64chars) : -1;
}

/* Decodes standard base64 (padding optional) into out (cap bytes);
 * returns the length, or -1. */
static int base64_decode(const char *s, size_t len, uint8_t *out, size_t cap)
{
    while (len > 0 && s[len - 1] == '=')
        len--;
    if (len % 4 == 1)
        return -1;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64val(s[i]);
        if (v < 0)
            return -1;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o == cap)
                return -1;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    return (int)o;
}

/* Little-endian EWKB of a point with SRID 4326, as PostGIS sends it. */
static void ewkb_point(double lng, double lat, uint8_t out[25])
{
    static const uint8_t head[9] = {0x01, 0x01, 0x00, 0x00, 0x20, 0xE6, 0x10, 0x00, 0x00};
    memcpy(out, head, sizeof head);
    uint64_t x, y;
    memcpy(&x, &lng, 8);
    memcpy(&y, &lat, 8);
    for (int i = 0; i < 8; i++) {
        out[9 + i] = (uint8_t)(x >> (8 * i));
        out[17 + i] = (uint8_t)(y >> (8 * i));
    }
}

static int location_from_bytes(const uint8_t *b, size_t n, pgoutput_business_t *row, char *err,
                               size_t errlen)
{
    static const char hexd[] = "0123456789abcdef";
    char hex[2 * 64 + 1];
    if (n > 64)
        return fail(err, errlen, "location: WKB too long for a point");
    for (size_t i = 0; i < n; i++) {
        hex[2 * i] = hexd[b[i] >> 4];
        hex[2 * i + 1] = hexd[b[i] & 15];
    }
    hex[2 * n] = '\0';
    int32_t srid;
    char sub[128];
    if (pgoutput_ewkb_point(hex, 2 * n, &row->lng, &row->lat, &srid, sub, sizeof sub) < 0)
        return fail(err, errlen, "location: %s", sub);
    if (srid != 0 && srid != 4326)
        return fail(err, errlen, "location: SRID %d, expected 4326", (int)srid);
    return 0;
}

static int parse_location(json_t *v, pgoutput_business_t *row, char *err, size_t errlen)
{
    if (json_is_string(v)) { /* hex EWKB text, as PostgreSQL prints it */
        int32_t srid;
        char sub[128];
        if (pgoutput_ewkb_point(json_string_value(v), json_string_length(v), &row->lng, &row->lat,
                                &srid, sub, sizeof sub) < 0)
            return fail(err, errlen, "location: %s", sub);
        if (srid != 0 && srid != 4326)
            return fail(err, errlen, "location: SRID %d, expected 4326", (int)srid);
    } else if (json_is_object(v)) { /* io.debezium.data.geometry.Geography */
        json_t *wkb = json_object_get(v, "wkb"), *srid = json_object_get(v, "srid");
        uint8_t b[64];
        if (!json_is_string(wkb))
            return fail(err, errlen, "location: \"wkb\" must be a base64 string");
        if (srid && !json_is_null(srid) &&
            (!json_is_integer(srid) || (json_integer_value(srid) != 4326 && json_integer_value(srid) != 0)))
            return fail(err, errlen, "location: \"srid\" must be 4326");
        int n = base64_decode(json_string_value(wkb), json_string_length(wkb), b, sizeof b);
        if (n < 0)
            return fail(err, errlen, "location: \"wkb\" is not base64 of a point");
        if (location_from_bytes(b, (size_t)n, row, err, errlen) < 0)
            return -1;
    } else {
        return fail(err, errlen, "location: expected {\"wkb\",\"srid\"} or hex EWKB text");
    }
    if (!(row->lat >= -90 && row->lat <= 90 && row->lng >= -180 && row->lng <= 180))
        return fail(err, errlen, "location: out of range");
    row->has_location = true;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Columns                                                              */
/* ------------------------------------------------------------------ */

typedef enum { C_ID, C_VERSION, C_PRICE, C_LOCATION, C_CATEGORIES, C_TS, C_STR } ctype_t;

static const struct {
    const char *name;
    uint32_t bit;
    ctype_t type;
    size_t off; /* of the char * for C_STR and C_TS */
} cols[] = {
    {"id", PGOUTPUT_BF_ID, C_ID, 0},
    {"owner", PGOUTPUT_BF_OWNER, C_STR, offsetof(pgoutput_business_t, owner)},
    {"name", PGOUTPUT_BF_NAME, C_STR, offsetof(pgoutput_business_t, name)},
    {"categories", PGOUTPUT_BF_CATEGORIES, C_CATEGORIES, 0},
    {"street", PGOUTPUT_BF_STREET, C_STR, offsetof(pgoutput_business_t, street)},
    {"city", PGOUTPUT_BF_CITY, C_STR, offsetof(pgoutput_business_t, city)},
    {"region", PGOUTPUT_BF_REGION, C_STR, offsetof(pgoutput_business_t, region)},
    {"postal_code", PGOUTPUT_BF_POSTAL_CODE, C_STR, offsetof(pgoutput_business_t, postal_code)},
    {"country", PGOUTPUT_BF_COUNTRY, C_STR, offsetof(pgoutput_business_t, country)},
    {"phone", PGOUTPUT_BF_PHONE, C_STR, offsetof(pgoutput_business_t, phone)},
    {"website", PGOUTPUT_BF_WEBSITE, C_STR, offsetof(pgoutput_business_t, website)},
    {"price", PGOUTPUT_BF_PRICE, C_PRICE, 0},
    {"location", PGOUTPUT_BF_LOCATION, C_LOCATION, 0},
    {"version", PGOUTPUT_BF_VERSION, C_VERSION, 0},
    {"deleted_at", PGOUTPUT_BF_DELETED_AT, C_TS, offsetof(pgoutput_business_t, deleted_at)},
    {"created_at", PGOUTPUT_BF_CREATED_AT, C_TS, offsetof(pgoutput_business_t, created_at)},
    {"updated_at", PGOUTPUT_BF_UPDATED_AT, C_TS, offsetof(pgoutput_business_t, updated_at)},
};
#define NCOLS (sizeof cols / sizeof cols[0])

static char **str_field(pgoutput_business_t *b, size_t k)
{
    return (char **)((char *)b + cols[k].off);
}

/* A timestamp in the API's form, from ISO/PostgreSQL text or micro-epoch. */
static int parse_ts(json_t *v, char **out)
{
    int64_t us;
    char buf[DEBEZIUM_TS_LEN];
    if (json_is_integer(v))
        us = (int64_t)json_integer_value(v);
    else if (!json_is_string(v) ||
             debezium_ts_parse(json_string_value(v), json_string_length(v), &us) < 0)
        return -1;
    *out = xstrdup(debezium_ts_format(us, buf, sizeof buf));
    return 0;
}

static int parse_categories(json_t *v, pgoutput_business_t *b, char *err, size_t errlen)
{
    if (json_is_string(v)) { /* a text[] literal, if a converter left it as text */
        char sub[128];
        if (pgoutput_text_array_parse(json_string_value(v), json_string_length(v), &b->categories,
                                      &b->ncategories, sub, sizeof sub) < 0)
            return fail(err, errlen, "categories: %s", sub);
        for (size_t i = 0; i < b->ncategories; i++)
            if (!b->categories[i])
                return fail(err, errlen, "categories: NULL element");
        return 0;
    }
    if (!json_is_array(v))
        return fail(err, errlen, "categories: expected an array of strings");
    size_t n = json_array_size(v);
    b->categories = xcalloc(n ? n : 1, sizeof *b->categories);
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(v, i);
        if (!json_is_string(e))
            return fail(err, errlen, "categories[%zu]: expected a string", i);
        b->categories[i] = xstrdup(json_string_value(e));
        b->ncategories = i + 1;
    }
    return 0;
}

static int parse_col(pgoutput_business_t *b, size_t k, json_t *v, char *err, size_t errlen)
{
    const char *name = cols[k].name;
    b->present |= cols[k].bit;
    if (json_is_null(v))
        return 0;
    switch (cols[k].type) {
    case C_ID:
        if (!json_is_integer(v) || json_integer_value(v) <= 0)
            return fail(err, errlen, "id: expected a positive integer");
        b->id = (int64_t)json_integer_value(v);
        return 0;
    case C_VERSION:
        if (!json_is_integer(v))
            return fail(err, errlen, "version: expected an integer");
        b->version = (int64_t)json_integer_value(v);
        return 0;
    case C_PRICE:
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 4)
            return fail(err, errlen, "price: expected 1..4");
        b->price = (int)json_integer_value(v);
        return 0;
    case C_LOCATION:
        return parse_location(v, b, err, errlen);
    case C_CATEGORIES:
        return parse_categories(v, b, err, errlen);
    case C_TS:
        if (parse_ts(v, str_field(b, k)) < 0)
            return fail(err, errlen, "%s: expected an ISO 8601 timestamp or microseconds", name);
        if (cols[k].bit == PGOUTPUT_BF_DELETED_AT)
            b->deleted = true;
        return 0;
    case C_STR:
        if (!json_is_string(v))
            return fail(err, errlen, "%s: expected a string", name);
        *str_field(b, k) = xstrdup(json_string_value(v));
        return 0;
    }
    return 0;
}

/* A row object ("before" or "after"); unknown members are ignored, since
 * a Debezium topic may carry columns this service does not use. */
static int parse_row(json_t *obj, const char *which, pgoutput_business_t *b, char *err,
                     size_t errlen)
{
    char sub[192];
    if (!json_is_object(obj))
        return fail(err, errlen, "%s: expected an object", which);
    for (size_t k = 0; k < NCOLS; k++) {
        json_t *v = json_object_get(obj, cols[k].name);
        if (v && parse_col(b, k, v, sub, sizeof sub) < 0)
            return fail(err, errlen, "%s.%s", which, sub);
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Encoding                                                             */
/* ------------------------------------------------------------------ */

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* A PostgreSQL timestamptz text as the API's ISO form; text that does not
 * parse is passed on unchanged rather than lost. */
static json_t *ts_json(const char *s)
{
    int64_t us;
    char buf[DEBEZIUM_TS_LEN];
    if (!s)
        return json_null();
    if (debezium_ts_parse(s, strlen(s), &us) == 0)
        return json_string(debezium_ts_format(us, buf, sizeof buf));
    return json_string(s);
}

static json_t *row_json(const pgoutput_business_t *b)
{
    json_t *o = json_object();
    for (size_t k = 0; k < NCOLS; k++) {
        if (!(b->present & cols[k].bit))
            continue;
        json_t *v = NULL;
        switch (cols[k].type) {
        case C_ID:
            v = json_integer(b->id);
            break;
        case C_VERSION:
            v = json_integer(b->version);
            break;
        case C_PRICE:
            v = b->price ? json_integer(b->price) : json_null();
            break;
        case C_LOCATION:
            if (b->has_location) {
                uint8_t wkb[25];
                char b64[40];
                ewkb_point(b->lng, b->lat, wkb);
                base64_encode(wkb, sizeof wkb, b64);
                v = json_pack("{s:s,s:i}", "wkb", b64, "srid", 4326);
            } else {
                v = json_null();
            }
            break;
        case C_CATEGORIES:
            v = json_array();
            for (size_t i = 0; i < b->ncategories; i++)
                json_array_append_new(v, str_or_null(b->categories[i]));
            break;
        case C_TS:
            v = ts_json(*str_field((pgoutput_business_t *)b, k));
            break;
        case C_STR:
            v = str_or_null(*str_field((pgoutput_business_t *)b, k));
            break;
        }
        json_object_set_new(o, cols[k].name, v ? v : json_null());
    }
    return o;
}

char *debezium_key_new(int64_t id)
{
    char buf[48];
    snprintf(buf, sizeof buf, "{\"id\":%" PRId64 "}", id);
    return xstrdup(buf);
}

char *debezium_value_new(debezium_op_t op, const pgoutput_business_t *before,
                         const pgoutput_business_t *after, const debezium_source_t *src,
                         int64_t ts_ms, size_t *len, char *err, size_t errlen)
{
    bool ok = (op == DEBEZIUM_CREATE || op == DEBEZIUM_READ)   ? after != NULL
              : op == DEBEZIUM_UPDATE                          ? after != NULL
              : op == DEBEZIUM_DELETE                          ? before != NULL && after == NULL
              : op == DEBEZIUM_TRUNCATE                        ? !before && !after
                                                               : false;
    if (!ok) {
        fail(err, errlen, "op '%c' with these rows is not an envelope", (char)op);
        return NULL;
    }
    char opc[2] = {(char)op, '\0'};
    json_t *source = json_pack(
        "{s:s,s:s,s:s,s:I,s:s,s:s,s:s,s:s,s:o,s:I}", "version", DEBEZIUM_FORMAT_VERSION,
        "connector", "postgresql", "name", src->name ? src->name : "proximity", "ts_ms",
        (json_int_t)src->ts_ms, "snapshot", src->snapshot ? "true" : "false", "db",
        src->db ? src->db : "", "schema", src->schema ? src->schema : "public", "table",
        src->table ? src->table : "businesses", "txId",
        src->txid ? json_integer(src->txid) : json_null(), "lsn", (json_int_t)src->lsn);
    json_t *env = json_pack("{s:o,s:o,s:o,s:s,s:I}", "before", before ? row_json(before) : json_null(),
                            "after", after ? row_json(after) : json_null(), "source", source, "op",
                            opc, "ts_ms", (json_int_t)ts_ms);
    char *out = json_dumps(env, JSON_COMPACT);
    json_decref(env);
    if (!out) {
        fail(err, errlen, "JSON encoding failed");
        return NULL;
    }
    *len = strlen(out);
    return out;
}

/* ------------------------------------------------------------------ */
/* Parsing                                                              */
/* ------------------------------------------------------------------ */

void debezium_event_clear(debezium_event_t *ev)
{
    pgoutput_business_clear(&ev->row);
    memset(ev, 0, sizeof *ev);
}

/* The payload of a schema-enabled message, else the message itself. */
static json_t *payload_of(json_t *root)
{
    json_t *p = json_object_get(root, "payload");
    if (p && json_object_get(root, "schema"))
        return p;
    return root;
}

static json_t *load(const char *s, size_t len, char *err, size_t errlen)
{
    json_error_t je;
    json_t *root = json_loadb(s, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        fail(err, errlen, "not JSON: %s (at %d)", je.text, je.position);
    return root;
}

int debezium_key_parse(const char *key, size_t len, int64_t *id, char *err, size_t errlen)
{
    json_t *root = load(key, len, err, errlen);
    if (!root)
        return -1;
    json_t *p = json_is_object(root) ? payload_of(root) : NULL;
    json_t *v = json_is_object(p) ? json_object_get(p, "id") : NULL;
    int rc = 0;
    if (!json_is_integer(v) || json_integer_value(v) <= 0)
        rc = fail(err, errlen, "key: expected {\"id\":N} with N > 0");
    else
        *id = (int64_t)json_integer_value(v);
    json_decref(root);
    return rc;
}

/* A position as Debezium writes it (a Java long: 0..INT64_MAX, the number
 * or "X/Y"); larger values are refused, so what we write back (a JSON
 * integer) always parses again. */
static int parse_lsn(json_t *v, uint64_t *lsn)
{
    if (!v || json_is_null(v))
        return 0;
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *lsn = (uint64_t)json_integer_value(v);
        return 0;
    }
    if (!json_is_string(v))
        return -1;
    const char *s = json_string_value(v), *slash = strchr(s, '/');
    char *end;
    if (slash) { /* "X/Y" */
        unsigned long long hi = strtoull(s, &end, 16);
        if (end != slash || slash == s || hi > UINT32_MAX || !slash[1])
            return -1;
        unsigned long long lo = strtoull(slash + 1, &end, 16);
        if (*end || lo > UINT32_MAX || slash[1] == '-' || slash[1] == '+' || s[0] == '-' || s[0] == '+')
            return -1;
        if (hi > INT32_MAX)
            return -1;
        *lsn = (uint64_t)hi << 32 | lo;
        return 0;
    }
    if (!*s || *s == '-' || *s == '+')
        return -1;
    errno = 0;
    unsigned long long n = strtoull(s, &end, 10);
    if (*end || errno == ERANGE || n > INT64_MAX)
        return -1;
    *lsn = n;
    return 0;
}

static int parse_source(json_t *src, debezium_event_t *ev, char *err, size_t errlen)
{
    if (!src || json_is_null(src))
        return 0;
    if (!json_is_object(src))
        return fail(err, errlen, "source: expected an object");
    if (parse_lsn(json_object_get(src, "lsn"), &ev->lsn) < 0)
        return fail(err, errlen, "source.lsn: expected a number or \"X/Y\"");
    json_t *v = json_object_get(src, "txId");
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v))
            return fail(err, errlen, "source.txId: expected an integer");
        ev->txid = (int64_t)json_integer_value(v);
    }
    v = json_object_get(src, "ts_ms");
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v))
            return fail(err, errlen, "source.ts_ms: expected an integer");
        ev->ts_ms = (int64_t)json_integer_value(v);
    }
    return 0;
}

static int key_id(const char *key, size_t keylen, int64_t *id, char *err, size_t errlen)
{
    if (!key)
        return fail(err, errlen, "no key");
    return debezium_key_parse(key, keylen, id, err, errlen);
}

int debezium_parse(const char *value, size_t len, const char *key, size_t keylen,
                   debezium_event_t *ev, char *err, size_t errlen)
{
    memset(ev, 0, sizeof *ev);
    if (!value || len == 0) {
        /* A tombstone: compaction's marker after a delete. The delete
         * itself came just before it; the key's id is all there is. */
        ev->op = DEBEZIUM_TOMBSTONE;
        int64_t id = 0;
        if (key && key_id(key, keylen, &id, err, errlen) == 0) {
            ev->row.id = id;
            ev->row.present = PGOUTPUT_BF_ID;
        }
        return 0;
    }
    json_t *root = load(value, len, err, errlen);
    if (!root)
        return -1;
    json_t *p = json_is_object(root) ? payload_of(root) : NULL;
    if (json_is_null(p)) { /* {"schema":…,"payload":null}: a tombstone too */
        json_decref(root);
        return debezium_parse(NULL, 0, key, keylen, ev, err, errlen);
    }
    if (!json_is_object(p)) {
        json_decref(root);
        return fail(err, errlen, "expected a JSON object (a Debezium envelope)");
    }
    json_t *op = json_object_get(p, "op"), *before = json_object_get(p, "before"),
           *after = json_object_get(p, "after");
    const char *ops = json_is_string(op) ? json_string_value(op) : "";
    if (strlen(ops) != 1 || !strchr("cudrt", ops[0])) {
        fail(err, errlen, "op: expected \"c\", \"u\", \"d\", \"r\" or \"t\"");
        goto fail;
    }
    ev->op = (debezium_op_t)ops[0];
    if (parse_source(json_object_get(p, "source"), ev, err, errlen) < 0)
        goto fail;
    json_t *ts = json_object_get(p, "ts_ms");
    if (ev->ts_ms == 0 && json_is_integer(ts))
        ev->ts_ms = (int64_t)json_integer_value(ts);

    switch (ev->op) {
    case DEBEZIUM_CREATE:
    case DEBEZIUM_UPDATE:
    case DEBEZIUM_READ:
        if (!after || json_is_null(after)) {
            fail(err, errlen, "after: op \"%s\" needs a row", ops);
            goto fail;
        }
        if (parse_row(after, "after", &ev->row, err, errlen) < 0)
            goto fail;
        break;
    case DEBEZIUM_DELETE:
        if (after && !json_is_null(after)) {
            fail(err, errlen, "after: a delete has no row after");
            goto fail;
        }
        if (before && !json_is_null(before)) {
            if (parse_row(before, "before", &ev->row, err, errlen) < 0)
                goto fail;
        }
        if (!(ev->row.present & PGOUTPUT_BF_ID) || ev->row.id == 0) {
            /* REPLICA IDENTITY NOTHING: only the key says which row. */
            int64_t id;
            char sub[128];
            if (key_id(key, keylen, &id, sub, sizeof sub) < 0) {
                fail(err, errlen, "delete without before.id: %s", sub);
                goto fail;
            }
            ev->row.id = id;
            ev->row.present |= PGOUTPUT_BF_ID;
        }
        ev->row.deleted = true;
        break;
    default: /* truncate: no row */
        break;
    }
    if (ev->op != DEBEZIUM_TRUNCATE && (!(ev->row.present & PGOUTPUT_BF_ID) || ev->row.id <= 0)) {
        fail(err, errlen, "row has no id");
        goto fail;
    }
    json_decref(root);
    return 0;
fail:
    json_decref(root);
    debezium_event_clear(ev);
    return -1;
}
