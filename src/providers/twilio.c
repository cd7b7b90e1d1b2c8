/* Twilio Programmable Voice status callbacks and recording status callbacks
 * (docs/providers.md#twilio), form-encoded, signed with X-Twilio-Signature.
 *
 * The signature is checked exactly as Twilio's own libraries do: HMAC-SHA1 keyed with the auth
 * token over the full URL as configured in Twilio (callhook's public URL + path + query, byte
 * for byte) followed by every POST parameter as name+value, sorted by name (and by value for a
 * repeated name), base64; the URL is tried as is, with the scheme's default port added, and
 * without it. A JSON body is covered by the `bodySHA256` query parameter instead.
 *
 * A callback for a <Dial> child leg carries ParentCallSid: it is a leg of the parent's call.
 * SequenceNumber orders the callbacks of one call (they may arrive out of order). */
#define _XOPEN_SOURCE 700
#include "providers/number.h"
#include "providers/provider.h"
#include "util/crypto.h"
#include "util/form.h"
#include "util/limits.h"
#include "util/mem.h"
#include "util/result.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---- signature ------------------------------------------------------------------------ */

static int cmp_pair(const void *a, const void *b)
{
    const ch_form_pair *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->value, y->value);
}

static bool sig_matches(const char *url, const ch_form *params, const char *secret,
                        const char *expected)
{
    size_t len = strlen(url);
    for (size_t i = 0; params && i < params->n; i++)
        len += strlen(params->v[i].name) + strlen(params->v[i].value);
    char *msg = ch_malloc(len + 1), *p = msg;
    p = stpcpy(p, url);
    for (size_t i = 0; params && i < params->n; i++) {
        p = stpcpy(p, params->v[i].name);
        p = stpcpy(p, params->v[i].value);
    }
    unsigned char mac[20];
    ch_hmac_sha1(secret, strlen(secret), msg, len, mac);
    free(msg);
    char b64[32];
    ch_base64(mac, sizeof mac, b64);
    return ch_ct_equal(b64, strlen(b64), expected, strlen(expected));
}

/* url with the scheme's default port added (add = true) or removed; false when not applicable. */
static bool port_variant(const char *url, bool add, char *out, size_t outsz)
{
    const char *port = !strncasecmp(url, "https://", 8)  ? "443"
                       : !strncasecmp(url, "http://", 7) ? "80"
                                                         : NULL;
    if (!port) return false;
    const char *host = strstr(url, "://") + 3;
    size_t hlen = strcspn(host, "/?#");
    const char *colon = memchr(host, ':', hlen);
    if (host[0] == '[') colon = memchr(strchr(host, ']') ? strchr(host, ']') : host, ':', hlen);
    if (add) {
        if (colon) return false;
        snprintf(out, outsz, "%.*s:%s%s", (int)(host - url + hlen), url, port, host + hlen);
        return true;
    }
    if (!colon || strncmp(colon + 1, port, strlen(port)) != 0 ||
        colon + 1 + strlen(port) != host + hlen)
        return false;
    snprintf(out, outsz, "%.*s%s", (int)(colon - url), url, host + hlen);
    return true;
}

static int verify(const ch_raw_request *req, const char *secret)
{
    const char *sig = ch_raw_header(req, "X-Twilio-Signature");
    if (!sig || !*sig || !req->url) return CH_EAUTH;
    bool form = ch_media_type_is(req->content_type, "application/x-www-form-urlencoded");
    ch_form params = {0};
    if (form && ch_form_parse(req->body, req->body_len, CH_TWILIO_MAX_PARAMS, &params) != CH_OK)
        return CH_EAUTH;
    if (params.n) qsort(params.v, params.n, sizeof *params.v, cmp_pair);
    bool ok = false;
    char alt[2300];
    ok = sig_matches(req->url, form ? &params : NULL, secret, sig) ||
         (port_variant(req->url, true, alt, sizeof alt) &&
          sig_matches(alt, form ? &params : NULL, secret, sig)) ||
         (port_variant(req->url, false, alt, sizeof alt) &&
          sig_matches(alt, form ? &params : NULL, secret, sig));
    ch_form_free(&params);
    if (ok && !form) {
        /* a JSON body: the signed URL carries the body's hash */
        const char *q = strstr(req->url, "bodySHA256=");
        char h[CH_SHA256_HEX];
        ch_sha256_hex(req->body, req->body_len, h);
        ok = q && strncmp(q + 11, h, 64) == 0 && (q[11 + 64] == '\0' || q[11 + 64] == '&');
    }
    return ok ? CH_OK : CH_EAUTH;
}

