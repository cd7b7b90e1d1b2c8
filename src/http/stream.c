/* GET /v1/stream and its hub (docs/internals/stream.md).
 *
 * One hub thread subscribes to the change feed. For each change of a tenant that has streams
 * open it builds the SSE event once (a reference-counted frame) and queues a reference on each
 * of that tenant's streams. A stream is a libmicrohttpd callback response: its reader copies
 * queued frames out, and when nothing is queued it suspends the connection and returns 0 (the
 * pattern microhttpd.h prescribes: no busy loop, no thread per stream); the hub resumes it when
 * it queues something. The feed's notify only writes the hub's eventfd: the writer never waits.
 *
 * Locks: the hub's lock guards its incoming list and the stopping flag; each stream's lock
 * guards its queue and its suspended / closing / gone flags. The hub's list of streams, their
 * cursors and replay state belong to the hub thread alone. */
#include "http/stream.h"
#include "http/reply.h"
#include "http/request.h"
#include "http/router.h"
#include "core/feed.h"
#include "util/limits.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/result.h"
#include "util/timeutil.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- frames: an event's bytes, built once and shared by every stream it goes to ------- */

typedef struct {
    atomic_int refs;
    size_t len;
    char data[];
} frame;

static frame *frame_new(const char *p, size_t n)
{
    frame *f = ch_malloc(sizeof *f + n);
    atomic_init(&f->refs, 1);
    f->len = n;
    memcpy(f->data, p, n);
    return f;
}

static frame *frame_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static frame *frame_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0) abort(); /* out of memory */
    frame *f = frame_new(s, (size_t)n);
    free(s);
    return f;
}

static void frame_unref(frame *f)
{
    if (f && atomic_fetch_sub(&f->refs, 1) == 1) free(f);
}

/* ---- streams ---------------------------------------------------------------------------- */

#define LAG_BUCKETS 10
static const int lag_le_ms[LAG_BUCKETS - 1] = {1, 5, 10, 25, 50, 100, 250, 500, 1000};

typedef struct stream {
    pthread_mutex_t lock;
    atomic_int refs; /* the response's and the hub's */
    ch_stream_hub *hub;
    struct MHD_Connection *conn;
    int fd;
    int64_t tenant_id;
    char request_id[32];
    /* under lock */
    frame **q; /* a ring of queued frames */
    size_t qcap, qhead, qlen;
    size_t off;        /* bytes of the head frame already handed to MHD */
    size_t bytes;      /* bytes queued and not yet handed to MHD */
    uint64_t consumed; /* bytes handed to MHD so far */
    bool suspended, closing, cut;
    atomic_bool gone; /* the response is gone: the connection must not be touched */
    /* the hub thread's */
    int64_t resume_from; /* Last-Event-ID, or -1 */
    int64_t last_id;     /* the seq of the last event queued (or the reset cursor) */
    bool adopted, replaying, woken;
    uint64_t consumed_mark; /* consumed at the previous heartbeat */
    bool pending_mark;      /* bytes were queued at the previous heartbeat */
} stream;

struct ch_stream_hub {
    ch_store *store;
    ch_stream_opts o;
    ch_feed_sub *sub;
    int efd;
    pthread_t thread;
    bool started;
    pthread_mutex_t lock;
    bool stopping;     /* under lock */
    stream **incoming; /* under lock: accepted, not yet taken by the hub thread */
    size_t nin, capin;
    stream **streams; /* the hub thread's (and close's, after the join) */
    size_t n, cap;
    int64_t cursor; /* the seq of the last change the hub handled */
    int64_t next_hb_ns;
    atomic_int_fast64_t open, queued_bytes;
    atomic_uint_fast64_t opened, refused, dropped_slow, behind, events, frames_built, resets;
    /* commit → queued on the streams, live events: a histogram in ms (lag_le_ms) */
    atomic_uint_fast64_t lag_hist[LAG_BUCKETS], lag_count, lag_sum_ms;
};

