/* bench_cdc.c — write-to-visible latency measured from outside: writes
 * (moves of existing businesses to a fresh spot) through one proximityd at
 * a fixed rate, and search polled on another until each moved business
 * shows at its new spot. Also the search throughput of the other replica
 * with and without the write load, side by side. Prints figures; asserts
 * nothing.
 *
 * usage: bench_cdc --writer PORT --reader PORT [--rates "100 1000"]
 *                  [--seconds T] [--ids FIRST:COUNT] [--label NAME] [--no-header]
 * --label prefixes each scenario (e.g. the transport), --no-header leaves
 * the column names out, so runs print as one table.
 */
#include <curl/curl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WRITERS 16
#define POLLERS 16
#define SEARCHERS 2
#define MAX_PENDING 65536

static int writer_port, reader_port, seconds = 10;
static int64_t first_id = 1, id_count = 1000;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t sink(char *p, size_t s, size_t n, void *ud)
{
    size_t len = s * n;
    char **buf = ud;
    if (buf != NULL) {
        size_t old = *buf ? strlen(*buf) : 0;
        char *nb = realloc(*buf, old + len + 1);
        if (nb == NULL)
            return 0;
        memcpy(nb + old, p, len);
        nb[old + len] = '\0';
        *buf = nb;
    }
    return len;
}

static long request(CURL *h, const char *method, int port, const char *path, const char *body, char **out)
{
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    struct curl_slist *hdr = body ? curl_slist_append(NULL, "Content-Type: application/json") : NULL;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
    long status = 0;
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdr);
    return status;
}

/* One write waiting to be seen: where the business went, and when the
 * write's response arrived. */
typedef struct pending {
    int64_t id;
    double lat, lng;
    double written;
} pending_t;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pending_t q[MAX_PENDING];
    size_t head, tail;
    double *lat_ms;
    size_t nlat, caplat;
    atomic_long writes, write_errors, unseen, searches, search_errors;
    atomic_bool stop_writes, stop_polls, stop_search;
    double rate;
} B = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static atomic_long serial;

static void *writer(void *arg)
{
    (void)arg;
    CURL *h = curl_easy_init();
    double interval = WRITERS / B.rate, next = now_s();
    unsigned seed = (unsigned)(uintptr_t)&h;
    while (!atomic_load(&B.stop_writes)) {
        double t = now_s();
        if (t < next) {
            usleep((useconds_t)((next - t) * 1e6));
            continue;
        }
        next += interval;
        long k = atomic_fetch_add(&serial, 1);
        pending_t p = {.id = first_id + k % id_count};
        /* A spot nobody else is at: a grid cell per write. */
        p.lat = -60 + (double)(k % 1200) * 0.1 + (rand_r(&seed) % 100) * 1e-4;
        p.lng = -170 + (double)((k / 1200) % 3400) * 0.1 + (rand_r(&seed) % 100) * 1e-4;
        char path[64], body[128];
        snprintf(path, sizeof path, "/v1/businesses/%" PRId64, p.id);
        snprintf(body, sizeof body, "{\"latitude\":%.6f,\"longitude\":%.6f}", p.lat, p.lng);
        long st = request(h, "PATCH", writer_port, path, body, NULL);
        p.written = now_s();
        atomic_fetch_add(&B.writes, 1);
        if (st != 200) {
            atomic_fetch_add(&B.write_errors, 1);
            continue;
        }
        pthread_mutex_lock(&B.mu);
        if (B.tail - B.head < MAX_PENDING) {
            B.q[B.tail++ % MAX_PENDING] = p;
            pthread_cond_signal(&B.cv);
        }
        pthread_mutex_unlock(&B.mu);
    }
    curl_easy_cleanup(h);
    return NULL;
}

static void record_latency(double ms)
{
    pthread_mutex_lock(&B.mu);
    if (B.nlat == B.caplat) {
        B.caplat = B.caplat ? B.caplat * 2 : 4096;
        B.lat_ms = realloc(B.lat_ms, B.caplat * sizeof *B.lat_ms);
    }
    B.lat_ms[B.nlat++] = ms;
    pthread_mutex_unlock(&B.mu);
}

/* Takes pending writes and polls the reader until each shows (a later
 * write of the same id moving it again also ends the wait: it was seen
 * through). Gives up on one after 5 s. */
static void *poller(void *arg)
{
    (void)arg;
    CURL *h = curl_easy_init();
    for (;;) {
        pthread_mutex_lock(&B.mu);
        while (B.head == B.tail && !atomic_load(&B.stop_polls))
            pthread_cond_wait(&B.cv, &B.mu);
        if (B.head == B.tail) {
            pthread_mutex_unlock(&B.mu);
            break;
        }
        pending_t p = B.q[B.head++ % MAX_PENDING];
        pthread_mutex_unlock(&B.mu);
        char path[160], want[32];
        snprintf(path, sizeof path, "/v1/search/nearby?latitude=%.6f&longitude=%.6f&radius=5&limit=5", p.lat, p.lng);
        snprintf(want, sizeof want, "\"id\":%" PRId64 ",", p.id);
        bool seen = false;
        while (!seen && now_s() - p.written < 5) {
            char *body = NULL;
            long st = request(h, "GET", reader_port, path, NULL, &body);
            seen = st == 200 && body != NULL && strstr(body, want) != NULL;
            free(body);
            if (!seen)
                usleep(2000);
        }
        if (seen)
            record_latency((now_s() - p.written) * 1e3);
        else
            atomic_fetch_add(&B.unseen, 1);
    }
    curl_easy_cleanup(h);
    return NULL;
}

