/* Routing of call events to endpoints (src/core/routing.h, docs/webhooks.md "Routing"): the
 * table of the docs row by row, the events filter, disabled endpoints, every skip reason, and
 * endpoint.disabled going to the others. No database: the rules are core's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/routing.h"

#include <string.h>

#define EP(i, k, ev)                                                                               \
    {                                                                                              \
        .id = (i), .kind = (k), .enabled = true, .events = (ev)                                    \
    }

static size_t route(const ch_route_endpoint *eps, size_t n, ch_direction dir, const char *type,
                    int64_t *ids, const char **skip)
{
    *skip = NULL;
    size_t m = ch_route_call_event(eps, n, dir, type, ids, skip);
    if (m > 0)
        assert_null(*skip);
    else
        assert_non_null(*skip);
    return m;
}

static void kinds_parse_by_name(void **state)
{
    (void)state;
    assert_int_equal(ch_endpoint_kind_parse("inbound"), CH_EPK_INBOUND);
    assert_int_equal(ch_endpoint_kind_parse("outbound"), CH_EPK_OUTBOUND);
    assert_int_equal(ch_endpoint_kind_parse("generic"), CH_EPK_GENERIC);
    assert_int_equal(ch_endpoint_kind_parse("status"), CH_EPK_STATUS);
    assert_int_equal(ch_endpoint_kind_parse("in"), CH_EPK_NONE);
    assert_int_equal(ch_endpoint_kind_parse(""), CH_EPK_NONE);
    assert_int_equal(ch_endpoint_kind_parse(NULL), CH_EPK_NONE);
}

static void events_filter_matches_whole_types_only(void **state)
{
    (void)state;
    assert_true(ch_route_subscribed(NULL, "call.ended"));
    assert_true(ch_route_subscribed("*", "call.ended"));
    assert_true(ch_route_subscribed("call.ended", "call.ended"));
    assert_true(ch_route_subscribed("call.started,call.ended", "call.ended"));
    assert_true(ch_route_subscribed("call.ended,call.started", "call.ended"));
    assert_false(ch_route_subscribed("call.ended", "call.end"));
    assert_false(ch_route_subscribed("call.end", "call.ended"));
    assert_false(ch_route_subscribed("call.ended_x,x", "call.ended"));
    assert_false(ch_route_subscribed("", "call.ended"));
    assert_false(ch_route_subscribed("*,call.started", "call.ended")); /* "*" only alone */
}

static void inbound_goes_to_inbound_endpoints_else_generic(void **state)
{
    (void)state;
    const ch_route_endpoint both[] = {EP(1, CH_EPK_GENERIC, "*"), EP(2, CH_EPK_INBOUND, "*"),
                                      EP(3, CH_EPK_OUTBOUND, "*")};
    int64_t ids[3];
    const char *skip;
    assert_int_equal(route(both, 3, CH_DIR_INBOUND, "call.ended", ids, &skip), 1);
    assert_int_equal(ids[0], 2);
    /* without an inbound endpoint: the generic ones */
    assert_int_equal(route(both, 1, CH_DIR_INBOUND, "call.ended", ids, &skip), 1);
    assert_int_equal(ids[0], 1);
    /* an inbound endpoint that does not take the type still keeps inbound calls from generic */
    const ch_route_endpoint filtered[] = {EP(1, CH_EPK_GENERIC, "*"),
                                          EP(2, CH_EPK_INBOUND, "call.started")};
    assert_int_equal(route(filtered, 2, CH_DIR_INBOUND, "call.ended", ids, &skip), 0);
    assert_string_equal(skip, "no enabled endpoint is subscribed to this event type");
}

static void outbound_goes_to_outbound_endpoints_only(void **state)
{
    (void)state;
    const ch_route_endpoint eps[] = {EP(1, CH_EPK_GENERIC, "*"), EP(2, CH_EPK_INBOUND, "*"),
                                     EP(3, CH_EPK_OUTBOUND, "*"), EP(4, CH_EPK_OUTBOUND, "*")};
    int64_t ids[4];
    const char *skip;
    assert_int_equal(route(eps, 4, CH_DIR_OUTBOUND, "call.completed", ids, &skip), 2);
    assert_int_equal(ids[0], 3);
    assert_int_equal(ids[1], 4);
    assert_int_equal(route(eps, 2, CH_DIR_OUTBOUND, "call.completed", ids, &skip), 0);
    assert_string_equal(skip, "no endpoint for outbound calls");
}

static void internal_and_unknown_go_to_generic(void **state)
{
    (void)state;
    const ch_route_endpoint eps[] = {EP(1, CH_EPK_INBOUND, "*"), EP(2, CH_EPK_OUTBOUND, "*"),
                                     EP(3, CH_EPK_GENERIC, "*")};
    int64_t ids[3];
    const char *skip;
    assert_int_equal(route(eps, 3, CH_DIR_INTERNAL, "call.ended", ids, &skip), 1);
    assert_int_equal(ids[0], 3);
    assert_int_equal(route(eps, 3, CH_DIR_UNKNOWN, "call.ended", ids, &skip), 1);
    assert_int_equal(ids[0], 3);
    assert_int_equal(route(eps, 2, CH_DIR_INTERNAL, "call.ended", ids, &skip), 0);
    assert_string_equal(skip, "no endpoint for internal calls");
    assert_int_equal(route(eps, 2, CH_DIR_UNKNOWN, "call.ended", ids, &skip), 0);
    assert_string_equal(skip, "no endpoint for calls of unknown direction");
    assert_int_equal(route(eps, 0, CH_DIR_INBOUND, "call.ended", ids, &skip), 0);
    assert_string_equal(skip, "no endpoint for inbound calls");
}

