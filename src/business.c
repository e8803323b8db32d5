/* business.c — validating and encoding business records. */
#include "business.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "category.h"
#include "xalloc.h"

#define fail field_error_set

/* Length in code points; jansson has already checked the UTF-8. */
static size_t utf8_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static bool has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

/* A text field: absent or null → *out stays NULL (unless required). */
static int take_text(const json_t *v, const char *field, size_t max, bool required,
                     char **out, business_error_t *err)
{
    if (v == NULL || json_is_null(v)) {
        if (required)
            return fail(err, field, "%s is required", field);
        return 0;
    }
    if (!json_is_string(v))
        return fail(err, field, "%s must be a string", field);
    const char *s = json_string_value(v);
    size_t len = utf8_len(s);
    if (required && len == 0)
        return fail(err, field, "%s must not be empty", field);
    if (len > max)
        return fail(err, field, "%s is longer than %zu characters", field, max);
    if (has_control(s))
        return fail(err, field, "%s must not contain control characters", field);
    *out = xstrdup(s);
    return 0;
}

static int take_coordinate(const json_t *v, const char *field, double limit, double *out,
                           business_error_t *err)
{
    if (v == NULL || json_is_null(v))
        return fail(err, field, "%s is required", field);
    if (!json_is_number(v))
        return fail(err, field, "%s must be a number", field);
    double d = json_number_value(v);
    if (!isfinite(d) || d < -limit || d > limit)
        return fail(err, field, "%s must be between %g and %g", field, -limit, limit);
    *out = d;
    return 0;
}

static int take_categories(const json_t *v, business_t *b, business_error_t *err)
{
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_array(v))
        return fail(err, "categories", "categories must be an array of strings");
    if (json_array_size(v) > BUSINESS_MAX_CATEGORIES)
        return fail(err, "categories", "at most %d categories", BUSINESS_MAX_CATEGORIES);
    size_t i;
    json_t *c;
    json_array_foreach(v, i, c) {
        if (!json_is_string(c))
            return fail(err, "categories", "categories[%zu] must be a string", i);
        const char *name = json_string_value(c);
        if (category_lookup(name, json_string_length(c)) < 0)
            return fail(err, "categories", "categories[%zu] is not a known category", i);
        for (int j = 0; j < b->ncategories; j++)
            if (strcmp(b->categories[j], name) == 0)
                return fail(err, "categories", "categories[%zu] repeats \"%s\"", i, name);
        b->categories[b->ncategories++] = xstrdup(name);
    }
    return 0;
}

static bool is_phone(const char *s)
{
    for (; *s; s++)
        if (!strchr("0123456789+-()./ ", *s))
            return false;
    return true;
}

static int take_address(const json_t *v, business_t *b, business_error_t *err)
{
    static const char *const keys[] = {"street", "city", "region", "postal_code", "country", NULL};
    const char *key;
    json_t *val;

    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_object(v))
        return fail(err, "address", "address must be an object");
    json_object_foreach((json_t *)v, key, val) {
        bool known = false;
        for (int i = 0; keys[i]; i++)
            known |= strcmp(key, keys[i]) == 0;
        if (!known) {
            char field[64];
            snprintf(field, sizeof field, "address.%.50s", key);
            return fail(err, field, "unknown field %s", field);
        }
    }
    if (take_text(json_object_get(v, "street"), "address.street", 200, false, &b->street, err) ||
        take_text(json_object_get(v, "city"), "address.city", 100, false, &b->city, err) ||
        take_text(json_object_get(v, "region"), "address.region", 100, false, &b->region, err) ||
        take_text(json_object_get(v, "postal_code"), "address.postal_code", 20, false,
                  &b->postal_code, err) ||
        take_text(json_object_get(v, "country"), "address.country", 2, false, &b->country, err))
        return -1;
    if (b->country != NULL) {
        char *c = b->country;
        bool ok = strlen(c) == 2;
        for (int i = 0; ok && i < 2; i++) {
            if (c[i] >= 'a' && c[i] <= 'z')
                c[i] = (char)(c[i] - 'a' + 'A');
            ok = c[i] >= 'A' && c[i] <= 'Z';
        }
        if (!ok)
            return fail(err, "address.country", "address.country must be an ISO 3166-1 alpha-2 code");
    }
    return 0;
}

