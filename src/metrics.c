/* metrics.c — HTTP request metrics in a small lock-free registry, and the
 * Prometheus text exposition (format 0.0.4) writer every /metrics uses. */
#include "metrics.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

/* ---------------------------------------------------------------- writer */

static void buf_reserve(metrics_buf_t *b, size_t more)
{
    if (b->n + more + 1 <= b->cap)
        return;
    b->cap = (b->n + more + 1) * 2;
    b->p = xrealloc(b->p, b->cap);
}

void metrics_printf(metrics_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (k <= 0)
        return;
    buf_reserve(b, (size_t)k);
    va_start(ap, fmt);
    vsnprintf(b->p + b->n, (size_t)k + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)k;
}

void metrics_emit(metrics_buf_t *b, const char *name, const char *type, const char *help,
                  const char *labels, double value)
{
    if (help != NULL)
        metrics_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
    /* %.17g round-trips a double; Prometheus reads integers as floats. */
    metrics_printf(b, "%s%s %.17g\n", name, labels ? labels : "", value);
}

/* -------------------------------------------------------------- registry */

/* One series set per (route, method): a slot is claimed once by CAS on its
 * route pointer and never freed; the routes are a fixed table, so a few
 * dozen slots are plenty (a full registry counts into the overflow slot). */
#define MAX_SLOTS 64
#define NBUCKETS 16

static const double bucket_le[NBUCKETS] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                           0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,     10};

/* The statuses the service answers with; anything else counts as "other". */
static const unsigned known_status[] = {0,   200, 201, 204, 304, 400, 401, 403, 404, 405,
                                        409, 412, 413, 415, 429, 500, 503, 504};
#define NSTATUS (sizeof known_status / sizeof known_status[0])

