/* See dispatcher.h. Each worker thread owns a curl multi handle driven by epoll and
 * curl_multi_socket_action, so its work follows the sockets that are ready rather than the
 * transfers in flight; other threads only write its eventfd and append to the settled list
 * under its mutex. */
#include "delivery/dispatcher.h"
#include "delivery/endpoint.h"
#include "delivery/schedule.h"
#include "delivery/sign.h"
#include "delivery/ssrf.h"
#include "util/cidr.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/result.h"
#include "util/timeutil.h"

#include <ctype.h>
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct ch_worker ch_worker;
typedef struct ch_xfer ch_xfer;
struct ch_xfer {
    ch_worker *d;
    ch_xfer *prev, *next; /* every transfer in flight (to abandon them at stop) */
    ch_due_delivery due;  /* owned */
    struct host *host;
    CURL *h;
    struct curl_slist *hdrs;
    char *body;
    size_t body_len;
    int64_t retry_after_ms;
    int64_t started_ms, t0_ns;
    const char *refused; /* SSRF reason, static */
    char refused_addr[64];
    char errbuf[CURL_ERROR_SIZE];
};

/* A set of delivery ids (open addressing, backward-shift deletion): what is in flight or
 * waiting for its result to commit, so a fetch does not start it twice. */
typedef struct {
    int64_t *slot;
    size_t mask, n;
} idset;

typedef struct {
    int64_t tenant_id, endpoint_id;
    double tokens;
    int64_t last_ms;
} bucket;

typedef struct {
    ch_write_job job;
    ch_worker *d;
    ch_delivery_result *r;
    size_t n;
} result_job;

/* What the epoll set holds for a descriptor. Connection sockets (opened and closed through
 * our callbacks, so their end is known) stay in the set between the transfers of a kept-alive
 * connection (curl says "remove" after each): reusing a connection costs no epoll_ctl, and one
 * that becomes ready while curl does not watch it (the receiver closed it) is taken out then.
 * Other descriptors curl watches (the threaded resolver's socket pair) are closed by curl
 * itself, so they leave the set as soon as curl says "remove": a stale entry would hide the
 * next socket that gets the same number. */
typedef struct {
    uint32_t events;
    bool in_set, wanted, ours;
} fdstate;

struct host {
    struct host *next;
    char *key;
    int in_flight, refs; /* refs: queued and in flight */
};

struct queued {
    ch_due_delivery due;
    int64_t at;
    struct host *host;
};

/* One of the dispatcher's threads: it sends the deliveries of its shard of the calls. */
struct ch_worker {
    ch_store *s;
    int shard, nshards;
    ch_due_scan *scan; /* its reader of the outbox */
    int ep, wake_fd;   /* epoll set (curl's sockets and wake_fd); eventfd for pokes */
    fdstate *fds;      /* by descriptor */
    size_t nfds;
    int64_t curl_timer; /* when curl wants socket_action(TIMEOUT); -1: no timer */
    char *allow_private;
    ch_retry_schedule sched;
    int concurrency;
    CURLM *multi;
    ch_signer *signer;
    pthread_t th;
    atomic_bool stopping, poked;
    int64_t grace_until;
    idset busy; /* queued, in flight, or waiting for its result to commit */
    int busy_cap;
    int in_flight;
    /* fetched and not started yet, oldest first: a fetch reads many rows in one read
     * transaction, whose fixed cost is high because the writer's commits empty the reader's
     * page cache every time */
    struct queued *queue;
    size_t qlen, qcap;
    /* receivers by scheme and authority: what is in flight to each, so no more transfers
     * start for one than curl may open connections to it (more would wait inside curl,
     * which costs ~10 % more CPU per delivery than waiting here) */
    struct host **hosts; /* hash table, chained */
    size_t nhost_slots;
    int per_host;
    ch_xfer *xfers;
    CURL **spare; /* finished easy handles, reset, for the next transfers */
    size_t nspare;
    uint64_t rng;
    bucket *buckets;
    size_t nbuckets;
    int64_t store_backoff_until;
    /* settled: results the writer committed (or failed to) */
    pthread_mutex_t lock;
    int64_t *settled;
    size_t nsettled, capsettled;
    int jobs_out; /* result jobs not yet done */
    /* results not yet handed to the writer: gathered for up to RESULT_HOLD_MS, so the writer
     * gets fewer, larger jobs and both threads fewer wake-ups */
    ch_delivery_result *acc;
    size_t nacc, capacc;
    int64_t acc_since;
    bool store_failed;
    ch_dispatcher_stats stats;
};

/* ---- id set ------------------------------------------------------------------------- */

static size_t id_hash(int64_t id, size_t mask)
{
    uint64_t z = (uint64_t)id * 0x9e3779b97f4a7c15ULL;
    return (size_t)(z >> 32) & mask;
}

static bool idset_has(const idset *s, int64_t id)
{
    for (size_t i = id_hash(id, s->mask);; i = (i + 1) & s->mask) {
        if (s->slot[i] == id) return true;
        if (s->slot[i] == 0) return false;
    }
}

