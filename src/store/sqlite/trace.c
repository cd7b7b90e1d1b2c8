/* A call's trace, read side (core/trace.h): the call's events, jobs, messages with their
 * deliveries and attempts, in one read transaction (one snapshot), then the tenant's endpoints
 * as they are now. Every statement goes by an index: events_call, the jobs' key, the messages'
 * key by the range of ids the call's life spans (ids sort by creation time, core/payload.h),
 * the deliveries' (tenant, message, endpoint) key, attempts_delivery. */
#include "core/payload.h"
#include "store/sqlite/sqlite.h"
#include "util/limits.h"
#include "util/mem.h"
#include "util/result.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { T_CALL, T_COUNT, T_EVENTS, T_JOBS, T_MESSAGES, T_DELIVERIES, T_ATTEMPTS, T_N };

static const char *const sql[T_N] = {
    [T_CALL] = "SELECT c.direction, c.status, c.disposition, c.created_at, c.updated_at,"
               " COALESCE(t.country_code,'') FROM calls c JOIN tenants t ON t.id=c.tenant_id"
               " WHERE c.tenant_id=?1 AND c.id=?2",
    [T_COUNT] = "SELECT COUNT(*) FROM events WHERE tenant_id=?1 AND call_id=?2",
    /* raw is a BLOB: substr and length count bytes */
    [T_EVENTS] = "SELECT id, received_at, provider, kind, idem_key, leg_id, request_id,"
                 " content_type, substr(raw,1,?3), length(raw), norm FROM events"
                 " WHERE tenant_id=?1 AND call_id=?2 ORDER BY received_at, id LIMIT ?4",
    [T_JOBS] = "SELECT stage, state, engine, attempts, created_at, started_at, finished_at, ms,"
               " error FROM jobs WHERE tenant_id=?1 AND call_id=?2",
    /* the ids of one batch share their time: rowid is the order they were written in */
    [T_MESSAGES] = "SELECT id, type, created_at FROM messages WHERE tenant_id=?1 AND id>=?3 AND"
                   " id<?4 AND call_id=?2 ORDER BY created_at, rowid LIMIT ?5",
    [T_DELIVERIES] = "SELECT d.id, d.endpoint_id, d.state, d.attempts, d.next_attempt_at,"
                     " d.last_status, d.last_error, d.created_at, d.updated_at, d.manual, e.url"
                     " FROM deliveries d LEFT JOIN endpoints e ON e.tenant_id=d.tenant_id AND"
                     " e.id=d.endpoint_id WHERE d.tenant_id=?1 AND d.message_id=?2 ORDER BY d.id",
    [T_ATTEMPTS] = "SELECT at, status, latency_ms, error, trigger FROM attempts"
                   " WHERE delivery_id=?1 AND tenant_id=?2 ORDER BY id LIMIT ?3",
};

typedef struct {
    sqlite3 *db;
    sqlite3_stmt *st[T_N];
} reader;

static int reset(sqlite3_stmt *st, int r)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return r == SQLITE_DONE ? CH_OK : CH_ESTORE;
}

static int read_call(reader *rd, int64_t tenant_id, const char *call_id, ch_call_trace *t)
{
    sqlite3_stmt *st = rd->st[T_CALL];
    sqlite3_bind_int64(st, 1, tenant_id);
    sqlite3_bind_text(st, 2, call_id, -1, SQLITE_STATIC);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        const char *s;
        int v;
        t->call_id = ch_strdup(call_id);
        s = (const char *)sqlite3_column_text(st, 0);
        t->direction = s && (v = ch_direction_parse(s)) >= 0 ? (ch_direction)v : CH_DIR_UNKNOWN;
        s = (const char *)sqlite3_column_text(st, 1);
        t->status = s && (v = ch_status_parse(s)) >= 0 ? (ch_status)v : CH_STATUS_NONE;
        s = (const char *)sqlite3_column_text(st, 2);
        t->disposition = s && (v = ch_disposition_parse(s)) >= 0 ? (ch_disposition)v : CH_DISP_NONE;
        t->created_at = sqlite3_column_int64(st, 3);
        t->updated_at = sqlite3_column_int64(st, 4);
        t->country = ch_col_strdup(st, 5);
        r = SQLITE_DONE;
    } else if (r == SQLITE_DONE) {
        sqlite3_reset(st);
        return CH_ENOTFOUND;
    }
    return reset(st, r);
}

