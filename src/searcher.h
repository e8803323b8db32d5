/* searcher.h — the live search index of a proximityd: built in the
 * background from a read node, rebuilt on demand or on a schedule beside
 * the live one and swapped in, and kept current by applying changes by
 * version (DESIGN §2). */
#ifndef PROXIMITY_SEARCHER_H
#define PROXIMITY_SEARCHER_H

#include <stdbool.h>
#include <stdint.h>

#include "index.h"
#include "store.h"

typedef struct searcher searcher_t;

/* What a search sees of the index it pinned. */
typedef struct searcher_view {
    index_t *index;        /* NULL until the first build finished */
    uint64_t build;        /* 1 for the first snapshot, +1 per rebuild */
    double built_at;       /* wall-clock seconds of that snapshot */
} searcher_view_t;

typedef struct searcher_stats {
    uint64_t builds, build_failures;
    size_t last_rows, last_tombstones;
    double last_copy_s, last_build_s;
    uint64_t applied, stale; /* changes applied / ignored as not newer */
} searcher_stats_t;

/* One change from the log: an upsert of p, or a removal of p.id as of
 * p.version. */
typedef struct searcher_change {
    bool remove;
    index_point_t p;
} searcher_change_t;

/* Starts the builder thread: the first build begins at once, or, with
 * follow_log, at the first searcher_resync; later ones on
 * searcher_rebuild() and every rebuild_interval_s seconds (0 = never).
 * A lagging replica gets snapshot_wait_ms to reach a build's position
 * before the primary serves the snapshot.
 *
 * Following a log (DESIGN §2 step 3): the consumer opens its stream at P,
 * calls searcher_resync(P), then applies the stream with
 * searcher_apply_batch from P. Every build logs the changes applied while
 * it runs and replays them before the swap, and it snapshots from a node
 * that has replayed at least max(P, the position applied when it
 * started), so nothing applied before it can be missing from it. */
searcher_t *searcher_new(store_t *store, index_kind_t kind, int rebuild_interval_s, bool follow_log,
                         int snapshot_wait_ms);

/* Stops the builder thread and frees everything. No view may be held. */
void searcher_free(searcher_t *s);

/* Pins the current index into *view; pair with searcher_release. */
void searcher_acquire(searcher_t *s, searcher_view_t *view);
void searcher_release(searcher_t *s, searcher_view_t *view);

/* True once an index has been built. */
bool searcher_ready(searcher_t *s);

/* Asks the builder for a new snapshot (returns at once). */
void searcher_rebuild(searcher_t *s);

/* Applies a change by version to the live index and to any index being
 * built, so a rebuild never loses it. */
void searcher_upsert(searcher_t *s, const index_point_t *p);
void searcher_remove(searcher_t *s, int64_t id, int64_t version);

/* Applies one transaction's changes atomically with respect to builds
 * and records position as applied (0 = leave it). Returns how many
 * changes the live index took (the rest were stale). */
size_t searcher_apply_batch(searcher_t *s, const searcher_change_t *c, size_t n, uint64_t position);

/* Looks id up in the live index: true and *out filled if it is live. */
bool searcher_get(searcher_t *s, int64_t id, index_point_t *out);

/* Records position as applied when nothing was to apply (a keepalive). */
void searcher_set_position(searcher_t *s, uint64_t position);

/* The index must be rebuilt from a snapshot at or after from (a new
 * stream, a truncate): the reported position stays where the live index
 * is complete until that build is swapped in. Returns at once. */
void searcher_resync(searcher_t *s, uint64_t from);

/* The log position up to which the live index is complete (0 = none). */
uint64_t searcher_position(searcher_t *s);

/* Waits until searcher_position reaches position or timeout_ms passes.
 * Returns true if it did. */
bool searcher_wait_position(searcher_t *s, uint64_t position, int timeout_ms);

/* The highest position a waiter is waiting for beyond the current one
 * (0 = none): the consumer asks the server for news when it is set. */
uint64_t searcher_wanted_position(searcher_t *s);

void searcher_stats(searcher_t *s, searcher_stats_t *st);

#endif
