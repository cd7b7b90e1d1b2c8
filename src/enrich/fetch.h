/* One blocking HTTP exchange for the enrichment workers (a recording download, an API call),
 * with the outbound webhooks' SSRF guard on every connection, redirects only when asked (each
 * hop re-checked), no proxy, http/https only, a ceiling on the answer and a total timeout
 * (docs/internals/enrichment-net.md). Each worker thread runs one job at a time, so a blocking
 * libcurl easy handle per exchange is enough. curl_global_init must have run before any
 * thread calls it (cli/serve.c does it at start-up). */
#ifndef CH_FETCH_H
#define CH_FETCH_H

#include <stdbool.h>
#include <stddef.h>

struct curl_mime;

/* Adds the parts of a multipart body to mime (curl_mime_addpart & co.); CH_OK or an error,
 * which ch_fetch returns without sending anything. */
typedef int (*ch_fetch_mime_fn)(struct curl_mime *mime, void *arg);

typedef struct ch_fetch_req {
    const char *method; /* "GET" or "POST" */
    const char *url;
    const char *const *headers; /* NULL-terminated "Name: value", or NULL */
    const char *body;           /* POST body (body_len bytes), or: */
    size_t body_len;
    ch_fetch_mime_fn mime; /* multipart: called with a mime made on ch_fetch's own handle */
    void *mime_arg;
    const char *basic_user, *basic_pass; /* HTTP Basic, or NULL */
    size_t max_body;                     /* ceiling of the answer's body (0: CH_FETCH_MAX_BODY) */
    long timeout_ms;                     /* the whole exchange (0: CH_FETCH_TIMEOUT_MS) */
    int max_redirects;                   /* 0 = none followed; at most CH_FETCH_REDIRECTS_MAX */
    const char *allow_private;           /* CIDRs allowed though not public ("" or NULL = none) */
    bool insecure_tls;   /* skip certificate checks (a UCM's self-signed certificate) */
    const char *ca_file; /* trust this PEM file instead of the system's, or NULL */
    /* "sha256//<base64>": accept exactly this public key, whatever names the certificate
     * carries or who signed it (a UCM's self-signed certificate, pinned); or NULL */
    const char *pinned_pubkey;
} ch_fetch_req;

typedef struct ch_fetch_resp {
    long status;         /* 0 when no HTTP answer */
    unsigned char *body; /* NUL-terminated (not counted in len) */
    size_t len;
    char content_type[128];
    long retry_after_s; /* from Retry-After (seconds or HTTP date), -1 if none */
    char error[256];    /* why it failed: "HTTP 404", "timeout after 30000 ms", "refused:
                         * loopback (127.0.0.0/8), address 127.0.0.1", "answer over 1000
                         * bytes", curl's text */
} ch_fetch_resp;

/* CH_OK when an HTTP answer came, whatever its status (error says "HTTP <n>" for a status of
 * 300 or more). Otherwise, with error filled: CH_EAGAIN for a transient failure (timeout, no
 * connection, name not resolved, connection cut), CH_ETOOBIG past max_body, CH_EINVAL for a
 * refusal that trying again will not change (the SSRF guard, a bad URL or protocol, too many
 * redirects, a TLS certificate refused). */
int ch_fetch(const ch_fetch_req *req, ch_fetch_resp *resp);
void ch_fetch_resp_free(ch_fetch_resp *r);

/* How a job treats an HTTP status: CH_OK (2xx), CH_EAGAIN (408, 429, 5xx: try again later),
 * CH_EINVAL (anything else). */
int ch_fetch_status_class(long status);

/* True when url's host is one of list's comma-separated host names (ASCII case ignored; a
 * name may not be a pattern). Where credentials may go: a Twilio source's account token must
 * reach api.twilio.com only, whatever host a RecordingUrl names. */
bool ch_fetch_host_listed(const char *url, const char *list);

#endif
