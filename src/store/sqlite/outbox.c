/* The outbox, writer side: see outbox.h and docs/webhooks.md. Runs on the writer thread only,
 * inside its open transaction, so an event and the change that causes it commit together. */
#include "store/sqlite/outbox.h"
#include "store/sqlite/sqlite.h"
#include "util/hash.h"
#include "util/crypto.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/result.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    ST_ENDPOINTS,
    ST_MSG_INSERT,
    ST_DLV_INSERT,
    ST_SKIP_ADD,
    ST_ATTEMPT_INSERT,
    ST_DLV_SETTLE,
    ST_DLV_BUMP_CALL,
    ST_DLV_BUMP_ENDPOINT,
    ST_DLV_FORWARD_CALL,
    ST_EP_OK,
    ST_EP_FAILING,
    ST_EP_DISABLE,
    ST_TENANT_SLUG,
    ST_COUNT
};

static const char *const sql[ST_COUNT] = {
    [ST_ENDPOINTS] =
        "SELECT id, kind, events, enabled FROM endpoints WHERE tenant_id=?1 ORDER BY id",
    [ST_MSG_INSERT] = "INSERT INTO messages(tenant_id, id, type, call_id, created_at, payload)"
                      " VALUES(?1,?2,?3,?4,?5,?6)",
    /* a delivery never overtakes a pending one of the same call to the same endpoint: it is
     * due no earlier than that one's next attempt */
    [ST_DLV_INSERT] =
        "INSERT INTO deliveries(tenant_id, endpoint_id, message_id, call_id, next_attempt_at,"
        " manual, created_at, updated_at) VALUES(?1,?2,?3,?4,MAX(?5,COALESCE((SELECT"
        " MAX(next_attempt_at) FROM deliveries WHERE state='pending' AND tenant_id=?1 AND"
        " endpoint_id=?2 AND call_id=?4),0)),?6,?5,?5)",
    [ST_SKIP_ADD] = "INSERT INTO delivery_skips(tenant_id, reason, type, count, last_at,"
                    " last_call_id) VALUES(?1,?2,?3,?4,?5,?6) ON CONFLICT(tenant_id, reason, type)"
                    " DO UPDATE SET count=count+excluded.count, last_at=excluded.last_at,"
                    " last_call_id=COALESCE(excluded.last_call_id, last_call_id)",
    [ST_ATTEMPT_INSERT] = "INSERT INTO attempts(tenant_id, delivery_id, at, status, latency_ms,"
                          " response, error, trigger) VALUES(?1,?2,?3,?4,?5,?6,?7,?8)",
    [ST_DLV_SETTLE] = "UPDATE deliveries SET state=?2, attempts=attempts+1, next_attempt_at=?3,"
                      " last_status=?4, last_error=?5, updated_at=?6, manual=0"
                      " WHERE id=?1 AND state='pending'",
    [ST_DLV_BUMP_CALL] = "UPDATE deliveries SET next_attempt_at=?5 WHERE state='pending' AND"
                         " tenant_id=?1 AND endpoint_id=?2 AND call_id=?3 AND id>?4 AND"
                         " next_attempt_at<?5",
    [ST_DLV_BUMP_ENDPOINT] = "UPDATE deliveries SET next_attempt_at=?3 WHERE state='pending' AND"
                             " tenant_id=?1 AND endpoint_id=?2 AND next_attempt_at<?3",
    /* after a success the call's waiting deliveries go at once */
    [ST_DLV_FORWARD_CALL] = "UPDATE deliveries SET next_attempt_at=?5 WHERE state='pending' AND"
                            " tenant_id=?1 AND endpoint_id=?2 AND call_id=?3 AND id>?4 AND"
                            " attempts=0 AND next_attempt_at>?5",
    [ST_EP_OK] = "UPDATE endpoints SET failing_since=NULL WHERE tenant_id=?1 AND id=?2 AND"
                 " failing_since IS NOT NULL",
    [ST_EP_FAILING] = "UPDATE endpoints SET failing_since=COALESCE(failing_since, ?3)"
                      " WHERE tenant_id=?1 AND id=?2 RETURNING failing_since, enabled, url",
    [ST_EP_DISABLE] = "UPDATE endpoints SET enabled=0, disabled_reason=?3, updated_at=?4"
                      " WHERE tenant_id=?1 AND id=?2 AND enabled=1 RETURNING url",
    [ST_TENANT_SLUG] = "SELECT slug FROM tenants WHERE id=?1",
};

