/* fuzz_business.c — request bodies of POST/PUT/PATCH /v1/businesses: the
 * input is parsed as src/api_business.c does (jansson, duplicates refused),
 * validated, and applied as a merge patch to a stored business.
 * Properties: an accepted body is in range; its JSON form is accepted
 * again and encodes the same (the API's GET-then-PUT promise); a merge
 * patch applied twice gives what it gave once (RFC 7386). */
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "business.h"
#include "category.h"
#include "fuzz.h"

static const char stored[] =
    "{\"id\":7,\"owner\":\"anonymous\",\"name\":\"Joe's\",\"categories\":[\"cafe\"],"
    "\"latitude\":37.7749,\"longitude\":-122.4194,\"address\":{\"street\":\"1 Main\","
    "\"city\":\"SF\",\"region\":null,\"postal_code\":\"94103\",\"country\":\"US\"},"
    "\"phone\":\"+1 555\",\"website\":\"https://joe.example\",\"price\":2,\"version\":3,"
    "\"created_at\":\"2026-01-01T00:00:00Z\",\"updated_at\":\"2026-01-02T00:00:00Z\"}";

static void check_valid(const business_t *b)
{
    FUZZ_CHECK(b->name && b->name[0], "accepted without a name");
    FUZZ_CHECK(isfinite(b->latitude) && fabs(b->latitude) <= 90, "latitude %.17g", b->latitude);
    FUZZ_CHECK(isfinite(b->longitude) && fabs(b->longitude) <= 180, "longitude %.17g", b->longitude);
    FUZZ_CHECK(b->ncategories >= 0 && b->ncategories <= BUSINESS_MAX_CATEGORIES, "%d categories",
               b->ncategories);
    for (int i = 0; i < b->ncategories; i++)
        FUZZ_CHECK(category_lookup(b->categories[i], strlen(b->categories[i])) >= 0,
                   "unknown category %s", b->categories[i]);
    FUZZ_CHECK(b->price >= 0 && b->price <= 4, "price %d", b->price);
    FUZZ_CHECK(b->country == NULL || strlen(b->country) == 2, "country %s", b->country);
}

/* Validates doc; if accepted, its encoding must validate to the same. */
static void validate_round_trip(const json_t *doc)
{
    business_t b;
    business_error_t err;
    if (business_from_json(doc, &b, &err) != 0) {
        FUZZ_CHECK(strlen(err.message) > 0, "refused without a reason");
        return;
    }
    check_valid(&b);
    json_t *enc = business_to_json(&b);
    FUZZ_CHECK(enc != NULL, "business_to_json failed");
    business_t b2;
    FUZZ_CHECK(business_from_json(enc, &b2, &err) == 0, "own encoding refused: %s: %s", err.field,
               err.message);
    json_t *enc2 = business_to_json(&b2);
    FUZZ_CHECK(json_equal(enc, enc2), "encoding changed on the way back");
    json_decref(enc2);
    json_decref(enc);
    business_clear(&b2);
    business_clear(&b);
}

static json_t *patched(const json_t *target, const json_t *patch)
{
    json_t *t = json_deep_copy(target);
    json_t *r = business_merge_patch(t, patch);
    json_decref(t);
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536) /* --max-body */
        return 0;
    json_error_t jerr;
    json_t *doc = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL)
        return 0;
    validate_round_trip(doc);

    json_t *base = json_loads(stored, 0, &jerr);
    FUZZ_CHECK(base != NULL, "stored business does not parse");
    json_t *once = patched(base, doc);
    json_t *twice = patched(once, doc);
    FUZZ_CHECK(once && twice && json_equal(once, twice), "merge patch is not idempotent");
    validate_round_trip(once);
    json_decref(twice);
    json_decref(once);
    json_decref(base);
    json_decref(doc);
    return 0;
}
