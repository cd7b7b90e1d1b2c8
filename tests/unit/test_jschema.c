/* The JSON Schema subset that checks an LLM's extraction (src/enrich/jschema.h): what a schema
 * may use, and each keyword on good and bad values with the message that names the place. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "enrich/jschema.h"
#include "util/limits.h"
#include "util/mem.h"
#include "util/result.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *parse(const char *s)
{
    json_error_t e;
    json_t *j = json_loads(s, JSON_DECODE_ANY, &e);
    if (!j) fail_msg("bad JSON in the test: %s (%s)", s, e.text);
    return j;
}

static void schema_ok(const char *schema)
{
    json_t *s = parse(schema);
    char err[256];
    int rc = ch_jschema_check(s, err, sizeof err);
    if (rc != CH_OK) fail_msg("%s refused: %s", schema, err);
    json_decref(s);
}

static void schema_bad(const char *schema, const char *want)
{
    json_t *s = parse(schema);
    char err[256];
    assert_int_equal(ch_jschema_check(s, err, sizeof err), CH_EINVAL);
    assert_string_equal(err, want);
    json_decref(s);
}

/* value against schema: want NULL for a pass, else the message */
static void value_is(const char *schema, const char *value, const char *want)
{
    json_t *s = parse(schema), *v = parse(value);
    char err[256];
    int rc = ch_jschema_validate(s, v, err, sizeof err);
    if (!want) {
        if (rc != CH_OK) fail_msg("%s against %s: %s", value, schema, err);
    } else {
        if (rc == CH_OK) fail_msg("%s against %s passed", value, schema);
        assert_int_equal(rc, CH_EINVAL);
        assert_string_equal(err, want);
    }
    json_decref(s);
    json_decref(v);
}

#define EXTRACTION                                                                                 \
    "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"title\":\"call\","            \
    "\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"city\",\"intent\"],"       \
    "\"properties\":{\"city\":{\"type\":[\"string\",\"null\"],\"maxLength\":40},"                  \
    "\"intent\":{\"enum\":[\"booking\",\"quote\",\"other\"]},"                                     \
    "\"budget\":{\"type\":\"number\",\"minimum\":0,\"maximum\":100000},"                           \
    "\"rooms\":{\"type\":\"integer\"},\"date\":{\"type\":\"string\",\"format\":\"date\"},"         \
    "\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\",\"minLength\":1},"                \
    "\"minItems\":1,\"maxItems\":3},\"v\":{\"const\":1},\"a/b~c\":{\"type\":\"boolean\"}}}"

static void supported_schemas_pass_the_check(void **state)
{
    (void)state;
    schema_ok(EXTRACTION);
    schema_ok("true");
    schema_ok("false");
    schema_ok("{}");
    schema_ok("{\"type\":\"integer\",\"minimum\":1.5,\"description\":\"x\",\"default\":2}");
    schema_ok("{\"items\":true,\"minItems\":2.0,\"examples\":[[1]],\"$comment\":\"c\"}");
}

static void unsupported_schemas_are_refused_with_their_place(void **state)
{
    (void)state;
    schema_bad("{\"properties\":{\"city\":{\"type\":\"string\",\"pattern\":\"^T\"}}}",
               "/properties/city/pattern: keyword not supported");
    schema_bad("{\"$ref\":\"#/x\"}", "/$ref: keyword not supported");
    schema_bad("{\"anyOf\":[{}]}", "/anyOf: keyword not supported");
    schema_bad("{\"properties\":{\"a/b~\":{\"oneOf\":[]}}}",
               "/properties/a~1b~0/oneOf: keyword not supported");
    schema_bad("{\"additionalProperties\":{\"type\":\"string\"}}",
               "/additionalProperties: only true or false is supported");
    schema_bad("{\"type\":\"float\"}", "/type: must be a type name or a non-empty array of them");
    schema_bad("{\"type\":[\"string\",\"string\"]}", "/type: type names must be unique");
    schema_bad("{\"type\":[]}", "/type: must be a type name or a non-empty array of them");
    schema_bad("{\"type\":[\"string\",\"bool\"]}", "/type: unknown type name");
    schema_bad("{\"required\":[\"a\",1]}", "/required: must be an array of strings");
    schema_bad("{\"enum\":[]}", "/enum: must be a non-empty array");
    schema_bad("{\"items\":[{}]}", "/items: an array of schemas is not supported");
    schema_bad("{\"items\":{\"items\":3}}",
               "/items/items: a schema must be an object or a boolean");
    schema_bad("{\"minLength\":-1}", "/minLength: must be a non-negative integer");
    schema_bad("{\"maxItems\":1.5}", "/maxItems: must be a non-negative integer");
    schema_bad("{\"maximum\":\"9\"}", "/maximum: must be a number");
    schema_bad("[]", "(root): a schema must be an object or a boolean");
    char err[64];
    assert_int_equal(ch_jschema_check(NULL, err, sizeof err), CH_EINVAL);
    assert_int_equal(ch_jschema_check(NULL, NULL, 0), CH_EINVAL); /* err is optional */
}

