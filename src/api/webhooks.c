/* The webhooks API (docs/webhooks.md): the tenant's endpoints, deliveries, skips and retry
 * schedule through its API key — the same operations as `callhook endpoint` and
 * `callhook delivery`. Another tenant's endpoint or delivery is "not found". */
#include "api/query.h"
#include "core/payload.h"
#include "delivery/endpoint.h"
#include "delivery/schedule.h"
#include "api/routes.h"
#include "http/reply.h"
#include "http/request.h"
#include "http/router.h"
#include "providers/provider.h"
#include "util/limits.h"
#include "util/mem.h"
#include "util/result.h"

#include <stdlib.h>
#include <string.h>

#define ROTATE_OVERLAP_MS (24LL * 3600 * 1000) /* both secrets sign for a day, as in the CLI */

static int64_t parse_id(const char *s)
{
    char *end;
    long long v = s && *s ? strtoll(s, &end, 10) : 0;
    return s && *s && !*end && v > 0 ? v : 0;
}

static enum MHD_Result store_error(ch_request *r)
{
    return ch_reply_error(r, 503, "store_unavailable", NULL, "the store cannot be used right now");
}

/* The body as a JSON object; NULL with an answer queued (415, 400) when it is not one. An
 * empty body is an empty object when empty_ok. */
static json_t *body_object(ch_request *r, bool empty_ok)
{
    if (r->body.len == 0 && empty_ok) return json_object();
    const char *ct = ch_header(r, "Content-Type");
    if (ct && !ch_media_type_is(ct, "application/json")) {
        ch_reply_error(r, 415, "unsupported_media_type", NULL, "send application/json");
        return NULL;
    }
    json_error_t jerr;
    json_t *o =
        json_loadb(r->body.data ? r->body.data : "", r->body.len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(o)) {
        json_decref(o);
        ch_reply_error(r, 400, "malformed_json", NULL, "the body must be a JSON object");
        return NULL;
    }
    return o;
}

/* ---- endpoints ---------------------------------------------------------------------- */

typedef struct {
    ch_endpoint_spec spec;
    char *events; /* owned: the filter as stored */
    json_t *headers;
    int enabled; /* -1: not given */
} endpoint_input;

static void endpoint_input_clear(endpoint_input *in)
{
    free(in->events);
    json_decref(in->headers);
}

/* body.k, when present, must be an integer in [min, max]: stored in *out; false with a 422
 * answered when it is not. */
static bool int_member(ch_request *r, json_t *body, const char *k, json_int_t min, json_int_t max,
                       const char *range, int64_t *out)
{
    json_t *v = json_object_get(body, k);
    if (!v) return true;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        ch_reply_error(r, 422, "invalid_endpoint", k, "%s is an integer %s", k, range);
        return false;
    }
    *out = json_integer_value(v);
    return true;
}

/* Reads and checks the fields of an endpoint body; answers 422 itself and returns false on a
 * bad one. create: url is required. */