static void stream_unref(stream *s)
{
    if (atomic_fetch_sub(&s->refs, 1) != 1) return;
    for (size_t i = 0; i < s->qlen; i++)
        frame_unref(s->q[(s->qhead + i) % s->qcap]);
    free(s->q);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* Drops what is queued (lock held). */
static void stream_clear(stream *s)
{
    for (size_t i = 0; i < s->qlen; i++)
        frame_unref(s->q[(s->qhead + i) % s->qcap]);
    atomic_fetch_sub(&s->hub->queued_bytes, (int_fast64_t)s->bytes);
    s->qlen = s->qhead = s->off = s->bytes = 0;
}

/* Queues f (taking a reference) unless that would pass the ceiling (lock held). A frame always
 * fits an empty queue, so an event larger than the ceiling still goes out. */
static bool stream_push(stream *s, frame *f)
{
    size_t max = s->hub->o.buffer_max;
    if (s->qlen && (s->bytes + f->len > max || s->qlen >= CH_STREAM_FRAMES_MAX)) return false;
    if (s->qlen == s->qcap) {
        size_t ncap = s->qcap ? s->qcap * 2 : 8;
        frame **nq = ch_malloc(ncap * sizeof *nq);
        for (size_t i = 0; i < s->qlen; i++)
            nq[i] = s->q[(s->qhead + i) % s->qcap];
        free(s->q);
        s->q = nq;
        s->qcap = ncap;
        s->qhead = 0;
    }
    atomic_fetch_add(&f->refs, 1);
    s->q[(s->qhead + s->qlen++) % s->qcap] = f;
    s->bytes += f->len;
    atomic_fetch_add(&s->hub->queued_bytes, (int_fast64_t)f->len);
    return true;
}

/* Wakes the stream's connection if its reader parked it (lock held). */
static void stream_wake(stream *s)
{
    if (s->suspended && !atomic_load(&s->gone)) {
        s->suspended = false;
        MHD_resume_connection(s->conn);
    }
}

/* Ends a stream whose client stopped reading: what is queued is dropped now (its memory is what the
 * ceiling bounds) and the socket shut down so that libmicrohttpd closes it at once, though
 * its client reads nothing. The client reconnects with the id of the last whole event it got.
 * (lock held; the fd is the connection's while gone is false: MHD frees the response before it
 * closes the socket.) */
static void stream_cut(stream *s)
{
    if (s->closing) return;
    s->closing = s->cut = true;
    stream_clear(s);
    if (!atomic_load(&s->gone)) {
        if (s->suspended)
            stream_wake(s);
        else if (s->fd >= 0)
            shutdown(s->fd, SHUT_RDWR);
    }
}

/* The content reader, on the connection's MHD thread. */
static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    stream *s = cls;
    (void)pos;
    pthread_mutex_lock(&s->lock);
    size_t n = 0;
    while (n < max && s->qlen) {
        frame *f = s->q[s->qhead];
        size_t k = f->len - s->off;
        if (k > max - n) k = max - n;
        memcpy(buf + n, f->data + s->off, k);
        n += k;
        s->off += k;
        if (s->off == f->len) {
            frame_unref(f);
            s->qhead = (s->qhead + 1) % s->qcap;
            s->qlen--;
            s->off = 0;
        }
    }
    s->bytes -= n;
    s->consumed += n;
    atomic_fetch_sub(&s->hub->queued_bytes, (int_fast64_t)n);
    ssize_t ret;
    if (n)
        ret = (ssize_t)n;
    else if (s->cut)
        ret = MHD_CONTENT_READER_END_WITH_ERROR; /* no last chunk: the client sees a cut */
    else if (s->closing)
        ret = MHD_CONTENT_READER_END_OF_STREAM;
    else {
        /* nothing to send: parked until the hub queues something (microhttpd.h: suspend and
         * return 0, never 0 alone, which would spin) */
        s->suspended = true;
        MHD_suspend_connection(s->conn);
        ret = 0;
    }
    pthread_mutex_unlock(&s->lock);
    return ret;
}

