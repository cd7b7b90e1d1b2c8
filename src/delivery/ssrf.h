/* May a webhook connect to this address? The SSRF check made on every resolved address just
 * before connecting (docs/webhooks.md): only public unicast addresses pass by default. */
#ifndef CH_SSRF_H
#define CH_SSRF_H

#include <sys/socket.h>

/* NULL when addr (AF_INET or AF_INET6) is public unicast, else a short static reason naming
 * the range, e.g. "loopback (127.0.0.0/8)". IPv6 forms that embed an IPv4 address
 * (IPv4-mapped, IPv4-compatible, NAT64, 6to4) are judged by that address. */
const char *ch_ssrf_blocked_reason(const struct sockaddr *addr);

#endif
