/* The generic adapter (docs/generic-event.md): raw request → normalised events, or a precise
 * error naming the field, the line and the column. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "providers/provider.h"
#include "util/result.h"
#include "util/timeutil.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    ch_parsed out;
    ch_parse_error err;
    int rc;
} result;

static result run(const char *body, const char *tz)
{
    static const ch_provider *p;
    if (!p) p = ch_provider_find("generic");
    assert_non_null(p);
    result r = {0};
    ch_raw_request req = {.content_type = "application/json",
                          .body = body,
                          .body_len = strlen(body),
                          .tenant_tz = tz,
                          .max_records = 3};
    r.rc = p->parse(&req, &r.out, &r.err);
    return r;
}

static int64_t t(const char *s)
{
    int64_t ms;
    assert_int_equal(ch_time_parse(s, NULL, &ms), CH_OK);
    return ms;
}

static void a_full_record_is_normalised_field_by_field(void **state)
{
    (void)state;
    const char *body =
        "{\"call_id\":\"abc-1\",\"event_id\":\"abc-1/end\",\"type\":\"call.ended\","
        "\"sequence\":3,\"timestamp\":\"2024-05-14T13:18:13+03:00\","
        "\"direction\":\"inbound\",\"status\":\"ended\",\"disposition\":\"answered\","
        "\"from\":\"050-123-4567\",\"to\":\"03-123-4567\",\"caller_name\":\"José\","
        "\"extension\":\"1001\",\"started_at\":\"2024-05-14 13:15:00\","
        "\"answered_at\":1715681706,\"ended_at\":\"2024-05-14T10:18:12Z\","
        "\"duration_sec\":192,\"billsec\":186,\"recording_url\":\"https://r/1.mp3\","
        "\"transcript\":null,\"cost\":{\"amount\":0.12},\"metadata\":{\"q\":\"s\"},"
        "\"unknown_member\":[1,2]}";
    result r = run(body, "Asia/Jerusalem");
    assert_int_equal(r.rc, CH_OK);
    assert_false(r.out.batch);
    assert_int_equal(r.out.n, 1);
    ch_event *e = r.out.records[0].event;
    assert_non_null(e);
    assert_string_equal(e->provider, "generic");
    assert_string_equal(e->external_id, "abc-1");
    assert_string_equal(e->idem_key, "generic:abc-1/end");
    assert_string_equal(e->kind, "call.ended");
    assert_int_equal(e->seq, 3);
    assert_int_equal(e->ts, t("2024-05-14T10:18:13Z"));
    assert_int_equal(e->direction, CH_DIR_INBOUND);
    assert_int_equal(e->status, CH_STATUS_ENDED);
    assert_int_equal(e->disposition, CH_DISP_ANSWERED);
    assert_string_equal(e->from_raw, "050-123-4567");
    assert_string_equal(e->caller_name, "José");
    assert_int_equal(e->started_at, t("2024-05-14T10:15:00Z")); /* local in Jerusalem, UTC+3 */
    assert_int_equal(e->answered_at, t("2024-05-14T10:15:06Z"));
    assert_int_equal(e->ended_at, t("2024-05-14T10:18:12Z"));
    assert_int_equal(e->duration_sec, 192);
    assert_int_equal(e->billsec, 186);
    assert_null(e->transcript);
    assert_int_equal(e->cost_micros, 120000);
    assert_string_equal(e->cost_currency, "USD");
    assert_string_equal(json_string_value(json_object_get(e->metadata, "q")), "s");
    assert_int_equal(e->raw_len, strlen(body)); /* a single record keeps the body byte for byte */
    assert_memory_equal(e->raw, body, e->raw_len);
    ch_parsed_clear(&r.out);
}

static void without_event_id_the_key_is_a_hash_of_the_canonical_record(void **state)
{
    (void)state;
    result a = run("{\"call_id\":\"x\",\"status\":\"ringing\"}", "UTC");
    result b = run("{ \"status\" : \"ringing\", \"call_id\" : \"x\" }", "UTC"); /* same record */
    result c = run("{\"call_id\":\"x\",\"status\":\"ended\"}", "UTC");
    assert_int_equal(a.rc, CH_OK);
    const char *ka = a.out.records[0].event->idem_key;
    assert_true(strncmp(ka, "generic:sha256:", 15) == 0);
    assert_string_equal(ka, b.out.records[0].event->idem_key);
    assert_string_not_equal(ka, c.out.records[0].event->idem_key);
    ch_parsed_clear(&a.out);
    ch_parsed_clear(&b.out);
    ch_parsed_clear(&c.out);
}

