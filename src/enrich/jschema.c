/* JSON Schema subset (jschema.h). Both walks carry the JSON pointer of where they are, so that
 * the first failure names its place; the pointer is cut (not overrun) if it gets too long. */
#include "enrich/jschema.h"

#include "util/limits.h"
#include "util/result.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

typedef struct walk {
    char path[512];
    size_t plen;
    char *err;
    size_t errlen;
} walk;

/* ---- pointers and errors ------------------------------------------------------------------ */

/* Appends "/" + key (~ and / escaped as RFC 6901 says) and returns the length to go back to. */
static size_t push(walk *w, const char *key)
{
    size_t at = w->plen;
    size_t room = sizeof w->path - 1;
    if (w->plen < room) w->path[w->plen++] = '/';
    for (const char *k = key; *k && w->plen + 2 <= room; k++) {
        if (*k == '~' || *k == '/') {
            w->path[w->plen++] = '~';
            w->path[w->plen++] = *k == '~' ? '0' : '1';
        } else {
            w->path[w->plen++] = *k;
        }
    }
    w->path[w->plen] = 0;
    return at;
}

static size_t push_index(walk *w, size_t i)
{
    char num[24];
    snprintf(num, sizeof num, "%zu", i);
    return push(w, num);
}

static void pop(walk *w, size_t at)
{
    w->plen = at;
    w->path[at] = 0;
}

