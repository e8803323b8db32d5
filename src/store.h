/* store.h — PostgreSQL access: a small pool per server, writes on the
 * primary, reads on replicas with failover to the next one, then the primary. */
#ifndef PROXIMITY_STORE_H
#define PROXIMITY_STORE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"

typedef struct store store_t;
typedef struct store_conn store_conn_t;

typedef enum {
    STORE_ERR_NONE = 0,
    STORE_ERR_UNAVAILABLE, /* no server could be reached, or it went away */
    STORE_ERR_QUERY,       /* the server refused the statement: see sqlstate */
} store_err_kind_t;

typedef struct store_error {
    store_err_kind_t kind;
    char sqlstate[6];
    char message[256];
} store_error_t;

/* Creates the pools from cfg (no connection is opened yet). */
store_t *store_new(const config_t *cfg);
void store_free(store_t *s);

/* A consistency token: a WAL position ("16/B374D848"), opaque to clients. */
#define STORE_TOKEN_LEN 40

/* Runs one read statement on a read node: replicas in rotation, nodes
 * seen down recently last, the primary after the replicas. With min_token
 * (else NULL), a replica is used only if it has replayed at least that
 * position. *res is owned by the caller (PQclear). Returns 0, or -1 with
 * err filled. */
int store_read(store_t *s, const char *min_token, const char *sql, int nparams,
               const char *const *params, PGresult **res, store_error_t *err);

/* True when token has the form of a WAL position. */
bool store_token_valid(const char *token);

/* Opens a transaction on the primary. Returns a leased connection, or NULL
 * with err filled. Finish with store_commit or store_rollback. */
store_conn_t *store_begin(store_t *s, store_error_t *err);

/* Runs one statement inside the transaction. */
int store_exec(store_conn_t *c, const char *sql, int nparams, const char *const *params,
               PGresult **res, store_error_t *err);

/* Commits and releases the connection; token (STORE_TOKEN_LEN bytes, or
 * NULL) receives a WAL position at or after the commit. Returns 0 or -1. */
int store_commit(store_conn_t *c, char *token, store_error_t *err);

/* Rolls back and releases the connection. */
void store_rollback(store_conn_t *c);

/* Streams `COPY (…) TO STDOUT` (text format) from a read node, calling
 * row(ctx, line, len) for each row (line NUL-terminated without its
 * newline; the callback may modify it). With min_token (else NULL), only a
 * replica that has replayed that position is used: lagging replicas get
 * up to wait_ms to catch up, then the primary serves. Fails over to the
 * next node only while no row has been delivered. A callback returning -1
 * stops the copy (then -1 with kind STORE_ERR_QUERY).
 * Returns 0, or -1 with err filled. */
int store_copy_out(store_t *s, const char *min_token, int wait_ms, const char *copy_sql,
                   int (*row)(void *ctx, char *line, size_t len), void *ctx, store_error_t *err);

/* True when some read node answered within the last second or answers now. */
bool store_readable(store_t *s);

/* One database server's pool, for /metrics. */
typedef struct store_node_stats {
    const char *role;  /* "primary" | "replica" (static) */
    int index;         /* position among the replicas (0 for the primary) */
    int idle, in_use;  /* pooled idle connections, connections leased now */
    unsigned long long connects, connect_failures, errors; /* errors: failed statements */
    bool down;         /* failed within the last second (tried last) */
} store_node_stats_t;

/* Fills out[] with the primary, then each replica; returns how many (at
 * most max). */
int store_stats(store_t *s, store_node_stats_t *out, int max);

#endif
