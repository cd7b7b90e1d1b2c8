#include "app/config.h"
#include "delivery/schedule.h"
#include "util/cidr.h"
#include "util/limits.h"
#include "util/log.h"
#include "util/result.h"

#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

void ch_config_defaults(ch_config *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->listen, sizeof c->listen, "127.0.0.1:8080");
    snprintf(c->db, sizeof c->db, "var/callhook.db");
    snprintf(c->log_file, sizeof c->log_file, "-");
    c->log_level = CH_LOG_INFO;
    c->max_body = CH_MAX_BODY_DEFAULT;
    c->max_records = CH_MAX_RECORDS_DEFAULT;
    /* one MHD thread per CPU: more only adds context switches (the writer has its own) */
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    c->threads = ncpu < 2 ? 2 : ncpu > 16 ? 16 : (int)ncpu;
    c->auth_fail_limit = 10;
    c->auth_fail_window = 60;
    c->auth_verify_threads = 1;
    c->auth_addr_fail_limit = 50;
    c->auth_session_idle = 30 * 60;
    c->auth_session_max = 12 * 3600;
    snprintf(c->metrics_allow, sizeof c->metrics_allow, "127.0.0.0/8,::1/128");
    c->max_conns_per_addr = CH_MAX_CONNS_PER_ADDR;
    c->max_streams = CH_STREAMS_DEFAULT;
    c->stream_heartbeat_ms = CH_STREAM_HEARTBEAT_MS;
    c->stream_buffer = CH_STREAM_BUF_DEFAULT;
    c->header_timeout = CH_HEADER_TIMEOUT_SEC;
    c->body_timeout = CH_BODY_TIMEOUT_SEC;
    c->batch_max = 1024;
    snprintf(c->delivery_retry_schedule, sizeof c->delivery_retry_schedule, "%s",
             ch_retry_schedule_default);
    c->delivery_concurrency = 256;
    c->delivery_threads = ncpu < 1 ? 1 : ncpu > 4 ? 4 : (int)ncpu;
    c->delivery_disable_after = 5 * 86400;
    c->delivery_max_endpoints = 50;
    c->db_mode = 0600;
    c->ucm_tcp_record_timeout = CH_UCM_RECORD_TIMEOUT_SEC;
    snprintf(c->enrich_retry_schedule, sizeof c->enrich_retry_schedule, "10s,1m,5m");
    c->enrich_threads = 2;
    c->enrich_cpu_threads = 1;
    c->enrich_timeout = 60;
    c->enrich_sweep_interval = 600;
    c->enrich_idle_priority = 1;
    c->enrich_max_recording_bytes = CH_RECORDING_MAX_BYTES;
}

void ch_config_recordings_dir(const ch_config *c, char *out, size_t outsz)
{
    if (c->enrich_recordings_dir[0]) {
        snprintf(out, outsz, "%s", c->enrich_recordings_dir);
        return;
    }
    const char *file = ch_store_file(c->db);
    const char *slash = file ? strrchr(file, '/') : NULL;
    if (slash)
        snprintf(out, outsz, "%.*s/recordings", (int)(slash - file), file);
    else
        snprintf(out, outsz, "recordings");
}

static int parse_num(const char *v, int64_t min, int64_t max, int64_t *out)
{
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    while (*end == ' ' || *end == '\t')
        end++;
    if (errno || end == v || *end || x < min || x > max) return CH_EINVAL;
    *out = x;
    return CH_OK;
}

static int copy(char *dst, size_t n, const char *v)
{
    if (strlen(v) >= n) return CH_EINVAL;
    memcpy(dst, v, strlen(v) + 1);
    return CH_OK;
}