static void idset_add(idset *s, int64_t id)
{
    size_t i = id_hash(id, s->mask);
    while (s->slot[i] != 0 && s->slot[i] != id)
        i = (i + 1) & s->mask;
    if (s->slot[i] == 0) s->n++;
    s->slot[i] = id;
}

static void idset_del(idset *s, int64_t id)
{
    size_t i = id_hash(id, s->mask);
    while (s->slot[i] != id) {
        if (s->slot[i] == 0) return;
        i = (i + 1) & s->mask;
    }
    s->slot[i] = 0;
    s->n--;
    /* shift back the entries of the run after the hole that belong before it */
    for (size_t j = (i + 1) & s->mask; s->slot[j] != 0; j = (j + 1) & s->mask) {
        size_t home = id_hash(s->slot[j], s->mask);
        bool between = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (between) continue;
        s->slot[i] = s->slot[j];
        s->slot[j] = 0;
        i = j;
    }
}

/* ---- curl callbacks ------------------------------------------------------------------ */

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    ch_xfer *x = arg;
    size_t len = size * n;
    /* keep the first CH_RESPONSE_KEEP bytes for the attempt log; read and drop the rest so
     * the connection stays reusable */
    if (x->body_len < CH_RESPONSE_KEEP) {
        size_t take = len < CH_RESPONSE_KEEP - x->body_len ? len : CH_RESPONSE_KEEP - x->body_len;
        if (!x->body) x->body = ch_malloc(CH_RESPONSE_KEEP);
        memcpy(x->body + x->body_len, p, take);
        x->body_len += take;
    }
    return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    ch_xfer *x = arg;
    size_t len = size * n;
    static const char name[] = "retry-after:";
    if (len > sizeof name - 1 && strncasecmp(p, name, sizeof name - 1) == 0) {
        const char *v = p + sizeof name - 1;
        size_t vl = len - (sizeof name - 1);
        while (vl && (*v == ' ' || *v == '\t'))
            v++, vl--;
        while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
            vl--;
        x->retry_after_ms = ch_retry_after_ms(v, vl, ch_now_ms());
    }
    return len;
}

/* The SSRF check: called after name resolution for every address curl is about to connect
 * to, so a name that resolves to a private address (DNS rebinding included) is refused too. */
static fdstate *fd_state(ch_worker *d, curl_socket_t fd);

static curl_socket_t on_open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
    ch_xfer *x = arg;
    const struct sockaddr *sa = &a->addr;
    const char *why = ch_ssrf_blocked_reason(sa);
    if (why && !ch_cidr_list_match(x->d->allow_private, sa)) {
        x->refused = why;
        ch_addr_format(sa, x->refused_addr, sizeof x->refused_addr);
        return CURL_SOCKET_BAD;
    }
    curl_socket_t fd = socket(a->family, a->socktype, a->protocol);
    if (fd != CURL_SOCKET_BAD) fd_state(x->d, fd)->ours = true;
    return fd;
}

static fdstate *fd_state(ch_worker *d, curl_socket_t fd)
{
    if ((size_t)fd >= d->nfds) {
        size_t n = d->nfds ? d->nfds : 64;
        while (n <= (size_t)fd)
            n *= 2;
        d->fds = ch_realloc(d->fds, n * sizeof *d->fds);
        memset(d->fds + d->nfds, 0, (n - d->nfds) * sizeof *d->fds);
        d->nfds = n;
    }
    return &d->fds[fd];
}

static void fd_unwatch(ch_worker *d, curl_socket_t fd)
{
    fdstate *f = fd_state(d, fd);
    if (f->in_set) epoll_ctl(d->ep, EPOLL_CTL_DEL, fd, NULL);
    *f = (fdstate){0};
}

/* curl closes a connection's socket through this (set per connection, so the worker is the
 * argument, not a transfer): the descriptor number may come back for another socket */
static int on_close_socket(void *arg, curl_socket_t fd)
{
    fd_unwatch(arg, fd);
    return close(fd);
}

/* ---- receivers ------------------------------------------------------------------------ */

/* "scheme://authority" of a URL (userinfo left out), lower case: what curl's limit of
 * connections per host counts by */
static size_t host_key(const char *url, char *out, size_t cap)
{
    const char *p = strstr(url, "://");
    const char *a = p ? p + 3 : url;
    size_t n = 0;
    for (const char *c = url; c < a && n + 1 < cap; c++)
        out[n++] = (char)tolower((unsigned char)*c);
    const char *end = a + strcspn(a, "/?#");
    const char *at = memchr(a, '@', (size_t)(end - a));
    for (const char *c = at ? at + 1 : a; c < end && n + 1 < cap; c++)
        out[n++] = (char)tolower((unsigned char)*c);
    out[n] = 0;
    return n;
}

static struct host **host_bucket(ch_worker *d, const char *key)
{
    return &d->hosts[ch_fnv1a(CH_FNV1A_INIT, key, strlen(key)) & (d->nhost_slots - 1)];
}