static int read_events(reader *rd, int64_t tenant_id, const char *call_id, ch_call_trace *t)
{
    sqlite3_stmt *st = rd->st[T_COUNT];
    sqlite3_bind_int64(st, 1, tenant_id);
    sqlite3_bind_text(st, 2, call_id, -1, SQLITE_STATIC);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) t->events_total = sqlite3_column_int64(st, 0), r = SQLITE_DONE;
    if (reset(st, r)) return CH_ESTORE;
    st = rd->st[T_EVENTS];
    sqlite3_bind_int64(st, 1, tenant_id);
    sqlite3_bind_text(st, 2, call_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, CH_TRACE_RAW_MAX);
    sqlite3_bind_int(st, 4, CH_TRACE_EVENTS_MAX);
    size_t n =
        t->events_total > CH_TRACE_EVENTS_MAX ? CH_TRACE_EVENTS_MAX : (size_t)t->events_total;
    t->events = ch_calloc(n + 1, sizeof *t->events);
    while ((r = sqlite3_step(st)) == SQLITE_ROW && t->nevents <= n) {
        if (t->nevents == n) break; /* written since the count: left for the next look */
        ch_trace_event *e = &t->events[t->nevents++];
        e->id = sqlite3_column_int64(st, 0);
        e->received_at = sqlite3_column_int64(st, 1);
        e->provider = ch_col_strdup(st, 2);
        e->kind = ch_col_strdup(st, 3);
        e->idem_key = ch_col_strdup(st, 4);
        e->leg_id = ch_col_strdup(st, 5);
        e->request_id = ch_col_strdup(st, 6);
        e->content_type = ch_col_strdup(st, 7);
        const void *raw = sqlite3_column_blob(st, 8);
        e->raw_len = (size_t)sqlite3_column_bytes(st, 8);
        e->raw = ch_malloc(e->raw_len + 1);
        if (raw) memcpy(e->raw, raw, e->raw_len);
        e->raw[e->raw_len] = '\0';
        e->raw_size = (size_t)sqlite3_column_int64(st, 9);
        json_t *j = json_loadb((const char *)sqlite3_column_text(st, 10),
                               (size_t)sqlite3_column_bytes(st, 10), 0, NULL);
        e->norm = j ? ch_event_from_json(j) : NULL;
        json_decref(j);
    }
    return reset(st, r == SQLITE_ROW ? SQLITE_DONE : r);
}

static int read_jobs(reader *rd, int64_t tenant_id, const char *call_id, ch_call_trace *t)
{
    sqlite3_stmt *st = rd->st[T_JOBS];
    sqlite3_bind_int64(st, 1, tenant_id);
    sqlite3_bind_text(st, 2, call_id, -1, SQLITE_STATIC);
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        int stage = ch_stage_parse((const char *)sqlite3_column_text(st, 0));
        int state = ch_job_state_parse((const char *)sqlite3_column_text(st, 1));
        if (stage < 0 || state < 0) continue; /* a later build's: not ours to show */
        ch_job_row *j = &t->jobs[stage];
        j->stage = (ch_stage)stage;
        j->state = (ch_job_state)state;
        const char *engine = (const char *)sqlite3_column_text(st, 2);
        snprintf(j->engine, sizeof j->engine, "%s", engine ? engine : "");
        j->attempts = sqlite3_column_int(st, 3);
        t->job_created[stage] = sqlite3_column_int64(st, 4);
        j->started_at = ch_col_i64(st, 5);
        j->finished_at = ch_col_i64(st, 6);
        j->ms = ch_col_i64(st, 7);
        j->error = ch_col_strdup(st, 8);
    }
    return reset(st, r);
}

static int read_attempts(reader *rd, int64_t tenant_id, ch_delivery_view *d)
{
    sqlite3_stmt *st = rd->st[T_ATTEMPTS];
    sqlite3_bind_int64(st, 1, d->id);
    sqlite3_bind_int64(st, 2, tenant_id);
    sqlite3_bind_int(st, 3, CH_TRACE_ATTEMPTS_MAX);
    int r;
    size_t cap = 0;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (d->nlog == cap) {
            cap = cap ? cap * 2 : 4;
            d->log = ch_realloc(d->log, cap * sizeof *d->log);
        }
        ch_attempt_view *a = &d->log[d->nlog++];
        memset(a, 0, sizeof *a);
        a->at = sqlite3_column_int64(st, 0);
        a->status = ch_col_i64(st, 1);
        a->latency_ms = sqlite3_column_int64(st, 2);
        a->error = ch_col_strdup(st, 3);
        a->trigger = ch_col_strdup(st, 4);
    }
    return reset(st, r);
}

