/* Where a lifecycle event of a call goes (docs/webhooks.md "Routing"), decided from the tenant's
 * endpoints alone. Pure and backend-neutral: every store backend routes the same way, and the
 * rules are unit-tested without a database. The backend reads the endpoints and writes the
 * deliveries or counts the skip. */
#ifndef CH_ROUTING_H
#define CH_ROUTING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/model.h"

/* endpoints.kind: which calls an endpoint receives */
typedef enum {
    CH_EPK_NONE = 0, /* a kind this build does not know: receives nothing */
    CH_EPK_INBOUND,
    CH_EPK_OUTBOUND,
    CH_EPK_GENERIC,
    CH_EPK_STATUS,
} ch_endpoint_kind;

/* "inbound", "outbound", "generic", "status"; anything else is CH_EPK_NONE. */
ch_endpoint_kind ch_endpoint_kind_parse(const char *s);

/* What routing needs of an endpoint; the caller owns the strings. */
typedef struct {
    int64_t id;
    ch_endpoint_kind kind;
    bool enabled;
    const char *events; /* "*" (or NULL) for every type, else a comma-separated list */
} ch_route_endpoint;

/* True when an events filter takes the type. */
bool ch_route_subscribed(const char *events, const char *type);

/* The endpoints of eps[0..n) a call event of this type goes to, by the call's direction now:
 * their ids into ids (room for n: every endpoint may match, each at most once), in the order
 * of eps. Returns how many; when none, *skip_reason says why (a static string, the same
 * pointer for the same reason: delivery_skips counts by it). */
size_t ch_route_call_event(const ch_route_endpoint *eps, size_t n, ch_direction dir,
                           const char *type, int64_t *ids, const char **skip_reason);

/* endpoint.disabled goes to the tenant's other enabled endpoints that take it (Svix's rule),
 * whatever their kind. ids has room for n; returns how many. */
size_t ch_route_endpoint_disabled(const ch_route_endpoint *eps, size_t n, int64_t disabled_id,
                                  int64_t *ids);

#endif
