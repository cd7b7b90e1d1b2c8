/* The read API: GET /v1/calls, /v1/calls/{id}, /v1/calls/export. API keys see one tenant;
 * another tenant's call is "not found", never "forbidden". */
#include "api/query.h"
#include "api/routes.h"
#include "app/config.h"
#include "enrich/recordings.h"
#include "http/reply.h"
#include "http/request.h"
#include "http/router.h"
#include "util/buf.h"
#include "util/limits.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/phone.h"
#include "util/result.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

size_t ch_query_text_chars(const char *v)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if ((*p & 0xC0) != 0x80) n++;
    return n;
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
        if (*end || end == v || n < 1 || n > CH_PAGE_LIMIT_MAX) {
            ch_reply_error(r, 400, "bad_request", "limit", "limit must be 1 to %d",
                           CH_PAGE_LIMIT_MAX);
            return false;
        }
        f->limit = (int)n;
    }
    f->number = ch_query(r, "number");
    if (f->number && ch_phone_e164(f->number, tenant->country, e164, e164sz)) f->number_e164 = e164;
    f->extension = ch_query(r, "extension");
    f->provider = ch_query(r, "provider");
    if ((v = ch_query(r, "delivery"))) {
        static const char *const states[] = {"delivered", "retrying", "failed", "none"};
        for (size_t i = 0; i < sizeof states / sizeof *states && !f->delivery; i++)
            if (strcmp(v, states[i]) == 0) f->delivery = states[i];
        if (!f->delivery) {
            ch_reply_error(r, 400, "bad_request", "delivery",
                           "delivery must be delivered, retrying, failed or none");
            return false;
        }
    }
    f->text = ch_query(r, "q");
    if (f->text && !*f->text) f->text = NULL;
    if (f->text && ch_query_text_chars(f->text) < CH_QUERY_TEXT_MIN) {
        /* the text index is of trigrams: a shorter search would be a scan of every call */
        ch_reply_error(r, 400, "bad_request", "q",
                       "q needs at least %d characters: shorter text cannot be searched"
                       " with the text index",
                       CH_QUERY_TEXT_MIN);
        return false;
    }
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

