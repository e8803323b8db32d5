/* http.h — the HTTP server: libmicrohttpd, routing, limits, JSON responses. */
#ifndef PROXIMITY_HTTP_H
#define PROXIMITY_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"

typedef struct http_server http_server_t;
typedef struct http_request http_request_t;

#define HTTP_MAX_PARAMS 2

/* What a handler sees of a request, and the response it builds. */
struct http_request {
    struct MHD_Connection *conn;
    const char *method;             /* "GET", "POST", …; HEAD is routed as GET; OPTIONS answered by http.c */
    const char *path;
    const char *params[HTTP_MAX_PARAMS]; /* {name} segments of the route pattern */
    char *body;                     /* request body, NUL-terminated, may be NULL */
    size_t body_len;
    char request_id[65];
    double started;                 /* monotonic seconds */

    /* response */
    unsigned status;
    char *resp_body;                /* owned */
    size_t resp_len;
    const char *content_type;
    struct { char *name, *value; } headers[24];
    int nheaders;

    /* private to http.c */
    const char *route;              /* the matched route's pattern, for metrics */
    size_t body_cap;
    size_t discarded;
    bool too_large;
    bool answered;
};

typedef void (*http_handler_fn)(http_request_t *req, void *ctx);

/* A route: method + pattern ("/v1/businesses/{id}"; a {name} segment
 * matches any one non-empty segment and lands in params[]). */
typedef struct http_route {
    const char *method;
    const char *pattern;
    http_handler_fn fn;
} http_route_t;

/* Starts listening per cfg; routes (terminated by a NULL method) and ctx
 * must outlive the server. Returns NULL with a message in err. */
http_server_t *http_server_start(const config_t *cfg, const http_route_t *routes, void *ctx,
                                 char *err, size_t errlen);

/* The port actually bound (useful with port 0). */
int http_server_port(const http_server_t *srv);

/* Stops accepting, waits up to timeout_s for in-flight requests, stops
 * and frees the server. */
void http_server_drain_and_stop(http_server_t *srv, int timeout_s);

/* Request headers and query arguments (NULL when absent). */
const char *http_header(const http_request_t *req, const char *name);
const char *http_query(const http_request_t *req, const char *name);

/* Calls fn(ctx, key, value) for each query argument in order (value may
 * be NULL for "?flag"); stops early when fn returns nonzero. */
void http_query_each(const http_request_t *req, int (*fn)(void *ctx, const char *key, const char *value),
                     void *ctx);

/* The peer's IPv4 address as a dotted quad into buf (16 bytes); "" when
 * it is not IPv4. */
void http_client_ip(const http_request_t *req, char *buf, size_t len);

/* Adds a response header; both strings are copied. */
void http_add_header(http_request_t *req, const char *name, const char *value);

/* Adds token (e.g. "Origin") to the response's Vary header, once. */
void http_add_vary(http_request_t *req, const char *token);

/* Sets the response: a JSON document (reference stolen), or raw bytes
 * (copied). A later call replaces an earlier one. */
void http_respond_json(http_request_t *req, unsigned status, json_t *body);
void http_respond_raw(http_request_t *req, unsigned status, const char *content_type,
                      const char *body, size_t len);

/* Like http_respond_raw, but takes ownership of body (malloc'd). */
void http_respond_owned(http_request_t *req, unsigned status, const char *content_type, char *body,
                        size_t len);

/* The error body of DESIGN §3: {"error":{"code","description","field"?}}. */
void http_respond_error(http_request_t *req, unsigned status, const char *code,
                        const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#endif
