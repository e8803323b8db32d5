/* index.c — the spatial index: storage, bulk load, versioned writes, and the
 * best-first search engine both index kinds share. */
#include "index_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "xalloc.h"

/* ---------------------------------------------------------------- memory */

/* Big arrays (records, sort buffers, the id map) go in transparent huge
 * pages where the kernel allows it: a 10M-point base spans 80k 4 KB pages,
 * so the build's scatters and the searches' jumps would otherwise miss the
 * TLB on nearly every access. Freed with free(). */
static void *alloc_big(size_t n)
{
    const size_t huge = (size_t)2 << 20;
    void *p;
    if (n < 2 * huge || posix_memalign(&p, huge, (n + huge - 1) & ~(huge - 1)) != 0)
        return xmalloc(n);
    madvise(p, (n + huge - 1) & ~(huge - 1), MADV_HUGEPAGE);
    return p;
}

typedef struct {
    uint64_t key;
    uint64_t idx;
} keyidx_t;

static int keyidx_cmp(const void *a, const void *b)
{
    const keyidx_t *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Sorts a[0..n) by key, stably: LSD radix with 11-bit digits, whose 2048
 * buckets keep the scatter inside the cache and TLB where 16-bit digits
 * do not. All six histograms come from one read; a pass where every key
 * has the same digit is skipped (common: data covers a few areas). */
static void radix_sort(keyidx_t *a, size_t n)
{
    enum { BITS = 11, NB = 1 << BITS, PASSES = 6 };
    if (n < 4096) {
        qsort(a, n, sizeof *a, keyidx_cmp);
        return;
    }
    size_t(*cnt)[NB] = xcalloc(PASSES, sizeof *cnt);
    for (size_t i = 0; i < n; i++) {
        uint64_t k = a[i].key;
        for (unsigned p = 0; p < PASSES; p++)
            cnt[p][(k >> (p * BITS)) & (NB - 1)]++;
    }
    keyidx_t *tmp = alloc_big(n * sizeof *tmp), *src = a, *dst = tmp;
    for (unsigned p = 0; p < PASSES; p++) {
        unsigned shift = p * BITS;
        size_t *c = cnt[p];
        if (c[(src[0].key >> shift) & (NB - 1)] == n)
            continue;
        size_t sum = 0;
        for (size_t d = 0; d < NB; d++) {
            size_t t = c[d];
            c[d] = sum;
            sum += t;
        }
        for (size_t i = 0; i < n; i++)
            dst[c[(src[i].key >> shift) & (NB - 1)]++] = src[i];
        keyidx_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != a)
        memcpy(a, src, n * sizeof *a);
    free(cnt);
    free(tmp);
}

/* ---------------------------------------------------------------- ids */

/* The id map has two parts, touched only by writers (under wlock). The
 * sorted part is what index_build makes: ids ascending and their values in
 * two dense arrays, 16 bytes a point, filled from a radix sort instead of
 * millions of random hash inserts; a lookup binary-searches it (~24 probes,
 * fine for writes). Ids first seen later go to a small open-addressing
 * hash, merged into the sorted part once it holds an eighth as many. */

#define MAP_EMPTY INT64_MIN
#define MAP_TOMB (UINT64_C(1) << 63)
#define ID_SIGN (UINT64_C(1) << 63)

/* A live id maps to its packed location, which is enough to find its
 * record again by key even after a merge moved it; lat is offset to be
 * non-negative so bit 63 is free to mark a tombstone. */
static uint64_t loc_pack(int32_t lat, int32_t lng)
{
    return (uint64_t)(uint32_t)(lat + 900000000) << 32 | (uint32_t)lng;
}

static void loc_unpack(uint64_t v, int32_t *lat, int32_t *lng)
{
    *lat = (int32_t)(uint32_t)(v >> 32) - 900000000;
    *lng = (int32_t)(uint32_t)v;
}

static size_t map_home(const index_idmap_t *m, int64_t id)
{
    uint64_t h = (uint64_t)id * 0x9E3779B97F4A7C15ull;
    h ^= h >> 31;
    /* Multiply-shift range reduction lets the table size be any number,
     * so the load factor stays near 0.75 instead of doubling memory. */
    return (size_t)(((unsigned __int128)h * m->cap) >> 64);
}

/* Hash bucket of id, or of the empty bucket where it would go. */
static size_t map_probe(const index_idmap_t *m, int64_t id)
{
    size_t i = map_home(m, id);
    while (m->ids[i] != MAP_EMPTY && m->ids[i] != id)
        i = i + 1 == m->cap ? 0 : i + 1;
    return i;
}

/* Replaces the hash with an empty one of cap buckets. */
static void hash_alloc(index_idmap_t *m, size_t cap)
{
    free(m->ids);
    free(m->vals);
    m->cap = cap < 16 ? 16 : cap;
    m->ids = xmalloc(m->cap * sizeof *m->ids);
    m->vals = xmalloc(m->cap * sizeof *m->vals);
    for (size_t i = 0; i < m->cap; i++)
        m->ids[i] = MAP_EMPTY;
    m->used = 0;
}

static void map_free(index_idmap_t *m)
{
    free(m->ids);
    free(m->vals);
    free(m->sids);
    free(m->svals);
    memset(m, 0, sizeof *m);
}

static bool tomb_upto(uint64_t v, int64_t upto)
{
    return (v & MAP_TOMB) && (int64_t)(v & ~MAP_TOMB) <= upto;
}

/* Rehashes into a table of cap buckets, dropping tombstones <= drop_upto. */
static void hash_rehash(index_idmap_t *m, size_t cap, int64_t drop_upto)
{
    int64_t *ids = m->ids;
    uint64_t *vals = m->vals;
    size_t n = m->cap;
    m->ids = NULL;
    m->vals = NULL;
    hash_alloc(m, cap);
    for (size_t i = 0; i < n; i++) {
        if (ids[i] == MAP_EMPTY)
            continue;
        if (tomb_upto(vals[i], drop_upto)) {
            m->tombstones--;
            continue;
        }
        size_t j = map_probe(m, ids[i]);
        m->ids[j] = ids[i];
        m->vals[j] = vals[i];
        m->used++;
    }
    free(ids);
    free(vals);
}

/* Moves every hash entry into the sorted part. */
static void map_merge(index_idmap_t *m)
{
    keyidx_t *e = xmalloc((m->used ? m->used : 1) * sizeof *e);
    size_t ne = 0;
    for (size_t i = 0; i < m->cap; i++)
        if (m->ids[i] != MAP_EMPTY)
            e[ne++] = (keyidx_t){(uint64_t)m->ids[i] ^ ID_SIGN, m->vals[i]};
    radix_sort(e, ne);
    size_t n = m->ns + ne, i = 0, j = 0, k = 0;
    int64_t *sids = alloc_big(n * sizeof *sids);
    uint64_t *svals = alloc_big(n * sizeof *svals);
    while (i < m->ns || j < ne) {
        if (j == ne || (i < m->ns && m->sids[i] < (int64_t)(e[j].key ^ ID_SIGN))) {
            sids[k] = m->sids[i];
            svals[k++] = m->svals[i++];
        } else {
            sids[k] = (int64_t)(e[j].key ^ ID_SIGN);
            svals[k++] = e[j++].idx;
        }
    }
    free(m->sids);
    free(m->svals);
    m->sids = sids;
    m->svals = svals;
    m->ns = m->scap = n;
    hash_alloc(m, 16);
    free(e);
}

/* The value held for id, or NULL if the map has none. */
static uint64_t *map_find(index_idmap_t *m, int64_t id)
{
    if (id == MAP_EMPTY)
        return NULL;
    size_t lo = 0, hi = m->ns;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->sids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < m->ns && m->sids[lo] == id)
        return &m->svals[lo];
    size_t i = map_probe(m, id);
    return m->ids[i] == id ? &m->vals[i] : NULL;
}

