/* The SSRF verdict on resolved addresses (src/delivery/ssrf.h): any 4 or 16 bytes a resolver
 * could return. Checks: a verdict is NULL or a non-empty sentence; an IPv4 address and its
 * IPv4-mapped IPv6 form get the same verdict (no bypass through ::ffff:a.b.c.d); an address
 * in a refused IPv4 range is also refused when it arrives as NAT64 (64:ff9b::/96). */
#include "delivery/ssrf.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

static const char *v4(const unsigned char a[4])
{
    struct sockaddr_in s = {.sin_family = AF_INET};
    memcpy(&s.sin_addr, a, 4);
    return ch_ssrf_blocked_reason((struct sockaddr *)&s);
}

static const char *v6(const unsigned char a[16])
{
    struct sockaddr_in6 s = {.sin6_family = AF_INET6};
    memcpy(&s.sin6_addr, a, 16);
    return ch_ssrf_blocked_reason((struct sockaddr *)&s);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size >= 16) {
        const char *w = v6(data);
        if (w && !*w) abort();
    }
    if (size >= 4) {
        const char *w4 = v4(data);
        if (w4 && !*w4) abort();
        unsigned char m[16] = {0};
        m[10] = m[11] = 0xff;
        memcpy(m + 12, data, 4);
        if (!w4 != !v6(m)) abort();
        static const unsigned char nat64[12] = {0x00, 0x64, 0xff, 0x9b};
        memcpy(m, nat64, 12);
        if (w4 && !v6(m)) abort();
    }
    struct sockaddr_un_like {
        unsigned short family;
        char rest[30];
    } other = {.family = AF_UNIX};
    if (!ch_ssrf_blocked_reason((struct sockaddr *)&other)) abort(); /* not IP: refused */
    return 0;
}
