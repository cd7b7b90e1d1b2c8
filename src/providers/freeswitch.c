/* FreeSWITCH mod_json_cdr (docs/providers.md#freeswitch): one JSON CDR per call leg, POSTed at
 * the leg's hangup (on_reporting) to `<url>?uuid=<channel uuid>`, authenticated with HTTP Basic
 * (`cred=user:pass`).
 *
 * The body comes in one of three encodings, set by `encode`:
 *   - false:  the JSON as is, Content-Type application/json;
 *   - true:   `cdr=<urlencoded JSON>`, application/x-www-form-urlencoded;
 *   - base64: `cdr=<base64 JSON>` (not URL-encoded: '+' is a base64 digit),
 *             application/x-www-form-base64-encoded.
 * With `encode-values` (the default) every value of `variables` is itself URL-encoded inside
 * the JSON ("caller_id_number":"%2B972501234567"): a value holding '%' is decoded.
 *
 * The call's key is `call_uuid` (FreeSWITCH sets it to the A-leg's uuid on every channel the
 * A-leg originates), else `originating_leg_uuid`, else the leg's own uuid. `bridge_uuid` is not
 * a call key: on the A-leg it names the B-leg, so the two CDRs of one call would disagree. The
 * CDR whose uuid is the key describes the call itself; every other CDR is a leg. A leg's CDR is
 * posted once (retries repeat it byte for byte), so its uuid is the idempotency key. */
#include "providers/number.h"
#include "providers/provider.h"
#include "util/form.h"
#include "util/limits.h"
#include "util/mem.h"
#include "util/result.h"

#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { ENC_JSON, ENC_FORM, ENC_BASE64 };

static const char *const content_types[] = {"application/json", "application/x-www-form-urlencoded",
                                            "application/x-www-form-base64-encoded", NULL};

/* ---- value decoding ----------------------------------------------------------------------- */

/* %XX → byte in s[0..n). strict: a '%' not followed by two hex digits is an error (the cdr=
 * parameter); otherwise it stays as it is (a value sent with encode-values=false may hold a
 * literal '%'). '+' stays '+': FreeSWITCH encodes a space as %20. NULL on an error, a NUL byte
 * or invalid UTF-8. */
static char *pct_decode(const char *s, size_t n, bool strict, size_t *outlen)
{
    char *out = ch_malloc(n + 1), *o = out;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            int a = i + 1 < n ? ch_hexval(s[i + 1]) : -1, b = i + 2 < n ? ch_hexval(s[i + 2]) : -1;
            if (a >= 0 && b >= 0) {
                c = (char)(a * 16 + b);
                i += 2;
            } else if (strict) {
                free(out);
                return NULL;
            }
        }
        if (c == '\0') {
            free(out);
            return NULL;
        }
        *o++ = c;
    }
    *o = '\0';
    if (!ch_utf8_valid((const unsigned char *)out, (size_t)(o - out))) {
        free(out);
        return NULL;
    }
    if (outlen) *outlen = (size_t)(o - out);
    return out;
}

typedef struct {
    const json_t *vars;
    char field[128]; /* the offending member when a value is unusable */
} cdr_ctx;

/* variables[key] as a new string (trimmed, %-decoded): CH_OK with *out NULL when absent, null
 * or empty; CH_EINVAL (ctx->field set) when it decodes to a NUL byte or invalid UTF-8. Numbers
 * are accepted as their text. */
static int var_from(const json_t *obj, const char *prefix, const char *key, char **out,
                    cdr_ctx *ctx)
{
    *out = NULL;
    const json_t *v = json_object_get(obj, key);
    char num[64];
    const char *s;
    size_t n;
    if (json_is_string(v)) {
        s = json_string_value(v);
        n = json_string_length(v);
    } else if (json_is_integer(v)) {
        n = (size_t)snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
        s = num;
    } else if (json_is_real(v)) {
        n = (size_t)snprintf(num, sizeof num, "%.17g", json_real_value(v));
        s = num;
    } else {
        return CH_OK; /* absent, null, or not a scalar: not known */
    }
    char *d;
    if (memchr(s, '%', n))
        d = pct_decode(s, n, false, NULL); /* encode-values */
    else
        d = memchr(s, '\0', n) ? NULL : ch_strndup(s, n);
    if (!d) {
        snprintf(ctx->field, sizeof ctx->field, "%s%s", prefix, key);
        return CH_EINVAL;
    }
    /* trim spaces */
    size_t b = 0;
    while (d[b] && isspace((unsigned char)d[b]))
        b++;
    size_t e = strlen(d);
    while (e > b && isspace((unsigned char)d[e - 1]))
        e--;
    if (e == b) {
        free(d);
        return CH_OK;
    }
    memmove(d, d + b, e - b);
    d[e - b] = '\0';
    *out = d;
    return CH_OK;
}

