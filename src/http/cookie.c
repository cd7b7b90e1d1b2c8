#include "http/cookie.h"
#include "util/result.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

int ch_cookie_get(const char *header, const char *name, char *out, size_t outsz)
{
    if (!header || !name || !*name || outsz == 0) return CH_ENOTFOUND;
    size_t nlen = strlen(name);
    const char *p = header;
    while (*p) {
        while (is_ows(*p) || *p == ';')
            p++;
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        if (eq) {
            size_t klen = (size_t)(eq - p);
            while (klen && is_ows(p[klen - 1]))
                klen--;
            if (klen == nlen && memcmp(p, name, nlen) == 0) {
                const char *v = eq + 1;
                size_t vlen = len - (size_t)(v - p);
                while (vlen && is_ows(*v)) {
                    v++;
                    vlen--;
                }
                while (vlen && is_ows(v[vlen - 1]))
                    vlen--;
                if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"') {
                    v++;
                    vlen -= 2;
                }
                if (vlen >= outsz) return CH_ETOOBIG;
                memcpy(out, v, vlen);
                out[vlen] = '\0';
                return CH_OK;
            }
        }
        if (!end) break;
        p = end + 1;
    }
    return CH_ENOTFOUND;
}

bool ch_session_id_ok(const char *id)
{
    size_t n = 0;
    for (; id[n]; n++) {
        char c = id[n];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
        if (n == CH_SESSION_ID_LEN) return false;
    }
    return n == CH_SESSION_ID_LEN;
}

bool ch_host_is_loopback(const char *host)
{
    if (!host) return false;
    size_t n;
    if (host[0] == '[') {
        const char *close = strchr(host, ']');
        if (!close) return false;
        if (close[1] && close[1] != ':') return false;
        return (size_t)(close - host) == 4 && memcmp(host, "[::1]", 5) == 0;
    }
    const char *colon = strchr(host, ':');
    n = colon ? (size_t)(colon - host) : strlen(host);
    if (colon && strchr(colon + 1, ':')) return false; /* a bare IPv6 address: not a Host */
    return (n == 9 && strncasecmp(host, "localhost", 9) == 0) ||
           (n == 9 && memcmp(host, "127.0.0.1", 9) == 0);
}

void ch_session_set_cookie(char *out, size_t outsz, const char *id, bool secure, int max_age)
{
    const char *name = secure ? CH_SESSION_COOKIE_HOST : CH_SESSION_COOKIE_PLAIN;
    bool clear = !id || !*id;
    /* no Expires: Max-Age rules in every current browser, and a cleared cookie uses 0 */
    snprintf(out, outsz, "%s=%s; Path=/; HttpOnly; SameSite=Strict%s; Max-Age=%d", name,
             clear ? "" : id, secure ? "; Secure" : "", clear ? 0 : max_age);
}
