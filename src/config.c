/* config.c — the option table and its parsing (defaults < env < --flags). */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cors.h"
#include "index.h"
#include "xalloc.h"

#define OPT(field) offsetof(config_t, field)

/* The one list of options. README's table mirrors it; tests/check_config.c
 * fails when an option is missing from the README. */
static const config_option_t options[] = {
    {"port", "PROXIMITY_PORT", "int", "8080", false,
     "TCP port for HTTP (0 = any free port; see --port-file)", OPT(port), 0, 65535},
    {"bind", "PROXIMITY_BIND", "string", "0.0.0.0", false,
     "IPv4 address to listen on", OPT(bind), 0, 0},
    {"port-file", "PROXIMITY_PORT_FILE", "string", "", false,
     "write the bound port to this file once listening", OPT(port_file), 0, 0},
    {"threads", "PROXIMITY_THREADS", "int", "0", false,
     "HTTP worker threads (0 = number of CPUs)", OPT(threads), 0, 1024},
    {"primary-url", "PROXIMITY_PRIMARY_URL", "string", "postgresql:///proximity", false,
     "libpq URI of the primary (writes)", OPT(primary_url), 0, 0},
    {"replica-urls", "PROXIMITY_REPLICA_URLS", "string", "", false,
     "comma-separated libpq URIs of read replicas (empty = read from the primary)",
     OPT(replica_urls), 0, 0},
    {"log-level", "PROXIMITY_LOG_LEVEL", "level", "info", false,
     "debug | info | warn | error", OPT(log_level), 0, 0},
    {"max-body", "PROXIMITY_MAX_BODY", "size", "65536", false,
     "largest request body in bytes (larger = 413)", OPT(max_body), 1, 64L << 20},
    {"connection-limit", "PROXIMITY_CONNECTION_LIMIT", "int", "1024", false,
     "concurrent HTTP connections", OPT(connection_limit), 1, 1000000},
    {"connection-timeout", "PROXIMITY_CONNECTION_TIMEOUT", "int", "30", false,
     "seconds an idle or slow client connection may stay open", OPT(connection_timeout_s), 1, 3600},
    {"statement-timeout", "PROXIMITY_STATEMENT_TIMEOUT", "int", "5000", false,
     "milliseconds a database statement may run", OPT(statement_timeout_ms), 1, 600000},
    {"snapshot-timeout", "PROXIMITY_SNAPSHOT_TIMEOUT", "int", "600000", false,
     "milliseconds one snapshot stream (index build, cache pre-warm) may take",
     OPT(snapshot_timeout_ms), 1, 86400000},
    {"connect-timeout", "PROXIMITY_CONNECT_TIMEOUT", "int", "2", false,
     "seconds to wait for a database connection", OPT(connect_timeout_s), 1, 60},
    {"db-pool-size", "PROXIMITY_DB_POOL_SIZE", "int", "0", false,
     "connections kept per database server (0 = threads + 2)", OPT(db_pool_size), 0, 1000},
    {"drain-timeout", "PROXIMITY_DRAIN_TIMEOUT", "int", "10", false,
     "seconds SIGTERM waits for in-flight requests", OPT(drain_timeout_s), 0, 600},
    {"drain-delay", "PROXIMITY_DRAIN_DELAY", "int", "0", false,
     "milliseconds SIGTERM keeps serving with /readyz failing before it stops accepting (so a load "
     "balancer takes this replica out first)", OPT(drain_delay_ms), 0, 600000},
    {"index", "PROXIMITY_INDEX", "index", "quadtree", false,
     "spatial index: geohash | quadtree", OPT(index_kind), 0, 0},
    {"rebuild-interval", "PROXIMITY_REBUILD_INTERVAL", "int", "0", false,
     "seconds between index rebuilds from a replica (0 = only at start and on SIGHUP)",
     OPT(rebuild_interval_s), 0, 86400 * 7},
    {"cdc", "PROXIMITY_CDC", "cdc", "pg", false,
     "change stream that keeps the index current: pg (logical replication from the primary) | "
     "kafka | off (snapshots only)", OPT(cdc), 0, 0},
    {"cdc-publication", "PROXIMITY_CDC_PUBLICATION", "string", "proximity_businesses", false,
     "publication of the businesses table that the pg stream reads", OPT(cdc_publication), 0, 0},
    {"kafka-brokers", "PROXIMITY_KAFKA_BROKERS", "string", "localhost:9092", false,
     "cdc=kafka: bootstrap servers of the change topic", OPT(kafka_brokers), 0, 0},
    {"kafka-topic", "PROXIMITY_KAFKA_TOPIC", "string", "proximity.public.businesses", false,
     "cdc=kafka: topic of Debezium-style envelopes (every partition is read)", OPT(kafka_topic), 0, 0},
    {"kafka-config", "PROXIMITY_KAFKA_CONFIG", "string", "", false,
     "cdc=kafka: extra librdkafka properties, k=v,k=v (the consumer sets fetch.wait.max.ms=100; override it here)",
     OPT(kafka_config), 0, 0},
    {"cdc-slot", "PROXIMITY_CDC_SLOT", "string", "proximity_cdc", false,
     "cdc=kafka: the relay's (or Debezium's) slot on the primary, whose confirmed position says "
     "what the topic holds", OPT(cdc_slot), 0, 0},
    {"cdc-max-lag", "PROXIMITY_CDC_MAX_LAG", "int", "5000", false,
     "milliseconds the change stream may lag (or be away) before /readyz says not ready",
     OPT(cdc_max_lag_ms), 1, 86400000},
    {"consistency-wait", "PROXIMITY_CONSISTENCY_WAIT", "int", "2000", false,
     "milliseconds a request with X-Consistency-Token waits for this replica to apply it (then 503)",
     OPT(consistency_wait_ms), 0, 60000},
    {"snapshot-wait", "PROXIMITY_SNAPSHOT_WAIT", "int", "10000", false,
     "milliseconds an index build waits for a read replica to replay the stream's start before "
     "taking the snapshot from the primary", OPT(snapshot_wait_ms), 0, 3600000},
    {"debug", "PROXIMITY_DEBUG", "int", "0", false,
     "1 = serve GET /debug/index (every indexed id, version and location; for tests and audits)",
     OPT(debug), 0, 1},
    {"cache-bytes", "PROXIMITY_CACHE_BYTES", "size", "1073741824", false,
     "business-detail cache size in bytes", OPT(cache_bytes), 1 << 16, 1L << 40},
    {"cache-ttl", "PROXIMITY_CACHE_TTL", "int", "300", false,
     "seconds a cached business lives (each entry jittered by 10%)", OPT(cache_ttl_s), 1, 86400},
    {"cache-negative-ttl", "PROXIMITY_CACHE_NEGATIVE_TTL", "int", "5", false,
     "seconds an unknown id is remembered as unknown", OPT(cache_negative_ttl_s), 1, 3600},
    {"cache-prewarm", "PROXIMITY_CACHE_PREWARM", "int", "10000000", false,
     "most businesses loaded into the cache before /readyz says ready (stops at 90% of the cache)",
     OPT(cache_prewarm), 0, 100000000},
    /* Security (issue 9): write authentication, rate limits, idempotency. */
    {"auth", "PROXIMITY_AUTH", "string", "jwt", false,
     "jwt = writes need Authorization: Bearer <JWT> (refused with 401 while no key is set) | "
     "off = anyone may write, as owner anonymous (local runs, tests)", OPT(auth), 0, 0},
    {"jwt-secret", "PROXIMITY_JWT_SECRET", "string", "", false,
     "HS256 shared secret, at least 32 bytes (prefer the environment or the file to a flag)",
     OPT(jwt_secret), 0, 0},
    {"jwt-secret-file", "PROXIMITY_JWT_SECRET_FILE", "string", "", false,
     "file holding the HS256 secret (a trailing newline is dropped)", OPT(jwt_secret_file), 0, 0},
    {"jwt-public-key-file", "PROXIMITY_JWT_PUBLIC_KEY_FILE", "string", "", false,
     "PEM public key: RSA (RS256, 2048 bits or more) or EC P-256 (ES256)", OPT(jwt_public_key_file), 0, 0},
    {"jwt-leeway", "PROXIMITY_JWT_LEEWAY", "int", "30", false,
     "seconds of clock skew allowed on exp and nbf", OPT(jwt_leeway_s), 0, 600},
    {"jwt-admin-role", "PROXIMITY_JWT_ADMIN_ROLE", "string", "admin", false,
     "value of the role claim (or a member of roles) that may change anyone's listing",
     OPT(jwt_admin_role), 0, 0},
    {"jwt-issuer", "PROXIMITY_JWT_ISSUER", "string", "", false,
     "the iss every token must carry (empty = not checked)", OPT(jwt_issuer), 0, 0},
    {"jwt-audience", "PROXIMITY_JWT_AUDIENCE", "string", "", false,
     "a value the aud of every token must hold (empty = not checked; set it with an identity "
     "provider's key)", OPT(jwt_audience), 0, 0},
    {"rate-limit-read", "PROXIMITY_RATE_LIMIT_READ", "int", "0", false,
     "GET requests per second per client on /v1 (0 = no limit)", OPT(rate_limit_read), 0, 1000000},
    {"rate-limit-write", "PROXIMITY_RATE_LIMIT_WRITE", "int", "0", false,
     "POST/PUT/PATCH/DELETE requests per second per client (0 = no limit)", OPT(rate_limit_write), 0, 1000000},
    {"rate-limit-burst", "PROXIMITY_RATE_LIMIT_BURST", "int", "0", false,
     "requests a client may send at once before the rate applies (0 = one second's worth)",
     OPT(rate_limit_burst), 0, 1000000},
    {"rate-limit-clients", "PROXIMITY_RATE_LIMIT_CLIENTS", "int", "65536", false,
     "clients tracked at once (a fixed table; the longest idle is forgotten first)",
     OPT(rate_limit_clients), 64, 16777216},
    {"rate-limit-key-header", "PROXIMITY_RATE_LIMIT_KEY_HEADER", "string", "X-API-Key", false,
     "request header whose value names the client for rate limits (empty = the address only)",
     OPT(rate_limit_key_header), 0, 0},
    {"trusted-proxies", "PROXIMITY_TRUSTED_PROXIES", "string", "", false,
     "comma-separated IPv4 addresses or CIDRs whose X-Forwarded-For is believed", OPT(trusted_proxies), 0, 0},
    {"idempotency-ttl", "PROXIMITY_IDEMPOTENCY_TTL", "int", "86400", false,
     "seconds an Idempotency-Key of a POST is remembered", OPT(idempotency_ttl_s), 60, 86400 * 30},
    {"connection-limit-per-ip", "PROXIMITY_CONNECTION_LIMIT_PER_IP", "int", "0", false,
     "concurrent HTTP connections from one peer address (0 = no limit; keep 0 behind a proxy)",
     OPT(connection_limit_per_ip), 0, 1000000},
    /* Browser-facing (cors.c, compress.c, api_static.c). */
    {"cors-origins", "PROXIMITY_CORS_ORIGINS", "string", "", false,
     "origins whose pages may call the API: comma list (https://app.example,http://localhost:3000), "
     "* for any, empty for none", OPT(cors_origins), 0, 0},
    {"cors-credentials", "PROXIMITY_CORS_CREDENTIALS", "int", "0", false,
     "1 = let listed origins send cookies and Authorization (Access-Control-Allow-Credentials; "
     "refused with *)", OPT(cors_credentials), 0, 1},
    {"cors-max-age", "PROXIMITY_CORS_MAX_AGE", "int", "600", false,
     "seconds a browser may cache a CORS preflight answer", OPT(cors_max_age_s), 0, 86400},
    {"gzip-min-bytes", "PROXIMITY_GZIP_MIN_BYTES", "int", "1024", false,
     "smallest text or JSON body sent gzip-compressed to clients that accept it (0 = never)",
     OPT(gzip_min_bytes), 0, 1 << 30},
    {"web-root", "PROXIMITY_WEB_ROOT", "string", "", false,
     "directory of the demo page served at / (empty = the installed share/proximity/web, else the "
     "source tree's web/)", OPT(web_root), 0, 0},
    {"header-timeout", "PROXIMITY_HEADER_TIMEOUT", "int", "10", false,
     "seconds a connection may take to send a request's line and headers, however slowly it "
     "trickles them (0 = no deadline)", OPT(header_timeout_s), 0, 3600},
    {NULL, NULL, NULL, NULL, false, NULL, 0, 0, 0},
};

