/* fuzz_pgoutput.c — the logical replication decoder: the input is a stream
 * of pgoutput messages, each framed by a 2-byte big-endian length (the
 * seeds are real messages from pg_logical_slot_get_binary_changes), fed to
 * one decoder so relations stay cached across messages. Every row change
 * is mapped to a businesses row as src/cdc.c and src/relay.c do.
 * Properties: no crash or over-read (ASan); a mapped row has its id and a
 * valid location; the relay's envelope of a row parses back to the same
 * row (the Kafka path loses nothing the pg path keeps). */
#include <string.h>

#include "debezium.h"
#include "fuzz.h"
#include "fuzz_row.h"
#include "pgoutput.h"

static void check_row(const pgoutput_business_t *b)
{
    FUZZ_CHECK(b->present & PGOUTPUT_BF_ID, "row without id accepted");
    if (b->has_location)
        FUZZ_CHECK(b->lat >= -90 && b->lat <= 90 && b->lng >= -180 && b->lng <= 180,
                   "location %.17g,%.17g", b->lat, b->lng);
    FUZZ_CHECK(b->price >= 0 && b->price <= 4, "price %d", b->price);
}

/* The relay's encoding of one change, parsed back by the Kafka source. */
static void relay_round_trip(debezium_op_t op, const pgoutput_business_t *before,
                             const pgoutput_business_t *after)
{
    const pgoutput_business_t *row = after ? after : before;
    if (!fuzz_row_portable(row) || (before && !fuzz_row_portable(before)))
        return;
    debezium_source_t src = {.name = "fuzz", .db = "proximity", .lsn = 0x16B3748, .txid = 741,
                             .ts_ms = 1700000000000};
    char err[256];
    size_t len;
    char *value = debezium_value_new(op, before, after, &src, 1700000000001, &len, err, sizeof err);
    FUZZ_CHECK(value != NULL, "relay refused to encode: %s", err);
    char *key = debezium_key_new(row->id);
    debezium_event_t ev;
    int rc = debezium_parse(value, len, key, strlen(key), &ev, err, sizeof err);
    FUZZ_CHECK(rc == 0, "relay's envelope refused: %s: %s", err, value);
    FUZZ_CHECK(ev.op == op && ev.lsn == src.lsn && ev.txid == src.txid, "envelope header changed");
    if (op == DEBEZIUM_DELETE) {
        FUZZ_CHECK(ev.row.id == before->id && ev.row.deleted, "delete of %lld became %lld",
                   (long long)before->id, (long long)ev.row.id);
    } else {
        fuzz_row_expect_equal(after, &ev.row);
    }
    debezium_event_clear(&ev);
    free(key);
    free(value);
}

static void on_change(const pgoutput_msg_t *m)
{
    const pgoutput_relation_t *rel = m->rel;
    FUZZ_CHECK(rel != NULL, "row change without a relation");
    pgoutput_business_t before, after;
    bool has_before = false, has_after = false;
    char err[256];
    if (m->kind != PGOUTPUT_DELETE && pgoutput_business_from_tuple(rel, &m->newtup, &after, err, sizeof err) == 0) {
        check_row(&after);
        has_after = true;
    }
    if (m->old_kind && pgoutput_business_from_tuple(rel, &m->oldtup, &before, err, sizeof err) == 0) {
        check_row(&before);
        has_before = true;
    }
    if (m->kind == PGOUTPUT_INSERT && has_after)
        relay_round_trip(DEBEZIUM_CREATE, NULL, &after);
    else if (m->kind == PGOUTPUT_UPDATE && has_after)
        relay_round_trip(DEBEZIUM_UPDATE, has_before ? &before : NULL, &after);
    else if (m->kind == PGOUTPUT_DELETE && has_before)
        relay_round_trip(DEBEZIUM_DELETE, &before, NULL);
    if (has_before)
        pgoutput_business_clear(&before);
    if (has_after)
        pgoutput_business_clear(&after);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pgoutput_decoder_t *d = pgoutput_decoder_new();
    size_t off = 0;
    while (off + 2 <= size) {
        size_t len = (size_t)data[off] << 8 | data[off + 1];
        off += 2;
        if (len > size - off)
            len = size - off;
        /* A copy of exactly len bytes, so ASan catches any read past it. */
        uint8_t *msg = malloc(len ? len : 1);
        FUZZ_CHECK(msg != NULL, "out of memory");
        memcpy(msg, data + off, len);
        off += len;
        pgoutput_msg_t m;
        char err[256];
        if (pgoutput_decode(d, msg, len, &m, err, sizeof err) == 0) {
            if (m.kind == PGOUTPUT_INSERT || m.kind == PGOUTPUT_UPDATE || m.kind == PGOUTPUT_DELETE)
                on_change(&m);
            else if (m.kind == PGOUTPUT_RELATION)
                FUZZ_CHECK(m.rel && pgoutput_relation(d, m.rel->oid) == m.rel, "relation not cached");
        } else {
            FUZZ_CHECK(err[0] != '\0', "refused without a reason");
        }
        free(msg);
    }
    pgoutput_decoder_free(d);
    return 0;
}
