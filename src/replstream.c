/* replstream.c — logical replication stream client: the walsender commands
 * of a replication=database connection and the CopyBoth loop of XLogData,
 * keepalives and standby status updates. */
#include "replstream.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "field_error.h"
#include "log.h"
#include "xalloc.h"

#define DEFAULT_PUBLICATION "proximity_businesses"
#define DEFAULT_STATUS_MS 10000
/* The loop wakes at least this often to look at the stop flag. */
#define STOP_POLL_MS 100
/* Microseconds between the Unix epoch and PostgreSQL's (2000-01-01). */
#define PG_EPOCH_OFFSET_US INT64_C(946684800000000)

struct replstream {
    PGconn *conn;
    char slot[64];
    char publication[64];
    int status_interval_ms;
    uint64_t start_lsn;
    char sysid[32];
    unsigned timeline;
    bool streaming; /* START_REPLICATION done: the connection is in CopyBoth */
    bool broken;    /* an error ended the stream */
    bool durable;   /* named slot kept across connections */
    bool reused;    /* the durable slot was already there */
    _Atomic uint64_t confirmed; /* what the caller confirmed */
    _Atomic uint64_t applied;   /* what the last status update reported */
    uint64_t last_handed;       /* wal_start of the last XLogData handed over */
    uint64_t keepalive_end;     /* wal_end of the last keepalive */
    int64_t last_status_ms;     /* monotonic */
    replstream_stats_t st;
};

#define fail errbuf_set

static int64_t mono_ms(void)
{
    return (int64_t)(clock_monotonic() * 1000.0);
}

static int64_t pg_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 - PG_EPOCH_OFFSET_US;
}

/* ------------------------------------------------------------------ */
/* LSNs                                                                 */
/* ------------------------------------------------------------------ */

static int parse_hex32(const char *s, size_t n, uint32_t *out)
{
    uint32_t v = 0;
    if (n == 0 || n > 8)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return -1;
        v = v << 4 | (uint32_t)d;
    }
    *out = v;
    return 0;
}

int replstream_lsn_parse(const char *s, uint64_t *lsn)
{
    const char *slash = s ? strchr(s, '/') : NULL;
    uint32_t hi, lo;
    if (!slash || parse_hex32(s, (size_t)(slash - s), &hi) < 0 ||
        parse_hex32(slash + 1, strlen(slash + 1), &lo) < 0)
        return -1;
    *lsn = (uint64_t)hi << 32 | lo;
    return 0;
}

char *replstream_lsn_format(uint64_t lsn, char *buf, size_t len)
{
    snprintf(buf, len, "%" PRIX32 "/%" PRIX32, (uint32_t)(lsn >> 32), (uint32_t)lsn);
    return buf;
}

/* ------------------------------------------------------------------ */
/* Connection and slot                                                  */
/* ------------------------------------------------------------------ */

/* Names go into replication commands unquoted, so only plain ones. */
static bool simple_name(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= '0' && s[n] <= '9') || s[n] == '_'))
            return false;
    return n > 0 && n < 64;
}

static PGresult *exec_expect(replstream_t *rs, const char *cmd, ExecStatusType want, char *err,
                             size_t errlen)
{
    PGresult *res = PQexec(rs->conn, cmd);
    if (PQresultStatus(res) != want) {
        fail(err, errlen, "%s: %s", cmd, res ? PQresultErrorMessage(res) : PQerrorMessage(rs->conn));
        PQclear(res);
        return NULL;
    }
    return res;
}

/* A durable slot of this name: 1 found (start_lsn set to where it was
 * confirmed), 0 missing, -1 error or a slot of another kind. A walsender
 * with replication=database also runs plain SQL. */
