/* The client address behind a trusted proxy (src/http/client.h): X-Forwarded-For and Forwarded
 * as a client or a proxy may write them. Input: "<x-forwarded-for>\n<forwarded>\n<peer>", the
 * peer an IPv4 or IPv6 literal (127.0.0.1 when it does not parse). Trusted: 127.0.0.0/8 and
 * 10.0.0.0/8. Checks: an untrusted peer is the client whatever the headers say; the result is
 * always an IPv4 or IPv6 address; its key is stable. */
#include "http/client.h"
#include "util/cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size > 4096) return 0;
    char *in = malloc(size + 1);
    memcpy(in, data, size);
    in[size] = 0;
    char *fwd = strchr(in, '\n');
    if (fwd) *fwd++ = 0;
    char *peer_text = fwd ? strchr(fwd, '\n') : NULL;
    if (peer_text) *peer_text++ = 0;

    struct sockaddr_storage peer = {0};
    struct sockaddr_in *p4 = (struct sockaddr_in *)&peer;
    struct sockaddr_in6 *p6 = (struct sockaddr_in6 *)&peer;
    if (peer_text && inet_pton(AF_INET6, peer_text, &p6->sin6_addr) == 1) {
        p6->sin6_family = AF_INET6;
    } else {
        p4->sin_family = AF_INET;
        if (!peer_text || inet_pton(AF_INET, peer_text, &p4->sin_addr) != 1)
            inet_pton(AF_INET, "127.0.0.1", &p4->sin_addr);
    }
    const char *trusted = "127.0.0.0/8,10.0.0.0/8";
    struct sockaddr_storage out;
    ch_client_resolve((struct sockaddr *)&peer, trusted, in, fwd, &out);
    if (out.ss_family != AF_INET && out.ss_family != AF_INET6) abort();
    unsigned char k1[16], k2[16];
    ch_client_key((struct sockaddr *)&out, k1);
    ch_client_key((struct sockaddr *)&out, k2);
    if (memcmp(k1, k2, 16) != 0) abort();
    if (!ch_cidr_list_match(trusted, (struct sockaddr *)&peer)) {
        unsigned char kp[16];
        ch_client_key((struct sockaddr *)&peer, kp);
        if (memcmp(k1, kp, 16) != 0) abort(); /* an untrusted peer cannot pick its address */
    }
    free(in);
    return 0;
}
