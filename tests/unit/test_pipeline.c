/* The enrichment pipeline's decisions (src/core/pipeline.h, docs/enrichment.md): the settings'
 * rules, what a call that ends gets planned, how a finished stage moves the others, the
 * deadline, the overall state, and the call's enriched JSON. No database, no engines: the
 * writer and the workers carry these out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/lifecycle.h"
#include "core/pipeline.h"
#include "util/result.h"

#include <stdlib.h>
#include <string.h>

static ch_pipeline_settings defaults(void)
{
    ch_pipeline_settings s;
    char err[160];
    assert_int_equal(ch_pipeline_settings_parse(NULL, &s, err, sizeof err), CH_OK);
    return s;
}

static int patch(ch_pipeline_settings *s, const char *json, char *err, size_t n)
{
    json_t *j = json_loads(json, 0, NULL);
    assert_non_null(j);
    int rc = ch_pipeline_settings_apply(s, j, err, n);
    json_decref(j);
    return rc;
}

static void settings_are_checked_key_by_key_and_a_refusal_changes_nothing(void **state)
{
    (void)state;
    ch_pipeline_settings s = defaults();
    assert_string_equal(s.st[CH_STAGE_TRANSCRIPT].engine, "pocketsphinx");
    assert_string_equal(s.st[CH_STAGE_SUMMARY].engine, "extractive");
    assert_int_equal(s.deadline_s, 600);
    char err[200];
    assert_int_equal(patch(&s, "{\"summary\":{\"engine\":\"gpt\"}}", err, sizeof err), CH_EINVAL);
    assert_non_null(strstr(err, "summary.engine"));
    assert_int_equal(patch(&s, "{\"summary\":{\"engine\":\"openai\"}}", err, sizeof err),
                     CH_EINVAL);
    assert_non_null(strstr(err, "base_url"));
    assert_int_equal(patch(&s, "{\"colour\":1}", err, sizeof err), CH_EINVAL);
    assert_int_equal(patch(&s, "{\"deadline_s\":5}", err, sizeof err), CH_EINVAL);
    assert_int_equal(patch(&s, "{\"transcript\":{\"base_url\":\"ftp://x\"}}", err, sizeof err),
                     CH_EINVAL);
    /* a patch with one bad key applies none of its good ones */
    assert_int_equal(patch(&s, "{\"deadline_s\":60,\"sentiment\":{\"redo\":1}}", err, sizeof err),
                     CH_EINVAL);
    assert_int_equal(s.deadline_s, 600);
    assert_int_equal(patch(&s,
                           "{\"deadline_s\":60,\"transcript\":{\"engine\":\"openai\",\"base_url\":"
                           "\"http://w/v1\",\"api_key\":\"sk-secret\",\"language\":\"he\"}}",
                           err, sizeof err),
                     CH_OK);
    assert_int_equal(s.deadline_s, 60);
    /* shown without the key, stored with it; the stored form parses back the same */
    json_t *shown = ch_pipeline_settings_json(&s, false);
    char *text = json_dumps(shown, 0);
    assert_null(strstr(text, "sk-secret"));
    assert_non_null(strstr(text, "\"api_key_set\": true"));
    free(text);
    json_decref(shown);
    json_t *stored = ch_pipeline_settings_json(&s, true);
    text = json_dumps(stored, JSON_COMPACT);
    ch_pipeline_settings back;
    assert_int_equal(ch_pipeline_settings_parse(text, &back, err, sizeof err), CH_OK);
    assert_string_equal(back.st[CH_STAGE_TRANSCRIPT].api_key, "sk-secret");
    assert_string_equal(back.st[CH_STAGE_TRANSCRIPT].language, "he");
    free(text);
    json_decref(stored);
    ch_pipeline_settings_clear(&back);
    ch_pipeline_settings_clear(&s);
}

static ch_callstate ended(const char *recording, const char *transcript, const char *summary)
{
    ch_callstate c;
    ch_callstate_init(&c);
    c.status = CH_STATUS_ENDED;
    c.recording_url = recording ? strdup(recording) : NULL;
    c.transcript = transcript ? strdup(transcript) : NULL;
    c.summary = summary ? strdup(summary) : NULL;
    return c;
}

