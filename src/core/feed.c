/* See feed.h. One mutex guards the subscriber list and every queue: a publish is a copy of a
 * few dozen bytes per change and subscriber, so the writer holds it for microseconds. */
#include "core/feed.h"
#include "util/mem.h"
#include "util/result.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[CH_CHANGE_KIND_MAX] = {
    [CH_CHANGE_CALL_CREATED] = "call.created",
    [CH_CHANGE_CALL_UPDATED] = "call.updated",
    [CH_CHANGE_DELIVERY_CREATED] = "delivery.created",
    [CH_CHANGE_DELIVERY_SETTLED] = "delivery.settled",
    [CH_CHANGE_JOB_DUE] = "job.due",
};

const char *ch_change_kind_str(ch_change_kind k)
{
    return k > 0 && k < CH_CHANGE_KIND_MAX ? kind_names[k] : NULL;
}

ch_change_kind ch_change_kind_parse(const char *s)
{
    for (int k = 1; s && k < CH_CHANGE_KIND_MAX; k++)
        if (strcmp(s, kind_names[k]) == 0) return (ch_change_kind)k;
    return 0;
}

struct ch_feed_sub {
    ch_feed *feed;
    ch_feed_sub *next;
    unsigned mask;
    ch_change *ring; /* capacity slots; head: oldest, len: how many */
    size_t cap, head, len;
    bool overflowed;
    uint64_t dropped;
    ch_feed_notify_fn fn;
    void *arg;
};

struct ch_feed {
    pthread_mutex_t lock;
    ch_feed_sub *subs;
    int64_t head;
};

ch_feed *ch_feed_new(void)
{
    ch_feed *f = ch_calloc(1, sizeof *f);
    pthread_mutex_init(&f->lock, NULL);
    return f;
}

void ch_feed_free(ch_feed *f)
{
    if (!f) return;
    pthread_mutex_destroy(&f->lock);
    free(f);
}

void ch_feed_publish(ch_feed *f, const ch_change *v, size_t n)
{
    if (n == 0) return;
    pthread_mutex_lock(&f->lock);
    if (v[n - 1].seq > f->head) f->head = v[n - 1].seq;
    for (ch_feed_sub *s = f->subs; s; s = s->next) {
        bool wake = false;
        for (size_t i = 0; i < n; i++) {
            if (!(s->mask & CH_CHANGE_MASK(v[i].kind))) continue;
            if (s->cap == 0) {
                wake = true;
                break;
            }
            if (s->overflowed || s->len == s->cap) {
                /* a slow subscriber falls behind; the writer never waits for it */
                wake |= !s->overflowed;
                s->overflowed = true;
                s->dropped++;
                continue;
            }
            s->ring[(s->head + s->len++) % s->cap] = v[i];
            wake = true;
        }
        if (wake && s->fn) s->fn(s->arg);
    }
    pthread_mutex_unlock(&f->lock);
}

int64_t ch_feed_head(ch_feed *f)
{
    pthread_mutex_lock(&f->lock);
    int64_t h = f->head;
    pthread_mutex_unlock(&f->lock);
    return h;
}

void ch_feed_set_head(ch_feed *f, int64_t seq)
{
    pthread_mutex_lock(&f->lock);
    if (seq > f->head) f->head = seq;
    pthread_mutex_unlock(&f->lock);
}

ch_feed_sub *ch_feed_subscribe(ch_feed *f, unsigned mask, size_t capacity, ch_feed_notify_fn fn,
                               void *arg)
{
    ch_feed_sub *s = ch_calloc(1, sizeof *s);
    s->feed = f;
    s->mask = mask;
    s->cap = capacity > CH_FEED_MAX_QUEUE ? CH_FEED_MAX_QUEUE : capacity;
    if (s->cap) s->ring = ch_calloc(s->cap, sizeof *s->ring);
    s->fn = fn;
    s->arg = arg;
    pthread_mutex_lock(&f->lock);
    s->next = f->subs;
    f->subs = s;
    pthread_mutex_unlock(&f->lock);
    return s;
}

void ch_feed_unsubscribe(ch_feed_sub *s)
{
    if (!s) return;
    ch_feed *f = s->feed;
    pthread_mutex_lock(&f->lock);
    for (ch_feed_sub **p = &f->subs; *p; p = &(*p)->next)
        if (*p == s) {
            *p = s->next;
            break;
        }
    pthread_mutex_unlock(&f->lock);
    free(s->ring);
    free(s);
}

int ch_feed_read(ch_feed_sub *s, ch_change *out, size_t max, size_t *n)
{
    pthread_mutex_lock(&s->feed->lock);
    size_t k = 0;
    while (k < max && s->len > 0) {
        out[k++] = s->ring[s->head];
        s->head = (s->head + 1) % s->cap;
        s->len--;
    }
    int rc = CH_OK;
    if (s->len == 0 && s->overflowed && k == 0) {
        /* reported once the queue is drained, so the caller's cursor is the last change
         * before the gap */
        s->overflowed = false;
        rc = CH_ELIMIT;
    }
    pthread_mutex_unlock(&s->feed->lock);
    *n = k;
    return rc;
}

uint64_t ch_feed_sub_dropped(ch_feed_sub *s)
{
    pthread_mutex_lock(&s->feed->lock);
    uint64_t d = s->dropped;
    pthread_mutex_unlock(&s->feed->lock);
    return d;
}
