/* api_metrics.c — GET /metrics: Prometheus text exposition format 0.0.4. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <time.h>

#include "api.h"
#include "metrics.h"
#include "xalloc.h"

/* Every figure below goes through metrics_emit (metrics.c). */
#define emit metrics_emit

/* Operations: build, readiness, drain, index age, database pools. */
static void api_metrics_ops(metrics_buf_t *o, app_t *app, const searcher_view_t *view)
{
    char labels[256];
    struct timespec now;
    static const char *const cdc_names[] = {"off", "pg", "kafka"};

    clock_gettime(CLOCK_REALTIME, &now);
    double wall = (double)now.tv_sec + now.tv_nsec / 1e9;
    snprintf(labels, sizeof labels, "{version=\"%s\",index=\"%s\",cdc=\"%s\"}", PACKAGE_VERSION,
             index_kind_name((index_kind_t)app->cfg->index_kind), cdc_names[app->cfg->cdc]);
    emit(o, "proximity_build_info", "gauge", "Always 1; the labels say which build and configuration runs.", labels, 1);
    emit(o, "proximity_start_time_seconds", "gauge", "When this process started (Unix time).", NULL, app->started_at);
    emit(o, "proximity_ready", "gauge", "1 while /readyz answers 200.", NULL, api_not_ready_reason(app) == NULL ? 1 : 0);
    emit(o, "proximity_draining", "gauge", "1 once SIGTERM arrived (/readyz fails, then the server drains).", NULL,
         atomic_load(&app->draining) ? 1 : 0);
    emit(o, "proximity_index_age_seconds", "gauge", "Seconds since the live index's snapshot was taken (-1 before the first).",
         NULL, view->build > 0 ? wall - view->built_at : -1);

    store_node_stats_t ns[65];
    int n = store_stats(app->store, ns, 65);
    static const struct { const char *name, *type, *help; } fam[] = {
        {"proximity_db_pool_in_use", "gauge", "Database connections leased now, by server."},
        {"proximity_db_pool_idle", "gauge", "Database connections pooled idle, by server."},
        {"proximity_db_connects_total", "counter", "Database connections opened, by server."},
        {"proximity_db_connect_failures_total", "counter", "Database connections that failed to open, by server."},
        {"proximity_db_errors_total", "counter", "Database statements that failed, by server."},
        {"proximity_db_server_down", "gauge", "1 while a server is tried last after a failure."},
    };
    for (size_t f = 0; f < sizeof fam / sizeof fam[0]; f++)
        for (int i = 0; i < n; i++) {
            double v = f == 0 ? ns[i].in_use : f == 1 ? ns[i].idle : f == 2 ? (double)ns[i].connects
                     : f == 3 ? (double)ns[i].connect_failures : f == 4 ? (double)ns[i].errors : ns[i].down;
            snprintf(labels, sizeof labels, "{role=\"%s\",server=\"%d\"}", ns[i].role, ns[i].index);
            emit(o, fam[f].name, fam[f].type, i == 0 ? fam[f].help : NULL, labels, v);
        }
}

