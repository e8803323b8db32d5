/* testutil.c — integration-test support. */
#include "testutil.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

const char *tu_srcpath(const char *rel, char *buf, size_t len)
{
    const char *top = getenv("top_srcdir");
    snprintf(buf, len, "%s/%s", top ? top : PROXIMITY_SRCDIR, rel);
    return buf;
}

int tu_server_start(tu_server_t *srv, const char *const *extra_args)
{
    const char *builddir = getenv("top_builddir");
    char bin[512], portfile[512], logfile[512];

    memset(srv, 0, sizeof *srv);
    snprintf(srv->dir, sizeof srv->dir, "/tmp/proximity-test-XXXXXX");
    if (mkdtemp(srv->dir) == NULL)
        return -1;
    snprintf(bin, sizeof bin, "%s/src/proximityd", builddir ? builddir : ".");
    snprintf(portfile, sizeof portfile, "%s/port", srv->dir);
    snprintf(logfile, sizeof logfile, "%s/proximityd.log", srv->dir);

    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        char portarg[600];
        const char *argv[32];
        int n = 0;
        /* Never outlive the test that started us. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        snprintf(portarg, sizeof portarg, "--port-file=%s", portfile);
        argv[n++] = bin;
        argv[n++] = "--port=0";
        argv[n++] = "--bind=127.0.0.1";
        argv[n++] = portarg;
        for (int i = 0; extra_args && extra_args[i] && n < 30; i++)
            argv[n++] = extra_args[i];
        argv[n] = NULL;
        if (freopen(logfile, "w", stdout) == NULL || dup2(fileno(stdout), 2) < 0)
            _exit(127);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    srv->pid = pid;
    for (int i = 0; i < 500; i++) { /* up to 10 s */
        FILE *f = fopen(portfile, "r");
        if (f != NULL) {
            int ok = fscanf(f, "%d", &srv->port);
            fclose(f);
            if (ok == 1 && srv->port > 0) {
                tu_response_t r;
                if (tu_http(srv, "GET", "/healthz", NULL, NULL, 0, &r) == 0 && r.status == 200) {
                    tu_response_free(&r);
                    return 0;
                }
                tu_response_free(&r);
            }
        }
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            fprintf(stderr, "proximityd exited early; see %s\n", logfile);
            srv->pid = 0;
            return -1;
        }
        sleep_ms(20);
    }
    return -1;
}