static struct host *host_ref(ch_worker *d, const char *url)
{
    char key[512];
    host_key(url, key, sizeof key);
    struct host **slot = host_bucket(d, key);
    struct host *e = *slot;
    while (e && strcmp(e->key, key) != 0)
        e = e->next;
    if (!e) {
        e = ch_calloc(1, sizeof *e);
        e->key = ch_strdup(key);
        e->next = *slot;
        *slot = e;
    }
    e->refs++;
    return e;
}

static void host_unref(ch_worker *d, struct host *e)
{
    if (--e->refs > 0) return;
    struct host **p = host_bucket(d, e->key);
    while (*p != e)
        p = &(*p)->next;
    *p = e->next;
    free(e->key);
    free(e);
}

/* ---- starting ------------------------------------------------------------------------ */

static bool take_token(ch_worker *d, const ch_due_delivery *due, int64_t now, int64_t *next_ms)
{
    if (due->rate_limit_per_min <= 0) return true;
    bucket *b = NULL;
    for (size_t i = 0; i < d->nbuckets && !b; i++)
        if (d->buckets[i].tenant_id == due->tenant_id &&
            d->buckets[i].endpoint_id == due->endpoint_id)
            b = &d->buckets[i];
    /* each worker sends its share of the endpoint's deliveries: it gets that share of the rate */
    double cap = (double)due->rate_limit_per_min / d->nshards;
    if (!b) {
        d->buckets = ch_realloc(d->buckets, (d->nbuckets + 1) * sizeof *d->buckets);
        b = &d->buckets[d->nbuckets++];
        *b = (bucket){due->tenant_id, due->endpoint_id, cap, now};
    }
    b->tokens += (double)(now - b->last_ms) * cap / 60000.0;
    if (b->tokens > cap) b->tokens = cap;
    b->last_ms = now;
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
        return true;
    }
    *next_ms = now + (int64_t)((1.0 - b->tokens) * 60000.0 / cap) + 1;
    return false;
}

static struct curl_slist *add_header(struct curl_slist *l, const char *name, const char *value)
{
    char buf[256];
    int len = snprintf(buf, sizeof buf, "%s: %s", name, value);
    char *line = len >= 0 && (size_t)len < sizeof buf ? buf : ch_asprintf("%s: %s", name, value);
    struct curl_slist *n = curl_slist_append(l, line);
    if (line != buf) free(line);
    if (!n) abort(); /* out of memory */
    return n;
}

static void start(ch_worker *d, ch_due_delivery *due, struct host *host)
{
    ch_xfer *x = ch_calloc(1, sizeof *x);
    x->d = d;
    x->host = host; /* the transfer takes over the queue entry's reference */
    host->in_flight++;
    x->due = *due;
    memset(due, 0, sizeof *due); /* the transfer owns the strings now */
    x->retry_after_ms = -1;
    x->started_ms = ch_now_ms();
    x->t0_ns = ch_mono_ns();

    /* Standard Webhooks: the same webhook-id on every attempt, this attempt's timestamp, one
     * v1 signature per secret in use (two while a rotation overlaps) */
    int64_t ts = x->started_ms / 1000;
    size_t plen = strlen(x->due.payload);
    char sig[CH_WEBHOOK_SIG_MAX], sig2[CH_WEBHOOK_SIG_MAX], sigs[2 * CH_WEBHOOK_SIG_MAX + 2];
    sigs[0] = 0;
    if (ch_webhook_sign_with(d->signer, x->due.secret, x->due.message_id, ts, x->due.payload, plen,
                             sig) == CH_OK)
        snprintf(sigs, sizeof sigs, "%s", sig);
    if (x->due.previous_secret &&
        ch_webhook_sign_with(d->signer, x->due.previous_secret, x->due.message_id, ts,
                             x->due.payload, plen, sig2) == CH_OK)
        snprintf(sigs + strlen(sigs), sizeof sigs - strlen(sigs), " %s", sig2);
    char tsbuf[24];
    snprintf(tsbuf, sizeof tsbuf, "%lld", (long long)ts);
    struct curl_slist *h = NULL;
    json_t *custom = x->due.headers && strcmp(x->due.headers, "{}") != 0
                         ? json_loads(x->due.headers, 0, NULL)
                         : NULL;
    const char *k;
    json_t *v;
    json_object_foreach(custom, k, v)
    {
        /* endpoints saved before the header rule may still hold a framing header */
        if (json_is_string(v) && ch_endpoint_header_allowed(k))
            h = add_header(h, k, json_string_value(v));
    }
    json_decref(custom);
    h = add_header(h, "content-type", "application/json");
    h = add_header(h, "webhook-id", x->due.message_id);
    h = add_header(h, "webhook-timestamp", tsbuf);
    h = add_header(h, "webhook-signature", sigs);
    h = add_header(h, "Expect", ""); /* no 100-continue round trip */
    x->hdrs = h;

    CURL *c = d->nspare ? d->spare[--d->nspare] : NULL;
    if (!c) {
        /* what every transfer sets alike, once per handle: a handle is reused as it is */
        if (!(c = curl_easy_init())) abort();
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_USERAGENT, "callhook/" CH_VERSION);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L); /* a redirect may point inside */
        curl_easy_setopt(c, CURLOPT_NOPROXY, "*"); /* the check must see the real destination */
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
        curl_easy_setopt(c, CURLOPT_CLOSESOCKETFUNCTION, on_close_socket);
        curl_easy_setopt(c, CURLOPT_CLOSESOCKETDATA, d);
    }
    x->h = c;
    curl_easy_setopt(c, CURLOPT_URL, x->due.url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, x->due.payload);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)plen);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    long t = x->due.timeout_ms > 0 ? (long)x->due.timeout_ms : 15000L;
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, t);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, t < 10000 ? t : 10000L);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, x);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(c, CURLOPT_PRIVATE, x);
    x->next = d->xfers;
    if (d->xfers) d->xfers->prev = x;
    d->xfers = x;
    curl_multi_add_handle(d->multi, c);
    d->in_flight++;
}

