/* store.c — libpq connection pools with read failover. */
#include "store.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "clock.h"
#include "xalloc.h"

typedef struct node {
    char *url;
    pthread_mutex_t mu;
    PGconn **idle; /* at most pool_size kept open between uses */
    int nidle;
    _Atomic double down_until; /* tried last until then, after a failure */
    _Atomic double last_ok;
    _Atomic double last_fail;
    const char *role;  /* "primary" | "replica" */
    /* for /metrics (store_stats) */
    atomic_int in_use;
    atomic_ullong connects, connect_failures, errors;
} node_t;

struct store {
    node_t primary;
    node_t *replicas;
    int nreplicas;
    int pool_size;
    char connect_timeout[16];
    char options[64];
    char snapshot_timeout[64];
    atomic_uint rotation;
};

struct store_conn {
    store_t *store;
    node_t *node;
    PGconn *pg;
    bool pooled;   /* came from the idle list (may have died since) */
    bool no_reuse; /* session settings changed: close, never pool */
};

static void node_init(node_t *n, const char *url, const char *role, int pool_size)
{
    memset(n, 0, sizeof *n); /* replicas come from xrealloc, not zeroed */
    n->url = xstrdup(url);
    pthread_mutex_init(&n->mu, NULL);
    n->idle = xcalloc((size_t)pool_size, sizeof *n->idle);
    n->role = role;
}

static void node_destroy(node_t *n)
{
    for (int i = 0; i < n->nidle; i++)
        PQfinish(n->idle[i]);
    free(n->idle);
    free(n->url);
    pthread_mutex_destroy(&n->mu);
}

store_t *store_new(const config_t *cfg)
{
    store_t *s = xcalloc(1, sizeof *s);

    s->pool_size = cfg->db_pool_size;
    snprintf(s->connect_timeout, sizeof s->connect_timeout, "%d", cfg->connect_timeout_s);
    /* A slow database must not pile up HTTP threads: every statement is bounded. */
    snprintf(s->options, sizeof s->options, "-c statement_timeout=%d", cfg->statement_timeout_ms);
    /* A snapshot stream is one long statement: it has a bound of its own. */
    snprintf(s->snapshot_timeout, sizeof s->snapshot_timeout, "SET statement_timeout = %d",
             cfg->snapshot_timeout_ms);
    node_init(&s->primary, cfg->primary_url, "primary", s->pool_size);

    char *list = xstrdup(cfg->replica_urls), *save = NULL;
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        if (*tok == '\0')
            continue;
        s->replicas = xrealloc(s->replicas, (size_t)(s->nreplicas + 1) * sizeof *s->replicas);
        node_init(&s->replicas[s->nreplicas++], tok, "replica", s->pool_size);
    }
    free(list);
    return s;
}

void store_free(store_t *s)
{
    if (s == NULL)
        return;
    node_destroy(&s->primary);
    for (int i = 0; i < s->nreplicas; i++)
        node_destroy(&s->replicas[i]);
    free(s->replicas);
    free(s);
}

static void set_error(store_error_t *err, store_err_kind_t kind, const char *sqlstate,
                      const char *msg)
{
    err->kind = kind;
    snprintf(err->sqlstate, sizeof err->sqlstate, "%s", sqlstate ? sqlstate : "");
    snprintf(err->message, sizeof err->message, "%s", msg ? msg : "");
    size_t n = strlen(err->message);
    while (n > 0 && (err->message[n - 1] == '\n' || err->message[n - 1] == ' '))
        err->message[--n] = '\0';
}

static void node_failed(node_t *n)
{
    double now = clock_monotonic();
    n->last_fail = now;
    n->down_until = now + 1.0;
}

/* Answered within the last second, and nothing failed since. */
static bool node_fresh(const node_t *n, double now)
{
    double ok = n->last_ok;
    return now - ok < 1.0 && ok > n->last_fail;
}

