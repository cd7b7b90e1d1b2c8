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

/* data of endpoint.disabled (to the tenant's other endpoints); reason says why, at_ms when. */
json_t *ch_payload_endpoint_disabled_data(int64_t endpoint_id, const char *url, const char *reason,
                                          int64_t at_ms);

/* data of a "test" message (POST /v1/endpoints/{id}/test). */
json_t *ch_payload_test_data(int64_t endpoint_id, const char *url);

#endif
