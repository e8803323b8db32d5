/* searcher.c — background builds, atomic swaps, changes by version. */
#include "searcher.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "index_live.h"
#include "loader.h"
#include "log.h"
#include "xalloc.h"

typedef struct change {
    bool remove;
    index_point_t p; /* for a removal only id and version count */
} change_t;

struct searcher {
    store_t *store;
    index_kind_t kind;
    int interval_s;
    index_live_t *live;
    pthread_t thread;

    /* write_mu orders changes against swaps: a change is applied to the
     * live index and logged for the build in progress in one step, and the
     * swap replays the log in another. Searches never take it, so a change
     * that triggers a long delta merge delays other writers only. */
    pthread_mutex_t write_mu;
    bool rebuilding;
    change_t *log;
    size_t nlog, caplog;

    /* mu guards the small state below; held only for a few loads/stores.
     * Lock order: write_mu, then mu. */
    pthread_mutex_t mu;
    pthread_cond_t wake;
    bool stop, want_rebuild, ready;
    uint64_t build;
    double built_at;
    searcher_stats_t stats;
};

static double wall_now(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static void apply(index_t *ix, const change_t *c)
{
    if (c->remove)
        index_remove(ix, c->p.id, c->p.version);
    else
        index_upsert(ix, &c->p);
}

static void record(searcher_t *s, const change_t *c)
{
    pthread_mutex_lock(&s->write_mu);
    index_t *ix = index_live_acquire(s->live);
    if (ix != NULL) {
        apply(ix, c);
        index_live_release(s->live, ix);
    }
    if (s->rebuilding) {
        if (s->nlog == s->caplog) {
            s->caplog = s->caplog ? s->caplog * 2 : 256;
            s->log = xrealloc(s->log, s->caplog * sizeof *s->log);
        }
        s->log[s->nlog++] = *c;
    }
    pthread_mutex_unlock(&s->write_mu);
}

void searcher_upsert(searcher_t *s, const index_point_t *p)
{
    change_t c = {.remove = false, .p = *p};
    record(s, &c);
}

void searcher_remove(searcher_t *s, int64_t id, int64_t version)
{
    change_t c = {.remove = true, .p = {.id = id, .version = version}};
    record(s, &c);
}

/* One snapshot → new index → replay of changes seen meanwhile → swap. */
static void build_once(searcher_t *s)
{
    char err[512], esc[600];
    loader_stats_t ls;

    pthread_mutex_lock(&s->write_mu);
    s->rebuilding = true;
    s->nlog = 0;
    pthread_mutex_unlock(&s->write_mu);

    index_t *ix = loader_load(s->store, s->kind, &ls, err, sizeof err);

    pthread_mutex_lock(&s->write_mu);
    s->rebuilding = false;
    if (ix == NULL) {
        s->nlog = 0;
        pthread_mutex_unlock(&s->write_mu);
        pthread_mutex_lock(&s->mu);
        s->stats.build_failures++;
        pthread_mutex_unlock(&s->mu);
        LOG_WARN("index build failed", "\"error\":\"%s\"", log_esc(esc, sizeof esc, err));
        return;
    }
    /* Changes applied while the snapshot streamed may be in it or not;
     * applying them again is harmless (versions decide). */
    for (size_t i = 0; i < s->nlog; i++)
        apply(ix, &s->log[i]);
    size_t replayed = s->nlog;
    s->nlog = 0;
    /* Swap and relabel together, so a search never pairs one snapshot's
     * results with another's build number. */
    pthread_mutex_lock(&s->mu);
    index_live_swap(s->live, ix);
    s->build++;
    s->built_at = wall_now();
    s->ready = true;
    s->stats.builds++;
    s->stats.last_rows = ls.rows;
    s->stats.last_copy_s = ls.copy_s;
    s->stats.last_build_s = ls.build_s;
    uint64_t build = s->build;
    pthread_mutex_unlock(&s->mu);
    pthread_mutex_unlock(&s->write_mu);
    LOG_INFO("index ready", "\"index\":\"%s\",\"build\":%llu,\"rows\":%zu,\"copy_s\":%.3f,"
             "\"build_s\":%.3f,\"replayed_changes\":%zu",
             index_kind_name(s->kind), (unsigned long long)build, ls.rows, ls.copy_s, ls.build_s,
             replayed);
}

static void *builder(void *arg)
{
    searcher_t *s = arg;
    double retry_s = 0.5;

    for (;;) {
        build_once(s);
        pthread_mutex_lock(&s->mu);
        /* Until the first index exists, retry with backoff (the database
         * may come up after us); then wait for a request or the schedule. */
        double wait = !s->ready ? retry_s : s->interval_s > 0 ? s->interval_s : 0;
        retry_s = retry_s * 2 > 30 ? 30 : retry_s * 2;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += (time_t)wait;
        until.tv_nsec += (long)((wait - (double)(time_t)wait) * 1e9);
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (!s->stop && !s->want_rebuild) {
            int rc = wait > 0 ? pthread_cond_timedwait(&s->wake, &s->mu, &until)
                              : pthread_cond_wait(&s->wake, &s->mu);
            if (rc == ETIMEDOUT)
                break;
        }
        bool stop = s->stop;
        s->want_rebuild = false;
        pthread_mutex_unlock(&s->mu);
        if (stop)
            return NULL;
    }
}

searcher_t *searcher_new(store_t *store, index_kind_t kind, int rebuild_interval_s)
{
    searcher_t *s = xcalloc(1, sizeof *s);
    s->store = store;
    s->kind = kind;
    s->interval_s = rebuild_interval_s;
    s->live = index_live_new(NULL);
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->write_mu, NULL);
    pthread_cond_init(&s->wake, NULL);
    if (pthread_create(&s->thread, NULL, builder, s) != 0) {
        LOG(LOG_FATAL, "cannot start the index builder thread", "%s", "");
        abort();
    }
    return s;
}

void searcher_free(searcher_t *s)
{
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    index_live_free(s->live);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->write_mu);
    pthread_cond_destroy(&s->wake);
    free(s->log);
    free(s);
}

void searcher_acquire(searcher_t *s, searcher_view_t *view)
{
    /* The index pointer and its build number are read together so a
     * response never pairs one snapshot's results with another's label. */
    pthread_mutex_lock(&s->mu);
    view->index = index_live_acquire(s->live);
    view->build = s->build;
    view->built_at = s->built_at;
    pthread_mutex_unlock(&s->mu);
}

void searcher_release(searcher_t *s, searcher_view_t *view)
{
    if (view->index != NULL)
        index_live_release(s->live, view->index);
    view->index = NULL;
}

bool searcher_ready(searcher_t *s)
{
    pthread_mutex_lock(&s->mu);
    bool ready = s->ready;
    pthread_mutex_unlock(&s->mu);
    return ready;
}

void searcher_rebuild(searcher_t *s)
{
    pthread_mutex_lock(&s->mu);
    s->want_rebuild = true;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->mu);
}

void searcher_stats(searcher_t *s, searcher_stats_t *st)
{
    pthread_mutex_lock(&s->mu);
    *st = s->stats;
    pthread_mutex_unlock(&s->mu);
}
