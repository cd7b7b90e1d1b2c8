/* What one delivery attempt's result implies (docs/webhooks.md "Delivery and retries"): for the
 * delivery, for the later deliveries of its call and endpoint, and for the endpoint (its failing
 * clock, disabling it). Pure and backend-neutral: the dispatcher decides the outcome, this says
 * what follows from it, and the store backend carries the steps out in the result's transaction. */
#ifndef CH_SETTLE_H
#define CH_SETTLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What one delivery attempt ended in, as decided by the dispatcher (docs/webhooks.md). */
typedef enum {
    CH_DLV_SUCCEEDED = 0,
    CH_DLV_RETRY,  /* failed; next attempt at next_at */
    CH_DLV_FAILED, /* failed for good: dead letter (replayable) */
    CH_DLV_PAUSE,  /* no attempt: the endpoint is throttled until pause_until */
} ch_dlv_outcome;

typedef struct {
    int64_t delivery_id, tenant_id, endpoint_id;
    char *call_id; /* NULL for messages of no call */
    ch_dlv_outcome outcome;
    int64_t at, latency_ms; /* start of the attempt (ms UTC), its duration */
    int status;             /* HTTP status, 0 when there was no answer */
    char *error;            /* why it failed, NULL on success */
    char *response;         /* first CH_RESPONSE_KEEP bytes of the answer's body */
    size_t response_len;
    bool manual;                /* a replay or test: one attempt, no retries */
    int prior_attempts;         /* attempts made before this one */
    int64_t next_at;            /* CH_DLV_RETRY */
    int64_t pause_until;        /* > 0: nothing more to this endpoint before then */
    const char *disable_reason; /* static; non-NULL: disable the endpoint (410 Gone) */
} ch_delivery_result;

/* Frees the strings of r and zeroes it. */
void ch_delivery_result_clear(ch_delivery_result *r);

/* The steps a result implies, in the order the backend takes them. */
typedef struct {
    /* record the attempt and set the delivery's state (and one attempt more) */
    bool attempt;
    const char *state; /* deliveries.state: "succeeded", "pending" (a retry) or "failed" */
    /* report delivery.settled on the change feed, when the settle changed the row: a late result
     * for a delivery settled meanwhile (its endpoint disabled) reports nothing */
    bool report_settled;
    /* the call's later pending deliveries to this endpoint wait for next_at: per-call order */
    bool hold_call;
    /* every pending delivery to the endpoint waits for pause_until (429/503, rate limit) */
    bool hold_endpoint;
    /* the call's later deliveries held back by this one go now: only a delivery that was
     * retried (or a manual one) can have held them, so a first-attempt success frees nothing */
    bool release_call;
    /* the endpoint's failing clock stops (failing_since cleared): any success resets it */
    bool endpoint_ok;
    /* disable the endpoint now, for r->disable_reason (410 Gone); nothing else for the endpoint */
    bool disable;
    /* the failing clock starts if it is not running (failing_since = now); then
     * ch_settle_disable_due says whether the endpoint is to be disabled. A manual attempt (a
     * replay or test) does not count: it says nothing about the endpoint's live traffic */
    bool endpoint_failing;
} ch_settle_plan;

void ch_settle_plan_of(const ch_delivery_result *r, ch_settle_plan *out);

/* Disabled after this long by default (delivery.disable_after): 5 days */
#define CH_SETTLE_DISABLE_AFTER_MS (5LL * 86400 * 1000)
/* The disabled_reason of an endpoint disabled by its failing clock */
#define CH_SETTLE_DISABLE_REASON "every message failed all its attempts for days"

/* Svix's rule: an enabled endpoint is disabled when messages still exhaust their retries
 * disable_after_ms (<= 0: the default) after the first one did (failing_since). */
bool ch_settle_disable_due(int64_t failing_since, int64_t now, int64_t disable_after_ms);

#endif
