/* Shared body of the provider-adapter harnesses: any bytes as a request body to one adapter,
 * through the real ingest pipeline as every transport runs it (ingest/ingest.h: the signature
 * check authentication calls when the provider signs, then ch_ingest(): content type, parse,
 * metadata limits, normalise, prepare, write job — everything but the submit), for a tenant in
 * Europe/London with country code 44.
 * Checks:
 *   - a verification answers CH_OK or CH_EAUTH, never anything else;
 *   - a refusal is a 4xx with a code and a message; success yields at most max_records
 *     records (exactly 1 unless a batch), each an event or a rejection with a message, never
 *     both;
 *   - every valid record's event is prepared and in the write job, in order, and its normalised
 *     form (ch_event_prepare, what the writer stores) reads back into the same event (the
 *     writer merges from it);
 *   - the merge of the events, deduplicated by idempotency key as the store does, does not
 *     depend on their order (docs/merge.md). */
#ifndef CH_PROVIDER_FUZZ_H
#define CH_PROVIDER_FUZZ_H

#include "core/merge.h"
#include "ingest/ingest.h"
#include "providers/provider.h"
#include "util/mem.h"
#include "util/result.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define FUZZ_MAX_RECORDS 100 /* the server's default is 1000; smaller keeps 413 in reach */

typedef struct {
    const char *content_type;
} fuzz_headers;

static const char *fuzz_header(void *ctx, const char *name)
{
    const fuzz_headers *h = ctx;
    if (strcasecmp(name, "Content-Type") == 0) return h->content_type;
    if (strcasecmp(name, "User-Agent") == 0) return "pbx/1.0";
    return NULL;
}

static void fuzz_check_norm(const ch_event *e)
{
    json_t *j = json_loads(e->norm, 0, NULL);
    ch_event *back = j ? ch_event_from_json(j) : NULL;
    if (!back) abort();
    json_t *again = ch_event_to_json(back);
    if (!json_equal(j, again)) abort();
    json_decref(again);
    json_decref(j);
    ch_event_free(back);
}

static void fuzz_check_merge_order(ch_event **evs, size_t n)
{
    size_t u = 0; /* the store drops repeats by idempotency key before it merges */
    for (size_t i = 0; i < n; i++) {
        bool dup = false;
        for (size_t k = 0; k < u && !dup; k++)
            dup = strcmp(evs[k]->idem_key, evs[i]->idem_key) == 0;
        if (!dup) evs[u++] = evs[i];
    }
    ch_event **rev = ch_malloc((u ? u : 1) * sizeof *rev);
    for (size_t i = 0; i < u; i++)
        rev[i] = evs[u - 1 - i];
    ch_merged a, b;
    ch_merge_fold(&a, evs, u, "44");
    ch_merge_fold(&b, rev, u, "44");
    if (ch_callstate_cmp(&a.call, &b.call) || a.nlegs != b.nlegs) abort();
    for (size_t i = 0; i < a.nlegs; i++)
        if (ch_callstate_cmp(&a.legs[i], &b.legs[i])) abort();
    ch_merged_clear(&a);
    ch_merged_clear(&b);
    free(rev);
}

static int fuzz_provider(const char *name, const char *content_type, const unsigned char *data,
                         size_t size)
{
    const ch_provider *p = ch_provider_find(name);
    if (!p || !ch_provider_accepts(p, content_type)) abort();
    char *body = ch_malloc(size + 1);
    memcpy(body, data, size);
    body[size] = 0; /* the HTTP layer leaves a NUL after the body */
    fuzz_headers hdrs = {content_type};
    ch_tenant tenant = {.timezone = "Europe/London", .country = "44"};
    ch_parsed out = {0};
    ch_write_job job = {0};
    ch_ingest_ctx in = {.provider = p,
                        .tenant = &tenant,
                        .raw = {.content_type = content_type,
                                .body = body,
                                .body_len = size,
                                .max_records = FUZZ_MAX_RECORDS,
                                .url = "https://hooks.example.com/hooks/acme/x?a=1",
                                .header = fuzz_header,
                                .header_ctx = &hdrs,
                                .now_ms = 1779444000000LL},
                        .request_id = "fuzz",
                        .parsed = &out,
                        .job = &job}; /* no store: the pipeline stops before the submit */
    if (p->verify) {
        /* as authentication calls it; where it fails HTTP answers 401, here the parse runs on */
        int v = p->verify(&in.raw, "fuzz-signing-secret");
        if ((v != CH_OK && v != CH_EAUTH) ||
            ch_ingest_signature_ok(&in, "fuzz-signing-secret") != (v == CH_OK))
            abort();
    }
    int rc = ch_ingest(&in);
    if (rc == CH_OK) {
        /* a batch may hold no usable record (hooks.c answers 422); a single body is one */
        /* ...unless the delivery carries no call record at all ("ignored") */
        if (out.ignored && out.n) abort();
        if (out.n > in.raw.max_records || (!out.batch && !out.ignored && out.n != 1)) abort();
        size_t n = 0;
        for (size_t i = 0; i < out.n; i++) {
            ch_record *r = &out.records[i];
            if (!r->event == !r->error) abort(); /* exactly one of the two */
            if (!r->event) continue;
            if (!r->event->external_id || !r->event->idem_key || !r->event->provider) abort();
            if (r->event != in.events[n++] || !r->event->norm) abort(); /* prepared, in order */
            fuzz_check_norm(r->event);
        }
        if (n != in.nevents) abort();
        if (n && (in.outcome != CH_INGEST_PREPARED || job.n != n ||
                  job.tenant_country != tenant.country))
            abort();
        fuzz_check_merge_order(in.events, n);
    } else if (in.outcome != CH_INGEST_REFUSED || in.refusal.status < 400 ||
               in.refusal.status > 499 || !in.refusal.code || !in.refusal.message[0]) {
        abort(); /* records an adapter added before failing are freed by the caller, as here */
    }
    ch_ingest_clear(&in);
    free(body);
    return 0;
}

#endif
