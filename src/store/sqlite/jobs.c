/* The SQLite backend's rows of the enrichment pipeline (docs/internals/enrichment.md): the
 * stage jobs of a call, the tenant's settings, the call's enriched output — written by the
 * writer inside its transaction — and the reads the workers and the API make. The decisions
 * are core's (core/pipeline.h). */
#include "core/pipeline.h"
#include "store/sqlite/sqlite.h"
#include "util/mem.h"
#include "util/result.h"

#include <stdlib.h>
#include <string.h>

enum {
    JS_SETTINGS,
    JS_CALL_JOBS,
    JS_JOB_PUT,
    JS_CALL_ENRICH,
    JS_CALL_STATE,
    JS_USAGE_TRANSCRIBED,
    JS_COUNT
};

static const char *const sql[JS_COUNT] = {
    [JS_SETTINGS] = "SELECT pipeline FROM tenants WHERE id=?1",
    [JS_CALL_JOBS] = "SELECT stage, state, engine, attempts, next_at, deadline, started_at,"
                     " finished_at, ms, error, result FROM jobs WHERE tenant_id=?1 AND call_id=?2",
    [JS_JOB_PUT] =
        "INSERT INTO jobs(tenant_id, call_id, stage, state, engine, attempts, next_at, deadline,"
        " created_at, started_at, finished_at, ms, error, result) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,"
        "?9,?10,?11,?12,?13,?14) ON CONFLICT(tenant_id, call_id, stage) DO UPDATE SET"
        " state=excluded.state, engine=excluded.engine, attempts=excluded.attempts,"
        " next_at=excluded.next_at, deadline=excluded.deadline, started_at=excluded.started_at,"
        " finished_at=excluded.finished_at, ms=excluded.ms, error=excluded.error,"
        " result=excluded.result",
    [JS_CALL_ENRICH] = "UPDATE calls SET enriched=?3, notified=?4, updated_at=?5,"
                       " version=version+1 WHERE tenant_id=?1 AND id=?2 RETURNING version",
    [JS_CALL_STATE] = "SELECT over_limit, created_at, status, notified, state_hash, version,"
                      " direction FROM calls WHERE tenant_id=?1 AND id=?2",
    [JS_USAGE_TRANSCRIBED] =
        "INSERT INTO usage(tenant_id, month, transcribed_ms) VALUES(?1,?2,?3)"
        " ON CONFLICT(tenant_id, month) DO UPDATE SET transcribed_ms=transcribed_ms+?3",
};

struct sqlite_jobs {
    sqlite3_stmt *st[JS_COUNT];
};

void ch_sqlite_jobs_new(ch_sqlite *q)
{
    struct sqlite_jobs *j = ch_calloc(1, sizeof *j);
    for (int i = 0; i < JS_COUNT; i++)
        if (sqlite3_prepare_v3(q->wdb, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &j->st[i], NULL) !=
            SQLITE_OK) {
            ch_sqlite_log_error(q->wdb, sql[i], sqlite3_errcode(q->wdb));
            abort(); /* our own schema */
        }
    q->jobs = j;
}

void ch_sqlite_jobs_free(ch_sqlite *q)
{
    if (!q->jobs) return;
    for (int i = 0; i < JS_COUNT; i++)
        sqlite3_finalize(q->jobs->st[i]);
    free(q->jobs);
    q->jobs = NULL;
}

static sqlite3_stmt *stmt(ch_backend *b, int which)
{
    return Q(b)->jobs->st[which];
}