int ch_config_set(ch_config *c, const char *section, const char *name, const char *value, char *err,
                  size_t errsz)
{
    int64_t n;
    int rc = CH_EINVAL;
#define IS(s, k) (strcmp(section, s) == 0 && strcmp(name, k) == 0)
    if (IS("server", "listen"))
        rc = copy(c->listen, sizeof c->listen, value);
    else if (IS("server", "public_url"))
        rc = copy(c->public_url, sizeof c->public_url, value);
    else if (IS("server", "ucm_tcp_listen"))
        rc = copy(c->ucm_tcp_listen, sizeof c->ucm_tcp_listen, value);
    else if (IS("server", "threads")) {
        if (!(rc = parse_num(value, 1, 256, &n))) c->threads = (int)n;
    } else if (IS("server", "max_body")) {
        if (!(rc = parse_num(value, 256, CH_MAX_BODY_CEILING, &n))) c->max_body = (size_t)n;
    } else if (IS("server", "max_records")) {
        if (!(rc = parse_num(value, 1, CH_MAX_RECORDS_CEILING, &n))) c->max_records = (size_t)n;
    } else if (IS("store", "db"))
        rc = copy(c->db, sizeof c->db, value);
    else if (IS("store", "max_bytes")) {
        if (!(rc = parse_num(value, 0, INT64_MAX, &n))) c->db_max_bytes = n;
    } else if (IS("store", "batch_max")) {
        if (!(rc = parse_num(value, 1, 65536, &n))) c->batch_max = (int)n;
    } else if (IS("delivery", "allow_private")) {
        if (ch_cidr_list_valid(value))
            rc = copy(c->delivery_allow_private, sizeof c->delivery_allow_private, value);
    } else if (IS("delivery", "retry_schedule")) {
        ch_retry_schedule rs;
        char why[160];
        if (ch_retry_schedule_parse(value, &rs, why, sizeof why) == CH_OK)
            rc = copy(c->delivery_retry_schedule, sizeof c->delivery_retry_schedule, value);
    } else if (IS("delivery", "concurrency")) {
        if (!(rc = parse_num(value, 1, 4096, &n))) c->delivery_concurrency = (int)n;
    } else if (IS("delivery", "threads")) {
        if (!(rc = parse_num(value, 1, 64, &n))) c->delivery_threads = (int)n;
    } else if (IS("delivery", "disable_after")) {
        if (!(rc = parse_num(value, 1, 365LL * 86400, &n))) c->delivery_disable_after = n;
    } else if (IS("delivery", "max_endpoints")) {
        if (!(rc = parse_num(value, 1, 10000, &n))) c->delivery_max_endpoints = (int)n;
    } else if (IS("store", "db_mode")) {
        /* octal, owner read-write at least, nothing for others: the file holds secrets */
        char *end;
        unsigned long m = strtoul(value, &end, 8);
        if (end != value && !*end && (m & 0600) == 0600 && !(m & 0137)) {
            c->db_mode = (unsigned)m;
            rc = CH_OK;
        }
    } else if (IS("enrich", "allow_private")) {
        if (ch_cidr_list_valid(value))
            rc = copy(c->enrich_allow_private, sizeof c->enrich_allow_private, value);
    } else if (IS("enrich", "recordings_dir")) {
        rc = copy(c->enrich_recordings_dir, sizeof c->enrich_recordings_dir, value);
    } else if (IS("enrich", "retry_schedule")) {
        ch_retry_schedule rs;
        char why[160];
        if (ch_retry_schedule_parse(value, &rs, why, sizeof why) == CH_OK)
            rc = copy(c->enrich_retry_schedule, sizeof c->enrich_retry_schedule, value);
    } else if (IS("enrich", "threads")) {
        if (!(rc = parse_num(value, 1, 64, &n))) c->enrich_threads = (int)n;
    } else if (IS("enrich", "cpu_threads")) {
        if (!(rc = parse_num(value, 1, 64, &n))) c->enrich_cpu_threads = (int)n;
    } else if (IS("enrich", "idle_priority")) {
        if (!(rc = parse_num(value, 0, 1, &n))) c->enrich_idle_priority = (int)n;
    } else if (IS("enrich", "sweep_interval")) {
        if (!(rc = parse_num(value, 1, 86400, &n))) c->enrich_sweep_interval = (int)n;
    } else if (IS("enrich", "timeout")) {
        if (!(rc = parse_num(value, 1, 3600, &n))) c->enrich_timeout = (int)n;
    } else if (IS("enrich", "max_recording_bytes")) {
        if (!(rc = parse_num(value, 1024, (int64_t)4 << 30, &n))) c->enrich_max_recording_bytes = n;
    } else if (IS("server", "ucm_tcp_record_timeout")) {
        if (!(rc = parse_num(value, 1, 3600, &n))) c->ucm_tcp_record_timeout = (int)n;
    } else if (IS("log", "level")) {
        int l = ch_log_level_parse(value);
        if (l >= 0) {
            c->log_level = l;
            rc = CH_OK;
        }
    } else if (IS("log", "file"))
        rc = copy(c->log_file, sizeof c->log_file, value);
    else if (IS("auth", "fail_limit")) {
        if (!(rc = parse_num(value, 1, 1000000, &n))) c->auth_fail_limit = (int)n;
    } else if (IS("auth", "fail_window")) {
        if (!(rc = parse_num(value, 1, 86400, &n))) c->auth_fail_window = (int)n;
    } else if (IS("auth", "verify_threads")) {
        if (!(rc = parse_num(value, 1, 64, &n))) c->auth_verify_threads = (int)n;
    } else if (IS("auth", "address_fail_limit")) {
        if (!(rc = parse_num(value, 1, 1000000, &n))) c->auth_addr_fail_limit = (int)n;
    } else if (IS("auth", "session_idle")) {
        if (!(rc = parse_num(value, 1, 30 * 86400, &n))) c->auth_session_idle = (int)n;
    } else if (IS("auth", "session_max")) {
        if (!(rc = parse_num(value, 1, 365 * 86400, &n))) c->auth_session_max = (int)n;
    } else if (IS("server", "trusted_proxies")) {
        if (ch_cidr_list_valid(value))
            rc = copy(c->trusted_proxies, sizeof c->trusted_proxies, value);
    } else if (IS("server", "metrics_allow")) {
        if (ch_cidr_list_valid(value)) rc = copy(c->metrics_allow, sizeof c->metrics_allow, value);
    } else if (IS("server", "max_conns_per_addr")) {
        if (!(rc = parse_num(value, 1, 100000, &n))) c->max_conns_per_addr = (int)n;
    } else if (IS("server", "max_streams")) {
        /* below the connection limit, so streams alone never lock the API out */
        if (!(rc = parse_num(value, 1, CH_HTTP_CONNS_MAX - CH_STREAM_CONN_RESERVE, &n)))
            c->max_streams = (int)n;
    } else if (IS("server", "stream_heartbeat_ms")) {
        if (!(rc = parse_num(value, 50, 3600000, &n))) c->stream_heartbeat_ms = (int)n;
    } else if (IS("server", "stream_buffer")) {
        if (!(rc = parse_num(value, CH_STREAM_BUF_MIN, CH_STREAM_BUF_MAX, &n)))
            c->stream_buffer = (size_t)n;
    } else if (IS("server", "header_timeout")) {
        if (!(rc = parse_num(value, 1, 3600, &n))) c->header_timeout = (int)n;
    } else if (IS("server", "body_timeout")) {
        if (!(rc = parse_num(value, 1, 3600, &n))) c->body_timeout = (int)n;
    } else {
        snprintf(err, errsz, "unknown option %s.%s", section, name);
        return CH_EINVAL;
    }
#undef IS
    if (rc) snprintf(err, errsz, "invalid value for %s.%s: %s", section, name, value);
    return rc;
}

