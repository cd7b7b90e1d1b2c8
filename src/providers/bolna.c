/* Bolna voice-AI agent executions (docs/providers.md#bolna): the whole execution object is
 * posted on every status change (queued → … → call-disconnected → completed). Until
 * `completed`, duration, cost, transcript and recording are null or 0: a 0 or "" before the
 * final status means "not known yet" and never erases anything. The execution `id` is the call;
 * each status of it is one event, ordered by the status's place in the lifecycle. */
#include "providers/number.h"
#include "providers/provider.h"
#include "util/crypto.h"
#include "util/mem.h"
#include "util/result.h"
#include "util/timeutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    int rank; /* lifecycle order: the sequence of the event */
    ch_status status;
    ch_disposition disp;
} statuses[] = {
    {"scheduled", 1, CH_STATUS_QUEUED, CH_DISP_NONE},
    {"rescheduled", 1, CH_STATUS_QUEUED, CH_DISP_NONE},
    {"queued", 2, CH_STATUS_QUEUED, CH_DISP_NONE},
    {"initiated", 3, CH_STATUS_QUEUED, CH_DISP_NONE},
    {"ringing", 4, CH_STATUS_RINGING, CH_DISP_NONE},
    {"in-progress", 5, CH_STATUS_IN_PROGRESS, CH_DISP_NONE},
    {"call-disconnected", 6, CH_STATUS_ENDED, CH_DISP_NONE},
    {"completed", 7, CH_STATUS_ENDED, CH_DISP_ANSWERED},
    {"busy", 7, CH_STATUS_ENDED, CH_DISP_BUSY},
    {"no-answer", 7, CH_STATUS_ENDED, CH_DISP_NO_ANSWER},
    {"canceled", 7, CH_STATUS_ENDED, CH_DISP_CANCELED},
    {"stopped", 7, CH_STATUS_ENDED, CH_DISP_CANCELED},
    {"failed", 7, CH_STATUS_ENDED, CH_DISP_FAILED},
    {"error", 7, CH_STATUS_ENDED, CH_DISP_FAILED},
    {"balance-low", 7, CH_STATUS_ENDED, CH_DISP_FAILED},
};

/* Bolna posts each status once and does not resend a refused one (the final status is the
 * only one with the duration and cost): an unusable value is dropped with the reason in the
 * event and the rest kept (docs/providers.md#numbers). */

/* o[k] against r, as a number or a string holding one ("69"); CH_NUM_UNSET when absent, null,
 * "" or unusable (then recorded in e under path). */
static int64_t num(ch_event *e, const json_t *o, const char *k, const char *path,
                   const ch_num_rule *r)
{
    int64_t v;
    char why[128];
    int rc = o ? ch_num_json(json_object_get(o, k), r, true, &v, why, sizeof why) : CH_ENOTFOUND;
    if (rc == CH_EINVAL) ch_event_ignore(e, path, why);
    return rc == CH_OK ? v : CH_NUM_UNSET;
}

/* Bolna writes times without a zone ("2025-11-03T09:02:11.482311"): they are UTC. */
static int64_t utc_time(ch_event *e, const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v) || (json_is_string(v) && !json_string_length(v)))
        return CH_TIME_UNSET;
    int64_t ms;
    const char *s = json_string_value(v);
    if (s && ch_time_parse(s, "UTC", &ms) == CH_OK && ch_time_sane(ms)) return ms;
    ch_event_ignore(e, k, "must be a time between the years 2000 and 2100");
    return CH_TIME_UNSET;
}