static int find_slot(replstream_t *rs, char *err, size_t errlen)
{
    char q[256];
    snprintf(q, sizeof q,
             "SELECT plugin, slot_type, database = current_database(), temporary, "
             "coalesce(confirmed_flush_lsn, restart_lsn)::text "
             "FROM pg_replication_slots WHERE slot_name = '%s'",
             rs->slot);
    PGresult *res = exec_expect(rs, q, PGRES_TUPLES_OK, err, errlen);
    if (!res)
        return -1;
    int rc = 0;
    if (PQntuples(res) == 1) {
        if (strcmp(PQgetvalue(res, 0, 0), "pgoutput") != 0 || strcmp(PQgetvalue(res, 0, 1), "logical") != 0 ||
            strcmp(PQgetvalue(res, 0, 2), "t") != 0 || strcmp(PQgetvalue(res, 0, 3), "f") != 0)
            rc = fail(err, errlen, "slot %s exists but is not a durable pgoutput slot of this database",
                      rs->slot);
        else if (PQgetisnull(res, 0, 4) || replstream_lsn_parse(PQgetvalue(res, 0, 4), &rs->start_lsn) < 0)
            rc = fail(err, errlen, "slot %s has no confirmed position", rs->slot);
        else
            rc = 1;
    }
    PQclear(res);
    return rc;
}

replstream_t *replstream_open(const replstream_options_t *opt, char *err, size_t errlen)
{
    const char *pub = opt->publication ? opt->publication : DEFAULT_PUBLICATION;
    if (!opt->slot_name || !simple_name(opt->slot_name)) {
        fail(err, errlen, "slot name must be 1-63 of [a-z0-9_]");
        return NULL;
    }
    if (!simple_name(pub)) {
        fail(err, errlen, "publication name must be 1-63 of [a-z0-9_]");
        return NULL;
    }
    replstream_t *rs = xcalloc(1, sizeof *rs);
    snprintf(rs->slot, sizeof rs->slot, "%s", opt->slot_name);
    snprintf(rs->publication, sizeof rs->publication, "%s", pub);
    rs->status_interval_ms = opt->status_interval_ms > 0 ? opt->status_interval_ms : DEFAULT_STATUS_MS;
    rs->durable = opt->durable;

    /* The URI is expanded first, so our replication=database wins over
     * anything it says; the application name stays the caller's if set. */
    const char *keys[] = {"dbname", "replication", "fallback_application_name", NULL};
    const char *vals[] = {opt->url ? opt->url : "", "database", "proximityd-cdc", NULL};
    rs->conn = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(rs->conn) != CONNECTION_OK) {
        fail(err, errlen, "replication connection: %s", PQerrorMessage(rs->conn));
        goto fail;
    }
    if (PQserverVersion(rs->conn) < 100000) {
        fail(err, errlen, "logical replication needs PostgreSQL 10 or later");
        goto fail;
    }

    PGresult *res = exec_expect(rs, "IDENTIFY_SYSTEM", PGRES_TUPLES_OK, err, errlen);
    if (!res)
        goto fail;
    if (PQntuples(res) != 1 || PQnfields(res) < 4 || PQgetisnull(res, 0, 3)) {
        PQclear(res);
        fail(err, errlen, "IDENTIFY_SYSTEM: not a logical (replication=database) connection");
        goto fail;
    }
    snprintf(rs->sysid, sizeof rs->sysid, "%s", PQgetvalue(res, 0, 0));
    rs->timeline = (unsigned)strtoul(PQgetvalue(res, 0, 1), NULL, 10);
    PQclear(res);

    if (rs->durable) {
        int found = find_slot(rs, err, errlen);
        if (found < 0)
            goto fail;
        if (found == 1) {
            rs->reused = true;
            char lsn[REPLSTREAM_LSN_LEN];
            LOG_INFO("replication slot reused", "\"slot\":\"%s\",\"start_lsn\":\"%s\",\"timeline\":%u",
                     rs->slot, replstream_lsn_format(rs->start_lsn, lsn, sizeof lsn), rs->timeline);
            return rs;
        }
    }

    /* NOEXPORT_SNAPSHOT: the snapshot comes from a read replica that has
     * replayed the consistent point (DESIGN §2 step 3), not from here. */
    char cmd[256];
    snprintf(cmd, sizeof cmd, "CREATE_REPLICATION_SLOT %s %sLOGICAL pgoutput NOEXPORT_SNAPSHOT",
             rs->slot, rs->durable ? "" : "TEMPORARY ");
    res = exec_expect(rs, cmd, PGRES_TUPLES_OK, err, errlen);
    if (!res)
        goto fail;
    if (PQntuples(res) != 1 || PQnfields(res) < 2 ||
        replstream_lsn_parse(PQgetvalue(res, 0, 1), &rs->start_lsn) < 0) {
        PQclear(res);
        fail(err, errlen, "CREATE_REPLICATION_SLOT: no consistent point");
        goto fail;
    }
    PQclear(res);
    char lsn[REPLSTREAM_LSN_LEN];
    LOG_INFO("replication slot created", "\"slot\":\"%s\",\"durable\":%s,\"start_lsn\":\"%s\",\"timeline\":%u",
             rs->slot, rs->durable ? "true" : "false",
             replstream_lsn_format(rs->start_lsn, lsn, sizeof lsn), rs->timeline);
    return rs;
