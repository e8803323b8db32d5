/* cache.c — sharded business-detail cache: SIEVE eviction, single flight,
 * negative entries, jittered TTLs, version-guarded fills. */
#include "cache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "xalloc.h"

/* ------------------------------------------------------------------ */
/* Types                                                              */
/* ------------------------------------------------------------------ */

struct cache_entry {
    atomic_uint refs;
    int64_t version;
    size_t len;
    char *json;
};

/* One batched fetch. Waiters find it through the nodes it marks and read
 * their answer from results[], not from the cache: a small cache may have
 * evicted the fill again before a waiter wakes. */
typedef struct flight {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_uint refs;
    bool done;
    int rc;
    char err[256];
    size_t n;
    int64_t *ids;
    cache_entry_t **results; /* NULL = not found */
} flight_t;

/* The cache's record of one id. A node with !has_data is a placeholder
 * for an id being fetched; it sits in the hash but not in the SIEVE queue
 * and costs no bytes. */
typedef struct node {
    int64_t id;
    struct node *hnext;
    struct node *prev, *next; /* SIEVE queue, head = newest */
    cache_entry_t *e;         /* NULL for a negative entry */
    int64_t version;
    double expires;
    size_t charge;
    bool has_data;
    bool visited;
    bool no_fill;             /* cache_clear ran during the flight */
    flight_t *fl;             /* fetch in flight for this id, or NULL */
    size_t fl_idx;
} node_t;

typedef struct {
    pthread_mutex_t mu;
    node_t **buckets;
    size_t nbuckets, nnodes;
    node_t *head, *tail, *hand;
    size_t bytes, budget, entries;
    uint64_t rng;
    uint64_t hits, misses, negative_hits, evictions, expirations;
} shard_t;

struct cache {
    cache_options_t opt;
    cache_fetch_fn fetch;
    void *ctx;
    unsigned shard_bits;
    shard_t *shards;
    atomic_uint_fast64_t fetches, fetched_ids, coalesced, fetch_errors;
};

/* Per-entry bookkeeping counted against max_bytes: the node, the entry and
 * a rough malloc header for each of the three allocations. */
size_t cache_charge(size_t len)
{
    return len + sizeof(node_t) + sizeof(cache_entry_t) + 3 * 16;
}

/* ------------------------------------------------------------------ */
/* Entries and flights                                                */
/* ------------------------------------------------------------------ */

static cache_entry_t *entry_new(int64_t version, char *json, size_t len)
{
    cache_entry_t *e = xmalloc(sizeof *e);
    atomic_init(&e->refs, 1);
    e->version = version;
    e->len = len;
    e->json = json;
    return e;
}

static cache_entry_t *entry_ref(cache_entry_t *e)
{
    if (e)
        atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
    return e;
}

void cache_entry_release(cache_entry_t *e)
{
    /* acq_rel: the final decrement must see every reader's use done. */
    if (e && atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) == 1) {
        free(e->json);
        free(e);
    }
}

const char *cache_entry_json(const cache_entry_t *e, size_t *len)
{
    if (len)
        *len = e->len;
    return e->json;
}

int64_t cache_entry_version(const cache_entry_t *e)
{
    return e->version;
}

static flight_t *flight_new(size_t cap)
{
    flight_t *f = xcalloc(1, sizeof *f);
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    atomic_init(&f->refs, 1);
    f->ids = xmalloc(cap * sizeof *f->ids);
    f->results = xcalloc(cap, sizeof *f->results);
    return f;
}

static void flight_unref(flight_t *f)
{
    if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < f->n; i++)
        cache_entry_release(f->results[i]);
    free(f->results);
    free(f->ids);
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

/* ------------------------------------------------------------------ */
/* Shards: hashing, the SIEVE queue, eviction                          */
/* ------------------------------------------------------------------ */

