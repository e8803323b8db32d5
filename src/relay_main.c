/* relay_main.c — proximity-cdc: configuration, the /metrics and /healthz
 * HTTP endpoint, signals; the relaying itself is relay.c. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "log.h"
#include "relay.h"
#include "relay_config.h"

static atomic_bool stop_flag;

static enum MHD_Result respond(struct MHD_Connection *c, unsigned status, const char *type,
                               char *body)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, "Content-Type", type);
    enum MHD_Result rc = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static char *metrics_text(relay_t *r)
{
    relay_metrics_t m;
    relay_metrics(r, &m);
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (!f)
        return NULL;
#define M(name, type, help, fmt, v)                                                               \
    fprintf(f, "# HELP proximity_cdc_" name " " help "\n# TYPE proximity_cdc_" name " " type       \
               "\nproximity_cdc_" name " " fmt "\n",                                              \
            v)
    M("events_total", "counter", "Change envelopes acknowledged by Kafka.", "%llu",
      (unsigned long long)m.events);
    M("tombstones_total", "counter", "Tombstones acknowledged by Kafka.", "%llu",
      (unsigned long long)m.tombstones);
    M("produced_total", "counter", "Messages handed to the producer.", "%llu",
      (unsigned long long)m.produced);
    M("inflight", "gauge", "Messages produced and not yet acknowledged.", "%llu",
      (unsigned long long)m.inflight);
    M("transactions_total", "counter", "Transactions confirmed to PostgreSQL.", "%llu",
      (unsigned long long)m.transactions);
    M("confirmed_lsn", "gauge", "Last WAL position confirmed to PostgreSQL.", "%llu",
      (unsigned long long)m.confirmed_lsn);
    M("server_wal_end", "gauge", "Latest end of WAL the primary reported.", "%llu",
      (unsigned long long)m.server_wal_end);
    M("lag_bytes", "gauge", "WAL bytes between the primary's end and the confirmed position.",
      "%llu", (unsigned long long)m.lag_bytes);
    M("lag_seconds", "gauge", "Age of the oldest commit not yet confirmed (0 when none).", "%.3f",
      m.lag_seconds);
    M("reconnects_total", "counter", "Replication streams reopened.", "%llu",
      (unsigned long long)m.reconnects);
    M("backpressure_waits_total", "counter", "Times WAL reading stopped for a full window.", "%llu",
      (unsigned long long)m.backpressure_waits);
    M("delivery_errors_total", "counter", "Deliveries that failed for good.", "%llu",
      (unsigned long long)m.delivery_errors);
    M("streaming", "gauge", "1 while a replication stream is open.", "%d", m.streaming ? 1 : 0);
#undef M
    fclose(f);
    return out;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **req)
{
    relay_t *r = cls;
    (void)version;
    (void)upload;
    (void)upload_size;
    (void)req;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return respond(c, 405, "application/json",
                       strdup("{\"error\":{\"code\":\"METHOD_NOT_ALLOWED\",\"description\":\"only GET\",\"field\":\"\"}}"));
    if (strcmp(url, "/metrics") == 0) {
        char *body = metrics_text(r);
        return body ? respond(c, 200, "text/plain; version=0.0.4", body)
                    : respond(c, 500, "text/plain", strdup("out of memory\n"));
    }
    if (strcmp(url, "/healthz") == 0) {
        relay_metrics_t m;
        relay_metrics(r, &m);
        char buf[256];
        snprintf(buf, sizeof buf, "{\"status\":\"ok\",\"streaming\":%s,\"inflight\":%llu}",
                 m.streaming ? "true" : "false", (unsigned long long)m.inflight);
        return respond(c, 200, "application/json", strdup(buf));
    }
    return respond(c, 404, "application/json",
                   strdup("{\"error\":{\"code\":\"NOT_FOUND\",\"description\":\"no such path\",\"field\":\"\"}}"));
}

static int write_port_file(const char *path, int port)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "%d\n", port);
    if (fclose(f) != 0 || rename(tmp, path) != 0)
        return -1;
    return 0;
}

static void *signal_thread(void *arg)
{
    sigset_t *set = arg;
    int sig = 0;
    if (sigwait(set, &sig) == 0)
        LOG_INFO("stopping", "\"signal\":%d", sig);
    atomic_store(&stop_flag, true);
    return NULL;
}

int main(int argc, char **argv)
{
    relay_config_t cfg;
    char err[1024], esc[1100];
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            config_usage_table(relay_config_options(), stdout, "proximity-cdc");
            return EX_OK;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("proximity-cdc %s\n", PACKAGE_VERSION);
            return EX_OK;
        }
    }
    if (relay_config_load(&cfg, argc - 1, argv + 1, err, sizeof err) != 0) {
        fprintf(stderr, "proximity-cdc: %s\n", err);
        relay_config_free(&cfg);
        return EX_USAGE;
    }
    log_threshold = cfg.log_level;

    /* Only the signal thread takes the stop signals. */
    static sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    relay_t *r = relay_new(&cfg, err, sizeof err);
    if (!r) {
        LOG(LOG_FATAL, "cannot start", "\"error\":\"%s\"", log_esc(esc, sizeof esc, err));
        relay_config_free(&cfg);
        return EX_CONFIG;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cfg.port)};
    if (inet_pton(AF_INET, cfg.bind, &sa.sin_addr) != 1) {
        LOG(LOG_FATAL, "bad bind address", "\"bind\":\"%s\"", log_esc(esc, sizeof esc, cfg.bind));
        relay_free(r);
        relay_config_free(&cfg);
        return EX_USAGE;
    }
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, (uint16_t)cfg.port, NULL, NULL, handle,
        r, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_TIMEOUT, 10u,
        MHD_OPTION_END);
    if (!d) {
        LOG(LOG_FATAL, "cannot listen", "\"port\":%d", cfg.port);
        relay_free(r);
        relay_config_free(&cfg);
        return EX_UNAVAILABLE;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    int port = info ? info->port : cfg.port;
    if (cfg.port_file[0] && write_port_file(cfg.port_file, port) != 0) {
        LOG(LOG_FATAL, "cannot write port file", "\"path\":\"%s\"", log_esc(esc, sizeof esc, cfg.port_file));
        MHD_stop_daemon(d);
        relay_free(r);
        relay_config_free(&cfg);
        return EX_CANTCREAT;
    }
    LOG_INFO("relay listening", "\"port\":%d,\"slot\":\"%s\",\"topic\":\"%s\",\"version\":\"%s\"",
             port, log_esc(esc, sizeof esc, cfg.slot), cfg.kafka_topic, PACKAGE_VERSION);

    pthread_t st;
    pthread_create(&st, NULL, signal_thread, &set);
    int rc = relay_run(r, &stop_flag, 10000);
    if (!atomic_load(&stop_flag)) {
        /* A failure ended the run: wake the signal thread to finish. */
        pthread_kill(st, SIGTERM);
    }
    pthread_join(st, NULL);
    MHD_stop_daemon(d);
    relay_free(r);
    relay_config_free(&cfg);
    LOG_INFO("stopped", "\"status\":%d", rc);
    return rc;
}
