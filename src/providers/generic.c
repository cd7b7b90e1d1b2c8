/* callhook's own event format (docs/generic-event.md): the shape every other adapter
 * normalises into, posted by anything that can send JSON. */
#include "providers/number.h"
#include "providers/provider.h"
#include "util/crypto.h"
#include "util/mem.h"
#include "util/result.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_ID CH_ID_MAX

typedef struct {
    const ch_raw_request *req;
    ch_parsed *out;
    char prefix[24]; /* "[3]." in a batch, "" for a single object */
    char field[160];
    char msg[256];
} ctx;

static const char *path(ctx *c, const char *member)
{
    snprintf(c->field, sizeof c->field, "%s%s", c->prefix, member);
    return c->field;
}

static int fail(ctx *c, const char *member, const char *fmt, const char *detail)
{
    snprintf(c->msg, sizeof c->msg, fmt, detail);
    path(c, member);
    return CH_EINVAL;
}

/* A string member: absent/null leave *dst NULL. */
static int get_string(ctx *c, json_t *o, const char *k, size_t min, size_t max, char **dst)
{
    json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) return CH_OK;
    if (!json_is_string(v)) return fail(c, k, "%s must be a string", k);
    size_t n = json_string_length(v);
    if (n < min || n > max) {
        snprintf(c->msg, sizeof c->msg, "%s must be %zu to %zu characters long", k, min, max);
        path(c, k);
        return CH_EINVAL;
    }
    if (memchr(json_string_value(v), '\0', n)) return fail(c, k, "%s contains a NUL character", k);
    *dst = ch_strndup(json_string_value(v), n);
    return CH_OK;
}

/* Numbers are refused (422) when out of range: the sender is an API client that reads the
 * answer (docs/providers.md#numbers). */
static int get_num(ctx *c, json_t *o, const char *k, const ch_num_rule *r, int64_t *dst)
{
    char why[128];
    int rc = ch_num_json(json_object_get(o, k), r, false, dst, why, sizeof why);
    if (rc == CH_EINVAL) {
        snprintf(c->msg, sizeof c->msg, "%s %s", k, why);
        path(c, k);
    }
    return rc == CH_EINVAL ? CH_EINVAL : CH_OK;
}

static int get_time(ctx *c, json_t *o, const char *k, int64_t *dst)
{
    json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) return CH_OK;
    if (json_is_number(v)) return get_num(c, o, k, &ch_num_unix_s, dst);
    int64_t t;
    if (json_is_string(v) && ch_time_parse(json_string_value(v), c->req->tenant_tz, &t) == 0) {
        if (!ch_time_sane(t))
            return fail(c, k, "%s must be a time between the years 2000 and 2100", k);
        *dst = t;
        return CH_OK;
    }
    return fail(c, k, "%s must be an RFC 3339 time or Unix seconds", k);
}

static int get_enum(ctx *c, json_t *o, const char *k, int (*parse)(const char *), int *dst,
                    const char *allowed)
{
    json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) return CH_OK;
    int x = json_is_string(v) ? parse(json_string_value(v)) : -1;
    if (x < 0) {
        snprintf(c->msg, sizeof c->msg, "%s must be one of %s", k, allowed);
        path(c, k);
        return CH_EINVAL;
    }
    *dst = x;
    return CH_OK;
}

static int get_cost(ctx *c, json_t *o, ch_event *e)
{
    json_t *v = json_object_get(o, "cost");
    if (!v || json_is_null(v)) return CH_OK;
    if (!json_is_object(v))
        return fail(c, "cost", "%s must be an object {amount, currency}", "cost");
    json_t *amount = json_object_get(v, "amount"), *cur = json_object_get(v, "currency");
    int64_t micros;
    char why[128];
    if (!json_is_number(amount) ||
        ch_num_json(amount, &ch_num_cost_signed, false, &micros, why, sizeof why) != CH_OK)
        return fail(c, "cost.amount", "%s must be a number from -1000000 to 1000000",
                    "cost.amount");
    if (cur && !json_is_null(cur) &&
        (!json_is_string(cur) || json_string_length(cur) < 1 || json_string_length(cur) > 8))
        return fail(c, "cost.currency", "%s must be a currency code such as \"USD\"",
                    "cost.currency");
    e->cost_micros = micros;
    e->cost_currency = ch_strdup(json_is_string(cur) ? json_string_value(cur) : "USD");
    return CH_OK;
}