static void a_call_with_a_recording_gets_the_chain_in_order(void **state)
{
    (void)state;
    ch_pipeline_settings s = defaults();
    ch_callstate c = ended("https://r/1.wav", NULL, NULL);
    ch_pipeline_plan p;
    ch_pipeline_plan_call(&s, &c, false, 1000, &p);
    assert_null(p.skip_reason);
    assert_int_equal(p.jobs[CH_STAGE_RECORDING].state, CH_JOB_PENDING);
    for (int st = CH_STAGE_TRANSCRIPT; st < CH_STAGE_COUNT; st++)
        assert_int_equal(p.jobs[st].state, CH_JOB_WAITING);
    assert_int_equal(p.jobs[CH_STAGE_RECORDING].deadline, 1000 + 600 * 1000);
    assert_string_equal(ch_pipeline_state(p.jobs), "running");

    /* the recording done: the transcript is due; the transcript done: the other three */
    p.jobs[CH_STAGE_RECORDING].state = CH_JOB_DONE;
    assert_int_equal(ch_pipeline_advance(p.jobs, 2000), 1);
    assert_int_equal(p.jobs[CH_STAGE_TRANSCRIPT].state, CH_JOB_PENDING);
    assert_int_equal(p.jobs[CH_STAGE_SUMMARY].state, CH_JOB_WAITING);
    p.jobs[CH_STAGE_TRANSCRIPT].state = CH_JOB_DONE;
    assert_int_equal(ch_pipeline_advance(p.jobs, 3000), 3);
    assert_false(ch_pipeline_finished(p.jobs));
    for (int st = CH_STAGE_SUMMARY; st < CH_STAGE_COUNT; st++)
        p.jobs[st].state = CH_JOB_DONE;
    assert_true(ch_pipeline_finished(p.jobs));
    assert_string_equal(ch_pipeline_state(p.jobs), "done");
    ch_pipeline_plan_clear(&p);
    ch_callstate_clear(&c);
    ch_pipeline_settings_clear(&s);
}

static void a_failed_recording_skips_what_needs_it_in_one_pass(void **state)
{
    (void)state;
    ch_pipeline_settings s = defaults();
    ch_callstate c = ended("https://r/1.wav", NULL, NULL);
    ch_pipeline_plan p;
    ch_pipeline_plan_call(&s, &c, false, 0, &p);
    p.jobs[CH_STAGE_RECORDING].state = CH_JOB_FAILED;
    assert_int_equal(ch_pipeline_advance(p.jobs, 10), 0);
    for (int st = CH_STAGE_TRANSCRIPT; st < CH_STAGE_COUNT; st++) {
        assert_int_equal(p.jobs[st].state, CH_JOB_SKIPPED);
        assert_non_null(p.jobs[st].error);
    }
    assert_non_null(strstr(p.jobs[CH_STAGE_TRANSCRIPT].error, "recording"));
    assert_true(ch_pipeline_finished(p.jobs));
    assert_string_equal(ch_pipeline_state(p.jobs), "failed");
    ch_pipeline_plan_clear(&p);
    ch_callstate_clear(&c);
    ch_pipeline_settings_clear(&s);
}

static void what_the_provider_sent_is_kept_unless_redone(void **state)
{
    (void)state;
    ch_pipeline_settings s = defaults();
    /* Bolna/Retell/Vapi: a transcript and a summary came with the call */
    ch_callstate c = ended("https://r/1.wav", "Agent: hi", "Booked.");
    ch_pipeline_plan p;
    ch_pipeline_plan_call(&s, &c, false, 0, &p);
    assert_int_equal(p.jobs[CH_STAGE_RECORDING].state, CH_JOB_PENDING); /* kept for playing */
    assert_int_equal(p.jobs[CH_STAGE_TRANSCRIPT].state, CH_JOB_SKIPPED);
    assert_string_equal(p.jobs[CH_STAGE_TRANSCRIPT].error, "provided");
    assert_int_equal(p.jobs[CH_STAGE_SUMMARY].state, CH_JOB_SKIPPED);
    assert_int_equal(p.jobs[CH_STAGE_FIELDS].state, CH_JOB_PENDING); /* on the provider's text */
    assert_int_equal(p.jobs[CH_STAGE_SENTIMENT].state, CH_JOB_PENDING);
    ch_pipeline_plan_clear(&p);

    char err[160];
    assert_int_equal(patch(&s, "{\"transcript\":{\"redo\":true}}", err, sizeof err), CH_OK);
    ch_pipeline_plan_call(&s, &c, false, 0, &p);
    assert_int_equal(p.jobs[CH_STAGE_TRANSCRIPT].state, CH_JOB_WAITING);
    assert_int_equal(p.jobs[CH_STAGE_FIELDS].state, CH_JOB_WAITING); /* on ours, then */
    ch_pipeline_plan_clear(&p);
    ch_callstate_clear(&c);

    /* a transcript and no recording: the text stages run at once */
    c = ended(NULL, "Agent: hi", NULL);
    ch_pipeline_plan_call(&s, &c, false, 0, &p);
    assert_null(p.skip_reason);
    assert_int_equal(p.jobs[CH_STAGE_RECORDING].state, CH_JOB_NONE);
    assert_int_equal(p.jobs[CH_STAGE_SUMMARY].state, CH_JOB_PENDING);
    ch_pipeline_plan_clear(&p);
    ch_callstate_clear(&c);
    ch_pipeline_settings_clear(&s);
}

