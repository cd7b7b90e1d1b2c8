/* The fold of a call's events into the call (src/core/merge.h, docs/merge.md): the same call
 * for every arrival order, status only forward, known values never erased by null or "",
 * duplicates changing nothing, legs that only fill gaps. States are compared field by field by
 * this file's own comparison, so a field forgotten by ch_callstate_cmp still fails here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/merge.h"
#include "util/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0    1715681100000LL /* 2024-05-14T10:05:00Z */
#define MAXEV 8

static ch_event *ev(const char *key, int64_t seq)
{
    ch_event *e = ch_event_new();
    e->provider = ch_strdup("generic");
    e->external_id = ch_strdup("call-1");
    e->idem_key = ch_strdup(key);
    e->seq = seq;
    return e;
}

/* A second delivery of e: same idempotency key, same content. */
static ch_event *dup_of(const ch_event *e)
{
    json_t *j = ch_event_to_json(e);
    ch_event *d = ch_event_from_json(j);
    json_decref(j);
    assert_non_null(d);
    return d;
}

static void fold(ch_merged *m, ch_event **evs, size_t n)
{
    ch_merge_fold(m, evs, n, "972");
}

static void free_all(ch_event **evs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ch_event_free(evs[i]);
}

/* ---- field-by-field comparison ------------------------------------------------------- */

static void same_str(const char *what, const char *field, const char *a, const char *b)
{
    if ((a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0))
        fail_msg("%s: %s differs: \"%s\" vs \"%s\"", what, field, a ? a : "(null)",
                 b ? b : "(null)");
}

static void same_num(const char *what, const char *field, int64_t a, int64_t b)
{
    if (a != b) fail_msg("%s: %s differs: %lld vs %lld", what, field, (long long)a, (long long)b);
}

static void assert_same_state(const ch_callstate *a, const ch_callstate *b, const char *what)
{
    static const char *const sname[] = {
        "id",        "from",          "to",         "from_raw", "to_raw",       "caller_name",
        "extension", "recording_url", "transcript", "summary",  "cost_currency"};
    const char *sa[] = {a->id,         a->from,        a->to,           a->from_raw,
                        a->to_raw,     a->caller_name, a->extension,    a->recording_url,
                        a->transcript, a->summary,     a->cost_currency};
    const char *sb[] = {b->id,         b->from,        b->to,           b->from_raw,
                        b->to_raw,     b->caller_name, b->extension,    b->recording_url,
                        b->transcript, b->summary,     b->cost_currency};
    for (size_t i = 0; i < sizeof sa / sizeof *sa; i++)
        same_str(what, sname[i], sa[i], sb[i]);
    static const char *const nname[] = {"direction",    "status",      "disposition",
                                        "started_at",   "answered_at", "ended_at",
                                        "duration_sec", "billsec",     "cost_micros"};
    const int64_t na[] = {a->direction,    a->status,      a->disposition,
                          a->started_at,   a->answered_at, a->ended_at,
                          a->duration_sec, a->billsec,     a->cost_micros};
    const int64_t nb[] = {b->direction,    b->status,      b->disposition,
                          b->started_at,   b->answered_at, b->ended_at,
                          b->duration_sec, b->billsec,     b->cost_micros};
    for (size_t i = 0; i < sizeof na / sizeof *na; i++)
        same_num(what, nname[i], na[i], nb[i]);
    bool ma = a->metadata && json_object_size(a->metadata);
    bool mb = b->metadata && json_object_size(b->metadata);
    if (ma != mb || (ma && !json_equal(a->metadata, b->metadata)))
        fail_msg("%s: metadata differs", what);
    /* and the library's own comparison agrees */
    if (ch_callstate_cmp(a, b) != 0) fail_msg("%s: ch_callstate_cmp says they differ", what);
}

static void assert_same_merged(const ch_merged *a, const ch_merged *b, const char *what)
{
    assert_same_state(&a->call, &b->call, what);
    same_num(what, "nlegs", (int64_t)a->nlegs, (int64_t)b->nlegs);
    for (size_t i = 0; i < a->nlegs; i++)
        assert_same_state(&a->legs[i], &b->legs[i], what);
}

/* ---- a realistic inbound call ----------------------------------------------------------- */

/* ringing, answered, ended with verdict/durations/cost, a late recording event carrying a
 * stale status, an analysis event with a summary and metadata, and an agent leg. */
