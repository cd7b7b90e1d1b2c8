#include "util/cidr.h"
#include "util/result.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int family; /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    int prefix;
} cidr;

static bool parse_one(const char *s, size_t n, cidr *c)
{
    char tmp[64];
    while (n && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n == 0 || n >= sizeof tmp) return false;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    char *slash = strchr(tmp, '/');
    int prefix = -1;
    if (slash) {
        *slash = '\0';
        char *end;
        long v = strtol(slash + 1, &end, 10);
        if (*end || end == slash + 1 || v < 0 || v > 128) return false;
        prefix = (int)v;
    }
    if (inet_pton(AF_INET, tmp, c->addr) == 1) {
        c->family = AF_INET;
        c->prefix = prefix < 0 ? 32 : prefix;
        return c->prefix <= 32;
    }
    if (inet_pton(AF_INET6, tmp, c->addr) == 1) {
        c->family = AF_INET6;
        c->prefix = prefix < 0 ? 128 : prefix;
        if (IN6_IS_ADDR_V4MAPPED((struct in6_addr *)c->addr) && c->prefix >= 96) {
            /* "::ffff:203.0.113.0/120" is an IPv4 entry: IPv4 peers are matched as IPv4 */
            memmove(c->addr, c->addr + 12, 4);
            c->family = AF_INET;
            c->prefix -= 96;
        }
        return true;
    }
    return false;
}

static bool prefix_match(const unsigned char *a, const unsigned char *b, int bits)
{
    int bytes = bits / 8, rem = bits % 8;
    if (memcmp(a, b, (size_t)bytes) != 0) return false;
    if (!rem) return true;
    unsigned char mask = (unsigned char)(0xff << (8 - rem));
    return (a[bytes] & mask) == (b[bytes] & mask);
}

typedef bool (*entry_fn)(const cidr *c, void *arg);

/* Calls fn for each entry; returns false on the first entry that does not parse. */
static bool each(const char *list, entry_fn fn, void *arg, bool *hit)
{
    *hit = false;
    if (!list) return true;
    const char *p = list;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        cidr c;
        bool blank = true;
        for (size_t i = 0; i < n; i++)
            if (p[i] != ' ' && p[i] != '\t') blank = false;
        if (!blank) {
            if (!parse_one(p, n, &c)) return false;
            if (fn && fn(&c, arg)) *hit = true;
        }
        p += n;
        if (*p == ',') p++;
    }
    return true;
}

bool ch_cidr_list_valid(const char *list)
{
    bool hit;
    return each(list, NULL, NULL, &hit);
}

typedef struct {
    int family;
    unsigned char addr[16];
} probe;

static bool match_fn(const cidr *c, void *arg)
{
    const probe *p = arg;
    return c->family == p->family && prefix_match(c->addr, p->addr, c->prefix);
}

bool ch_cidr_list_match(const char *list, const struct sockaddr *addr)
{
    if (!addr) return false;
    probe p = {0};
    if (addr->sa_family == AF_INET) {
        p.family = AF_INET;
        memcpy(p.addr, &((const struct sockaddr_in *)addr)->sin_addr, 4);
    } else if (addr->sa_family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)addr)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a6)) {
            p.family = AF_INET;
            memcpy(p.addr, &a6->s6_addr[12], 4);
        } else {
            p.family = AF_INET6;
            memcpy(p.addr, a6->s6_addr, 16);
        }
    } else {
        return false;
    }
    bool hit;
    return each(list, match_fn, &p, &hit) && hit;
}

void ch_addr_format(const struct sockaddr *addr, char *out, size_t outsz)
{
    out[0] = '\0';
    if (!addr) return;
    if (addr->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)addr)->sin_addr, out, (socklen_t)outsz);
    else if (addr->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)addr)->sin6_addr, out, (socklen_t)outsz);
}

int ch_listen_parse(const char *s, struct sockaddr_storage *ss, bool *v6)
{
    memset(ss, 0, sizeof *ss);
    char host[128] = "";
    const char *port;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':' || (size_t)(close - s - 1) >= sizeof host) return CH_EINVAL;
        memcpy(host, s + 1, (size_t)(close - s - 1));
        host[close - s - 1] = '\0';
        port = close + 2;
    } else {
        const char *colon = strrchr(s, ':');
        if (colon) {
            if ((size_t)(colon - s) >= sizeof host) return CH_EINVAL;
            memcpy(host, s, (size_t)(colon - s));
            host[colon - s] = '\0';
            port = colon + 1;
        } else {
            port = s;
        }
    }
    char *end;
    long p = strtol(port, &end, 10);
    if (*end || end == port || p < 0 || p > 65535) return CH_EINVAL;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    if (strchr(host, ':')) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)p);
        if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1) return CH_EINVAL;
        *v6 = true;
    } else {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)p);
        if (host[0] && inet_pton(AF_INET, host, &a4->sin_addr) != 1) return CH_EINVAL;
        if (!host[0]) a4->sin_addr.s_addr = htonl(INADDR_ANY);
        *v6 = false;
    }
    return CH_OK;
}
