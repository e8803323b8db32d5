/* fuzz_debezium.c — the Kafka source's parser of Debezium envelopes: the
 * input is a record value, optionally followed by a NUL byte and the
 * record's key (the seeds are tests/debezium/good and bad). An empty
 * value is a tombstone.
 * Properties: no crash; an accepted event has a positive id (but a
 * truncate) and a valid location; our encoding of an accepted row parses
 * back to the same row, and so does the key. */
#include <string.h>

#include "debezium.h"
#include "fuzz.h"
#include "fuzz_row.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    const uint8_t *nul = memchr(data, 0, size);
    size_t vlen = nul ? (size_t)(nul - data) : size;
    size_t klen = nul ? size - vlen - 1 : 0;
    /* Exact copies, so that ASan sees a read past either. */
    char *value = vlen ? malloc(vlen) : NULL;
    char *key = nul ? malloc(klen ? klen : 1) : NULL;
    if (value)
        memcpy(value, data, vlen);
    if (key)
        memcpy(key, nul + 1, klen);

    debezium_event_t ev;
    char err[256];
    if (debezium_parse(value, vlen, key, klen, &ev, err, sizeof err) != 0) {
        FUZZ_CHECK(err[0] != '\0', "refused without a reason");
        goto out;
    }
    const pgoutput_business_t *r = &ev.row;
    FUZZ_CHECK(strchr("cudrtT", (char)ev.op) != NULL, "op %d", (int)ev.op);
    if (ev.op != DEBEZIUM_TRUNCATE && ev.op != DEBEZIUM_TOMBSTONE)
        FUZZ_CHECK(r->id > 0 && (r->present & PGOUTPUT_BF_ID), "event without id accepted");
    if (r->has_location)
        FUZZ_CHECK(r->lat >= -90 && r->lat <= 90 && r->lng >= -180 && r->lng <= 180,
                   "location %.17g,%.17g", r->lat, r->lng);
    FUZZ_CHECK(r->price >= 0 && r->price <= 4, "price %d", r->price);
    FUZZ_CHECK(ev.op != DEBEZIUM_DELETE || r->deleted, "delete not marked deleted");

    if (r->id > 0) {
        char *k = debezium_key_new(r->id);
        int64_t id = 0;
        FUZZ_CHECK(debezium_key_parse(k, strlen(k), &id, err, sizeof err) == 0 && id == r->id,
                   "key of %lld", (long long)r->id);
        free(k);
    }
    if (ev.op != DEBEZIUM_TOMBSTONE && (ev.op == DEBEZIUM_TRUNCATE || fuzz_row_portable(r))) {
        debezium_source_t src = {.name = "fuzz", .lsn = ev.lsn, .txid = ev.txid, .ts_ms = ev.ts_ms};
        bool del = ev.op == DEBEZIUM_DELETE, row = ev.op != DEBEZIUM_TRUNCATE;
        size_t len;
        char *again = debezium_value_new(ev.op, del ? r : NULL, row && !del ? r : NULL, &src, 0, &len,
                                         err, sizeof err);
        FUZZ_CHECK(again != NULL, "cannot encode an accepted event: %s", err);
        debezium_event_t ev2;
        FUZZ_CHECK(debezium_parse(again, len, NULL, 0, &ev2, err, sizeof err) == 0,
                   "own envelope refused: %s: %s", err, again);
        FUZZ_CHECK(ev2.op == ev.op && ev2.lsn == ev.lsn && ev2.txid == ev.txid, "header changed");
        fuzz_row_expect_equal(r, &ev2.row);
        debezium_event_clear(&ev2);
        free(again);
    }
    debezium_event_clear(&ev);
out:
    free(value);
    free(key);
    return 0;
}
