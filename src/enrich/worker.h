/* The enrichment workers (docs/internals/enrichment.md): a scheduler thread, woken by the
 * change feed's job.due (a wake-up subscriber, as the dispatcher is) and by its own timer,
 * takes the due stage jobs from the store and hands them to a pool of worker threads; each
 * runs one stage (enrich/stages.h) and submits its outcome to the writer as a typed operation
 * (CH_OP_STAGE_RESULT), which records it, moves the pipeline on and creates call.completed
 * when it is finished. A job is taken again only after its outcome is committed, so a kill -9
 * leaves it pending, and it runs again after the restart. */
#ifndef CH_ENRICH_WORKER_H
#define CH_ENRICH_WORKER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/pipeline.h"
#include "store/store.h"

typedef struct {
    const char *allow_private;  /* CIDRs a recording or engine URL may reach though not public */
    const char *recordings_dir; /* where recordings are kept, content-addressed */
    const char *retry_schedule; /* between attempts of a stage ("10s,1m,5m") */
    int threads;                /* stages at once (network ones wait on their servers) */
    int cpu_threads;            /* of which CPU-bound (decoding, pocketsphinx) at most */
    int64_t max_recording_bytes;
    int64_t timeout_ms;        /* of one network exchange */
    int64_t sweep_interval_ms; /* between two looks for recordings past retention (10 min) */
    bool idle_priority;        /* workers in SCHED_IDLE: they run only on CPU nothing else wants */
} ch_enrich_opts;

typedef struct {
    uint64_t done[CH_STAGE_COUNT], failed[CH_STAGE_COUNT], retried[CH_STAGE_COUNT];
    uint64_t ms_sum[CH_STAGE_COUNT]; /* run time of the finished ones */
    uint64_t expired;                /* pipelines that passed their deadline */
    int64_t running[CH_STAGE_COUNT];
    int64_t queued; /* taken from the store, waiting for a worker */
} ch_enrich_stats;

typedef struct ch_enrich ch_enrich;

int ch_enrich_start(ch_enrich **out, ch_store *s, const ch_enrich_opts *o);
/* Stops taking jobs, lets running stages finish for up to grace_ms (their outcomes are
 * recorded), abandons the rest (still pending: run again after a restart). Before
 * ch_store_close. */
void ch_enrich_stop(ch_enrich *e, int grace_ms);
void ch_enrich_get_stats(ch_enrich *e, ch_enrich_stats *out);

#endif