static int var(cdr_ctx *ctx, const char *key, char **out)
{
    return var_from(ctx->vars, "variables.", key, out, ctx);
}

/* The time of `<name>_uepoch` (microseconds) or `<name>_epoch` (seconds); "0" is unset.
 * mod_json_cdr keeps a CDR it could not deliver in err-log-dir, so an unusable value is refused
 * (422) rather than dropped (docs/providers.md#numbers). CH_OK (out may stay unset) or CH_EINVAL
 * with ctx->field and why. */
static int epoch_time(cdr_ctx *ctx, const char *name, int64_t *out, char *why, size_t whysz)
{
    static const struct {
        const char *suffix;
        const ch_num_rule *rule;
    } forms[] = {{"uepoch", &ch_num_unix_us}, {"epoch", &ch_num_unix_s_whole}};
    for (int i = 0; i < 2; i++) {
        char key[32], *s = NULL;
        snprintf(key, sizeof key, "%s_%s", name, forms[i].suffix);
        if (var(ctx, key, &s) != CH_OK) {
            snprintf(why, whysz, "is not valid URL-encoded UTF-8");
            return CH_EINVAL;
        }
        if (!s) continue;
        int64_t v = CH_TIME_UNSET;
        int rc = strcmp(s, "0") == 0 ? CH_OK : ch_num_text(s, forms[i].rule, &v, why, whysz);
        free(s);
        if (rc != CH_OK) {
            snprintf(ctx->field, sizeof ctx->field, "variables.%s", key);
            return CH_EINVAL;
        }
        if (v != CH_TIME_UNSET) {
            *out = forms[i].rule == &ch_num_unix_us ? v / 1000 : v;
            return CH_OK;
        }
    }
    return CH_OK;
}

static int hangup_disposition(const char *cause)
{
    if (!cause) return CH_DISP_NONE;
    if (!strcmp(cause, "USER_BUSY")) return CH_DISP_BUSY;
    if (!strcmp(cause, "NO_ANSWER") || !strcmp(cause, "NO_USER_RESPONSE") ||
        !strcmp(cause, "ALLOTTED_TIMEOUT"))
        return CH_DISP_NO_ANSWER;
    /* the caller hung up first, or another phone took the call (ring groups) */
    if (!strcmp(cause, "ORIGINATOR_CANCEL") || !strcmp(cause, "LOSE_RACE") ||
        !strcmp(cause, "PICKED_OFF"))
        return CH_DISP_CANCELED;
    return CH_DISP_FAILED;
}

/* callStats.audio.inbound.mos as a number in *out (NULL when absent); CH_EINVAL when it is not
 * a number from 0 to 5. */
static int mos_of(const json_t *root, json_t **out)
{
    static const ch_num_rule mos = {"a number from 0 to 5", false, 0, 5, 1e6};
    const json_t *m = json_object_get(
        json_object_get(json_object_get(json_object_get(root, "callStats"), "audio"), "inbound"),
        "mos");
    int64_t micro;
    char why[64];
    int rc = ch_num_json(m, &mos, true, &micro, why, sizeof why);
    if (rc == CH_ENOTFOUND) return CH_OK;
    if (rc != CH_OK) return CH_EINVAL;
    *out = json_real(json_is_string(m) ? strtod(json_string_value(m), NULL) : json_number_value(m));
    return CH_OK;
}

/* ---- one CDR → event ---------------------------------------------------------------------- */

