/* http_deadline.c — the header deadline: every connection is on a list
 * (under one lock) from libmicrohttpd's STARTED notification to CLOSED;
 * a watchdog thread shuts down the socket of any that is not inside a
 * request when its deadline passes. shutdown(), not close(): the
 * descriptor stays libmicrohttpd's, which sees end-of-stream and cleans up
 * as for any client that went away. The CLOSED notification comes before
 * libmicrohttpd closes the descriptor and takes the same lock, so the
 * watchdog never shuts down a descriptor that was reused. */
#include "http_deadline.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "xalloc.h"

typedef struct watched {
    struct watched *prev, *next;
    MHD_socket fd;
    /* Monotonic seconds; INFINITY inside a request. Atomic, so the
     * request path (the connection's own thread) sets it without the lock. */
    _Atomic double deadline;
} watched_t;

struct http_deadline {
    int header_s, idle_s;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    watched_t head; /* circular list sentinel */
    bool stopping, running;
    pthread_t thread;
    atomic_ulong cut;
};

static void *watchdog(void *arg)
{
    http_deadline_t *d = arg;
    /* Four rounds a second: a connection is cut at most 0.25 s late. */
    const double period = 0.25;
    pthread_mutex_lock(&d->lock);
    while (!d->stopping) {
        double now = clock_monotonic();
        for (watched_t *w = d->head.next; w != &d->head; w = w->next) {
            if (atomic_load(&w->deadline) <= now) {
                shutdown(w->fd, SHUT_RDWR);
                atomic_store(&w->deadline, INFINITY); /* once */
                atomic_fetch_add(&d->cut, 1);
                LOG_INFO("connection cut", "\"reason\":\"request headers not complete within %d s\"", d->header_s);
            }
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        double t = ts.tv_sec + ts.tv_nsec * 1e-9 + period;
        ts.tv_sec = (time_t)t;
        ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
        pthread_cond_timedwait(&d->wake, &d->lock, &ts);
    }
    pthread_mutex_unlock(&d->lock);
    return NULL;
}

http_deadline_t *http_deadline_new(int header_s, int idle_s)
{
    http_deadline_t *d = xcalloc(1, sizeof *d);
    d->header_s = header_s;
    d->idle_s = idle_s;
    d->head.next = d->head.prev = &d->head;
    pthread_mutex_init(&d->lock, NULL);
    pthread_cond_init(&d->wake, NULL);
    if (header_s > 0)
        d->running = pthread_create(&d->thread, NULL, watchdog, d) == 0;
    return d;
}

void http_deadline_stop(http_deadline_t *d)
{
    if (!d->running)
        return;
    pthread_mutex_lock(&d->lock);
    d->stopping = true;
    pthread_cond_signal(&d->wake);
    pthread_mutex_unlock(&d->lock);
    pthread_join(d->thread, NULL);
    d->running = false;
}

void http_deadline_free(http_deadline_t *d)
{
    http_deadline_stop(d);
    /* Connections still listed (none after MHD_stop_daemon) are freed. */
    while (d->head.next != &d->head) {
        watched_t *w = d->head.next;
        d->head.next = w->next;
        free(w);
    }
    pthread_mutex_destroy(&d->lock);
    pthread_cond_destroy(&d->wake);
    free(d);
}

void http_deadline_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    http_deadline_t *d = cls;
    if (d == NULL || d->header_s <= 0)
        return;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (ci == NULL)
            return;
        watched_t *w = xcalloc(1, sizeof *w);
        w->fd = ci->connect_fd;
        atomic_init(&w->deadline, clock_monotonic() + d->header_s);
        pthread_mutex_lock(&d->lock);
        w->next = d->head.next;
        w->prev = &d->head;
        d->head.next->prev = w;
        d->head.next = w;
        pthread_mutex_unlock(&d->lock);
        *socket_context = w;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context != NULL) {
        watched_t *w = *socket_context;
        pthread_mutex_lock(&d->lock);
        w->prev->next = w->next;
        w->next->prev = w->prev;
        pthread_mutex_unlock(&d->lock);
        free(w);
        *socket_context = NULL;
    }
}

static void set_deadline(http_deadline_t *d, struct MHD_Connection *conn, double deadline)
{
    if (d == NULL || d->header_s <= 0)
        return;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    if (ci == NULL || ci->socket_context == NULL)
        return;
    /* Listed until CLOSED, which cannot come while its thread is here. */
    watched_t *w = ci->socket_context;
    atomic_store(&w->deadline, deadline);
}

void http_deadline_request_started(http_deadline_t *d, struct MHD_Connection *conn)
{
    set_deadline(d, conn, INFINITY);
}

void http_deadline_request_done(http_deadline_t *d, struct MHD_Connection *conn)
{
    /* Idle keep-alive is the connection timeout's business; the next
     * request's headers get the deadline after it. */
    if (d != NULL)
        set_deadline(d, conn, clock_monotonic() + d->idle_s + d->header_s);
}

unsigned long http_deadline_cut(const http_deadline_t *d)
{
    return atomic_load(&d->cut);
}