void api_metrics(http_request_t *req, void *ctx)
{
    app_t *app = ctx;
    metrics_buf_t o = {NULL, 0, 0};
    cache_stats_t cs;
    searcher_stats_t ss;
    searcher_view_t view;
    index_stats_t is = {0};

    cache_stats(app->cache, &cs);
    searcher_stats(app->searcher, &ss);
    searcher_acquire(app->searcher, &view);
    if (view.index != NULL)
        index_stats(view.index, &is);
    searcher_release(app->searcher, &view);

    emit(&o, "proximity_cache_hits_total", "counter", "Business lookups served from the cache.", NULL, (double)cs.hits);
    emit(&o, "proximity_cache_misses_total", "counter", "Business lookups the cache could not serve.", NULL, (double)cs.misses);
    emit(&o, "proximity_cache_negative_hits_total", "counter", "Lookups answered by a cached 'no such id'.", NULL, (double)cs.negative_hits);
    emit(&o, "proximity_cache_evictions_total", "counter", "Entries dropped for space.", NULL, (double)cs.evictions);
    emit(&o, "proximity_cache_expirations_total", "counter", "Entries dropped for age.", NULL, (double)cs.expirations);
    emit(&o, "proximity_cache_fetches_total", "counter", "Batched database reads for misses.", NULL, (double)cs.fetches);
    emit(&o, "proximity_cache_coalesced_total", "counter", "Lookups that waited for another request's fetch.", NULL, (double)cs.coalesced);
    emit(&o, "proximity_cache_fetch_errors_total", "counter", "Failed batched reads.", NULL, (double)cs.fetch_errors);
    emit(&o, "proximity_cache_entries", "gauge", "Entries held.", NULL, (double)cs.entries);
    emit(&o, "proximity_cache_bytes", "gauge", "Bytes held, counted against PROXIMITY_CACHE_BYTES.", NULL, (double)cs.bytes);
    emit(&o, "proximity_index_ready", "gauge", "1 once a search index is built.", NULL, view.build > 0 ? 1 : 0);
    emit(&o, "proximity_index_build", "gauge", "Number of the snapshot the live index came from.", NULL, (double)view.build);
    emit(&o, "proximity_index_built_timestamp_seconds", "gauge", "When the live index's snapshot was taken.", NULL, view.built_at);
    emit(&o, "proximity_index_points", "gauge", "Live businesses in the index.", NULL, (double)is.count);
    emit(&o, "proximity_index_tombstones", "gauge", "Removed ids remembered with their version.", NULL, (double)is.tombstones);
    emit(&o, "proximity_index_bytes", "gauge", "Bytes of the index (search structures).", NULL, (double)is.bytes_index);
    emit(&o, "proximity_index_idmap_bytes", "gauge", "Bytes of the id map used by updates.", NULL, (double)is.bytes_idmap);
    emit(&o, "proximity_index_generation", "gauge", "Changes applied to the live index.", NULL, (double)is.generation);
    emit(&o, "proximity_index_builds_total", "counter", "Index builds finished.", NULL, (double)ss.builds);
    emit(&o, "proximity_index_build_failures_total", "counter", "Index builds that failed.", NULL, (double)ss.build_failures);
    emit(&o, "proximity_index_last_build_rows", "gauge", "Rows in the last snapshot.", NULL, (double)ss.last_rows);
    emit(&o, "proximity_index_last_copy_seconds", "gauge", "Time to stream the last snapshot.", NULL, ss.last_copy_s);
    emit(&o, "proximity_index_last_build_seconds", "gauge", "Time to build the last index.", NULL, ss.last_build_s);
    emit(&o, "proximity_searches_total", "counter", "Nearby searches answered, by source.", "{source=\"index\"}",
         (double)atomic_load(&app->searches_index));
    emit(&o, "proximity_searches_total", "counter", NULL, "{source=\"postgis\"}", (double)atomic_load(&app->searches_postgis));
    emit(&o, "proximity_search_errors_total", "counter", "Nearby searches that failed (database).", NULL,
         (double)atomic_load(&app->search_errors));
    emit(&o, "proximity_index_changes_applied_total", "counter", "Changes (stream and local writes) the live index took.", NULL, (double)ss.applied);
    emit(&o, "proximity_index_changes_stale_total", "counter", "Changes ignored because the index held a version at least as new.", NULL, (double)ss.stale);
    if (app->cdc != NULL) {
        cdc_stats_t c;
        cdc_stats(app->cdc, &c);
        emit(&o, "proximity_cdc_connected", "gauge", "1 while the change stream is open.", NULL, c.connected ? 1 : 0);
        emit(&o, "proximity_cdc_position", "gauge", "Log position (LSN as a number) the index is complete up to.", NULL, (double)c.position);
        emit(&o, "proximity_cdc_server_wal_end", "gauge", "The primary's end of WAL as last reported (LSN as a number).", NULL, (double)c.server_wal_end);
        emit(&o, "proximity_cdc_lag_bytes", "gauge", "WAL bytes between the primary's end and the applied position.", NULL,
             c.server_wal_end > c.position ? (double)(c.server_wal_end - c.position) : 0);
        emit(&o, "proximity_cdc_lag_seconds", "gauge", "Seconds since the index was last known to have every change (heartbeat 1 s).", NULL, c.lag_s);
        emit(&o, "proximity_cdc_transactions_total", "counter", "Committed transactions applied.", NULL, (double)c.transactions);
        emit(&o, "proximity_cdc_events_total", "counter", "Row changes of the businesses table received.", NULL, (double)c.events);
        emit(&o, "proximity_cdc_events_applied_total", "counter", "Row changes the index took.", NULL, (double)c.applied);
        emit(&o, "proximity_cdc_events_stale_total", "counter", "Row changes ignored as not newer than the index.", NULL, (double)c.stale);
        emit(&o, "proximity_cdc_events_malformed_total", "counter", "Row changes that did not decode (skipped).", NULL, (double)c.malformed);
        emit(&o, "proximity_cdc_truncates_total", "counter", "Truncates of the table (each rebuilds the index).", NULL, (double)c.truncates);
        emit(&o, "proximity_cdc_reconnects_total", "counter", "Change streams reopened after the first.", NULL, (double)c.reconnects);
        emit(&o, "proximity_cdc_errors_total", "counter", "Change streams that ended in an error.", NULL, (double)c.errors);
    }
    api_metrics_ops(&o, app, &view);
    metrics_http_render(&o);
    http_respond_owned(req, 200, "text/plain; version=0.0.4", o.p, o.n);
}
