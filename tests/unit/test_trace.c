/* A call's trace (src/core/trace.h) from rows made by hand: the status changes folded in
 * received order, messages matched to the events that caused them, skipped lifecycle events
 * with routing's reason (and the one that says the endpoints changed since), call.completed
 * held by the pipeline, and a body cut on a character boundary. No database: this is core's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/trace.h"
#include "util/mem.h"

#include <stdlib.h>
#include <string.h>

#define T0 1764000000000LL

static void trace_init(ch_call_trace *t, ch_direction dir)
{
    memset(t, 0, sizeof *t);
    t->call_id = ch_strdup("c_test");
    t->country = ch_strdup("1");
    t->direction = dir;
    t->status = CH_STATUS_ENDED;
    t->created_at = T0;
    t->updated_at = T0 + 1000;
    for (int st = 0; st < CH_STAGE_COUNT; st++) {
        t->jobs[st].state = CH_JOB_NONE;
        t->jobs[st].started_at = t->jobs[st].finished_at = CH_TIME_UNSET;
        t->jobs[st].ms = CH_NUM_UNSET;
        t->job_created[st] = CH_TIME_UNSET;
    }
    t->events = ch_calloc(8, sizeof *t->events);
}

/* An event of the call received at T0 + dt ms. */
static void add_event(ch_call_trace *t, int64_t dt, ch_direction dir, ch_status status)
{
    ch_trace_event *e = &t->events[t->nevents++];
    e->id = (int64_t)t->nevents;
    e->received_at = T0 + dt;
    e->provider = ch_strdup("generic");
    char key[32];
    snprintf(key, sizeof key, "generic:e%zu", t->nevents);
    e->idem_key = ch_strdup(key);
    e->raw = ch_strdup("{}");
    e->raw_len = e->raw_size = 2;
    ch_event *n = ch_event_new();
    n->provider = ch_strdup("generic");
    n->external_id = ch_strdup("x1");
    n->idem_key = ch_strdup(key);
    n->direction = dir;
    n->status = status;
    e->norm = n;
    t->events_total = (int64_t)t->nevents;
}

static void add_endpoint(ch_call_trace *t, const char *kind)
{
    t->endpoints = ch_realloc(t->endpoints, (t->nendpoints + 1) * sizeof *t->endpoints);
    ch_endpoint_view *e = &t->endpoints[t->nendpoints++];
    memset(e, 0, sizeof *e);
    e->id = (int64_t)t->nendpoints;
    e->url = ch_strdup("https://rx.example/hook");
    e->kind = ch_strdup(kind);
    e->events = ch_strdup("*");
    e->enabled = true;
}

static void add_message(ch_call_trace *t, const char *type, int64_t dt)
{
    t->messages = ch_realloc(t->messages, (t->nmessages + 1) * sizeof *t->messages);
    ch_trace_message *m = &t->messages[t->nmessages++];
    memset(m, 0, sizeof *m);
    char id[40];
    snprintf(id, sizeof id, "msg_%zu", t->nmessages);
    m->id = ch_strdup(id);
    m->type = ch_strdup(type);
    m->created_at = T0 + dt;
    m->ndeliveries = 1;
    m->deliveries = ch_calloc(1, sizeof *m->deliveries);
    m->deliveries[0].id = (int64_t)t->nmessages;
    m->deliveries[0].endpoint_id = 1;
    m->deliveries[0].state = ch_strdup("succeeded");
    m->deliveries[0].attempts = 1;
    m->deliveries[0].last_status = 200;
    m->urls = ch_calloc(1, sizeof *m->urls);
    m->urls[0] = ch_strdup("https://rx.example/hook");
}

static json_t *items(json_t *trace, const char *what)
{
    json_t *out = json_array(), *v;
    size_t i;
    json_array_foreach(json_object_get(trace, "timeline"), i, v)
    {
        if (!strcmp(json_string_value(json_object_get(v, "what")), what)) json_array_append(out, v);
    }
    return out;
}