int tu_server_stop(tu_server_t *srv)
{
    int st = -1;
    if (srv->pid <= 0)
        return -1;
    kill(srv->pid, SIGTERM);
    for (int i = 0; i < 1000; i++) { /* up to 20 s */
        if (waitpid(srv->pid, &st, WNOHANG) == srv->pid) {
            srv->pid = 0;
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        sleep_ms(20);
    }
    kill(srv->pid, SIGKILL);
    waitpid(srv->pid, &st, 0);
    srv->pid = 0;
    return -1;
}

typedef struct buf {
    char *p;
    size_t n;
} buf_t;

static size_t collect(char *data, size_t size, size_t nmemb, void *userdata)
{
    buf_t *b = userdata;
    size_t n = size * nmemb;
    b->p = realloc(b->p, b->n + n + 1);
    memcpy(b->p + b->n, data, n);
    b->n += n;
    b->p[b->n] = '\0';
    return n;
}


/* ------------------------------------------------ exchange recording */

/* With PROXIMITY_TEST_EXCHANGES set (tests/with-pg sets it per test
 * program), every exchange is appended to that file as one JSON line, for
 * tests/contract.sh to validate against api/openapi.yaml. Bodies are
 * base64 (they may be gzip). One write(2) per line on an O_APPEND file, so
 * forked test cases interleave whole lines. */
static char *base64_new(const char *in, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)(unsigned char)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)(unsigned char)in[i + 1] << 8;
        if (i + 2 < n)
            v |= (unsigned char)in[i + 2];
        *o++ = tab[(v >> 18) & 63];
        *o++ = tab[(v >> 12) & 63];
        *o++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        *o++ = i + 2 < n ? tab[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

/* "Name: value" → ["Name","value"] appended to list. */
static void header_pair(json_t *list, const char *line, size_t len)
{
    const char *colon = memchr(line, ':', len);
    if (colon == NULL)
        return;
    const char *v = colon + 1;
    while (v < line + len && (*v == ' ' || *v == '\t'))
        v++;
    size_t vlen = (size_t)(line + len - v);
    while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\r' || v[vlen - 1] == '\n'))
        vlen--;
    json_array_append_new(list, json_pack("[s#,s#]", line, (int)(colon - line), v, (int)vlen));
}

static void record_exchange(const char *method, const char *path, const char *const *headers,
                            const char *body, size_t body_len, const tu_response_t *r)
{
    const char *file = getenv("PROXIMITY_TEST_EXCHANGES");
    if (file == NULL || file[0] == '\0' || r->status == 0)
        return;
    /* A soak repeats itself: the first 20000 exchanges of a process show
     * all it does (a 300 s run made 600 MB, more than the checker reads). */
    static atomic_int recorded;
    if (atomic_fetch_add(&recorded, 1) >= 20000)
        return;
    json_t *req_h = json_array(), *resp_h = json_array();
    for (int i = 0; headers && headers[i]; i++) {
        /* libcurl does not send "Name:" or "Name: " (a value of blanks only
         * removes the header), so neither is part of the exchange. */
        const char *colon = strchr(headers[i], ':');
        if (colon != NULL && colon[1 + strspn(colon + 1, " \t")] == '\0')
            continue;
        header_pair(req_h, headers[i], strlen(headers[i]));
    }
    /* The last header block is the final response (after any 100). */
    const char *block = r->headers, *p;
    while ((p = strstr(block, "\r\n\r\n")) != NULL && p[4] != '\0')
        block = p + 4;
    for (p = block; *p;) {
        const char *eol = strstr(p, "\r\n");
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (p != block) /* the first line is the status line */
            header_pair(resp_h, p, len);
        p = eol ? eol + 2 : p + len;
    }
    char *req_b64 = body ? base64_new(body, body_len) : NULL;
    char *resp_b64 = base64_new(r->body, r->body_len);
    json_t *ex = json_pack("{s:s, s:s, s:o, s:s?, s:i, s:o, s:s}", "method", method, "path", path,
                           "request_headers", req_h, "request_body_b64", req_b64, "status",
                           (int)r->status, "response_headers", resp_h, "response_body_b64", resp_b64);
    char *line = ex ? json_dumps(ex, JSON_COMPACT) : NULL;
    if (line != NULL) {
        size_t n = strlen(line);
        line[n] = '\n'; /* replaces the NUL; written with its length */
        int fd = open(file, O_WRONLY | O_APPEND | O_CREAT, 0644);
        if (fd >= 0) {
            if (write(fd, line, n + 1) != (ssize_t)(n + 1))
                fprintf(stderr, "testutil: short write to %s\n", file);
            close(fd);
        }
    }
    free(line);
    json_decref(ex);
    free(req_b64);
    free(resp_b64);
}

int tu_http(const tu_server_t *srv, const char *method, const char *path,
            const char *const *headers, const char *body, size_t body_len, tu_response_t *out)
{
    char url[1024];
    buf_t b = {NULL, 0}, h = {NULL, 0};
    struct curl_slist *hl = NULL;

    memset(out, 0, sizeof *out);
    CURL *c = curl_easy_init();
    if (c == NULL)
        return -1;
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", srv->port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    hl = curl_slist_append(hl, "Expect:");
    for (int i = 0; headers && headers[i]; i++)
        hl = curl_slist_append(hl, headers[i]);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)body_len);
    }
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    out->body = b.p ? b.p : strdup("");
    out->body_len = b.n;
    out->headers = h.p ? h.p : strdup("");
    out->json = out->body_len ? json_loadb(out->body, out->body_len, 0, NULL) : NULL;
    if (rc == CURLE_OK)
        record_exchange(method, path, headers, body, body_len, out);
    return rc == CURLE_OK ? 0 : -1;
}

const char *tu_header(const tu_response_t *r, const char *name)
{
    static __thread char value[1024];
    size_t nlen = strlen(name);
    const char *p = r->headers;

    while (p && *p) {
        const char *eol = strstr(p, "\r\n");
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len > nlen && strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
            const char *v = p + nlen + 1;
            while (*v == ' ')
                v++;
            size_t vlen = len - (size_t)(v - p);
            if (vlen >= sizeof value)
                vlen = sizeof value - 1;
            memcpy(value, v, vlen);
            value[vlen] = '\0';
            return value;
        }
        p = eol ? eol + 2 : NULL;
    }
    return NULL;
}