static void good_extractions_pass(void **state)
{
    (void)state;
    value_is(EXTRACTION, "{\"city\":\"Tel Aviv\",\"intent\":\"booking\"}", NULL);
    value_is(EXTRACTION,
             "{\"city\":null,\"intent\":\"quote\",\"budget\":0,\"rooms\":3.0,"
             "\"date\":\"not a date: format is not asserted\",\"tags\":[\"a\",\"ב\"],\"v\":1.0,"
             "\"a/b~c\":true}",
             NULL);
    /* maxLength counts characters, not bytes: 40 Hebrew letters are 80 bytes */
    char v[256] = "{\"intent\":\"other\",\"city\":\"";
    for (int i = 0; i < 40; i++)
        strcat(v, "א");
    strcat(v, "\"}");
    value_is(EXTRACTION, v, NULL);
    value_is("true", "[1,{\"a\":null}]", NULL);
    value_is("{}", "\"anything\"", NULL);
}

static void bad_extractions_fail_at_their_place(void **state)
{
    (void)state;
    value_is(EXTRACTION, "{\"city\":5,\"intent\":\"quote\"}",
             "/city: expected string or null, got number");
    value_is(EXTRACTION, "{\"city\":\"x\"}", "/intent: required property missing");
    value_is(EXTRACTION, "{\"city\":\"x\",\"intent\":\"chat\"}",
             "/intent: not one of the allowed values");
    value_is(EXTRACTION, "{\"city\":\"x\",\"intent\":\"quote\",\"phone\":\"1\"}",
             "/phone: additional property not allowed");
    value_is(EXTRACTION, "{\"city\":\"x\",\"intent\":\"quote\",\"budget\":-1}",
             "/budget: less than the minimum 0");
    value_is(EXTRACTION, "{\"city\":\"x\",\"intent\":\"quote\",\"budget\":100000.5}",
             "/budget: greater than the maximum 100000");
    value_is(EXTRACTION, "{\"city\":\"x\",\"intent\":\"quote\",\"budget\":\"5\"}",
             "/budget: expected number, got string");
    value_is(EXTRACTION, "{\"city\":\"x\",\"intent\":\"quote\",\"rooms\":2.5}",
             "/rooms: expected integer, got number");
    value_is(EXTRACTION, "{\"city\":\"x\",\"intent\":\"quote\",\"tags\":[]}",
             "/tags: fewer than 1 items");
    value_is(EXTRACTION, "{\"city\":\"x\",\"intent\":\"quote\",\"tags\":[\"a\",\"b\",\"c\",\"d\"]}",
             "/tags: more than 3 items");
    value_is(EXTRACTION, "{\"city\":\"x\",\"intent\":\"quote\",\"tags\":[\"a\",\"\"]}",
             "/tags/1: shorter than 1 characters");
    value_is(EXTRACTION, "{\"city\":\"x\",\"intent\":\"quote\",\"v\":2}",
             "/v: not the constant value");
    value_is(EXTRACTION, "{\"city\":\"x\",\"intent\":\"quote\",\"a/b~c\":1}",
             "/a~1b~0c: expected boolean, got number");
    char v[256] = "{\"intent\":\"other\",\"city\":\"";
    for (int i = 0; i < 41; i++)
        strcat(v, "א");
    strcat(v, "\"}");
    value_is(EXTRACTION, v, "/city: longer than 40 characters");
    value_is(EXTRACTION, "[]", "(root): expected object, got array");
    value_is("false", "1", "(root): not allowed here");
    value_is("{\"properties\":{\"a\":false}}", "{\"a\":1}", "/a: not allowed here");
    /* a schema outside the subset fails validation too, whatever the value */
    value_is("{\"pattern\":\"x\"}", "\"x\"", "schema: /pattern: keyword not supported");
}