/* ---- parsing ---------------------------------------------------------------------------- */

typedef struct {
    const char *(*get)(const void *src, const char *name);
    const void *src;
} params_view;

static const char *form_get(const void *src, const char *name)
{
    const char *v = ch_form_get(src, name);
    return v && *v ? v : NULL;
}

static const char *json_get(const void *src, const char *name)
{
    const json_t *v = json_object_get(src, name);
    return json_is_string(v) && json_string_length(v) ? json_string_value(v) : NULL;
}

/* "Tue, 14 May 2024 10:15:42 +0000" */
static bool rfc2822(const char *s, int64_t *out)
{
    struct tm tm = {0};
    const char *end = strptime(s, "%a, %d %b %Y %H:%M:%S %z", &tm);
    if (!end || *end) return false;
    long off = tm.tm_gmtoff;
    *out = ((int64_t)timegm(&tm) - off) * 1000;
    return true;
}

static const struct {
    const char *name;
    ch_status status;
    ch_disposition disp;
} statuses[] = {
    {"queued", CH_STATUS_QUEUED, CH_DISP_NONE},
    {"initiated", CH_STATUS_QUEUED, CH_DISP_NONE},
    {"ringing", CH_STATUS_RINGING, CH_DISP_NONE},
    {"in-progress", CH_STATUS_IN_PROGRESS, CH_DISP_NONE},
    {"answered", CH_STATUS_IN_PROGRESS, CH_DISP_NONE},
    {"completed", CH_STATUS_ENDED, CH_DISP_ANSWERED},
    {"busy", CH_STATUS_ENDED, CH_DISP_BUSY},
    {"no-answer", CH_STATUS_ENDED, CH_DISP_NO_ANSWER},
    {"canceled", CH_STATUS_ENDED, CH_DISP_CANCELED},
    {"failed", CH_STATUS_ENDED, CH_DISP_FAILED},
};

