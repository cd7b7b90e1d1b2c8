#include "http/server.h"
#include "http/client.h"
#include "http/reply.h"
#include "http/request.h"
#include "http/router.h"
#include "http/stream.h"
#include "delivery/dispatcher.h"
#include "enrich/worker.h"
#include "util/cidr.h"
#include "util/crypto.h"
#include "util/limits.h"
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
#include <strings.h>
#include <sys/resource.h>
#include <unistd.h>

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

const struct sockaddr *ch_client(ch_request *r)
{
    return r->client.ss_family ? (const struct sockaddr *)&r->client : ch_peer(r);
}

typedef struct {
    const char *name;
    char *joined; /* every value of the header, joined by ", " */
    size_t len, max, first_len;
    int count;
    bool differ; /* two values that are not the same */
} header_values;

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    header_values *h = cls;
    (void)kind;
    if (!key || strcasecmp(key, h->name) != 0 || !value) return MHD_YES;
    size_t n = strlen(value);
    if (h->count && (h->first_len != n || strncmp(h->joined, value, n) != 0)) h->differ = true;
    if (!h->count++) h->first_len = n < h->max ? n : 0;
    if (h->len + n + 3 > h->max) return MHD_YES; /* keep what fits: proxies add on the right */
    if (h->len) {
        memcpy(h->joined + h->len, ", ", 2);
        h->len += 2;
    }
    memcpy(h->joined + h->len, value, n);
    h->len += n;
    h->joined[h->len] = '\0';
    return MHD_YES;
}

/* Every line of header name: *count lines, joined into buf (NULL when none). */
static const char *header_all(ch_request *r, const char *name, char *buf, size_t bufsz, int *count,
                              bool *differ)
{
    header_values h = {.name = name, .joined = buf, .max = bufsz};
    buf[0] = '\0';
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, collect_header, &h);
    if (count) *count = h.count;
    if (differ) *differ = h.differ;
    return h.count ? buf : NULL;
}

/* ---- small routes ------------------------------------------------------------------- */

