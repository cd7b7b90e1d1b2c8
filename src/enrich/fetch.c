/* One blocking HTTP exchange with the SSRF guard (enrich/fetch.h). */
#include "enrich/fetch.h"

#include "delivery/schedule.h"
#include "delivery/ssrf.h"
#include "util/buf.h"
#include "util/cidr.h"
#include "util/limits.h"
#include "util/mem.h"
#include "util/result.h"
#include "util/timeutil.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

typedef struct {
    const ch_fetch_req *req;
    ch_fetch_resp *resp;
    ch_buf body; /* the answer, up to the ceiling */
    bool too_big;
    const char *refused; /* the SSRF guard's reason */
    char refused_addr[64];
} xfer;

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    xfer *x = arg;
    if (ch_buf_append(&x->body, p, size * n) != CH_OK) { /* short count: curl aborts */
        x->too_big = true;
        return 0;
    }
    return size * n;
}

/* The value of header `name` ("retry-after:") in the line p, trimmed; NULL when another. */
static const char *header_value(const char *p, size_t len, const char *name, size_t *vl)
{
    size_t nl = strlen(name);
    if (len <= nl || strncasecmp(p, name, nl) != 0) return NULL;
    const char *v = p + nl;
    size_t l = len - nl;
    while (l && (*v == ' ' || *v == '\t'))
        v++, l--;
    while (l && (v[l - 1] == '\r' || v[l - 1] == '\n' || v[l - 1] == ' ' || v[l - 1] == '\t'))
        l--;
    *vl = l;
    return v;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    xfer *x = arg;
    size_t len = size * n, vl;
    const char *v;
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) { /* a new answer (after a redirect): its own */
        x->resp->content_type[0] = 0;
        x->resp->retry_after_s = -1;
    } else if ((v = header_value(p, len, "content-type:", &vl))) {
        if (vl >= sizeof x->resp->content_type) vl = sizeof x->resp->content_type - 1;
        memcpy(x->resp->content_type, v, vl);
        x->resp->content_type[vl] = 0;
    } else if ((v = header_value(p, len, "retry-after:", &vl))) {
        int64_t ms = ch_retry_after_ms(v, vl, ch_now_ms());
        x->resp->retry_after_s = ms < 0 ? -1 : (long)((ms + 999) / 1000);
    }
    return len;
}

/* The SSRF check, called by curl for every connection it opens (after name resolution, so a
 * name resolving to a private address is refused too; and for each redirect hop's new host). */
static curl_socket_t on_open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
    xfer *x = arg;
    const struct sockaddr *sa = &a->addr;
    const char *why = ch_ssrf_blocked_reason(sa);
    const char *allow = x->req->allow_private ? x->req->allow_private : "";
    if (why && !ch_cidr_list_match(allow, sa)) {
        x->refused = why;
        ch_addr_format(sa, x->refused_addr, sizeof x->refused_addr);
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype, a->protocol);
}

static int transport_error(CURLcode cc)
{
    switch (cc) {
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
        return CH_EAGAIN;
    default:
        return CH_EINVAL;
    }
}

static void setup(CURL *c, const ch_fetch_req *req, xfer *x, long timeout, char *errbuf)
{
    curl_easy_setopt(c, CURLOPT_URL, req->url);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "callhook/" CH_VERSION);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*"); /* the guard must see the real destination */
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     timeout < CH_FETCH_CONNECT_TIMEOUT_MS ? timeout : CH_FETCH_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)x->body.max); /* early */
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, x);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    int hops = req->max_redirects;
    if (hops > CH_FETCH_REDIRECTS_MAX) hops = CH_FETCH_REDIRECTS_MAX;
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, hops > 0 ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, (long)hops);
    /* credentials go to the first host only (curl's default, said here on purpose): Twilio's
     * storage URL is signed and must not receive the account's token */
    curl_easy_setopt(c, CURLOPT_UNRESTRICTED_AUTH, 0L);
    if (req->basic_user) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERNAME, req->basic_user);
        curl_easy_setopt(c, CURLOPT_PASSWORD, req->basic_pass ? req->basic_pass : "");
    }
    if (req->pinned_pubkey && *req->pinned_pubkey) {
        /* the pin is checked whatever the two settings below say */
        curl_easy_setopt(c, CURLOPT_PINNEDPUBLICKEY, req->pinned_pubkey);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    } else if (req->insecure_tls) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    } else if (req->ca_file && *req->ca_file) {
        curl_easy_setopt(c, CURLOPT_CAINFO, req->ca_file);
    }
}

