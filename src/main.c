/* main.c — proximityd: configuration, start-up, signals, drain. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include <pthread.h>

#include "api.h"
#include "business_store.h"
#include "clock.h"
#include "config.h"
#include "http.h"
#include "log.h"
#include "store.h"

static int write_port_file(const char *path, int port)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "%d\n", port);
    /* Rename, so a reader never sees a half-written file. */
    if (fclose(f) != 0 || rename(tmp, path) != 0)
        return -1;
    return 0;
}

/* Cold start: fill the cache while the index builds, so the first
 * searches hydrate from memory. Off the start-up path; failure is fine. */
static void *prewarm(void *arg)
{
    app_t *app = arg;
    double t0 = clock_monotonic();
    long n = business_store_prewarm(app->store, app->cache, app->cfg->cache_prewarm,
                                    (size_t)app->cfg->cache_bytes);
    if (n < 0)
        LOG_WARN("cache pre-warm skipped: database unreachable", "%s", "");
    else
        LOG_INFO("cache pre-warmed", "\"entries\":%ld,\"seconds\":%.3f", n, clock_monotonic() - t0);
    atomic_store(&app->prewarmed, true);
    return NULL;
}

int main(int argc, char **argv)
{
    config_t cfg;
    char err[512], esc[600];
    sigset_t stop_signals;
    int sig = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            config_usage(stdout, "proximityd");
            return EX_OK;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("proximityd %s\n", PACKAGE_VERSION);
            return EX_OK;
        }
    }
    if (config_load(&cfg, argc - 1, argv + 1, err, sizeof err) != 0) {
        fprintf(stderr, "proximityd: %s\n", err);
        return EX_USAGE;
    }
    log_threshold = cfg.log_level;

    /* Every thread (libmicrohttpd's included) inherits this mask, so the
     * stop signals reach only sigwait below. */
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    app_t app = {.cfg = &cfg};
    app.auth = auth_new(&cfg, err, sizeof err);
    if (app.auth == NULL) {
        LOG(LOG_FATAL, "cannot configure authentication", "\"error\":\"%s\"", log_esc(esc, sizeof esc, err));
        return EX_CONFIG;
    }
    if (strcmp(auth_describe(app.auth), "jwt-without-key") == 0)
        LOG_WARN("no JWT key configured: every write answers 401 (set PROXIMITY_JWT_SECRET, "
                 "PROXIMITY_JWT_PUBLIC_KEY_FILE, or PROXIMITY_AUTH=off)", "%s", "");
    app.limits = api_limits_new(&cfg, err, sizeof err);
    if (app.limits == NULL) {
        LOG(LOG_FATAL, "cannot configure rate limits", "\"error\":\"%s\"", log_esc(esc, sizeof esc, err));
        return EX_CONFIG;
    }
    app.store = store_new(&cfg);
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    app.started_at = (double)wall.tv_sec + wall.tv_nsec / 1e9;
    cache_options_t co = {
        .max_bytes = (size_t)cfg.cache_bytes, .ttl_s = cfg.cache_ttl_s,
        .negative_ttl_s = cfg.cache_negative_ttl_s, .jitter = 0.1, .shards = 16,
        .seed = (uint64_t)getpid(),
    };
    app.cache = cache_new(&co, business_store_fetch, app.store);
    app.searcher = searcher_new(app.store, (index_kind_t)cfg.index_kind, cfg.rebuild_interval_s,
                                cfg.cdc != CONFIG_CDC_OFF, cfg.snapshot_wait_ms);
    if (cfg.cdc != CONFIG_CDC_OFF)
        app.cdc = cdc_start(&cfg, app.searcher, app.cache);
    pthread_t warm;
    bool warming = cfg.cache_prewarm > 0 && pthread_create(&warm, NULL, prewarm, &app) == 0;
    if (!warming)
        atomic_store(&app.prewarmed, true);
    http_server_t *srv = http_server_start(&cfg, api_routes(), &app, err, sizeof err);
    if (srv == NULL) {
        LOG(LOG_FATAL, "cannot start", "\"error\":\"%s\"", log_esc(esc, sizeof esc, err));
        return EX_UNAVAILABLE;
    }
    int port = http_server_port(srv);
    if (cfg.port_file[0] != '\0' && write_port_file(cfg.port_file, port) != 0) {
        LOG(LOG_FATAL, "cannot write port file", "\"path\":\"%s\"", log_esc(esc, sizeof esc, cfg.port_file));
        http_server_drain_and_stop(srv, 0);
        return EX_CANTCREAT;
    }
    static const char *const cdc_names[] = {"off", "pg", "kafka"};
    LOG_INFO("listening", "\"bind\":\"%s\",\"port\":%d,\"threads\":%d,\"index\":\"%s\",\"cdc\":\"%s\","
             "\"auth\":\"%s\",\"version\":\"%s\"", cfg.bind, port, cfg.threads,
             index_kind_name((index_kind_t)cfg.index_kind), cdc_names[cfg.cdc], auth_describe(app.auth),
             PACKAGE_VERSION);

    /* SIGHUP asks for a fresh index snapshot; SIGTERM/SIGINT stop. */
    while (sigwait(&stop_signals, &sig) == 0 && sig == SIGHUP) {
        LOG_INFO("rebuild requested", "\"signal\":%d", sig);
        searcher_rebuild(app.searcher);
    }
    LOG_INFO("stopping", "\"signal\":%d,\"drain_delay_ms\":%d", sig, cfg.drain_delay_ms);
    /* Drain: fail /readyz first and keep serving for the delay, so the
     * load balancer's health checks take this replica out of rotation
     * before it stops accepting connections. */
    atomic_store(&app.draining, true);
    if (cfg.drain_delay_ms > 0) {
        struct timespec d = {cfg.drain_delay_ms / 1000, (long)(cfg.drain_delay_ms % 1000) * 1000000L};
        while (nanosleep(&d, &d) != 0)
            ;
    }
    http_server_drain_and_stop(srv, cfg.drain_timeout_s);
    if (warming)
        pthread_join(warm, NULL);
    cdc_stop(app.cdc);
    searcher_free(app.searcher);
    cache_free(app.cache);
    store_free(app.store);
    auth_free(app.auth);
    api_limits_free(app.limits);
    config_free(&cfg);
    LOG_INFO("stopped", "%s", "");
    return EX_OK;
}
