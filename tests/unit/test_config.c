/* Configuration (src/app/config.h): defaults < INI file < CALLHOOK_* environment < flags, as
 * docs/cli.md states; the flag step is the CLI's own scanner (src/cli/args.h) plus
 * ch_config_set, as `callhook serve` runs them. Invalid values are refused with an error that
 * names the option. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "app/config.h"
#include "cli/args.h"
#include "util/log.h"
#include "util/result.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const env_names[] = {
    "CALLHOOK_CONFIG",    "CALLHOOK_LISTEN",      "CALLHOOK_PUBLIC_URL", "CALLHOOK_THREADS",
    "CALLHOOK_MAX_BODY",  "CALLHOOK_MAX_RECORDS", "CALLHOOK_DB",         "CALLHOOK_DB_MAX_BYTES",
    "CALLHOOK_LOG_LEVEL", "CALLHOOK_LOG_FILE"};

/* Every test starts without CALLHOOK_* in the environment and leaves none behind. */
static int clean_env(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof env_names / sizeof *env_names; i++)
        unsetenv(env_names[i]);
    return 0;
}

typedef struct {
    char path[64];
} tmpfile_t;

static void write_ini(tmpfile_t *t, const char *text)
{
    snprintf(t->path, sizeof t->path, "/tmp/ch-unit-config-XXXXXX");
    int fd = mkstemp(t->path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(close(fd), 0);
}

/* The example of docs/cli.md, with other values than the defaults and its inline comments. */
static const char *const full_ini = "; callhook\n"
                                    "[server]\n"
                                    "listen = 127.0.0.1:9000\n"
                                    "public_url = https://hooks.example.com\n"
                                    "threads = 3             ; HTTP threads\n"
                                    "max_body = 2048\n"
                                    "max_records = 50\n"
                                    "[store]\n"
                                    "db = /tmp/from-ini.db\n"
                                    "max_bytes = 1073741824\n"
                                    "batch_max = 64\n"
                                    "[log]\n"
                                    "level = debug\n"
                                    "file = /tmp/callhook.log\n"
                                    "[auth]\n"
                                    "fail_limit = 7        ; failed authentications per address\n"
                                    "fail_window = 120\n";

static void defaults(void **state)
{
    (void)state;
    ch_config c;
    memset(&c, 0xab, sizeof c);
    ch_config_defaults(&c);
    assert_string_equal(c.listen, "127.0.0.1:8080");
    assert_string_equal(c.db, "var/callhook.db");
    assert_string_equal(c.public_url, "");
    assert_string_equal(c.log_file, "-");
    assert_int_equal(c.log_level, CH_LOG_INFO);
    assert_int_equal(c.max_body, 1048576);
    assert_int_equal(c.max_records, 1000);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN); /* one per CPU, 2–16 */
    assert_int_equal(c.threads, ncpu < 2 ? 2 : ncpu > 16 ? 16 : ncpu);
    assert_int_equal(c.db_max_bytes, 0);
    assert_int_equal(c.auth_fail_limit, 10);
    assert_int_equal(c.auth_fail_window, 60);
    assert_int_equal(c.batch_max, 1024);
    assert_int_equal(c.max_streams, 1000);
    assert_int_equal(c.stream_heartbeat_ms, 15000);
    assert_int_equal(c.stream_buffer, 256 * 1024);
}

