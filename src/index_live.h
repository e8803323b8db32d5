/* index_live.h — the live index: a holder that lets searches pin the
 * current index while a reload swaps in a new one built beside it. */
#ifndef PROXIMITY_INDEX_LIVE_H
#define PROXIMITY_INDEX_LIVE_H

#include "index.h"

typedef struct index_live index_live_t;

/* A holder owning ix (may be NULL until the first swap). */
index_live_t *index_live_new(index_t *ix);

/* Frees the holder and drops its reference to the current index; every
 * acquired index must have been released first. */
void index_live_free(index_live_t *live);

/* Pins and returns the current index (NULL if none yet); it stays valid,
 * whatever swaps happen, until index_live_release. Waits only for the
 * pointer copy of a concurrent swap. */
index_t *index_live_acquire(index_live_t *live);

/* Unpins an index returned by index_live_acquire; the last user of a
 * replaced index frees it. */
void index_live_release(index_live_t *live, index_t *ix);

/* Makes ix (owned by the holder from now on) the current index. The old
 * one is freed as soon as no search holds it, possibly right here. */
void index_live_swap(index_live_t *live, index_t *ix);

#endif