static void *searcher(void *arg)
{
    (void)arg;
    CURL *h = curl_easy_init();
    unsigned seed = (unsigned)(uintptr_t)&h;
    while (!atomic_load(&B.stop_search)) {
        char path[160];
        snprintf(path, sizeof path, "/v1/search/nearby?latitude=%.4f&longitude=%.4f&radius=2000",
                 -50 + (rand_r(&seed) % 10000) * 0.01, -150 + (rand_r(&seed) % 30000) * 0.01);
        long st = request(h, "GET", reader_port, path, NULL, NULL);
        atomic_fetch_add(&B.searches, 1);
        if (st != 200)
            atomic_fetch_add(&B.search_errors, 1);
    }
    curl_easy_cleanup(h);
    return NULL;
}

static int dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(const double *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

/* Search requests/s on the reader over `secs`, with `rate` writes/s
 * (0 = none) running meanwhile. */
static double run(double rate, int secs)
{
    pthread_t w[WRITERS], p[POLLERS], s[SEARCHERS];
    B.rate = rate;
    B.nlat = 0;
    B.head = B.tail = 0;
    atomic_store(&B.writes, 0);
    atomic_store(&B.write_errors, 0);
    atomic_store(&B.unseen, 0);
    atomic_store(&B.searches, 0);
    atomic_store(&B.search_errors, 0);
    atomic_store(&B.stop_writes, false);
    atomic_store(&B.stop_polls, false);
    atomic_store(&B.stop_search, false);
    for (int i = 0; i < SEARCHERS; i++)
        pthread_create(&s[i], NULL, searcher, NULL);
    if (rate > 0) {
        for (int i = 0; i < POLLERS; i++)
            pthread_create(&p[i], NULL, poller, NULL);
        for (int i = 0; i < WRITERS; i++)
            pthread_create(&w[i], NULL, writer, NULL);
    }
    double t0 = now_s();
    sleep((unsigned)secs);
    long searches = atomic_load(&B.searches);
    double elapsed = now_s() - t0;
    atomic_store(&B.stop_search, true);
    for (int i = 0; i < SEARCHERS; i++)
        pthread_join(s[i], NULL);
    if (rate > 0) {
        atomic_store(&B.stop_writes, true);
        for (int i = 0; i < WRITERS; i++)
            pthread_join(w[i], NULL);
        pthread_mutex_lock(&B.mu);
        atomic_store(&B.stop_polls, true);
        pthread_cond_broadcast(&B.cv);
        pthread_mutex_unlock(&B.mu);
        for (int i = 0; i < POLLERS; i++)
            pthread_join(p[i], NULL);
    }
    return (double)searches / elapsed;
}

int main(int argc, char **argv)
{
    const char *rates = "100 1000", *label = "";
    bool header = true;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--writer") == 0 && i + 1 < argc)
            writer_port = atoi(argv[++i]);
        else if (strcmp(argv[i], "--reader") == 0 && i + 1 < argc)
            reader_port = atoi(argv[++i]);
        else if (strcmp(argv[i], "--rates") == 0 && i + 1 < argc)
            rates = argv[++i];
        else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            seconds = atoi(argv[++i]);
        else if (strcmp(argv[i], "--ids") == 0 && i + 1 < argc)
            sscanf(argv[++i], "%" SCNd64 ":%" SCNd64, &first_id, &id_count);
        else if (strcmp(argv[i], "--label") == 0 && i + 1 < argc)
            label = argv[++i];
        else if (strcmp(argv[i], "--no-header") == 0)
            header = false;
        else {
            fprintf(stderr, "usage: %s --writer PORT --reader PORT [--rates \"100 1000\"] [--seconds T] "
                    "[--ids FIRST:COUNT] [--label NAME] [--no-header]\n", argv[0]);
            return 2;
        }
    }
    if (writer_port <= 0 || reader_port <= 0 || id_count <= 0) {
        fprintf(stderr, "%s: --writer and --reader ports are required\n", argv[0]);
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    double base = run(0, seconds);
    char name[96];
    if (header)
        printf("%-34s %10s %9s %9s %9s %8s %8s %12s %9s\n", "scenario", "writes/s", "p50 ms", "p99 ms",
               "max ms", "unseen", "w.err", "searches/s", "vs idle");
    snprintf(name, sizeof name, "%s%sidle (no writes)", label, *label ? " " : "");
    printf("%-34s %10s %9s %9s %9s %8s %8s %12.0f %9s\n", name, "-", "-", "-", "-", "-", "-", base, "-");
    fflush(stdout);
    char *list = strdup(rates), *save = NULL;
    for (char *tok = strtok_r(list, " ,", &save); tok; tok = strtok_r(NULL, " ,", &save)) {
        double rate = atof(tok);
        if (rate <= 0)
            continue;
        double sps = run(rate, seconds);
        qsort(B.lat_ms, B.nlat, sizeof *B.lat_ms, dbl_cmp);
        snprintf(name, sizeof name, "%s%swrite-to-visible @%g/s", label, *label ? " " : "", rate);
        printf("%-34s %10.0f %9.2f %9.2f %9.2f %8ld %8ld %12.0f %+8.1f%%\n", name,
               (double)atomic_load(&B.writes) / seconds, pct(B.lat_ms, B.nlat, 50), pct(B.lat_ms, B.nlat, 99),
               B.nlat ? B.lat_ms[B.nlat - 1] : 0, atomic_load(&B.unseen), atomic_load(&B.write_errors), sps,
               (sps / base - 1) * 100);
        fflush(stdout);
    }
    free(list);
    free(B.lat_ms);
    curl_global_cleanup();
    return 0;
}