/* Leases a connection to n: a pooled one unless fresh is asked for. */
static store_conn_t *lease(store_t *s, node_t *n, bool fresh, store_error_t *err)
{
    PGconn *pg = NULL;

    if (!fresh) {
        pthread_mutex_lock(&n->mu);
        if (n->nidle > 0)
            pg = n->idle[--n->nidle];
        pthread_mutex_unlock(&n->mu);
    }
    store_conn_t *c = xcalloc(1, sizeof *c);
    c->store = s;
    c->node = n;
    if (pg != NULL) {
        c->pg = pg;
        c->pooled = true;
        atomic_fetch_add(&n->in_use, 1);
        return c;
    }
    /* expand_dbname: the URI goes to libpq unchanged; the keywords after
     * it add what the service insists on. */
    const char *keys[] = {"dbname", "connect_timeout", "options", "application_name",
                          "keepalives_idle", "keepalives_interval", "keepalives_count", NULL};
    const char *vals[] = {n->url, s->connect_timeout, s->options, "proximityd", "10", "3", "3", NULL};
    pg = PQconnectdbParams(keys, vals, 1);
    if (pg == NULL || PQstatus(pg) != CONNECTION_OK) {
        char esc[300];
        set_error(err, STORE_ERR_UNAVAILABLE, NULL, pg ? PQerrorMessage(pg) : "out of memory");
        LOG_WARN("database unreachable", "\"role\":\"%s\",\"error\":\"%s\"", n->role,
                 log_esc(esc, sizeof esc, err->message));
        PQfinish(pg);
        node_failed(n);
        atomic_fetch_add(&n->connect_failures, 1);
        free(c);
        return NULL;
    }
    c->pg = pg;
    atomic_fetch_add(&n->connects, 1);
    atomic_fetch_add(&n->in_use, 1);
    return c;
}

/* Returns the connection to its pool, or closes it when broken, busy in
 * a transaction, or the pool is full. */
static void release(store_conn_t *c)
{
    node_t *n = c->node;
    atomic_fetch_sub(&n->in_use, 1);
    bool keep = !c->no_reuse && PQstatus(c->pg) == CONNECTION_OK &&
                PQtransactionStatus(c->pg) == PQTRANS_IDLE;

    if (keep) {
        pthread_mutex_lock(&n->mu);
        if (n->nidle < c->store->pool_size) {
            n->idle[n->nidle++] = c->pg;
            c->pg = NULL;
        }
        pthread_mutex_unlock(&n->mu);
    }
    PQfinish(c->pg);
    free(c);
}

/* Runs sql on c. A lost connection is STORE_ERR_UNAVAILABLE; anything the
 * server refused is STORE_ERR_QUERY with its SQLSTATE. */
static int run(store_conn_t *c, const char *sql, int nparams, const char *const *params,
               PGresult **res, store_error_t *err)
{
    PGresult *r = PQexecParams(c->pg, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;

    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
        c->node->last_ok = clock_monotonic();
        if (res != NULL)
            *res = r;
        else
            PQclear(r);
        return 0;
    }
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    /* 57P01..03: the server is shutting down or cannot accept work. */
    bool gone = PQstatus(c->pg) != CONNECTION_OK ||
                (state != NULL && strncmp(state, "57P0", 4) == 0);
    set_error(err, gone ? STORE_ERR_UNAVAILABLE : STORE_ERR_QUERY, state,
              r && PQresultErrorMessage(r)[0] ? PQresultErrorMessage(r) : PQerrorMessage(c->pg));
    atomic_fetch_add(&c->node->errors, 1);
    if (gone)
        node_failed(c->node);
    PQclear(r);
    return -1;
}

bool store_token_valid(const char *token)
{
    const char *slash = strchr(token, '/');
    size_t hi = slash ? (size_t)(slash - token) : 0;
    size_t lo = slash ? strlen(slash + 1) : 0;
    if (hi < 1 || hi > 8 || lo < 1 || lo > 8)
        return false;
    return strspn(token, "0123456789ABCDEFabcdef") == hi &&
           strspn(slash + 1, "0123456789ABCDEFabcdef") == lo;
}

/* Has this replica replayed at least token? (The primary always has.) */
static bool caught_up(store_conn_t *c, const char *token, store_error_t *err)
{
    const char *p[1] = {token};
    PGresult *r = NULL;
    if (run(c, "SELECT coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, true)", 1, p, &r, err) != 0)
        return false;
    bool ok = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    return ok;
}

/* The order reads try the servers in: healthy replicas first (rotating,
 * so load spreads), then the primary, then the servers that failed within
 * the last second, in case they are back. Returns how many. */
