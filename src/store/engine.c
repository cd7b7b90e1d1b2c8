/* The writer thread: the only code that writes. It takes every job queued since the last
 * commit and runs them in one transaction of the backend (group commit: one fsync for the
 * whole batch), each under a savepoint, then calls each job's done() (docs/write-path.md).
 * Backend-neutral: the merge of each event, the monthly limits, call ids, usage counts and the
 * change feed are driven here; the rows are the backend's (store/backend.h). */
#include "core/calljson.h"
#include "core/merge.h"
#include "core/pipeline.h"
#include "store/engine.h"
#include "util/crypto.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/result.h"
#include "util/timeutil.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Month of "now" per time zone, cached per 15 minutes (every zone's offset is a multiple of
 * 15 minutes, so a month never starts inside a bucket). Avoids a tzset() per event. */
typedef struct {
    char tz[64];
    int64_t bucket;
    char month[8];
} month_cache;

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
    const ch_store_backend *be;
    ch_backend *b;
    month_cache months[16];
    int64_t now;
    uint64_t id_state; /* splitmix64 state for the random part of new call ids */
    usage_set batch_usage, job_usage;
} engine;

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

static int64_t usage_pending_calls(engine *w, int64_t tenant_id, const char *month)
{
    int64_t n = 0;
    usage_set *sets[] = {&w->batch_usage, &w->job_usage};
    for (size_t k = 0; k < 2; k++)
        for (size_t i = 0; i < sets[k]->n; i++)
            if (sets[k]->v[i].tenant_id == tenant_id && strcmp(sets[k]->v[i].month, month) == 0)
                n += sets[k]->v[i].calls;
    return n;
}

static void usage_commit_job(engine *w)
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

static int usage_flush(engine *w)
{
    int rc = CH_OK;
    for (size_t i = 0; rc == CH_OK && i < w->batch_usage.n; i++) {
        const usage_delta *d = &w->batch_usage.v[i];
        rc = w->be->usage_add(w->b, d->tenant_id, d->month, d->calls, d->events,
                              d->over_limit_calls);
    }
    w->batch_usage.n = 0;
    return rc;
}

static const char *month_of_now(engine *w, const char *tz)
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

/* "c_" + 12 hex digits of the creation time in ms + 8 random hex digits: ids of new calls sort
 * by time, so their index entries are appended at the right edge of the b-trees instead of
 * dirtying a random page each. Unique per tenant with the (tenant, id) key; the random part
 * keeps writers of several nodes apart. */
