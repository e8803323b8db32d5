/* promtext.h — a strict parser of the Prometheus text exposition format
 * (0.0.4), for tests: every line must be a sample, # HELP, # TYPE or
 * another comment, and the families must be well formed. */
#ifndef PROXIMITY_PROMTEXT_H
#define PROXIMITY_PROMTEXT_H

#include <stddef.h>

typedef struct promtext_sample {
    char *name;
    char *labels; /* canonical "k=v,k=v" in the order given, unescaped; "" when none */
    double value;
} promtext_sample_t;

typedef struct promtext_family {
    char *name;
    char *type; /* counter | gauge | histogram | summary | untyped */
} promtext_family_t;

typedef struct promtext {
    promtext_sample_t *samples;
    size_t nsamples;
    promtext_family_t *families;
    size_t nfamilies;
} promtext_t;

/* Parses text into *out. Checks: metric and label names, quoted and
 * escaped label values, numbers (also +Inf/-Inf/NaN), an optional integer
 * timestamp, one # TYPE per family before its samples, a family's samples
 * in one group, no duplicate series, counters not negative, histograms
 * with cumulative le buckets ending in +Inf equal to _count. Returns 0, or
 * -1 with the line number and reason in err. */
int promtext_parse(const char *text, promtext_t *out, char *err, size_t errlen);

/* Sum of every sample called name whose labels contain each "k=v" of
 * want (a comma list; NULL or "" = all). *found receives how many matched. */
double promtext_sum(const promtext_t *p, const char *name, const char *want, int *found);

/* The declared type of a family, or NULL. */
const char *promtext_type(const promtext_t *p, const char *family);

void promtext_free(promtext_t *p);

#endif
