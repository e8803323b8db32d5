/* debezium_expect.h — compares a parsed Debezium event with the
 * tests/debezium/good/NAME.expect description of it (check_debezium and
 * it_kafka_source share it). */
#ifndef PROXIMITY_DEBEZIUM_EXPECT_H
#define PROXIMITY_DEBEZIUM_EXPECT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "debezium.h"

/* True when every member of expect (op, id, version, lat, lng, deleted,
 * categories, lsn, txid, ts_ms and any string column) matches ev; else
 * false with the first difference in why. */
bool debezium_expect_match(const json_t *expect, const debezium_event_t *ev, char *why,
                           size_t whylen);

/* Reads a whole file into a new NUL-terminated buffer (*len bytes), or NULL. */
char *debezium_expect_slurp(const char *path, size_t *len);

#endif
