/* index_oracle.c — the obvious implementation of what the indexes do. */
#include "index_oracle.h"

#include <stdlib.h>
#include <string.h>

#include "geo.h"
#include "xalloc.h"

oracle_rec_t *oracle_find(oracle_t *o, int64_t id)
{
    for (size_t i = 0; i < o->n; i++)
        if (o->v[i].p.id == id)
            return &o->v[i];
    return NULL;
}

static oracle_rec_t *oracle_slot(oracle_t *o, int64_t id)
{
    oracle_rec_t *r = oracle_find(o, id);
    if (r)
        return r;
    if (o->n == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 256;
        o->v = xrealloc(o->v, o->cap * sizeof *o->v);
    }
    r = &o->v[o->n++];
    memset(r, 0, sizeof *r);
    r->p.id = id;
    r->p.version = -1;
    return r;
}

int oracle_upsert(oracle_t *o, const index_point_t *p)
{
    oracle_rec_t *r = oracle_slot(o, p->id);
    if (p->version <= r->p.version)
        return 0;
    r->p = *p;
    r->live = 1;
    return 1;
}

int oracle_remove(oracle_t *o, int64_t id, int64_t version)
{
    oracle_rec_t *r = oracle_slot(o, id);
    if (version <= r->p.version)
        return 0;
    r->p.version = version;
    r->live = 0;
    return 1;
}

static int hit_cmp(const void *a, const void *b)
{
    const index_hit_t *x = a, *y = b;
    if (x->distance_m != y->distance_m)
        return x->distance_m < y->distance_m ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

index_hit_t *oracle_search(const oracle_t *o, const index_query_t *q, int bounded, size_t *nout,
                           uint64_t *total)
{
    index_hit_t *all = xmalloc((o->n + 1) * sizeof *all);
    size_t n = 0;
    for (size_t i = 0; i < o->n; i++) {
        const index_point_t *p = &o->v[i].p;
        if (!o->v[i].live || (q->categories && !(p->categories & q->categories)))
            continue;
        double d = geo_distance_m(q->lat, q->lng, p->lat, p->lng);
        if (bounded && d > q->radius_m)
            continue;
        all[n++] = (index_hit_t){p->id, d, p->lat, p->lng, p->categories, p->version};
    }
    qsort(all, n, sizeof *all, hit_cmp);
    *total = n;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (q->has_after && !(all[i].distance_m > q->after_distance_m ||
                              (all[i].distance_m == q->after_distance_m && all[i].id > q->after_id)))
            continue;
        if (k < q->limit)
            all[k++] = all[i];
    }
    *nout = k;
    return all;
}

bool oracle_hits_equal(const index_hit_t *a, size_t na, const index_hit_t *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (a[i].id != b[i].id || a[i].distance_m != b[i].distance_m || a[i].version != b[i].version ||
            a[i].lat != b[i].lat || a[i].lng != b[i].lng || a[i].categories != b[i].categories)
            return false;
    return true;
}

void oracle_free(oracle_t *o)
{
    free(o->v);
    memset(o, 0, sizeof *o);
}
