/* Fixed-rate (open-loop) HTTP/1.1 load generator for bench/ingest/run.sh.
 *
 * Why not wrk or h2load: wrk is closed-loop (a connection sends its next request only after the
 * previous answer), so a slow answer delays the requests behind it and their wait is never
 * measured ("coordinated omission"). h2load --rps holds a rate per client but sends the same
 * body every time (callhook would answer "duplicate" without writing) and also measures from the
 * actual send, not from when the request was due.
 *
 * This tool schedules request i at t0 + i/rate, whatever happened before. A due request goes out
 * on the first idle keep-alive connection (at most one request in flight per connection, no
 * pipelining); when none is idle it waits, and that wait counts: latency = time the complete
 * answer arrived - time the request was *scheduled*. The first --warmup seconds run at the same
 * rate but are left out of the statistics. After the last request is due, the tool waits (at
 * most --drain seconds) until every request has its answer, so "2xx answers" is exact.
 *
 * Every request carries a distinct ~600-byte generic call event (call_id = PREFIX-RUN-i).
 *
 *   loadgen --port P [--host 127.0.0.1] [--path /hooks/bench/generic] [--token T]
 *           [--rate 5000] [--duration 10] [--warmup 2] [--connections 32] [--prefix f]
 *           [--drain 10]
 *
 * Output: a human summary on stderr and one line on stdout:
 *   LOADGEN scheduled=N ok=N stored=N non2xx=N errors=N unanswered=N measured=N rps=R
 *           p50_us=… p90_us=… p99_us=… p999_us=… max_us=… svc_p50_us=… svc_p99_us=… max_backlog=N
 *
 * Build: cc -O2 -o loadgen loadgen.c   (Linux: epoll, timerfd; nothing else)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define RBUF 16384
#define WBUF 2048

enum { C_CLOSED, C_CONNECTING, C_IDLE, C_BUSY };

typedef struct {
    int fd;
    int state;
    int idx;
    char wbuf[WBUF];
    size_t wlen, woff;
    char rbuf[RBUF + 1]; /* NUL-terminated for the header scan */
    size_t rlen;
    int64_t req;      /* index of the request in flight */
    uint64_t sent_ns; /* when its first byte was written */
} conn;

static struct {
    const char *host, *path, *token, *prefix;
    int port, conns;
    double rate, duration, warmup, drain;
} opt = {"127.0.0.1", "/hooks/bench/generic", "", "f", 0, 32, 5000, 10, 2, 10};

static int ep, tfd;
static conn *cs;
static struct sockaddr_in addr;
static uint64_t t0, last_done;
static int64_t total, warm_n, due, next_assign, done_n;
static uint64_t *lat, *svc, *late; /* per measured request: from schedule / from actual send, ns */
static int64_t n_lat;
static int64_t ok2xx, stored, non2xx, errors, max_backlog;
static uint32_t run_id;
static char started[32], answered[32], ended[32];

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t sched_ns(int64_t i)
{
    return t0 + (uint64_t)((double)i * 1e9 / opt.rate);
}

static void die(const char *what)
{
    perror(what);
    exit(2);
}

static void ep_mod(conn *c, uint32_t events, int op)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(ep, op, c->fd, &ev) < 0) die("epoll_ctl");
}

static void conn_open(conn *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) die("socket");
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->rlen = 0;
    c->wlen = c->woff = 0;
    if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS) {
        perror("connect");
        errors++;
        close(c->fd);
        c->fd = -1;
        c->state = C_CLOSED;
        return;
    }
    c->state = C_CONNECTING;
    ep_mod(c, EPOLLOUT | EPOLLIN, EPOLL_CTL_ADD);
}

