/* Endpoint settings as an operator or the API gives them (delivery/endpoint.h): URL, event
 * list and custom header. Whatever is accepted must keep its promises: an accepted URL starts
 * with http(s):// and has no byte <= 0x20; an accepted header adds exactly one member. */
#include "delivery/endpoint.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size > 4096) return 0;
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = 0;
    if (!ch_endpoint_url_problem(s)) {
        if (strncasecmp(s, "http://", 7) && strncasecmp(s, "https://", 8)) abort();
        for (const char *p = s; *p; p++)
            if ((unsigned char)*p <= 0x20) abort();
    }
    (void)ch_endpoint_events_problem(s);
    (void)ch_endpoint_kind_valid(s);
    json_t *h = json_object();
    bool ok = ch_endpoint_header_add(h, s);
    if (ok != (json_object_size(h) == 1)) abort();
    json_decref(h);
    free(s);
    return 0;
}
