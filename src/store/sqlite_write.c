/* The writer thread: the only code that writes call data. It takes every job queued since
 * the last commit and commits them in one transaction (group commit: one fsync for the whole
 * batch), then calls each job's done(). See docs/write-path.md. */
#include "core/merge.h"
#include "store/outbox.h"
#include "store/sqlite_internal.h"
#include "util/crypto.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/result.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
        " event_count, notified, state_hash, version) VALUES(?1,?2,?25,?26,?27,?28,?3,?4,?5,?6,"
        "?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22,?23,?24,1,?29,?30,1)"
        " ON CONFLICT(tenant_id, id) DO UPDATE SET direction=?3, status=?4, disposition=?5,"
        " from_e164=?6, to_e164=?7, from_raw=?8, to_raw=?9, caller_name=?10, extension=?11,"
        " started_at=?12, answered_at=?13, ended_at=?14, duration_sec=?15, billsec=?16,"
        " recording_url=?17, transcript=?18, summary=?19, cost_micros=?20, cost_currency=?21,"
        " metadata=?22, sort_ts=?23, updated_at=?24, event_count=event_count+1, notified=?29,"
        " state_hash=?30, version=version+1",
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
};

/* Month of "now" per time zone, cached per 15 minutes (every zone's offset is a multiple of
 * 15 minutes, so a month never starts inside a bucket). Avoids a tzset() per event. */
typedef struct {
    char tz[64];
    int64_t bucket;
    char month[8];
} month_cache;

static void finish(sqlite3_stmt *st);

/* Usage counts are added up in memory and written once per (tenant, month) per transaction
 * instead of once per event. A job's counts join the batch's only when its savepoint is
 * released, so a job that is rolled back leaves no count behind. */
typedef struct {
    int64_t tenant_id;
    char month[8];
    int64_t calls, events, over_limit_calls;
} usage_delta;

typedef struct {
    usage_delta *v;
    size_t n, cap;
} usage_set;

typedef struct {
    ch_store *s;
    sqlite3_stmt *st[ST_COUNT];
    month_cache months[16];
    int64_t now;
    int wal_frames;    /* frames in the WAL after the last commit (sqlite3_wal_hook) */
    uint64_t id_state; /* splitmix64 state for the random part of new call ids */
    ch_outbox *outbox;
    usage_set batch_usage, job_usage;
    ch_change_log changes; /* this transaction's, published after its commit */
} wctx;

static usage_delta *usage_slot(usage_set *u, int64_t tenant_id, const char *month)
{
    for (size_t i = u->n; i-- > 0;)
        if (u->v[i].tenant_id == tenant_id && strcmp(u->v[i].month, month) == 0) return &u->v[i];
    if (u->n == u->cap) {
        u->cap = u->cap ? u->cap * 2 : 8;
        u->v = ch_realloc(u->v, u->cap * sizeof *u->v);
    }
    usage_delta *d = &u->v[u->n++];
    memset(d, 0, sizeof *d);
    d->tenant_id = tenant_id;
    snprintf(d->month, sizeof d->month, "%s", month);
    return d;
}

static int64_t usage_pending_calls(wctx *w, int64_t tenant_id, const char *month)
{
    int64_t n = 0;
    usage_set *sets[] = {&w->batch_usage, &w->job_usage};
    for (size_t k = 0; k < 2; k++)
        for (size_t i = 0; i < sets[k]->n; i++)
            if (sets[k]->v[i].tenant_id == tenant_id && strcmp(sets[k]->v[i].month, month) == 0)
                n += sets[k]->v[i].calls;
    return n;
}

static void usage_commit_job(wctx *w)
{
    for (size_t i = 0; i < w->job_usage.n; i++) {
        const usage_delta *j = &w->job_usage.v[i];
        usage_delta *b = usage_slot(&w->batch_usage, j->tenant_id, j->month);
        b->calls += j->calls;
        b->events += j->events;
        b->over_limit_calls += j->over_limit_calls;
    }
    w->job_usage.n = 0;
}