typedef struct {
    ch_config *c;
    char *err;
    size_t errsz;
    int rc;
} ini_ctx;

static int on_ini(void *user, const char *section, const char *name, const char *value)
{
    ini_ctx *x = user;
    if (x->rc) return 0;
    x->rc = ch_config_set(x->c, section, name, value, x->err, x->errsz);
    return x->rc == CH_OK;
}

int ch_config_load_file(ch_config *c, const char *path, char *err, size_t errsz)
{
    ini_ctx x = {c, err, errsz, CH_OK};
    int r = ini_parse(path, on_ini, &x);
    if (r < 0) {
        snprintf(err, errsz, "cannot read config file %s", path);
        return CH_EINVAL;
    }
    if (x.rc) return x.rc;
    if (r > 0) {
        snprintf(err, errsz, "%s:%d: syntax error", path, r);
        return CH_EINVAL;
    }
    return CH_OK;
}

int ch_config_load_env(ch_config *c, char *err, size_t errsz)
{
    static const struct {
        const char *env, *section, *name;
    } map[] = {
        {"CALLHOOK_LISTEN", "server", "listen"},
        {"CALLHOOK_PUBLIC_URL", "server", "public_url"},
        {"CALLHOOK_UCM_TCP_LISTEN", "server", "ucm_tcp_listen"},
        {"CALLHOOK_THREADS", "server", "threads"},
        {"CALLHOOK_MAX_BODY", "server", "max_body"},
        {"CALLHOOK_MAX_RECORDS", "server", "max_records"},
        {"CALLHOOK_DB", "store", "db"},
        {"CALLHOOK_DB_MAX_BYTES", "store", "max_bytes"},
        {"CALLHOOK_LOG_LEVEL", "log", "level"},
        {"CALLHOOK_DELIVERY_ALLOW_PRIVATE", "delivery", "allow_private"},
        {"CALLHOOK_DELIVERY_RETRY_SCHEDULE", "delivery", "retry_schedule"},
        {"CALLHOOK_DELIVERY_CONCURRENCY", "delivery", "concurrency"},
        {"CALLHOOK_DELIVERY_DISABLE_AFTER", "delivery", "disable_after"},
        {"CALLHOOK_DELIVERY_THREADS", "delivery", "threads"},
        {"CALLHOOK_LOG_FILE", "log", "file"},
        {"CALLHOOK_DELIVERY_MAX_ENDPOINTS", "delivery", "max_endpoints"},
        {"CALLHOOK_DB_MODE", "store", "db_mode"},
        {"CALLHOOK_UCM_TCP_RECORD_TIMEOUT", "server", "ucm_tcp_record_timeout"},
        {"CALLHOOK_TRUSTED_PROXIES", "server", "trusted_proxies"},
        {"CALLHOOK_METRICS_ALLOW", "server", "metrics_allow"},
        {"CALLHOOK_MAX_CONNS_PER_ADDR", "server", "max_conns_per_addr"},
        {"CALLHOOK_HEADER_TIMEOUT", "server", "header_timeout"},
        {"CALLHOOK_SERVER_MAX_STREAMS", "server", "max_streams"},
        {"CALLHOOK_SERVER_STREAM_HEARTBEAT_MS", "server", "stream_heartbeat_ms"},
        {"CALLHOOK_SERVER_STREAM_BUFFER", "server", "stream_buffer"},
        {"CALLHOOK_BODY_TIMEOUT", "server", "body_timeout"},
        {"CALLHOOK_AUTH_FAIL_LIMIT", "auth", "fail_limit"},
        {"CALLHOOK_AUTH_FAIL_WINDOW", "auth", "fail_window"},
        {"CALLHOOK_AUTH_ADDRESS_FAIL_LIMIT", "auth", "address_fail_limit"},
        {"CALLHOOK_AUTH_VERIFY_THREADS", "auth", "verify_threads"},
        {"CALLHOOK_AUTH_SESSION_IDLE", "auth", "session_idle"},
        {"CALLHOOK_AUTH_SESSION_MAX", "auth", "session_max"},
        {"CALLHOOK_ENRICH_ALLOW_PRIVATE", "enrich", "allow_private"},
        {"CALLHOOK_ENRICH_RECORDINGS_DIR", "enrich", "recordings_dir"},
        {"CALLHOOK_ENRICH_RETRY_SCHEDULE", "enrich", "retry_schedule"},
        {"CALLHOOK_ENRICH_THREADS", "enrich", "threads"},
        {"CALLHOOK_ENRICH_CPU_THREADS", "enrich", "cpu_threads"},
        {"CALLHOOK_ENRICH_TIMEOUT", "enrich", "timeout"},
        {"CALLHOOK_ENRICH_SWEEP_INTERVAL", "enrich", "sweep_interval"},
        {"CALLHOOK_ENRICH_IDLE_PRIORITY", "enrich", "idle_priority"},
        {"CALLHOOK_ENRICH_MAX_RECORDING_BYTES", "enrich", "max_recording_bytes"},
    };
    for (size_t i = 0; i < sizeof map / sizeof *map; i++) {
        const char *v = getenv(map[i].env);
        if (!v || !*v) continue;
        int rc = ch_config_set(c, map[i].section, map[i].name, v, err, errsz);
        if (rc) {
            snprintf(err, errsz, "invalid %s: %s", map[i].env, v);
            return rc;
        }
    }
    return CH_OK;
}

void ch_config_store_opts(const ch_config *c, ch_store_opts *out)
{
    *out = (ch_store_opts){.path = c->db,
                           .max_bytes = c->db_max_bytes,
                           .read_conns = c->threads + 2,
                           .batch_max = c->batch_max,
                           .disable_after_ms = c->delivery_disable_after * 1000};
}
