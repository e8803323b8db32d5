/* config.h — every option of proximityd, from the environment and --flags. */
#ifndef PROXIMITY_CONFIG_H
#define PROXIMITY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "log.h"

typedef enum { CONFIG_CDC_OFF = 0, CONFIG_CDC_PG = 1, CONFIG_CDC_KAFKA = 2 } config_cdc_t;

typedef struct config {
    int port;
    char *bind;
    char *port_file;
    int threads;
    char *primary_url;
    char *replica_urls;
    log_level_t log_level;
    long max_body;
    int connection_limit;
    int connection_timeout_s;
    int statement_timeout_ms;
    int snapshot_timeout_ms;
    int connect_timeout_s;
    int db_pool_size;
    int drain_timeout_s;
    int drain_delay_ms;
    int index_kind;          /* index_kind_t */
    int rebuild_interval_s;
    int cdc;                 /* config_cdc_t */
    char *cdc_publication;
    char *kafka_brokers, *kafka_topic, *kafka_config, *cdc_slot;
    int cdc_max_lag_ms;
    int consistency_wait_ms;
    int snapshot_wait_ms;
    int debug;
    long cache_bytes;
    int cache_ttl_s;
    int cache_negative_ttl_s;
    int cache_prewarm;
    /* security (issue 9): auth.c, ratelimit.c, idempotency.c */
    char *auth;                 /* jwt | off */
    char *jwt_secret, *jwt_secret_file, *jwt_public_key_file, *jwt_admin_role;
    char *jwt_issuer, *jwt_audience;
    int jwt_leeway_s;
    int rate_limit_read, rate_limit_write, rate_limit_burst, rate_limit_clients;
    char *rate_limit_key_header, *trusted_proxies;
    int idempotency_ttl_s;
    int connection_limit_per_ip;
    /* browser-facing: CORS, compression, the demo page (cors.c, compress.c, api_static.c) */
    char *cors_origins;
    int cors_credentials;
    int cors_max_age_s;
    int gzip_min_bytes;
    char *web_root;
    int header_timeout_s;
} config_t;

/* One row of the option table (config.c); exposed for --help and docs. */
typedef struct config_option {
    const char *flag;    /* --flag */
    const char *env;     /* PROXIMITY_… */
    const char *type;    /* int | string | level | size | index | cdc */
    const char *dflt;    /* default, as text */
    bool runtime;        /* can it change without a restart */
    const char *help;
    size_t offset;       /* into config_t (or the table's own struct) */
    long min, max;       /* bounds for numbers */
} config_option_t;

/* The option table, terminated by a row with flag == NULL. */
const config_option_t *config_options(void);

/* Fills cfg from defaults, then the environment, then argv (--flag=value or
 * --flag value). Returns 0, or -1 with a message in err. cfg owns its
 * strings; release with config_free. */
int config_load(config_t *cfg, int argc, char **argv, char *err, size_t errlen);

/* Frees the strings config_load allocated. */
void config_free(config_t *cfg);

/* Prints usage and the option table. */
void config_usage(FILE *out, const char *prog);

/* The same machinery for another program's table (proximity-cdc): sets
 * the fields of *cfg (zeroed by the caller) at each row's offset from
 * defaults, environment and argv. Returns 0, or -1 with err set. */
int config_load_table(const config_option_t *table, void *cfg, int argc, char **argv, char *err,
                      size_t errlen);
void config_free_table(const config_option_t *table, void *cfg);
void config_usage_table(const config_option_t *table, FILE *out, const char *prog);

#endif
