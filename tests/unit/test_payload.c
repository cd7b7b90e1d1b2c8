/* Webhook bodies (src/core/payload.h): rebuilt from the recorded examples'
 * (docs/examples/webhooks/<type>.json, recorded from the daemon) call, ids and times, every one
 * must come out byte for byte as recorded: member order included, since receivers verify the
 * signature over these bytes and the examples are the documented contract. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/payload.h"
#include "util/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *example(const char *type)
{
    const char *fx = getenv("CH_FIXTURES"); /* tests/fixtures */
    char path[1024];
    snprintf(path, sizeof path, "%s/../../docs/examples/webhooks/%s.json",
             fx ? fx : "tests/fixtures", type);
    json_error_t err;
    json_t *j = json_load_file(path, 0, &err);
    if (!j) fail_msg("%s: %s", path, err.text);
    return j;
}

/* The example's id, split into its time (which is also the envelope's timestamp) and its
 * random part; checks the message id format on the way. */
static int64_t id_parts(json_t *ex, uint64_t *rnd)
{
    const char *id = json_string_value(json_object_get(ex, "id"));
    assert_non_null(id);
    assert_int_equal(strlen(id), 28);
    assert_memory_equal(id, "msg_", 4);
    char t[13] = {0};
    memcpy(t, id + 4, 12);
    *rnd = strtoull(id + 16, NULL, 16);
    int64_t ms = (int64_t)strtoull(t, NULL, 16);
    char out[CH_MESSAGE_ID_SIZE];
    ch_message_id(out, ms, *rnd);
    assert_string_equal(out, id);
    return ms;
}

static void same_bytes(json_t *ex, json_t *data)
{
    uint64_t rnd;
    int64_t ms = id_parts(ex, &rnd);
    char id[CH_MESSAGE_ID_SIZE];
    ch_message_id(id, ms, rnd);
    char *got = ch_payload_envelope(json_string_value(json_object_get(ex, "type")), id, ms,
                                    json_string_value(json_object_get(ex, "tenant")), data);
    char *want = json_dumps(ex, JSON_COMPACT);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
    free(want);
}

static void call_events_are_the_recorded_bytes(void **state)
{
    (void)state;
    static const char *const types[] = {
        "call.started", "call.status_changed", "call.answered",  "call.recording_ready",
        "call.ended",   "call.failed",         "call.completed", "call.updated"};
    for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
        json_t *ex = example(types[i]);
        json_t *d = json_object_get(ex, "data");
        json_t *call = json_object_get(d, "call");
        assert_non_null(call);
        ch_status prev = CH_STATUS_NONE;
        const char *p = json_string_value(json_object_get(d, "previous_status"));
        if (p) {
            int s = ch_status_parse(p);
            assert_true(s > 0);
            prev = (ch_status)s;
        }
        json_t *data = ch_payload_call_data(call, types[i], prev);
        same_bytes(ex, data);
        json_decref(data);
        json_decref(ex);
    }
}

static void endpoint_disabled_and_test_are_the_recorded_bytes(void **state)
{
    (void)state;
    json_t *ex = example("endpoint.disabled");
    json_t *d = json_object_get(ex, "data");
    int64_t at;
    assert_int_equal(ch_time_parse(json_string_value(json_object_get(d, "disabled_at")), NULL, &at),
                     0);
    json_t *data =
        ch_payload_endpoint_disabled_data(json_integer_value(json_object_get(d, "endpoint_id")),
                                          json_string_value(json_object_get(d, "url")),
                                          json_string_value(json_object_get(d, "reason")), at);
    same_bytes(ex, data);
    json_decref(data);
    json_decref(ex);

    ex = example("test");
    d = json_object_get(ex, "data");
    data = ch_payload_test_data(json_integer_value(json_object_get(d, "endpoint_id")),
                                json_string_value(json_object_get(d, "url")));
    same_bytes(ex, data);
    json_decref(data);
    json_decref(ex);
}

