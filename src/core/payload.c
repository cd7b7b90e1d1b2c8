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

json_t *ch_payload_call_data(json_t *call, const char *type, ch_status prev)
{
    json_t *d = json_object();
    json_t *lead = json_object_get(call, "lead"), *emp = json_object_get(call, "employee");
    json_t *meta = json_object_get(call, "metadata");
    const char *dir = json_string_value(json_object_get(call, "direction"));
    bool outbound = dir && strcmp(dir, "outbound") == 0;
    const char *num = outbound ? "to" : "from", *raw = outbound ? "to_raw" : "from_raw";
    json_t *phone = json_object_get(call, num);
    if (!json_is_string(phone)) phone = json_object_get(call, raw);
    json_object_set_new(d, "call_id", get_or_null(call, "id"));
    /* what the sender said (its CRM's id, in metadata) before callhook's own directory id */
    json_t *lead_id = json_is_object(meta) ? json_object_get(meta, "lead_id") : NULL;
    if (!json_is_string(lead_id) && !json_is_integer(lead_id))
        lead_id = json_is_object(lead) ? json_object_get(lead, "id") : NULL;
    json_object_set_new(d, "lead_id", lead_id ? json_incref(lead_id) : json_null());
    json_object_set_new(d, "phone", phone ? json_incref(phone) : json_null());
    json_t *name = json_is_object(lead) ? json_object_get(lead, "name") : NULL;
    if (!json_is_string(name) && !outbound) name = json_object_get(call, "caller_name");
    json_object_set_new(d, "customer_name", json_is_string(name) ? json_incref(name) : json_null());
    json_object_set_new(d, "direction", get_or_null(call, "direction"));
    json_object_set_new(d, "status", get_or_null(call, "status"));
    if (strcmp(type, "call.status_changed") == 0) {
        const char *p = prev == CH_STATUS_NONE ? NULL : ch_status_str(prev);
        json_object_set_new(d, "previous_status", p ? json_string(p) : json_null());
    }
    json_object_set_new(d, "city", json_is_object(meta) ? get_or_null(meta, "city") : json_null());
    json_object_set_new(d, "service_category",
                        json_is_object(meta) ? get_or_null(meta, "service_category") : json_null());
    static const char *const copied[] = {"started_at", "ended_at", "duration_sec",
                                         "transcript", "summary",  "recording_url",
                                         "disposition"};
    for (size_t i = 0; i < sizeof copied / sizeof *copied; i++)
        json_object_set_new(d, copied[i], get_or_null(call, copied[i]));
    /* the employee matched by extension, else what the sender named */
    json_t *agent = json_is_object(emp) ? json_object_get(emp, "name") : NULL;
    if (!json_is_string(agent) && json_is_object(meta)) agent = json_object_get(meta, "agent_name");
    json_object_set_new(d, "agent_name", json_is_string(agent) ? json_incref(agent) : json_null());
    json_object_set_new(d, "metadata", meta ? json_incref(meta) : json_object());
    json_object_set_new(d, "call", json_incref(call));
    return d;
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
