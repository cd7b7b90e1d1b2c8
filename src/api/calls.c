/* The read API: GET /v1/calls, /v1/calls/{id}, /v1/calls/export. API keys see one tenant;
 * another tenant's call is "not found", never "forbidden". */
#include "api/query.h"
#include "http/request.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/phone.h"
#include "util/result.h"

#include <stdlib.h>
#include <string.h>

enum MHD_Result ch_api_authenticate(ch_request *r, int64_t *tenant_id)
{
    const struct sockaddr *peer = ch_peer(r);
    int wait = ch_auth_lockout(r->srv->auth, peer);
    if (wait > 0) {
        r->retry_after = wait;
        return ch_reply_error(r, 429, "rate_limited", NULL,
                              "too many failed authentications from this address; retry later");
    }
    if (ch_auth_apikey(r->srv->auth, r->srv->store, ch_header(r, "Authorization"), tenant_id) !=
        CH_OK) {
        ch_auth_failed(r->srv->auth, peer);
        ch_metrics_auth_failure();
        return ch_reply_error(r, 401, "unauthorized", NULL, "send Authorization: Bearer <API key>");
    }
    return MHD_YES;
}

int ch_query_time(const char *v, const char *tz, int64_t *out_ms)
{
    char *end;
    double secs = strtod(v, &end);
    if (end != v && !*end) {
        if (!(secs >= -62135596800.0 && secs <= 253402300799.0)) /* years 1–9999; not NaN */
            return CH_EINVAL;
        *out_ms = (int64_t)(secs * 1000);
        return CH_OK;
    }
    return ch_time_parse(v, tz, out_ms);
}

/* Parses the shared filters; answers 400 itself and returns false on a bad one. */
static bool parse_filter(ch_request *r, int64_t tenant_id, ch_call_filter *f, char *e164,
                         size_t e164sz, ch_tenant *tenant)
{
    memset(f, 0, sizeof *f);
    f->since = f->until = CH_TIME_UNSET;
    f->direction = f->status = f->disposition = -1;
    f->limit = 50;
    const char *v;
    static const struct {
        const char *name;
        int (*parse)(const char *);
        size_t off;
    } enums[] = {
        {"direction", ch_direction_parse, offsetof(ch_call_filter, direction)},
        {"status", ch_status_parse, offsetof(ch_call_filter, status)},
        {"disposition", ch_disposition_parse, offsetof(ch_call_filter, disposition)},
    };
    for (size_t i = 0; i < 3; i++) {
        if (!(v = ch_query(r, enums[i].name))) continue;
        int x = enums[i].parse(v);
        if (x < 0) {
            ch_reply_error(r, 400, "bad_request", enums[i].name, "unknown %s: %s", enums[i].name,
                           v);
            return false;
        }
        *(int *)((char *)f + enums[i].off) = x;
    }
    const char *times[] = {"since", "until"};
    int64_t *dst[] = {&f->since, &f->until};
    for (int i = 0; i < 2; i++) {
        if (!(v = ch_query(r, times[i]))) continue;
        if (ch_query_time(v, tenant->timezone, dst[i]) != CH_OK) {
            ch_reply_error(r, 400, "bad_request", times[i],
                           "%s must be an RFC 3339 time or Unix seconds", times[i]);
            return false;
        }
    }
    if ((v = ch_query(r, "limit"))) {
        char *end;
        long n = strtol(v, &end, 10);
        if (*end || end == v || n < 1 || n > 500) {
            ch_reply_error(r, 400, "bad_request", "limit", "limit must be 1 to 500");
            return false;
        }
        f->limit = (int)n;
    }
    f->number = ch_query(r, "number");
    if (f->number && ch_phone_e164(f->number, tenant->country, e164, e164sz)) f->number_e164 = e164;
    f->extension = ch_query(r, "extension");
    f->text = ch_query(r, "q");
    if (f->text && !*f->text) f->text = NULL;
    f->cursor = ch_query(r, "cursor");
    (void)tenant_id;
    return true;
}

