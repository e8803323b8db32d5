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
    b->locs = alloc_big((n ? n : 1) * sizeof *b->locs);
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
    free(b->locs);
    free(b->recs);
    free(b->deleted);
    free(b->nodes);
    free(b->masks);
    free(b->sample);
    free(b);
}

/* First index in a[lo, hi) (ascending) whose value is >= v. */
static size_t pos_lower_bound(const uint32_t *a, size_t lo, size_t hi, uint32_t v)
{
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Version of the record at pos among pos_of[0..n), which must hold it. */
static int64_t big_version(const uint32_t *pos_of, const int64_t *ver, size_t n, size_t pos)
{
    size_t lo = pos_lower_bound(pos_of, 0, n, (uint32_t)pos);
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

size_t index_lower_bound(const index_loc_t *locs, size_t lo, size_t hi, uint64_t key)
{
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (index_loc_key(&locs[mid]) < key)
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
        b->sample[j] = index_loc_key(&b->locs[j * INDEX_SAMPLE]);
}

size_t index_run_lower_bound(const index_search_t *s, size_t lo, size_t hi, uint64_t key)
{
    if (s->sample && hi - lo > 4 * INDEX_SAMPLE) {
        /* Samples j in [a, b) sit at positions inside (lo, hi). */
        size_t a = lo / INDEX_SAMPLE + 1, b = (hi - 1) / INDEX_SAMPLE + 1;
        if (lo > 0) {
            /* A search that goes on from where the last one ended (the
             * covering cells in key order, the quarters of a split) lands
             * near lo: gallop from there, in cache, before bisecting. */
            size_t step = 1;
            while (a + step < b && s->sample[a + step] < key) {
                a += step;
                step *= 2;
            }
            if (a + step < b)
                b = a + step + 1;
        }
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
    return index_lower_bound(s->locs, lo, hi, key);
}

/* Position of the live record of id at (lat, lng) in a run, or SIZE_MAX. */
static size_t find_rec(const index_loc_t *locs, const index_rec_t *recs, size_t n, int32_t lat,
                       int32_t lng, int64_t id)
{
    uint64_t key = geohash_key(lat, lng);
    for (size_t i = index_lower_bound(locs, 0, n, key); i < n && index_loc_key(&locs[i]) == key; i++)
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
    free(ix->delta_loc);
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
        nb->locs[i].lat = geo_coord_encode(p->lat);
        nb->locs[i].lng = geo_coord_encode(p->lng);
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
        ki = index_loc_key(&b->locs[i]);
    if (j < ix->ndelta)
        kj = index_loc_key(&ix->delta_loc[j]);
    while (i < b->n || j < ix->ndelta) {
        if (j == ix->ndelta || (i < b->n && ki <= kj)) {
            keys[k] = ki;
            nb->locs[k] = b->locs[i];
            nb->recs[k] = b->recs[i];
            base_set_version(nb, k++, base_version(b, i++));
            while (i < b->n && b->recs[i].ver == INDEX_VER_DELETED)
                i++;
            if (i < b->n)
                ki = index_loc_key(&b->locs[i]);
        } else {
            keys[k] = kj;
            nb->locs[k] = ix->delta_loc[j];
            nb->recs[k] = ix->delta[j];
            base_set_version(nb, k++, ix->delta_ver[j++]);
            if (j < ix->ndelta)
                kj = index_loc_key(&ix->delta_loc[j]);
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
    size_t lo = pos_lower_bound(b->deleted, 0, b->ndeleted, (uint32_t)pos);
    memmove(&b->deleted[lo + 1], &b->deleted[lo], (b->ndeleted - lo) * sizeof *b->deleted);
    b->deleted[lo] = (uint32_t)pos;
    b->ndeleted++;
    if (b->nodes)
        index_qt_mark_deleted(b, pos);
}

/* Removes the old record of an id (if any) and inserts nl/nr (if nr is
 * non-NULL) into the delta: the one small change done under the write
 * lock. */
static void apply_change(index_t *ix, size_t bpos, size_t dpos, const index_loc_t *nl,
                         const index_rec_t *nr, int64_t nver)
{
    if (nr && ix->ndelta == ix->delta_alloc) {
        /* Grow before locking; searches never see delta_alloc. */
        size_t cap = ix->delta_alloc ? ix->delta_alloc * 2 : 64;
        index_loc_t *nlocs = xmalloc(cap * sizeof *nlocs);
        index_rec_t *nd = xmalloc(cap * sizeof *nd);
        int64_t *nv = xmalloc(cap * sizeof *nv);
        pthread_rwlock_wrlock(&ix->lock);
        if (ix->ndelta) {
            memcpy(nlocs, ix->delta_loc, ix->ndelta * sizeof *nlocs);
            memcpy(nd, ix->delta, ix->ndelta * sizeof *nd);
            memcpy(nv, ix->delta_ver, ix->ndelta * sizeof *nv);
        }
        free(ix->delta_loc);
        free(ix->delta);
        free(ix->delta_ver);
        ix->delta_loc = nlocs;
        ix->delta = nd;
        ix->delta_ver = nv;
        ix->delta_alloc = cap;
        pthread_rwlock_unlock(&ix->lock);
    }
    pthread_rwlock_wrlock(&ix->lock);
    if (bpos != SIZE_MAX)
        base_delete(ix, bpos);
    if (dpos != SIZE_MAX) {
        memmove(&ix->delta_loc[dpos], &ix->delta_loc[dpos + 1],
                (ix->ndelta - dpos - 1) * sizeof *ix->delta_loc);
        memmove(&ix->delta[dpos], &ix->delta[dpos + 1], (ix->ndelta - dpos - 1) * sizeof *ix->delta);
        memmove(&ix->delta_ver[dpos], &ix->delta_ver[dpos + 1],
                (ix->ndelta - dpos - 1) * sizeof *ix->delta_ver);
        ix->ndelta--;
    }
    if (nr) {
        uint64_t key = index_loc_key(nl);
        size_t at = index_lower_bound(ix->delta_loc, 0, ix->ndelta, key);
        memmove(&ix->delta_loc[at + 1], &ix->delta_loc[at], (ix->ndelta - at) * sizeof *ix->delta_loc);
        memmove(&ix->delta[at + 1], &ix->delta[at], (ix->ndelta - at) * sizeof *ix->delta);
        memmove(&ix->delta_ver[at + 1], &ix->delta_ver[at], (ix->ndelta - at) * sizeof *ix->delta_ver);
        ix->delta_loc[at] = *nl;
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
    *bpos = find_rec(ix->base->locs, ix->base->recs, ix->base->n, lat, lng, id);
    if (*bpos != SIZE_MAX) {
        *dpos = SIZE_MAX;
        return base_version(ix->base, *bpos);
    }
    *dpos = find_rec(ix->delta_loc, ix->delta, ix->ndelta, lat, lng, id);
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
    index_loc_t nl = {geo_coord_encode(p->lat), geo_coord_encode(p->lng)};
    index_rec_t nr = {p->id, p->categories, 0};
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
    apply_change(ix, bpos, dpos, &nl, &nr, p->version);
    *val = loc_pack(nl.lat, nl.lng);
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
        apply_change(ix, bpos, dpos, NULL, NULL, 0);
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
        const index_loc_t *l = bpos != SIZE_MAX ? &ix->base->locs[bpos] : &ix->delta_loc[dpos];
        out->id = r->id;
        out->lat = geo_coord_decode(l->lat);
        out->lng = geo_coord_decode(l->lng);
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
    st->bytes_index = sizeof *ix + sizeof *b + b->n * (sizeof *b->locs + sizeof *b->recs) +
                      b->deleted_cap * sizeof *b->deleted + b->nnodes * (sizeof *b->nodes + sizeof *b->masks) +
                      (b->sample ? (b->n / INDEX_SAMPLE + 1) * sizeof *b->sample : 0) +
                      b->big_cap * (sizeof *b->big_pos + sizeof *b->big_ver) +
                      ix->delta_alloc * (sizeof *ix->delta_loc + sizeof *ix->delta + sizeof *ix->delta_ver);
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
        /* Unordered until full (most small circles never fill it), then
         * a max-heap made in one go. */
        s->hits[s->nhits++] = hit;
        if (s->nhits < s->limit)
            return;
        for (size_t i = s->nhits / 2; i-- > 0;)
            heap_down(s->hits, s->nhits, i);
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

static inline double dmax(double a, double b)
{
    return a > b ? a : b;
}

static inline double dmin(double a, double b)
{
    return a < b ? a : b;
}

/* The bounds of h over a rectangle below treat each term of h on its own:
 * h = sin²(Δφ/2) + cos φ0 · cos φ · sin²(Δλ/2), the first and the factor
 * cos φ depending only on the rectangle's latitude band, the last only on
 * its longitude range. A band and a range are bounded once and combined,
 * so the four quarters of a quadtree node cost two of each. */
typedef struct {
    double lo_t1, lo_c; /* lower bounds: sin²(Δφ/2), cos φ */
    double hi_t1, hi_c; /* upper bounds */
} band_bounds_t;

typedef struct {
    double lo_t2, hi_t2; /* bounds of sin²(Δλ/2) */
} range_bounds_t;

/* Lower bounds: |Δφ| >= the latitude gap, cos φ >= its value at the edge
 * nearer a pole, with the series above instead of sin and cos; upper
 * bounds: the largest |Δφ| and the largest cos φ over the band, sin y <= y.
 * The same argument as geo_rect_min_h, a little looser, several times
 * cheaper. */
static band_bounds_t band_bounds(const geo_origin_t *o, double lat_lo, double lat_hi)
{
    band_bounds_t b;
    double dlat = 0.0;
    if (o->lat < lat_lo)
        dlat = lat_lo - o->lat;
    else if (o->lat > lat_hi)
        dlat = o->lat - lat_hi;
    double s1 = sin_below(dlat * (GEO_DEG_TO_RAD * 0.5));
    b.lo_t1 = s1 * s1;
    double plat = dmax(fabs(lat_lo), fabs(lat_hi));
    b.lo_c = plat >= 90.0 ? 0.0 : dmax(cos_below(plat * GEO_DEG_TO_RAD), 0.0);
    double y1 = dmax(fabs(lat_lo - o->lat), fabs(lat_hi - o->lat)) * (GEO_DEG_TO_RAD * 0.5);
    b.hi_t1 = y1 * y1;
    double eq = lat_lo <= 0.0 && lat_hi >= 0.0 ? 0.0 : dmin(fabs(lat_lo), fabs(lat_hi));
    b.hi_c = eq == 0.0 ? 1.0 : cos_above(eq * GEO_DEG_TO_RAD);
    return b;
}

/* Lower bound: |Δλ| >= the longitude gap; upper: the largest |Δλ| (180
 * when the range holds the origin's antimeridian). */
static range_bounds_t range_bounds(const geo_origin_t *o, double lng_lo, double lng_hi)
{
    range_bounds_t r;
    double dlng = 0.0;
    /* Both longitudes are in [-180, 180]: the gap is direct or wraps. */
    if (o->lng < lng_lo) {
        double a = lng_lo - o->lng, b = o->lng + 360.0 - lng_hi;
        dlng = a < b ? a : b;
    } else if (o->lng > lng_hi) {
        double a = o->lng - lng_hi, b = lng_lo + 360.0 - o->lng;
        dlng = a < b ? a : b;
    }
    if (dlng > 180.0)
        dlng = 180.0;
    double s2 = sin_below(dlng * (GEO_DEG_TO_RAD * 0.5));
    r.lo_t2 = s2 * s2;
    double anti = o->lng > 0.0 ? o->lng - 180.0 : o->lng + 180.0, far;
    if ((anti >= lng_lo && anti <= lng_hi) || (anti + 360.0 >= lng_lo && anti + 360.0 <= lng_hi) ||
        (anti - 360.0 >= lng_lo && anti - 360.0 <= lng_hi))
        far = 180.0;
    else
        far = dmax(lng_dist(lng_lo, o->lng), lng_dist(lng_hi, o->lng));
    double y2 = far * (GEO_DEG_TO_RAD * 0.5);
    r.hi_t2 = y2 * y2;
    return r;
}

/* Sets c->lb and c->ub from the bounds of its band and range, and pushes
 * c unless it lies wholly outside the circle. */
static bool push_bounded(index_search_t *s, index_cell_t *c, const band_bounds_t *b,
                         const range_bounds_t *r)
{
    double lb = b->lo_t1 + s->o.cos_lat * b->lo_c * r->lo_t2;
    c->lb = lb > 1.0 ? 1.0 : lb;
    if (c->lb > s->h_out)
        return false;
    c->ub = s->bounded && c->lb <= s->h_in ? b->hi_t1 + s->o.cos_lat * b->hi_c * r->hi_t2 : 2.0;
    pq_push(s, c);
    return true;
}

void index_engine_push(index_search_t *s, index_cell_t *c)
{
    geo_rect_t r;
    if (c->begin >= c->end)
        return;
    geohash_cell_rect((geohash_cell_t){c->bits, c->nbits}, &r);
    band_bounds_t b = band_bounds(&s->o, r.lat_lo, r.lat_hi);
    range_bounds_t g = range_bounds(&s->o, r.lng_lo, r.lng_hi);
    push_bounded(s, c, &b, &g);
}

unsigned index_engine_push_quarters(index_search_t *s, const index_cell_t *parent, index_cell_t k[4])
{
    /* Of the two new key bits the first is longitude's at an even depth,
     * latitude's at an odd one. */
    unsigned lat_shift = parent->nbits % 2 ? 1 : 0, lng_shift = 1 - lat_shift;
    unsigned pushed = 0;
    geo_rect_t r;
    geohash_cell_rect((geohash_cell_t){parent->bits, parent->nbits}, &r);
    /* Halving a cell's edges is exact: they are multiples of 2^-32 of the
     * globe, as geohash_cell_rect computes them. */
    double lat_mid = (r.lat_lo + r.lat_hi) * 0.5, lng_mid = (r.lng_lo + r.lng_hi) * 0.5;
    band_bounds_t b[2] = {band_bounds(&s->o, r.lat_lo, lat_mid), band_bounds(&s->o, lat_mid, r.lat_hi)};
    range_bounds_t g[2] = {range_bounds(&s->o, r.lng_lo, lng_mid), range_bounds(&s->o, lng_mid, r.lng_hi)};
    for (unsigned i = 0; i < 4; i++)
        if (k[i].begin < k[i].end && push_bounded(s, &k[i], &b[i >> lat_shift & 1], &g[i >> lng_shift & 1]))
            pushed |= 1u << i;
    return pushed;
}

/* Superseded records among positions [begin, end) of the current run:
 * the deleted positions are sorted, two binary searches. */
static size_t deleted_in(const index_search_t *s, uint32_t begin, uint32_t end)
{
    size_t a = pos_lower_bound(s->deleted, 0, s->ndeleted, begin);
    return pos_lower_bound(s->deleted, a, s->ndeleted, end) - a;
}

uint64_t index_engine_count_range(const index_search_t *s, uint32_t begin, uint32_t end)
{
    if (!s->filter)
        return (end - begin) - deleted_in(s, begin, end);
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

/* An estimate of h with its error: est > t + err(t) means h > t for sure,
 * est < t - err(t) that h < t; err(t) = abs + rel·t, and est < 0 means
 * unknown. */
typedef struct {
    double est, abs, rel;
} h_estimate_t;

static inline bool est_above(const h_estimate_t *e, double t)
{
    return e->est >= 0.0 && e->est > t * (1.0 + e->rel) + e->abs;
}

static inline bool est_below(const h_estimate_t *e, double t)
{
    return e->est >= 0.0 && e->est < t * (1.0 - e->rel) - e->abs;
}

/* The series estimate: its own error is far inside 1e-8 relative. */
static inline h_estimate_t est_series(const index_search_t *s, const index_loc_t *l)
{
    return (h_estimate_t){h_series(s, geo_coord_decode(l->lat), geo_coord_decode(l->lng)), 1e-17, 1e-8};
}

/* The quadratic estimate (search_quad) of a point of the circle's box,
 * from its grid coordinates alone: two conversions and seven operations.
 * Returns false for a point off the box (outside the circle). */
static inline bool est_quad(const index_search_t *s, const index_loc_t *l, h_estimate_t *e)
{
    double da = (double)l->lat - s->q_lat0, db = (double)l->lng - s->q_lng0;
    if (db > 1.8e9)
        db -= 3.6e9;
    else if (db < -1.8e9)
        db += 3.6e9;
    if (fabs(da) > s->q_amax || fabs(db) > s->q_bmax)
        return false;
    *e = (h_estimate_t){s->q_p * da * da + (s->q_q - s->q_s * da) * db * db, s->q_err, 1e-7};
    return true;
}

/* Checks every record of c: exact distance where the cell straddles the
 * circle, then the total and the candidate hits. Most points are decided
 * by an estimate of h (the quadratic one, else the series); libm runs
 * only near a threshold and for real hits. */
static void visit(index_search_t *s, const index_cell_t *c, bool inside)
{
    /* Without a filter or a superseded record in the cell (a quadtree
     * node's live count says so), the rest of a record is read only for
     * the hits: counting needs nothing but the location. */
    bool check_rec = s->filter ||
                     (s->ndeleted && (s->nodes ? s->nodes[c->node].live != c->end - c->begin
                                               : deleted_in(s, c->begin, c->end) != 0));
    /* A leaf's locations are a few cold cache lines: ask for all of them
     * at once. The rest of a record is read only for points in the circle. */
    for (const char *a = (const char *)&s->locs[c->begin], *e = (const char *)&s->locs[c->end]; a < e; a += 64)
        __builtin_prefetch(a);
    for (uint32_t i = c->begin; i < c->end; i++) {
        const index_loc_t *l = &s->locs[i];
        /* Integer box test first: most points of a boundary leaf are
         * outside the circle's box and need no floating point at all. */
        if (!inside && ((uint32_t)l->lat - (uint32_t)s->box_lat > s->box_dlat ||
                        (uint32_t)l->lng - (uint32_t)s->box_lng > s->box_dlng))
            continue;
        h_estimate_t e;
        if (s->quad) {
            if (!est_quad(s, l, &e)) {
                if (!inside)
                    continue;
                e = est_series(s, l); /* cannot happen: inside cells lie in the box */
            } else if (!inside && !est_above(&e, s->h_pt_hi) && !est_below(&e, s->h_pt_lo)) {
                e = est_series(s, l); /* near the circle: the finer estimate */
            }
        } else {
            e = est_series(s, l);
        }
        if (!inside && est_above(&e, s->h_pt_hi))
            continue;
        if (check_rec && (s->recs[i].ver == INDEX_VER_DELETED || (s->filter && !(s->recs[i].cats & s->filter))))
            continue;
        bool in = inside || est_below(&e, s->h_pt_lo);
        if (in && (s->nhits == s->limit || s->has_after)) {
            /* Counted for sure; skip the libm work if it cannot be a hit. */
            if ((s->nhits == s->limit && est_above(&e, s->kth_h_hi)) ||
                (s->has_after && est_below(&e, s->after_h_lo))) {
                s->total++;
                continue;
            }
        }
        /* Likely a hit: its record loads while libm works. */
        __builtin_prefetch(&s->recs[i]);
        double lat = geo_coord_decode(l->lat), lng = geo_coord_decode(l->lng);
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
        if (s->has_after && !hit_less(s->after_d, s->after_id, d, s->recs[i].id))
            continue;
        offer_hit(s, &s->recs[i], i, d, lat, lng);
    }
}

/* Counts the points of a boundary cell that cannot hold a hit (no filter,
 * no superseded record): the quadratic estimate alone, without a branch a
 * point, so the in/out pattern of the points costs no mispredictions. A
 * cell with a point in the estimate's error band is visited the full way
 * instead. */
static void count_boundary(index_search_t *s, const index_cell_t *c)
{
    uint32_t in = 0, unsure = 0;
    for (uint32_t i = c->begin; i < c->end; i++) {
        const index_loc_t *l = &s->locs[i];
        double da = (double)l->lat - s->q_lat0, db = (double)l->lng - s->q_lng0;
        db = db > 1.8e9 ? db - 3.6e9 : db < -1.8e9 ? db + 3.6e9 : db;
        bool box = fabs(da) <= s->q_amax && fabs(db) <= s->q_bmax;
        double q = s->q_p * da * da + (s->q_q - s->q_s * da) * db * db;
        bool sure_in = q < s->q_in, sure_out = q > s->q_out;
        in += box & sure_in;
        unsure += box & !sure_in & !sure_out;
    }
    if (unsure)
        visit(s, c, false);
    else
        s->total += in;
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
        bool leaf = s->nodes ? !s->nodes[c.node].child : c.end - c.begin <= s->leaf || c.nbits >= 64;
        if (useless && leaf && s->quad && !s->filter && !(s->ndeleted && deleted_in(s, c.begin, c.end))) {
            count_boundary(s, &c);
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

    s->locs = b->locs;
    s->recs = b->recs;
    s->nrecs = b->n;
    s->deleted = b->deleted;
    s->ndeleted = b->ndeleted;
    s->nodes = ix->kind == INDEX_QUADTREE ? b->nodes : NULL;
    s->masks = b->masks;
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
        s->locs = ix->delta_loc;
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
    /* Splitting a geohash range costs binary searches, scanning a point
     * a few operations (the quadratic estimate): 256 measured best at 10M
     * (mix 16 us CPU per query vs 23 with 32, 17 with 128, 15-18 with 512
     * and 1024, noisy). */
    s->leaf = 256;
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

/* Wrapped |Δλ| in degrees from lng0 to lng. */
static double lng_wrap_dist(double lng, double lng0)
{
    double d = fabs(lng - lng0);
    return d > 180.0 ? 360.0 - d : d;
}

/* The quadratic estimate of h for points of the circle's box. With a =
 * Δφ, b = Δλ (radians), c0, s0 the cosine and sine of the origin's
 * latitude, h = sin²(a/2) + c0·cos(φ0 + a)·sin²(b/2) and q = a²/4 +
 * c0·(c0 - s0·a)·b²/4 differ by at most
 *   |A|⁴/48 + c0·(B⁴/48 + (c0·A²/2 + |s0|·|A|³/6)·B²/4)
 * over |a| <= A, |b| <= B: 0 <= x² - sin²x <= x⁴/3 for the sin² terms,
 * |cos a - 1| <= a²/2 and |sin a - a| <= |a|³/6 in cos(φ0 + a) = c0·cos a
 * - s0·sin a. The box bounds A and B. That is ~1e-5 of h on the circle at
 * 20 km and less below, so nearly every point is decided by q; the rest
 * falls back to the series. Off for tiny radii (the grid rounding of the
 * origin would matter) and for boxes spanning every meridian. */
static void search_quad(index_search_t *s)
{
    const geo_bounds_t *b = &s->box;
    s->quad = false;
    if (s->radius_m < 50.0 || b->lat_lo <= -90.0 || b->lat_hi >= 90.0)
        return;
    double amax = dmax(b->lat_hi - s->o.lat, s->o.lat - b->lat_lo);
    double lo = b->lng_lo[0], hi = b->lng_hi[b->nlng - 1];
    if (b->nlng == 1 && hi - lo >= 180.0)
        return;
    double bmax = dmax(lng_wrap_dist(lo, s->o.lng), lng_wrap_dist(hi, s->o.lng));
    /* In grid units, a step wider than any rounding of the grid could need. */
    s->q_amax = amax * 1e7 + 2.0;
    s->q_bmax = bmax * 1e7 + 2.0;
    const double k = 1e-7 * GEO_DEG_TO_RAD;
    double A = s->q_amax * k, B = s->q_bmax * k, c0 = s->o.cos_lat, s0 = fabs(s->sin_lat);
    if (A > 0.05 || B > 0.1)
        return;
    double A2 = A * A, B2 = B * B;
    double err = A2 * A2 / 48.0 + c0 * (B2 * B2 / 48.0 + (c0 * A2 / 2.0 + s0 * A2 * A / 6.0) * B2 / 4.0);
    if (err > 1e-3 * s->h_pt_hi)
        return;
    s->q_err = err * 1.01 + 1e-17;
    s->q_lat0 = s->o.lat * 1e7;
    s->q_lng0 = s->o.lng * 1e7;
    s->q_p = k * k / 4.0;
    s->q_q = c0 * c0 * k * k / 4.0;
    s->q_s = c0 * s->sin_lat * k * k * k / 4.0;
    /* est_above / est_below of the circle's thresholds, precomputed. */
    s->q_in = s->h_pt_lo * (1.0 - 1e-7) - s->q_err;
    s->q_out = s->h_pt_hi * (1.0 + 1e-7) + s->q_err;
    s->quad = true;
}

/* Sorts h[0..n) by (distance, id); is_heap: it is a max-heap already. A
 * page (n <= 64) is sorted by insertion on 24-byte keys, then permuted;
 * longer lists by heapsort in place. No qsort call either way. */
static void sort_hits(index_hit_t *h, size_t n, bool is_heap)
{
    if (n <= 64) {
        struct {
            double d;
            int64_t id;
            size_t at;
        } key[64], t;
        index_hit_t tmp[64];
        for (size_t i = 0; i < n; i++) {
            t.d = h[i].distance_m;
            t.id = h[i].id;
            t.at = i;
            size_t j = i;
            for (; j > 0 && hit_less(t.d, t.id, key[j - 1].d, key[j - 1].id); j--)
                key[j] = key[j - 1];
            key[j] = t;
        }
        memcpy(tmp, h, n * sizeof *h);
        for (size_t i = 0; i < n; i++)
            h[i] = tmp[key[i].at];
        return;
    }
    if (!is_heap)
        for (size_t i = n / 2; i-- > 0;)
            heap_down(h, n, i);
    for (size_t m = n; m > 1; m--) {
        index_hit_t t = h[0];
        h[0] = h[m - 1];
        h[m - 1] = t;
        heap_down(h, m - 1, 0);
    }
}

static void search_done(index_search_t *s, size_t *nhits)
{
    if (s->pq_cap > 256)
        free(s->pq);
    sort_hits(s->hits, s->nhits, s->nhits == s->limit);
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
    search_quad(&s);

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
    s.leaf = 32; /* no circle to count: ranges are split down to the nearest */

    pthread_rwlock_rdlock(&ix->lock);
    search_runs(ix, &s);
    if (total) {
        const index_base_t *b = ix->base;
        if (!q->categories) {
            *total = b->n - b->ndeleted + ix->ndelta;
        } else {
            s.locs = b->locs;
            s.recs = b->recs;
            s.deleted = b->deleted;
            s.ndeleted = b->ndeleted;
            *total = ix->kind == INDEX_QUADTREE ? (s.nodes = b->nodes, s.masks = b->masks, index_qt_count(&s, 0))
                                                : index_engine_count_range(&s, 0, (uint32_t)b->n);
            s.locs = ix->delta_loc;
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
