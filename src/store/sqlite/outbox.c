/* The outbox, writer side: see outbox.h and docs/webhooks.md. Runs on the writer thread only,
 * inside its open transaction, so an event and the change that causes it commit together. The
 * decisions are core's (routing.h: where an event goes; payload.h: the bodies; settle.h: what a
 * result implies); this file reads and writes the rows they concern. */
#include "store/sqlite/outbox.h"
#include "core/payload.h"
#include "core/routing.h"
#include "core/settle.h"
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
    int64_t tenant_id;
    ch_route_endpoint *v; /* events owned */
    int64_t *ids;         /* room for n routed ids: routing allocates nothing per event */
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
    o->disable_after_ms = disable_after_ms; /* <= 0: core's default */
    ch_random_bytes(&o->id_state, sizeof o->id_state);
    for (int i = 0; i < ST_COUNT; i++)
        if (sqlite3_prepare_v3(db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &o->st[i], NULL) !=
            SQLITE_OK) {
            ch_sqlite_log_error(db, sql[i], sqlite3_errcode(db));
            abort(); /* our own schema: a statement that does not prepare is a bug */
        }
    return o;
}

static void endpoints_free(tenant_endpoints *t)
{
    for (size_t k = 0; k < t->n; k++)
        free((char *)t->v[k].events);
    free(t->v);
    free(t->ids);
}

static void cache_clear(ch_outbox *o)
{
    for (size_t i = 0; i < o->ncache; i++)
        endpoints_free(&o->cache[i]);
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
        endpoints_free(t);
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
        ch_route_endpoint *e = &t->v[t->n++];
        e->id = sqlite3_column_int64(st, 0);
        e->kind = ch_endpoint_kind_parse((const char *)sqlite3_column_text(st, 1));
        e->events = ch_col_strdup(st, 2);
        e->enabled = sqlite3_column_int(st, 3) != 0;
    }
    t->ids = ch_malloc((t->n ? t->n : 1) * sizeof *t->ids);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    *rc = r == SQLITE_DONE ? SQLITE_OK : r;
    return t;
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

