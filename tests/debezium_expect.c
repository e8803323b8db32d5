/* debezium_expect.c — the .expect comparison shared by the Debezium tests. */
#include "debezium_expect.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *str_col(const debezium_event_t *ev, const char *name)
{
    const pgoutput_business_t *b = &ev->row;
    static const struct { const char *n; size_t off; } m[] = {
#define C(f) {#f, offsetof(pgoutput_business_t, f)}
        C(owner), C(name), C(street), C(city), C(region), C(postal_code), C(country),
        C(phone), C(website), C(deleted_at), C(created_at), C(updated_at)
#undef C
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        if (strcmp(m[i].n, name) == 0)
            return *(char *const *)((const char *)b + m[i].off);
    return (const char *)-1;
}

bool debezium_expect_match(const json_t *expect, const debezium_event_t *ev, char *why,
                           size_t whylen)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)expect, k, v) {
        bool ok;
        if (strcmp(k, "op") == 0)
            ok = json_is_string(v) && json_string_value(v)[0] == (char)ev->op;
        else if (strcmp(k, "id") == 0)
            ok = json_integer_value(v) == ev->row.id;
        else if (strcmp(k, "version") == 0)
            ok = json_integer_value(v) == ev->row.version;
        else if (strcmp(k, "price") == 0)
            ok = json_integer_value(v) == ev->row.price;
        else if (strcmp(k, "lsn") == 0)
            ok = (unsigned long long)json_integer_value(v) == ev->lsn;
        else if (strcmp(k, "txid") == 0)
            ok = json_integer_value(v) == ev->txid;
        else if (strcmp(k, "ts_ms") == 0)
            ok = json_integer_value(v) == ev->ts_ms;
        else if (strcmp(k, "deleted") == 0)
            ok = json_is_boolean(v) && json_boolean_value(v) == ev->row.deleted;
        else if (strcmp(k, "lat") == 0)
            ok = ev->row.has_location && fabs(json_number_value(v) - ev->row.lat) < 1e-9;
        else if (strcmp(k, "lng") == 0)
            ok = ev->row.has_location && fabs(json_number_value(v) - ev->row.lng) < 1e-9;
        else if (strcmp(k, "categories") == 0) {
            ok = json_array_size(v) == ev->row.ncategories;
            for (size_t i = 0; ok && i < ev->row.ncategories; i++)
                ok = ev->row.categories[i] &&
                     strcmp(json_string_value(json_array_get(v, i)), ev->row.categories[i]) == 0;
        } else {
            const char *s = str_col(ev, k);
            if (s == (const char *)-1) {
                snprintf(why, whylen, "unknown expectation \"%s\"", k);
                return false;
            }
            ok = json_is_null(v) ? s == NULL
                                 : s != NULL && json_is_string(v) && strcmp(s, json_string_value(v)) == 0;
        }
        if (!ok) {
            char *txt = json_dumps(v, JSON_ENCODE_ANY);
            snprintf(why, whylen, "%s: expected %s", k, txt ? txt : "?");
            free(txt);
            return false;
        }
    }
    return true;
}

char *debezium_expect_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t r;
    while (buf && (r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (cap - n < 2) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                buf = NULL;
            }
            buf = nb;
        }
    }
    fclose(f);
    if (!buf)
        return NULL;
    /* Files end with a newline that is no part of the record. */
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    buf[n] = '\0';
    *len = n;
    return buf;
}