static void worker_wake(ch_worker *d)
{
    uint64_t one = 1;
    ssize_t w = write(d->wake_fd, &one, sizeof one);
    (void)w; /* EAGAIN: a wake-up is pending already */
}

/* ---- results --------------------------------------------------------------------------- */

static double unit_random(ch_worker *d)
{
    uint64_t z = ch_splitmix64(&d->rng);
    return (double)(z >> 11) / 9007199254740992.0;
}

/* Decides what the answer means; counts into st (added to d->stats under the lock). */
static void classify(ch_worker *d, ch_xfer *x, CURLcode cc, ch_delivery_result *r,
                     ch_dispatcher_stats *st)
{
    long status = 0;
    curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
    int64_t now = ch_now_ms();
    memset(r, 0, sizeof *r);
    r->delivery_id = x->due.delivery_id;
    r->tenant_id = x->due.tenant_id;
    r->endpoint_id = x->due.endpoint_id;
    r->call_id = x->due.call_id;
    x->due.call_id = NULL;
    r->at = x->started_ms;
    r->latency_ms = (ch_mono_ns() - x->t0_ns) / 1000000;
    r->status = cc == CURLE_OK ? (int)status : 0;
    r->response = x->body;
    r->response_len = x->body_len;
    x->body = NULL;
    r->manual = x->due.manual;
    r->prior_attempts = x->due.attempts;
    st->attempts++;
    if (cc == CURLE_OK && status >= 200 && status < 300) {
        r->outcome = CH_DLV_SUCCEEDED;
        st->succeeded++;
        return;
    }
    if (x->refused) {
        r->error = ch_asprintf("refused to connect to %s: %s address; allow it with "
                               "delivery.allow_private if it is meant",
                               x->refused_addr, x->refused);
        st->refused_ssrf++;
    } else if (cc != CURLE_OK) {
        r->error =
            ch_asprintf("%s%s%s", curl_easy_strerror(cc), x->errbuf[0] ? ": " : "", x->errbuf);
    } else if (status >= 300 && status < 400) {
        r->error = ch_asprintf("HTTP %ld: redirects are not followed", status);
    } else {
        r->error = ch_asprintf("HTTP %ld", status);
    }
    if (cc == CURLE_OK && status == 410) {
        r->outcome = CH_DLV_FAILED;
        r->disable_reason = "the receiver answered 410 Gone";
        st->dead++;
        return;
    }
    if (r->manual) { /* a replay or a test: one attempt */
        r->outcome = CH_DLV_FAILED;
        st->dead++;
        return;
    }
    ch_retry_schedule own;
    const ch_retry_schedule *sched = &d->sched;
    char why[128];
    if (x->due.retry_schedule &&
        ch_retry_schedule_parse(x->due.retry_schedule, &own, why, sizeof why) == CH_OK) {
        ch_retry_schedule_tenant_floor(&own); /* one saved before the 1 s rule */
        sched = &own;
    }
    int64_t delay = ch_retry_delay(sched, x->due.attempts + 1, unit_random(d));
    if (delay < 0) {
        r->outcome = CH_DLV_FAILED;
        st->dead++;
        return;
    }
    bool slow =
        cc == CURLE_OPERATION_TIMEDOUT ||
        (cc == CURLE_OK && (status == 429 || status == 502 || status == 503 || status == 504));
    if (slow) delay = ch_retry_slowdown(delay, x->retry_after_ms);
    r->outcome = CH_DLV_RETRY;
    r->next_at = now + delay;
    /* "slow down" is about the receiver as a whole, not this one message */
    if (cc == CURLE_OK && (status == 429 || status == 503)) r->pause_until = r->next_at;
    st->retried++;
}

