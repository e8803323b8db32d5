/* relay.c — proximity-cdc's core: pgoutput from a durable slot to Kafka.
 *
 * One thread does everything that touches libpq and librdkafka: it reads
 * the stream, produces, and serves delivery reports (rd_kafka_poll), so
 * the bookkeeping below needs no lock. Every transaction gets a record in
 * a FIFO (commit order, as pgoutput sends them); each message produced
 * counts in its record until Kafka acknowledges it. The head of the FIFO
 * is confirmed to Postgres (its commit end LSN) once it is committed and
 * has nothing in flight — never a later one before an earlier one.
 * A full in-flight window, or a full librdkafka queue, stops the reading
 * of WAL until acknowledgements make room (back-pressure); status updates
 * keep the walsender from timing us out meanwhile. */
#include "relay.h"

#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "debezium.h"
#include "field_error.h"
#include "log.h"
#include "pgoutput.h"
#include "replstream.h"
#include "xalloc.h"

#define fail errbuf_set

typedef struct txn {
    uint64_t end_lsn;     /* the commit's end: what is confirmed (0: nothing) */
    int64_t commit_us;    /* commit time, µs since the Unix epoch */
    uint64_t pending;     /* messages in flight */
    bool committed;       /* COMMIT seen (or the stream lost: nothing to confirm) */
    struct txn *next;
} txn_t;

struct relay {
    relay_config_t cfg; /* borrowed strings */
    char db[128];
    rd_kafka_t *rk;
    replstream_t *rs;
    pgoutput_decoder_t *dec;
    txn_t *head, *tail, *open; /* FIFO; the transaction being received */
    uint32_t xid;
    bool failed;               /* a delivery failed for good or a fatal error */
    char failure[512];
    const atomic_bool *stop;
    int64_t last_status_ms, last_ask_ms;
    uint64_t reported; /* the confirmed position last sent to the primary */

    _Atomic uint64_t m_events, m_tombstones, m_produced, m_inflight, m_transactions,
        m_confirmed, m_wal_end, m_reconnects, m_waits, m_errors;
    _Atomic int64_t m_head_commit_us;
    _Atomic bool m_streaming;
};

static int64_t now_ms(void)
{
    return (int64_t)(clock_monotonic() * 1000.0);
}

static int64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ------------------------------------------------------------------ */
/* Confirmation                                                         */
/* ------------------------------------------------------------------ */

static void advance(relay_t *r)
{
    while (r->head && r->head->committed && r->head->pending == 0) {
        txn_t *t = r->head;
        if (t->end_lsn && r->rs) {
            replstream_confirm(r->rs, t->end_lsn);
            if (t->end_lsn > atomic_load(&r->m_confirmed))
                atomic_store(&r->m_confirmed, t->end_lsn);
            atomic_fetch_add(&r->m_transactions, 1);
        }
        r->head = t->next;
        if (!r->head)
            r->tail = NULL;
        if (r->open == t)
            r->open = NULL;
        free(t);
    }
    atomic_store(&r->m_head_commit_us, r->head ? r->head->commit_us : 0);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    relay_t *r = opaque;
    txn_t *t = m->_private;
    (void)rk;
    atomic_fetch_sub(&r->m_inflight, 1);
    if (m->err) {
        /* Not counted as delivered: its transaction is never confirmed,
         * and a restart re-reads it from the slot. */
        atomic_fetch_add(&r->m_errors, 1);
        if (!r->failed)
            snprintf(r->failure, sizeof r->failure, "delivery failed: %s", rd_kafka_err2str(m->err));
        r->failed = true;
        return;
    }
    atomic_fetch_add(m->payload ? &r->m_events : &r->m_tombstones, 1);
    t->pending--;
    advance(r);
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    relay_t *r = opaque;
    char buf[400], esc[512];
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        rd_kafka_fatal_error(rk, buf, sizeof buf);
        snprintf(r->failure, sizeof r->failure, "fatal producer error: %s", buf);
        r->failed = true;
        return;
    }
    /* Brokers down, timeouts: librdkafka retries by itself. */
    LOG_WARN("kafka", "\"error\":\"%s\"", log_esc(esc, sizeof esc, reason));
}

/* ------------------------------------------------------------------ */
/* Producing                                                            */
/* ------------------------------------------------------------------ */

