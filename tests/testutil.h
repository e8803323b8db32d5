/* testutil.h — integration-test support: the real proximityd on a free
 * port, HTTP through libcurl, JSON subset matching, the pg harness. */
#ifndef PROXIMITY_TESTUTIL_H
#define PROXIMITY_TESTUTIL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct tu_server {
    pid_t pid;
    int port;
    char dir[256];  /* temp dir with the port file and the log */
} tu_server_t;

typedef struct tu_response {
    long status;
    char *body;
    size_t body_len;
    char *headers; /* raw header block */
    json_t *json;  /* parsed body, or NULL */
} tu_response_t;

/* Starts proximityd (top_builddir/src/proximityd) with the environment
 * plus extra "--flag=value" arguments (NULL-terminated). Waits until it
 * answers /healthz. Returns 0 or -1. */
int tu_server_start(tu_server_t *srv, const char *const *extra_args);

/* Sends SIGTERM and waits; returns the exit status (or -1). */
int tu_server_stop(tu_server_t *srv);

/* One HTTP request: headers is a NULL-terminated list of "Name: value"
 * lines; body may be NULL. Returns 0 on a completed exchange. */
int tu_http(const tu_server_t *srv, const char *method, const char *path,
            const char *const *headers, const char *body, size_t body_len, tu_response_t *out);

/* The value of a response header (static buffer per call), or NULL. */
const char *tu_header(const tu_response_t *r, const char *name);

void tu_response_free(tu_response_t *r);

/* Polls /readyz every 100 ms until it answers 200; false after seconds. */
bool tu_wait_ready(const tu_server_t *srv, int seconds);

/* True when every member of expect is in actual with an equal value
 * (objects compared as subsets, recursively; arrays and scalars exactly). */
bool tu_json_subset(const json_t *expect, const json_t *actual);

/* Runs tests/pgcluster.sh with the given arguments against the cluster
 * of this test run ($PROXIMITY_TEST_PGDIR); returns its exit status. */
int tu_pgcluster(const char *args);

/* Runs one SQL statement on the primary; returns the first column of the
 * first row as a new string (or NULL on error / no row). */
char *tu_sql(const char *sql);

/* ---- the index against the table (it_cdc, it_soak, it_faults) ---------- */

/* The primary's current WAL position (pg_current_wal_lsn) into token: a
 * consistency token that covers every write made so far. Retries for up
 * to 10 s while the primary restarts; returns 0 or -1. */
int tu_primary_position(char *token, size_t len);

/* Waits until a search on srv presenting token answers 200 (srv's index
 * has applied it); false after seconds, or on an answer other than 503. */
bool tu_wait_applied(const tu_server_t *srv, const char *token, int seconds);

/* Compares srv's /debug/index (proximityd --debug=1) with every live row
 * of the businesses table on the primary: ids, versions, coordinates.
 * Prints the first differences to stderr. Returns how many there are
 * (0 = equal), or -1 if either side could not be read; *rows (may be
 * NULL) = live rows in the table. */
long tu_index_diff(const tu_server_t *srv, size_t *rows);

/* Path of a file under the source tree. */
const char *tu_srcpath(const char *rel, char *buf, size_t len);

#endif
