/* check_business.c — business validation, merge patch, JSON form, ETags. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "business.h"
#include "business_store.h"
#include "check_run.h"

static int parse(const char *text, business_t *b, business_error_t *err)
{
    json_t *j = json_loads(text, 0, NULL);
    ck_assert_ptr_nonnull(j);
    int rc = business_from_json(j, b, err);
    json_decref(j);
    return rc;
}

START_TEST(valid_full_record)
{
    business_t b;
    business_error_t err;
    ck_assert_int_eq(parse("{\"name\":\"Café ☕\",\"categories\":[\"cafe\",\"bakery\"],"
                           "\"latitude\":-90,\"longitude\":180,\"address\":{\"street\":\"1 A\","
                           "\"city\":null,\"country\":\"nz\"},\"phone\":\"+64 (4) 555-0100\","
                           "\"website\":\"https://x.example/\",\"price\":4,"
                           "\"id\":99,\"owner\":\"mallory\",\"version\":1}", &b, &err), 0);
    ck_assert_str_eq(b.name, "Café ☕");
    ck_assert_int_eq(b.ncategories, 2);
    ck_assert_double_eq(b.latitude, -90);
    ck_assert_double_eq(b.longitude, 180);
    ck_assert_str_eq(b.country, "NZ");
    ck_assert_ptr_null(b.city);
    ck_assert_int_eq(b.price, 4);
    /* server-owned fields are ignored, not taken */
    ck_assert_int_eq(b.id, 0);
    ck_assert_ptr_null(b.owner);
    business_clear(&b);
}
END_TEST

static const struct {
    const char *body;
    const char *field;
} invalid[] = {
    {"{\"latitude\":1,\"longitude\":1}", "name"},
    {"{\"name\":\"\",\"latitude\":1,\"longitude\":1}", "name"},
    {"{\"name\":7,\"latitude\":1,\"longitude\":1}", "name"},
    {"{\"name\":\"a\\u0007b\",\"latitude\":1,\"longitude\":1}", "name"},
    {"{\"name\":\"a\",\"longitude\":1}", "latitude"},
    {"{\"name\":\"a\",\"latitude\":\"1\",\"longitude\":1}", "latitude"},
    {"{\"name\":\"a\",\"latitude\":90.000001,\"longitude\":1}", "latitude"},
    {"{\"name\":\"a\",\"latitude\":1,\"longitude\":-180.5}", "longitude"},
    {"{\"name\":\"a\",\"latitude\":1,\"longitude\":1,\"categories\":{}}", "categories"},
    {"{\"name\":\"a\",\"latitude\":1,\"longitude\":1,\"categories\":[\"nope\"]}", "categories"},
    {"{\"name\":\"a\",\"latitude\":1,\"longitude\":1,\"categories\":[\"bar\",\"bar\"]}", "categories"},
    {"{\"name\":\"a\",\"latitude\":1,\"longitude\":1,\"price\":0}", "price"},
    {"{\"name\":\"a\",\"latitude\":1,\"longitude\":1,\"price\":true}", "price"},
    {"{\"name\":\"a\",\"latitude\":1,\"longitude\":1,\"address\":[]}", "address"},
    {"{\"name\":\"a\",\"latitude\":1,\"longitude\":1,\"address\":{\"zip\":\"1\"}}", "address.zip"},
    {"{\"name\":\"a\",\"latitude\":1,\"longitude\":1,\"address\":{\"country\":\"U1\"}}", "address.country"},
    {"{\"name\":\"a\",\"latitude\":1,\"longitude\":1,\"website\":\"ftp://x\"}", "website"},
    {"{\"name\":\"a\",\"latitude\":1,\"longitude\":1,\"phone\":\"555-CALL\"}", "phone"},
    {"{\"name\":\"a\",\"latitude\":1,\"longitude\":1,\"extra\":1}", "extra"},
};

START_TEST(invalid_records)
{
    business_t b;
    business_error_t err;
    ck_assert_msg(parse(invalid[_i].body, &b, &err) == -1, "accepted %s", invalid[_i].body);
    ck_assert_str_eq(err.field, invalid[_i].field);
    ck_assert(strlen(err.message) > 0);
}
END_TEST

