/* Webhook bodies (payload.h). The member order is part of the bytes receivers sign-check and
 * the recorded examples (docs/examples/webhooks/) show: jansson keeps insertion order. */
#include "core/payload.h"
#include "util/timeutil.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ch_message_id(char out[CH_MESSAGE_ID_SIZE], int64_t now_ms, uint64_t rnd)
{
    snprintf(out, CH_MESSAGE_ID_SIZE, "msg_%012llx%012llx",
             (unsigned long long)now_ms & 0xffffffffffffULL,
             (unsigned long long)rnd & 0xffffffffffffULL);
}

char *ch_payload_envelope(const char *type, const char *msg_id, int64_t now_ms, const char *tenant,
                          json_t *data)
{
    char ts[40];
    ch_time_format_ms(now_ms, ts, sizeof ts);
    json_t *env =
        json_pack("{s:s, s:s, s:s, s:i, s:s, s:O}", "type", type, "id", msg_id, "timestamp", ts,
                  "version", CH_PAYLOAD_VERSION, "tenant", tenant, "data", data);
    if (!env) return NULL;
    char *s = json_dumps(env, JSON_COMPACT);
    json_decref(env);
    return s;
}

static json_t *get_or_null(json_t *o, const char *k)
{
    json_t *v = o ? json_object_get(o, k) : NULL;
    return v ? json_incref(v) : json_null();
}

static bool is_outbound(json_t *call)
{
    const char *dir = json_string_value(json_object_get(call, "direction"));
    return dir && strcmp(dir, "outbound") == 0;
}

/* The helpers below say where each flat member comes from, for both shapes alike; each returns
 * a new reference. */

/* the other party's number: the caller of an inbound call, the callee of an outbound one */
static json_t *party_phone(json_t *call)
{
    bool outbound = is_outbound(call);
    json_t *phone = json_object_get(call, outbound ? "to" : "from");
    if (!json_is_string(phone)) phone = json_object_get(call, outbound ? "to_raw" : "from_raw");
    return phone ? json_incref(phone) : json_null();
}

/* what the sender said (its CRM's id, in metadata) before callhook's own directory id */
static json_t *lead_id_of(json_t *call)
{
    json_t *meta = json_object_get(call, "metadata"), *lead = json_object_get(call, "lead");
    json_t *lead_id = json_is_object(meta) ? json_object_get(meta, "lead_id") : NULL;
    if (!json_is_string(lead_id) && !json_is_integer(lead_id))
        lead_id = json_is_object(lead) ? json_object_get(lead, "id") : NULL;
    return lead_id ? json_incref(lead_id) : json_null();
}

/* enrichment's fields.k (when it found one), else what the sender put in metadata.k */
static json_t *field_of(json_t *call, const char *k)
{
    json_t *fields = json_object_get(call, "fields"), *meta = json_object_get(call, "metadata");
    json_t *v = json_is_object(fields) ? json_object_get(fields, k) : NULL;
    if (!v || json_is_null(v)) v = json_is_object(meta) ? json_object_get(meta, k) : NULL;
    return v ? json_incref(v) : json_null();
}

/* the name enrichment heard, else the directory's lead, else the caller ID name of an inbound
 * call (an outbound call's caller_name is the tenant's own) */
static json_t *customer_name_of(json_t *call)
{
    json_t *fields = json_object_get(call, "fields"), *lead = json_object_get(call, "lead");
    json_t *name = json_is_object(fields) ? json_object_get(fields, "customer_name") : NULL;
    if (!json_is_string(name)) name = json_is_object(lead) ? json_object_get(lead, "name") : NULL;
    if (!json_is_string(name) && !is_outbound(call)) name = json_object_get(call, "caller_name");
    return json_is_string(name) ? json_incref(name) : json_null();
}

/* the employee matched by extension, else what the sender named */
static json_t *agent_of(json_t *call)
{
    json_t *emp = json_object_get(call, "employee"), *meta = json_object_get(call, "metadata");
    json_t *agent = json_is_object(emp) ? json_object_get(emp, "name") : NULL;
    if (!json_is_string(agent) && json_is_object(meta)) agent = json_object_get(meta, "agent_name");
    return json_is_string(agent) ? json_incref(agent) : json_null();
}

static json_t *metadata_of(json_t *call)
{
    json_t *meta = json_object_get(call, "metadata");
    return meta ? json_incref(meta) : json_object();
}

