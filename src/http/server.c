#include "http/server.h"
#include "http/request.h"
#include "delivery/dispatcher.h"
#include "util/crypto.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/result.h"
#include "util/timeutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- responses ---------------------------------------------------------------------- */

struct MHD_Response *ch_json_response(json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    size_t n = strlen(text);
    text = ch_realloc(text, n + 2);
    text[n++] = '\n';
    struct MHD_Response *resp = MHD_create_response_from_buffer(n, text, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, "Content-Type", "application/json; charset=utf-8");
    return resp;
}

static enum MHD_Result queue(ch_request *r, int status, struct MHD_Response *resp)
{
    MHD_add_response_header(resp, "X-Request-Id", r->id);
    r->status = status;
    r->state = REQ_ANSWERED;
    enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

enum MHD_Result ch_reply_json(ch_request *r, int status, json_t *body)
{
    return queue(r, status, ch_json_response(body));
}

json_t *ch_error_json(const char *code, const char *field, const char *msg)
{
    json_t *o = json_pack("{s:s, s:s}", "error", code, "message", msg);
    if (field && *field) json_object_set_new(o, "field", json_string(field));
    return o;
}

enum MHD_Result ch_reply_error(ch_request *r, int status, const char *code, const char *field,
                               const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ch_logline l;
    if (status != 404 &&
        ch_log_begin(&l, status >= 500 ? CH_LOG_ERROR : CH_LOG_INFO, "rejected", r->id)) {
        ch_log_int(&l, "status", status);
        ch_log_str(&l, "reason", code);
        ch_log_str(&l, "message", msg);
        if (field && *field) ch_log_str(&l, "field", field);
        ch_log_end(&l);
    }
    struct MHD_Response *resp = ch_json_response(ch_error_json(code, field, msg));
    /* webhooks take Basic (what PBXs send); the read API takes API keys as Bearer tokens */
    if (status == 401)
        MHD_add_response_header(resp, "WWW-Authenticate",
                                r->route == CH_ROUTE_HOOKS ? "Basic realm=\"callhook\""
                                                           : "Bearer realm=\"callhook\"");
    if (status == 503 && r->retry_after <= 0) r->retry_after = 1;
    if (r->retry_after > 0) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", r->retry_after);
        MHD_add_response_header(resp, "Retry-After", ra);
    }
    return queue(r, status, resp);
}