/* Keeps the walsender's timeout at bay while we are not reading. */
static void status_if_due(relay_t *r)
{
    if (r->rs && now_ms() - r->last_status_ms >= r->cfg.status_interval_ms) {
        char err[256];
        if (replstream_send_status(r->rs, false, err, sizeof err) == 0)
            r->last_status_ms = now_ms();
    }
}

/* Serves delivery reports until fewer than limit messages are in flight
 * (or stop, or failure): one round at least, which also frees librdkafka
 * queue space. */
static int wait_inflight_below(relay_t *r, uint64_t limit, char *err, size_t errlen)
{
    atomic_fetch_add(&r->m_waits, 1);
    do {
        rd_kafka_poll(r->rk, 100);
        status_if_due(r);
        if (r->failed)
            return fail(err, errlen, "%s", r->failure);
        if (r->stop && atomic_load(r->stop))
            return fail(err, errlen, "stopping");
    } while (atomic_load(&r->m_inflight) >= limit);
    return 0;
}

static int wait_room(relay_t *r, char *err, size_t errlen)
{
    return wait_inflight_below(r, (uint64_t)r->cfg.max_inflight, err, errlen);
}

static int produce(relay_t *r, txn_t *t, int64_t id, const char *value, size_t len, int64_t ts_ms,
                   char *err, size_t errlen)
{
    char key[48];
    int klen = id > 0 ? snprintf(key, sizeof key, "{\"id\":%" PRId64 "}", id) : 0;
    for (;;) {
        if (atomic_load(&r->m_inflight) >= (uint64_t)r->cfg.max_inflight &&
            wait_room(r, err, errlen) < 0)
            return -1;
        rd_kafka_resp_err_t e = rd_kafka_producev(
            r->rk, RD_KAFKA_V_TOPIC(r->cfg.kafka_topic), RD_KAFKA_V_KEY(klen ? key : NULL, (size_t)klen),
            RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_TIMESTAMP(ts_ms), RD_KAFKA_V_OPAQUE(t), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
            break;
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            return fail(err, errlen, "produce: %s", rd_kafka_err2str(e));
        if (wait_room(r, err, errlen) < 0)
            return -1;
    }
    t->pending++;
    atomic_fetch_add(&r->m_inflight, 1);
    atomic_fetch_add(&r->m_produced, 1);
    rd_kafka_poll(r->rk, 0);
    return 0;
}

static int relay_change(relay_t *r, const pgoutput_msg_t *m, uint64_t wal_start, char *err,
                        size_t errlen)
{
    const pgoutput_relation_t *rel = m->rel;
    if (!rel || strcmp(rel->relname, "businesses") != 0)
        return 0; /* not ours (a wider publication) */
    if (!r->open)
        return fail(err, errlen, "change outside a transaction");
    pgoutput_business_t before, after;
    bool has_before = false, has_after = false;
    char sub[256];
    debezium_op_t op = m->kind == PGOUTPUT_INSERT   ? DEBEZIUM_CREATE
                       : m->kind == PGOUTPUT_UPDATE ? DEBEZIUM_UPDATE
                                                    : DEBEZIUM_DELETE;
    int rc = -1;
    if (m->kind != PGOUTPUT_DELETE) {
        if (pgoutput_business_from_tuple(rel, &m->newtup, &after, sub, sizeof sub) < 0) {
            fail(err, errlen, "new row: %s", sub);
            return -1;
        }
        has_after = true;
    }
    if (m->old_kind) {
        if (pgoutput_business_from_tuple(rel, &m->oldtup, &before, sub, sizeof sub) < 0) {
            fail(err, errlen, "old row: %s", sub);
            goto out;
        }
        has_before = true;
    }
    if (op == DEBEZIUM_DELETE && !has_before) {
        fail(err, errlen, "delete without an old key");
        goto out;
    }
    debezium_source_t src = {.name = r->cfg.server_name, .db = r->db, .schema = rel->nspname,
                             .table = rel->relname, .lsn = wal_start, .txid = r->xid,
                             .ts_ms = r->open->commit_us / 1000};
    size_t len;
    char *value = debezium_value_new(op, has_before ? &before : NULL, has_after ? &after : NULL,
                                     &src, wall_us() / 1000, &len, err, errlen);
    if (!value)
        goto out;
    int64_t id = has_after ? after.id : before.id;
    rc = produce(r, r->open, id, value, len, src.ts_ms, err, errlen);
    free(value);
    /* Log compaction's marker: the same key with a null value. */
    if (rc == 0 && op == DEBEZIUM_DELETE)
        rc = produce(r, r->open, id, NULL, 0, src.ts_ms, err, errlen);
out:
    if (has_before)
        pgoutput_business_clear(&before);
    if (has_after)
        pgoutput_business_clear(&after);
    return rc;
}

/* A truncate of businesses becomes one key-less Debezium "t" event. Every
 * record before it is acknowledged first, so a consumer that meets it and
 * starts over (end offsets, then a snapshot) cannot read a row from before
 * the truncate after its snapshot. */
static int relay_truncate(relay_t *r, const pgoutput_msg_t *m, uint64_t wal_start, char *err,
                          size_t errlen)
{
    const pgoutput_relation_t *rel = NULL;
    for (size_t i = 0; i < m->u.truncate.nrels && !rel; i++) {
        const pgoutput_relation_t *c = pgoutput_relation(r->dec, m->u.truncate.oids[i]);
        if (c && strcmp(c->relname, "businesses") == 0)
            rel = c;
    }
    if (!rel)
        return 0;
    if (!r->open)
        return fail(err, errlen, "truncate outside a transaction");
    if (atomic_load(&r->m_inflight) > 0 && wait_inflight_below(r, 1, err, errlen) < 0)
        return -1;
    debezium_source_t src = {.name = r->cfg.server_name, .db = r->db, .schema = rel->nspname,
                             .table = rel->relname, .lsn = wal_start, .txid = r->xid,
                             .ts_ms = r->open->commit_us / 1000};
    size_t len;
    char *value = debezium_value_new(DEBEZIUM_TRUNCATE, NULL, NULL, &src, wall_us() / 1000, &len, err,
                                     errlen);
    if (!value)
        return -1;
    int rc = produce(r, r->open, 0, value, len, src.ts_ms, err, errlen);
    free(value);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Stream callbacks                                                     */
/* ------------------------------------------------------------------ */

static int on_data(void *ctx, uint64_t wal_start, uint64_t wal_end, const uint8_t *data, size_t len,
                   char *err, size_t errlen)
{
    relay_t *r = ctx;
    pgoutput_msg_t m;
    if (wal_end > atomic_load(&r->m_wal_end))
        atomic_store(&r->m_wal_end, wal_end);
    if (pgoutput_decode(r->dec, data, len, &m, err, errlen) < 0)
        return -1;
    switch (m.kind) {
    case PGOUTPUT_BEGIN: {
        if (r->open)
            return fail(err, errlen, "BEGIN inside a transaction");
        txn_t *t = xcalloc(1, sizeof *t);
        t->commit_us = m.u.begin.commit_ts + PGOUTPUT_UNIX_EPOCH_OFFSET_US;
        if (r->tail)
            r->tail->next = t;
        else
            r->head = t;
        r->tail = t;
        r->open = t;
        r->xid = m.u.begin.xid;
        atomic_store(&r->m_head_commit_us, r->head->commit_us);
        return 0;
    }
    case PGOUTPUT_COMMIT:
        if (!r->open)
            return fail(err, errlen, "COMMIT outside a transaction");
        r->open->end_lsn = m.u.commit.end_lsn;
        r->open->committed = true;
        r->open = NULL;
        advance(r);
        rd_kafka_poll(r->rk, 0);
        return 0;
    case PGOUTPUT_INSERT:
    case PGOUTPUT_UPDATE:
    case PGOUTPUT_DELETE:
        return relay_change(r, &m, wal_start, err, errlen);
    case PGOUTPUT_TRUNCATE:
        return relay_truncate(r, &m, wal_start, err, errlen);
    default:
        return 0;
    }
}

static void on_keepalive(void *ctx, uint64_t wal_end, bool reply_requested)
{
    relay_t *r = ctx;
    (void)reply_requested;
    if (wal_end > atomic_load(&r->m_wal_end))
        atomic_store(&r->m_wal_end, wal_end);
    /* Between transactions with everything acknowledged, the keepalive's
     * position is safe to confirm: every commit before it was sent to us
     * already. This lets the slot advance over WAL of other tables. */
    if (!r->open && !r->head && r->rs) {
        replstream_confirm(r->rs, wal_end);
        if (wal_end > atomic_load(&r->m_confirmed))
            atomic_store(&r->m_confirmed, wal_end);
    }
}

/* ------------------------------------------------------------------ */
/* Life cycle                                                           */
/* ------------------------------------------------------------------ */

static int kset(rd_kafka_conf_t *c, const char *k, const char *v, char *err, size_t errlen)
{
    char e[512];
    if (rd_kafka_conf_set(c, k, v, e, sizeof e) != RD_KAFKA_CONF_OK)
        return fail(err, errlen, "kafka %s=%s: %s", k, v, e);
    return 0;
}

relay_t *relay_new(const relay_config_t *cfg, char *err, size_t errlen)
{
    relay_t *r = xcalloc(1, sizeof *r);
    r->cfg = *cfg;
    snprintf(r->db, sizeof r->db, "proximity");
    PQconninfoOption *ci = PQconninfoParse(cfg->primary_url, NULL);
    for (PQconninfoOption *o = ci; o && o->keyword; o++)
        if (strcmp(o->keyword, "dbname") == 0 && o->val && *o->val)
            snprintf(r->db, sizeof r->db, "%s", o->val);
    PQconninfoFree(ci);

    rd_kafka_conf_t *c = rd_kafka_conf_new();
    char num[32], qmax[32];
    snprintf(num, sizeof num, "%d", cfg->message_timeout_ms);
    snprintf(qmax, sizeof qmax, "%d", cfg->max_inflight + 1000);
    /* Idempotence: no duplicates from retries, order kept per partition.
     * murmur2 is the Java client's partitioner, so id → partition is the
     * same as for Debezium's own producer. */
    if (kset(c, "bootstrap.servers", cfg->kafka_brokers, err, errlen) < 0 ||
        kset(c, "enable.idempotence", "true", err, errlen) < 0 ||
        kset(c, "acks", "all", err, errlen) < 0 ||
        kset(c, "message.timeout.ms", num, err, errlen) < 0 ||
        kset(c, "queue.buffering.max.messages", qmax, err, errlen) < 0 ||
        kset(c, "linger.ms", "5", err, errlen) < 0 ||
        kset(c, "partitioner", "murmur2_random", err, errlen) < 0)
        goto fail;
    /* Extra properties last, so an operator can override ours. */
    if (cfg->kafka_config && *cfg->kafka_config) {
        char *list = xstrdup(cfg->kafka_config), *save = NULL;
        for (char *kv = strtok_r(list, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
            char *eq = strchr(kv, '=');
            if (!eq) {
                fail(err, errlen, "kafka config: \"%s\" is not key=value", kv);
                free(list);
                goto fail;
            }
            *eq = '\0';
            if (kset(c, kv, eq + 1, err, errlen) < 0) {
                free(list);
                goto fail;
            }
        }
        free(list);
    }
    rd_kafka_conf_set_opaque(c, r);
    rd_kafka_conf_set_dr_msg_cb(c, on_delivery);
    rd_kafka_conf_set_error_cb(c, on_error);
    char e[512];
    r->rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, e, sizeof e);
    if (!r->rk) {
        fail(err, errlen, "kafka producer: %s", e);
        goto fail; /* on failure the configuration is still ours */
    }
    return r;
fail:
    rd_kafka_conf_destroy(c);
    free(r);
    return NULL;
}

/* The stream was lost: what was received of an open transaction will be
 * sent again from the slot, so it confirms nothing. */
static void stream_lost(relay_t *r)
{
    if (r->open) {
        r->open->committed = true;
        r->open->end_lsn = 0;
        r->open = NULL;
    }
    advance(r);
    replstream_close(r->rs);
    r->rs = NULL;
    pgoutput_decoder_free(r->dec);
    r->dec = NULL;
    atomic_store(&r->m_streaming, false);
}

static bool stopped(const relay_t *r)
{
    return r->stop && atomic_load(r->stop);
}

static void sleep_ms_unless_stopped(relay_t *r, int ms)
{
    for (int waited = 0; waited < ms && !stopped(r); waited += 50) {
        rd_kafka_poll(r->rk, 0);
        usleep(50000);
    }
}

/* Consumers take the slot's confirmed_flush_lsn for the topic's position
 * (everything before it is in the topic), so a confirmation is reported at
 * once; and each interval asks for a keepalive, whose position is confirmed
 * between transactions (on_keepalive). */
static void report_position(relay_t *r, char *err, size_t errlen)
{
    uint64_t conf = atomic_load(&r->m_confirmed);
    bool ask = now_ms() - r->last_ask_ms >= r->cfg.status_interval_ms;
    if (!r->rs || (conf <= r->reported && !ask))
        return;
    if (replstream_send_status(r->rs, ask, err, errlen) == 0) {
        r->reported = conf;
        r->last_status_ms = now_ms();
        if (ask)
            r->last_ask_ms = r->last_status_ms;
    }
}

int relay_run(relay_t *r, const atomic_bool *stop, int flush_ms)
{
    char err[1024], esc[1024];
    r->stop = stop;
    replstream_callbacks_t cb = {on_data, on_keepalive, r};
    bool first = true;
    while (!stopped(r) && !r->failed) {
        if (!r->rs) {
            replstream_options_t opt = {.url = r->cfg.primary_url, .slot_name = r->cfg.slot,
                                        .publication = r->cfg.publication,
                                        .status_interval_ms = r->cfg.status_interval_ms,
                                        .durable = true};
            r->rs = replstream_open(&opt, err, sizeof err);
            if (!r->rs) {
                LOG_WARN("replication stream not open", "\"error\":\"%s\"",
                         log_esc(esc, sizeof esc, err));
                sleep_ms_unless_stopped(r, r->cfg.reconnect_ms);
                continue;
            }
            if (!first)
                atomic_fetch_add(&r->m_reconnects, 1);
            first = false;
            r->dec = pgoutput_decoder_new();
            r->last_status_ms = now_ms();
            atomic_store(&r->m_streaming, true);
        }
        /* Short runs, so delivery reports are served between them. */
        if (replstream_run(r->rs, &cb, stop, 100, err, sizeof err) < 0) {
            if (r->failed || stopped(r))
                break;
            LOG_WARN("replication stream lost", "\"error\":\"%s\"", log_esc(esc, sizeof esc, err));
            stream_lost(r);
            sleep_ms_unless_stopped(r, r->cfg.reconnect_ms);
            continue;
        }
        rd_kafka_poll(r->rk, 0);
        report_position(r, err, sizeof err);
        replstream_stats_t st;
        replstream_stats(r->rs, &st);
        if (st.server_wal_end > atomic_load(&r->m_wal_end))
            atomic_store(&r->m_wal_end, st.server_wal_end);
    }

    /* Stopping: what Kafka acknowledges in time is confirmed; the rest
     * comes again from the slot on the next start. */
    int64_t deadline = now_ms() + flush_ms;
    while (atomic_load(&r->m_inflight) > 0 && now_ms() < deadline && !r->failed)
        rd_kafka_poll(r->rk, 100);
    if (r->rs && !r->failed) {
        if (replstream_send_status(r->rs, false, err, sizeof err) < 0)
            LOG_WARN("last status update failed", "\"error\":\"%s\"", log_esc(esc, sizeof esc, err));
    }
    if (r->rs)
        stream_lost(r);
    if (r->failed) {
        LOG_ERROR("relay failed", "\"error\":\"%s\"", log_esc(esc, sizeof esc, r->failure));
        return EX_SOFTWARE;
    }
    return 0;
}

void relay_metrics(relay_t *r, relay_metrics_t *out)
{
    memset(out, 0, sizeof *out);
    out->events = atomic_load(&r->m_events);
    out->tombstones = atomic_load(&r->m_tombstones);
    out->produced = atomic_load(&r->m_produced);
    out->inflight = atomic_load(&r->m_inflight);
    out->transactions = atomic_load(&r->m_transactions);
    out->confirmed_lsn = atomic_load(&r->m_confirmed);
    out->server_wal_end = atomic_load(&r->m_wal_end);
    out->lag_bytes = out->server_wal_end > out->confirmed_lsn ? out->server_wal_end - out->confirmed_lsn : 0;
    int64_t head = atomic_load(&r->m_head_commit_us);
    out->lag_seconds = head ? (double)(wall_us() - head) / 1e6 : 0;
    if (out->lag_seconds < 0)
        out->lag_seconds = 0;
    out->reconnects = atomic_load(&r->m_reconnects);
    out->backpressure_waits = atomic_load(&r->m_waits);
    out->delivery_errors = atomic_load(&r->m_errors);
    out->streaming = atomic_load(&r->m_streaming);
}

void relay_free(relay_t *r)
{
    if (!r)
        return;
    if (r->rs)
        stream_lost(r);
    /* Records still in flight belong to messages librdkafka drops now. */
    rd_kafka_destroy(r->rk);
    while (r->head) {
        txn_t *t = r->head;
        r->head = t->next;
        free(t);
    }
    pgoutput_decoder_free(r->dec);
    free(r);
}
