/* The dashboard's tenant pages through the API (docs/http-api.md): the diagnostics report
 * (GET /v1/diagnostics, as `callhook doctor` prints it), the sources with the settings to
 * enter on the PBX or platform (GET /v1/sources), rotating a source's password, token or
 * signing secret (POST /v1/sources/{id}/rotate) and revealing its signing secret (GET
 * /v1/sources/{id}/secret), and this month's usage (GET /v1/usage). Another tenant's source is
 * "not found". */
#include "api/routes.h"
#include "delivery/diagnose.h"
#include "http/reply.h"
#include "http/request.h"
#include "http/router.h"
#include "http/sources.h"
#include "ingest/sourceinfo.h"
#include "util/crypto.h"
#include "util/limits.h"
#include "util/mem.h"
#include "util/result.h"
#include "util/timeutil.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define SOURCE_VALUE_MIN 8   /* a chosen password, token or secret: as `source add` wants */
#define SOURCE_VALUE_MAX 256 /* and at most this long */
#define DIAG_RUNNING_MAX 8   /* reports made at once, server-wide (each may connect out) */

static enum MHD_Result store_error(ch_request *r)
{
    return ch_reply_error(r, 503, "store_unavailable", NULL, "the store cannot be used right now");
}

static int64_t parse_id(const char *s)
{
    char *end;
    long long v = s && *s ? strtoll(s, &end, 10) : 0;
    return s && *s && !*end && v > 0 ? v : 0;
}

/* The base of the URLs a sender posts to: server.public_url, else what the client reached. */
static char *base_url(ch_request *r)
{
    const char *pub = r->srv->cfg->public_url;
    if (pub[0]) {
        size_t n = strlen(pub);
        while (n && pub[n - 1] == '/')
            n--;
        return ch_strndup(pub, n);
    }
    const char *host = ch_header(r, "Host");
    return ch_asprintf("http://%s", host && *host ? host : "localhost");
}

/* ---- diagnostics -------------------------------------------------------------------- */

/* The report is made on a thread of its own while the request is suspended: its connects may
 * take up to CH_DIAG_PROBE_MS, which an HTTP thread (serving webhooks too) must not wait. The
 * request is resumed as an API write would be (http/request.h: REQ_WRITING, then()). */
typedef struct {
    ch_request *r;
    ch_tenant tenant;
    json_t *report;
    int rc;
} diag_job;

static atomic_int diag_running;

static void diag_job_free(void *p)
{
    diag_job *j = p;
    ch_tenant_clear(&j->tenant);
    json_decref(j->report);
    free(j);
}

static enum MHD_Result diag_answer(ch_request *r, void *ctx, int result)
{
    (void)result;
    diag_job *j = ctx;
    if (j->rc) return store_error(r);
    json_t *o = j->report;
    j->report = NULL;
    return ch_reply_json(r, 200, o);
}

static void *diag_thread(void *arg)
{
    diag_job *j = arg;
    ch_request *r = j->r;
    ch_diagnose_opts o = {.allow_private = r->srv->cfg->delivery_allow_private};
    j->rc = ch_diagnose(r->srv->store, &j->tenant, &o, &j->report);
    atomic_fetch_sub(&diag_running, 1);
    MHD_resume_connection(r->conn);
    return NULL;
}

static enum MHD_Result diagnostics(ch_request *r, int64_t tid)
{
    diag_job *j = ch_calloc(1, sizeof *j);
    j->r = r;
    int rc = ch_store_tenant_by_id(r->srv->store, tid, &j->tenant);
    if (rc) {
        free(j);
        return store_error(r);
    }
    if (atomic_fetch_add(&diag_running, 1) >= DIAG_RUNNING_MAX) {
        atomic_fetch_sub(&diag_running, 1);
        diag_job_free(j);
        r->retry_after = 5;
        return ch_reply_error(r, 429, "rate_limited", NULL,
                              "%d diagnostics reports are being made; retry in a few seconds",
                              DIAG_RUNNING_MAX);
    }
    ch_write_job_init(&r->job, NULL, 0);
    r->then = diag_answer;
    r->then_ctx = j;
    r->then_ctx_free = diag_job_free;
    r->state = REQ_WRITING;
    MHD_suspend_connection(r->conn); /* first: the thread may resume it at once */
    pthread_t th;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&th, &at, diag_thread, j) != 0) {
        j->rc = CH_ERR;
        atomic_fetch_sub(&diag_running, 1);
        MHD_resume_connection(r->conn);
    }
    pthread_attr_destroy(&at);
    return MHD_YES;
}

/* ---- sources ------------------------------------------------------------------------ */

/* The tenant's source id (an enabled credential), with the tenant: CH_ENOTFOUND otherwise. */
static int source_find(ch_request *r, int64_t tid, int64_t id, ch_tenant *t, ch_credential **all,
                       size_t *n, ch_credential **c)
{
    *all = NULL;
    *n = 0;
    *c = NULL;
    int rc = ch_store_tenant_by_id(r->srv->store, tid, t);
    if (rc) return rc;
    rc = ch_store_credentials(r->srv->store, tid, NULL, all, n);
    for (size_t i = 0; !rc && i < *n; i++)
        if ((*all)[i].id == id) *c = &(*all)[i];
    if (!rc && !*c) rc = CH_ENOTFOUND;
    if (rc) {
        ch_credentials_free(*all, *n);
        *all = NULL;
        *n = 0;
        ch_tenant_clear(t);
    }
    return rc;
}