static int to_event(const params_view *pv, const ch_raw_request *req, ch_event **out,
                    ch_parse_error *err)
{
#define G(n) pv->get(pv->src, n)
    const char *sid = G("CallSid"), *parent = G("ParentCallSid"), *st = G("CallStatus");
    const char *rec_status = G("RecordingStatus");
    if (!sid) {
        ch_parse_error_set(err, 422, "invalid_record", "CallSid", "CallSid is required");
        return CH_EINVAL;
    }
    /* ids key the call and the event: refused when absurd (Twilio's SIDs are 34 characters) */
    if (!ch_id_ok(sid) || (parent && !ch_id_ok(parent))) {
        const char *f = ch_id_ok(sid) ? "ParentCallSid" : "CallSid";
        ch_parse_error_set(err, 422, "invalid_record", f, "%s must be 1 to %d characters long", f,
                           CH_ID_MAX);
        return CH_EINVAL;
    }
    const char *seq = G("SequenceNumber"), *rsid = G("RecordingSid");
    if (rsid && !ch_id_ok(rsid)) {
        ch_parse_error_set(err, 422, "invalid_record", "RecordingSid",
                           "RecordingSid must be 1 to %d characters long", CH_ID_MAX);
        return CH_EINVAL;
    }
    /* part of the idempotency key and the event type; Twilio's are a word or two */
    if (rec_status && strlen(rec_status) > 64) {
        ch_parse_error_set(err, 422, "invalid_record", "RecordingStatus",
                           "RecordingStatus must be 1 to 64 characters long");
        return CH_EINVAL;
    }
    /* SequenceNumber is part of the idempotency key: refused, not dropped, when unusable */
    int64_t seqn = CH_NUM_UNSET;
    char why[128];
    if (seq && ch_num_text(seq, &ch_num_sequence, &seqn, why, sizeof why) != CH_OK) {
        ch_parse_error_set(err, 422, "invalid_record", "SequenceNumber", "SequenceNumber %s", why);
        return CH_EINVAL;
    }
    ch_event *e = ch_event_new();
    e->provider = ch_strdup("twilio");
    e->external_id = ch_strdup(parent ? parent : sid);
    if (parent) e->leg_id = ch_strdup(sid);
    e->seq = seqn;
    /* Twilio does not resend a refused callback: an unusable value is dropped with the reason
     * in the event and the rest of the callback (often the call's end) is kept
     * (docs/providers.md#numbers) */
    int64_t ts = CH_TIME_UNSET;
    const char *tss = G("Timestamp");
    if (tss && (!rfc2822(tss, &ts) || !ch_time_sane(ts))) {
        ts = CH_TIME_UNSET;
        ch_event_ignore(e, "Timestamp", "must be an RFC 2822 date between the years 2000 and 2100");
    }
    e->ts = ts;
    if (st) {
        size_t k = 0;
        while (k < sizeof statuses / sizeof *statuses && strcmp(statuses[k].name, st) != 0)
            k++;
        if (k == sizeof statuses / sizeof *statuses) {
            ch_event_free(e);
            ch_parse_error_set(err, 422, "invalid_record", "CallStatus",
                               "CallStatus %s is not one Twilio sends", st);
            return CH_EINVAL;
        }
        e->status = statuses[k].status;
        e->disposition = statuses[k].disp;
        /* the callback's time is when the call reached this status */
        if (e->status <= CH_STATUS_RINGING)
            e->started_at = ts;
        else if (e->status == CH_STATUS_IN_PROGRESS)
            e->answered_at = ts;
        else
            e->ended_at = ts;
        if (e->status == CH_STATUS_ENDED) {
            /* CallDuration is only meaningful on the terminal callback */
            const char *d = G("CallDuration");
            if (d && ch_num_text(d, &ch_num_seconds, &e->duration_sec, why, sizeof why) != CH_OK)
                ch_event_ignore(e, "CallDuration", why);
            else if (d && e->disposition == CH_DISP_ANSWERED)
                e->billsec = e->duration_sec;
        }
        e->kind = ch_asprintf("call.%s", st);
    }
    const char *dir = G("Direction");
    if (dir)
        e->direction = !strcmp(dir, "inbound")        ? CH_DIR_INBOUND
                       : !strncmp(dir, "outbound", 8) ? CH_DIR_OUTBOUND
                                                      : CH_DIR_UNKNOWN;
    if (G("From")) e->from_raw = ch_strdup(G("From"));
    if (G("To")) e->to_raw = ch_strdup(G("To"));
    if (G("CallerName")) e->caller_name = ch_strdup(G("CallerName"));
    if (rec_status && !strcmp(rec_status, "completed") && G("RecordingUrl"))
        e->recording_url = ch_strdup(G("RecordingUrl"));
    if (rec_status && !e->kind) e->kind = ch_asprintf("recording.%s", rec_status);
    json_t *meta = json_object();
    static const char *const keep[][2] = {{"AnsweredBy", "answered_by"},
                                          {"AccountSid", "account_sid"},
                                          {"SipResponseCode", "sip_response_code"},
                                          {"RecordingSid", "recording_sid"},
                                          {"RecordingDuration", "recording_duration"},
                                          {"ForwardedFrom", "forwarded_from"}};
    static const ch_num_rule sip_code = {"a SIP response code from 100 to 699", true, 100, 699, 1};
    for (size_t i = 0; i < sizeof keep / sizeof *keep; i++) {
        const char *val = G(keep[i][0]);
        int64_t n;
        const ch_num_rule *r = !strcmp(keep[i][0], "SipResponseCode")     ? &sip_code
                               : !strcmp(keep[i][0], "RecordingDuration") ? &ch_num_seconds
                                                                          : NULL;
        if (val && r && ch_num_text(val, r, &n, why, sizeof why) != CH_OK)
            ch_event_ignore(e, keep[i][0], why);
        else if (val)
            json_object_set_new(meta, keep[i][1], json_string(val));
    }
    ch_event_add_meta(e, meta);
    /* one callback per (call, sequence); recordings per (recording, status) */
    if (rec_status && rsid)
        e->idem_key = ch_asprintf("twilio:%s:%s:%s", sid, rsid, rec_status);
    else if (seq)
        e->idem_key = ch_asprintf("twilio:%s:%s", sid, seq);
    else
        e->idem_key =
            ch_asprintf("twilio:%s:%s:%s", sid, st ? st : "-", ts != CH_TIME_UNSET ? tss : "-");
    e->raw = ch_strndup(req->body, req->body_len);
    e->raw_len = req->body_len;
    e->content_type = ch_strdup(req->content_type ? req->content_type : "");
    *out = e;
    return CH_OK;
#undef G
}

