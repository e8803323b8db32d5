/* business.h — the business record: validation of client JSON, merge
 * patch, and its JSON form (DESIGN §3). Pure: no HTTP, no database. */
#ifndef PROXIMITY_BUSINESS_H
#define PROXIMITY_BUSINESS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "field_error.h"

#define BUSINESS_MAX_CATEGORIES 10

typedef struct business {
    int64_t id;
    int64_t version;
    char *owner;
    char *name;
    char *categories[BUSINESS_MAX_CATEGORIES];
    int ncategories;
    double latitude, longitude;
    /* optional text fields: NULL when absent */
    char *street, *city, *region, *postal_code, *country;
    char *phone, *website;
    int price; /* 1..4, 0 = not given */
    char *created_at, *updated_at; /* RFC 3339, UTC */
} business_t;

/* Why an input was refused: the field's JSON path and a sentence. */
typedef field_error_t business_error_t;

/* Fills out from a client's full representation (POST, PUT, or a merged
 * PATCH). Server-owned fields (id, owner, version, created_at,
 * updated_at) are ignored; unknown fields, wrong types, missing required
 * fields, out-of-range values and over-long strings are refused.
 * Returns 0, or -1 with err filled (out is then empty). out owns its
 * strings: business_clear. */
int business_from_json(const json_t *in, business_t *out, business_error_t *err);

/* The full JSON representation (new reference). */
json_t *business_to_json(const business_t *b);

/* Frees the strings of b and zeroes it. */
void business_clear(business_t *b);

/* Applies an RFC 7386 JSON merge patch to target (modified in place
 * when both are objects). Returns the result as a new reference. */
json_t *business_merge_patch(json_t *target, const json_t *patch);

#endif
