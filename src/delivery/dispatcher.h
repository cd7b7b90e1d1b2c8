/* The dispatcher (docs/webhooks.md): threads that take due deliveries from the outbox (each
 * its own shard of them; a call's next one is due only once the one before is settled) and
 * send them signed over libcurl's multi interface (many in flight, connections reused),
 * decides what each answer means (success, retry and when, dead letter, disable) and hands
 * the results to the store's writer, which records them with the attempt log. */
#ifndef CH_DISPATCHER_H
#define CH_DISPATCHER_H

#include <stdint.h>

#include "store/store.h"

typedef struct {
    const char *allow_private;  /* CIDRs that may be reached though not public; "" = none */
    const char *retry_schedule; /* the default schedule (tenants may have their own) */
    int concurrency;            /* transfers in flight at once, all threads together */
    int threads;                /* sending threads; each takes a shard of the deliveries */
} ch_dispatcher_opts;

typedef struct {
    uint64_t attempts, succeeded, retried, dead, refused_ssrf;
    int64_t in_flight;
} ch_dispatcher_stats;

typedef struct ch_dispatcher ch_dispatcher;

/* Starts the threads; they also wake whenever the store commits new deliveries (a wake-up
 * subscriber of the change feed, to delivery.created). */
int ch_dispatcher_start(ch_dispatcher **out, ch_store *s, const ch_dispatcher_opts *o);
/* Something may be due now: the change feed's notification (delivery.created) calls it. */
void ch_dispatcher_poke(ch_dispatcher *d);
/* Stops taking new work, lets transfers in flight finish for up to grace_ms (their results are
 * recorded), abandons the rest (still pending: sent again, with the same webhook-id, after a
 * restart). Call before ch_store_close. */
void ch_dispatcher_stop(ch_dispatcher *d, int grace_ms);
void ch_dispatcher_get_stats(ch_dispatcher *d, ch_dispatcher_stats *out);

#endif
