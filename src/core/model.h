/* The data every layer shares: a normalised event (what a provider adapter produces from one
 * delivery record), the merged call, and tenants. Strings are owned (heap) unless noted;
 * CH_TIME_UNSET / CH_NUM_UNSET mark values the event does not carry. */
#ifndef CH_MODEL_H
#define CH_MODEL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/limits.h"
#include "util/timeutil.h"

#define CH_NUM_UNSET INT64_MIN

/* The metadata limits (CH_META_*) are in util/limits.h. */

typedef enum {
    CH_DIR_UNKNOWN = 0,
    CH_DIR_INBOUND,
    CH_DIR_OUTBOUND,
    CH_DIR_INTERNAL,
} ch_direction;

/* Ordered: a call's status only moves up (merge.md rule 3). CH_STATUS_NONE = not stated. */
typedef enum {
    CH_STATUS_NONE = 0,
    CH_STATUS_QUEUED,
    CH_STATUS_RINGING,
    CH_STATUS_IN_PROGRESS,
    CH_STATUS_ENDED,
} ch_status;

/* Ordered by strength of evidence: when legs or events disagree, the higher one wins
 * (any answered leg makes the call answered). */
typedef enum {
    CH_DISP_NONE = 0,
    CH_DISP_CANCELED,
    CH_DISP_FAILED,
    CH_DISP_NO_ANSWER,
    CH_DISP_BUSY,
    CH_DISP_ANSWERED,
} ch_disposition;

typedef struct {
    char *provider;    /* adapter name: "generic", "twilio", … */
    char *external_id; /* the call's natural key at the provider */
    char *idem_key;    /* idempotency key, unique per tenant (provider-prefixed) */
    char *kind;        /* provider's event name, for the timeline; may be NULL */
    char *leg_id;      /* set when the event describes one leg of the call */
    int64_t seq;       /* provider sequence number, or CH_NUM_UNSET */
    int64_t ts;        /* provider timestamp of the event (ms), or CH_TIME_UNSET */

    ch_direction direction;
    ch_status status;
    ch_disposition disposition;
    char *from_raw, *to_raw, *caller_name, *extension;
    /* from_raw / to_raw in E.164 when they read as full numbers, else NULL; filled on the
     * request thread (ch_event_normalise) because the parser is too slow for the writer */
    char *from_e164, *to_e164;
    int64_t started_at, answered_at, ended_at; /* ms UTC or CH_TIME_UNSET */
    int64_t duration_sec, billsec;             /* or CH_NUM_UNSET */
    char *recording_url, *transcript, *summary;
    int64_t cost_micros; /* amount × 10^6, or CH_NUM_UNSET */
    char *cost_currency;
    json_t *metadata;   /* object or NULL; merged key by key */
    size_t meta_bytes;  /* compact JSON size of metadata (0: none, or not measured yet) */
    char *meta_dropped; /* why the writer did not keep the metadata it came with, or NULL */
    /* The idempotency key of an earlier event of the call whose metadata this one repeats
     * verbatim: the stored form names it instead of holding a copy (the writer sets it and
     * resolves it when it reads the call's events back). */
    char *meta_as;

    /* The record exactly as received (for the events table). */
    char *raw;
    size_t raw_len;
    char *content_type;
    /* ch_event_to_json() serialised, for the events table; filled on the request thread
     * (ch_event_prepare) so that the single writer thread does not spend its time on it;
     * the writer fills it when it is missing. */
    char *norm;
} ch_event;

typedef struct {
    char *id; /* leg id; NULL for the call itself */
    ch_direction direction;
    ch_status status;
    ch_disposition disposition;
    char *from, *to, *from_raw, *to_raw, *caller_name, *extension;
    int64_t started_at, answered_at, ended_at;
    int64_t duration_sec, billsec;
    char *recording_url, *transcript, *summary;
    int64_t cost_micros;
    char *cost_currency;
    json_t *metadata;
} ch_callstate;

typedef struct {
    int64_t id;
    char *slug, *name, *timezone, *country;
    int64_t monthly_limit; /* 0 = no limit */
    bool hard_limit;       /* over the limit: refuse new calls with 429 instead of marking */
    char *features;
} ch_tenant;

ch_event *ch_event_new(void);
void ch_event_free(ch_event *e);
void ch_callstate_init(ch_callstate *c);
void ch_callstate_clear(ch_callstate *c);
void ch_tenant_clear(ch_tenant *t);

const char *ch_direction_str(ch_direction d);
const char *ch_status_str(ch_status s);           /* NULL for NONE */
const char *ch_disposition_str(ch_disposition d); /* NULL for NONE */
/* Parse the API names; return -1 when unknown. */
int ch_direction_parse(const char *s);
int ch_status_parse(const char *s);
int ch_disposition_parse(const char *s);

/* The normalised part of an event as JSON (stored beside the raw body; merge reads it back).
 * Only stated values are written. */
json_t *ch_event_to_json(const ch_event *e);
/* Fills from_e164 / to_e164 from the raw numbers with the tenant's country calling code. */
void ch_event_normalise(ch_event *e, const char *country);
/* Measures a metadata value: keys = object members at every depth, depth = nesting (an object
 * or array is one level more than its container; a scalar is 0); bytes is left 0 (the compact
 * JSON size, for the caller to fill). Counting stops below max_depth levels, so a deep value
 * costs no more than a shallow one. */
typedef struct {
    size_t keys, depth, bytes;
} ch_meta_size;
void ch_metadata_measure(const json_t *m, size_t max_depth, ch_meta_size *out);
/* CH_OK when e's metadata is within the per-event limits (and e->meta_bytes is set), else
 * CH_ETOOBIG with why ("metadata has 60000 keys; at most 200 per event"). Runs on the request
 * thread, after the adapter's parse and before anything is written. */
int ch_event_check_metadata(ch_event *e, char *why, size_t why_size);
/* Fills e->norm (compact ch_event_to_json) if it is not set yet. */
void ch_event_prepare(ch_event *e);
/* Inverse of ch_event_to_json (raw/content_type are not part of it). NULL on malformed input. */
ch_event *ch_event_from_json(const json_t *j);

#endif