typedef struct {
    int64_t id;
    char kind; /* 'i' inbound, 'o' outbound, 'g' generic, 's' status */
    bool enabled;
    char *events; /* "*" or a comma-separated list */
} endpoint_info;

typedef struct {
    int64_t tenant_id;
    endpoint_info *v;
    size_t n;
} tenant_endpoints;

typedef struct {
    int64_t tenant_id;
    const char *reason, *type; /* static strings */
    int64_t count;
    char call_id[32];
} skip_delta;

typedef struct {
    skip_delta *v;
    size_t n, cap;
} skip_set;

struct ch_outbox {
    sqlite3 *db;
    ch_change_log *changes;
    sqlite3_stmt *st[ST_COUNT];
    int64_t now, disable_after_ms;
    uint64_t id_state;
    tenant_endpoints cache[8]; /* per batch; a batch rarely spans more tenants than this */
    size_t ncache, cache_next;
    skip_set job_skips, batch_skips;
    bool created;
    /* endpoints whose failing clock this batch has reset already: one success is enough */
    int64_t ok_marks[16][2];
    size_t nok;
};

static int step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

ch_outbox *ch_outbox_new(sqlite3 *db, int64_t disable_after_ms, ch_change_log *changes)
{
    ch_outbox *o = ch_calloc(1, sizeof *o);
    o->db = db;
    o->changes = changes;
    o->disable_after_ms = disable_after_ms > 0 ? disable_after_ms : 5LL * 86400 * 1000;
    ch_random_bytes(&o->id_state, sizeof o->id_state);
    for (int i = 0; i < ST_COUNT; i++)
        if (sqlite3_prepare_v3(db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &o->st[i], NULL) !=
            SQLITE_OK) {
            ch_sqlite_log_error(db, sql[i], sqlite3_errcode(db));
            abort(); /* our own schema: a statement that does not prepare is a bug */
        }
    return o;
}

static void cache_clear(ch_outbox *o)
{
    for (size_t i = 0; i < o->ncache; i++) {
        for (size_t k = 0; k < o->cache[i].n; k++)
            free(o->cache[i].v[k].events);
        free(o->cache[i].v);
    }
    o->ncache = o->cache_next = 0;
}

void ch_outbox_free(ch_outbox *o)
{
    if (!o) return;
    cache_clear(o);
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(o->st[i]);
    free(o->job_skips.v);
    free(o->batch_skips.v);
    free(o);
}

void ch_outbox_batch_begin(ch_outbox *o, int64_t now)
{
    /* endpoints change rarely, but by other connections (CLI, API): read them once per batch */
    cache_clear(o);
    o->now = now;
    o->created = false;
    o->job_skips.n = o->batch_skips.n = 0;
    o->nok = 0;
}

static bool ok_marked(const ch_outbox *o, int64_t tenant_id, int64_t endpoint_id)
{
    for (size_t i = 0; i < o->nok; i++)
        if (o->ok_marks[i][0] == tenant_id && o->ok_marks[i][1] == endpoint_id) return true;
    return false;
}

bool ch_outbox_batch_has_deliveries(ch_outbox *o)
{
    return o->created;
}

/* ---- routing ------------------------------------------------------------------------ */

static tenant_endpoints *endpoints_of(ch_outbox *o, int64_t tenant_id, int *rc)
{
    *rc = SQLITE_OK;
    for (size_t i = 0; i < o->ncache; i++)
        if (o->cache[i].tenant_id == tenant_id) return &o->cache[i];
    tenant_endpoints *t;
    if (o->ncache < sizeof o->cache / sizeof *o->cache) {
        t = &o->cache[o->ncache++];
    } else { /* evict round-robin */
        t = &o->cache[o->cache_next];
        o->cache_next = (o->cache_next + 1) % (sizeof o->cache / sizeof *o->cache);
        for (size_t k = 0; k < t->n; k++)
            free(t->v[k].events);
        free(t->v);
    }
    memset(t, 0, sizeof *t);
    t->tenant_id = tenant_id;
    sqlite3_stmt *st = o->st[ST_ENDPOINTS];
    sqlite3_bind_int64(st, 1, tenant_id);
    size_t cap = 0;
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (t->n == cap) {
            cap = cap ? cap * 2 : 4;
            t->v = ch_realloc(t->v, cap * sizeof *t->v);
        }
        endpoint_info *e = &t->v[t->n++];
        e->id = sqlite3_column_int64(st, 0);
        e->kind = ((const char *)sqlite3_column_text(st, 1))[0];
        e->events = ch_col_strdup(st, 2);
        e->enabled = sqlite3_column_int(st, 3) != 0;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    *rc = r == SQLITE_DONE ? SQLITE_OK : r;
    return t;
}

