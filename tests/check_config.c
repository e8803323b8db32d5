/* check_config.c — option parsing, precedence, and that README.md
 * documents every option (a missing row fails the build's tests). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "check_run.h"

START_TEST(defaults_env_flags)
{
    config_t cfg;
    char err[256];
    char *argv[] = {"--port=9000", "--log-level", "debug"};

    setenv("PROXIMITY_PORT", "7000", 1);
    setenv("PROXIMITY_REPLICA_URLS", "postgresql://a,postgresql://b", 1);
    ck_assert_int_eq(config_load(&cfg, 3, argv, err, sizeof err), 0);
    ck_assert_int_eq(cfg.port, 9000);              /* flag beats env */
    ck_assert_int_eq(cfg.log_level, LOG_DEBUG);
    ck_assert_str_eq(cfg.replica_urls, "postgresql://a,postgresql://b");
    ck_assert_int_eq(cfg.max_body, 65536);          /* default */
    ck_assert_int_gt(cfg.threads, 0);
    ck_assert_int_eq(cfg.db_pool_size, cfg.threads + 2);
    config_free(&cfg);
    ck_assert_int_eq(config_load(&cfg, 0, NULL, err, sizeof err), 0);
    ck_assert_int_eq(cfg.port, 7000);               /* env beats default */
    config_free(&cfg);
    unsetenv("PROXIMITY_PORT");
    unsetenv("PROXIMITY_REPLICA_URLS");
}
END_TEST

START_TEST(bad_values)
{
    config_t cfg;
    char err[256];
    char *bad[][2] = {{"--port=70000", NULL}, {"--port=12x", NULL}, {"--threads=-1", NULL},
                      {"--log-level=loud", NULL}, {"--no-such-flag=1", NULL},
                      {"positional", NULL}, {"--port", NULL}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(config_load(&cfg, 1, bad[i], err, sizeof err) == -1, "accepted %s", bad[i][0]);
        ck_assert(strlen(err) > 0);
        config_free(&cfg);
    }
    setenv("PROXIMITY_MAX_BODY", "lots", 1);
    ck_assert_int_eq(config_load(&cfg, 0, NULL, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "PROXIMITY_MAX_BODY"));
    config_free(&cfg);
    unsetenv("PROXIMITY_MAX_BODY");
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
    for (const config_option_t *o = config_options(); o->flag; o++) {
        char row[128];
        snprintf(row, sizeof row, "`%s`", o->env);
        ck_assert_msg(strstr(text, row) != NULL, "README.md does not document %s", o->env);
        snprintf(row, sizeof row, "`--%s`", o->flag);
        ck_assert_msg(strstr(text, row) != NULL, "README.md does not document --%s", o->flag);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, defaults_env_flags);
    tcase_add_test(tc, bad_values);
    tcase_add_test(tc, readme_documents_every_option);
    suite_add_tcase(s, tc);
    return check_run(s, CK_NOFORK);
}
