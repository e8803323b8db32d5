/* metrics.h — the process's HTTP request metrics (counts by route, method
 * and status; latency histograms) and a Prometheus text-format writer. */
#ifndef PROXIMITY_METRICS_H
#define PROXIMITY_METRICS_H

#include <stddef.h>

/* A growing text buffer for one /metrics answer. */
typedef struct metrics_buf {
    char *p; /* malloc'd, NUL-terminated; the caller owns it after use */
    size_t n, cap;
} metrics_buf_t;

/* Appends one sample; with help set, its # HELP and # TYPE lines first
 * (once per metric family: pass NULL for the family's later samples).
 * labels is "" / NULL or a complete "{k=\"v\",…}" block. */
void metrics_emit(metrics_buf_t *b, const char *name, const char *type, const char *help,
                  const char *labels, double value);

/* Appends formatted text as is. */
void metrics_printf(metrics_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Records one finished request. route is the matched route pattern (a
 * string of static storage, e.g. "/v1/businesses/{id}") or NULL for a
 * path no route knows; status 0 = the client went away unanswered.
 * Lock-free; safe from any thread. */
void metrics_http_observe(const char *route, const char *method, unsigned status, double seconds);

/* Appends proximity_http_requests_total and
 * proximity_http_request_duration_seconds for every route seen so far. */
void metrics_http_render(metrics_buf_t *b);

/* Requests started and not yet finished (the HTTP layer counts them). */
void metrics_http_in_flight_add(int delta);

#endif