static int parse(const ch_raw_request *req, ch_parsed *out, ch_parse_error *err)
{
    bool form = ch_media_type_is(req->content_type, "application/x-www-form-urlencoded");
    ch_event *e = NULL;
    int rc;
    if (form) {
        ch_form f;
        rc = ch_form_parse(req->body, req->body_len, CH_TWILIO_MAX_PARAMS, &f);
        if (rc == CH_ETOOBIG) {
            ch_parse_error_set(err, 413, "body_too_large", NULL, "more than %d parameters",
                               CH_TWILIO_MAX_PARAMS);
            return rc;
        }
        if (rc != CH_OK) {
            ch_parse_error_set(err, 400, "malformed_form", NULL,
                               "malformed form body (a bad %%-escape or a NUL byte)");
            return rc;
        }
        params_view pv = {form_get, &f};
        rc = to_event(&pv, req, &e, err);
        ch_form_free(&f);
    } else {
        json_error_t jerr;
        json_t *root = json_loadb(req->body, req->body_len, 0, &jerr);
        if (!json_is_object(root)) {
            ch_parse_error_set(err, 400, "malformed_json", NULL, "malformed JSON: %s",
                               root ? "expected an object" : jerr.text);
            if (!root) {
                err->line = jerr.line;
                err->column = jerr.column;
            }
            json_decref(root);
            return CH_EINVAL;
        }
        params_view pv = {json_get, root};
        rc = to_event(&pv, req, &e, err);
        json_decref(root);
    }
    if (rc != CH_OK) return rc;
    ch_parsed_add_event(out, e);
    return CH_OK;
}

static const char *const content_types[] = {"application/x-www-form-urlencoded", "application/json",
                                            NULL};

const ch_provider ch_provider_twilio = {
    .name = "twilio",
    .content_types = content_types,
    .parse = parse,
    .verify = verify,
    .title = "Twilio Voice status and recording callbacks",
    .auth = "X-Twilio-Signature with the account auth token over the URL set in Twilio (callhook "
            "needs its --public-url)",
    .fields = "CallSid, ParentCallSid, CallStatus, SequenceNumber, Timestamp, Direction, From, To, "
              "CallerName, CallDuration, AnsweredBy, RecordingSid, RecordingUrl, RecordingStatus",
};
