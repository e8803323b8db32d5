/* it_replstream.c — the replication stream and the pgoutput decoder against
 * a real primary: inserts, moves, soft and hard deletes, truncate, idle
 * keepalives with status updates, a killed walsender, reopening. */
#include <check.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pgoutput.h"
#include "replstream.h"
#include "xalloc.h"
#include "check_run.h"

static const char *primary_url;

/* ------------------------------------------------------------------ */
/* SQL on a normal connection                                           */
/* ------------------------------------------------------------------ */

static PGconn *sql_conn(void)
{
    PGconn *c = PQconnectdb(primary_url);
    ck_assert_msg(PQstatus(c) == CONNECTION_OK, "connect: %s", PQerrorMessage(c));
    return c;
}

/* Runs a statement; returns the value at (row 0, col) as a new string, or
 * NULL when there is no row. Fails the test on an SQL error. */
static char *sqlv(PGconn *c, int col, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static char *sqlv(PGconn *c, int col, const char *fmt, ...)
{
    char q[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q, sizeof q, fmt, ap);
    va_end(ap);
    PGresult *r = PQexec(c, q);
    ExecStatusType st = PQresultStatus(r);
    ck_assert_msg(st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK, "%s: %s", q,
                  PQresultErrorMessage(r));
    char *v = st == PGRES_TUPLES_OK && PQntuples(r) > 0 && col < PQnfields(r)
                  ? xstrdup(PQgetvalue(r, 0, col))
                  : NULL;
    PQclear(r);
    return v;
}

static int64_t sqli(PGconn *c, int col, const char *q)
{
    char *v = sqlv(c, col, "%s", q);
    ck_assert_ptr_nonnull(v);
    int64_t x = strtoll(v, NULL, 10);
    free(v);
    return x;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------------ */
/* A consumer that records what the stream decodes                     */
/* ------------------------------------------------------------------ */

typedef struct {
    char kind; /* pgoutput kind */
    uint64_t wal_start;
    uint64_t lsn1, lsn2; /* begin: final; commit: commit, end */
    char old_kind;
    pgoutput_business_t biz; /* new tuple, or old tuple for a delete */
    uint32_t oid;            /* relation, or first truncated relation */
    size_t nrels;
} event_t;

typedef struct {
    pgoutput_decoder_t *dec;
    event_t ev[256];
    size_t nev;
    int commits, want_commits;
    atomic_bool stop;
    int keepalives;
} consumer_t;

static void consumer_init(consumer_t *c)
{
    memset(c, 0, sizeof *c);
    c->dec = pgoutput_decoder_new();
    atomic_init(&c->stop, false);
}

static void consumer_free(consumer_t *c)
{
    for (size_t i = 0; i < c->nev; i++)
        pgoutput_business_clear(&c->ev[i].biz);
    pgoutput_decoder_free(c->dec);
}

static int on_data(void *ctx, uint64_t wal_start, uint64_t wal_end, const uint8_t *data,
                   size_t len, char *err, size_t errlen)
{
    consumer_t *c = ctx;
    pgoutput_msg_t m;
    (void)wal_end;
    if (pgoutput_decode(c->dec, data, len, &m, err, errlen) < 0)
        return -1;
    if (c->nev == sizeof c->ev / sizeof c->ev[0]) {
        snprintf(err, errlen, "too many events");
        return -1;
    }
    event_t *e = &c->ev[c->nev++];
    memset(e, 0, sizeof *e);
    e->kind = (char)m.kind;
    e->wal_start = wal_start;
    e->old_kind = m.old_kind;
    switch (m.kind) {
    case PGOUTPUT_BEGIN:
        e->lsn1 = m.u.begin.final_lsn;
        break;
    case PGOUTPUT_COMMIT:
        e->lsn1 = m.u.commit.commit_lsn;
        e->lsn2 = m.u.commit.end_lsn;
        if (++c->commits >= c->want_commits)
            atomic_store(&c->stop, true);
        break;
    case PGOUTPUT_RELATION:
        e->oid = m.rel->oid;
        break;
    case PGOUTPUT_TRUNCATE:
        e->nrels = m.u.truncate.nrels;
        e->oid = m.u.truncate.nrels ? m.u.truncate.oids[0] : 0;
        break;
    case PGOUTPUT_INSERT:
    case PGOUTPUT_UPDATE:
    case PGOUTPUT_DELETE:
        e->oid = m.rel->oid;
        if (pgoutput_business_from_tuple(m.rel, m.kind == PGOUTPUT_DELETE ? &m.oldtup : &m.newtup,
                                         &e->biz, err, errlen) < 0)
            return -1;
        break;
    default:
        break;
    }
    return 0;
}

static void on_keepalive(void *ctx, uint64_t wal_end, bool reply_requested)
{
    consumer_t *c = ctx;
    (void)wal_end;
    (void)reply_requested;
    c->keepalives++;
}

/* Streams until want more commits arrived (or fails after 15 s). */
static void stream_commits(replstream_t *rs, consumer_t *c, int want)
{
    replstream_callbacks_t cb = {on_data, on_keepalive, c};
    char err[512] = "";
    c->want_commits = c->commits + want;
    atomic_store(&c->stop, false);
    double t0 = now_s();
    while (c->commits < c->want_commits) {
        ck_assert_msg(now_s() - t0 < 15, "only %d of %d commits in 15 s", c->commits,
                      c->want_commits);
        ck_assert_msg(replstream_run(rs, &cb, &c->stop, 1000, err, sizeof err) == 0, "run: %s",
                      err);
    }
}

static replstream_t *open_stream(const char *url, const char *slot, int status_ms)
{
    replstream_options_t opt = {.url = url, .slot_name = slot, .status_interval_ms = status_ms};
    char err[512] = "";
    replstream_t *rs = replstream_open(&opt, err, sizeof err);
    ck_assert_msg(rs != NULL, "open: %s", err);
    return rs;
}

static void slot_name(char *buf, size_t len, const char *what)
{
    snprintf(buf, len, "it_replstream_%s_%ld", what, (long)getpid());
}

/* Moves to the next event of the given kind, skipping relation and type
 * descriptions. */
static const event_t *next_ev(const consumer_t *c, size_t *i, char kind)
{
    while (*i < c->nev && (c->ev[*i].kind == PGOUTPUT_RELATION || c->ev[*i].kind == PGOUTPUT_TYPE))
        (*i)++;
    ck_assert_msg(*i < c->nev, "stream ended before a '%c'", kind);
    const event_t *e = &c->ev[(*i)++];
    ck_assert_msg(e->kind == kind, "event %zu is '%c', expected '%c'", *i - 1, e->kind, kind);
    return e;
}

/* begin, one change, commit; returns the change. */
static const event_t *next_txn1(const consumer_t *c, size_t *i, char kind, uint64_t *end_lsn)
{
    const event_t *b = next_ev(c, i, 'B');
    const event_t *e = next_ev(c, i, kind);
    const event_t *cm = next_ev(c, i, 'C');
    ck_assert_uint_eq(b->lsn1, cm->lsn1); /* begin's final LSN is the commit's */
    ck_assert_uint_eq(cm->wal_start, cm->lsn2); /* what a consumer confirms */
    ck_assert_uint_gt(cm->lsn2, cm->lsn1);
    if (end_lsn) {
        ck_assert_uint_gt(cm->lsn2, *end_lsn);
        *end_lsn = cm->lsn2;
    }
    return e;
}

#define INSERT_SQL                                                                                 \
    "INSERT INTO businesses (owner, name, categories, location, price) VALUES "                    \
    "('it-replstream', %s, %s, 'SRID=4326;POINT(%s)', 2) RETURNING id, version"

/* ------------------------------------------------------------------ */
/* Tests                                                                */
/* ------------------------------------------------------------------ */

START_TEST(test_lsn)
{
    uint64_t v;
    char buf[REPLSTREAM_LSN_LEN];
    ck_assert_int_eq(replstream_lsn_parse("0/16B3748", &v), 0);
    ck_assert_uint_eq(v, 0x16B3748);
    ck_assert_str_eq(replstream_lsn_format(v, buf, sizeof buf), "0/16B3748");
    ck_assert_int_eq(replstream_lsn_parse("FFFFFFFF/ffffffff", &v), 0);
    ck_assert_uint_eq(v, UINT64_MAX);
    ck_assert_str_eq(replstream_lsn_format(v, buf, sizeof buf), "FFFFFFFF/FFFFFFFF");
    ck_assert_int_eq(replstream_lsn_parse("1A/0", &v), 0);
    ck_assert_uint_eq(v, (uint64_t)0x1A << 32);
    const char *bad[] = {"", "/", "1/", "/1", "1", "g/1", "1/1x", "123456789/0", " 1/1", "1/-1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(replstream_lsn_parse(bad[i], &v) == -1, "accepted '%s'", bad[i]);

    /* Refused before any connection is tried. */
    char err[256];
    replstream_options_t opt = {.url = primary_url, .slot_name = "Bad-Name"};
    ck_assert_ptr_null(replstream_open(&opt, err, sizeof err));
    opt.slot_name = "ok";
    opt.publication = "x'; DROP";
    ck_assert_ptr_null(replstream_open(&opt, err, sizeof err));
    /* A server that is not there. */
    opt.publication = NULL;
    opt.url = "postgresql://postgres@127.0.0.1:1/nope?connect_timeout=2";
    ck_assert_ptr_null(replstream_open(&opt, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "replication connection"));
}
END_TEST

START_TEST(test_changes)
{
    char slot[64], err[512];
    slot_name(slot, sizeof slot, "changes");
    PGconn *db = sql_conn();
    replstream_t *rs = open_stream(primary_url, slot, 1000);
    uint64_t p = replstream_start_lsn(rs);
    ck_assert_uint_gt(p, 0);
    ck_assert_uint_gt(replstream_timeline(rs), 0);
    ck_assert_str_ne(replstream_system_id(rs), "");
    char *tmp = sqlv(db, 0, "SELECT temporary FROM pg_replication_slots WHERE slot_name = '%s'", slot);
    ck_assert_ptr_nonnull(tmp);
    ck_assert_str_eq(tmp, "t");
    free(tmp);

    /* The writes, each its own transaction, before the stream starts: the
     * slot keeps them from P on. */
    char *ida = sqlv(db, 0, INSERT_SQL, "'Caf\xc3\xa9 \"A\", the first'", "'{cafe,bakery}'",
                     "-122.4194 37.7749");
    int64_t id_a = strtoll(ida, NULL, 10);
    int64_t v_a1 = sqli(db, 0, "SELECT version FROM businesses WHERE name LIKE 'Caf%'");
    int64_t id_b = sqli(db, 0, "INSERT INTO businesses (owner, name, categories, location) VALUES "
                               "('it', 'B', '{}', 'SRID=4326;POINT(179.9999999 -89.9999999)') "
                               "RETURNING id");
    char q[512];
    snprintf(q, sizeof q,
             "UPDATE businesses SET location = 'SRID=4326;POINT(2.3522 48.8566)' WHERE id = %s "
             "RETURNING version",
             ida);
    int64_t v_a2 = sqli(db, 0, q);
    snprintf(q, sizeof q, "UPDATE businesses SET deleted_at = now() WHERE id = %s RETURNING version",
             ida);
    int64_t v_a3 = sqli(db, 0, q);
    snprintf(q, sizeof q, "DELETE FROM businesses WHERE id = %" PRId64 " RETURNING id", id_b);
    ck_assert_int_eq(sqli(db, 0, q), id_b);
    free(sqlv(db, 0, "BEGIN"));
    free(sqlv(db, 0, INSERT_SQL, "'C'", "'{bar}'", "0 0"));
    free(sqlv(db, 0, INSERT_SQL, "'D'", "'{pizza,sushi,bar}'", "-0.0001 51.5"));
    free(sqlv(db, 0, "COMMIT"));
    free(sqlv(db, 0, "TRUNCATE businesses"));
    uint32_t oid = (uint32_t)sqli(db, 0, "SELECT 'businesses'::regclass::oid");
    free(ida);

    consumer_t c;
    consumer_init(&c);
    stream_commits(rs, &c, 7);
    size_t i = 0;
    uint64_t end = p;

    /* The relation, and the extension type geography, come before the
     * first change. */
    ck_assert_int_eq(c.ev[0].kind, 'B');
    size_t first_change = 0, rel_at = 0, type_at = 0;
    while (first_change < c.nev && c.ev[first_change].kind != 'I') {
        if (c.ev[first_change].kind == 'R')
            rel_at = first_change;
        if (c.ev[first_change].kind == 'Y')
            type_at = first_change;
        first_change++;
    }
    ck_assert_uint_gt(rel_at, 0);
    ck_assert_uint_gt(type_at, 0);
    ck_assert_uint_eq(c.ev[rel_at].oid, oid);
    const pgoutput_relation_t *rel = pgoutput_relation(c.dec, oid);
    ck_assert_ptr_nonnull(rel);
    ck_assert_str_eq(rel->relname, "businesses");
    /* REPLICA IDENTITY FULL (migration 0004): deletes carry the old row. */
    ck_assert_int_eq(rel->replident, 'f');
    ck_assert_int_ge(pgoutput_column_index(rel, "location"), 0);
    ck_assert_uint_eq(rel->cols[pgoutput_column_index(rel, "id")].flags, PGOUTPUT_COL_KEY);

    const event_t *e = next_txn1(&c, &i, 'I', &end);
    ck_assert_int_eq(e->biz.id, id_a);
    ck_assert_int_eq(e->biz.version, v_a1);
    ck_assert(e->biz.has_location);
    ck_assert_double_eq_tol(e->biz.lng, -122.4194, 1e-9);
    ck_assert_double_eq_tol(e->biz.lat, 37.7749, 1e-9);
    ck_assert_uint_eq(e->biz.ncategories, 2);
    ck_assert_str_eq(e->biz.categories[0], "cafe");
    ck_assert_str_eq(e->biz.categories[1], "bakery");
    ck_assert_str_eq(e->biz.name, "Caf\xc3\xa9 \"A\", the first");
    ck_assert_str_eq(e->biz.owner, "it-replstream");
    ck_assert_int_eq(e->biz.price, 2);
    ck_assert(!e->biz.deleted);
    ck_assert(e->biz.present & PGOUTPUT_BF_DELETED_AT);
    ck_assert_ptr_null(e->biz.street);
    ck_assert_ptr_nonnull(e->biz.created_at);

    e = next_txn1(&c, &i, 'I', &end);
    ck_assert_int_eq(e->biz.id, id_b);
    ck_assert_double_eq_tol(e->biz.lng, 179.9999999, 1e-9);
    ck_assert_double_eq_tol(e->biz.lat, -89.9999999, 1e-9);
    ck_assert_uint_eq(e->biz.ncategories, 0);
    ck_assert_int_eq(e->biz.price, 0);

    /* The move: a new location and version, and the whole old row. */
    e = next_txn1(&c, &i, 'U', &end);
    ck_assert_int_eq(e->biz.id, id_a);
    ck_assert_int_eq(e->biz.version, v_a2);
    ck_assert_int_gt(v_a2, v_a1);
    ck_assert_int_eq(e->old_kind, 'O');
    ck_assert_double_eq_tol(e->biz.lng, 2.3522, 1e-9);
    ck_assert_double_eq_tol(e->biz.lat, 48.8566, 1e-9);
    ck_assert(!e->biz.deleted);

    /* The soft delete: a tombstone with its own version. */
    e = next_txn1(&c, &i, 'U', &end);
    ck_assert_int_eq(e->biz.id, id_a);
    ck_assert_int_eq(e->biz.version, v_a3);
    ck_assert_int_gt(v_a3, v_a2);
    ck_assert(e->biz.deleted);
    ck_assert_ptr_nonnull(e->biz.deleted_at);

    /* The hard delete: the whole old row, its version included. */
    e = next_txn1(&c, &i, 'D', &end);
    ck_assert_int_eq(e->old_kind, 'O');
    ck_assert_int_eq(e->biz.id, id_b);
    ck_assert_int_gt(e->biz.version, 0);
    ck_assert(e->biz.has_location);

    /* Two inserts in one transaction. */
    next_ev(&c, &i, 'B');
    e = next_ev(&c, &i, 'I');
    ck_assert_str_eq(e->biz.name, "C");
    ck_assert_double_eq_tol(e->biz.lng, 0, 1e-12);
    e = next_ev(&c, &i, 'I');
    ck_assert_str_eq(e->biz.name, "D");
    ck_assert_uint_eq(e->biz.ncategories, 3);
    ck_assert_str_eq(e->biz.categories[2], "bar");
    ck_assert_double_eq_tol(e->biz.lng, -0.0001, 1e-9);
    const event_t *cm = next_ev(&c, &i, 'C');
    ck_assert_uint_gt(cm->lsn2, end);
    end = cm->lsn2;

    e = next_txn1(&c, &i, 'T', &end);
    ck_assert_uint_eq(e->nrels, 1);
    ck_assert_uint_eq(e->oid, oid);
    ck_assert_uint_eq(i, c.nev);

    /* Confirm the last commit: the server's slot follows. */
    replstream_confirm(rs, end);
    replstream_confirm(rs, end - 1); /* never moves back */
    ck_assert_int_eq(replstream_send_status(rs, false, err, sizeof err), 0);
    ck_assert_uint_ge(replstream_applied(rs), end);
    double t0 = now_s();
    uint64_t flushed = 0;
    while (now_s() - t0 < 5) {
        char *v = sqlv(db, 0, "SELECT confirmed_flush_lsn FROM pg_replication_slots "
                              "WHERE slot_name = '%s'", slot);
        ck_assert_int_eq(replstream_lsn_parse(v, &flushed), 0);
        free(v);
        if (flushed >= end)
            break;
        replstream_callbacks_t cb = {on_data, NULL, &c};
        ck_assert_int_eq(replstream_run(rs, &cb, NULL, 200, err, sizeof err), 0);
    }
    ck_assert_uint_ge(flushed, end);

    /* A stop flag already set returns at once. */
    atomic_store(&c.stop, true);
    replstream_callbacks_t cb = {on_data, NULL, &c};
    t0 = now_s();
    ck_assert_int_eq(replstream_run(rs, &cb, &c.stop, 5000, err, sizeof err), 0);
    ck_assert_double_lt(now_s() - t0, 0.5);

    replstream_close(rs);
    /* Closing drops the temporary slot. */
    t0 = now_s();
    char *gone = NULL;
    do {
        free(gone);
        usleep(50000);
        gone = sqlv(db, 0, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '%s'", slot);
    } while (strcmp(gone, "0") != 0 && now_s() - t0 < 5);
    ck_assert_str_eq(gone, "0");
    free(gone);
    consumer_free(&c);
    PQfinish(db);
}
END_TEST

/* With wal_sender_timeout at 2 s the walsender asks for a reply after 1 s
 * of silence and hangs up after 2 s; our own status updates come only
 * every 10 s, so a stream idle for 5 s stays up only because each
 * keepalive that asks for a reply is answered at once. */
START_TEST(test_idle_keepalive)
{
    char slot[64], err[512], url[1024];
    slot_name(slot, sizeof slot, "idle");
    snprintf(url, sizeof url, "%s%soptions=-c%%20wal_sender_timeout%%3D2s", primary_url,
             strchr(primary_url, '?') ? "&" : "?");
    PGconn *db = sql_conn();
    replstream_t *rs = open_stream(url, slot, 10000);
    consumer_t c;
    consumer_init(&c);
    replstream_callbacks_t cb = {on_data, on_keepalive, &c};
    double t0 = now_s();
    ck_assert_msg(replstream_run(rs, &cb, NULL, 5000, err, sizeof err) == 0, "idle run: %s", err);
    ck_assert_double_ge(now_s() - t0, 4.9);
    replstream_stats_t st;
    replstream_stats(rs, &st);
    ck_assert_uint_ge(st.replies, 2);
    ck_assert_uint_ge(st.keepalives, st.replies);
    ck_assert_int_eq(c.keepalives, (int)st.keepalives);
    ck_assert_uint_eq(st.status_sent, st.replies);
    ck_assert_uint_eq(st.xlogdata, 0);
    /* Nothing was handed over, so the keepalive positions count as applied. */
    ck_assert_uint_ge(replstream_applied(rs), replstream_start_lsn(rs));

    /* The server saw the replies, and the walsender is still there. */
    char *rt = sqlv(db, 0, "SELECT reply_time IS NOT NULL FROM pg_stat_replication "
                           "WHERE pid = (SELECT active_pid FROM pg_replication_slots "
                           "WHERE slot_name = '%s')", slot);
    ck_assert_ptr_nonnull(rt);
    ck_assert_str_eq(rt, "t");
    free(rt);

    /* And the stream still delivers. */
    free(sqlv(db, 0, INSERT_SQL, "'after idle'", "'{gym}'", "10 20"));
    stream_commits(rs, &c, 1);
    size_t i = 0;
    const event_t *e = next_txn1(&c, &i, 'I', NULL);
    ck_assert_str_eq(e->biz.name, "after idle");
    ck_assert_double_eq_tol(e->biz.lat, 20, 1e-12);
    /* Once the commit is confirmed, the reported position reaches it. */
    uint64_t end = c.ev[c.nev - 1].lsn2;
    replstream_confirm(rs, end);
    ck_assert_int_eq(replstream_send_status(rs, false, err, sizeof err), 0);
    ck_assert_uint_ge(replstream_applied(rs), end);
    replstream_close(rs);
    consumer_free(&c);
    PQfinish(db);
}
END_TEST

START_TEST(test_terminate_and_reopen)
{
    char slot[64], err[512] = "";
    slot_name(slot, sizeof slot, "kill");
    PGconn *db = sql_conn();
    replstream_t *rs = open_stream(primary_url, slot, 1000);
    consumer_t c;
    consumer_init(&c);
    replstream_callbacks_t cb = {on_data, on_keepalive, &c};
    /* Status updates every second, asked for or not. */
    ck_assert_int_eq(replstream_run(rs, &cb, NULL, 2200, err, sizeof err), 0);
    replstream_stats_t st;
    replstream_stats(rs, &st);
    ck_assert_uint_ge(st.status_sent, st.replies + 2);

    char *killed = sqlv(db, 0, "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots "
                               "WHERE slot_name = '%s'", slot);
    ck_assert_ptr_nonnull(killed);
    ck_assert_str_eq(killed, "t");
    free(killed);
    double t0 = now_s();
    ck_assert_int_eq(replstream_run(rs, &cb, NULL, 10000, err, sizeof err), -1);
    ck_assert_double_lt(now_s() - t0, 5);
    ck_assert_msg(strlen(err) > 0, "no error message");
    printf("it_replstream: after pg_terminate_backend: %s\n", err);
    /* It stays failed, at once, and sending is refused. */
    ck_assert_int_eq(replstream_run(rs, &cb, NULL, 10000, err, sizeof err), -1);
    ck_assert_int_eq(replstream_send_status(rs, false, err, sizeof err), -1);
    replstream_close(rs);

    /* Reopening under the same name works once the old backend is gone. */
    replstream_options_t opt = {.url = primary_url, .slot_name = slot, .status_interval_ms = 1000};
    t0 = now_s();
    rs = NULL;
    while (!rs && now_s() - t0 < 5) {
        rs = replstream_open(&opt, err, sizeof err);
        if (!rs)
            usleep(100000);
    }
    ck_assert_msg(rs != NULL, "reopen: %s", err);
    free(sqlv(db, 0, INSERT_SQL, "'after reopen'", "'{spa}'", "1 1"));
    stream_commits(rs, &c, 1);
    ck_assert_int_eq(c.ev[c.nev - 2].kind, 'I');
    ck_assert_str_eq(c.ev[c.nev - 2].biz.name, "after reopen");
    replstream_close(rs);
    consumer_free(&c);
    PQfinish(db);
}
END_TEST

/* A durable slot survives its connection; reopened, it resumes after what
 * was confirmed (the commit's end LSN), and an unconfirmed transaction
 * comes again. */
START_TEST(test_durable_slot)
{
    char slot[64], err[512] = "";
    slot_name(slot, sizeof slot, "durable");
    PGconn *db = sql_conn();
    replstream_options_t opt = {.url = primary_url, .slot_name = slot, .status_interval_ms = 1000,
                                .durable = true};
    replstream_t *rs = replstream_open(&opt, err, sizeof err);
    ck_assert_msg(rs != NULL, "open: %s", err);
    ck_assert(!replstream_slot_reused(rs));
    char *tmp = sqlv(db, 0, "SELECT temporary FROM pg_replication_slots WHERE slot_name = '%s'", slot);
    ck_assert_ptr_nonnull(tmp);
    ck_assert_str_eq(tmp, "f");
    free(tmp);

    free(sqlv(db, 0, INSERT_SQL, "'durable one'", "'{spa}'", "1 1"));
    free(sqlv(db, 0, INSERT_SQL, "'durable two'", "'{spa}'", "1 2"));
    consumer_t c;
    consumer_init(&c);
    stream_commits(rs, &c, 2);
    /* Confirm the first transaction only. */
    uint64_t first_end = 0;
    for (size_t i = 0; i < c.nev && !first_end; i++)
        if (c.ev[i].kind == 'C')
            first_end = c.ev[i].lsn2;
    replstream_confirm(rs, first_end);
    ck_assert_int_eq(replstream_send_status(rs, false, err, sizeof err), 0);
    /* Idle keepalives do not move a durable slot past what was confirmed. */
    replstream_callbacks_t cb = {on_data, on_keepalive, &c};
    ck_assert_int_eq(replstream_run(rs, &cb, NULL, 1500, err, sizeof err), 0);
    ck_assert_uint_eq(replstream_applied(rs), first_end);
    replstream_close(rs);
    consumer_free(&c);

    char lsn[REPLSTREAM_LSN_LEN];
    tmp = sqlv(db, 0, "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '%s'", slot);
    ck_assert_ptr_nonnull(tmp);
    ck_assert_str_eq(tmp, replstream_lsn_format(first_end, lsn, sizeof lsn));
    free(tmp);

    double t0 = now_s();
    rs = NULL;
    while (!rs && now_s() - t0 < 5) { /* the old walsender may still hold it */
        rs = replstream_open(&opt, err, sizeof err);
        if (!rs)
            usleep(100000);
    }
    ck_assert_msg(rs != NULL, "reopen: %s", err);
    ck_assert(replstream_slot_reused(rs));
    ck_assert_uint_eq(replstream_start_lsn(rs), first_end);
    consumer_init(&c);
    stream_commits(rs, &c, 1);
    size_t i = 0;
    const event_t *e = next_txn1(&c, &i, 'I', NULL);
    ck_assert_str_eq(e->biz.name, "durable two");
    consumer_free(&c);
    replstream_close(rs);
    /* The walsender goes away a moment after the connection closes. */
    char q[256];
    snprintf(q, sizeof q, "SELECT pg_drop_replication_slot('%s')", slot);
    bool dropped = false;
    for (t0 = now_s(); !dropped && now_s() - t0 < 5; usleep(100000)) {
        PGresult *r = PQexec(db, q);
        dropped = PQresultStatus(r) == PGRES_TUPLES_OK;
        PQclear(r);
    }
    ck_assert_msg(dropped, "could not drop slot %s", slot);
    PQfinish(db);
}
END_TEST

static Suite *replstream_suite(void)
{
    Suite *s = suite_create("replstream");
    TCase *tc = tcase_create("pg");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_lsn);
    tcase_add_test(tc, test_changes);
    tcase_add_test(tc, test_idle_keepalive);
    tcase_add_test(tc, test_terminate_and_reopen);
    tcase_add_test(tc, test_durable_slot);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    primary_url = getenv("PROXIMITY_PRIMARY_URL");
    if (!primary_url || !*primary_url) {
        fprintf(stderr, "it_replstream: skipped: PROXIMITY_PRIMARY_URL is not set "
                        "(run it through tests/it_replstream.sh)\n");
        return 77;
    }
    return check_run(replstream_suite(), CK_NOFORK);
}
