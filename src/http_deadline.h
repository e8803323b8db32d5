/* http_deadline.h — a deadline for a request's headers (slowloris): a
 * client that trickles its request line and headers a byte at a time
 * never trips libmicrohttpd's idle timeout, so a watchdog cuts any
 * connection whose headers are not complete in time. */
#ifndef PROXIMITY_HTTP_DEADLINE_H
#define PROXIMITY_HTTP_DEADLINE_H

#include <microhttpd.h>

typedef struct http_deadline http_deadline_t;

/* header_s seconds from a connection's start (0 = no deadline; then all
 * calls below do nothing) for the first request's headers; a kept-alive
 * connection then gets idle_s + header_s for its next one. Starts the
 * watchdog thread. */
http_deadline_t *http_deadline_new(int header_s, int idle_s);

/* Stops the watchdog; call before MHD_stop_daemon, free after it. */
void http_deadline_stop(http_deadline_t *d);
void http_deadline_free(http_deadline_t *d);

/* For MHD_OPTION_NOTIFY_CONNECTION (cls = the deadline). */
void http_deadline_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code);

/* A request's headers are complete / its response is done. */
void http_deadline_request_started(http_deadline_t *d, struct MHD_Connection *conn);
void http_deadline_request_done(http_deadline_t *d, struct MHD_Connection *conn);

/* Connections cut so far. */
unsigned long http_deadline_cut(const http_deadline_t *d);

#endif