static size_t build_call(ch_event **out)
{
    size_t n = 0;
    ch_event *e = ev("k1-ring", 1);
    e->direction = CH_DIR_INBOUND;
    e->status = CH_STATUS_RINGING;
    e->from_raw = ch_strdup("050-123-4567");
    e->to_raw = ch_strdup("03-123-4567");
    e->caller_name = ch_strdup("Dana");
    e->started_at = T0;
    e->metadata = json_pack("{s:s}", "queue", "sales");
    out[n++] = e;

    e = ev("k2-answer", 2);
    e->status = CH_STATUS_IN_PROGRESS;
    e->answered_at = T0 + 6000;
    e->started_at = T0 + 2000; /* later than the known start: the earliest stays */
    e->extension = ch_strdup("1001");
    out[n++] = e;

    e = ev("k3-end", 3);
    e->status = CH_STATUS_ENDED;
    e->disposition = CH_DISP_ANSWERED;
    e->ended_at = T0 + 192000;
    e->duration_sec = 192;
    e->billsec = 186;
    e->caller_name = ch_strdup("Dana Levi"); /* newer than "Dana": wins */
    e->cost_micros = 120000;
    e->cost_currency = ch_strdup("USD");
    out[n++] = e;

    e = ev("k4-recording", 4);
    e->recording_url = ch_strdup("https://r.example.com/1.mp3");
    e->status = CH_STATUS_RINGING; /* stale: must not move the call back */
    e->from_raw = ch_strdup("");   /* empty: must not erase */
    e->summary = ch_strdup("draft");
    out[n++] = e;

    /* the same sequence as k4 (two subsystems): the larger key, k5, is the newer */
    e = ev("k5-analysis", 4);
    e->summary = ch_strdup("asked about invoice 42");
    e->metadata = json_pack("{s:s, s:n, s:i}", "crm", "X1", "queue", "attempt", 2);
    out[n++] = e;

    e = ev("k6-leg", 2);
    e->leg_id = ch_strdup("leg-1001");
    e->to_raw = ch_strdup("1001"); /* must not replace the dialled number */
    e->extension = ch_strdup("1001");
    e->status = CH_STATUS_ENDED;
    e->disposition = CH_DISP_ANSWERED;
    e->answered_at = T0 + 6000;
    e->ended_at = T0 + 192000;
    out[n++] = e;
    return n;
}

/* What docs/merge.md makes of build_call's events, worked out rule by rule. */
static void check_final(const ch_merged *m)
{
    const ch_callstate *c = &m->call;
    assert_null(c->id);
    assert_int_equal(c->direction, CH_DIR_INBOUND);
    assert_int_equal(c->status, CH_STATUS_ENDED); /* max, despite k4 */
    assert_int_equal(c->disposition, CH_DISP_ANSWERED);
    assert_string_equal(c->from_raw, "050-123-4567"); /* "" in k4 erases nothing */
    assert_string_equal(c->from, "+972501234567");
    assert_string_equal(c->to_raw, "03-123-4567"); /* not the leg's 1001 */
    assert_string_equal(c->to, "+97231234567");
    assert_string_equal(c->caller_name, "Dana Levi");
    assert_string_equal(c->extension, "1001");
    assert_string_equal(c->recording_url, "https://r.example.com/1.mp3");
    assert_string_equal(c->summary, "asked about invoice 42");
    assert_null(c->transcript);
    assert_int_equal(c->started_at, T0);
    assert_int_equal(c->answered_at, T0 + 6000);
    assert_int_equal(c->ended_at, T0 + 192000);
    assert_int_equal(c->duration_sec, 192);
    assert_int_equal(c->billsec, 186);
    assert_int_equal(c->cost_micros, 120000);
    assert_string_equal(c->cost_currency, "USD");
    json_t *want = json_pack("{s:s, s:s, s:i}", "queue", "sales", "crm", "X1", "attempt", 2);
    assert_true(json_equal(c->metadata, want)); /* null for "queue" erased nothing */
    json_decref(want);

    assert_int_equal(m->nlegs, 1);
    const ch_callstate *l = &m->legs[0];
    assert_string_equal(l->id, "leg-1001");
    assert_string_equal(l->to_raw, "1001");
    assert_string_equal(l->to, "1001"); /* an extension is not a number: kept as is */
    assert_null(l->from_raw);
    assert_int_equal(l->status, CH_STATUS_ENDED);
    assert_int_equal(l->answered_at, T0 + 6000);
    assert_int_equal(l->started_at, CH_TIME_UNSET);
    assert_int_equal(l->duration_sec, CH_NUM_UNSET); /* no start time to derive it from */
    assert_int_equal(l->billsec, 186);               /* (ended - answered) / 1000 */
}