static enum MHD_Result calls_list(ch_request *r, const ch_route_args *a)
{
    int64_t tid = a->tenant_id;
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

static enum MHD_Result call_get(ch_request *r, const ch_route_args *a)
{
    int64_t tid = a->tenant_id;
    const char *id = ch_route_param(a, "id");
    json_t *call;
    int rc = ch_store_get_call(r->srv->store, tid, id, &call);
    if (rc == CH_ENOTFOUND) return ch_reply_error(r, 404, "not_found", NULL, "no such call");
    if (rc) return ch_reply_error(r, 503, "store_unavailable", NULL, "the store cannot be read");
    return ch_reply_json(r, 200, call);
}

/* GET /v1/calls/{id}/trace: everything that happened to the call, in time order (core/trace.h) */
static enum MHD_Result call_trace(ch_request *r, const ch_route_args *a)
{
    json_t *trace;
    int rc = ch_store_call_trace(r->srv->store, a->tenant_id, ch_route_param(a, "id"), &trace);
    if (rc == CH_ENOTFOUND) return ch_reply_error(r, 404, "not_found", NULL, "no such call");
    if (rc) return ch_reply_error(r, 503, "store_unavailable", NULL, "the store cannot be read");
    return ch_reply_json(r, 200, trace);
}

/* ---- GET /v1/calls/{id}/recording: the kept file, with Range (a player seeks) ---------- */

/* "bytes=A-B", "bytes=A-", "bytes=-N" against size: CH_OK with [*from, *to], CH_ENOTFOUND
 * for no usable range (the whole file is sent, as RFC 9110 allows for what it ignores),
 * CH_EINVAL when unsatisfiable (416). One range only: several are answered whole. */
static int parse_range(const char *h, uint64_t size, uint64_t *from, uint64_t *to)
{
    if (!h || strncmp(h, "bytes=", 6) != 0 || strchr(h, ',')) return CH_ENOTFOUND;
    const char *p = h + 6;
    char *end;
    if (*p == '-') {
        unsigned long long n = strtoull(p + 1, &end, 10);
        if (end == p + 1 || *end) return CH_ENOTFOUND;
        if (n == 0 || size == 0) return CH_EINVAL;
        *from = n >= size ? 0 : size - n;
        *to = size - 1;
        return CH_OK;
    }
    if (*p < '0' || *p > '9') return CH_ENOTFOUND;
    unsigned long long a = strtoull(p, &end, 10);
    if (*end != '-') return CH_ENOTFOUND;
    p = end + 1;
    unsigned long long b = size ? size - 1 : 0;
    if (*p) {
        if (*p < '0' || *p > '9') return CH_ENOTFOUND;
        b = strtoull(p, &end, 10);
        if (*end) return CH_ENOTFOUND;
        if (b < a) return CH_ENOTFOUND;
        if (b >= size) b = size ? size - 1 : 0;
    }
    if (a >= size) return CH_EINVAL;
    *from = a;
    *to = b;
    return CH_OK;
}

static enum MHD_Result call_recording(ch_request *r, const ch_route_args *a)
{
    const char *id = ch_route_param(a, "id");
    ch_job_row jobs[CH_STAGE_COUNT];
    int rc = ch_store_call_jobs(r->srv->store, a->tenant_id, id, jobs);
    if (rc) return ch_reply_result(r, rc, NULL, NULL, "the store cannot be read");
    json_t *res = jobs[CH_STAGE_RECORDING].state == CH_JOB_DONE && jobs[CH_STAGE_RECORDING].result
                      ? json_loads(jobs[CH_STAGE_RECORDING].result, 0, NULL)
                      : NULL;
    for (int i = 0; i < CH_STAGE_COUNT; i++)
        ch_job_row_clear(&jobs[i]);
    char path[1100], mime[64];
    snprintf(mime, sizeof mime, "%s",
             json_string_value(json_object_get(res, "mime"))
                 ? json_string_value(json_object_get(res, "mime"))
                 : "application/octet-stream");
    const char *sha = json_string_value(json_object_get(res, "sha256"));
    char dir[1024];
    ch_config_recordings_dir(r->srv->cfg, dir, sizeof dir);
    rc = sha ? ch_recording_path(dir, sha, path, sizeof path) : CH_ENOTFOUND;
    json_decref(res);
    if (rc) /* another tenant's call, no call, or no recording kept (yet) */
        return ch_reply_error(r, 404, "not_found", NULL, "no recording is kept for this call");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0) close(fd);
        return ch_reply_error(r, 404, "not_found", NULL,
                              "the recording is no longer kept (retention)");
    }
    uint64_t size = (uint64_t)st.st_size, from = 0, to = size ? size - 1 : 0;
    int status = 200;
    rc = parse_range(ch_header(r, "Range"), size, &from, &to);
    if (rc == CH_EINVAL) {
        close(fd);
        struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
        char cr[64];
        snprintf(cr, sizeof cr, "bytes */%llu", (unsigned long long)size);
        MHD_add_response_header(resp, "Content-Range", cr);
        return ch_reply_queue(r, 416, resp);
    }
    if (rc == CH_OK) status = 206;
    uint64_t n = size ? to - from + 1 : 0;
    /* the file is sent by MHD from the descriptor (sendfile), never read into memory */
    struct MHD_Response *resp = MHD_create_response_from_fd_at_offset64(n, fd, from);
    if (!resp) {
        close(fd);
        return ch_reply_error(r, 503, "unavailable", NULL, "the recording cannot be sent");
    }
    MHD_add_response_header(resp, "Content-Type", mime);
    MHD_add_response_header(resp, "Accept-Ranges", "bytes");
    MHD_add_response_header(resp, "Cache-Control", "private, max-age=3600");
    if (status == 206) {
        char cr[96];
        snprintf(cr, sizeof cr, "bytes %llu-%llu/%llu", (unsigned long long)from,
                 (unsigned long long)to, (unsigned long long)size);
        MHD_add_response_header(resp, "Content-Range", cr);
    }
    return ch_reply_queue(r, status, resp);
}

/* ---- export: streamed with a content reader callback --------------------------------- */

/* Exports one tenant may run at once: each holds a connection and a page of calls in memory
 * (store/sqlite/reads.c reads pages in short transactions, so none holds a snapshot). One whose
 * client stops reading ends with the connection timeout. */

static pthread_mutex_t exports_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    int64_t tenant_id;
    int n; /* 0: a free slot */
} exports_running[CH_EXPORT_TENANTS];