static bool endpoint_input_parse(ch_request *r, json_t *body, bool create, endpoint_input *in)
{
    memset(in, 0, sizeof *in);
    in->spec.timeout_ms = in->spec.rate_limit_per_min = -1;
    in->enabled = -1;
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        static const char *const known[] = {
            "url",    "kind", "events", "headers", "enabled", "timeout_ms", "rate_limit_per_min",
            "payload"};
        bool ok = false;
        for (size_t i = 0; i < sizeof known / sizeof *known; i++)
            ok |= strcmp(key, known[i]) == 0;
        if (!ok) {
            ch_reply_error(r, 422, "invalid_endpoint", key, "unknown field %.64s", key);
            return false;
        }
    }
    if ((v = json_object_get(body, "url"))) {
        const char *problem = json_is_string(v) ? ch_endpoint_url_problem(json_string_value(v))
                                                : "url must be a string";
        if (problem) {
            ch_reply_error(r, 422, "invalid_endpoint", "url", "%s", problem);
            return false;
        }
        in->spec.url = json_string_value(v);
    } else if (create) {
        ch_reply_error(r, 422, "invalid_endpoint", "url", "url is required");
        return false;
    }
    if ((v = json_object_get(body, "kind"))) {
        if (!json_is_string(v) || !ch_endpoint_kind_valid(json_string_value(v))) {
            ch_reply_error(r, 422, "invalid_endpoint", "kind",
                           "kind is inbound, outbound, generic or status");
            return false;
        }
        in->spec.kind = json_string_value(v);
    }
    if ((v = json_object_get(body, "payload"))) {
        if (ch_payload_shape_parse(json_string_value(v)) < 0) {
            ch_reply_error(r, 422, "invalid_endpoint", "payload", "payload is standard or flat");
            return false;
        }
        in->spec.payload = json_string_value(v);
    }
    if ((v = json_object_get(body, "events"))) {
        ch_buf b;
        ch_buf_init(&b, CH_ENDPOINT_EVENTS_MAX);
        bool ok = json_is_string(v) || (json_is_array(v) && json_array_size(v) > 0);
        int brc = CH_OK;
        if (json_is_string(v)) {
            brc = ch_buf_puts(&b, json_string_value(v));
        } else if (ok) {
            size_t i;
            json_t *e;
            json_array_foreach(v, i, e)
            {
                if (!json_is_string(e) || strchr(json_string_value(e), ','))
                    ok = false;
                else if (!brc)
                    brc = ch_buf_printf(&b, "%s%s", i ? "," : "", json_string_value(e));
            }
        }
        if (brc) { /* a list cut at the ceiling would be a different filter than the one sent */
            ch_buf_free(&b);
            ch_reply_error(r, 422, "invalid_endpoint", "events", "events is longer than %zu bytes",
                           b.max);
            return false;
        }
        size_t n;
        in->events = ch_buf_steal(&b, &n);
        const char *bad = ok ? ch_endpoint_events_problem(in->events) : "";
        if (bad) {
            ch_reply_error(r, 422, "invalid_endpoint", "events",
                           "events is \"*\" or a list of event types; '%.64s' is not one", bad);
            return false;
        }
        in->spec.events = in->events;
    }
    if ((v = json_object_get(body, "headers"))) {
        in->headers = json_object();
        const char *problem = NULL;
        if (!json_is_object(v) || json_object_size(v) > CH_ENDPOINT_HEADERS_MAX) {
            ch_reply_error(r, 422, "invalid_endpoint", "headers",
                           "headers is an object of at most %d \"Name\": \"value\" pairs",
                           CH_ENDPOINT_HEADERS_MAX);
            return false;
        }
        json_t *hv;
        json_object_foreach(v, key, hv)
        {
            if (problem) break;
            char *line =
                json_is_string(hv) ? ch_asprintf("%s: %s", key, json_string_value(hv)) : NULL;
            if (!line)
                problem = "every header value is a string";
            else if (!(problem = ch_endpoint_header_problem(line)) &&
                     !ch_endpoint_header_add(in->headers, line))
                problem = "a header value is not UTF-8";
            free(line);
        }
        if (problem) {
            ch_reply_error(r, 422, "invalid_endpoint", "headers", "%s", problem);
            return false;
        }
        in->spec.headers = in->headers;
    }
    if (!int_member(r, body, "timeout_ms", 1000, 60000, "from 1000 to 60000",
                    &in->spec.timeout_ms) ||
        !int_member(r, body, "rate_limit_per_min", 0, 1000000, "from 0 (no limit) to 1000000",
                    &in->spec.rate_limit_per_min))
        return false;
    if ((v = json_object_get(body, "enabled"))) {
        if (!json_is_boolean(v)) {
            ch_reply_error(r, 422, "invalid_endpoint", "enabled", "enabled is true or false");
            return false;
        }
        in->enabled = json_is_true(v);
    }
    return true;
}

/* The endpoint as the list shows it (no secret); CH_ENOTFOUND when the tenant has none with
 * that id. */
static int endpoint_get(ch_request *r, int64_t tid, int64_t id, json_t **out)
{
    json_t *all;
    *out = NULL;
    int rc = ch_store_endpoint_list(r->srv->store, tid, id, &all);
    if (rc) return rc;
    json_t *e = json_array_get(json_object_get(all, "endpoints"), 0);
    if (e) *out = json_incref(e);
    json_decref(all);
    return *out ? CH_OK : CH_ENOTFOUND;
}

/* An API write in flight: its ops and what they point into, kept until the request ends. */
typedef struct {
    ch_op ops[2];
    json_t *body;
    endpoint_input in;
    char secret[CH_WHSEC_MAX]; /* a new secret, shown once in the answer */
    int64_t id;                /* the endpoint or delivery addressed */
} api_write;

static api_write *api_write_new(int64_t id, json_t *body)
{
    api_write *w = ch_calloc(1, sizeof *w);
    w->id = id;
    w->body = body;
    return w;
}

static void api_write_free(void *p)
{
    api_write *w = p;
    endpoint_input_clear(&w->in);
    json_decref(w->body);
    free(w);
}