/* Heap's algorithm: calls fn for every permutation of a[0..n). */
static void permute(ch_event **a, size_t n, void (*fn)(ch_event **, size_t, void *), void *arg)
{
    size_t c[MAXEV] = {0};
    assert_true(n <= MAXEV);
    fn(a, n, arg);
    size_t i = 1;
    while (i < n) {
        if (c[i] < i) {
            size_t j = i % 2 ? c[i] : 0;
            ch_event *t = a[j];
            a[j] = a[i];
            a[i] = t;
            fn(a, n, arg);
            c[i]++;
            i = 1;
        } else {
            c[i++] = 0;
        }
    }
}

typedef struct {
    const ch_merged *want;
    void (*check)(const ch_merged *);
    size_t count;
} perm_state;

static void check_perm(ch_event **a, size_t n, void *arg)
{
    perm_state *ps = arg;
    ch_merged m;
    fold(&m, a, n);
    char what[64];
    snprintf(what, sizeof what, "permutation %zu", ps->count++);
    if (ps->check) ps->check(&m);
    assert_same_merged(&m, ps->want, what);
    ch_merged_clear(&m);
}

/* The six events plus a late second delivery of the answer event, in all 7! orders: every
 * one gives the call check_final expects, equal field by field to the fold of the six. */
static void every_permutation_gives_the_same_call(void **state)
{
    (void)state;
    ch_event *evs[MAXEV];
    size_t n = build_call(evs);
    ch_merged want;
    fold(&want, evs, n);
    check_final(&want);
    evs[n] = dup_of(evs[1]);
    n++;
    perm_state ps = {&want, check_final, 0};
    permute(evs, n, check_perm, &ps);
    assert_int_equal(ps.count, 5040);
    ch_merged_clear(&want);
    free_all(evs, n);
}

static void a_repeated_event_changes_nothing(void **state)
{
    (void)state;
    ch_event *evs[MAXEV + 1];
    size_t n = build_call(evs);
    ch_merged want;
    fold(&want, evs, n);
    for (size_t i = 0; i < n; i++) {
        evs[n] = dup_of(evs[i]);
        ch_merged m;
        fold(&m, evs, n + 1);
        char what[64];
        snprintf(what, sizeof what, "%s twice", evs[i]->idem_key);
        assert_same_merged(&m, &want, what);
        ch_merged_clear(&m);
        ch_event_free(evs[n]);
    }
    ch_merged_clear(&want);
    free_all(evs, n);
}

/* ---- rules one by one ------------------------------------------------------------------- */

static void status_never_moves_back(void **state)
{
    (void)state;
    ch_event *a = ev("a", 5), *b = ev("b", 9);
    a->status = CH_STATUS_ENDED;
    b->status = CH_STATUS_RINGING; /* newer by sequence, but ringing < ended */
    ch_event *evs[] = {a, b};
    ch_merged m;
    fold(&m, evs, 2);
    assert_int_equal(m.call.status, CH_STATUS_ENDED);
    ch_merged_clear(&m);
    free_all(evs, 2);
}

/* Call-level events arriving one by one, in every order: after each arrival the call's status
 * is never lower than before, and nothing known becomes unknown. */
static void check_prefixes(ch_event **a, size_t n, void *arg)
{
    size_t *orders = arg;
    ch_callstate prev;
    ch_callstate_init(&prev);
    for (size_t k = 1; k <= n; k++) {
        ch_merged m;
        fold(&m, a, k);
        const ch_callstate *c = &m.call;
        if (c->status < prev.status) fail_msg("status went back (order %zu)", *orders);
        if ((prev.from_raw && !c->from_raw) || (prev.caller_name && !c->caller_name) ||
            (prev.recording_url && !c->recording_url) ||
            (prev.started_at != CH_TIME_UNSET && c->started_at == CH_TIME_UNSET) ||
            (prev.ended_at != CH_TIME_UNSET && c->ended_at == CH_TIME_UNSET))
            fail_msg("a known value was lost (order %zu)", *orders);
        ch_callstate_clear(&prev);
        prev = m.call; /* prev takes the strings over */
        ch_callstate_init(&m.call);
        ch_merged_clear(&m);
    }
    assert_int_equal(prev.status, CH_STATUS_ENDED);
    ch_callstate_clear(&prev);
    (*orders)++;
}

