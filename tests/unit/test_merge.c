/* The merge on its own (docs/merge.md): order independence over every permutation, status only
 * forward, no null overwrite, legs that only fill gaps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "store/merge.h"
#include "util/mem.h"

#include <stdlib.h>
#include <string.h>

#define T0 1715681100000LL /* 2024-05-14T10:05:00Z */

static ch_event *ev(const char *key, int64_t seq)
{
    ch_event *e = ch_event_new();
    e->provider = ch_strdup("generic");
    e->external_id = ch_strdup("call-1");
    e->idem_key = ch_strdup(key);
    e->seq = seq;
    return e;
}

static void fold(ch_merged *m, ch_event **evs, size_t n)
{
    ch_merge_fold(m, evs, n, "972");
}

/* A realistic inbound call: ringing, answered, ended with verdict and numbers, a late recording
 * event, an analysis event with a summary and metadata, and an agent leg. */
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
    e->extension = ch_strdup("1001");
    out[n++] = e;

    e = ev("k3-end", 3);
    e->status = CH_STATUS_ENDED;
    e->disposition = CH_DISP_ANSWERED;
    e->ended_at = T0 + 192000;
    e->duration_sec = 192;
    e->billsec = 186;
    e->caller_name = ch_strdup("Dana Levi"); /* newer value wins */
    e->cost_micros = 120000;
    e->cost_currency = ch_strdup("USD");
    out[n++] = e;

    e = ev("k4-recording", 4);
    e->recording_url = ch_strdup("https://r.example.com/1.mp3");
    e->status = CH_STATUS_RINGING; /* a stale status on a late event must not move it back */
    out[n++] = e;

    e = ev("k5-analysis", 5);
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

static void free_all(ch_event **evs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ch_event_free(evs[i]);
}

static void check_final(const ch_merged *m)
{
    const ch_callstate *c = &m->call;
    assert_int_equal(c->direction, CH_DIR_INBOUND);
    assert_int_equal(c->status, CH_STATUS_ENDED);
    assert_int_equal(c->disposition, CH_DISP_ANSWERED);
    assert_string_equal(c->from_raw, "050-123-4567");
    assert_string_equal(c->from, "+972501234567");
    assert_string_equal(c->to_raw, "03-123-4567");
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
    assert_string_equal(json_string_value(json_object_get(c->metadata, "queue")), "sales");
    assert_string_equal(json_string_value(json_object_get(c->metadata, "crm")), "X1");
    assert_int_equal(json_integer_value(json_object_get(c->metadata, "attempt")), 2);
    assert_int_equal(m->nlegs, 1);
    assert_string_equal(m->legs[0].id, "leg-1001");
    assert_string_equal(m->legs[0].to_raw, "1001");
}

/* Heap's algorithm: calls fn for every permutation of a[0..n). */
static void permute(ch_event **a, size_t n, void (*fn)(ch_event **, size_t, void *), void *arg)
{
    size_t c[8] = {0};
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
    ch_merged first;
    size_t count;
} perm_state;

static void check_perm(ch_event **a, size_t n, void *arg)
{
    perm_state *ps = arg;
    ch_merged m;
    fold(&m, a, n);
    if (ps->count++ == 0) {
        check_final(&m);
        ps->first = m;
        return;
    }
    assert_int_equal(ch_callstate_cmp(&m.call, &ps->first.call), 0);
    assert_int_equal(m.nlegs, ps->first.nlegs);
    for (size_t i = 0; i < m.nlegs; i++)
        assert_int_equal(ch_callstate_cmp(&m.legs[i], &ps->first.legs[i]), 0);
    ch_merged_clear(&m);
}

static void every_permutation_gives_the_same_call(void **state)
{
    (void)state;
    ch_event *evs[8];
    size_t n = build_call(evs);
    perm_state ps = {0};
    permute(evs, n, check_perm, &ps);
    assert_int_equal(ps.count, 720); /* 6! orders, all compared with the first */
    ch_merged_clear(&ps.first);
    free_all(evs, n);
}

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

