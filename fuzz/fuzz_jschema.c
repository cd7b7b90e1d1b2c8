/* JSON Schema validation (src/enrich/jschema.h). Input: a JSON array [schema, value].
 * Checks: nothing crashes, recurses without bound or leaves err unterminated; a schema refused
 * by ch_jschema_check fails every validation with "schema: …"; a value always conforms to
 * {"const": value}, {"enum": [value]} and {"type": <its type>} (when it is not nested deeper
 * than the ceiling); a value that conforms to a schema still conforms once both are wrapped in
 * an object property. */
#include "enrich/jschema.h"
#include "util/limits.h"
#include "util/result.h"

#include <stdlib.h>
#include <string.h>

static size_t depth(const json_t *v)
{
    size_t d = 0;
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            size_t s = depth(json_array_get(v, i));
            if (s > d) d = s;
        }
        return d + 1;
    }
    if (json_is_object(v)) {
        const char *k;
        json_t *m;
        json_object_foreach((json_t *)v, k, m)
        {
            size_t s = depth(m);
            if (s > d) d = s;
        }
        return d + 1;
    }
    return 1;
}

static int validate(json_t *schema, const json_t *value)
{
    char err[128];
    memset(err, 'x', sizeof err);
    int rc = ch_jschema_validate(schema, value, err, sizeof err);
    if (rc != CH_OK && (rc != CH_EINVAL || !memchr(err, 0, sizeof err) || !err[0])) abort();
    json_decref(schema);
    return rc;
}

static void must_pass(json_t *schema, const json_t *value)
{
    if (validate(schema, value) != CH_OK) abort();
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size > 64 * 1024) return 0;
    json_t *pair = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (!json_is_array(pair) || json_array_size(pair) != 2) {
        json_decref(pair);
        return 0;
    }
    json_t *schema = json_array_get(pair, 0), *value = json_array_get(pair, 1);
    char err[64];
    int checked = ch_jschema_check(schema, err, sizeof err);
    if (checked != CH_OK && (checked != CH_EINVAL || !err[0])) abort();
    char verr[256];
    int rc = ch_jschema_validate(schema, value, verr, sizeof verr);
    if (checked != CH_OK && (rc != CH_EINVAL || strncmp(verr, "schema: ", 8) != 0)) abort();

    if (depth(value) + 1 < CH_JSCHEMA_MAX_DEPTH) {
        must_pass(json_pack("{s:O}", "const", value), value);
        must_pass(json_pack("{s:[O]}", "enum", value), value);
        static const char *const types[] = {"object", "array",   "string",  "number",
                                            "number", "boolean", "boolean", "null"};
        must_pass(json_pack("{s:s}", "type", types[json_typeof(value)]), value);
    }
    if (checked == CH_OK && rc == CH_OK) {
        json_t *wrapped = json_pack("{s:{s:O}, s:[s]}", "properties", "x", schema, "required", "x");
        json_t *wv = json_pack("{s:O}", "x", value);
        if (ch_jschema_check(wrapped, NULL, 0) == CH_OK)
            must_pass(wrapped, wv);
        else
            json_decref(wrapped);
        json_decref(wv);
    }
    json_decref(pair);
    return 0;
}
