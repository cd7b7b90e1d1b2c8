/* A merged call or leg state as JSON (docs/http-api.md): the fields the read API serves and
 * the webhooks carry. Backend-neutral. */
#ifndef CH_CALLJSON_H
#define CH_CALLJSON_H

#include <jansson.h>
#include <stdbool.h>

#include "core/model.h"

/* leg: with the leg's id and without transcript and summary. */
json_t *ch_callstate_json(const ch_callstate *c, bool leg);

/* A stored call as a store backend reads it (C values, no JSON built by the database); the
 * read API, the export and the webhooks' data.call all serve ch_call_view_json of it, so every
 * backend answers the same bytes. */
typedef struct {
    char *id, *tenant, *provider, *external_id;
    ch_callstate state; /* the merged call (state.id unused; state.metadata owned) */
    json_t *legs;       /* array of the legs' states as stored (ch_callstate_json); owned */
    /* the directory's employee with the call's extension; employee_id 0: none */
    int64_t employee_id;
    char *employee_extension, *employee_name, *employee_email;
    /* the lead of the external party's number; lead_id 0: none */
    int64_t lead_id;
    char *lead_phone, *lead_name;
    bool over_limit;
    char *enriched; /* the pipeline's output (core/pipeline.h), JSON text, or NULL */
    /* the call's webhook deliveries: "delivered" | "retrying" | "failed" | "none" (NULL:
     * "none") and the counts by state, kept on the call row by the store */
    char *delivery_state;
    int64_t delivery_total, delivery_succeeded, delivery_failed, delivery_pending;
    int64_t event_count, version, created_at, updated_at;
} ch_call_view;

void ch_call_view_init(ch_call_view *v);
void ch_call_view_clear(ch_call_view *v);
/* {id, tenant, provider, external_id, direction, status, disposition, from, to, from_raw,
 * to_raw, caller_name, extension, started_at, answered_at, ended_at, duration_sec, billsec,
 * recording_url, transcript, summary, cost, metadata, legs, employee, lead, over_limit,
 * delivery {state, total, succeeded, failed, pending}, enrichment, recording, transcript_segments,
 * fields, sentiment, event_count, version, created_at, updated_at}, in this order
 * (docs/schema/call.schema.json). */
json_t *ch_call_view_json(const ch_call_view *v);

#endif