static int read_order(store_t *s, node_t **order, int max)
{
    int total = s->nreplicas + 1, n = 0;
    double now = clock_monotonic();
    unsigned start = atomic_fetch_add(&s->rotation, 1);

    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < total && n < max; i++) {
            node_t *nd = i < s->nreplicas ? &s->replicas[(start + (unsigned)i) % (unsigned)s->nreplicas]
                                          : &s->primary;
            bool down = nd->down_until > now;
            if (down == (pass == 1))
                order[n++] = nd;
        }
    }
    return n;
}

int store_read(store_t *s, const char *min_token, const char *sql, int nparams,
               const char *const *params, PGresult **res, store_error_t *err)
{
    node_t *order[64];
    int n = read_order(s, order, 64);

    set_error(err, STORE_ERR_UNAVAILABLE, NULL, "no database server configured");
    for (int i = 0; i < n; i++) {
        /* A pooled connection may have died while idle: one fresh retry on
         * the same server before moving on (reads are safe to repeat). */
        for (int attempt = 0; attempt < 2; attempt++) {
            store_conn_t *c = lease(s, order[i], attempt == 1, err);
            if (c == NULL)
                break;
            bool pooled = c->pooled;
            if (min_token != NULL && order[i] != &s->primary && !caught_up(c, min_token, err)) {
                /* Behind the client's own write: the next node, not an error. */
                bool lost = err->kind == STORE_ERR_UNAVAILABLE && PQstatus(c->pg) != CONNECTION_OK;
                release(c);
                if (lost && pooled)
                    continue;
                break;
            }
            int rc = run(c, sql, nparams, params, res, err);
            release(c);
            if (rc == 0)
                return 0;
            if (err->kind == STORE_ERR_QUERY)
                return -1;
            if (!pooled)
                break;
        }
    }
    return -1;
}

store_conn_t *store_begin(store_t *s, store_error_t *err)
{
    /* BEGIN changes nothing, so a dead pooled connection discovered here can
     * be replaced safely; after BEGIN, failures go back to the caller. */
    for (int attempt = 0; attempt < 2; attempt++) {
        store_conn_t *c = lease(s, &s->primary, attempt == 1, err);
        if (c == NULL)
            return NULL;
        if (run(c, "BEGIN", 0, NULL, NULL, err) == 0)
            return c;
        bool pooled = c->pooled;
        release(c);
        if (!pooled || err->kind != STORE_ERR_UNAVAILABLE)
            return NULL;
    }
    return NULL;
}

int store_exec(store_conn_t *c, const char *sql, int nparams, const char *const *params,
               PGresult **res, store_error_t *err)
{
    return run(c, sql, nparams, params, res, err);
}

int store_commit(store_conn_t *c, char *token, store_error_t *err)
{
    /* A failed COMMIT ends the transaction on the server side as well. */
    int rc = run(c, "COMMIT", 0, NULL, NULL, err);
    if (rc == 0 && token != NULL) {
        /* The insert position is past our commit record: a replica that
         * has replayed it has our write. */
        PGresult *r = NULL;
        store_error_t ignored;
        token[0] = '\0';
        if (run(c, "SELECT pg_current_wal_insert_lsn()", 0, NULL, &r, &ignored) == 0) {
            snprintf(token, STORE_TOKEN_LEN, "%s", PQgetvalue(r, 0, 0));
            PQclear(r);
        }
    }
    release(c);
    return rc;
}

void store_rollback(store_conn_t *c)
{
    if (PQstatus(c->pg) == CONNECTION_OK)
        PQclear(PQexec(c->pg, "ROLLBACK"));
    release(c);
}

/* Reads one COPY stream from c. Returns 0, or -1 (rows > 0 then means the
 * stream broke part-way). */
