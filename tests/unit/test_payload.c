/* Webhook bodies (src/core/payload.h): rebuilt from the recorded examples'
 * (docs/examples/webhooks/<type>.json, recorded from the daemon, and flat/<type>.json, the
 * flat shape of the same message) call, ids and times, every one
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

/* The flat body (ch_payload_flat_from_envelope): rebuilt from the recorded call.completed
 * envelope, it must be docs/examples/webhooks/flat/call.completed.json byte for byte, and
 * ch_payload_flat from the same call JSON must give the same. */
static void flat_is_the_recorded_example(void **state)
{
    (void)state;
    json_t *ex = example("call.completed"), *want = example("flat/call.completed");
    char *env = json_dumps(ex, JSON_COMPACT), *want_s = json_dumps(want, JSON_COMPACT);
    char *got = ch_payload_flat_from_envelope(env, strlen(env));
    assert_non_null(got);
    assert_string_equal(got, want_s);
    free(got);
    json_t *f = ch_payload_flat("call.completed", json_string_value(json_object_get(ex, "id")),
                                json_string_value(json_object_get(ex, "timestamp")), "acme",
                                json_object_get(json_object_get(ex, "data"), "call"));
    got = json_dumps(f, JSON_COMPACT);
    assert_string_equal(got, want_s);
    free(got);
    json_decref(f);
    free(env);
    free(want_s);
    json_decref(want);
    json_decref(ex);
}

static const char *const flat_keys[] = {
    "event_type", "timestamp",     "business_id",  "call_id",    "lead_id",
    "phone",      "customer_name", "direction",    "city",       "service_category",
    "started_at", "ended_at",      "duration_sec", "transcript", "summary",
    "agent_name", "metadata",      "message_id",   "version"};

/* Every call.* event has a flat body with exactly the documented keys in the documented order,
 * its own type and the envelope's id; other messages (endpoint.disabled, test) and what is not
 * an envelope have none (NULL: sent as stored). */
static void flat_for_call_events_only(void **state)
{
    (void)state;
    static const char *const types[] = {
        "call.started", "call.status_changed", "call.answered",  "call.recording_ready",
        "call.ended",   "call.failed",         "call.completed", "call.updated"};
    for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
        json_t *ex = example(types[i]);
        char *env = json_dumps(ex, JSON_COMPACT);
        char *got = ch_payload_flat_from_envelope(env, strlen(env));
        assert_non_null(got);
        json_t *f = json_loads(got, JSON_DECODE_ANY, NULL);
        assert_true(json_is_object(f));
        assert_int_equal(json_object_size(f), sizeof flat_keys / sizeof *flat_keys);
        size_t k = 0;
        const char *key;
        json_t *v;
        json_object_foreach(f, key, v) assert_string_equal(key, flat_keys[k++]);
        assert_string_equal(json_string_value(json_object_get(f, "event_type")), types[i]);
        assert_true(json_equal(json_object_get(f, "message_id"), json_object_get(ex, "id")));
        assert_true(json_equal(json_object_get(f, "timestamp"), json_object_get(ex, "timestamp")));
        assert_int_equal(json_integer_value(json_object_get(f, "version")), CH_PAYLOAD_VERSION);
        json_decref(f);
        free(got);
        free(env);
        json_decref(ex);
    }
    static const char *const others[] = {"endpoint.disabled", "test"};
    for (size_t i = 0; i < 2; i++) {
        json_t *ex = example(others[i]);
        char *env = json_dumps(ex, JSON_COMPACT);
        assert_null(ch_payload_flat_from_envelope(env, strlen(env)));
        free(env);
        json_decref(ex);
    }
    static const char *const bad[] = {"", "{", "[]", "{\"type\":\"call.ended\",\"data\":{}}",
                                      "{\"type\":\"call.ended\",\"data\":{\"call\":{}}}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_null(ch_payload_flat_from_envelope(bad[i], strlen(bad[i])));
    assert_null(ch_payload_flat_from_envelope(NULL, 0));
}

/* city, service_category and customer_name: enrichment's fields first, then the sender's
 * metadata / the directory's lead / the inbound caller name; lead_id and agent_name null when
 * nobody knows them; metadata {} when the call has none. */