static void status_only_moves_forward_as_events_arrive(void **state)
{
    (void)state;
    ch_event *all[MAXEV], *evs[MAXEV];
    size_t total = build_call(all), n = 0, orders = 0;
    for (size_t i = 0; i < total; i++)
        if (!all[i]->leg_id) evs[n++] = all[i];
    assert_int_equal(n, 5);
    permute(evs, n, check_prefixes, &orders);
    assert_int_equal(orders, 120);
    free_all(all, total);
}

static void null_and_empty_never_erase(void **state)
{
    (void)state;
    ch_event *a = ev("a", 1), *b = ev("b", 2);
    a->direction = CH_DIR_INBOUND;
    a->from_raw = ch_strdup("050-123-4567");
    a->to_raw = ch_strdup("03-123-4567");
    a->caller_name = ch_strdup("Noa");
    a->extension = ch_strdup("1001");
    a->recording_url = ch_strdup("https://r/1");
    a->transcript = ch_strdup("hello");
    a->summary = ch_strdup("greeting");
    a->started_at = T0;
    a->cost_micros = 5;
    a->cost_currency = ch_strdup("EUR");
    a->metadata = json_pack("{s:s}", "k", "v");
    /* b is newer and states nothing: "" for every string, unset numbers, null metadata */
    b->from_raw = ch_strdup("");
    b->to_raw = ch_strdup("");
    b->caller_name = ch_strdup("");
    b->extension = ch_strdup("");
    b->recording_url = ch_strdup("");
    b->transcript = ch_strdup("");
    b->summary = ch_strdup("");
    b->cost_currency = ch_strdup("");
    b->metadata = json_pack("{s:n}", "k");
    ch_event *evs[] = {a, b};
    ch_merged m, only_a;
    fold(&m, evs, 2);
    fold(&only_a, evs, 1);
    assert_same_merged(&m, &only_a, "a then an empty b");
    assert_string_equal(m.call.caller_name, "Noa");
    assert_string_equal(m.call.cost_currency, "EUR");
    assert_string_equal(json_string_value(json_object_get(m.call.metadata, "k")), "v");
    ch_merged_clear(&m);
    ch_merged_clear(&only_a);
    free_all(evs, 2);
}

static void newer_known_value_wins_by_sequence_then_timestamp(void **state)
{
    (void)state;
    ch_event *a = ev("a", 1), *b = ev("b", 1), *c = ev("c", CH_NUM_UNSET), *d = ev("d", 1);
    a->ts = T0 + 1000;
    a->extension = ch_strdup("2002");
    b->ts = T0; /* same sequence, older timestamp */
    b->extension = ch_strdup("1001");
    c->extension = ch_strdup("3003"); /* no sequence: older than any with one */
    d->extension = ch_strdup("4004"); /* same sequence, no timestamp: older */
    ch_event *evs[] = {a, b, c, d};
    ch_merged m;
    fold(&m, evs, 4);
    assert_string_equal(m.call.extension, "2002");
    ch_merged_clear(&m);
    /* equal sequence and timestamp: the larger idempotency key is newer */
    b->ts = a->ts;
    fold(&m, evs, 4);
    assert_string_equal(m.call.extension, "1001"); /* "b" > "a" */
    ch_merged_clear(&m);
    free_all(evs, 4);
}

static void ended_leg_does_not_end_a_live_call(void **state)
{
    (void)state;
    ch_event *call = ev("call", 1), *leg = ev("leg", 2);
    call->status = CH_STATUS_RINGING;
    call->to_raw = ch_strdup("600");
    leg->leg_id = ch_strdup("a");
    leg->status = CH_STATUS_ENDED;
    leg->disposition = CH_DISP_NO_ANSWER;
    leg->to_raw = ch_strdup("1001");
    leg->extension = ch_strdup("1001");
    leg->ended_at = T0 + 20000;
    ch_event *evs[] = {call, leg};
    ch_merged m;
    fold(&m, evs, 2);
    assert_int_equal(m.call.status, CH_STATUS_RINGING);
    assert_int_equal(m.call.disposition, CH_DISP_NONE);
    assert_int_equal(m.call.ended_at, CH_TIME_UNSET);
    assert_string_equal(m.call.to_raw, "600");
    assert_string_equal(m.call.extension, "1001"); /* a gap is filled */
    assert_int_equal(m.legs[0].status, CH_STATUS_ENDED);
    assert_int_equal(m.legs[0].disposition, CH_DISP_NO_ANSWER);
    ch_merged_clear(&m);
    free_all(evs, 2);
}

