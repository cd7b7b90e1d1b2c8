/* JSON Schema validation of an extraction result, on the subset that extraction schemas use:
 * servers that accept a schema do not always enforce it, so callhook checks the LLM's answer
 * itself before storing it. Supported: type (a name or an array of names, "integer" and "null"
 * included), properties, required, additionalProperties (true or false), enum, const, items (one
 * schema), minItems, maxItems, minLength, maxLength (in code points), minimum, maximum, boolean
 * schemas; title, description, default, examples, format, $schema, $id and $comment are
 * accepted and not asserted. Anything else (pattern, $ref, anyOf, …) is refused by
 * ch_jschema_check. Pure and thread-safe. docs/internals/enrichment-text.md */
#ifndef CH_JSCHEMA_H
#define CH_JSCHEMA_H

#include <stddef.h>

#include <jansson.h>

/* CH_OK if schema uses only the supported subset, with well-formed keyword values and at most
 * CH_JSCHEMA_MAX_DEPTH levels of nesting; else CH_EINVAL with "<JSON pointer in the schema>:
 * <reason>" in err (the root is "(root)"), e.g. "/properties/city/pattern: keyword not
 * supported". err may be NULL. */
int ch_jschema_check(const json_t *schema, char *err, size_t errlen);

/* CH_OK if value conforms to schema; CH_EINVAL with the first failure in err: "<JSON pointer in
 * the value>: <reason>", e.g. "/city: expected string, got number", or "schema: …" when schema
 * does not pass ch_jschema_check. Numbers compare by value (1 equals 1.0). */
int ch_jschema_validate(const json_t *schema, const json_t *value, char *err, size_t errlen);

#endif