/* Adds id, which the map does not hold; returns its (unset) value. */
static uint64_t *map_insert(index_idmap_t *m, int64_t id)
{
    if (m->used >= 1024 && m->used >= m->ns / 8)
        map_merge(m);
    if ((m->used + 1) * 4 > m->cap * 3)
        hash_rehash(m, m->cap * 2, INT64_MIN);
    size_t i = map_probe(m, id);
    m->ids[i] = id;
    m->used++;
    return &m->vals[i];
}

/* ---------------------------------------------------------------- kinds */

int index_kind_parse(const char *s, index_kind_t *kind)
{
    if (strcmp(s, "geohash") == 0)
        *kind = INDEX_GEOHASH;
    else if (strcmp(s, "quadtree") == 0)
        *kind = INDEX_QUADTREE;
    else
        return -1;
    return 0;
}

const char *index_kind_name(index_kind_t kind)
{
    return kind == INDEX_QUADTREE ? "quadtree" : "geohash";
}

index_kind_t index_kind(const index_t *ix)
{
    return ix->kind;
}

/* ---------------------------------------------------------------- base */

static index_base_t *base_new(size_t n, index_kind_t kind, unsigned leaf)
{
    index_base_t *b = xcalloc(1, sizeof *b);
    b->n = n;
    b->recs = alloc_big((n ? n : 1) * sizeof *b->recs);
    (void)kind;
    (void)leaf;
    return b;
}

static void base_free(index_base_t *b)
{
    if (b == NULL)
        return;
    free(b->big_pos);
    free(b->big_ver);
    free(b->recs);
    free(b->deleted);
    free(b->nodes);
    free(b->sample);
    free(b);
}

/* Version of the record at pos among pos_of[0..n), which must hold it. */
static int64_t big_version(const uint32_t *pos_of, const int64_t *ver, size_t n, size_t pos)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (pos_of[mid] < pos)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == n || pos_of[lo] != pos)
        abort(); /* a big version without its entry: a bug, not data */
    return ver[lo];
}

/* Version of live base record pos. */
static int64_t base_version(const index_base_t *b, size_t pos)
{
    uint32_t v = b->recs[pos].ver;
    return v == INDEX_VER_BIG ? big_version(b->big_pos, b->big_ver, b->nbig, pos) : b->vbase + v;
}

/* Stores version v (>= b->vbase) of record pos; records are filled in
 * position order, so the big table stays sorted. */
static void base_set_version(index_base_t *b, size_t pos, int64_t v)
{
    uint64_t off = (uint64_t)v - (uint64_t)b->vbase;
    if (off < INDEX_VER_BIG) {
        b->recs[pos].ver = (uint32_t)off;
        return;
    }
    b->recs[pos].ver = INDEX_VER_BIG;
    if (b->nbig == b->big_cap) {
        b->big_cap = b->big_cap ? b->big_cap * 2 : 16;
        b->big_pos = xrealloc(b->big_pos, b->big_cap * sizeof *b->big_pos);
        b->big_ver = xrealloc(b->big_ver, b->big_cap * sizeof *b->big_ver);
    }
    b->big_pos[b->nbig] = (uint32_t)pos;
    b->big_ver[b->nbig++] = v;
}

