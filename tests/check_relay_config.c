/* check_relay_config.c — proximity-cdc's options: defaults, environment,
 * flags, bad values, and that README.md documents every one. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "relay_config.h"

START_TEST(defaults_env_flags)
{
    relay_config_t cfg;
    char err[256];
    char *argv[] = {"--relay-port=0", "--kafka-topic", "t1"};
    setenv("PROXIMITY_KAFKA_BROKERS", "127.0.0.1:1,127.0.0.1:2", 1);
    setenv("PROXIMITY_RELAY_PORT", "9999", 1);
    ck_assert_int_eq(relay_config_load(&cfg, 3, argv, err, sizeof err), 0);
    ck_assert_int_eq(cfg.port, 0); /* flag beats env */
    ck_assert_str_eq(cfg.kafka_topic, "t1");
    ck_assert_str_eq(cfg.kafka_brokers, "127.0.0.1:1,127.0.0.1:2");
    ck_assert_str_eq(cfg.slot, "proximity_cdc");
    ck_assert_int_eq(cfg.max_inflight, 10000);
    ck_assert_int_eq(cfg.message_timeout_ms, 0);
    relay_config_free(&cfg);
    unsetenv("PROXIMITY_KAFKA_BROKERS");
    unsetenv("PROXIMITY_RELAY_PORT");
    char *bad[][1] = {{"--relay-port=70000"}, {"--relay-max-inflight=0"}, {"--port=1"},
                      {"--log-level=loud"}, {"--cdc-status-interval=5"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(relay_config_load(&cfg, 1, bad[i], err, sizeof err) == -1, "accepted %s", bad[i][0]);
        relay_config_free(&cfg);
    }
}
END_TEST

START_TEST(readme_documents_every_option)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/README.md", getenv("top_srcdir") ? getenv("top_srcdir") : PROXIMITY_SRCDIR);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot read %s", path);
    static char text[1 << 20];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    for (const config_option_t *o = relay_config_options(); o->flag; o++) {
        char row[160];
        snprintf(row, sizeof row, "| `--%s` | `%s` |", o->flag, o->env);
        ck_assert_msg(strstr(text, row) != NULL, "README.md has no row %s", row);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("relay_config");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, defaults_env_flags);
    tcase_add_test(tc, readme_documents_every_option);
    suite_add_tcase(s, tc);
    return check_run(s, CK_NOFORK);
}
