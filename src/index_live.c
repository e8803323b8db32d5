/* index_live.c — reference-counted current-index holder. */
#include "index_live.h"

#include <pthread.h>
#include <stdlib.h>

#include "index_impl.h"
#include "xalloc.h"

struct index_live {
    /* Guards only the pointer load + reference increment, so a swap can
     * never free an index between a reader loading and pinning it. */
    pthread_mutex_t mu;
    index_t *cur;
};

static void unref(index_t *ix)
{
    /* acq_rel: the final decrement must see every searcher's reads done. */
    if (ix && atomic_fetch_sub_explicit(&ix->refs, 1, memory_order_acq_rel) == 1)
        index_free(ix);
}

index_live_t *index_live_new(index_t *ix)
{
    index_live_t *live = xcalloc(1, sizeof *live);
    pthread_mutex_init(&live->mu, NULL);
    live->cur = ix; /* index_new starts every index with one reference */
    return live;
}

void index_live_free(index_live_t *live)
{
    if (live == NULL)
        return;
    unref(live->cur);
    pthread_mutex_destroy(&live->mu);
    free(live);
}

index_t *index_live_acquire(index_live_t *live)
{
    pthread_mutex_lock(&live->mu);
    index_t *ix = live->cur;
    if (ix)
        atomic_fetch_add_explicit(&ix->refs, 1, memory_order_relaxed);
    pthread_mutex_unlock(&live->mu);
    return ix;
}

void index_live_release(index_live_t *live, index_t *ix)
{
    (void)live;
    unref(ix);
}

void index_live_swap(index_live_t *live, index_t *ix)
{
    pthread_mutex_lock(&live->mu);
    index_t *old = live->cur;
    live->cur = ix;
    pthread_mutex_unlock(&live->mu);
    unref(old);
}
