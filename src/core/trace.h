/* A call's trace (GET /v1/calls/{id}/trace, `callhook call trace`): everything that happened to
 * one call, in time order — each raw event received, each change of status, each pipeline
 * stage, each webhook message with its deliveries and their attempts, and the lifecycle events
 * that created no message because no endpoint took them. A backend reads the rows into the C
 * values below (store/backend.h); the JSON and what is derived from the rows (the status
 * changes, by folding the events in received order with core/merge; the routing decisions, by
 * core/lifecycle and core/routing) are built here, once for every backend. Skipped decisions
 * are not stored (delivery_skips keeps counters only, so that ingest pays no write for them):
 * they are judged against the tenant's endpoints as they are now, and the trace says so. */
#ifndef CH_TRACE_H
#define CH_TRACE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/model.h"
#include "core/pipeline.h"
#include "core/views.h"

/* One event as it was received. */
typedef struct {
    int64_t id, received_at;
    char *provider, *kind, *idem_key, *leg_id, *request_id, *content_type;
    char *raw;       /* the first CH_TRACE_RAW_MAX bytes of the body as received */
    size_t raw_len;  /* bytes in raw */
    size_t raw_size; /* bytes of the whole body */
    ch_event *norm;  /* its normalised form as stored (merge reads it), NULL if unreadable */
} ch_trace_event;

/* A webhook message of the call and where it went. */
typedef struct {
    char *id, *type;
    int64_t created_at;
    ch_delivery_view *deliveries; /* each with its attempt log (no payload) */
    char **urls;                  /* [ndeliveries] the endpoint's URL now, NULL if removed */
    size_t ndeliveries;
} ch_trace_message;

typedef struct {
    char *call_id;
    ch_direction direction; /* as the call is now */
    ch_status status;
    ch_disposition disposition;
    int64_t created_at, updated_at;
    char *country;          /* the tenant's calling code, for the fold */
    ch_trace_event *events; /* received order, at most CH_TRACE_EVENTS_MAX */
    size_t nevents;
    int64_t events_total;            /* the call's events, shown or not */
    ch_job_row jobs[CH_STAGE_COUNT]; /* state NONE where not planned */
    int64_t job_created[CH_STAGE_COUNT];
    ch_trace_message *messages; /* creation order, at most CH_TRACE_MESSAGES_MAX */
    size_t nmessages;
    bool messages_truncated;
    ch_endpoint_view *endpoints; /* the tenant's endpoints now (for the skipped decisions) */
    size_t nendpoints;
} ch_call_trace;

void ch_call_trace_clear(ch_call_trace *t);

/* {"call_id", "direction", "status", "disposition", "events_total", "events_shown",
 * "messages_truncated", "note", "timeline": [{"at", "what": "event"|"status"|"stage"|
 * "message"|"skipped", …}]} (docs/http-api.md). */
json_t *ch_call_trace_json(const ch_call_trace *t);

#endif