static int parse(const ch_raw_request *req, ch_parsed *out, ch_parse_error *err)
{
    json_t *x = ch_provider_load_json(req, err);
    if (!x) return CH_EINVAL;
    int rc = CH_EINVAL;
    const char *id =
        ch_json_text(x, "id") ? ch_json_text(x, "id") : ch_json_text(x, "execution_id");
    const char *st = ch_json_text(x, "status");
    size_t k = 0;
    while (st && k < sizeof statuses / sizeof *statuses && strcmp(statuses[k].name, st) != 0)
        k++;
    if (!json_is_object(x)) {
        ch_parse_error_set(err, 422, "invalid_record", NULL,
                           "the body must be an execution object");
        goto out;
    }
    if (!id) {
        ch_parse_error_set(err, 422, "invalid_record", "id", "id (the execution id) is required");
        goto out;
    }
    if (!ch_id_ok(id)) {
        const char *f = ch_json_text(x, "id") ? "id" : "execution_id";
        ch_parse_error_set(err, 422, "invalid_record", f, "%s must be 1 to %d characters long", f,
                           CH_ID_MAX);
        goto out;
    }
    if (!st || k == sizeof statuses / sizeof *statuses) {
        ch_parse_error_set(err, 422, "invalid_record", "status",
                           "status must be one of Bolna's execution statuses");
        goto out;
    }
    const json_t *tel = json_object_get(x, "telephony_data");
    if (!json_is_object(tel)) tel = NULL;
    bool final = statuses[k].rank == 7;

    ch_event *e = ch_event_new();
    e->provider = ch_strdup("bolna");
    e->external_id = ch_strdup(id);
    e->kind = ch_asprintf("execution.%s", st);
    e->seq = statuses[k].rank;
    e->ts = utc_time(e, x, "updated_at");
    e->status = statuses[k].status;
    e->disposition = statuses[k].disp;
    /* before the final status these are null or 0 ("not known yet"): read only then */
    int64_t talk = final ? num(e, x, "conversation_duration", "conversation_duration",
                               &ch_num_seconds_real)
                         : CH_NUM_UNSET,
            dur = final ? num(e, tel, "duration", "telephony_data.duration", &ch_num_seconds_real)
                        : CH_NUM_UNSET;
    if (!strcmp(st, "completed") && !(talk > 0) && !(dur > 0))
        e->disposition = CH_DISP_NO_ANSWER; /* "completed" without a conversation: rejected */
    if (final) {
        if (dur > 0) e->duration_sec = dur;
        if (talk > 0) e->billsec = talk;
        int64_t micros = num(e, x, "total_cost", "total_cost", &ch_num_cost_cents);
        if (micros != CH_NUM_UNSET && (micros > 0 || !strcmp(st, "completed"))) {
            e->cost_micros = micros; /* cents → micro-dollars */
            e->cost_currency = ch_strdup("USD");
        }
        e->ended_at = e->ts;
    }
    e->started_at = utc_time(e, x, "initiated_at");
    if (e->started_at == CH_TIME_UNSET && e->status >= CH_STATUS_RINGING)
        e->started_at = utc_time(e, x, "created_at");
    if (e->status == CH_STATUS_IN_PROGRESS) e->answered_at = e->ts;
    const char *ct = tel ? ch_json_text(tel, "call_type") : NULL;
    if (ct)
        e->direction = !strcmp(ct, "inbound")    ? CH_DIR_INBOUND
                       : !strcmp(ct, "outbound") ? CH_DIR_OUTBOUND
                                                 : CH_DIR_UNKNOWN;
    const char *from = tel ? ch_json_text(tel, "from_number") : NULL,
               *to = tel ? ch_json_text(tel, "to_number") : NULL;
    if (!from)
        from = e->direction == CH_DIR_OUTBOUND ? ch_json_text(x, "agent_number")
                                               : ch_json_text(x, "user_number");
    if (!to)
        to = e->direction == CH_DIR_OUTBOUND ? ch_json_text(x, "user_number")
                                             : ch_json_text(x, "agent_number");
    if (from) e->from_raw = ch_strdup(from);
    if (to) e->to_raw = ch_strdup(to);
    if (tel && ch_json_text(tel, "recording_url"))
        e->recording_url = ch_strdup(ch_json_text(tel, "recording_url"));
    if (ch_json_text(x, "transcript")) e->transcript = ch_strdup(ch_json_text(x, "transcript"));
    if (ch_json_text(x, "summary")) e->summary = ch_strdup(ch_json_text(x, "summary"));
    json_t *meta = json_object();
    const json_t *ex = json_object_get(x, "extracted_data");
    if (json_is_object(ex) && json_object_size(ex))
        json_object_set(meta, "extracted_data", (json_t *)ex);
    static const char *const keep[] = {"agent_id", "batch_id", "campaign_id", "error_message"};
    for (size_t i = 0; i < sizeof keep / sizeof *keep; i++)
        if (ch_json_text(x, keep[i]))
            json_object_set_new(meta, keep[i], json_string(ch_json_text(x, keep[i])));
    static const char *const tkeep[] = {"provider_call_id", "hangup_by", "hangup_reason",
                                        "provider"};
    for (size_t i = 0; tel && i < sizeof tkeep / sizeof *tkeep; i++)
        if (ch_json_text(tel, tkeep[i]))
            json_object_set_new(meta, tkeep[i], json_string(ch_json_text(tel, tkeep[i])));
    const json_t *avm = json_object_get(x, "answered_by_voice_mail");
    if (json_is_boolean(avm)) json_object_set(meta, "answered_by_voice_mail", (json_t *)avm);
    ch_event_add_meta(e, meta);
    /* each status posts once; a resend of the same status is the same object */
    char h[CH_SHA256_HEX];
    ch_sha256_hex(req->body, req->body_len, h);
    e->idem_key = ch_asprintf("bolna:%s:%s:%.16s", id, st, h);
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

const ch_provider ch_provider_bolna = {
    .name = "bolna",
    .content_types = content_types,
    .parse = parse,
    .title = "Bolna agent execution webhook",
    .auth = "source-IP allow-list (Bolna's sender addresses) or ?token=<token> in the URL",
    .fields = "the execution object: id, status, conversation_duration, total_cost (cents), "
              "transcript, summary, extracted_data, telephony_data{duration, from_number, "
              "to_number, recording_url, call_type}",
    /* a fixed URL: the tenant is the credential's owner */
    .fixed_paths = (const char *const[]){"/api/webhooks/bolna/call-status", NULL},
};
