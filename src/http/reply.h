/* Answers: JSON bodies, errors in the one error shape, 405 with Allow, and the queueing every
 * answer goes through (X-Request-Id, Connection: close, Retry-After). Handlers in http/ and
 * api/ include this and http/request.h; nothing here knows a route. */
#ifndef CH_REPLY_H
#define CH_REPLY_H

#include <jansson.h>
#include <microhttpd.h>

typedef struct ch_request ch_request;

/* Builds a JSON response (takes the reference to body). */
struct MHD_Response *ch_json_response(json_t *body);
/* {"error": code, "message": msg, ["field": field]} */
json_t *ch_error_json(const char *code, const char *field, const char *msg);
/* Queues resp with status now, with X-Request-Id, the security headers every answer carries
 * (X-Content-Type-Options, Referrer-Policy, X-Frame-Options; Strict-Transport-Security when
 * public_url is https) and (when r->close) Connection:
 * close; marks r answered. Takes resp. A streaming handler queues its callback response through
 * this. */
enum MHD_Result ch_reply_queue(ch_request *r, int status, struct MHD_Response *resp);
/* Queues status + JSON body now (takes the reference). */
enum MHD_Result ch_reply_json(ch_request *r, int status, json_t *body);
/* The error shape above; logged unless 404; 401 names the scheme, 503 carries Retry-After. */
enum MHD_Result ch_reply_error(ch_request *r, int status, const char *code, const char *field,
                               const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* The one mapping from result codes (util/result.h) to HTTP statuses: CH_OK 200,
 * CH_EINVAL 422, CH_ETOOBIG 413, CH_ENOTFOUND 404, CH_EAUTH 401, CH_EEXIST / CH_ELIMIT /
 * CH_EDISABLED 409 (the request conflicts with the state), CH_ESTORE / CH_EAGAIN 503 (retry),
 * anything else 500. */
int ch_reply_status(int rc);
/* An error answer for rc: its status from ch_reply_status, code (NULL: the generic code of
 * rc, e.g. "not_found", "store_unavailable") and the message. */
enum MHD_Result ch_reply_result(ch_request *r, int rc, const char *code, const char *field,
                                const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* 405 method_not_allowed with an Allow header */
enum MHD_Result ch_reply_not_allowed(ch_request *r, const char *allow);

#endif