static void a_batch_judges_every_record_on_its_own(void **state)
{
    (void)state;
    result r =
        run("[{\"call_id\":\"a\"}, {\"event_id\":\"e\"}, {\"call_id\":\"c\",\"duration_sec\":-1}]",
            "UTC");
    assert_int_equal(r.rc, CH_OK);
    assert_true(r.out.batch);
    assert_int_equal(r.out.n, 3);
    assert_non_null(r.out.records[0].event);
    assert_null(r.out.records[1].event);
    assert_string_equal(r.out.records[1].field, "[1].call_id");
    assert_non_null(strstr(r.out.records[1].error, "required"));
    assert_null(r.out.records[2].event);
    assert_string_equal(r.out.records[2].field, "[2].duration_sec");
    ch_parsed_clear(&r.out);
}

static void request_level_errors_are_precise(void **state)
{
    (void)state;
    result r = run("{\n  \"call_id\": \"x\",\n  \"status\": \n}", "UTC");
    assert_int_equal(r.err.http_status, 400);
    assert_string_equal(r.err.code, "malformed_json");
    assert_int_equal(r.err.line, 4);
    assert_true(r.err.column >= 1);
    ch_parsed_clear(&r.out);

    r = run("{\"call_id\":\"x\",\"from\":\"a\\u0000b\"}", "UTC"); /* NUL: not accepted JSON */
    assert_int_equal(r.err.http_status, 400);
    ch_parsed_clear(&r.out);
    r = run("\"just a string\"", "UTC"); /* neither an object nor an array */
    assert_int_equal(r.err.http_status, 400);
    ch_parsed_clear(&r.out);

    r = run("[]", "UTC");
    assert_int_equal(r.err.http_status, 422);
    ch_parsed_clear(&r.out);

    r = run("[{\"call_id\":\"1\"},{\"call_id\":\"2\"},{\"call_id\":\"3\"},{\"call_id\":\"4\"}]",
            "UTC");
    assert_int_equal(r.err.http_status, 413); /* max_records is 3 here */
    assert_string_equal(r.err.code, "too_many_records");
    ch_parsed_clear(&r.out);

    struct {
        const char *body, *field;
    } bad[] = {
        {"{\"call_id\":5}", "call_id"},
        {"{\"call_id\":\"\"}", "call_id"},
        {"{\"call_id\":\"x\",\"status\":\"done\"}", "status"},
        {"{\"call_id\":\"x\",\"direction\":\"sideways\"}", "direction"},
        {"{\"call_id\":\"x\",\"started_at\":\"tomorrow\"}", "started_at"},
        {"{\"call_id\":\"x\",\"started_at\":-5}", "started_at"},
        {"{\"call_id\":\"x\",\"billsec\":1.5}", "billsec"},
        {"{\"call_id\":\"x\",\"cost\":{\"currency\":\"USD\"}}", "cost.amount"},
        {"{\"call_id\":\"x\",\"metadata\":[1]}", "metadata"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        r = run(bad[i].body, "UTC");
        if (r.rc == CH_OK || r.err.http_status != 422)
            fail_msg("%s: rc %d status %d", bad[i].body, r.rc, r.err.http_status);
        assert_string_equal(r.err.code, "invalid_record");
        if (strcmp(r.err.field, bad[i].field) != 0)
            fail_msg("%s: field \"%s\", want \"%s\"", bad[i].body, r.err.field, bad[i].field);
        assert_true(strlen(r.err.message) > 0);
        ch_parsed_clear(&r.out);
    }
}

static void content_types(void **state)
{
    (void)state;
    const ch_provider *p = ch_provider_find("generic");
    assert_true(ch_provider_accepts(p, "application/json"));
    assert_true(ch_provider_accepts(p, "Application/JSON; charset=utf-8"));
    assert_false(ch_provider_accepts(p, "text/plain"));
    assert_false(ch_provider_accepts(p, NULL));
    assert_null(ch_provider_find("no-such-provider"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_full_record_is_normalised_field_by_field),
        cmocka_unit_test(without_event_id_the_key_is_a_hash_of_the_canonical_record),
        cmocka_unit_test(a_batch_judges_every_record_on_its_own),
        cmocka_unit_test(request_level_errors_are_precise),
        cmocka_unit_test(content_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
