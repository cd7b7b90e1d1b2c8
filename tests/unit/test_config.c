/* Configuration precedence: defaults < INI file < CALLHOOK_* environment < flags (the CLI calls
 * ch_config_set for flags), and clear errors for bad values and unknown names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "app/config.h"
#include "util/result.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *write_ini(const char *text)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/ch-unit-config-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void precedence_file_env_flag(void **state)
{
    (void)state;
    ch_config c;
    ch_config_defaults(&c);
    assert_string_equal(c.listen, "127.0.0.1:8080");
    assert_int_equal(c.max_body, 1048576);
    assert_true(c.threads >= 2);

    char err[256] = "";
    char *path = write_ini("; comment\n[server]\nlisten = 127.0.0.1:9000\nthreads = 3\n"
                           "max_body = 2048\n[store]\ndb = /tmp/x.db\n[auth]\nfail_limit = 7\n");
    assert_int_equal(ch_config_load_file(&c, path, err, sizeof err), CH_OK);
    unlink(path);
    assert_string_equal(c.listen, "127.0.0.1:9000");
    assert_int_equal(c.threads, 3);
    assert_int_equal(c.max_body, 2048);
    assert_string_equal(c.db, "/tmp/x.db");
    assert_int_equal(c.auth_fail_limit, 7);

    setenv("CALLHOOK_LISTEN", "127.0.0.1:9100", 1);
    setenv("CALLHOOK_THREADS", "5", 1);
    assert_int_equal(ch_config_load_env(&c, err, sizeof err), CH_OK);
    unsetenv("CALLHOOK_LISTEN");
    unsetenv("CALLHOOK_THREADS");
    assert_string_equal(c.listen, "127.0.0.1:9100"); /* env over file */
    assert_int_equal(c.threads, 5);
    assert_int_equal(c.max_body, 2048); /* untouched by env */

    assert_int_equal(ch_config_set(&c, "server", "listen", "[::1]:9200", err, sizeof err), CH_OK);
    assert_string_equal(c.listen, "[::1]:9200"); /* flag over env */
}

static void bad_values_are_named(void **state)
{
    (void)state;
    ch_config c;
    ch_config_defaults(&c);
    char err[256];
    const char *bad[][3] = {
        {"server", "threads", "0"}, {"server", "threads", "many"},     {"server", "max_body", "-1"},
        {"log", "level", "loud"},   {"server", "no_such_option", "1"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err[0] = 0;
        if (ch_config_set(&c, bad[i][0], bad[i][1], bad[i][2], err, sizeof err) == CH_OK)
            fail_msg("%s.%s = %s accepted", bad[i][0], bad[i][1], bad[i][2]);
        if (!strstr(err, bad[i][1])) fail_msg("error \"%s\" does not name %s", err, bad[i][1]);
    }
    char *path = write_ini("[server]\nthreads = 0\n");
    err[0] = 0;
    assert_int_equal(ch_config_load_file(&c, path, err, sizeof err), CH_EINVAL);
    unlink(path);
    assert_non_null(strstr(err, "threads"));
    assert_int_equal(ch_config_load_file(&c, "/nonexistent/callhook.ini", err, sizeof err),
                     CH_EINVAL);
    setenv("CALLHOOK_MAX_BODY", "lots", 1);
    assert_int_equal(ch_config_load_env(&c, err, sizeof err), CH_EINVAL);
    unsetenv("CALLHOOK_MAX_BODY");
    assert_non_null(strstr(err, "CALLHOOK_MAX_BODY"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(precedence_file_env_flag),
        cmocka_unit_test(bad_values_are_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