START_TEST(length_counts_characters)
{
    /* 200 two-byte characters are within the 200-character limit. */
    char body[1024] = "{\"name\":\"";
    for (int i = 0; i < 200; i++)
        strcat(body, "é");
    strcat(body, "\",\"latitude\":0,\"longitude\":0}");
    business_t b;
    business_error_t err;
    ck_assert_int_eq(parse(body, &b, &err), 0);
    business_clear(&b);
}
END_TEST

/* RFC 7386 appendix A examples. */
static const char *const merge_cases[][3] = {
    {"{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}"},
    {"{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}"},
    {"{\"a\":\"b\"}", "{\"a\":null}", "{}"},
    {"{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}", "{\"b\":\"c\"}"},
    {"{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}"},
    {"{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}"},
    {"{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}", "{\"a\":{\"b\":\"d\"}}"},
    {"{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", "{\"a\":[1]}"},
    {"[\"a\",\"b\"]", "[\"c\",\"d\"]", "[\"c\",\"d\"]"},
    {"{\"a\":\"b\"}", "[\"c\"]", "[\"c\"]"},
    {"{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}"},
    {"[1,2]", "{\"a\":\"b\",\"c\":null}", "{\"a\":\"b\"}"},
    {"{}", "{\"a\":{\"bb\":{\"ccc\":null}}}", "{\"a\":{\"bb\":{}}}"},
};

START_TEST(merge_patch_rfc7386)
{
    json_t *target = json_loads(merge_cases[_i][0], JSON_DECODE_ANY, NULL);
    json_t *patch = json_loads(merge_cases[_i][1], JSON_DECODE_ANY, NULL);
    json_t *want = json_loads(merge_cases[_i][2], JSON_DECODE_ANY, NULL);
    json_t *got = business_merge_patch(target, patch);
    char *g = json_dumps(got, JSON_ENCODE_ANY | JSON_SORT_KEYS);
    ck_assert_msg(json_equal(got, want), "case %d: got %s", _i, g);
    free(g);
    json_decref(got);
    json_decref(target);
    json_decref(patch);
    json_decref(want);
}
END_TEST

START_TEST(json_round_trip)
{
    business_t b, c;
    business_error_t err;
    ck_assert_int_eq(parse("{\"name\":\"n\",\"latitude\":1.5,\"longitude\":-2.25,"
                           "\"categories\":[\"gym\"],\"price\":2}", &b, &err), 0);
    b.id = 5;
    b.version = 9;
    json_t *j = business_to_json(&b);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "id")), 5);
    ck_assert(json_is_null(json_object_get(json_object_get(j, "address"), "street")));
    /* What GET returns can be PUT back unchanged. */
    ck_assert_int_eq(business_from_json(j, &c, &err), 0);
    ck_assert_str_eq(c.name, "n");
    ck_assert_double_eq(c.longitude, -2.25);
    ck_assert_int_eq(c.price, 2);
    json_decref(j);
    business_clear(&b);
    business_clear(&c);
}
END_TEST

START_TEST(etags)
{
    char tag[32];
    business_etag(42, tag, sizeof tag);
    ck_assert_str_eq(tag, "\"42\"");
    ck_assert(business_etag_matches("\"42\"", 42));
    ck_assert(business_etag_matches("\"1\", \"42\"", 42));
    ck_assert(business_etag_matches("*", 42));
    ck_assert(!business_etag_matches("W/\"42\"", 42));
    ck_assert(!business_etag_matches("\"4\"", 42));
    ck_assert(!business_etag_matches("\"420\"", 42));
    ck_assert(!business_etag_matches("", 42));
    ck_assert(!business_etag_matches("42", 42));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("business");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, valid_full_record);
    tcase_add_loop_test(tc, invalid_records, 0, sizeof invalid / sizeof invalid[0]);
    tcase_add_test(tc, length_counts_characters);
    tcase_add_loop_test(tc, merge_patch_rfc7386, 0, sizeof merge_cases / sizeof merge_cases[0]);
    tcase_add_test(tc, json_round_trip);
    tcase_add_test(tc, etags);
    suite_add_tcase(s, tc);
    return check_run(s, CK_FORK_GETENV);
}
