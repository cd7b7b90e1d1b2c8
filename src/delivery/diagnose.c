/* The diagnostics report (diagnose.h). The reachability checks are curl transfers in
 * CONNECT_ONLY mode run together in one multi handle, under one deadline for the whole report:
 * curl resolves the name, then asks us for each socket (CURLOPT_OPENSOCKETFUNCTION), where the
 * SSRF rule of the dispatcher refuses an address before any packet is sent to it. The rest is
 * read from the store: the endpoints, their health, the newest calls and their traces. */
#include "delivery/diagnose.h"

#include "delivery/endpoint.h"
#include "delivery/ssrf.h"
#include "util/cidr.h"
#include "util/limits.h"
#include "util/mem.h"
#include "util/result.h"
#include "util/timeutil.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* ---- routing in plain words --------------------------------------------------------- */

static bool has_kind(const ch_route_endpoint *eps, size_t n, ch_endpoint_kind k)
{
    for (size_t i = 0; i < n; i++)
        if (eps[i].kind == k) return true;
    return false;
}

json_t *ch_diagnose_route(const ch_route_endpoint *eps, size_t n, ch_direction dir)
{
    int64_t *ids = ch_calloc(n + 1, sizeof *ids);
    const char *skip = NULL;
    size_t m = ch_route_call_event(eps, n, dir, "call.completed", ids, &skip);
    json_t *list = json_array();
    for (size_t i = 0; i < m; i++)
        json_array_append_new(list, json_integer(ids[i]));
    free(ids);
    const char *rule;
    if (dir == CH_DIR_INBOUND)
        rule = has_kind(eps, n, CH_EPK_INBOUND)
                   ? "an inbound call goes to the inbound endpoints"
                   : "there is no inbound endpoint, so an inbound call goes to the generic "
                     "endpoints";
    else if (dir == CH_DIR_OUTBOUND)
        rule = "an outbound call goes only to the outbound endpoints (never to generic ones)";
    else if (dir == CH_DIR_INTERNAL)
        rule = "an internal call goes to the generic endpoints";
    else
        rule = "a call of unknown direction goes to the generic endpoints";
    char why[400];
    if (m > 0)
        snprintf(why, sizeof why, "%s that are enabled and subscribed to call.completed", rule);
    else
        snprintf(why, sizeof why, "%s: %s", skip ? skip : "none", rule);
    return json_pack("{s:o, s:s}", "endpoint_ids", list, "reason", why);
}

/* ---- the messages of a call, from its trace ----------------------------------------- */

json_t *ch_diagnose_messages(const json_t *trace)
{
    json_t *out = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(trace, "timeline"), i, e)
    {
        const char *what = json_string_value(json_object_get(e, "what"));
        if (!what) continue;
        json_t *type = json_object_get(e, "type");
        if (!strcmp(what, "skipped")) {
            json_array_append_new(out, json_pack("{s:O?, s:[], s:[], s:O?, s:s}", "type", type,
                                                 "delivered_to", "deliveries", "skipped",
                                                 json_object_get(e, "reason"), "state", "skipped"));
            continue;
        }
        if (strcmp(what, "message") != 0) continue;
        json_t *to = json_array(), *dl = json_array();
        size_t k, pending = 0, failed = 0;
        json_t *d;
        json_array_foreach(json_object_get(e, "deliveries"), k, d)
        {
            const char *st = json_string_value(json_object_get(d, "state"));
            pending += st && !strcmp(st, "pending");
            failed += st && !strcmp(st, "failed");
            json_array_append(to, json_object_get(d, "endpoint_id"));
            json_array_append_new(dl, json_pack("{s:O?, s:O?, s:O?, s:O?}", "endpoint_id",
                                                json_object_get(d, "endpoint_id"), "state",
                                                json_object_get(d, "state"), "last_status",
                                                json_object_get(d, "last_status"), "last_error",
                                                json_object_get(d, "last_error")));
        }
        const char *state = failed ? "failed" : pending ? "pending" : "delivered";
        json_array_append_new(out,
                              json_pack("{s:O?, s:o, s:o, s:n, s:s}", "type", type, "delivered_to",
                                        to, "deliveries", dl, "skipped", "state", state));
    }
    return out;
}

/* ---- reachability ------------------------------------------------------------------- */

