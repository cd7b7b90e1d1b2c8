/* The pure parts of the diagnostics report (src/delivery/diagnose.h): the routing answer in
 * plain words for each direction, the messages of a call read from its trace, and how a
 * reachability check becomes url_valid / url_problem / reachable. The report's reads and
 * connects are proved by tests/blackbox/diagnostics.test.mjs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "delivery/diagnose.h"

#include <string.h>

static const char *reason(json_t *o)
{
    return json_string_value(json_object_get(o, "reason"));
}

static json_int_t id_at(json_t *o, size_t i)
{
    return json_integer_value(json_array_get(json_object_get(o, "endpoint_ids"), i));
}

static size_t nids(json_t *o)
{
    return json_array_size(json_object_get(o, "endpoint_ids"));
}

static void route_names_the_endpoints_and_the_rule(void **state)
{
    (void)state;
    ch_route_endpoint eps[] = {
        {.id = 1, .kind = CH_EPK_INBOUND, .enabled = true, .events = "*"},
        {.id = 2, .kind = CH_EPK_GENERIC, .enabled = true, .events = "*"},
        {.id = 3, .kind = CH_EPK_GENERIC, .enabled = false, .events = "*"},
        {.id = 4, .kind = CH_EPK_STATUS, .enabled = true, .events = "call.status_changed"},
    };
    json_t *in = ch_diagnose_route(eps, 4, CH_DIR_INBOUND);
    assert_int_equal(nids(in), 1);
    assert_int_equal(id_at(in, 0), 1);
    assert_non_null(strstr(reason(in), "inbound call goes to the inbound endpoints"));
    json_decref(in);

    json_t *internal = ch_diagnose_route(eps, 4, CH_DIR_INTERNAL);
    assert_int_equal(nids(internal), 1); /* 3 is disabled, 4 is a status endpoint */
    assert_int_equal(id_at(internal, 0), 2);
    assert_non_null(strstr(reason(internal), "generic endpoints"));
    json_decref(internal);

    /* no outbound endpoint: none, and the skip reason comes first */
    json_t *out = ch_diagnose_route(eps, 4, CH_DIR_OUTBOUND);
    assert_int_equal(nids(out), 0);
    assert_non_null(strstr(reason(out), "no endpoint for outbound calls: "));
    assert_int_equal(strstr(reason(out), "no endpoint for outbound calls"), reason(out));
    assert_non_null(strstr(reason(out), "only to the outbound endpoints"));
    json_decref(out);

    /* without an inbound endpoint, inbound calls fall back to generic ones */
    json_t *fb = ch_diagnose_route(eps + 1, 3, CH_DIR_INBOUND);
    assert_int_equal(nids(fb), 1);
    assert_int_equal(id_at(fb, 0), 2);
    assert_non_null(strstr(reason(fb), "there is no inbound endpoint"));
    json_decref(fb);

    /* an endpoint of the kind that does not take call.completed */
    ch_route_endpoint picky[] = {
        {.id = 9, .kind = CH_EPK_OUTBOUND, .enabled = true, .events = "call.started"}};
    json_t *p = ch_diagnose_route(picky, 1, CH_DIR_OUTBOUND);
    assert_int_equal(nids(p), 0);
    assert_non_null(strstr(reason(p), "no enabled endpoint is subscribed to this event type"));
    json_decref(p);

    json_t *none = ch_diagnose_route(NULL, 0, CH_DIR_INTERNAL);
    assert_int_equal(nids(none), 0);
    assert_non_null(strstr(reason(none), "no endpoint for internal calls"));
    json_decref(none);
}

