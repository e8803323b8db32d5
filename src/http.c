/* http.c — libmicrohttpd glue: accumulate bodies under a limit, route,
 * answer JSON, log one line per request. */
#include "http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "clock.h"
#include "compress.h"
#include "cors.h"
#include "metrics.h"
#include "http_deadline.h"
#include "xalloc.h"

struct http_server {
    struct MHD_Daemon *daemon;
    const http_route_t *routes;
    void *ctx;
    long max_body;
    int port;
    atomic_int in_flight;
    cors_t *cors;      /* browser-facing filters (see below) */
    long gzip_min;     /* smallest body worth gzip; 0 = never */
    http_deadline_t *deadline; /* request headers' deadline (issue 9) */
};

/* ---------------------------------------------------------------- helpers */

const char *http_header(const http_request_t *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *http_query(const http_request_t *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

typedef struct each_ctx {
    int (*fn)(void *, const char *, const char *);
    void *ctx;
} each_ctx_t;

static enum MHD_Result each_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    each_ctx_t *e = cls;
    (void)kind;
    return e->fn(e->ctx, key, value) == 0 ? MHD_YES : MHD_NO;
}

void http_query_each(const http_request_t *req, int (*fn)(void *ctx, const char *key, const char *value),
                     void *ctx)
{
    each_ctx_t e = {fn, ctx};
    MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, each_arg, &e);
}

void http_client_ip(const http_request_t *req, char *buf, size_t len)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    buf[0] = '\0';
    if (ci != NULL && ci->client_addr != NULL && ci->client_addr->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)ci->client_addr)->sin_addr, buf,
                  (socklen_t)len);
}

void http_add_header(http_request_t *req, const char *name, const char *value)
{
    int max = (int)(sizeof req->headers / sizeof req->headers[0]);
    if (req->nheaders >= max)
        return;
    req->headers[req->nheaders].name = xstrdup(name);
    req->headers[req->nheaders].value = xstrdup(value);
    req->nheaders++;
}

void http_add_vary(http_request_t *req, const char *token)
{
    for (int i = 0; i < req->nheaders; i++) {
        if (strcasecmp(req->headers[i].name, "Vary") != 0)
            continue;
        if (strcasestr(req->headers[i].value, token) != NULL)
            return;
        size_t n = strlen(req->headers[i].value) + strlen(token) + 3;
        char *v = xmalloc(n);
        snprintf(v, n, "%s, %s", req->headers[i].value, token);
        free(req->headers[i].value);
        req->headers[i].value = v;
        return;
    }
    http_add_header(req, "Vary", token);
}

