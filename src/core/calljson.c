/* The JSON of a call's or leg's merged state, as stored with a leg and served by the read API
 * (backend-neutral: every store backend and the payloads use it). */
#include "core/calljson.h"
#include "util/timeutil.h"

#include <stdlib.h>
#include <string.h>

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

void ch_call_view_init(ch_call_view *v)
{
    memset(v, 0, sizeof *v);
    ch_callstate_init(&v->state);
}

void ch_call_view_clear(ch_call_view *v)
{
    free(v->id);
    free(v->tenant);
    free(v->provider);
    free(v->external_id);
    ch_callstate_clear(&v->state);
    json_decref(v->legs);
    free(v->employee_extension);
    free(v->employee_name);
    free(v->employee_email);
    free(v->lead_phone);
    free(v->lead_name);
    free(v->enriched);
    free(v->delivery_state);
    ch_call_view_init(v);
}

static json_t *time_ms(int64_t ms)
{
    char buf[40];
    ch_time_format_ms(ms, buf, sizeof buf);
    return json_string(buf);
}

/* The pipeline's output (core/pipeline.h: ch_pipeline_enriched) laid over the call: its own
 * keys, and the transcript and summary it made where the provider sent none (one that arrives
 * later, as Retell's analysis does, wins) or where the tenant asked to redo them. */
static void enriched_over(json_t *o, const char *enriched)
{
    json_t *e = enriched ? json_loads(enriched, 0, NULL) : NULL;
    static const char *const own[] = {"enrichment", "recording", "transcript_segments", "fields",
                                      "sentiment"};
    for (size_t i = 0; i < sizeof own / sizeof *own; i++) {
        json_t *v = e ? json_object_get(e, own[i]) : NULL;
        json_object_set_new(o, own[i], v ? json_incref(v) : json_null());
    }
    static const char *const filled[] = {"transcript", "summary"};
    for (size_t i = 0; e && i < sizeof filled / sizeof *filled; i++) {
        json_t *v = json_object_get(e, filled[i]);
        char redo[32];
        snprintf(redo, sizeof redo, "%s_redo", filled[i]);
        if (json_is_string(v) &&
            (json_is_null(json_object_get(o, filled[i])) || json_is_true(json_object_get(e, redo))))
            json_object_set(o, filled[i], v);
    }
    json_decref(e);
}

json_t *ch_call_view_json(const ch_call_view *v)
{
    const ch_callstate *c = &v->state;
    json_t *o = json_object();
    json_object_set_new(o, "id", str_or_null(v->id));
    json_object_set_new(o, "tenant", str_or_null(v->tenant));
    json_object_set_new(o, "provider", str_or_null(v->provider));
    json_object_set_new(o, "external_id", str_or_null(v->external_id));
    /* direction … summary: what ch_callstate_json says of the call */
    json_t *st = ch_callstate_json(c, false);
    const char *key;
    json_t *val;
    json_object_foreach(st, key, val) json_object_set(o, key, val);
    json_decref(st);
    if (c->cost_micros == CH_NUM_UNSET) {
        json_object_set_new(o, "cost", json_null());
    } else {
        json_object_set_new(o, "cost",
                            json_pack("{s:f, s:o}", "amount", (double)c->cost_micros / 1e6,
                                      "currency", str_or_null(c->cost_currency)));
    }
    json_object_set_new(o, "metadata", c->metadata ? json_incref(c->metadata) : json_object());
    json_object_set_new(o, "legs", v->legs ? json_incref(v->legs) : json_array());
    json_object_set_new(o, "employee",
                        v->employee_id
                            ? json_pack("{s:I, s:o, s:o, s:o}", "id", (json_int_t)v->employee_id,
                                        "extension", str_or_null(v->employee_extension), "name",
                                        str_or_null(v->employee_name), "email",
                                        str_or_null(v->employee_email))
                            : json_null());
    json_object_set_new(o, "lead",
                        v->lead_id ? json_pack("{s:I, s:o, s:o}", "id", (json_int_t)v->lead_id,
                                               "phone", str_or_null(v->lead_phone), "name",
                                               str_or_null(v->lead_name))
                                   : json_null());
    json_object_set_new(o, "over_limit", json_boolean(v->over_limit));
    json_object_set_new(
        o, "delivery",
        json_pack(
            "{s:s, s:I, s:I, s:I, s:I}", "state", v->delivery_state ? v->delivery_state : "none",
            "total", (json_int_t)v->delivery_total, "succeeded", (json_int_t)v->delivery_succeeded,
            "failed", (json_int_t)v->delivery_failed, "pending", (json_int_t)v->delivery_pending));
    enriched_over(o, v->enriched);
    json_object_set_new(o, "event_count", json_integer(v->event_count));
    /* +1 per stored event and per enrichment result, in the statement that writes the call:
     * what a webhook receiver or a change-feed subscriber compares to drop a stale state
     * (docs/webhooks.md) */
    json_object_set_new(o, "version", json_integer(v->version));
    json_object_set_new(o, "created_at", time_ms(v->created_at));
    json_object_set_new(o, "updated_at", time_ms(v->updated_at));
    return o;
}
