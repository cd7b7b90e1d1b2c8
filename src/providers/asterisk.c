/* Asterisk CDRs as JSON (cdr_custom's JSON mappings, the OneCom webhook): one CDR object or an
 * array, each judged on its own (docs/providers.md#asterisk).
 *
 * Since Asterisk 12 one call makes several CDRs; `linkedid` (the uniqueid of the call's oldest
 * channel) ties them together, so it is the call's key. The CDR whose channel *is* that oldest
 * channel (uniqueid == linkedid) describes the call itself; the others are its legs. `sequence`
 * separates several CDRs of one channel, so the idempotency key is (uniqueid, sequence). */
#include "providers/asterisk.h"
#include "providers/cdr.h"
#include "providers/number.h"
#include "providers/provider.h"
#include "util/crypto.h"
#include "util/mem.h"
#include "util/result.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A number long enough to be outside the PBX (not an extension). */
static bool external_number(const char *s)
{
    size_t digits = 0;
    for (; s && *s; s++)
        if (isdigit((unsigned char)*s)) digits++;
    return digits >= 7;
}

int ch_asterisk_event(const json_t *row, const ch_raw_request *req, ch_event **out, char *err,
                      size_t errsz, char *field, size_t fieldsz)
{
    if (!json_is_object(row)) {
        snprintf(err, errsz, "a CDR must be a JSON object");
        field[0] = 0;
        return CH_EINVAL;
    }
    char uid[CH_ID_MAX + 2] = "", linked[CH_ID_MAX + 2] = "", callid[CH_ID_MAX + 2] = "";
    char seq[CH_NUM_TEXT_MAX + 2] = "", v[512];
    static const char *const ids[] = {"uniqueid", "linkedid", "call_id"};
    char *idbuf[] = {uid, linked, callid};
    int has[3];
    for (int i = 0; i < 3; i++)
        if ((has[i] = ch_cdr_id(row, ids[i], idbuf[i])) < 0) {
            snprintf(err, errsz, "%s must be 1 to %d characters long", ids[i], CH_ID_MAX);
            snprintf(field, fieldsz, "%s", ids[i]);
            return CH_EINVAL;
        }
    bool has_uid = has[0], has_linked = has[1], has_callid = has[2];
    if (!has_uid && !has_linked && !has_callid) {
        snprintf(err, errsz, "uniqueid (or linkedid / call_id) is required");
        snprintf(field, fieldsz, "uniqueid");
        return CH_EINVAL;
    }
    /* sequence is part of the idempotency key: without it two CDRs of one channel would be
     * taken for one, so a bad one refuses the CDR rather than being dropped */
    bool has_seq = ch_cdr_get(row, "sequence", seq, sizeof seq);
    int64_t seqn = CH_NUM_UNSET;
    char why[128];
    if (has_seq && ch_num_text(seq, &ch_num_sequence, &seqn, why, sizeof why) != CH_OK) {
        snprintf(err, errsz, "sequence %s", why);
        snprintf(field, fieldsz, "sequence");
        return CH_EINVAL;
    }
    ch_event *e = ch_event_new();
    /* an unusable number is refused: a forwarder script, or the person running `callhook
     * import`, reads the answer (docs/providers.md#numbers) */
    if (ch_cdr_fill(e, row, req, true, err, errsz, field, fieldsz) != CH_OK) {
        ch_event_free(e);
        return CH_EINVAL;
    }
    /* OneCom sends the real caller in realsrc and the final destination in lastdst */
    if (ch_cdr_get(row, "realsrc", v, sizeof v)) {
        free(e->from_raw);
        e->from_raw = ch_strdup(v);
    }
    if (!e->to_raw && ch_cdr_get(row, "lastdst", v, sizeof v) && strcmp(v, "s") != 0)
        e->to_raw = ch_strdup(v);
    if (e->direction == CH_DIR_INTERNAL || e->direction == CH_DIR_UNKNOWN) {
        char dch[256] = "", ctx[128] = "";
        ch_cdr_get(row, "dstchannel", dch, sizeof dch);
        ch_cdr_get(row, "dcontext", ctx, sizeof ctx);
        /* an internal context that leaves through a trunk, or dials a full number, is outbound */
        if (strcasestr(dch, "trunk") ||
            (e->direction == CH_DIR_INTERNAL && external_number(e->to_raw)))
            e->direction = CH_DIR_OUTBOUND;
    }
    /* a context callhook does not know ("from-outside" in OneCom's guide): the numbers tell */
    ch_cdr_direction_guess(e, req->tenant_country);
    /* the extension that took the call: "PJSIP/1001-0000000b" → 1001 */
    if (!e->extension && ch_cdr_get(row, "dstchannel", v, sizeof v) &&
        e->disposition == CH_DISP_ANSWERED) {
        const char *p = strchr(v, '/');
        size_t n = p ? strcspn(p + 1, "-@;") : 0;
        bool digits = n > 0 && n <= 6;
        for (size_t i = 0; digits && i < n; i++)
            digits = isdigit((unsigned char)p[1 + i]);
        if (digits) e->extension = ch_strndup(p + 1, n);
    }
    e->provider = ch_strdup("asterisk");
    e->external_id = ch_strdup(has_linked ? linked : has_callid ? callid : uid);
    if (has_uid && has_linked && strcmp(uid, linked) != 0) e->leg_id = ch_strdup(uid);
    e->seq = seqn;
    if (has_uid) {
        e->idem_key =
            has_seq ? ch_asprintf("asterisk:%s:%s", uid, seq) : ch_asprintf("asterisk:%s", uid);
    } else {
        char *canon = json_dumps(row, JSON_COMPACT | JSON_SORT_KEYS);
        char h[CH_SHA256_HEX];
        ch_sha256_hex(canon, strlen(canon), h);
        free(canon);
        e->idem_key = ch_asprintf("asterisk:sha256:%s", h);
    }
    e->ts = e->ended_at;
    e->kind = ch_strdup("cdr");
    json_t *meta = json_object();
    static const char *const keep[] = {"accountcode", "dcontext", "lastapp", "peeraccount"};
    for (size_t i = 0; i < sizeof keep / sizeof *keep; i++)
        if (ch_cdr_get(row, keep[i], v, sizeof v))
            json_object_set_new(meta, keep[i], json_string(v));
    ch_event_add_meta(e, meta);
    e->raw = json_dumps(row, JSON_COMPACT | JSON_PRESERVE_ORDER);
    e->raw_len = strlen(e->raw);
    e->content_type = ch_strdup("application/json");
    *out = e;
    return CH_OK;
}