int business_from_json(const json_t *in, business_t *out, business_error_t *err)
{
    static const char *const known[] = {
        "name", "categories", "latitude", "longitude", "address", "phone", "website", "price",
        /* server-owned: accepted and ignored, so a GET body can be PUT back */
        "id", "owner", "version", "created_at", "updated_at", NULL};
    const char *key;
    json_t *val;

    memset(out, 0, sizeof *out);
    if (!json_is_object(in))
        return fail(err, "", "the body must be a JSON object");
    json_object_foreach((json_t *)in, key, val) {
        bool ok = false;
        for (int i = 0; known[i]; i++)
            ok |= strcmp(key, known[i]) == 0;
        if (!ok) {
            char field[64];
            snprintf(field, sizeof field, "%.60s", key);
            fail(err, field, "unknown field %s", field);
            goto fail;
        }
    }
    if (take_text(json_object_get(in, "name"), "name", 200, true, &out->name, err) ||
        take_categories(json_object_get(in, "categories"), out, err) ||
        take_coordinate(json_object_get(in, "latitude"), "latitude", 90, &out->latitude, err) ||
        take_coordinate(json_object_get(in, "longitude"), "longitude", 180, &out->longitude, err) ||
        take_address(json_object_get(in, "address"), out, err) ||
        take_text(json_object_get(in, "phone"), "phone", 40, false, &out->phone, err) ||
        take_text(json_object_get(in, "website"), "website", 500, false, &out->website, err))
        goto fail;
    if (out->phone != NULL && !is_phone(out->phone)) {
        fail(err, "phone", "phone may hold only digits, spaces and + - ( ) . /");
        goto fail;
    }
    if (out->website != NULL && strncmp(out->website, "http://", 7) != 0 &&
        strncmp(out->website, "https://", 8) != 0) {
        fail(err, "website", "website must be an http:// or https:// URL");
        goto fail;
    }
    val = json_object_get(in, "price");
    if (val != NULL && !json_is_null(val)) {
        if (!json_is_integer(val) || json_integer_value(val) < 1 || json_integer_value(val) > 4) {
            fail(err, "price", "price must be an integer from 1 to 4");
            goto fail;
        }
        out->price = (int)json_integer_value(val);
    }
    return 0;
fail:
    business_clear(out);
    return -1;
}

static json_t *text_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

json_t *business_to_json(const business_t *b)
{
    json_t *cats = json_array();
    for (int i = 0; i < b->ncategories; i++)
        json_array_append_new(cats, json_string(b->categories[i]));
    return json_pack(
        "{s:I, s:o, s:o, s:o, s:f, s:f, s:{s:o, s:o, s:o, s:o, s:o}, s:o, s:o, s:o, s:I, s:o, s:o}",
        "id", (json_int_t)b->id, "owner", text_or_null(b->owner), "name", text_or_null(b->name),
        "categories", cats, "latitude", b->latitude, "longitude", b->longitude,
        "address", "street", text_or_null(b->street), "city", text_or_null(b->city),
        "region", text_or_null(b->region), "postal_code", text_or_null(b->postal_code),
        "country", text_or_null(b->country),
        "phone", text_or_null(b->phone), "website", text_or_null(b->website),
        "price", b->price ? json_integer(b->price) : json_null(),
        "version", (json_int_t)b->version, "created_at", text_or_null(b->created_at),
        "updated_at", text_or_null(b->updated_at));
}

void business_clear(business_t *b)
{
    free(b->owner);
    free(b->name);
    for (int i = 0; i < b->ncategories; i++)
        free(b->categories[i]);
    free(b->street);
    free(b->city);
    free(b->region);
    free(b->postal_code);
    free(b->country);
    free(b->phone);
    free(b->website);
    free(b->created_at);
    free(b->updated_at);
    memset(b, 0, sizeof *b);
}

json_t *business_merge_patch(json_t *target, const json_t *patch)
{
    const char *key;
    json_t *val;

    if (!json_is_object(patch))
        return json_deep_copy(patch);
    if (!json_is_object(target))
        target = json_object();
    else
        json_incref(target);
    json_object_foreach((json_t *)patch, key, val) {
        if (json_is_null(val)) {
            json_object_del(target, key);
        } else {
            json_t *merged = business_merge_patch(json_object_get(target, key), val);
            json_object_set_new(target, key, merged);
        }
    }
    return target;
}
