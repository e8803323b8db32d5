/* search_params.c — query parsing and cursors for nearby search. */
#include "search_params.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define fail field_error_set

/* A plain decimal number: strtod alone would also take "nan", "inf",
 * hex floats and leading blanks, none of which a client means. */
static bool parse_number(const char *s, double *out)
{
    const char *p = s;
    bool digits = false;

    if (*p == '+' || *p == '-')
        p++;
    while (*p >= '0' && *p <= '9')
        p++, digits = true;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++)
            digits = true;
    if (!digits)
        return false;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!(*p >= '0' && *p <= '9'))
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p != '\0' || p - s > 40)
        return false;
    *out = strtod(s, NULL);
    return isfinite(*out);
}

/* ---------------------------------------------------------------- cursor */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static size_t b64_encode(const unsigned char *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = b64[(v >> 18) & 63];
        out[o++] = b64[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = b64[(v >> 6) & 63];
        if (i + 2 < n)
            out[o++] = b64[v & 63];
    }
    out[o] = '\0';
    return o;
}

static int b64_decode(const char *in, unsigned char *out, size_t cap)
{
    size_t n = strlen(in), o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        const char *pos = strchr(b64, in[i]);
        if (pos == NULL || in[i] == '\0')
            return -1;
        acc = (acc << 6) | (uint32_t)(pos - b64);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= cap)
                return -1;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    return (int)o;
}

/* FNV-1a over what defines a result list: a cursor only resumes the query
 * it came from. */
static uint32_t query_hash(const search_params_t *p)
{
    char key[160];
    uint32_t h = 2166136261u;
    int n = snprintf(key, sizeof key, "%a|%a|%d|%a|%llx", p->lat, p->lng, p->nearest ? 1 : 0,
                     p->nearest ? 0.0 : p->radius_m, (unsigned long long)p->categories);
    for (int i = 0; i < n; i++)
        h = (h ^ (unsigned char)key[i]) * 16777619u;
    return h;
}

/* Layout (16 + 8 + 4 bytes): the distance's bits, the id, the hash —
 * exact, so paging never skips or repeats a tie. */
void search_cursor_encode(const search_params_t *p, double distance_m, int64_t id, char *out)
{
    unsigned char raw[21];
    uint64_t bits;
    uint32_t h = query_hash(p);
    memcpy(&bits, &distance_m, sizeof bits);
    raw[0] = 1; /* format version */
    for (int i = 0; i < 8; i++) {
        raw[1 + i] = (unsigned char)(bits >> (56 - 8 * i));
        raw[9 + i] = (unsigned char)((uint64_t)id >> (56 - 8 * i));
    }
    for (int i = 0; i < 4; i++)
        raw[17 + i] = (unsigned char)(h >> (24 - 8 * i));
    b64_encode(raw, sizeof raw, out);
}

static int cursor_decode(const search_params_t *p, const char *s, double *distance_m, int64_t *id)
{
    unsigned char raw[32];
    if (strlen(s) > SEARCH_CURSOR_MAX || b64_decode(s, raw, sizeof raw) != 21 || raw[0] != 1)
        return -1;
    uint64_t bits = 0, uid = 0;
    uint32_t h = 0;
    for (int i = 0; i < 8; i++) {
        bits = bits << 8 | raw[1 + i];
        uid = uid << 8 | raw[9 + i];
    }
    for (int i = 0; i < 4; i++)
        h = h << 8 | raw[17 + i];
    memcpy(distance_m, &bits, sizeof *distance_m);
    *id = (int64_t)uid;
    if (!isfinite(*distance_m) || *distance_m < 0 || h != query_hash(p))
        return -1;
    return 0;
}

/* ---------------------------------------------------------------- parse */

static const char *const known[] = {"latitude", "longitude", "radius", "limit",
                                    "cursor", "categories", "mode", NULL};

static const char *find(const search_arg_t *args, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(args[i].key, key) == 0)
            return args[i].value ? args[i].value : "";
    return NULL;
}

static int parse_categories(const char *v, category_set_t *out, search_error_t *err)
{
    *out = 0;
    const char *p = v;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 0)
            return fail(err, "categories", "categories must be a comma-separated list of names");
        int bit = category_lookup(p, len);
        if (bit < 0)
            return fail(err, "categories", "unknown category \"%.*s\"", (int)(len > 40 ? 40 : len), p);
        *out |= (category_set_t)1 << bit;
        if (end == NULL)
            return 0;
        p = end + 1;
    }
}

int search_params_parse(const search_arg_t *args, size_t n, search_params_t *out,
                        search_error_t *err)
{
    const char *v;

    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < n; i++) {
        bool ok = false;
        for (int k = 0; known[k]; k++)
            ok |= strcmp(args[i].key, known[k]) == 0;
        if (!ok)
            return fail(err, "", "unknown parameter \"%.40s\"", args[i].key);
        for (size_t j = 0; j < i; j++)
            if (strcmp(args[i].key, args[j].key) == 0)
                return fail(err, args[i].key, "%s is given more than once", args[i].key);
    }
    if ((v = find(args, n, "latitude")) == NULL)
        return fail(err, "latitude", "latitude is required");
    if (!parse_number(v, &out->lat) || out->lat < -90 || out->lat > 90)
        return fail(err, "latitude", "latitude must be a number from -90 to 90");
    if ((v = find(args, n, "longitude")) == NULL)
        return fail(err, "longitude", "longitude is required");
    if (!parse_number(v, &out->lng) || out->lng < -180 || out->lng > 180)
        return fail(err, "longitude", "longitude must be a number from -180 to 180");

    v = find(args, n, "mode");
    if (v != NULL && strcmp(v, "nearest") != 0 && strcmp(v, "radius") != 0)
        return fail(err, "mode", "mode must be radius or nearest");
    out->nearest = v != NULL && strcmp(v, "nearest") == 0;

    out->radius_m = SEARCH_RADIUS_DEFAULT;
    if ((v = find(args, n, "radius")) != NULL) {
        if (out->nearest)
            return fail(err, "radius", "mode=nearest takes no radius");
        if (!parse_number(v, &out->radius_m) || out->radius_m < 1 || out->radius_m > SEARCH_RADIUS_MAX)
            return fail(err, "radius", "radius must be a number of metres from 1 to %.0f",
                        SEARCH_RADIUS_MAX);
    }
    out->limit = SEARCH_LIMIT_DEFAULT;
    if ((v = find(args, n, "limit")) != NULL) {
        char *end;
        long l = strtol(v, &end, 10);
        if (*v < '0' || *v > '9' || *end != '\0' || l < 1 || l > SEARCH_LIMIT_MAX)
            return fail(err, "limit", "limit must be a whole number from 1 to %d", SEARCH_LIMIT_MAX);
        out->limit = (size_t)l;
    }
    if ((v = find(args, n, "categories")) != NULL && parse_categories(v, &out->categories, err) != 0)
        return -1;
    if ((v = find(args, n, "cursor")) != NULL) {
        if (cursor_decode(out, v, &out->after_distance_m, &out->after_id) != 0)
            return fail(err, "cursor", "cursor is not one this query returned");
        out->has_cursor = true;
    }
    return 0;
}
