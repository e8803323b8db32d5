/* ratelimit.c — token buckets in a set-associative table: the client key
 * is hashed (keyed, so nobody can aim collisions), each set of eight
 * buckets has its own lock, and a new client replaces the set's longest
 * idle bucket. No allocation after start, whatever the number of clients. */
#include "ratelimit.h"

#include <arpa/inet.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "xalloc.h"

#define WAYS 8

typedef struct bucket {
    uint64_t tag;    /* hash of the key; 0 = empty */
    double tokens;
    double last;     /* when tokens was computed */
} bucket_t;

typedef struct set {
    pthread_mutex_t lock;
    bucket_t b[WAYS];
} set_t;

struct ratelimit {
    double rate, burst;
    size_t nsets; /* a power of two */
    uint64_t seed;
    set_t *sets;
};

ratelimit_t *ratelimit_new(double rate, double burst, size_t slots)
{
    ratelimit_t *rl = xcalloc(1, sizeof *rl);
    rl->rate = rate;
    rl->burst = burst < 1 ? 1 : burst;
    size_t nsets = 8;
    while (nsets * WAYS < slots)
        nsets *= 2;
    rl->nsets = nsets;
    rl->sets = xcalloc(nsets, sizeof *rl->sets);
    for (size_t i = 0; i < nsets; i++)
        pthread_mutex_init(&rl->sets[i].lock, NULL);
    if (getrandom(&rl->seed, sizeof rl->seed, 0) != (ssize_t)sizeof rl->seed)
        rl->seed = (uint64_t)(uintptr_t)rl ^ 0x9e3779b97f4a7c15ULL;
    return rl;
}

void ratelimit_free(ratelimit_t *rl)
{
    if (rl == NULL)
        return;
    for (size_t i = 0; i < rl->nsets; i++)
        pthread_mutex_destroy(&rl->sets[i].lock);
    free(rl->sets);
    free(rl);
}

/* FNV-1a over the key, seeded, then a splitmix64 finaliser. */
static uint64_t key_hash(uint64_t seed, const char *key)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ seed;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 0x100000001b3ULL;
    h ^= seed;
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return h ? h : 1;
}

void ratelimit_take(ratelimit_t *rl, const char *key, double now, ratelimit_result_t *out)
{
    uint64_t h = key_hash(rl->seed, key);
    set_t *s = &rl->sets[(h >> 7) & (rl->nsets - 1)];
    pthread_mutex_lock(&s->lock);
    bucket_t *b = NULL, *victim = &s->b[0];
    for (int i = 0; i < WAYS; i++) {
        if (s->b[i].tag == h) {
            b = &s->b[i];
            break;
        }
        /* An empty bucket beats any; then the longest idle. */
        if (victim->tag != 0 && (s->b[i].tag == 0 || s->b[i].last < victim->last))
            victim = &s->b[i];
    }
    if (b == NULL) { /* a new client, or one forgotten: a full bucket */
        b = victim;
        b->tag = h;
        b->tokens = rl->burst;
        b->last = now;
    }
    if (now > b->last) {
        b->tokens = fmin(rl->burst, b->tokens + (now - b->last) * rl->rate);
        b->last = now;
    }
    out->allowed = b->tokens >= 1;
    if (out->allowed)
        b->tokens -= 1;
    out->limit = (long)rl->burst;
    out->remaining = (long)floor(b->tokens);
    out->reset_s = (long)ceil((rl->burst - b->tokens) / rl->rate);
    out->retry_after = out->allowed ? 0 : (long)ceil((1 - b->tokens) / rl->rate);
    if (!out->allowed && out->retry_after < 1)
        out->retry_after = 1;
    pthread_mutex_unlock(&s->lock);
}

/* ---------------------------------------------------------------- clients */

static int parse_ipv4(const char *s, size_t len, uint32_t *addr)
{
    char buf[INET_ADDRSTRLEN];
    struct in_addr a;
    if (len == 0 || len >= sizeof buf)
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (inet_pton(AF_INET, buf, &a) != 1)
        return -1;
    *addr = ntohl(a.s_addr);
    return 0;
}

static void trim(const char **s, size_t *len)
{
    while (*len > 0 && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t'))
        (*len)--;
}

int ratelimit_nets_parse(const char *list, ratelimit_nets_t *nets)
{
    nets->n = 0;
    const char *p = list;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *item = p;
        trim(&item, &len);
        p += end ? (size_t)(end - p) + 1 : strlen(p);
        if (len == 0)
            continue;
        const char *slash = memchr(item, '/', len);
        size_t alen = slash ? (size_t)(slash - item) : len;
        uint32_t addr;
        long bits = 32;
        if (parse_ipv4(item, alen, &addr) != 0 || nets->n >= sizeof nets->net / sizeof nets->net[0])
            return -1;
        if (slash != NULL) {
            char num[4] = "";
            size_t nlen = len - alen - 1;
            if (nlen == 0 || nlen > 2)
                return -1;
            memcpy(num, slash + 1, nlen);
            char *e;
            bits = strtol(num, &e, 10);
            if (*e != '\0' || bits < 0 || bits > 32)
                return -1;
        }
        uint32_t mask = bits == 0 ? 0 : 0xffffffffu << (32 - bits);
        nets->net[nets->n].addr = addr & mask;
        nets->net[nets->n].mask = mask;
        nets->n++;
    }
    return 0;
}

static bool trusted_addr(const ratelimit_nets_t *t, uint32_t a)
{
    for (size_t i = 0; i < t->n; i++)
        if ((a & t->net[i].mask) == t->net[i].addr)
            return true;
    return false;
}

void ratelimit_client_addr(const ratelimit_nets_t *trusted, const char *peer, const char *xff, char *out)
{
    uint32_t cur;
    snprintf(out, INET_ADDRSTRLEN, "%s", peer);
    if (parse_ipv4(peer, strlen(peer), &cur) != 0 || xff == NULL || !trusted_addr(trusted, cur))
        return;
    /* Right to left: each hop was added by the one after it; believe
     * hops only while the one that added them is trusted. */
    size_t end = strlen(xff);
    while (trusted_addr(trusted, cur)) {
        size_t start = end;
        while (start > 0 && xff[start - 1] != ',')
            start--;
        const char *item = xff + start;
        size_t len = end - start;
        trim(&item, &len);
        uint32_t hop;
        if (parse_ipv4(item, len, &hop) != 0)
            break; /* garbage: the last believable hop stands */
        cur = hop;
        if (start == 0)
            break;
        end = start - 1;
    }
    struct in_addr a = {.s_addr = htonl(cur)};
    inet_ntop(AF_INET, &a, out, INET_ADDRSTRLEN);
}