static void hub_wake(ch_stream_hub *h)
{
    uint64_t one = 1;
    ssize_t w = write(h->efd, &one, sizeof one);
    (void)w; /* a full counter still wakes the hub */
}

/* MHD lets go of the response: the connection is ending. */
static void stream_free(void *cls)
{
    stream *s = cls;
    ch_stream_hub *h = s->hub;
    pthread_mutex_lock(&s->lock);
    atomic_store(&s->gone, true);
    s->closing = true;
    stream_clear(s);
    pthread_mutex_unlock(&s->lock);
    atomic_fetch_sub(&h->open, 1);
    hub_wake(h);
    stream_unref(s);
}

/* ---- building events ------------------------------------------------------------------ */

/* The event for change c, or NULL when there is none to send (another kind, or a call gone). */
static frame *build_event(ch_stream_hub *h, const ch_change *c)
{
    const char *kind = ch_change_kind_str(c->kind);
    json_t *data = NULL;
    const char *event;
    switch (c->kind) {
    case CH_CHANGE_CALL_CREATED:
    case CH_CHANGE_CALL_UPDATED: {
        json_t *call = NULL;
        int rc = ch_store_call_json(h->store, c->tenant_id, c->call_id, &call);
        if (rc) {
            if (rc != CH_ENOTFOUND) {
                ch_logline l;
                if (ch_log_begin(&l, CH_LOG_WARN, "stream_read_failed", NULL)) {
                    ch_log_str(&l, "call_id", c->call_id);
                    ch_log_end(&l);
                }
            }
            return NULL; /* removed since (retention): nothing to show */
        }
        event = "call";
        data = json_pack("{s:s, s:o}", "kind", kind, "call", call);
        break;
    }
    case CH_CHANGE_DELIVERY_CREATED:
    case CH_CHANGE_DELIVERY_SETTLED:
        event = "delivery";
        data = json_pack("{s:s, s:I, s:o}", "kind", kind, "delivery_id", (json_int_t)c->delivery_id,
                         "call_id", c->call_id[0] ? json_string(c->call_id) : json_null());
        break;
    default:
        return NULL;
    }
    /* compact JSON has no line break (strings escape theirs): one data: line */
    char *text = json_dumps(data, JSON_COMPACT);
    json_decref(data);
    if (!text) abort();
    frame *f = frame_printf("id: %" PRId64 "\nevent: %s\ndata: %s\n\n", c->seq, event, text);
    free(text);
    atomic_fetch_add(&h->frames_built, 1);
    return f;
}

/* ---- the hub thread ----------------------------------------------------------------------- */

static void log_stream(const stream *s, const char *event, int64_t value_id)
{
    ch_logline l;
    if (ch_log_begin(&l, CH_LOG_INFO, event, s->request_id)) {
        ch_log_int(&l, "tenant_id", s->tenant_id);
        ch_log_int(&l, "last_id", value_id);
        ch_log_end(&l);
    }
}

