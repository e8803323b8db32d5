/* check_cdc.c — the consumer's pure parts: row images to index changes and
 * cache JSON, and PostgreSQL timestamps to the API's form. */
#include <check.h>
#include <jansson.h>
#include <string.h>

#include "cdc.h"
#include "check_run.h"

START_TEST(timestamps)
{
    char out[40];
    ck_assert_int_eq(cdc_timestamp_rfc3339("2026-12-04 20:59:28.123456+00", out, sizeof out), 0);
    ck_assert_str_eq(out, "2026-12-04T20:59:28.123456Z");
    /* Trailing zeros of the fraction are not printed by the server. */
    ck_assert_int_eq(cdc_timestamp_rfc3339("2026-12-04 20:59:28.12+00", out, sizeof out), 0);
    ck_assert_str_eq(out, "2026-12-04T20:59:28.120000Z");
    ck_assert_int_eq(cdc_timestamp_rfc3339("2026-12-04 20:59:28+00", out, sizeof out), 0);
    ck_assert_str_eq(out, "2026-12-04T20:59:28.000000Z");
    /* Other zones: converted, across the day and the year. */
    ck_assert_int_eq(cdc_timestamp_rfc3339("2027-01-01 00:30:00.5+01", out, sizeof out), 0);
    ck_assert_str_eq(out, "2026-12-31T23:30:00.500000Z");
    ck_assert_int_eq(cdc_timestamp_rfc3339("2026-12-04 20:59:28-05:30", out, sizeof out), 0);
    ck_assert_str_eq(out, "2026-12-05T02:29:28.000000Z");
    static const char *const bad[] = {"", "2026-12-04", "2026-13-04 20:59:28+00", "2026-12-04T20:59:28Z+",
                                      "2026-12-04 20:59:28+0", "2026-12-04 20:59:28+00 junk", "infinity"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(cdc_timestamp_rfc3339(bad[i], out, sizeof out) == -1, "accepted \"%s\"", bad[i]);
}
END_TEST

static pgoutput_business_t full_row(void)
{
    static char *cats[] = {"cafe", "teleporter", "bakery"};
    pgoutput_business_t b = {
        .present = ~0u, .id = 42, .version = 7, .lat = 52.52, .lng = 13.405, .has_location = true,
        .categories = cats, .ncategories = 3, .price = 2, .owner = "ana", .name = "Caf\xc3\xa9 \xf0\x9f\x8d\xb0",
        .city = "Berlin", .country = "DE", .created_at = "2026-12-04 10:00:00+00",
        .updated_at = "2026-12-04 11:00:00.25+00",
    };
    return b;
}

START_TEST(upsert_with_json)
{
    pgoutput_business_t b = full_row();
    searcher_change_t ch;
    char *json;
    size_t len;
    ck_assert_int_eq(cdc_row_change(&b, &ch, &json, &len), 0);
    ck_assert(!ch.remove);
    ck_assert(ch.p.id == 42 && ch.p.version == 7);
    ck_assert(ch.p.categories != 0);
    ck_assert_ptr_nonnull(json);
    json_error_t e;
    json_t *j = json_loadb(json, len, 0, &e);
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "id")), 42);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "version")), 7);
    ck_assert_str_eq(json_string_value(json_object_get(j, "name")), "Caf\xc3\xa9 \xf0\x9f\x8d\xb0");
    ck_assert_str_eq(json_string_value(json_object_get(j, "updated_at")), "2026-12-04T11:00:00.250000Z");
    /* Unknown categories are kept in the details, as the table has them. */
    ck_assert_int_eq(json_array_size(json_object_get(j, "categories")), 3);
    json_decref(j);
    free(json);
}
END_TEST

START_TEST(partial_rows_and_deletes)
{
    pgoutput_business_t b = full_row();
    searcher_change_t ch;
    char *json;
    size_t len;
    /* An unchanged TOASTed column is not sent: index yes, cache no. */
    b.present &= ~(uint32_t)PGOUTPUT_BF_NAME;
    ck_assert_int_eq(cdc_row_change(&b, &ch, &json, &len), 0);
    ck_assert(!ch.remove);
    ck_assert_ptr_null(json);
    /* A soft delete is a removal at the row's version. */
    b = full_row();
    b.deleted = true;
    ck_assert_int_eq(cdc_row_change(&b, &ch, &json, &len), 0);
    ck_assert(ch.remove && ch.p.id == 42 && ch.p.version == 7);
    ck_assert_ptr_null(json);
    /* No version or no location: not applicable. */
    b = full_row();
    b.version = 0;
    ck_assert_int_eq(cdc_row_change(&b, &ch, &json, &len), -1);
    b = full_row();
    b.has_location = false;
    ck_assert_int_eq(cdc_row_change(&b, &ch, &json, &len), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cdc");
    TCase *tc = tcase_create("rows");
    tcase_add_test(tc, timestamps);
    tcase_add_test(tc, upsert_with_json);
    tcase_add_test(tc, partial_rows_and_deletes);
    suite_add_tcase(s, tc);
    return check_run(s, CK_FORK_GETENV);
}
