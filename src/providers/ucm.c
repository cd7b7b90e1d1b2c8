/* Grandstream UCM / CloudUCM CDR real-time output (docs/providers.md#ucm). Accepts what the
 * firmware versions and their integrations send: one flat CDR object, an array of them,
 * {"cdr_root": [...]} (also inside {"response": …}) whose items are flat CDRs or grouped calls
 * {"cdr", "main_cdr", "sub_cdr_1".."sub_cdr_N"} with each sub_cdr an object or an array.
 *
 * The call is the UCM `session` (shared by every leg of one call); a grouped item's main_cdr is
 * the call itself, its sub_cdrs and every flat row are legs (keyed by uniqueid). The
 * idempotency key is (session, AcctId), as the UCM numbers its CDR rows. */
#include "providers/cdr.h"
#include "providers/number.h"
#include "providers/provider.h"
#include "providers/ucm.h"
#include "util/crypto.h"
#include "util/mem.h"
#include "util/result.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const ch_raw_request *req;
    ch_parsed *out;
    size_t rows;
    char path[96];
} ctx;

static void reject(ctx *c, const char *field, const char *msg)
{
    char f[160];
    snprintf(f, sizeof f, "%s%s%s", c->path, *c->path && field ? "." : "", field ? field : "");
    ch_parsed_add_error(c->out, f, "%s", msg);
}

/* One CDR row: a call-level event (main_cdr) or a leg. */
static void add_row(ctx *c, const json_t *row, bool call_level, const char *group)
{
    if (++c->rows > c->req->max_records) return; /* counted; the caller answers 413 */
    if (!json_is_object(row)) {
        reject(c, NULL, "a CDR must be a JSON object");
        return;
    }
    char session[CH_ID_MAX + 8], acct[CH_ID_MAX + 2], uid[CH_ID_MAX + 2], v[256];
    static const char *const ids[] = {"session", "AcctId", "uniqueid"};
    char *idbuf[] = {session, acct, uid};
    int has[3];
    for (int i = 0; i < 3; i++)
        if ((has[i] = ch_cdr_id(row, ids[i], idbuf[i])) < 0) {
            char msg[96];
            snprintf(msg, sizeof msg, "%s must be 1 to %d characters long", ids[i], CH_ID_MAX);
            reject(c, ids[i], msg);
            return;
        }
    bool has_session = has[0], has_acct = has[1], has_uid = has[2];
    if (!has_session && group && *group)
        snprintf(session, sizeof session, "cdr-%s", group);
    else if (!has_session && has_uid)
        snprintf(session, sizeof session, "%s", uid);
    else if (!has_session) {
        reject(c, "session", "session (or uniqueid) is required to know which call this is");
        return;
    }
    ch_event *e = ch_event_new();
    char err[256], field[64];
    /* an unusable number is dropped, with the reason, not refused: the UCM pushes unattended
     * and resends what it could not deliver (docs/providers.md#numbers) */
    if (ch_cdr_fill(e, row, c->req, false, err, sizeof err, field, sizeof field) != CH_OK) {
        reject(c, field, err);
        ch_event_free(e);
        return;
    }
    ch_cdr_direction_guess(e, c->req->tenant_country);
    e->provider = ch_strdup("ucm");
    e->external_id = ch_strdup(session);
    if (!call_level) e->leg_id = ch_strdup(has_uid ? uid : has_acct ? acct : session);
    if (has_acct) {
        e->idem_key = ch_asprintf("ucm:%s:%s", session, acct);
        char why[128];
        int64_t n;
        /* the row id orders the rows when it is a number; it is a key either way */
        if (ch_num_text(acct, &ch_num_sequence, &n, why, sizeof why) == CH_OK) e->seq = n;
    } else {
        /* no row id: the row's own content identifies it */
        char *canon = json_dumps(row, JSON_COMPACT | JSON_SORT_KEYS);
        char h[CH_SHA256_HEX];
        ch_sha256_hex(canon, strlen(canon), h);
        free(canon);
        e->idem_key = ch_asprintf("ucm:%s:sha256:%s", session, h);
    }
    e->ts = e->ended_at;
    e->kind = ch_strdup(call_level ? "cdr.main" : "cdr");
    json_t *meta = json_object();
    static const char *const keep[] = {"action_type", "src_trunk_name", "dst_trunk_name", "lastapp",
                                       "sn"};
    for (size_t i = 0; i < sizeof keep / sizeof *keep; i++)
        if (ch_cdr_get(row, keep[i], v, sizeof v))
            json_object_set_new(meta, keep[i], json_string(v));
    ch_event_add_meta(e, meta);
    char *raw = json_dumps(row, JSON_COMPACT | JSON_PRESERVE_ORDER);
    e->raw = raw;
    e->raw_len = strlen(raw);
    e->content_type = ch_strdup("application/json");
    ch_parsed_add_event(c->out, e);
}

static bool is_grouped(const json_t *item)
{
    if (!json_is_object(item)) return false;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)item, k, v)
    {
        if (!strcmp(k, "main_cdr") || !strncmp(k, "sub_cdr", 7)) return true;
    }
    return false;
}

