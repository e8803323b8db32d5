/* cdc.c — logical replication from the primary into the index and cache. */
#include "cdc.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "business.h"
#include "business_store.h"
#include "category.h"
#include "clock.h"
#include "debezium.h"
#include "kafka_source.h"
#include "log.h"
#include "replstream.h"
#include "xalloc.h"

/* How often the thread asks the primary for its position when idle, and
 * how long a silent connection counts as alive. */
#define PING_S 1.0
#define SILENCE_S 10.0
#define RUN_SLICE_MS 20
#define BACKOFF_MIN_S 0.1
#define BACKOFF_MAX_S 10.0

/* A cache update held until its transaction commits. */
typedef struct cache_op {
    int64_t id, version;
    char *json; /* NULL: a removal */
    size_t len;
} cache_op_t;

struct cdc {
    const config_t *cfg;
    searcher_t *searcher;
    cache_t *cache;
    pthread_t thread;
    atomic_bool stop;

    /* The stream thread's own state. */
    replstream_t *rs;
    pgoutput_decoder_t *dec;
    bool in_txn, truncated;
    bool restart;      /* kafka: the session ends on purpose (a truncate) */
    searcher_change_t *changes;
    size_t nchanges, capchanges;
    cache_op_t *ops;
    size_t nops, capops;
    double last_heard; /* monotonic: last message from the server */
    PGconn *pg;        /* kafka: positions from the primary */

    /* Shared with readers of the stats. */
    pthread_mutex_t mu;
    cdc_stats_t st;
    double caught_up_at; /* monotonic: the index was last known complete */
};

/* ------------------------------------------------------------------ */
/* Row images                                                           */
/* ------------------------------------------------------------------ */

int cdc_timestamp_rfc3339(const char *s, char *out, size_t outlen)
{
    int y, mo, d, h, mi, sec, n = 0;
    if (sscanf(s, "%4d-%2d-%2d %2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n != 19)
        return -1;
    const char *p = s + n;
    char frac[7] = "000000";
    if (*p == '.') {
        p++;
        for (int i = 0; *p >= '0' && *p <= '9'; i++, p++)
            if (i < 6)
                frac[i] = *p;
    }
    /* The offset: +HH, +HH:MM or +HH:MM:SS (or Z). */
    long off = 0;
    if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1, oh = 0, om = 0, os = 0, k = 0;
        if (sscanf(p, "%2d%n", &oh, &k) != 1 || k != 2)
            return -1;
        p += 2;
        if (*p == ':' && sscanf(p + 1, "%2d%n", &om, &k) == 1 && k == 2)
            p += 3;
        if (*p == ':' && sscanf(p + 1, "%2d%n", &os, &k) == 1 && k == 2)
            p += 3;
        off = sign * ((long)oh * 3600 + om * 60 + os);
    } else if (*p == 'Z') {
        p++;
    }
    if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
                    .tm_hour = h, .tm_min = mi, .tm_sec = sec};
    time_t t = timegm(&tm) - off;
    struct tm utc;
    if (gmtime_r(&t, &utc) == NULL)
        return -1;
    int w = snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d.%sZ", utc.tm_year + 1900,
                     utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, frac);
    return w > 0 && (size_t)w < outlen ? 0 : -1;
}

/* Every column the API shows: without all of them (an unchanged TOASTed
 * value is not sent) the cache keeps what it has and refetches by version. */
#define FULL_ROW                                                                            \
    (PGOUTPUT_BF_OWNER | PGOUTPUT_BF_NAME | PGOUTPUT_BF_CATEGORIES | PGOUTPUT_BF_STREET |   \
     PGOUTPUT_BF_CITY | PGOUTPUT_BF_REGION | PGOUTPUT_BF_POSTAL_CODE | PGOUTPUT_BF_COUNTRY | \
     PGOUTPUT_BF_PHONE | PGOUTPUT_BF_WEBSITE | PGOUTPUT_BF_PRICE | PGOUTPUT_BF_CREATED_AT |  \
     PGOUTPUT_BF_UPDATED_AT)

