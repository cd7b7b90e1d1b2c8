/* The diagnostics report of a tenant (GET /v1/diagnostics, `callhook doctor SLUG`): why a
 * webhook endpoint received something or nothing. Its endpoints, each with whether its URL is
 * valid and reachable under the SSRF rules deliveries follow; which endpoints an inbound, an
 * outbound and an internal call would go to right now; the newest calls with what was
 * delivered or skipped for each (from their traces, core/trace.h); failing endpoints and dead
 * letters. The same JSON from the API and the CLI (docs/http-api.md "Diagnostics"). */
#ifndef CH_DIAGNOSE_H
#define CH_DIAGNOSE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/routing.h"
#include "store/store.h"

typedef struct {
    const char *allow_private; /* delivery.allow_private: CIDRs reachable though not public */
    int probe_ms;              /* all reachability checks together; 0 = CH_DIAG_PROBE_MS */
} ch_diagnose_opts;

/* The report of tenant t (see docs/http-api.md for its shape): CH_OK with *out, or CH_ESTORE.
 * Blocks up to opts->probe_ms for the connects (made in parallel), never to a refused address. */
int ch_diagnose(ch_store *s, const ch_tenant *t, const ch_diagnose_opts *opts, json_t **out);

/* ---- the pure parts (unit-tested) ---- */

/* {"endpoint_ids": [...], "reason": "…"} for a call.completed of a call going in direction dir
 * to the endpoints eps[0..n): the ids routing picks, and in plain words why (or why none). */
json_t *ch_diagnose_route(const ch_route_endpoint *eps, size_t n, ch_direction dir);
/* The webhook messages of a call from its trace (ch_call_trace_json): [{"type", "delivered_to":
 * [endpoint ids], "deliveries": [{"endpoint_id", "state", "last_status", "last_error"}],
 * "skipped": reason|null, "state": "delivered"|"pending"|"failed"|"skipped"}], in time order. */
json_t *ch_diagnose_messages(const json_t *trace);

/* What a reachability check found, for one endpoint. */
typedef struct {
    bool url_ok;         /* the URL may be saved (ch_endpoint_url_problem) */
    bool unchecked;      /* not probed (over CH_DIAG_PROBES_MAX): error says so */
    bool resolved;       /* its host resolved */
    bool connected;      /* a connection (and TLS handshake for https) succeeded */
    const char *refused; /* the SSRF guard's reason for the address tried, or NULL */
    char address[64];    /* the address connected to or refused, "" if none */
    char error[256];     /* what went wrong, "" if nothing */
} ch_probe_result;

/* "url_valid", "url_problem" and "reachable": {"ok", "address", "error"} of an endpoint from
 * its probe, set on o. */
void ch_diagnose_probe_json(const ch_probe_result *p, const char *url_problem, json_t *o);

#endif
