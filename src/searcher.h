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
    size_t last_rows;
    double last_copy_s, last_build_s;
} searcher_stats_t;

/* Starts the builder thread: the first build begins at once; later ones
 * on searcher_rebuild() and every rebuild_interval_s seconds (0 = never). */
searcher_t *searcher_new(store_t *store, index_kind_t kind, int rebuild_interval_s);

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

void searcher_stats(searcher_t *s, searcher_stats_t *st);

#endif