size_t index_lower_bound(const index_rec_t *recs, size_t lo, size_t hi, uint64_t key)
{
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (index_rec_key(&recs[mid]) < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Samples every INDEX_SAMPLE-th key of b (geohash kind). */
static void base_sample(index_base_t *b)
{
    b->sample = xmalloc((b->n / INDEX_SAMPLE + 1) * sizeof *b->sample);
    for (size_t j = 0; j * INDEX_SAMPLE < b->n; j++)
        b->sample[j] = index_rec_key(&b->recs[j * INDEX_SAMPLE]);
}

size_t index_run_lower_bound(const index_search_t *s, size_t lo, size_t hi, uint64_t key)
{
    if (s->sample && hi - lo > 4 * INDEX_SAMPLE) {
        /* Samples j in [a, b) sit at positions inside (lo, hi). */
        size_t a = lo / INDEX_SAMPLE + 1, b = (hi - 1) / INDEX_SAMPLE + 1;
        while (a < b) {
            size_t m = a + (b - a) / 2;
            if (s->sample[m] < key)
                a = m + 1;
            else
                b = m;
        }
        size_t nlo = (a - 1) * INDEX_SAMPLE, nhi = a * INDEX_SAMPLE;
        lo = nlo > lo ? nlo : lo;
        hi = nhi < hi ? nhi : hi;
    }
    return index_lower_bound(s->recs, lo, hi, key);
}

/* Position of the live record of id at (lat, lng) in recs, or SIZE_MAX. */
static size_t find_rec(const index_rec_t *recs, size_t n, int32_t lat, int32_t lng, int64_t id)
{
    uint64_t key = geohash_key(lat, lng);
    for (size_t i = index_lower_bound(recs, 0, n, key); i < n && index_rec_key(&recs[i]) == key; i++)
        if (recs[i].id == id && recs[i].ver != INDEX_VER_DELETED)
            return i;
    return SIZE_MAX;
}

static size_t delta_limit_for(const index_t *ix, size_t n)
{
    if (ix->delta_option)
        return ix->delta_option;
    /* Big enough that merges (a full copy of the base) are rare, small
     * enough that one insertion's memmove stays a few microseconds. */
    size_t d = n / 128;
    return d < 1024 ? 1024 : d > 65536 ? 65536 : d;
}

index_t *index_new(index_kind_t kind, const index_options_t *opt)
{
    index_t *ix = xcalloc(1, sizeof *ix);
    pthread_rwlockattr_t attr;

    ix->kind = kind;
    /* 64 measured best at 10M (vs 16/32/128): fewer nodes and pushes,
     * while a boundary leaf is still only 2 KB of records to check. */
    ix->leaf_capacity = opt && opt->leaf_capacity ? opt->leaf_capacity : 64;
    ix->delta_option = opt ? opt->delta_capacity : 0;
    /* Writer preference: a stream of searches must not starve the writer,
     * whose critical sections are tiny anyway. */
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&ix->lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    pthread_mutex_init(&ix->wlock, NULL);
    ix->base = base_new(0, kind, ix->leaf_capacity);
    if (kind == INDEX_QUADTREE)
        index_qt_build(ix->base, ix->leaf_capacity, NULL);
    ix->delta_limit = delta_limit_for(ix, 0);
    hash_alloc(&ix->map, 16);
    atomic_init(&ix->refs, 1);
    return ix;
}

void index_free(index_t *ix)
{
    if (ix == NULL)
        return;
    base_free(ix->base);
    free(ix->delta);
    free(ix->delta_ver);
    map_free(&ix->map);
    pthread_rwlock_destroy(&ix->lock);
    pthread_mutex_destroy(&ix->wlock);
    free(ix);
}

/* ---------------------------------------------------------------- build */

static bool point_valid(const index_point_t *p)
{
    return p->id != INT64_MIN && p->version >= 0 && geo_valid(p->lat, p->lng);
}

/* Fills the sorted part of the empty map m from pts; for a repeated id
 * the highest version wins (the first of equals), the others are marked
 * in *drop (allocated here, NULL if there are none). keys is scratch. */
static void build_idmap(index_idmap_t *m, const index_point_t *pts, size_t n, bool sorted,
                        keyidx_t *keys, uint8_t **drop)
{
    size_t nids = n;
    *drop = NULL;
    if (!sorted) {
        for (size_t i = 0; i < n; i++)
            keys[i] = (keyidx_t){(uint64_t)pts[i].id ^ ID_SIGN, i};
        radix_sort(keys, n);
        nids = 0;
        for (size_t i = 0, j; i < n; i = j) {
            size_t best = keys[i].idx;
            for (j = i + 1; j < n && keys[j].key == keys[i].key; j++)
                if (pts[keys[j].idx].version > pts[best].version)
                    best = keys[j].idx;
            if (j - i > 1) {
                if (*drop == NULL)
                    *drop = xcalloc(n / 8 + 1, 1);
                for (size_t k = i; k < j; k++)
                    if (keys[k].idx != best)
                        (*drop)[keys[k].idx / 8] |= (uint8_t)(1u << (keys[k].idx % 8));
            }
            keys[nids++].idx = best; /* nids <= i: nothing unread is overwritten */
        }
    }
    free(m->sids);
    free(m->svals);
    m->sids = alloc_big((nids ? nids : 1) * sizeof *m->sids);
    m->svals = alloc_big((nids ? nids : 1) * sizeof *m->svals);
    m->ns = m->scap = nids;
    for (size_t i = 0; i < nids; i++) {
        size_t p = sorted ? i : keys[i].idx;
        if (!sorted && i + 16 < nids)
            __builtin_prefetch(&pts[keys[i + 16].idx]);
        m->sids[i] = pts[p].id;
        m->svals[i] = loc_pack(geo_coord_encode(pts[p].lat), geo_coord_encode(pts[p].lng));
    }
}

int index_build(index_t *ix, const index_point_t *pts, size_t n, char *err, size_t errlen)
{
    size_t live = 0;
    uint8_t *drop = NULL;
    bool sorted = true;

    pthread_mutex_lock(&ix->wlock);
    if (ix->base->n || ix->ndelta || ix->map.used || ix->map.ns) {
        snprintf(err, errlen, "index_build: index is not empty");
        goto fail;
    }
    if (n >= UINT32_MAX) {
        snprintf(err, errlen, "index_build: too many points (%zu)", n);
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        if (!point_valid(&pts[i])) {
            snprintf(err, errlen, "index_build: point %zu (id %lld) is invalid", i,
                     (long long)pts[i].id);
            goto fail;
        }
        sorted = sorted && (i == 0 || pts[i].id > pts[i - 1].id);
    }

    /* Ids ascending (a snapshot read in primary-key order) need no sort. */
    keyidx_t *keys = alloc_big((n ? n : 1) * sizeof *keys);
    build_idmap(&ix->map, pts, n, sorted, keys, &drop);
    ix->map.tombstones = 0;

    int64_t vmin = INT64_MAX;
    for (size_t i = 0; i < n; i++) {
        if (drop && (drop[i / 8] >> (i % 8) & 1))
            continue;
        keys[live].key = geohash_key(geo_coord_encode(pts[i].lat), geo_coord_encode(pts[i].lng));
        keys[live++].idx = i;
        vmin = pts[i].version < vmin ? pts[i].version : vmin;
    }
    radix_sort(keys, live);

    /* The gather jumps around pts: prefetch ahead so the misses overlap.
     * The sorted keys are kept, packed, for the quadtree build. */
    index_base_t *nb = base_new(live, ix->kind, ix->leaf_capacity);
    nb->vbase = live ? vmin : 0;
    uint64_t *sorted_keys = (uint64_t *)keys;
    for (size_t i = 0; i < live; i++) {
        if (i + 16 < live) {
            const char *ahead = (const char *)&pts[keys[i + 16].idx];
            __builtin_prefetch(ahead);
            __builtin_prefetch(ahead + sizeof *pts - 1);
        }
        uint64_t key = keys[i].key;
        const index_point_t *p = &pts[keys[i].idx];
        index_rec_t *r = &nb->recs[i];
        r->lat = geo_coord_encode(p->lat);
        r->lng = geo_coord_encode(p->lng);
        r->id = p->id;
        r->cats = p->categories;
        base_set_version(nb, i, p->version);
        sorted_keys[i] = key; /* slot i of 8 bytes lies in entry i/2 <= i, already read */
    }
    if (ix->kind == INDEX_QUADTREE)
        index_qt_build(nb, ix->leaf_capacity, sorted_keys);
    else
        base_sample(nb);

    pthread_rwlock_wrlock(&ix->lock);
    index_base_t *old = ix->base;
    ix->base = nb;
    ix->delta_limit = delta_limit_for(ix, live);
    ix->generation++;
    pthread_rwlock_unlock(&ix->lock);
    pthread_mutex_unlock(&ix->wlock);
    base_free(old);
    free(keys);
    free(drop);
    return 0;

fail:
    pthread_mutex_unlock(&ix->wlock);
    return -1;
}

/* ---------------------------------------------------------------- writes */

/* Builds base + delta into a new base beside the old one (searches go on
 * meanwhile), then swaps it in. Caller holds wlock. */
static void merge_delta(index_t *ix)
{
    index_base_t *b = ix->base;
    index_base_t *nb = base_new(b->n - b->ndeleted + ix->ndelta, ix->kind, ix->leaf_capacity);
    uint64_t *keys = alloc_big((nb->n ? nb->n : 1) * sizeof *keys);
    size_t i = 0, j = 0, k = 0;
    uint64_t ki = 0, kj = 0;
    int64_t vmin = b->n > b->ndeleted ? b->vbase : INT64_MAX;

    for (size_t d = 0; d < ix->ndelta; d++)
        vmin = ix->delta_ver[d] < vmin ? ix->delta_ver[d] : vmin;
    nb->vbase = vmin == INT64_MAX ? 0 : vmin;

    /* Each key is computed once and kept for the quadtree build. */
    while (i < b->n && b->recs[i].ver == INDEX_VER_DELETED)
        i++;
    if (i < b->n)
        ki = index_rec_key(&b->recs[i]);
    if (j < ix->ndelta)
        kj = index_rec_key(&ix->delta[j]);
    while (i < b->n || j < ix->ndelta) {
        if (j == ix->ndelta || (i < b->n && ki <= kj)) {
            keys[k] = ki;
            nb->recs[k] = b->recs[i];
            base_set_version(nb, k++, base_version(b, i++));
            while (i < b->n && b->recs[i].ver == INDEX_VER_DELETED)
                i++;
            if (i < b->n)
                ki = index_rec_key(&b->recs[i]);
        } else {
            keys[k] = kj;
            nb->recs[k] = ix->delta[j];
            base_set_version(nb, k++, ix->delta_ver[j++]);
            if (j < ix->ndelta)
                kj = index_rec_key(&ix->delta[j]);
        }
    }
    if (ix->kind == INDEX_QUADTREE)
        index_qt_build(nb, ix->leaf_capacity, keys);
    else
        base_sample(nb);
    free(keys);

    pthread_rwlock_wrlock(&ix->lock);
    ix->base = nb;
    ix->ndelta = 0;
    ix->delta_limit = delta_limit_for(ix, nb->n);
    pthread_rwlock_unlock(&ix->lock);
    base_free(b);
}

/* Marks base record pos superseded. Caller holds the write lock. */
static void base_delete(index_t *ix, size_t pos)
{
    index_base_t *b = ix->base;
    b->recs[pos].ver = INDEX_VER_DELETED;
    if (b->ndeleted == b->deleted_cap) {
        b->deleted_cap = b->deleted_cap ? b->deleted_cap * 2 : 64;
        b->deleted = xrealloc(b->deleted, b->deleted_cap * sizeof *b->deleted);
    }
    size_t lo = 0, hi = b->ndeleted;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (b->deleted[mid] < pos)
            lo = mid + 1;
        else
            hi = mid;
    }
    memmove(&b->deleted[lo + 1], &b->deleted[lo], (b->ndeleted - lo) * sizeof *b->deleted);
    b->deleted[lo] = (uint32_t)pos;
    b->ndeleted++;
    if (b->nodes)
        index_qt_mark_deleted(b, pos);
}

/* Removes the old record of an id (if any) and inserts nr (if non-NULL)
 * into the delta: the one small change done under the write lock. */
static void apply_change(index_t *ix, size_t bpos, size_t dpos, const index_rec_t *nr, int64_t nver)
{
    if (nr && ix->ndelta == ix->delta_alloc) {
        /* Grow before locking; searches never see delta_alloc. */
        size_t cap = ix->delta_alloc ? ix->delta_alloc * 2 : 64;
        index_rec_t *nd = xmalloc(cap * sizeof *nd);
        int64_t *nv = xmalloc(cap * sizeof *nv);
        pthread_rwlock_wrlock(&ix->lock);
        if (ix->ndelta) {
            memcpy(nd, ix->delta, ix->ndelta * sizeof *nd);
            memcpy(nv, ix->delta_ver, ix->ndelta * sizeof *nv);
        }
        free(ix->delta);
        free(ix->delta_ver);
        ix->delta = nd;
        ix->delta_ver = nv;
        ix->delta_alloc = cap;
        pthread_rwlock_unlock(&ix->lock);
    }
    pthread_rwlock_wrlock(&ix->lock);
    if (bpos != SIZE_MAX)
        base_delete(ix, bpos);
    if (dpos != SIZE_MAX) {
        memmove(&ix->delta[dpos], &ix->delta[dpos + 1], (ix->ndelta - dpos - 1) * sizeof *ix->delta);
        memmove(&ix->delta_ver[dpos], &ix->delta_ver[dpos + 1],
                (ix->ndelta - dpos - 1) * sizeof *ix->delta_ver);
        ix->ndelta--;
    }
    if (nr) {
        uint64_t key = index_rec_key(nr);
        size_t at = index_lower_bound(ix->delta, 0, ix->ndelta, key);
        memmove(&ix->delta[at + 1], &ix->delta[at], (ix->ndelta - at) * sizeof *ix->delta);
        memmove(&ix->delta_ver[at + 1], &ix->delta_ver[at], (ix->ndelta - at) * sizeof *ix->delta_ver);
        ix->delta[at] = *nr;
        ix->delta_ver[at] = nver;
        ix->ndelta++;
    }
    ix->generation++;
    pthread_rwlock_unlock(&ix->lock);
}

/* Looks up the live record of a map value: its version and where it is. */
static int64_t locate(const index_t *ix, int64_t id, uint64_t val, size_t *bpos, size_t *dpos)
{
    int32_t lat, lng;
    loc_unpack(val, &lat, &lng);
    *bpos = find_rec(ix->base->recs, ix->base->n, lat, lng, id);
    if (*bpos != SIZE_MAX) {
        *dpos = SIZE_MAX;
        return base_version(ix->base, *bpos);
    }
    *dpos = find_rec(ix->delta, ix->ndelta, lat, lng, id);
    if (*dpos == SIZE_MAX)
        abort(); /* the id map and the records disagree: a bug, not data */
    return ix->delta_ver[*dpos];
}

static void maybe_merge(index_t *ix)
{
    if (ix->ndelta + ix->base->ndeleted > ix->delta_limit)
        merge_delta(ix);
}

bool index_upsert(index_t *ix, const index_point_t *p)
{
    if (!point_valid(p))
        return false;
    index_rec_t nr = {geo_coord_encode(p->lat), geo_coord_encode(p->lng), p->id, p->categories, 0};
    size_t bpos = SIZE_MAX, dpos = SIZE_MAX;

    pthread_mutex_lock(&ix->wlock);
    uint64_t *val = map_find(&ix->map, p->id);
    if (val) {
        uint64_t v = *val;
        int64_t held = (v & MAP_TOMB) ? (int64_t)(v & ~MAP_TOMB) : locate(ix, p->id, v, &bpos, &dpos);
        if (p->version <= held) {
            pthread_mutex_unlock(&ix->wlock);
            return false;
        }
        if (v & MAP_TOMB)
            ix->map.tombstones--;
    } else {
        val = map_insert(&ix->map, p->id);
    }
    apply_change(ix, bpos, dpos, &nr, p->version);
    *val = loc_pack(nr.lat, nr.lng);
    maybe_merge(ix);
    pthread_mutex_unlock(&ix->wlock);
    return true;
}

bool index_remove(index_t *ix, int64_t id, int64_t version)
{
    if (id == INT64_MIN || version < 0)
        return false;
    size_t bpos = SIZE_MAX, dpos = SIZE_MAX;

    pthread_mutex_lock(&ix->wlock);
    uint64_t *val = map_find(&ix->map, id);
    if (val) {
        uint64_t v = *val;
        int64_t held = (v & MAP_TOMB) ? (int64_t)(v & ~MAP_TOMB) : locate(ix, id, v, &bpos, &dpos);
        if (version <= held) {
            pthread_mutex_unlock(&ix->wlock);
            return false;
        }
        if (v & MAP_TOMB)
            ix->map.tombstones--;
    } else {
        val = map_insert(&ix->map, id);
    }
    if (bpos != SIZE_MAX || dpos != SIZE_MAX)
        apply_change(ix, bpos, dpos, NULL, 0);
    *val = MAP_TOMB | (uint64_t)version;
    ix->map.tombstones++;
    maybe_merge(ix);
    pthread_mutex_unlock(&ix->wlock);
    return true;
}

size_t index_forget_tombstones(index_t *ix, int64_t upto)
{
    pthread_mutex_lock(&ix->wlock);
    index_idmap_t *m = &ix->map;
    size_t before = m->tombstones, k = 0;
    for (size_t i = 0; i < m->ns; i++) {
        if (tomb_upto(m->svals[i], upto)) {
            m->tombstones--;
            continue;
        }
        m->sids[k] = m->sids[i];
        m->svals[k++] = m->svals[i];
    }
    m->ns = k;
    hash_rehash(m, m->used + m->used / 3 + 16 > m->cap ? m->used + m->used / 3 + 16 : m->cap, upto);
    size_t gone = before - m->tombstones;
    pthread_mutex_unlock(&ix->wlock);
    return gone;
}

bool index_get(index_t *ix, int64_t id, index_point_t *out)
{
    bool found = false;
    pthread_mutex_lock(&ix->wlock);
    const uint64_t *val = map_find(&ix->map, id);
    if (val && !(*val & MAP_TOMB)) {
        size_t bpos, dpos;
        int64_t version = locate(ix, id, *val, &bpos, &dpos);
        const index_rec_t *r = bpos != SIZE_MAX ? &ix->base->recs[bpos] : &ix->delta[dpos];
        out->id = r->id;
        out->lat = geo_coord_decode(r->lat);
        out->lng = geo_coord_decode(r->lng);
        out->categories = r->cats;
        out->version = version;
        found = true;
    }
    pthread_mutex_unlock(&ix->wlock);
    return found;
}

void index_stats(index_t *ix, index_stats_t *st)
{
    pthread_mutex_lock(&ix->wlock);
    const index_base_t *b = ix->base;
    st->count = b->n - b->ndeleted + ix->ndelta;
    st->tombstones = ix->map.tombstones;
    st->delta = ix->ndelta + b->ndeleted;
    st->bytes_index = sizeof *ix + sizeof *b + b->n * sizeof *b->recs +
                      b->deleted_cap * sizeof *b->deleted + b->nnodes * sizeof *b->nodes +
                      (b->sample ? (b->n / INDEX_SAMPLE + 1) * sizeof *b->sample : 0) +
                      b->big_cap * (sizeof *b->big_pos + sizeof *b->big_ver) +
                      ix->delta_alloc * (sizeof *ix->delta + sizeof *ix->delta_ver);
    st->bytes_idmap = (ix->map.cap + ix->map.scap) * (sizeof *ix->map.ids + sizeof *ix->map.vals);
    st->generation = ix->generation;
    pthread_mutex_unlock(&ix->wlock);
}

/* ---------------------------------------------------------------- engine */

static bool hit_less(double d1, int64_t i1, double d2, int64_t i2)
{
    return d1 < d2 || (d1 == d2 && i1 < i2);
}

static bool hit_lt(const index_hit_t *a, const index_hit_t *b)
{
    return hit_less(a->distance_m, a->id, b->distance_m, b->id);
}

/* Thresholds on h with slack: a point's h and a bound's h come from
 * different arithmetic and differ by ~1e-16 (angle rounding); 1e-14 keeps
 * every decision on the safe side yet is below a millimetre at 500 m. Near
 * the antipode h resolves only ~1 mm, so the slack must live in h, not in
 * metres. */
static double h_down(double meters)
{
    double h = geo_h_of_distance(meters);
    return h - 1e-14 - h * 1e-12;
}

/* At least h(meters) plus the slack above, without libm (it runs whenever
 * the k-th hit changes): sin y <= y - y³/6 + y⁵/120 for y >= 0. */
static double h_up_series(double meters)
{
    double y = meters * (0.5 / GEO_EARTH_RADIUS_M), y2 = y * y;
    double sy = y * (1.0 - y2 * (1.0 / 6.0 - y2 * (1.0 / 120.0)));
    double h = sy * sy > 1.0 ? 1.0 : sy * sy;
    return h + 1e-14 + h * 1e-12;
}

static void heap_down(index_hit_t *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && hit_lt(&h[m], &h[l]))
            m = l;
        if (r < n && hit_lt(&h[m], &h[r]))
            m = r;
        if (m == i)
            return;
        index_hit_t t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

/* Version of record i of the current run. */
static int64_t run_version(const index_search_t *s, uint32_t i)
{
    if (s->full_ver)
        return s->full_ver[i];
    uint32_t v = s->recs[i].ver;
    return v == INDEX_VER_BIG ? big_version(s->big_pos, s->big_ver, s->nbig, i) : s->vbase + v;
}

static void offer_hit(index_search_t *s, const index_rec_t *r, uint32_t pos, double d, double lat,
                      double lng)
{
    index_hit_t hit = {r->id, d, lat, lng, r->cats, run_version(s, pos)};
    if (s->nhits < s->limit) {
        size_t i = s->nhits++;
        s->hits[i] = hit;
        while (i > 0 && hit_lt(&s->hits[(i - 1) / 2], &s->hits[i])) {
            index_hit_t t = s->hits[i];
            s->hits[i] = s->hits[(i - 1) / 2];
            s->hits[(i - 1) / 2] = t;
            i = (i - 1) / 2;
        }
    } else if (hit_lt(&hit, &s->hits[0])) {
        s->hits[0] = hit;
        heap_down(s->hits, s->nhits, 0);
    } else {
        return;
    }
    if (s->nhits == s->limit) {
        s->kth_h_hi = h_up_series(s->hits[0].distance_m);
    }
}

static bool cell_before(const index_cell_t *a, const index_cell_t *b)
{
    return a->lb < b->lb;
}

static void pq_push(index_search_t *s, const index_cell_t *c)
{
    if (s->npq == s->pq_cap) {
        size_t cap = s->pq_cap * 2;
        index_cell_t *n = xmalloc(cap * sizeof *n);
        memcpy(n, s->pq, s->npq * sizeof *n);
        if (s->pq_cap > 256) /* the first 256 live on the caller's stack */
            free(s->pq);
        s->pq = n;
        s->pq_cap = cap;
    }
    size_t i = s->npq++;
    while (i > 0 && cell_before(c, &s->pq[(i - 1) / 2])) {
        s->pq[i] = s->pq[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    s->pq[i] = *c;
}

static index_cell_t pq_pop(index_search_t *s)
{
    index_cell_t top = s->pq[0], last = s->pq[--s->npq];
    size_t i = 0, n = s->npq;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = l;
        if (l >= n)
            break;
        if (r < n && cell_before(&s->pq[r], &s->pq[l]))
            m = r;
        if (!cell_before(&s->pq[m], &last))
            break;
        s->pq[i] = s->pq[m];
        i = m;
    }
    if (n)
        s->pq[i] = last;
    return top;
}

/* Polynomial bounds, no libm (the cell bounds run for every pushed cell).
 * Truncated alternating Taylor series bound their function from the side
 * of the last term kept: for all real x, 1 - x²/2 + x⁴/24 - x⁶/720 <= cos x
 * <= 1 - x²/2 + x⁴/24, and for y >= 0, y - y³/6 <= sin y <= y. */
static inline double cos_below(double x)
{
    double x2 = x * x;
    return 1.0 - x2 * (0.5 - x2 * (1.0 / 24.0 - x2 * (1.0 / 720.0)));
}

static inline double cos_above(double x)
{
    double x2 = x * x;
    return 1.0 - x2 * (0.5 - x2 * (1.0 / 24.0));
}

static inline double sin_below(double y)
{
    return y * (1.0 - y * y * (1.0 / 6.0));
}

/* |Δλ| in degrees from the origin to lng, taken the short way round. */
static inline double lng_dist(double lng, double olng)
{
    double d = fabs(lng - olng);
    return d > 180.0 ? 360.0 - d : d;
}

/* A lower bound of h over r: each term of h bounded on its own (|Δφ| >=
 * the latitude gap, |Δλ| >= the longitude gap, cos φ >= its value at the
 * edge nearer a pole), with the series above instead of sin and cos. The
 * same argument as geo_rect_min_h, a little looser, several times cheaper. */
static double cell_min_h(const geo_origin_t *o, const geo_rect_t *r)
{
    double dlat = 0.0, dlng = 0.0;
    if (o->lat < r->lat_lo)
        dlat = r->lat_lo - o->lat;
    else if (o->lat > r->lat_hi)
        dlat = o->lat - r->lat_hi;
    /* Both longitudes are in [-180, 180]: the gap is direct or wraps. */
    if (o->lng < r->lng_lo) {
        double a = r->lng_lo - o->lng, b = o->lng + 360.0 - r->lng_hi;
        dlng = a < b ? a : b;
    } else if (o->lng > r->lng_hi) {
        double a = o->lng - r->lng_hi, b = r->lng_lo + 360.0 - o->lng;
        dlng = a < b ? a : b;
    }
    double s1 = sin_below(dlat * (GEO_DEG_TO_RAD * 0.5));
    if (dlng <= 0.0)
        return s1 * s1;
    if (dlng > 180.0)
        dlng = 180.0;
    double plat = fmax(fabs(r->lat_lo), fabs(r->lat_hi));
    double cmin = plat >= 90.0 ? 0.0 : fmax(cos_below(plat * GEO_DEG_TO_RAD), 0.0);
    double s2 = sin_below(dlng * (GEO_DEG_TO_RAD * 0.5));
    double h = s1 * s1 + o->cos_lat * cmin * s2 * s2;
    return h > 1.0 ? 1.0 : h;
}

/* An upper bound of h over r: the largest |Δφ|, the largest |Δλ| (180
 * when r holds the origin's antimeridian) and the largest cos φ over r,
 * each term bounded on its own with sin y <= y. */
static double cell_max_h(const geo_origin_t *o, const geo_rect_t *r)
{
    double dlat = fmax(fabs(r->lat_lo - o->lat), fabs(r->lat_hi - o->lat));
    double anti = o->lng > 0.0 ? o->lng - 180.0 : o->lng + 180.0, dlng;
    if ((anti >= r->lng_lo && anti <= r->lng_hi) ||
        (anti + 360.0 >= r->lng_lo && anti + 360.0 <= r->lng_hi) ||
        (anti - 360.0 >= r->lng_lo && anti - 360.0 <= r->lng_hi))
        dlng = 180.0;
    else
        dlng = fmax(lng_dist(r->lng_lo, o->lng), lng_dist(r->lng_hi, o->lng));
    double eq = r->lat_lo <= 0.0 && r->lat_hi >= 0.0 ? 0.0 : fmin(fabs(r->lat_lo), fabs(r->lat_hi));
    double cmax = eq == 0.0 ? 1.0 : cos_above(eq * GEO_DEG_TO_RAD);
    double y1 = dlat * (GEO_DEG_TO_RAD * 0.5), y2 = dlng * (GEO_DEG_TO_RAD * 0.5);
    return y1 * y1 + o->cos_lat * cmax * y2 * y2;
}

void index_engine_push(index_search_t *s, index_cell_t *c)
{
    geo_rect_t r;
    if (c->begin >= c->end)
        return;
    geohash_cell_rect((geohash_cell_t){c->bits, c->nbits}, &r);
    c->lb = cell_min_h(&s->o, &r);
    if (c->lb > s->h_out)
        return;
    c->ub = s->bounded && c->lb <= s->h_in ? cell_max_h(&s->o, &r) : 2.0;
    pq_push(s, c);
}

uint64_t index_engine_count_range(const index_search_t *s, uint32_t begin, uint32_t end)
{
    if (!s->filter) {
        /* Deleted positions are sorted: two binary searches. */
        size_t lo = 0, hi = s->ndeleted, a, b;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (s->deleted[mid] < begin)
                lo = mid + 1;
            else
                hi = mid;
        }
        a = lo;
        hi = s->ndeleted;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (s->deleted[mid] < end)
                lo = mid + 1;
            else
                hi = mid;
        }
        b = lo;
        return (end - begin) - (b - a);
    }
    uint64_t n = 0;
    for (uint32_t i = begin; i < end; i++)
        n += s->recs[i].ver != INDEX_VER_DELETED && (s->recs[i].cats & s->filter);
    return n;
}

