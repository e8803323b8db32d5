/* relay_config.h — the options of proximity-cdc, the Kafka relay, in the
 * same table machinery as proximityd's (config.h). */
#ifndef PROXIMITY_RELAY_CONFIG_H
#define PROXIMITY_RELAY_CONFIG_H

#include "config.h"
#include "log.h"

typedef struct relay_config {
    char *primary_url;
    char *kafka_brokers;
    char *kafka_topic;
    char *kafka_config;    /* extra librdkafka properties: "k=v,k=v" */
    char *slot;
    char *publication;
    char *server_name;     /* source.name of the envelopes */
    int port;
    char *bind;
    char *port_file;
    int max_inflight;      /* messages produced and not yet acknowledged */
    int message_timeout_ms; /* 0: retry forever */
    int status_interval_ms;
    int reconnect_ms;
    log_level_t log_level;
} relay_config_t;

/* The option table, terminated by a row with flag == NULL. */
const config_option_t *relay_config_options(void);

/* Defaults < environment < argv; 0, or -1 with err set. Free with
 * relay_config_free. */
int relay_config_load(relay_config_t *cfg, int argc, char **argv, char *err, size_t errlen);
void relay_config_free(relay_config_t *cfg);

#endif