static bool subscribed(const endpoint_info *e, const char *type)
{
    if (!e->events || strcmp(e->events, "*") == 0) return true;
    size_t tl = strlen(type);
    for (const char *p = e->events; *p;) {
        size_t n = strcspn(p, ",");
        if (n == tl && memcmp(p, type, n) == 0) return true;
        p += n;
        if (*p == ',') p++;
    }
    return false;
}

typedef struct {
    int64_t ids[32];
    int n;
    const char *skip_reason; /* when n == 0 */
} route;

static void route_add(route *r, int64_t id)
{
    for (int i = 0; i < r->n; i++)
        if (r->ids[i] == id) return;
    if (r->n < (int)(sizeof r->ids / sizeof *r->ids)) r->ids[r->n++] = id;
}

/* docs/webhooks.md "Routing": inbound → inbound endpoints, else generic; outbound → outbound
 * only; internal/unknown → generic; call.status_changed also → status endpoints. */
static void route_call_event(const tenant_endpoints *t, ch_direction dir, const char *type,
                             route *r)
{
    r->n = 0;
    char kind = 'g';
    if (dir == CH_DIR_OUTBOUND) kind = 'o';
    if (dir == CH_DIR_INBOUND) {
        kind = 'g';
        for (size_t i = 0; i < t->n; i++)
            if (t->v[i].kind == 'i') kind = 'i';
    }
    bool any_of_kind = false;
    for (size_t i = 0; i < t->n; i++) {
        if (t->v[i].kind != kind) continue;
        any_of_kind = true;
        if (t->v[i].enabled && subscribed(&t->v[i], type)) route_add(r, t->v[i].id);
    }
    bool status = strcmp(type, "call.status_changed") == 0;
    bool any_status = false;
    if (status)
        for (size_t i = 0; i < t->n; i++) {
            if (t->v[i].kind != 's') continue;
            any_status = true;
            if (t->v[i].enabled && subscribed(&t->v[i], type)) route_add(r, t->v[i].id);
        }
    if (r->n > 0) return;
    if (any_of_kind || any_status)
        r->skip_reason = "no enabled endpoint is subscribed to this event type";
    else if (dir == CH_DIR_OUTBOUND)
        r->skip_reason = "no endpoint for outbound calls";
    else if (dir == CH_DIR_INBOUND)
        r->skip_reason = "no endpoint for inbound calls";
    else if (dir == CH_DIR_INTERNAL)
        r->skip_reason = "no endpoint for internal calls";
    else
        r->skip_reason = "no endpoint for calls of unknown direction";
}

static void skip_count(ch_outbox *o, int64_t tenant_id, const char *reason, const char *type,
                       const char *call_id)
{
    skip_set *s = &o->job_skips;
    skip_delta *d = NULL;
    for (size_t i = 0; i < s->n && !d; i++)
        if (s->v[i].tenant_id == tenant_id && s->v[i].reason == reason && s->v[i].type == type)
            d = &s->v[i];
    if (!d) {
        if (s->n == s->cap) {
            s->cap = s->cap ? s->cap * 2 : 8;
            s->v = ch_realloc(s->v, s->cap * sizeof *s->v);
        }
        d = &s->v[s->n++];
        memset(d, 0, sizeof *d);
        d->tenant_id = tenant_id;
        d->reason = reason;
        d->type = type;
    }
    d->count++;
    snprintf(d->call_id, sizeof d->call_id, "%s", call_id ? call_id : "");
}

