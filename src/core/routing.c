/* Routing of call events to endpoints (routing.h, docs/webhooks.md "Routing"): pure. */
#include "core/routing.h"

#include <string.h>

ch_endpoint_kind ch_endpoint_kind_parse(const char *s)
{
    static const char *const names[] = {
        [CH_EPK_INBOUND] = "inbound",
        [CH_EPK_OUTBOUND] = "outbound",
        [CH_EPK_GENERIC] = "generic",
        [CH_EPK_STATUS] = "status",
    };
    for (size_t k = 1; s && k < sizeof names / sizeof *names; k++)
        if (strcmp(s, names[k]) == 0) return (ch_endpoint_kind)k;
    return CH_EPK_NONE;
}

bool ch_route_subscribed(const char *events, const char *type)
{
    if (!events || strcmp(events, "*") == 0) return true;
    size_t tl = strlen(type);
    for (const char *p = events; *p;) {
        size_t n = strcspn(p, ",");
        if (n == tl && memcmp(p, type, n) == 0) return true;
        p += n;
        if (*p == ',') p++;
    }
    return false;
}

/* Adds the enabled, subscribed endpoints of kind k; *any tells whether the kind exists at all
 * (the skip reason differs). */
static size_t take_kind(const ch_route_endpoint *eps, size_t n, ch_endpoint_kind k,
                        const char *type, int64_t *ids, size_t m, bool *any)
{
    for (size_t i = 0; i < n; i++) {
        if (eps[i].kind != k) continue;
        *any = true;
        if (eps[i].enabled && ch_route_subscribed(eps[i].events, type)) ids[m++] = eps[i].id;
    }
    return m;
}

/* inbound → inbound endpoints, else generic; outbound → outbound only; internal/unknown →
 * generic; call.status_changed also → status endpoints. The kinds taken are disjoint, so an
 * endpoint is taken at most once and n ids are always enough. */
size_t ch_route_call_event(const ch_route_endpoint *eps, size_t n, ch_direction dir,
                           const char *type, int64_t *ids, const char **skip_reason)
{
    ch_endpoint_kind kind = dir == CH_DIR_OUTBOUND ? CH_EPK_OUTBOUND : CH_EPK_GENERIC;
    if (dir == CH_DIR_INBOUND)
        for (size_t i = 0; i < n; i++)
            if (eps[i].kind == CH_EPK_INBOUND) kind = CH_EPK_INBOUND;
    bool any = false;
    size_t m = take_kind(eps, n, kind, type, ids, 0, &any);
    if (strcmp(type, "call.status_changed") == 0)
        m = take_kind(eps, n, CH_EPK_STATUS, type, ids, m, &any);
    if (m > 0) return m;
    if (any)
        *skip_reason = "no enabled endpoint is subscribed to this event type";
    else if (dir == CH_DIR_OUTBOUND)
        *skip_reason = "no endpoint for outbound calls";
    else if (dir == CH_DIR_INBOUND)
        *skip_reason = "no endpoint for inbound calls";
    else if (dir == CH_DIR_INTERNAL)
        *skip_reason = "no endpoint for internal calls";
    else
        *skip_reason = "no endpoint for calls of unknown direction";
    return 0;
}

size_t ch_route_endpoint_disabled(const ch_route_endpoint *eps, size_t n, int64_t disabled_id,
                                  int64_t *ids)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (eps[i].id != disabled_id && eps[i].enabled &&
            ch_route_subscribed(eps[i].events, "endpoint.disabled"))
            ids[m++] = eps[i].id;
    return m;
}
