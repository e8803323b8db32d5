/* it_kafka_source.c — the Kafka source over the real Kafka protocol:
 * hand-written Debezium events (tests/debezium/good) produced with kcat
 * into librdkafka's mock cluster, read back from every partition; end
 * offsets for the start-up protocol; a malformed record skipped; every
 * broker down and up again. */
#include <check.h>
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check_run.h"
#include "debezium_expect.h"
#include "kafka_source.h"
#include "kafkautil.h"
#include "xalloc.h"

#define NPART 4

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct {
    debezium_event_t ev[256];
    int32_t part[256];
    int64_t off[256];
    size_t n;
} got_t;

/* Keeps a copy of what matters of each event (the callback's is borrowed). */
static int collect(void *ctx, const kafka_change_t *ch, char *err, size_t errlen)
{
    got_t *g = ctx;
    if (g->n == 256) {
        snprintf(err, errlen, "too many records");
        return -1;
    }
    debezium_event_t *e = &g->ev[g->n];
    *e = *ch->ev;
    /* Deep-copy the row by re-running the fields we compare. */
    pgoutput_business_t *b = &e->row;
    b->owner = ch->ev->row.owner ? xstrdup(ch->ev->row.owner) : NULL;
    b->name = ch->ev->row.name ? xstrdup(ch->ev->row.name) : NULL;
    b->street = ch->ev->row.street ? xstrdup(ch->ev->row.street) : NULL;
    b->city = ch->ev->row.city ? xstrdup(ch->ev->row.city) : NULL;
    b->region = ch->ev->row.region ? xstrdup(ch->ev->row.region) : NULL;
    b->postal_code = ch->ev->row.postal_code ? xstrdup(ch->ev->row.postal_code) : NULL;
    b->country = ch->ev->row.country ? xstrdup(ch->ev->row.country) : NULL;
    b->phone = ch->ev->row.phone ? xstrdup(ch->ev->row.phone) : NULL;
    b->website = ch->ev->row.website ? xstrdup(ch->ev->row.website) : NULL;
    b->deleted_at = ch->ev->row.deleted_at ? xstrdup(ch->ev->row.deleted_at) : NULL;
    b->created_at = ch->ev->row.created_at ? xstrdup(ch->ev->row.created_at) : NULL;
    b->updated_at = ch->ev->row.updated_at ? xstrdup(ch->ev->row.updated_at) : NULL;
    b->categories = xcalloc(b->ncategories + 1, sizeof *b->categories);
    for (size_t i = 0; i < b->ncategories; i++)
        b->categories[i] = xstrdup(ch->ev->row.categories[i]);
    g->part[g->n] = ch->partition;
    g->off[g->n] = ch->offset;
    g->n++;
    return 0;
}

static void got_free(got_t *g)
{
    for (size_t i = 0; i < g->n; i++)
        debezium_event_clear(&g->ev[i]);
    g->n = 0;
}

/* Polls until every partition reached end (or fails after 20 s). */
static void read_until(kafka_source_t *ks, got_t *g, const int64_t *end)
{
    char err[512];
    double t0 = now_s();
    while (!kafka_source_caught_up(ks, end)) {
        ck_assert_msg(now_s() - t0 < 20, "not caught up after 20 s (%zu records)", g->n);
        ck_assert_msg(kafka_source_poll(ks, collect, g, 200, 100, err, sizeof err) >= 0, "poll: %s", err);
    }
}

static const char *srcdir(void)
{
    return getenv("top_srcdir") ? getenv("top_srcdir") : PROXIMITY_SRCDIR;
}

static char *case_file(const char *name, const char *ext, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof path, "%.700s/tests/debezium/good/%.200s%.16s", srcdir(), name, ext);
    return debezium_expect_slurp(path, len);
}

static ku_kafka_t kafka;

