/* fuzz_row.h — comparing two decoded businesses rows (fuzz_pgoutput.c,
 * fuzz_debezium.c): the relay's envelope must carry a row unchanged. */
#ifndef PROXIMITY_FUZZ_ROW_H
#define PROXIMITY_FUZZ_ROW_H

#include <stdbool.h>

#include "pgoutput.h"

/* True if the row can travel in an envelope at all: a positive id, no
 * NULL category, valid UTF-8 text, timestamps in a form debezium_ts_parse
 * reads (the database's CHECKs, its UTF8 encoding and its clock guarantee
 * all of them for real rows). */
bool fuzz_row_portable(const pgoutput_business_t *b);

/* Aborts (FUZZ_CHECK) naming the first field where a and b differ;
 * timestamps compare as instants, whatever their text. */
void fuzz_row_expect_equal(const pgoutput_business_t *a, const pgoutput_business_t *b);

#endif
