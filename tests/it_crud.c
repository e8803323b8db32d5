/* it_crud.c — business CRUD against the real proximityd, primary and
 * replica: the life cycle, every bad input in tests/api/, the If-Match
 * race, body limits, replica failover, primary loss and recovery, drain. */
#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "category.h"
#include "testutil.h"
#include "check_run.h"

static const char *const J = "Content-Type: application/json";
static const char *const MP = "Content-Type: application/merge-patch+json";
static tu_server_t srv;
static char fixture_path[64], fixture_etag[32];
/* The newest write's consistency token, presented on reads (DESIGN §2.5). */
static char last_token[96] = "X-Consistency-Token: 0/0";

static const char *server_args[] = {"--connect-timeout=1", "--threads=4", NULL};

/* Creates a business; returns its path in path (e.g. /v1/businesses/7). */
static void create(const char *body, char *path, size_t plen, char *etag, size_t elen)
{
    tu_response_t r;
    const char *h[] = {J, NULL};
    ck_assert_int_eq(tu_http(&srv, "POST", "/v1/businesses", h, body, strlen(body), &r), 0);
    ck_assert_msg(r.status == 201, "create: %ld %s", r.status, r.body);
    ck_assert_ptr_nonnull(tu_header(&r, "Location"));
    ck_assert_ptr_nonnull(tu_header(&r, "X-Consistency-Token"));
    snprintf(last_token, sizeof last_token, "X-Consistency-Token: %s", tu_header(&r, "X-Consistency-Token"));
    snprintf(path, plen, "%s", tu_header(&r, "Location"));
    if (etag)
        snprintf(etag, elen, "%s", tu_header(&r, "ETag"));
    tu_response_free(&r);
}

static void setup(void)
{
    ck_assert_msg(getenv("PROXIMITY_PRIMARY_URL") != NULL, "run under tests/with-pg");
    ck_assert_int_eq(tu_server_start(&srv, server_args), 0);
    /* Ready: the index is built and the change stream caught up, so what
     * the fault tests take away is all that changes. */
    ck_assert_msg(tu_wait_ready(&srv, 60), "proximityd not ready within 60 s");
    create("{\"name\":\"Fixture\",\"categories\":[\"cafe\",\"bakery\"],\"latitude\":-41.2865,"
           "\"longitude\":174.7762,\"address\":{\"country\":\"NZ\"}}",
           fixture_path, sizeof fixture_path, fixture_etag, sizeof fixture_etag);
}

static void teardown(void)
{
    tu_server_stop(&srv);
}

/* Everything stored, as one value: equal before and after = untouched. */
static char *db_fingerprint(void)
{
    return tu_sql("SELECT count(*) || ':' || coalesce(max(version), 0) || ':' || "
                  "coalesce(sum(hashtext(b::text)), 0) FROM businesses b");
}

