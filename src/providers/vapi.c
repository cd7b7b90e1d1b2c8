/* Vapi server messages (docs/providers.md#vapi): {"message": {"type": "end-of-call-report" |
 * "status-update" | …}}, authenticated by the x-vapi-secret header (the server URL secret).
 * Other message types (live transcripts, tool calls…) are answered 200 and not stored. */
#include "providers/number.h"
#include "providers/provider.h"
#include "util/crypto.h"
#include "util/mem.h"
#include "util/result.h"
#include "util/timeutil.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int verify(const ch_raw_request *req, const char *secret)
{
    const char *h = ch_raw_header(req, "x-vapi-secret");
    return h && ch_ct_equal(h, strlen(h), secret, strlen(secret)) ? CH_OK : CH_EAUTH;
}

/* Vapi sends each report once: an unusable value is dropped with the reason in the event and
 * the rest of the report kept (docs/providers.md#numbers). */
static int64_t iso(ch_event *e, const json_t *o, const char *k)
{
    int64_t t;
    const json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v) || (json_is_string(v) && !json_string_length(v)))
        return CH_TIME_UNSET;
    const char *s = json_string_value(v);
    if (s && ch_time_parse(s, "UTC", &t) == CH_OK && ch_time_sane(t)) return t;
    char field[48];
    snprintf(field, sizeof field, "message.%s", k);
    ch_event_ignore(e, field, "must be an RFC 3339 time between the years 2000 and 2100");
    return CH_TIME_UNSET;
}

static const struct {
    const char *name;
    int seq;
    ch_status status;
} updates[] = {{"scheduled", 1, CH_STATUS_QUEUED},       {"queued", 1, CH_STATUS_QUEUED},
               {"ringing", 2, CH_STATUS_RINGING},        {"in-progress", 3, CH_STATUS_IN_PROGRESS},
               {"forwarding", 4, CH_STATUS_IN_PROGRESS}, {"ended", 5, CH_STATUS_ENDED}};

static ch_disposition from_reason(const char *r)
{
    if (!r) return CH_DISP_NONE;
    if (strstr(r, "did-not-answer") || strstr(r, "no-answer")) return CH_DISP_NO_ANSWER;
    if (strstr(r, "busy")) return CH_DISP_BUSY;
    if (strstr(r, "error") || strstr(r, "failed") || strstr(r, "fault")) return CH_DISP_FAILED;
    return CH_DISP_ANSWERED;
}

