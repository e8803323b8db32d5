/* kafka_source.c — every partition of the change topic through one
 * librdkafka consumer (rd_kafka_assign, offsets never committed: each
 * replica starts from the offsets its own start-up protocol chose). */
#include "kafka_source.h"

#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "field_error.h"
#include "log.h"
#include "xalloc.h"

#define fail errbuf_set

struct kafka_source {
    rd_kafka_t *rk;
    /* Offset queries go through a client of their own: on the consumer's
     * connections they would queue behind fetches that wait for data
     * (fetch.wait.max.ms), one partition after another. */
    rd_kafka_t *query;
    char *topic;
    int npart;
    int64_t *pos; /* next offset per partition */
    kafka_source_stats_t st;
};

static int kset(rd_kafka_conf_t *c, const char *k, const char *v, char *err, size_t errlen)
{
    char e[512];
    if (rd_kafka_conf_set(c, k, v, e, sizeof e) != RD_KAFKA_CONF_OK)
        return fail(err, errlen, "kafka %s=%s: %s", k, v, e);
    return 0;
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    kafka_source_t *ks = opaque;
    char esc[512];
    (void)rk;
    (void)err;
    if (ks)
        ks->st.errors++;
    LOG_WARN("kafka source", "\"error\":\"%s\"", log_esc(esc, sizeof esc, reason));
}