static enum MHD_Result source_not_found(ch_request *r, int64_t id)
{
    return ch_reply_error(r, 404, "not_found", "source_id", "no source %lld", (long long)id);
}

static enum MHD_Result sources_list(ch_request *r, int64_t tid)
{
    ch_tenant t;
    ch_credential *c = NULL;
    size_t n = 0;
    if (ch_store_tenant_by_id(r->srv->store, tid, &t)) return store_error(r);
    if (ch_store_credentials(r->srv->store, tid, NULL, &c, &n)) {
        ch_tenant_clear(&t);
        return store_error(r);
    }
    char *base = base_url(r);
    json_t *data = json_array();
    int rc = CH_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        json_t *o = ch_source_info(base, t.slug, &c[i]);
        /* one seek per source in events_provider (migration 9) */
        int64_t last = CH_TIME_UNSET;
        rc = ch_store_last_received(r->srv->store, tid, c[i].provider, &last);
        char ts[40];
        if (last != CH_TIME_UNSET) ch_time_format(last, ts, sizeof ts);
        json_object_set_new(o, "last_call_at",
                            last != CH_TIME_UNSET ? json_string(ts) : json_null());
        json_array_append_new(data, o);
    }
    free(base);
    ch_credentials_free(c, n);
    ch_tenant_clear(&t);
    if (rc) {
        json_decref(data);
        return store_error(r);
    }
    return ch_reply_json(r, 200, json_pack("{s:o}", "data", data));
}

static enum MHD_Result source_secret(ch_request *r, int64_t tid, int64_t id)
{
    ch_tenant t;
    ch_credential *all, *c;
    size_t n;
    int rc = source_find(r, tid, id, &t, &all, &n, &c);
    if (rc == CH_ENOTFOUND) return source_not_found(r, id);
    if (rc) return store_error(r);
    enum MHD_Result ret;
    if (!c->signing_secret)
        ret = ch_reply_error(r, 404, "no_secret", "source_id", "source %lld has no signing secret",
                             (long long)id);
    else
        ret = ch_reply_json(r, 200,
                            json_pack("{s:I, s:s, s:s}", "id", (json_int_t)id, "provider",
                                      c->provider, "secret", c->signing_secret));
    ch_credentials_free(all, n);
    ch_tenant_clear(&t);
    return ret;
}

/* A rotation in flight: the op and what it points into, until the request ends. */
typedef struct {
    ch_op op;
    ch_credential cred;
    char *slug, *provider, *what;
    char value[SOURCE_VALUE_MAX + 1]; /* the new value, shown once */
    char hash[CH_PWHASH_MAX];         /* password: argon2id; token: sha256 hex */
} rotation;

static void rotation_free(void *p)
{
    rotation *w = p;
    free(w->slug);
    free(w->provider);
    free(w->what);
    explicit_bzero(w->value, sizeof w->value);
    free(w);
}

static enum MHD_Result rotated(ch_request *r, void *ctx, int rc)
{
    rotation *w = ctx;
    if (rc == CH_ENOTFOUND) return source_not_found(r, w->op.id);
    if (rc) return store_error(r);
    /* the cached credentials of the webhook path go now, not in CH_SOURCES_CACHE_TTL_MS */
    ch_sources_forget(r->srv->sources, w->slug, w->provider);
    return ch_reply_json(r, 200,
                         json_pack("{s:I, s:s, s:s, s:s}", "id", (json_int_t)w->op.id, "provider",
                                   w->provider, "rotated", w->what, w->what, w->value));
}

static bool value_ok(const char *v)
{
    size_t n = strlen(v);
    if (n < SOURCE_VALUE_MIN || n > SOURCE_VALUE_MAX) return false;
    for (const char *p = v; *p; p++)
        if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f) return false;
    return true;
}

