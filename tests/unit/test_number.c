/* The strict number parser and the ranges every adapter shares (src/providers/number.c,
 * docs/providers.md#numbers): what counts as a number, where each range ends, and how an
 * ignored value is recorded in the event. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "providers/number.h"
#include "util/result.h"

#include <string.h>

static void only_plain_decimals_are_numbers(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        bool ok;
        double v;
    } cases[] = {
        {"0", true, 0},          {"42", true, 42},
        {"-5", true, -5},        {"12.5", true, 12.5},
        {"007", true, 7},        {"NaN", false, 0},
        {"nan", false, 0},       {"inf", false, 0},
        {"-Infinity", false, 0}, {"1e3", false, 0},
        {"0x10", false, 0},      {"+5", false, 0},
        {" 7", false, 0},        {"7 ", false, 0},
        {"12.", false, 0},       {".5", false, 0},
        {"-", false, 0},         {"", false, 0},
        {"1,5", false, 0},       {"99999999999999999999999999", true, 1e26},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        double v = -1;
        bool ok = ch_num_strict(cases[i].s, &v);
        if (ok != cases[i].ok) fail_msg("\"%s\": %d", cases[i].s, ok);
        if (ok) assert_true(v == cases[i].v);
    }
    char longest[CH_NUM_TEXT_MAX + 2];
    memset(longest, '1', sizeof longest);
    longest[CH_NUM_TEXT_MAX] = '\0';
    double v;
    assert_true(ch_num_strict(longest, &v));
    longest[CH_NUM_TEXT_MAX] = '1';
    longest[CH_NUM_TEXT_MAX + 1] = '\0';
    assert_false(ch_num_strict(longest, &v));
    assert_false(ch_num_strict(NULL, &v));
}

static void ranges_end_where_the_docs_say(void **state)
{
    (void)state;
    int64_t out;
    char why[128];
    assert_int_equal(ch_num_text("604800", &ch_num_seconds, &out, why, sizeof why), CH_OK);
    assert_int_equal(out, 604800);
    assert_int_equal(ch_num_text("604801", &ch_num_seconds, &out, why, sizeof why), CH_EINVAL);
    assert_string_equal(why, "must be a whole number of seconds from 0 to 604800 (7 days)");
    assert_int_equal(ch_num_text("-5", &ch_num_seconds, &out, why, sizeof why), CH_EINVAL);
    assert_int_equal(ch_num_text("1.5", &ch_num_seconds, &out, why, sizeof why), CH_EINVAL);
    assert_int_equal(ch_num_text("1.5", &ch_num_seconds_real, &out, why, sizeof why), CH_OK);
    assert_int_equal(out, 2);
    /* Retell's duration_ms: milliseconds in, seconds out */
    assert_int_equal(ch_num_text("15791", &ch_num_millis, &out, why, sizeof why), CH_OK);
    assert_int_equal(out, 16);
    assert_int_equal(ch_num_text("9223372036854775807", &ch_num_millis, &out, why, sizeof why),
                     CH_EINVAL);
    /* costs in micros of the unit */
    assert_int_equal(ch_num_text("18.4", &ch_num_cost_cents, &out, why, sizeof why), CH_OK);
    assert_int_equal(out, 184000);
    assert_int_equal(ch_num_text("-0.12", &ch_num_cost, &out, why, sizeof why), CH_EINVAL);
    assert_int_equal(ch_num_text("-0.12", &ch_num_cost_signed, &out, why, sizeof why), CH_OK);
    assert_int_equal(out, -120000);
    /* times: the years 2000 to 2100, inclusive */
    assert_int_equal(ch_num_text("946684800", &ch_num_unix_s, &out, why, sizeof why), CH_OK);
    assert_int_equal(out, CH_TIME_MIN_MS);
    assert_int_equal(ch_num_text("946684799", &ch_num_unix_s, &out, why, sizeof why), CH_EINVAL);
    assert_int_equal(ch_num_text("4102444800000", &ch_num_unix_ms, &out, why, sizeof why), CH_OK);
    assert_int_equal(ch_num_text("4102444800001", &ch_num_unix_ms, &out, why, sizeof why),
                     CH_EINVAL);
    assert_true(ch_time_sane(CH_TIME_MAX_MS));
    assert_false(ch_time_sane(CH_TIME_MAX_MS + 1));
    assert_false(ch_time_sane(CH_TIME_UNSET));
}

static void json_values_strings_only_when_asked(void **state)
{
    (void)state;
    int64_t out = 7;
    char why[128];
    json_t *j = json_loads("{\"n\":12,\"s\":\"12\",\"e\":\"\",\"z\":null,\"r\":12.0,\"b\":true,"
                           "\"big\":9223372036854775807}",
                           0, NULL);
    assert_non_null(j);
    assert_int_equal(
        ch_num_json(json_object_get(j, "n"), &ch_num_seconds, false, &out, why, sizeof why), CH_OK);
    assert_int_equal(out, 12);
    assert_int_equal(
        ch_num_json(json_object_get(j, "s"), &ch_num_seconds, false, &out, why, sizeof why),
        CH_EINVAL);
    assert_int_equal(
        ch_num_json(json_object_get(j, "s"), &ch_num_seconds, true, &out, why, sizeof why), CH_OK);
    assert_int_equal(
        ch_num_json(json_object_get(j, "r"), &ch_num_seconds, false, &out, why, sizeof why), CH_OK);
    for (const char *k = "ez"; *k; k++) {
        char key[2] = {*k, 0};
        assert_int_equal(
            ch_num_json(json_object_get(j, key), &ch_num_seconds, true, &out, why, sizeof why),
            CH_ENOTFOUND);
    }
    assert_int_equal(
        ch_num_json(json_object_get(j, "missing"), &ch_num_seconds, true, &out, why, sizeof why),
        CH_ENOTFOUND);
    assert_int_equal(
        ch_num_json(json_object_get(j, "b"), &ch_num_seconds, true, &out, why, sizeof why),
        CH_EINVAL);
    out = 7;
    assert_int_equal(
        ch_num_json(json_object_get(j, "big"), &ch_num_sequence, false, &out, why, sizeof why),
        CH_EINVAL);
    assert_int_equal(out, 7); /* untouched on failure */
    json_decref(j);
}

static void ids_and_ignored_values(void **state)
{
    (void)state;
    char id[CH_ID_MAX + 2];
    memset(id, 'x', sizeof id);
    id[CH_ID_MAX] = '\0';
    assert_true(ch_id_ok(id));
    id[CH_ID_MAX] = 'x';
    id[CH_ID_MAX + 1] = '\0';
    assert_false(ch_id_ok(id));
    assert_false(ch_id_ok(""));
    assert_false(ch_id_ok(NULL));

    ch_event *e = ch_event_new();
    ch_event_ignore(e, "CallDuration", "must be a whole number");
    json_t *meta = json_pack("{s:s}", "answered_by", "human");
    ch_event_add_meta(e, meta);
    ch_event_add_meta(e, json_object()); /* an empty object changes nothing */
    const json_t *ign = json_object_get(e->metadata, CH_IGNORED_KEY);
    assert_string_equal(json_string_value(json_object_get(ign, "CallDuration")),
                        "CallDuration must be a whole number; the value was ignored");
    assert_string_equal(json_string_value(json_object_get(e->metadata, "answered_by")), "human");
    ch_event_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(only_plain_decimals_are_numbers),
        cmocka_unit_test(ranges_end_where_the_docs_say),
        cmocka_unit_test(json_values_strings_only_when_asked),
        cmocka_unit_test(ids_and_ignored_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