/* Queues a live frame on s. False when its buffer is full: the stream has fallen behind. */
static bool deliver(ch_stream_hub *h, stream *s, frame *f, bool event)
{
    bool ok = true;
    pthread_mutex_lock(&s->lock);
    if (!s->closing) {
        ok = stream_push(s, f);
        if (ok) {
            if (event) atomic_fetch_add(&h->events, 1);
            s->woken = true;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return ok;
}

/* Resumes the streams given something since the last call. */
static void wake_streams(ch_stream_hub *h)
{
    for (size_t i = 0; i < h->n; i++) {
        stream *s = h->streams[i];
        if (!s->woken) continue;
        s->woken = false;
        pthread_mutex_lock(&s->lock);
        stream_wake(s);
        pthread_mutex_unlock(&s->lock);
    }
}

static void handle_change(ch_stream_hub *h, const ch_change *c)
{
    if (c->seq <= h->cursor) return; /* already handled (the ring overlaps a resync) */
    if (c->seq > h->cursor + 1) {
        /* a gap: changes committed by another process (callhook import), or dropped from the
         * hub's queue: every stream reads them from the durable log */
        for (size_t i = 0; i < h->n; i++)
            h->streams[i]->replaying = true;
    }
    h->cursor = c->seq;
    frame *f = NULL;
    bool built = false;
    for (size_t i = 0; i < h->n; i++) {
        stream *s = h->streams[i];
        if (s->tenant_id != c->tenant_id || s->replaying || c->seq <= s->last_id) continue;
        if (!built) {
            f = build_event(h, c);
            built = true;
        }
        if (f && !deliver(h, s, f, true)) {
            /* behind: what does not fit is read from the log at the client's pace (a burst
             * does not cost a fast client its connection; one that stops reading is cut at
             * the heartbeat, see heartbeat()) */
            s->replaying = true;
            atomic_fetch_add(&h->behind, 1);
            continue;
        }
        s->last_id = c->seq;
    }
    if (f) {
        /* the commit's time is in ms: so is the lag */
        int64_t lag = ch_now_ms() - c->at;
        if (lag < 0) lag = 0;
        int b = 0;
        while (b < LAG_BUCKETS - 1 && lag > lag_le_ms[b])
            b++;
        atomic_fetch_add(&h->lag_hist[b], 1);
        atomic_fetch_add(&h->lag_count, 1);
        atomic_fetch_add(&h->lag_sum_ms, (uint64_t)lag);
    }
    frame_unref(f);
}

/* One step of a resuming stream: a page of its tenant's changes from the log, up to the hub's
 * cursor (what is beyond it reaches the stream live). Pauses while its buffer is half full. */
static bool replay_step(ch_stream_hub *h, stream *s)
{
    pthread_mutex_lock(&s->lock);
    bool busy = s->bytes > h->o.buffer_max / 2, closing = s->closing;
    pthread_mutex_unlock(&s->lock);
    if (closing) {
        s->replaying = false;
        return true;
    }
    if (busy) return false;
    ch_change_page page = {0};
    int rc =
        ch_store_changes_since(h->store, s->tenant_id, s->last_id, CH_STREAM_REPLAY_PAGE, &page);
    if (rc) {
        /* the log cannot be read now: end the stream, its client comes back with its id */
        pthread_mutex_lock(&s->lock);
        stream_cut(s);
        pthread_mutex_unlock(&s->lock);
        log_stream(s, "stream_replay_failed", s->last_id);
        s->replaying = false;
        return true;
    }
    if (page.reset) {
        /* the id is older than the log keeps (or from another database): the client re-reads
         * the state, then goes on from the head taken before it does */
        frame *f = frame_printf("id: %" PRId64 "\nevent: reset\ndata: {\"cursor\":%" PRId64 "}\n\n",
                                page.next_cursor, page.next_cursor);
        pthread_mutex_lock(&s->lock);
        if (!s->closing && stream_push(s, f)) s->woken = true;
        pthread_mutex_unlock(&s->lock);
        frame_unref(f);
        atomic_fetch_add(&h->resets, 1);
        s->last_id = page.next_cursor;
        ch_change_page_clear(&page);
        return true; /* the next step goes on from the head */
    }
    bool done = page.n < CH_STREAM_REPLAY_PAGE, full = false;
    for (size_t i = 0; i < page.n; i++) {
        const ch_change *c = &page.v[i];
        if (c->seq > h->cursor) {
            done = true;
            break;
        }
        frame *f = build_event(h, c);
        if (f) {
            pthread_mutex_lock(&s->lock);
            /* half the buffer at most: the rest stays free for live frames and heartbeats */
            bool ok = !s->closing && s->bytes <= h->o.buffer_max / 2 && stream_push(s, f);
            if (ok) s->woken = true;
            pthread_mutex_unlock(&s->lock);
            frame_unref(f);
            if (!ok) {
                full = true; /* go on from here when it has drained */
                break;
            }
            atomic_fetch_add(&h->events, 1);
        }
        s->last_id = c->seq;
    }
    if (done && !full) s->replaying = false;
    ch_change_page_clear(&page);
    return true;
}

/* Takes the streams accepted since the last turn. */
static void adopt(ch_stream_hub *h)
{
    pthread_mutex_lock(&h->lock);
    stream **in = h->incoming;
    size_t nin = h->nin;
    h->incoming = NULL;
    h->nin = h->capin = 0;
    pthread_mutex_unlock(&h->lock);
    for (size_t i = 0; i < nin; i++) {
        stream *s = in[i];
        if (h->n == h->cap) {
            h->cap = h->cap ? h->cap * 2 : 64;
            h->streams = ch_realloc(h->streams, h->cap * sizeof *h->streams);
        }
        h->streams[h->n++] = s;
        s->adopted = true;
        if (s->resume_from >= 0) {
            s->last_id = s->resume_from;
            s->replaying = true;
        } else {
            s->last_id = h->cursor; /* live from now */
        }
    }
    free(in);
}

/* Lets go of the streams whose connection has ended. */
static void sweep(ch_stream_hub *h)
{
    size_t k = 0;
    for (size_t i = 0; i < h->n; i++) {
        stream *s = h->streams[i];
        if (atomic_load(&s->gone))
            stream_unref(s);
        else
            h->streams[k++] = s;
    }
    h->n = k;
}

/* A ": hb" on every stream. A stream that had bytes queued at the previous heartbeat, still
 * has, and took none since, has a client that stopped reading: it is cut, its memory freed,
 * and its client (if it ever reads again) resumes by id. A stream that has bytes queued
 * needs no heartbeat. */
static void heartbeat(ch_stream_hub *h)
{
    frame *f = frame_new(": hb\n\n", 6);
    for (size_t i = 0; i < h->n; i++) {
        stream *s = h->streams[i];
        pthread_mutex_lock(&s->lock);
        bool stalled =
            !s->closing && s->pending_mark && s->bytes && s->consumed == s->consumed_mark;
        s->consumed_mark = s->consumed;
        s->pending_mark = s->bytes > 0; /* before this heartbeat: it is not a backlog */
        if (stalled) {
            stream_cut(s);
            atomic_fetch_add(&h->dropped_slow, 1);
        } else if (!s->closing && !s->bytes && stream_push(s, f)) {
            s->woken = true;
        }
        pthread_mutex_unlock(&s->lock);
        if (stalled) log_stream(s, "stream_dropped_slow", s->last_id);
    }
    frame_unref(f);
}

static void *hub_main(void *arg)
{
    ch_stream_hub *h = arg;
    ch_change buf[32];     /* small: streams are woken after each batch, and a batch reads calls */
    bool progress = false; /* a replay moved: go on at once */
    for (;;) {
        bool replays = false;
        for (size_t i = 0; i < h->n && !replays; i++)
            replays = h->streams[i]->replaying;
        int64_t now = ch_mono_ns();
        int timeout = (int)((h->next_hb_ns - now + 999999) / 1000000);
        /* replays waiting for their client to read: looked at again soon (the reader does
         * not wake the hub) */
        if (replays) timeout = progress ? 0 : timeout < 20 ? timeout : 20;
        if (timeout < 0) timeout = 0;
        struct pollfd p = {.fd = h->efd, .events = POLLIN};
        if (poll(&p, 1, timeout) > 0) {
            uint64_t v;
            ssize_t r = read(h->efd, &v, sizeof v);
            (void)r;
        }
        pthread_mutex_lock(&h->lock);
        bool stopping = h->stopping;
        pthread_mutex_unlock(&h->lock);
        if (stopping) break;
        sweep(h);
        adopt(h);
        for (int rounds = 0; rounds < 512; rounds++) {
            size_t n = 0;
            int rc = ch_feed_read(h->sub, buf, sizeof buf / sizeof *buf, &n);
            for (size_t i = 0; i < n; i++)
                handle_change(h, &buf[i]);
            if (rc == CH_ELIMIT) {
                /* the queue overflowed: whatever was dropped is at most the head now, and every
                 * stream reads it from the log; the queue has new changes again from here */
                int64_t head = ch_feed_head(ch_store_feed(h->store));
                if (head > h->cursor) {
                    h->cursor = head;
                    for (size_t i = 0; i < h->n; i++)
                        h->streams[i]->replaying = true;
                }
            }
            wake_streams(h); /* per batch: the first streams need not wait for the last */
            if (!n && rc != CH_ELIMIT) break;
        }
        progress = false;
        for (size_t i = 0; i < h->n; i++)
            if (h->streams[i]->replaying && replay_step(h, h->streams[i])) progress = true;
        now = ch_mono_ns();
        if (now >= h->next_hb_ns) {
            heartbeat(h);
            h->next_hb_ns = now + (int64_t)h->o.heartbeat_ms * 1000000;
        }
        wake_streams(h);
    }
    return NULL;
}

static void feed_notify(void *arg)
{
    hub_wake(arg);
}

ch_stream_hub *ch_stream_hub_start(ch_store *store, const ch_stream_opts *o)
{
    ch_stream_hub *h = ch_calloc(1, sizeof *h);
    h->store = store;
    h->o = *o;
    h->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (h->efd < 0) {
        free(h);
        return NULL;
    }
    pthread_mutex_init(&h->lock, NULL);
    ch_feed *feed = ch_store_feed(store);
    h->sub = ch_feed_subscribe(feed, CH_CHANGE_ALL, CH_STREAM_HUB_QUEUE, feed_notify, h);
    /* subscribed first: what commits from here on is in the queue (seqs up to the head are
     * skipped there), so nothing falls between the head and the queue */
    h->cursor = ch_feed_head(feed);
    h->next_hb_ns = ch_mono_ns() + (int64_t)o->heartbeat_ms * 1000000;
    if (pthread_create(&h->thread, NULL, hub_main, h) != 0) {
        ch_feed_unsubscribe(h->sub);
        close(h->efd);
        pthread_mutex_destroy(&h->lock);
        free(h);
        return NULL;
    }
    pthread_setname_np(h->thread, "ch-stream");
    h->started = true;
    return h;
}

/* Ends one stream at shutdown (its lock not held). */
static void end_stream(stream *s)
{
    pthread_mutex_lock(&s->lock);
    if (!s->closing) {
        s->closing = true;
        if (!atomic_load(&s->gone)) {
            if (s->suspended)
                stream_wake(s); /* its reader ends the response */
            else if (s->bytes > s->hub->o.buffer_max / 2)
                stream_cut(s); /* a client that does not read must not hold the stop */
        }
    }
    pthread_mutex_unlock(&s->lock);
}

void ch_stream_hub_close(ch_stream_hub *h)
{
    if (!h) return;
    pthread_mutex_lock(&h->lock);
    h->stopping = true;
    pthread_mutex_unlock(&h->lock);
    hub_wake(h);
    if (h->started) pthread_join(h->thread, NULL);
    h->started = false;
    if (h->sub) ch_feed_unsubscribe(h->sub);
    h->sub = NULL;
    for (size_t i = 0; i < h->n; i++)
        end_stream(h->streams[i]);
    pthread_mutex_lock(&h->lock);
    for (size_t i = 0; i < h->nin; i++)
        end_stream(h->incoming[i]);
    pthread_mutex_unlock(&h->lock);
}

void ch_stream_hub_free(ch_stream_hub *h)
{
    if (!h) return;
    ch_stream_hub_close(h);
    for (size_t i = 0; i < h->n; i++)
        stream_unref(h->streams[i]);
    for (size_t i = 0; i < h->nin; i++)
        stream_unref(h->incoming[i]);
    free(h->streams);
    free(h->incoming);
    close(h->efd);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

void ch_stream_get_stats(ch_stream_hub *h, ch_stream_stats *out)
{
    *out = (ch_stream_stats){
        .open = atomic_load(&h->open),
        .queued_bytes = atomic_load(&h->queued_bytes),
        .opened = atomic_load(&h->opened),
        .refused = atomic_load(&h->refused),
        .dropped_slow = atomic_load(&h->dropped_slow),
        .behind = atomic_load(&h->behind),
        .events = atomic_load(&h->events),
        .frames_built = atomic_load(&h->frames_built),
        .resets = atomic_load(&h->resets),
    };
}

int ch_stream_metrics(ch_stream_hub *h, ch_buf *b)
{
    ch_stream_stats st;
    ch_stream_get_stats(h, &st);
    int rc = ch_buf_puts(b, "# HELP callhook_stream_lag_seconds Time from a change's commit to its "
                            "event queued on the streams (live events; millisecond "
                            "resolution).\n# TYPE callhook_stream_lag_seconds histogram\n");
    uint64_t cum = 0;
    for (int i = 0; i < LAG_BUCKETS && !rc; i++) {
        cum += atomic_load(&h->lag_hist[i]);
        if (i < LAG_BUCKETS - 1)
            rc = ch_buf_printf(b, "callhook_stream_lag_seconds_bucket{le=\"%g\"} %llu\n",
                               lag_le_ms[i] / 1000.0, (unsigned long long)cum);
        else
            rc = ch_buf_printf(b, "callhook_stream_lag_seconds_bucket{le=\"+Inf\"} %llu\n",
                               (unsigned long long)cum);
    }
    if (!rc)
        rc = ch_buf_printf(
            b, "callhook_stream_lag_seconds_sum %.3f\ncallhook_stream_lag_seconds_count %llu\n",
            atomic_load(&h->lag_sum_ms) / 1000.0, (unsigned long long)atomic_load(&h->lag_count));
    if (rc) return rc;
    return ch_buf_printf(
        b,
        "# HELP callhook_stream_open Live-update streams (GET /v1/stream) open.\n"
        "# TYPE callhook_stream_open gauge\ncallhook_stream_open %lld\n"
        "# HELP callhook_stream_queued_bytes Bytes queued on the streams, not yet sent.\n"
        "# TYPE callhook_stream_queued_bytes gauge\ncallhook_stream_queued_bytes %lld\n"
        "# HELP callhook_stream_opened_total Streams accepted.\n"
        "# TYPE callhook_stream_opened_total counter\ncallhook_stream_opened_total %llu\n"
        "# HELP callhook_stream_refused_total Streams refused past server.max_streams.\n"
        "# TYPE callhook_stream_refused_total counter\ncallhook_stream_refused_total %llu\n"
        "# HELP callhook_stream_dropped_slow_total Streams closed because their client stopped "
        "reading (bytes queued and none taken for a heartbeat interval).\n"
        "# TYPE callhook_stream_dropped_slow_total counter\n"
        "callhook_stream_dropped_slow_total %llu\n"
        "# HELP callhook_stream_behind_total Times a stream's buffer was full and it went on "
        "from the durable log at its client's pace.\n"
        "# TYPE callhook_stream_behind_total counter\ncallhook_stream_behind_total %llu\n"
        "# HELP callhook_stream_events_total Events queued on streams (one per stream).\n"
        "# TYPE callhook_stream_events_total counter\ncallhook_stream_events_total %llu\n"
        "# HELP callhook_stream_events_built_total Events built (once per change, shared).\n"
        "# TYPE callhook_stream_events_built_total counter\n"
        "callhook_stream_events_built_total %llu\n"
        "# HELP callhook_stream_resets_total Reset events (an id older than the log keeps).\n"
        "# TYPE callhook_stream_resets_total counter\ncallhook_stream_resets_total %llu\n",
        (long long)st.open, (long long)st.queued_bytes, (unsigned long long)st.opened,
        (unsigned long long)st.refused, (unsigned long long)st.dropped_slow,
        (unsigned long long)st.behind, (unsigned long long)st.events,
        (unsigned long long)st.frames_built, (unsigned long long)st.resets);
}

/* ---- the route ---------------------------------------------------------------------------- */

/* A cursor: decimal digits, at most 18 (an int64 without overflow). */
static bool parse_id(const char *v, int64_t *out)
{
    size_t n = strlen(v);
    if (!n || n > 18 || strspn(v, "0123456789") != n) return false;
    *out = strtoll(v, NULL, 10);
    return true;
}

static enum MHD_Result handle_stream(ch_request *r, const ch_route_args *a)
{
    ch_stream_hub *h = r->srv->hub;
    int64_t from = -1;
    const char *v = ch_header(r, "Last-Event-ID");
    const char *field = "Last-Event-ID";
    if (!v || !*v) {
        v = ch_query(r, "last_event_id");
        field = "last_event_id";
    }
    if (v && *v && !parse_id(v, &from))
        return ch_reply_error(r, 400, "bad_request", field, "%s must be an event id", field);
    if (!h) return ch_reply_error(r, 503, "unavailable", NULL, "live updates are not running");
    if (atomic_fetch_add(&h->open, 1) >= h->o.max_streams) {
        atomic_fetch_sub(&h->open, 1);
        atomic_fetch_add(&h->refused, 1);
        r->retry_after = CH_STREAM_RETRY_AFTER;
        return ch_reply_error(r, 503, "too_many_streams", NULL,
                              "%d streams are open (server.max_streams); retry later",
                              h->o.max_streams);
    }
    stream *s = ch_calloc(1, sizeof *s);
    pthread_mutex_init(&s->lock, NULL);
    atomic_init(&s->refs, 2);
    s->hub = h;
    s->conn = r->conn;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    s->fd = ci ? ci->connect_fd : -1;
    s->tenant_id = a->tenant_id;
    s->resume_from = from;
    snprintf(s->request_id, sizeof s->request_id, "%s", r->id);
    /* the reconnection delay an EventSource uses after a cut */
    frame *f = frame_new("retry: 3000\n\n", 13);
    stream_push(s, f);
    frame_unref(f);
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024,
                                                                  stream_reader, s, stream_free);
    if (!resp) {
        stream_free(s); /* as MHD would: the hub never saw it */
        stream_unref(s);
        return ch_reply_error(r, 503, "unavailable", NULL, "the stream cannot start");
    }
    atomic_fetch_add(&h->opened, 1);
    pthread_mutex_lock(&h->lock);
    if (h->stopping) {
        s->closing = true; /* shutting down: the retry line, then the end */
        stream_unref(s);
    } else {
        if (h->nin == h->capin) {
            h->capin = h->capin ? h->capin * 2 : 16;
            h->incoming = ch_realloc(h->incoming, h->capin * sizeof *h->incoming);
        }
        h->incoming[h->nin++] = s;
    }
    pthread_mutex_unlock(&h->lock);
    hub_wake(h);
    MHD_add_response_header(resp, "Content-Type", "text/event-stream; charset=utf-8");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    return ch_reply_queue(r, 200, resp);
}

int ch_stream_routes(ch_router *rt)
{
    return ch_router_add(rt, CH_M_GET, "/v1/stream", CH_RA_API_KEY, CH_ROUTE_STREAM, handle_stream,
                         NULL);
}