static void finish(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

int ch_sqlite_pipeline_settings(ch_backend *b, int64_t tenant_id, char **text)
{
    sqlite3_stmt *st = stmt(b, JS_SETTINGS);
    sqlite3_bind_int64(st, 1, tenant_id);
    int rc = sqlite3_step(st);
    *text = rc == SQLITE_ROW ? ch_col_strdup(st, 0) : NULL;
    finish(st);
    if (rc == SQLITE_ROW || rc == SQLITE_DONE) return CH_OK;
    return ch_sqlite_writer_failed(Q(b), "pipeline settings", rc);
}

/* A jobs row (the columns of JS_CALL_JOBS, from col) into jobs[stage]. */
static void job_from_row(sqlite3_stmt *st, int col, ch_job_row jobs[CH_STAGE_COUNT])
{
    int stage = ch_stage_parse((const char *)sqlite3_column_text(st, col));
    int state = ch_job_state_parse((const char *)sqlite3_column_text(st, col + 1));
    if (stage < 0 || state < 0) return; /* cannot happen: we wrote it */
    ch_job_row *j = &jobs[stage];
    ch_job_row_clear(j);
    j->stage = stage;
    j->state = state;
    const char *e = (const char *)sqlite3_column_text(st, col + 2);
    snprintf(j->engine, sizeof j->engine, "%s", e ? e : "");
    j->attempts = sqlite3_column_int(st, col + 3);
    j->next_at = sqlite3_column_int64(st, col + 4);
    j->deadline = sqlite3_column_int64(st, col + 5);
    j->started_at = sqlite3_column_int64(st, col + 6);
    j->finished_at = sqlite3_column_int64(st, col + 7);
    j->ms = sqlite3_column_int64(st, col + 8);
    j->error = ch_col_strdup(st, col + 9);
    j->result = ch_col_strdup(st, col + 10);
}

static int read_jobs(sqlite3_stmt *st, int64_t tenant_id, const char *call_id,
                     ch_job_row jobs[CH_STAGE_COUNT])
{
    memset(jobs, 0, CH_STAGE_COUNT * sizeof *jobs);
    sqlite3_bind_int64(st, 1, tenant_id);
    sqlite3_bind_text(st, 2, call_id, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        job_from_row(st, 0, jobs);
    finish(st);
    return rc;
}

int ch_sqlite_call_jobs(ch_backend *b, int64_t tenant_id, const char *call_id,
                        ch_job_row jobs[CH_STAGE_COUNT])
{
    int rc = read_jobs(stmt(b, JS_CALL_JOBS), tenant_id, call_id, jobs);
    return rc == SQLITE_DONE ? CH_OK : ch_sqlite_writer_failed(Q(b), "jobs of a call", rc);
}

int ch_sqlite_job_put(ch_backend *b, int64_t tenant_id, const char *call_id, const ch_job_row *j,
                      int64_t now)
{
    sqlite3_stmt *st = stmt(b, JS_JOB_PUT);
    sqlite3_bind_int64(st, 1, tenant_id);
    sqlite3_bind_text(st, 2, call_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, ch_stage_name(j->stage), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, ch_job_state_str(j->state), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, j->engine, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 6, j->attempts);
    sqlite3_bind_int64(st, 7, j->next_at);
    sqlite3_bind_int64(st, 8, j->deadline);
    sqlite3_bind_int64(st, 9, now);
    if (j->started_at) sqlite3_bind_int64(st, 10, j->started_at);
    if (j->finished_at) sqlite3_bind_int64(st, 11, j->finished_at);
    if (j->ms || j->state == CH_JOB_DONE) sqlite3_bind_int64(st, 12, j->ms);
    ch_bind_text(st, 13, j->error);
    ch_bind_text(st, 14, j->result);
    int rc = sqlite3_step(st);
    finish(st);
    return rc == SQLITE_DONE ? CH_OK : ch_sqlite_writer_failed(Q(b), "job", rc);
}

int ch_sqlite_call_enrich(ch_backend *b, int64_t tenant_id, const char *call_id,
                          const char *enriched, int64_t notified, int64_t now, int64_t *version)
{
    sqlite3_stmt *st = stmt(b, JS_CALL_ENRICH);
    sqlite3_bind_int64(st, 1, tenant_id);
    sqlite3_bind_text(st, 2, call_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, enriched, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, notified);
    sqlite3_bind_int64(st, 5, now);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) *version = sqlite3_column_int64(st, 0);
    int done = rc == SQLITE_ROW ? sqlite3_step(st) : rc;
    finish(st);
    if (rc == SQLITE_DONE) return CH_ENOTFOUND;
    return done == SQLITE_DONE ? CH_OK : ch_sqlite_writer_failed(Q(b), "call enrich", done);
}

int ch_sqlite_call_state(ch_backend *b, int64_t tenant_id, const char *call_id, ch_call_found *out,
                         ch_direction *dir)
{
    sqlite3_stmt *st = stmt(b, JS_CALL_STATE);
    sqlite3_bind_int64(st, 1, tenant_id);
    sqlite3_bind_text(st, 2, call_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        memset(out, 0, sizeof *out);
        snprintf(out->id, sizeof out->id, "%s", call_id);
        out->over_limit = sqlite3_column_int(st, 0) != 0;
        out->created_at = sqlite3_column_int64(st, 1);
        int status = ch_status_parse((const char *)sqlite3_column_text(st, 2));
        out->before = (ch_call_before){.is_new = false,
                                       .status = status < 0 ? CH_STATUS_NONE : (ch_status)status,
                                       .notified = sqlite3_column_int64(st, 3),
                                       .state_hash = sqlite3_column_int64(st, 4)};
        out->version = sqlite3_column_int64(st, 5);
        int d = ch_direction_parse((const char *)sqlite3_column_text(st, 6));
        *dir = d < 0 ? CH_DIR_UNKNOWN : (ch_direction)d;
    }
    finish(st);
    if (rc == SQLITE_ROW) return CH_OK;
    return rc == SQLITE_DONE ? CH_ENOTFOUND : ch_sqlite_writer_failed(Q(b), "call state", rc);
}

int ch_sqlite_usage_transcribed(ch_backend *b, int64_t tenant_id, const char *month, int64_t ms)
{
    sqlite3_stmt *st = stmt(b, JS_USAGE_TRANSCRIBED);
    sqlite3_bind_int64(st, 1, tenant_id);
    sqlite3_bind_text(st, 2, month, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, ms);
    int rc = sqlite3_step(st);
    finish(st);
    return rc == SQLITE_DONE ? CH_OK : ch_sqlite_writer_failed(Q(b), "usage", rc);
}

/* ---- reads (any thread, the read pool) ------------------------------------------------ */

static int prepare(sqlite3 *db, const char *q, sqlite3_stmt **st)
{
    if (sqlite3_prepare_v2(db, q, -1, st, NULL) == SQLITE_OK) return CH_OK;
    ch_sqlite_log_error(db, q, sqlite3_errcode(db));
    return CH_ESTORE;
}

int ch_sqlite_jobs_due(ch_backend *b, int64_t now, int limit, const char *busy, ch_job_skip_fn skip,
                       void *arg, ch_due_job **out, size_t *n, int64_t *next_due)
{
    *out = NULL;
    *n = 0;
    *next_due = CH_TIME_UNSET;
    sqlite3 *db = ch_sqlite_reader(b);
    sqlite3_stmt *st = NULL;
    /* the due ones and, past them, the first not due yet (for the timer) */
    int rc = prepare(db,
                     "SELECT tenant_id, call_id, stage, engine, attempts, deadline, next_at"
                     " FROM jobs WHERE state='pending' AND tenant_id NOT IN"
                     " (SELECT value FROM json_each(?2)) ORDER BY next_at LIMIT ?1",
                     &st);
    if (rc) goto out;
    sqlite3_bind_int(st, 1, limit * 4 + 1);
    /* a busy tenant's thousand pending jobs must not hide another tenant's one */
    sqlite3_bind_text(st, 2, busy ? busy : "[]", -1, SQLITE_STATIC);
    size_t cap = 0;
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t at = sqlite3_column_int64(st, 6);
        if (at > now) {
            *next_due = at;
            break;
        }
        ch_due_job j = {.tenant_id = sqlite3_column_int64(st, 0)};
        snprintf(j.call_id, sizeof j.call_id, "%s", (const char *)sqlite3_column_text(st, 1));
        int stage = ch_stage_parse((const char *)sqlite3_column_text(st, 2));
        if (stage < 0) continue;
        j.stage = stage;
        snprintf(j.engine, sizeof j.engine, "%s", (const char *)sqlite3_column_text(st, 3));
        j.attempts = sqlite3_column_int(st, 4);
        j.deadline = sqlite3_column_int64(st, 5);
        if (skip && skip(arg, &j)) continue;
        if (*n == (size_t)limit) {
            *next_due = now; /* more due than taken: come back at once */
            break;
        }
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            *out = ch_realloc(*out, cap * sizeof **out);
        }
        (*out)[(*n)++] = j;
    }
    if (r != SQLITE_ROW && r != SQLITE_DONE) rc = CH_ESTORE;