static bool export_acquire(int64_t tenant_id)
{
    bool ok = false;
    pthread_mutex_lock(&exports_lock);
    int slot = -1;
    for (int i = 0; i < CH_EXPORT_TENANTS; i++) {
        if (exports_running[i].n && exports_running[i].tenant_id == tenant_id) {
            slot = i;
            break;
        }
        if (!exports_running[i].n && slot < 0) slot = i;
    }
    if (slot >= 0 && exports_running[slot].n < CH_EXPORTS_PER_TENANT) {
        exports_running[slot].tenant_id = tenant_id;
        exports_running[slot].n++;
        ok = true;
    }
    pthread_mutex_unlock(&exports_lock);
    return ok;
}

static void export_release(int64_t tenant_id)
{
    pthread_mutex_lock(&exports_lock);
    for (int i = 0; i < CH_EXPORT_TENANTS; i++)
        if (exports_running[i].n && exports_running[i].tenant_id == tenant_id) {
            exports_running[i].n--;
            break;
        }
    pthread_mutex_unlock(&exports_lock);
}

typedef struct {
    ch_export *x;
    int64_t tenant_id;
    char request_id[32];
    bool csv;
    bool started, finished;
    bool failed; /* a piece did not fit in pending: the export cannot be completed */
    size_t count;
    ch_buf pending; /* bytes produced but not yet handed to MHD */
    size_t pos;
} export_state;

static void out(export_state *st, const char *p, size_t n)
{
    if (ch_buf_append(&st->pending, p, n) != CH_OK) st->failed = true;
}

static void outs(export_state *st, const char *s)
{
    out(st, s, strlen(s));
}

static const char *const csv_cols[] = {
    "id",           "tenant",      "provider",      "external_id",
    "direction",    "status",      "disposition",   "from",
    "to",           "from_raw",    "to_raw",        "caller_name",
    "extension",    "started_at",  "answered_at",   "ended_at",
    "duration_sec", "billsec",     "recording_url", "transcript",
    "summary",      "cost_amount", "cost_currency", "over_limit",
    "event_count",  "created_at",  "updated_at"};

/* A string a spreadsheet would take for a formula (OWASP, CSV injection): one that starts with
 * = + - @, a tab or a CR. "+" and 6 to 15 digits (an E.164 number, as the from and to columns
 * hold) is left alone: a spreadsheet reads it as a number, and digits can neither call a
 * function nor name a cell. */
static bool csv_formula(const char *s)
{
    if (!*s || !strchr("=+-@\t\r", *s)) return false;
    if (*s == '+') {
        size_t n = strspn(s + 1, "0123456789");
        if (!s[1 + n] && n >= 6 && n <= 15) return false;
    }
    return true;
}

/* A string cell: RFC 4180 quoting, and a formula neutralised by a leading ' inside quotes. */
static void csv_field(export_state *st, const char *s)
{
    bool formula = csv_formula(s);
    if (!formula && !strpbrk(s, ",\"\r\n")) {
        outs(st, s);
        return;
    }
    outs(st, formula ? "\"'" : "\"");
    for (const char *p = s; *p; p++) {
        if (*p == '"') outs(st, "\"");
        out(st, p, 1);
    }
    outs(st, "\"");
}

/* Numbers and booleans are written as they are (a negative cost stays -0.5): only strings
 * are neutralised. */
static void csv_row(export_state *st, json_t *call)
{
    for (size_t i = 0; i < sizeof csv_cols / sizeof *csv_cols; i++) {
        if (i) outs(st, ",");
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
            csv_field(st, json_string_value(v));
        else if (json_is_integer(v)) {
            snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
            outs(st, num);
        } else if (json_is_real(v)) {
            snprintf(num, sizeof num, "%.6g", json_real_value(v));
            outs(st, num);
        } else if (json_is_boolean(v))
            outs(st, json_is_true(v) ? "true" : "false");
    }
    outs(st, "\r\n");
}

static void export_log_failure(export_state *st, const char *why)
{
    ch_logline l;
    if (ch_log_begin(&l, CH_LOG_ERROR, "export_failed", st->request_id)) {
        ch_log_str(&l, "reason", why);
        ch_log_int(&l, "calls_sent", (int64_t)st->count);
        ch_log_end(&l);
    }
}

/* Produces the next piece of the export into st->pending: about CH_EXPORT_PIECE bytes of whole
 * calls. False when the export cannot go on (logged). */
