/* Provider adapters: one file per phone system / voice-AI platform turns a raw delivery into
 * normalised events, or a precise error. Adding a provider = one file + its fixtures + one line
 * in registry.c (as curl's vtls backends fill one interface). */
#ifndef CH_PROVIDER_H
#define CH_PROVIDER_H

#include <stdbool.h>
#include <jansson.h>
#include <stddef.h>

#include "core/model.h"

/* A request header by name (case-insensitive), or NULL. */
typedef const char *(*ch_header_get)(void *ctx, const char *name);

/* What an adapter sees of a request. */
typedef struct {
    const char *content_type; /* the header as sent, may be NULL */
    const char *body;         /* not NUL-terminated in general; body[body_len] is '\0' */
    size_t body_len;
    const char *tenant_tz;      /* tenant's time zone for local times */
    const char *tenant_country; /* tenant's country calling code ("972"), may be NULL */
    size_t max_records;         /* ceiling on records per request */
    /* The URL the sender addressed: the public base URL + path + raw query string. URL-signed
     * providers (Twilio) sign exactly this. May be NULL outside HTTP (tests, import). */
    const char *url;
    ch_header_get header; /* may be NULL: no headers */
    void *header_ctx;
    int64_t now_ms; /* receipt time, for signature time windows */
} ch_raw_request;

/* req->header(req->header_ctx, name), NULL-safe. */
const char *ch_raw_header(const ch_raw_request *req, const char *name);

/* A request-level failure: nothing of the request is usable. */
typedef struct {
    int http_status;  /* 400, 413, 415, 422 */
    const char *code; /* "malformed_json", "unsupported_media_type", … (static) */
    char message[256];
    char field[128];  /* JSON path of the offending member, or "" */
    int line, column; /* position of a JSON syntax error, or 0 */
} ch_parse_error;

/* One record of a request: an event, or why it was rejected. */
typedef struct {
    ch_event *event; /* NULL when rejected */
    char *error;     /* message when rejected */
    char *field;     /* JSON path of the offending member, when one is */
} ch_record;

typedef struct {
    ch_record *records;
    size_t n, cap;
    bool batch; /* the request carried a list: the answer lists every record */
    /* Set (to a static reason) when the delivery is valid but carries no call record (a
     * provider's live-transcript or tool message): answered 200 "ignored", nothing stored. */
    const char *ignored;
} ch_parsed;

typedef struct {
    const char *name;
    /* Media types accepted (without parameters), NULL-terminated. */
    const char *const *content_types;
    /* CH_OK with out filled (some records may be rejected), or an error code with err filled. */
    int (*parse)(const ch_raw_request *req, ch_parsed *out, ch_parse_error *err);
    /* Checks the provider's own signature of the request with a credential's signing secret:
     * CH_OK or CH_EAUTH. NULL when the provider signs nothing. Runs before parse(). */
    int (*verify)(const ch_raw_request *req, const char *secret);
    /* For the setup page (GET on a webhook URL): what the sender is, how it authenticates, and
     * the fields callhook reads. May be NULL. */
    const char *title, *auth, *fields;
    /* Fixed URLs the sender posts to besides /hooks/{tenant}/{name}, NULL-terminated; NULL for
     * none. Path patterns: "/api/webhook/cdr/{tenant}" names the tenant; without {tenant} the
     * tenant is the owner of the credential presented. The HTTP layer registers them from the
     * registry (a new provider touches nothing in http/). */
    const char *const *fixed_paths;
} ch_provider;

const ch_provider *ch_provider_find(const char *name);
/* The registry: every provider, *n of them. */
const ch_provider *const *ch_providers(size_t *n);
/* "generic, ucm, …": every provider's name (for messages). */
const char *ch_provider_names(void);
/* True when content_type's media type (parameters ignored, case-insensitive) is type. */
bool ch_media_type_is(const char *content_type, const char *type);
/* True when content_type (parameters ignored, case-insensitive) is one p accepts. */
bool ch_provider_accepts(const ch_provider *p, const char *content_type);

/* o's member k when it is a non-empty string, else NULL (absent, null, "" and other types all
 * mean "not known"). */
const char *ch_json_text(const json_t *o, const char *k);
/* The request body as JSON, or NULL with err set to 400 malformed_json and its line/column. */
json_t *ch_provider_load_json(const ch_raw_request *req, ch_parse_error *err);

void ch_parsed_add_event(ch_parsed *p, ch_event *e);
void ch_parsed_add_error(ch_parsed *p, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void ch_parsed_clear(ch_parsed *p);
void ch_parse_error_set(ch_parse_error *err, int status, const char *code, const char *field,
                        const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#endif