/* h by short Taylor series, no libm call: for |Δφ| < 0.01 and |Δλ| < 0.05
 * rad the truncation error is below 1e-12 relative (+1e-18), far inside
 * the 1e-8 margins it is used with. Returns -1 when out of that range. */
static double h_series(const index_search_t *s, double lat, double lng)
{
    double dlng = lng - s->o.lng;
    if (dlng > 180.0)
        dlng -= 360.0;
    else if (dlng < -180.0)
        dlng += 360.0;
    double dphi = lat * GEO_DEG_TO_RAD - s->o.lat_rad, dl = dlng * GEO_DEG_TO_RAD;
    if (fabs(dphi) >= 0.01 || fabs(dl) >= 0.05)
        return -1.0;
    /* Horner form with reciprocal constants: a division per term would
     * cost more than the rest of the point check. */
    double p2 = dphi * dphi, x2 = p2 * 0.25, y = dl * 0.5, y2 = y * y;
    double s1 = 0.5 * dphi * (1.0 - x2 * ((1.0 / 6.0) - x2 * (1.0 / 120.0)));
    double s2 = y * (1.0 - y2 * ((1.0 / 6.0) - y2 * (1.0 / 120.0)));
    double cosd = 1.0 - p2 * (0.5 - p2 * ((1.0 / 24.0) - p2 * (1.0 / 720.0)));
    double sind = dphi * (1.0 - p2 * ((1.0 / 6.0) - p2 * (1.0 / 120.0)));
    double cos2 = s->o.cos_lat * cosd - s->sin_lat * sind;
    return s1 * s1 + s->o.cos_lat * cos2 * s2 * s2;
}

