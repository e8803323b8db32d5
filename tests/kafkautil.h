/* kafkautil.h — Kafka in integration tests: the mock cluster process
 * (tests/kafka_mock) and kcat as an independent client. */
#ifndef PROXIMITY_KAFKAUTIL_H
#define PROXIMITY_KAFKAUTIL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

typedef struct ku_kafka {
    pid_t pid;
    FILE *in, *out;       /* its stdin (commands) and stdout (answers) */
    char bootstrap[512];
    char topic[128];
} ku_kafka_t;

/* Starts tests/kafka_mock with 3 brokers and topic (partitions). 0 or -1. */
int ku_kafka_start(ku_kafka_t *k, const char *topic, int partitions);

/* Sends one control command ("down all", "up 2", …); 0 on "OK". */
int ku_kafka_cmd(ku_kafka_t *k, const char *cmd);

void ku_kafka_stop(ku_kafka_t *k);

/* True when kcat is on PATH. */
bool ku_have_kcat(void);

/* Produces lines "KEY<TAB>VALUE\n" (an empty VALUE is a null value, a
 * tombstone) with kcat to partition (-1: by key). 0 or -1. */
int ku_kcat_produce(const ku_kafka_t *k, int partition, const char *lines);

/* Reads the whole topic with kcat (-C -e -J); returns a JSON array of
 * kcat's records ({partition, offset, key, payload}), or NULL. */
json_t *ku_kcat_consume(const ku_kafka_t *k);

#endif
