/* The generic adapter (docs/generic-event.md) through the registry: a raw request becomes
 * normalised events, or a precise error naming the field, the line and the column. Numbers are
 * normalised to E.164 when the events are folded with the tenant's country (merge), so the last
 * tests run the adapter's output through ch_merge_fold as the writer does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "providers/provider.h"
#include "core/merge.h"
#include "util/mem.h"
#include "util/result.h"
#include "util/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAY14 1715681700000LL /* 2024-05-14T10:15:00Z */
#define HOUR  3600000LL

typedef struct {
    ch_parsed out;
    ch_parse_error err;
    int rc;
} result;

static result run_req(const char *body, const char *tz, const char *country, size_t max_records)
{
    const ch_provider *p = ch_provider_find("generic");
    assert_non_null(p);
    assert_string_equal(p->name, "generic");
    result r;
    memset(&r, 0, sizeof r);
    ch_raw_request req = {.content_type = "application/json",
                          .body = body,
                          .body_len = strlen(body),
                          .tenant_tz = tz,
                          .tenant_country = country,
                          .max_records = max_records};
    r.rc = p->parse(&req, &r.out, &r.err);
    return r;
}

static result run(const char *body, const char *tz)
{
    return run_req(body, tz, "972", 16);
}

static int64_t t(const char *s)
{
    int64_t ms;
    assert_int_equal(ch_time_parse(s, NULL, &ms), CH_OK);
    return ms;
}