/* The tenant's settings matter for reading filters (time zone, country). */
static void load_tenant(ch_request *r, int64_t tenant_id, ch_tenant *t)
{
    if (ch_store_tenant_by_id(r->srv->store, tenant_id, t) == CH_OK) return;
    memset(t, 0, sizeof *t);
    t->id = tenant_id;
    t->timezone = ch_strdup("UTC");
    t->country = ch_strdup("");
}

enum MHD_Result ch_handle_calls(ch_request *r)
{
    int64_t tid;
    if (ch_api_authenticate(r, &tid) != MHD_YES || r->state == REQ_ANSWERED) return MHD_YES;
    ch_tenant t;
    load_tenant(r, tid, &t);
    ch_call_filter f;
    char e164[24];
    enum MHD_Result ret = MHD_YES;
    if (!parse_filter(r, tid, &f, e164, sizeof e164, &t)) goto out;
    json_t *out;
    int rc = ch_store_list_calls(r->srv->store, tid, &f, &out);
    if (rc == CH_EINVAL)
        ret = ch_reply_error(r, 400, "bad_request", "cursor", "the cursor is not valid");
    else if (rc)
        ret = ch_reply_error(r, 503, "store_unavailable", NULL, "the store cannot be read");
    else
        ret = ch_reply_json(r, 200, out);
out:
    ch_tenant_clear(&t);
    return ret;
}

enum MHD_Result ch_handle_call(ch_request *r, const char *id)
{
    int64_t tid;
    if (ch_api_authenticate(r, &tid) != MHD_YES || r->state == REQ_ANSWERED) return MHD_YES;
    json_t *call;
    int rc = ch_store_get_call(r->srv->store, tid, id, &call);
    if (rc == CH_ENOTFOUND) return ch_reply_error(r, 404, "not_found", NULL, "no such call");
    if (rc) return ch_reply_error(r, 503, "store_unavailable", NULL, "the store cannot be read");
    return ch_reply_json(r, 200, call);
}

/* ---- export: streamed with a content reader callback --------------------------------- */

typedef struct {
    ch_export *x;
    bool csv;
    bool started, finished;
    size_t count;
    ch_buf pending; /* bytes produced but not yet handed to MHD */
    size_t pos;
} export_state;

static const char *const csv_cols[] = {
    "id",           "tenant",      "provider",      "external_id",
    "direction",    "status",      "disposition",   "from",
    "to",           "from_raw",    "to_raw",        "caller_name",
    "extension",    "started_at",  "answered_at",   "ended_at",
    "duration_sec", "billsec",     "recording_url", "transcript",
    "summary",      "cost_amount", "cost_currency", "over_limit",
    "event_count",  "created_at",  "updated_at"};

static void csv_field(ch_buf *b, const char *s)
{
    if (!s) return;
    if (!strpbrk(s, ",\"\r\n")) {
        ch_buf_puts(b, s);
        return;
    }
    ch_buf_puts(b, "\"");
    for (const char *p = s; *p; p++) {
        if (*p == '"') ch_buf_puts(b, "\"");
        ch_buf_append(b, p, 1);
    }
    ch_buf_puts(b, "\"");
}

static void csv_row(ch_buf *b, json_t *call)
{
    for (size_t i = 0; i < sizeof csv_cols / sizeof *csv_cols; i++) {
        if (i) ch_buf_puts(b, ",");
        const char *k = csv_cols[i];
        json_t *v;
        if (strcmp(k, "cost_amount") == 0)
            v = json_object_get(json_object_get(call, "cost"), "amount");
        else if (strcmp(k, "cost_currency") == 0)
            v = json_object_get(json_object_get(call, "cost"), "currency");
        else
            v = json_object_get(call, k);
        char num[64];
        if (json_is_string(v))
            csv_field(b, json_string_value(v));
        else if (json_is_integer(v)) {
            snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
            ch_buf_puts(b, num);
        } else if (json_is_real(v)) {
            snprintf(num, sizeof num, "%.6g", json_real_value(v));
            ch_buf_puts(b, num);
        } else if (json_is_boolean(v))
            ch_buf_puts(b, json_is_true(v) ? "true" : "false");
    }
    ch_buf_puts(b, "\r\n");
}

