/* bench_gzip.c — what gzip costs and saves on search responses: a page of
 * 20 and of 50 businesses (realistic fields, as the cache encodes them,
 * plus distances), compressed as proximityd does (zlib level 1 on the
 * thread's reused stream). Prints figures; asserts nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "business.h"
#include "clock.h"
#include "compress.h"

static char *page(int n, size_t *len)
{
    static const char *const cats[] = {"cafe", "bakery", "restaurant", "bar", "pharmacy"};
    size_t cap = 4096, used = 0;
    char *out = malloc(cap);
    used += (size_t)snprintf(out, cap, "{\"total\":%d,\"businesses\":[", n * 7);
    for (int i = 0; i < n; i++) {
        char name[64], street[64], phone[32], site[64];
        snprintf(name, sizeof name, "Business %d %s", 1000 + i * 37, i % 3 ? "Caf\xc3\xa9" : "Market");
        snprintf(street, sizeof street, "%d Lambton Quay", 10 + i * 3);
        snprintf(phone, sizeof phone, "+64 4 555 %04d", i * 13);
        snprintf(site, sizeof site, "https://example.org/b/%d", 1000 + i * 37);
        business_t b = {
            .id = 1000 + i * 37, .version = 50000 + i, .owner = "anonymous", .name = name,
            .categories = {(char *)cats[i % 5], (char *)cats[(i + 2) % 5]}, .ncategories = 2,
            .latitude = -41.2865 + i * 1e-4, .longitude = 174.7762 - i * 1e-4, .street = street,
            .city = "Wellington", .postal_code = "6011", .country = "NZ", .phone = phone,
            .website = site, .price = 1 + i % 4, .created_at = "2026-11-22T10:00:00.000000Z",
            .updated_at = "2026-11-22T10:00:00.000000Z",
        };
        json_t *doc = business_to_json(&b);
        char *js = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(15));
        json_decref(doc);
        size_t jl = strlen(js);
        if (used + jl + 64 > cap) {
            cap = (used + jl + 64) * 2;
            out = realloc(out, cap);
        }
        used += (size_t)snprintf(out + used, cap - used, "%s%.*s,\"distance\":%.7g}", i ? "," : "",
                                 (int)jl - 1, js, 12.5 + i * 31.25);
        free(js);
    }
    used += (size_t)snprintf(out + used, cap - used, "],\"next_cursor\":\"AQAAAAAAAAAAAAAAAAAAAAcAAAAA\"}");
    *len = used;
    return out;
}

int main(void)
{
    int sizes[] = {20, 50};
    for (int k = 0; k < 2; k++) {
        size_t n, gz_len = 0;
        char *body = page(sizes[k], &n);
        int iters = 20000;
        double t0 = clock_monotonic();
        for (int i = 0; i < iters; i++) {
            char *gz = compress_gzip_new(body, n, 1, &gz_len);
            free(gz);
        }
        double us = (clock_monotonic() - t0) / iters * 1e6;
        printf("search page of %d: %zu B -> %zu B gzip (%.1fx), %.1f us per page, %.0f MB/s on one core\n",
               sizes[k], n, gz_len, (double)n / (double)gz_len, us, (double)n / us);
        free(body);
    }
    return 0;
}