__attribute__((format(printf, 2, 3))) static int fail(walk *w, const char *fmt, ...)
{
    if (w->err && w->errlen) {
        int n = snprintf(w->err, w->errlen, "%s: ", w->plen ? w->path : "(root)");
        if (n >= 0 && (size_t)n < w->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(w->err + n, w->errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return CH_EINVAL;
}

static void walk_init(walk *w, char *err, size_t errlen)
{
    w->path[0] = 0;
    w->plen = 0;
    w->err = err;
    w->errlen = errlen;
    if (err && errlen) err[0] = 0;
}

/* ---- the schema --------------------------------------------------------------------------- */

static const char *const type_names[] = {"null",   "boolean", "object", "array",
                                         "number", "string",  "integer"};

static bool type_name(const json_t *t)
{
    if (!json_is_string(t)) return false;
    for (size_t i = 0; i < sizeof type_names / sizeof *type_names; i++)
        if (strcmp(json_string_value(t), type_names[i]) == 0) return true;
    return false;
}

static bool count_value(const json_t *v) /* a non-negative integer (2.0 included) */
{
    if (json_is_integer(v)) return json_integer_value(v) >= 0;
    double d = json_is_real(v) ? json_real_value(v) : -1;
    return d >= 0 && d == floor(d) && d < 9e15;
}

static int check_schema(walk *w, const json_t *s, int depth);

static int check_keyword(walk *w, const char *kw, const json_t *v, int depth)
{
    if (strcmp(kw, "type") == 0) {
        if (type_name(v)) return CH_OK;
        if (!json_is_array(v) || json_array_size(v) == 0)
            return fail(w, "must be a type name or a non-empty array of them");
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (!type_name(json_array_get(v, i))) return fail(w, "unknown type name");
            for (size_t j = 0; j < i; j++)
                if (json_equal(json_array_get(v, i), json_array_get(v, j)))
                    return fail(w, "type names must be unique");
        }
        return CH_OK;
    }
    if (strcmp(kw, "properties") == 0) {
        if (!json_is_object(v)) return fail(w, "must be an object");
        const char *key;
        const json_t *sub;
        json_object_foreach((json_t *)v, key, sub)
        {
            size_t at = push(w, key);
            int rc = check_schema(w, sub, depth + 1);
            if (rc != CH_OK) return rc;
            pop(w, at);
        }
        return CH_OK;
    }
    if (strcmp(kw, "required") == 0) {
        if (!json_is_array(v)) return fail(w, "must be an array of strings");
        for (size_t i = 0; i < json_array_size(v); i++)
            if (!json_is_string(json_array_get(v, i)))
                return fail(w, "must be an array of strings");
        return CH_OK;
    }
    if (strcmp(kw, "additionalProperties") == 0)
        return json_is_boolean(v) ? CH_OK : fail(w, "only true or false is supported");
    if (strcmp(kw, "enum") == 0)
        return json_is_array(v) && json_array_size(v) ? CH_OK
                                                      : fail(w, "must be a non-empty array");
    if (strcmp(kw, "items") == 0) {
        if (json_is_array(v)) return fail(w, "an array of schemas is not supported");
        return check_schema(w, v, depth + 1);
    }
    if (strcmp(kw, "minItems") == 0 || strcmp(kw, "maxItems") == 0 ||
        strcmp(kw, "minLength") == 0 || strcmp(kw, "maxLength") == 0)
        return count_value(v) ? CH_OK : fail(w, "must be a non-negative integer");
    if (strcmp(kw, "minimum") == 0 || strcmp(kw, "maximum") == 0)
        return json_is_number(v) ? CH_OK : fail(w, "must be a number");
    static const char *const annotations[] = {"title",    "description", "default",
                                              "examples", "format",      "$schema",
                                              "$id",      "$comment",    "const"};
    for (size_t i = 0; i < sizeof annotations / sizeof *annotations; i++)
        if (strcmp(kw, annotations[i]) == 0) return CH_OK;
    return fail(w, "keyword not supported");
}

static int check_schema(walk *w, const json_t *s, int depth)
{
    if (depth > CH_JSCHEMA_MAX_DEPTH) return fail(w, "nested too deeply");
    if (json_is_boolean(s)) return CH_OK;
    if (!json_is_object(s)) return fail(w, "a schema must be an object or a boolean");
    const char *kw;
    const json_t *v;
    json_object_foreach((json_t *)s, kw, v)
    {
        size_t at = push(w, kw);
        int rc = check_keyword(w, kw, v, depth);
        if (rc != CH_OK) return rc;
        pop(w, at);
    }
    return CH_OK;
}

int ch_jschema_check(const json_t *schema, char *err, size_t errlen)
{
    walk w;
    walk_init(&w, err, errlen);
    if (!schema) return fail(&w, "no schema");
    return check_schema(&w, schema, 1);
}

/* ---- values ------------------------------------------------------------------------------- */

/* JSON Schema's equality: numbers by value, objects regardless of member order. 1, 0, or -1
 * past the depth ceiling. */
static int equal(const json_t *a, const json_t *b, int depth)
{
    if (depth > CH_JSCHEMA_MAX_DEPTH) return -1;
    if (json_is_number(a) && json_is_number(b)) {
        if (json_is_integer(a) && json_is_integer(b))
            return json_integer_value(a) == json_integer_value(b);
        return json_number_value(a) == json_number_value(b);
    }
    if (json_typeof(a) != json_typeof(b)) return 0;
    if (json_is_array(a)) {
        if (json_array_size(a) != json_array_size(b)) return 0;
        for (size_t i = 0; i < json_array_size(a); i++) {
            int eq = equal(json_array_get(a, i), json_array_get(b, i), depth + 1);
            if (eq != 1) return eq;
        }
        return 1;
    }
    if (json_is_object(a)) {
        if (json_object_size(a) != json_object_size(b)) return 0;
        const char *key;
        const json_t *va;
        json_object_foreach((json_t *)a, key, va)
        {
            const json_t *vb = json_object_get(b, key);
            if (!vb) return 0;
            int eq = equal(va, vb, depth + 1);
            if (eq != 1) return eq;
        }
        return 1;
    }
    return json_equal(a, b); /* strings (NULs included), true, false, null */
}

static bool is_integral(const json_t *v)
{
    if (json_is_integer(v)) return true;
    double d = json_is_real(v) ? json_real_value(v) : 0.5;
    return isfinite(d) && d == floor(d);
}

static bool has_type(const json_t *v, const char *t)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return strcmp(t, "object") == 0;
    case JSON_ARRAY:
        return strcmp(t, "array") == 0;
    case JSON_STRING:
        return strcmp(t, "string") == 0;
    case JSON_INTEGER:
    case JSON_REAL:
        return strcmp(t, "number") == 0 || (strcmp(t, "integer") == 0 && is_integral(v));
    case JSON_TRUE:
    case JSON_FALSE:
        return strcmp(t, "boolean") == 0;
    case JSON_NULL:
        return strcmp(t, "null") == 0;
    }
    return false;
}

static const char *value_type(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    case JSON_NULL:
        return "null";
    }
    return "?";
}

static int check_type(walk *w, const json_t *t, const json_t *v)
{
    if (json_is_string(t)) {
        if (has_type(v, json_string_value(t))) return CH_OK;
        return fail(w, "expected %s, got %s", json_string_value(t), value_type(v));
    }
    char names[128] = "";
    size_t n = 0;
    for (size_t i = 0; i < json_array_size(t); i++) {
        const char *name = json_string_value(json_array_get(t, i));
        if (has_type(v, name)) return CH_OK;
        int k = snprintf(names + n, sizeof names - n, "%s%s", i ? " or " : "", name);
        if (k > 0 && (size_t)k < sizeof names - n) n += (size_t)k;
    }
    return fail(w, "expected %s, got %s", names, value_type(v));
}