static enum MHD_Result submit(ch_request *r, api_write *w, size_t nops, ch_write_then then)
{
    return ch_request_write(r, w->ops, nops, then, w, api_write_free);
}

/* The endpoint after a write, with the new secret when there is one. */
static enum MHD_Result endpoint_answer(ch_request *r, api_write *w, int64_t id, int status)
{
    json_t *e;
    int rc = endpoint_get(r, w->ops[0].tenant_id, id, &e);
    if (rc == CH_ENOTFOUND) /* removed since, by another request */
        return ch_reply_result(r, rc, NULL, "endpoint_id", "no endpoint %lld", (long long)id);
    if (rc) return store_error(r);
    if (w->secret[0]) json_object_set_new(e, "secret", json_string(w->secret));
    return ch_reply_json(r, status, e);
}

static enum MHD_Result endpoint_not_found(ch_request *r, int64_t id)
{
    return ch_reply_error(r, 404, "not_found", "endpoint_id", "no endpoint %lld", (long long)id);
}

static enum MHD_Result endpoint_disabled(ch_request *r, int64_t id)
{
    return ch_reply_error(r, 409, "endpoint_disabled", "endpoint_id",
                          "endpoint %lld is disabled or removed: enable it first", (long long)id);
}

static enum MHD_Result created(ch_request *r, void *ctx, int rc)
{
    api_write *w = ctx;
    if (rc == CH_ELIMIT)
        return ch_reply_result(r, rc, "endpoint_limit", NULL,
                               "the tenant has %d endpoints, the most allowed "
                               "(delivery.max_endpoints): remove one first",
                               r->srv->cfg->delivery_max_endpoints);
    if (rc) return store_error(r);
    return endpoint_answer(r, w, w->ops[0].id_out, 201); /* the secret is shown once, here */
}

static enum MHD_Result endpoints_create(ch_request *r, int64_t tid)
{
    json_t *body = body_object(r, false);
    if (!body) return MHD_YES;
    api_write *w = api_write_new(0, body);
    if (!endpoint_input_parse(r, body, true, &w->in)) {
        api_write_free(w);
        return MHD_YES;
    }
    ch_endpoint_new_secret(w->secret);
    ch_endpoint_spec *spec = &w->ops[0].in.endpoint;
    *spec = w->in.spec;
    spec->kind = spec->kind ? spec->kind : "generic";
    spec->events = spec->events ? spec->events : "*";
    spec->secret = w->secret;
    spec->timeout_ms = spec->timeout_ms < 0 ? 15000 : spec->timeout_ms;
    spec->rate_limit_per_min = spec->rate_limit_per_min < 0 ? 0 : spec->rate_limit_per_min;
    spec->max_per_tenant = r->srv->cfg->delivery_max_endpoints;
    spec->disabled_reason = w->in.enabled == 0 ? "disabled when created" : NULL;
    w->ops[0].kind = CH_OP_ENDPOINT_ADD;
    w->ops[0].tenant_id = tid;
    return submit(r, w, 1, created);
}

static enum MHD_Result endpoint_written(ch_request *r, void *ctx, int rc)
{
    api_write *w = ctx;
    if (rc == CH_ENOTFOUND) return endpoint_not_found(r, w->id);
    if (rc) return store_error(r);
    return endpoint_answer(r, w, w->id, 200);
}

/* PATCH: the fields and the enabled state change together, or not at all. */
static enum MHD_Result endpoint_patch(ch_request *r, int64_t tid, int64_t id)
{
    json_t *body = body_object(r, false);
    if (!body) return MHD_YES;
    api_write *w = api_write_new(id, body);
    if (!endpoint_input_parse(r, body, false, &w->in)) {
        api_write_free(w);
        return MHD_YES;
    }
    w->ops[0] = (ch_op){.kind = CH_OP_ENDPOINT_UPDATE, .tenant_id = tid, .id = id};
    w->ops[0].in.endpoint = w->in.spec;
    size_t n = 1;
    if (w->in.enabled >= 0) {
        w->ops[1] = (ch_op){.kind = CH_OP_ENDPOINT_ENABLE, .tenant_id = tid, .id = id};
        w->ops[1].in.enable.enabled = w->in.enabled;
        w->ops[1].in.enable.reason = "disabled through the API";
        n = 2;
    }
    return submit(r, w, n, endpoint_written);
}

