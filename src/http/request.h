/* The per-request context shared by the HTTP layer's handlers (http/, api/). Internal.
 * Answers are queued with http/reply.h; routes are registered with http/router.h. */
#ifndef CH_REQUEST_H
#define CH_REQUEST_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "app/config.h"
#include "http/auth.h"
#include "http/guard.h"
#include "http/metrics.h"
#include "http/reply.h"
#include "http/sources.h"
#include "providers/provider.h"
#include "store/store.h"
#include "util/buf.h"

typedef struct ch_server ch_server;
typedef struct ch_router ch_router;

struct ch_server {
    struct MHD_Daemon *mhd;
    const ch_config *cfg;
    ch_store *store;
    ch_auth *auth;
    ch_sources *sources;
    ch_guard *guard;
    const ch_router *router; /* the route table, read-only while serving */
    atomic_int inflight;
    char id_prefix[9];
    atomic_uint_fast64_t next_id;
    struct ch_dispatcher *_Atomic dispatcher; /* for its counters in /metrics; or NULL */
    struct ch_enrich *_Atomic enrich;         /* the same */
    struct ch_stream_hub *hub;                /* GET /v1/stream (http/stream.h) */
};

typedef enum { REQ_READING, REQ_VERIFYING, REQ_WAITING, REQ_WRITING, REQ_ANSWERED } ch_req_state;

/* What answers an API write once the writer has run it (ch_request_write): runs on the
 * request's MHD thread with the job's result (CH_OK, an op's refusal, or CH_ESTORE). */
typedef enum MHD_Result (*ch_write_then)(ch_request *r, void *ctx, int result);

typedef struct ch_request {
    ch_server *srv;
    struct MHD_Connection *conn;
    char id[32];
    ch_route route;
    int64_t t0_ns;
    ch_buf body;
    bool too_large;
    size_t discarded; /* body bytes read past max_body, to answer 413 after the whole body */
    struct sockaddr_storage client; /* the client (behind a trusted proxy: as it reports) */
    char method[16];
    ch_verify verify;    /* a password verification this request waits for */
    bool verify_refused; /* the verification queue refused it: answer 429 on resume */
    bool close;          /* answer with Connection: close */
    ch_req_state state;
    int status;                    /* answer status, for metrics and logs */
    int retry_after;               /* seconds, sent as Retry-After with an error when > 0 */
    struct MHD_Response *response; /* prepared while suspended, queued on resume */
    char *raw_uri;                 /* path and query exactly as sent (MHD's URI log hook) */
    char url[2048];                /* public URL of this request, for URL signatures */
    /* ingest */
    ch_tenant tenant;
    const ch_provider *provider;
    ch_parsed parsed;
    ch_event **events;
    ch_write_job job;
    /* an API write (ch_request_write) */
    ch_write_then then;
    void *then_ctx;
    void (*then_ctx_free)(void *ctx);
} ch_request;

const char *ch_header(ch_request *r, const char *name);
const char *ch_query(ch_request *r, const char *name);
const struct sockaddr *ch_peer(ch_request *r);
/* The client address: the peer, or what a trusted proxy reports (http/client.h). */
const struct sockaddr *ch_client(ch_request *r);
/* Queues r->verify (filled by ch_auth_webhook's CH_EAGAIN) and suspends the request; the
 * handler runs again when the verification is done. Answers 429 itself when the client is
 * locked out for scope or has too many verifications waiting. */
enum MHD_Result ch_verify_later(ch_request *r, const char *scope);
/* The throttling scope of a webhook request: tenant (or "" on a fixed URL), provider, and the
 * Basic user name presented. */
void ch_hook_scope(ch_request *r, const char *tenant_slug, const char *provider_name, char *out,
                   size_t outsz);
/* The URL the sender used: public_url (or http://<Host>) + the raw path and query. */
void ch_request_url(ch_request *r, char *out, size_t outsz);

/* Submits ops (in ctx, which lives until the request ends; ctx_free frees it) to the store's
 * writer as one job, so they apply in one transaction or not at all, and suspends the request:
 * no request thread waits on the database. then() answers when the job is done. */
enum MHD_Result ch_request_write(ch_request *r, ch_op *ops, size_t n, ch_write_then then, void *ctx,
                                 void (*ctx_free)(void *ctx));

/* Handlers. Each answers (queues a response) or suspends the connection. */
enum MHD_Result ch_handle_hook(ch_request *r, const char *tenant, const char *provider);
/* GET on a webhook URL: its setup information (http/setup.c). */
enum MHD_Result ch_handle_hook_setup(ch_request *r, const char *tenant, const char *provider);
/* The answer for a hook request whose write job has finished (called on its MHD thread). */
struct MHD_Response *ch_hook_answer(ch_request *r, int *status_out);
/* Registers the webhook routes: /hooks/{tenant}/{provider} and every provider's fixed URLs
 * (ch_provider.fixed_paths), from the provider registry (http/setup.c). */
int ch_hook_routes_register(ch_router *rt) __attribute__((warn_unused_result));
/* The same from a given provider list (tests: a provider that is in no registry). */
int ch_hook_routes_add(ch_router *rt, const ch_provider *const *all, size_t n)
    __attribute__((warn_unused_result));

#endif
