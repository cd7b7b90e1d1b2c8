/* Shared body of the provider-adapter harnesses: any bytes as a request body to one adapter.
 * Parsing must fail with a 4xx and a code, or yield records that are each an event or a
 * rejection with a message, never more than max_records. */
#ifndef CH_PROVIDER_FUZZ_H
#define CH_PROVIDER_FUZZ_H

#include "providers/provider.h"
#include "util/result.h"

#include <stdlib.h>
#include <string.h>

static const char *fuzz_no_header(void *ctx, const char *name)
{
    (void)ctx;
    (void)name;
    return NULL;
}

static int fuzz_provider(const char *name, const char *content_type, const unsigned char *data,
                         size_t size)
{
    const ch_provider *p = ch_provider_find(name);
    if (!p) abort();
    char *body = malloc(size + 1);
    memcpy(body, data, size);
    body[size] = 0; /* adapters get a NUL after the body, as from the HTTP layer */
    ch_raw_request req = {.content_type = content_type,
                          .body = body,
                          .body_len = size,
                          .tenant_tz = "Asia/Jerusalem",
                          .tenant_country = "972",
                          .max_records = 50,
                          .url = "https://hooks.example.com/hooks/acme/x?a=1",
                          .header = fuzz_no_header,
                          .now_ms = 1715681700000LL};
    ch_parsed out = {0};
    ch_parse_error err = {0};
    int rc = p->parse(&req, &out, &err);
    if (rc == CH_OK) {
        for (size_t i = 0; i < out.n; i++) {
            ch_record *r = &out.records[i];
            if (!r->event == !r->error) abort(); /* exactly one of the two */
            if (r->event) {
                if (!r->event->external_id || !r->event->idem_key || !r->event->provider) abort();
                ch_event_prepare(r->event);
            }
        }
        if (out.n > req.max_records) abort();
    } else if (err.http_status < 400 || err.http_status > 499 || !err.code) {
        abort();
    }
    ch_parsed_clear(&out);
    free(body);
    return 0;
}

#endif