static enum MHD_Result removed(ch_request *r, void *ctx, int rc)
{
    api_write *w = ctx;
    if (rc == CH_ENOTFOUND) return endpoint_not_found(r, w->id);
    if (rc) return store_error(r);
    return ch_reply_json(r, 200, json_pack("{s:I, s:b}", "id", (json_int_t)w->id, "removed", 1));
}

/* The answer to a test or recover: 202 {endpoint_id, key: value}; the dispatcher learns of the
 * pending deliveries from the change feed. */
static enum MHD_Result queued(ch_request *r, api_write *w, int rc, const char *key)
{
    if (rc == CH_ENOTFOUND) return endpoint_not_found(r, w->id);
    if (rc == CH_EDISABLED) return endpoint_disabled(r, w->id);
    if (rc) return store_error(r);
    return ch_reply_json(r, 202,
                         json_pack("{s:I, s:I}", "endpoint_id", (json_int_t)w->id, key,
                                   (json_int_t)w->ops[0].id_out));
}

static enum MHD_Result tested(ch_request *r, void *ctx, int rc)
{
    return queued(r, ctx, rc, "delivery_id");
}

static enum MHD_Result recovered(ch_request *r, void *ctx, int rc)
{
    return queued(r, ctx, rc, "replayed");
}

static enum MHD_Result endpoint_action(ch_request *r, int64_t tid, int64_t id, const char *what)
{
    api_write *w = api_write_new(id, NULL);
    w->ops[0].tenant_id = tid;
    w->ops[0].id = id;
    if (strcmp(what, "rotate") == 0) {
        ch_endpoint_new_secret(w->secret);
        w->ops[0].kind = CH_OP_ENDPOINT_ROTATE;
        w->ops[0].in.rotate.secret = w->secret;
        w->ops[0].in.rotate.overlap_ms = ROTATE_OVERLAP_MS;
        return submit(r, w, 1, endpoint_written);
    }
    if (strcmp(what, "test") == 0) {
        w->ops[0].kind = CH_OP_ENDPOINT_TEST;
        return submit(r, w, 1, tested);
    }
    /* recover */
    json_t *body = body_object(r, false);
    if (!body) {
        api_write_free(w);
        return MHD_YES;
    }
    json_t *v = json_object_get(body, "since");
    int64_t since_ms;
    ch_tenant t;
    bool tz = ch_store_tenant_by_id(r->srv->store, tid, &t) == CH_OK;
    bool ok = json_is_string(v) &&
              ch_query_time(json_string_value(v), tz ? t.timezone : "UTC", &since_ms) == CH_OK;
    if (tz) ch_tenant_clear(&t);
    json_decref(body);
    if (!ok) {
        api_write_free(w);
        return ch_reply_error(r, 422, "invalid_request", "since",
                              "since is an RFC 3339 time or Unix seconds, as a string");
    }
    w->ops[0].kind = CH_OP_ENDPOINT_RECOVER;
    w->ops[0].in.since_ms = since_ms;
    return submit(r, w, 1, recovered);
}

static enum MHD_Result endpoints(ch_request *r, int64_t tid, const char *method, char **seg, int n)
{
    bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    if (n == 1) {
        if (get) {
            json_t *o;
            if (ch_store_endpoint_list(r->srv->store, tid, 0, &o) != CH_OK) return store_error(r);
            return ch_reply_json(r, 200, o);
        }
        if (!strcmp(method, "POST")) return endpoints_create(r, tid);
        return ch_reply_not_allowed(r, "GET, POST");
    }
    int64_t id = parse_id(seg[1]);
    if (!id) return ch_reply_error(r, 404, "not_found", "endpoint_id", "no such endpoint");
    if (n == 2) {
        if (get) {
            json_t *e;
            int rc = endpoint_get(r, tid, id, &e);
            if (rc == CH_ENOTFOUND) return endpoint_not_found(r, id);
            return rc ? store_error(r) : ch_reply_json(r, 200, e);
        }
        if (!strcmp(method, "PATCH")) return endpoint_patch(r, tid, id);
        if (!strcmp(method, "DELETE")) {
            api_write *w = api_write_new(id, NULL);
            w->ops[0] = (ch_op){.kind = CH_OP_ENDPOINT_REMOVE, .tenant_id = tid, .id = id};
            return submit(r, w, 1, removed);
        }
        return ch_reply_not_allowed(r, "GET, PATCH, DELETE");
    }
    if (n == 3 &&
        (!strcmp(seg[2], "rotate") || !strcmp(seg[2], "test") || !strcmp(seg[2], "recover"))) {
        if (strcmp(method, "POST") != 0) return ch_reply_not_allowed(r, "POST");
        return endpoint_action(r, tid, id, seg[2]);
    }
    return ch_reply_error(r, 404, "not_found", NULL, "no such route");
}