static char *substitute(const char *in)
{
    size_t cap = strlen(in) * 2 + 256, n = 0;
    char *out = malloc(cap);
    for (const char *p = in; *p;) {
        if (strncmp(p, "{id}", 4) == 0) {
            n += (size_t)snprintf(out + n, cap - n, "%s", strrchr(fixture_path, '/') + 1);
            p += 4;
        } else if (strncmp(p, "{etag}", 6) == 0) {
            n += (size_t)snprintf(out + n, cap - n, "%s", fixture_etag);
            p += 6;
        } else {
            out[n++] = *p++;
        }
    }
    out[n] = '\0';
    return out;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    *len = fread(buf, 1, (size_t)n, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

/* Runs tests/api/<name>: returns NULL on success or a message. */
static char *run_case(const char *dir, const char *name)
{
    char path[1024], *msg = NULL;
    size_t rlen, elen;
    (void)rlen;

    snprintf(path, sizeof path, "%s/%s/request", dir, name);
    char *raw = slurp(path, &rlen);
    snprintf(path, sizeof path, "%s/%s/response", dir, name);
    char *expect_raw = slurp(path, &elen);
    if (raw == NULL || expect_raw == NULL) {
        free(raw);
        free(expect_raw);
        return strdup("missing request or response file");
    }
    char *req = substitute(raw), *expect = substitute(expect_raw);
    free(raw);
    free(expect_raw);

    /* request: "METHOD PATH\n" headers "\n" body */
    char method[16], target[512];
    const char *headers[16];
    int nh = 0;
    char *line = req, *eol = strchr(line, '\n');
    *eol = '\0';
    sscanf(line, "%15s %511s", method, target);
    line = eol + 1;
    while ((eol = strchr(line, '\n')) != NULL && eol != line) {
        *eol = '\0';
        headers[nh++] = line;
        line = eol + 1;
    }
    headers[nh++] = last_token;
    headers[nh] = NULL;
    const char *body = eol ? eol + 1 : "";
    size_t body_len = strlen(body);
    bool has_body = strcmp(method, "GET") && strcmp(method, "HEAD") && strcmp(method, "DELETE");

    char *before = db_fingerprint();
    tu_response_t r;
    tu_http(&srv, method, target, headers, has_body ? body : NULL, body_len, &r);

    /* response: status, then "Header: value" lines, blank, JSON subset */
    long status = strtol(expect, &line, 10);
    line++;
    if (r.status != status && asprintf(&msg, "status %ld, want %ld: %s", r.status, status, r.body) < 0)
        msg = NULL;
    while (msg == NULL && (eol = strchr(line, '\n')) != NULL && eol != line) {
        *eol = '\0';
        /* "Name: value" must match; a bare "Name" must be present. */
        char *colon = strchr(line, ':');
        if (colon != NULL)
            *colon = '\0';
        const char *got = tu_header(&r, line);
        const char *want = colon ? colon + 2 : NULL;
        if ((got == NULL || (want && strcmp(got, want) != 0)) &&
            asprintf(&msg, "header %s is \"%s\", want \"%s\"", line, got ? got : "(none)",
                     want ? want : "(present)") < 0)
            msg = NULL;
        line = eol + 1;
    }
    const char *js = eol ? eol + 1 : "";
    if (msg == NULL && *js != '\0' && strcmp(js, "\n") != 0) {
        json_t *want = json_loads(js, 0, NULL);
        if (want == NULL || !tu_json_subset(want, r.json))
            if (asprintf(&msg, "body %s does not contain %s", r.body, js) < 0)
                msg = NULL;
        json_decref(want);
    }
    /* A refused request leaves every stored row exactly as it was. */
    if (msg == NULL && r.status >= 400) {
        char *after = db_fingerprint();
        if (strcmp(before, after) != 0 &&
            asprintf(&msg, "stored data changed: %s -> %s", before, after) < 0)
            msg = NULL;
        free(after);
    }
    if (msg == NULL && r.status >= 400 && !json_is_object(json_object_get(r.json, "error")) &&
        strcmp(method, "HEAD") != 0)
        if (asprintf(&msg, "error without a JSON error body: %s", r.body) < 0)
            msg = NULL;
    free(before);
    tu_response_free(&r);
    free(req);
    free(expect);
    return msg;
}

START_TEST(api_cases)
{
    char dir[512];
    struct dirent **names;
    int failures = 0;

    tu_srcpath("tests/api", dir, sizeof dir);
    int n = scandir(dir, &names, NULL, alphasort);
    ck_assert_int_gt(n, 50);
    for (int i = 0; i < n; i++) {
        if (names[i]->d_name[0] != '.') {
            char *msg = run_case(dir, names[i]->d_name);
            if (msg != NULL) {
                fprintf(stderr, "FAIL tests/api/%s: %s\n", names[i]->d_name, msg);
                failures++;
                free(msg);
            }
        }
        free(names[i]);
    }
    free(names);
    ck_assert_int_eq(failures, 0);
}
END_TEST

static json_t *get_json(const char *path, long want_status)
{
    tu_response_t r;
    const char *h[] = {last_token, NULL};
    ck_assert_int_eq(tu_http(&srv, "GET", path, h, NULL, 0, &r), 0);
    ck_assert_msg(r.status == want_status, "GET %s: %ld %s", path, r.status, r.body);
    json_t *j = json_incref(r.json);
    tu_response_free(&r);
    return j;
}

START_TEST(life_cycle)
{
    char path[64], etag[32], hdr[64];
    tu_response_t r;

    create("{\"name\":\"Kiosk 🌮 東京\",\"categories\":[\"fast_food\"],\"latitude\":35.6812,"
           "\"longitude\":139.7671,\"address\":{\"street\":\"1 Chome\",\"city\":\"Tokyo\","
           "\"country\":\"jp\"},\"phone\":\"+81 3 1234 5678\",\"website\":\"https://k.example\","
           "\"price\":1}", path, sizeof path, etag, sizeof etag);
    json_t *b = get_json(path, 200);
    ck_assert_str_eq(json_string_value(json_object_get(b, "name")), "Kiosk 🌮 東京");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(b, "address"), "country")), "JP");
    int64_t v1 = json_integer_value(json_object_get(b, "version"));
    char *created = strdup(json_string_value(json_object_get(b, "created_at")));
    ck_assert_double_eq_tol(json_number_value(json_object_get(b, "latitude")), 35.6812, 1e-12);
    json_decref(b);

    /* PUT replaces everything: fields left out become null. */
    const char *put = "{\"name\":\"Kiosk\",\"latitude\":35.0,\"longitude\":139.0}";
    snprintf(hdr, sizeof hdr, "If-Match: %s", etag);
    const char *h1[] = {J, hdr, NULL};
    ck_assert_int_eq(tu_http(&srv, "PUT", path, h1, put, strlen(put), &r), 0);
    ck_assert_msg(r.status == 200, "PUT: %ld %s", r.status, r.body);
    int64_t v2 = json_integer_value(json_object_get(r.json, "version"));
    snprintf(last_token, sizeof last_token, "X-Consistency-Token: %s", tu_header(&r, "X-Consistency-Token"));
    ck_assert_int_gt(v2, v1);
    ck_assert(json_is_null(json_object_get(r.json, "phone")));
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "categories")), 0);
    snprintf(etag, sizeof etag, "%s", tu_header(&r, "ETag"));
    tu_response_free(&r);

    /* PATCH merges: nested objects merge, null removes. */
    const char *patch = "{\"address\":{\"city\":\"Osaka\"},\"price\":3,\"categories\":[\"bar\"]}";
    const char *h2[] = {MP, NULL};
    ck_assert_int_eq(tu_http(&srv, "PATCH", path, h2, patch, strlen(patch), &r), 0);
    ck_assert_msg(r.status == 200, "PATCH: %ld %s", r.status, r.body);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(r.json, "address"), "city")), "Osaka");
    ck_assert_int_eq(json_integer_value(json_object_get(r.json, "price")), 3);
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "name")), "Kiosk");
    int64_t v3 = json_integer_value(json_object_get(r.json, "version"));
    ck_assert_int_gt(v3, v2);
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "created_at")), created);
    snprintf(etag, sizeof etag, "%s", tu_header(&r, "ETag"));
    tu_response_free(&r);
    const char *patch2 = "{\"price\":null}";
    ck_assert_int_eq(tu_http(&srv, "PATCH", path, h2, patch2, strlen(patch2), &r), 0);
    ck_assert(json_is_null(json_object_get(r.json, "price")));
    snprintf(etag, sizeof etag, "%s", tu_header(&r, "ETag"));
    tu_response_free(&r);

    /* DELETE with the current ETag: 204, then gone everywhere. */
    snprintf(hdr, sizeof hdr, "If-Match: %s", etag);
    const char *h3[] = {hdr, NULL};
    ck_assert_int_eq(tu_http(&srv, "DELETE", path, h3, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 204);
    ck_assert_int_eq(r.body_len, 0);
    snprintf(last_token, sizeof last_token, "X-Consistency-Token: %s", tu_header(&r, "X-Consistency-Token"));
    tu_response_free(&r);
    json_decref(get_json(path, 404));
    ck_assert_int_eq(tu_http(&srv, "DELETE", path, NULL, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 404);
    tu_response_free(&r);
    ck_assert_int_eq(tu_http(&srv, "PUT", path, h1 + 0, put, strlen(put), &r), 0);
    ck_assert_int_eq(r.status, 404);
    tu_response_free(&r);

    /* The row stays as a tombstone with a newer version. */
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT (deleted_at IS NOT NULL)::text || ':' || (version > %lld)::text "
                              "FROM businesses WHERE id = %s", (long long)v3, strrchr(path, '/') + 1);
    char *row = tu_sql(sql);
    ck_assert_str_eq(row, "true:true");
    free(row);
    free(created);
}
END_TEST