static const char *url_uuid(const char *url, char *buf, size_t bufsz)
{
    const char *q = url ? strchr(url, '?') : NULL;
    while (q) {
        q++;
        if (!strncmp(q, "uuid=", 5)) {
            size_t n = strcspn(q + 5, "&#");
            size_t len;
            char *d = n ? pct_decode(q + 5, n, true, &len) : NULL;
            if (!d || !len || len >= bufsz) {
                free(d);
                return NULL;
            }
            memcpy(buf, d, len + 1);
            free(d);
            return buf;
        }
        q = strchr(q, '&');
    }
    return NULL;
}

static int to_event(const json_t *root, const ch_raw_request *req, ch_event **out,
                    ch_parse_error *err)
{
    cdr_ctx ctx = {.vars = json_object_get(root, "variables")}; /* NULL for a non-object */
    if (!json_is_object(ctx.vars)) {
        ch_parse_error_set(err, 422, "invalid_record", "variables",
                           "a mod_json_cdr CDR is a JSON object with a variables object");
        return CH_EINVAL;
    }
    enum {
        UUID,
        CALL_UUID,
        ORIG_UUID,
        DIRECTION,
        CID_NUM,
        CID_NAME,
        DEST,
        CALLEE,
        DURATION,
        BILLSEC,
        CAUSE,
        SIP_DISP,
        EXTEN,
        REC_URL,
        REC_FILE,
        REC_FILE2,
        REC_PATH,
        REC_NAME,
        NVARS
    };
    static const char *const names[NVARS] = {"uuid",
                                             "call_uuid",
                                             "originating_leg_uuid",
                                             "direction",
                                             "caller_id_number",
                                             "caller_id_name",
                                             "destination_number",
                                             "callee_id_number",
                                             "duration",
                                             "billsec",
                                             "hangup_cause",
                                             "sip_hangup_disposition",
                                             "dialed_extension",
                                             "recording_url",
                                             "record_file",
                                             "recording_file",
                                             "record_path",
                                             "record_name"};
    char *v[NVARS] = {0}, *switchname = NULL, ubuf[128];
    ch_event *e = NULL;
    int rc = CH_EINVAL;
    for (int i = 0; i < NVARS; i++)
        if (var(&ctx, names[i], &v[i]) != CH_OK) {
            ch_parse_error_set(err, 422, "invalid_record", ctx.field,
                               "%s is not valid URL-encoded UTF-8", ctx.field);
            goto out;
        }
    if (var_from(root, "", "switchname", &switchname, &ctx) != CH_OK) {
        ch_parse_error_set(err, 422, "invalid_record", ctx.field,
                           "%s is not valid URL-encoded UTF-8", ctx.field);
        goto out;
    }
    const char *uuid = v[UUID] ? v[UUID] : url_uuid(req->url, ubuf, sizeof ubuf);
    if (!uuid) {
        ch_parse_error_set(err, 422, "invalid_record", "variables.uuid",
                           "variables.uuid is required");
        goto out;
    }
    const char *key = v[CALL_UUID] ? v[CALL_UUID] : v[ORIG_UUID] ? v[ORIG_UUID] : uuid;
    /* the ids key the call and the event */
    const char *idf = !ch_id_ok(uuid)                  ? (v[UUID] ? "variables.uuid" : "uuid")
                      : !ch_id_ok(key) && v[CALL_UUID] ? "variables.call_uuid"
                      : !ch_id_ok(key)                 ? "variables.originating_leg_uuid"
                                                       : NULL;
    if (idf) {
        ch_parse_error_set(err, 422, "invalid_record", idf, "%s must be 1 to %d characters long",
                           idf, CH_ID_MAX);
        goto out;
    }

    e = ch_event_new();
    e->provider = ch_strdup("freeswitch");
    e->external_id = ch_strdup(key);
    if (strcmp(key, uuid) != 0) e->leg_id = ch_strdup(uuid);
    e->idem_key = ch_asprintf("freeswitch:%s", uuid);
    e->kind = ch_strdup("cdr");
    e->status = CH_STATUS_ENDED;

    static const char *const times[] = {"start", "answer", "end"};
    int64_t *dst[] = {&e->started_at, &e->answered_at, &e->ended_at};
    char why[128];
    for (int i = 0; i < 3; i++)
        if (epoch_time(&ctx, times[i], dst[i], why, sizeof why) != CH_OK) {
            ch_parse_error_set(err, 422, "invalid_record", ctx.field, "%s %s", ctx.field, why);
            goto out;
        }
    int64_t *cdst[] = {&e->duration_sec, &e->billsec};
    for (int i = 0; i < 2; i++) {
        const char *s = v[DURATION + i];
        if (s && ch_num_text(s, &ch_num_seconds, cdst[i], why, sizeof why) != CH_OK) {
            ch_parse_error_set(err, 422, "invalid_record",
                               i ? "variables.billsec" : "variables.duration", "variables.%s %s",
                               names[DURATION + i], why);
            goto out;
        }
    }
    bool answered =
        e->answered_at != CH_TIME_UNSET || (e->billsec != CH_NUM_UNSET && e->billsec > 0);
    e->disposition = answered ? CH_DISP_ANSWERED : hangup_disposition(v[CAUSE]);

    const char *dir = v[DIRECTION];
    if (!dir) {
        const json_t *d = json_object_get(json_object_get(root, "channel_data"), "direction");
        dir = json_is_string(d) ? json_string_value(d) : NULL;
    }
    e->direction = !dir                           ? CH_DIR_UNKNOWN
                   : !strcasecmp(dir, "inbound")  ? CH_DIR_INBOUND
                   : !strcasecmp(dir, "outbound") ? CH_DIR_OUTBOUND
                                                  : CH_DIR_UNKNOWN;

    if (v[CID_NUM]) e->from_raw = ch_strdup(v[CID_NUM]);
    const char *to = v[DEST] ? v[DEST] : v[CALLEE];
    if (to) e->to_raw = ch_strdup(to);
    if (v[CID_NAME] && (!v[CID_NUM] || strcmp(v[CID_NAME], v[CID_NUM]) != 0))
        e->caller_name = ch_strdup(v[CID_NAME]);
    if (v[EXTEN]) e->extension = ch_strdup(v[EXTEN]);
    if (v[REC_URL])
        e->recording_url = ch_strdup(v[REC_URL]);
    else if (v[REC_FILE])
        e->recording_url = ch_strdup(v[REC_FILE]);
    else if (v[REC_FILE2])
        e->recording_url = ch_strdup(v[REC_FILE2]);
    else if (v[REC_PATH] && v[REC_NAME])
        e->recording_url = ch_asprintf("%s/%s", v[REC_PATH], v[REC_NAME]);

    json_t *meta = json_object();
    if (v[CAUSE]) json_object_set_new(meta, "hangup_cause", json_string(v[CAUSE]));
    if (v[SIP_DISP]) json_object_set_new(meta, "sip_hangup_disposition", json_string(v[SIP_DISP]));
    if (switchname) json_object_set_new(meta, "switchname", json_string(switchname));
    json_t *mos = NULL;
    if (mos_of(root, &mos) != CH_OK) {
        json_decref(meta);
        ch_parse_error_set(err, 422, "invalid_record", "callStats.audio.inbound.mos",
                           "callStats.audio.inbound.mos must be a number from 0 to 5");
        goto out;
    }
    if (mos) json_object_set_new(meta, "mos", mos);
    if (json_object_size(meta))
        e->metadata = meta;
    else
        json_decref(meta);

    e->ts = e->ended_at;
    e->raw = ch_strndup(req->body, req->body_len);
    e->raw_len = req->body_len;
    e->content_type = ch_strdup(req->content_type ? req->content_type : "");
    *out = e;
    e = NULL;
    rc = CH_OK;
out:
    ch_event_free(e);
    for (int i = 0; i < NVARS; i++)
        free(v[i]);
    free(switchname);
    return rc;
}