static int read_deliveries(reader *rd, int64_t tenant_id, ch_trace_message *m)
{
    sqlite3_stmt *st = rd->st[T_DELIVERIES];
    sqlite3_bind_int64(st, 1, tenant_id);
    sqlite3_bind_text(st, 2, m->id, -1, SQLITE_STATIC);
    int r;
    size_t cap = 0;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (m->ndeliveries == cap) {
            cap = cap ? cap * 2 : 2;
            m->deliveries = ch_realloc(m->deliveries, cap * sizeof *m->deliveries);
            m->urls = ch_realloc(m->urls, cap * sizeof *m->urls);
        }
        ch_delivery_view *d = &m->deliveries[m->ndeliveries];
        memset(d, 0, sizeof *d);
        d->id = sqlite3_column_int64(st, 0);
        d->endpoint_id = sqlite3_column_int64(st, 1);
        d->state = ch_col_strdup(st, 2);
        d->attempts = sqlite3_column_int64(st, 3);
        d->next_attempt_at = ch_col_i64(st, 4);
        d->last_status = ch_col_i64(st, 5);
        d->last_error = ch_col_strdup(st, 6);
        d->created_at = sqlite3_column_int64(st, 7);
        d->updated_at = sqlite3_column_int64(st, 8);
        d->manual = sqlite3_column_int(st, 9) != 0;
        m->urls[m->ndeliveries] = ch_col_strdup(st, 10);
        m->ndeliveries++;
    }
    if (reset(st, r)) return CH_ESTORE;
    for (size_t k = 0; k < m->ndeliveries; k++)
        if (read_attempts(rd, tenant_id, &m->deliveries[k])) return CH_ESTORE;
    return CH_OK;
}

static int read_messages(reader *rd, int64_t tenant_id, const char *call_id, ch_call_trace *t)
{
    /* a message's id starts with its creation time; the call's are created while the writer
     * changes the call, between its creation and its last update (a second's margin) */
    char lo[CH_MESSAGE_ID_SIZE], hi[CH_MESSAGE_ID_SIZE];
    ch_message_id(lo, t->created_at - 1000, 0);
    ch_message_id(hi, t->updated_at + 1001, 0);
    sqlite3_stmt *st = rd->st[T_MESSAGES];
    sqlite3_bind_int64(st, 1, tenant_id);
    sqlite3_bind_text(st, 2, call_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, lo, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, hi, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 5, CH_TRACE_MESSAGES_MAX + 1);
    int r;
    size_t cap = 0;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (t->nmessages == CH_TRACE_MESSAGES_MAX) {
            t->messages_truncated = true;
            continue;
        }
        if (t->nmessages == cap) {
            cap = cap ? cap * 2 : 8;
            t->messages = ch_realloc(t->messages, cap * sizeof *t->messages);
        }
        ch_trace_message *m = &t->messages[t->nmessages++];
        memset(m, 0, sizeof *m);
        m->id = ch_col_strdup(st, 0);
        m->type = ch_col_strdup(st, 1);
        m->created_at = sqlite3_column_int64(st, 2);
    }
    if (reset(st, r)) return CH_ESTORE;
    for (size_t i = 0; i < t->nmessages; i++)
        if (read_deliveries(rd, tenant_id, &t->messages[i])) return CH_ESTORE;
    return CH_OK;
}

int ch_sqlite_call_trace(ch_backend *b, int64_t tenant_id, const char *call_id, ch_call_trace *out)
{
    memset(out, 0, sizeof *out);
    for (int st = 0; st < CH_STAGE_COUNT; st++) {
        out->jobs[st].state = CH_JOB_NONE;
        out->jobs[st].started_at = out->jobs[st].finished_at = CH_TIME_UNSET;
        out->jobs[st].ms = CH_NUM_UNSET;
        out->job_created[st] = CH_TIME_UNSET;
    }
    reader rd = {.db = ch_sqlite_reader(b)};
    int rc = CH_ESTORE;
    for (int i = 0; i < T_N; i++)
        if (sqlite3_prepare_v2(rd.db, sql[i], -1, &rd.st[i], NULL) != SQLITE_OK) {
            ch_sqlite_log_error(rd.db, sql[i], sqlite3_errcode(rd.db));
            goto out;
        }
    /* one snapshot: the deliveries shown are those of the messages shown */
    bool open = ch_sqlite_exec(rd.db, "BEGIN") == SQLITE_OK;
    if (!open) goto out;
    if ((rc = read_call(&rd, tenant_id, call_id, out)) == CH_OK &&
        (rc = read_events(&rd, tenant_id, call_id, out)) == CH_OK &&
        (rc = read_jobs(&rd, tenant_id, call_id, out)) == CH_OK)
        rc = read_messages(&rd, tenant_id, call_id, out);
    ch_sqlite_exec(rd.db, "COMMIT");
out:
    for (int i = 0; i < T_N; i++)
        sqlite3_finalize(rd.st[i]);
    ch_sqlite_reader_done(b, rd.db);
    /* the endpoints as they are now (after the reader is back: the pool may hold one) */
    if (rc == CH_OK)
        rc = ch_sqlite_endpoint_list(b, tenant_id, 0, &out->endpoints, &out->nendpoints);
    if (rc) ch_call_trace_clear(out);
    return rc;
}