static void new_call_id(engine *w, char out[CH_CHANGE_CALL_ID], int64_t now_ms)
{
    /* splitmix64, seeded from the OS: ids need to be unique, not secret, and a CSPRNG call per
     * call costs the writer a getpid() and a lock */
    uint64_t z = ch_splitmix64(&w->id_state);
    snprintf(out, CH_CHANGE_CALL_ID, "c_%012llx%08x",
             (unsigned long long)now_ms & 0xffffffffffffULL, (unsigned)(z >> 32));
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

/* ---- the enrichment pipeline (docs/internals/enrichment.md) ---------------------------- */

/* The stage jobs of a call that ended, by the tenant's settings (read in the transaction). */
static int plan_pipeline(engine *w, int64_t tenant_id, const ch_callstate *c, bool over_limit,
                         ch_pipeline_plan *out)
{
    char *text = NULL;
    int rc = w->be->pipeline_settings(w->b, tenant_id, &text);
    if (rc) return rc;
    ch_pipeline_settings ps;
    char err[160];
    if (ch_pipeline_settings_parse(text, &ps, err, sizeof err) != CH_OK) {
        /* cannot happen: the settings were validated when they were set */
        ch_pipeline_settings_clear(&ps);
        ch_pipeline_settings_parse(NULL, &ps, err, sizeof err);
    }
    ch_pipeline_plan_call(&ps, c, over_limit, w->now, out);
    ch_pipeline_settings_clear(&ps);
    free(text);
    return CH_OK;
}

/* Writes a call's planned jobs; a job.due change when one is due, for the workers. */
static int put_jobs(engine *w, int64_t tenant_id, const char *call_id,
                    const ch_job_row jobs[CH_STAGE_COUNT])
{
    bool due = false;
    for (int st = 0; st < CH_STAGE_COUNT; st++) {
        if (jobs[st].state == CH_JOB_NONE) continue;
        int rc = w->be->job_put(w->b, tenant_id, call_id, &jobs[st], w->now);
        if (rc) return rc;
        due |= jobs[st].state == CH_JOB_PENDING;
    }
    return due ? w->be->change_add(w->b, tenant_id, CH_CHANGE_JOB_DUE, call_id, 0, 0) : CH_OK;
}

/* After a call's jobs changed: their output onto the call (version + 1), and call.completed
 * once the pipeline is finished — or call.updated when the call completed before. */
static int jobs_changed(engine *w, int64_t tenant_id, const char *call_id,
                        ch_job_row jobs[CH_STAGE_COUNT], bool retry)
{
    const ch_store_backend *be = w->be;
    int rc = put_jobs(w, tenant_id, call_id, jobs);
    if (rc) return rc;
    ch_call_found found;
    ch_direction dir;
    if ((rc = be->call_state(w->b, tenant_id, call_id, &found, &dir))) return rc;
    int64_t bits = found.before.notified;
    ch_call_plan plan = {.n = 0};
    bool finished = ch_pipeline_finished(jobs);
    if (finished) bits |= CH_NOTE_ENRICHED;
    /* a retry shows on the call (where it is stuck, and why), but sends nothing */
    if (retry) {
    } else if (!(bits & CH_NOTE_COMPLETED) && finished && found.before.status == CH_STATUS_ENDED) {
        plan.types[plan.n++] = "call.completed";
        bits |= CH_NOTE_COMPLETED;
    } else if (bits & CH_NOTE_COMPLETED) {
        plan.types[plan.n++] = "call.updated";
    }
    plan.notified = bits;
    char *enriched = ch_pipeline_enriched(jobs, NULL);
    int64_t version = 0;
    rc = be->call_enrich(w->b, tenant_id, call_id, enriched, bits, w->now, &version);
    free(enriched);
    if (rc == CH_OK)
        rc = be->change_add(w->b, tenant_id, CH_CHANGE_CALL_UPDATED, call_id, 0, version);
    if (rc == CH_OK)
        rc = be->outbox_emit(w->b, tenant_id, call_id, dir, &plan, found.before.status);
    return rc;
}

static void jobs_clear(ch_job_row jobs[CH_STAGE_COUNT])
{
    for (int st = 0; st < CH_STAGE_COUNT; st++)
        ch_job_row_clear(&jobs[st]);
}

/* CH_OP_STAGE_RESULT: a worker's outcome of one stage. */
static int stage_result(engine *w, ch_op *op)
{
    const ch_stage_outcome *o = &op->in.stage;
    if (o->stage < 0 || o->stage >= CH_STAGE_COUNT || !o->call_id) return CH_EINVAL;
    ch_job_row jobs[CH_STAGE_COUNT];
    int rc = w->be->call_jobs(w->b, op->tenant_id, o->call_id, jobs);
    if (rc) return rc;
    ch_job_row *j = &jobs[o->stage];
    bool open = j->state == CH_JOB_PENDING || j->state == CH_JOB_WAITING;
    if (j->state == CH_JOB_NONE) {
        rc = CH_ENOTFOUND;
        goto out;
    }
    int state = o->state;
    int64_t next_at = o->next_at;
    const char *error = o->error;
    if (state == CH_JOB_DONE && o->must_exist && access(o->must_exist, F_OK) != 0) {
        /* a retention sweep removed the same bytes after the worker stored them: its unlink
         * runs on this thread after its commit, so this check sees it; fetched again */
        state = CH_JOB_PENDING;
        next_at = w->now;
        error = "the stored file was removed by the retention sweep meanwhile";
    }
    /* a result after the deadline failed the stage is still kept (call.updated); a retry
     * or failure of a closed stage changes nothing */
    if (!open && state != CH_JOB_DONE) goto out;
    j->attempts++;
    j->started_at = o->started_at;
    j->ms = o->ms;
    free(j->error);
    j->error = error ? ch_strdup(error) : NULL;
    if (state == CH_JOB_PENDING) { /* retry later */
        j->next_at = next_at;
        rc = jobs_changed(w, op->tenant_id, o->call_id, jobs, true);
        goto out;
    }
    j->state = state == CH_JOB_DONE ? CH_JOB_DONE : CH_JOB_FAILED;
    j->finished_at = w->now;
    if (j->state == CH_JOB_DONE) {
        free(j->result);
        j->result = o->result ? ch_strdup(o->result) : NULL;
    }
    ch_pipeline_advance(jobs, w->now);
    if (o->transcribed_ms > 0 && o->month)
        rc = w->be->usage_transcribed(w->b, op->tenant_id, o->month, o->transcribed_ms);
    if (rc == CH_OK) rc = jobs_changed(w, op->tenant_id, o->call_id, jobs, false);
out:
    jobs_clear(jobs);
    return rc;
}

/* CH_OP_RECORDING_FORGET: the recording passed its retention; the call says when. */
static int recording_forget(engine *w, ch_op *op)
{
    ch_job_row jobs[CH_STAGE_COUNT];
    int rc = w->be->call_jobs(w->b, op->tenant_id, op->in.stage.call_id, jobs);
    ch_job_row *r = &jobs[CH_STAGE_RECORDING];
    json_t *res =
        rc == CH_OK && r->state == CH_JOB_DONE && r->result ? json_loads(r->result, 0, NULL) : NULL;
    if (res && !json_object_get(res, "deleted_at")) {
        char ts[40];
        ch_time_format(w->now, ts, sizeof ts);
        json_object_set_new(res, "deleted_at", json_string(ts));
        json_object_del(res, "url");
        free(r->result);
        r->result = json_dumps(res, JSON_COMPACT);
        rc = jobs_changed(w, op->tenant_id, op->in.stage.call_id, jobs, true);
    }
    json_decref(res);
    jobs_clear(jobs);
    return rc;
}

/* CH_OP_PIPELINE_EXPIRE: the call's open stages passed its deadline. */
static int pipeline_expire(engine *w, ch_op *op)
{
    ch_job_row jobs[CH_STAGE_COUNT];
    int rc = w->be->call_jobs(w->b, op->tenant_id, op->in.stage.call_id, jobs);
    if (rc == CH_OK && ch_pipeline_expire(jobs, w->now) > 0)
        rc = jobs_changed(w, op->tenant_id, op->in.stage.call_id, jobs, false);
    jobs_clear(jobs);
    return rc;
}

/* Folds the call's stored events and the new one, stores the new event, and writes the call
 * and its legs. Metadata an event repeats verbatim from an earlier event of the call is stored
 * as a reference to it. When the new event's metadata would take the call over a per-call
 * limit, the event is stored without it (its raw body keeps it) and says why: the sender gets
 * its 2xx and the call everything else the event says. A merge reads back only the metadata
 * that was kept, so its cost stays within CH_META_CALL_MAX_BYTES however much a sender posts. */
static int merge_call(engine *w, ch_write_job *job, const ch_call_found *found, ch_event *e)
{
    const ch_store_backend *be = w->be;
    const ch_call_before *before = &found->before;
    ch_event **evs = NULL;
    size_t n = 0, kept = 0;
    int rc = CH_OK;
    char **leg_states = NULL;
    char *meta = NULL;
    ch_pipeline_plan pp = {0};
    char *enriched = NULL;
    if (!before->is_new) {
        if ((rc = be->call_events(w->b, job->tenant_id, found->id, &evs, &n))) goto out;
        for (size_t i = 0; i < n; i++) {
            /* events stored before their size was recorded */
            if (evs[i]->metadata && !evs[i]->meta_bytes)
                evs[i]->meta_bytes = json_dumpb(evs[i]->metadata, NULL, 0, JSON_COMPACT);
            kept += evs[i]->meta_bytes;
        }
        resolve_metadata_refs(evs, n);
    }
    size_t adds = 0;
    bool has_meta = e->metadata && json_object_size(e->metadata);
    if (has_meta) {
        const ch_event *same = same_metadata(evs, n, e);
        if (same) {
            e->meta_as = ch_strdup(same->idem_key);
            reprepare(e);
        } else {
            adds = e->meta_bytes;
        }
    }
    evs = ch_realloc(evs, (n + 1) * sizeof *evs);
    evs[n++] = e;

    ch_merged m;
    ch_merge_fold(&m, evs, n, job->tenant_country);
    char why[160];
    if (has_meta) check_call_metadata(&m.call, kept + adds, why, sizeof why);
    if (has_meta && why[0]) {
        ch_logline l;
        if (ch_log_begin(&l, CH_LOG_INFO, "metadata_dropped", job->request_id)) {
            ch_log_int(&l, "tenant_id", job->tenant_id);
            ch_log_str(&l, "call_id", found->id);
            ch_log_str(&l, "reason", why);
            ch_log_end(&l);
        }
        json_decref(e->metadata);
        e->metadata = NULL;
        e->meta_bytes = 0;
        free(e->meta_as);
        e->meta_as = NULL;
        e->meta_dropped = ch_strdup(why);
        reprepare(e);
        ch_merged_clear(&m);
        ch_merge_fold(&m, evs, n, job->tenant_country);
    }
    meta = m.call.metadata ? json_dumps(m.call.metadata, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if ((rc = be->event_insert(w->b, job->tenant_id, found->id, e, job->request_id))) {
        ch_merged_clear(&m);
        goto out;
    }
    const ch_callstate *c = &m.call;
    uint64_t hash = hash_call(c, meta);
    leg_states = ch_calloc(m.nlegs + 1, sizeof *leg_states);
    for (size_t i = 0; i < m.nlegs; i++) {
        json_t *lj = ch_callstate_json(&m.legs[i], true);
        leg_states[i] = json_dumps(lj, JSON_COMPACT);
        json_decref(lj);
        hash = hash_str(hash, leg_states[i]);
    }
    /* the enrichment pipeline, planned when the call ends (docs/internals/enrichment.md) */
    ch_call_before lc = *before;
    int64_t bits = before->is_new ? 0 : before->notified;
    if (c->status == CH_STATUS_ENDED && !(bits & CH_NOTE_PIPELINE)) {
        if (job->no_enrichment) {
            pp.skip_reason = "disabled";
        } else if ((rc = plan_pipeline(w, job->tenant_id, c, found->over_limit, &pp))) {
            ch_merged_clear(&m);
            goto out;
        }
        if (!pp.skip_reason) {
            bits |= CH_NOTE_PIPELINE;
            lc.hold_completed = true;
        }
        enriched = ch_pipeline_enriched(pp.jobs, pp.skip_reason);
    } else if ((bits & CH_NOTE_PIPELINE) && !(bits & CH_NOTE_ENRICHED)) {
        lc.hold_completed = true;
    }
    ch_call_plan plan;
    /* stored as a signed integer; only equality matters */
    int64_t hash_i = (int64_t)(hash & 0x7fffffffffffffffULL);
    ch_lifecycle_plan(&lc, c, hash_i, &plan);
    plan.notified |= bits & (CH_NOTE_PIPELINE | CH_NOTE_ENRICHED);
    ch_call_row row = {.tenant_id = job->tenant_id,
                       .id = found->id,
                       .provider = e->provider,
                       .external_id = e->external_id,
                       .over_limit = found->over_limit,
                       .created_at = found->created_at,
                       .sort_ts =
                           c->started_at != CH_TIME_UNSET ? c->started_at : found->created_at,
                       .updated_at = w->now,
                       .state = c,
                       .metadata = meta,
                       .enriched = enriched,
                       .notified = plan.notified,
                       .state_hash = hash_i};
    rc = be->call_upsert(w->b, &row);
    if (rc == CH_OK)
        rc = be->change_add(w->b, job->tenant_id,
                            before->is_new ? CH_CHANGE_CALL_CREATED : CH_CHANGE_CALL_UPDATED,
                            found->id, 0, found->version + 1);
    /* the external party: the caller of an inbound call, the callee of an outbound one */
    const char *party = c->direction == CH_DIR_OUTBOUND   ? c->to
                        : c->direction == CH_DIR_INTERNAL ? NULL
                                                          : c->from;
    if (rc == CH_OK && !job->no_auto_leads && party && party[0] == '+')
        rc = be->lead_touch(w->b, job->tenant_id, party,
                            c->direction == CH_DIR_OUTBOUND ? c->to_raw : c->from_raw,
                            c->direction == CH_DIR_OUTBOUND ? NULL : c->caller_name);
    for (size_t i = 0; rc == CH_OK && i < m.nlegs; i++)
        rc = be->leg_upsert(w->b, job->tenant_id, found->id, m.legs[i].id, leg_states[i]);
    if (rc == CH_OK && !pp.skip_reason && enriched)
        rc = put_jobs(w, job->tenant_id, found->id, pp.jobs);
    /* the events this change causes, in this same transaction (docs/webhooks.md) */
    if (rc == CH_OK)
        rc = be->outbox_emit(w->b, job->tenant_id, found->id, c->direction, &plan, before->status);
    for (size_t i = 0; i < m.nlegs; i++)
        free(leg_states[i]);
    free(leg_states);
    ch_merged_clear(&m);
out:
    ch_pipeline_plan_clear(&pp);
    free(enriched);
    free(meta);
    for (size_t i = 0; i < n; i++)
        if (evs[i] != e) ch_event_free(evs[i]);
    free(evs);
    return rc;
}

/* One event inside the open transaction: a CH_ code; CH_OK also for duplicates and refusals
 * (their outcome says so). */
static int process_event(engine *w, ch_write_job *job, size_t i)
{
    ch_event *e = job->events[i];
    char *dup_call = NULL;
    int rc = w->be->event_seen(w->b, job->tenant_id, e->idem_key, &dup_call);
    if (rc == CH_OK) {
        job->outcome[i] = CH_REC_DUPLICATE;
        job->call_ids[i] = dup_call;
        return CH_OK;
    }
    if (rc != CH_ENOTFOUND) return rc;

    ch_call_found found;
    rc = w->be->call_find(w->b, job->tenant_id, e->provider, e->external_id, &found);
    if (rc != CH_OK && rc != CH_ENOTFOUND) return rc;
    bool is_new = rc == CH_ENOTFOUND;
    if (is_new) found = (ch_call_found){.created_at = w->now, .before = {.is_new = true}};

    const char *month = month_of_now(w, job->tenant_tz);
    if (is_new) {
        if (job->monthly_limit > 0) {
            int64_t used = 0;
            if ((rc = w->be->usage_calls(w->b, job->tenant_id, month, &used))) return rc;
            used += usage_pending_calls(w, job->tenant_id, month);
            found.over_limit = used >= job->monthly_limit;
        }
        if (found.over_limit && job->hard_limit) {
            job->outcome[i] = CH_REC_REJECTED;
            job->reject_reason[i] = "monthly_limit_reached";
            return CH_OK;
        }
        new_call_id(w, found.id, w->now);
    }

    usage_delta *u = usage_slot(&w->job_usage, job->tenant_id, month);
    u->calls += is_new;
    u->events += 1;
    u->over_limit_calls += is_new && found.over_limit;

    ch_event_prepare(e);
    /* merge_call stores the event too, once it knows whether its metadata is kept */
    if ((rc = merge_call(w, job, &found, e))) return rc;
    job->outcome[i] = CH_REC_STORED;
    job->call_ids[i] = ch_strdup(found.id);
    job->over_limit[i] = found.over_limit;
    return CH_OK;
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

/* The administrative operations of a job; CH_OK, the refusal of one, or CH_ESTORE. An op after
 * a TENANT_ADD with tenant_id 0 acts on the tenant just added. */
static int run_ops(engine *w, ch_write_job *job)
{
    int64_t added_tenant = 0;
    for (size_t i = 0; i < job->nops; i++) {
        ch_op *op = &job->ops[i];
        if (op->kind != CH_OP_TENANT_ADD && !op->tenant_id) op->tenant_id = added_tenant;
        op->id_out = 0;
        if (op->kind == CH_OP_STAGE_RESULT)
            op->result = stage_result(w, op);
        else if (op->kind == CH_OP_PIPELINE_EXPIRE)
            op->result = pipeline_expire(w, op);
        else if (op->kind == CH_OP_RECORDING_FORGET)
            op->result = recording_forget(w, op);
        else
            op->result = w->be->op_apply(w->b, op);
        if (op->result != CH_OK) return op->result;
        if (op->kind == CH_OP_TENANT_ADD) added_tenant = op->id_out;
    }
    return CH_OK;
}

/* One job under its savepoint: CH_OK, an op's refusal, or CH_ESTORE. */
static int run_job(engine *w, ch_write_job *job)
{
    int rc = CH_OK;
    for (size_t i = 0; rc == CH_OK && i < job->n; i++)
        rc = process_event(w, job, i);
    for (size_t i = 0; rc == CH_OK && i < job->nresults; i++)
        rc = w->be->delivery_result(w->b, &job->results[i]);
    if (rc == CH_OK) rc = run_ops(w, job);
    return rc;
}

static void run_batch(engine *w, ch_write_job *batch, size_t njobs)
{
    ch_store *s = w->s;
    const ch_store_backend *be = w->be;
    w->now = ch_now_ms();
    int64_t t0 = ch_mono_ns();
    bool failed = be->tx_begin(w->b, w->now) != CH_OK;
    uint64_t stored = 0, dups = 0, refused = 0;
    w->batch_usage.n = w->job_usage.n = 0;

    for (ch_write_job *job = batch; !failed && job; job = job->next) {
        int rc = be->tx_savepoint(w->b);
        if (rc == CH_OK) rc = run_job(w, job);
        if (rc == CH_OK && (rc = be->tx_release(w->b)) == CH_OK) {
            usage_commit_job(w);
            job->result = CH_OK;
            continue;
        }
        /* this job is undone: its rows with its savepoint, its counts here */
        reset_outputs(job);
        job->result = rc == CH_ESTORE ? CH_ESTORE : rc;
        w->job_usage.n = 0;
        if (rc == CH_ESTORE && be->tx_fatal(w->b)) {
            failed = true; /* the database as a whole cannot write: the batch is abandoned */
            break;
        }
        be->tx_rollback_to(w->b);
    }
    if (!failed) {
        int rc = usage_flush(w);
        if (rc == CH_OK) rc = be->tx_commit(w->b);
        failed = rc != CH_OK;
    }
    if (failed) {
        be->tx_rollback(w->b);
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
    if (!failed) {
        const ch_change *v;
        size_t n;
        be->tx_changes(w->b, &v, &n);
        ch_feed_publish(s->feed, v, n);
    }

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

void *ch_engine_main(void *arg)
{
    pthread_setname_np(pthread_self(), "ch-writer"); /* top -H, perf: docs/internals/threads.md */
    engine w = {.s = arg};
    ch_store *s = w.s;
    w.be = s->be;
    w.b = s->b;
    ch_random_bytes(&w.id_state, sizeof w.id_state);
    for (;;) {
        pthread_mutex_lock(&s->lock);
        while (!s->head && !s->stopping) {
            if (atomic_load(&s->writable)) {
                pthread_cond_wait(&s->wake, &s->lock);
                continue;
            }
            /* while unwritable, a throw-away write every second, so /readyz recovers by
             * itself once the database takes writes again */
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
            atomic_store(&s->writable, w.be->probe(w.b));
            continue;
        }
        run_batch(&w, batch, njobs);
        for (ch_write_job *j = batch, *next; j; j = next) {
            next = j->next;
            j->next = NULL;
            j->done(j); /* may free j */
        }
        w.be->after_batch(w.b);
    }
    free(w.batch_usage.v);
    free(w.job_usage.v);
    return NULL;
}