static size_t code_points(const json_t *s)
{
    const char *p = json_string_value(s);
    size_t n = 0, len = json_string_length(s);
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)p[i] & 0xC0) != 0x80) n++;
    return n;
}

static json_int_t count_of(const json_t *v)
{
    return json_is_integer(v) ? json_integer_value(v) : (json_int_t)json_real_value(v);
}

static int validate(walk *w, const json_t *s, const json_t *v, int depth);

static int validate_object(walk *w, const json_t *s, const json_t *v, int depth)
{
    const json_t *req = json_object_get(s, "required");
    for (size_t i = 0; i < json_array_size(req); i++) {
        const char *key = json_string_value(json_array_get(req, i));
        if (json_object_get(v, key)) continue;
        push(w, key);
        return fail(w, "required property missing");
    }
    const json_t *props = json_object_get(s, "properties");
    bool closed = json_is_false(json_object_get(s, "additionalProperties"));
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)v, key, val)
    {
        const json_t *sub = json_object_get(props, key);
        size_t at = push(w, key);
        if (!sub && closed) return fail(w, "additional property not allowed");
        if (sub) {
            int rc = validate(w, sub, val, depth + 1);
            if (rc != CH_OK) return rc;
        }
        pop(w, at);
    }
    return CH_OK;
}

static int validate_array(walk *w, const json_t *s, const json_t *v, int depth)
{
    const json_t *k;
    size_t n = json_array_size(v);
    if ((k = json_object_get(s, "minItems")) && (json_int_t)n < count_of(k))
        return fail(w, "fewer than %lld items", (long long)count_of(k));
    if ((k = json_object_get(s, "maxItems")) && (json_int_t)n > count_of(k))
        return fail(w, "more than %lld items", (long long)count_of(k));
    const json_t *items = json_object_get(s, "items");
    for (size_t i = 0; items && i < n; i++) {
        size_t at = push_index(w, i);
        int rc = validate(w, items, json_array_get(v, i), depth + 1);
        if (rc != CH_OK) return rc;
        pop(w, at);
    }
    return CH_OK;
}

static int validate(walk *w, const json_t *s, const json_t *v, int depth)
{
    if (depth > CH_JSCHEMA_MAX_DEPTH) return fail(w, "nested too deeply");
    if (json_is_boolean(s)) return json_is_true(s) ? CH_OK : fail(w, "not allowed here");
    const json_t *k;
    if ((k = json_object_get(s, "type")) && check_type(w, k, v) != CH_OK) return CH_EINVAL;
    if ((k = json_object_get(s, "const"))) {
        int eq = equal(k, v, depth);
        if (eq < 0) return fail(w, "nested too deeply");
        if (!eq) return fail(w, "not the constant value");
    }
    if ((k = json_object_get(s, "enum"))) {
        int found = 0;
        for (size_t i = 0; i < json_array_size(k) && found == 0; i++)
            found = equal(json_array_get(k, i), v, depth);
        if (found < 0) return fail(w, "nested too deeply");
        if (!found) return fail(w, "not one of the allowed values");
    }
    if (json_is_string(v)) {
        size_t n = code_points(v);
        if ((k = json_object_get(s, "minLength")) && (json_int_t)n < count_of(k))
            return fail(w, "shorter than %lld characters", (long long)count_of(k));
        if ((k = json_object_get(s, "maxLength")) && (json_int_t)n > count_of(k))
            return fail(w, "longer than %lld characters", (long long)count_of(k));
    }
    if (json_is_number(v)) {
        double d = json_number_value(v);
        if ((k = json_object_get(s, "minimum")) && d < json_number_value(k))
            return fail(w, "less than the minimum %g", json_number_value(k));
        if ((k = json_object_get(s, "maximum")) && d > json_number_value(k))
            return fail(w, "greater than the maximum %g", json_number_value(k));
    }
    if (json_is_object(v)) return validate_object(w, s, v, depth);
    if (json_is_array(v)) return validate_array(w, s, v, depth);
    return CH_OK;
}

int ch_jschema_validate(const json_t *schema, const json_t *value, char *err, size_t errlen)
{
    walk w;
    walk_init(&w, err, errlen);
    char why[256];
    if (ch_jschema_check(schema, why, sizeof why) != CH_OK) {
        if (err && errlen) snprintf(err, errlen, "schema: %s", why);
        return CH_EINVAL;
    }
    if (!value) return fail(&w, "no value");
    return validate(&w, schema, value, 1);
}