typedef struct racer {
    const char *path;
    const char *if_match;
    int index;
    long status;
    char etag[32];
} racer_t;

static void *race_put(void *arg)
{
    racer_t *rc = arg;
    char hdr[64], body[128];
    tu_response_t r;
    snprintf(hdr, sizeof hdr, "If-Match: %s", rc->if_match);
    snprintf(body, sizeof body, "{\"name\":\"racer %d\",\"latitude\":1,\"longitude\":%d}", rc->index, rc->index);
    const char *h[] = {J, hdr, NULL};
    tu_http(&srv, "PUT", rc->path, h, body, strlen(body), &r);
    rc->status = r.status;
    if (r.status == 200)
        snprintf(rc->etag, sizeof rc->etag, "%s", tu_header(&r, "ETag"));
    tu_response_free(&r);
    return NULL;
}

START_TEST(if_match_race)
{
    char path[64], etag[32];

    create("{\"name\":\"Contested\",\"latitude\":1,\"longitude\":1}", path, sizeof path, etag, sizeof etag);
    for (int round = 0; round < 10; round++) {
        racer_t rs[4];
        pthread_t t[4];
        for (int i = 0; i < 4; i++) {
            rs[i] = (racer_t){.path = path, .if_match = etag, .index = i};
            pthread_create(&t[i], NULL, race_put, &rs[i]);
        }
        int ok = 0, refused = 0;
        char next[32] = "";
        for (int i = 0; i < 4; i++) {
            pthread_join(t[i], NULL);
            ok += rs[i].status == 200;
            refused += rs[i].status == 412;
            if (rs[i].status == 200)
                snprintf(next, sizeof next, "%s", rs[i].etag);
        }
        /* Exactly one editor wins; the others learn their copy is stale. */
        ck_assert_int_eq(ok, 1);
        ck_assert_int_eq(refused, 3);
        snprintf(etag, sizeof etag, "%s", next);
    }
}
END_TEST