const char *ch_header(ch_request *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *ch_query(ch_request *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const struct sockaddr *ch_peer(ch_request *r)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    return ci ? ci->client_addr : NULL;
}

/* ---- small routes ------------------------------------------------------------------- */

static enum MHD_Result handle_metrics(ch_request *r)
{
    ch_buf b;
    ch_buf_init(&b, 1 << 20);
    ch_metrics_render(&b);
    ch_store_stats st;
    ch_store_get_stats(r->srv->store, &st);
    ch_buf_printf(&b,
                  "# HELP callhook_events_stored_total Events made durable.\n"
                  "# TYPE callhook_events_stored_total counter\ncallhook_events_stored_total %llu\n"
                  "# HELP callhook_events_duplicate_total Deliveries recognised as repeats.\n"
                  "# TYPE callhook_events_duplicate_total counter\n"
                  "callhook_events_duplicate_total %llu\n"
                  "# HELP callhook_records_refused_total Records refused by a hard monthly limit.\n"
                  "# TYPE callhook_records_refused_total counter\n"
                  "callhook_records_refused_total %llu\n"
                  "# HELP callhook_store_errors_total Transactions that failed to commit.\n"
                  "# TYPE callhook_store_errors_total counter\ncallhook_store_errors_total %llu\n"
                  "# HELP callhook_write_queue_depth Requests waiting for the writer.\n"
                  "# TYPE callhook_write_queue_depth gauge\ncallhook_write_queue_depth %zu\n"
                  "# HELP callhook_inflight_requests Requests being handled.\n"
                  "# TYPE callhook_inflight_requests gauge\ncallhook_inflight_requests %d\n",
                  (unsigned long long)st.events_stored, (unsigned long long)st.events_duplicate,
                  (unsigned long long)st.records_refused, (unsigned long long)st.store_errors,
                  ch_store_queue_depth(r->srv->store), atomic_load(&r->srv->inflight));
    ch_buf_puts(&b, "# HELP callhook_batch_requests Requests committed per transaction.\n"
                    "# TYPE callhook_batch_requests histogram\n");
    for (int i = 0; i < CH_BATCH_BUCKETS; i++) {
        if (i < CH_BATCH_BUCKETS - 1)
            ch_buf_printf(&b, "callhook_batch_requests_bucket{le=\"%u\"} %llu\n", 1u << i,
                          (unsigned long long)st.batch_hist[i]);
        else
            ch_buf_printf(&b, "callhook_batch_requests_bucket{le=\"+Inf\"} %llu\n",
                          (unsigned long long)st.batch_hist[i]);
    }
    ch_buf_printf(&b, "callhook_batch_requests_sum %llu\ncallhook_batch_requests_count %llu\n",
                  (unsigned long long)st.batch_requests, (unsigned long long)st.batches);
    ch_buf_puts(&b, "# HELP callhook_commit_seconds Time of a write transaction, fsync included.\n"
                    "# TYPE callhook_commit_seconds histogram\n");
    for (int i = 0; i < CH_COMMIT_BUCKETS; i++) {
        if (i < CH_COMMIT_BUCKETS - 1)
            ch_buf_printf(&b, "callhook_commit_seconds_bucket{le=\"%g\"} %llu\n",
                          (double)(250 << i) / 1e6, (unsigned long long)st.commit_hist[i]);
        else
            ch_buf_printf(&b, "callhook_commit_seconds_bucket{le=\"+Inf\"} %llu\n",
                          (unsigned long long)st.commit_hist[i]);
    }
    ch_buf_printf(&b, "callhook_commit_seconds_sum %.6f\ncallhook_commit_seconds_count %llu\n",
                  (double)st.commit_us_sum / 1e6, (unsigned long long)st.batches);
    ch_dispatcher *d = atomic_load(&r->srv->dispatcher);
    if (d) {
        ch_dispatcher_stats ds;
        ch_dispatcher_get_stats(d, &ds);
        ch_buf_printf(
            &b,
            "# HELP callhook_webhook_attempts_total Outbound webhook attempts, by outcome.\n"
            "# TYPE callhook_webhook_attempts_total counter\n"
            "callhook_webhook_attempts_total{outcome=\"succeeded\"} %llu\n"
            "callhook_webhook_attempts_total{outcome=\"retry\"} %llu\n"
            "callhook_webhook_attempts_total{outcome=\"failed\"} %llu\n"
            "# HELP callhook_webhook_ssrf_refusals_total Attempts refused before connecting "
            "(non-public address).\n"
            "# TYPE callhook_webhook_ssrf_refusals_total counter\n"
            "callhook_webhook_ssrf_refusals_total %llu\n"
            "# HELP callhook_webhook_in_flight Outbound webhooks being sent.\n"
            "# TYPE callhook_webhook_in_flight gauge\ncallhook_webhook_in_flight %lld\n",
            (unsigned long long)ds.succeeded, (unsigned long long)ds.retried,
            (unsigned long long)ds.dead, (unsigned long long)ds.refused_ssrf,
            (long long)ds.in_flight);
    }
    size_t n;
    char *text = ch_buf_steal(&b, &n);
    struct MHD_Response *resp = MHD_create_response_from_buffer(n, text, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    return queue(r, 200, resp);
}

void ch_server_set_dispatcher(ch_server *srv, struct ch_dispatcher *d)
{
    srv->dispatcher = d;
}

/* Splits "/a/b/c" into at most max segments (copied into buf). */
static int split_path(const char *url, char *buf, size_t bufsz, char **seg, int max)
{
    size_t n = strlen(url);
    if (n >= bufsz) return -1;
    memcpy(buf, url, n + 1);
    int k = 0;
    char *p = buf;
    while (*p == '/')
        p++;
    while (*p) {
        if (k == max) return -1;
        seg[k++] = p;
        char *slash = strchr(p, '/');
        if (!slash) break;
        *slash = '\0';
        p = slash + 1;
        if (!*p) break; /* trailing slash */
    }
    return k;
}

enum MHD_Result ch_reply_not_allowed(ch_request *r, const char *allow)
{
    struct MHD_Response *resp = ch_json_response(
        ch_error_json("method_not_allowed", NULL, "this route does not take that method"));
    MHD_add_response_header(resp, "Allow", allow);
    return queue(r, 405, resp);
}

static enum MHD_Result route(ch_request *r, const char *method, const char *url)
{
    char buf[1024];
    char *seg[6];
    int n = split_path(url, buf, sizeof buf, seg, 6);
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    bool post = strcmp(method, "POST") == 0;

    if (n == 1 && strcmp(seg[0], "healthz") == 0) {
        r->route = CH_ROUTE_HEALTHZ;
        if (!get) return ch_reply_not_allowed(r, "GET");
        return ch_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
    }
    if (n == 1 && strcmp(seg[0], "readyz") == 0) {
        r->route = CH_ROUTE_READYZ;
        if (!get) return ch_reply_not_allowed(r, "GET");
        bool ok = ch_store_writable(r->srv->store);
        return ch_reply_json(r, ok ? 200 : 503,
                             json_pack("{s:s}", "status", ok ? "ready" : "unavailable"));
    }
    if (n == 1 && strcmp(seg[0], "metrics") == 0) {
        r->route = CH_ROUTE_METRICS;
        if (!get) return ch_reply_not_allowed(r, "GET");
        return handle_metrics(r);
    }
    if (n == 3 && strcmp(seg[0], "hooks") == 0) {
        r->route = CH_ROUTE_HOOKS;
        if (get) return ch_handle_hook_setup(r, seg[1], seg[2]);
        if (!post) return ch_reply_not_allowed(r, "GET, POST");
        return ch_handle_hook(r, seg[1], seg[2]);
    }
    /* the URL Grandstream integrations already use: switching is changing the host only */
    if (n == 4 && strcmp(seg[0], "api") == 0 && strcmp(seg[1], "webhook") == 0 &&
        strcmp(seg[2], "cdr") == 0) {
        r->route = CH_ROUTE_HOOKS;
        if (get) return ch_handle_hook_setup(r, seg[3], "ucm");
        if (!post) return ch_reply_not_allowed(r, "GET, POST");
        return ch_handle_hook(r, seg[3], "ucm");
    }
    /* OneCom and Bolna post to a fixed URL: the tenant is the credential's owner */
    if (n == 3 && strcmp(seg[0], "api") == 0 && strcmp(seg[1], "onecom") == 0 &&
        strcmp(seg[2], "webhook") == 0) {
        r->route = CH_ROUTE_HOOKS;
        if (get) return ch_handle_hook_setup(r, NULL, "asterisk");
        if (!post) return ch_reply_not_allowed(r, "GET, POST");
        return ch_handle_hook(r, NULL, "asterisk");
    }
    if (n == 4 && strcmp(seg[0], "api") == 0 && strcmp(seg[1], "webhooks") == 0 &&
        strcmp(seg[2], "bolna") == 0 && strcmp(seg[3], "call-status") == 0) {
        r->route = CH_ROUTE_HOOKS;
        if (get) return ch_handle_hook_setup(r, NULL, "bolna");
        if (!post) return ch_reply_not_allowed(r, "GET, POST");
        return ch_handle_hook(r, NULL, "bolna");
    }
    if (n == 2 && strcmp(seg[0], "v1") == 0 &&
        (strcmp(seg[1], "employees") == 0 || strcmp(seg[1], "leads") == 0)) {
        r->route = CH_ROUTE_CALLS;
        if (!get && !post) return ch_reply_not_allowed(r, "GET, POST");
        return ch_handle_directory(r, seg[1], post);
    }
    if (n >= 2 && strcmp(seg[0], "v1") == 0 && strcmp(seg[1], "calls") == 0) {
        if (n == 2) {
            r->route = CH_ROUTE_CALLS;
            return get ? ch_handle_calls(r) : ch_reply_not_allowed(r, "GET");
        }
        if (n == 3 && strcmp(seg[2], "export") == 0) {
            r->route = CH_ROUTE_EXPORT;
            return get ? ch_handle_export(r) : ch_reply_not_allowed(r, "GET");
        }
        if (n == 3) {
            r->route = CH_ROUTE_CALL;
            return get ? ch_handle_call(r, seg[2]) : ch_reply_not_allowed(r, "GET");
        }
    }
    if (n >= 2 && strcmp(seg[0], "v1") == 0 &&
        (strcmp(seg[1], "endpoints") == 0 || strcmp(seg[1], "deliveries") == 0 ||
         (n == 3 && strcmp(seg[1], "webhooks") == 0))) {
        r->route = CH_ROUTE_WEBHOOKS;
        return ch_handle_webhooks_api(r, method, seg + 1, n - 1);
    }
    r->route = CH_ROUTE_OTHER;
    return ch_reply_error(r, 404, "not_found", NULL, "no such route");
}

/* ---- libmicrohttpd callbacks -------------------------------------------------------- */

/* Called by MHD with the request line's URI exactly as sent, before any parsing: the only place
 * the raw query string (which URL signatures cover byte for byte) is available. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)cls;
    (void)conn;
    ch_request *r = ch_calloc(1, sizeof *r);
    r->raw_uri = ch_strndup(uri, strnlen(uri, 8192));
    return r;
}

void ch_request_url(ch_request *r, char *out, size_t outsz)
{
    const char *base = r->srv->cfg->public_url;
    const char *uri = r->raw_uri ? r->raw_uri : "/";
    if (base[0]) {
        size_t n = strlen(base);
        while (n && base[n - 1] == '/')
            n--;
        snprintf(out, outsz, "%.*s%s", (int)n, base, uri);
    } else {
        const char *host = ch_header(r, "Host");
        snprintf(out, outsz, "http://%s%s", host ? host : "localhost", uri);
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    ch_server *srv = cls;
    ch_request *r = *con_cls;
    if (!r || !r->srv) {
        if (!r) r = ch_calloc(1, sizeof *r); /* normally made by on_uri, with the raw URI */
        r->srv = srv;
        r->conn = conn;
        r->t0_ns = ch_mono_ns();
        r->route = CH_ROUTE_OTHER;
        snprintf(r->id, sizeof r->id, "%s-%08llx", srv->id_prefix,
                 (unsigned long long)atomic_fetch_add(&srv->next_id, 1));
        ch_buf_init(&r->body, srv->cfg->max_body);
        atomic_fetch_add(&srv->inflight, 1);
        *con_cls = r;
        /* Refuse a declared oversize body before reading it. */
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > srv->cfg->max_body) {
            r->route = strncmp(url, "/hooks/", 7) == 0 ? CH_ROUTE_HOOKS : CH_ROUTE_OTHER;
            return ch_reply_error(r, 413, "body_too_large", NULL,
                                  "the body is larger than %zu bytes", srv->cfg->max_body);
        }
        return MHD_YES;
    }
    if (r->state == REQ_ANSWERED) {
        *upload_data_size = 0; /* answered early: discard the rest */
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!r->too_large && ch_buf_append(&r->body, upload_data, *upload_data_size) != CH_OK)
            r->too_large = true;
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->state == REQ_WAITING) {
        /* resumed by the writer: the job's outcome is known */
        int status;
        struct MHD_Response *resp = ch_hook_answer(r, &status);
        return queue(r, status, resp);
    }
    (void)version;
    if (r->too_large) {
        r->route = strncmp(url, "/hooks/", 7) == 0 ? CH_ROUTE_HOOKS : CH_ROUTE_OTHER;
        return ch_reply_error(r, 413, "body_too_large", NULL, "the body is larger than %zu bytes",
                              srv->cfg->max_body);
    }
    return route(r, method, url);
}