void ch_outbox_job_end(ch_outbox *o, bool committed)
{
    if (!committed) o->nok = 0; /* its resets were rolled back */
    if (committed)
        for (size_t i = 0; i < o->job_skips.n; i++) {
            skip_set *b = &o->batch_skips;
            const skip_delta *j = &o->job_skips.v[i];
            skip_delta *d = NULL;
            for (size_t k = 0; k < b->n && !d; k++)
                if (b->v[k].tenant_id == j->tenant_id && b->v[k].reason == j->reason &&
                    b->v[k].type == j->type)
                    d = &b->v[k];
            if (!d) {
                if (b->n == b->cap) {
                    b->cap = b->cap ? b->cap * 2 : 8;
                    b->v = ch_realloc(b->v, b->cap * sizeof *b->v);
                }
                d = &b->v[b->n++];
                *d = *j;
                continue;
            }
            d->count += j->count;
            memcpy(d->call_id, j->call_id, sizeof d->call_id);
        }
    o->job_skips.n = 0;
}

int ch_outbox_batch_flush(ch_outbox *o)
{
    int rc = SQLITE_OK;
    for (size_t i = 0; rc == SQLITE_OK && i < o->batch_skips.n; i++) {
        const skip_delta *d = &o->batch_skips.v[i];
        sqlite3_stmt *st = o->st[ST_SKIP_ADD];
        sqlite3_bind_int64(st, 1, d->tenant_id);
        sqlite3_bind_text(st, 2, d->reason, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, d->type, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, d->count);
        sqlite3_bind_int64(st, 5, o->now);
        ch_bind_text(st, 6, d->call_id[0] ? d->call_id : NULL);
        rc = step_done(st);
    }
    o->batch_skips.n = 0;
    return rc;
}

/* ---- messages ----------------------------------------------------------------------- */

/* "msg_" + 12 hex digits of the time in ms + 12 random hex digits: unique per tenant (the
 * primary key says so), sorting by creation. It is the webhook-id receivers deduplicate on. */
static void new_message_id(ch_outbox *o, char out[32])
{
    uint64_t z = ch_splitmix64(&o->id_state);
    snprintf(out, 32, "msg_%012llx%012llx", (unsigned long long)o->now & 0xffffffffffffULL,
             (unsigned long long)(z >> 16));
}

static json_t *get_or_null(json_t *o, const char *k)
{
    json_t *v = o ? json_object_get(o, k) : NULL;
    return v ? json_incref(v) : json_null();
}

/* The fields automations already consume, flat, beside the full call (docs/webhooks.md). */
/* status_changed: the status before, "" for a call first seen (null in the payload); NULL for
 * every other type (no member) */
static json_t *call_event_data(json_t *call, const char *prev_status)
{
    json_t *d = json_object();
    json_t *lead = json_object_get(call, "lead"), *emp = json_object_get(call, "employee");
    json_t *meta = json_object_get(call, "metadata");
    const char *dir = json_string_value(json_object_get(call, "direction"));
    bool outbound = dir && strcmp(dir, "outbound") == 0;
    const char *num = outbound ? "to" : "from", *raw = outbound ? "to_raw" : "from_raw";
    json_t *phone = json_object_get(call, num);
    if (!json_is_string(phone)) phone = json_object_get(call, raw);
    json_object_set_new(d, "call_id", get_or_null(call, "id"));
    /* what the sender said (its CRM's id, in metadata) before callhook's own directory id */
    json_t *lead_id = json_is_object(meta) ? json_object_get(meta, "lead_id") : NULL;
    if (!json_is_string(lead_id) && !json_is_integer(lead_id))
        lead_id = json_is_object(lead) ? json_object_get(lead, "id") : NULL;
    json_object_set_new(d, "lead_id", lead_id ? json_incref(lead_id) : json_null());
    json_object_set_new(d, "phone", phone ? json_incref(phone) : json_null());
    json_t *name = json_is_object(lead) ? json_object_get(lead, "name") : NULL;
    if (!json_is_string(name) && !outbound) name = json_object_get(call, "caller_name");
    json_object_set_new(d, "customer_name", json_is_string(name) ? json_incref(name) : json_null());
    json_object_set_new(d, "direction", get_or_null(call, "direction"));
    json_object_set_new(d, "status", get_or_null(call, "status"));
    if (prev_status)
        json_object_set_new(d, "previous_status",
                            *prev_status ? json_string(prev_status) : json_null());
    json_object_set_new(d, "city", json_is_object(meta) ? get_or_null(meta, "city") : json_null());
    json_object_set_new(d, "service_category",
                        json_is_object(meta) ? get_or_null(meta, "service_category") : json_null());
    static const char *const copied[] = {"started_at", "ended_at", "duration_sec",
                                         "transcript", "summary",  "recording_url",
                                         "disposition"};
    for (size_t i = 0; i < sizeof copied / sizeof *copied; i++)
        json_object_set_new(d, copied[i], get_or_null(call, copied[i]));
    /* the employee matched by extension, else what the sender named */
    json_t *agent = json_is_object(emp) ? json_object_get(emp, "name") : NULL;
    if (!json_is_string(agent) && json_is_object(meta)) agent = json_object_get(meta, "agent_name");
    json_object_set_new(d, "agent_name", json_is_string(agent) ? json_incref(agent) : json_null());
    json_object_set_new(d, "metadata", meta ? json_incref(meta) : json_object());
    json_object_set_new(d, "call", json_incref(call));
    return d;
}

