/* What the administrative reads return (tenants with their usage, the directory, endpoints,
 * deliveries with their attempts, skipped decisions) as C values a store backend fills, and
 * their JSON (docs/http-api.md, docs/webhooks.md), built here once so that every backend
 * answers the same bytes. Times are ms UTC, CH_TIME_UNSET when unknown; numbers CH_NUM_UNSET. */
#ifndef CH_VIEWS_H
#define CH_VIEWS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/model.h"

typedef struct {
    ch_tenant tenant;
    char month[8]; /* the tenant's current month in its time zone, "2026-12" */
    int64_t calls, events, over_limit_calls;
    int64_t transcribed_ms; /* audio the pipeline transcribed this month */
} ch_tenant_usage;

/* An employee (extension, name, email) or a lead (phone, phone_raw, name, source). */
typedef struct {
    int64_t id;
    char *extension, *email;          /* employees */
    char *phone, *phone_raw, *source; /* leads */
    char *name;
} ch_directory_entry;

typedef struct {
    int64_t id;
    char *url, *kind, *events, *disabled_reason;
    char *payload; /* "standard" | "flat" */
    bool enabled;
    json_t *headers; /* object; owned */
    int64_t timeout_ms, rate_limit_per_min;
    int64_t secret_rotating_until; /* CH_TIME_UNSET unless the previous secret still signs */
    int64_t created_at, updated_at;
} ch_endpoint_view;

typedef struct {
    int64_t at, latency_ms;
    int64_t status; /* CH_NUM_UNSET when there was no answer */
    char *response; /* the receiver's body as kept (bytes, may be NULL) */
    size_t response_len;
    char *error, *trigger;
} ch_attempt_view;

typedef struct {
    int64_t id, endpoint_id;
    char *message_id, *type, *call_id, *state, *last_error;
    int64_t attempts, next_attempt_at, created_at, updated_at;
    int64_t last_status; /* CH_NUM_UNSET */
    bool manual;
    /* one delivery only (ch_store_delivery_get): its message and every attempt */
    char *payload;
    ch_attempt_view *log;
    size_t nlog;
} ch_delivery_view;

typedef struct {
    char *reason, *type, *last_call_id;
    int64_t count, last_at;
} ch_skip_view;

void ch_tenant_usage_free(ch_tenant_usage *v, size_t n);
void ch_directory_entries_free(ch_directory_entry *v, size_t n);
void ch_endpoint_views_free(ch_endpoint_view *v, size_t n);
void ch_delivery_view_clear(ch_delivery_view *d);
void ch_delivery_views_free(ch_delivery_view *v, size_t n);
void ch_skip_views_free(ch_skip_view *v, size_t n);

json_t *ch_tenant_usage_json(const ch_tenant_usage *v);
/* employees: {id, extension, name, email}; leads: {id, phone, phone_raw, name, source} */
json_t *ch_directory_entry_json(const ch_directory_entry *e, bool employee);
json_t *ch_endpoint_view_json(const ch_endpoint_view *e);
/* with_log: adds payload and attempt_log (one delivery) */
json_t *ch_delivery_view_json(const ch_delivery_view *d, bool with_log);
json_t *ch_skip_view_json(const ch_skip_view *s);

#endif
