/* The generic adapter: any bytes as a JSON webhook body. Parsing must either fail with a
 * request-level error or yield records that are events or rejections with a message. */
#include "providers/provider.h"
#include "util/result.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    static const ch_provider *p;
    if (!p) p = ch_provider_find("generic");
    char *body = malloc(size + 1);
    memcpy(body, data, size);
    body[size] = 0; /* adapters get a NUL after the body, as from the HTTP layer */
    ch_raw_request req = {.content_type = "application/json",
                          .body = body,
                          .body_len = size,
                          .tenant_tz = "Asia/Jerusalem",
                          .max_records = 50};
    ch_parsed out = {0};
    ch_parse_error err = {0};
    int rc = p->parse(&req, &out, &err);
    if (rc == CH_OK) {
        for (size_t i = 0; i < out.n; i++) {
            ch_record *r = &out.records[i];
            if (!r->event == !r->error) abort(); /* exactly one of the two */
            if (r->event) {
                if (!r->event->external_id || !r->event->idem_key) abort();
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
