/* Retell AI call webhooks (docs/providers.md#retell): {"event": "call_started" | "call_ended" |
 * "call_analyzed" | …, "call": {…}}, signed with x-retell-signature: v=<unix ms>,d=<hex
 * HMAC-SHA256(api key, raw body + v)>, refused when v is more than 5 minutes from now. */
#include "providers/number.h"
#include "providers/provider.h"
#include "util/crypto.h"
#include "util/mem.h"
#include "util/result.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WINDOW_MS (5 * 60 * 1000)

static int verify(const ch_raw_request *req, const char *secret)
{
    const char *h = ch_raw_header(req, "x-retell-signature");
    if (!h) return CH_EAUTH;
    const char *v = strstr(h, "v="), *d = strstr(h, "d=");
    if (!v || !d) return CH_EAUTH;
    char *end;
    long long ts = strtoll(v + 2, &end, 10);
    size_t tslen = (size_t)(end - (v + 2));
    if (tslen == 0 || tslen > 15 || (*end && *end != ',')) return CH_EAUTH;
    if (llabs(req->now_ms - ts) > WINDOW_MS) return CH_EAUTH;
    size_t dlen = strcspn(d + 2, ",");
    if (dlen != 64) return CH_EAUTH;
    char *msg = ch_malloc(req->body_len + tslen + 1);
    memcpy(msg, req->body, req->body_len);
    memcpy(msg + req->body_len, v + 2, tslen);
    unsigned char mac[32];
    ch_hmac_sha256(secret, strlen(secret), msg, req->body_len + tslen, mac);
    free(msg);
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    return ch_ct_equal(hex, 64, d + 2, 64) ? CH_OK : CH_EAUTH;
}

/* Retell resends a refused webhook (3 times) and then drops it, with the call's end: an
 * unusable number is dropped with the reason in the event instead (docs/providers.md#numbers). */
static int64_t num(ch_event *e, const json_t *call, const char *k, const ch_num_rule *r)
{
    int64_t v = CH_NUM_UNSET;
    char why[128], field[48];
    if (ch_num_json(json_object_get(call, k), r, false, &v, why, sizeof why) == CH_EINVAL) {
        snprintf(field, sizeof field, "call.%s", k);
        ch_event_ignore(e, field, why);
        v = CH_NUM_UNSET;
    }
    return v;
}

static int64_t ms(ch_event *e, const json_t *call, const char *k)
{
    int64_t v = num(e, call, k, &ch_num_unix_ms);
    return v == CH_NUM_UNSET ? CH_TIME_UNSET : v;
}

static const struct {
    const char *event;
    int seq;
} events[] = {{"call_started", 1},     {"transcript_updated", 2}, {"transfer_started", 2},
              {"transfer_bridged", 2}, {"transfer_cancelled", 2}, {"transfer_ended", 2},
              {"call_ended", 3},       {"call_analyzed", 4}};

