/* cdc.h — the change stream that keeps a proximityd current (DESIGN §1
 * transport pg, §2): a logical replication stream from the primary on a
 * temporary slot, decoded and applied by version to the index and the
 * cache, re-synchronised by the start-up protocol after every reconnect.
 *
 * One thread: it opens the stream at P, asks the searcher for a snapshot
 * at or after P (searcher_resync), and applies each transaction whole at
 * its commit, so a build never sees half of one. A truncate of the table
 * asks for a new snapshot. The connection dropping leaves the last index
 * serving; the thread reconnects with backoff and starts over. */
#ifndef PROXIMITY_CDC_H
#define PROXIMITY_CDC_H

#include <stdbool.h>
#include <stdint.h>

#include "cache.h"
#include "config.h"
#include "pgoutput.h"
#include "searcher.h"

typedef struct cdc cdc_t;

typedef struct cdc_stats {
    bool connected;          /* the stream is open and answering */
    uint64_t position;       /* log position the index is complete up to */
    uint64_t server_wal_end; /* the primary's end of WAL, as last reported */
    double lag_s;            /* seconds since the index was last known complete */
    uint64_t transactions;   /* committed transactions applied */
    uint64_t events;         /* row changes of the businesses table seen */
    uint64_t applied;        /* changes the index took */
    uint64_t stale;          /* changes ignored as not newer than the index */
    uint64_t truncates;      /* truncates seen (each triggers a rebuild) */
    uint64_t reconnects;     /* streams opened after the first */
    uint64_t errors;         /* streams that ended in an error */
    uint64_t malformed;      /* rows that did not decode (skipped, logged) */
} cdc_stats_t;

/* Starts the consumer thread for cfg (transport pg or kafka). */
cdc_t *cdc_start(const config_t *cfg, searcher_t *searcher, cache_t *cache);

/* Stops the thread and frees everything. */
void cdc_stop(cdc_t *c);

void cdc_stats(cdc_t *c, cdc_stats_t *st);

/* True while the stream is within max_lag_ms of the primary. */
bool cdc_caught_up(cdc_t *c, int max_lag_ms);

/* What one row image means for the index and the cache: a point to upsert
 * or a removal, plus the business's JSON for the cache when the image
 * carries every field (else NULL). Returns 0, or -1 when the row cannot be
 * applied (no version, no location). Exposed for tests. */
int cdc_row_change(const pgoutput_business_t *b, searcher_change_t *out, char **json, size_t *len);

/* "2026-12-04 20:59:28.12+01" (PostgreSQL's ISO output of timestamptz) →
 * "2026-12-04T19:59:28.120000Z", as the API prints timestamps. Returns 0,
 * or -1 if s is not such a timestamp. Exposed for tests. */
int cdc_timestamp_rfc3339(const char *s, char *out, size_t outlen);

#endif