static void result_done(ch_write_job *job)
{
    result_job *rj = (result_job *)job;
    ch_worker *d = rj->d;
    pthread_mutex_lock(&d->lock);
    for (size_t i = 0; i < rj->n; i++) {
        if (rj->r[i].outcome == CH_DLV_PAUSE) continue;
        if (d->nsettled == d->capsettled) {
            d->capsettled = d->capsettled ? d->capsettled * 2 : 256;
            d->settled = ch_realloc(d->settled, d->capsettled * sizeof *d->settled);
        }
        d->settled[d->nsettled++] = rj->r[i].delivery_id;
    }
    if (job->result != CH_OK) d->store_failed = true;
    d->jobs_out--;
    pthread_mutex_unlock(&d->lock);
    for (size_t i = 0; i < rj->n; i++)
        ch_delivery_result_clear(&rj->r[i]);
    free(rj->r);
    ch_write_job_clear(job);
    free(rj);
    worker_wake(d);
}

static void submit_results(ch_worker *d, ch_delivery_result *r, size_t n)
{
    if (n == 0) {
        free(r);
        return;
    }
    result_job *rj = ch_calloc(1, sizeof *rj);
    ch_write_job_init(&rj->job, NULL, 0);
    rj->d = d;
    rj->r = r;
    rj->n = n;
    rj->job.results = r;
    rj->job.nresults = n;
    rj->job.done = result_done;
    pthread_mutex_lock(&d->lock);
    d->jobs_out++;
    pthread_mutex_unlock(&d->lock);
    ch_store_submit(d->s, &rj->job);
}

static void free_xfer(ch_xfer *x)
{
    if (x->prev)
        x->prev->next = x->next;
    else
        x->d->xfers = x->next;
    if (x->next) x->next->prev = x->prev;
    curl_slist_free_all(x->hdrs);
    ch_worker *d = x->d;
    if (!atomic_load(&d->stopping) && d->nspare < (size_t)d->concurrency) {
        d->spare[d->nspare++] = x->h; /* its options and allocations serve the next transfer */
    } else {
        curl_easy_cleanup(x->h);
    }
    free(x->body);
    ch_due_delivery_clear(&x->due);
    x->host->in_flight--;
    host_unref(d, x->host);
    free(x);
}

#define RESULT_BATCH   64
#define RESULT_HOLD_MS 2

/* Hands the gathered results to the writer when there are enough, they waited long enough,
 * nothing else is in flight, or the worker stops. */
static void flush_results(ch_worker *d, int64_t now, bool force)
{
    if (d->nacc == 0) return;
    if (!force && d->nacc < RESULT_BATCH && d->in_flight > 0 && now - d->acc_since < RESULT_HOLD_MS)
        return;
    submit_results(d, d->acc, d->nacc);
    d->acc = NULL;
    d->nacc = d->capacc = 0;
}

static void collect(ch_worker *d)
{
    CURLMsg *m;
    int left;
    size_t n = 0;
    ch_dispatcher_stats st = {0};
    while ((m = curl_multi_info_read(d->multi, &left))) {
        if (m->msg != CURLMSG_DONE) continue;
        ch_xfer *x;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        CURLcode cc = m->data.result;
        curl_multi_remove_handle(d->multi, m->easy_handle);
        if (d->nacc == d->capacc) {
            d->capacc = d->capacc ? d->capacc * 2 : RESULT_BATCH;
            d->acc = ch_realloc(d->acc, d->capacc * sizeof *d->acc);
        }
        if (d->nacc == 0) d->acc_since = ch_now_ms();
        classify(d, x, cc, &d->acc[d->nacc++], &st);
        n++;
        d->in_flight--;
        free_xfer(x);
    }
    if (n > 0) {
        pthread_mutex_lock(&d->lock);
        d->stats.attempts += st.attempts;
        d->stats.succeeded += st.succeeded;
        d->stats.retried += st.retried;
        d->stats.dead += st.dead;
        d->stats.refused_ssrf += st.refused_ssrf;
        pthread_mutex_unlock(&d->lock);
    }
}

/* ---- the loop ---------------------------------------------------------------------------- */

static bool in_flight(void *arg, int64_t delivery_id)
{
    return idset_has(arg, delivery_id);
}

/* Fills the queue; returns when to look again. */
static int64_t fetch(ch_worker *d, int64_t now)
{
    int room = d->busy_cap - (int)d->busy.n;
    if ((size_t)room > d->qcap - d->qlen) room = (int)(d->qcap - d->qlen);
    /* fetch in batches: each fetch has a fixed cost and steps over everything busy */
    if (room <= 0 || room < d->concurrency / 4) return now + 1000;
    ch_due_delivery *due;
    size_t n;
    int64_t next_due;
    if (ch_store_due_deliveries(d->scan, now, room, in_flight, &d->busy, &due, &n, &next_due) !=
        CH_OK)
        return now + 1000;
    for (size_t i = 0; i < n; i++) {
        d->queue[d->qlen++] = (struct queued){due[i], now, host_ref(d, due[i].url)};
        idset_add(&d->busy, due[i].delivery_id);
    }
    free(due);                         /* the queue owns the strings now */
    if (n == (size_t)room) return now; /* there may be more: look again once there is room */
    /* at most a second: a replay or recovery written by another process (the CLI) is due now
     * whatever the next retry here says, and nothing publishes it to this process */
    return next_due == CH_TIME_UNSET || next_due > now + 1000 ? now + 1000 : next_due;
}