static void a_call_of_legs_only_is_answered_if_one_leg_was(void **state)
{
    (void)state;
    ch_event *a = ev("a", 1), *b = ev("b", 2);
    a->leg_id = ch_strdup("a");
    a->disposition = CH_DISP_NO_ANSWER;
    a->started_at = T0;
    a->ended_at = T0 + 20000;
    b->leg_id = ch_strdup("b");
    b->disposition = CH_DISP_ANSWERED;
    b->started_at = T0 + 20000;
    b->answered_at = T0 + 24000;
    b->ended_at = T0 + 60000;
    ch_event *evs[] = {b, a};
    ch_merged m;
    fold(&m, evs, 2);
    assert_int_equal(m.call.status, CH_STATUS_ENDED);
    assert_int_equal(m.call.disposition, CH_DISP_ANSWERED);
    assert_int_equal(m.call.started_at, T0);
    assert_int_equal(m.call.ended_at, T0 + 60000);
    assert_int_equal(m.call.duration_sec, 60); /* (60000 - 0) / 1000 */
    assert_int_equal(m.call.billsec, 36);      /* (60000 - 24000) / 1000 */
    assert_int_equal(m.nlegs, 2);
    assert_string_equal(m.legs[0].id, "a"); /* sorted by id */
    assert_string_equal(m.legs[1].id, "b");
    assert_int_equal(m.legs[0].duration_sec, 20);
    ch_merged_clear(&m);
    free_all(evs, 2);
}

static void derived_facts(void **state)
{
    (void)state;
    ch_event *a = ev("a", 1);
    a->answered_at = T0; /* an answer time alone: in progress, no verdict yet */
    ch_event *evs[] = {a};
    ch_merged m;
    fold(&m, evs, 1);
    assert_int_equal(m.call.status, CH_STATUS_IN_PROGRESS);
    assert_int_equal(m.call.disposition, CH_DISP_NONE);
    ch_merged_clear(&m);
    a->ended_at = T0 + 90500; /* an end time: ended, and answered because of the answer time */
    fold(&m, evs, 1);
    assert_int_equal(m.call.status, CH_STATUS_ENDED);
    assert_int_equal(m.call.disposition, CH_DISP_ANSWERED);
    assert_int_equal(m.call.billsec, 90); /* whole seconds */
    assert_int_equal(m.call.duration_sec, CH_NUM_UNSET);
    ch_merged_clear(&m);
    a->ended_at = CH_TIME_UNSET;
    a->answered_at = CH_TIME_UNSET;
    a->disposition = CH_DISP_BUSY; /* a final verdict other than answered: ended */
    fold(&m, evs, 1);
    assert_int_equal(m.call.status, CH_STATUS_ENDED);
    ch_merged_clear(&m);
    a->disposition = CH_DISP_ANSWERED; /* "answered" alone may arrive mid-call */
    fold(&m, evs, 1);
    assert_int_equal(m.call.status, CH_STATUS_NONE);
    ch_merged_clear(&m);
    free_all(evs, 1);
}

/* Per-event metadata limits (docs/merge.md, "Metadata limits"): keys at every depth, nesting,
 * compact JSON size; the limit itself is allowed, one more is not. */