static int usage_flush(wctx *w)
{
    int rc = SQLITE_OK;
    for (size_t i = 0; rc == SQLITE_OK && i < w->batch_usage.n; i++) {
        const usage_delta *d = &w->batch_usage.v[i];
        sqlite3_stmt *st = w->st[ST_USAGE_ADD];
        sqlite3_bind_int64(st, 1, d->tenant_id);
        sqlite3_bind_text(st, 2, d->month, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, d->calls);
        sqlite3_bind_int64(st, 4, d->events);
        sqlite3_bind_int64(st, 5, d->over_limit_calls);
        int r = sqlite3_step(st);
        finish(st);
        if (r != SQLITE_DONE) rc = r;
    }
    w->batch_usage.n = 0;
    return rc;
}

static int exec_stmt(wctx *w, int which)
{
    sqlite3_stmt *st = w->st[which];
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
    ((wctx *)arg)->wal_frames = frames;
    return SQLITE_OK;
}

static void maybe_rewind_wal(wctx *w)
{
    ch_store *s = w->s;
    if (w->wal_frames < WAL_REWIND_FRAMES) return;
    if (w->wal_frames - atomic_load(&s->ckpt_backfilled) > WAL_REWIND_REMAINDER) {
        pthread_mutex_lock(&s->lock);
        pthread_cond_signal(&s->ckpt_wake);
        pthread_mutex_unlock(&s->lock);
        return;
    }
    int log = 0, copied = 0;
    /* SQLITE_BUSY when the background checkpoint is running: try again after the next batch */
    if (sqlite3_wal_checkpoint_v2(s->wdb, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &copied) ==
            SQLITE_OK &&
        copied == log) {
        w->wal_frames = 0;
        atomic_store(&s->ckpt_backfilled, 0);
    }
}

static const char *month_of_now(wctx *w, const char *tz)
{
    int64_t bucket = w->now / 900000;
    const char *z = tz ? tz : "UTC";
    unsigned h = 5381;
    for (const char *p = z; *p; p++)
        h = h * 33 + (unsigned char)*p;
    month_cache *c = &w->months[h % 16];
    if (c->bucket != bucket || strcmp(c->tz, z) != 0) {
        snprintf(c->tz, sizeof c->tz, "%s", z);
        c->bucket = bucket;
        ch_time_month(w->now, z, c->month);
    }
    return c->month;
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

/* "c_" + 12 hex digits of the creation time in ms + 8 random hex digits: ids of new calls sort
 * by time, so their index entries are appended at the right edge of the b-trees instead of
 * dirtying a random page each (which costs a WAL page write per call). */
static void new_call_id(wctx *w, char out[24], int64_t now_ms)
{
    /* splitmix64, seeded from the OS: ids need to be unique, not secret, and a CSPRNG call per
     * call costs the writer a getpid() and a lock */
    uint64_t z = ch_splitmix64(&w->id_state);
    snprintf(out, 24, "c_%012llx%08x", (unsigned long long)now_ms & 0xffffffffffffULL,
             (unsigned)(z >> 32));
}

/* FNV-1a over everything a call.updated is about: the call's fields and its legs. */
static uint64_t hash_str(uint64_t h, const char *s)
{
    return s ? ch_fnv1a(h, s, strlen(s) + 1) : ch_fnv1a(h, "\xff", 1);
}

static uint64_t hash_call(const ch_callstate *c, const char *meta)
{
    uint64_t h = CH_FNV1A_INIT;
    int64_t nums[] = {c->direction, c->status,       c->disposition, c->started_at, c->answered_at,
                      c->ended_at,  c->duration_sec, c->billsec,     c->cost_micros};
    h = ch_fnv1a(h, nums, sizeof nums);
    const char *strs[] = {c->from,
                          c->to,
                          c->from_raw,
                          c->to_raw,
                          c->caller_name,
                          c->extension,
                          c->recording_url,
                          c->transcript,
                          c->summary,
                          c->cost_currency,
                          meta};
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++)
        h = hash_str(h, strs[i]);
    return h;
}