static uint64_t mix(uint64_t x)
{
    /* splitmix64 finaliser: ids are often sequential, buckets need spread. */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

static double clock_now(const cache_t *c)
{
    return c->opt.now ? c->opt.now() : clock_monotonic();
}

static shard_t *shard_of(const cache_t *c, uint64_t h)
{
    /* Top bits pick the shard, low bits the bucket, so they stay independent. */
    return &c->shards[c->shard_bits ? h >> (64 - c->shard_bits) : 0];
}

/* ttl * (1 ± jitter), so entries loaded together (pre-warm, a burst of
 * misses) do not all expire in the same instant (avalanche). */
static double do_jittered(const cache_t *c, shard_t *s, double ttl)
{
    s->rng ^= s->rng << 13;
    s->rng ^= s->rng >> 7;
    s->rng ^= s->rng << 17;
    double u = (double)(s->rng >> 11) / 9007199254740992.0; /* [0, 1) */
    return ttl * (1.0 + c->opt.jitter * (2.0 * u - 1.0));
}

static node_t *do_find(shard_t *s, int64_t id, uint64_t h)
{
    for (node_t *n = s->buckets[h & (s->nbuckets - 1)]; n; n = n->hnext)
        if (n->id == id)
            return n;
    return NULL;
}

static void do_grow(shard_t *s)
{
    size_t nb = s->nbuckets * 2;
    node_t **b = xcalloc(nb, sizeof *b);
    for (size_t i = 0; i < s->nbuckets; i++) {
        node_t *n = s->buckets[i], *next;
        for (; n; n = next) {
            next = n->hnext;
            node_t **slot = &b[mix((uint64_t)n->id) & (nb - 1)];
            n->hnext = *slot;
            *slot = n;
        }
    }
    free(s->buckets);
    s->buckets = b;
    s->nbuckets = nb;
}

static node_t *do_insert_node(shard_t *s, int64_t id, uint64_t h)
{
    if (s->nnodes >= s->nbuckets)
        do_grow(s);
    node_t *n = xcalloc(1, sizeof *n);
    n->id = id;
    node_t **slot = &s->buckets[h & (s->nbuckets - 1)];
    n->hnext = *slot;
    *slot = n;
    s->nnodes++;
    return n;
}

static void do_unhash(shard_t *s, node_t *n)
{
    node_t **p = &s->buckets[mix((uint64_t)n->id) & (s->nbuckets - 1)];
    while (*p != n)
        p = &(*p)->hnext;
    *p = n->hnext;
    s->nnodes--;
}

/* Takes n's data out of the queue and the byte count; n stays hashed. */
static void do_drop_data(shard_t *s, node_t *n)
{
    if (!n->has_data)
        return;
    if (s->hand == n)
        s->hand = n->prev;
    if (n->prev)
        n->prev->next = n->next;
    else
        s->head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        s->tail = n->prev;
    n->prev = n->next = NULL;
    cache_entry_release(n->e);
    n->e = NULL;
    n->has_data = false;
    s->bytes -= n->charge;
    s->entries--;
    n->charge = 0;
}

/* Drops n's data, and n itself unless a flight still needs its marker. */
static void do_discard(shard_t *s, node_t *n)
{
    do_drop_data(s, n);
    if (n->fl == NULL) {
        do_unhash(s, n);
        free(n);
    }
}

/* SIEVE (Zhang et al., NSDI '24): a FIFO queue plus a visited bit. A hit
 * only sets the bit — no relinking as in LRU, so the hit path stays a hash
 * lookup + refcount. The hand walks from the tail, clearing bits, and evicts
 * the first unvisited entry; entries never re-read (one-off lookups of a
 * wide search, cold pre-warm rows) leave quickly while popular ones stay.
 * Expired entries are taken whatever their bit. */
static void do_evict_one(shard_t *s, double now)
{
    node_t *n = s->hand ? s->hand : s->tail;
    while (n->visited && now < n->expires) {
        n->visited = false;
        n = n->prev ? n->prev : s->tail;
    }
    s->hand = n->prev;
    if (now >= n->expires)
        s->expirations++;
    else
        s->evictions++;
    do_discard(s, n);
}

/* Makes n (hashed, possibly with old data) hold the given data; returns
 * false and drops n's data if it cannot fit in the shard at all. */
static bool do_install(const cache_t *c, shard_t *s, node_t *n, cache_entry_t *e,
                       int64_t version, double ttl, size_t charge, double now)
{
    /* Out of the queue first, so the eviction below cannot pick n itself. */
    do_drop_data(s, n);
    if (charge > s->budget) {
        cache_entry_release(e);
        do_discard(s, n);
        return false;
    }
    while (s->bytes + charge > s->budget)
        do_evict_one(s, now);
    n->e = e;
    n->version = version;
    n->expires = now + do_jittered(c, s, ttl);
    n->charge = charge;
    n->has_data = true;
    n->visited = false;
    n->prev = NULL;
    n->next = s->head;
    if (s->head)
        s->head->prev = n;
    else
        s->tail = n;
    s->head = n;
    s->bytes += charge;
    s->entries++;
    return true;
}

/* ------------------------------------------------------------------ */
/* Life cycle                                                         */
/* ------------------------------------------------------------------ */

cache_t *cache_new(const cache_options_t *opt, cache_fetch_fn fetch, void *ctx)
{
    cache_t *c = xcalloc(1, sizeof *c);
    c->opt = *opt;
    if (c->opt.max_bytes == 0)
        c->opt.max_bytes = (size_t)64 << 20;
    if (!(c->opt.jitter >= 0))
        c->opt.jitter = 0;
    if (c->opt.jitter >= 1)
        c->opt.jitter = 0.99;
    unsigned want = c->opt.shards ? c->opt.shards : 16, nshards = 1;
    while (nshards < want && c->shard_bits < 16) {
        nshards <<= 1;
        c->shard_bits++;
    }
    c->opt.shards = nshards;
    c->fetch = fetch;
    c->ctx = ctx;
    c->shards = xcalloc(nshards, sizeof *c->shards);
    for (unsigned i = 0; i < nshards; i++) {
        shard_t *s = &c->shards[i];
        pthread_mutex_init(&s->mu, NULL);
        s->nbuckets = 64;
        s->buckets = xcalloc(s->nbuckets, sizeof *s->buckets);
        /* A fixed split keeps the global bound without a shared counter. */
        s->budget = c->opt.max_bytes / nshards;
        s->rng = mix(opt->seed + i + 1) | 1;
    }
    return c;
}

static void do_clear_shard(shard_t *s, bool keep_flights)
{
    for (size_t i = 0; i < s->nbuckets; i++) {
        node_t *n = s->buckets[i], *next;
        for (; n; n = next) {
            next = n->hnext;
            if (keep_flights && n->fl) {
                n->no_fill = true;
                do_drop_data(s, n);
            } else {
                n->fl = NULL;
                do_discard(s, n);
            }
        }
    }
}

void cache_free(cache_t *c)
{
    if (c == NULL)
        return;
    for (unsigned i = 0; i < c->opt.shards; i++) {
        shard_t *s = &c->shards[i];
        do_clear_shard(s, false);
        free(s->buckets);
        pthread_mutex_destroy(&s->mu);
    }
    free(c->shards);
    free(c);
}

void cache_clear(cache_t *c)
{
    for (unsigned i = 0; i < c->opt.shards; i++) {
        shard_t *s = &c->shards[i];
        pthread_mutex_lock(&s->mu);
        do_clear_shard(s, true);
        pthread_mutex_unlock(&s->mu);
    }
}

/* ------------------------------------------------------------------ */
/* CDC and pre-warm                                                   */
/* ------------------------------------------------------------------ */

static void store(cache_t *c, int64_t id, int64_t version, char *json, size_t len, bool found)
{
    uint64_t h = mix((uint64_t)id);
    shard_t *s = shard_of(c, h);
    size_t charge = cache_charge(len);
    /* Built before the lock: the critical section stays allocation-light. */
    cache_entry_t *e = found ? entry_new(version, json, len) : NULL;
    pthread_mutex_lock(&s->mu);
    double now = clock_now(c);
    node_t *n = do_find(s, id, h);
    if (n && n->has_data && n->version >= version) {
        pthread_mutex_unlock(&s->mu);
        if (e)
            cache_entry_release(e);
        return;
    }
    if (n == NULL)
        n = do_insert_node(s, id, h);
    /* A tombstone is authoritative, so it lives as long as a row would. */
    do_install(c, s, n, e, version, c->opt.ttl_s, charge, now);
    pthread_mutex_unlock(&s->mu);
}

void cache_put(cache_t *c, int64_t id, int64_t version, char *json, size_t len)
{
    store(c, id, version, json, len, true);
}

void cache_remove(cache_t *c, int64_t id, int64_t version)
{
    store(c, id, version, NULL, 0, false);
}

/* ------------------------------------------------------------------ */
/* Read-through                                                       */
/* ------------------------------------------------------------------ */

/* How one out[] slot that was not a hit gets its answer. */
typedef struct {
    flight_t *fl; /* own flight or another thread's; NULL = answered */
    size_t idx;
} pending_t;

/* Runs our flight (no lock held), installs what came back unless something
 * newer is held, and wakes the waiters. */
static void run_flight(cache_t *c, flight_t *f)
{
    cache_fetched_t *got = xcalloc(f->n, sizeof *got);
    char err[sizeof f->err] = "";
    atomic_fetch_add(&c->fetches, 1);
    atomic_fetch_add(&c->fetched_ids, f->n);
    int rc = c->fetch(c->ctx, f->ids, f->n, got, err, sizeof err);
    if (rc != 0) {
        atomic_fetch_add(&c->fetch_errors, 1);
        if (err[0] == '\0')
            snprintf(err, sizeof err, "cache fetch failed");
        for (size_t i = 0; i < f->n; i++)
            free(got[i].json);
    }
    for (size_t i = 0; i < f->n; i++) {
        int64_t id = f->ids[i];
        uint64_t h = mix((uint64_t)id);
        shard_t *s = shard_of(c, h);
        cache_entry_t *e = NULL;
        if (rc == 0 && got[i].found)
            e = entry_new(got[i].version, got[i].json, got[i].len);
        else if (rc == 0)
            free(got[i].json);
        pthread_mutex_lock(&s->mu);
        double now = clock_now(c);
        node_t *n = do_find(s, id, h);
        if (n && n->fl == f) {
            n->fl = NULL;
            bool no_fill = n->no_fill;
            n->no_fill = false;
            if (rc != 0) {
                if (!n->has_data)
                    do_discard(s, n);
            } else if (n->has_data && n->version >= got[i].version) {
                /* A put/remove or an older fill already holds something at
                 * least as new (replica lag): keep it, answer with it. */
                cache_entry_release(e);
                e = entry_ref(n->e);
                n->expires = now + do_jittered(c, s, n->e ? c->opt.ttl_s : c->opt.negative_ttl_s);
            } else if (no_fill) {
                if (!n->has_data)
                    do_discard(s, n);
            } else {
                do_install(c, s, n, entry_ref(e), got[i].version,
                           e ? c->opt.ttl_s : c->opt.negative_ttl_s, cache_charge(got[i].len),
                           now);
            }
        }
        pthread_mutex_unlock(&s->mu);
        f->results[i] = e;
    }
    free(got);
    pthread_mutex_lock(&f->mu);
    f->rc = rc;
    if (rc != 0)
        memcpy(f->err, err, sizeof err);
    f->done = true;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

int cache_get_many(cache_t *c, const int64_t *ids, const int64_t *min_versions, size_t n,
                   cache_entry_t **out, char *err, size_t errlen)
{
    pending_t *pend = NULL;
    flight_t *mine = NULL;
    /* One clock read per request keeps the hit path to hash + refcount. */
    double now = n ? clock_now(c) : 0;
    for (size_t i = 0; i < n; i++) {
        out[i] = NULL;
        uint64_t h = mix((uint64_t)ids[i]);
        shard_t *s = shard_of(c, h);
        pthread_mutex_lock(&s->mu);
        node_t *nd = do_find(s, ids[i], h);
        if (nd && nd->has_data) {
            bool fresh = now < nd->expires;
            if (fresh && (min_versions == NULL || nd->version >= min_versions[i])) {
                nd->visited = true;
                out[i] = entry_ref(nd->e);
                if (nd->e)
                    s->hits++;
                else
                    s->negative_hits++;
                pthread_mutex_unlock(&s->mu);
                continue;
            }
            if (!fresh && nd->fl == NULL)
                s->expirations++;
        }
        s->misses++;
        if (pend == NULL)
            pend = xcalloc(n, sizeof *pend);
        if (nd && nd->fl) {
            /* Someone (maybe this very call, for a repeated id) is already
             * fetching it: wait for that answer instead of asking again. */
            if (nd->fl != mine) {
                atomic_fetch_add_explicit(&nd->fl->refs, 1, memory_order_relaxed);
                atomic_fetch_add(&c->coalesced, 1);
            }
            pend[i].fl = nd->fl;
            pend[i].idx = nd->fl_idx;
        } else {
            if (mine == NULL)
                mine = flight_new(n);
            if (nd == NULL)
                nd = do_insert_node(s, ids[i], h);
            nd->fl = mine;
            nd->fl_idx = mine->n;
            mine->ids[mine->n++] = ids[i];
            pend[i].fl = mine;
            pend[i].idx = nd->fl_idx;
        }
        pthread_mutex_unlock(&s->mu);
    }
    if (pend == NULL)
        return 0;

    /* Our own fetch first, waits after: a thread never blocks while holding
     * a flight others wait on, so two requests waiting on each other's ids
     * cannot deadlock. */
    if (mine)
        run_flight(c, mine);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        flight_t *f = pend[i].fl;
        if (f == NULL)
            continue;
        pthread_mutex_lock(&f->mu);
        while (!f->done)
            pthread_cond_wait(&f->cv, &f->mu);
        pthread_mutex_unlock(&f->mu);
        if (f->rc != 0) {
            if (rc == 0 && err && errlen)
                snprintf(err, errlen, "%s", f->err);
            rc = -1;
        } else {
            out[i] = entry_ref(f->results[pend[i].idx]);
        }
        if (f != mine)
            flight_unref(f);
    }
    if (mine)
        flight_unref(mine);
    free(pend);
    if (rc != 0)
        for (size_t i = 0; i < n; i++) {
            cache_entry_release(out[i]);
            out[i] = NULL;
        }
    return rc;
}

/* ------------------------------------------------------------------ */
/* Stats                                                              */
/* ------------------------------------------------------------------ */

void cache_stats(cache_t *c, cache_stats_t *st)
{
    memset(st, 0, sizeof *st);
    for (unsigned i = 0; i < c->opt.shards; i++) {
        shard_t *s = &c->shards[i];
        pthread_mutex_lock(&s->mu);
        st->hits += s->hits;
        st->misses += s->misses;
        st->negative_hits += s->negative_hits;
        st->evictions += s->evictions;
        st->expirations += s->expirations;
        st->entries += s->entries;
        st->bytes += s->bytes;
        pthread_mutex_unlock(&s->mu);
    }
    st->fetches = atomic_load(&c->fetches);
    st->fetched_ids = atomic_load(&c->fetched_ids);
    st->coalesced = atomic_load(&c->coalesced);
    st->fetch_errors = atomic_load(&c->fetch_errors);
}