/* True when h is surely above (sign 1) or below (sign -1) the threshold t
 * judging by the series value a (-1 = unknown). */
static bool series_beyond(double a, double t, int sign)
{
    if (a < 0.0)
        return false;
    return sign > 0 ? a > t * (1.0 + 1e-8) + 1e-17 : a < t * (1.0 - 1e-8) - 1e-17;
}

/* Checks every record of c: exact distance where the cell straddles the
 * circle, then the total and the candidate hits. Most points are decided
 * by the series; libm runs only near a threshold and for real hits. */
static void visit(index_search_t *s, const index_cell_t *c, bool inside)
{
    /* A leaf is a few cold cache lines: ask for all of them at once. */
    for (const char *a = (const char *)&s->recs[c->begin], *e = (const char *)&s->recs[c->end]; a < e; a += 64)
        __builtin_prefetch(a);
    for (uint32_t i = c->begin; i < c->end; i++) {
        const index_rec_t *r = &s->recs[i];
        /* Integer box test first: most points of a boundary leaf are
         * outside the circle's box and need no floating point at all. */
        if (!inside && ((uint32_t)r->lat - (uint32_t)s->box_lat > s->box_dlat ||
                        (uint32_t)r->lng - (uint32_t)s->box_lng > s->box_dlng))
            continue;
        if (r->ver == INDEX_VER_DELETED || (s->filter && !(r->cats & s->filter)))
            continue;
        double lat = geo_coord_decode(r->lat), lng = geo_coord_decode(r->lng);
        double a = h_series(s, lat, lng);
        if (!inside && series_beyond(a, s->h_pt_hi, 1))
            continue;
        bool in = inside || series_beyond(a, s->h_pt_lo, -1);
        if (in && (s->nhits == s->limit || s->has_after)) {
            /* Counted for sure; skip the libm work if it cannot be a hit. */
            if ((s->nhits == s->limit && series_beyond(a, s->kth_h_hi, 1)) ||
                (s->has_after && series_beyond(a, s->after_h_lo, -1))) {
                s->total++;
                continue;
            }
        }
        double h = geo_h_from(&s->o, lat, lng), d = -1.0;
        if (!in) {
            if (h > s->h_pt_hi)
                continue;
            /* Only points within rounding distance of the circle pay for
             * the asin; the decision is then the exact distance test. */
            if (h >= s->h_pt_lo) {
                d = geo_distance_of_h(h);
                if (d > s->radius_m)
                    continue;
            }
        }
        s->total++;
        if ((s->nhits == s->limit && h > s->kth_h_hi) || (s->has_after && h < s->after_h_lo))
            continue;
        if (d < 0)
            d = geo_distance_of_h(h);
        if (s->has_after && !hit_less(s->after_d, s->after_id, d, r->id))
            continue;
        offer_hit(s, r, i, d, lat, lng);
    }
}