/* server.max_streams stays below the connection limit, with room for the rest of the API. */
static void stream_limits(void **state)
{
    (void)state;
    ch_config c;
    ch_config_defaults(&c);
    char err[256];
    assert_int_equal(ch_config_set(&c, "server", "max_streams", "3584", err, sizeof err), CH_OK);
    assert_int_equal(c.max_streams, 3584);
    assert_int_equal(ch_config_set(&c, "server", "max_streams", "3585", err, sizeof err),
                     CH_EINVAL);
    assert_non_null(strstr(err, "server.max_streams"));
    assert_int_equal(ch_config_set(&c, "server", "max_streams", "0", err, sizeof err), CH_EINVAL);
    assert_int_equal(ch_config_set(&c, "server", "stream_buffer", "4095", err, sizeof err),
                     CH_EINVAL);
    assert_int_equal(ch_config_set(&c, "server", "stream_heartbeat_ms", "49", err, sizeof err),
                     CH_EINVAL);
    setenv("CALLHOOK_SERVER_MAX_STREAMS", "7", 1);
    setenv("CALLHOOK_SERVER_STREAM_HEARTBEAT_MS", "250", 1);
    setenv("CALLHOOK_SERVER_STREAM_BUFFER", "8192", 1);
    assert_int_equal(ch_config_load_env(&c, err, sizeof err), CH_OK);
    assert_int_equal(c.max_streams, 7);
    assert_int_equal(c.stream_heartbeat_ms, 250);
    assert_int_equal(c.stream_buffer, 8192);
    setenv("CALLHOOK_SERVER_MAX_STREAMS", "5000", 1);
    assert_int_equal(ch_config_load_env(&c, err, sizeof err), CH_EINVAL);
    assert_non_null(strstr(err, "CALLHOOK_SERVER_MAX_STREAMS"));
    unsetenv("CALLHOOK_SERVER_MAX_STREAMS");
    unsetenv("CALLHOOK_SERVER_STREAM_HEARTBEAT_MS");
    unsetenv("CALLHOOK_SERVER_STREAM_BUFFER");
}

static void ini_file_sets_every_option(void **state)
{
    (void)state;
    ch_config c;
    ch_config_defaults(&c);
    tmpfile_t t;
    write_ini(&t, full_ini);
    char err[256] = "";
    int rc = ch_config_load_file(&c, t.path, err, sizeof err);
    unlink(t.path);
    if (rc != CH_OK) fail_msg("load: %s", err);
    assert_string_equal(c.listen, "127.0.0.1:9000");
    assert_string_equal(c.public_url, "https://hooks.example.com");
    assert_int_equal(c.threads, 3); /* the inline comment is not part of the value */
    assert_int_equal(c.max_body, 2048);
    assert_int_equal(c.max_records, 50);
    assert_string_equal(c.db, "/tmp/from-ini.db");
    assert_int_equal(c.db_max_bytes, 1073741824);
    assert_int_equal(c.batch_max, 64);
    assert_int_equal(c.log_level, CH_LOG_DEBUG);
    assert_string_equal(c.log_file, "/tmp/callhook.log");
    assert_int_equal(c.auth_fail_limit, 7);
    assert_int_equal(c.auth_fail_window, 120);
}

static void environment_overrides_the_file(void **state)
{
    (void)state;
    ch_config c;
    ch_config_defaults(&c);
    tmpfile_t t;
    write_ini(&t, full_ini);
    char err[256] = "";
    assert_int_equal(ch_config_load_file(&c, t.path, err, sizeof err), CH_OK);
    unlink(t.path);

    setenv("CALLHOOK_LISTEN", "127.0.0.1:9100", 1);
    setenv("CALLHOOK_THREADS", "5", 1);
    setenv("CALLHOOK_DB", "/tmp/from-env.db", 1);
    setenv("CALLHOOK_LOG_LEVEL", "warn", 1);
    setenv("CALLHOOK_DB_MAX_BYTES", "4096", 1);
    setenv("CALLHOOK_MAX_RECORDS", "", 1); /* empty: not set */
    assert_int_equal(ch_config_load_env(&c, err, sizeof err), CH_OK);
    assert_string_equal(c.listen, "127.0.0.1:9100");
    assert_int_equal(c.threads, 5);
    assert_string_equal(c.db, "/tmp/from-env.db");
    assert_int_equal(c.log_level, CH_LOG_WARN);
    assert_int_equal(c.db_max_bytes, 4096);
    /* what the environment does not name keeps the file's value */
    assert_int_equal(c.max_records, 50);
    assert_int_equal(c.max_body, 2048);
    assert_string_equal(c.public_url, "https://hooks.example.com");
    assert_int_equal(c.auth_fail_limit, 7);
    clean_env(NULL);
}