static enum MHD_Result source_rotate(ch_request *r, int64_t tid, int64_t id)
{
    json_t *body = NULL;
    const char *ct = ch_header(r, "Content-Type");
    if (r->body.len && ct && !ch_media_type_is(ct, "application/json"))
        return ch_reply_error(r, 415, "unsupported_media_type", NULL, "send application/json");
    json_error_t jerr;
    body = json_loadb(r->body.data ? r->body.data : "", r->body.len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(body)) {
        json_decref(body);
        return ch_reply_error(r, 400, "malformed_json", NULL, "the body must be a JSON object");
    }
    const char *what = json_string_value(json_object_get(body, "what"));
    json_t *val = json_object_get(body, "value");
    if (!what || (strcmp(what, "password") && strcmp(what, "token") && strcmp(what, "secret"))) {
        json_decref(body);
        return ch_reply_error(r, 422, "invalid_request", "what",
                              "what is \"password\", \"token\" or \"secret\"");
    }
    if (val && (!json_is_string(val) || !value_ok(json_string_value(val)))) {
        json_decref(body);
        return ch_reply_error(r, 422, "invalid_request", "value",
                              "value, when given, is %d to %d printable characters without "
                              "spaces",
                              SOURCE_VALUE_MIN, SOURCE_VALUE_MAX);
    }
    ch_tenant t;
    ch_credential *all, *c;
    size_t n;
    int rc = source_find(r, tid, id, &t, &all, &n, &c);
    if (rc) {
        json_decref(body);
        return rc == CH_ENOTFOUND ? source_not_found(r, id) : store_error(r);
    }
    enum MHD_Result ret = MHD_YES;
    /* a source authenticates the way it was added: rotation replaces, it adds no new way */
    bool has = !strcmp(what, "password") ? c->password_hash != NULL
               : !strcmp(what, "token")  ? c->token_hash != NULL
                                         : c->signing_secret != NULL;
    if (!has) {
        ret = ch_reply_error(r, 409, "not_configured", "what", "source %lld has no %s to rotate",
                             (long long)id, what);
        goto out;
    }
    rotation *w = ch_calloc(1, sizeof *w);
    w->slug = ch_strdup(t.slug);
    w->provider = ch_strdup(c->provider);
    w->what = ch_strdup(what);
    if (val)
        snprintf(w->value, sizeof w->value, "%s", json_string_value(val));
    else
        ch_random_token(w->value, sizeof w->value, !strcmp(what, "password") ? 18 : 24);
    if (!strcmp(what, "password")) {
        if (ch_password_hash(w->value, w->hash)) {
            rotation_free(w);
            ret = ch_reply_error(r, 500, "internal", NULL, "password hashing failed");
            goto out;
        }
        w->cred.password_hash = w->hash;
    } else if (!strcmp(what, "token")) {
        ch_sha256_hex(w->value, strlen(w->value), w->hash);
        w->cred.token_hash = w->hash;
    } else {
        w->cred.signing_secret = w->value;
    }
    w->op = (ch_op){.kind = CH_OP_SOURCE_ROTATE, .tenant_id = tid, .id = id};
    w->op.in.credential = &w->cred;
    ret = ch_request_write(r, &w->op, 1, rotated, w, rotation_free);
out:
    json_decref(body);
    ch_credentials_free(all, n);
    ch_tenant_clear(&t);
    return ret;
}

/* ---- usage -------------------------------------------------------------------------- */

static enum MHD_Result usage(ch_request *r, int64_t tid)
{
    ch_tenant_usage u;
    int rc = ch_store_tenant_usage(r->srv->store, tid, &u);
    if (rc) return store_error(r);
    json_t *o = json_pack(
        "{s:s, s:I, s:o, s:b, s:I, s:I, s:f}", "month", u.month, "calls", (json_int_t)u.calls,
        "limit", u.tenant.monthly_limit > 0 ? json_integer(u.tenant.monthly_limit) : json_null(),
        "hard_limit", u.tenant.hard_limit, "over_limit_calls", (json_int_t)u.over_limit_calls,
        "events", (json_int_t)u.events, "transcribed_minutes",
        (double)(u.transcribed_ms / 600) / 100.0); /* as `tenant list` rounds it */
    ch_tenant_clear(&u.tenant);
    return ch_reply_json(r, 200, o);
}

/* ---- routes ------------------------------------------------------------------------- */

static enum MHD_Result on_route(ch_request *r, const ch_route_args *a)
{
    const char *which = a->data;
    int64_t tid = a->tenant_id;
    if (!strcmp(which, "diagnostics")) return diagnostics(r, tid);
    if (!strcmp(which, "usage")) return usage(r, tid);
    if (!strcmp(which, "sources")) return sources_list(r, tid);
    int64_t id = parse_id(ch_route_param(a, "id"));
    if (!id) return source_not_found(r, 0);
    if (!strcmp(which, "sources/secret")) {
        /* a secret is an admin's to see: viewers may read every page, not the credentials */
        if (a->role == CH_ROLE_VIEWER)
            return ch_reply_error(r, 403, "forbidden", NULL,
                                  "viewers cannot see a source's signing secret");
        return source_secret(r, tid, id);
    }
    return source_rotate(r, tid, id);
}

int ch_console_api_register(ch_router *rt)
{
    static const struct {
        unsigned methods;
        const char *pattern, *data;
    } routes[] = {
        {CH_M_GET, "/v1/diagnostics", "diagnostics"},
        {CH_M_GET, "/v1/usage", "usage"},
        {CH_M_GET, "/v1/sources", "sources"},
        {CH_M_GET, "/v1/sources/{id}/secret", "sources/secret"},
        {CH_M_POST, "/v1/sources/{id}/rotate", "sources/rotate"},
    };
    for (size_t i = 0; i < sizeof routes / sizeof *routes; i++) {
        int rc = ch_router_add(rt, routes[i].methods, routes[i].pattern, CH_RA_API_KEY,
                               CH_ROUTE_OTHER, on_route, (void *)routes[i].data);
        if (rc) return rc;
    }
    return CH_OK;
}