static int finish(CURL *c, CURLcode cc, xfer *x, long timeout, const char *errbuf)
{
    ch_fetch_resp *r = x->resp;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    if (x->refused) {
        r->status = 0;
        snprintf(r->error, sizeof r->error, "refused: %s, address %s", x->refused, x->refused_addr);
        return CH_EINVAL;
    }
    if (x->too_big || cc == CURLE_FILESIZE_EXCEEDED) {
        snprintf(r->error, sizeof r->error, "answer over %zu bytes", x->body.max);
        return CH_ETOOBIG;
    }
    if (cc == CURLE_OPERATION_TIMEDOUT) {
        snprintf(r->error, sizeof r->error, "timeout after %ld ms", timeout);
        return CH_EAGAIN;
    }
    if (cc != CURLE_OK) {
        snprintf(r->error, sizeof r->error, "%s", errbuf[0] ? errbuf : curl_easy_strerror(cc));
        return transport_error(cc);
    }
    if (r->status >= 300) snprintf(r->error, sizeof r->error, "HTTP %ld", r->status);
    return CH_OK;
}

int ch_fetch(const ch_fetch_req *req, ch_fetch_resp *resp)
{
    memset(resp, 0, sizeof *resp);
    resp->retry_after_s = -1;
    long timeout = req->timeout_ms > 0 ? req->timeout_ms : CH_FETCH_TIMEOUT_MS;
    xfer x = {.req = req, .resp = resp};
    ch_buf_init(&x.body, req->max_body ? req->max_body : CH_FETCH_MAX_BODY);
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *h = NULL;
    curl_mime *mime = NULL;
    int rc = CH_ERR;
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(resp->error, sizeof resp->error, "curl_easy_init failed");
        return CH_ERR;
    }
    setup(c, req, &x, timeout, errbuf);
    for (const char *const *p = req->headers; p && *p; p++)
        h = curl_slist_append(h, *p);
    if (req->mime || req->body) h = curl_slist_append(h, "Expect:"); /* no 1 s wait for 100 */
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (req->method && strcmp(req->method, "POST") == 0) {
        if (req->mime) {
            mime = curl_mime_init(c);
            if ((rc = req->mime(mime, req->mime_arg)) != CH_OK) {
                snprintf(resp->error, sizeof resp->error, "could not build the request");
                goto out;
            }
            curl_easy_setopt(c, CURLOPT_MIMEPOST, mime);
        } else {
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body ? req->body : "");
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                             (curl_off_t)(req->body ? req->body_len : 0));
        }
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    }
    CURLcode cc = curl_easy_perform(c);
    rc = finish(c, cc, &x, timeout, errbuf);
out:
    if (rc == CH_OK) /* an empty answer is "" */
        resp->body = (unsigned char *)ch_buf_steal(&x.body, &resp->len);
    ch_buf_free(&x.body);
    curl_easy_cleanup(c);
    curl_mime_free(mime);
    curl_slist_free_all(h);
    return rc;
}

void ch_fetch_resp_free(ch_fetch_resp *r)
{
    if (!r) return;
    free(r->body);
    r->body = NULL;
    r->len = 0;
}

int ch_fetch_status_class(long status)
{
    if (status >= 200 && status < 300) return CH_OK;
    if (status == 408 || status == 429 || status >= 500) return CH_EAGAIN;
    return CH_EINVAL;
}

bool ch_fetch_host_listed(const char *url, const char *list)
{
    if (!url || !list) return false;
    CURLU *u = curl_url();
    char *host = NULL;
    bool found = false;
    if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && host) {
        size_t hl = strlen(host);
        for (const char *p = list; *p && !found;) {
            size_t n = strcspn(p, ",");
            const char *q = p;
            size_t m = n;
            while (m && *q == ' ')
                q++, m--;
            while (m && q[m - 1] == ' ')
                m--;
            found = m == hl && m > 0 && !strncasecmp(q, host, m);
            p += n + (p[n] == ',');
        }
    }
    curl_free(host);
    curl_url_cleanup(u);
    return found;
}