static void messages_from_a_trace(void **state)
{
    (void)state;
    json_t *trace = json_loads(
        "{\"timeline\":["
        "{\"what\":\"event\",\"id\":1},"
        "{\"what\":\"message\",\"type\":\"call.started\",\"deliveries\":["
        "  {\"endpoint_id\":1,\"state\":\"succeeded\",\"last_status\":200,\"last_error\":null},"
        "  {\"endpoint_id\":4,\"state\":\"pending\",\"last_status\":null,\"last_error\":null}]},"
        "{\"what\":\"skipped\",\"type\":\"call.ended\",\"reason\":\"no endpoint for outbound "
        "calls\"},"
        "{\"what\":\"message\",\"type\":\"call.completed\",\"deliveries\":["
        "  {\"endpoint_id\":1,\"state\":\"succeeded\"},"
        "  {\"endpoint_id\":2,\"state\":\"failed\",\"last_status\":500,\"last_error\":\"x\"}]},"
        "{\"what\":\"message\",\"type\":\"call.updated\",\"deliveries\":["
        "  {\"endpoint_id\":1,\"state\":\"succeeded\"}]},"
        "{\"what\":\"stage\"}]}",
        0, NULL);
    assert_non_null(trace);
    json_t *m = ch_diagnose_messages(trace);
    assert_int_equal(json_array_size(m), 4);
    const char *want[][2] = {{"call.started", "pending"},
                             {"call.ended", "skipped"},
                             {"call.completed", "failed"},
                             {"call.updated", "delivered"}};
    for (size_t i = 0; i < 4; i++) {
        json_t *x = json_array_get(m, i);
        assert_string_equal(json_string_value(json_object_get(x, "type")), want[i][0]);
        assert_string_equal(json_string_value(json_object_get(x, "state")), want[i][1]);
    }
    json_t *started = json_array_get(m, 0);
    assert_int_equal(json_array_size(json_object_get(started, "delivered_to")), 2);
    assert_int_equal(
        json_integer_value(json_array_get(json_object_get(started, "delivered_to"), 1)), 4);
    assert_true(json_is_null(json_object_get(started, "skipped")));
    json_t *ended = json_array_get(m, 1);
    assert_string_equal(json_string_value(json_object_get(ended, "skipped")),
                        "no endpoint for outbound calls");
    assert_int_equal(json_array_size(json_object_get(ended, "delivered_to")), 0);
    json_t *d = json_array_get(json_object_get(json_array_get(m, 2), "deliveries"), 1);
    assert_int_equal(json_integer_value(json_object_get(d, "last_status")), 500);
    assert_string_equal(json_string_value(json_object_get(d, "last_error")), "x");
    json_decref(m);
    json_decref(trace);

    json_t *empty = ch_diagnose_messages(NULL);
    assert_int_equal(json_array_size(empty), 0);
    json_decref(empty);
}

static json_t *probe_json(const ch_probe_result *p, const char *problem)
{
    json_t *o = json_object();
    ch_diagnose_probe_json(p, problem, o);
    return o;
}

static void probes_become_valid_reachable_and_why(void **state)
{
    (void)state;
    ch_probe_result ok = {
        .url_ok = true, .resolved = true, .connected = true, .address = "203.0.113.7:443"};
    json_t *o = probe_json(&ok, NULL);
    assert_true(json_is_true(json_object_get(o, "url_valid")));
    assert_true(json_is_null(json_object_get(o, "url_problem")));
    json_t *r = json_object_get(o, "reachable");
    assert_true(json_is_true(json_object_get(r, "ok")));
    assert_string_equal(json_string_value(json_object_get(r, "address")), "203.0.113.7:443");
    assert_true(json_is_null(json_object_get(r, "error")));
    json_decref(o);

    ch_probe_result refused = {
        .url_ok = true, .resolved = true, .refused = "private (10.0.0.0/8)", .address = "10.1.2.3"};
    o = probe_json(&refused, NULL);
    assert_true(json_is_false(json_object_get(o, "url_valid")));
    const char *why = json_string_value(json_object_get(o, "url_problem"));
    assert_non_null(strstr(why, "SSRF guard: 10.1.2.3 is private (10.0.0.0/8)"));
    assert_non_null(strstr(why, "delivery.allow_private"));
    r = json_object_get(o, "reachable");
    assert_true(json_is_false(json_object_get(r, "ok")));
    assert_string_equal(json_string_value(json_object_get(r, "error")), why);
    json_decref(o);

    ch_probe_result closed = {.url_ok = true,
                              .resolved = true,
                              .address = "127.0.0.1",
                              .error = "Failed to connect to 127.0.0.1 port 9"};
    o = probe_json(&closed, NULL);
    assert_true(json_is_true(json_object_get(o, "url_valid")));
    r = json_object_get(o, "reachable");
    assert_true(json_is_false(json_object_get(r, "ok")));
    assert_string_equal(json_string_value(json_object_get(r, "error")),
                        "Failed to connect to 127.0.0.1 port 9");
    json_decref(o);

    ch_probe_result unknown = {.url_ok = true, .error = "Could not resolve host: nx.invalid"};
    o = probe_json(&unknown, NULL);
    assert_true(json_is_false(json_object_get(o, "url_valid")));
    assert_string_equal(json_string_value(json_object_get(o, "url_problem")),
                        "Could not resolve host: nx.invalid");
    assert_true(json_is_null(json_object_get(json_object_get(o, "reachable"), "address")));
    json_decref(o);

    ch_probe_result later = {.url_ok = true, .unchecked = true, .error = "not checked: …"};
    o = probe_json(&later, NULL);
    assert_true(json_is_true(json_object_get(o, "url_valid"))); /* not known to be invalid */
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(o, "reachable"), "error")),
        "not checked: …");
    json_decref(o);

    ch_probe_result bad = {0};
    o = probe_json(&bad, "the URL must start with http:// or https://");
    assert_true(json_is_false(json_object_get(o, "url_valid")));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(o, "reachable"), "error")),
        "the URL must start with http:// or https://");
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(route_names_the_endpoints_and_the_rule),
        cmocka_unit_test(messages_from_a_trace),
        cmocka_unit_test(probes_become_valid_reachable_and_why),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
