/* Who a request comes from. The TCP peer, unless the peer is a configured trusted proxy: then
 * the client is the right-most address in X-Forwarded-For (or, without it, Forwarded: for=)
 * that is not itself a trusted proxy. Limits key clients by IPv4 address or IPv6 /64, the unit a
 * single host or subscriber controls (docs/security.md). */
#ifndef CH_CLIENT_H
#define CH_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* The client address of a request from peer with the given headers (each may be NULL; several
 * header lines of one name joined by ", "). Headers are believed only when peer is in trusted
 * (a CIDR list); an entry that does not parse ends the walk at the last trusted hop. */
void ch_client_resolve(const struct sockaddr *peer, const char *trusted, const char *xff,
                       const char *forwarded, struct sockaddr_storage *out);

/* 16 bytes that identify addr for limits: IPv4 (and IPv4-mapped IPv6) as ::ffff:a.b.c.d, IPv6
 * by its /64 with the interface part zeroed. All zero for NULL or another family. */
void ch_client_key(const struct sockaddr *addr, unsigned char out[16]);

#endif
