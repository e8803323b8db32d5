/* replstream.h — a logical replication stream from the primary over libpq:
 * temporary pgoutput slot, XLogData to a callback, keepalives answered,
 * standby status updates with what the caller confirmed as applied. */
#ifndef PROXIMITY_REPLSTREAM_H
#define PROXIMITY_REPLSTREAM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* "X/Y" as PostgreSQL prints an LSN: two hex halves, at most 8 digits each. */
#define REPLSTREAM_LSN_LEN 18

/* Parses "X/Y" into *lsn; returns 0, or -1 if s is not an LSN. */
int replstream_lsn_parse(const char *s, uint64_t *lsn);

/* Formats lsn as "X/Y" into buf (REPLSTREAM_LSN_LEN bytes); returns buf. */
char *replstream_lsn_format(uint64_t lsn, char *buf, size_t len);

typedef struct replstream_options {
    const char *url;         /* a normal libpq URI or key=value string */
    const char *slot_name;   /* [a-z0-9_]{1,63}; TEMPORARY unless durable */
    const char *publication; /* NULL: "proximity_businesses" */
    int status_interval_ms;  /* <= 0: 10000; status updates at least this often */
    /* A durable slot (the relay's): created if missing, reused as it is on
     * a restart (streaming resumes at its confirmed_flush_lsn), kept when
     * the connection closes. Status updates then report only what the
     * caller confirmed, never a keepalive's position: only the caller knows
     * where its transactions end (see replstream_confirm). */
    bool durable;
} replstream_options_t;

typedef struct replstream_callbacks {
    /* One XLogData message: data (len bytes, valid during the call) starts
     * at WAL position wal_start; wal_end is the server's end of WAL. Return
     * 0 to go on, -1 (with err set) to make replstream_run fail. */
    int (*on_data)(void *ctx, uint64_t wal_start, uint64_t wal_end, const uint8_t *data,
                   size_t len, char *err, size_t errlen);
    /* Optional: a primary keepalive (after any reply it asked for). */
    void (*on_keepalive)(void *ctx, uint64_t wal_end, bool reply_requested);
    void *ctx;
} replstream_callbacks_t;

typedef struct replstream_stats {
    uint64_t xlogdata;      /* 'w' messages handed to on_data */
    uint64_t keepalives;    /* 'k' messages received */
    uint64_t replies;       /* keepalives that asked for a reply */
    uint64_t status_sent;   /* 'r' standby status updates sent */
    uint64_t bytes;         /* XLogData payload bytes */
    uint64_t server_wal_end; /* latest end of WAL the server reported */
} replstream_stats_t;

typedef struct replstream replstream_t;

/* Connects with replication=database, runs IDENTIFY_SYSTEM and creates the
 * temporary logical slot (or, durable, finds or creates the named one).
 * Returns a new handle, or NULL with err set. A temporary slot lives as
 * long as the connection; streaming starts at the first replstream_run,
 * from replstream_start_lsn. */
replstream_t *replstream_open(const replstream_options_t *opt, char *err, size_t errlen);

/* The slot's consistent point: the stream delivers every transaction that
 * commits after it (P of DESIGN §2 step 3). For a reused durable slot, its
 * confirmed_flush_lsn. */
uint64_t replstream_start_lsn(const replstream_t *rs);

/* True when replstream_open found the durable slot already there. */
bool replstream_slot_reused(const replstream_t *rs);

/* IDENTIFY_SYSTEM's system identifier (decimal text) and timeline. */
const char *replstream_system_id(const replstream_t *rs);
unsigned replstream_timeline(const replstream_t *rs);

/* Streams until *stop is set (checked at least every 100 ms; stop may be
 * NULL), timeout_ms passes (< 0: no limit) or an error. Returns 0 on stop
 * or timeout (call again to go on), -1 with err set on a connection or
 * protocol error or a failing callback; after -1 the handle can only be
 * closed. Not reentrant; on_data runs on the calling thread. */
int replstream_run(replstream_t *rs, const replstream_callbacks_t *cb, const atomic_bool *stop,
                   int timeout_ms, char *err, size_t errlen);

/* Records lsn as written, flushed and applied (it never moves back); sent
 * in the next status update. Safe from any thread. On a temporary slot,
 * once everything handed to on_data is confirmed, keepalive positions
 * count as applied too; a durable slot's owner confirms those itself.
 * Confirm a transaction's commit end_lsn: the server then skips it (and
 * everything before it) when a durable slot is streamed again. */
void replstream_confirm(replstream_t *rs, uint64_t lsn);

/* The position last reported to the server as applied (0 before any). */
uint64_t replstream_applied(const replstream_t *rs);

/* Sends a status update now (during or between runs); 0 or -1. */
int replstream_send_status(replstream_t *rs, bool reply_requested, char *err, size_t errlen);

void replstream_stats(const replstream_t *rs, replstream_stats_t *out);

/* Closes the connection (which drops a temporary slot) and frees rs. */
void replstream_close(replstream_t *rs);

#endif