void ch_diagnose_probe_json(const ch_probe_result *p, const char *url_problem, json_t *o)
{
    char problem[400] = "";
    if (url_problem)
        snprintf(problem, sizeof problem, "%s", url_problem);
    else if (p->refused)
        snprintf(problem, sizeof problem,
                 "refused by the SSRF guard: %s is %s; deliveries never go there (list it in "
                 "delivery.allow_private if it is meant)",
                 p->address, p->refused);
    else if (!p->resolved && !p->unchecked && p->error[0])
        snprintf(problem, sizeof problem, "%s", p->error);
    json_object_set_new(o, "url_valid", json_boolean(!problem[0]));
    json_object_set_new(o, "url_problem", problem[0] ? json_string(problem) : json_null());
    json_t *r = json_object();
    json_object_set_new(r, "ok", json_boolean(p->connected));
    json_object_set_new(r, "address", p->address[0] ? json_string(p->address) : json_null());
    const char *err = p->connected ? NULL : problem[0] ? problem : p->error[0] ? p->error : NULL;
    json_object_set_new(r, "error", err ? json_string(err) : json_null());
    json_object_set_new(o, "reachable", r);
}

/* curl's "Failed to connect to h port p after 2 ms: …": the timing goes, so that two reports
 * of the same state read the same (the API's and the CLI's). */
static void drop_timing(char *s)
{
    char *a = strstr(s, " after ");
    if (!a) return;
    char *p = a + 7;
    if (*p < '0' || *p > '9') return;
    while (*p >= '0' && *p <= '9')
        p++;
    if (strncmp(p, " ms", 3) != 0) return;
    memmove(a, p + 3, strlen(p + 3) + 1);
}

typedef struct {
    ch_probe_result *res;
    const char *allow_private;
    CURL *h;
    char errbuf[CURL_ERROR_SIZE];
} probe;

/* The dispatcher's rule (dispatcher.c on_open_socket): a refused address gets no socket. */
static curl_socket_t on_open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
    (void)purpose;
    probe *p = arg;
    const struct sockaddr *sa = &a->addr;
    ch_addr_format(sa, p->res->address, sizeof p->res->address);
    p->res->resolved = true;
    const char *why = ch_ssrf_blocked_reason(sa);
    if (why && !ch_cidr_list_match(p->allow_private, sa)) {
        p->res->refused = why;
        return CURL_SOCKET_BAD;
    }
    p->res->refused = NULL; /* another address of the name may pass */
    return socket(a->family, a->socktype, a->protocol);
}

