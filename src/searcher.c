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
#include "replstream.h"
#include "log.h"
#include "xalloc.h"

typedef searcher_change_t change_t;

struct searcher {
    store_t *store;
    index_kind_t kind;
    int interval_s;
    bool follow_log;
    int snapshot_wait_ms;
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
    uint64_t stream_pos; /* last log position applied (whole transactions) */

    /* mu guards the small state below; held only for a few loads/stores.
     * Lock order: write_mu, then mu. */
    pthread_mutex_t mu;
    pthread_cond_t wake;
    bool stop, want_rebuild, ready;
    uint64_t build;
    double built_at;
    searcher_stats_t stats;
    /* Positions: a resync (new stream, truncate) needs a build from a
     * snapshot at or after resync_from; until it is swapped in, the index
     * is complete only up to frozen_pos. */
    bool resync_pending;
    uint64_t resync_from, frozen_pos, reported;
    pthread_cond_t pos_changed;
    int nwaiters;
    uint64_t wanted;
};

static double wall_now(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static bool apply(index_t *ix, const change_t *c)
{
    if (c->remove)
        return index_remove(ix, c->p.id, c->p.version);
    return index_upsert(ix, &c->p);
}

/* With write_mu held: one change to the live index and the build's log. */
static bool apply_locked(searcher_t *s, const change_t *c, index_t *ix)
{
    bool took = ix == NULL || apply(ix, c);
    if (s->rebuilding) {
        if (s->nlog == s->caplog) {
            s->caplog = s->caplog ? s->caplog * 2 : 256;
            s->log = xrealloc(s->log, s->caplog * sizeof *s->log);
        }
        s->log[s->nlog++] = *c;
    }
    return took;
}

/* With write_mu held: the stream reached position; tell the waiters. */
static void advance_locked(searcher_t *s, uint64_t position)
{
    if (position > s->stream_pos)
        s->stream_pos = position;
    pthread_mutex_lock(&s->mu);
    if (!s->resync_pending && s->stream_pos > s->reported) {
        s->reported = s->stream_pos;
        if (s->nwaiters > 0)
            pthread_cond_broadcast(&s->pos_changed);
    }
    pthread_mutex_unlock(&s->mu);
}

size_t searcher_apply_batch(searcher_t *s, const searcher_change_t *c, size_t n, uint64_t position)
{
    size_t took = 0;
    pthread_mutex_lock(&s->write_mu);
    index_t *ix = index_live_acquire(s->live);
    for (size_t i = 0; i < n; i++)
        took += apply_locked(s, &c[i], ix);
    if (ix != NULL)
        index_live_release(s->live, ix);
    if (position != 0)
        advance_locked(s, position);
    pthread_mutex_lock(&s->mu);
    s->stats.applied += took;
    s->stats.stale += n - took;
    pthread_mutex_unlock(&s->mu);
    pthread_mutex_unlock(&s->write_mu);
    return took;
}

bool searcher_get(searcher_t *s, int64_t id, index_point_t *out)
{
    index_t *ix = index_live_acquire(s->live);
    bool found = ix != NULL && index_get(ix, id, out);
    if (ix != NULL)
        index_live_release(s->live, ix);
    return found;
}

void searcher_set_position(searcher_t *s, uint64_t position)
{
    pthread_mutex_lock(&s->write_mu);
    advance_locked(s, position);
    pthread_mutex_unlock(&s->write_mu);
}

void searcher_upsert(searcher_t *s, const index_point_t *p)
{
    change_t c = {.remove = false, .p = *p};
    searcher_apply_batch(s, &c, 1, 0);
}

void searcher_remove(searcher_t *s, int64_t id, int64_t version)
{
    change_t c = {.remove = true, .p = {.id = id, .version = version}};
    searcher_apply_batch(s, &c, 1, 0);
}

void searcher_resync(searcher_t *s, uint64_t from)
{
    pthread_mutex_lock(&s->write_mu);
    /* Log from now on, so whatever the stream applies before the build
     * begins reaches the new index too. */
    if (!s->rebuilding) {
        s->rebuilding = true;
        s->nlog = 0;
    }
    pthread_mutex_lock(&s->mu);
    if (!s->resync_pending) {
        s->resync_pending = true;
        s->frozen_pos = s->reported;
    }
    if (from > s->resync_from)
        s->resync_from = from;
    s->want_rebuild = true;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->mu);
    pthread_mutex_unlock(&s->write_mu);
}

uint64_t searcher_position(searcher_t *s)
{
    pthread_mutex_lock(&s->mu);
    uint64_t pos = s->resync_pending ? s->frozen_pos : s->reported;
    pthread_mutex_unlock(&s->mu);
    return pos;
}

bool searcher_wait_position(searcher_t *s, uint64_t position, int timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->mu);
    s->nwaiters++;
    if (position > s->wanted)
        s->wanted = position;
    while ((s->resync_pending ? s->frozen_pos : s->reported) < position && !s->stop)
        if (pthread_cond_timedwait(&s->pos_changed, &s->mu, &until) == ETIMEDOUT)
            break;
    bool reached = (s->resync_pending ? s->frozen_pos : s->reported) >= position;
    if (--s->nwaiters == 0)
        s->wanted = 0;
    pthread_mutex_unlock(&s->mu);
    return reached;
}

