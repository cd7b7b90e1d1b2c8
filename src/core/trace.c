/* A call's trace as JSON (core/trace.h): the rows a backend read, in time order, with the
 * status changes and the routing decisions derived from them. */
#include "core/trace.h"
#include "core/lifecycle.h"
#include "core/merge.h"
#include "core/routing.h"
#include "util/limits.h"
#include "util/mem.h"
#include "util/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ch_call_trace_clear(ch_call_trace *t)
{
    free(t->call_id);
    free(t->country);
    for (size_t i = 0; i < t->nevents; i++) {
        ch_trace_event *e = &t->events[i];
        free(e->provider);
        free(e->kind);
        free(e->idem_key);
        free(e->leg_id);
        free(e->request_id);
        free(e->content_type);
        free(e->raw);
        if (e->norm) ch_event_free(e->norm);
    }
    free(t->events);
    for (int st = 0; st < CH_STAGE_COUNT; st++)
        ch_job_row_clear(&t->jobs[st]);
    for (size_t i = 0; i < t->nmessages; i++) {
        ch_trace_message *m = &t->messages[i];
        free(m->id);
        free(m->type);
        for (size_t k = 0; k < m->ndeliveries; k++)
            free(m->urls[k]);
        free(m->urls);
        ch_delivery_views_free(m->deliveries, m->ndeliveries);
    }
    free(t->messages);
    ch_endpoint_views_free(t->endpoints, t->nendpoints);
    memset(t, 0, sizeof *t);
}

/* ---- JSON helpers ------------------------------------------------------------------- */

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *num_or_null(int64_t v)
{
    return v == CH_NUM_UNSET ? json_null() : json_integer(v);
}

static json_t *time_ms(int64_t ms)
{
    if (ms == CH_TIME_UNSET) return json_null();
    char buf[40];
    ch_time_format_ms(ms, buf, sizeof buf);
    return json_string(buf);
}

/* The length of b[0..n) without a UTF-8 sequence its cut left incomplete at the end. */
static size_t whole_chars(const char *b, size_t n)
{
    size_t p = n;
    while (p > 0 && n - p < 4 && ((unsigned char)b[p - 1] & 0xC0) == 0x80)
        p--;
    if (p == 0) return n;
    unsigned char lead = (unsigned char)b[p - 1];
    size_t len = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    return p - 1 + len > n ? p - 1 : n;
}

/* A body as text: cut on a character boundary; bytes that are not UTF-8 (or NUL) become '?'. */
static json_t *body_text(const char *b, size_t n, bool cut)
{
    if (!b) return json_null();
    if (cut) n = whole_chars(b, n);
    json_t *s = json_stringn(b, n);
    if (s) return s;
    char *copy = ch_strndup(b, n);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)copy[i] >= 0x80 || copy[i] == 0) copy[i] = '?';
    s = json_stringn(copy, n);
    free(copy);
    return s;
}

/* ---- the timeline ------------------------------------------------------------------- */

typedef struct {
    int64_t at;
    size_t seq; /* order of creation: ties keep it (an event before the status it caused) */
    json_t *o;
} item;

typedef struct {
    item *v;
    size_t n, cap;
} timeline;

static json_t *add(timeline *tl, int64_t at, const char *what)
{
    if (tl->n == tl->cap) {
        tl->cap = tl->cap ? tl->cap * 2 : 32;
        tl->v = ch_realloc(tl->v, tl->cap * sizeof *tl->v);
    }
    json_t *o = json_object();
    json_object_set_new(o, "at", time_ms(at));
    json_object_set_new(o, "what", json_string(what));
    tl->v[tl->n] = (item){.at = at, .seq = tl->n, .o = o};
    tl->n++;
    return o;
}