void tu_response_free(tu_response_t *r)
{
    free(r->body);
    free(r->headers);
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

bool tu_wait_ready(const tu_server_t *srv, int seconds)
{
    for (int i = 0; i < seconds * 10; i++) {
        tu_response_t r;
        tu_http(srv, "GET", "/readyz", NULL, NULL, 0, &r);
        long st = r.status;
        tu_response_free(&r);
        if (st == 200)
            return true;
        usleep(100000);
    }
    return false;
}

bool tu_json_subset(const json_t *expect, const json_t *actual)
{
    if (json_is_object(expect)) {
        const char *key;
        json_t *v;
        if (!json_is_object(actual))
            return false;
        json_object_foreach((json_t *)expect, key, v)
            if (!tu_json_subset(v, json_object_get(actual, key)))
                return false;
        return true;
    }
    return actual != NULL && json_equal(expect, actual);
}

int tu_pgcluster(const char *args)
{
    char script[512], cmd[2048];
    const char *dir = getenv("PROXIMITY_TEST_PGDIR");
    if (dir == NULL)
        return -1;
    snprintf(cmd, sizeof cmd, "bash %s %s >/dev/null 2>&1", tu_srcpath("tests/pgcluster.sh", script, sizeof script), args);
    /* args carry {dir}: substitute the cluster directory. */
    char full[4096];
    const char *at = strstr(cmd, "{dir}");
    if (at != NULL)
        snprintf(full, sizeof full, "%.*s%s%s", (int)(at - cmd), cmd, dir, at + 5);
    else
        snprintf(full, sizeof full, "%s", cmd);
    int st = system(full);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

char *tu_sql(const char *sql)
{
    const char *url = getenv("PROXIMITY_PRIMARY_URL");
    PGconn *c = PQconnectdb(url ? url : "");
    char *out = NULL;
    if (PQstatus(c) == CONNECTION_OK) {
        PGresult *r = PQexec(c, sql);
        if ((PQresultStatus(r) == PGRES_TUPLES_OK) && PQntuples(r) > 0)
            out = strdup(PQgetvalue(r, 0, 0));
        else if (PQresultStatus(r) == PGRES_COMMAND_OK)
            out = strdup("");
        PQclear(r);
    }
    PQfinish(c);
    return out;
}

/* ------------------------------------------------------------ index vs table */

static PGconn *primary_conn(void)
{
    const char *url = getenv("PROXIMITY_PRIMARY_URL");
    for (int i = 0; i < 100; i++) { /* up to 10 s: the primary may be restarting */
        PGconn *c = PQconnectdb(url ? url : "");
        if (PQstatus(c) == CONNECTION_OK)
            return c;
        PQfinish(c);
        sleep_ms(100);
    }
    return NULL;
}

int tu_primary_position(char *token, size_t len)
{
    PGconn *c = primary_conn();
    if (c == NULL)
        return -1;
    /* The insert position: with synchronous_commit off (as the test
     * clusters run) the write position can lag a committed transaction. */
    PGresult *r = PQexec(c, "SELECT pg_current_wal_insert_lsn()");
    int rc = PQresultStatus(r) == PGRES_TUPLES_OK ? 0 : -1;
    if (rc == 0)
        snprintf(token, len, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(c);
    return rc;
}

bool tu_wait_applied(const tu_server_t *srv, const char *token, int seconds)
{
    char th[128];
    const char *h[] = {th, NULL};
    snprintf(th, sizeof th, "X-Consistency-Token: %s", token);
    for (int i = 0; i < seconds * 2; i++) {
        tu_response_t r;
        int rc = tu_http(srv, "GET", "/v1/search/nearby?latitude=0&longitude=0&radius=1", h, NULL, 0, &r);
        long st = r.status;
        tu_response_free(&r);
        if (rc == 0 && st == 200)
            return true;
        if (rc == 0 && st != 503) {
            fprintf(stderr, "a search waiting for %s answered %ld\n", token, st);
            return false;
        }
        sleep_ms(500);
    }
    fprintf(stderr, "proximityd :%d did not apply %s within %d s\n", srv->port, token, seconds);
    return false;
}

typedef struct row {
    int64_t id, version;
    double lat, lng;
} row_t;

static int row_cmp(const void *a, const void *b)
{
    const row_t *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

long tu_index_diff(const tu_server_t *srv, size_t *rows)
{
    tu_response_t resp;
    if (tu_http(srv, "GET", "/debug/index", NULL, NULL, 0, &resp) != 0 || resp.status != 200 ||
        resp.json == NULL) {
        fprintf(stderr, "GET /debug/index on :%d: %ld (is --debug=1 set?)\n", srv->port, resp.status);
        tu_response_free(&resp);
        return -1;
    }
    json_t *pts = json_object_get(resp.json, "points");
    size_t n = json_array_size(pts);
    char dump_pos[32];
    snprintf(dump_pos, sizeof dump_pos, "%s", json_string_value(json_object_get(resp.json, "position")));
    json_int_t dump_build = json_integer_value(json_object_get(resp.json, "build"));
    row_t *idx = calloc(n + 1, sizeof *idx);
    for (size_t i = 0; i < n; i++) {
        json_t *p = json_array_get(pts, i);
        idx[i] = (row_t){json_integer_value(json_array_get(p, 0)), json_integer_value(json_array_get(p, 1)),
                         json_real_value(json_array_get(p, 2)), json_real_value(json_array_get(p, 3))};
    }
    tu_response_free(&resp);
    qsort(idx, n, sizeof *idx, row_cmp);

    PGconn *c = primary_conn();
    PGresult *r = c ? PQexec(c, "SELECT id, version, ST_Y(location::geometry), ST_X(location::geometry) "
                                "FROM businesses WHERE deleted_at IS NULL ORDER BY id")
                    : NULL;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "reading the table: %s\n", c ? PQerrorMessage(c) : "no primary");
        PQclear(r);
        PQfinish(c);
        free(idx);
        return -1;
    }
    size_t m = (size_t)PQntuples(r);
    long diff = 0;
    for (size_t i = 0, j = 0; i < m || j < n;) {
        int64_t tid = i < m ? strtoll(PQgetvalue(r, (int)i, 0), NULL, 10) : INT64_MAX;
        int64_t xid = j < n ? idx[j].id : INT64_MAX;
        if (tid == xid) {
            int64_t tv = strtoll(PQgetvalue(r, (int)i, 1), NULL, 10);
            double lat = strtod(PQgetvalue(r, (int)i, 2), NULL), lng = strtod(PQgetvalue(r, (int)i, 3), NULL);
            if (tv != idx[j].version || fabs(lat - idx[j].lat) > 2e-7 || fabs(lng - idx[j].lng) > 2e-7) {
                if (diff++ < 5)
                    fprintf(stderr, "id %" PRId64 ": table v%" PRId64 " (%.7f,%.7f), index v%" PRId64
                            " (%.7f,%.7f)\n", tid, tv, lat, lng, idx[j].version, idx[j].lat, idx[j].lng);
            }
            i++;
            j++;
        } else if (tid < xid) {
            if (diff++ < 5)
                fprintf(stderr, "id %" PRId64 ": in the table, not in the index of :%d\n", tid, srv->port);
            i++;
        } else {
            if (diff++ < 5)
                fprintf(stderr, "id %" PRId64 ": in the index of :%d, not in the table\n", xid, srv->port);
            j++;
        }
    }
    PQclear(r);
    PQfinish(c);
    free(idx);
    if (diff != 0) {
        /* What the service saw: its position, warnings, stream figures. */
        fprintf(stderr, "dump of :%d: %zu points, build %lld, position %s\n", srv->port, n,
                (long long)dump_build, dump_pos);
        char cmd[700];
        snprintf(cmd, sizeof cmd, "grep -v '\"msg\":\"request\"' %s/proximityd.log | tail -n 60 >&2", srv->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "no log in %s\n", srv->dir);
        tu_response_t mr;
        if (tu_http(srv, "GET", "/metrics", NULL, NULL, 0, &mr) == 0 && mr.body != NULL)
            for (char *l = strtok(mr.body, "\n"); l; l = strtok(NULL, "\n"))
                if (strncmp(l, "proximity_cdc_", 14) == 0 || strncmp(l, "proximity_index_", 16) == 0)
                    fprintf(stderr, "  %s\n", l);
        tu_response_free(&mr);
    }
    if (rows)
        *rows = m;
    return diff;
}
