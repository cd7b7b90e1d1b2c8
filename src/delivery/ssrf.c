/* The ranges follow IANA's IPv4 and IPv6 special-purpose address registries (the entries that
 * are not globally reachable) plus multicast and the class E space. */
#include "delivery/ssrf.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    uint32_t net;
    int bits;
    const char *why;
} v4_range;

static const v4_range v4[] = {
    {0x00000000, 8, "this network (0.0.0.0/8)"},
    {0x0a000000, 8, "private (10.0.0.0/8)"},
    {0x64400000, 10, "shared address space / CGNAT (100.64.0.0/10)"},
    {0x7f000000, 8, "loopback (127.0.0.0/8)"},
    {0xa9fe0000, 16, "link-local (169.254.0.0/16, cloud metadata)"},
    {0xac100000, 12, "private (172.16.0.0/12)"},
    {0xc0000000, 24, "IETF protocol assignments (192.0.0.0/24)"},
    {0xc0000200, 24, "documentation (192.0.2.0/24)"},
    {0xc0586300, 24, "6to4 relay anycast (192.88.99.0/24)"},
    {0xc0a80000, 16, "private (192.168.0.0/16)"},
    {0xc6120000, 15, "benchmarking (198.18.0.0/15)"},
    {0xc6336400, 24, "documentation (198.51.100.0/24)"},
    {0xcb007100, 24, "documentation (203.0.113.0/24)"},
    {0xe0000000, 4, "multicast (224.0.0.0/4)"},
    {0xffffffff, 32, "broadcast (255.255.255.255)"},
    {0xf0000000, 4, "reserved (240.0.0.0/4)"},
};

static const char *v4_reason(uint32_t a)
{
    for (size_t i = 0; i < sizeof v4 / sizeof *v4; i++) {
        uint32_t mask = v4[i].bits == 0 ? 0 : 0xffffffffu << (32 - v4[i].bits);
        if ((a & mask) == v4[i].net) return v4[i].why;
    }
    return NULL;
}

/* The same reasons, prefixed, for IPv4 inside IPv6: one static string per (form, range). */
enum { FORM_MAPPED, FORM_COMPAT, FORM_NAT64, FORM_6TO4, NFORMS };
static const char *const form_names[NFORMS] = {"IPv4-mapped", "IPv4-compatible", "NAT64", "6to4"};
#define NV4 (sizeof v4 / sizeof *v4)
static char embedded[NFORMS][NV4][96];

static pthread_once_t embedded_once = PTHREAD_ONCE_INIT;

static void build_embedded(void)
{
    for (int f = 0; f < NFORMS; f++)
        for (size_t k = 0; k < NV4; k++)
            snprintf(embedded[f][k], sizeof embedded[f][k], "%s: %s", form_names[f], v4[k].why);
}

static const char *embedded_reason(int form, uint32_t a)
{
    pthread_once(&embedded_once, build_embedded);
    for (size_t i = 0; i < NV4; i++) {
        uint32_t mask = 0xffffffffu << (32 - v4[i].bits);
        if ((a & mask) == v4[i].net) return embedded[form][i];
    }
    return NULL;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool prefix(const uint8_t *a, const uint8_t *p, int bits)
{
    int full = bits / 8, rest = bits % 8;
    if (memcmp(a, p, (size_t)full) != 0) return false;
    if (!rest) return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[full] & mask) == (p[full] & mask);
}

static const char *v6_reason(const uint8_t *a)
{
    static const uint8_t zero[16] = {0};
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b};
    static const uint8_t nat64_local[6] = {0, 0x64, 0xff, 0x9b, 0, 1};
    if (memcmp(a, zero, 15) == 0 && a[15] == 0) return "unspecified (::)";
    if (memcmp(a, zero, 15) == 0 && a[15] == 1) return "loopback (::1)";
    if (memcmp(a, mapped, 12) == 0) return embedded_reason(FORM_MAPPED, be32(a + 12));
    if (memcmp(a, zero, 12) == 0) {
        const char *r = embedded_reason(FORM_COMPAT, be32(a + 12));
        return r ? r : "IPv4-compatible (::/96, deprecated)";
    }
    if (memcmp(a, nat64, 12) == 0) return embedded_reason(FORM_NAT64, be32(a + 12));
    if (prefix(a, nat64_local, 48)) return "local-use NAT64 (64:ff9b:1::/48)";
    if (a[0] == 0x20 && a[1] == 0x02) return embedded_reason(FORM_6TO4, be32(a + 2));
    static const struct {
        uint8_t p[16];
        int bits;
        const char *why;
    } r6[] = {
        {{0x01, 0x00}, 64, "discard-only (100::/64)"},
        {{0x20, 0x01, 0x00, 0x00}, 32, "Teredo (2001::/32)"},
        {{0x20, 0x01, 0x00, 0x02, 0x00, 0x00}, 48, "benchmarking (2001:2::/48)"},
        {{0x20, 0x01, 0x00, 0x10}, 28, "ORCHID (2001:10::/28)"},
        {{0x20, 0x01, 0x00, 0x20}, 28, "ORCHIDv2 (2001:20::/28)"},
        {{0x20, 0x01}, 23, "IETF protocol assignments (2001::/23)"},
        {{0x20, 0x01, 0x0d, 0xb8}, 32, "documentation (2001:db8::/32)"},
        {{0x3f, 0xff}, 20, "documentation (3fff::/20)"},
        {{0xfc}, 7, "unique local (fc00::/7)"},
        {{0xfe, 0x80}, 10, "link-local (fe80::/10)"},
        {{0xfe, 0xc0}, 10, "site-local (fec0::/10)"},
        {{0xff}, 8, "multicast (ff00::/8)"},
    };
    for (size_t i = 0; i < sizeof r6 / sizeof *r6; i++)
        if (prefix(a, r6[i].p, r6[i].bits)) return r6[i].why;
    /* only 2000::/3 is global unicast; the rest is reserved by IETF */
    if ((a[0] & 0xe0) != 0x20) return "reserved (outside 2000::/3)";
    return NULL;
}

const char *ch_ssrf_blocked_reason(const struct sockaddr *addr)
{
    if (addr->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)addr;
        return v4_reason(ntohl(in->sin_addr.s_addr));
    }
    if (addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;
        return v6_reason(in6->sin6_addr.s6_addr);
    }
    return "not an IP address";
}