static int by_time(const void *a, const void *b)
{
    const item *x = a, *y = b;
    if (x->at != y->at) return x->at < y->at ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void add_event(timeline *tl, const ch_trace_event *e)
{
    json_t *o = add(tl, e->received_at, "event");
    json_object_set_new(o, "id", json_integer(e->id));
    json_object_set_new(o, "provider", str_or_null(e->provider));
    json_object_set_new(o, "kind", str_or_null(e->kind));
    json_object_set_new(o, "idem_key", str_or_null(e->idem_key));
    json_object_set_new(o, "leg_id", str_or_null(e->leg_id));
    json_object_set_new(o, "request_id", str_or_null(e->request_id));
    json_object_set_new(o, "content_type", str_or_null(e->content_type));
    json_object_set_new(o, "size", json_integer((json_int_t)e->raw_size));
    bool cut = e->raw_len < e->raw_size;
    json_object_set_new(o, "body", body_text(e->raw, e->raw_len, cut));
    json_object_set_new(o, "body_truncated", json_boolean(cut));
    if (cut) {
        char note[96];
        snprintf(note, sizeof note, "the body is cut to its first %zu of %zu bytes", e->raw_len,
                 e->raw_size);
        json_object_set_new(o, "note", json_string(note));
    }
}

static void add_stage(timeline *tl, const ch_call_trace *t, int st)
{
    const ch_job_row *j = &t->jobs[st];
    /* placed where it ended (or started, or was planned): what it caused comes after */
    int64_t at = j->finished_at != CH_TIME_UNSET  ? j->finished_at
                 : j->started_at != CH_TIME_UNSET ? j->started_at
                                                  : t->job_created[st];
    json_t *o = add(tl, at, "stage");
    json_object_set_new(o, "stage", json_string(ch_stage_name((ch_stage)st)));
    json_object_set_new(o, "state", json_string(ch_job_state_str(j->state)));
    json_object_set_new(o, "engine", json_string(j->engine));
    json_object_set_new(o, "attempts", json_integer(j->attempts));
    json_object_set_new(o, "created_at", time_ms(t->job_created[st]));
    json_object_set_new(o, "started_at", time_ms(j->started_at));
    json_object_set_new(o, "finished_at", time_ms(j->finished_at));
    json_object_set_new(o, "ms", num_or_null(j->ms));
    json_object_set_new(o, "error", str_or_null(j->error));
}

static json_t *delivery_json(const ch_delivery_view *d, const char *url)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(d->id));
    json_object_set_new(o, "endpoint_id", json_integer(d->endpoint_id));
    json_object_set_new(o, "url", str_or_null(url));
    json_object_set_new(o, "state", str_or_null(d->state));
    json_object_set_new(o, "attempts", json_integer(d->attempts));
    bool pending = d->state && !strcmp(d->state, "pending");
    json_object_set_new(o, "next_attempt_at", pending ? time_ms(d->next_attempt_at) : json_null());
    json_object_set_new(o, "last_status", num_or_null(d->last_status));
    json_object_set_new(o, "last_error", str_or_null(d->last_error));
    json_t *log = json_array();
    for (size_t i = 0; i < d->nlog; i++) {
        const ch_attempt_view *a = &d->log[i];
        json_t *j = json_object();
        json_object_set_new(j, "at", time_ms(a->at));
        json_object_set_new(j, "status", num_or_null(a->status));
        json_object_set_new(j, "latency_ms", json_integer(a->latency_ms));
        json_object_set_new(j, "error", str_or_null(a->error));
        json_object_set_new(j, "trigger", str_or_null(a->trigger));
        json_array_append_new(log, j);
    }
    json_object_set_new(o, "attempt_log", log);
    return o;
}

/* What made a decision: an event (its id), the end of the pipeline (PIPELINE_END), or a
 * stage's result that came after the call completed (STAGE_RESULT: its call.updated). */
#define PIPELINE_END (-1)
#define STAGE_RESULT (-2)

static void cause_json(json_t *o, int64_t cause)
{
    json_object_set_new(o, "caused_by_event", cause > 0 ? json_integer(cause) : json_null());
    if (cause == PIPELINE_END)
        json_object_set_new(o, "caused_by", json_string("the enrichment pipeline finished"));
    else if (cause == STAGE_RESULT)
        json_object_set_new(o, "caused_by",
                            json_string("an enrichment stage's result after the call completed"));
}

static void add_message(timeline *tl, const ch_trace_message *m, int64_t cause)
{
    json_t *o = add(tl, m->created_at, "message");
    json_object_set_new(o, "id", json_string(m->id));
    json_object_set_new(o, "type", json_string(m->type));
    cause_json(o, cause);
    json_t *dl = json_array();
    for (size_t k = 0; k < m->ndeliveries; k++)
        json_array_append_new(dl, delivery_json(&m->deliveries[k], m->urls[k]));
    json_object_set_new(o, "deliveries", dl);
}

/* ---- routing decisions -------------------------------------------------------------- */

typedef struct {
    const ch_call_trace *t;
    timeline *tl;
    ch_route_endpoint *eps; /* the endpoints now */
    int64_t *ids;
    int64_t *cause; /* [nmessages] what created each message (cause_json); 0 = not found */
    bool *matched;  /* [nmessages] */
} decider;