/* Connects to every url[i] that is valid, in parallel, for at most budget_ms in all. */
static void probe_all(const char *const *urls, ch_probe_result *res, size_t n,
                      const char *allow_private, int budget_ms)
{
    CURLM *m = curl_multi_init();
    if (!m) abort();
    probe *ps = ch_calloc(n + 1, sizeof *ps);
    for (size_t i = 0; i < n; i++) {
        if (!res[i].url_ok) continue;
        if (i >= CH_DIAG_PROBES_MAX) {
            res[i].unchecked = true;
            snprintf(res[i].error, sizeof res[i].error,
                     "not checked: a report checks at most %d endpoints", CH_DIAG_PROBES_MAX);
            continue;
        }
        probe *p = &ps[i];
        p->res = &res[i];
        p->allow_private = allow_private ? allow_private : "";
        if (!(p->h = curl_easy_init())) abort();
        curl_easy_setopt(p->h, CURLOPT_URL, urls[i]);
        curl_easy_setopt(p->h, CURLOPT_CONNECT_ONLY, 1L);
        curl_easy_setopt(p->h, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(p->h, CURLOPT_NOPROXY, "*"); /* the check must see the real address */
        curl_easy_setopt(p->h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(p->h, CURLOPT_TIMEOUT_MS, (long)budget_ms);
        curl_easy_setopt(p->h, CURLOPT_CONNECTTIMEOUT_MS, (long)budget_ms);
        curl_easy_setopt(p->h, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
        curl_easy_setopt(p->h, CURLOPT_OPENSOCKETDATA, p);
        curl_easy_setopt(p->h, CURLOPT_ERRORBUFFER, p->errbuf);
        curl_easy_setopt(p->h, CURLOPT_PRIVATE, p);
        curl_multi_add_handle(m, p->h);
    }
    int64_t deadline = ch_now_ms() + budget_ms;
    int running = 1;
    while (running) {
        if (curl_multi_perform(m, &running) != CURLM_OK) break;
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE) continue;
            probe *p;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&p);
            CURLcode rc = msg->data.result;
            if (rc == CURLE_OK) {
                p->res->connected = true;
                p->res->resolved = true;
                char *ip = NULL;
                long port = 0;
                curl_easy_getinfo(p->h, CURLINFO_PRIMARY_IP, &ip);
                curl_easy_getinfo(p->h, CURLINFO_PRIMARY_PORT, &port);
                if (ip && *ip)
                    snprintf(p->res->address, sizeof p->res->address,
                             strchr(ip, ':') ? "[%s]:%ld" : "%s:%ld", ip, port);
            } else if (p->res->refused) {
                snprintf(p->res->error, sizeof p->res->error, "refused by the SSRF guard: %s",
                         p->res->refused);
            } else {
                if (rc == CURLE_COULDNT_RESOLVE_HOST) p->res->resolved = false;
                snprintf(p->res->error, sizeof p->res->error, "%s",
                         p->errbuf[0] ? p->errbuf : curl_easy_strerror(rc));
                drop_timing(p->res->error);
            }
        }
        if (!running) break;
        int64_t now = ch_now_ms();
        if (now >= deadline) break;
        curl_multi_poll(m, NULL, 0, (int)(deadline - now < 100 ? deadline - now : 100), NULL);
    }
    for (size_t i = 0; i < n; i++) {
        if (!ps[i].h) continue;
        if (!ps[i].res->connected && !ps[i].res->error[0] && !ps[i].res->refused)
            snprintf(ps[i].res->error, sizeof ps[i].res->error, "no connection within %d ms",
                     budget_ms);
        curl_multi_remove_handle(m, ps[i].h);
        curl_easy_cleanup(ps[i].h);
    }
    curl_multi_cleanup(m);
    free(ps);
}

/* ---- the report --------------------------------------------------------------------- */

static json_t *time_json(int64_t ms)
{
    if (ms == CH_TIME_UNSET) return json_null();
    char ts[40];
    ch_time_format(ms, ts, sizeof ts);
    return json_string(ts);
}

static const ch_endpoint_health *health_of(const ch_endpoint_health *h, size_t n, int64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (h[i].id == id) return &h[i];
    return NULL;
}

/* The newest calls with what happened to their webhooks. */
static int recent_calls(ch_store *s, int64_t tid, json_t *out)
{
    ch_call_filter f;
    memset(&f, 0, sizeof f);
    f.since = f.until = CH_TIME_UNSET;
    f.direction = f.status = f.disposition = -1;
    f.limit = CH_DIAG_RECENT_CALLS;
    json_t *page;
    int rc = ch_store_list_calls(s, tid, &f, &page);
    if (rc) return rc;
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(page, "data"), i, c)
    {
        const char *id = json_string_value(json_object_get(c, "id"));
        if (!id) continue;
        json_t *trace = NULL;
        rc = ch_store_call_trace(s, tid, id, &trace);
        if (rc == CH_ENOTFOUND) continue; /* removed since the list was read */
        if (rc) break;
        json_t *rec = json_object_get(c, "recording_url");
        json_t *tr = json_object_get(c, "transcript");
        json_t *en = json_object_get(json_object_get(c, "enrichment"), "state");
        json_t *o = json_object();
        json_object_set_new(o, "call_id", json_string(id));
        json_object_set(o, "direction", json_object_get(c, "direction"));
        json_object_set(o, "status", json_object_get(c, "status"));
        json_object_set(o, "started_at", json_object_get(c, "started_at"));
        json_object_set_new(o, "recording",
                            json_boolean((json_is_string(rec) && *json_string_value(rec)) ||
                                         json_is_object(json_object_get(c, "recording"))));
        json_object_set_new(o, "transcript",
                            json_boolean(json_is_string(tr) && *json_string_value(tr)));
        json_object_set_new(o, "enrichment", json_is_string(en) ? json_incref(en) : json_null());
        json_object_set_new(o, "messages", ch_diagnose_messages(trace));
        json_decref(trace);
        json_array_append_new(out, o);
    }
    json_decref(page);
    return rc;
}