/* Writes one message and its deliveries. data is borrowed. */
static int insert_message(ch_outbox *o, int64_t tenant_id, const char *tenant_slug,
                          const char *type, const char *call_id, json_t *data, const route *r,
                          bool manual, int64_t *delivery_out)
{
    char id[32], ts[40];
    new_message_id(o, id);
    ch_time_format_ms(o->now, ts, sizeof ts);
    json_t *env = json_pack("{s:s, s:s, s:s, s:i, s:s, s:O}", "type", type, "id", id, "timestamp",
                            ts, "version", 1, "tenant", tenant_slug, "data", data);
    char *payload = json_dumps(env, JSON_COMPACT);
    json_decref(env);
    if (!payload) return SQLITE_NOMEM; /* invalid UTF-8 cannot reach here: the store checks */
    sqlite3_stmt *st = o->st[ST_MSG_INSERT];
    sqlite3_bind_int64(st, 1, tenant_id);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, type, -1, SQLITE_STATIC);
    ch_bind_text(st, 4, call_id);
    sqlite3_bind_int64(st, 5, o->now);
    sqlite3_bind_text(st, 6, payload, -1, SQLITE_STATIC);
    int rc = step_done(st);
    free(payload);
    for (int i = 0; rc == SQLITE_OK && i < r->n; i++) {
        st = o->st[ST_DLV_INSERT];
        sqlite3_bind_int64(st, 1, tenant_id);
        sqlite3_bind_int64(st, 2, r->ids[i]);
        sqlite3_bind_text(st, 3, id, -1, SQLITE_STATIC);
        ch_bind_text(st, 4, call_id);
        sqlite3_bind_int64(st, 5, o->now);
        sqlite3_bind_int(st, 6, manual);
        rc = step_done(st);
        int64_t did = sqlite3_last_insert_rowid(o->db);
        if (rc == SQLITE_OK && delivery_out) *delivery_out = did;
        if (rc == SQLITE_OK)
            rc = ch_change_log_add(o->changes, tenant_id, CH_CHANGE_DELIVERY_CREATED, call_id, did,
                                   0);
    }
    if (rc == SQLITE_OK && r->n > 0) o->created = true;
    return rc;
}

int ch_outbox_emit(ch_outbox *o, int64_t tenant_id, const char *call_id, ch_direction dir,
                   const ch_call_plan *p, ch_status prev_status)
{
    if (p->n == 0) return SQLITE_OK;
    int rc;
    tenant_endpoints *t = endpoints_of(o, tenant_id, &rc);
    if (rc) return rc;
    json_t *call = NULL;
    for (int i = 0; rc == SQLITE_OK && i < p->n; i++) {
        route r;
        route_call_event(t, dir, p->types[i], &r);
        if (r.n == 0) {
            skip_count(o, tenant_id, r.skip_reason, p->types[i], call_id);
            continue;
        }
        /* built once per change, only when something is sent: a tenant without endpoints
         * pays nothing for it */
        if (!call && !(call = ch_sqlite_call_json(o->db, tenant_id, call_id)))
            return sqlite3_errcode(o->db) != SQLITE_OK ? sqlite3_errcode(o->db) : SQLITE_ERROR;
        bool sc = strcmp(p->types[i], "call.status_changed") == 0;
        json_t *data =
            call_event_data(call, !sc                             ? NULL
                                  : prev_status == CH_STATUS_NONE ? ""
                                                                  : ch_status_str(prev_status));
        rc = insert_message(o, tenant_id, json_string_value(json_object_get(call, "tenant")),
                            p->types[i], call_id, data, &r, false, NULL);
        json_decref(data);
    }
    json_decref(call);
    return rc;
}