/* The whole chain as `callhook serve` runs it: --config (or CALLHOOK_CONFIG) file, then the
 * environment, then --db and the serve flags through ch_config_set. */
static void flags_override_environment(void **state)
{
    (void)state;
    tmpfile_t t;
    write_ini(&t, full_ini);
    setenv("CALLHOOK_LISTEN", "127.0.0.1:9100", 1);
    setenv("CALLHOOK_DB", "/tmp/from-env.db", 1);
    setenv("CALLHOOK_MAX_BODY", "4096", 1);
    char *argv[] = {"--config", t.path,       "--db",      "/tmp/from-flag.db",
                    "--listen", "[::1]:9200", "--threads", "9"};
    static const char *const valued[] = {"config", "db", "listen", "threads", NULL};
    ch_args a;
    assert_int_equal(ch_args_init(&a, 8, argv, valued), 0);
    assert_string_equal(a.db, "/tmp/from-flag.db");      /* --db over CALLHOOK_DB over the file */
    assert_string_equal(a.cfg.listen, "127.0.0.1:9100"); /* env, before the flags apply */
    char err[256];
    const char *v = ch_arg(&a, "listen");
    assert_non_null(v);
    assert_int_equal(ch_config_set(&a.cfg, "server", "listen", v, err, sizeof err), CH_OK);
    v = ch_arg(&a, "threads");
    assert_int_equal(ch_config_set(&a.cfg, "server", "threads", v, err, sizeof err), CH_OK);
    assert_int_equal(ch_args_finish(&a), 0); /* every argument consumed */
    assert_string_equal(a.cfg.listen, "[::1]:9200");
    assert_int_equal(a.cfg.threads, 9);
    assert_int_equal(a.cfg.max_body, 4096);  /* env over file, no flag */
    assert_int_equal(a.cfg.max_records, 50); /* file only */
    assert_int_equal(a.cfg.auth_fail_limit, 7);
    ch_args_free(&a);

    /* CALLHOOK_CONFIG names the file when --config is absent */
    clean_env(NULL);
    setenv("CALLHOOK_CONFIG", t.path, 1);
    char *argv2[] = {"serve"};
    assert_int_equal(ch_args_init(&a, 1, argv2, valued), 0);
    assert_string_equal(a.cfg.listen, "127.0.0.1:9000");
    assert_string_equal(a.db, "/tmp/from-ini.db");
    ch_args_free(&a);
    unlink(t.path);
    clean_env(NULL);
}