const config_option_t *config_options(void)
{
    return options;
}

static int set_option(void *cfg, const config_option_t *o, const char *value,
                      const char *source, char *err, size_t errlen)
{
    void *field = (char *)cfg + o->offset;

    if (strcmp(o->type, "string") == 0) {
        char **s = field;
        free(*s);
        *s = xstrdup(value);
        return 0;
    }
    if (strcmp(o->type, "index") == 0) {
        index_kind_t kind;
        if (index_kind_parse(value, &kind) == 0) {
            *(int *)field = (int)kind;
            return 0;
        }
        snprintf(err, errlen, "%s: %s must be geohash or quadtree, not \"%s\"", source, o->flag, value);
        return -1;
    }
    if (strcmp(o->type, "cdc") == 0) {
        static const char *const names[] = {"off", "pg", "kafka"};
        for (int i = 0; i < 3; i++)
            if (strcmp(value, names[i]) == 0) {
                *(int *)field = i;
                return 0;
            }
        snprintf(err, errlen, "%s: %s must be pg, kafka or off, not \"%s\"", source, o->flag, value);
        return -1;
    }
    if (strcmp(o->type, "level") == 0) {
        if (log_level_parse(value, field) == 0)
            return 0;
        snprintf(err, errlen, "%s: %s must be debug, info, warn or error, not \"%s\"", source,
                 o->flag, value);
        return -1;
    }
    /* int and size: whole decimal numbers within [min, max]. */
    char *end;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (errno != 0 || end == value || *end != '\0' || v < o->min || v > o->max) {
        snprintf(err, errlen, "%s: %s must be a whole number in %ld..%ld, not \"%s\"", source,
                 o->flag, o->min, o->max, value);
        return -1;
    }
    if (strcmp(o->type, "size") == 0)
        *(long *)field = v;
    else
        *(int *)field = (int)v;
    return 0;
}