static int copy_from(store_conn_t *c, const char *sql, int (*row)(void *, char *, size_t), void *ctx,
                     size_t *rows, store_error_t *err)
{
    c->no_reuse = true;
    if (run(c, c->store->snapshot_timeout, 0, NULL, NULL, err) != 0)
        return -1;
    PGresult *r = PQexec(c->pg, sql);
    if (PQresultStatus(r) != PGRES_COPY_OUT) {
        bool gone = PQstatus(c->pg) != CONNECTION_OK;
        set_error(err, gone ? STORE_ERR_UNAVAILABLE : STORE_ERR_QUERY,
                  r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL, PQerrorMessage(c->pg));
        PQclear(r);
        return -1;
    }
    PQclear(r);
    char *buf = NULL;
    int n;
    int rc = 0;
    while ((n = PQgetCopyData(c->pg, &buf, 0)) > 0) {
        size_t len = (size_t)n;
        if (len > 0 && buf[len - 1] == '\n')
            buf[--len] = '\0';
        int stop = row(ctx, buf, len);
        (*rows)++;
        PQfreemem(buf);
        if (stop != 0) {
            /* The reader has enough; the connection, mid-COPY, is closed
             * on release rather than drained. */
            set_error(err, STORE_ERR_QUERY, NULL, "stopped by the reader");
            return -1;
        }
    }
    while ((r = PQgetResult(c->pg)) != NULL) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK && rc == 0) {
            bool gone = PQstatus(c->pg) != CONNECTION_OK;
            set_error(err, gone ? STORE_ERR_UNAVAILABLE : STORE_ERR_QUERY,
                      PQresultErrorField(r, PG_DIAG_SQLSTATE), PQresultErrorMessage(r));
            rc = -1;
        }
        PQclear(r);
    }
    if (n == -2 && rc == 0) {
        set_error(err, STORE_ERR_UNAVAILABLE, NULL, PQerrorMessage(c->pg));
        rc = -1;
    }
    if (rc == 0)
        c->node->last_ok = clock_monotonic();
    return rc;
}

int store_copy_out(store_t *s, const char *min_token, int wait_ms, const char *copy_sql,
                   int (*row)(void *ctx, char *line, size_t len), void *ctx, store_error_t *err)
{
    node_t *order[64];
    double deadline = clock_monotonic() + (wait_ms > 0 ? wait_ms / 1000.0 : 0);

    set_error(err, STORE_ERR_UNAVAILABLE, NULL, "no database server configured");
    for (;;) {
        int n = read_order(s, order, 64);
        bool behind = false; /* a reachable replica has not replayed min_token yet */
        for (int i = 0; i < n; i++) {
            bool primary = order[i] == &s->primary;
            /* Give a lagging replica until the deadline before loading
             * the primary with a snapshot. */
            if (primary && behind && clock_monotonic() < deadline)
                continue;
            /* A fresh connection: a long COPY should not start on one that
             * may have died in the pool. */
            store_conn_t *c = lease(s, order[i], true, err);
            if (c == NULL)
                continue;
            if (min_token != NULL && !primary && !caught_up(c, min_token, err)) {
                if (err->kind == STORE_ERR_UNAVAILABLE)
                    node_failed(order[i]);
                else
                    behind = true;
                release(c);
                continue;
            }
            size_t rows = 0;
            int rc = copy_from(c, copy_sql, row, ctx, &rows, err);
            if (rc != 0 && err->kind == STORE_ERR_UNAVAILABLE)
                node_failed(order[i]);
            release(c);
            if (rc == 0 || rows > 0 || err->kind == STORE_ERR_QUERY)
                return rc;
        }
        if (!behind)
            return -1;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

bool store_readable(store_t *s)
{
    double now = clock_monotonic();
    if (node_fresh(&s->primary, now))
        return true;
    for (int i = 0; i < s->nreplicas; i++)
        if (node_fresh(&s->replicas[i], now))
            return true;
    PGresult *r = NULL;
    store_error_t err;
    if (store_read(s, NULL, "SELECT 1", 0, NULL, &r, &err) != 0)
        return false;
    PQclear(r);
    return true;
}

/* ---------------------------------------------------------------- stats */

static void node_stats(node_t *n, int index, store_node_stats_t *out)
{
    out->role = n->role;
    out->index = index;
    pthread_mutex_lock(&n->mu);
    out->idle = n->nidle;
    pthread_mutex_unlock(&n->mu);
    out->in_use = atomic_load(&n->in_use);
    out->connects = atomic_load(&n->connects);
    out->connect_failures = atomic_load(&n->connect_failures);
    out->errors = atomic_load(&n->errors);
    out->down = n->down_until > clock_monotonic();
}

int store_stats(store_t *s, store_node_stats_t *out, int max)
{
    int n = 0;
    if (n < max)
        node_stats(&s->primary, 0, &out[n++]);
    for (int i = 0; i < s->nreplicas && n < max; i++)
        node_stats(&s->replicas[i], i, &out[n++]);
    return n;
}