/* ---- deliveries --------------------------------------------------------------------- */

static enum MHD_Result deliveries_list(ch_request *r, int64_t tid)
{
    const char *ep = ch_query(r, "endpoint_id"), *state = ch_query(r, "state");
    const char *before = ch_query(r, "before"), *lim = ch_query(r, "limit");
    int64_t ep_id = 0, before_id = 0;
    if (ep && !(ep_id = parse_id(ep)))
        return ch_reply_error(r, 400, "bad_request", "endpoint_id", "endpoint_id is a number");
    if (before && !(before_id = parse_id(before)))
        return ch_reply_error(r, 400, "bad_request", "before", "before is a delivery id");
    if (state && strcmp(state, "pending") && strcmp(state, "succeeded") && strcmp(state, "failed"))
        return ch_reply_error(r, 400, "bad_request", "state",
                              "state is pending, succeeded or failed");
    int64_t limit = lim ? parse_id(lim) : 100;
    if (limit < 1 || limit > CH_PAGE_LIMIT_MAX)
        return ch_reply_error(r, 400, "bad_request", "limit", "limit must be 1 to %d",
                              CH_PAGE_LIMIT_MAX);
    json_t *o;
    if (ch_store_delivery_list(r->srv->store, tid, ep_id, state, before_id, (int)limit, &o) !=
        CH_OK)
        return store_error(r);
    /* the next page starts below the last id of this one */
    json_t *list = json_object_get(o, "deliveries");
    if (json_array_size(list) == (size_t)limit) {
        json_t *last = json_array_get(list, json_array_size(list) - 1);
        json_object_set(o, "next_before", json_object_get(last, "id"));
    }
    return ch_reply_json(r, 200, o);
}

static enum MHD_Result replayed(ch_request *r, void *ctx, int rc)
{
    api_write *w = ctx;
    long long id = (long long)w->id;
    if (rc == CH_ENOTFOUND)
        return ch_reply_result(r, rc, NULL, "delivery_id", "no delivery %lld", id);
    if (rc == CH_EEXIST)
        return ch_reply_result(r, rc, "delivery_pending", "delivery_id",
                               "delivery %lld is still pending: it will be attempted anyway", id);
    if (rc == CH_EDISABLED)
        return ch_reply_result(r, rc, "endpoint_disabled", "delivery_id",
                               "the endpoint of delivery %lld is disabled or removed", id);
    if (rc) return store_error(r);
    return ch_reply_json(r, 202, json_pack("{s:I, s:b}", "id", (json_int_t)id, "replayed", 1));
}

static enum MHD_Result deliveries(ch_request *r, int64_t tid, const char *method, char **seg, int n)
{
    bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    if (n == 1) return get ? deliveries_list(r, tid) : ch_reply_not_allowed(r, "GET");
    int64_t id = parse_id(seg[1]);
    if (id && n == 2) {
        if (!get) return ch_reply_not_allowed(r, "GET");
        json_t *o;
        int rc = ch_store_delivery_get(r->srv->store, tid, id, &o);
        if (rc == CH_ENOTFOUND)
            return ch_reply_error(r, 404, "not_found", "delivery_id", "no delivery %lld",
                                  (long long)id);
        return rc ? store_error(r) : ch_reply_json(r, 200, o);
    }
    if (id && n == 3 && !strcmp(seg[2], "replay")) {
        if (strcmp(method, "POST") != 0) return ch_reply_not_allowed(r, "POST");
        api_write *w = api_write_new(id, NULL);
        w->ops[0] = (ch_op){.kind = CH_OP_DELIVERY_REPLAY, .tenant_id = tid, .id = id};
        return submit(r, w, 1, replayed);
    }
    return ch_reply_error(r, 404, "not_found", NULL, "no such route");
}

/* ---- skips and the retry schedule --------------------------------------------------- */

static enum MHD_Result schedule_reply(ch_request *r, int64_t tid)
{
    char *s;
    if (ch_store_tenant_retry(r->srv->store, tid, &s) != CH_OK) return store_error(r);
    json_t *o = json_pack("{s:s, s:b}", "retry_schedule",
                          s ? s : r->srv->cfg->delivery_retry_schedule, "default", s == NULL);
    free(s);
    return ch_reply_json(r, 200, o);
}