/* Produces the next piece of the export into st->pending. */
static void produce(export_state *st)
{
    ch_buf_reset(&st->pending);
    st->pos = 0;
    if (!st->started) {
        st->started = true;
        if (st->csv) {
            for (size_t i = 0; i < sizeof csv_cols / sizeof *csv_cols; i++) {
                if (i) ch_buf_puts(&st->pending, ",");
                ch_buf_puts(&st->pending, csv_cols[i]);
            }
            ch_buf_puts(&st->pending, "\r\n");
        } else {
            ch_buf_puts(&st->pending, "[");
        }
        return;
    }
    /* up to 64 calls per piece */
    for (int i = 0; i < 64; i++) {
        json_t *call = ch_store_export_next(st->x);
        if (!call) {
            if (!st->csv) ch_buf_puts(&st->pending, "]\n");
            st->finished = true;
            return;
        }
        if (st->csv) {
            csv_row(&st->pending, call);
        } else {
            char *text = json_dumps(call, JSON_COMPACT);
            if (st->count) ch_buf_puts(&st->pending, ",");
            ch_buf_puts(&st->pending, text);
            free(text);
        }
        st->count++;
        json_decref(call);
    }
}

static ssize_t export_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    export_state *st = cls;
    (void)pos;
    for (;;) {
        if (st->pos < st->pending.len) {
            size_t n = st->pending.len - st->pos;
            if (n > max) n = max;
            memcpy(buf, st->pending.data + st->pos, n);
            st->pos += n;
            return (ssize_t)n;
        }
        if (st->finished) return MHD_CONTENT_READER_END_OF_STREAM;
        produce(st);
    }
}

static void export_free(void *cls)
{
    export_state *st = cls;
    ch_store_export_close(st->x);
    ch_buf_free(&st->pending);
    free(st);
}

enum MHD_Result ch_handle_export(ch_request *r)
{
    int64_t tid;
    if (ch_api_authenticate(r, &tid) != MHD_YES || r->state == REQ_ANSWERED) return MHD_YES;
    const char *format = ch_query(r, "format");
    if (!format) format = "json";
    bool csv = strcmp(format, "csv") == 0;
    if (!csv && strcmp(format, "json") != 0)
        return ch_reply_error(r, 400, "bad_request", "format", "format must be csv or json");
    ch_tenant t;
    load_tenant(r, tid, &t);
    ch_call_filter f;
    char e164[24];
    enum MHD_Result ret = MHD_YES;
    if (!parse_filter(r, tid, &f, e164, sizeof e164, &t)) goto out;
    f.cursor = NULL;
    export_state *st = ch_calloc(1, sizeof *st);
    st->csv = csv;
    ch_buf_init(&st->pending, 64 << 20);
    if (ch_store_export_open(r->srv->store, tid, &f, &st->x) != CH_OK) {
        ch_buf_free(&st->pending);
        free(st);
        ret = ch_reply_error(r, 503, "store_unavailable", NULL, "the store cannot be read");
        goto out;
    }
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024,
                                                                  export_reader, st, export_free);
    MHD_add_response_header(resp, "Content-Type",
                            csv ? "text/csv; charset=utf-8" : "application/json; charset=utf-8");
    MHD_add_response_header(resp, "Content-Disposition",
                            csv ? "attachment; filename=\"calls.csv\""
                                : "attachment; filename=\"calls.json\"");
    MHD_add_response_header(resp, "X-Request-Id", r->id);
    r->status = 200;
    r->state = REQ_ANSWERED;
    ret = MHD_queue_response(r->conn, 200, resp);
    MHD_destroy_response(resp);
out:
    ch_tenant_clear(&t);
    return ret;
}