int ch_diagnose(ch_store *s, const ch_tenant *t, const ch_diagnose_opts *opts, json_t **out)
{
    *out = NULL;
    json_t *list = NULL, *calls = json_array();
    ch_endpoint_health *health = NULL;
    size_t nh = 0;
    int64_t dead = 0;
    int rc = ch_store_endpoint_list(s, t->id, 0, &list);
    if (!rc) rc = ch_store_endpoint_health(s, t->id, &health, &nh, &dead);
    if (!rc) rc = recent_calls(s, t->id, calls);
    if (rc) {
        json_decref(list);
        json_decref(calls);
        ch_endpoint_health_free(health, nh);
        return rc;
    }
    json_t *eps = json_object_get(list, "endpoints");
    size_t n = json_array_size(eps);
    ch_route_endpoint *re = ch_calloc(n + 1, sizeof *re);
    const char **urls = ch_calloc(n + 1, sizeof *urls);
    ch_probe_result *res = ch_calloc(n + 1, sizeof *res);
    const char **problems = ch_calloc(n + 1, sizeof *problems);
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(eps, i);
        re[i] = (ch_route_endpoint){
            .id = json_integer_value(json_object_get(e, "id")),
            .kind = ch_endpoint_kind_parse(json_string_value(json_object_get(e, "kind"))),
            .enabled = json_is_true(json_object_get(e, "enabled")),
            .events = json_string_value(json_object_get(e, "events"))};
        urls[i] = json_string_value(json_object_get(e, "url"));
        problems[i] = urls[i] ? ch_endpoint_url_problem(urls[i]) : "the endpoint has no URL";
        res[i].url_ok = problems[i] == NULL;
    }
    int budget = opts && opts->probe_ms > 0 ? opts->probe_ms : CH_DIAG_PROBE_MS;
    probe_all(urls, res, n, opts ? opts->allow_private : "", budget);

    json_t *endpoints = json_array(), *failing = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(eps, i);
        json_t *o = json_object();
        static const char *const kept[] = {"id",     "url",     "kind",
                                           "events", "enabled", "disabled_reason"};
        for (size_t k = 0; k < sizeof kept / sizeof *kept; k++)
            json_object_set(o, kept[k], json_object_get(e, kept[k]));
        ch_diagnose_probe_json(&res[i], problems[i], o);
        const ch_endpoint_health *h = health_of(health, nh, re[i].id);
        json_t *last = json_null(), *fail = json_null();
        if (h && h->last_state)
            last = json_pack("{s:s, s:o, s:o}", "state", h->last_state, "status",
                             h->last_status == CH_NUM_UNSET ? json_null()
                                                            : json_integer(h->last_status),
                             "error", h->last_error ? json_string(h->last_error) : json_null());
        if (h && h->failing_since != CH_TIME_UNSET) {
            fail = json_pack("{s:o, s:I, s:b, s:O?}", "since", time_json(h->failing_since),
                             "failed_deliveries", (json_int_t)h->failed, "disabled", !re[i].enabled,
                             "disabled_reason", json_object_get(e, "disabled_reason"));
            json_array_append_new(failing, json_integer(re[i].id));
        }
        json_object_set_new(o, "last_delivery", last);
        json_object_set_new(o, "failing", fail);
        json_array_append_new(endpoints, o);
    }
    json_t *routing =
        json_pack("{s:o, s:o, s:o}", "inbound", ch_diagnose_route(re, n, CH_DIR_INBOUND),
                  "outbound", ch_diagnose_route(re, n, CH_DIR_OUTBOUND), "internal",
                  ch_diagnose_route(re, n, CH_DIR_INTERNAL));
    json_t *o = json_object();
    json_object_set_new(o, "tenant", json_string(t->slug));
    json_object_set_new(o, "generated_at", time_json(ch_now_ms()));
    json_object_set_new(o, "endpoints", endpoints);
    json_object_set_new(o, "routing", routing);
    json_object_set_new(o, "recent_calls", calls);
    json_object_set_new(o, "dead_letters", json_integer(dead));
    json_object_set_new(o, "failing_endpoints", failing);
    json_object_set_new(o, "probe_ms", json_integer(budget));
    *out = o;
    free(re);
    free(urls);
    free(res);
    free(problems);
    json_decref(list);
    ch_endpoint_health_free(health, nh);
    return CH_OK;
}