/* Best-first over the cells of the current run: nearest cells first, so
 * the hits fill early and far cells wholly inside the circle are counted
 * without being visited. */
static void engine_run(index_search_t *s)
{
    while (s->npq) {
        index_cell_t c = pq_pop(s);
        bool useless = (s->nhits == s->limit && c.lb > s->kth_h_hi) ||
                       (s->has_after && c.ub < s->after_h_lo);
        if (useless && !s->count_total) {
            if (s->nhits == s->limit && c.lb > s->kth_h_hi)
                break; /* every later cell is at least as far */
            continue;
        }
        bool inside = !s->bounded || c.ub <= s->h_in;
        if (useless && inside) {
            s->total += s->nodes ? index_qt_count(s, c.node) : index_engine_count_range(s, c.begin, c.end);
            continue;
        }
        if (s->nodes) {
            if (s->nodes[c.node].child) {
                index_qt_split(s, &c);
                continue;
            }
        } else if (c.end - c.begin > s->leaf && c.nbits < 64) {
            index_gh_split(s, &c);
            continue;
        }
        visit(s, &c, inside);
    }
}

static int check_query(const index_query_t *q, const index_hit_t *hits, bool radius, char *err,
                       size_t errlen)
{
    if (!geo_valid(q->lat, q->lng)) {
        snprintf(err, errlen, "latitude/longitude out of range");
        return -1;
    }
    if (radius && !(q->radius_m >= 0.0 && q->radius_m < INFINITY)) {
        snprintf(err, errlen, "radius must be a non-negative number of metres");
        return -1;
    }
    if (q->limit && hits == NULL) {
        snprintf(err, errlen, "no room for hits");
        return -1;
    }
    if (q->has_after && !(q->after_distance_m >= 0.0 && q->after_distance_m < INFINITY)) {
        snprintf(err, errlen, "invalid resume distance");
        return -1;
    }
    return 0;
}