/* Writes one message and its deliveries. data is borrowed. */
static int insert_message(ch_outbox *o, int64_t tenant_id, const char *tenant_slug,
                          const char *type, const char *call_id, json_t *data, const int64_t *ids,
                          size_t nids, bool manual, int64_t *delivery_out)
{
    char id[CH_MESSAGE_ID_SIZE];
    ch_message_id(id, o->now, ch_splitmix64(&o->id_state) >> 16);
    char *payload = ch_payload_envelope(type, id, o->now, tenant_slug, data);
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
    for (size_t i = 0; rc == SQLITE_OK && i < nids; i++) {
        st = o->st[ST_DLV_INSERT];
        sqlite3_bind_int64(st, 1, tenant_id);
        sqlite3_bind_int64(st, 2, ids[i]);
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
    if (rc == SQLITE_OK && nids > 0) o->created = true;
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
        const char *skip = NULL;
        size_t n = ch_route_call_event(t->v, t->n, dir, p->types[i], t->ids, &skip);
        if (n == 0) {
            skip_count(o, tenant_id, skip, p->types[i], call_id);
            continue;
        }
        /* built once per change, only when something is sent: a tenant without endpoints
         * pays nothing for it */
        if (!call && !(call = ch_sqlite_call_json(o->db, tenant_id, call_id)))
            return sqlite3_errcode(o->db) != SQLITE_OK ? sqlite3_errcode(o->db) : SQLITE_ERROR;
        json_t *data = ch_payload_call_data(call, p->types[i], prev_status);
        rc = insert_message(o, tenant_id, json_string_value(json_object_get(call, "tenant")),
                            p->types[i], call_id, data, t->ids, n, false, NULL);
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
    size_t n = ch_route_endpoint_disabled(t->v, t->n, endpoint_id, t->ids);
    if (n == 0) return SQLITE_OK;
    sqlite3_stmt *st = o->st[ST_TENANT_SLUG];
    sqlite3_bind_int64(st, 1, tenant_id);
    char *slug = sqlite3_step(st) == SQLITE_ROW ? ch_col_strdup(st, 0) : NULL;
    sqlite3_reset(st);
    json_t *data = ch_payload_endpoint_disabled_data(endpoint_id, url, reason, o->now);
    rc = insert_message(o, tenant_id, slug ? slug : "", "endpoint.disabled", NULL, data, t->ids, n,
                        false, NULL);
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

/* Carries out what core says the result implies (settle.h), step by step in its order. */
int ch_outbox_apply(ch_outbox *o, const ch_delivery_result *r)
{
    ch_settle_plan p;
    ch_settle_plan_of(r, &p);
    sqlite3_stmt *st;
    int rc = SQLITE_OK;
    if (p.attempt) {
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

        st = o->st[ST_DLV_SETTLE];
        sqlite3_bind_int64(st, 1, r->delivery_id);
        sqlite3_bind_text(st, 2, p.state, -1, SQLITE_STATIC);
        if (r->outcome == CH_DLV_RETRY) sqlite3_bind_int64(st, 3, r->next_at);
        if (r->status > 0) sqlite3_bind_int(st, 4, r->status);
        ch_bind_text(st, 5, r->error);
        sqlite3_bind_int64(st, 6, o->now);
        if ((rc = step_done(st))) return rc;
        /* only a settle that changed the row (settled by another connection meanwhile: no) */
        if (p.report_settled && sqlite3_changes(o->db) > 0 &&
            (rc = ch_change_log_add(o->changes, r->tenant_id, CH_CHANGE_DELIVERY_SETTLED,
                                    r->call_id, r->delivery_id, 0)))
            return rc;
    }
    if (p.hold_call) {
        st = o->st[ST_DLV_BUMP_CALL];
        sqlite3_bind_int64(st, 1, r->tenant_id);
        sqlite3_bind_int64(st, 2, r->endpoint_id);
        sqlite3_bind_text(st, 3, r->call_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, r->delivery_id);
        sqlite3_bind_int64(st, 5, r->next_at);
        if ((rc = step_done(st))) return rc;
    }
    if (p.hold_endpoint) {
        st = o->st[ST_DLV_BUMP_ENDPOINT];
        sqlite3_bind_int64(st, 1, r->tenant_id);
        sqlite3_bind_int64(st, 2, r->endpoint_id);
        sqlite3_bind_int64(st, 3, r->pause_until);
        if ((rc = step_done(st))) return rc;
    }
    if (p.release_call) {
        st = o->st[ST_DLV_FORWARD_CALL];
        sqlite3_bind_int64(st, 1, r->tenant_id);
        sqlite3_bind_int64(st, 2, r->endpoint_id);
        sqlite3_bind_text(st, 3, r->call_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, r->delivery_id);
        sqlite3_bind_int64(st, 5, o->now);
        if ((rc = step_done(st))) return rc;
    }
    /* one reset per endpoint and batch is enough: the batch's others would change nothing */
    if (p.endpoint_ok && !ok_marked(o, r->tenant_id, r->endpoint_id)) {
        st = o->st[ST_EP_OK];
        sqlite3_bind_int64(st, 1, r->tenant_id);
        sqlite3_bind_int64(st, 2, r->endpoint_id);
        if ((rc = step_done(st))) return rc;
        if (o->nok < sizeof o->ok_marks / sizeof *o->ok_marks) {
            o->ok_marks[o->nok][0] = r->tenant_id;
            o->ok_marks[o->nok++][1] = r->endpoint_id;
        }
    }
    if (p.disable) return disable_endpoint(o, r->tenant_id, r->endpoint_id, r->disable_reason);
    if (p.endpoint_failing) {
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
        if (rc == SQLITE_OK && enabled && ch_settle_disable_due(since, o->now, o->disable_after_ms))
            rc = disable_endpoint(o, r->tenant_id, r->endpoint_id, CH_SETTLE_DISABLE_REASON);
    }
    return rc;
}
