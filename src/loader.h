/* loader.h — builds a spatial index from a snapshot of the businesses
 * table, streamed from a read node with COPY. */
#ifndef PROXIMITY_LOADER_H
#define PROXIMITY_LOADER_H

#include <stddef.h>

#include "index.h"
#include "store.h"

typedef struct loader_stats {
    size_t rows;
    double copy_s;  /* streaming and parsing */
    double build_s; /* index_build */
} loader_stats_t;

/* Loads every live business into a new index of kind (owned by the
 * caller). Returns NULL with a message in err. */
index_t *loader_load(store_t *s, index_kind_t kind, loader_stats_t *st, char *err, size_t errlen);

/* Parses one COPY text row "id\tEWKB-hex\t{cat,…}\tversion" into p.
 * Returns 0, or -1 if the row is malformed. Exposed for tests. */
int loader_parse_row(char *line, index_point_t *p);

#endif
