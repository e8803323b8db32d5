/* fuzz_cursor.c — the opaque paging cursor: the first byte picks one of a
 * few queries, the rest is the cursor= value the client sends back.
 * Properties: an accepted cursor decodes to a finite distance >= 0 and
 * re-encodes to a cursor with the same resume point; the bytes also
 * make a (distance, id) whose encoding decodes back bit for bit, or, for
 * a distance no search returns (NaN, infinite, negative), is refused. */
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "search_params.h"

static const search_arg_t queries[][5] = {
    {{"latitude", "37.7749"}, {"longitude", "-122.4194"}},
    {{"latitude", "90"}, {"longitude", "180"}, {"radius", "40000"}, {"limit", "50"}},
    {{"latitude", "-33.86"}, {"longitude", "151.2"}, {"mode", "nearest"}, {"limit", "1"}},
    {{"latitude", "0"}, {"longitude", "0"}, {"radius", "1"}, {"categories", "cafe,bakery"}},
};
static const size_t nargs[] = {2, 4, 4, 4};
#define NQUERIES (sizeof nargs / sizeof nargs[0])

static int parse_with(size_t qi, const char *cursor, search_params_t *out)
{
    search_arg_t args[6];
    memcpy(args, queries[qi], nargs[qi] * sizeof args[0]);
    size_t n = nargs[qi];
    if (cursor)
        args[n++] = (search_arg_t){"cursor", cursor};
    search_error_t err;
    return search_params_parse(args, n, out, &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > 512)
        return 0;
    size_t qi = data[0] % NQUERIES;
    search_params_t base;
    FUZZ_CHECK(parse_with(qi, NULL, &base) == 0, "query %zu refused", qi);

    char cur[513];
    memcpy(cur, data + 1, size - 1);
    cur[size - 1] = '\0';
    search_params_t p;
    if (parse_with(qi, cur, &p) == 0) {
        FUZZ_CHECK(p.has_cursor, "cursor accepted but not set");
        FUZZ_CHECK(isfinite(p.after_distance_m) && p.after_distance_m >= 0, "distance %.17g",
                   p.after_distance_m);
        char again[SEARCH_CURSOR_MAX];
        search_cursor_encode(&base, p.after_distance_m, p.after_id, again);
        search_params_t p2;
        FUZZ_CHECK(parse_with(qi, again, &p2) == 0, "re-encoded cursor refused");
        FUZZ_CHECK(memcmp(&p2.after_distance_m, &p.after_distance_m, sizeof(double)) == 0 &&
                       p2.after_id == p.after_id,
                   "re-encoded cursor moved");
    }

    /* Round trip of a point made of the input bytes. */
    if (size >= 17) {
        double d;
        int64_t id;
        memcpy(&d, data + 1, sizeof d);
        memcpy(&id, data + 9, sizeof id);
        char enc[SEARCH_CURSOR_MAX];
        search_cursor_encode(&base, d, id, enc);
        FUZZ_CHECK(strlen(enc) < SEARCH_CURSOR_MAX, "cursor too long");
        search_params_t r;
        int rc = parse_with(qi, enc, &r);
        if (isfinite(d) && d >= 0) {
            FUZZ_CHECK(rc == 0, "cursor for %.17g/%lld refused", d, (long long)id);
            FUZZ_CHECK(memcmp(&r.after_distance_m, &d, sizeof d) == 0 && r.after_id == id,
                       "cursor for %.17g/%lld gives %.17g/%lld", d, (long long)id,
                       r.after_distance_m, (long long)r.after_id);
        } else {
            FUZZ_CHECK(rc != 0, "cursor for distance %.17g accepted", d);
        }
        /* Bound to its query: another query refuses it (unless identical). */
        size_t other = (qi + 1) % NQUERIES;
        FUZZ_CHECK(parse_with(other, enc, &r) != 0, "cursor of query %zu accepted by %zu", qi, other);
    }
    return 0;
}