static void conn_close(conn *c)
{
    if (c->fd >= 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->state = C_CLOSED;
}

/* The connection failed: the request in flight (if any) is an error; reconnect. */
static void conn_fail(conn *c)
{
    if (c->state == C_BUSY) {
        errors++;
        done_n++;
    }
    conn_close(c);
    conn_open(c);
}

static void build_request(conn *c, int64_t i)
{
    char id[96], body[1400];
    snprintf(id, sizeof id, "%s-%08x-%lld", opt.prefix, run_id, (long long)i);
    int bl = snprintf(
        body, sizeof body,
        "{\"call_id\":\"%s\",\"event_id\":\"%s-e\",\"type\":\"call.ended\",\"sequence\":%d,"
        "\"timestamp\":\"%s\",\"direction\":\"inbound\",\"status\":\"ended\","
        "\"disposition\":\"answered\",\"from\":\"0%lld\",\"to\":\"03-123-4567\","
        "\"caller_name\":\"Dana Levi\",\"extension\":\"%d\","
        "\"started_at\":\"%s\",\"answered_at\":\"%s\","
        "\"ended_at\":\"%s\",\"duration_sec\":192,\"billsec\":186,"
        "\"recording_url\":\"https://rec.example.com/r/%s.mp3\","
        "\"summary\":\"Asked about the May invoice; agent resent it by email.\","
        "\"cost\":{\"amount\":0.12,\"currency\":\"USD\"},"
        "\"metadata\":{\"queue\":\"support\",\"agent\":\"a-17\",\"campaign\":\"spring-2024\"}}",
        id, id, (int)(i % 7), ended, 509000000ll + i % 100000, 1000 + (int)(i % 50), started,
        answered, ended, id);
    c->wlen =
        (size_t)snprintf(c->wbuf, WBUF,
                         "POST %s HTTP/1.1\r\nHost: %s:%d\r\nAuthorization: Bearer %s\r\n"
                         "Content-Type: application/json\r\nUser-Agent: callhook-bench/loadgen\r\n"
                         "Content-Length: %d\r\n\r\n%s",
                         opt.path, opt.host, opt.port, opt.token, bl, body);
    if (c->wlen >= WBUF) {
        fprintf(stderr, "loadgen: request too large\n");
        exit(2);
    }
    c->woff = 0;
}

static void conn_write(conn *c)
{
    while (c->woff < c->wlen) {
        ssize_t w = write(c->fd, c->wbuf + c->woff, c->wlen - c->woff);
        if (w < 0) {
            if (errno == EAGAIN) {
                ep_mod(c, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
                return;
            }
            if (errno == EINTR) continue;
            conn_fail(c);
            return;
        }
        c->woff += (size_t)w;
    }
    ep_mod(c, EPOLLIN, EPOLL_CTL_MOD);
}

/* Hands due requests to idle connections. */
static void assign(void)
{
    for (int k = 0; k < opt.conns && next_assign < due; k++) {
        conn *c = &cs[k];
        if (c->state != C_IDLE) continue;
        c->req = next_assign++;
        build_request(c, c->req);
        c->state = C_BUSY;
        c->sent_ns = now_ns();
        conn_write(c);
    }
    if (due - next_assign > max_backlog) max_backlog = due - next_assign;
}

static void record(conn *c, int status, const char *body, size_t blen)
{
    uint64_t t = now_ns();
    done_n++;
    if (status >= 200 && status < 300) {
        ok2xx++;
        if (memmem(body, blen, "\"stored\"", 8)) stored++;
    } else {
        non2xx++;
        if (non2xx <= 3)
            fprintf(stderr, "loadgen: status %d: %.*s\n", status, (int)(blen > 200 ? 200 : blen),
                    body);
    }
    if (c->req >= warm_n) {
        last_done = t;
        lat[n_lat] = t - sched_ns(c->req);
        svc[n_lat] = t - c->sent_ns;
        late[n_lat] = c->sent_ns > sched_ns(c->req) ? c->sent_ns - sched_ns(c->req) : 0;
        n_lat++;
    }
}

/* Returns the length of a complete response at the start of c->rbuf, 0 if incomplete, -1 bad. */
static long parse(conn *c, int *status, bool *close_after, size_t *bstart, size_t *blen)
{
    char *b = c->rbuf;
    char *end = memmem(b, c->rlen, "\r\n\r\n", 4);
    if (!end) return c->rlen >= RBUF ? -1 : 0;
    size_t hlen = (size_t)(end - b) + 4;
    if (c->rlen < 12 || memcmp(b, "HTTP/1.", 7) != 0) return -1;
    *status = atoi(b + 9);
    long clen = -1;
    bool chunked = false;
    *close_after = b[7] == '0';
    for (char *p = memchr(b, '\n', hlen); p && p < end; p = memchr(p, '\n', (size_t)(end - p))) {
        p++;
        if (!strncasecmp(p, "content-length:", 15))
            clen = atol(p + 15);
        else if (!strncasecmp(p, "transfer-encoding:", 18) && strcasestr(p, "chunked") &&
                 strcasestr(p, "chunked") < end)
            chunked = true;
        else if (!strncasecmp(p, "connection:", 11)) {
            char *q = p + 11;
            while (*q == ' ')
                q++;
            if (!strncasecmp(q, "close", 5))
                *close_after = true;
            else if (!strncasecmp(q, "keep-alive", 10))
                *close_after = false;
        }
    }
    *bstart = hlen;
    if (*status == 204 || *status == 304 || (*status >= 100 && *status < 200)) {
        *blen = 0;
        return (long)hlen;
    }
    if (chunked) {
        size_t p = hlen;
        for (;;) {
            char *nl = memmem(b + p, c->rlen - p, "\r\n", 2);
            if (!nl) return 0;
            unsigned long sz = strtoul(b + p, NULL, 16);
            p = (size_t)(nl - b) + 2;
            if (sz == 0) {
                char *fin = memmem(b + p - 2, c->rlen - (p - 2), "\r\n\r\n", 4);
                if (!fin) return 0;
                *blen = (size_t)(fin - b) - hlen;
                return (long)((size_t)(fin - b) + 4);
            }
            if (c->rlen < p + sz + 2) return 0;
            p += sz + 2;
        }
    }
    if (clen < 0) return -1; /* read-until-close bodies are not supported */
    if (c->rlen < hlen + (size_t)clen) return 0;
    *blen = (size_t)clen;
    return (long)(hlen + (size_t)clen);
}

static void conn_read(conn *c)
{
    for (;;) {
        ssize_t r = read(c->fd, c->rbuf + c->rlen, RBUF - c->rlen);
        if (r < 0) {
            if (errno == EAGAIN) return;
            if (errno == EINTR) continue;
            conn_fail(c);
            return;
        }
        if (r == 0) { /* closed by the server */
            conn_fail(c);
            return;
        }
        c->rlen += (size_t)r;
        c->rbuf[c->rlen] = 0;
        int status;
        bool close_after;
        size_t bs, bl;
        long n = parse(c, &status, &close_after, &bs, &bl);
        if (n < 0) {
            fprintf(stderr, "loadgen: cannot parse the answer\n");
            conn_fail(c);
            return;
        }
        if (n == 0) continue;
        if (c->state != C_BUSY) { /* an answer nobody asked for */
            conn_fail(c);
            return;
        }
        record(c, status, c->rbuf + bs, bl);
        c->rlen -= (size_t)n;
        memmove(c->rbuf, c->rbuf + n, c->rlen);
        c->state = C_IDLE;
        if (close_after) {
            conn_close(c);
            conn_open(c);
        }
        return;
    }
}

static void arm(void)
{
    struct itimerspec its = {0};
    if (due < total) {
        uint64_t t = sched_ns(due);
        its.it_value.tv_sec = (time_t)(t / 1000000000ull);
        its.it_value.tv_nsec = (long)(t % 1000000000ull);
    } else {
        uint64_t t = now_ns() + 1000000; /* keep ticking during the drain */
        its.it_value.tv_sec = (time_t)(t / 1000000000ull);
        its.it_value.tv_nsec = (long)(t % 1000000000ull);
    }
    if (timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0) die("timerfd_settime");
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct_us(uint64_t *v, int64_t n, double p)
{
    if (n == 0) return 0;
    int64_t k = (int64_t)((p / 100.0) * (double)n + 0.5) - 1;
    if (k < 0) k = 0;
    if (k >= n) k = n - 1;
    return (double)v[k] / 1000.0;
}

static void usage(void)
{
    fprintf(stderr, "usage: loadgen --port P [--host H] [--path P] [--token T] [--rate R] "
                    "[--duration S] [--warmup S] [--connections N] [--prefix X] [--drain S]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {{"host", 1, 0, 'h'},   {"port", 1, 0, 'p'},
                                       {"path", 1, 0, 'u'},   {"token", 1, 0, 't'},
                                       {"rate", 1, 0, 'r'},   {"duration", 1, 0, 'd'},
                                       {"warmup", 1, 0, 'w'}, {"connections", 1, 0, 'c'},
                                       {"prefix", 1, 0, 'x'}, {"drain", 1, 0, 'D'},
                                       {0, 0, 0, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (o) {
        case 'h':
            opt.host = optarg;
            break;
        case 'p':
            opt.port = atoi(optarg);
            break;
        case 'u':
            opt.path = optarg;
            break;
        case 't':
            opt.token = optarg;
            break;
        case 'r':
            opt.rate = atof(optarg);
            break;
        case 'd':
            opt.duration = atof(optarg);
            break;
        case 'w':
            opt.warmup = atof(optarg);
            break;
        case 'c':
            opt.conns = atoi(optarg);
            break;
        case 'x':
            opt.prefix = optarg;
            break;
        case 'D':
            opt.drain = atof(optarg);
            break;
        default:
            usage();
        }
    }
    if (opt.port <= 0 || opt.rate <= 0 || opt.duration <= 0 || opt.conns <= 0 || opt.warmup < 0)
        usage();
    signal(SIGPIPE, SIG_IGN);
    prctl(PR_SET_TIMERSLACK, 1UL); /* wake up on time, not up to 50 us late */

    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)opt.port);
    if (inet_pton(AF_INET, opt.host, &addr.sin_addr) != 1) {
        fprintf(stderr, "loadgen: --host must be an IPv4 address\n");
        return 2;
    }
    {
        uint32_t seed = (uint32_t)now_ns() ^ (uint32_t)getpid() << 16;
        int fd = open("/dev/urandom", O_RDONLY);
        if (fd >= 0) {
            if (read(fd, &seed, sizeof seed) != sizeof seed) seed ^= 0x9e3779b9u;
            close(fd);
        }
        run_id = seed;
    }
    {
        time_t now = time(NULL);
        struct tm tm;
        time_t a = now - 200, b = now - 194, e = now - 8;
        strftime(started, sizeof started, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&a, &tm));
        strftime(answered, sizeof answered, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&b, &tm));
        strftime(ended, sizeof ended, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&e, &tm));
    }

    warm_n = (int64_t)(opt.warmup * opt.rate + 0.5);
    total = warm_n + (int64_t)(opt.duration * opt.rate + 0.5);
    lat = calloc((size_t)(total - warm_n) + 1, sizeof *lat);
    svc = calloc((size_t)(total - warm_n) + 1, sizeof *svc);
    late = calloc((size_t)(total - warm_n) + 1, sizeof *late);
    cs = calloc((size_t)opt.conns, sizeof *cs);
    if (!lat || !svc || !late || !cs) die("calloc");

    ep = epoll_create1(EPOLL_CLOEXEC);
    tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (ep < 0 || tfd < 0) die("epoll/timerfd");
    struct epoll_event tev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &tev);

    for (int k = 0; k < opt.conns; k++) {
        cs[k].idx = k;
        cs[k].fd = -1;
        conn_open(&cs[k]);
    }
    /* wait (at most 5 s) until every connection is up */
    uint64_t limit = now_ns() + 5000000000ull;
    struct epoll_event evs[256];
    for (;;) {
        int up = 0;
        for (int k = 0; k < opt.conns; k++)
            up += cs[k].state == C_IDLE;
        if (up == opt.conns) break;
        if (now_ns() > limit) {
            fprintf(stderr, "loadgen: only %d of %d connections came up\n", up, opt.conns);
            return 1;
        }
        int n = epoll_wait(ep, evs, 256, 100);
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            if (!c) continue;
            int err = 0;
            socklen_t el = sizeof err;
            getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
            if (err) {
                errno = err;
                perror("loadgen: connect");
                return 1;
            }
            c->state = C_IDLE;
            ep_mod(c, EPOLLIN, EPOLL_CTL_MOD);
        }
    }

    t0 = now_ns() + 5000000; /* first request 5 ms from now */
    due = 0;
    arm();
    uint64_t end_sched = sched_ns(total - 1);
    uint64_t drain_limit = end_sched + (uint64_t)(opt.drain * 1e9);
    while (done_n < total) {
        int n = epoll_wait(ep, evs, 256, 100);
        if (n < 0 && errno != EINTR) die("epoll_wait");
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            if (!c) { /* the timer */
                uint64_t x;
                if (read(tfd, &x, sizeof x) < 0) { /* spurious */
                }
                continue;
            }
            if (c->state == C_CONNECTING) {
                int err = 0;
                socklen_t el = sizeof err;
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
                if (err) {
                    errors++;
                    conn_close(c);
                    conn_open(c);
                    continue;
                }
                c->state = C_IDLE;
                ep_mod(c, EPOLLIN, EPOLL_CTL_MOD);
                continue;
            }
            if (evs[i].events & EPOLLIN)
                conn_read(c);
            else if (evs[i].events & (EPOLLERR | EPOLLHUP))
                conn_fail(c);
            if (c->state == C_BUSY && c->woff < c->wlen && (evs[i].events & EPOLLOUT))
                conn_write(c);
        }
        uint64_t t = now_ns();
        if (t >= t0 && due < total) {
            int64_t d = (int64_t)((double)(t - t0) * opt.rate / 1e9) + 1;
            due = d > total ? total : d;
        }
        assign();
        arm();
        if (t > drain_limit) break;
    }
    int64_t unanswered = total - done_n;

    qsort(lat, (size_t)n_lat, sizeof *lat, cmp_u64);
    qsort(svc, (size_t)n_lat, sizeof *svc, cmp_u64);
    qsort(late, (size_t)n_lat, sizeof *late, cmp_u64);
    double secs = n_lat && last_done > sched_ns(warm_n)
                      ? (double)(last_done - sched_ns(warm_n)) / 1e9
                      : opt.duration;
    fprintf(stderr,
            "loadgen: %lld scheduled at %.0f/s over %.1f s (+%.1f s warm-up) on %d connections\n"
            "loadgen: 2xx %lld (stored %lld), non-2xx %lld, errors %lld, unanswered %lld, "
            "max backlog %lld\n"
            "loadgen: latency from schedule: p50 %.0f us  p90 %.0f us  p99 %.0f us  p99.9 %.0f us"
            "  max %.0f us\n"
            "loadgen: service time (from send): p50 %.0f us  p99 %.0f us\n"
            "loadgen: send lateness (send - schedule): p50 %.0f us  p99 %.0f us  max %.0f us\n",
            (long long)total, opt.rate, opt.duration, opt.warmup, opt.conns, (long long)ok2xx,
            (long long)stored, (long long)non2xx, (long long)errors, (long long)unanswered,
            (long long)max_backlog, pct_us(lat, n_lat, 50), pct_us(lat, n_lat, 90),
            pct_us(lat, n_lat, 99), pct_us(lat, n_lat, 99.9), pct_us(lat, n_lat, 100),
            pct_us(svc, n_lat, 50), pct_us(svc, n_lat, 99), pct_us(late, n_lat, 50),
            pct_us(late, n_lat, 99), pct_us(late, n_lat, 100));
    printf("LOADGEN scheduled=%lld ok=%lld stored=%lld non2xx=%lld errors=%lld unanswered=%lld "
           "measured=%lld rps=%.1f p50_us=%.0f p90_us=%.0f p99_us=%.0f p999_us=%.0f max_us=%.0f "
           "svc_p50_us=%.0f svc_p99_us=%.0f late_p99_us=%.0f max_backlog=%lld\n",
           (long long)total, (long long)ok2xx, (long long)stored, (long long)non2xx,
           (long long)errors, (long long)unanswered, (long long)n_lat, (double)n_lat / secs,
           pct_us(lat, n_lat, 50), pct_us(lat, n_lat, 90), pct_us(lat, n_lat, 99),
           pct_us(lat, n_lat, 99.9), pct_us(lat, n_lat, 100), pct_us(svc, n_lat, 50),
           pct_us(svc, n_lat, 99), pct_us(late, n_lat, 99), (long long)max_backlog);
    for (int k = 0; k < opt.conns; k++)
        conn_close(&cs[k]);
    return unanswered || errors ? 1 : 0;
}