kafka_source_t *kafka_source_new(const kafka_source_options_t *opt, int timeout_ms, char *err,
                                 size_t errlen)
{
    kafka_source_t *ks = xcalloc(1, sizeof *ks);
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    char group[96];
    /* A group id of its own: nothing is shared with other replicas, no
     * offsets are committed; assign() never joins the group. */
    snprintf(group, sizeof group, "proximity-source-%ld-%p", (long)getpid(), (void *)ks);
    if (kset(c, "bootstrap.servers", opt->brokers, err, errlen) < 0 ||
        kset(c, "group.id", group, err, errlen) < 0 ||
        kset(c, "enable.auto.commit", "false", err, errlen) < 0 ||
        kset(c, "enable.auto.offset.store", "false", err, errlen) < 0 ||
        kset(c, "enable.partition.eof", "false", err, errlen) < 0 ||
        /* Offsets gone (retention) mean changes we never saw: say so. */
        kset(c, "auto.offset.reset", "error", err, errlen) < 0 ||
        /* A broker answers a waiting fetch as soon as data comes; this
         * bounds only how long one waits when none does (librdkafka's
         * 500 ms default is the latency floor on brokers that do not
         * answer early, such as librdkafka's mock cluster). */
        kset(c, "fetch.wait.max.ms", "100", err, errlen) < 0)
        goto fail_conf;
    if (opt->extra_config && *opt->extra_config) {
        char *list = xstrdup(opt->extra_config), *save = NULL;
        for (char *kv = strtok_r(list, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
            char *eq = strchr(kv, '=');
            if (!eq || (*eq = '\0', kset(c, kv, eq + 1, err, errlen) < 0)) {
                if (!eq)
                    fail(err, errlen, "kafka config: \"%s\" is not key=value", kv);
                free(list);
                goto fail_conf;
            }
        }
        free(list);
    }
    rd_kafka_conf_set_opaque(c, ks);
    rd_kafka_conf_set_error_cb(c, on_error);
    char e[512];
    rd_kafka_conf_t *qc = rd_kafka_conf_dup(c);
    ks->query = rd_kafka_new(RD_KAFKA_CONSUMER, qc, e, sizeof e);
    if (!ks->query) {
        rd_kafka_conf_destroy(qc);
        fail(err, errlen, "kafka client: %s", e);
        goto fail_conf;
    }
    ks->rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, e, sizeof e);
    if (!ks->rk) {
        fail(err, errlen, "kafka consumer: %s", e);
        goto fail_conf;
    }
    rd_kafka_poll_set_consumer(ks->rk);
    ks->topic = xstrdup(opt->topic);

    rd_kafka_topic_t *t = rd_kafka_topic_new(ks->rk, opt->topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t me = rd_kafka_metadata(ks->rk, 0, t, &md, timeout_ms);
    rd_kafka_topic_destroy(t);
    if (me) {
        fail(err, errlen, "kafka metadata of %s: %s", opt->topic, rd_kafka_err2str(me));
        goto fail;
    }
    if (md->topic_cnt != 1 || md->topics[0].err || md->topics[0].partition_cnt <= 0) {
        fail(err, errlen, "kafka topic %s: %s", opt->topic,
             md->topic_cnt == 1 && md->topics[0].err ? rd_kafka_err2str(md->topics[0].err)
                                                     : "no partitions");
        rd_kafka_metadata_destroy(md);
        goto fail;
    }
    ks->npart = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    ks->pos = xcalloc((size_t)ks->npart, sizeof *ks->pos);
    return ks;
fail_conf:
    if (!ks->rk)
        rd_kafka_conf_destroy(c);
fail:
    kafka_source_free(ks);
    return NULL;
}

int kafka_source_partitions(const kafka_source_t *ks)
{
    return ks->npart;
}

static int watermarks(kafka_source_t *ks, int64_t *lo, int64_t *hi, int timeout_ms, char *err,
                      size_t errlen)
{
    rd_kafka_poll(ks->query, 0); /* its error callbacks */
    for (int p = 0; p < ks->npart; p++) {
        int64_t l, h;
        rd_kafka_resp_err_t e =
            rd_kafka_query_watermark_offsets(ks->query, ks->topic, p, &l, &h, timeout_ms);
        if (e)
            return fail(err, errlen, "watermarks of %s [%d]: %s", ks->topic, p, rd_kafka_err2str(e));
        if (lo)
            lo[p] = l;
        if (hi)
            hi[p] = h;
    }
    return 0;
}

int kafka_source_end_offsets(kafka_source_t *ks, int64_t *offsets, int timeout_ms, char *err,
                             size_t errlen)
{
    return watermarks(ks, NULL, offsets, timeout_ms, err, errlen);
}

int kafka_source_start(kafka_source_t *ks, const int64_t *offsets, char *err, size_t errlen)
{
    if (!offsets && watermarks(ks, ks->pos, NULL, 10000, err, errlen) < 0)
        return -1;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(ks->npart);
    for (int p = 0; p < ks->npart; p++) {
        rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_add(l, ks->topic, p);
        tp->offset = offsets ? offsets[p] : RD_KAFKA_OFFSET_BEGINNING;
        if (offsets)
            ks->pos[p] = offsets[p];
    }
    rd_kafka_resp_err_t e = rd_kafka_assign(ks->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (e)
        return fail(err, errlen, "assign %s: %s", ks->topic, rd_kafka_err2str(e));
    return 0;
}

static int handle(kafka_source_t *ks, rd_kafka_message_t *m, kafka_source_cb cb, void *ctx,
                  char *err, size_t errlen)
{
    char perr[256], esc[300];
    debezium_event_t ev;
    ks->st.records++;
    if (debezium_parse(m->payload, m->len, m->key, m->key_len, &ev, perr, sizeof perr) < 0) {
        ks->st.malformed++;
        LOG_WARN("kafka record skipped", "\"partition\":%d,\"offset\":%" PRId64 ",\"error\":\"%s\"",
                 (int)m->partition, (int64_t)m->offset, log_esc(esc, sizeof esc, perr));
    } else {
        rd_kafka_timestamp_type_t tt;
        kafka_change_t ch = {.ev = &ev, .partition = m->partition, .offset = m->offset,
                             .timestamp_ms = rd_kafka_message_timestamp(m, &tt)};
        int rc = cb(ctx, &ch, err, errlen);
        debezium_event_clear(&ev);
        if (rc < 0)
            return -1;
        ks->st.delivered++;
    }
    if (m->partition >= 0 && m->partition < ks->npart)
        ks->pos[m->partition] = m->offset + 1;
    return 0;
}

int kafka_source_poll(kafka_source_t *ks, kafka_source_cb cb, void *ctx, int timeout_ms, int max,
                      char *err, size_t errlen)
{
    double deadline = clock_monotonic() + timeout_ms / 1000.0;
    int n = 0;
    while (n < max) {
        double left = deadline - clock_monotonic();
        rd_kafka_message_t *m = rd_kafka_consumer_poll(ks->rk, left > 0 ? (int)(left * 1000) : 0);
        if (!m) {
            if (left <= 0)
                break;
            continue;
        }
        if (m->err) {
            rd_kafka_resp_err_t e = m->err;
            char what[256];
            snprintf(what, sizeof what, "%s", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            if (e == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET || e == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE)
                return fail(err, errlen, "offsets of %s lost (a gap: rebuild): %s", ks->topic, what);
            if (e == RD_KAFKA_RESP_ERR__FATAL)
                return fail(err, errlen, "kafka consumer: %s", what);
            ks->st.errors++; /* transient: librdkafka reconnects */
            continue;
        }
        int rc = handle(ks, m, cb, ctx, err, errlen);
        rd_kafka_message_destroy(m);
        if (rc < 0)
            return -1;
        n++;
    }
    return n;
}

void kafka_source_positions(const kafka_source_t *ks, int64_t *offsets)
{
    memcpy(offsets, ks->pos, (size_t)ks->npart * sizeof *offsets);
}

bool kafka_source_caught_up(const kafka_source_t *ks, const int64_t *offsets)
{
    for (int p = 0; p < ks->npart; p++)
        if (ks->pos[p] < offsets[p])
            return false;
    return true;
}

void kafka_source_stats(const kafka_source_t *ks, kafka_source_stats_t *out)
{
    *out = ks->st;
}

void kafka_source_free(kafka_source_t *ks)
{
    if (!ks)
        return;
    if (ks->rk) {
        rd_kafka_consumer_close(ks->rk);
        rd_kafka_destroy(ks->rk);
    }
    if (ks->query)
        rd_kafka_destroy(ks->query);
    free(ks->topic);
    free(ks->pos);
    free(ks);
}
