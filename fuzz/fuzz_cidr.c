/* Source-IP allow-lists: parse any list; matching must agree with validity (an invalid list is
 * never consulted by the server, but must not crash either). */
#include "util/cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size > 4096) return 0;
    char *list = malloc(size + 1);
    memcpy(list, data, size);
    list[size] = 0;
    (void)ch_cidr_list_valid(list);
    struct sockaddr_in v4 = {.sin_family = AF_INET};
    inet_pton(AF_INET, "203.0.113.7", &v4.sin_addr);
    struct sockaddr_in6 v6 = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, "2001:db8::1", &v6.sin6_addr);
    struct sockaddr_in6 mapped = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, "::ffff:203.0.113.7", &mapped.sin6_addr);
    bool a = ch_cidr_list_match(list, (struct sockaddr *)&v4);
    bool c = ch_cidr_list_match(list, (struct sockaddr *)&mapped);
    if (a != c) abort(); /* an IPv4-mapped address matches exactly what the IPv4 one does */
    (void)ch_cidr_list_match(list, (struct sockaddr *)&v6);
    free(list);
    return 0;
}