static enum MHD_Result handle_metrics(ch_request *r)
{
    ch_buf b;
    ch_buf_init(&b, CH_METRICS_PAGE_MAX);
    int rc = ch_metrics_render(&b);
    ch_store_stats st;
    ch_store_get_stats(r->srv->store, &st);
    if (!rc)
        rc = ch_buf_printf(
            &b,
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
    if (!rc)
        rc = ch_buf_puts(&b, "# HELP callhook_batch_requests Requests committed per transaction.\n"
                             "# TYPE callhook_batch_requests histogram\n");
    for (int i = 0; i < CH_BATCH_BUCKETS && !rc; i++) {
        if (i < CH_BATCH_BUCKETS - 1)
            rc = ch_buf_printf(&b, "callhook_batch_requests_bucket{le=\"%u\"} %llu\n", 1u << i,
                               (unsigned long long)st.batch_hist[i]);
        else
            rc = ch_buf_printf(&b, "callhook_batch_requests_bucket{le=\"+Inf\"} %llu\n",
                               (unsigned long long)st.batch_hist[i]);
    }
    if (!rc)
        rc = ch_buf_printf(&b,
                           "callhook_batch_requests_sum %llu\ncallhook_batch_requests_count %llu\n",
                           (unsigned long long)st.batch_requests, (unsigned long long)st.batches);
    if (!rc)
        rc = ch_buf_puts(
            &b, "# HELP callhook_commit_seconds Time of a write transaction, fsync included.\n"
                "# TYPE callhook_commit_seconds histogram\n");
    for (int i = 0; i < CH_COMMIT_BUCKETS && !rc; i++) {
        if (i < CH_COMMIT_BUCKETS - 1)
            rc = ch_buf_printf(&b, "callhook_commit_seconds_bucket{le=\"%g\"} %llu\n",
                               (double)(250 << i) / 1e6, (unsigned long long)st.commit_hist[i]);
        else
            rc = ch_buf_printf(&b, "callhook_commit_seconds_bucket{le=\"+Inf\"} %llu\n",
                               (unsigned long long)st.commit_hist[i]);
    }
    if (!rc)
        rc = ch_buf_printf(&b,
                           "callhook_commit_seconds_sum %.6f\ncallhook_commit_seconds_count %llu\n",
                           (double)st.commit_us_sum / 1e6, (unsigned long long)st.batches);
    uint64_t pw_done, pw_refused;
    ch_auth_get_stats(r->srv->auth, &pw_done, &pw_refused);
    if (!rc)
        rc = ch_buf_printf(
            &b,
            "# HELP callhook_password_verifications_total Password (argon2id) "
            "verifications run, off the HTTP threads.\n"
            "# TYPE callhook_password_verifications_total counter\n"
            "callhook_password_verifications_total %llu\n"
            "# HELP callhook_password_verifications_refused_total Verifications refused "
            "because the client or the queue had too many waiting.\n"
            "# TYPE callhook_password_verifications_refused_total counter\n"
            "callhook_password_verifications_refused_total %llu\n",
            (unsigned long long)pw_done, (unsigned long long)pw_refused);
    ch_guard_stats gs;
    ch_guard_get_stats(r->srv->guard, &gs);
    if (!rc)
        rc = ch_buf_printf(
            &b,
            "# HELP callhook_http_connections Open HTTP connections.\n"
            "# TYPE callhook_http_connections gauge\ncallhook_http_connections %lld\n"
            "# HELP callhook_http_connections_limited_total Connections refused for their "
            "address's limit (server.max_conns_per_addr).\n"
            "# TYPE callhook_http_connections_limited_total counter\n"
            "callhook_http_connections_limited_total %llu\n"
            "# HELP callhook_http_timeouts_total Connections closed at the header or body "
            "deadline.\n"
            "# TYPE callhook_http_timeouts_total counter\ncallhook_http_timeouts_total %llu\n",
            (long long)gs.open, (unsigned long long)gs.limited, (unsigned long long)gs.timed_out);
    ch_dispatcher *d = atomic_load(&r->srv->dispatcher);
    if (d) {
        ch_dispatcher_stats ds;
        ch_dispatcher_get_stats(d, &ds);
        if (!rc)
            rc = ch_buf_printf(
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
    ch_enrich *en = atomic_load(&r->srv->enrich);
    if (en) {
        ch_enrich_stats es;
        ch_enrich_get_stats(en, &es);
        /* each family's lines together, as the text format asks */
        if (!rc)
            rc = ch_buf_printf(&b,
                               "# HELP callhook_enrich_jobs_total Enrichment stage runs, by "
                               "stage and outcome.\n# TYPE callhook_enrich_jobs_total counter\n");
        for (int k = 0; !rc && k < CH_STAGE_COUNT; k++)
            rc = ch_buf_printf(&b,
                               "callhook_enrich_jobs_total{stage=\"%s\",outcome=\"done\"} %llu\n"
                               "callhook_enrich_jobs_total{stage=\"%s\",outcome=\"failed\"} %llu\n"
                               "callhook_enrich_jobs_total{stage=\"%s\",outcome=\"retry\"} %llu\n",
                               ch_stage_name(k), (unsigned long long)es.done[k], ch_stage_name(k),
                               (unsigned long long)es.failed[k], ch_stage_name(k),
                               (unsigned long long)es.retried[k]);
        if (!rc)
            rc =
                ch_buf_printf(&b, "# HELP callhook_enrich_seconds_total Run time of the stages "
                                  "that finished.\n# TYPE callhook_enrich_seconds_total counter\n");
        for (int k = 0; !rc && k < CH_STAGE_COUNT; k++)
            rc = ch_buf_printf(&b, "callhook_enrich_seconds_total{stage=\"%s\"} %.3f\n",
                               ch_stage_name(k), es.ms_sum[k] / 1000.0);
        if (!rc)
            rc = ch_buf_printf(&b, "# HELP callhook_enrich_running Stages running now.\n"
                                   "# TYPE callhook_enrich_running gauge\n");
        for (int k = 0; !rc && k < CH_STAGE_COUNT; k++)
            rc = ch_buf_printf(&b, "callhook_enrich_running{stage=\"%s\"} %lld\n", ch_stage_name(k),
                               (long long)es.running[k]);
        int64_t depth = 0;
        if (!rc && ch_store_jobs_depth(r->srv->store, &depth) != CH_OK) depth = -1;
        if (!rc)
            rc = ch_buf_printf(
                &b,
                "# HELP callhook_enrich_queued Stage jobs taken from the store, waiting for a "
                "worker.\n"
                "# TYPE callhook_enrich_queued gauge\ncallhook_enrich_queued %lld\n"
                "# HELP callhook_enrich_pending Stage jobs pending in the store (due or "
                "retrying), all tenants.\n"
                "# TYPE callhook_enrich_pending gauge\ncallhook_enrich_pending %lld\n"
                "# HELP callhook_enrich_deadlines_total Pipelines that passed their deadline.\n"
                "# TYPE callhook_enrich_deadlines_total counter\n"
                "callhook_enrich_deadlines_total %llu\n",
                (long long)es.queued, (long long)depth, (unsigned long long)es.expired);
    }
    if (!rc && r->srv->hub) rc = ch_stream_metrics(r->srv->hub, &b);
    if (rc) {
        /* the series are a fixed set, far below the ceiling: a cut body would be read by
         * Prometheus as counters gone to zero, so the scrape fails instead */
        ch_buf_free(&b);
        return ch_reply_error(r, 500, "metrics_too_large", NULL,
                              "the metrics page is over %zu bytes", b.max);
    }
    size_t n;
    char *text = ch_buf_steal(&b, &n);
    struct MHD_Response *resp = MHD_create_response_from_buffer(n, text, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    return ch_reply_queue(r, 200, resp);
}

void ch_server_set_dispatcher(ch_server *srv, struct ch_dispatcher *d)
{
    srv->dispatcher = d;
}

void ch_server_set_enrich(ch_server *srv, struct ch_enrich *e)
{
    srv->enrich = e;
}

static enum MHD_Result handle_healthz(ch_request *r, const ch_route_args *a)
{
    (void)a;
    return ch_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

static enum MHD_Result handle_readyz(ch_request *r, const ch_route_args *a)
{
    (void)a;
    bool ok = ch_store_writable(r->srv->store);
    return ch_reply_json(r, ok ? 200 : 503,
                         json_pack("{s:s}", "status", ok ? "ready" : "unavailable"));
}

static enum MHD_Result handle_metrics_route(ch_request *r, const ch_route_args *a)
{
    (void)a;
    if (!ch_cidr_list_match(r->srv->cfg->metrics_allow, ch_client(r)))
        return ch_reply_error(r, 403, "forbidden", NULL,
                              "metrics are served only to the addresses in "
                              "server.metrics_allow");
    return handle_metrics(r);
}

int ch_server_routes(ch_router *rt)
{
    int rc;
    if ((rc = ch_router_add(rt, CH_M_GET, "/healthz", CH_RA_NONE, CH_ROUTE_HEALTHZ, handle_healthz,
                            NULL)) ||
        (rc = ch_router_add(rt, CH_M_GET, "/readyz", CH_RA_NONE, CH_ROUTE_READYZ, handle_readyz,
                            NULL)) ||
        (rc = ch_router_add(rt, CH_M_GET, "/metrics", CH_RA_NONE, CH_ROUTE_METRICS,
                            handle_metrics_route, NULL)) ||
        (rc = ch_stream_routes(rt)))
        return rc;
    return CH_OK;
}

/* ---- libmicrohttpd callbacks -------------------------------------------------------- */

/* Called by MHD with the request line's URI exactly as sent, before any parsing: the only place
 * the raw query string (which URL signatures cover byte for byte) is available. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)cls;
    ch_guard_request_line(conn);
    ch_request *r = ch_calloc(1, sizeof *r);
    r->raw_uri = ch_strndup(uri, strnlen(uri, 8192));
    return r;
}

static void on_written(ch_write_job *job)
{
    ch_request *r = job->arg;
    MHD_resume_connection(r->conn);
}

enum MHD_Result ch_request_write(ch_request *r, ch_op *ops, size_t n, ch_write_then then, void *ctx,
                                 void (*ctx_free)(void *ctx))
{
    ch_write_job_init(&r->job, NULL, 0);
    r->job.ops = ops;
    r->job.nops = n;
    r->job.done = on_written;
    r->job.arg = r;
    r->then = then;
    r->then_ctx = ctx;
    r->then_ctx_free = ctx_free;
    r->state = REQ_WRITING;
    /* suspended first: the writer may resume it before ch_store_submit returns */
    MHD_suspend_connection(r->conn);
    ch_store_submit(r->srv->store, &r->job);
    return MHD_YES;
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

/* Body bytes read and thrown away after max_body so that a client which writes its whole body
 * before reading gets its 413 instead of a reset (nginx's lingering close, bounded). */
static size_t discard_max(const ch_config *cfg)
{
    size_t four = cfg->max_body * 4;
    return four > (size_t)CH_BODY_DISCARD_MIN ? four : (size_t)CH_BODY_DISCARD_MIN;
}

/* A request refused for its framing: the connection is closed, the rest of it unread. */
static enum MHD_Result refuse_framing(ch_request *r, int status, const char *code,
                                      const char *header, const char *msg)
{
    r->close = true;
    return ch_reply_error(r, status, code, header, "%s", msg);
}

/* Framing and Host (RFC 9112 §3.2, §6.1, §6.3): a request whose length cannot be known for
 * certain is refused before its body is read. *refused says whether it was. */
static enum MHD_Result check_framing(ch_request *r, const char *version, bool *refused)
{
    char buf[512];
    int n_cl, n_te;
    bool cl_differ;
    *refused = true;
    header_all(r, "Content-Length", buf, sizeof buf, &n_cl, &cl_differ);
    if (n_cl > 1 && cl_differ)
        return refuse_framing(r, 400, "bad_request", "Content-Length",
                              "conflicting Content-Length headers");
    const char *te = header_all(r, "Transfer-Encoding", buf, sizeof buf, &n_te, NULL);
    if (te) {
        if (n_cl)
            return refuse_framing(r, 400, "bad_request", "Transfer-Encoding",
                                  "Transfer-Encoding and Content-Length together");
        size_t len = strlen(te);
        while (len && (te[len - 1] == ' ' || te[len - 1] == '\t'))
            len--;
        bool final_chunked = len >= 7 && strncasecmp(te + len - 7, "chunked", 7) == 0 &&
                             (len == 7 || te[len - 8] == ',' || te[len - 8] == ' ');
        if (!final_chunked)
            return refuse_framing(r, 400, "bad_request", "Transfer-Encoding",
                                  "the last transfer coding must be chunked");
        if (len != 7)
            return refuse_framing(r, 501, "not_implemented", "Transfer-Encoding",
                                  "only the chunked transfer coding is supported");
    }
    if (strcmp(version, "HTTP/1.1") == 0 && !ch_header(r, "Host"))
        return refuse_framing(r, 400, "bad_request", "Host", "an HTTP/1.1 request needs Host");
    *refused = false;
    return MHD_YES;
}

/* The first call for a request: its headers are complete, no body byte has been read. */
static enum MHD_Result begin_request(ch_server *srv, ch_request *r, struct MHD_Connection *conn,
                                     const char *url, const char *method, const char *version)
{
    r->srv = srv;
    r->conn = conn;
    r->t0_ns = ch_mono_ns();
    r->route = CH_ROUTE_OTHER;
    snprintf(r->id, sizeof r->id, "%s-%08llx", srv->id_prefix,
             (unsigned long long)atomic_fetch_add(&srv->next_id, 1));
    snprintf(r->method, sizeof r->method, "%s", method);
    ch_buf_init(&r->body, srv->cfg->max_body);
    atomic_fetch_add(&srv->inflight, 1);
    if (strncmp(url, "/hooks/", 7) == 0) r->route = CH_ROUTE_HOOKS;

    bool over_limit;
    if (!ch_guard_headers_done(conn, &over_limit)) return MHD_NO; /* closed at its deadline */
    const struct sockaddr *peer = ch_peer(r);
    if (srv->cfg->trusted_proxies[0] && ch_cidr_list_match(srv->cfg->trusted_proxies, peer)) {
        char xff[1024], fwd[1024];
        ch_client_resolve(peer, srv->cfg->trusted_proxies,
                          header_all(r, "X-Forwarded-For", xff, sizeof xff, NULL, NULL),
                          header_all(r, "Forwarded", fwd, sizeof fwd, NULL, NULL), &r->client);
    }
    if (over_limit) {
        r->close = true;
        r->retry_after = 1;
        return ch_reply_error(r, 429, "too_many_connections", NULL,
                              "too many connections from this address (server.max_conns_per_addr)");
    }
    bool refused;
    enum MHD_Result ret = check_framing(r, version, &refused);
    if (refused) return ret;

    /* A declared oversize body: answered before it is sent when the client waits for
     * "100 Continue"; otherwise read and thrown away first (up to a bound), so that a client
     * that writes before it reads sees the 413 rather than a reset. */
    const char *cl = ch_header(r, "Content-Length");
    unsigned long long declared = cl ? strtoull(cl, NULL, 10) : 0;
    if (declared > srv->cfg->max_body) {
        const char *expect = ch_header(r, "Expect");
        if ((expect && strcasecmp(expect, "100-continue") == 0) ||
            declared > discard_max(srv->cfg)) {
            r->close = true;
            return ch_reply_error(r, 413, "body_too_large", NULL,
                                  "the body is larger than %zu bytes", srv->cfg->max_body);
        }
        r->too_large = true;
    }
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    ch_server *srv = cls;
    ch_request *r = *con_cls;
    if (!r || !r->srv) {
        if (!r) r = ch_calloc(1, sizeof *r); /* normally made by on_uri, with the raw URI */
        *con_cls = r;
        return begin_request(srv, r, conn, url, method, version);
    }
    if (r->state == REQ_ANSWERED) {
        *upload_data_size = 0; /* answered early: discard the rest */
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!ch_guard_body_alive(conn)) return MHD_NO; /* closed at its deadline */
        if (!r->too_large && ch_buf_append(&r->body, upload_data, *upload_data_size) != CH_OK)
            r->too_large = true;
        if (r->too_large) {
            r->discarded += *upload_data_size;
            if (r->discarded > discard_max(srv->cfg)) return MHD_NO; /* enough: close */
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->state == REQ_WAITING) {
        /* resumed by the writer: the job's outcome is known */
        int status;
        struct MHD_Response *resp = ch_hook_answer(r, &status);
        return ch_reply_queue(r, status, resp);
    }
    if (r->state == REQ_WRITING) {
        /* resumed by the writer: the API write is committed, or refused, or failed */
        r->state = REQ_READING;
        return r->then(r, r->then_ctx, r->job.result);
    }
    if (r->state == REQ_VERIFYING) {
        /* resumed by a password verification: the handler runs again and finds its result */
        r->state = REQ_READING;
        if (r->verify_refused) {
            r->verify_refused = false;
            ch_verify_clear(&r->verify);
            r->retry_after = 1;
            return ch_reply_error(r, 429, "rate_limited", NULL,
                                  "too many password checks from this address at once; retry");
        }
        return ch_router_dispatch(r->srv->router, r, method, url);
    }
    if (!ch_guard_body_done(conn)) return MHD_NO; /* closed at its deadline */
    if (r->too_large)
        return ch_reply_error(r, 413, "body_too_large", NULL, "the body is larger than %zu bytes",
                              srv->cfg->max_body);
    return ch_router_dispatch(r->srv->router, r, method, url);
}

static void free_request(ch_request *r)
{
    if (r->job.ops) ch_ops_clear(r->job.ops, r->job.nops);
    if (r->then_ctx_free) r->then_ctx_free(r->then_ctx);
    free(r->raw_uri);
    if (r->response) MHD_destroy_response(r->response);
    ch_buf_free(&r->body);
    ch_write_job_clear(&r->job);
    free(r->events);
    ch_parsed_clear(&r->parsed);
    ch_tenant_clear(&r->tenant);
    ch_verify_clear(&r->verify);
    free(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    ch_server *srv = cls;
    ch_request *r = *con_cls;
    ch_guard_request_done(conn);
    if (!r) return;
    if (!r->srv) { /* the request ended before its handler ever ran */
        free(r->raw_uri);
        free(r);
        *con_cls = NULL;
        return;
    }
    int64_t dur = ch_mono_ns() - r->t0_ns;
    ch_metrics_request(r->route, r->status, dur);
    bool aborted = toe != MHD_REQUEST_TERMINATED_COMPLETED_OK;
    if (aborted) ch_metrics_aborted();
    ch_logline l;
    /* an aborted connection is the client's doing, and cheap to cause: counted, logged only
     * when debugging, so it cannot flood the log */
    if (ch_log_begin(&l, aborted ? CH_LOG_DEBUG : CH_LOG_INFO, "request", r->id)) {
        char addr[INET6_ADDRSTRLEN];
        ch_addr_format(ch_client(r), addr, sizeof addr);
        ch_log_str(&l, "remote", addr);
        if (r->client.ss_family) {
            ch_addr_format(ch_peer(r), addr, sizeof addr);
            ch_log_str(&l, "proxy", addr);
        }
        ch_log_str(&l, "method", r->method);
        /* the path only: a query may carry a token (?token=…) */
        char path[256];
        const char *uri = r->raw_uri ? r->raw_uri : "";
        snprintf(path, sizeof path, "%.*s", (int)strcspn(uri, "?#"), uri);
        ch_log_str(&l, "path", path);
        ch_log_int(&l, "status", r->status);
        ch_log_dbl(&l, "ms", (double)dur / 1e6);
        if (aborted) ch_log_int(&l, "terminated", toe);
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
    /* libmicrohttpd reports every client's misstep (resets, bad requests, timeouts): noise a
     * client can make at will, so only when debugging */
    ch_log_msg(CH_LOG_DEBUG, "http", msg);
}

/* Every connection is a descriptor: the soft limit (1,024 under many service managers) is
 * raised towards the hard one so that the connection limit, and the streams within it, can be
 * reached; a warning when it cannot. */
static void raise_fd_limit(const ch_config *cfg)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
    rlim_t want = (rlim_t)CH_HTTP_CONNS_MAX + 256;
    if (rl.rlim_cur < want && rl.rlim_cur != RLIM_INFINITY) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) getrlimit(RLIMIT_NOFILE, &rl);
    }
    rlim_t need = (rlim_t)cfg->max_streams + CH_STREAM_CONN_RESERVE;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
        ch_logline l;
        if (ch_log_begin(&l, CH_LOG_WARN, "fd_limit_low", NULL)) {
            ch_log_int(&l, "nofile", (int64_t)rl.rlim_cur);
            ch_log_int(&l, "max_streams", cfg->max_streams);
            ch_log_end(&l);
        }
    }
}

int ch_server_start(ch_server **out, const ch_config *cfg, ch_store *store, const ch_router *routes,
                    int *port_out)
{
    struct sockaddr_storage ss;
    bool v6 = false;
    if (ch_listen_parse(cfg->listen, &ss, &v6)) {
        ch_log_msg(CH_LOG_ERROR, "config", "listen must be ADDR:PORT");
        return CH_EINVAL;
    }
    ch_server *srv = ch_calloc(1, sizeof *srv);
    srv->cfg = cfg;
    srv->store = store;
    srv->router = routes;
    srv->auth = ch_auth_new(&(ch_auth_opts){.fail_limit = cfg->auth_fail_limit,
                                            .addr_fail_limit = cfg->auth_addr_fail_limit,
                                            .window_sec = cfg->auth_fail_window,
                                            .verify_threads = cfg->auth_verify_threads});
    srv->guard = ch_guard_new(&(ch_guard_opts){.max_per_addr = cfg->max_conns_per_addr,
                                               .header_ms = cfg->header_timeout * 1000,
                                               .body_ms = cfg->body_timeout * 1000,
                                               .exempt = cfg->trusted_proxies});
    srv->sources = ch_sources_new(store);
    raise_fd_limit(cfg);
    srv->hub =
        ch_stream_hub_start(store, &(ch_stream_opts){.max_streams = cfg->max_streams,
                                                     .heartbeat_ms = cfg->stream_heartbeat_ms,
                                                     .buffer_max = cfg->stream_buffer});
    ch_random_hex(srv->id_prefix, 4);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ITC | MHD_USE_TURBO | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
    srv->mhd = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)cfg->threads, MHD_OPTION_CONNECTION_LIMIT, (unsigned)CH_HTTP_CONNS_MAX,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CH_HTTP_IDLE_SEC,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CH_HTTP_CONN_MEMORY,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv,
        MHD_OPTION_NOTIFY_CONNECTION, ch_guard_notify, srv->guard,
        MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1, MHD_OPTION_END);
    if (!srv->mhd) {
        ch_logline l;
        if (ch_log_begin(&l, CH_LOG_ERROR, "listen_failed", NULL)) {
            ch_log_str(&l, "address", cfg->listen);
            ch_log_end(&l);
        }
        ch_auth_free(srv->auth);
        ch_guard_free(srv->guard);
        ch_sources_free(srv->sources);
        ch_stream_hub_free(srv->hub);
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
    /* streams never finish by themselves: ended here (every suspended one resumed, as
     * MHD_stop_daemon requires); their clients resume by id from the next daemon */
    ch_stream_hub_close(srv->hub);
    int64_t deadline = ch_mono_ns() + (int64_t)grace_ms * 1000000;
    while (atomic_load(&srv->inflight) > 0 && ch_mono_ns() < deadline)
        usleep(2000);
    MHD_stop_daemon(srv->mhd);
    ch_stream_hub_free(srv->hub);
    ch_auth_free(srv->auth);
    ch_guard_free(srv->guard);
    ch_sources_free(srv->sources);
    free(srv);
}