/* Starts queued deliveries, oldest first, while there are free slots; one whose receiver has
 * all its connections busy waits for one. A queued delivery older than QUEUE_MAX_AGE_MS is
 * given back (it stays pending and is fetched again), so a change to its endpoint is seen
 * within about that time even while the receiver is slow. Returns when an endpoint over its
 * rate has a token again (CH_TIME_UNSET: none waits). */
#define QUEUE_MAX_AGE_MS 500
static int64_t start_queued(ch_worker *d, int64_t now)
{
    ch_delivery_result *pauses = NULL;
    size_t npause = 0;
    int64_t next = CH_TIME_UNSET;
    size_t i = 0, kept = 0;
    for (; i < d->qlen; i++) {
        struct queued *q = &d->queue[i];
        bool stale = now - q->at > QUEUE_MAX_AGE_MS;
        if (!stale) {
            if (d->in_flight >= d->concurrency) break;
            if (q->host->in_flight >= d->per_host) {
                d->queue[kept++] = *q;
                continue;
            }
            int64_t when;
            if (take_token(d, &q->due, now, &when)) {
                start(d, &q->due, q->host);
                continue;
            }
            /* over the endpoint's rate: push its due deliveries to when a token is back, so
             * they do not fill every fetch */
            bool seen = false;
            for (size_t k = 0; k < npause && !seen; k++)
                seen = pauses[k].tenant_id == q->due.tenant_id &&
                       pauses[k].endpoint_id == q->due.endpoint_id;
            if (!seen) {
                pauses = ch_realloc(pauses, (npause + 1) * sizeof *pauses);
                pauses[npause++] = (ch_delivery_result){.tenant_id = q->due.tenant_id,
                                                        .endpoint_id = q->due.endpoint_id,
                                                        .outcome = CH_DLV_PAUSE,
                                                        .pause_until = when};
            }
            if (next == CH_TIME_UNSET || when < next) next = when;
        }
        idset_del(&d->busy, q->due.delivery_id);
        ch_due_delivery_clear(&q->due);
        host_unref(d, q->host);
    }
    if (kept < i) {
        memmove(&d->queue[kept], &d->queue[i], (d->qlen - i) * sizeof *d->queue);
        d->qlen = kept + (d->qlen - i);
    }
    submit_results(d, pauses, npause);
    return next;
}