static const char *response_header(const http_request_t *req, const char *name)
{
    for (int i = 0; i < req->nheaders; i++)
        if (strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

void http_respond_raw(http_request_t *req, unsigned status, const char *content_type,
                      const char *body, size_t len)
{
    free(req->resp_body);
    req->resp_body = xmalloc(len + 1);
    memcpy(req->resp_body, body, len);
    req->resp_body[len] = '\0';
    req->resp_len = len;
    req->status = status;
    req->content_type = content_type;
}

void http_respond_owned(http_request_t *req, unsigned status, const char *content_type, char *body,
                        size_t len)
{
    free(req->resp_body);
    req->resp_body = body;
    req->resp_len = len;
    req->status = status;
    req->content_type = content_type;
}

void http_respond_json(http_request_t *req, unsigned status, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(body);
    if (text == NULL) {
        http_respond_error(req, 500, "INTERNAL", NULL, "could not encode the response");
        return;
    }
    free(req->resp_body);
    req->resp_body = text;
    req->resp_len = strlen(text);
    req->status = status;
    req->content_type = "application/json";
}

void http_respond_error(http_request_t *req, unsigned status, const char *code,
                        const char *field, const char *fmt, ...)
{
    char desc[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(desc, sizeof desc, fmt, ap);
    va_end(ap);
    json_t *err = json_pack("{s:s, s:s}", "code", code, "description", desc);
    if (err == NULL) /* desc was not valid UTF-8 (it echoed input): say less */
        err = json_pack("{s:s, s:s}", "code", code, "description", "invalid request");
    if (field != NULL)
        json_object_set_new(err, "field", json_string(field));
    json_t *doc = json_pack("{s:o}", "error", err);
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    free(req->resp_body);
    req->resp_body = text;
    req->resp_len = strlen(text);
    req->status = status;
    req->content_type = "application/json";
}

/* Accepts a client's X-Request-Id when it is short and plain, so a
 * request can be followed across a proxy; otherwise makes one. */
static void set_request_id(http_request_t *req)
{
    const char *given = http_header(req, "X-Request-Id");
    if (given != NULL) {
        size_t n = strlen(given);
        bool ok = n > 0 && n < sizeof req->request_id;
        for (size_t i = 0; ok && i < n; i++) {
            char c = given[i];
            ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '_' || c == '.';
        }
        if (ok) {
            memcpy(req->request_id, given, n + 1);
            return;
        }
    }
    /* A per-thread generator seeded once from the kernel: a syscall per
     * request showed up in profiles. Ids need to be unique, not secret. */
    static __thread uint64_t state;
    if (state == 0 && (getrandom(&state, sizeof state, 0) != (ssize_t)sizeof state || state == 0))
        state = (uint64_t)(clock_monotonic() * 1e9) | 1;
    for (int half = 0; half < 2; half++) {
        uint64_t z = (state += 0x9e3779b97f4a7c15ULL); /* splitmix64 */
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        z ^= z >> 31;
        snprintf(req->request_id + 12 * half, 13, "%012llx", (unsigned long long)(z >> 16));
    }
}

/* Percent-decoding of the path and query arguments, as libmicrohttpd's
 * own except that "%00" stays as it is: every handler reads C strings, so
 * a decoded NUL would silently cut a value short ("/v1/businesses/1%00x"
 * read as id 1, "latitude=1%001" as 1). Left encoded, it is refused as
 * what it is: not a valid id or number. */
static int hex_digit(char c)
{
    /* '0'-'9' are 0x3_, 'A'-'F' 0x4_ and 'a'-'f' 0x6_: the low nibble, plus 9 for letters. */
    return isxdigit((unsigned char)c) ? (c & 15) + (c >> 6) * 9 : -1;
}

static size_t unescape_keep_nul(void *cls, struct MHD_Connection *conn, char *s)
{
    char *w = s;
    (void)cls;
    (void)conn;
    for (const char *r = s; *r;) {
        int hi = r[0] == '%' ? hex_digit(r[1]) : -1;
        int lo = hi >= 0 ? hex_digit(r[2]) : -1;
        if (lo >= 0 && (hi | lo) != 0) {
            *w++ = (char)(hi * 16 + lo);
            r += 3;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
    return (size_t)(w - s);
}

/* ---------------------------------------------------------------- routing */

/* Matches path against pattern; fills params. */
static bool route_match(const char *pattern, const char *path, const char **params,
                        char param_buf[HTTP_MAX_PARAMS][128])
{
    int np = 0;
    const char *p = pattern, *s = path;

    while (*p != '\0' && *s != '\0') {
        if (*p == '{') {
            const char *end = strchr(s, '/');
            size_t len = end ? (size_t)(end - s) : strlen(s);
            if (len == 0 || len >= 128 || np >= HTTP_MAX_PARAMS)
                return false;
            memcpy(param_buf[np], s, len);
            param_buf[np][len] = '\0';
            params[np] = param_buf[np];
            np++;
            s += len;
            p = strchr(p, '}');
            if (p == NULL)
                return false;
            p++;
        } else if (*p++ != *s++) {
            return false;
        }
    }
    return *p == '\0' && *s == '\0';
}

/* Routes and runs the handler, or answers 404/405 itself. */
static void dispatch(http_server_t *srv, http_request_t *req, char param_buf[][128])
{
    const char *method = strcmp(req->method, "HEAD") == 0 ? "GET" : req->method;
    char allow[128] = "";
    bool path_known = false;

    for (const http_route_t *r = srv->routes; r->method != NULL; r++) {
        const char *params[HTTP_MAX_PARAMS] = {NULL, NULL};
        if (!route_match(r->pattern, req->path, params, param_buf))
            continue;
        if (req->route == NULL)
            req->route = r->pattern;
        if (strcmp(r->method, method) == 0) {
            memcpy(req->params, params, sizeof params);
            r->fn(req, srv->ctx);
            return;
        }
        path_known = true;
        if (strstr(allow, r->method) == NULL && strlen(allow) + strlen(r->method) + 8 < sizeof allow) {
            if (allow[0] != '\0')
                strcat(allow, ", ");
            strcat(allow, r->method);
            if (strcmp(r->method, "GET") == 0)
                strcat(allow, ", HEAD");
        }
    }
    if (path_known && strlen(allow) + 10 < sizeof allow)
        strcat(allow, ", OPTIONS");
    if (path_known && strcmp(req->method, "OPTIONS") == 0) {
        /* Any known path answers OPTIONS (a CORS preflight among them:
         * http_filters adds the Access-Control-* headers). */
        http_add_header(req, "Allow", allow);
        http_respond_raw(req, 204, NULL, "", 0);
    } else if (path_known) {
        http_add_header(req, "Allow", allow);
        http_respond_error(req, 405, "METHOD_NOT_ALLOWED", NULL, "%s is not allowed here; allowed: %s",
                           req->method, allow);
    } else {
        http_respond_error(req, 404, "NOT_FOUND", NULL, "no such resource");
    }
}

/* ------------------------------------------------ browser-facing filters */

/* What every response gets on its way out, whichever handler made it:
 * CORS headers, a default Cache-Control, gzip when it pays. Kept apart
 * from the handlers so that each of them stays about its resource. */

static void add_cors_header(void *ctx, const char *name, const char *value)
{
    http_request_t *req = ctx;
    if (strcmp(name, "Vary") == 0)
        http_add_vary(req, value);
    else
        http_add_header(req, name, value);
}

/* Gzips the body when the type is worth it, the body large enough, the
 * client accepts gzip and the result is smaller. A response with a strong
 * ETag (a business, whose ETag If-Match compares strongly) stays identity:
 * a strong validator names one representation, and those bodies are small. */
static void compress_response(const http_server_t *srv, http_request_t *req)
{
    const char *etag = response_header(req, "ETag");
    if (srv->gzip_min <= 0 || req->status < 200 || req->status == 204 || req->status == 304 ||
        req->resp_len < (size_t)srv->gzip_min || !compress_type_worth_it(req->content_type) ||
        (etag != NULL && strncmp(etag, "W/", 2) != 0) || response_header(req, "Content-Encoding"))
        return;
    http_add_vary(req, "Accept-Encoding");
    if (!compress_accepts_gzip(http_header(req, "Accept-Encoding")))
        return;
    size_t n;
    char *gz = compress_gzip_new(req->resp_body, req->resp_len, 1, &n);
    if (gz == NULL || n >= req->resp_len) {
        free(gz);
        return;
    }
    free(req->resp_body);
    req->resp_body = gz;
    req->resp_len = n;
    http_add_header(req, "Content-Encoding", "gzip");
}

static void http_filters(const http_server_t *srv, http_request_t *req)
{
    cors_headers(srv->cors, http_header(req, "Origin"), req->method,
                 http_header(req, "Access-Control-Request-Method"), add_cors_header, req);
    /* Only what a handler marked cacheable may be stored (searches,
     * business reads, static files); errors and writes never. */
    if (req->status != 304 && response_header(req, "Cache-Control") == NULL)
        http_add_header(req, "Cache-Control", "no-store");
    compress_response(srv, req);
}

/* ------------------------------------------------------------ MHD glue */

static enum MHD_Result send_response(http_server_t *srv, http_request_t *req)
{
    http_filters(srv, req);
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        req->resp_len, req->resp_body, MHD_RESPMEM_MUST_FREE);
    req->resp_body = NULL; /* MHD owns it now */
    if (resp == NULL)
        return MHD_NO;
    if (req->content_type != NULL)
        MHD_add_response_header(resp, "Content-Type", req->content_type);
    MHD_add_response_header(resp, "X-Request-Id", req->request_id);
    for (int i = 0; i < req->nheaders; i++)
        MHD_add_response_header(resp, req->headers[i].name, req->headers[i].value);
    enum MHD_Result ret = MHD_queue_response(req->conn, req->status, resp);
    MHD_destroy_response(resp);
    req->answered = true;
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    http_server_t *srv = cls;
    http_request_t *req = *con_cls;
    (void)version;

    if (req == NULL) {
        req = xcalloc(1, sizeof *req);
        req->conn = conn;
        req->method = method;
        req->path = url;
        req->started = clock_monotonic();
        set_request_id(req);
        *con_cls = req;
        atomic_fetch_add(&srv->in_flight, 1);
        metrics_http_in_flight_add(1);
        http_deadline_request_started(srv->deadline, conn);
        /* Refuse an announced oversized body before reading any of it. */
        const char *cl = http_header(req, "Content-Length");
        if (cl != NULL && strtoull(cl, NULL, 10) > (unsigned long long)srv->max_body) {
            req->too_large = true;
            http_respond_error(req, 413, "PAYLOAD_TOO_LARGE", NULL,
                               "request body is larger than %ld bytes", srv->max_body);
            return send_response(srv, req);
        }
        return MHD_YES;
    }
    if (req->answered) { /* answered early: drop whatever still arrives */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (req->too_large || req->body_len + n > (size_t)srv->max_body) {
            /* Read on and discard (closing with unread data would reset the
             * connection and lose our answer), but not forever. */
            req->too_large = true;
            req->discarded += n;
            if (req->discarded > 16 * (size_t)srv->max_body) {
                http_respond_error(req, 413, "PAYLOAD_TOO_LARGE", NULL,
                                   "request body is larger than %ld bytes", srv->max_body);
                return send_response(srv, req);
            }
            return MHD_YES;
        }
        if (req->body_len + n + 1 > req->body_cap) {
            req->body_cap = (req->body_len + n + 1) * 2;
            req->body = xrealloc(req->body, req->body_cap);
        }
        memcpy(req->body + req->body_len, upload_data, n);
        req->body_len += n;
        req->body[req->body_len] = '\0';
        return MHD_YES;
    }
    char param_buf[HTTP_MAX_PARAMS][128];
    if (req->too_large)
        http_respond_error(req, 413, "PAYLOAD_TOO_LARGE", NULL,
                           "request body is larger than %ld bytes", srv->max_body);
    else
        dispatch(srv, req, param_buf);
    if (req->resp_body == NULL)
        http_respond_error(req, 500, "INTERNAL", NULL, "handler produced no response");
    return send_response(srv, req);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    http_server_t *srv = cls;
    http_request_t *req = *con_cls;
    (void)conn;

    if (req == NULL)
        return;
    /* metrics: one observation per request, answered or not */
    metrics_http_observe(req->route, req->method, req->answered ? req->status : 0,
                         clock_monotonic() - req->started);
    metrics_http_in_flight_add(-1);
    if (LOG_INFO >= log_threshold) {
        char path[256];
        log_write(req->answered ? LOG_INFO : LOG_WARN, "request",
                  "\"request_id\":\"%s\",\"method\":\"%s\",\"path\":\"%s\",\"status\":%u,"
                  "\"duration_ms\":%.3f,\"completed\":%s",
                  req->request_id, req->method, log_esc(path, sizeof path, req->path),
                  req->answered ? req->status : 0, (clock_monotonic() - req->started) * 1e3,
                  toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "true" : "false");
    }
    for (int i = 0; i < req->nheaders; i++) {
        free(req->headers[i].name);
        free(req->headers[i].value);
    }
    free(req->resp_body);
    free(req->body);
    free(req);
    *con_cls = NULL;
    atomic_fetch_sub(&srv->in_flight, 1);
    http_deadline_request_done(srv->deadline, conn);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512], esc[600];
    (void)cls;
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && msg[n - 1] == '\n')
        msg[--n] = '\0';
    LOG_WARN("libmicrohttpd", "\"detail\":\"%s\"", log_esc(esc, sizeof esc, msg));
}

http_server_t *http_server_start(const config_t *cfg, const http_route_t *routes, void *ctx,
                                 char *err, size_t errlen)
{
    http_server_t *srv = xcalloc(1, sizeof *srv);
    struct sockaddr_in addr;

    srv->routes = routes;
    srv->ctx = ctx;
    srv->max_body = cfg->max_body;
    srv->gzip_min = cfg->gzip_min_bytes;
    srv->cors = cors_new(cfg->cors_origins, cfg->cors_credentials != 0, cfg->cors_max_age_s, err, errlen);
    if (srv->cors == NULL) {
        free(srv);
        return NULL;
    }
    srv->deadline = http_deadline_new(cfg->header_timeout_s, cfg->connection_timeout_s);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)cfg->port);
    if (inet_pton(AF_INET, cfg->bind, &addr.sin_addr) != 1) {
        snprintf(err, errlen, "bind address \"%s\" is not an IPv4 address", cfg->bind);
        cors_free(srv->cors);
        http_deadline_free(srv->deadline);
        free(srv);
        return NULL;
    }
    /* epoll + a pool of worker threads, each with its own listen queue;
     * ITC so that quiesce (stop accepting) works during drain. */
    srv->daemon = MHD_start_daemon(
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG | MHD_USE_TURBO,
        0, NULL, NULL, on_request, srv,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, /* first, to catch all */
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)cfg->threads,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)cfg->connection_limit,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)cfg->connection_timeout_s,
        /* slow-client defence (issue 9): a cap per peer address */
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)cfg->connection_limit_per_ip,
        MHD_OPTION_UNESCAPE_CALLBACK, unescape_keep_nul, NULL,
        MHD_OPTION_NOTIFY_CONNECTION, http_deadline_notify, srv->deadline,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int)1,
        MHD_OPTION_END);
    if (srv->daemon == NULL) {
        snprintf(err, errlen, "cannot listen on %s:%d", cfg->bind, cfg->port);
        cors_free(srv->cors);
        http_deadline_free(srv->deadline);
        free(srv);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = info ? info->port : cfg->port;
    return srv;
}

int http_server_port(const http_server_t *srv)
{
    return srv->port;
}

void http_server_drain_and_stop(http_server_t *srv, int timeout_s)
{
    MHD_socket fd = MHD_quiesce_daemon(srv->daemon);
    double deadline = clock_monotonic() + timeout_s;

    while (atomic_load(&srv->in_flight) > 0 && clock_monotonic() < deadline)
        usleep(10000);
    int left = atomic_load(&srv->in_flight);
    LOG_INFO("drained", "\"in_flight_left\":%d", left);
    http_deadline_stop(srv->deadline);
    MHD_stop_daemon(srv->daemon);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    cors_free(srv->cors);
    http_deadline_free(srv->deadline);
    free(srv);
}