static const config_option_t *find_flag(const config_option_t *table, const char *name, size_t len)
{
    for (const config_option_t *o = table; o->flag != NULL; o++)
        if (strlen(o->flag) == len && memcmp(o->flag, name, len) == 0)
            return o;
    return NULL;
}

int config_load_table(const config_option_t *table, void *cfg, int argc, char **argv, char *err,
                      size_t errlen)
{
    for (const config_option_t *o = table; o->flag != NULL; o++)
        if (set_option(cfg, o, o->dflt, "default", err, errlen) != 0)
            return -1;
    for (const config_option_t *o = table; o->flag != NULL; o++) {
        const char *v = getenv(o->env);
        if (v != NULL && set_option(cfg, o, v, o->env, err, errlen) != 0)
            return -1;
    }
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "--", 2) != 0) {
            snprintf(err, errlen, "unexpected argument \"%s\"", arg);
            return -1;
        }
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const config_option_t *o = find_flag(table, name, len);
        if (o == NULL) {
            snprintf(err, errlen, "unknown option \"%s\" (see --help)", arg);
            return -1;
        }
        const char *value = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (value == NULL) {
            snprintf(err, errlen, "option --%s needs a value", o->flag);
            return -1;
        }
        if (set_option(cfg, o, value, "command line", err, errlen) != 0)
            return -1;
    }
    return 0;
}