static void invalid_values_are_refused_and_named(void **state)
{
    (void)state;
    char long_value[300];
    memset(long_value, 'a', sizeof long_value - 1);
    long_value[sizeof long_value - 1] = '\0';
    const char *bad[][3] = {
        {"server", "threads", "0"},
        {"server", "threads", "257"},
        {"server", "threads", "many"},
        {"server", "threads", "4x"},
        {"server", "threads", ""},
        {"server", "max_body", "-1"},
        {"server", "max_body", "255"},
        {"server", "max_body", "67108865"},
        {"server", "max_records", "0"},
        {"store", "max_bytes", "-5"},
        {"store", "max_bytes", "99999999999999999999"},
        {"store", "batch_max", "65537"},
        {"log", "level", "loud"},
        {"auth", "fail_window", "86401"},
        {"auth", "fail_limit", "0"},
        {"server", "listen", long_value},
        {"server", "no_such_option", "1"},
        {"nosection", "listen", "x"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ch_config c, before;
        ch_config_defaults(&c);
        memcpy(&before, &c, sizeof c);
        char err[512] = "";
        if (ch_config_set(&c, bad[i][0], bad[i][1], bad[i][2], err, sizeof err) != CH_EINVAL)
            fail_msg("%s.%s = %.20s accepted", bad[i][0], bad[i][1], bad[i][2]);
        if (!strstr(err, bad[i][1])) fail_msg("error \"%s\" does not name %s", err, bad[i][1]);
        if (memcmp(&c, &before, sizeof c) != 0) fail_msg("%s.%s changed c", bad[i][0], bad[i][1]);
    }
    /* the limits themselves are valid */
    ch_config c;
    ch_config_defaults(&c);
    char err[256];
    const char *good[][3] = {{"server", "threads", "1"},      {"server", "threads", "256"},
                             {"server", "max_body", "256"},   {"server", "max_body", "67108864"},
                             {"store", "batch_max", "65536"}, {"log", "level", "error"}};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        if (ch_config_set(&c, good[i][0], good[i][1], good[i][2], err, sizeof err) != CH_OK)
            fail_msg("%s.%s = %s refused: %s", good[i][0], good[i][1], good[i][2], err);
    assert_int_equal(c.threads, 256);
    assert_int_equal(c.max_body, 67108864);
    assert_int_equal(c.batch_max, 65536);
    assert_int_equal(c.log_level, CH_LOG_ERROR);
}

static void invalid_files_and_environment_are_refused(void **state)
{
    (void)state;
    ch_config c;
    ch_config_defaults(&c);
    char err[512] = "";
    tmpfile_t t;

    write_ini(&t, "[server]\nlisten = 127.0.0.1:9000\nthreads = 0\n");
    assert_int_equal(ch_config_load_file(&c, t.path, err, sizeof err), CH_EINVAL);
    unlink(t.path);
    assert_non_null(strstr(err, "server.threads"));

    write_ini(&t, "[server]\nlisten = 127.0.0.1:9000\n[store]\ndatabase = x.db\n");
    err[0] = '\0';
    assert_int_equal(ch_config_load_file(&c, t.path, err, sizeof err), CH_EINVAL);
    unlink(t.path);
    assert_non_null(strstr(err, "store.database"));

    write_ini(&t, "[server]\nthreads = 2\nthis line has no equals sign\n");
    err[0] = '\0';
    assert_int_equal(ch_config_load_file(&c, t.path, err, sizeof err), CH_EINVAL);
    unlink(t.path);
    assert_non_null(strstr(err, ":3:")); /* the line of the syntax error */

    err[0] = '\0';
    assert_int_equal(ch_config_load_file(&c, "/nonexistent/callhook.ini", err, sizeof err),
                     CH_EINVAL);
    assert_non_null(strstr(err, "/nonexistent/callhook.ini"));

    setenv("CALLHOOK_MAX_BODY", "lots", 1);
    err[0] = '\0';
    assert_int_equal(ch_config_load_env(&c, err, sizeof err), CH_EINVAL);
    assert_non_null(strstr(err, "CALLHOOK_MAX_BODY"));
    clean_env(NULL);
    setenv("CALLHOOK_LOG_LEVEL", "chatty", 1);
    err[0] = '\0';
    assert_int_equal(ch_config_load_env(&c, err, sizeof err), CH_EINVAL);
    assert_non_null(strstr(err, "CALLHOOK_LOG_LEVEL"));
    clean_env(NULL);

    /* the CLI refuses to start on a bad file */
    write_ini(&t, "[server]\nthreads = -3\n");
    char *argv[] = {"--config", t.path};
    static const char *const valued[] = {"config", NULL};
    ch_args a;
    assert_int_equal(ch_args_init(&a, 2, argv, valued), 2);
    ch_args_free(&a);
    unlink(t.path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(defaults, clean_env),
        cmocka_unit_test_setup(stream_limits, clean_env),
        cmocka_unit_test_setup(ini_file_sets_every_option, clean_env),
        cmocka_unit_test_setup(environment_overrides_the_file, clean_env),
        cmocka_unit_test_setup(flags_override_environment, clean_env),
        cmocka_unit_test_setup(invalid_values_are_refused_and_named, clean_env),
        cmocka_unit_test_setup(invalid_files_and_environment_are_refused, clean_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
