#include "http/guard.h"
#include "http/client.h"
#include "util/cidr.h"
#include "util/limits.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define REAP_TICK_MS 250

/* What a connection is doing, as far as deadlines go. Only the reaper moves a connection to
 * REAPED, and only from a phase it may cut short; the MHD thread leaves those phases by a
 * compare-and-swap, so exactly one of the two acts. */
enum {
    PH_IDLE,    /* waiting for a request: nothing of it seen */
    PH_HEADERS, /* the request line arrived, headers not complete */
    PH_BODY,    /* headers done, body arriving */
    PH_BUSY,    /* being handled or answered: never reaped */
    PH_REAPED,  /* closed at a deadline */
};

typedef struct addr_count {
    unsigned char key[16];
    int n;
    struct addr_count *next;
} addr_count;

typedef struct ch_conn {
    ch_guard *g;
    int fd;
    unsigned char key[16];
    bool counted, over, exempt;
    _Atomic int phase;
    _Atomic int64_t deadline_ms;
    struct ch_conn *prev, *next;
} ch_conn;

struct ch_guard {
    ch_guard_opts o;
    char *exempt;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t reaper;
    bool stop;
    ch_conn *conns;
    addr_count *addrs[CH_GUARD_ADDR_BUCKETS];
    _Atomic uint64_t limited, timed_out;
    _Atomic int64_t open;
};

static int64_t mono_ms(void)
{
    return ch_mono_ns() / 1000000;
}

static unsigned bucket_of(const unsigned char key[16])
{
    uint32_t h = 2166136261u;
    for (int i = 0; i < 16; i++)
        h = (h ^ key[i]) * 16777619u;
    return h % CH_GUARD_ADDR_BUCKETS;
}

/* Adds one connection to key's count unless it is at the limit (lock held). */
static bool addr_take(ch_guard *g, const unsigned char key[16])
{
    addr_count **head = &g->addrs[bucket_of(key)], *a;
    for (a = *head; a; a = a->next)
        if (memcmp(a->key, key, 16) == 0) break;
    if (a && a->n >= g->o.max_per_addr) return false;
    if (!a) {
        a = ch_calloc(1, sizeof *a);
        memcpy(a->key, key, 16);
        a->next = *head;
        *head = a;
    }
    a->n++;
    return true;
}

static void addr_release(ch_guard *g, const unsigned char key[16])
{
    for (addr_count **pp = &g->addrs[bucket_of(key)]; *pp; pp = &(*pp)->next) {
        addr_count *a = *pp;
        if (memcmp(a->key, key, 16) != 0) continue;
        if (--a->n <= 0) {
            *pp = a->next;
            free(a);
        }
        return;
    }
}

static void send_canned(int fd, int status, const char *reason, const char *code,
                        const char *message)
{
    char body[256], msg[512];
    int bn = snprintf(body, sizeof body, "{\"error\":\"%s\",\"message\":\"%s\"}\n", code, message);
    int n = snprintf(msg, sizeof msg,
                     "HTTP/1.1 %d %s\r\nContent-Type: application/json; charset=utf-8\r\n"
                     "Connection: close\r\nContent-Length: %d\r\n\r\n%s",
                     status, reason, bn, body);
    /* best effort: the socket buffer of a connection that sent so little has room */
    if (n > 0) (void)!send(fd, msg, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
}

/* Cuts c short if it is still in a phase that may be (lock held, so c->fd is still open). */
static void reap(ch_guard *g, ch_conn *c)
{
    int ph = atomic_load(&c->phase);
    if (ph != PH_IDLE && ph != PH_HEADERS && ph != PH_BODY) return;
    if (!atomic_compare_exchange_strong(&c->phase, &ph, PH_REAPED)) return;
    if (ph != PH_IDLE) {
        if (c->over)
            send_canned(c->fd, 429, "Too Many Requests", "too_many_connections",
                        "too many connections from this address");
        else
            send_canned(c->fd, 408, "Request Timeout", "request_timeout",
                        "the request did not arrive in time");
    }
    /* libmicrohttpd sees end of stream and closes the connection itself */
    shutdown(c->fd, SHUT_RDWR);
    atomic_fetch_add(&g->timed_out, 1);
    ch_logline l;
    if (ch_log_begin(&l, CH_LOG_DEBUG, "connection_timeout", NULL)) {
        ch_log_str(&l, "phase", ph == PH_IDLE ? "idle" : ph == PH_HEADERS ? "headers" : "body");
        ch_log_end(&l);
    }
}

static void *reaper_main(void *arg)
{
    pthread_setname_np(pthread_self(), "ch-guard"); /* top -H, perf: docs/internals/threads.md */
    ch_guard *g = arg;
    pthread_mutex_lock(&g->lock);
    while (!g->stop) {
        int64_t now = mono_ms();
        for (ch_conn *c = g->conns; c; c = c->next)
            if (atomic_load(&c->deadline_ms) <= now) reap(g, c);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += REAP_TICK_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&g->wake, &g->lock, &ts);
    }
    pthread_mutex_unlock(&g->lock);
    return NULL;
}