static void null_and_empty_never_erase(void **state)
{
    (void)state;
    ch_event *a = ev("a", 1), *b = ev("b", 2);
    a->caller_name = ch_strdup("Noa");
    a->recording_url = ch_strdup("https://r/1");
    a->metadata = json_pack("{s:s}", "k", "v");
    b->caller_name = ch_strdup(""); /* empty */
    b->metadata = json_pack("{s:n}", "k");
    ch_event *evs[] = {a, b};
    ch_merged m;
    fold(&m, evs, 2);
    assert_string_equal(m.call.caller_name, "Noa");
    assert_string_equal(m.call.recording_url, "https://r/1");
    assert_string_equal(json_string_value(json_object_get(m.call.metadata, "k")), "v");
    ch_merged_clear(&m);
    free_all(evs, 2);
}

static void newer_known_value_wins_by_sequence_then_timestamp(void **state)
{
    (void)state;
    ch_event *a = ev("a", 1), *b = ev("b", 1), *c = ev("c", CH_NUM_UNSET);
    a->ts = T0 + 1000;
    a->extension = ch_strdup("2002");
    b->ts = T0; /* same sequence, older timestamp */
    b->extension = ch_strdup("1001");
    c->extension = ch_strdup("3003"); /* no sequence sorts first */
    ch_event *evs[] = {a, b, c};
    ch_merged m;
    fold(&m, evs, 3);
    assert_string_equal(m.call.extension, "2002");
    ch_merged_clear(&m);
    free_all(evs, 3);
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
    assert_int_equal(m.call.duration_sec, 60); /* derived from the times */
    assert_int_equal(m.call.billsec, 36);
    assert_int_equal(m.nlegs, 2);
    assert_string_equal(m.legs[0].id, "a"); /* sorted by id */
    ch_merged_clear(&m);
    free_all(evs, 2);
}

static void derived_facts(void **state)
{
    (void)state;
    ch_event *a = ev("a", 1);
    a->answered_at = T0; /* an answer time alone: in progress */
    ch_event *evs[] = {a};
    ch_merged m;
    fold(&m, evs, 1);
    assert_int_equal(m.call.status, CH_STATUS_IN_PROGRESS);
    assert_int_equal(m.call.disposition, CH_DISP_NONE);
    ch_merged_clear(&m);
    a->disposition = CH_DISP_BUSY; /* a final verdict other than answered: ended */
    fold(&m, evs, 1);
    assert_int_equal(m.call.status, CH_STATUS_ENDED);
    ch_merged_clear(&m);
    free_all(evs, 1);
}

static void event_json_round_trip(void **state)
{
    (void)state;
    ch_event *src[8];
    size_t n = build_call(src);
    for (size_t i = 0; i < n; i++) {
        json_t *j = ch_event_to_json(src[i]);
        ch_event *back = ch_event_from_json(j);
        assert_non_null(back);
        ch_merged m1, m2;
        fold(&m1, &src[i], 1);
        fold(&m2, &back, 1);
        assert_int_equal(ch_callstate_cmp(&m1.call, &m2.call), 0);
        ch_merged_clear(&m1);
        ch_merged_clear(&m2);
        ch_event_free(back);
        json_decref(j);
    }
    free_all(src, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_permutation_gives_the_same_call),
        cmocka_unit_test(status_never_moves_back),
        cmocka_unit_test(null_and_empty_never_erase),
        cmocka_unit_test(newer_known_value_wins_by_sequence_then_timestamp),
        cmocka_unit_test(ended_leg_does_not_end_a_live_call),
        cmocka_unit_test(a_call_of_legs_only_is_answered_if_one_leg_was),
        cmocka_unit_test(derived_facts),
        cmocka_unit_test(event_json_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