static void status_endpoints_take_status_changes_of_every_call(void **state)
{
    (void)state;
    const ch_route_endpoint eps[] = {EP(1, CH_EPK_STATUS, "*"), EP(2, CH_EPK_OUTBOUND, "*")};
    int64_t ids[2];
    const char *skip;
    assert_int_equal(route(eps, 2, CH_DIR_OUTBOUND, "call.status_changed", ids, &skip), 2);
    assert_int_equal(ids[0], 2);
    assert_int_equal(ids[1], 1);
    assert_int_equal(route(eps, 2, CH_DIR_INBOUND, "call.status_changed", ids, &skip), 1);
    assert_int_equal(ids[0], 1);
    /* only status changes */
    assert_int_equal(route(eps, 1, CH_DIR_INBOUND, "call.ended", ids, &skip), 0);
    assert_string_equal(skip, "no endpoint for inbound calls");
    /* a status endpoint that exists but is off names the filter, not the direction */
    ch_route_endpoint off = EP(1, CH_EPK_STATUS, "*");
    off.enabled = false;
    assert_int_equal(route(&off, 1, CH_DIR_INBOUND, "call.status_changed", ids, &skip), 0);
    assert_string_equal(skip, "no enabled endpoint is subscribed to this event type");
}

static void disabled_and_unsubscribed_endpoints_take_nothing(void **state)
{
    (void)state;
    ch_route_endpoint eps[] = {EP(1, CH_EPK_GENERIC, "*"), EP(2, CH_EPK_GENERIC, "call.started"),
                               EP(3, CH_EPK_GENERIC, NULL), EP(4, CH_EPK_NONE, "*")};
    eps[0].enabled = false;
    int64_t ids[4];
    const char *skip;
    assert_int_equal(route(eps, 4, CH_DIR_UNKNOWN, "call.ended", ids, &skip), 1);
    assert_int_equal(ids[0], 3);
    eps[2].enabled = false;
    assert_int_equal(route(eps, 4, CH_DIR_UNKNOWN, "call.ended", ids, &skip), 0);
    assert_string_equal(skip, "no enabled endpoint is subscribed to this event type");
}

/* The same reason is the same pointer: the skip counters group by it. */
static void a_skip_reason_is_one_static_string(void **state)
{
    (void)state;
    int64_t ids[1];
    const char *a, *b;
    route(NULL, 0, CH_DIR_OUTBOUND, "call.started", ids, &a);
    route(NULL, 0, CH_DIR_OUTBOUND, "call.ended", ids, &b);
    assert_ptr_equal(a, b);
}

/* Every matching endpoint gets the event, however many the tenant has (up to
 * delivery.max_endpoints, 10,000): the outbox once kept 32 and dropped the rest silently. */
static void every_matching_endpoint_is_taken(void **state)
{
    (void)state;
    enum { N = 50 };
    ch_route_endpoint eps[N];
    int64_t ids[N];
    for (int i = 0; i < N; i++)
        eps[i] = (ch_route_endpoint)EP(100 + i, i % 2 ? CH_EPK_GENERIC : CH_EPK_STATUS, "*");
    const char *skip;
    assert_int_equal(route(eps, N, CH_DIR_UNKNOWN, "call.status_changed", ids, &skip), N);
    /* generic ones first, then status ones, each once */
    for (int i = 0; i < N / 2; i++) {
        assert_int_equal(ids[i], 100 + 2 * i + 1);
        assert_int_equal(ids[N / 2 + i], 100 + 2 * i);
    }
}

static void endpoint_disabled_goes_to_the_others(void **state)
{
    (void)state;
    ch_route_endpoint eps[] = {EP(1, CH_EPK_OUTBOUND, "*"), EP(2, CH_EPK_GENERIC, "*"),
                               EP(3, CH_EPK_STATUS, "endpoint.disabled"),
                               EP(4, CH_EPK_INBOUND, "call.ended"), EP(5, CH_EPK_GENERIC, "*")};
    eps[4].enabled = false;
    int64_t ids[5];
    assert_int_equal(ch_route_endpoint_disabled(eps, 5, 2, ids), 2);
    assert_int_equal(ids[0], 1);
    assert_int_equal(ids[1], 3);
    assert_int_equal(ch_route_endpoint_disabled(eps, 1, 1, ids), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(kinds_parse_by_name),
        cmocka_unit_test(events_filter_matches_whole_types_only),
        cmocka_unit_test(inbound_goes_to_inbound_endpoints_else_generic),
        cmocka_unit_test(outbound_goes_to_outbound_endpoints_only),
        cmocka_unit_test(internal_and_unknown_go_to_generic),
        cmocka_unit_test(status_endpoints_take_status_changes_of_every_call),
        cmocka_unit_test(disabled_and_unsubscribed_endpoints_take_nothing),
        cmocka_unit_test(a_skip_reason_is_one_static_string),
        cmocka_unit_test(every_matching_endpoint_is_taken),
        cmocka_unit_test(endpoint_disabled_goes_to_the_others),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
