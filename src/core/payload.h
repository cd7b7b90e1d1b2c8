/* The bodies callhook posts to endpoints (docs/webhooks.md "Payload",
 * docs/schema/webhook-event.schema.json): the versioned envelope and the data of each message
 * type. Pure and backend-neutral: every store backend builds the same bytes from the call's JSON
 * (core/calljson.h plus what the backend adds) and the ids and times it passes in. */
#ifndef CH_PAYLOAD_H
#define CH_PAYLOAD_H

#include <jansson.h>
#include <stdint.h>

#include "core/model.h"

/* The envelope's "version": a receiver reading version 1 must ignore members it does not know */
#define CH_PAYLOAD_VERSION 1

/* A message id with its NUL */
#define CH_MESSAGE_ID_SIZE 32

/* "msg_" + 12 hex digits of the time in ms + 12 hex digits of rnd's low 48 bits: sorting by
 * creation and unique per tenant when rnd is random. It is the webhook-id receivers deduplicate
 * on, kept by every attempt and replay. */
void ch_message_id(char out[CH_MESSAGE_ID_SIZE], int64_t now_ms, uint64_t rnd);

/* The envelope {type, id, timestamp (now_ms), version, tenant, data} as compact JSON (heap;
 * data is borrowed). NULL only when a string is missing (tenant), never on valid input. */
char *ch_payload_envelope(const char *type, const char *msg_id, int64_t now_ms, const char *tenant,
                          json_t *data);

/* data of a call event: the fields automations already consume, flat, beside the full call
 * (call: its JSON as the read API serves it, borrowed). previous_status is present only for
 * call.status_changed: prev's name, null for a call first seen (CH_STATUS_NONE). */
json_t *ch_payload_call_data(json_t *call, const char *type, ch_status prev);

/* The body shapes an endpoint may choose (docs/webhooks.md "Flat payload"): the envelope, or
 * the flat body automations built for the systems callhook replaces read. */
typedef enum { CH_PAYLOAD_STANDARD = 0, CH_PAYLOAD_FLAT = 1 } ch_payload_shape;

/* "standard" | "flat" → its shape; -1 for anything else (NULL included). */
int ch_payload_shape_parse(const char *s);
const char *ch_payload_shape_str(ch_payload_shape s);

/* The flat body of a call event {event_type, timestamp, business_id, call_id, lead_id, phone,
 * customer_name, direction, city, service_category, started_at, ended_at, duration_sec,
 * transcript, summary, agent_name, metadata, message_id, version}, from the same call JSON as
 * ch_payload_call_data (borrowed) and the envelope's type, id, timestamp (ISO 8601) and tenant
 * slug. NULL only when a string is missing. */
json_t *ch_payload_flat(const char *type, const char *msg_id, const char *timestamp,
                        const char *tenant, json_t *call);

/* The flat body (compact JSON, heap) of a stored envelope of a call.* event, built from its
 * data.call with ch_payload_flat: the message id and the event's time stay the envelope's, so
 * every attempt and replay sends the same bytes. NULL when the envelope is not one (another
 * type, no data.call, not JSON): it is sent as it is. */
char *ch_payload_flat_from_envelope(const char *envelope, size_t len);

/* data of endpoint.disabled (to the tenant's other endpoints); reason says why, at_ms when. */
json_t *ch_payload_endpoint_disabled_data(int64_t endpoint_id, const char *url, const char *reason,
                                          int64_t at_ms);

/* data of a "test" message (POST /v1/endpoints/{id}/test). */
json_t *ch_payload_test_data(int64_t endpoint_id, const char *url);

#endif
