/* Which lifecycle events a change of a call causes (docs/webhooks.md): pure, backend-neutral;
 * the store writes the messages it names in the transaction of the change. */
#include "core/lifecycle.h"

static bool failure_disposition(ch_disposition d)
{
    return d == CH_DISP_NO_ANSWER || d == CH_DISP_BUSY || d == CH_DISP_FAILED ||
           d == CH_DISP_CANCELED;
}

void ch_lifecycle_plan(const ch_call_before *b, const ch_callstate *c, int64_t hash,
                       ch_call_plan *out)
{
    int64_t n = b->is_new ? 0 : b->notified;
    out->n = 0;
#define ADD(t) (out->types[out->n++] = (t))
    if (!(n & CH_NOTE_STARTED)) {
        ADD("call.started");
        n |= CH_NOTE_STARTED;
    }
    ch_status before = b->is_new ? CH_STATUS_NONE : b->status;
    ch_status now = c->status == CH_STATUS_NONE ? CH_STATUS_QUEUED : c->status;
    if (before != now) ADD("call.status_changed");
    bool answered = c->disposition == CH_DISP_ANSWERED || c->answered_at != CH_TIME_UNSET ||
                    c->status == CH_STATUS_IN_PROGRESS;
    if (answered && !(n & CH_NOTE_ANSWERED)) {
        ADD("call.answered");
        n |= CH_NOTE_ANSWERED;
    }
    if (c->recording_url && !(n & CH_NOTE_RECORDING)) {
        ADD("call.recording_ready");
        n |= CH_NOTE_RECORDING;
    }
    bool ended = c->status == CH_STATUS_ENDED;
    if (ended && !(n & CH_NOTE_ENDED)) {
        ADD("call.ended");
        n |= CH_NOTE_ENDED;
    }
    if (ended && failure_disposition(c->disposition) && !(n & CH_NOTE_FAILED)) {
        ADD("call.failed");
        n |= CH_NOTE_FAILED;
    }
    /* A call is complete when it ends, unless its enrichment pipeline runs: then the stage
     * result that finishes the pipeline (or its deadline) creates call.completed. */
    if (ended && !(n & CH_NOTE_COMPLETED) && !b->hold_completed) {
        ADD("call.completed");
        n |= CH_NOTE_COMPLETED;
    } else if (!b->is_new && (b->notified & CH_NOTE_COMPLETED) && hash != b->state_hash) {
        ADD("call.updated");
    }
#undef ADD
    out->notified = n;
}