static bool produce(export_state *st)
{
    ch_buf_reset(&st->pending);
    st->pos = 0;
    if (!st->started) {
        st->started = true;
        if (st->csv) {
            for (size_t i = 0; i < sizeof csv_cols / sizeof *csv_cols; i++) {
                if (i) outs(st, ",");
                outs(st, csv_cols[i]);
            }
            outs(st, "\r\n");
        } else {
            outs(st, "[");
        }
        return true;
    }
    while (st->pending.len < CH_EXPORT_PIECE) {
        json_t *call;
        if (ch_store_export_next(st->x, &call) != CH_OK) {
            export_log_failure(st, "the store cannot be read");
            return false;
        }
        if (!call) {
            if (!st->csv) outs(st, "]\n");
            st->finished = true;
            break;
        }
        if (st->csv) {
            csv_row(st, call);
        } else {
            char *text = json_dumps(call, JSON_COMPACT);
            if (st->count) outs(st, ",");
            outs(st, text);
            free(text);
        }
        st->count++;
        json_decref(call);
        if (st->failed) break;
    }
    if (st->failed) export_log_failure(st, "a call is larger than the export buffer");
    return !st->failed;
}

/* A failure after the 200 has gone out closes the connection without the last chunk: the client
 * sees an incomplete transfer, never a short file that looks whole. */
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
        if (!produce(st)) return MHD_CONTENT_READER_END_WITH_ERROR;
    }
}

static void export_free(void *cls)
{
    export_state *st = cls;
    ch_store_export_close(st->x);
    export_release(st->tenant_id);
    ch_buf_free(&st->pending);
    free(st);
}

/* A streaming route: the handler queues its own callback response (so will SSE). */
static enum MHD_Result calls_export(ch_request *r, const ch_route_args *a)
{
    int64_t tid = a->tenant_id;
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
    if (!export_acquire(tid)) {
        r->retry_after = 10;
        ret = ch_reply_error(r, 429, "rate_limited", NULL,
                             "%d exports of this tenant are running; retry when one has ended",
                             CH_EXPORTS_PER_TENANT);
        goto out;
    }
    export_state *st = ch_calloc(1, sizeof *st);
    st->csv = csv;
    st->tenant_id = tid;
    snprintf(st->request_id, sizeof st->request_id, "%s", r->id);
    ch_buf_init(&st->pending, CH_EXPORT_PENDING_MAX);
    if (ch_store_export_open(r->srv->store, tid, &f, &st->x) != CH_OK) {
        export_free(st);
        ret = ch_reply_error(r, 503, "store_unavailable", NULL, "the store cannot be read");
        goto out;
    }
    /* from here export_free runs when MHD lets go of the response */
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024,
                                                                  export_reader, st, export_free);
    if (!resp) {
        export_free(st);
        ret = ch_reply_error(r, 503, "store_unavailable", NULL, "the export cannot start");
        goto out;
    }
    MHD_add_response_header(resp, "Content-Type",
                            csv ? "text/csv; charset=utf-8" : "application/json; charset=utf-8");
    MHD_add_response_header(resp, "Content-Disposition",
                            csv ? "attachment; filename=\"calls.csv\""
                                : "attachment; filename=\"calls.json\"");
    ret = ch_reply_queue(r, 200, resp);
out:
    ch_tenant_clear(&t);
    return ret;
}

int ch_calls_register(ch_router *rt)
{
    int rc;
    if ((rc = ch_router_add(rt, CH_M_GET, "/v1/calls", CH_RA_API_KEY, CH_ROUTE_CALLS, calls_list,
                            NULL)) ||
        (rc = ch_router_add(rt, CH_M_GET, "/v1/calls/export", CH_RA_API_KEY, CH_ROUTE_EXPORT,
                            calls_export, NULL)) ||
        (rc = ch_router_add(rt, CH_M_GET, "/v1/calls/{id}", CH_RA_API_KEY, CH_ROUTE_CALL, call_get,
                            NULL)) ||
        (rc = ch_router_add(rt, CH_M_GET, "/v1/calls/{id}/recording", CH_RA_API_KEY, CH_ROUTE_CALL,
                            call_recording, NULL)) ||
        (rc = ch_router_add(rt, CH_M_GET, "/v1/calls/{id}/trace", CH_RA_API_KEY, CH_ROUTE_CALL,
                            call_trace, NULL)))
        return rc;
    return CH_OK;
}