/* A lifecycle event the change at `at` caused: the message it created, or the reason none was. */
static void decide(decider *d, const char *type, int64_t at, int64_t event_id, ch_direction dir)
{
    const ch_call_trace *t = d->t;
    for (size_t i = 0; i < t->nmessages; i++)
        if (!d->matched[i] && !strcmp(t->messages[i].type, type)) {
            d->matched[i] = true;
            d->cause[i] = event_id;
            return;
        }
    const char *reason = NULL;
    size_t n = ch_route_call_event(d->eps, t->nendpoints, dir, type, d->ids, &reason);
    if (n > 0 || t->messages_truncated) {
        if (t->messages_truncated) return; /* its message may be among those not shown */
        reason = "no endpoint took it then; the endpoints as they are now would (they changed "
                 "since)";
    }
    json_t *o = add(d->tl, at, "skipped");
    json_object_set_new(o, "type", json_string(type));
    json_object_set_new(o, "reason", json_string(reason));
    char decision[160]; /* as GET /v1/webhooks/skipped words it */
    snprintf(decision, sizeof decision, "skipped: %s", reason);
    json_object_set_new(o, "decision", json_string(decision));
    cause_json(o, event_id);
    json_object_set_new(o, "judged_against", json_string("the endpoints as they are now"));
}

static void decide_plan(decider *d, const ch_call_plan *p, int64_t at, int64_t event_id,
                        ch_direction dir)
{
    for (int i = 0; i < p->n; i++)
        decide(d, p->types[i], at, event_id, dir);
}

static ch_status shown_status(ch_status s)
{
    return s == CH_STATUS_NONE ? CH_STATUS_QUEUED : s; /* as lifecycle counts it */
}

/* When the pipeline finished (its last stage's end), CH_TIME_UNSET while it runs or when it
 * was never planned. */
static int64_t pipeline_end(const ch_call_trace *t, bool *planned)
{
    *planned = false;
    int64_t end = CH_TIME_UNSET;
    for (int st = 0; st < CH_STAGE_COUNT; st++) {
        if (t->jobs[st].state == CH_JOB_NONE) continue;
        *planned = true;
        if (t->jobs[st].finished_at != CH_TIME_UNSET && t->jobs[st].finished_at > end)
            end = t->jobs[st].finished_at;
    }
    return *planned && ch_pipeline_finished(t->jobs) ? end : CH_TIME_UNSET;
}

/* Folds the events in received order: after each, the status change it made (if any) and the
 * lifecycle events it caused, as the writer decided them (store/engine.c merge_call). */
static void fold(decider *d)
{
    const ch_call_trace *t = d->t;
    ch_event **evs = ch_calloc(t->nevents + 1, sizeof *evs);
    size_t k = 0;
    ch_merged prev = {0};
    bool have_prev = false;
    int64_t bits = 0;
    bool planned;
    int64_t finished = pipeline_end(t, &planned);
    bool completed_by_pipeline = false;
    ch_direction dir = t->direction;
    for (size_t i = 0; i <= t->nevents; i++) {
        int64_t at = i < t->nevents ? t->events[i].received_at : INT64_MAX;
        /* the stage result that finished the pipeline created call.completed */
        if (finished != CH_TIME_UNSET && !completed_by_pipeline && finished <= at && have_prev) {
            completed_by_pipeline = true;
            if (!(bits & CH_NOTE_COMPLETED) && prev.call.status == CH_STATUS_ENDED) {
                bits |= CH_NOTE_COMPLETED;
                decide(d, "call.completed", finished, PIPELINE_END, dir);
            }
        }
        if (i == t->nevents) break;
        const ch_trace_event *e = &t->events[i];
        if (!e->norm) continue;
        evs[k++] = e->norm;
        ch_merged m;
        ch_merge_fold(&m, evs, k, t->country);
        const ch_callstate *c = &m.call;
        dir = c->direction;
        ch_status before = have_prev ? shown_status(prev.call.status) : CH_STATUS_NONE;
        ch_disposition dbefore = have_prev ? prev.call.disposition : CH_DISP_NONE;
        if (before != shown_status(c->status) || dbefore != c->disposition) {
            json_t *o = add(d->tl, e->received_at, "status");
            json_object_set_new(o, "event_id", json_integer(e->id));
            json_object_set_new(o, "status_before", str_or_null(ch_status_str(before)));
            json_object_set_new(o, "status", str_or_null(ch_status_str(shown_status(c->status))));
            json_object_set_new(o, "disposition_before", str_or_null(ch_disposition_str(dbefore)));
            json_object_set_new(o, "disposition", str_or_null(ch_disposition_str(c->disposition)));
        }
        /* call.completed waits for a pipeline that runs: planned when the call ended */
        ch_call_before b = {.is_new = !have_prev,
                            .notified = bits,
                            .state_hash = 0,
                            .status = before,
                            .hold_completed = planned && !completed_by_pipeline};
        /* the writer hashes the whole call; the trace compares the merged states */
        int64_t changed = have_prev && ch_callstate_cmp(&prev.call, c) != 0;
        ch_call_plan plan;
        ch_lifecycle_plan(&b, c, changed, &plan);
        bits = plan.notified;
        decide_plan(d, &plan, e->received_at, e->id, c->direction);
        if (have_prev) ch_merged_clear(&prev);
        prev = m;
        have_prev = true;
    }
    if (have_prev) ch_merged_clear(&prev);
    free(evs);
}