out:
    sqlite3_finalize(st);
    ch_sqlite_reader_done(b, db);
    return rc;
}

int ch_sqlite_jobs_expired(ch_backend *b, int64_t now, int limit, ch_due_job **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    sqlite3 *db = ch_sqlite_reader(b);
    sqlite3_stmt *st = NULL;
    int rc = prepare(db,
                     "SELECT DISTINCT tenant_id, call_id FROM jobs WHERE state IN"
                     " ('pending','waiting') AND deadline<=?1 LIMIT ?2",
                     &st);
    if (rc) goto out;
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int(st, 2, limit);
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        *out = ch_realloc(*out, (*n + 1) * sizeof **out);
        ch_due_job *j = &(*out)[(*n)++];
        memset(j, 0, sizeof *j);
        j->tenant_id = sqlite3_column_int64(st, 0);
        snprintf(j->call_id, sizeof j->call_id, "%s", (const char *)sqlite3_column_text(st, 1));
    }
    if (r != SQLITE_DONE) rc = CH_ESTORE;
out:
    sqlite3_finalize(st);
    ch_sqlite_reader_done(b, db);
    return rc;
}

int ch_sqlite_jobs_depth(ch_backend *b, int64_t *pending)
{
    sqlite3 *db = ch_sqlite_reader(b);
    sqlite3_stmt *st = NULL;
    *pending = 0;
    /* the partial index jobs_due holds exactly these */
    int rc = prepare(db, "SELECT count(*) FROM jobs WHERE state='pending'", &st);
    if (rc == CH_OK) {
        if (sqlite3_step(st) == SQLITE_ROW)
            *pending = sqlite3_column_int64(st, 0);
        else
            rc = CH_ESTORE;
    }
    sqlite3_finalize(st);
    ch_sqlite_reader_done(b, db);
    return rc;
}

