#include "http/reply.h"
#include "http/request.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/result.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

struct MHD_Response *ch_json_response(json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    size_t n = strlen(text);
    text = ch_realloc(text, n + 2);
    text[n++] = '\n';
    struct MHD_Response *resp = MHD_create_response_from_buffer(n, text, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, "Content-Type", "application/json; charset=utf-8");
    return resp;
}

enum MHD_Result ch_reply_queue(ch_request *r, int status, struct MHD_Response *resp)
{
    MHD_add_response_header(resp, "X-Request-Id", r->id);
    /* on every answer (docs/security.md): no MIME sniffing of JSON into HTML, no Referer
     * leaking a call id or token to another site, no framing (clickjacking) */
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    /* served over TLS (at a proxy, which public_url names): browsers keep to https for a year */
    if (r->srv && r->srv->cfg && strncasecmp(r->srv->cfg->public_url, "https://", 8) == 0)
        MHD_add_response_header(resp, "Strict-Transport-Security", "max-age=31536000");
    if (r->close) MHD_add_response_header(resp, "Connection", "close");
    r->status = status;
    r->state = REQ_ANSWERED;
    enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

enum MHD_Result ch_reply_json(ch_request *r, int status, json_t *body)
{
    return ch_reply_queue(r, status, ch_json_response(body));
}

json_t *ch_error_json(const char *code, const char *field, const char *msg)
{
    json_t *o = json_pack("{s:s, s:s}", "error", code, "message", msg);
    if (field && *field) json_object_set_new(o, "field", json_string(field));
    return o;
}

int ch_reply_status(int rc)
{
    switch (rc) {
    case CH_OK:
        return 200;
    case CH_EINVAL:
        return 422;
    case CH_ETOOBIG:
        return 413;
    case CH_ENOTFOUND:
        return 404;
    case CH_EAUTH:
        return 401;
    case CH_EEXIST:
    case CH_ELIMIT:
    case CH_EDISABLED:
        return 409;
    case CH_ESTORE:
    case CH_EAGAIN:
        return 503;
    }
    return 500;
}

static const char *generic_code(int rc)
{
    switch (rc) {
    case CH_EINVAL:
        return "invalid_request";
    case CH_ETOOBIG:
        return "too_large";
    case CH_ENOTFOUND:
        return "not_found";
    case CH_EAUTH:
        return "unauthorized";
    case CH_EEXIST:
        return "conflict";
    case CH_ELIMIT:
        return "limit_reached";
    case CH_EDISABLED:
        return "disabled";
    case CH_ESTORE:
    case CH_EAGAIN:
        return "store_unavailable";
    }
    return "internal_error";
}

static enum MHD_Result reply_error(ch_request *r, int status, const char *code, const char *field,
                                   const char *msg)
{
    ch_logline l;
    if (status != 404 &&
        ch_log_begin(&l, status >= 500 ? CH_LOG_ERROR : CH_LOG_INFO, "rejected", r->id)) {
        ch_log_int(&l, "status", status);
        ch_log_str(&l, "reason", code);
        ch_log_str(&l, "message", msg);
        if (field && *field) ch_log_str(&l, "field", field);
        ch_log_end(&l);
    }
    struct MHD_Response *resp = ch_json_response(ch_error_json(code, field, msg));
    /* webhooks take Basic (what PBXs send); the read API takes API keys as Bearer tokens */
    if (status == 401)
        MHD_add_response_header(resp, "WWW-Authenticate",
                                r->route == CH_ROUTE_HOOKS ? "Basic realm=\"callhook\""
                                                           : "Bearer realm=\"callhook\"");
    if (status == 503 && r->retry_after <= 0) r->retry_after = 1;
    if (r->retry_after > 0) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", r->retry_after);
        MHD_add_response_header(resp, "Retry-After", ra);
    }
    return ch_reply_queue(r, status, resp);
}

enum MHD_Result ch_reply_error(ch_request *r, int status, const char *code, const char *field,
                               const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return reply_error(r, status, code, field, msg);
}

enum MHD_Result ch_reply_result(ch_request *r, int rc, const char *code, const char *field,
                                const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return reply_error(r, ch_reply_status(rc), code ? code : generic_code(rc), field, msg);
}

enum MHD_Result ch_reply_not_allowed(ch_request *r, const char *allow)
{
    struct MHD_Response *resp = ch_json_response(
        ch_error_json("method_not_allowed", NULL, "this route does not take that method"));
    MHD_add_response_header(resp, "Allow", allow);
    return ch_reply_queue(r, 405, resp);
}