static void nothing_to_run_completes_at_once_and_says_why(void **state)
{
    (void)state;
    ch_pipeline_settings s = defaults();
    ch_pipeline_plan p;
    ch_callstate c = ended(NULL, NULL, NULL);
    ch_pipeline_plan_call(&s, &c, false, 0, &p);
    assert_string_equal(p.skip_reason, "no_recording");
    ch_callstate_clear(&c);
    c = ended("https://r/1.wav", NULL, NULL);
    ch_pipeline_plan_call(&s, &c, true, 0, &p);
    assert_string_equal(p.skip_reason, "over_limit");
    char err[160];
    assert_int_equal(patch(&s,
                           "{\"recording\":{\"enabled\":false},\"transcript\":{\"engine\":"
                           "\"none\"}}",
                           err, sizeof err),
                     CH_OK);
    ch_pipeline_plan_call(&s, &c, false, 0, &p);
    assert_string_equal(p.skip_reason, "disabled");
    for (int st = 0; st < CH_STAGE_COUNT; st++)
        assert_int_equal(p.jobs[st].state, CH_JOB_NONE);
    char *e = ch_pipeline_enriched(p.jobs, p.skip_reason);
    json_t *j = json_loads(e, 0, NULL);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "enrichment"), "state")), "skipped");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "enrichment"), "reason")), "disabled");
    json_decref(j);
    free(e);
    ch_callstate_clear(&c);
    ch_pipeline_settings_clear(&s);
}

static void the_deadline_fails_what_is_open_and_the_state_is_partial(void **state)
{
    (void)state;
    ch_pipeline_settings s = defaults();
    ch_callstate c = ended("https://r/1.wav", NULL, NULL);
    ch_pipeline_plan p;
    ch_pipeline_plan_call(&s, &c, false, 0, &p);
    p.jobs[CH_STAGE_RECORDING].state = CH_JOB_DONE;
    p.jobs[CH_STAGE_RECORDING].result = strdup("{\"sha256\":\"ab\",\"mime\":\"audio/wav\"}");
    ch_pipeline_advance(p.jobs, 1);
    assert_int_equal(ch_pipeline_expire(p.jobs, 2), 4);
    assert_true(ch_pipeline_finished(p.jobs));
    assert_int_equal(p.jobs[CH_STAGE_TRANSCRIPT].state, CH_JOB_FAILED);
    assert_string_equal(p.jobs[CH_STAGE_TRANSCRIPT].error, "deadline passed");
    assert_string_equal(ch_pipeline_state(p.jobs), "partial");
    assert_int_equal(ch_pipeline_expire(p.jobs, 3), 0); /* once */

    /* a result after the deadline still lands in the call */
    p.jobs[CH_STAGE_TRANSCRIPT].state = CH_JOB_DONE;
    p.jobs[CH_STAGE_TRANSCRIPT].result =
        strdup("{\"text\":\"hello\",\"segments\":[{\"start\":0.5,\"end\":1,\"text\":\"hello\","
               "\"speaker\":null}]}");
    char *e = ch_pipeline_enriched(p.jobs, NULL);
    json_t *j = json_loads(e, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(j, "transcript")), "hello");
    assert_int_equal(json_array_size(json_object_get(j, "transcript_segments")), 1);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "recording"), "mime")),
                        "audio/wav");
    json_t *stages = json_object_get(json_object_get(j, "enrichment"), "stages");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(stages, "summary"), "state")), "failed");
    assert_null(json_object_get(j, "summary"));
    json_decref(j);
    free(e);
    ch_pipeline_plan_clear(&p);
    ch_callstate_clear(&c);
    ch_pipeline_settings_clear(&s);
}

/* call.completed waits for the pipeline: the bit the writer sets holds it back */
static void call_completed_waits_for_the_pipeline(void **state)
{
    (void)state;
    ch_callstate c = ended("https://r/1.wav", NULL, NULL);
    ch_call_before b = {.is_new = true};
    ch_call_plan plan;
    ch_lifecycle_plan(&b, &c, 1, &plan);
    bool completed = false;
    for (int i = 0; i < plan.n; i++)
        completed |= !strcmp(plan.types[i], "call.completed");
    assert_true(completed);
    b.hold_completed = true;
    ch_lifecycle_plan(&b, &c, 1, &plan);
    for (int i = 0; i < plan.n; i++)
        assert_string_not_equal(plan.types[i], "call.completed");
    assert_false(plan.notified & CH_NOTE_COMPLETED);
    ch_callstate_clear(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(settings_are_checked_key_by_key_and_a_refusal_changes_nothing),
        cmocka_unit_test(a_call_with_a_recording_gets_the_chain_in_order),
        cmocka_unit_test(a_failed_recording_skips_what_needs_it_in_one_pass),
        cmocka_unit_test(what_the_provider_sent_is_kept_unless_redone),
        cmocka_unit_test(nothing_to_run_completes_at_once_and_says_why),
        cmocka_unit_test(the_deadline_fails_what_is_open_and_the_state_is_partial),
        cmocka_unit_test(call_completed_waits_for_the_pipeline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