static const char *const methods[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER"};
#define NMETHODS (sizeof methods / sizeof methods[0])

typedef struct slot {
    _Atomic(const char *) route;
    atomic_int method;       /* index into methods; set before route is published */
    atomic_ullong by_status[NSTATUS + 1];
    atomic_ullong buckets[NBUCKETS + 1]; /* the last one: above 10 s */
    atomic_ullong sum_us;
} slot_t;

static slot_t slots[MAX_SLOTS];
static atomic_int in_flight;

static const char *const unmatched = "unmatched";
static const char *const overflow = "other";

static int method_index(const char *m)
{
    for (size_t i = 0; i + 1 < NMETHODS; i++)
        if (m != NULL && strcmp(m, methods[i]) == 0)
            return (int)i;
    return (int)NMETHODS - 1;
}

/* Route strings are compared by address: they come from static tables. */
static slot_t *slot_for(const char *route, int method)
{
    for (int i = 0; i < MAX_SLOTS - 1; i++) {
        slot_t *s = &slots[i];
        const char *r = atomic_load_explicit(&s->route, memory_order_acquire);
        if (r == NULL) {
            /* Claim it: a sentinel first, so method is set before anyone
             * can match the slot. */
            static const char claiming[] = "";
            const char *expected = NULL;
            if (atomic_compare_exchange_strong(&s->route, &expected, claiming)) {
                atomic_store(&s->method, method);
                atomic_store_explicit(&s->route, route, memory_order_release);
                return s;
            }
            r = expected;
        }
        while (r != NULL && r[0] == '\0' && r != route) /* another thread is claiming it */
            r = atomic_load_explicit(&s->route, memory_order_acquire);
        if (r == route && atomic_load(&s->method) == method)
            return s;
    }
    slot_t *s = &slots[MAX_SLOTS - 1];
    const char *expected = NULL;
    atomic_compare_exchange_strong(&s->route, &expected, overflow);
    return s;
}

void metrics_http_observe(const char *route, const char *method, unsigned status, double seconds)
{
    slot_t *s = slot_for(route != NULL ? route : unmatched, method_index(method));
    size_t si = NSTATUS;
    for (size_t i = 0; i < NSTATUS; i++)
        if (known_status[i] == status) {
            si = i;
            break;
        }
    int b = 0;
    while (b < NBUCKETS && seconds > bucket_le[b])
        b++;
    atomic_fetch_add_explicit(&s->by_status[si], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->buckets[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->sum_us, (unsigned long long)(seconds > 0 ? seconds * 1e6 : 0),
                              memory_order_relaxed);
}

void metrics_http_in_flight_add(int delta)
{
    atomic_fetch_add_explicit(&in_flight, delta, memory_order_relaxed);
}

/* A label value: route patterns hold no quotes or backslashes, but the
 * format requires escaping, so escape. */
static void label_value(char *out, size_t len, const char *v)
{
    size_t k = 0;
    for (; *v != '\0' && k + 3 < len; v++) {
        if (*v == '"' || *v == '\\')
            out[k++] = '\\';
        out[k++] = *v == '\n' ? ' ' : *v;
    }
    out[k] = '\0';
}

/* Slot i's route (escaped) and method, or false while it is unclaimed. */
static bool slot_labels(int i, char *route, size_t len, const char **method)
{
    const char *r = atomic_load_explicit(&slots[i].route, memory_order_acquire);
    if (r == NULL || r[0] == '\0')
        return false;
    label_value(route, len, r);
    *method = methods[atomic_load(&slots[i].method)];
    return true;
}

void metrics_http_render(metrics_buf_t *b)
{
    char labels[400], route[200];
    bool first = true;

    metrics_emit(b, "proximity_http_requests_in_flight", "gauge", "HTTP requests being served.", NULL,
                 (double)atomic_load(&in_flight));
    const char *m;
    for (int i = 0; i < MAX_SLOTS; i++) {
        if (!slot_labels(i, route, sizeof route, &m))
            continue;
        for (size_t s = 0; s <= NSTATUS; s++) {
            unsigned long long v = atomic_load_explicit(&slots[i].by_status[s], memory_order_relaxed);
            if (v == 0)
                continue;
            char code[16];
            if (s == NSTATUS)
                snprintf(code, sizeof code, "other");
            else
                snprintf(code, sizeof code, "%u", known_status[s]);
            snprintf(labels, sizeof labels, "{route=\"%s\",method=\"%s\",status=\"%s\"}", route, m, code);
            metrics_emit(b, "proximity_http_requests_total", "counter",
                         first ? "HTTP requests answered, by route pattern, method and status (0 = client gone)."
                               : NULL,
                         labels, (double)v);
            first = false;
        }
    }
    first = true;
    for (int i = 0; i < MAX_SLOTS; i++) {
        if (!slot_labels(i, route, sizeof route, &m))
            continue;
        if (first)
            metrics_printf(b, "# HELP proximity_http_request_duration_seconds Time from the request line to "
                              "the response queued, by route pattern and method.\n"
                              "# TYPE proximity_http_request_duration_seconds histogram\n");
        first = false;
        /* _count is the +Inf bucket, so the two always agree. */
        unsigned long long cum = 0;
        for (int k = 0; k < NBUCKETS; k++) {
            cum += atomic_load_explicit(&slots[i].buckets[k], memory_order_relaxed);
            metrics_printf(b, "proximity_http_request_duration_seconds_bucket{route=\"%s\",method=\"%s\",le=\"%g\"} %llu\n",
                           route, m, bucket_le[k], cum);
        }
        cum += atomic_load_explicit(&slots[i].buckets[NBUCKETS], memory_order_relaxed);
        metrics_printf(b, "proximity_http_request_duration_seconds_bucket{route=\"%s\",method=\"%s\",le=\"+Inf\"} %llu\n",
                       route, m, cum);
        metrics_printf(b, "proximity_http_request_duration_seconds_sum{route=\"%s\",method=\"%s\"} %.6f\n", route, m,
                       (double)atomic_load_explicit(&slots[i].sum_us, memory_order_relaxed) / 1e6);
        metrics_printf(b, "proximity_http_request_duration_seconds_count{route=\"%s\",method=\"%s\"} %llu\n", route,
                       m, cum);
    }
}
