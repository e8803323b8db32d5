/* search_params.h — GET /v1/search/nearby parameters: strict parsing and
 * the opaque paging cursor (DESIGN §3). Pure: no HTTP, no index. */
#ifndef PROXIMITY_SEARCH_PARAMS_H
#define PROXIMITY_SEARCH_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "category.h"
#include "field_error.h"

#define SEARCH_RADIUS_DEFAULT 5000.0
#define SEARCH_RADIUS_MAX 40000.0
#define SEARCH_LIMIT_DEFAULT 20
#define SEARCH_LIMIT_MAX 50
#define SEARCH_CURSOR_MAX 128

typedef struct search_params {
    double lat, lng;
    bool nearest;             /* mode=nearest: k nearest, no radius */
    double radius_m;
    size_t limit;
    category_set_t categories; /* any-of; 0 = all */
    bool has_cursor;
    double after_distance_m;
    int64_t after_id;
} search_params_t;

typedef struct search_arg {
    const char *key, *value;
} search_arg_t;

typedef field_error_t search_error_t;

/* Parses the query arguments args[0..n) (repeats and unknown keys are
 * errors). Returns 0, or -1 with err naming the field. */
int search_params_parse(const search_arg_t *args, size_t n, search_params_t *out,
                        search_error_t *err);

/* Encodes the resume point after (distance, id) of the query p into out
 * (SEARCH_CURSOR_MAX bytes): URL-safe, exact, bound to the query so it
 * cannot be replayed against another one. */
void search_cursor_encode(const search_params_t *p, double distance_m, int64_t id, char *out);

#endif