static void free_request(ch_request *r)
{
    free(r->raw_uri);
    if (r->response) MHD_destroy_response(r->response);
    ch_buf_free(&r->body);
    ch_write_job_clear(&r->job);
    free(r->events);
    ch_parsed_clear(&r->parsed);
    ch_tenant_clear(&r->tenant);
    free(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    ch_server *srv = cls;
    ch_request *r = *con_cls;
    (void)conn;
    if (!r) return;
    if (!r->srv) { /* the request ended before its handler ever ran */
        free(r->raw_uri);
        free(r);
        *con_cls = NULL;
        return;
    }
    int64_t dur = ch_mono_ns() - r->t0_ns;
    ch_metrics_request(r->route, r->status, dur);
    ch_logline l;
    if (ch_log_begin(&l, CH_LOG_INFO, "request", r->id)) {
        ch_log_int(&l, "status", r->status);
        ch_log_dbl(&l, "ms", (double)dur / 1e6);
        if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK) ch_log_int(&l, "terminated", toe);
        ch_log_end(&l);
    }
    free_request(r);
    *con_cls = NULL;
    atomic_fetch_sub(&srv->inflight, 1);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n')
        msg[--n] = '\0';
    ch_log_msg(CH_LOG_WARN, "http", msg);
}

/* "127.0.0.1:8080", "[::1]:8080", ":8080", "8080" */
int ch_parse_listen(const char *s, struct sockaddr_storage *ss, bool *v6)
{
    memset(ss, 0, sizeof *ss);
    char host[128] = "";
    const char *port;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':' || (size_t)(close - s - 1) >= sizeof host) return CH_EINVAL;
        memcpy(host, s + 1, (size_t)(close - s - 1));
        host[close - s - 1] = '\0';
        port = close + 2;
    } else {
        const char *colon = strrchr(s, ':');
        if (colon) {
            if ((size_t)(colon - s) >= sizeof host) return CH_EINVAL;
            memcpy(host, s, (size_t)(colon - s));
            host[colon - s] = '\0';
            port = colon + 1;
        } else {
            port = s;
        }
    }
    char *end;
    long p = strtol(port, &end, 10);
    if (*end || end == port || p < 0 || p > 65535) return CH_EINVAL;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    if (strchr(host, ':')) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)p);
        if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1) return CH_EINVAL;
        *v6 = true;
    } else {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)p);
        if (host[0] && inet_pton(AF_INET, host, &a4->sin_addr) != 1) return CH_EINVAL;
        if (!host[0]) a4->sin_addr.s_addr = htonl(INADDR_ANY);
        *v6 = false;
    }
    return CH_OK;
}

