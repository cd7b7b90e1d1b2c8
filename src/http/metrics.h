/* Process metrics in Prometheus text format: lock-free counters updated on the hot path. */
#ifndef CH_METRICS_H
#define CH_METRICS_H

#include <stdint.h>

#include "util/buf.h"

typedef enum {
    CH_ROUTE_HOOKS,
    CH_ROUTE_CALLS,
    CH_ROUTE_CALL,
    CH_ROUTE_EXPORT,
    CH_ROUTE_WEBHOOKS, /* /v1/endpoints, /v1/deliveries, /v1/webhooks */
    CH_ROUTE_HEALTHZ,
    CH_ROUTE_READYZ,
    CH_ROUTE_METRICS,
    CH_ROUTE_STREAM, /* GET /v1/stream */
    CH_ROUTE_OTHER,
    CH_ROUTE_COUNT
} ch_route;

void ch_metrics_request(ch_route route, int status, int64_t duration_ns);
void ch_metrics_auth_failure(void);
/* A request whose connection ended before its answer was complete. */
void ch_metrics_aborted(void);
/* Records of a request that failed validation (422 per record). */
void ch_metrics_records_rejected(uint64_t n);
/* Appends the process's own series (requests, latency, auth failures): CH_OK, or CH_ETOOBIG
 * when out's ceiling is reached (the scrape must then fail, not serve a cut body). */
int ch_metrics_render(ch_buf *out) __attribute__((warn_unused_result));

#endif