ch_guard *ch_guard_new(const ch_guard_opts *o)
{
    ch_guard *g = ch_calloc(1, sizeof *g);
    g->o = *o;
    g->exempt = ch_strdup(o->exempt ? o->exempt : "");
    g->o.exempt = g->exempt;
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->wake, NULL);
    if (pthread_create(&g->reaper, NULL, reaper_main, g) != 0) abort();
    return g;
}

void ch_guard_free(ch_guard *g)
{
    if (!g) return;
    pthread_mutex_lock(&g->lock);
    g->stop = true;
    pthread_cond_signal(&g->wake);
    pthread_mutex_unlock(&g->lock);
    pthread_join(g->reaper, NULL);
    for (int i = 0; i < CH_GUARD_ADDR_BUCKETS; i++)
        while (g->addrs[i]) {
            addr_count *a = g->addrs[i];
            g->addrs[i] = a->next;
            free(a);
        }
    while (g->conns) {
        ch_conn *c = g->conns;
        g->conns = c->next;
        free(c);
    }
    pthread_cond_destroy(&g->wake);
    pthread_mutex_destroy(&g->lock);
    free(g->exempt);
    free(g);
}

void ch_guard_get_stats(ch_guard *g, ch_guard_stats *st)
{
    st->limited = atomic_load(&g->limited);
    st->timed_out = atomic_load(&g->timed_out);
    st->open = atomic_load(&g->open);
}

void ch_guard_notify(void *cls, struct MHD_Connection *mc, void **socket_context,
                     enum MHD_ConnectionNotificationCode code)
{
    ch_guard *g = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *fi =
            MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
        const union MHD_ConnectionInfo *ai =
            MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        const struct sockaddr *peer = ai ? ai->client_addr : NULL;
        ch_conn *c = ch_calloc(1, sizeof *c);
        c->g = g;
        c->fd = fi ? fi->connect_fd : -1;
        ch_client_key(peer, c->key);
        c->exempt = g->exempt[0] && ch_cidr_list_match(g->exempt, peer);
        int64_t now = mono_ms();
        atomic_store(&c->phase, PH_IDLE);
        atomic_store(&c->deadline_ms, now + g->o.header_ms);
        pthread_mutex_lock(&g->lock);
        if (c->exempt)
            c->counted = false;
        else if (addr_take(g, c->key))
            c->counted = true;
        else
            c->over = true;
        c->next = g->conns;
        if (g->conns) g->conns->prev = c;
        g->conns = c;
        pthread_mutex_unlock(&g->lock);
        if (c->over) {
            atomic_store(
                &c->deadline_ms,
                now + (g->o.header_ms < CH_GUARD_OVER_MS ? g->o.header_ms : CH_GUARD_OVER_MS));
            atomic_fetch_add(&g->limited, 1);
        }
        atomic_fetch_add(&g->open, 1);
        *socket_context = c;
        return;
    }
    ch_conn *c = *socket_context;
    if (!c) return;
    pthread_mutex_lock(&g->lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        g->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    if (c->counted) addr_release(g, c->key);
    pthread_mutex_unlock(&g->lock);
    atomic_fetch_sub(&g->open, 1);
    free(c);
    *socket_context = NULL;
}

static ch_conn *conn_of(struct MHD_Connection *mc)
{
    const union MHD_ConnectionInfo *i =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return i ? i->socket_context : NULL;
}

/* Moves c from one phase to another unless the reaper got there first. */
static bool advance(ch_conn *c, int from, int to)
{
    int ph = from;
    if (atomic_compare_exchange_strong(&c->phase, &ph, to)) return true;
    return ph != PH_REAPED; /* already past `from` (e.g. a resumed request): nothing to do */
}

void ch_guard_request_line(struct MHD_Connection *mc)
{
    ch_conn *c = conn_of(mc);
    if (c) advance(c, PH_IDLE, PH_HEADERS);
}

bool ch_guard_headers_done(struct MHD_Connection *mc, bool *over_limit)
{
    ch_conn *c = conn_of(mc);
    *over_limit = false;
    if (!c) return true;
    int ph = atomic_load(&c->phase);
    if (ph == PH_IDLE) advance(c, PH_IDLE, PH_HEADERS); /* no URI callback: same thing */
    if (c->over) {
        *over_limit = true;
        return advance(c, PH_HEADERS, PH_BUSY);
    }
    atomic_store(&c->deadline_ms, mono_ms() + c->g->o.body_ms);
    return advance(c, PH_HEADERS, PH_BODY);
}

bool ch_guard_body_alive(struct MHD_Connection *mc)
{
    ch_conn *c = conn_of(mc);
    return !c || atomic_load(&c->phase) != PH_REAPED;
}

bool ch_guard_body_done(struct MHD_Connection *mc)
{
    ch_conn *c = conn_of(mc);
    return !c || advance(c, PH_BODY, PH_BUSY);
}

void ch_guard_request_done(struct MHD_Connection *mc)
{
    ch_conn *c = conn_of(mc);
    if (!c) return;
    atomic_store(&c->deadline_ms, mono_ms() + c->g->o.header_ms);
    int ph = atomic_load(&c->phase);
    while (ph != PH_REAPED && !atomic_compare_exchange_weak(&c->phase, &ph, PH_IDLE))
        ;
}