/* A client that presents its write's token reads that write back, from
 * whichever server has it; without the token a lagging replica may not. */
START_TEST(read_your_writes)
{
    char path[64], etag[32], hdr[96];
    tu_response_t r;
    for (int i = 0; i < 30; i++) {
        create("{\"name\":\"Fresh\",\"latitude\":5,\"longitude\":5}", path, sizeof path, etag, sizeof etag);
        json_t *b = get_json(path, 200);
        ck_assert_str_eq(json_string_value(json_object_get(b, "name")), "Fresh");
        json_decref(b);
        const char *patch = "{\"name\":\"Fresher\"}";
        const char *h[] = {MP, NULL};
        ck_assert_int_eq(tu_http(&srv, "PATCH", path, h, patch, strlen(patch), &r), 0);
        snprintf(hdr, sizeof hdr, "X-Consistency-Token: %s", tu_header(&r, "X-Consistency-Token"));
        tu_response_free(&r);
        const char *g[] = {hdr, NULL};
        ck_assert_int_eq(tu_http(&srv, "GET", path, g, NULL, 0, &r), 0);
        ck_assert_int_eq(r.status, 200);
        ck_assert_str_eq(json_string_value(json_object_get(r.json, "name")), "Fresher");
        tu_response_free(&r);
    }
}
END_TEST

START_TEST(body_limits)
{
    size_t n = 70000;
    char *big = malloc(n + 1);
    tu_response_t r;
    memset(big, ' ', n);
    big[n] = '\0';
    big[0] = '{';
    big[n - 1] = '}';
    char *before = db_fingerprint();
    const char *h[] = {J, NULL};
    ck_assert_int_eq(tu_http(&srv, "POST", "/v1/businesses", h, big, n, &r), 0);
    ck_assert_int_eq(r.status, 413);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(r.json, "error"), "code")),
                     "PAYLOAD_TOO_LARGE");
    tu_response_free(&r);
    /* Without a Content-Length (chunked), the limit still holds. */
    const char *hc[] = {J, "Transfer-Encoding: chunked", NULL};
    /* The server answers before reading it all and closes: curl may
     * report the unsent rest as an error, but the answer is the 413. */
    tu_http(&srv, "POST", "/v1/businesses", hc, big, n, &r);
    ck_assert_int_eq(r.status, 413);
    tu_response_free(&r);
    char *after = db_fingerprint();
    ck_assert_str_eq(before, after);
    /* And the server is still fine. */
    json_decref(get_json(fixture_path, 200));
    free(before);
    free(after);
    free(big);
}
END_TEST