static int insert_event(wctx *w, ch_write_job *job, const char *call_id, ch_event *e)
{
    sqlite3_stmt *st = w->st[ST_EVT_INSERT];
    sqlite3_bind_int64(st, 1, job->tenant_id);
    sqlite3_bind_text(st, 3, call_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, e->idem_key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, e->provider, -1, SQLITE_STATIC);
    ch_bind_text(st, 6, e->kind);
    ch_bind_text(st, 7, e->leg_id);
    ch_bind_i64(st, 8, e->seq);
    ch_bind_i64(st, 9, e->ts);
    sqlite3_bind_int64(st, 10, w->now);
    ch_bind_text(st, 11, job->request_id);
    ch_bind_text(st, 12, e->content_type);
    sqlite3_bind_blob(st, 13, e->raw ? e->raw : "", (int)e->raw_len, SQLITE_STATIC);
    sqlite3_bind_text(st, 14, e->norm, -1, SQLITE_STATIC);
    return step_done(st);
}

/* Sets *why when the call's merged metadata has too many keys, or its events would keep too
 * many bytes of metadata together (docs/merge.md, "Metadata limits"). */
static void check_call_metadata(const ch_callstate *c, size_t kept, char *why, size_t why_size)
{
    ch_meta_size sz;
    ch_metadata_measure(c->metadata, SIZE_MAX, &sz);
    why[0] = '\0';
    if (sz.keys > CH_META_CALL_MAX_KEYS)
        snprintf(why, why_size, "the call's metadata would have %zu keys; at most %d per call",
                 sz.keys, CH_META_CALL_MAX_KEYS);
    else if (kept > CH_META_CALL_MAX_BYTES)
        snprintf(why, why_size,
                 "the call's events would keep %zu bytes of metadata; at most %d per call", kept,
                 CH_META_CALL_MAX_BYTES);
}

/* Gives each event stored as repeating another's metadata ("metadata_as") that metadata. */
static void resolve_metadata_refs(ch_event **evs, size_t n)
{
    const ch_event *last = NULL; /* a call's repeats usually all name the same event */
    for (size_t i = 0; i < n; i++) {
        ch_event *e = evs[i];
        if (!e->meta_as) continue;
        if (!last || strcmp(last->idem_key, e->meta_as) != 0) {
            last = NULL;
            for (size_t k = 0; k < n && !last; k++)
                if (!evs[k]->meta_as && evs[k]->metadata &&
                    strcmp(evs[k]->idem_key, e->meta_as) == 0)
                    last = evs[k];
        }
        if (last) e->metadata = json_incref(last->metadata);
    }
}

/* An event of evs[0..n) holding metadata equal to e's, or NULL. */
static const ch_event *same_metadata(ch_event *const *evs, size_t n, const ch_event *e)
{
    for (size_t i = 0; i < n; i++)
        if (!evs[i]->meta_as && evs[i]->metadata && evs[i]->meta_bytes == e->meta_bytes &&
            json_equal(evs[i]->metadata, e->metadata))
            return evs[i];
    return NULL;
}

static void reprepare(ch_event *e)
{
    free(e->norm);
    e->norm = NULL;
    ch_event_prepare(e);
}

/* Folds the call's stored events and the new one, stores the new event, and writes the call
 * and its legs. Metadata an event repeats verbatim from an earlier event of the call is stored
 * as a reference to it. When the new event's metadata would take the call over a per-call
 * limit, the event is stored without it (its raw body keeps it) and says why: the sender gets
 * its 2xx and the call everything else the event says. A merge reads back only the metadata
 * that was kept, so its cost stays within CH_META_CALL_MAX_BYTES however much a sender posts. */
