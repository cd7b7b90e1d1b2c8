/* One ingest path for every transport (docs/internals/ingest.md): a delivery that has been
 * authenticated goes through content type → parse → per-event limits → normalise → prepare →
 * write job → submit here, whether it came over HTTP (http/hooks.c), the UCM TCP output
 * (ingest/ucm_tcp.c), `callhook import` (cli/import.c) or a fuzz harness (fuzz/). The transport
 * keeps what is its own: reading the bytes, authentication, and turning the outcome into an
 * answer. */
#ifndef CH_INGEST_H
#define CH_INGEST_H

#include "providers/provider.h"
#include "store/store.h"

#include <stdbool.h>
#include <stddef.h>

/* Why a delivery was refused before anything was written: the transport's answer (HTTP sends
 * it as {"error": code, "message": message, ["field": field]} with status, plus line and column
 * when they are set). */
typedef struct {
    int status;       /* 4xx */
    const char *code; /* static: "unsupported_media_type", "malformed_json", … */
    char field[128];  /* the offending member, or "" */
    char message[512];
    int line, column; /* position of a syntax error in a text body, or 0 */
} ch_ingest_refusal;

typedef enum {
    CH_INGEST_REFUSED,   /* refusal says why; nothing was written */
    CH_INGEST_IGNORED,   /* the delivery carries no call record (parsed->ignored says why) */
    CH_INGEST_NO_RECORD, /* every record of a batch was rejected; job has n = 0, result CH_OK */
    CH_INGEST_PREPARED,  /* store was NULL: the job is built, not submitted */
    CH_INGEST_SUBMITTED, /* queued: done() runs on the writer thread */
    CH_INGEST_WRITTEN,   /* submitted and waited for: job->result says whether it is durable */
} ch_ingest_outcome;

typedef struct {
    /* in, set by the transport */
    const ch_provider *provider;
    const ch_tenant *tenant; /* its time zone and country are copied into raw before parse */
    ch_raw_request raw;      /* body, content type, URL, headers, max_records, now_ms */
    const char *request_id;  /* in logs and in the write job */
    ch_store *store;         /* NULL: every stage but the submit (the fuzz harnesses) */
    /* NULL: submit and wait (callers that may block); else called by the writer after the
     * commit or rollback, with job->arg = arg */
    void (*done)(ch_write_job *job);
    /* with done: called right before the submit, since done() may run before ch_ingest()
     * returns (HTTP suspends its connection here) */
    void (*before_submit)(void *arg);
    void *arg;
    /* the caller's storage, which may outlive the call (HTTP answers from it after the commit):
     * freed by ch_ingest_clear(), or by the caller as ch_ingest_clear() does */
    ch_parsed *parsed;
    ch_write_job *job;
    /* out */
    ch_event **events; /* [nevents] the valid records' events (owned by parsed); free() it */
    size_t nevents;
    ch_ingest_outcome outcome;
    ch_ingest_refusal refusal;
} ch_ingest_ctx;

/* The signature check of in's provider with one credential's secret: the callback an
 * authentication step calls for each signing secret it tries (http/auth.h signature_ok). ctx
 * is the ch_ingest_ctx; the provider must have a verify(). */
bool ch_ingest_signature_ok(const void *ctx, const char *secret);

/* Runs the pipeline on an authenticated delivery. CH_OK (see in->outcome; for
 * CH_INGEST_WRITTEN, job->result may still be CH_ESTORE), or CH_EINVAL when refused (in->refusal
 * says why, in->outcome is CH_INGEST_REFUSED). */
int ch_ingest(ch_ingest_ctx *in);

/* Frees parsed, job outputs and events (not the context itself). */
void ch_ingest_clear(ch_ingest_ctx *in);

/* The stages after parse, for callers that make their events themselves (`callhook import`
 * reads a file line by line): normalises and prepares evs[0..n), fills job for tenant (the one
 * place a write job is set up for a tenant) and submits it, waiting for the commit. Returns
 * job->result; the caller clears the job (ch_write_job_clear) and owns the events. */
int ch_ingest_events_wait(ch_store *s, const ch_tenant *tenant, ch_event **evs, size_t n,
                          const char *request_id, ch_write_job *job);

#endif