START_TEST(request_id)
{
    tu_response_t r;
    const char *h[] = {"X-Request-Id: trace-abc.123", NULL};
    ck_assert_int_eq(tu_http(&srv, "GET", "/healthz", h, NULL, 0, &r), 0);
    ck_assert_str_eq(tu_header(&r, "X-Request-Id"), "trace-abc.123");
    tu_response_free(&r);
    const char *bad[] = {"X-Request-Id: \"><script>", NULL};
    ck_assert_int_eq(tu_http(&srv, "GET", "/healthz", bad, NULL, 0, &r), 0);
    ck_assert_int_eq(strlen(tu_header(&r, "X-Request-Id")), 24);
    tu_response_free(&r);

    /* Every log line is one JSON object; the request line names the id. */
    char logpath[512];
    size_t len;
    snprintf(logpath, sizeof logpath, "%s/proximityd.log", srv.dir);
    char *log = slurp(logpath, &len);
    ck_assert_ptr_nonnull(strstr(log, "\"request_id\":\"trace-abc.123\""));
    for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n")) {
        json_t *j = json_loads(line, 0, NULL);
        ck_assert_msg(json_is_object(j), "log line is not JSON: %s", line);
        json_decref(j);
    }
    free(log);
}
END_TEST

START_TEST(categories_match_database)
{
    char want[2048] = "";
    for (size_t i = 0; i < category_count(); i++) {
        strcat(want, i ? "," : "");
        strcat(want, category_name(i));
    }
    char *got = tu_sql("SELECT array_to_string(proximity_categories(), ',')");
    ck_assert_ptr_nonnull(got);
    ck_assert_str_eq(got, want);
    free(got);
}
END_TEST

START_TEST(replica_failover)
{
    ck_assert_int_eq(tu_pgcluster("stop-node {dir} replica"), 0);
    /* Reads fall over to the primary; the service stays ready. */
    for (int i = 0; i < 5; i++)
        json_decref(get_json(fixture_path, 200));
    json_decref(get_json("/readyz", 200));
    ck_assert_int_eq(tu_pgcluster("start-node {dir} replica"), 0);
    json_decref(get_json(fixture_path, 200));
}
END_TEST

START_TEST(primary_loss_and_recovery)
{
    tu_response_t r;
    const char *body = "{\"name\":\"While down\",\"latitude\":2,\"longitude\":2}";
    const char *h[] = {J, NULL};

    ck_assert_int_eq(tu_pgcluster("stop-node {dir} primary"), 0);
    ck_assert_int_eq(tu_http(&srv, "POST", "/v1/businesses", h, body, strlen(body), &r), 0);
    ck_assert_msg(r.status == 503, "write with the primary down: %ld %s", r.status, r.body);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(r.json, "error"), "code")),
                     "SERVICE_UNAVAILABLE");
    ck_assert_ptr_nonnull(tu_header(&r, "Retry-After"));
    tu_response_free(&r);
    /* Reads keep working from the replica. */
    json_decref(get_json(fixture_path, 200));

    ck_assert_int_eq(tu_pgcluster("start-node {dir} primary"), 0);
    long status = 0;
    for (int i = 0; i < 50 && status != 201; i++) {
        ck_assert_int_eq(tu_http(&srv, "POST", "/v1/businesses", h, body, strlen(body), &r), 0);
        status = r.status;
        tu_response_free(&r);
        if (status != 201)
            usleep(200000);
    }
    ck_assert_int_eq(status, 201);
}
END_TEST