/* Runs one search over the base and the delta; caller holds the read lock. */
static void search_runs(index_t *ix, index_search_t *s)
{
    const index_base_t *b = ix->base;

    s->recs = b->recs;
    s->nrecs = b->n;
    s->deleted = b->deleted;
    s->ndeleted = b->ndeleted;
    s->nodes = ix->kind == INDEX_QUADTREE ? b->nodes : NULL;
    s->sample = b->sample;
    s->vbase = b->vbase;
    s->big_pos = b->big_pos;
    s->big_ver = b->big_ver;
    s->nbig = b->nbig;
    s->full_ver = NULL;
    if (s->nodes)
        index_qt_seed(s);
    else
        index_gh_seed(s);
    engine_run(s);

    if (ix->ndelta) {
        s->recs = ix->delta;
        s->nrecs = ix->ndelta;
        s->deleted = NULL;
        s->ndeleted = 0;
        s->nodes = NULL;
        s->sample = NULL;
        s->full_ver = ix->delta_ver;
        s->npq = 0;
        index_gh_seed(s);
        engine_run(s);
    }
}

static void search_init(index_search_t *s, const index_query_t *q, index_hit_t *hits,
                        index_cell_t *pq, size_t pq_cap)
{
    memset(s, 0, sizeof *s);
    geo_origin_init(&s->o, q->lat, q->lng);
    s->sin_lat = sin(s->o.lat_rad);
    s->filter = q->categories;
    s->leaf = 32;
    s->hits = hits;
    s->limit = q->limit;
    /* With no room for hits every cell is count-only from the start. */
    s->kth_h_hi = q->limit ? 2.0 : -1.0;
    s->has_after = q->has_after;
    if (q->has_after) {
        s->after_d = q->after_distance_m;
        s->after_id = q->after_id;
        s->after_h_lo = h_down(q->after_distance_m);
    }
    s->pq = pq;
    s->pq_cap = pq_cap;
    s->box_lat = INT32_MIN;
    s->box_lng = INT32_MIN;
    s->box_dlat = s->box_dlng = UINT32_MAX;
}