json_t *ch_payload_call_data(json_t *call, const char *type, ch_status prev)
{
    json_t *d = json_object();
    json_object_set_new(d, "call_id", get_or_null(call, "id"));
    json_object_set_new(d, "lead_id", lead_id_of(call));
    json_object_set_new(d, "phone", party_phone(call));
    json_object_set_new(d, "customer_name", customer_name_of(call));
    json_object_set_new(d, "direction", get_or_null(call, "direction"));
    json_object_set_new(d, "status", get_or_null(call, "status"));
    if (strcmp(type, "call.status_changed") == 0) {
        const char *p = prev == CH_STATUS_NONE ? NULL : ch_status_str(prev);
        json_object_set_new(d, "previous_status", p ? json_string(p) : json_null());
    }
    json_object_set_new(d, "city", field_of(call, "city"));
    json_object_set_new(d, "service_category", field_of(call, "service_category"));
    static const char *const copied[] = {"started_at", "ended_at", "duration_sec",
                                         "transcript", "summary",  "recording_url",
                                         "disposition"};
    for (size_t i = 0; i < sizeof copied / sizeof *copied; i++)
        json_object_set_new(d, copied[i], get_or_null(call, copied[i]));
    json_object_set_new(d, "agent_name", agent_of(call));
    json_object_set_new(d, "metadata", metadata_of(call));
    json_object_set_new(d, "call", json_incref(call));
    return d;
}

int ch_payload_shape_parse(const char *s)
{
    if (!s) return -1;
    if (strcmp(s, "standard") == 0) return CH_PAYLOAD_STANDARD;
    if (strcmp(s, "flat") == 0) return CH_PAYLOAD_FLAT;
    return -1;
}

const char *ch_payload_shape_str(ch_payload_shape s)
{
    return s == CH_PAYLOAD_FLAT ? "flat" : "standard";
}

json_t *ch_payload_flat(const char *type, const char *msg_id, const char *timestamp,
                        const char *tenant, json_t *call)
{
    if (!type || !msg_id || !timestamp || !tenant) return NULL;
    /* the order is the documented one (docs/examples/webhooks/flat/) */
    json_t *f = json_object();
    json_object_set_new(f, "event_type", json_string(type));
    json_object_set_new(f, "timestamp", json_string(timestamp));
    json_object_set_new(f, "business_id", json_string(tenant));
    json_object_set_new(f, "call_id", get_or_null(call, "id"));
    json_object_set_new(f, "lead_id", lead_id_of(call));
    json_object_set_new(f, "phone", party_phone(call));
    json_object_set_new(f, "customer_name", customer_name_of(call));
    json_object_set_new(f, "direction", get_or_null(call, "direction"));
    json_object_set_new(f, "city", field_of(call, "city"));
    json_object_set_new(f, "service_category", field_of(call, "service_category"));
    static const char *const copied[] = {"started_at", "ended_at", "duration_sec", "transcript",
                                         "summary"};
    for (size_t i = 0; i < sizeof copied / sizeof *copied; i++)
        json_object_set_new(f, copied[i], get_or_null(call, copied[i]));
    json_object_set_new(f, "agent_name", agent_of(call));
    json_object_set_new(f, "metadata", metadata_of(call));
    /* what receivers deduplicate on, as in the envelope */
    json_object_set_new(f, "message_id", json_string(msg_id));
    json_object_set_new(f, "version", json_integer(CH_PAYLOAD_VERSION));
    return f;
}

char *ch_payload_flat_from_envelope(const char *envelope, size_t len)
{
    char *out = NULL;
    json_t *env = envelope ? json_loadb(envelope, len, JSON_ALLOW_NUL, NULL) : NULL;
    const char *type = json_string_value(json_object_get(env, "type"));
    json_t *call = json_object_get(json_object_get(env, "data"), "call");
    if (!type || strncmp(type, "call.", 5) != 0 || !json_is_object(call)) goto out;
    json_t *f = ch_payload_flat(type, json_string_value(json_object_get(env, "id")),
                                json_string_value(json_object_get(env, "timestamp")),
                                json_string_value(json_object_get(env, "tenant")), call);
    if (f) out = json_dumps(f, JSON_COMPACT);
    json_decref(f);
out:
    json_decref(env);
    return out;
}

json_t *ch_payload_endpoint_disabled_data(int64_t endpoint_id, const char *url, const char *reason,
                                          int64_t at_ms)
{
    char at[40];
    ch_time_format_ms(at_ms, at, sizeof at);
    return json_pack("{s:I, s:s, s:s, s:s}", "endpoint_id", (json_int_t)endpoint_id, "url",
                     url ? url : "", "reason", reason, "disabled_at", at);
}

json_t *ch_payload_test_data(int64_t endpoint_id, const char *url)
{
    return json_pack("{s:I, s:s, s:s}", "endpoint_id", (json_int_t)endpoint_id, "url", url,
                     "message", "A test event from callhook: this endpoint is reachable.");
}
