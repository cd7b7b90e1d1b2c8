/* What each stage of the pipeline does (docs/enrichment.md), by the tenant's engine: fetch and
 * keep the recording, transcribe it, summarise, extract fields, judge the sentiment. Run by the
 * enrichment workers (enrich/worker.h), one job at a time per thread; inputs are read from the
 * store (the call, the tenant's settings and dictionary, the recording's file), the output is
 * returned for the writer to record. */
#ifndef CH_ENRICH_STAGES_H
#define CH_ENRICH_STAGES_H

#include <stdbool.h>
#include <stdint.h>

#include "enrich/worker.h"
#include "store/store.h"

/* What a stage's run came to. */
typedef enum {
    CH_RUN_DONE,  /* result holds the output */
    CH_RUN_RETRY, /* a failure that may pass (timeout, 5xx, 429, connection refused) */
    CH_RUN_FAIL,  /* for good (404, a corrupt file, a bad answer) */
} ch_run_state;

typedef struct {
    ch_run_state state;
    char error[256];        /* why it failed: HTTP status, timeout, decode error */
    char *result;           /* JSON text (DONE) */
    int64_t transcribed_ms; /* audio transcribed (usage) */
    int64_t retry_after_ms; /* the server asked to wait this long (-1: no opinion) */
    bool cpu;               /* ran on the CPU pool */
    char file[1024];        /* a file the result names (the stored recording), or "" */
} ch_run_outcome;

typedef struct ch_stage_env ch_stage_env;       /* shared by every worker thread */
typedef struct ch_stage_thread ch_stage_thread; /* one worker thread's (its speech model) */

ch_stage_env *ch_stage_env_new(ch_store *s, const ch_enrich_opts *o);
void ch_stage_env_free(ch_stage_env *e);
ch_stage_thread *ch_stage_thread_new(void);
void ch_stage_thread_free(ch_stage_thread *t);

/* True when the stage job is CPU-bound (waits for a slot of the CPU pool). */
bool ch_stage_is_cpu(const ch_due_job *j);
/* Runs one stage job. out->result is the caller's to free. */
void ch_stage_run(ch_stage_env *env, ch_stage_thread *t, const ch_due_job *j, ch_run_outcome *out);

#endif
