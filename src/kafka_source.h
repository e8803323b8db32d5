/* kafka_source.h — the consumer side of the Kafka change log: reads every
 * partition of the topic (assigned, no consumer group: each proximityd
 * replica sees all changes), parses each record as a Debezium envelope and
 * hands it to a callback with its partition and offset. Broker outages are
 * ridden out by librdkafka's reconnects; lost offsets (retention passed us)
 * are an error, since they mean a gap that only a rebuild can close.
 *
 * Start-up protocol (DESIGN §2 step 3 for this transport): note the end
 * offsets (kafka_source_end_offsets), load the snapshot, then
 * kafka_source_start from those offsets; changes seen twice are absorbed
 * by the version rule. */
#ifndef PROXIMITY_KAFKA_SOURCE_H
#define PROXIMITY_KAFKA_SOURCE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "debezium.h"

typedef struct kafka_source_options {
    const char *brokers;      /* bootstrap servers */
    const char *topic;
    const char *extra_config; /* "k=v,k=v" librdkafka properties, or NULL */
} kafka_source_options_t;

/* One record, valid during the callback. */
typedef struct kafka_change {
    const debezium_event_t *ev;
    int32_t partition;
    int64_t offset;
    int64_t timestamp_ms; /* the record's timestamp (-1 if none) */
} kafka_change_t;

/* Returns 0 to go on, -1 (with err set) to make kafka_source_poll fail. */
typedef int (*kafka_source_cb)(void *ctx, const kafka_change_t *ch, char *err, size_t errlen);

typedef struct kafka_source_stats {
    uint64_t records;   /* records read */
    uint64_t delivered; /* handed to the callback */
    uint64_t malformed; /* records that do not parse: logged and skipped */
    uint64_t errors;    /* transient consumer errors (brokers down, …) */
} kafka_source_stats_t;

typedef struct kafka_source kafka_source_t;

/* Creates the consumer and learns the topic's partitions (waits up to
 * timeout_ms for the brokers). Returns a new source, or NULL with err set. */
kafka_source_t *kafka_source_new(const kafka_source_options_t *opt, int timeout_ms, char *err,
                                 size_t errlen);

/* The number of partitions of the topic. */
int kafka_source_partitions(const kafka_source_t *ks);

/* The end offset (high watermark: the offset the next record will get) of
 * every partition into offsets[0..partitions). Returns 0, or -1 with err. */
int kafka_source_end_offsets(kafka_source_t *ks, int64_t *offsets, int timeout_ms, char *err,
                             size_t errlen);

/* Starts reading every partition at offsets[p] (NULL: from the beginning).
 * Returns 0, or -1 with err set. */
int kafka_source_start(kafka_source_t *ks, const int64_t *offsets, char *err, size_t errlen);

/* Delivers the records that arrive within timeout_ms (at most max) to cb.
 * Returns the number delivered, or -1 with err set (callback failure, lost
 * offsets, a fatal consumer error). */
int kafka_source_poll(kafka_source_t *ks, kafka_source_cb cb, void *ctx, int timeout_ms, int max,
                      char *err, size_t errlen);

/* The next offset to be read of every partition (after the last record
 * handed over; the start offset before any). */
void kafka_source_positions(const kafka_source_t *ks, int64_t *offsets);

/* True once every partition's position has reached offsets[p]. */
bool kafka_source_caught_up(const kafka_source_t *ks, const int64_t *offsets);

void kafka_source_stats(const kafka_source_t *ks, kafka_source_stats_t *out);

void kafka_source_free(kafka_source_t *ks);

#endif