/* ---- body → JSON -------------------------------------------------------------------------- */

/* The cdr= parameter of a base64 body, decoded. CH_OK with json and len set, or an error in err. */
static int base64_cdr(const ch_raw_request *req, unsigned char **json, size_t *len,
                      ch_parse_error *err)
{
    const char *p = req->body, *end = req->body + req->body_len, *val = NULL, *vend = NULL;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        if (stop - p >= 4 && !memcmp(p, "cdr=", 4)) {
            val = p + 4;
            vend = stop;
            break;
        }
        p = stop + 1;
    }
    if (!val) {
        ch_parse_error_set(err, 422, "invalid_record", "cdr",
                           "a base64 body must be cdr=<base64 of the CDR JSON>");
        return CH_EINVAL;
    }
    size_t n = (size_t)(vend - val);
    char *text = NULL; /* a sender may have URL-encoded the base64 ('+' as %2B) */
    if (memchr(val, '%', n)) {
        text = pct_decode(val, n, true, &n);
        if (!text) goto bad;
        val = text;
    }
    unsigned char *bin = ch_malloc(n / 4 * 3 + 4);
    size_t blen = 0;
    const char *b64end = NULL;
    int r = sodium_base642bin(bin, n / 4 * 3 + 3, val, n, " \t\r\n", &blen, &b64end,
                              sodium_base64_VARIANT_ORIGINAL);
    if (r != 0 || b64end != val + n) /* unpadded */
        r = sodium_base642bin(bin, n / 4 * 3 + 3, val, n, " \t\r\n", &blen, &b64end,
                              sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
    free(text);
    text = NULL;
    if (r != 0 || b64end != val + n || blen == 0) {
        free(bin);
        goto bad;
    }
    *json = bin;
    *len = blen;
    return CH_OK;
bad:
    free(text);
    ch_parse_error_set(err, 400, "malformed_body", "cdr", "the cdr parameter is not valid base64");
    return CH_EINVAL;
}