static void add_item(ctx *c, const json_t *item, size_t index)
{
    if (!is_grouped(item)) {
        snprintf(c->path, sizeof c->path, "[%zu]", index);
        add_row(c, item, false, NULL);
        return;
    }
    char group[CH_ID_MAX + 2] = "";
    /* the call's key is "cdr-<cdr>" when its rows carry no session */
    if (ch_cdr_id(item, "cdr", group) < 0 || strlen(group) > CH_ID_MAX - 4) {
        snprintf(c->path, sizeof c->path, "[%zu]", index);
        char msg[96];
        snprintf(msg, sizeof msg, "cdr must be 1 to %d characters long", CH_ID_MAX - 4);
        reject(c, "cdr", msg);
        return;
    }
    const json_t *main_cdr = json_object_get(item, "main_cdr");
    if (main_cdr) {
        snprintf(c->path, sizeof c->path, "[%zu].main_cdr", index);
        add_row(c, main_cdr, true, group);
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)item, k, v)
    {
        if (strncmp(k, "sub_cdr", 7) != 0) continue;
        if (json_is_array(v)) {
            size_t j;
            json_t *leg;
            json_array_foreach(v, j, leg)
            {
                snprintf(c->path, sizeof c->path, "[%zu].%s[%zu]", index, k, j);
                add_row(c, leg, false, group);
            }
        } else {
            snprintf(c->path, sizeof c->path, "[%zu].%s", index, k);
            add_row(c, v, false, group);
        }
    }
}

static int parse(const ch_raw_request *req, ch_parsed *out, ch_parse_error *err)
{
    json_t *root = ch_provider_load_json(req, err);
    if (!root) return CH_EINVAL;
    int rc = CH_OK;
    ctx c = {.req = req, .out = out};
    const json_t *list = root;
    if (json_is_object(root) && json_is_object(json_object_get(root, "response")))
        list = json_object_get(root, "response");
    if (json_is_object(list) && json_object_get(list, "cdr_root"))
        list = json_object_get(list, "cdr_root");
    if (json_is_array(list)) {
        if (!json_array_size(list)) {
            ch_parse_error_set(err, 422, "invalid_record", NULL, "no CDR in the request");
            rc = CH_EINVAL;
            goto out;
        }
        out->batch = true;
        size_t i;
        json_t *item;
        json_array_foreach(list, i, item) add_item(&c, item, i);
    } else if (is_grouped(list)) {
        out->batch = true;
        add_item(&c, list, 0);
    } else if (json_is_object(list)) {
        add_row(&c, list, false, NULL);
        if (out->n == 1 && !out->records[0].event) {
            ch_parse_error_set(err, 422, "invalid_record", out->records[0].field, "%s",
                               out->records[0].error);
            rc = CH_EINVAL;
            goto out;
        }
    } else {
        ch_parse_error_set(err, 422, "invalid_record", "cdr_root",
                           "expected a CDR object, an array of CDRs or {\"cdr_root\": [...]}");
        rc = CH_EINVAL;
        goto out;
    }
    if (c.rows > req->max_records) {
        ch_parse_error_set(err, 413, "too_many_records", NULL,
                           "%zu CDRs in one request; the limit is %zu", c.rows, req->max_records);
        rc = CH_ETOOBIG;
    }
out:
    json_decref(root);
    return rc;
}

/* The UCM6202 CSV column order (docs/providers.md, field table). */
static const char *const csv_columns[] = {
    "AcctId",         "accountcode",    "src",         "dst",          "dcontext",
    "clid",           "channel",        "dstchannel",  "lastapp",      "lastdata",
    "start",          "answer",         "end",         "duration",     "billsec",
    "disposition",    "amaflags",       "uniqueid",    "userfield",    "channel_ext",
    "dstchannel_ext", "service",        "caller_name", "recordfiles",  "dstanswer",
    "chanext",        "dstchanext",     "session",     "action_owner", "action_type",
    "src_trunk_name", "dst_trunk_name", "sn"};

/* One CSV line, values optionally quoted with ' (the UCM's quote character) → JSON row. */
json_t *ch_ucm_csv_row(const char *line, size_t len)
{
    json_t *row = json_object();
    size_t col = 0, i = 0;
    char *v = ch_malloc(len + 1);
    while (i <= len && col < sizeof csv_columns / sizeof *csv_columns) {
        size_t n = 0;
        if (i < len && line[i] == '\'') {
            for (i++; i < len && line[i] != '\''; i++)
                v[n++] = line[i];
            i++; /* the closing quote */
            while (i < len && line[i] != ',')
                i++;
        } else {
            for (; i < len && line[i] != ','; i++)
                v[n++] = line[i];
        }
        v[n] = '\0';
        json_t *s = n ? json_stringn(v, n) : NULL;
        if (s) json_object_set_new(row, csv_columns[col], s);
        col++;
        i++; /* the comma */
    }
    free(v);
    if (col < 16) { /* not a CDR line */
        json_decref(row);
        return NULL;
    }
    return row;
}

/* Some firmware sends JSON as text/plain */
static const char *const content_types[] = {"application/json", "text/plain", NULL};

const ch_provider ch_provider_ucm = {
    .name = "ucm",
    .content_types = content_types,
    .parse = parse,
    .title = "Grandstream UCM / CloudUCM CDR real-time output (HTTP, JSON)",
    .auth = "HTTP Basic (the username and password set in the UCM), or a source-IP allow-list",
    .fields = "a flat CDR, an array or {\"cdr_root\": [...]} with main_cdr / sub_cdr_N: AcctId, "
              "session, src, dst, clid, caller_name, start, answer, end, duration, billsec, "
              "disposition, userfield, dstanswer, recordfiles, uniqueid, action_type",
    /* the URL Grandstream integrations already use: switching is changing the host only */
    .fixed_paths = (const char *const[]){"/api/webhook/cdr/{tenant}", NULL},
};