/* The circle's box, and on the grid one step wider each way than the
 * rounding of k·1e-7 could ever need. */
static void search_box(index_search_t *s)
{
    geo_circle_bounds(s->o.lat, s->o.lng, s->radius_m, &s->box);
    double lat_lo = floor(s->box.lat_lo / 1e-7) - 1, lat_hi = ceil(s->box.lat_hi / 1e-7) + 1;
    s->box_lat = (int32_t)fmax(lat_lo, -900000000.0);
    s->box_dlat = (uint32_t)((int64_t)fmin(lat_hi, 900000000.0) - s->box_lat);
    if (s->box.nlng == 1) {
        double lng_lo = floor(s->box.lng_lo[0] / 1e-7) - 1, lng_hi = ceil(s->box.lng_hi[0] / 1e-7) + 1;
        s->box_lng = (int32_t)fmax(lng_lo, -1800000000.0);
        s->box_dlng = (uint32_t)((int64_t)fmin(lng_hi, 1800000000.0) - s->box_lng);
    }
}

static void search_done(index_search_t *s, size_t *nhits)
{
    if (s->pq_cap > 256)
        free(s->pq);
    /* The hits are a max-heap: heapsort them in place, no qsort call. */
    for (size_t n = s->nhits; n > 1; n--) {
        index_hit_t t = s->hits[0];
        s->hits[0] = s->hits[n - 1];
        s->hits[n - 1] = t;
        heap_down(s->hits, n - 1, 0);
    }
    *nhits = s->nhits;
}

int index_search_radius(index_t *ix, const index_query_t *q, index_hit_t *hits, size_t *nhits,
                        uint64_t *total, char *err, size_t errlen)
{
    index_cell_t pq[256];
    index_search_t s;

    if (check_query(q, hits, true, err, errlen) < 0)
        return -1;
    search_init(&s, q, hits, pq, 256);
    s.bounded = true;
    s.count_total = true;
    s.radius_m = q->radius_m;
    double h_r = geo_h_of_distance(q->radius_m);
    s.h_in = h_r - 1e-14 - h_r * 1e-12; /* h_down and h_up, one sin */
    s.h_out = h_r + 1e-14 + h_r * 1e-12;
    s.h_pt_lo = h_r * (1.0 - 1e-9);
    s.h_pt_hi = h_r * (1.0 + 1e-9);
    search_box(&s);

    pthread_rwlock_rdlock(&ix->lock);
    search_runs(ix, &s);
    pthread_rwlock_unlock(&ix->lock);

    search_done(&s, nhits);
    if (total)
        *total = s.total;
    return 0;
}

int index_search_nearest(index_t *ix, const index_query_t *q, index_hit_t *hits, size_t *nhits,
                         uint64_t *total, char *err, size_t errlen)
{
    index_cell_t pq[256];
    index_search_t s;

    if (check_query(q, hits, false, err, errlen) < 0)
        return -1;
    search_init(&s, q, hits, pq, 256);
    s.bounded = false;
    s.count_total = false;
    s.radius_m = GEO_MAX_DISTANCE_M;
    s.h_in = s.h_out = s.h_pt_lo = s.h_pt_hi = 2.0;

    pthread_rwlock_rdlock(&ix->lock);
    search_runs(ix, &s);
    if (total) {
        const index_base_t *b = ix->base;
        if (!q->categories) {
            *total = b->n - b->ndeleted + ix->ndelta;
        } else {
            s.recs = b->recs;
            s.deleted = b->deleted;
            s.ndeleted = b->ndeleted;
            *total = ix->kind == INDEX_QUADTREE ? (s.nodes = b->nodes, index_qt_count(&s, 0))
                                                : index_engine_count_range(&s, 0, (uint32_t)b->n);
            s.recs = ix->delta;
            s.deleted = NULL;
            s.ndeleted = 0;
            *total += index_engine_count_range(&s, 0, (uint32_t)ix->ndelta);
        }
    }
    pthread_rwlock_unlock(&ix->lock);

    search_done(&s, nhits);
    return 0;
}