static char *fixture(const char *name)
{
    const char *dir = getenv("CH_FIXTURES");
    if (!dir) fail_msg("CH_FIXTURES is not set");
    char path[1024];
    snprintf(path, sizeof path, "%s/generic/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    char *buf = ch_malloc(1 << 16);
    size_t n = fread(buf, 1, (1 << 16) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

/* ---- valid requests -------------------------------------------------------------------- */

static void a_single_object_is_normalised_field_by_field(void **state)
{
    (void)state;
    const char *body =
        "{\"call_id\":\"abc-1\",\"event_id\":\"abc-1/end\",\"type\":\"call.ended\","
        "\"sequence\":3,\"timestamp\":\"2024-05-14T13:18:13+03:00\","
        "\"direction\":\"inbound\",\"status\":\"ended\",\"disposition\":\"answered\","
        "\"from\":\"050-123-4567\",\"to\":\"03-123-4567\",\"caller_name\":\"José\","
        "\"extension\":\"1001\",\"leg_id\":null,\"started_at\":\"2024-05-14 13:15:00\","
        "\"answered_at\":1715681706,\"ended_at\":\"2024-05-14T10:18:12Z\","
        "\"duration_sec\":192,\"billsec\":186,\"recording_url\":\"https://r/1.mp3\","
        "\"transcript\":null,\"summary\":\"ok\",\"cost\":{\"amount\":0.12},"
        "\"metadata\":{\"q\":\"s\"},\"unknown_member\":[1,2]}";
    result r = run(body, "Asia/Jerusalem");
    assert_int_equal(r.rc, CH_OK);
    assert_false(r.out.batch);
    assert_int_equal(r.out.n, 1);
    ch_event *e = r.out.records[0].event;
    assert_non_null(e);
    assert_null(r.out.records[0].error);
    assert_string_equal(e->provider, "generic");
    assert_string_equal(e->external_id, "abc-1");
    assert_string_equal(e->idem_key, "generic:abc-1/end");
    assert_string_equal(e->kind, "call.ended");
    assert_null(e->leg_id);
    assert_int_equal(e->seq, 3);
    assert_int_equal(e->ts, MAY14 + 193000); /* 13:18:13 +03:00 = 10:18:13Z */
    assert_int_equal(e->direction, CH_DIR_INBOUND);
    assert_int_equal(e->status, CH_STATUS_ENDED);
    assert_int_equal(e->disposition, CH_DISP_ANSWERED);
    assert_string_equal(e->from_raw, "050-123-4567"); /* kept as sent */
    assert_string_equal(e->to_raw, "03-123-4567");
    assert_string_equal(e->caller_name, "José");
    assert_string_equal(e->extension, "1001");
    assert_int_equal(e->started_at, MAY14);         /* local 13:15 in Jerusalem, UTC+3 */
    assert_int_equal(e->answered_at, MAY14 + 6000); /* Unix seconds */
    assert_int_equal(e->ended_at, MAY14 + 192000);
    assert_int_equal(e->duration_sec, 192);
    assert_int_equal(e->billsec, 186);
    assert_string_equal(e->recording_url, "https://r/1.mp3");
    assert_null(e->transcript);
    assert_string_equal(e->summary, "ok");
    assert_int_equal(e->cost_micros, 120000);
    assert_string_equal(e->cost_currency, "USD"); /* the default */
    assert_int_equal(json_object_size(e->metadata), 1);
    assert_string_equal(json_string_value(json_object_get(e->metadata, "q")), "s");
    assert_int_equal(e->raw_len, strlen(body)); /* a single record keeps the body byte for byte */
    assert_memory_equal(e->raw, body, e->raw_len);
    assert_string_equal(e->content_type, "application/json");
    ch_parsed_clear(&r.out);
}

static void an_array_gives_one_event_per_record(void **state)
{
    (void)state;
    char *body = fixture("inbound-answered.json");
    result r = run(body, "UTC");
    assert_int_equal(r.rc, CH_OK);
    assert_true(r.out.batch);
    assert_int_equal(r.out.n, 3);
    const char *keys[] = {"generic:pbx1-20240514-0001-ring", "generic:pbx1-20240514-0001-answer",
                          "generic:pbx1-20240514-0001-end"};
    const ch_status st[] = {CH_STATUS_RINGING, CH_STATUS_IN_PROGRESS, CH_STATUS_ENDED};
    for (size_t i = 0; i < 3; i++) {
        ch_event *e = r.out.records[i].event;
        assert_non_null(e);
        assert_string_equal(e->external_id, "pbx1-20240514-0001");
        assert_string_equal(e->idem_key, keys[i]);
        assert_int_equal(e->seq, (int64_t)i + 1);
        assert_int_equal(e->status, st[i]);
        /* each record's raw form is that record alone, as compact JSON */
        json_t *raw = json_loadb(e->raw, e->raw_len, 0, NULL);
        assert_non_null(raw);
        assert_true(json_is_object(raw));
        assert_string_equal(json_string_value(json_object_get(raw, "event_id")), keys[i] + 8);
        json_decref(raw);
    }
    /* times with +03:00 (10:15 local = 07:15Z) */
    assert_int_equal(r.out.records[0].event->started_at, MAY14 - 3 * HOUR);
    assert_int_equal(r.out.records[1].event->answered_at, MAY14 - 3 * HOUR + 6000);
    assert_int_equal(r.out.records[2].event->ended_at, MAY14 - 3 * HOUR + 192000);
    assert_string_equal(r.out.records[0].event->caller_name, "דנה כהן");
    assert_string_equal(
        json_string_value(json_object_get(r.out.records[1].event->metadata, "agent")),
        "Moshe Levi");
    assert_string_equal(r.out.records[2].event->transcript,
                        "Caller: Hi, I never got invoice 4471.\n"
                        "Agent: Sorry, I will resend it, today.");
    ch_parsed_clear(&r.out);
    free(body);
}

static void without_event_id_the_key_is_a_hash_of_the_canonical_record(void **state)
{
    (void)state;
    result a = run("{\"call_id\":\"x\",\"status\":\"ringing\"}", "UTC");
    result b = run("{ \"status\" : \"ringing\",\n \"call_id\" : \"x\" }", "UTC"); /* same */
    result c = run("{\"call_id\":\"x\",\"status\":\"ended\"}", "UTC");
    result d = run("{\"call_id\":\"x\",\"status\":\"ringing\",\"sent_at\":1}", "UTC");
    assert_int_equal(a.rc, CH_OK);
    const char *ka = a.out.records[0].event->idem_key;
    assert_true(strncmp(ka, "generic:sha256:", 15) == 0);
    assert_int_equal(strlen(ka), 15 + 64);
    assert_string_equal(ka, b.out.records[0].event->idem_key);
    assert_string_not_equal(ka, c.out.records[0].event->idem_key);
    assert_string_not_equal(ka, d.out.records[0].event->idem_key); /* unknown members count */
    ch_parsed_clear(&a.out);
    ch_parsed_clear(&b.out);
    ch_parsed_clear(&c.out);
    ch_parsed_clear(&d.out);
}

/* ---- rejections ----------------------------------------------------------------------- */

static void a_batch_judges_every_record_on_its_own(void **state)
{
    (void)state;
    const char *body = "[{\"call_id\":\"ok-1\"},"
                       " {\"event_id\":\"e-1\"},"
                       " {\"call_id\":7},"
                       " {\"call_id\":\"x\",\"from\":5},"
                       " {\"call_id\":\"x\",\"duration_sec\":\"12\"},"
                       " {\"call_id\":\"x\",\"status\":\"hangup\"},"
                       " {\"call_id\":\"x\",\"answered_at\":\"soon\"},"
                       " {\"call_id\":\"x\",\"sequence\":-1},"
                       " \"not an object\","
                       " {\"call_id\":\"ok-2\",\"metadata\":null}]";
    struct {
        const char *field, *message; /* NULL field: an event */
    } want[] = {
        {NULL, NULL},
        {"[1].call_id", "call_id is required"},
        {"[2].call_id", "call_id must be a string"},
        {"[3].from", "from must be a string"},
        {"[4].duration_sec",
         "duration_sec must be a whole number of seconds from 0 to 604800 (7 days)"},
        {"[5].status", "status must be one of queued, ringing, in_progress, ended"},
        {"[6].answered_at", "answered_at must be an RFC 3339 time or Unix seconds"},
        {"[7].sequence", "sequence must be a whole number from 0 to 10^15"},
        {"[8]", "a record must be a JSON object"},
        {NULL, NULL},
    };
    result r = run(body, "UTC");
    assert_int_equal(r.rc, CH_OK); /* the request is fine; some records are not */
    assert_true(r.out.batch);
    assert_int_equal(r.out.n, sizeof want / sizeof *want);
    for (size_t i = 0; i < r.out.n; i++) {
        const ch_record *rec = &r.out.records[i];
        if (!want[i].field) {
            assert_non_null(rec->event);
            assert_null(rec->error);
            continue;
        }
        if (rec->event) fail_msg("record %zu accepted", i);
        assert_string_equal(rec->field, want[i].field);
        assert_string_equal(rec->error, want[i].message);
    }
    assert_string_equal(r.out.records[9].event->external_id, "ok-2");
    assert_null(r.out.records[9].event->metadata);
    ch_parsed_clear(&r.out);
}

static void a_single_invalid_record_fails_the_request_with_its_field(void **state)
{
    (void)state;
    struct {
        const char *body, *field;
    } bad[] = {
        {"{\"event_id\":\"e\",\"status\":\"ringing\"}", "call_id"},
        {"{\"call_id\":null}", "call_id"},
        {"{\"call_id\":5}", "call_id"},
        {"{\"call_id\":\"\"}", "call_id"},
        {"{\"call_id\":\"x\",\"event_id\":\"\"}", "event_id"},
        {"{\"call_id\":\"x\",\"status\":\"done\"}", "status"},
        {"{\"call_id\":\"x\",\"status\":3}", "status"},
        {"{\"call_id\":\"x\",\"direction\":\"sideways\"}", "direction"},
        {"{\"call_id\":\"x\",\"disposition\":\"hung_up\"}", "disposition"},
        {"{\"call_id\":\"x\",\"to\":[\"1001\"]}", "to"},
        {"{\"call_id\":\"x\",\"started_at\":\"tomorrow\"}", "started_at"},
        {"{\"call_id\":\"x\",\"started_at\":-5}", "started_at"},
        {"{\"call_id\":\"x\",\"ended_at\":true}", "ended_at"},
        {"{\"call_id\":\"x\",\"billsec\":1.5}", "billsec"},
        {"{\"call_id\":\"x\",\"sequence\":\"1\"}", "sequence"},
        {"{\"call_id\":\"x\",\"cost\":{\"currency\":\"USD\"}}", "cost.amount"},
        {"{\"call_id\":\"x\",\"cost\":{\"amount\":1,\"currency\":\"\"}}", "cost.currency"},
        {"{\"call_id\":\"x\",\"cost\":5}", "cost"},
        {"{\"call_id\":\"x\",\"metadata\":[1]}", "metadata"},
        {"{\"call_id\":\"x\",\"caller_name\":\"a\\u0000b\"}", NULL}, /* NUL: refused somewhere */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        result r = run(bad[i].body, "UTC");
        if (r.rc == CH_OK) fail_msg("%s: accepted", bad[i].body);
        assert_int_equal(r.out.n, 0);
        if (bad[i].field) {
            if (r.err.http_status != 422) fail_msg("%s: status %d", bad[i].body, r.err.http_status);
            assert_string_equal(r.err.code, "invalid_record");
            if (strcmp(r.err.field, bad[i].field) != 0)
                fail_msg("%s: field \"%s\", want \"%s\"", bad[i].body, r.err.field, bad[i].field);
            if (!strstr(r.err.message, bad[i].field))
                fail_msg("%s: message \"%s\" does not name the field", bad[i].body, r.err.message);
        } else {
            assert_true(r.err.http_status == 400 || r.err.http_status == 422);
        }
        ch_parsed_clear(&r.out);
    }
}

static void malformed_json_reports_line_and_column(void **state)
{
    (void)state;
    /* the stray ']' closing an object: line 3, column 19 (1-based) */
    result r = run("[\n  {\"call_id\": \"a\"},\n  {\"call_id\": \"b\" ]\n]", "UTC");
    assert_int_equal(r.rc, CH_EINVAL);
    assert_int_equal(r.err.http_status, 400);
    assert_string_equal(r.err.code, "malformed_json");
    assert_int_equal(r.err.line, 3);
    assert_int_equal(r.err.column, 19);
    assert_true(strncmp(r.err.message, "malformed JSON", 14) == 0);
    assert_string_equal(r.err.field, "");
    assert_int_equal(r.out.n, 0); /* nothing of it is usable, not even record 0 */
    ch_parsed_clear(&r.out);

    /* a trailing comma: the '}' at column 16 of line 1 */
    r = run("{\"call_id\":\"x\",}", "UTC");
    assert_int_equal(r.err.http_status, 400);
    assert_int_equal(r.err.line, 1);
    assert_int_equal(r.err.column, 16);
    ch_parsed_clear(&r.out);

    const char *bodies[] = {"", "{", "{\"call_id\":\"x\"} {}", "\"just a string\"", "42", "null"};
    for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
        r = run(bodies[i], "UTC");
        if (r.rc == CH_OK || r.err.http_status < 400 || r.err.http_status > 422)
            fail_msg("\"%s\": rc %d status %d", bodies[i], r.rc, r.err.http_status);
        ch_parsed_clear(&r.out);
    }
}

static void request_ceilings_and_content_types(void **state)
{
    (void)state;
    result r = run("[]", "UTC");
    assert_int_equal(r.err.http_status, 422);
    ch_parsed_clear(&r.out);
    const char *four =
        "[{\"call_id\":\"1\"},{\"call_id\":\"2\"},{\"call_id\":\"3\"},{\"call_id\":\"4\"}]";
    r = run_req(four, "UTC", "972", 3);
    assert_int_equal(r.rc, CH_ETOOBIG);
    assert_int_equal(r.err.http_status, 413);
    assert_string_equal(r.err.code, "too_many_records");
    assert_int_equal(r.out.n, 0);
    ch_parsed_clear(&r.out);
    r = run_req(four, "UTC", "972", 4); /* exactly at the ceiling */
    assert_int_equal(r.rc, CH_OK);
    assert_int_equal(r.out.n, 4);
    ch_parsed_clear(&r.out);

    const ch_provider *p = ch_provider_find("generic");
    assert_true(ch_provider_accepts(p, "application/json"));
    assert_true(ch_provider_accepts(p, "Application/JSON; charset=utf-8"));
    assert_true(ch_provider_accepts(p, "application/json ;charset=utf-8"));
    assert_false(ch_provider_accepts(p, "application/jsonx"));
    assert_false(ch_provider_accepts(p, "text/plain"));
    assert_false(ch_provider_accepts(p, NULL));
    assert_null(ch_provider_find("no-such-provider"));
    assert_null(ch_provider_find(NULL));
    assert_null(p->verify); /* the generic format is not signed */
    ch_raw_request req = {0};
    assert_null(ch_raw_header(&req, "Authorization"));
}

/* ---- times and numbers ---------------------------------------------------------------- */

static void times_with_offsets_seconds_and_the_tenant_zone(void **state)
{
    (void)state;
    const char *body = "{\"call_id\":\"t\",\"timestamp\":\"2024-05-14T13:15:00.250+0300\","
                       "\"started_at\":\"2024-05-14 13:15:00\",\"answered_at\":1715681706.5,"
                       "\"ended_at\":\"2024-05-14T06:18:12-04:00\"}";
    const struct {
        const char *tz;
        int64_t started; /* only the time without an offset moves with the zone */
    } zones[] = {{"Asia/Jerusalem", MAY14},               /* IDT, +3 */
                 {"UTC", MAY14 + 3 * HOUR},               /* 13:15Z */
                 {NULL, MAY14 + 3 * HOUR},                /* no zone: UTC */
                 {"America/New_York", MAY14 + 7 * HOUR}}; /* EDT, -4 */
    for (size_t i = 0; i < sizeof zones / sizeof *zones; i++) {
        result r = run(body, zones[i].tz);
        assert_int_equal(r.rc, CH_OK);
        ch_event *e = r.out.records[0].event;
        assert_int_equal(e->ts, MAY14 + 250);
        assert_int_equal(e->started_at, zones[i].started);
        assert_int_equal(e->answered_at, MAY14 + 6500);
        assert_int_equal(e->ended_at, MAY14 + 192000);
        ch_parsed_clear(&r.out);
    }
    /* times lie between 2000 and 2100 (docs/providers.md#numbers), as Unix seconds or text */
    result r = run("{\"call_id\":\"t\",\"ended_at\":4102444800}", "UTC");
    assert_int_equal(r.rc, CH_OK);
    assert_int_equal(r.out.records[0].event->ended_at, t("2100-01-01T00:00:00Z"));
    ch_parsed_clear(&r.out);
    r = run("{\"call_id\":\"t\",\"ended_at\":946684800}", "UTC");
    assert_int_equal(r.rc, CH_OK);
    assert_int_equal(r.out.records[0].event->ended_at, t("2000-01-01T00:00:00Z"));
    ch_parsed_clear(&r.out);
    static const char *const out_of_range[] = {
        "{\"call_id\":\"t\",\"ended_at\":4102444801}", "{\"call_id\":\"t\",\"ended_at\":946684799}",
        "{\"call_id\":\"t\",\"ended_at\":253402300799}",
        "{\"call_id\":\"t\",\"ended_at\":\"2100-01-01T00:00:01Z\"}",
        "{\"call_id\":\"t\",\"ended_at\":\"1999-12-31T23:59:59Z\"}"};
    for (size_t i = 0; i < sizeof out_of_range / sizeof *out_of_range; i++) {
        r = run(out_of_range[i], "UTC");
        assert_int_equal(r.rc, CH_EINVAL);
        assert_string_equal(r.err.field, "ended_at");
        ch_parsed_clear(&r.out);
    }
}

/* The adapter keeps numbers as sent; folding its events with the tenant's country (as the
 * writer does) gives E.164. */
static void numbers_become_e164_with_the_tenant_country(void **state)
{
    (void)state;
    char *answered = fixture("inbound-answered.json"), *busy = fixture("inbound-busy.json");
    const struct {
        const char *body, *country, *from, *to;
    } cases[] = {
        {answered, "972", "+972501234567", "+97231234567"},
        {answered, "1", "050-123-4567", "03-123-4567"}, /* not numbers in the US: kept raw */
        {busy, "972", "+442079460958", "+97231234567"},
        {busy, "1", "+442079460958", "03-123-4567"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        result r = run_req(cases[i].body, "Asia/Jerusalem", cases[i].country, 16);
        assert_int_equal(r.rc, CH_OK);
        ch_event *evs[8];
        assert_true(r.out.n <= 8);
        for (size_t k = 0; k < r.out.n; k++)
            evs[k] = r.out.records[k].event;
        ch_merged m;
        ch_merge_fold(&m, evs, r.out.n, cases[i].country);
        assert_string_equal(m.call.from, cases[i].from);
        assert_string_equal(m.call.to, cases[i].to);
        assert_string_equal(m.call.to_raw, "03-123-4567"); /* the raw form is kept */
        assert_int_equal(m.call.status, CH_STATUS_ENDED);
        ch_merged_clear(&m);
        ch_parsed_clear(&r.out);
    }
    free(answered);
    free(busy);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_single_object_is_normalised_field_by_field),
        cmocka_unit_test(an_array_gives_one_event_per_record),
        cmocka_unit_test(without_event_id_the_key_is_a_hash_of_the_canonical_record),
        cmocka_unit_test(a_batch_judges_every_record_on_its_own),
        cmocka_unit_test(a_single_invalid_record_fails_the_request_with_its_field),
        cmocka_unit_test(malformed_json_reports_line_and_column),
        cmocka_unit_test(request_ceilings_and_content_types),
        cmocka_unit_test(times_with_offsets_seconds_and_the_tenant_zone),
        cmocka_unit_test(numbers_become_e164_with_the_tenant_country),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
