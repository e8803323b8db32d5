/* index_oracle.h — the brute-force oracle the spatial indexes are checked
 * against (tests/check_index.c, fuzz/fuzz_geo.c): every id ever seen with
 * its newest version, searched by scanning them all. */
#ifndef PROXIMITY_INDEX_ORACLE_H
#define PROXIMITY_INDEX_ORACLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "index.h"

typedef struct {
    index_point_t p;
    int live;
} oracle_rec_t;

typedef struct {
    oracle_rec_t *v;
    size_t n, cap;
} oracle_t;

/* The record of id, or NULL if never seen. */
oracle_rec_t *oracle_find(oracle_t *o, int64_t id);

/* Applies an upsert by the index's rule (newer version wins, tombstones
 * included); returns 1 if applied, 0 if stale. */
int oracle_upsert(oracle_t *o, const index_point_t *p);

/* Applies a removal as of version; returns 1 if applied, 0 if stale. */
int oracle_remove(oracle_t *o, int64_t id, int64_t version);

/* All live matches of q (within q->radius_m when bounded) in (distance, id)
 * order, the first q->limit of them after the resume point at the front;
 * *nout = that many, *total = all matches. Returns a malloc'ed array. */
index_hit_t *oracle_search(const oracle_t *o, const index_query_t *q, int bounded, size_t *nout,
                           uint64_t *total);

/* True when two hit lists agree exactly (ids, distances, versions,
 * locations, categories). */
bool oracle_hits_equal(const index_hit_t *a, size_t na, const index_hit_t *b, size_t nb);

/* Frees what o owns and zeroes it. */
void oracle_free(oracle_t *o);

#endif