static int parse_record(ctx *c, json_t *o, ch_event **out)
{
    if (!json_is_object(o)) {
        snprintf(c->msg, sizeof c->msg, "a record must be a JSON object");
        snprintf(c->field, sizeof c->field, "%.*s", (int)(strlen(c->prefix) - 1), c->prefix);
        return CH_EINVAL;
    }
    ch_event *e = ch_event_new();
    int dir = -1, status = -1, disp = -1, rc;
    char *event_id = NULL;
    json_t *meta = json_object_get(o, "metadata");

    if (!json_object_get(o, "call_id") || json_is_null(json_object_get(o, "call_id"))) {
        rc = fail(c, "call_id", "%s is required", "call_id");
        goto out;
    }
    if ((rc = get_string(c, o, "call_id", 1, MAX_ID, &e->external_id)) ||
        (rc = get_string(c, o, "event_id", 1, MAX_ID, &event_id)) ||
        (rc = get_string(c, o, "type", 1, 64, &e->kind)) ||
        (rc = get_string(c, o, "leg_id", 1, MAX_ID, &e->leg_id)) ||
        (rc = get_enum(c, o, "direction", ch_direction_parse, &dir,
                       "inbound, outbound, internal, unknown")) ||
        (rc = get_enum(c, o, "status", ch_status_parse, &status,
                       "queued, ringing, in_progress, ended")) ||
        (rc = get_enum(c, o, "disposition", ch_disposition_parse, &disp,
                       "answered, no_answer, busy, failed, canceled")) ||
        (rc = get_string(c, o, "from", 0, 128, &e->from_raw)) ||
        (rc = get_string(c, o, "to", 0, 128, &e->to_raw)) ||
        (rc = get_string(c, o, "caller_name", 0, 256, &e->caller_name)) ||
        (rc = get_string(c, o, "extension", 0, 256, &e->extension)) ||
        (rc = get_time(c, o, "timestamp", &e->ts)) ||
        (rc = get_time(c, o, "started_at", &e->started_at)) ||
        (rc = get_time(c, o, "answered_at", &e->answered_at)) ||
        (rc = get_time(c, o, "ended_at", &e->ended_at)) ||
        (rc = get_num(c, o, "duration_sec", &ch_num_seconds, &e->duration_sec)) ||
        (rc = get_num(c, o, "billsec", &ch_num_seconds, &e->billsec)) ||
        (rc = get_num(c, o, "sequence", &ch_num_sequence, &e->seq)) ||
        (rc = get_string(c, o, "recording_url", 0, 2048, &e->recording_url)) ||
        (rc = get_string(c, o, "transcript", 0, SIZE_MAX, &e->transcript)) ||
        (rc = get_string(c, o, "summary", 0, SIZE_MAX, &e->summary)) || (rc = get_cost(c, o, e)))
        goto out;
    if (meta && !json_is_null(meta)) {
        if (!json_is_object(meta)) {
            rc = fail(c, "metadata", "%s must be an object", "metadata");
            goto out;
        }
        e->metadata = json_deep_copy(meta);
    }
    if (dir >= 0) e->direction = (ch_direction)dir;
    if (status >= 0) e->status = (ch_status)status;
    if (disp >= 0) e->disposition = (ch_disposition)disp;
    e->provider = ch_strdup("generic");
    if (event_id) {
        e->idem_key = ch_asprintf("generic:%s", event_id);
    } else {
        /* No id from the sender: identical records are the same delivery. */
        char *canon = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
        char h[CH_SHA256_HEX];
        ch_sha256_hex(canon, strlen(canon), h);
        free(canon);
        e->idem_key = ch_asprintf("generic:sha256:%s", h);
    }
    rc = CH_OK;
out:
    free(event_id);
    if (rc) {
        ch_event_free(e);
        e = NULL;
    }
    *out = e;
    return rc;
}

static void set_raw(ch_event *e, const char *p, size_t n)
{
    e->raw = ch_strndup(p, n);
    e->raw_len = n;
    e->content_type = ch_strdup("application/json");
}

static int parse(const ch_raw_request *req, ch_parsed *out, ch_parse_error *err)
{
    json_t *root = ch_provider_load_json(req, err);
    if (!root) return CH_EINVAL;
    int rc = CH_OK;
    ctx c = {.req = req, .out = out};
    if (json_is_array(root)) {
        size_t n = json_array_size(root);
        if (n == 0) {
            ch_parse_error_set(err, 422, "invalid_record", NULL, "the array holds no records");
            rc = CH_EINVAL;
            goto out;
        }
        if (n > req->max_records) {
            ch_parse_error_set(err, 413, "too_many_records", NULL,
                               "%zu records in one request; the limit is %zu", n, req->max_records);
            rc = CH_ETOOBIG;
            goto out;
        }
        out->batch = true;
        for (size_t i = 0; i < n; i++) {
            json_t *item = json_array_get(root, i);
            snprintf(c.prefix, sizeof c.prefix, "[%zu].", i);
            ch_event *e;
            if (parse_record(&c, item, &e)) {
                ch_parsed_add_error(out, c.field, "%s", c.msg);
                continue;
            }
            char *raw = json_dumps(item, JSON_COMPACT | JSON_PRESERVE_ORDER);
            set_raw(e, raw, strlen(raw));
            free(raw);
            ch_parsed_add_event(out, e);
        }
    } else {
        ch_event *e;
        if (parse_record(&c, root, &e)) {
            ch_parse_error_set(err, 422, "invalid_record", c.field, "%s", c.msg);
            rc = CH_EINVAL;
            goto out;
        }
        set_raw(e, req->body, req->body_len);
        ch_parsed_add_event(out, e);
    }
out:
    json_decref(root);
    return rc;
}

static const char *const content_types[] = {"application/json", NULL};

const ch_provider ch_provider_generic = {
    .name = "generic",
    .content_types = content_types,
    .parse = parse,
    .title = "callhook generic JSON events",
    .auth = "Authorization: Bearer <token>, X-Api-Key: <token> or HTTP Basic",
    .fields = "call_id (required), event_id, type, sequence, timestamp, leg_id, direction, status, "
              "disposition, from, to, caller_name, extension, started_at, answered_at, ended_at, "
              "duration_sec, billsec, recording_url, transcript, summary, cost, metadata",
};