/* ---- results ------------------------------------------------------------------------ */

/* Tells the tenant's other endpoints that one was disabled (Svix's endpoint.disabled). */
static int notify_disabled(ch_outbox *o, int64_t tenant_id, int64_t endpoint_id, const char *url,
                           const char *reason)
{
    int rc;
    tenant_endpoints *t = endpoints_of(o, tenant_id, &rc);
    if (rc) return rc;
    route r = {.n = 0};
    for (size_t i = 0; i < t->n; i++)
        if (t->v[i].id != endpoint_id && t->v[i].enabled &&
            subscribed(&t->v[i], "endpoint.disabled"))
            route_add(&r, t->v[i].id);
    if (r.n == 0) return SQLITE_OK;
    sqlite3_stmt *st = o->st[ST_TENANT_SLUG];
    sqlite3_bind_int64(st, 1, tenant_id);
    char *slug = sqlite3_step(st) == SQLITE_ROW ? ch_col_strdup(st, 0) : NULL;
    sqlite3_reset(st);
    char at[40];
    ch_time_format_ms(o->now, at, sizeof at);
    json_t *data = json_pack("{s:I, s:s, s:s, s:s}", "endpoint_id", (json_int_t)endpoint_id, "url",
                             url ? url : "", "reason", reason, "disabled_at", at);
    rc = insert_message(o, tenant_id, slug ? slug : "", "endpoint.disabled", NULL, data, &r, false,
                        NULL);
    json_decref(data);
    free(slug);
    return rc;
}

static int disable_endpoint(ch_outbox *o, int64_t tenant_id, int64_t endpoint_id,
                            const char *reason)
{
    sqlite3_stmt *st = o->st[ST_EP_DISABLE];
    sqlite3_bind_int64(st, 1, tenant_id);
    sqlite3_bind_int64(st, 2, endpoint_id);
    sqlite3_bind_text(st, 3, reason, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, o->now);
    /* the trigger endpoints_disabled fails what was waiting for it */
    int r = sqlite3_step(st);
    char *url = r == SQLITE_ROW ? ch_col_strdup(st, 0) : NULL;
    int rc = step_done(st);
    if (r != SQLITE_ROW) return r == SQLITE_DONE ? SQLITE_OK : r; /* already disabled */
    /* the cached list still shows it enabled */
    tenant_endpoints *t = endpoints_of(o, tenant_id, &(int){0});
    for (size_t i = 0; i < t->n; i++)
        if (t->v[i].id == endpoint_id) t->v[i].enabled = false;
    ch_logline l;
    if (ch_log_begin(&l, CH_LOG_WARN, "endpoint_disabled", NULL)) {
        ch_log_int(&l, "tenant_id", tenant_id);
        ch_log_int(&l, "endpoint_id", endpoint_id);
        ch_log_str(&l, "reason", reason);
        ch_log_end(&l);
    }
    if (rc == SQLITE_OK) rc = notify_disabled(o, tenant_id, endpoint_id, url, reason);
    free(url);
    return rc;
}