static int merge_call(wctx *w, ch_write_job *job, const char *call_id, int64_t created_at,
                      ch_event *just_stored, bool over, const ch_call_before *before,
                      int64_t version)
{
    sqlite3_stmt *st;
    ch_event **evs = NULL;
    size_t n = 0, cap = 0, kept = 0;
    int rc = SQLITE_OK;
    char **leg_states = NULL;
    if (!before->is_new) {
        st = w->st[ST_EVT_FOR_CALL];
        sqlite3_bind_int64(st, 1, job->tenant_id);
        sqlite3_bind_text(st, 2, call_id, -1, SQLITE_STATIC);
        int r;
        while ((r = sqlite3_step(st)) == SQLITE_ROW) {
            json_t *j = json_loadb((const char *)sqlite3_column_text(st, 0),
                                   (size_t)sqlite3_column_bytes(st, 0), 0, NULL);
            ch_event *e = ch_event_from_json(j);
            json_decref(j);
            if (!e) continue; /* cannot happen: we wrote it */
            /* events stored before their size was recorded */
            if (e->metadata && !e->meta_bytes)
                e->meta_bytes = json_dumpb(e->metadata, NULL, 0, JSON_COMPACT);
            kept += e->meta_bytes;
            if (n == cap) {
                cap = cap ? cap * 2 : 8;
                evs = ch_realloc(evs, cap * sizeof *evs);
            }
            evs[n++] = e;
        }
        finish(st);
        if (r != SQLITE_DONE) {
            rc = r;
            goto out;
        }
        resolve_metadata_refs(evs, n);
    }
    size_t adds = 0;
    bool has_meta = just_stored->metadata && json_object_size(just_stored->metadata);
    if (has_meta) {
        const ch_event *same = same_metadata(evs, n, just_stored);
        if (same) {
            just_stored->meta_as = ch_strdup(same->idem_key);
            reprepare(just_stored);
        } else {
            adds = just_stored->meta_bytes;
        }
    }
    if (n == cap) evs = ch_realloc(evs, (cap + 1) * sizeof *evs);
    evs[n++] = just_stored;

    ch_merged m;
    ch_merge_fold(&m, evs, n, job->tenant_country);
    char why[160];
    if (has_meta) check_call_metadata(&m.call, kept + adds, why, sizeof why);
    if (has_meta && why[0]) {
        ch_logline l;
        if (ch_log_begin(&l, CH_LOG_INFO, "metadata_dropped", job->request_id)) {
            ch_log_int(&l, "tenant_id", job->tenant_id);
            ch_log_str(&l, "call_id", call_id);
            ch_log_str(&l, "reason", why);
            ch_log_end(&l);
        }
        json_decref(just_stored->metadata);
        just_stored->metadata = NULL;
        just_stored->meta_bytes = 0;
        free(just_stored->meta_as);
        just_stored->meta_as = NULL;
        just_stored->meta_dropped = ch_strdup(why);
        reprepare(just_stored);
        ch_merged_clear(&m);
        ch_merge_fold(&m, evs, n, job->tenant_country);
    }
    char *meta =
        m.call.metadata ? json_dumps(m.call.metadata, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if ((rc = insert_event(w, job, call_id, just_stored))) {
        free(meta);
        ch_merged_clear(&m);
        goto out;
    }
    const ch_callstate *c = &m.call;
    st = w->st[ST_CALL_UPSERT];
    uint64_t hash = hash_call(c, meta);
    leg_states = ch_calloc(m.nlegs + 1, sizeof *leg_states);
    for (size_t i = 0; i < m.nlegs; i++) {
        json_t *lj = ch_callstate_json(&m.legs[i], true);
        leg_states[i] = json_dumps(lj, JSON_COMPACT);
        json_decref(lj);
        hash = hash_str(hash, leg_states[i]);
    }
    ch_call_plan plan;
    /* stored as a signed integer; only equality matters */
    int64_t hash_i = (int64_t)(hash & 0x7fffffffffffffffULL);
    ch_outbox_plan(before, c, hash_i, &plan);
    sqlite3_bind_int64(st, 1, job->tenant_id);
    sqlite3_bind_text(st, 2, call_id, -1, SQLITE_STATIC);
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
    ch_bind_text(st, 22, meta);
    sqlite3_bind_int64(st, 23, c->started_at != CH_TIME_UNSET ? c->started_at : created_at);
    sqlite3_bind_int64(st, 24, w->now);
    sqlite3_bind_text(st, 25, just_stored->provider, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 26, just_stored->external_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 27, over);
    sqlite3_bind_int64(st, 28, created_at);
    sqlite3_bind_int64(st, 29, plan.notified);
    sqlite3_bind_int64(st, 30, hash_i);
    rc = step_done(st);
    free(meta);
    if (rc == SQLITE_OK)
        rc = ch_change_log_add(&w->changes, job->tenant_id,
                               before->is_new ? CH_CHANGE_CALL_CREATED : CH_CHANGE_CALL_UPDATED,
                               call_id, 0, version);
    /* the external party: the caller of an inbound call, the callee of an outbound one */
    const char *party = c->direction == CH_DIR_OUTBOUND   ? c->to
                        : c->direction == CH_DIR_INTERNAL ? NULL
                                                          : c->from;
    if (rc == SQLITE_OK && !job->no_auto_leads && party && party[0] == '+') {
        st = w->st[ST_LEAD_ADD];
        sqlite3_bind_int64(st, 1, job->tenant_id);
        sqlite3_bind_text(st, 2, party, -1, SQLITE_STATIC);
        ch_bind_text(st, 3, c->direction == CH_DIR_OUTBOUND ? c->to_raw : c->from_raw);
        ch_bind_text(st, 4, c->direction == CH_DIR_OUTBOUND ? NULL : c->caller_name);
        sqlite3_bind_int64(st, 5, w->now);
        rc = step_done(st);
    }
    for (size_t i = 0; rc == SQLITE_OK && i < m.nlegs; i++) {
        st = w->st[ST_LEG_UPSERT];
        sqlite3_bind_int64(st, 1, job->tenant_id);
        sqlite3_bind_text(st, 2, call_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, m.legs[i].id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, leg_states[i], -1, SQLITE_STATIC);
        rc = step_done(st);
    }
    /* the events this change causes, in this same transaction (docs/webhooks.md) */
    if (rc == SQLITE_OK)
        rc =
            ch_outbox_emit(w->outbox, job->tenant_id, call_id, c->direction, &plan, before->status);
    for (size_t i = 0; i < m.nlegs; i++)
        free(leg_states[i]);
    free(leg_states);
    ch_merged_clear(&m);
out:
    for (size_t i = 0; i < n; i++)
        if (evs[i] != just_stored) ch_event_free(evs[i]);
    free(evs);
    return rc;
}

/* One event inside the open transaction. Returns an SQLite code; SQLITE_OK also for
 * duplicates and refusals (their outcome says so). */
static int process_event(wctx *w, ch_write_job *job, size_t i)
{
    ch_event *e = job->events[i];
    sqlite3_stmt *st = w->st[ST_EVT_DUP];
    int rc;

    sqlite3_bind_int64(st, 1, job->tenant_id);
    sqlite3_bind_text(st, 2, e->idem_key, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        job->outcome[i] = CH_REC_DUPLICATE;
        job->call_ids[i] = ch_col_strdup(st, 0);
        finish(st);
        return SQLITE_OK;
    }
    finish(st);
    if (rc != SQLITE_DONE) return rc;

    char call_id[24] = {0};
    bool is_new = true, over = false;
    int64_t created_at = w->now, version = 0;
    ch_call_before before = {.is_new = true};
    st = w->st[ST_CALL_FIND];
    sqlite3_bind_int64(st, 1, job->tenant_id);
    sqlite3_bind_text(st, 2, e->provider, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, e->external_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        is_new = false;
        snprintf(call_id, sizeof call_id, "%s", (const char *)sqlite3_column_text(st, 0));
        over = sqlite3_column_int(st, 1) != 0;
        created_at = sqlite3_column_int64(st, 2);
        int status = ch_status_parse((const char *)sqlite3_column_text(st, 3));
        before = (ch_call_before){.is_new = false,
                                  .status = status < 0 ? CH_STATUS_NONE : (ch_status)status,
                                  .notified = sqlite3_column_int64(st, 4),
                                  .state_hash = sqlite3_column_int64(st, 5)};
        version = sqlite3_column_int64(st, 6);
    }
    finish(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return rc;

    const char *month = month_of_now(w, job->tenant_tz);
    if (is_new) {
        if (job->monthly_limit > 0) {
            st = w->st[ST_USAGE_GET];
            sqlite3_bind_int64(st, 1, job->tenant_id);
            sqlite3_bind_text(st, 2, month, -1, SQLITE_STATIC);
            rc = sqlite3_step(st);
            int64_t used = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
            finish(st);
            if (rc != SQLITE_ROW && rc != SQLITE_DONE) return rc;
            used += usage_pending_calls(w, job->tenant_id, month);
            over = used >= job->monthly_limit;
        }
        if (over && job->hard_limit) {
            job->outcome[i] = CH_REC_REJECTED;
            job->reject_reason[i] = "monthly_limit_reached";
            return SQLITE_OK;
        }
        new_call_id(w, call_id, w->now);
    }

    usage_delta *u = usage_slot(&w->job_usage, job->tenant_id, month);
    u->calls += is_new;
    u->events += 1;
    u->over_limit_calls += is_new && over;

    ch_event_prepare(e);
    /* merge_call stores the event too, once it knows whether its metadata is kept */
    if ((rc = merge_call(w, job, call_id, created_at, e, over, &before, version + 1))) return rc;
    job->outcome[i] = CH_REC_STORED;
    job->call_ids[i] = ch_strdup(call_id);
    job->over_limit[i] = over;
    return SQLITE_OK;
}

static void reset_outputs(ch_write_job *job)
{
    for (size_t i = 0; i < job->n; i++) {
        free(job->call_ids[i]);
        job->call_ids[i] = NULL;
        job->outcome[i] = CH_REC_REJECTED;
        job->reject_reason[i] = "store_unavailable";
        job->over_limit[i] = false;
    }
    ch_ops_clear(job->ops, job->nops);
    for (size_t i = 0; i < job->nops; i++)
        job->ops[i].id_out = 0;
}

/* Forgets what the job did in memory; its rows go with its savepoint (rolled back by the
 * caller). */
static void undo_job(wctx *w, ch_write_job *job, size_t changes_mark, int result)
{
    reset_outputs(job);
    job->result = result;
    w->job_usage.n = 0;
    w->changes.n = changes_mark;
    ch_outbox_job_end(w->outbox, false);
}

/* Errors that say the database as a whole cannot take writes now: the batch is abandoned. */
static bool fatal_for_batch(int rc)
{
    switch (rc & 0xff) {
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

static void run_batch(wctx *w, ch_write_job *batch, size_t njobs)
{
    ch_store *s = w->s;
    sqlite3 *db = s->wdb;
    w->now = ch_now_ms();
    int64_t t0 = ch_mono_ns();
    bool failed = exec_stmt(w, ST_BEGIN) != SQLITE_OK;
    uint64_t stored = 0, dups = 0, refused = 0;
    w->batch_usage.n = w->job_usage.n = 0;
    ch_outbox_batch_begin(w->outbox, w->now);
    w->changes.n = 0;
    w->changes.now = w->now;

    for (ch_write_job *job = batch; !failed && job; job = job->next) {
        size_t changes_mark = w->changes.n;
        int rc = exec_stmt(w, ST_SAVEPOINT);
        for (size_t i = 0; rc == SQLITE_OK && i < job->n; i++)
            rc = process_event(w, job, i);
        for (size_t i = 0; rc == SQLITE_OK && i < job->nresults; i++)
            rc = ch_outbox_apply(w->outbox, &job->results[i]);
        int said_no = CH_OK; /* an op that refused: this job is undone, the batch goes on */
        int64_t added_tenant = 0;
        for (size_t i = 0; rc == SQLITE_OK && !said_no && i < job->nops; i++) {
            ch_op *op = &job->ops[i];
            if (op->kind != CH_OP_TENANT_ADD && !op->tenant_id) op->tenant_id = added_tenant;
            int r = ch_sqlite_op_apply(db, &w->changes, w->now, op, &rc);
            op->result = r;
            if (r != CH_OK && r != CH_ESTORE) said_no = r;
            if (r == CH_OK && op->kind == CH_OP_TENANT_ADD) added_tenant = op->id_out;
        }
        if (rc == SQLITE_OK && !said_no && (rc = exec_stmt(w, ST_RELEASE)) == SQLITE_OK) {
            usage_commit_job(w);
            ch_outbox_job_end(w->outbox, true);
            job->result = CH_OK;
            continue;
        }
        if (rc == SQLITE_OK) {
            undo_job(w, job, changes_mark, said_no);
            exec_stmt(w, ST_ROLLBACK_TO);
            exec_stmt(w, ST_RELEASE);
            continue;
        }
        ch_sqlite_log_error(db, "write", rc);
        undo_job(w, job, changes_mark, CH_ESTORE);
        if (sqlite3_get_autocommit(db) || fatal_for_batch(rc)) {
            failed = true; /* SQLite rolled the transaction back, or the disk is at fault */
            break;
        }
        exec_stmt(w, ST_ROLLBACK_TO);
        exec_stmt(w, ST_RELEASE);
    }
    if (!failed) {
        int rc = usage_flush(w);
        if (rc == SQLITE_OK) rc = ch_outbox_batch_flush(w->outbox);
        if (rc == SQLITE_OK) rc = ch_change_log_prune(&w->changes);
        if (rc == SQLITE_OK) rc = exec_stmt(w, ST_COMMIT);
        if (rc != SQLITE_OK) {
            ch_sqlite_log_error(db, "commit", rc);
            failed = true;
        }
    }
    if (failed) {
        if (!sqlite3_get_autocommit(db)) exec_stmt(w, ST_ROLLBACK);
        for (ch_write_job *job = batch; job; job = job->next) {
            reset_outputs(job);
            job->result = CH_ESTORE;
        }
    } else {
        for (ch_write_job *job = batch; job; job = job->next)
            for (size_t i = 0; job->result == CH_OK && i < job->n; i++) {
                stored += job->outcome[i] == CH_REC_STORED;
                dups += job->outcome[i] == CH_REC_DUPLICATE;
                refused += job->outcome[i] == CH_REC_REJECTED;
            }
    }
    atomic_store(&s->writable, !failed);
    /* in commit order: this thread is the only one that commits and publishes */
    if (!failed) ch_feed_publish(s->feed, w->changes.v, w->changes.n);
    w->changes.n = 0;

    pthread_mutex_lock(&s->stats_lock);
    s->stats.batches++;
    s->stats.batch_requests += njobs;
    for (int b = 0; b < CH_BATCH_BUCKETS; b++)
        if (b == CH_BATCH_BUCKETS - 1 || njobs <= (1u << b)) s->stats.batch_hist[b]++;
    s->stats.events_stored += stored;
    s->stats.events_duplicate += dups;
    s->stats.records_refused += refused;
    s->stats.store_errors += failed;
    int64_t us = (ch_mono_ns() - t0) / 1000;
    s->stats.commit_us_sum += (uint64_t)us;
    for (int b = 0; b < CH_COMMIT_BUCKETS; b++)
        if (b == CH_COMMIT_BUCKETS - 1 || us <= (250LL << b)) s->stats.commit_hist[b]++;
    pthread_mutex_unlock(&s->stats_lock);
}

/* While unwritable, try a throw-away write every second so /readyz recovers on its own once
 * space is back. The transaction is rolled back: nothing is kept. */
static void probe(ch_store *s)
{
    sqlite3 *db = s->wdb;
    bool ok = sqlite3_exec(db, "BEGIN IMMEDIATE; INSERT INTO probe VALUES(randomblob(16384));",
                           NULL, NULL, NULL) == SQLITE_OK;
    if (!sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    atomic_store(&s->writable, ok);
}

void *ch_writer_main(void *arg)
{
    wctx w = {.s = arg};
    ch_store *s = w.s;
    sqlite3_wal_hook(s->wdb, on_wal_commit, &w);
    ch_random_bytes(&w.id_state, sizeof w.id_state);
    for (int i = 0; i < ST_COUNT; i++) {
        if (sqlite3_prepare_v3(s->wdb, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &w.st[i], NULL) !=
            SQLITE_OK) {
            ch_sqlite_log_error(s->wdb, sql[i], sqlite3_errcode(s->wdb));
            abort(); /* the schema is ours: a statement that does not prepare is a bug */
        }
    }
    ch_change_log_init(&w.changes, s->wdb, s->opts.changes_keep, s->opts.changes_keep_ms);
    w.outbox = ch_outbox_new(s->wdb, s->opts.disable_after_ms, &w.changes);
    for (;;) {
        pthread_mutex_lock(&s->lock);
        while (!s->head && !s->stopping) {
            if (atomic_load(&s->writable)) {
                pthread_cond_wait(&s->wake, &s->lock);
                continue;
            }
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            if (pthread_cond_timedwait(&s->wake, &s->lock, &ts) == ETIMEDOUT) break;
        }
        ch_write_job *batch = s->head, *last = NULL;
        size_t njobs = 0;
        for (ch_write_job *j = s->head; j && njobs < (size_t)s->opts.batch_max; j = j->next) {
            last = j;
            njobs++;
        }
        if (last) {
            s->head = last->next;
            if (!s->head) s->tail = NULL;
            last->next = NULL;
            s->depth -= njobs;
        }
        bool stop = s->stopping && !s->head && !batch;
        pthread_mutex_unlock(&s->lock);

        if (stop) break;
        if (!batch) {
            probe(s);
            continue;
        }
        run_batch(&w, batch, njobs);
        for (ch_write_job *j = batch, *next; j; j = next) {
            next = j->next;
            j->next = NULL;
            j->done(j); /* may free j */
        }
        maybe_rewind_wal(&w);
    }
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(w.st[i]);
    free(w.batch_usage.v);
    free(w.job_usage.v);
    ch_outbox_free(w.outbox);
    ch_change_log_free(&w.changes);
    return NULL;
}

/* ---- queue ------------------------------------------------------------------------- */

void ch_write_job_init(ch_write_job *job, ch_event **events, size_t n)
{
    memset(job, 0, sizeof *job);
    job->events = events;
    job->n = n;
    job->outcome = ch_calloc(n, sizeof *job->outcome);
    job->call_ids = ch_calloc(n, sizeof *job->call_ids);
    job->reject_reason = ch_calloc(n, sizeof *job->reject_reason);
    job->over_limit = ch_calloc(n, sizeof *job->over_limit);
    job->result = CH_ESTORE;
    job->next = NULL;
}

void ch_write_job_clear(ch_write_job *job)
{
    for (size_t i = 0; job->call_ids && i < job->n; i++)
        free(job->call_ids[i]);
    free(job->outcome);
    free(job->call_ids);
    free(job->reject_reason);
    free(job->over_limit);
    job->outcome = NULL;
    job->call_ids = NULL;
    job->reject_reason = NULL;
    job->over_limit = NULL;
}

void ch_store_submit(ch_store *s, ch_write_job *job)
{
    job->next = NULL;
    pthread_mutex_lock(&s->lock);
    if (s->tail)
        s->tail->next = job;
    else
        s->head = job;
    s->tail = job;
    s->depth++;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
}

void ch_delivery_result_clear(ch_delivery_result *r)
{
    free(r->call_id);
    free(r->error);
    free(r->response);
    memset(r, 0, sizeof *r);
}

size_t ch_store_queue_depth(ch_store *s)
{
    pthread_mutex_lock(&s->lock);
    size_t d = s->depth;
    pthread_mutex_unlock(&s->lock);
    return d;
}

void ch_store_get_stats(ch_store *s, ch_store_stats *out)
{
    pthread_mutex_lock(&s->stats_lock);
    *out = s->stats;
    pthread_mutex_unlock(&s->stats_lock);
}

typedef struct {
    pthread_mutex_t m;
    pthread_cond_t c;
    bool done;
} waiter;

static void wake_waiter(ch_write_job *job)
{
    waiter *w = job->arg;
    pthread_mutex_lock(&w->m);
    w->done = true;
    pthread_cond_signal(&w->c);
    pthread_mutex_unlock(&w->m);
}

int ch_store_write(ch_store *s, ch_op *ops, size_t n)
{
    ch_write_job job;
    ch_write_job_init(&job, NULL, 0);
    job.ops = ops;
    job.nops = n;
    int rc = ch_store_submit_wait(s, &job);
    ch_write_job_clear(&job);
    return rc;
}

int ch_store_submit_wait(ch_store *s, ch_write_job *job)
{
    waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false};
    job->done = wake_waiter;
    job->arg = &w;
    ch_store_submit(s, job);
    pthread_mutex_lock(&w.m);
    while (!w.done)
        pthread_cond_wait(&w.c, &w.m);
    pthread_mutex_unlock(&w.m);
    return job->result;
}