static enum MHD_Result schedule_set(ch_request *r, void *ctx, int rc)
{
    api_write *w = ctx;
    return rc ? store_error(r) : schedule_reply(r, w->id);
}

static enum MHD_Result webhooks(ch_request *r, int64_t tid, const char *method, char **seg, int n)
{
    bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    if (n == 2 && !strcmp(seg[1], "skipped")) {
        if (!get) return ch_reply_not_allowed(r, "GET");
        json_t *o;
        if (ch_store_delivery_skips(r->srv->store, tid, &o) != CH_OK) return store_error(r);
        return ch_reply_json(r, 200, o);
    }
    if (n == 2 && !strcmp(seg[1], "retry-schedule")) {
        if (get) return schedule_reply(r, tid);
        if (strcmp(method, "PUT") != 0) return ch_reply_not_allowed(r, "GET, PUT");
        json_t *body = body_object(r, false);
        if (!body) return MHD_YES;
        json_t *v = json_object_get(body, "retry_schedule");
        ch_retry_schedule rs;
        char why[200] = "retry_schedule is a string such as \"5s,5m,30m,2h\", or null";
        bool ok = json_is_null(v) ||
                  (json_is_string(v) &&
                   ch_retry_schedule_parse(json_string_value(v), &rs, why, sizeof why) == CH_OK &&
                   ch_retry_schedule_tenant_check(&rs, why, sizeof why) == CH_OK);
        if (!ok) {
            json_decref(body);
            return ch_reply_error(r, 422, "invalid_request", "retry_schedule", "%s", why);
        }
        api_write *w = api_write_new(tid, body); /* the schedule's text lives in body */
        w->ops[0] = (ch_op){.kind = CH_OP_TENANT_SET_RETRY, .tenant_id = tid};
        w->ops[0].in.retry_schedule = json_is_string(v) ? json_string_value(v) : NULL;
        return submit(r, w, 1, schedule_set);
    }
    return ch_reply_error(r, 404, "not_found", NULL, "no such route");
}

/* ---- routes: the handlers above keep their own sub-routing by segments --------------- */

/* seg[0] is the collection; then {id} and the action, when the route has them. Each route
 * registers "collection" or "collection/action" as its data. */
static enum MHD_Result on_route(ch_request *r, const ch_route_args *a)
{
    char which[32];
    snprintf(which, sizeof which, "%s", (const char *)a->data);
    char *action = strchr(which, '/');
    if (action) *action++ = '\0';
    const char *id = ch_route_param(a, "id");
    if (!strcmp(which, "webhooks")) {
        char *seg[2] = {which, action}; /* /v1/webhooks/{skipped,retry-schedule} */
        return webhooks(r, a->tenant_id, a->method, seg, 2);
    }
    char *seg[3] = {which, (char *)id, action};
    int n = action ? 3 : id ? 2 : 1;
    if (!strcmp(which, "endpoints")) return endpoints(r, a->tenant_id, a->method, seg, n);
    return deliveries(r, a->tenant_id, a->method, seg, n);
}

int ch_webhooks_api_register(ch_router *rt)
{
    static const struct {
        unsigned methods;
        const char *pattern, *data;
    } routes[] = {
        {CH_M_GET | CH_M_POST, "/v1/endpoints", "endpoints"},
        {CH_M_GET | CH_M_PATCH | CH_M_DELETE, "/v1/endpoints/{id}", "endpoints"},
        {CH_M_POST, "/v1/endpoints/{id}/rotate", "endpoints/rotate"},
        {CH_M_POST, "/v1/endpoints/{id}/test", "endpoints/test"},
        {CH_M_POST, "/v1/endpoints/{id}/recover", "endpoints/recover"},
        {CH_M_GET, "/v1/deliveries", "deliveries"},
        {CH_M_GET, "/v1/deliveries/{id}", "deliveries"},
        {CH_M_POST, "/v1/deliveries/{id}/replay", "deliveries/replay"},
        {CH_M_GET, "/v1/webhooks/skipped", "webhooks/skipped"},
        {CH_M_GET | CH_M_PUT, "/v1/webhooks/retry-schedule", "webhooks/retry-schedule"},
    };
    for (size_t i = 0; i < sizeof routes / sizeof *routes; i++) {
        int rc = ch_router_add(rt, routes[i].methods, routes[i].pattern, CH_RA_API_KEY,
                               CH_ROUTE_WEBHOOKS, on_route, routes[i].data);
        if (rc) return rc;
    }
    return CH_OK;
}
