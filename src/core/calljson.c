/* The JSON of a call's or leg's merged state, as stored with a leg and served by the read API
 * (backend-neutral: every store backend and the payloads use it). */
#include "core/calljson.h"
#include "util/timeutil.h"

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *num_or_null(int64_t v)
{
    return v == CH_NUM_UNSET ? json_null() : json_integer(v);
}

static json_t *time_or_null(int64_t ms)
{
    if (ms == CH_TIME_UNSET) return json_null();
    char buf[40];
    ch_time_format(ms, buf, sizeof buf);
    return json_string(buf);
}

json_t *ch_callstate_json(const ch_callstate *c, bool leg)
{
    json_t *o = json_object();
    if (leg) json_object_set_new(o, "id", str_or_null(c->id));
    json_object_set_new(o, "direction", json_string(ch_direction_str(c->direction)));
    json_object_set_new(
        o, "status", json_string(ch_status_str(c->status) ? ch_status_str(c->status) : "queued"));
    json_object_set_new(o, "disposition", str_or_null(ch_disposition_str(c->disposition)));
    json_object_set_new(o, "from", str_or_null(c->from));
    json_object_set_new(o, "to", str_or_null(c->to));
    json_object_set_new(o, "from_raw", str_or_null(c->from_raw));
    json_object_set_new(o, "to_raw", str_or_null(c->to_raw));
    json_object_set_new(o, "caller_name", str_or_null(c->caller_name));
    json_object_set_new(o, "extension", str_or_null(c->extension));
    json_object_set_new(o, "started_at", time_or_null(c->started_at));
    json_object_set_new(o, "answered_at", time_or_null(c->answered_at));
    json_object_set_new(o, "ended_at", time_or_null(c->ended_at));
    json_object_set_new(o, "duration_sec", num_or_null(c->duration_sec));
    json_object_set_new(o, "billsec", num_or_null(c->billsec));
    json_object_set_new(o, "recording_url", str_or_null(c->recording_url));
    if (!leg) {
        json_object_set_new(o, "transcript", str_or_null(c->transcript));
        json_object_set_new(o, "summary", str_or_null(c->summary));
    }
    return o;
}