static void metadata_limits_per_event(void **state)
{
    (void)state;
    char why[160];
    ch_event *e = ev("generic:m", 1);
    assert_int_equal(ch_event_check_metadata(e, why, sizeof why), 0); /* none */

    e->metadata = json_object();
    json_t *inner = json_object();
    for (int i = 0; i < CH_META_EVENT_MAX_KEYS - 1; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        json_object_set_new(inner, k, json_integer(i));
    }
    json_object_set_new(e->metadata, "inner", inner); /* the limit: inner's and "inner" */
    assert_int_equal(ch_event_check_metadata(e, why, sizeof why), 0);
    assert_int_equal(e->meta_bytes, json_dumpb(e->metadata, NULL, 0, JSON_COMPACT));
    json_object_set_new(inner, "one_more", json_true());
    assert_int_not_equal(ch_event_check_metadata(e, why, sizeof why), 0);
    char want[64];
    snprintf(want, sizeof want, "%d keys", CH_META_EVENT_MAX_KEYS + 1);
    assert_non_null(strstr(why, want));

    json_decref(e->metadata);
    e->metadata = json_object();
    json_t *v = e->metadata;
    for (int d = 1; d < CH_META_EVENT_MAX_DEPTH; d++) { /* at the limit: allowed */
        json_t *c = d % 2 && d != CH_META_EVENT_MAX_DEPTH - 1 ? json_object() : json_array();
        if (json_is_object(v))
            json_object_set_new(v, "d", c);
        else
            json_array_append_new(v, c);
        v = c;
    }
    assert_int_equal(ch_event_check_metadata(e, why, sizeof why), 0);
    json_array_append_new(v, json_object()); /* one level more */
    assert_int_not_equal(ch_event_check_metadata(e, why, sizeof why), 0);
    snprintf(want, sizeof want, "nested more than %d levels", CH_META_EVENT_MAX_DEPTH);
    assert_non_null(strstr(why, want));

    json_decref(e->metadata);
    e->metadata = json_object();
    char *big = ch_malloc(CH_META_EVENT_MAX_BYTES);
    memset(big, 'x', CH_META_EVENT_MAX_BYTES - 1);
    big[CH_META_EVENT_MAX_BYTES - 1] = '\0';
    json_object_set_new(e->metadata, "b", json_string(big));
    free(big);
    assert_int_not_equal(ch_event_check_metadata(e, why, sizeof why), 0);
    assert_non_null(strstr(why, "bytes as JSON"));
    ch_event_free(e);
}

/* What the writer records about an event's metadata survives the stored form: its size, a
 * reference to an earlier event's identical metadata, and why it was not kept. */
static void metadata_notes_survive_the_stored_form(void **state)
{
    (void)state;
    ch_event *a = ev("generic:a", 1);
    a->metadata = json_pack("{s:s}", "crm", "T-1");
    ch_event_prepare(a);
    assert_int_equal(a->meta_bytes, strlen("{\"crm\":\"T-1\"}"));
    ch_event *b = ev("generic:b", 2);
    b->meta_as = ch_strdup("generic:a");
    b->metadata = json_incref(a->metadata);
    ch_event *c = ev("generic:c", 3);
    c->meta_dropped = ch_strdup("the call's metadata would have 1001 keys");
    ch_event *in[] = {a, b, c};
    for (size_t i = 0; i < 3; i++) {
        ch_event_prepare(in[i]);
        json_t *j = json_loads(in[i]->norm, 0, NULL);
        ch_event *back = ch_event_from_json(j);
        json_t *again = ch_event_to_json(back);
        assert_true(json_equal(j, again));
        same_str("note", "meta_as", back->meta_as, in[i]->meta_as);
        same_str("note", "meta_dropped", back->meta_dropped, in[i]->meta_dropped);
        assert_int_equal(back->meta_bytes, in[i]->meta_as ? 0 : in[i]->meta_bytes);
        /* a reference carries no copy: the writer resolves it */
        if (in[i]->meta_as) assert_null(json_object_get(j, "metadata"));
        json_decref(again);
        json_decref(j);
        ch_event_free(back);
    }
    free_all(in, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_permutation_gives_the_same_call),
        cmocka_unit_test(a_repeated_event_changes_nothing),
        cmocka_unit_test(status_never_moves_back),
        cmocka_unit_test(status_only_moves_forward_as_events_arrive),
        cmocka_unit_test(null_and_empty_never_erase),
        cmocka_unit_test(newer_known_value_wins_by_sequence_then_timestamp),
        cmocka_unit_test(ended_leg_does_not_end_a_live_call),
        cmocka_unit_test(a_call_of_legs_only_is_answered_if_one_leg_was),
        cmocka_unit_test(derived_facts),
        cmocka_unit_test(metadata_limits_per_event),
        cmocka_unit_test(metadata_notes_survive_the_stored_form),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
