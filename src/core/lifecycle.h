/* A call's lifecycle events (docs/webhooks.md): which ones a change causes, each created once
 * whatever the order of arrival. Pure: the store keeps the bits (calls.notified) and writes
 * the messages. */
#ifndef CH_LIFECYCLE_H
#define CH_LIFECYCLE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/model.h"

/* calls.notified: one bit per lifecycle event already created for the call */
enum {
    CH_NOTE_STARTED = 1,
    CH_NOTE_ANSWERED = 2,
    CH_NOTE_ENDED = 4,
    CH_NOTE_FAILED = 8,
    CH_NOTE_RECORDING = 16,
    CH_NOTE_COMPLETED = 32,
    CH_NOTE_PIPELINE = 64,  /* the enrichment pipeline was planned (core/pipeline.h) */
    CH_NOTE_ENRICHED = 128, /* … and is finished */
};

#define CH_OUTBOX_MAX_TYPES 8

typedef struct {
    bool is_new;
    int64_t notified;   /* bits before this change */
    int64_t state_hash; /* before this change */
    ch_status status;   /* before (NONE for a new call) */
    /* the enrichment pipeline is running: call.completed waits for its end (the writer's
     * stage result creates it then) */
    bool hold_completed;
} ch_call_before;

typedef struct {
    const char *types[CH_OUTBOX_MAX_TYPES];
    int n;
    int64_t notified; /* bits after */
} ch_call_plan;

/* Pure: the events a change from b to c (whose hash is hash) causes, in the order they are
 * created. */
void ch_lifecycle_plan(const ch_call_before *b, const ch_callstate *c, int64_t hash,
                       ch_call_plan *out);

#endif