int config_load(config_t *cfg, int argc, char **argv, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    if (config_load_table(options, cfg, argc, argv, err, errlen) != 0) {
        config_free(cfg); /* a refused start-up leaks nothing (LeakSanitizer) */
        return -1;
    }
    if (cfg->threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        cfg->threads = n > 0 ? (int)n : 2;
    }
    if (cfg->db_pool_size == 0)
        cfg->db_pool_size = cfg->threads + 2;
    /* A CORS policy that cannot stand (credentials for "*") is a usage error. */
    cors_t *cors = cors_new(cfg->cors_origins, cfg->cors_credentials != 0, cfg->cors_max_age_s, err, errlen);
    if (cors == NULL) {
        config_free(cfg);
        return -1;
    }
    cors_free(cors);
    return 0;
}

void config_free_table(const config_option_t *table, void *cfg)
{
    for (const config_option_t *o = table; o->flag != NULL; o++) {
        if (strcmp(o->type, "string") == 0) {
            char **s = (void *)((char *)cfg + o->offset);
            free(*s);
            *s = NULL;
        }
    }
}

void config_free(config_t *cfg)
{
    config_free_table(options, cfg);
}

void config_usage_table(const config_option_t *table, FILE *out, const char *prog)
{
    fprintf(out, "usage: %s [--flag=value ...]\n\n"
                 "Every option is also read from its environment variable; flags win.\n\n",
            prog);
    for (const config_option_t *o = table; o->flag != NULL; o++)
        fprintf(out, "  --%-20s %-30s default \"%s\"\n      %s\n", o->flag, o->env, o->dflt,
                o->help);
}

void config_usage(FILE *out, const char *prog)
{
    config_usage_table(options, out, prog);
}
