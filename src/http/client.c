#include "http/client.h"
#include "util/cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>

void ch_client_key(const struct sockaddr *addr, unsigned char out[16])
{
    memset(out, 0, 16);
    if (!addr) return;
    if (addr->sa_family == AF_INET) {
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &((const struct sockaddr_in *)addr)->sin_addr, 4);
    } else if (addr->sa_family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)addr)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a6))
            memcpy(out, a6->s6_addr, 16);
        else
            memcpy(out, a6->s6_addr, 8); /* a /64: one subscriber's block */
    }
}

/* One address as proxies write it: "203.0.113.7", "203.0.113.7:4711", "2001:db8::1",
 * "[2001:db8::1]:4711", optionally in double quotes (Forwarded). */
static bool parse_addr(const char *s, size_t n, struct sockaddr_storage *out)
{
    while (n && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') s++, n -= 2;
    char tmp[64];
    if (n == 0 || n >= sizeof tmp) return false;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    char *host = tmp;
    if (host[0] == '[') {
        char *close = strchr(host, ']');
        if (!close) return false;
        *close = '\0';
        host++;
    } else if (strchr(host, '.')) {
        char *colon = strchr(host, ':'); /* IPv4 with a port */
        if (colon) *colon = '\0';
    }
    memset(out, 0, sizeof *out);
    struct sockaddr_in *a4 = (struct sockaddr_in *)out;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)out;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        return true;
    }
    return false;
}

/* The "for=" value of one Forwarded element ("for=1.2.3.4;proto=https"), or false. */
static bool forwarded_for(const char *s, size_t n, struct sockaddr_storage *out)
{
    const char *end = s + n;
    while (s < end) {
        const char *semi = memchr(s, ';', (size_t)(end - s));
        const char *pe = semi ? semi : end;
        while (s < pe && (*s == ' ' || *s == '\t'))
            s++;
        if (pe - s > 4 && strncasecmp(s, "for=", 4) == 0)
            return parse_addr(s + 4, (size_t)(pe - s - 4), out);
        s = semi ? semi + 1 : end;
    }
    return false;
}

void ch_client_resolve(const struct sockaddr *peer, const char *trusted, const char *xff,
                       const char *forwarded, struct sockaddr_storage *out)
{
    memset(out, 0, sizeof *out);
    if (!peer) return;
    memcpy(out, peer,
           peer->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
    if (!trusted || !*trusted || !ch_cidr_list_match(trusted, peer)) return;
    const char *list = xff && *xff ? xff : forwarded;
    bool is_fwd = !(xff && *xff);
    if (!list) return;
    /* right to left: each hop appends the address it received from */
    size_t len = strlen(list);
    while (len > 0) {
        size_t start = len;
        while (start > 0 && list[start - 1] != ',')
            start--;
        struct sockaddr_storage hop;
        bool ok = is_fwd ? forwarded_for(list + start, len - start, &hop)
                         : parse_addr(list + start, len - start, &hop);
        if (!ok) return; /* garbage or "unknown": keep the last trusted hop */
        *out = hop;
        if (!ch_cidr_list_match(trusted, (struct sockaddr *)&hop)) return;
        len = start > 0 ? start - 1 : 0;
    }
}
