/* relay.h — the proximity-cdc relay: one durable pgoutput slot on the
 * primary to a Kafka topic of Debezium-style envelopes (key = business id,
 * a tombstone after each delete), through an idempotent producer. A
 * transaction's position is confirmed to Postgres only once Kafka has
 * acknowledged every message of it and of all before it, so a relay killed
 * at any moment resumes from the slot without a gap (at-least-once). */
#ifndef PROXIMITY_RELAY_H
#define PROXIMITY_RELAY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relay_config.h"

typedef struct relay relay_t;

/* What /metrics shows; a snapshot, readable from any thread. */
typedef struct relay_metrics {
    uint64_t events;          /* envelopes acknowledged by Kafka */
    uint64_t tombstones;      /* tombstones acknowledged */
    uint64_t produced;        /* messages handed to the producer */
    uint64_t inflight;        /* produced, not yet acknowledged */
    uint64_t transactions;    /* transactions confirmed to Postgres */
    uint64_t confirmed_lsn;   /* last position confirmed */
    uint64_t server_wal_end;  /* latest end of WAL the primary reported */
    uint64_t lag_bytes;       /* server_wal_end - confirmed_lsn */
    double lag_seconds;       /* age of the oldest unconfirmed commit (0: none) */
    uint64_t reconnects;      /* replication streams reopened */
    uint64_t backpressure_waits; /* times reading stopped for a full in-flight window */
    uint64_t delivery_errors;
    bool streaming;           /* a replication stream is open */
} relay_metrics_t;

/* Creates the producer (nothing is connected yet). Returns a new relay,
 * or NULL with err set for a configuration librdkafka refuses. */
relay_t *relay_new(const relay_config_t *cfg, char *err, size_t errlen);

/* Streams until *stop is set: opens the slot (again after any loss of the
 * stream, every reconnect_ms), produces, confirms. On stop, waits up to
 * flush_ms for outstanding acknowledgements and reports the last
 * position. Returns 0, or an EX_* code after a failure that needs a
 * restart (a delivery that failed for good, a fatal producer error). */
int relay_run(relay_t *r, const atomic_bool *stop, int flush_ms);

void relay_metrics(relay_t *r, relay_metrics_t *out);

void relay_free(relay_t *r);

#endif
