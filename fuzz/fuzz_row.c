/* fuzz_row.c — see fuzz_row.h. */
#include "fuzz_row.h"

#include <jansson.h>
#include <string.h>

#include "debezium.h"
#include "fuzz.h"

static bool ts_ok(const char *s)
{
    int64_t us;
    return s == NULL || debezium_ts_parse(s, strlen(s), &us) == 0;
}

/* JSON can carry it: jansson refuses other strings (NULL is fine). */
static bool utf8_ok(const char *s)
{
    json_t *j = s ? json_string(s) : NULL;
    json_decref(j);
    return s == NULL || j != NULL;
}

bool fuzz_row_portable(const pgoutput_business_t *b)
{
    if (b->id <= 0)
        return false;
    for (size_t i = 0; i < b->ncategories; i++)
        if (b->categories[i] == NULL || !utf8_ok(b->categories[i]))
            return false;
    const char *const strs[] = {b->owner, b->name, b->street, b->city, b->region, b->postal_code,
                                b->country, b->phone, b->website};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        if (!utf8_ok(strs[i]))
            return false;
    return ts_ok(b->deleted_at) && ts_ok(b->created_at) && ts_ok(b->updated_at);
}

static void expect_str(const char *what, const char *a, const char *b)
{
    FUZZ_CHECK((a == NULL) == (b == NULL) && (a == NULL || strcmp(a, b) == 0), "%s: \"%s\" vs \"%s\"",
               what, a ? a : "(null)", b ? b : "(null)");
}

static void expect_ts(const char *what, const char *a, const char *b)
{
    int64_t ua = 0, ub = 0;
    FUZZ_CHECK((a == NULL) == (b == NULL), "%s: present on one side only", what);
    if (a == NULL)
        return;
    FUZZ_CHECK(debezium_ts_parse(a, strlen(a), &ua) == 0 && debezium_ts_parse(b, strlen(b), &ub) == 0 &&
                   ua == ub,
               "%s: %s vs %s", what, a, b);
}

void fuzz_row_expect_equal(const pgoutput_business_t *a, const pgoutput_business_t *b)
{
    FUZZ_CHECK(a->id == b->id, "id %lld vs %lld", (long long)a->id, (long long)b->id);
    FUZZ_CHECK(a->version == b->version, "version %lld vs %lld", (long long)a->version,
               (long long)b->version);
    FUZZ_CHECK(a->has_location == b->has_location, "has_location");
    if (a->has_location)
        FUZZ_CHECK(memcmp(&a->lat, &b->lat, sizeof a->lat) == 0 &&
                       memcmp(&a->lng, &b->lng, sizeof a->lng) == 0,
                   "location %.17g,%.17g vs %.17g,%.17g", a->lat, a->lng, b->lat, b->lng);
    FUZZ_CHECK(a->deleted == b->deleted, "deleted");
    FUZZ_CHECK(a->price == b->price, "price %d vs %d", a->price, b->price);
    FUZZ_CHECK(a->ncategories == b->ncategories, "%zu vs %zu categories", a->ncategories,
               b->ncategories);
    for (size_t i = 0; i < a->ncategories; i++)
        expect_str("category", a->categories[i], b->categories[i]);
    expect_str("owner", a->owner, b->owner);
    expect_str("name", a->name, b->name);
    expect_str("street", a->street, b->street);
    expect_str("city", a->city, b->city);
    expect_str("region", a->region, b->region);
    expect_str("postal_code", a->postal_code, b->postal_code);
    expect_str("country", a->country, b->country);
    expect_str("phone", a->phone, b->phone);
    expect_str("website", a->website, b->website);
    expect_ts("deleted_at", a->deleted_at, b->deleted_at);
    expect_ts("created_at", a->created_at, b->created_at);
    expect_ts("updated_at", a->updated_at, b->updated_at);
}
