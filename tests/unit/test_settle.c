/* What a delivery result implies (src/core/settle.h, docs/webhooks.md "Delivery and retries"):
 * per outcome, the steps the store backend takes, and when the failing clock disables an
 * endpoint. No database: the decisions are core's, the SQL is the backend's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/settle.h"

#include <string.h>

static ch_settle_plan plan(ch_delivery_result r)
{
    ch_settle_plan p;
    memset(&p, 0xa5, sizeof p); /* every member is set, not left over */
    ch_settle_plan_of(&r, &p);
    return p;
}

static char call[] = "c_1";

static void a_first_success_settles_and_resets_the_clock(void **state)
{
    (void)state;
    ch_settle_plan p = plan((ch_delivery_result){.outcome = CH_DLV_SUCCEEDED, .call_id = call});
    assert_true(p.attempt);
    assert_string_equal(p.state, "succeeded");
    assert_true(p.report_settled);
    assert_true(p.endpoint_ok);
    /* a first-attempt success held nothing back, so it frees nothing */
    assert_false(p.release_call);
    assert_false(p.hold_call);
    assert_false(p.hold_endpoint);
    assert_false(p.disable);
    assert_false(p.endpoint_failing);
}

static void a_success_after_retries_releases_the_calls_later_deliveries(void **state)
{
    (void)state;
    ch_settle_plan p = plan(
        (ch_delivery_result){.outcome = CH_DLV_SUCCEEDED, .call_id = call, .prior_attempts = 2});
    assert_true(p.release_call);
    p = plan((ch_delivery_result){.outcome = CH_DLV_SUCCEEDED, .call_id = call, .manual = true});
    assert_true(p.release_call);
    /* a message of no call (test, endpoint.disabled) has no call to release */
    p = plan((ch_delivery_result){.outcome = CH_DLV_SUCCEEDED, .prior_attempts = 2});
    assert_false(p.release_call);
    assert_true(p.endpoint_ok);
}

static void a_retry_stays_pending_and_holds_the_call_back(void **state)
{
    (void)state;
    ch_settle_plan p = plan((ch_delivery_result){.outcome = CH_DLV_RETRY, .call_id = call});
    assert_true(p.attempt);
    assert_string_equal(p.state, "pending");
    assert_false(p.report_settled); /* not settled yet */
    assert_true(p.hold_call);
    assert_false(p.endpoint_ok);
    assert_false(p.endpoint_failing); /* only an exhausted message starts the clock */
    p = plan((ch_delivery_result){.outcome = CH_DLV_RETRY});
    assert_false(p.hold_call);
    /* 429/503: the whole endpoint waits */
    p = plan((ch_delivery_result){.outcome = CH_DLV_RETRY, .call_id = call, .pause_until = 5});
    assert_true(p.hold_endpoint);
}

static void an_exhausted_message_runs_the_failing_clock(void **state)
{
    (void)state;
    ch_settle_plan p = plan((ch_delivery_result){.outcome = CH_DLV_FAILED, .call_id = call});
    assert_true(p.attempt);
    assert_string_equal(p.state, "failed");
    assert_true(p.report_settled);
    assert_true(p.endpoint_failing);
    assert_false(p.endpoint_ok);
    assert_false(p.hold_call);
    /* a replay or test that fails says nothing about the endpoint's live traffic */
    p = plan((ch_delivery_result){.outcome = CH_DLV_FAILED, .manual = true});
    assert_false(p.endpoint_failing);
}

static void gone_disables_at_once(void **state)
{
    (void)state;
    ch_settle_plan p = plan((ch_delivery_result){
        .outcome = CH_DLV_FAILED, .disable_reason = "the receiver answered 410 Gone"});
    assert_true(p.disable);
    assert_false(p.endpoint_failing); /* disabled already: no clock */
    assert_true(p.report_settled);
}

static void a_pause_records_no_attempt(void **state)
{
    (void)state;
    ch_settle_plan p = plan((ch_delivery_result){.outcome = CH_DLV_PAUSE, .pause_until = 9});
    assert_false(p.attempt);
    assert_null(p.state);
    assert_false(p.report_settled);
    assert_true(p.hold_endpoint);
    assert_false(p.hold_call);
    assert_false(p.endpoint_ok);
    assert_false(p.endpoint_failing);
}

static void the_clock_disables_after_the_configured_time(void **state)
{
    (void)state;
    assert_false(ch_settle_disable_due(1000, 1000, 60000));
    assert_false(ch_settle_disable_due(1000, 60999, 60000));
    assert_true(ch_settle_disable_due(1000, 61000, 60000));
    /* not configured: 5 days */
    assert_false(ch_settle_disable_due(0, CH_SETTLE_DISABLE_AFTER_MS - 1, 0));
    assert_true(ch_settle_disable_due(0, CH_SETTLE_DISABLE_AFTER_MS, 0));
    assert_true(ch_settle_disable_due(0, CH_SETTLE_DISABLE_AFTER_MS, -1));
    assert_int_equal(CH_SETTLE_DISABLE_AFTER_MS, 432000LL * 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_first_success_settles_and_resets_the_clock),
        cmocka_unit_test(a_success_after_retries_releases_the_calls_later_deliveries),
        cmocka_unit_test(a_retry_stays_pending_and_holds_the_call_back),
        cmocka_unit_test(an_exhausted_message_runs_the_failing_clock),
        cmocka_unit_test(gone_disables_at_once),
        cmocka_unit_test(a_pause_records_no_attempt),
        cmocka_unit_test(the_clock_disables_after_the_configured_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
