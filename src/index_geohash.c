/* index_geohash.c — the geohash index: the sorted records are searched
 * through geohash cells, each a key range found by binary search. */
#include "index_impl.h"

/* Enough for any covering geohash_cover returns (it needs >= 32). */
#define COVER_MAX 64

void index_gh_seed(index_search_t *s)
{
    geohash_cell_t cells[COVER_MAX];
    double r = s->bounded ? s->radius_m : GEO_MAX_DISTANCE_M;
    size_t n = geohash_cover(s->o.lat, s->o.lng, r, cells, COVER_MAX);

    /* In key order, each range search can start where the last one ended. */
    for (size_t i = 1; i < n; i++) {
        geohash_cell_t t = cells[i];
        size_t j = i;
        for (; j > 0 && cells[j - 1].bits > t.bits; j--)
            cells[j] = cells[j - 1];
        cells[j] = t;
    }
    size_t from = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t hi = geohash_cell_hi(cells[i]);
        index_cell_t c = {.bits = cells[i].bits, .nbits = cells[i].nbits, .node = INDEX_NO_NODE};
        c.begin = (uint32_t)index_run_lower_bound(s, from, s->nrecs, geohash_cell_lo(cells[i]));
        c.end = hi == UINT64_MAX ? (uint32_t)s->nrecs
                                 : (uint32_t)index_run_lower_bound(s, c.begin, s->nrecs, hi + 1);
        from = c.end;
        index_engine_push(s, &c);
    }
}

void index_gh_split(index_search_t *s, const index_cell_t *c)
{
    /* Quarter cells (one more longitude and latitude bit) keep cells close
     * to square; a cell one bit short of the key length is halved. */
    unsigned step = c->nbits + 2 <= 64 ? 2 : 1, parts = 1u << step;
    uint32_t from = c->begin;
    index_cell_t q[4];

    for (unsigned i = 0; i < parts; i++) {
        index_cell_t k = {.bits = c->bits << step | i, .nbits = c->nbits + step,
                          .node = INDEX_NO_NODE};
        k.begin = from;
        if (i + 1 == parts) {
            k.end = c->end;
        } else {
            geohash_cell_t next = {c->bits << step | (i + 1), c->nbits + step};
            k.end = (uint32_t)index_run_lower_bound(s, from, c->end, geohash_cell_lo(next));
        }
        from = k.end;
        if (step == 2)
            q[i] = k;
        else
            index_engine_push(s, &k);
    }
    if (step == 2)
        index_engine_push_quarters(s, c, q); /* one band and range bound each */
}
