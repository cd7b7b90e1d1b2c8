/* The change feed (docs/internals/change-feed.md): what each commit changed, in commit order.
 * The store writes every change to a durable log in the transaction that makes it (so a cursor
 * survives restarts) and, after the commit, publishes the same records here for the subscribers
 * of this process. Backend-neutral: no database in this file. */
#ifndef CH_FEED_H
#define CH_FEED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/limits.h"

typedef enum {
    CH_CHANGE_CALL_CREATED = 1, /* version 1 */
    CH_CHANGE_CALL_UPDATED,     /* version: the call's new version */
    CH_CHANGE_DELIVERY_CREATED, /* a delivery is pending: something for the dispatcher */
    CH_CHANGE_DELIVERY_SETTLED, /* succeeded, or failed for good */
    CH_CHANGE_JOB_DUE,          /* an enrichment job is due (reserved: no producer yet) */
    CH_CHANGE_KIND_MAX
} ch_change_kind;

#define CH_CHANGE_MASK(k) (1u << (k))
#define CH_CHANGE_ALL     0xffffffffu
#define CH_CHANGE_CALL_ID 32 /* "c_" + 20 hex digits fit with room */

typedef struct {
    int64_t seq; /* the cursor: strictly increasing in commit order */
    int64_t tenant_id;
    ch_change_kind kind;
    char call_id[CH_CHANGE_CALL_ID]; /* "" when none */
    int64_t delivery_id;             /* 0 when none */
    int64_t version;                 /* the call's version after the change; 0 when none */
    int64_t at;                      /* commit time, ms UTC */
} ch_change;

/* "call.created", …; NULL for an unknown kind. */
const char *ch_change_kind_str(ch_change_kind k);
/* The kind named s, or 0. */
ch_change_kind ch_change_kind_parse(const char *s);

typedef struct ch_feed ch_feed;
typedef struct ch_feed_sub ch_feed_sub;

ch_feed *ch_feed_new(void);
/* Every subscriber must be gone. */
void ch_feed_free(ch_feed *f);

/* Called by the store's writer after a commit, with that commit's changes in seq order. Never
 * waits on a subscriber: a full queue makes its subscriber fall behind (ch_feed_read). */
void ch_feed_publish(ch_feed *f, const ch_change *v, size_t n);
/* The seq of the newest change published (or set by ch_feed_set_head), 0 when none. */
int64_t ch_feed_head(ch_feed *f);
/* At start, the newest seq in the durable log. */
void ch_feed_set_head(ch_feed *f, int64_t seq);

/* notify runs on the publishing thread, under the feed's lock, after a publish that gave the
 * subscriber something (or made it fall behind): it must not block or call into the feed
 * (e.g. write an eventfd, signal a condition variable). */
typedef void (*ch_feed_notify_fn)(void *arg);

/* A subscriber to the kinds in mask (CH_CHANGE_MASK bits) with a queue of capacity changes
 * (at most CH_FEED_MAX_QUEUE). capacity 0: a wake-up only subscriber, notified when a matching
 * change commits; it reads the durable log if it wants the records. */
ch_feed_sub *ch_feed_subscribe(ch_feed *f, unsigned mask, size_t capacity, ch_feed_notify_fn fn,
                               void *arg);
/* After this returns, notify is not running and will not run again. */
void ch_feed_unsubscribe(ch_feed_sub *s);
/* Takes up to max queued changes, oldest first, into out; *n how many. CH_OK, or CH_ELIMIT once
 * the queue has been drained after it overflowed: changes were dropped after the last one
 * returned. The subscriber then reads the durable log from its cursor (the seq of the last
 * change it handled) until it is caught up, and goes on with ch_feed_read, skipping changes
 * whose seq is not above its cursor. The queue takes new changes again from that return on. */
int ch_feed_read(ch_feed_sub *s, ch_change *out, size_t max, size_t *n);
/* Changes dropped for this subscriber so far (a gauge for /metrics). */
uint64_t ch_feed_sub_dropped(ch_feed_sub *s);

#endif