static void *run(void *arg)
{
    pthread_setname_np(pthread_self(), "ch-deliver"); /* top -H, perf: docs/internals/threads.md */
    ch_worker *d = arg;
    int64_t next_fetch = 0;
    for (;;) {
        bool stopping = atomic_load(&d->stopping);
        pthread_mutex_lock(&d->lock);
        for (size_t i = 0; i < d->nsettled; i++)
            idset_del(&d->busy, d->settled[i]);
        bool settled_any = d->nsettled > 0, store_failed = d->store_failed;
        d->nsettled = 0;
        d->store_failed = false;
        int jobs_out = d->jobs_out;
        d->stats.in_flight = d->in_flight;
        pthread_mutex_unlock(&d->lock);
        int64_t now = ch_now_ms();
        if (stopping && ((d->in_flight == 0 && jobs_out == 0) || now >= d->grace_until)) break;
        /* a failed write leaves its deliveries pending: wait before sending them again */
        if (store_failed) d->store_backoff_until = now + 1000;
        if (atomic_exchange(&d->poked, false) || settled_any) next_fetch = now;
        int64_t wait = 1000;
        if (!stopping && now >= d->store_backoff_until) {
            /* refill when half the queue is gone: fewer, larger fetches */
            bool refill = d->qlen <= d->qcap / 2;
            if (refill && now >= next_fetch) next_fetch = fetch(d, now);
            int64_t token_at = start_queued(d, now);
            if (token_at != CH_TIME_UNSET && token_at < next_fetch) next_fetch = token_at;
            now = ch_now_ms();
            /* not refilling: the next finished transfer or settled result wakes the loop */
            if (next_fetch > now || d->qlen <= d->qcap / 2) wait = next_fetch - now;
            /* the oldest queued delivery is given back on time even when nothing else happens */
            if (d->qlen > 0 && d->queue[0].at + QUEUE_MAX_AGE_MS + 1 - now < wait)
                wait = d->queue[0].at + QUEUE_MAX_AGE_MS + 1 - now;
        }
        if (d->store_backoff_until > now) wait = d->store_backoff_until - now;
        if (wait > 1000) wait = 1000; /* rows written by other processes (CLI) */
        if (stopping && wait > 50) wait = 50;
        if (d->curl_timer >= 0 && d->curl_timer - ch_now_ms() < wait)
            wait = d->curl_timer - ch_now_ms();
        if (d->nacc > 0 && d->acc_since + RESULT_HOLD_MS - now < wait)
            wait = d->acc_since + RESULT_HOLD_MS - now;
        if (wait < 0) wait = 0;
        struct epoll_event ev[64];
        int k = epoll_wait(d->ep, ev, 64, (int)wait);
        int running = 0;
        for (int i = 0; i < k; i++) {
            if (ev[i].data.fd == d->wake_fd) {
                uint64_t v;
                ssize_t r = read(d->wake_fd, &v, sizeof v);
                (void)r;
                continue;
            }
            if (!fd_state(d, ev[i].data.fd)->wanted) {
                fd_unwatch(d, ev[i].data.fd); /* an idle connection: curl checks it at reuse */
                continue;
            }
            int mask = (ev[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) |
                       (ev[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                       (ev[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
            curl_multi_socket_action(d->multi, ev[i].data.fd, mask, &running);
        }
        if (d->curl_timer >= 0 && ch_now_ms() >= d->curl_timer) {
            d->curl_timer = -1;
            curl_multi_socket_action(d->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        }
        collect(d);
        flush_results(d, ch_now_ms(), stopping);
    }
    flush_results(d, 0, true);
    /* abandoned transfers and queued deliveries stay pending in the outbox */
    for (size_t i = 0; i < d->qlen; i++) {
        ch_due_delivery_clear(&d->queue[i].due);
        host_unref(d, d->queue[i].host);
    }
    d->qlen = 0;
    while (d->xfers) {
        curl_multi_remove_handle(d->multi, d->xfers->h);
        free_xfer(d->xfers);
    }
    /* results still queued at the writer call result_done later: wait for them */
    for (;;) {
        pthread_mutex_lock(&d->lock);
        int out = d->jobs_out;
        pthread_mutex_unlock(&d->lock);
        if (out == 0) break;
        struct epoll_event ev[8];
        epoll_wait(d->ep, ev, 8, 10);
        uint64_t v;
        ssize_t r = read(d->wake_fd, &v, sizeof v);
        (void)r;
    }
    return NULL;
}

struct ch_dispatcher {
    ch_store *s;
    ch_worker **w;
    int n;
    ch_feed_sub *feed; /* wake-up only: the outbox itself says what is due */
};

static int on_socket(CURL *e, curl_socket_t fd, int what, void *arg, void *sockp)
{
    ch_worker *d = arg;
    (void)e;
    (void)sockp;
    fdstate *f = fd_state(d, fd);
    if (what == CURL_POLL_REMOVE) {
        if (f->ours)
            f->wanted = false; /* stays in the set: see fdstate */
        else
            fd_unwatch(d, fd);
        return 0;
    }
    f->wanted = true;
    struct epoll_event ev = {.events = (what & CURL_POLL_IN ? EPOLLIN : 0u) |
                                       (what & CURL_POLL_OUT ? EPOLLOUT : 0u),
                             .data.fd = fd};
    if (f->in_set && f->events == ev.events) return 0;
    if (epoll_ctl(d->ep, f->in_set ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) != 0) {
        /* the set lost it (closed behind curl's back): add it again */
        if (epoll_ctl(d->ep, EPOLL_CTL_ADD, fd, &ev) != 0) return -1;
    }
    f->in_set = true;
    f->events = ev.events;
    return 0;
}

static int on_timer(CURLM *m, long timeout_ms, void *arg)
{
    ch_worker *d = arg;
    (void)m;
    d->curl_timer = timeout_ms < 0 ? -1 : ch_now_ms() + timeout_ms;
    return 0;
}

static void worker_free(ch_worker *d)
{
    while (d->nspare)
        curl_easy_cleanup(d->spare[--d->nspare]);
    free(d->spare);
    if (d->multi) curl_multi_cleanup(d->multi); /* closes sockets through on_close_socket */
    free(d->fds);
    ch_signer_free(d->signer);
    close(d->ep);
    close(d->wake_fd);
    ch_due_scan_free(d->scan);
    pthread_mutex_destroy(&d->lock);
    free(d->busy.slot);
    free(d->queue);
    free(d->hosts); /* empty: every reference went with its transfer or queue entry */
    free(d->buckets);
    free(d->settled);
    free(d->acc);
    free(d->allow_private);
    free(d);
}

static ch_worker *worker_new(ch_store *s, const ch_dispatcher_opts *o,
                             const ch_retry_schedule *sched, int shard, int nshards)
{
    ch_worker *d = ch_calloc(1, sizeof *d);
    d->s = s;
    d->shard = shard;
    d->nshards = nshards;
    if (ch_due_scan_open(s, shard, nshards, &d->scan) != CH_OK) {
        free(d);
        return NULL;
    }
    d->sched = *sched;
    d->allow_private = ch_strdup(o->allow_private ? o->allow_private : "");
    int total = o->concurrency > 0 ? o->concurrency : 256;
    d->concurrency = total / nshards > 0 ? total / nshards : 1;
    /* the queue holds a few fetches' worth; what is busy also counts the results waiting for
     * their commit, bounded here so a slow writer stops the fetching */
    d->qcap = (size_t)d->concurrency * 4;
    d->queue = ch_calloc(d->qcap, sizeof *d->queue);
    d->nhost_slots = 256;
    d->hosts = ch_calloc(d->nhost_slots, sizeof *d->hosts);
    d->busy_cap = d->concurrency * 2 + (int)d->qcap;
    size_t slots = 16;
    while (slots < (size_t)d->busy_cap * 2)
        slots <<= 1;
    d->busy.slot = ch_calloc(slots, sizeof *d->busy.slot);
    d->busy.mask = slots - 1;
    d->spare = ch_calloc((size_t)d->concurrency, sizeof *d->spare);
    d->rng = (uint64_t)ch_mono_ns() ^ ((uint64_t)shard << 56);
    pthread_mutex_init(&d->lock, NULL);
    d->ep = epoll_create1(EPOLL_CLOEXEC);
    d->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (d->ep < 0 || d->wake_fd < 0) abort(); /* out of descriptors at startup */
    struct epoll_event wev = {.events = EPOLLIN, .data.fd = d->wake_fd};
    epoll_ctl(d->ep, EPOLL_CTL_ADD, d->wake_fd, &wev);
    d->curl_timer = -1;
    d->multi = curl_multi_init();
    if (!d->multi) abort();
    d->signer = ch_signer_new();
    curl_multi_setopt(d->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(d->multi, CURLMOPT_SOCKETDATA, d);
    curl_multi_setopt(d->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(d->multi, CURLMOPT_TIMERDATA, d);
    d->per_host = d->concurrency < 64 ? d->concurrency : 64;
    curl_multi_setopt(d->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)d->per_host);
    curl_multi_setopt(d->multi, CURLMOPT_MAXCONNECTS, (long)d->concurrency);
    return d;
}

static void worker_poke(ch_worker *d)
{
    atomic_store(&d->poked, true);
    worker_wake(d);
}

/* On the writer's thread after a commit that created deliveries: a flag and an eventfd write
 * per worker, nothing that blocks. */
static void on_deliveries(void *arg)
{
    ch_dispatcher_poke(arg);
}

int ch_dispatcher_start(ch_dispatcher **out, ch_store *s, const ch_dispatcher_opts *o)
{
    char why[160];
    ch_retry_schedule sched;
    if (ch_retry_schedule_parse(o->retry_schedule ? o->retry_schedule : ch_retry_schedule_default,
                                &sched, why, sizeof why) != CH_OK) {
        ch_log_msg(CH_LOG_ERROR, "startup", why);
        return CH_EINVAL;
    }
    ch_dispatcher *g = ch_calloc(1, sizeof *g);
    g->s = s;
    g->n = o->threads > 0 ? o->threads : 1;
    g->w = ch_calloc((size_t)g->n, sizeof *g->w);
    for (int i = 0; i < g->n; i++) {
        if (!(g->w[i] = worker_new(s, o, &sched, i, g->n))) {
            ch_log_msg(CH_LOG_ERROR, "startup", "the dispatcher cannot read the database");
            while (i-- > 0)
                worker_free(g->w[i]);
            free(g->w);
            free(g);
            return CH_ESTORE;
        }
    }
    g->feed = ch_feed_subscribe(ch_store_feed(s), CH_CHANGE_MASK(CH_CHANGE_DELIVERY_CREATED), 0,
                                on_deliveries, g);
    for (int i = 0; i < g->n; i++)
        if (pthread_create(&g->w[i]->th, NULL, run, g->w[i]) != 0) abort();
    *out = g;
    return CH_OK;
}

void ch_dispatcher_poke(ch_dispatcher *g)
{
    for (int i = 0; i < g->n; i++)
        worker_poke(g->w[i]);
}

void ch_dispatcher_stop(ch_dispatcher *g, int grace_ms)
{
    if (!g) return;
    int64_t until = ch_now_ms() + grace_ms;
    for (int i = 0; i < g->n; i++) {
        g->w[i]->grace_until = until;
        atomic_store(&g->w[i]->stopping, true);
        worker_wake(g->w[i]);
    }
    for (int i = 0; i < g->n; i++)
        pthread_join(g->w[i]->th, NULL);
    ch_feed_unsubscribe(g->feed);
    for (int i = 0; i < g->n; i++)
        worker_free(g->w[i]);
    free(g->w);
    free(g);
}

void ch_dispatcher_get_stats(ch_dispatcher *g, ch_dispatcher_stats *out)
{
    memset(out, 0, sizeof *out);
    for (int i = 0; i < g->n; i++) {
        ch_worker *d = g->w[i];
        pthread_mutex_lock(&d->lock);
        out->attempts += d->stats.attempts;
        out->succeeded += d->stats.succeeded;
        out->retried += d->stats.retried;
        out->dead += d->stats.dead;
        out->refused_ssrf += d->stats.refused_ssrf;
        out->in_flight += d->stats.in_flight;
        pthread_mutex_unlock(&d->lock);
    }
}