static void enum_and_const_compare_json_values(void **state)
{
    (void)state;
    value_is("{\"const\":{\"a\":[1,2.0],\"b\":null}}", "{\"b\":null,\"a\":[1.0,2]}", NULL);
    value_is("{\"const\":{\"a\":[1,2]}}", "{\"a\":[2,1]}", "(root): not the constant value");
    value_is("{\"const\":{\"a\":1}}", "{\"a\":1,\"b\":2}", "(root): not the constant value");
    value_is("{\"enum\":[null,\"x\",3]}", "3.0", NULL);
    value_is("{\"enum\":[null,\"x\",3]}", "false", "(root): not one of the allowed values");
    value_is("{\"enum\":[\"1\"]}", "1", "(root): not one of the allowed values");
}

/* a nest of n "items" schemas (or arrays when array is set) */
static char *nest(int n, bool array)
{
    char *s = ch_malloc((size_t)n * 12 + 8), *p = s;
    for (int i = 0; i < n; i++)
        p += sprintf(p, "%s", array ? "[" : "{\"items\":");
    p += sprintf(p, "%s", array ? "1" : "{}");
    for (int i = 0; i < n; i++)
        *p++ = array ? ']' : '}';
    *p = 0;
    return s;
}

static void nesting_is_bounded(void **state)
{
    (void)state;
    char *ok = nest(CH_JSCHEMA_MAX_DEPTH - 1, false);
    char *deep = nest(CH_JSCHEMA_MAX_DEPTH, false);
    schema_ok(ok);
    json_t *s = parse(deep);
    char err[1024];
    assert_int_equal(ch_jschema_check(s, err, sizeof err), CH_EINVAL);
    assert_non_null(strstr(err, "nested too deeply"));
    json_decref(s);

    /* a deep value against the deepest allowed schema: checked all the way down */
    char *v = nest(CH_JSCHEMA_MAX_DEPTH - 1, true);
    value_is(ok, v, NULL);
    free(v);
    /* a const compared with a value deeper than the ceiling fails instead of recursing on */
    char *cv = nest(CH_JSCHEMA_MAX_DEPTH + 5, true);
    char *cs = ch_asprintf("{\"const\":%s}", cv);
    json_t *sch = parse(cs), *val = parse(cv);
    assert_int_equal(ch_jschema_validate(sch, val, err, sizeof err), CH_EINVAL);
    assert_string_equal(err, "(root): nested too deeply");
    json_decref(sch);
    json_decref(val);
    free(cs);
    free(cv);
    free(ok);
    free(deep);
}

static void long_pointers_and_small_buffers_are_cut_not_overrun(void **state)
{
    (void)state;
    char key[2000];
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = 0;
    char *schema = ch_asprintf("{\"properties\":{\"%s\":{\"type\":\"string\"}}}", key);
    char *value = ch_asprintf("{\"%s\":1}", key);
    json_t *s = parse(schema), *v = parse(value);
    char err[8];
    assert_int_equal(ch_jschema_validate(s, v, err, sizeof err), CH_EINVAL);
    assert_string_equal(err, "/kkkkkk");
    char big[2048];
    assert_int_equal(ch_jschema_validate(s, v, big, sizeof big), CH_EINVAL);
    assert_non_null(strstr(big, ": expected string, got number"));
    assert_int_equal(ch_jschema_validate(s, v, NULL, 0), CH_EINVAL);
    json_decref(s);
    json_decref(v);
    free(schema);
    free(value);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(supported_schemas_pass_the_check),
        cmocka_unit_test(unsupported_schemas_are_refused_with_their_place),
        cmocka_unit_test(good_extractions_pass),
        cmocka_unit_test(bad_extractions_fail_at_their_place),
        cmocka_unit_test(enum_and_const_compare_json_values),
        cmocka_unit_test(nesting_is_bounded),
        cmocka_unit_test(long_pointers_and_small_buffers_are_cut_not_overrun),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