/* A call.updated no event explains, created when or after a stage finished: that result. */
static void late_results(decider *d)
{
    const ch_call_trace *t = d->t;
    for (size_t i = 0; i < t->nmessages; i++) {
        if (d->matched[i] || strcmp(t->messages[i].type, "call.updated")) continue;
        for (int st = 0; st < CH_STAGE_COUNT; st++)
            if (t->jobs[st].state != CH_JOB_NONE && t->jobs[st].finished_at != CH_TIME_UNSET &&
                t->jobs[st].finished_at <= t->messages[i].created_at) {
                d->matched[i] = true;
                d->cause[i] = STAGE_RESULT;
                break;
            }
    }
}

json_t *ch_call_trace_json(const ch_call_trace *t)
{
    timeline tl = {0};
    size_t nm = t->nmessages;
    decider d = {.t = t,
                 .tl = &tl,
                 .eps = ch_calloc(t->nendpoints + 1, sizeof *d.eps),
                 .ids = ch_calloc(t->nendpoints + 1, sizeof *d.ids),
                 .cause = ch_calloc(nm + 1, sizeof *d.cause),
                 .matched = ch_calloc(nm + 1, sizeof *d.matched)};
    for (size_t i = 0; i < t->nendpoints; i++)
        d.eps[i] = (ch_route_endpoint){.id = t->endpoints[i].id,
                                       .kind = ch_endpoint_kind_parse(t->endpoints[i].kind),
                                       .enabled = t->endpoints[i].enabled,
                                       .events = t->endpoints[i].events};
    for (size_t i = 0; i < t->nevents; i++)
        add_event(&tl, &t->events[i]);
    fold(&d);
    late_results(&d);
    for (int st = 0; st < CH_STAGE_COUNT; st++)
        if (t->jobs[st].state != CH_JOB_NONE) add_stage(&tl, t, st);
    for (size_t i = 0; i < nm; i++)
        add_message(&tl, &t->messages[i], d.cause[i]);
    qsort(tl.v, tl.n, sizeof *tl.v, by_time);
    json_t *arr = json_array();
    for (size_t i = 0; i < tl.n; i++)
        json_array_append_new(arr, tl.v[i].o);
    free(tl.v);
    free(d.eps);
    free(d.ids);
    free(d.cause);
    free(d.matched);
    json_t *o = json_object();
    json_object_set_new(o, "call_id", json_string(t->call_id));
    json_object_set_new(o, "direction", json_string(ch_direction_str(t->direction)));
    json_object_set_new(o, "status", str_or_null(ch_status_str(t->status)));
    json_object_set_new(o, "disposition", str_or_null(ch_disposition_str(t->disposition)));
    json_object_set_new(o, "created_at", time_ms(t->created_at));
    json_object_set_new(o, "updated_at", time_ms(t->updated_at));
    json_object_set_new(o, "events_total", json_integer(t->events_total));
    json_object_set_new(o, "events_shown", json_integer((json_int_t)t->nevents));
    json_object_set_new(o, "messages_truncated", json_boolean(t->messages_truncated));
    json_object_set_new(o, "note",
                        json_string("a skipped decision is judged against the tenant's endpoints "
                                    "as they are now: callhook keeps only counters of skips "
                                    "(GET /v1/webhooks/skipped), not a record per event"));
    json_object_set_new(o, "timeline", arr);
    return o;
}