static int parse(const ch_raw_request *req, ch_parsed *out, ch_parse_error *err)
{
    json_t *x = ch_provider_load_json(req, err);
    if (!x) return CH_EINVAL;
    int rc = CH_EINVAL;
    const json_t *m = json_object_get(x, "message");
    const char *type = json_is_object(m) ? ch_json_text(m, "type") : NULL;
    if (!type) {
        ch_parse_error_set(err, 422, "invalid_record", "message.type", "message.type is required");
        goto out;
    }
    bool report = !strcmp(type, "end-of-call-report"), update = !strcmp(type, "status-update");
    if (!report && !update) {
        out->ignored = "a Vapi message that is not a call record";
        rc = CH_OK;
        goto out;
    }
    const json_t *call = json_object_get(m, "call");
    const char *id = json_is_object(call) ? ch_json_text(call, "id") : NULL;
    if (!id) {
        ch_parse_error_set(err, 422, "invalid_record", "message.call.id",
                           "message.call.id is required");
        goto out;
    }
    if (!ch_id_ok(id)) {
        ch_parse_error_set(err, 422, "invalid_record", "message.call.id",
                           "message.call.id must be 1 to %d characters long", CH_ID_MAX);
        goto out;
    }
    ch_event *e = ch_event_new();
    e->provider = ch_strdup("vapi");
    e->external_id = ch_strdup(id);
    e->kind = ch_asprintf("vapi.%s", type);
    const char *reason = ch_json_text(m, "endedReason");
    if (update) {
        const char *st = ch_json_text(m, "status");
        size_t k = 0;
        while (st && k < sizeof updates / sizeof *updates && strcmp(updates[k].name, st) != 0)
            k++;
        if (!st || k == sizeof updates / sizeof *updates) {
            ch_event_free(e);
            ch_parse_error_set(err, 422, "invalid_record", "message.status",
                               "message.status must be one of Vapi's call statuses");
            goto out;
        }
        e->seq = updates[k].seq;
        e->status = updates[k].status;
        if (e->status == CH_STATUS_ENDED) e->disposition = from_reason(reason);
        e->idem_key = ch_asprintf("vapi:%s:status:%s", id, st);
    } else {
        e->seq = 9;
        e->status = CH_STATUS_ENDED;
        e->disposition = from_reason(reason);
        e->started_at = iso(e, m, "startedAt");
        e->ended_at = iso(e, m, "endedAt");
        if (e->disposition == CH_DISP_ANSWERED) e->answered_at = e->started_at;
        char why[128];
        int rc_cost = ch_num_json(json_object_get(m, "cost"), &ch_num_cost, false, &e->cost_micros,
                                  why, sizeof why);
        if (rc_cost == CH_OK)
            e->cost_currency = ch_strdup("USD");
        else if (rc_cost == CH_EINVAL)
            ch_event_ignore(e, "message.cost", why);
        const json_t *art = json_object_get(m, "artifact"), *an = json_object_get(m, "analysis");
        if (json_is_object(art) && ch_json_text(art, "transcript"))
            e->transcript = ch_strdup(ch_json_text(art, "transcript"));
        if (json_is_object(art) && ch_json_text(art, "recordingUrl"))
            e->recording_url = ch_strdup(ch_json_text(art, "recordingUrl"));
        if (!e->transcript && ch_json_text(m, "transcript"))
            e->transcript = ch_strdup(ch_json_text(m, "transcript"));
        if (!e->recording_url && ch_json_text(m, "recordingUrl"))
            e->recording_url = ch_strdup(ch_json_text(m, "recordingUrl"));
        if (json_is_object(an) && ch_json_text(an, "summary"))
            e->summary = ch_strdup(ch_json_text(an, "summary"));
        if (!e->summary && ch_json_text(m, "summary"))
            e->summary = ch_strdup(ch_json_text(m, "summary"));
        json_t *meta = json_object();
        if (json_is_object(an)) {
            const json_t *sd = json_object_get(an, "structuredData");
            if (json_is_object(sd) && json_object_size(sd))
                json_object_set(meta, "structured_data", (json_t *)sd);
            if (ch_json_text(an, "successEvaluation"))
                json_object_set_new(meta, "success_evaluation",
                                    json_string(ch_json_text(an, "successEvaluation")));
        }
        if (reason) json_object_set_new(meta, "ended_reason", json_string(reason));
        ch_event_add_meta(e, meta);
        e->idem_key = ch_asprintf("vapi:%s:end-of-call-report", id);
    }
    const char *ctype = ch_json_text(call, "type");
    if (ctype)
        e->direction = strstr(ctype, "inbound")    ? CH_DIR_INBOUND
                       : strstr(ctype, "outbound") ? CH_DIR_OUTBOUND
                                                   : CH_DIR_UNKNOWN;
    const json_t *cust = json_object_get(m, "customer"), *pn = json_object_get(m, "phoneNumber");
    if (!json_is_object(cust)) cust = json_object_get(call, "customer");
    const char *them = json_is_object(cust) ? ch_json_text(cust, "number") : NULL;
    const char *us = json_is_object(pn) ? ch_json_text(pn, "number") : NULL;
    const char *from = e->direction == CH_DIR_OUTBOUND ? us : them,
               *to = e->direction == CH_DIR_OUTBOUND ? them : us;
    if (from) e->from_raw = ch_strdup(from);
    if (to) e->to_raw = ch_strdup(to);
    e->raw = ch_strndup(req->body, req->body_len);
    e->raw_len = req->body_len;
    e->content_type = ch_strdup("application/json");
    ch_parsed_add_event(out, e);
    rc = CH_OK;
out:
    json_decref(x);
    return rc;
}

static const char *const content_types[] = {"application/json", NULL};

const ch_provider ch_provider_vapi = {
    .name = "vapi",
    .content_types = content_types,
    .parse = parse,
    .verify = verify,
    .title = "Vapi server messages",
    .auth = "x-vapi-secret: the server URL secret",
    .fields = "{\"message\": {type: end-of-call-report | status-update, call{id, type}, "
              "endedReason, startedAt, endedAt, cost, artifact{transcript, recordingUrl}, "
              "analysis{summary, structuredData}, customer, phoneNumber}}",
};