START_TEST(good_events_from_every_partition)
{
    char dir[1024], err[512], why[256];
    snprintf(dir, sizeof dir, "%s/tests/debezium/good", srcdir());
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    char names[64][128];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 64) {
        size_t l = strlen(e->d_name);
        if (l > 7 && strcmp(e->d_name + l - 7, ".expect") == 0) {
            memcpy(names[n], e->d_name, l - 7);
            names[n++][l - 7] = '\0';
        }
    }
    closedir(d);
    qsort(names, n, sizeof names[0], (int (*)(const void *, const void *))strcmp);

    /* Every case, in order, into partition 0 as KEY<TAB>VALUE lines (a
     * case without a value: a tombstone; without a key: an empty one). */
    size_t cap = 1 << 16, len = 0;
    char *lines = xmalloc(cap);
    for (size_t i = 0; i < n; i++) {
        size_t vl = 0, kl = 0;
        char *v = case_file(names[i], ".value", &vl), *k = case_file(names[i], ".key", &kl);
        ck_assert_uint_lt(len + vl + kl + 3, cap);
        len += (size_t)sprintf(lines + len, "%s\t%s\n", k ? k : "", v ? v : "");
        free(v);
        free(k);
    }
    ck_assert_int_eq(ku_kcat_produce(&kafka, 0, lines), 0);
    free(lines);
    /* One more envelope on each other partition, and a malformed record. */
    size_t il, kl;
    char *ins = case_file("insert", ".value", &il), *ik = case_file("insert", ".key", &kl);
    char one[8192];
    snprintf(one, sizeof one, "%s\t%s\n", ik, ins);
    for (int p = 1; p < NPART; p++)
        ck_assert_int_eq(ku_kcat_produce(&kafka, p, one), 0);
    ck_assert_int_eq(ku_kcat_produce(&kafka, 1, "{\"id\":9}\t[1,2,3]\n"), 0);
    free(ins);
    free(ik);

    kafka_source_options_t opt = {.brokers = kafka.bootstrap, .topic = kafka.topic};
    kafka_source_t *ks = kafka_source_new(&opt, 10000, err, sizeof err);
    ck_assert_msg(ks != NULL, "%s", err);
    ck_assert_int_eq(kafka_source_partitions(ks), NPART);
    int64_t end[NPART];
    ck_assert_msg(kafka_source_end_offsets(ks, end, 10000, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(end[0], (int64_t)n);
    ck_assert_int_eq(end[1], 2);
    ck_assert_int_eq(end[2], 1);
    ck_assert_int_eq(end[3], 1);
    ck_assert_int_eq(kafka_source_start(ks, NULL, err, sizeof err), 0);
    got_t *g = xcalloc(1, sizeof *g);
    read_until(ks, g, end);
    ck_assert_uint_eq(g->n, n + NPART - 1); /* the malformed one skipped */
    kafka_source_stats_t st;
    kafka_source_stats(ks, &st);
    ck_assert_uint_eq(st.malformed, 1);
    ck_assert_uint_eq(st.records, n + NPART);

    size_t at = 0;
    int other[NPART] = {0};
    for (size_t i = 0; i < g->n; i++) {
        if (g->part[i] != 0) {
            ck_assert_int_eq(g->ev[i].op, DEBEZIUM_CREATE);
            ck_assert_int_eq(g->ev[i].row.id, 42);
            other[g->part[i]]++;
            continue;
        }
        /* Partition 0 comes in order: offset k is case k. */
        ck_assert_int_eq(g->off[i], (int64_t)at);
        size_t el;
        char *et = case_file(names[at], ".expect", &el);
        json_t *expect = json_loads(et, 0, NULL);
        ck_assert_msg(debezium_expect_match(expect, &g->ev[i], why, sizeof why), "%s via Kafka: %s",
                      names[at], why);
        json_decref(expect);
        free(et);
        at++;
    }
    ck_assert_uint_eq(at, n);
    for (int p = 1; p < NPART; p++)
        ck_assert_int_eq(other[p], 1);
    got_free(g);
    free(g);
    kafka_source_free(ks);
}
END_TEST

START_TEST(start_from_end_offsets_and_outage)
{
    char err[512];
    kafka_source_options_t opt = {.brokers = kafka.bootstrap, .topic = kafka.topic};
    kafka_source_t *ks = kafka_source_new(&opt, 10000, err, sizeof err);
    ck_assert_msg(ks != NULL, "%s", err);
    /* The start-up protocol: note the end, then read only what follows. */
    int64_t noted[NPART], end[NPART];
    ck_assert_int_eq(kafka_source_end_offsets(ks, noted, 10000, err, sizeof err), 0);
    ck_assert_int_eq(ku_kcat_produce(&kafka, -1,
                                     "{\"id\":101}\t{\"op\":\"c\",\"after\":{\"id\":101,\"version\":1}}\n"
                                     "{\"id\":102}\t{\"op\":\"c\",\"after\":{\"id\":102,\"version\":2}}\n"
                                     "{\"id\":103}\t{\"op\":\"c\",\"after\":{\"id\":103,\"version\":3}}\n"),
                     0);
    ck_assert_int_eq(kafka_source_end_offsets(ks, end, 10000, err, sizeof err), 0);
    ck_assert_int_eq(kafka_source_start(ks, noted, err, sizeof err), 0);
    got_t *g = xcalloc(1, sizeof *g);
    read_until(ks, g, end);
    ck_assert_uint_eq(g->n, 3);
    int64_t sum = 0;
    for (size_t i = 0; i < g->n; i++)
        sum += g->ev[i].row.id;
    ck_assert_int_eq(sum, 101 + 102 + 103);
    got_free(g);

    /* Every broker down: polling goes on without records or failure. */
    ck_assert_int_eq(ku_kafka_cmd(&kafka, "down all"), 0);
    double t0 = now_s();
    while (now_s() - t0 < 2)
        ck_assert_int_eq(kafka_source_poll(ks, collect, g, 200, 100, err, sizeof err), 0);
    ck_assert_int_eq(ku_kafka_cmd(&kafka, "up all"), 0);
    ck_assert_int_eq(ku_kcat_produce(&kafka, -1,
                                     "{\"id\":104}\t{\"op\":\"u\",\"after\":{\"id\":104,\"version\":4}}\n"
                                     "{\"id\":104}\t{\"op\":\"d\",\"before\":{\"id\":104},\"after\":null}\n"
                                     "{\"id\":104}\t\n"),
                     0);
    ck_assert_int_eq(kafka_source_end_offsets(ks, end, 10000, err, sizeof err), 0);
    read_until(ks, g, end);
    ck_assert_uint_eq(g->n, 3); /* one id: one partition, in order */
    ck_assert_int_eq(g->ev[0].op, DEBEZIUM_UPDATE);
    ck_assert_int_eq(g->ev[1].op, DEBEZIUM_DELETE);
    ck_assert_int_eq(g->ev[2].op, DEBEZIUM_TOMBSTONE);
    ck_assert_int_eq(g->ev[2].row.id, 104);
    ck_assert_int_eq(g->part[0], g->part[2]);
    ck_assert_int_eq(g->off[1], g->off[0] + 1);
    got_free(g);
    free(g);
    kafka_source_stats_t st;
    kafka_source_stats(ks, &st);
    printf("it_kafka_source: transient errors during the outage: %llu\n", (unsigned long long)st.errors);
    kafka_source_free(ks);
}
END_TEST

START_TEST(missing_topic_and_brokers)
{
    char err[512];
    kafka_source_options_t opt = {.brokers = kafka.bootstrap, .topic = "no.such.topic"};
    kafka_source_t *ks = kafka_source_new(&opt, 3000, err, sizeof err);
    if (ks) { /* the mock may auto-create topics; then it has partitions */
        ck_assert_int_gt(kafka_source_partitions(ks), 0);
        kafka_source_free(ks);
    }
    opt.brokers = "127.0.0.1:1";
    opt.topic = kafka.topic;
    ck_assert_ptr_null(kafka_source_new(&opt, 1000, err, sizeof err));
    ck_assert(strlen(err) > 0);
    opt.brokers = kafka.bootstrap;
    opt.extra_config = "no.such.property=1";
    ck_assert_ptr_null(kafka_source_new(&opt, 1000, err, sizeof err));
}
END_TEST

int main(void)
{
    if (!ku_have_kcat()) {
        fprintf(stderr, "it_kafka_source: skipped: kcat is not installed (scripts/deps.sh)\n");
        return 77;
    }
    if (ku_kafka_start(&kafka, "it.source.businesses", NPART) < 0) {
        fprintf(stderr, "it_kafka_source: cannot start tests/kafka_mock\n");
        return 1;
    }
    Suite *s = suite_create("kafka_source");
    TCase *tc = tcase_create("mock");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, good_events_from_every_partition);
    tcase_add_test(tc, start_from_end_offsets_and_outage);
    tcase_add_test(tc, missing_topic_and_brokers);
    suite_add_tcase(s, tc);
    int rc = check_run(s, CK_NOFORK);
    ku_kafka_stop(&kafka);
    return rc;
}