START_TEST(everything_down_is_503)
{
    tu_response_t r;
    const char *fresh[] = {last_token, NULL};

    json_decref(get_json(fixture_path, 200)); /* now cached */
    ck_assert_int_eq(tu_pgcluster("stop-node {dir} replica"), 0);
    ck_assert_int_eq(tu_pgcluster("stop-node {dir} primary"), 0);
    /* What must come from a database is a 503 with a JSON body ... */
    ck_assert_int_eq(tu_http(&srv, "GET", fixture_path, fresh, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 503);
    ck_assert(json_is_object(json_object_get(r.json, "error")));
    tu_response_free(&r);
    ck_assert_int_eq(tu_http(&srv, "GET", "/v1/businesses/888888888", NULL, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 503);
    tu_response_free(&r);
    ck_assert_int_eq(tu_http(&srv, "GET", "/readyz", NULL, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 503);
    tu_response_free(&r);
    /* ... while what the cache holds is still served. */
    ck_assert_int_eq(tu_http(&srv, "GET", fixture_path, NULL, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 200);
    tu_response_free(&r);
    ck_assert_int_eq(tu_pgcluster("start-node {dir} primary"), 0);
    ck_assert_int_eq(tu_pgcluster("start-node {dir} replica"), 0);
    long status = 0;
    for (int i = 0; i < 50 && status != 200; i++) {
        ck_assert_int_eq(tu_http(&srv, "GET", fixture_path, fresh, NULL, 0, &r), 0);
        status = r.status;
        tu_response_free(&r);
        if (status != 200)
            usleep(200000);
    }
    ck_assert_int_eq(status, 200);
}
END_TEST

/* SIGTERM while a request is half-sent: it is still answered, then the
 * process exits 0. */
START_TEST(drain_on_sigterm)
{
    tu_server_t own;
    const char *body = "{\"name\":\"Last order\",\"latitude\":3,\"longitude\":3}";
    char head[256], reply[4096];
    struct sockaddr_in a = {.sin_family = AF_INET};

    ck_assert_int_eq(tu_server_start(&own, server_args), 0);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_port = htons((uint16_t)own.port);
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    int hl = snprintf(head, sizeof head, "POST /v1/businesses HTTP/1.1\r\nHost: x\r\n"
                      "Content-Type: application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                      strlen(body));
    ck_assert_int_eq(write(fd, head, (size_t)hl), hl);
    ck_assert_int_eq(write(fd, body, 10), 10);
    usleep(200000);
    kill(own.pid, SIGTERM);
    usleep(300000);
    ck_assert_int_eq(write(fd, body + 10, strlen(body) - 10), (ssize_t)(strlen(body) - 10));
    size_t got = 0;
    ssize_t k;
    while ((k = read(fd, reply + got, sizeof reply - 1 - got)) > 0)
        got += (size_t)k;
    reply[got] = '\0';
    close(fd);
    ck_assert_msg(strncmp(reply, "HTTP/1.1 201", 12) == 0, "reply: %s", reply);
    ck_assert_int_eq(tu_server_stop(&own), 0);
}
END_TEST

static Suite *crud_suite(void)
{
    Suite *s = suite_create("crud");
    TCase *api = tcase_create("api");
    tcase_add_unchecked_fixture(api, setup, teardown);
    tcase_set_timeout(api, 120);
    tcase_add_test(api, api_cases);
    tcase_add_test(api, life_cycle);
    tcase_add_test(api, if_match_race);
    tcase_add_test(api, read_your_writes);
    tcase_add_test(api, body_limits);
    tcase_add_test(api, request_id);
    tcase_add_test(api, categories_match_database);
    tcase_add_test(api, drain_on_sigterm);
    suite_add_tcase(s, api);

    /* These stop and start database servers: after the others, and only
     * on a cluster of our own (not one the tests were pointed at). */
    if (getenv("PROXIMITY_TEST_PGDIR") == NULL) {
        fprintf(stderr, "note: no PROXIMITY_TEST_PGDIR, database fault tests not run\n");
        return s;
    }
    TCase *faults = tcase_create("faults");
    tcase_add_unchecked_fixture(faults, setup, teardown);
    tcase_set_timeout(faults, 180);
    tcase_add_test(faults, replica_failover);
    tcase_add_test(faults, primary_loss_and_recovery);
    tcase_add_test(faults, everything_down_is_503);
    suite_add_tcase(s, faults);
    return s;
}

int main(void)
{
    return check_run(crud_suite(), CK_FORK_GETENV);
}
