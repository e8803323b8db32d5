/* relay_config.c — proximity-cdc's option table. README's relay table
 * mirrors it (tests/check_relay_config.c). */
#include "relay_config.h"

#include <stddef.h>
#include <string.h>

#define OPT(field) offsetof(relay_config_t, field)

static const config_option_t options[] = {
    {"primary-url", "PROXIMITY_PRIMARY_URL", "string", "postgresql:///proximity", false,
     "libpq URI of the primary whose businesses table is relayed", OPT(primary_url), 0, 0},
    {"kafka-brokers", "PROXIMITY_KAFKA_BROKERS", "string", "localhost:9092", false,
     "Kafka bootstrap servers (host:port,…)", OPT(kafka_brokers), 0, 0},
    {"kafka-topic", "PROXIMITY_KAFKA_TOPIC", "string", "proximity.public.businesses", false,
     "topic the change envelopes go to (key = business id)", OPT(kafka_topic), 0, 0},
    {"kafka-config", "PROXIMITY_KAFKA_CONFIG", "string", "", false,
     "extra librdkafka properties, comma-separated key=value (TLS, SASL, linger.ms, …)",
     OPT(kafka_config), 0, 0},
    {"cdc-slot", "PROXIMITY_CDC_SLOT", "string", "proximity_cdc", false,
     "durable logical replication slot the relay owns (created if missing)", OPT(slot), 0, 0},
    {"cdc-publication", "PROXIMITY_CDC_PUBLICATION", "string", "proximity_businesses", false,
     "publication of the businesses table", OPT(publication), 0, 0},
    {"cdc-server-name", "PROXIMITY_CDC_SERVER_NAME", "string", "proximity", false,
     "source.name in the envelopes (Debezium's logical server name)", OPT(server_name), 0, 0},
    {"relay-port", "PROXIMITY_RELAY_PORT", "int", "8081", false,
     "TCP port of the relay's /metrics and /healthz (0 = any free port)", OPT(port), 0, 65535},
    {"relay-bind", "PROXIMITY_RELAY_BIND", "string", "0.0.0.0", false,
     "IPv4 address the relay's HTTP listens on", OPT(bind), 0, 0},
    {"relay-port-file", "PROXIMITY_RELAY_PORT_FILE", "string", "", false,
     "write the relay's bound HTTP port to this file once listening", OPT(port_file), 0, 0},
    {"relay-max-inflight", "PROXIMITY_RELAY_MAX_INFLIGHT", "int", "10000", false,
     "messages produced but not yet acknowledged by Kafka before the relay stops reading WAL",
     OPT(max_inflight), 1, 10000000},
    {"kafka-message-timeout", "PROXIMITY_KAFKA_MESSAGE_TIMEOUT", "int", "0", false,
     "milliseconds librdkafka may try to deliver a message (0 = forever; a failure restarts "
     "the stream from the slot)",
     OPT(message_timeout_ms), 0, 86400000},
    {"cdc-status-interval", "PROXIMITY_CDC_STATUS_INTERVAL", "int", "1000", false,
     "milliseconds between position reports to the primary (each asks for its position)", OPT(status_interval_ms), 100, 600000},
    {"cdc-reconnect", "PROXIMITY_CDC_RECONNECT", "int", "1000", false,
     "milliseconds between attempts to reopen a lost replication stream", OPT(reconnect_ms), 10,
     600000},
    {"log-level", "PROXIMITY_LOG_LEVEL", "level", "info", false, "debug | info | warn | error",
     OPT(log_level), 0, 0},
    {NULL, NULL, NULL, NULL, false, NULL, 0, 0, 0},
};

const config_option_t *relay_config_options(void)
{
    return options;
}

int relay_config_load(relay_config_t *cfg, int argc, char **argv, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    return config_load_table(options, cfg, argc, argv, err, errlen);
}

void relay_config_free(relay_config_t *cfg)
{
    config_free_table(options, cfg);
}
