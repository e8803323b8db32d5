/* cache.h — the business-detail cache (DESIGN §1): a bounded in-process
 * map id → pre-encoded JSON, read-through with one batched fetch per
 * request, single flight per id, negative entries, jittered TTLs. */
#ifndef PROXIMITY_CACHE_H
#define PROXIMITY_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cache cache_t;
typedef struct cache_entry cache_entry_t; /* immutable, reference-counted */

typedef struct {
    bool found;    /* false = the id does not exist (cache a negative entry) */
    int64_t version; /* for !found: the tombstone's version if known, else 0 */
    char *json;    /* the business's full JSON object text, malloc'd; the cache takes ownership */
    size_t len;
} cache_fetched_t;

/* Fetches ids[0..n) (all distinct) in one go, filling out[i] for each
 * (out[] arrives zeroed: an id left untouched counts as not found); returns
 * 0, or -1 with err (then nothing is cached, every waiter gets the error and
 * the cache frees any json already set in out[]). Called with no lock held. */
typedef int (*cache_fetch_fn)(void *ctx, const int64_t *ids, size_t n, cache_fetched_t *out,
                              char *err, size_t errlen);

typedef struct {
    size_t max_bytes;      /* bound on the sum of cache_charge() of held entries (0 = 64 MiB);
                              SIEVE eviction beyond it, per shard (max_bytes / shards each) */
    double ttl_s;          /* positive entries and CDC tombstones live ttl_s * (1 ± jitter) */
    double negative_ttl_s; /* negative entries from a fetch (unknown ids), short */
    double jitter;         /* e.g. 0.1; clamped to [0, 1) */
    unsigned shards;       /* lock striping, rounded up to a power of two (0 = 16) */
    double (*now)(void);   /* clock in seconds, NULL = CLOCK_MONOTONIC; tests inject a fake clock */
    uint64_t seed;         /* jitter RNG seed */
} cache_options_t;

typedef struct {
    uint64_t hits;          /* lookups served by a fresh positive entry */
    uint64_t misses;        /* lookups not served from the cache (fetched or coalesced) */
    uint64_t negative_hits; /* lookups served by a fresh negative entry (answer NULL) */
    uint64_t evictions;     /* entries dropped for space */
    uint64_t expirations;   /* expired entries found by a lookup or reclaimed by eviction */
    uint64_t fetches;       /* calls of the fetch callback */
    uint64_t fetched_ids;   /* ids passed to the fetch callback */
    uint64_t coalesced;     /* lookups that waited for another thread's fetch */
    uint64_t fetch_errors;  /* fetch calls that returned -1 */
    size_t entries;         /* entries held (positive and negative) */
    size_t bytes;           /* sum of their cache_charge(), never above max_bytes */
} cache_stats_t;

/* A new empty cache that fetches misses through fetch(ctx, ...); caller owns it. */
cache_t *cache_new(const cache_options_t *opt, cache_fetch_fn fetch, void *ctx);

/* Frees the cache; no call may be running on it. Entries callers still hold
 * stay valid until they release them. */
void cache_free(cache_t *c);

/* Looks up ids[0..n) (may repeat); min_versions (may be NULL): an entry
 * older than min_versions[i] counts as a miss. Misses no other thread is
 * fetching go to ONE fetch call; ids another thread is fetching are waited
 * for. out[i] = a referenced entry (release each), or NULL when the id does
 * not exist. A refetch may still answer older than min_versions[i] (replica
 * lag); check cache_entry_version. Returns 0, or -1 with err when a fetch
 * this call needed failed (out[] then all NULL). */
int cache_get_many(cache_t *c, const int64_t *ids, const int64_t *min_versions, size_t n,
                   cache_entry_t **out, char *err, size_t errlen);

/* The entry's JSON text (not NUL-terminated), valid while e is referenced. */
const char *cache_entry_json(const cache_entry_t *e, size_t *len);

/* The entry's business version. */
int64_t cache_entry_version(const cache_entry_t *e);

/* Drops one reference; the last one frees the entry. NULL is a no-op. */
void cache_entry_release(cache_entry_t *e);

/* CDC / pre-warm: stores version of id unless something at least as new is
 * held; takes ownership of json (freed if ignored). Cheap: one shard lock,
 * evicts to stay within max_bytes. */
void cache_put(cache_t *c, int64_t id, int64_t version, char *json, size_t len);

/* CDC: id was deleted at version: held as a negative entry (ttl_s) unless
 * something newer is held, so a stale put cannot resurrect it. */
void cache_remove(cache_t *c, int64_t id, int64_t version);

/* Drops every entry (e.g. after a truncate); fetches in flight still answer
 * their callers but do not fill the cache. */
void cache_clear(cache_t *c);

/* Copies the counters (summed over shards, not one atomic snapshot). */
void cache_stats(cache_t *c, cache_stats_t *st);

/* The bytes an entry with len bytes of JSON counts against max_bytes. */
size_t cache_charge(size_t len);

#endif
