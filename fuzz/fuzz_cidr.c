/* Source-address allow-lists (src/util/cidr.h). Input: "<list>\n<address>" — the list as a
 * credential's allow_ips, the optional address as the peer (fixed peers otherwise).
 * Checks: an invalid list matches nothing; an IPv4 peer and its IPv4-mapped IPv6 form match the
 * same lists; a valid list with the peer's own address appended is valid and matches it. */
#include "util/cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

static void check(const char *list, bool valid, const struct sockaddr *peer)
{
    bool m = ch_cidr_list_match(list, peer);
    if (m && !valid) abort();
    char addr[INET6_ADDRSTRLEN];
    ch_addr_format(peer, addr, sizeof addr);
    if (peer->sa_family == AF_INET) {
        struct sockaddr_in6 mapped = {.sin6_family = AF_INET6};
        mapped.sin6_addr.s6_addr[10] = mapped.sin6_addr.s6_addr[11] = 0xff;
        memcpy(&mapped.sin6_addr.s6_addr[12], &((const struct sockaddr_in *)peer)->sin_addr, 4);
        if (ch_cidr_list_match(list, (struct sockaddr *)&mapped) != m) abort();
    }
    size_t n = strlen(list);
    char *plus = malloc(n + sizeof addr + 2);
    memcpy(plus, list, n);
    plus[n] = ',';
    strcpy(plus + n + 1, addr);
    if (ch_cidr_list_valid(plus) != valid) abort();
    if (valid && !ch_cidr_list_match(plus, peer)) abort();
    free(plus);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size > 4096) return 0;
    char *list = malloc(size + 1);
    memcpy(list, data, size);
    list[size] = 0;
    char *peer_text = strchr(list, '\n');
    if (peer_text) *peer_text++ = 0;
    bool valid = ch_cidr_list_valid(list);

    struct sockaddr_in v4 = {.sin_family = AF_INET};
    inet_pton(AF_INET, "203.0.113.7", &v4.sin_addr);
    struct sockaddr_in6 v6 = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, "2001:db8::1", &v6.sin6_addr);
    check(list, valid, (struct sockaddr *)&v4);
    check(list, valid, (struct sockaddr *)&v6);
    if (peer_text) {
        struct sockaddr_in a4 = {.sin_family = AF_INET};
        struct sockaddr_in6 a6 = {.sin6_family = AF_INET6};
        if (inet_pton(AF_INET, peer_text, &a4.sin_addr) == 1)
            check(list, valid, (struct sockaddr *)&a4);
        else if (inet_pton(AF_INET6, peer_text, &a6.sin6_addr) == 1)
            check(list, valid, (struct sockaddr *)&a6);
    }
    free(list);
    return 0;
}