fail:
    PQfinish(rs->conn);
    free(rs);
    return NULL;
}

uint64_t replstream_start_lsn(const replstream_t *rs)
{
    return rs->start_lsn;
}

const char *replstream_system_id(const replstream_t *rs)
{
    return rs->sysid;
}

bool replstream_slot_reused(const replstream_t *rs)
{
    return rs->reused;
}

unsigned replstream_timeline(const replstream_t *rs)
{
    return rs->timeline;
}

void replstream_close(replstream_t *rs)
{
    if (!rs)
        return;
    PQfinish(rs->conn);
    free(rs);
}

/* ------------------------------------------------------------------ */
/* Positions and status updates                                         */
/* ------------------------------------------------------------------ */

void replstream_confirm(replstream_t *rs, uint64_t lsn)
{
    uint64_t cur = atomic_load(&rs->confirmed);
    while (lsn > cur && !atomic_compare_exchange_weak(&rs->confirmed, &cur, lsn))
        ;
}

uint64_t replstream_applied(const replstream_t *rs)
{
    return atomic_load(&rs->applied);
}

void replstream_stats(const replstream_t *rs, replstream_stats_t *out)
{
    *out = rs->st;
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* The position to report. A keepalive's wal_end counts once everything
 * handed over is confirmed: pgoutput sends a transaction whole at its
 * commit, so no commit before that point is still on its way to us. */
static uint64_t report_position(const replstream_t *rs)
{
    uint64_t pos = atomic_load(&rs->confirmed);
    if (!rs->durable && pos >= rs->last_handed && rs->keepalive_end > pos)
        pos = rs->keepalive_end;
    return pos;
}

int replstream_send_status(replstream_t *rs, bool reply_requested, char *err, size_t errlen)
{
    if (!rs->streaming || rs->broken)
        return fail(err, errlen, "replication stream is not running");
    uint64_t pos = report_position(rs);
    uint64_t prev = atomic_load(&rs->applied);
    if (pos < prev)
        pos = prev;
    /* 'r', written, flushed, applied, client clock, reply requested. */
    uint8_t msg[1 + 8 * 4 + 1];
    msg[0] = 'r';
    put64(msg + 1, pos);
    put64(msg + 9, pos);
    put64(msg + 17, pos);
    put64(msg + 25, (uint64_t)pg_now_us());
    msg[33] = reply_requested ? 1 : 0;
    if (PQputCopyData(rs->conn, (const char *)msg, sizeof msg) != 1 || PQflush(rs->conn) != 0) {
        rs->broken = true;
        return fail(err, errlen, "sending status update: %s", PQerrorMessage(rs->conn));
    }
    atomic_store(&rs->applied, pos);
    rs->st.status_sent++;
    rs->last_status_ms = mono_ms();
    return 0;
}

/* ------------------------------------------------------------------ */
/* The CopyBoth loop                                                    */
/* ------------------------------------------------------------------ */

static int start_streaming(replstream_t *rs, char *err, size_t errlen)
{
    char cmd[512], lsn[REPLSTREAM_LSN_LEN];
    snprintf(cmd, sizeof cmd,
             "START_REPLICATION SLOT %s LOGICAL %s (proto_version '1', publication_names '%s')",
             rs->slot, replstream_lsn_format(rs->start_lsn, lsn, sizeof lsn), rs->publication);
    PGresult *res = exec_expect(rs, cmd, PGRES_COPY_BOTH, err, errlen);
    if (!res) {
        rs->broken = true;
        return -1;
    }
    PQclear(res);
    rs->streaming = true;
    rs->last_status_ms = mono_ms();
    return 0;
}

/* The server ended the copy (or the connection): the reason is in the
 * pending result, if any. */
static int stream_ended(replstream_t *rs, char *err, size_t errlen)
{
    PGresult *res = PQgetResult(rs->conn);
    const char *why = res && PQresultStatus(res) == PGRES_FATAL_ERROR ? PQresultErrorMessage(res)
                                                                       : PQerrorMessage(rs->conn);
    fail(err, errlen, "replication stream ended: %s", why && *why ? why : "by the server");
    PQclear(res);
    rs->broken = true;
    return -1;
}

static int handle_message(replstream_t *rs, const replstream_callbacks_t *cb, const uint8_t *m,
                          size_t n, char *err, size_t errlen)
{
    if (n >= 1 && m[0] == 'w') {
        /* 'w', WAL start, server WAL end, server clock, data. */
        if (n < 25)
            return fail(err, errlen, "short XLogData message (%zu bytes)", n);
        uint64_t start = get64(m + 1), end = get64(m + 9);
        rs->last_handed = start;
        rs->st.xlogdata++;
        rs->st.bytes += n - 25;
        if (end > rs->st.server_wal_end)
            rs->st.server_wal_end = end;
        if (cb->on_data && cb->on_data(cb->ctx, start, end, m + 25, n - 25, err, errlen) < 0)
            return -1;
        return 0;
    }
    if (n >= 1 && m[0] == 'k') {
        /* 'k', server WAL end, server clock, reply requested. */
        if (n < 18)
            return fail(err, errlen, "short keepalive message (%zu bytes)", n);
        uint64_t end = get64(m + 1);
        bool reply = m[17] != 0;
        rs->st.keepalives++;
        if (end > rs->keepalive_end)
            rs->keepalive_end = end;
        if (end > rs->st.server_wal_end)
            rs->st.server_wal_end = end;
        /* The walsender ends the connection after wal_sender_timeout
         * without an answer: reply before anything else. */
        if (reply) {
            rs->st.replies++;
            if (replstream_send_status(rs, false, err, errlen) < 0)
                return -1;
        }
        if (cb->on_keepalive)
            cb->on_keepalive(cb->ctx, end, reply);
        return 0;
    }
    return fail(err, errlen, "unknown replication message 0x%02x", n ? m[0] : 0);
}

int replstream_run(replstream_t *rs, const replstream_callbacks_t *cb, const atomic_bool *stop,
                   int timeout_ms, char *err, size_t errlen)
{
    if (rs->broken)
        return fail(err, errlen, "replication stream is broken; close and reopen it");
    if (!rs->streaming && start_streaming(rs, err, errlen) < 0)
        return -1;
    int64_t deadline = timeout_ms >= 0 ? mono_ms() + timeout_ms : INT64_MAX;
    for (;;) {
        if (stop && atomic_load(stop))
            return 0;
        int64_t now = mono_ms();
        if (now >= deadline)
            return 0;
        if (now - rs->last_status_ms >= rs->status_interval_ms &&
            replstream_send_status(rs, false, err, errlen) < 0)
            return -1;

        char *buf = NULL;
        int n = PQgetCopyData(rs->conn, &buf, 1);
        if (n > 0) {
            int rc = handle_message(rs, cb, (const uint8_t *)buf, (size_t)n, err, errlen);
            PQfreemem(buf);
            if (rc < 0) {
                rs->broken = true;
                return -1;
            }
            continue;
        }
        if (n == -1)
            return stream_ended(rs, err, errlen);
        if (n < -1) {
            rs->broken = true;
            return fail(err, errlen, "replication stream: %s", PQerrorMessage(rs->conn));
        }

        /* Nothing buffered: sleep until data, the next status update, the
         * deadline or the next look at the stop flag. */
        int64_t wait = rs->last_status_ms + rs->status_interval_ms - now;
        if (deadline - now < wait)
            wait = deadline - now;
        if (wait > STOP_POLL_MS)
            wait = STOP_POLL_MS;
        if (wait < 0)
            wait = 0;
        struct pollfd pfd = {.fd = PQsocket(rs->conn), .events = POLLIN};
        if (pfd.fd < 0) {
            rs->broken = true;
            return fail(err, errlen, "replication stream: connection closed");
        }
        int pr = poll(&pfd, 1, (int)wait);
        if (pr < 0 && errno != EINTR) {
            rs->broken = true;
            return fail(err, errlen, "poll: %s", strerror(errno));
        }
        if (pr > 0 && !PQconsumeInput(rs->conn)) {
            rs->broken = true;
            return fail(err, errlen, "replication stream: %s", PQerrorMessage(rs->conn));
        }
    }
}
