/* ratelimit.h — token buckets per client in a fixed-size table, and who
 * the client is (API key, address, X-Forwarded-For from trusted proxies).
 * Pure: the clock and the addresses are the caller's. */
#ifndef PROXIMITY_RATELIMIT_H
#define PROXIMITY_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ratelimit ratelimit_t;

typedef struct ratelimit_result {
    bool allowed;
    long limit;       /* the bucket size (RateLimit-Limit) */
    long remaining;   /* whole requests left now (RateLimit-Remaining) */
    long reset_s;     /* seconds until the bucket is full again (RateLimit-Reset) */
    long retry_after; /* when refused: seconds until one request is allowed */
} ratelimit_result_t;

/* rate requests per second with buckets of burst (>= 1) requests; the
 * table tracks about slots clients (rounded up to a power of two, at least
 * 64) and forgets the longest idle one of a set when a new client comes.
 * Memory is fixed at creation. */
ratelimit_t *ratelimit_new(double rate, double burst, size_t slots);
void ratelimit_free(ratelimit_t *rl);

/* Takes one token from key's bucket at monotonic time now (seconds). */
void ratelimit_take(ratelimit_t *rl, const char *key, double now, ratelimit_result_t *out);

/* Trusted proxy networks: "10.0.0.1, 192.168.0.0/16". */
typedef struct ratelimit_nets {
    size_t n;
    struct { uint32_t addr, mask; } net[64];
} ratelimit_nets_t;

/* Parses a comma list of IPv4 addresses and CIDRs; -1 on any bad entry. */
int ratelimit_nets_parse(const char *list, ratelimit_nets_t *nets);

/* The client's address: peer itself unless peer is a trusted proxy, in
 * which case X-Forwarded-For (xff, may be NULL) is walked from the right
 * past trusted hops to the first address that is not one. Writes a
 * dotted quad into out (16 bytes). */
void ratelimit_client_addr(const ratelimit_nets_t *trusted, const char *peer, const char *xff, char *out);

#endif