static int parse(const ch_raw_request *req, ch_parsed *out, ch_parse_error *err)
{
    json_t *root = ch_provider_load_json(req, err);
    if (!root) return CH_EINVAL;
    int rc = CH_OK;
    char msg[256], field[64];
    const json_t *list = root;
    if (json_is_object(root) && json_is_array(json_object_get(root, "cdrs")))
        list = json_object_get(root, "cdrs"); /* {"cdrs": [...]} batches */
    if (json_is_array(list)) {
        size_t n = json_array_size(list);
        if (n == 0 || n > req->max_records) {
            ch_parse_error_set(err, n ? 413 : 422, n ? "too_many_records" : "invalid_record", NULL,
                               "%zu CDRs in one request; between 1 and %zu are accepted", n,
                               req->max_records);
            rc = n ? CH_ETOOBIG : CH_EINVAL;
            goto out;
        }
        out->batch = true;
        for (size_t i = 0; i < n; i++) {
            ch_event *e;
            if (ch_asterisk_event(json_array_get(list, i), req, &e, msg, sizeof msg, field,
                                  sizeof field) == CH_OK) {
                ch_parsed_add_event(out, e);
            } else {
                char path[96];
                snprintf(path, sizeof path, "[%zu]%s%s", i, *field ? "." : "", field);
                ch_parsed_add_error(out, path, "%s", msg);
            }
        }
    } else {
        ch_event *e;
        if (ch_asterisk_event(root, req, &e, msg, sizeof msg, field, sizeof field) != CH_OK) {
            ch_parse_error_set(err, 422, "invalid_record", field, "%s", msg);
            rc = CH_EINVAL;
            goto out;
        }
        free(e->raw); /* a single record keeps the body byte for byte */
        e->raw = ch_strndup(req->body, req->body_len);
        e->raw_len = req->body_len;
        ch_parsed_add_event(out, e);
    }
out:
    json_decref(root);
    return rc;
}

static const char *const content_types[] = {"application/json", "text/plain", NULL};

const ch_provider ch_provider_asterisk = {
    .name = "asterisk",
    .content_types = content_types,
    .parse = parse,
    .title = "Asterisk CDR JSON / OneCom",
    .auth = "Authorization: Bearer <token>, X-Api-Key or HTTP Basic",
    .fields =
        "one CDR or an array: uniqueid, linkedid, sequence, call_id, src, realsrc, dst, lastdst, "
        "clid, dcontext, channel, dstchannel, start, answer, end, duration, billsec, disposition",
    /* OneCom posts to a fixed URL: the tenant is the credential's owner */
    .fixed_paths = (const char *const[]){"/api/onecom/webhook", NULL},
};