static const char *str(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static void status_changes_fold_in_received_order_and_skips_name_routing_reason(void **state)
{
    (void)state;
    ch_call_trace t;
    trace_init(&t, CH_DIR_INBOUND);
    add_event(&t, 0, CH_DIR_INBOUND, CH_STATUS_RINGING);
    add_event(&t, 10, CH_DIR_UNKNOWN, CH_STATUS_IN_PROGRESS);
    add_event(&t, 20, CH_DIR_UNKNOWN, CH_STATUS_ENDED);
    json_t *tr = ch_call_trace_json(&t);
    json_t *st = items(tr, "status");
    assert_int_equal(json_array_size(st), 3);
    assert_true(json_is_null(json_object_get(json_array_get(st, 0), "status_before")));
    assert_string_equal(str(json_array_get(st, 0), "status"), "ringing");
    assert_string_equal(str(json_array_get(st, 1), "status_before"), "ringing");
    assert_string_equal(str(json_array_get(st, 1), "status"), "in_progress");
    assert_string_equal(str(json_array_get(st, 2), "status"), "ended");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(st, 2), "event_id")), 3);
    json_t *sk = items(tr, "skipped");
    /* started + 3 status changes + answered + ended + completed, none sent */
    assert_int_equal(json_array_size(sk), 7);
    json_t *v;
    size_t i;
    json_array_foreach(sk, i, v)
    {
        assert_string_equal(str(v, "reason"), "no endpoint for inbound calls");
        assert_string_equal(str(v, "decision"), "skipped: no endpoint for inbound calls");
    }
    assert_string_equal(str(json_array_get(sk, 0), "type"), "call.started");
    assert_string_equal(str(json_array_get(sk, 6), "type"), "call.completed");
    json_t *ms = items(tr, "message");
    assert_int_equal(json_array_size(ms), 0);
    json_decref(ms);
    json_decref(sk);
    json_decref(st);
    json_decref(tr);
    ch_call_trace_clear(&t);
}

static void messages_are_matched_to_the_event_that_caused_them(void **state)
{
    (void)state;
    ch_call_trace t;
    trace_init(&t, CH_DIR_OUTBOUND);
    add_event(&t, 0, CH_DIR_OUTBOUND, CH_STATUS_RINGING);
    add_event(&t, 50, CH_DIR_UNKNOWN, CH_STATUS_ENDED);
    add_endpoint(&t, "outbound");
    add_message(&t, "call.started", 0);
    add_message(&t, "call.status_changed", 0);
    add_message(&t, "call.status_changed", 50);
    add_message(&t, "call.ended", 50);
    add_message(&t, "call.completed", 50);
    json_t *tr = ch_call_trace_json(&t);
    json_t *sk = items(tr, "skipped"), *ms = items(tr, "message");
    assert_int_equal(json_array_size(sk), 0);
    assert_int_equal(json_array_size(ms), 5);
    int64_t want[] = {1, 1, 2, 2, 2};
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(
            json_integer_value(json_object_get(json_array_get(ms, i), "caused_by_event")), want[i]);
    /* an event, the change it made, then the messages it caused */
    json_t *tl = json_object_get(tr, "timeline");
    assert_string_equal(str(json_array_get(tl, 0), "what"), "event");
    assert_string_equal(str(json_array_get(tl, 1), "what"), "status");
    assert_string_equal(str(json_array_get(tl, 2), "what"), "message");
    json_t *d = json_array_get(json_object_get(json_array_get(ms, 0), "deliveries"), 0);
    assert_string_equal(str(d, "url"), "https://rx.example/hook");
    assert_string_equal(str(d, "state"), "succeeded");
    json_decref(sk);
    json_decref(ms);
    json_decref(tr);
    ch_call_trace_clear(&t);
}

static void a_skip_todays_endpoints_would_take_says_they_changed(void **state)
{
    (void)state;
    ch_call_trace t;
    trace_init(&t, CH_DIR_INBOUND);
    add_event(&t, 0, CH_DIR_INBOUND, CH_STATUS_RINGING);
    add_endpoint(&t, "generic"); /* added after the call: no message was made */
    json_t *tr = ch_call_trace_json(&t);
    json_t *sk = items(tr, "skipped");
    assert_int_equal(json_array_size(sk), 2); /* started, status_changed */
    assert_non_null(strstr(str(json_array_get(sk, 0), "reason"), "changed since"));
    assert_string_equal(str(json_array_get(sk, 0), "judged_against"),
                        "the endpoints as they are now");
    json_decref(sk);
    json_decref(tr);
    ch_call_trace_clear(&t);
}