uint64_t searcher_wanted_position(searcher_t *s)
{
    pthread_mutex_lock(&s->mu);
    uint64_t pos = s->resync_pending ? s->frozen_pos : s->reported;
    uint64_t wanted = s->wanted > pos ? s->wanted : 0;
    pthread_mutex_unlock(&s->mu);
    return wanted;
}

/* One snapshot → new index → replay of changes seen meanwhile → swap. */
static void build_once(searcher_t *s)
{
    char err[512], esc[600], token[REPLSTREAM_LSN_LEN];
    loader_stats_t ls;

    /* Start logging (a resync may have started it already), then fix the
     * position the snapshot must include: everything applied so far. */
    pthread_mutex_lock(&s->write_mu);
    if (!s->rebuilding) {
        s->rebuilding = true;
        s->nlog = 0;
    }
    pthread_mutex_lock(&s->mu);
    uint64_t target = s->resync_from;
    pthread_mutex_unlock(&s->mu);
    uint64_t min = target > s->stream_pos ? target : s->stream_pos;
    pthread_mutex_unlock(&s->write_mu);

    const char *min_token = min ? replstream_lsn_format(min, token, sizeof token) : NULL;
    index_t *ix = loader_load(s->store, s->kind, min_token, s->snapshot_wait_ms, &ls, err, sizeof err);

    pthread_mutex_lock(&s->write_mu);
    if (ix == NULL) {
        /* Keep logging while a resync waits: the retry needs the changes. */
        pthread_mutex_lock(&s->mu);
        if (!s->resync_pending) {
            s->rebuilding = false;
            s->nlog = 0;
        }
        s->stats.build_failures++;
        pthread_mutex_unlock(&s->mu);
        pthread_mutex_unlock(&s->write_mu);
        LOG_WARN("index build failed", "\"error\":\"%s\"", log_esc(esc, sizeof esc, err));
        return;
    }
    s->rebuilding = false;
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
    s->stats.last_tombstones = ls.tombstones;
    s->stats.last_copy_s = ls.copy_s;
    s->stats.last_build_s = ls.build_s;
    if (s->resync_pending && target >= s->resync_from) {
        s->resync_pending = false;
        if (s->stream_pos > s->reported)
            s->reported = s->stream_pos;
        pthread_cond_broadcast(&s->pos_changed);
    } else if (s->resync_pending) {
        /* A newer resync came in meanwhile: this build is not enough. */
        s->rebuilding = true;
        s->want_rebuild = true;
    }
    uint64_t build = s->build;
    pthread_mutex_unlock(&s->mu);
    pthread_mutex_unlock(&s->write_mu);
    LOG_INFO("index ready", "\"index\":\"%s\",\"build\":%llu,\"rows\":%zu,\"tombstones\":%zu,"
             "\"copy_s\":%.3f,\"build_s\":%.3f,\"replayed_changes\":%zu,\"position\":\"%s\"",
             index_kind_name(s->kind), (unsigned long long)build, ls.rows, ls.tombstones, ls.copy_s,
             ls.build_s, replayed, min_token ? min_token : "");
}

static void *builder(void *arg)
{
    searcher_t *s = arg;
    double retry_s = 0.5;

    if (s->follow_log) {
        /* The first build waits for the stream's start position. */
        pthread_mutex_lock(&s->mu);
        while (!s->stop && !s->want_rebuild)
            pthread_cond_wait(&s->wake, &s->mu);
        bool stop = s->stop;
        s->want_rebuild = false;
        pthread_mutex_unlock(&s->mu);
        if (stop)
            return NULL;
    }
    for (;;) {
        build_once(s);
        pthread_mutex_lock(&s->mu);
        /* Until the first index exists (or a resync is done), retry with
         * backoff (the database may come up after us); then wait for a
         * request or the schedule. */
        bool retry = !s->ready || s->resync_pending;
        double wait = retry ? retry_s : s->interval_s > 0 ? s->interval_s : 0;
        retry_s = !retry ? 0.5 : retry_s * 2 > 30 ? 30 : retry_s * 2;
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

searcher_t *searcher_new(store_t *store, index_kind_t kind, int rebuild_interval_s, bool follow_log,
                         int snapshot_wait_ms)
{
    searcher_t *s = xcalloc(1, sizeof *s);
    s->store = store;
    s->kind = kind;
    s->interval_s = rebuild_interval_s;
    s->follow_log = follow_log;
    s->snapshot_wait_ms = snapshot_wait_ms;
    pthread_cond_init(&s->pos_changed, NULL);
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
    pthread_cond_broadcast(&s->pos_changed);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    index_live_free(s->live);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->write_mu);
    pthread_cond_destroy(&s->wake);
    pthread_cond_destroy(&s->pos_changed);
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