int ch_sqlite_recordings_expired(ch_backend *b, int64_t now, int limit, ch_expired_recording **out,
                                 size_t *n)
{
    *out = NULL;
    *n = 0;
    sqlite3 *db = ch_sqlite_reader(b);
    sqlite3_stmt *st = NULL;
    /* the tenant's retention_days (default 90; 0 keeps them) from its settings */
    int rc = prepare(db,
                     "SELECT j.tenant_id, j.call_id, json_extract(j.result,'$.sha256') FROM jobs j"
                     " JOIN tenants t ON t.id=j.tenant_id WHERE j.stage='recording' AND"
                     " j.state='done' AND json_extract(j.result,'$.deleted_at') IS NULL AND"
                     " COALESCE(json_extract(t.pipeline,'$.retention_days'),90) > 0 AND"
                     " j.finished_at < ?1 - COALESCE(json_extract(t.pipeline,'$.retention_days'),"
                     "90) * 86400000 LIMIT ?2",
                     &st);
    if (rc) goto out;
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int(st, 2, limit);
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        const char *sha = (const char *)sqlite3_column_text(st, 2);
        if (!sha) continue;
        *out = ch_realloc(*out, (*n + 1) * sizeof **out);
        ch_expired_recording *e = &(*out)[(*n)++];
        e->tenant_id = sqlite3_column_int64(st, 0);
        snprintf(e->call_id, sizeof e->call_id, "%s", (const char *)sqlite3_column_text(st, 1));
        snprintf(e->sha256, sizeof e->sha256, "%s", sha);
    }
    if (r != SQLITE_DONE) rc = CH_ESTORE;