static void call_completed_waits_for_the_pipeline(void **state)
{
    (void)state;
    ch_call_trace t;
    trace_init(&t, CH_DIR_INBOUND);
    add_event(&t, 0, CH_DIR_INBOUND, CH_STATUS_ENDED);
    t.jobs[CH_STAGE_RECORDING].state = CH_JOB_DONE;
    snprintf(t.jobs[CH_STAGE_RECORDING].engine, CH_ENGINE_NAME, "fetch");
    t.jobs[CH_STAGE_RECORDING].attempts = 1;
    t.job_created[CH_STAGE_RECORDING] = T0;
    t.jobs[CH_STAGE_RECORDING].started_at = T0 + 100;
    t.jobs[CH_STAGE_RECORDING].finished_at = T0 + 300;
    add_event(&t, 500, CH_DIR_UNKNOWN, CH_STATUS_ENDED); /* a late repeat: nothing new */
    json_t *tr = ch_call_trace_json(&t);
    json_t *sk = items(tr, "skipped");
    json_t *last = NULL, *v;
    size_t i;
    json_array_foreach(sk, i, v) if (!strcmp(str(v, "type"), "call.completed")) last = v;
    assert_non_null(last);
    assert_true(json_is_null(json_object_get(last, "caused_by_event")));
    assert_string_equal(str(last, "caused_by"), "the enrichment pipeline finished");
    json_t *stage = items(tr, "stage");
    assert_int_equal(json_array_size(stage), 1);
    assert_string_equal(str(json_array_get(stage, 0), "state"), "done");
    assert_string_equal(str(json_array_get(stage, 0), "at"), str(last, "at"));
    /* completed once: not at the end event (held), not again at the repeat */
    size_t completed = 0;
    json_array_foreach(sk, i, v) completed += !strcmp(str(v, "type"), "call.completed");
    assert_int_equal(completed, 1);
    json_decref(stage);
    json_decref(sk);
    json_decref(tr);
    ch_call_trace_clear(&t);
}

/* A stage result after completion (a late transcript) creates call.updated: the trace says so
 * instead of leaving its cause null. */
static void a_late_stage_result_explains_its_call_updated(void **state)
{
    (void)state;
    ch_call_trace t;
    trace_init(&t, CH_DIR_INBOUND);
    add_endpoint(&t, "inbound");
    add_event(&t, 0, CH_DIR_INBOUND, CH_STATUS_ENDED);
    add_message(&t, "call.started", 0);
    add_message(&t, "call.ended", 0);
    t.jobs[CH_STAGE_RECORDING].state = CH_JOB_DONE;
    t.job_created[CH_STAGE_RECORDING] = T0;
    t.jobs[CH_STAGE_RECORDING].finished_at = T0 + 200;
    t.jobs[CH_STAGE_TRANSCRIPT].state = CH_JOB_FAILED; /* passed the deadline */
    t.job_created[CH_STAGE_TRANSCRIPT] = T0;
    t.jobs[CH_STAGE_TRANSCRIPT].finished_at = T0 + 600;
    add_message(&t, "call.completed", 600);
    t.jobs[CH_STAGE_TRANSCRIPT].state = CH_JOB_DONE; /* its answer came later */
    t.jobs[CH_STAGE_TRANSCRIPT].finished_at = T0 + 900;
    add_message(&t, "call.updated", 900);
    json_t *tr = ch_call_trace_json(&t);
    json_t *ms = items(tr, "message"), *v, *upd = NULL;
    size_t i;
    json_array_foreach(ms, i, v) if (!strcmp(str(v, "type"), "call.updated")) upd = v;
    assert_non_null(upd);
    assert_true(json_is_null(json_object_get(upd, "caused_by_event")));
    assert_string_equal(str(upd, "caused_by"),
                        "an enrichment stage's result after the call completed");
    json_decref(ms);
    json_decref(tr);
    ch_call_trace_clear(&t);
}

static void a_cut_body_ends_on_a_character_boundary(void **state)
{
    (void)state;
    ch_call_trace t;
    trace_init(&t, CH_DIR_INBOUND);
    add_event(&t, 0, CH_DIR_INBOUND, CH_STATUS_RINGING);
    free(t.events[0].raw);
    t.events[0].raw = ch_strdup("\xc3\xa9\xc3\xa9\xc3\xa9\xc3"); /* 3½ "é": cut mid-character */
    t.events[0].raw_len = 7;
    t.events[0].raw_size = 20;
    json_t *tr = ch_call_trace_json(&t);
    json_t *ev = items(tr, "event");
    json_t *e = json_array_get(ev, 0);
    assert_string_equal(str(e, "body"), "\xc3\xa9\xc3\xa9\xc3\xa9");
    assert_true(json_is_true(json_object_get(e, "body_truncated")));
    assert_int_equal(json_integer_value(json_object_get(e, "size")), 20);
    assert_non_null(strstr(str(e, "note"), "7 of 20"));
    json_decref(ev);
    json_decref(tr);
    ch_call_trace_clear(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(status_changes_fold_in_received_order_and_skips_name_routing_reason),
        cmocka_unit_test(messages_are_matched_to_the_event_that_caused_them),
        cmocka_unit_test(a_skip_todays_endpoints_would_take_says_they_changed),
        cmocka_unit_test(call_completed_waits_for_the_pipeline),
        cmocka_unit_test(a_late_stage_result_explains_its_call_updated),
        cmocka_unit_test(a_cut_body_ends_on_a_character_boundary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
