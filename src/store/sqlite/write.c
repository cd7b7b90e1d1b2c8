/* The SQLite backend's writer side: the transaction of the engine's batch and the rows it
 * writes, on the one write connection, with statements prepared once. Errors are logged here
 * and answered as CH_ESTORE; the SQLite code is kept for tx_fatal. */
#include "store/sqlite/outbox.h"
#include "store/sqlite/sqlite.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/result.h"

#include <stdlib.h>
#include <string.h>

enum {
    ST_EVT_DUP,
    ST_CALL_FIND,
    ST_USAGE_GET,
    ST_USAGE_ADD,
    ST_EVT_INSERT,
    ST_EVT_FOR_CALL,
    ST_CALL_UPSERT,
    ST_LEG_UPSERT,
    ST_LEAD_ADD,
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_SAVEPOINT,
    ST_RELEASE,
    ST_ROLLBACK_TO,
    ST_FTS_COUNT,
    ST_FTS_DELETE,
    ST_FTS_INSERT,
    ST_FTS_CLEAR,
    ST_COUNT
};

static const char *const sql[ST_COUNT] = {
    [ST_EVT_DUP] = "SELECT call_id FROM events WHERE tenant_id=?1 AND idem_key=?2",
    [ST_CALL_FIND] = "SELECT id, over_limit, created_at, status, notified, state_hash, version"
                     " FROM calls"
                     " WHERE tenant_id=?1 AND provider=?2 AND external_id=?3",
    [ST_USAGE_GET] = "SELECT COALESCE(calls,0) FROM usage WHERE tenant_id=?1 AND month=?2",
    [ST_USAGE_ADD] = "INSERT INTO usage(tenant_id, month, calls, events, over_limit_calls)"
                     " VALUES(?1,?2,?3,?4,?5) ON CONFLICT(tenant_id, month) DO UPDATE SET"
                     " calls=COALESCE(calls,0)+excluded.calls,"
                     " events=COALESCE(events,0)+excluded.events,"
                     " over_limit_calls=COALESCE(over_limit_calls,0)+excluded.over_limit_calls",
    /* The id is taken inside the write transaction (the rowid's maximum is one b-tree descent),
     * so another process writing the same database (callhook import) cannot collide with it. */
    [ST_EVT_INSERT] = "INSERT INTO events(tenant_id, id, call_id, idem_key, provider, kind,"
                      " leg_id, seq, ts, received_at, request_id, content_type, raw, norm)"
                      " VALUES(?1,(SELECT COALESCE(MAX(rowid),0)+1 FROM events),?3,?4,?5,?6,?7,"
                      "?8,?9,?10,?11,?12,?13,?14)",
    [ST_EVT_FOR_CALL] = "SELECT norm FROM events WHERE tenant_id=?1 AND call_id=?2",
    /* One statement writes a new call whole or updates a known one: a new call costs one
     * insert, not an insert and an update. */
    [ST_CALL_UPSERT] =
        "INSERT INTO calls(tenant_id, id, provider, external_id, over_limit, created_at,"
        " direction, status, disposition, from_e164, to_e164, from_raw, to_raw, caller_name,"
        " extension, started_at, answered_at, ended_at, duration_sec, billsec, recording_url,"
        " transcript, summary, cost_micros, cost_currency, metadata, sort_ts, updated_at,"
        " event_count, notified, state_hash, version, enriched) VALUES(?1,?2,?25,?26,?27,?28,?3,"
        "?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22,?23,?24,1,?29,?30,"
        "1,?31)"
        " ON CONFLICT(tenant_id, id) DO UPDATE SET direction=?3, status=?4, disposition=?5,"
        " from_e164=?6, to_e164=?7, from_raw=?8, to_raw=?9, caller_name=?10, extension=?11,"
        " started_at=?12, answered_at=?13, ended_at=?14, duration_sec=?15, billsec=?16,"
        " recording_url=?17, transcript=?18, summary=?19, cost_micros=?20, cost_currency=?21,"
        " metadata=?22, sort_ts=?23, updated_at=?24, event_count=event_count+1, notified=?29,"
        " state_hash=?30, version=version+1, enriched=COALESCE(?31, enriched)",
    [ST_LEG_UPSERT] = "INSERT INTO legs(tenant_id, call_id, leg_id, state) VALUES(?1,?2,?3,?4)"
                      " ON CONFLICT(tenant_id, call_id, leg_id) DO UPDATE SET state=excluded.state",
    /* an unknown external number becomes a lead (docs/directory.md) */
    [ST_LEAD_ADD] = "INSERT INTO leads(tenant_id, id, phone, phone_raw, name, source, created_at)"
                    " VALUES(?1,(SELECT COALESCE(MAX(id),0)+1 FROM leads WHERE tenant_id=?1),"
                    "?2,?3,?4,'call',?5) ON CONFLICT(tenant_id, phone) DO UPDATE SET"
                    " name=COALESCE(leads.name, excluded.name)", /* fills, never renames */
    /* Transaction control is prepared once too: sqlite3_exec would parse it on every job. */
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_SAVEPOINT] = "SAVEPOINT job",
    [ST_RELEASE] = "RELEASE job",
    [ST_ROLLBACK_TO] = "ROLLBACK TO job",
    /* the text index's backlog (fts_flush) */
    [ST_FTS_COUNT] = "SELECT count(*) FROM calls_fts_dirty",
};