out:
    sqlite3_finalize(st);
    ch_sqlite_reader_done(b, db);
    return rc;
}

int ch_sqlite_recording_refs(ch_backend *b, const char *sha256, int64_t *n)
{
    sqlite3 *db = ch_sqlite_reader(b);
    sqlite3_stmt *st = NULL;
    *n = 0;
    int rc = prepare(db,
                     "SELECT count(*) FROM jobs WHERE stage='recording' AND state='done' AND"
                     " json_extract(result,'$.sha256')=?1 AND"
                     " json_extract(result,'$.deleted_at') IS NULL",
                     &st);
    if (rc == CH_OK) {
        sqlite3_bind_text(st, 1, sha256, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            *n = sqlite3_column_int64(st, 0);
        else
            rc = CH_ESTORE;
    }
    sqlite3_finalize(st);
    ch_sqlite_reader_done(b, db);
    return rc;
}

int ch_sqlite_jobs_read(ch_backend *b, int64_t tenant_id, const char *call_id,
                        ch_job_row jobs[CH_STAGE_COUNT])
{
    sqlite3 *db = ch_sqlite_reader(b);
    sqlite3_stmt *st = NULL;
    int rc = prepare(db, sql[JS_CALL_JOBS], &st);
    if (rc == CH_OK && read_jobs(st, tenant_id, call_id, jobs) != SQLITE_DONE) rc = CH_ESTORE;
    sqlite3_finalize(st);
    ch_sqlite_reader_done(b, db);
    return rc;
}

int ch_sqlite_pipeline_get(ch_backend *b, int64_t tenant_id, char **text)
{
    sqlite3 *db = ch_sqlite_reader(b);
    sqlite3_stmt *st = NULL;
    *text = NULL;
    int rc = prepare(db, sql[JS_SETTINGS], &st);
    if (rc == CH_OK) {
        sqlite3_bind_int64(st, 1, tenant_id);
        int r = sqlite3_step(st);
        if (r == SQLITE_ROW)
            *text = ch_col_strdup(st, 0);
        else
            rc = r == SQLITE_DONE ? CH_ENOTFOUND : CH_ESTORE;
    }
    sqlite3_finalize(st);
    ch_sqlite_reader_done(b, db);
    return rc;
}

int ch_sqlite_dictionary_list(ch_backend *b, int64_t tenant_id, ch_dict_view **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    sqlite3 *db = ch_sqlite_reader(b);
    sqlite3_stmt *st = NULL;
    int rc = prepare(db,
                     "SELECT kind, name, synonyms, created_at FROM dictionary WHERE tenant_id=?1"
                     " ORDER BY kind, name",
                     &st);
    if (rc == CH_OK) {
        sqlite3_bind_int64(st, 1, tenant_id);
        int r;
        size_t cap = 0;
        while ((r = sqlite3_step(st)) == SQLITE_ROW) {
            if (*n == cap) {
                cap = cap ? cap * 2 : 16;
                *out = ch_realloc(*out, cap * sizeof **out);
            }
            ch_dict_view *d = &(*out)[(*n)++];
            d->kind = ch_col_strdup(st, 0);
            d->name = ch_col_strdup(st, 1);
            d->synonyms = ch_col_strdup(st, 2);
            d->created_at = sqlite3_column_int64(st, 3);
        }
        if (r != SQLITE_DONE) rc = CH_ESTORE;
    }
    sqlite3_finalize(st);
    ch_sqlite_reader_done(b, db);
    return rc;
}