static char *row_json(const pgoutput_business_t *b, size_t *len)
{
    char created[40], updated[40];
    if ((b->present & FULL_ROW) != FULL_ROW || b->created_at == NULL || b->updated_at == NULL ||
        cdc_timestamp_rfc3339(b->created_at, created, sizeof created) != 0 ||
        cdc_timestamp_rfc3339(b->updated_at, updated, sizeof updated) != 0)
        return NULL;
    business_t v = {
        .id = b->id, .version = b->version, .owner = b->owner ? b->owner : "",
        .name = b->name ? b->name : "", .latitude = b->lat, .longitude = b->lng,
        .street = b->street, .city = b->city, .region = b->region, .postal_code = b->postal_code,
        .country = b->country, .phone = b->phone, .website = b->website, .price = b->price,
        .created_at = created, .updated_at = updated,
    };
    for (size_t i = 0; i < b->ncategories && v.ncategories < BUSINESS_MAX_CATEGORIES; i++)
        if (b->categories[i] != NULL)
            v.categories[v.ncategories++] = b->categories[i];
    /* v borrows every string: encode, never business_clear. */
    return business_store_json(&v, len);
}

int cdc_row_change(const pgoutput_business_t *b, searcher_change_t *out, char **json, size_t *len)
{
    *json = NULL;
    *len = 0;
    memset(out, 0, sizeof *out);
    if (!(b->present & PGOUTPUT_BF_VERSION) || b->version <= 0)
        return -1;
    out->p.id = b->id;
    out->p.version = b->version;
    if (b->deleted) {
        out->remove = true;
        return 0;
    }
    if (!(b->present & PGOUTPUT_BF_LOCATION) || !b->has_location)
        return -1;
    out->p.lat = b->lat;
    out->p.lng = b->lng;
    for (size_t i = 0; i < b->ncategories; i++) {
        int bit = b->categories[i] ? category_lookup(b->categories[i], strlen(b->categories[i])) : -1;
        if (bit >= 0)
            out->p.categories |= (category_set_t)1 << bit;
    }
    *json = row_json(b, len);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Transactions                                                         */
/* ------------------------------------------------------------------ */

static void push_change(cdc_t *c, const searcher_change_t *ch)
{
    if (c->nchanges == c->capchanges) {
        c->capchanges = c->capchanges ? c->capchanges * 2 : 64;
        c->changes = xrealloc(c->changes, c->capchanges * sizeof *c->changes);
    }
    c->changes[c->nchanges++] = *ch;
}

static void push_op(cdc_t *c, int64_t id, int64_t version, char *json, size_t len)
{
    if (c->nops == c->capops) {
        c->capops = c->capops ? c->capops * 2 : 64;
        c->ops = xrealloc(c->ops, c->capops * sizeof *c->ops);
    }
    c->ops[c->nops++] = (cache_op_t){id, version, json, len};
}

static void drop_pending(cdc_t *c)
{
    for (size_t i = 0; i < c->nops; i++)
        free(c->ops[i].json);
    c->nops = 0;
    c->nchanges = 0;
    c->truncated = false;
    c->in_txn = false;
}

static bool is_businesses(const pgoutput_relation_t *rel)
{
    return rel != NULL && strcmp(rel->relname, "businesses") == 0 &&
           strcmp(rel->nspname, "public") == 0;
}

/* The version a key-only delete removes as: one past the newest this
 * transaction or the live index knows. Only a fallback for a table without
 * REPLICA IDENTITY FULL (migration 0004): while a resync is pending the
 * live index may not know the row yet. */
static int64_t hard_delete_version(cdc_t *c, int64_t id)
{
    int64_t v = 0;
    for (size_t i = 0; i < c->nchanges; i++)
        if (c->changes[i].p.id == id && c->changes[i].p.version > v)
            v = c->changes[i].p.version;
    index_point_t p;
    if (searcher_get(c->searcher, id, &p) && p.version > v)
        v = p.version;
    return v + 1;
}

/* One row image into the pending transaction. A hard delete removes the
 * id as of the old row's version + 1 (migration 0004 keeps that below any
 * later version of the id). Takes what b owns. */
static void take_row(cdc_t *c, pgoutput_business_t *b, bool hard_delete)
{
    char err[256], esc[300];
    searcher_change_t ch;
    char *json;
    size_t len;

    pthread_mutex_lock(&c->mu);
    c->st.events++;
    pthread_mutex_unlock(&c->mu);
    if (hard_delete) {
        if (!(b->present & PGOUTPUT_BF_VERSION) || b->version <= 0) {
            /* Only the key came (replica identity not FULL: the other
             * columns are absent or null). */
            b->version = hard_delete_version(c, b->id) - 1;
            LOG_WARN("hard delete without the old row; set REPLICA IDENTITY FULL (migration 0004)",
                     "\"id\":%" PRId64, b->id);
        }
        ch = (searcher_change_t){.remove = true, .p = {.id = b->id, .version = b->version + 1}};
        push_change(c, &ch);
        push_op(c, b->id, ch.p.version, NULL, 0);
        return;
    }
    if (cdc_row_change(b, &ch, &json, &len) != 0) {
        snprintf(err, sizeof err, "row %" PRId64 " has no version or no location", b->id);
        pthread_mutex_lock(&c->mu);
        c->st.malformed++;
        pthread_mutex_unlock(&c->mu);
        LOG_WARN("change skipped", "\"error\":\"%s\"", log_esc(esc, sizeof esc, err));
        return;
    }
    push_change(c, &ch);
    if (ch.remove)
        push_op(c, ch.p.id, ch.p.version, NULL, 0);
    else if (json != NULL)
        push_op(c, ch.p.id, ch.p.version, json, len);
}

static void on_row(cdc_t *c, const pgoutput_msg_t *m)
{
    char err[256], esc[300];
    pgoutput_business_t b;
    bool del = m->kind == PGOUTPUT_DELETE;
    if (pgoutput_business_from_tuple(m->rel, del ? &m->oldtup : &m->newtup, &b, err, sizeof err) != 0) {
        pthread_mutex_lock(&c->mu);
        c->st.events++;
        c->st.malformed++;
        pthread_mutex_unlock(&c->mu);
        LOG_WARN("change skipped", "\"error\":\"%s\"", log_esc(esc, sizeof esc, err));
        return;
    }
    take_row(c, &b, del);
    pgoutput_business_clear(&b);
}

/* The transaction is whole: index first (one step for builds), then the
 * cache, then tell the primary it may recycle the WAL. */
static void on_commit(cdc_t *c, uint64_t end_lsn)
{
    if (c->truncated) {
        /* Everything before is gone: a snapshot after the truncate. */
        searcher_resync(c->searcher, end_lsn);
        cache_clear(c->cache);
    }
    size_t took = searcher_apply_batch(c->searcher, c->changes, c->nchanges, end_lsn);
    for (size_t i = 0; i < c->nops; i++) {
        cache_op_t *o = &c->ops[i];
        if (o->json != NULL)
            cache_put(c->cache, o->id, o->version, o->json, o->len);
        else
            cache_remove(c->cache, o->id, o->version);
        o->json = NULL;
    }
    pthread_mutex_lock(&c->mu);
    c->st.transactions++;
    c->st.applied += took;
    c->st.stale += c->nchanges - took;
    c->st.truncates += c->truncated;
    pthread_mutex_unlock(&c->mu);
    drop_pending(c);
    if (c->rs != NULL)
        replstream_confirm(c->rs, end_lsn);
}

static int on_data(void *ctx, uint64_t wal_start, uint64_t wal_end, const uint8_t *data, size_t len,
                   char *err, size_t errlen)
{
    cdc_t *c = ctx;
    pgoutput_msg_t m;
    (void)wal_start;

    c->last_heard = clock_monotonic();
    pthread_mutex_lock(&c->mu);
    if (wal_end > c->st.server_wal_end)
        c->st.server_wal_end = wal_end;
    pthread_mutex_unlock(&c->mu);
    if (pgoutput_decode(c->dec, data, len, &m, err, errlen) != 0)
        return -1; /* a broken stream: reconnect and resynchronise */
    switch (m.kind) {
    case PGOUTPUT_BEGIN:
        drop_pending(c);
        c->in_txn = true;
        break;
    case PGOUTPUT_INSERT:
    case PGOUTPUT_UPDATE:
    case PGOUTPUT_DELETE:
        if (is_businesses(m.rel))
            on_row(c, &m);
        break;
    case PGOUTPUT_TRUNCATE:
        for (size_t i = 0; i < m.u.truncate.nrels; i++)
            if (is_businesses(pgoutput_relation(c->dec, m.u.truncate.oids[i])))
                c->truncated = true;
        break;
    case PGOUTPUT_COMMIT:
        on_commit(c, m.u.commit.end_lsn);
        break;
    default:
        break;
    }
    return 0;
}

/* Between transactions a keepalive's position is complete: pgoutput sends
 * each transaction whole at its commit, so none before it is on its way. */
static void on_keepalive(void *ctx, uint64_t wal_end, bool reply_requested)
{
    cdc_t *c = ctx;
    (void)reply_requested;
    double now = clock_monotonic();
    c->last_heard = now;
    pthread_mutex_lock(&c->mu);
    if (wal_end > c->st.server_wal_end)
        c->st.server_wal_end = wal_end;
    pthread_mutex_unlock(&c->mu);
    if (c->in_txn)
        return;
    searcher_set_position(c->searcher, wal_end);
    uint64_t pos = searcher_position(c->searcher);
    pthread_mutex_lock(&c->mu);
    if (pos >= wal_end)
        c->caught_up_at = now;
    pthread_mutex_unlock(&c->mu);
}

/* ------------------------------------------------------------------ */
/* The thread                                                           */
/* ------------------------------------------------------------------ */

static void nap(cdc_t *c, double s)
{
    for (double t = 0; t < s && !atomic_load(&c->stop); t += 0.05) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static void set_connected(cdc_t *c, bool on)
{
    pthread_mutex_lock(&c->mu);
    c->st.connected = on;
    pthread_mutex_unlock(&c->mu);
}

/* One stream from open to error (or stop). Returns false if it could not
 * be opened. */
static bool stream_once(cdc_t *c, unsigned serial)
{
    char err[512], esc[600], slot[64], lsn[REPLSTREAM_LSN_LEN];

    /* Unique per process and attempt; the slot is TEMPORARY, so it goes
     * away with the connection (a crash included). */
    snprintf(slot, sizeof slot, "proximityd_%ld_%u", (long)getpid(), serial);
    replstream_options_t opt = {.url = c->cfg->primary_url, .slot_name = slot,
                                .publication = c->cfg->cdc_publication};
    c->rs = replstream_open(&opt, err, sizeof err);
    if (c->rs == NULL) {
        LOG_WARN("change stream unavailable", "\"error\":\"%s\"", log_esc(esc, sizeof esc, err));
        return false;
    }
    uint64_t start = replstream_start_lsn(c->rs);
    c->dec = pgoutput_decoder_new();
    c->last_heard = clock_monotonic();
    set_connected(c, true);
    /* DESIGN §2 step 3: the stream is open at P; a snapshot at or after P
     * follows, and everything from P is applied on top. */
    searcher_resync(c->searcher, start);
    LOG_INFO("change stream open", "\"slot\":\"%s\",\"start\":\"%s\"", slot,
             replstream_lsn_format(start, lsn, sizeof lsn));

    replstream_callbacks_t cb = {.on_data = on_data, .on_keepalive = on_keepalive, .ctx = c};
    double last_ping = 0;
    while (!atomic_load(&c->stop)) {
        if (replstream_run(c->rs, &cb, &c->stop, RUN_SLICE_MS, err, sizeof err) != 0)
            break;
        double now = clock_monotonic();
        /* A heartbeat, and at once when a request waits for a position:
         * the answering keepalive moves the position past WAL that held
         * nothing for us. */
        if (now - last_ping >= PING_S || searcher_wanted_position(c->searcher) != 0) {
            if (replstream_send_status(c->rs, true, err, sizeof err) != 0)
                break;
            last_ping = now;
        }
        if (now - c->last_heard > SILENCE_S) {
            snprintf(err, sizeof err, "no word from the primary for %.0f s", SILENCE_S);
            break;
        }
    }
    if (!atomic_load(&c->stop)) {
        LOG_WARN("change stream lost", "\"error\":\"%s\"", log_esc(esc, sizeof esc, err));
        pthread_mutex_lock(&c->mu);
        c->st.errors++;
        pthread_mutex_unlock(&c->mu);
    }
    set_connected(c, false);
    drop_pending(c);
    replstream_close(c->rs);
    c->rs = NULL;
    pgoutput_decoder_free(c->dec);
    c->dec = NULL;
    return true;
}

/* ------------------------------------------------------------------ */
/* Transport kafka                                                      */
/* ------------------------------------------------------------------ */

/* How often the position is re-established when nobody waits for it. */
#define KAFKA_CHECK_S 1.0
#define KAFKA_TICK_MS 20

/* One value from the primary (a connection kept across calls). */
static int primary_query(cdc_t *c, const char *sql, const char *param, uint64_t *lsn, char *err,
                         size_t errlen)
{
    if (c->pg == NULL || PQstatus(c->pg) != CONNECTION_OK) {
        PQfinish(c->pg);
        const char *keys[] = {"dbname", "connect_timeout", "fallback_application_name", NULL};
        char timeout[16];
        snprintf(timeout, sizeof timeout, "%d", c->cfg->connect_timeout_s);
        const char *vals[] = {c->cfg->primary_url, timeout, "proximityd-cdc", NULL};
        c->pg = PQconnectdbParams(keys, vals, 1);
        if (PQstatus(c->pg) != CONNECTION_OK) {
            snprintf(err, errlen, "primary: %s", PQerrorMessage(c->pg));
            return -1;
        }
    }
    const char *p[1] = {param};
    PGresult *r = PQexecParams(c->pg, sql, param ? 1 : 0, NULL, p, NULL, NULL, 0);
    int rc = -1;
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        snprintf(err, errlen, "primary: %s", PQerrorMessage(c->pg));
    else if (PQntuples(r) != 1 || PQgetisnull(r, 0, 0) ||
             replstream_lsn_parse(PQgetvalue(r, 0, 0), lsn) != 0)
        snprintf(err, errlen, "primary: no position for \"%s\"", param ? param : sql);
    else
        rc = 0;
    PQclear(r);
    return rc;
}

static int on_kafka(void *ctx, const kafka_change_t *k, char *err, size_t errlen)
{
    cdc_t *c = ctx;
    const debezium_event_t *ev = k->ev;
    c->last_heard = clock_monotonic();
    if (ev->op == DEBEZIUM_TOMBSTONE)
        return 0; /* compaction's marker after a delete, already applied */
    if (ev->op == DEBEZIUM_TRUNCATE) {
        /* The table was emptied. Records of other partitions may still be
         * from before it: the session starts over (end offsets read after
         * this, then a snapshot), which skips them all. The relay sends
         * the truncate only once everything before it is in the topic. */
        cache_clear(c->cache);
        pthread_mutex_lock(&c->mu);
        c->st.truncates++;
        pthread_mutex_unlock(&c->mu);
        c->restart = true;
        snprintf(err, errlen, "the table was truncated: starting over");
        return -1;
    }
    /* Each event is its own step: Kafka keeps order per business only. */
    pgoutput_business_t row = ev->row;
    drop_pending(c);
    take_row(c, &row, ev->op == DEBEZIUM_DELETE);
    on_commit(c, 0);
    return 0;
}

/* One session with the brokers, DESIGN §2 step 3 for this transport: note
 * the end offsets, then the primary's position P (every record before the
 * offsets committed before P), snapshot at or after P, read from the
 * offsets on. The position then advances to what the relay's slot has
 * confirmed (everything up to it is in the topic) once the consumer has
 * reached end offsets read after it. */
static bool kafka_once(cdc_t *c)
{
    char err[512], esc[600], lsn[REPLSTREAM_LSN_LEN];
    kafka_source_options_t opt = {.brokers = c->cfg->kafka_brokers, .topic = c->cfg->kafka_topic,
                                  .extra_config = c->cfg->kafka_config};
    kafka_source_t *ks = kafka_source_new(&opt, 5000, err, sizeof err);
    if (ks == NULL) {
        LOG_WARN("change topic unavailable", "\"error\":\"%s\"", log_esc(esc, sizeof esc, err));
        return false;
    }
    int np = kafka_source_partitions(ks);
    int64_t *start = xcalloc((size_t)np, sizeof *start), *want = xcalloc((size_t)np, sizeof *want);
    uint64_t p = 0, confirmed = 0;
    bool opened = false;
    /* P is the insert position: with synchronous_commit off a transaction
     * can be committed (visible) before its record is written, and the
     * snapshot must hold it whether or not the topic ever will. */
    if (kafka_source_end_offsets(ks, start, 5000, err, sizeof err) != 0 ||
        primary_query(c, "SELECT pg_current_wal_insert_lsn()", NULL, &p, err, sizeof err) != 0 ||
        kafka_source_start(ks, start, err, sizeof err) != 0) {
        LOG_WARN("change topic unavailable", "\"error\":\"%s\"", log_esc(esc, sizeof esc, err));
        goto out;
    }
    opened = true;
    c->last_heard = clock_monotonic();
    set_connected(c, true);
    searcher_resync(c->searcher, p);
    searcher_set_position(c->searcher, p); /* the snapshot holds everything up to P */
    LOG_INFO("change topic open", "\"topic\":\"%s\",\"partitions\":%d,\"start\":\"%s\"",
             c->cfg->kafka_topic, np, replstream_lsn_format(p, lsn, sizeof lsn));

    double last_check = 0, check_at = 0;
    bool checking = false, check_failing = false;
    while (!atomic_load(&c->stop)) {
        if (kafka_source_poll(ks, on_kafka, c, KAFKA_TICK_MS, 1000, err, sizeof err) < 0)
            break;
        double now = clock_monotonic();
        if (checking && kafka_source_caught_up(ks, want)) {
            searcher_set_position(c->searcher, confirmed);
            checking = false;
            if (searcher_position(c->searcher) >= confirmed) {
                pthread_mutex_lock(&c->mu);
                c->caught_up_at = check_at;
                if (confirmed > c->st.server_wal_end)
                    c->st.server_wal_end = confirmed;
                pthread_mutex_unlock(&c->mu);
            }
        }
        if (!checking && (now - last_check >= KAFKA_CHECK_S || searcher_wanted_position(c->searcher) != 0)) {
            /* The slot first, then the offsets: records up to the slot's
             * position are all below offsets read after it. */
            last_check = now;
            if (primary_query(c, "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = $1",
                              c->cfg->cdc_slot, &confirmed, err, sizeof err) != 0 ||
                kafka_source_end_offsets(ks, want, 2000, err, sizeof err) != 0) {
                /* Primary or brokers away: the position stays, lag grows.
                 * Said once per outage. */
                if (!check_failing)
                    LOG_WARN("change topic position unknown", "\"error\":\"%s\"", log_esc(esc, sizeof esc, err));
                check_failing = true;
                continue;
            }
            c->last_heard = now;
            check_at = now;
            checking = true;
            check_failing = false;
        }
    }
    if (c->restart) {
        LOG_INFO("change topic restarts", "\"reason\":\"%s\"", log_esc(esc, sizeof esc, err));
    } else if (!atomic_load(&c->stop)) {
        LOG_WARN("change topic lost", "\"error\":\"%s\"", log_esc(esc, sizeof esc, err));
        pthread_mutex_lock(&c->mu);
        c->st.errors++;
        pthread_mutex_unlock(&c->mu);
    }
out:
    set_connected(c, false);
    drop_pending(c);
    free(start);
    free(want);
    kafka_source_free(ks);
    return opened;
}

static void *run(void *arg)
{
    cdc_t *c = arg;
    double backoff = BACKOFF_MIN_S;
    bool served = false;

    for (unsigned serial = 0; !atomic_load(&c->stop); serial++) {
        double t0 = clock_monotonic();
        bool opened = c->cfg->cdc == CONFIG_CDC_KAFKA ? kafka_once(c) : stream_once(c, serial);
        if (c->restart) {
            c->restart = false; /* on purpose: at once, and not a reconnect */
            continue;
        }
        if (opened && serial > 0) {
            pthread_mutex_lock(&c->mu);
            c->st.reconnects++;
            pthread_mutex_unlock(&c->mu);
        }
        if (!opened && !served) {
            /* No stream yet: build from a snapshot anyway, so search
             * serves (not ready) until the stream comes. */
            searcher_rebuild(c->searcher);
            served = true;
        }
        served |= opened;
        /* A stream that opened and ran a while (was cut, not refused)
         * earns a quick reconnect; only failures to open back off up to
         * BACKOFF_MAX_S. (Kills 0.5–3 s apart had pushed the wait to 10 s.) */
        if (opened && clock_monotonic() - t0 > 1.0)
            backoff = BACKOFF_MIN_S;
        nap(c, backoff);
        backoff = backoff * 2 > BACKOFF_MAX_S ? BACKOFF_MAX_S : backoff * 2;
    }
    return NULL;
}

cdc_t *cdc_start(const config_t *cfg, searcher_t *searcher, cache_t *cache)
{
    cdc_t *c = xcalloc(1, sizeof *c);
    c->cfg = cfg;
    c->searcher = searcher;
    c->cache = cache;
    c->caught_up_at = -1e9;
    pthread_mutex_init(&c->mu, NULL);
    if (pthread_create(&c->thread, NULL, run, c) != 0) {
        LOG(LOG_FATAL, "cannot start the change stream thread", "%s", "");
        abort();
    }
    return c;
}

void cdc_stop(cdc_t *c)
{
    if (c == NULL)
        return;
    atomic_store(&c->stop, true);
    pthread_join(c->thread, NULL);
    drop_pending(c);
    free(c->changes);
    free(c->ops);
    PQfinish(c->pg);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

void cdc_stats(cdc_t *c, cdc_stats_t *st)
{
    double now = clock_monotonic();
    pthread_mutex_lock(&c->mu);
    *st = c->st;
    double since = now - c->caught_up_at;
    pthread_mutex_unlock(&c->mu);
    st->position = searcher_position(c->searcher);
    st->lag_s = since < 0 ? 0 : since;
}

bool cdc_caught_up(cdc_t *c, int max_lag_ms)
{
    cdc_stats_t st;
    cdc_stats(c, &st);
    return st.connected && st.position != 0 && st.lag_s * 1000.0 < max_lag_ms;
}