/* previous_status: only in call.status_changed, null for a call first seen. */
static void previous_status_only_for_status_changes(void **state)
{
    (void)state;
    json_t *call =
        json_pack("{s:s, s:s, s:s}", "id", "c_1", "direction", "inbound", "status", "in_progress");
    json_t *d = ch_payload_call_data(call, "call.status_changed", CH_STATUS_RINGING);
    assert_string_equal(json_string_value(json_object_get(d, "previous_status")), "ringing");
    json_decref(d);
    d = ch_payload_call_data(call, "call.status_changed", CH_STATUS_NONE);
    assert_true(json_is_null(json_object_get(d, "previous_status")));
    json_decref(d);
    d = ch_payload_call_data(call, "call.answered", CH_STATUS_RINGING);
    assert_null(json_object_get(d, "previous_status"));
    json_decref(d);
    json_decref(call);
}

/* phone and customer_name come from the other party: the caller of an inbound call, the callee
 * of an outbound one (whose caller_name is ours, not the customer's); the sender's lead_id and
 * agent_name before the directory's. */
static void flat_fields_follow_the_direction(void **state)
{
    (void)state;
    json_t *call =
        json_pack("{s:s, s:s, s:s, s:n, s:s, s:s, s:{s:s}, s:{s:s}}", "id", "c_1", "direction",
                  "outbound", "from", "+15550001", "to", "to_raw", "050-1", "caller_name", "Office",
                  "lead", "id", "L-dir", "metadata", "agent_name", "Ann");
    json_t *d = ch_payload_call_data(call, "call.ended", CH_STATUS_NONE);
    assert_string_equal(json_string_value(json_object_get(d, "phone")), "050-1");
    assert_true(json_is_null(json_object_get(d, "customer_name")));
    assert_string_equal(json_string_value(json_object_get(d, "lead_id")), "L-dir");
    assert_string_equal(json_string_value(json_object_get(d, "agent_name")), "Ann");
    assert_true(json_is_null(json_object_get(d, "city")));
    assert_ptr_equal(json_object_get(d, "call"), call); /* borrowed, not copied */
    json_decref(d);
    json_object_set_new(call, "direction", json_string("inbound"));
    json_object_set_new(json_object_get(call, "metadata"), "lead_id", json_integer(7));
    d = ch_payload_call_data(call, "call.ended", CH_STATUS_NONE);
    assert_string_equal(json_string_value(json_object_get(d, "phone")), "+15550001");
    assert_string_equal(json_string_value(json_object_get(d, "customer_name")), "Office");
    assert_int_equal(json_integer_value(json_object_get(d, "lead_id")), 7);
    json_decref(d);
    json_decref(call);
}

static void message_ids_sort_by_time_and_keep_48_random_bits(void **state)
{
    (void)state;
    char a[CH_MESSAGE_ID_SIZE], b[CH_MESSAGE_ID_SIZE];
    ch_message_id(a, 1000, UINT64_MAX);
    ch_message_id(b, 1001, 0);
    assert_string_equal(a, "msg_0000000003e8ffffffffffff");
    assert_string_equal(b, "msg_0000000003e9000000000000");
    assert_true(strcmp(a, b) < 0);
}

/* A missing tenant is refused (NULL), not a body with a null member. */
static void an_envelope_without_tenant_is_refused(void **state)
{
    (void)state;
    json_t *data = json_object();
    assert_null(ch_payload_envelope("test", "msg_x", 0, NULL, data));
    json_decref(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(call_events_are_the_recorded_bytes),
        cmocka_unit_test(endpoint_disabled_and_test_are_the_recorded_bytes),
        cmocka_unit_test(previous_status_only_for_status_changes),
        cmocka_unit_test(flat_fields_follow_the_direction),
        cmocka_unit_test(message_ids_sort_by_time_and_keep_48_random_bits),
        cmocka_unit_test(an_envelope_without_tenant_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