static int parse(const ch_raw_request *req, ch_parsed *out, ch_parse_error *err)
{
    json_t *x = ch_provider_load_json(req, err);
    if (!x) return CH_EINVAL;
    int rc = CH_EINVAL;
    const char *ev = ch_json_text(x, "event");
    const json_t *call = json_object_get(x, "call");
    const char *id = json_is_object(call) ? ch_json_text(call, "call_id") : NULL;
    size_t k = 0;
    while (ev && k < sizeof events / sizeof *events && strcmp(events[k].event, ev) != 0)
        k++;
    if (!ev) {
        ch_parse_error_set(err, 422, "invalid_record", "event", "event is required");
        goto out;
    }
    if (!id) {
        ch_parse_error_set(err, 422, "invalid_record", "call.call_id", "call.call_id is required");
        goto out;
    }
    if (!ch_id_ok(id)) {
        ch_parse_error_set(err, 422, "invalid_record", "call.call_id",
                           "call.call_id must be 1 to %d characters long", CH_ID_MAX);
        goto out;
    }
    if (k == sizeof events / sizeof *events) {
        out->ignored = "an event Retell sends that carries no call record";
        rc = CH_OK;
        goto out;
    }
    ch_event *e = ch_event_new();
    e->provider = ch_strdup("retell");
    e->external_id = ch_strdup(id);
    e->kind = ch_asprintf("retell.%s", ev);
    e->seq = events[k].seq;
    const char *reason = ch_json_text(call, "disconnection_reason");
    e->started_at = ms(e, call, "start_timestamp");
    e->ended_at = ms(e, call, "end_timestamp");
    if (!strcmp(ev, "call_started")) {
        e->status = CH_STATUS_IN_PROGRESS; /* sent only once the call connected */
        e->answered_at = e->started_at;
    } else if (e->seq >= 3) {
        e->status = CH_STATUS_ENDED;
        if (reason && !strcmp(reason, "dial_busy"))
            e->disposition = CH_DISP_BUSY;
        else if (reason && !strcmp(reason, "dial_no_answer"))
            e->disposition = CH_DISP_NO_ANSWER;
        else if (reason && !strcmp(reason, "dial_failed"))
            e->disposition = CH_DISP_FAILED;
        else {
            e->disposition = CH_DISP_ANSWERED;
            e->answered_at = e->started_at;
        }
        e->duration_sec = num(e, call, "duration_ms", &ch_num_millis);
        if (e->duration_sec != CH_NUM_UNSET && e->disposition == CH_DISP_ANSWERED)
            e->billsec = e->duration_sec;
    }
    const char *dir = ch_json_text(call, "direction");
    if (dir)
        e->direction = !strcmp(dir, "inbound")    ? CH_DIR_INBOUND
                       : !strcmp(dir, "outbound") ? CH_DIR_OUTBOUND
                                                  : CH_DIR_UNKNOWN;
    if (ch_json_text(call, "from_number"))
        e->from_raw = ch_strdup(ch_json_text(call, "from_number"));
    if (ch_json_text(call, "to_number")) e->to_raw = ch_strdup(ch_json_text(call, "to_number"));
    if (ch_json_text(call, "transcript"))
        e->transcript = ch_strdup(ch_json_text(call, "transcript"));
    if (ch_json_text(call, "recording_url"))
        e->recording_url = ch_strdup(ch_json_text(call, "recording_url"));
    const json_t *an = json_object_get(call, "call_analysis");
    if (json_is_object(an) && ch_json_text(an, "call_summary"))
        e->summary = ch_strdup(ch_json_text(an, "call_summary"));
    json_t *meta = json_object();
    if (json_is_object(an)) json_object_set(meta, "call_analysis", (json_t *)an);
    if (reason) json_object_set_new(meta, "disconnection_reason", json_string(reason));
    if (ch_json_text(call, "agent_id"))
        json_object_set_new(meta, "agent_id", json_string(ch_json_text(call, "agent_id")));
    const json_t *um = json_object_get(call, "metadata");
    if (json_is_object(um) && json_object_size(um))
        json_object_set(meta, "retell_metadata", (json_t *)um);
    ch_event_add_meta(e, meta);
    if (e->seq == 2) { /* several of these per call: each distinct body is its own event */
        char h[CH_SHA256_HEX];
        ch_sha256_hex(req->body, req->body_len, h);
        e->idem_key = ch_asprintf("retell:%s:%s:%.16s", id, ev, h);
    } else {
        e->idem_key = ch_asprintf("retell:%s:%s", id, ev);
    }
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

const ch_provider ch_provider_retell = {
    .name = "retell",
    .content_types = content_types,
    .parse = parse,
    .verify = verify,
    .title = "Retell AI call webhook",
    .auth = "x-retell-signature: HMAC-SHA256 with the Retell API key that has the webhook badge",
    .fields = "{\"event\": call_started | call_ended | call_analyzed, \"call\": {call_id, "
              "direction, from_number, to_number, start_timestamp, end_timestamp, duration_ms, "
              "disconnection_reason, transcript, recording_url, call_analysis}}",
};
