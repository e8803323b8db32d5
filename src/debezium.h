/* debezium.h — Debezium-style change envelopes of the businesses table, both
 * ways: encode a pgoutput_business_t as the JSON key and value the relay
 * produces, and parse the events of our relay or of a genuine Debezium
 * PostgreSQL connector back into one. Pure (jansson only, no I/O): fuzzable. */
#ifndef PROXIMITY_DEBEZIUM_H
#define PROXIMITY_DEBEZIUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pgoutput.h"

/* The "op" of an envelope, plus the tombstone (a null value after a delete,
 * for log compaction) that has no envelope at all. */
typedef enum {
    DEBEZIUM_CREATE = 'c',
    DEBEZIUM_UPDATE = 'u',
    DEBEZIUM_DELETE = 'd',
    DEBEZIUM_READ = 'r',     /* a row of an initial snapshot */
    DEBEZIUM_TRUNCATE = 't', /* no row */
    DEBEZIUM_TOMBSTONE = 'T' /* null value: the key's id, nothing else */
} debezium_op_t;

/* The "source" block of an envelope we encode. */
typedef struct debezium_source {
    const char *name;     /* logical server name (Debezium's topic prefix) */
    const char *db;       /* database name */
    const char *schema;   /* NULL: "public" */
    const char *table;    /* NULL: "businesses" */
    uint64_t lsn;         /* WAL position of the change */
    int64_t txid;         /* transaction id (0: null) */
    int64_t ts_ms;        /* commit time, ms since the Unix epoch */
    bool snapshot;        /* "snapshot":"true" instead of "false" */
} debezium_source_t;

/* A parsed event. For c/u/r, row is "after"; for d, "before" (or only the
 * key's id when before is null), with row.deleted set; for a tombstone,
 * only row.id (0 when there was no usable key). */
typedef struct debezium_event {
    debezium_op_t op;
    pgoutput_business_t row;
    uint64_t lsn;  /* source.lsn (number, decimal or "X/Y" text); 0 if absent */
    int64_t txid;  /* source.txId; 0 if absent */
    int64_t ts_ms; /* source.ts_ms, else the envelope's ts_ms; 0 if absent */
} debezium_event_t;

/* The key for a business: {"id":N}. Returns a new string (free()). */
char *debezium_key_new(int64_t id);

/* Parses a key, {"id":N} or the schema-enabled {"schema":…,"payload":{"id":N}}.
 * Returns 0, or -1 with err set. */
int debezium_key_parse(const char *key, size_t len, int64_t *id, char *err, size_t errlen);

/* Encodes an envelope (Debezium's JsonConverter with schemas disabled: the
 * payload object itself). before may be NULL (c, r) and after may be NULL
 * (d); ts_ms is the relay's processing time. Returns a new string of
 * *len bytes (free()), or NULL with err set for an op/row combination
 * Debezium never emits. */
char *debezium_value_new(debezium_op_t op, const pgoutput_business_t *before,
                         const pgoutput_business_t *after, const debezium_source_t *src,
                         int64_t ts_ms, size_t *len, char *err, size_t errlen);

/* Parses one Kafka record: value of len bytes (NULL or len 0: a tombstone)
 * and, optionally, its key (used for tombstones and key-only deletes).
 * Accepts schemas enabled ({"schema","payload"}) or disabled. Fills *ev
 * (cleared first); returns 0, or -1 with err set (and *ev cleared) for
 * anything malformed. Never reads outside value/key. */
int debezium_parse(const char *value, size_t len, const char *key, size_t keylen,
                   debezium_event_t *ev, char *err, size_t errlen);

/* Frees what ev owns and zeroes it. */
void debezium_event_clear(debezium_event_t *ev);

/* ---- helpers, exposed for tests ----------------------------------------- */

/* Parses "YYYY-MM-DD[T ]HH:MM:SS[.f…][Z|±HH[:MM]]" (no zone = UTC), as
 * PostgreSQL prints timestamptz or as ISO 8601, into microseconds since the
 * Unix epoch. Returns 0 or -1. */
int debezium_ts_parse(const char *s, size_t len, int64_t *us);

/* Formats us as "YYYY-MM-DDTHH:MM:SS.ffffffZ" (the API's form) into buf
 * (at least DEBEZIUM_TS_LEN bytes); returns buf. */
#define DEBEZIUM_TS_LEN 32
char *debezium_ts_format(int64_t us, char *buf, size_t len);

#endif
