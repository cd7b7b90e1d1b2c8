/* Outbound webhook endpoints (docs/webhooks.md): the rules an endpoint must follow when it is
 * saved — URL, kind, event filter, headers, secret format. Storage is in store/sqlite/ops.c. */
#ifndef CH_ENDPOINT_H
#define CH_ENDPOINT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/limits.h"

#define CH_WHSEC_MAX 64 /* "whsec_" + base64 of 32 bytes + NUL */

/* The event types callhook sends (docs/webhooks.md). */
extern const char *const ch_event_types[];

/* NULL when url is acceptable (http/https, a host, no spaces or control characters, at most
 * CH_ENDPOINT_URL_MAX bytes), else a sentence saying what is wrong. */
const char *ch_endpoint_url_problem(const char *url);
/* inbound | outbound | generic | status */
bool ch_endpoint_kind_valid(const char *kind);
/* "*" or a comma-separated list of known event types; NULL when fine, else the bad entry
 * (static buffer, for the message). */
const char *ch_endpoint_events_problem(const char *events);
/* NULL when the custom header "Name: value" may be saved, else a sentence naming the header
 * and what is wrong (thread-local buffer): malformed, too long, a control character, or a name
 * ch_endpoint_header_allowed refuses. */
const char *ch_endpoint_header_problem(const char *line);
/* False for the headers an endpoint may not set: hop-by-hop and framing headers (Connection,
 * Transfer-Encoding, Content-Length, …), Host, Expect, and the ones callhook sets itself
 * (Content-Type, webhook-*). Also checked when sending, for endpoints saved before the rule. */
bool ch_endpoint_header_allowed(const char *name);
/* Adds the custom header "Name: value" to obj; false when ch_endpoint_header_problem finds a
 * problem or the value is not UTF-8. */
bool ch_endpoint_header_add(json_t *obj, const char *line);
/* A new signing secret: "whsec_" + base64 of 24 random bytes. */
void ch_endpoint_new_secret(char out[CH_WHSEC_MAX]);

#endif