static int parse(const ch_raw_request *req, ch_parsed *out, ch_parse_error *err)
{
    int enc = ch_media_type_is(req->content_type, "application/x-www-form-urlencoded") ? ENC_FORM
              : ch_media_type_is(req->content_type, "application/x-www-form-base64-encoded")
                  ? ENC_BASE64
                  : ENC_JSON;
    const char *text = req->body;
    size_t len = req->body_len;
    unsigned char *owned = NULL;
    ch_form f = {0};
    if (enc == ENC_FORM) {
        int rc = ch_form_parse(req->body, req->body_len, CH_FREESWITCH_MAX_PARAMS, &f);
        if (rc != CH_OK) {
            ch_parse_error_set(err, 400, "malformed_body", NULL,
                               rc == CH_ETOOBIG ? "more than %d form parameters"
                                                : "malformed form body (a bad %%-escape, a NUL "
                                                  "byte or invalid UTF-8)",
                               CH_FREESWITCH_MAX_PARAMS);
            return CH_EINVAL;
        }
        text = ch_form_get(&f, "cdr");
        if (!text || !*text) {
            ch_form_free(&f);
            ch_parse_error_set(err, 422, "invalid_record", "cdr",
                               "a form body must be cdr=<URL-encoded CDR JSON>");
            return CH_EINVAL;
        }
        len = strlen(text);
    } else if (enc == ENC_BASE64) {
        if (base64_cdr(req, &owned, &len, err) != CH_OK) return CH_EINVAL;
        text = (const char *)owned;
    }
    json_error_t jerr;
    json_t *root = json_loadb(text, len, 0, &jerr);
    ch_form_free(&f);
    free(owned);
    if (!root) {
        ch_parse_error_set(err, 400, "malformed_json", enc == ENC_JSON ? NULL : "cdr",
                           "malformed JSON%s: %s", enc == ENC_JSON ? "" : " in cdr", jerr.text);
        err->line = jerr.line > 0 ? jerr.line : 1;
        err->column = jerr.column > 0 ? jerr.column : 1;
        return CH_EINVAL;
    }
    ch_event *e = NULL;
    int rc = to_event(root, req, &e, err);
    json_decref(root);
    if (rc != CH_OK) return rc;
    ch_parsed_add_event(out, e);
    return CH_OK;
}

const ch_provider ch_provider_freeswitch = {
    .name = "freeswitch",
    .content_types = content_types,
    .parse = parse,
    .title = "FreeSWITCH mod_json_cdr",
    .auth = "HTTP Basic (cred=user:pass in json_cdr.conf.xml), or Authorization: Bearer <token>",
    .fields = "one CDR per leg, raw JSON, cdr=<urlencoded JSON> or cdr=<base64 JSON> "
              "(encode-values decoded); variables: uuid, call_uuid, originating_leg_uuid, "
              "direction, caller_id_number, caller_id_name, destination_number, callee_id_number, "
              "start/answer/end_epoch (or _uepoch), duration, billsec, hangup_cause, "
              "sip_hangup_disposition, dialed_extension, record_file; switchname; "
              "callStats.audio.inbound.mos",
};
