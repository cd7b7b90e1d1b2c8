/* The pipeline every transport shares once a delivery is authenticated (ingest/ingest.h). */
#include "ingest/ingest.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/result.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int refuse(ch_ingest_ctx *in, int status, const char *code, const char *field,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int refuse(ch_ingest_ctx *in, int status, const char *code, const char *field,
                  const char *fmt, ...)
{
    ch_ingest_refusal *f = &in->refusal;
    f->status = status;
    f->code = code;
    snprintf(f->field, sizeof f->field, "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->message, sizeof f->message, fmt, ap);
    va_end(ap);
    in->outcome = CH_INGEST_REFUSED;
    return CH_EINVAL;
}

bool ch_ingest_signature_ok(const void *ctx, const char *secret)
{
    const ch_ingest_ctx *in = ctx;
    return in->provider->verify(&in->raw, secret) == CH_OK;
}

/* The one place a write job is set up for a tenant. */
static void job_for_tenant(ch_write_job *job, const ch_tenant *t, ch_event **evs, size_t n,
                           const char *request_id)
{
    ch_write_job_init(job, evs, n);
    job->tenant_id = t->id;
    job->tenant_tz = t->timezone;
    job->tenant_country = t->country;
    job->monthly_limit = t->monthly_limit;
    job->hard_limit = t->hard_limit;
    job->no_auto_leads = t->features && strstr(t->features, "no-auto-leads");
    /* "enrichment" is a default feature: a tenant created without it is never enriched */
    job->no_enrichment = t->features && !strstr(t->features, "enrichment");
    job->request_id = request_id;
}

static void normalise_all(const ch_tenant *t, ch_event **evs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ch_event_normalise(evs[i], t->country);
        ch_event_prepare(evs[i]);
    }
}

/* The adapter's parse; its refusal becomes the delivery's. */
static int parse(ch_ingest_ctx *in)
{
    ch_parse_error perr = {0};
    if (in->provider->parse(&in->raw, in->parsed, &perr) == CH_OK) return CH_OK;
    refuse(in, perr.http_status, perr.code, perr.field, "%s", perr.message);
    in->refusal.line = perr.line;
    in->refusal.column = perr.column;
    return CH_EINVAL;
}

/* Metadata limits (docs/merge.md): the whole delivery is refused before anything is written. */
static int check_limits(ch_ingest_ctx *in)
{
    const ch_parsed *p = in->parsed;
    for (size_t i = 0; i < p->n; i++) {
        char why[160], field[48] = "metadata";
        ch_event *e = p->records[i].event;
        if (!e || ch_event_check_metadata(e, why, sizeof why) == CH_OK) continue;
        if (p->batch) snprintf(field, sizeof field, "[%zu].metadata", i);
        return refuse(in, 422, "metadata_too_large", field, "%s", why);
    }
    return CH_OK;
}

int ch_ingest(ch_ingest_ctx *in)
{
    const ch_provider *p = in->provider;
    const char *ct = in->raw.content_type;
    ch_logline l;
    int rc;
    if (!ch_provider_accepts(p, ct))
        return refuse(in, 415, "unsupported_media_type", NULL,
                      "content type %s is not accepted here; send %s", ct ? ct : "(none)",
                      p->content_types[0]);
    in->raw.tenant_tz = in->tenant->timezone;
    in->raw.tenant_country = in->tenant->country;
    if ((rc = parse(in)) != CH_OK || (rc = check_limits(in)) != CH_OK) return rc;

    const ch_parsed *parsed = in->parsed;
    in->events = ch_calloc(parsed->n ? parsed->n : 1, sizeof *in->events);
    in->nevents = 0;
    for (size_t i = 0; i < parsed->n; i++)
        if (parsed->records[i].event) in->events[in->nevents++] = parsed->records[i].event;
    if (ch_log_begin(&l, CH_LOG_DEBUG, "parsed", in->request_id)) {
        ch_log_int(&l, "records", (int64_t)parsed->n);
        ch_log_int(&l, "valid", (int64_t)in->nevents);
        ch_log_end(&l);
    }
    if (parsed->n == 0 && parsed->ignored) {
        if (ch_log_begin(&l, CH_LOG_DEBUG, "ignored", in->request_id)) {
            ch_log_str(&l, "reason", parsed->ignored);
            ch_log_end(&l);
        }
        in->outcome = CH_INGEST_IGNORED;
        return CH_OK;
    }
    if (in->nevents == 0) { /* every record of a batch was rejected: nothing to write */
        ch_write_job_init(in->job, in->events, 0);
        in->job->result = CH_OK;
        in->outcome = CH_INGEST_NO_RECORD;
        return CH_OK;
    }

    normalise_all(in->tenant, in->events, in->nevents);
    job_for_tenant(in->job, in->tenant, in->events, in->nevents, in->request_id);
    if (!in->store) {
        in->outcome = CH_INGEST_PREPARED;
    } else if (!in->done) {
        ch_store_submit_wait(in->store, in->job);
        in->outcome = CH_INGEST_WRITTEN;
    } else {
        in->job->done = in->done;
        in->job->arg = in->arg;
        in->outcome = CH_INGEST_SUBMITTED;
        if (in->before_submit) in->before_submit(in->arg);
        ch_store_submit(in->store, in->job);
    }
    return CH_OK;
}

void ch_ingest_clear(ch_ingest_ctx *in)
{
    if (in->job) ch_write_job_clear(in->job);
    free(in->events);
    in->events = NULL;
    in->nevents = 0;
    if (in->parsed) ch_parsed_clear(in->parsed);
}

int ch_ingest_events_wait(ch_store *s, const ch_tenant *tenant, ch_event **evs, size_t n,
                          const char *request_id, ch_write_job *job)
{
    normalise_all(tenant, evs, n);
    job_for_tenant(job, tenant, evs, n, request_id);
    return ch_store_submit_wait(s, job);
}
