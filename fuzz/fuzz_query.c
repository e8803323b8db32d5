/* fuzz_query.c — GET /v1/search/nearby query strings: the input is the raw
 * query (what follows '?'), split and percent-decoded the way
 * libmicrohttpd hands it to the handler, then search_params_parse.
 * Properties: an accepted query is in range everywhere, and a cursor
 * encoded for it resumes exactly there. */
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "search_params.h"

#define MAX_ARGS 16 /* as src/api_search.c collects them */

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* In place; '+' is a space; a %00 ends the C string, as for the server. */
static void unescape(char *s)
{
    char *o = s;
    for (char *p = s; *p; p++) {
        if (*p == '+') {
            *o++ = ' ';
        } else if (*p == '%' && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
            *o++ = (char)(hexval(p[1]) * 16 + hexval(p[2]));
            p += 2;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *q = malloc(size + 1);
    if (q == NULL)
        return 0;
    memcpy(q, data, size);
    q[size] = '\0';

    search_arg_t args[MAX_ARGS + 1];
    size_t n = 0;
    bool too_many = false;
    for (char *save = NULL, *part = strtok_r(q, "&", &save); part; part = strtok_r(NULL, "&", &save)) {
        if (n == MAX_ARGS) {
            too_many = true;
            break;
        }
        char *eq = strchr(part, '=');
        if (eq)
            *eq = '\0';
        unescape(part);
        if (eq)
            unescape(eq + 1);
        args[n].key = part;
        args[n].value = eq ? eq + 1 : NULL;
        n++;
    }
    search_params_t p;
    search_error_t err;
    if (too_many || search_params_parse(args, n, &p, &err) != 0) {
        free(q);
        return 0;
    }

    FUZZ_CHECK(isfinite(p.lat) && p.lat >= -90 && p.lat <= 90, "lat %.17g", p.lat);
    FUZZ_CHECK(isfinite(p.lng) && p.lng >= -180 && p.lng <= 180, "lng %.17g", p.lng);
    FUZZ_CHECK(p.nearest ? p.radius_m == SEARCH_RADIUS_DEFAULT
                         : p.radius_m >= 1 && p.radius_m <= SEARCH_RADIUS_MAX,
               "radius %.17g", p.radius_m);
    FUZZ_CHECK(p.limit >= 1 && p.limit <= SEARCH_LIMIT_MAX, "limit %zu", p.limit);
    FUZZ_CHECK(!p.has_cursor || (isfinite(p.after_distance_m) && p.after_distance_m >= 0),
               "cursor distance %.17g", p.after_distance_m);

    /* The next page's cursor of this query brings back exactly that point. */
    double d = (double)(size % 977) * 13.25 + (double)data[0] / 7.0;
    int64_t id = (int64_t)size * 1000003 - 500;
    char cur[SEARCH_CURSOR_MAX];
    search_cursor_encode(&p, d, id, cur);
    FUZZ_CHECK(strlen(cur) < SEARCH_CURSOR_MAX, "cursor too long");
    size_t ci = n;
    for (size_t i = 0; i < n; i++)
        if (strcmp(args[i].key, "cursor") == 0)
            ci = i;
    if (ci == n && n == MAX_ARGS) {
        free(q);
        return 0;
    }
    args[ci].key = "cursor";
    args[ci].value = cur;
    search_params_t p2;
    int rc = search_params_parse(args, ci == n ? n + 1 : n, &p2, &err);
    FUZZ_CHECK(rc == 0, "own cursor refused: %s", err.message);
    FUZZ_CHECK(p2.has_cursor && p2.after_distance_m == d && p2.after_id == id,
               "cursor resumes at %.17g/%lld, not %.17g/%lld", p2.after_distance_m,
               (long long)p2.after_id, d, (long long)id);
    free(q);
    return 0;
}