struct sqlite_writer {
    sqlite3_stmt *st[ST_COUNT];
    int64_t now;
    int wal_frames;            /* frames in the WAL after the last commit (sqlite3_wal_hook) */
    int err;                   /* the SQLite error behind the last CH_ESTORE of this transaction */
    int64_t fts_waiting_since; /* when calls_fts_dirty was first seen not empty (0: empty) */
    ch_outbox *outbox;
    ch_change_log changes; /* this transaction's, published after its commit */
    size_t changes_mark;   /* where the current job's began */
};

/* Records and logs a failed statement: CH_ESTORE. */
static int failed(ch_sqlite *q, const char *what, int rc)
{
    q->w->err = rc;
    ch_sqlite_log_error(q->wdb, what, rc);
    return CH_ESTORE;
}

int ch_sqlite_writer_failed(ch_sqlite *q, const char *what, int sqlite_rc)
{
    return failed(q, what, sqlite_rc);
}

static int step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

static void finish(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

static int exec_stmt(ch_sqlite *q, int which)
{
    sqlite3_stmt *st = q->w->st[which];
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Under sustained load the background checkpointer never sees the WAL fully copied at the
 * moment a new write begins, so SQLite never rewinds it: the WAL grows without bound and every
 * commit appends to fresh file blocks (allocation and zeroing in the kernel). Once the WAL is
 * longer than WAL_REWIND_FRAMES, the writer wakes the checkpointer, and as soon as that has
 * copied all but a few frames, runs a PASSIVE checkpoint itself between two batches: it copies
 * only the remainder (a short stall, not a whole checkpoint), and the next write rewinds. */
#define WAL_REWIND_FRAMES    8192
#define WAL_REWIND_REMAINDER 256

static int on_wal_commit(void *arg, sqlite3 *db, const char *name, int frames)
{
    ((sqlite_writer *)arg)->wal_frames = frames;
    return SQLITE_OK;
}

void ch_sqlite_after_batch(ch_backend *b)
{
    ch_sqlite *q = Q(b);
    sqlite_writer *w = q->w;
    if (w->wal_frames < WAL_REWIND_FRAMES) return;
    if (w->wal_frames - atomic_load(&q->ckpt_backfilled) > WAL_REWIND_REMAINDER) {
        pthread_mutex_lock(&q->ckpt_lock);
        pthread_cond_signal(&q->ckpt_wake);
        pthread_mutex_unlock(&q->ckpt_lock);
        return;
    }
    int log = 0, copied = 0;
    /* SQLITE_BUSY when the background checkpoint is running: try again after the next batch */
    if (sqlite3_wal_checkpoint_v2(q->wdb, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &copied) ==
            SQLITE_OK &&
        copied == log) {
        w->wal_frames = 0;
        atomic_store(&q->ckpt_backfilled, 0);
    }
}

int ch_sqlite_writer_new(ch_sqlite *q)
{
    sqlite_writer *w = ch_calloc(1, sizeof *w);
    q->w = w;
    sqlite3_wal_hook(q->wdb, on_wal_commit, w);
    for (int i = 0; i < ST_COUNT; i++) {
        const char *text = i >= ST_FTS_DELETE && i <= ST_FTS_CLEAR
                               ? ch_sqlite_fts_flush_sql[i - ST_FTS_DELETE]
                               : sql[i];
        if (sqlite3_prepare_v3(q->wdb, text, -1, SQLITE_PREPARE_PERSISTENT, &w->st[i], NULL) !=
            SQLITE_OK) {
            ch_sqlite_log_error(q->wdb, text, sqlite3_errcode(q->wdb));
            abort(); /* the schema is ours: a statement that does not prepare is a bug */
        }
    }
    ch_change_log_init(&w->changes, q->wdb, q->opts.changes_keep, q->opts.changes_keep_ms);
    w->outbox = ch_outbox_new(q->wdb, q->opts.disable_after_ms, &w->changes);
    ch_sqlite_jobs_new(q);
    return CH_OK;
}

void ch_sqlite_writer_free(ch_sqlite *q)
{
    sqlite_writer *w = q->w;
    if (!w) return;
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(w->st[i]);
    ch_outbox_free(w->outbox);
    ch_sqlite_jobs_free(q);
    ch_change_log_free(&w->changes);
    free(w);
    q->w = NULL;
}

/* ---- the transaction ------------------------------------------------------------------ */

int ch_sqlite_tx_begin(ch_backend *b, int64_t now)
{
    ch_sqlite *q = Q(b);
    sqlite_writer *w = q->w;
    w->now = now;
    w->err = SQLITE_OK;
    w->changes.n = 0;
    w->changes.now = now;
    ch_outbox_batch_begin(w->outbox, now);
    int rc = exec_stmt(q, ST_BEGIN);
    return rc == SQLITE_OK ? CH_OK : failed(q, "begin", rc);
}

int ch_sqlite_tx_savepoint(ch_backend *b)
{
    ch_sqlite *q = Q(b);
    q->w->changes_mark = q->w->changes.n;
    int rc = exec_stmt(q, ST_SAVEPOINT);
    return rc == SQLITE_OK ? CH_OK : failed(q, "savepoint", rc);
}

int ch_sqlite_tx_release(ch_backend *b)
{
    ch_sqlite *q = Q(b);
    int rc = exec_stmt(q, ST_RELEASE);
    if (rc != SQLITE_OK) return failed(q, "release", rc);
    ch_outbox_job_end(q->w->outbox, true);
    return CH_OK;
}

void ch_sqlite_tx_rollback_to(ch_backend *b)
{
    ch_sqlite *q = Q(b);
    sqlite_writer *w = q->w;
    w->changes.n = w->changes_mark; /* its rows go with its savepoint */
    ch_outbox_job_end(w->outbox, false);
    if (sqlite3_get_autocommit(q->wdb)) return; /* SQLite rolled everything back itself */
    exec_stmt(q, ST_ROLLBACK_TO);
    exec_stmt(q, ST_RELEASE);
}

/* The text index catches up with the calls named in calls_fts_dirty (schema.c, migration 10):
 * two FTS5 statements for all of them, in the commit of a batch once FTS_BATCH_CALLS are named
 * or the first of them has waited FTS_BATCH_MS. Not at every commit: FTS5 writes a segment per
 * flush and merges segments as they pile up, so many small flushes cost far more per call than
 * a few larger ones (docs/internals/call-search.md, "What it costs the writer"). A search tests
 * the named calls directly, so waiting changes no answer; the bounds keep that test cheap. */
#define FTS_BATCH_CALLS 512
#define FTS_BATCH_MS    1000

static int fts_flush(ch_sqlite *q)
{
    sqlite_writer *w = q->w;
    sqlite3_stmt *count = w->st[ST_FTS_COUNT];
    int r = sqlite3_step(count);
    int64_t named = r == SQLITE_ROW ? sqlite3_column_int64(count, 0) : 0;
    sqlite3_reset(count);
    if (r != SQLITE_ROW) return r;
    if (named == 0) {
        w->fts_waiting_since = 0;
        return SQLITE_OK;
    }
    if (w->fts_waiting_since == 0) w->fts_waiting_since = w->now;
    if (named < FTS_BATCH_CALLS && w->now - w->fts_waiting_since < FTS_BATCH_MS) return SQLITE_OK;
    int rc = SQLITE_OK;
    for (int i = ST_FTS_DELETE; i <= ST_FTS_CLEAR && rc == SQLITE_OK; i++)
        rc = exec_stmt(q, i);
    if (rc == SQLITE_OK) w->fts_waiting_since = 0;
    return rc;
}

int ch_sqlite_tx_commit(ch_backend *b)
{
    ch_sqlite *q = Q(b);
    sqlite_writer *w = q->w;
    int rc = ch_outbox_batch_flush(w->outbox);
    if (rc == SQLITE_OK) rc = fts_flush(q);
    if (rc == SQLITE_OK) rc = ch_change_log_prune(&w->changes);
    if (rc == SQLITE_OK) rc = exec_stmt(q, ST_COMMIT);
    return rc == SQLITE_OK ? CH_OK : failed(q, "commit", rc);
}

void ch_sqlite_tx_rollback(ch_backend *b)
{
    ch_sqlite *q = Q(b);
    if (!sqlite3_get_autocommit(q->wdb)) exec_stmt(q, ST_ROLLBACK);
    q->w->changes.n = 0;
}

/* Errors that say the database as a whole cannot take writes now: the batch is abandoned. A
 * transaction SQLite rolled back by itself cannot go on either. */
bool ch_sqlite_tx_fatal(ch_backend *b)
{
    ch_sqlite *q = Q(b);
    if (sqlite3_get_autocommit(q->wdb)) return true;
    switch (q->w->err & 0xff) {
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_CORRUPT:
    case SQLITE_NOMEM:
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_NOTADB:
        return true;
    default:
        return false;
    }
}

void ch_sqlite_tx_changes(ch_backend *b, const ch_change **v, size_t *n)
{
    sqlite_writer *w = Q(b)->w;
    *v = w->changes.v;
    *n = w->changes.n;
}

/* A throw-away write, rolled back: nothing is kept. */
bool ch_sqlite_probe(ch_backend *b)
{
    sqlite3 *db = Q(b)->wdb;
    bool ok = sqlite3_exec(db, "BEGIN IMMEDIATE; INSERT INTO probe VALUES(randomblob(16384));",
                           NULL, NULL, NULL) == SQLITE_OK;
    if (!sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return ok;
}

/* ---- rows ------------------------------------------------------------------------------ */

int ch_sqlite_event_seen(ch_backend *b, int64_t tenant_id, const char *idem_key, char **call_id)
{
    ch_sqlite *q = Q(b);
    sqlite3_stmt *st = q->w->st[ST_EVT_DUP];
    sqlite3_bind_int64(st, 1, tenant_id);
    sqlite3_bind_text(st, 2, idem_key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) *call_id = ch_col_strdup(st, 0);
    finish(st);
    if (rc == SQLITE_ROW) return CH_OK;
    return rc == SQLITE_DONE ? CH_ENOTFOUND : failed(q, "event lookup", rc);
}

int ch_sqlite_call_find(ch_backend *b, int64_t tenant_id, const char *provider,
                        const char *external_id, ch_call_found *out)
{
    ch_sqlite *q = Q(b);
    sqlite3_stmt *st = q->w->st[ST_CALL_FIND];
    sqlite3_bind_int64(st, 1, tenant_id);
    sqlite3_bind_text(st, 2, provider, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, external_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        memset(out, 0, sizeof *out);
        snprintf(out->id, sizeof out->id, "%s", (const char *)sqlite3_column_text(st, 0));
        out->over_limit = sqlite3_column_int(st, 1) != 0;
        out->created_at = sqlite3_column_int64(st, 2);
        int status = ch_status_parse((const char *)sqlite3_column_text(st, 3));
        out->before = (ch_call_before){.is_new = false,
                                       .status = status < 0 ? CH_STATUS_NONE : (ch_status)status,
                                       .notified = sqlite3_column_int64(st, 4),
                                       .state_hash = sqlite3_column_int64(st, 5)};
        out->version = sqlite3_column_int64(st, 6);
    }
    finish(st);
    if (rc == SQLITE_ROW) return CH_OK;
    return rc == SQLITE_DONE ? CH_ENOTFOUND : failed(q, "call lookup", rc);
}

int ch_sqlite_usage_calls(ch_backend *b, int64_t tenant_id, const char *month, int64_t *calls)
{
    ch_sqlite *q = Q(b);
    sqlite3_stmt *st = q->w->st[ST_USAGE_GET];
    sqlite3_bind_int64(st, 1, tenant_id);
    sqlite3_bind_text(st, 2, month, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    *calls = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    finish(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? CH_OK : failed(q, "usage", rc);
}

int ch_sqlite_usage_add(ch_backend *b, int64_t tenant_id, const char *month, int64_t calls,
                        int64_t events, int64_t over_limit_calls)
{
    ch_sqlite *q = Q(b);
    sqlite3_stmt *st = q->w->st[ST_USAGE_ADD];
    sqlite3_bind_int64(st, 1, tenant_id);
    sqlite3_bind_text(st, 2, month, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, calls);
    sqlite3_bind_int64(st, 4, events);
    sqlite3_bind_int64(st, 5, over_limit_calls);
    int rc = step_done(st);
    return rc == SQLITE_OK ? CH_OK : failed(q, "usage", rc);
}

int ch_sqlite_call_events(ch_backend *b, int64_t tenant_id, const char *call_id, ch_event ***out,
                          size_t *n)
{
    ch_sqlite *q = Q(b);
    sqlite3_stmt *st = q->w->st[ST_EVT_FOR_CALL];
    sqlite3_bind_int64(st, 1, tenant_id);
    sqlite3_bind_text(st, 2, call_id, -1, SQLITE_STATIC);
    ch_event **evs = NULL;
    size_t cnt = 0, cap = 0;
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *j = json_loadb((const char *)sqlite3_column_text(st, 0),
                               (size_t)sqlite3_column_bytes(st, 0), 0, NULL);
        ch_event *e = ch_event_from_json(j);
        json_decref(j);
        if (!e) continue; /* cannot happen: we wrote it */
        if (cnt == cap) {
            cap = cap ? cap * 2 : 8;
            evs = ch_realloc(evs, cap * sizeof *evs);
        }
        evs[cnt++] = e;
    }
    finish(st);
    if (r != SQLITE_DONE) {
        for (size_t i = 0; i < cnt; i++)
            ch_event_free(evs[i]);
        free(evs);
        return failed(q, "events of a call", r);
    }
    *out = evs;
    *n = cnt;
    return CH_OK;
}

int ch_sqlite_event_insert(ch_backend *b, int64_t tenant_id, const char *call_id, const ch_event *e,
                           const char *request_id)
{
    ch_sqlite *q = Q(b);
    sqlite3_stmt *st = q->w->st[ST_EVT_INSERT];
    sqlite3_bind_int64(st, 1, tenant_id);
    sqlite3_bind_text(st, 3, call_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, e->idem_key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, e->provider, -1, SQLITE_STATIC);
    ch_bind_text(st, 6, e->kind);
    ch_bind_text(st, 7, e->leg_id);
    ch_bind_i64(st, 8, e->seq);
    ch_bind_i64(st, 9, e->ts);
    sqlite3_bind_int64(st, 10, q->w->now);
    ch_bind_text(st, 11, request_id);
    ch_bind_text(st, 12, e->content_type);
    sqlite3_bind_blob(st, 13, e->raw ? e->raw : "", (int)e->raw_len, SQLITE_STATIC);
    sqlite3_bind_text(st, 14, e->norm, -1, SQLITE_STATIC);
    int rc = step_done(st);
    return rc == SQLITE_OK ? CH_OK : failed(q, "event insert", rc);
}

int ch_sqlite_call_upsert(ch_backend *b, const ch_call_row *row)
{
    ch_sqlite *q = Q(b);
    sqlite3_stmt *st = q->w->st[ST_CALL_UPSERT];
    const ch_callstate *c = row->state;
    sqlite3_bind_int64(st, 1, row->tenant_id);
    sqlite3_bind_text(st, 2, row->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, ch_direction_str(c->direction), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, ch_status_str(c->status) ? ch_status_str(c->status) : "queued", -1,
                      SQLITE_STATIC);
    ch_bind_text(st, 5, ch_disposition_str(c->disposition));
    ch_bind_text(st, 6, c->from);
    ch_bind_text(st, 7, c->to);
    ch_bind_text(st, 8, c->from_raw);
    ch_bind_text(st, 9, c->to_raw);
    ch_bind_text(st, 10, c->caller_name);
    ch_bind_text(st, 11, c->extension);
    ch_bind_i64(st, 12, c->started_at);
    ch_bind_i64(st, 13, c->answered_at);
    ch_bind_i64(st, 14, c->ended_at);
    ch_bind_i64(st, 15, c->duration_sec);
    ch_bind_i64(st, 16, c->billsec);
    ch_bind_text(st, 17, c->recording_url);
    ch_bind_text(st, 18, c->transcript);
    ch_bind_text(st, 19, c->summary);
    ch_bind_i64(st, 20, c->cost_micros);
    ch_bind_text(st, 21, c->cost_currency);
    ch_bind_text(st, 22, row->metadata);
    sqlite3_bind_int64(st, 23, row->sort_ts);
    sqlite3_bind_int64(st, 24, row->updated_at);
    sqlite3_bind_text(st, 25, row->provider, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 26, row->external_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 27, row->over_limit);
    sqlite3_bind_int64(st, 28, row->created_at);
    sqlite3_bind_int64(st, 29, row->notified);
    sqlite3_bind_int64(st, 30, row->state_hash);
    ch_bind_text(st, 31, row->enriched);
    int rc = step_done(st);
    return rc == SQLITE_OK ? CH_OK : failed(q, "call upsert", rc);
}

int ch_sqlite_leg_upsert(ch_backend *b, int64_t tenant_id, const char *call_id, const char *leg_id,
                         const char *state_json)
{
    ch_sqlite *q = Q(b);
    sqlite3_stmt *st = q->w->st[ST_LEG_UPSERT];
    sqlite3_bind_int64(st, 1, tenant_id);
    sqlite3_bind_text(st, 2, call_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, leg_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, state_json, -1, SQLITE_STATIC);
    int rc = step_done(st);
    return rc == SQLITE_OK ? CH_OK : failed(q, "leg upsert", rc);
}

int ch_sqlite_lead_touch(ch_backend *b, int64_t tenant_id, const char *phone, const char *raw,
                         const char *name)
{
    ch_sqlite *q = Q(b);
    sqlite3_stmt *st = q->w->st[ST_LEAD_ADD];
    sqlite3_bind_int64(st, 1, tenant_id);
    sqlite3_bind_text(st, 2, phone, -1, SQLITE_STATIC);
    ch_bind_text(st, 3, raw);
    ch_bind_text(st, 4, name);
    sqlite3_bind_int64(st, 5, q->w->now);
    int rc = step_done(st);
    return rc == SQLITE_OK ? CH_OK : failed(q, "lead", rc);
}

int ch_sqlite_change_add(ch_backend *b, int64_t tenant_id, ch_change_kind kind, const char *call_id,
                         int64_t delivery_id, int64_t version)
{
    ch_sqlite *q = Q(b);
    int rc = ch_change_log_add(&q->w->changes, tenant_id, kind, call_id, delivery_id, version);
    return rc == SQLITE_OK ? CH_OK : failed(q, "change log", rc);
}

int ch_sqlite_outbox_emit(ch_backend *b, int64_t tenant_id, const char *call_id, ch_direction dir,
                          const ch_call_plan *plan, ch_status prev_status)
{
    ch_sqlite *q = Q(b);
    int rc = ch_outbox_emit(q->w->outbox, tenant_id, call_id, dir, plan, prev_status);
    return rc == SQLITE_OK ? CH_OK : failed(q, "outbox", rc);
}

int ch_sqlite_delivery_result(ch_backend *b, const ch_delivery_result *r)
{
    ch_sqlite *q = Q(b);
    int rc = ch_outbox_apply(q->w->outbox, r);
    return rc == SQLITE_OK ? CH_OK : failed(q, "delivery result", rc);
}

int ch_sqlite_op_apply(ch_backend *b, ch_op *op)
{
    ch_sqlite *q = Q(b);
    int err = SQLITE_OK;
    int rc = ch_sqlite_op_run(q->wdb, &q->w->changes, q->w->now, op, &err);
    if (rc == CH_ESTORE) return failed(q, "operation", err);
    return rc;
}