int ch_server_start(ch_server **out, const ch_config *cfg, ch_store *store, int *port_out)
{
    struct sockaddr_storage ss;
    bool v6 = false;
    if (ch_parse_listen(cfg->listen, &ss, &v6)) {
        ch_log_msg(CH_LOG_ERROR, "config", "listen must be ADDR:PORT");
        return CH_EINVAL;
    }
    ch_server *srv = ch_calloc(1, sizeof *srv);
    srv->cfg = cfg;
    srv->store = store;
    srv->auth = ch_auth_new(cfg->auth_fail_limit, cfg->auth_fail_window);
    srv->sources = ch_sources_new(store);
    ch_random_hex(srv->id_prefix, 4);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ITC | MHD_USE_TURBO | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
    srv->mhd = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)cfg->threads, MHD_OPTION_CONNECTION_LIMIT, (unsigned)4096,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)(64 * 1024), MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv, MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
        MHD_OPTION_END);
    if (!srv->mhd) {
        ch_logline l;
        if (ch_log_begin(&l, CH_LOG_ERROR, "listen_failed", NULL)) {
            ch_log_str(&l, "address", cfg->listen);
            ch_log_end(&l);
        }
        ch_auth_free(srv->auth);
        ch_sources_free(srv->sources);
        free(srv);
        return CH_ERR;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_BIND_PORT);
    *port_out = di ? di->port : 0;
    *out = srv;
    return CH_OK;
}

void ch_server_stop(ch_server *srv, int grace_ms)
{
    if (!srv) return;
    /* Stop accepting; requests in flight (including those waiting for a commit) finish. */
    MHD_socket fd = MHD_quiesce_daemon(srv->mhd);
    if (fd != MHD_INVALID_SOCKET) close(fd);
    int64_t deadline = ch_mono_ns() + (int64_t)grace_ms * 1000000;
    while (atomic_load(&srv->inflight) > 0 && ch_mono_ns() < deadline)
        usleep(2000);
    MHD_stop_daemon(srv->mhd);
    ch_auth_free(srv->auth);
    ch_sources_free(srv->sources);
    free(srv);
}