static void flat_prefers_enrichment_fields(void **state)
{
    (void)state;
    json_t *call = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s}, s:{s:s, s:n, s:s}, s:{s:s}}", "id", "c_1",
        "direction", "inbound", "from", "+15550001", "to", "+15550002", "caller_name", "CALLER",
        "metadata", "city", "MetaCity", "service_category", "meta-svc", "fields", "city", "Haifa",
        "service_category", "customer_name", "Dana", "lead", "name", "Lead Name");
    json_t *f =
        ch_payload_flat("call.completed", "msg_x", "2026-01-01T00:00:00.000Z", "acme", call);
    assert_string_equal(json_string_value(json_object_get(f, "business_id")), "acme");
    assert_string_equal(json_string_value(json_object_get(f, "phone")), "+15550001");
    assert_string_equal(json_string_value(json_object_get(f, "city")), "Haifa");
    assert_string_equal(json_string_value(json_object_get(f, "service_category")), "meta-svc");
    assert_string_equal(json_string_value(json_object_get(f, "customer_name")), "Dana");
    assert_true(json_is_null(json_object_get(f, "lead_id")));
    assert_true(json_is_null(json_object_get(f, "agent_name")));
    assert_true(json_is_null(json_object_get(f, "transcript")));
    json_decref(f);
    /* the standard data reads the same fields the same way */
    json_t *d = ch_payload_call_data(call, "call.completed", CH_STATUS_NONE);
    assert_string_equal(json_string_value(json_object_get(d, "city")), "Haifa");
    assert_string_equal(json_string_value(json_object_get(d, "customer_name")), "Dana");
    json_decref(d);

    json_object_del(call, "fields");
    f = ch_payload_flat("call.ended", "msg_x", "2026-01-01T00:00:00.000Z", "acme", call);
    assert_string_equal(json_string_value(json_object_get(f, "city")), "MetaCity");
    assert_string_equal(json_string_value(json_object_get(f, "customer_name")), "Lead Name");
    json_decref(f);

    json_object_del(call, "lead");
    json_object_del(call, "metadata");
    f = ch_payload_flat("call.ended", "msg_x", "2026-01-01T00:00:00.000Z", "acme", call);
    assert_string_equal(json_string_value(json_object_get(f, "customer_name")), "CALLER");
    assert_true(json_is_null(json_object_get(f, "city")));
    assert_true(json_is_object(json_object_get(f, "metadata")));
    assert_int_equal(json_object_size(json_object_get(f, "metadata")), 0);
    json_decref(f);

    /* outbound: the callee's number, and the caller name is the tenant's own */
    json_object_set_new(call, "direction", json_string("outbound"));
    f = ch_payload_flat("call.ended", "msg_x", "2026-01-01T00:00:00.000Z", "acme", call);
    assert_string_equal(json_string_value(json_object_get(f, "phone")), "+15550002");
    assert_true(json_is_null(json_object_get(f, "customer_name")));
    json_decref(f);
    assert_null(ch_payload_flat("call.ended", "msg_x", "2026-01-01T00:00:00.000Z", NULL, call));
    json_decref(call);
}

static void payload_shapes_parse(void **state)
{
    (void)state;
    assert_int_equal(ch_payload_shape_parse("standard"), CH_PAYLOAD_STANDARD);
    assert_int_equal(ch_payload_shape_parse("flat"), CH_PAYLOAD_FLAT);
    assert_int_equal(ch_payload_shape_parse("Flat"), -1);
    assert_int_equal(ch_payload_shape_parse(""), -1);
    assert_int_equal(ch_payload_shape_parse(NULL), -1);
    assert_string_equal(ch_payload_shape_str(CH_PAYLOAD_FLAT), "flat");
    assert_string_equal(ch_payload_shape_str(CH_PAYLOAD_STANDARD), "standard");
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
        cmocka_unit_test(flat_is_the_recorded_example),
        cmocka_unit_test(flat_for_call_events_only),
        cmocka_unit_test(flat_prefers_enrichment_fields),
        cmocka_unit_test(payload_shapes_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