int ch_outbox_apply(ch_outbox *o, const ch_delivery_result *r)
{
    sqlite3_stmt *st;
    int rc = SQLITE_OK;
    if (r->outcome != CH_DLV_PAUSE) {
        st = o->st[ST_ATTEMPT_INSERT];
        sqlite3_bind_int64(st, 1, r->tenant_id);
        sqlite3_bind_int64(st, 2, r->delivery_id);
        sqlite3_bind_int64(st, 3, r->at);
        if (r->status > 0) sqlite3_bind_int(st, 4, r->status);
        sqlite3_bind_int64(st, 5, r->latency_ms);
        if (r->response) sqlite3_bind_blob(st, 6, r->response, (int)r->response_len, SQLITE_STATIC);
        ch_bind_text(st, 7, r->error);
        sqlite3_bind_text(st, 8, r->manual ? "manual" : "scheduled", -1, SQLITE_STATIC);
        if ((rc = step_done(st))) return rc;

        static const char *const states[] = {"succeeded", "pending", "failed"};
        st = o->st[ST_DLV_SETTLE];
        sqlite3_bind_int64(st, 1, r->delivery_id);
        sqlite3_bind_text(st, 2, states[r->outcome], -1, SQLITE_STATIC);
        if (r->outcome == CH_DLV_RETRY) sqlite3_bind_int64(st, 3, r->next_at);
        if (r->status > 0) sqlite3_bind_int(st, 4, r->status);
        ch_bind_text(st, 5, r->error);
        sqlite3_bind_int64(st, 6, o->now);
        if ((rc = step_done(st))) return rc;
        /* only a settle that changed the row: a late result for a delivery settled by another
         * connection meanwhile (a disabled endpoint) reports nothing */
        if (r->outcome != CH_DLV_RETRY && sqlite3_changes(o->db) > 0 &&
            (rc = ch_change_log_add(o->changes, r->tenant_id, CH_CHANGE_DELIVERY_SETTLED,
                                    r->call_id, r->delivery_id, 0)))
            return rc;
    }
    if (r->outcome == CH_DLV_RETRY && r->call_id) {
        st = o->st[ST_DLV_BUMP_CALL];
        sqlite3_bind_int64(st, 1, r->tenant_id);
        sqlite3_bind_int64(st, 2, r->endpoint_id);
        sqlite3_bind_text(st, 3, r->call_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, r->delivery_id);
        sqlite3_bind_int64(st, 5, r->next_at);
        if ((rc = step_done(st))) return rc;
    }
    if (r->pause_until > 0) {
        st = o->st[ST_DLV_BUMP_ENDPOINT];
        sqlite3_bind_int64(st, 1, r->tenant_id);
        sqlite3_bind_int64(st, 2, r->endpoint_id);
        sqlite3_bind_int64(st, 3, r->pause_until);
        if ((rc = step_done(st))) return rc;
    }
    if (r->outcome == CH_DLV_SUCCEEDED) {
        /* only a delivery that was retried can have held later ones of its call back (they
         * are due no earlier than its next attempt): a first-attempt success frees nothing */
        if (r->call_id && (r->prior_attempts > 0 || r->manual)) {
            st = o->st[ST_DLV_FORWARD_CALL];
            sqlite3_bind_int64(st, 1, r->tenant_id);
            sqlite3_bind_int64(st, 2, r->endpoint_id);
            sqlite3_bind_text(st, 3, r->call_id, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 4, r->delivery_id);
            sqlite3_bind_int64(st, 5, o->now);
            if ((rc = step_done(st))) return rc;
        }
        if (!ok_marked(o, r->tenant_id, r->endpoint_id)) {
            st = o->st[ST_EP_OK];
            sqlite3_bind_int64(st, 1, r->tenant_id);
            sqlite3_bind_int64(st, 2, r->endpoint_id);
            if ((rc = step_done(st))) return rc;
            if (o->nok < sizeof o->ok_marks / sizeof *o->ok_marks) {
                o->ok_marks[o->nok][0] = r->tenant_id;
                o->ok_marks[o->nok++][1] = r->endpoint_id;
            }
        }
    }
    if (r->disable_reason)
        return disable_endpoint(o, r->tenant_id, r->endpoint_id, r->disable_reason);
    if (r->outcome == CH_DLV_FAILED && !r->manual) {
        /* Svix's rule: disabled when messages still exhaust their retries this long after the
         * first did; any success in between resets the clock (ST_EP_OK) */
        for (size_t i = 0; i < o->nok; i++) /* the clock starts again: a success resets it */
            if (o->ok_marks[i][0] == r->tenant_id && o->ok_marks[i][1] == r->endpoint_id)
                o->ok_marks[i][0] = o->ok_marks[i][1] = 0;
        st = o->st[ST_EP_FAILING];
        sqlite3_bind_int64(st, 1, r->tenant_id);
        sqlite3_bind_int64(st, 2, r->endpoint_id);
        sqlite3_bind_int64(st, 3, o->now);
        int s = sqlite3_step(st);
        int64_t since = s == SQLITE_ROW ? sqlite3_column_int64(st, 0) : o->now;
        bool enabled = s == SQLITE_ROW && sqlite3_column_int(st, 1);
        rc = step_done(st);
        if (rc == SQLITE_OK && enabled && o->now - since >= o->disable_after_ms)
            rc = disable_endpoint(o, r->tenant_id, r->endpoint_id,
                                  "every message failed all its attempts for days");
    }
    return rc;
}
