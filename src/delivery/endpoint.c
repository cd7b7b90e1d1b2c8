#include "delivery/endpoint.h"
#include "util/crypto.h"
#include "util/limits.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

const char *const ch_event_types[] = {"call.started",
                                      "call.answered",
                                      "call.ended",
                                      "call.failed",
                                      "call.recording_ready",
                                      "call.completed",
                                      "call.updated",
                                      "call.status_changed",
                                      "endpoint.disabled",
                                      "test",
                                      NULL};

const char *ch_endpoint_url_problem(const char *url)
{
    if (!url || !*url) return "the URL is empty";
    size_t n = strlen(url);
    if (n > CH_ENDPOINT_URL_MAX) return "the URL is longer than 2048 characters";
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)url[i] <= 0x20 || url[i] == 0x7f)
            return "the URL contains a space or a control character";
    const char *rest;
    if (!strncasecmp(url, "https://", 8))
        rest = url + 8;
    else if (!strncasecmp(url, "http://", 7))
        rest = url + 7;
    else
        return "the URL must start with http:// or https://";
    size_t auth = strcspn(rest, "/?#");
    const char *at = memchr(rest, '@', auth);
    const char *host = at ? at + 1 : rest;
    size_t hlen = auth - (size_t)(host - rest);
    if (hlen == 0 || host[0] == ':') return "the URL has no host";
    if (host[0] == '[') {
        const char *close = memchr(host, ']', hlen);
        if (!close) return "the URL's IPv6 host is not closed with ]";
    } else {
        for (size_t i = 0; i < hlen && host[i] != ':'; i++)
            if (!isalnum((unsigned char)host[i]) && host[i] != '.' && host[i] != '-' &&
                host[i] != '_')
                return "the URL's host has characters a host name cannot have";
    }
    const char *colon = host[0] == '[' ? strstr(host, "]:") : memchr(host, ':', hlen);
    if (colon) {
        const char *p = colon + (host[0] == '[' ? 2 : 1);
        size_t plen = hlen - (size_t)(p - host);
        long port = 0;
        for (size_t i = 0; i < plen; i++) {
            if (!isdigit((unsigned char)p[i])) return "the URL's port is not a number";
            port = port * 10 + (p[i] - '0');
            if (port > 65535) return "the URL's port is above 65535";
        }
        if (plen == 0 || port == 0) return "the URL's port is missing or 0";
    }
    return NULL;
}

bool ch_endpoint_kind_valid(const char *kind)
{
    static const char *const kinds[] = {"inbound", "outbound", "generic", "status"};
    for (size_t i = 0; kind && i < 4; i++)
        if (!strcmp(kind, kinds[i])) return true;
    return false;
}

const char *ch_endpoint_events_problem(const char *events)
{
    static _Thread_local char bad[64];
    if (!events || !*events) return "(empty)";
    if (!strcmp(events, "*")) return NULL;
    const char *p = events;
    while (*p) {
        size_t n = strcspn(p, ",");
        bool known = false;
        for (size_t i = 0; ch_event_types[i] && !known; i++)
            known = strlen(ch_event_types[i]) == n && !strncmp(p, ch_event_types[i], n);
        if (!known) {
            snprintf(bad, sizeof bad, "%.*s", (int)(n < 60 ? n : 60), p);
            return bad;
        }
        p += n;
        if (*p == ',') p++;
    }
    return NULL;
}

/* Headers an endpoint may not set: hop-by-hop ones (RFC 9110 §7.6.1) and those that frame the
 * message describe one connection, not the message, and a wrong one corrupts the next delivery
 * on a reused connection (a Transfer-Encoding: chunked on a Content-Length body); Host and
 * Expect change where and how curl sends; Content-Encoding would make the receiver decode a body
 * that is not encoded; callhook sets Content-Type and the Standard Webhooks headers itself. */
static const char *const refused_headers[] = {"connection",
                                              "keep-alive",
                                              "proxy-connection",
                                              "proxy-authorization",
                                              "proxy-authenticate",
                                              "te",
                                              "trailer",
                                              "transfer-encoding",
                                              "upgrade",
                                              "content-length",
                                              "host",
                                              "expect",
                                              "content-type",
                                              "content-encoding",
                                              NULL};

bool ch_endpoint_header_allowed(const char *name)
{
    if (!name || !strncasecmp(name, "webhook-", 8)) return false;
    for (size_t i = 0; refused_headers[i]; i++)
        if (!strcasecmp(name, refused_headers[i])) return false;
    return true;
}

const char *ch_endpoint_header_problem(const char *line)
{
    static _Thread_local char why[256];
    const char *colon = line ? strchr(line, ':') : NULL;
    if (!colon || colon == line || colon - line > CH_ENDPOINT_HEADER_NAME_MAX) {
        snprintf(why, sizeof why, "a header is 'Name: value' with a name of 1 to %d characters",
                 CH_ENDPOINT_HEADER_NAME_MAX);
        return why;
    }
    char name[CH_ENDPOINT_HEADER_NAME_MAX + 1];
    snprintf(name, sizeof name, "%.*s", (int)(colon - line), line);
    for (const char *c = name; *c; c++)
        if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_') {
            snprintf(why, sizeof why,
                     "header name '%.64s' has characters other than letters, digits, - and _",
                     name);
            return why;
        }
    if (!ch_endpoint_header_allowed(name)) {
        snprintf(why, sizeof why,
                 "header '%.64s' cannot be set: callhook sets it itself, or it describes the "
                 "connection rather than the message",
                 name);
        return why;
    }
    const char *v = colon + 1;
    while (*v == ' ')
        v++;
    if (strlen(v) > CH_ENDPOINT_HEADER_VALUE_MAX) {
        snprintf(why, sizeof why, "the value of header '%.64s' is longer than %d bytes", name,
                 CH_ENDPOINT_HEADER_VALUE_MAX);
        return why;
    }
    for (const char *c = v; *c; c++)
        if ((unsigned char)*c < 0x20 && *c != '\t') { /* no header injection */
            snprintf(why, sizeof why, "the value of header '%.64s' has a control character", name);
            return why;
        }
    return NULL;
}

bool ch_endpoint_header_add(json_t *obj, const char *line)
{
    if (ch_endpoint_header_problem(line)) return false;
    const char *colon = strchr(line, ':');
    char name[65];
    snprintf(name, sizeof name, "%.*s", (int)(colon - line), line);
    const char *v = colon + 1;
    while (*v == ' ')
        v++;
    json_t *js = json_string(v);
    if (!js) return false; /* not UTF-8 */
    json_object_set_new(obj, name, js);
    return true;
}

void ch_endpoint_new_secret(char out[CH_WHSEC_MAX])
{
    unsigned char key[24];
    ch_random_bytes(key, sizeof key);
    memcpy(out, "whsec_", 6);
    ch_base64(key, sizeof key, out + 6);
}
