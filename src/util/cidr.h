/* Source-address allow-lists: comma-separated IPv4/IPv6 CIDRs ("203.0.113.0/24,2001:db8::/32"). */
#ifndef CH_CIDR_H
#define CH_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* True when every entry of list parses. An empty list is valid. */
bool ch_cidr_list_valid(const char *list);
/* True when addr falls in any entry. IPv4-mapped IPv6 addresses match IPv4 entries. An empty
 * list matches nothing. */
bool ch_cidr_list_match(const char *list, const struct sockaddr *addr);
/* Text form of addr (without port) into out. */
void ch_addr_format(const struct sockaddr *addr, char *out, size_t outsz);
/* A listen address: "127.0.0.1:8080", "[::1]:8080", ":8080" or "8080" (every IPv4 address).
 * CH_OK with *ss and *v6, or CH_EINVAL. */
int ch_listen_parse(const char *s, struct sockaddr_storage *ss, bool *v6);

#endif
