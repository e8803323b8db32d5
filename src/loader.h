/* loader.h — builds a spatial index from a snapshot of the businesses
 * table, streamed from a read node with COPY. */
#ifndef PROXIMITY_LOADER_H
#define PROXIMITY_LOADER_H

#include <stddef.h>

#include "index.h"
#include "store.h"

typedef struct loader_stats {
    size_t rows;       /* live businesses */
    size_t tombstones; /* deleted ones, kept as tombstones */
    double copy_s;  /* streaming and parsing */
    double build_s; /* index_build */
} loader_stats_t;

/* Loads every business into a new index of kind (owned by the caller):
 * live ones as points, deleted ones as tombstones. With min_token, from a
 * node that has replayed at least that position (see store_copy_out).
 * Returns NULL with a message in err. */
index_t *loader_load(store_t *s, index_kind_t kind, const char *min_token, int wait_ms,
                     loader_stats_t *st, char *err, size_t errlen);

/* Parses one COPY text row "id\tEWKB-hex\t{cat,…}\tversion[\tt|f]" into
 * p; the optional fifth field says whether the row is a tombstone.
 * Returns 0 for a live row, 1 for a tombstone, -1 if the row is malformed.
 * Exposed for tests. */
int loader_parse_row(char *line, index_point_t *p);

#endif
