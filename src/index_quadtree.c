/* index_quadtree.c — the quadtree index: an explicit PR-quadtree over the
 * geohash-sorted records. Node regions are geohash cells of even depth, so
 * a node's points are one contiguous range and a split is a key boundary. */
#include "index_impl.h"

#include <stdlib.h>

#include "xalloc.h"

typedef struct {
    index_base_t *b;
    const uint64_t *keys; /* NULL: compute each key from its record */
    size_t cap;
    unsigned leaf;
} qt_builder_t;

/* First position in [lo, hi) whose key is >= key. */
static uint32_t qt_lower_bound(const qt_builder_t *q, uint32_t lo, uint32_t hi, uint64_t key)
{
    if (q->keys == NULL)
        return (uint32_t)index_lower_bound(q->b->locs, lo, hi, key);
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (q->keys[mid] < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static uint32_t alloc_children(qt_builder_t *q)
{
    if (q->b->nnodes + 4 > q->cap) {
        q->cap = q->cap * 2 + 16;
        q->b->nodes = xrealloc(q->b->nodes, q->cap * sizeof *q->b->nodes);
        q->b->masks = xrealloc(q->b->masks, q->cap * sizeof *q->b->masks);
    }
    uint32_t first = (uint32_t)q->b->nnodes;
    q->b->nnodes += 4;
    return first;
}

/* Fills node ni (its begin/end already set) and its subtree. */
static void build_node(qt_builder_t *q, uint32_t ni, uint64_t bits, unsigned nbits)
{
    index_qnode_t *nd = &q->b->nodes[ni];
    index_qmask_t *m = &q->b->masks[ni];
    uint32_t begin = nd->begin, end = nd->end;

    nd->live = end - begin;
    m->cat_or = 0;
    m->cat_and = ~(category_set_t)0;
    if (end - begin <= q->leaf || nbits >= 64) {
        nd->child = 0;
        for (uint32_t i = begin; i < end; i++) {
            m->cat_or |= q->b->recs[i].cats;
            m->cat_and &= q->b->recs[i].cats;
        }
        return;
    }
    uint32_t child = alloc_children(q), from = begin;
    q->b->nodes[ni].child = child;
    for (unsigned i = 0; i < 4; i++) {
        index_qnode_t *c = &q->b->nodes[child + i];
        c->begin = from;
        if (i == 3) {
            c->end = end;
        } else {
            geohash_cell_t next = {bits << 2 | (i + 1), nbits + 2};
            c->end = qt_lower_bound(q, from, end, geohash_cell_lo(next));
        }
        from = c->end;
    }
    for (unsigned i = 0; i < 4; i++)
        build_node(q, child + i, bits << 2 | i, nbits + 2);
    /* Re-read: the recursion may have moved the node array. */
    m = &q->b->masks[ni];
    for (unsigned i = 0; i < 4; i++) {
        m->cat_or |= q->b->masks[child + i].cat_or;
        m->cat_and &= q->b->masks[child + i].cat_and;
    }
}

void index_qt_build(index_base_t *b, unsigned leaf_capacity, const uint64_t *keys)
{
    qt_builder_t q = {b, keys, b->n / leaf_capacity + 16, leaf_capacity};
    free(b->nodes);
    free(b->masks);
    b->nodes = xmalloc(q.cap * sizeof *b->nodes);
    b->masks = xmalloc(q.cap * sizeof *b->masks);
    b->nnodes = 1;
    b->nodes[0].begin = 0;
    b->nodes[0].end = (uint32_t)b->n;
    build_node(&q, 0, 0, 0);
    /* Give back the slack of the last doubling. */
    b->nodes = xrealloc(b->nodes, b->nnodes * sizeof *b->nodes);
    b->masks = xrealloc(b->masks, b->nnodes * sizeof *b->masks);
}

/* Depth (even) of the smallest quadtree cell that holds the whole circle
 * of a bounded search, judging by its bounding box; 0 = the root. */
static unsigned seed_depth(const index_search_t *s, uint64_t *key)
{
    const geo_bounds_t b = s->box;
    if (!s->bounded || b.nlng != 1)
        return 0;
    /* Points sit on the 1e-7° grid: rounding a corner to the grid cannot
     * pass a grid point inside the box, and keys are monotone per axis. */
    int32_t lat_lo = geo_coord_encode(b.lat_lo < -90.0 ? -90.0 : b.lat_lo);
    int32_t lat_hi = geo_coord_encode(b.lat_hi > 90.0 ? 90.0 : b.lat_hi);
    int32_t lng_lo = geo_coord_encode(b.lng_lo[0] < -180.0 ? -180.0 : b.lng_lo[0]);
    int32_t lng_hi = geo_coord_encode(b.lng_hi[0] > 180.0 ? 180.0 : b.lng_hi[0]);
    uint64_t lo = geohash_key(lat_lo, lng_lo), hi = geohash_key(lat_hi, lng_hi);
    *key = lo;
    return lo == hi ? 64 : (unsigned)__builtin_clzll(lo ^ hi) & ~1u;
}

void index_qt_seed(index_search_t *s)
{
    uint64_t key = 0;
    unsigned depth = seed_depth(s, &key), nbits = 0;
    uint32_t ni = 0;
    /* A small circle skips the walk down through cells that all hold it:
     * everything outside the seed cell is outside the circle. */
    while (s->nodes[ni].child && nbits + 2 <= depth) {
        ni = s->nodes[ni].child + (uint32_t)(key >> (62 - nbits) & 3);
        nbits += 2;
    }
    const index_qnode_t *nd = &s->nodes[ni];
    if (nd->live == 0)
        return;
    index_cell_t c = {.bits = nbits ? key >> (64 - nbits) : 0, .nbits = nbits, .begin = nd->begin,
                      .end = nd->end, .node = ni};
    index_engine_push(s, &c);
}

void index_qt_split(index_search_t *s, const index_cell_t *c)
{
    uint32_t child = s->nodes[c->node].child;
    index_cell_t k[4];
    for (unsigned i = 0; i < 4; i++) {
        const index_qnode_t *nd = &s->nodes[child + i];
        k[i] = (index_cell_t){.bits = c->bits << 2 | i, .nbits = c->nbits + 2, .begin = nd->begin,
                              .end = nd->end, .node = child + i};
        if (nd->live == 0 || (s->filter && !(s->masks[child + i].cat_or & s->filter)))
            k[i].end = k[i].begin; /* nothing to find there */
    }
    unsigned pushed = index_engine_push_quarters(s, c, k);
    /* Best-first pops a pushed cell soon: start loading what it will read
     * (its children's line, or its first locations) now. */
    for (unsigned i = 0; i < 4; i++) {
        if (!(pushed >> i & 1))
            continue;
        const index_qnode_t *nd = &s->nodes[child + i];
        if (nd->child)
            __builtin_prefetch(&s->nodes[nd->child]);
        else
            __builtin_prefetch(&s->locs[nd->begin]);
    }
}

uint64_t index_qt_count(const index_search_t *s, uint32_t node)
{
    const index_qnode_t *nd = &s->nodes[node];
    const index_qmask_t *m = &s->masks[node];
    if (!s->filter || (m->cat_and & s->filter))
        return nd->live; /* every live point matches */
    if (!(m->cat_or & s->filter) || nd->live == 0)
        return 0;
    if (nd->child == 0)
        return index_engine_count_range(s, nd->begin, nd->end);
    uint64_t n = 0;
    for (unsigned i = 0; i < 4; i++)
        n += index_qt_count(s, nd->child + i);
    return n;
}

void index_qt_mark_deleted(index_base_t *b, size_t pos)
{
    uint32_t ni = 0;
    for (;;) {
        index_qnode_t *nd = &b->nodes[ni];
        nd->live--;
        if (nd->child == 0)
            return;
        uint32_t c = nd->child;
        while (b->nodes[c].end <= pos)
            c++;
        ni = c;
    }
}
