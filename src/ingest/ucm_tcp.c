#include "ingest/ucm_tcp.h"
#include "ingest/ingest.h"
#include "providers/ucm.h"
#include "providers/provider.h"
#include "util/cidr.h"
#include "util/limits.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/result.h"
#include "util/timeutil.h"

#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct ch_ucm_tcp {
    int fd;
    const ch_config *cfg;
    ch_store *store;
    pthread_t acceptor;
    atomic_bool stopping;
    atomic_int conns;
};

typedef struct {
    ch_ucm_tcp *t;
    int fd;
    struct sockaddr_storage peer;
} conn;

/* The tenant whose ucm source allow-lists this address; 0 when none or more than one do. */
static int64_t tenant_of(ch_store *s, const struct sockaddr *peer)
{
    ch_credential *creds = NULL;
    size_t n = 0;
    int64_t tenant = 0;
    if (ch_store_credentials(s, 0, "ucm", &creds, &n) != CH_OK) return 0;
    for (size_t i = 0; i < n; i++) {
        if (!creds[i].allow_ips || !*creds[i].allow_ips ||
            !ch_cidr_list_match(creds[i].allow_ips, peer))
            continue;
        if (tenant && tenant != creds[i].tenant_id) {
            tenant = 0; /* ambiguous: refuse rather than guess */
            break;
        }
        tenant = creds[i].tenant_id;
    }
    ch_credentials_free(creds, n);
    return tenant;
}

/* Runs one record (JSON text) through the ingest pipeline with the UCM adapter; true when it is
 * durable, or refused (acknowledged like a rejected row: resending it cannot help). */
static bool store_record(ch_ucm_tcp *t, const ch_tenant *tenant, const char *json, size_t len)
{
    ch_parsed parsed = {0};
    ch_write_job job = {0};
    ch_ingest_ctx in = {.provider = ch_provider_find("ucm"),
                        .tenant = tenant,
                        .raw = {.content_type = "application/json",
                                .body = json,
                                .body_len = len,
                                .max_records = t->cfg->max_records},
                        .request_id = "ucm-tcp",
                        .store = t->store,
                        .parsed = &parsed,
                        .job = &job};
    bool ok = true; /* rejected rows are acknowledged: resending them cannot help */
    if (ch_ingest(&in) != CH_OK)
        ch_log_msg(CH_LOG_INFO, "ucm_tcp_rejected", in.refusal.message);
    else if (in.outcome == CH_INGEST_WRITTEN)
        ok = job.result == CH_OK;
    ch_ingest_clear(&in);
    return ok;
}

/* How far the incomplete record at the start of the buffer has been looked at, so that each
 * byte is scanned once however slowly it arrives: re-parsing the record on every read would let
 * a sender that trickles bytes spend O(n²) of callhook's CPU. */
typedef struct {
    size_t scanned;
    int depth;
    bool in_str, esc;
} record_scan;

/* The length of the JSON value that starts at p[0] ('{' or '['), or 0 while it is incomplete. */
static size_t json_end(const char *p, size_t n, record_scan *s)
{
    for (; s->scanned < n; s->scanned++) {
        char ch = p[s->scanned];
        if (s->in_str) {
            if (s->esc)
                s->esc = false;
            else if (ch == '\\')
                s->esc = true;
            else if (ch == '"')
                s->in_str = false;
        } else if (ch == '"') {
            s->in_str = true;
        } else if (ch == '{' || ch == '[') {
            s->depth++;
        } else if ((ch == '}' || ch == ']') && --s->depth == 0) {
            return ++s->scanned;
        }
    }
    return 0;
}

/* Consumes the complete records at the start of buf[0..*len); false on a store failure. */
static bool drain(ch_ucm_tcp *t, const ch_tenant *tenant, char *buf, size_t *len, bool at_eof,
                  record_scan *sc)
{
    size_t off = 0;
    for (;;) {
        while (!sc->scanned && off < *len &&
               (buf[off] == ' ' || buf[off] == '\r' || buf[off] == '\n' || buf[off] == '\t'))
            off++;
        if (off >= *len) break;
        size_t avail = *len - off;
        if (buf[off] == '{' || buf[off] == '[') {
            size_t used = json_end(buf + off, avail, sc);
            if (!used) {
                if (!at_eof) break; /* incomplete: wait for more */
                ch_log_msg(CH_LOG_INFO, "ucm_tcp_rejected", "incomplete JSON record");
                off = *len;
                *sc = (record_scan){0};
                break;
            }
            *sc = (record_scan){0};
            json_error_t jerr;
            json_t *j = json_loadb(buf + off, used, 0, &jerr);
            if (!j) {
                ch_log_msg(CH_LOG_INFO, "ucm_tcp_rejected", jerr.text);
            } else {
                json_decref(j);
                if (!store_record(t, tenant, buf + off, used)) return false;
            }
            off += used;
        } else {
            char *nl = memchr(buf + off + sc->scanned, '\n', avail - sc->scanned);
            if (!nl && !at_eof) {
                sc->scanned = avail;
                break;
            }
            *sc = (record_scan){0};
            size_t n = nl ? (size_t)(nl - (buf + off)) : avail;
            json_t *row = ch_ucm_csv_row(buf + off, n);
            if (row) {
                char *text = json_dumps(row, JSON_COMPACT);
                json_decref(row);
                bool ok = store_record(t, tenant, text, strlen(text));
                free(text);
                if (!ok) return false;
            } else {
                ch_log_msg(CH_LOG_INFO, "ucm_tcp_rejected", "not a CDR line");
            }
            off += n + (nl ? 1 : 0);
        }
    }
    memmove(buf, buf + off, *len - off);
    *len -= off;
    return true;
}

static int64_t mono_ms(void)
{
    return ch_mono_ns() / 1000000;
}

/* Reads and discards what the sender still writes, for a bounded time and size, so that the
 * close is an orderly FIN rather than a reset that would lose the answer already sent. */
static void linger(int fd)
{
    char sink[16384];
    size_t thrown = 0;
    int64_t until = mono_ms() + CH_UCM_LINGER_MS;
    shutdown(fd, SHUT_WR); /* the answer is complete: the sender may read it now */
    while (thrown < CH_UCM_LINGER_BYTES) {
        int64_t left = until - mono_ms();
        if (left <= 0) break;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int pr = poll(&pfd, 1, left < CH_UCM_LINGER_IDLE_MS ? (int)left : CH_UCM_LINGER_IDLE_MS);
        if (pr < 0 && errno == EINTR) continue;
        if (pr <= 0) break;
        ssize_t got = recv(fd, sink, sizeof sink, 0);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break; /* the sender closed too */
        thrown += (size_t)got;
    }
}

static void *serve_conn(void *arg)
{
    pthread_setname_np(pthread_self(), "ch-ucm-conn");
    conn *c = arg;
    ch_ucm_tcp *t = c->t;
    ch_tenant tenant = {0};
    char *buf = NULL;
    char addr[64];
    ch_addr_format((struct sockaddr *)&c->peer, addr, sizeof addr);
    int64_t tid = tenant_of(t->store, (struct sockaddr *)&c->peer);
    if (!tid || ch_store_tenant_by_id(t->store, tid, &tenant) != CH_OK) {
        ch_log_msg(CH_LOG_WARN, "ucm_tcp_refused", addr); /* no source allow-lists this address */
        goto out;
    }
    buf = ch_malloc(CH_UCM_RECORD_MAX + 1);
    size_t len = 0;
    bool eof = false, failed = false, too_long = false;
    record_scan sc = {0};
    /* a total deadline per record, not only an idle one: a byte every few seconds would
     * otherwise hold one of the CH_UCM_CONNS_MAX connections for days */
    const int64_t record_ms = (int64_t)t->cfg->ucm_tcp_record_timeout * 1000;
    int64_t since = 0; /* when the incomplete record at buf began to arrive */
    while (!eof && !failed && !atomic_load(&t->stopping)) {
        int wait = CH_UCM_IDLE_MS;
        if (len) {
            int64_t left = since + record_ms - mono_ms();
            if (left <= 0) {
                ch_logline l;
                if (ch_log_begin(&l, CH_LOG_WARN, "ucm_tcp_record_timeout", NULL)) {
                    ch_log_str(&l, "peer", addr);
                    ch_log_int(&l, "bytes", (int64_t)len);
                    ch_log_int(&l, "timeout_s", t->cfg->ucm_tcp_record_timeout);
                    ch_log_end(&l);
                }
                break; /* as after an idle wait: what arrived complete is stored */
            }
            if (left < wait) wait = (int)left;
        }
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        int pr = poll(&pfd, 1, wait);
        if (pr < 0 && errno == EINTR) continue;
        if (pr == 0 && wait < CH_UCM_IDLE_MS) continue; /* the record's deadline: checked above */
        if (pr <= 0) break; /* idle or error: what arrived complete is stored */
        ssize_t got = recv(c->fd, buf + len, CH_UCM_RECORD_MAX - len, 0);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
            eof = true;
        } else {
            if (!len) since = mono_ms();
            len += (size_t)got;
        }
        size_t before = len;
        failed = !drain(t, &tenant, buf, &len, eof, &sc);
        if (len && len < before) since = mono_ms(); /* a new record began in this read */
        if (!failed && len == CH_UCM_RECORD_MAX) {
            too_long = true; /* one record fills the buffer: it cannot be complete */
            break;
        }
    }
    if (too_long) {
        ch_logline l;
        if (ch_log_begin(&l, CH_LOG_WARN, "ucm_tcp_record_too_long", NULL)) {
            ch_log_str(&l, "peer", addr);
            ch_log_int(&l, "max_bytes", CH_UCM_RECORD_MAX);
            ch_log_end(&l);
        }
        len = 0; /* dropped: it can never be stored, so it is acknowledged like a rejected row */
    }
    if (!failed && len) failed = !drain(t, &tenant, buf, &len, true, &sc);
    /* "OK" only when everything received is durable; otherwise the UCM keeps and resends it */
    if (!failed) (void)!send(c->fd, "OK\r\n", 4, MSG_NOSIGNAL);
    if (too_long) linger(c->fd);
out:
    free(buf);
    ch_tenant_clear(&tenant);
    close(c->fd);
    atomic_fetch_sub(&t->conns, 1);
    free(c);
    return NULL;
}

static void *acceptor(void *arg)
{
    pthread_setname_np(pthread_self(), "ch-ucm-accept");
    ch_ucm_tcp *t = arg;
    while (!atomic_load(&t->stopping)) {
        struct pollfd pfd = {.fd = t->fd, .events = POLLIN};
        if (poll(&pfd, 1, 200) <= 0) continue;
        conn *c = ch_calloc(1, sizeof *c);
        socklen_t sl = sizeof c->peer;
        c->t = t;
        c->fd = accept4(t->fd, (struct sockaddr *)&c->peer, &sl, SOCK_CLOEXEC);
        if (c->fd < 0 || atomic_fetch_add(&t->conns, 1) >= CH_UCM_CONNS_MAX) {
            if (c->fd >= 0) {
                close(c->fd);
                atomic_fetch_sub(&t->conns, 1);
            }
            free(c);
            continue;
        }
        pthread_t th;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&th, &attr, serve_conn, c) != 0) {
            close(c->fd);
            atomic_fetch_sub(&t->conns, 1);
            free(c);
        }
        pthread_attr_destroy(&attr);
    }
    return NULL;
}

int ch_ucm_tcp_start(ch_ucm_tcp **out, const ch_config *cfg, ch_store *store, int *port_out)
{
    struct sockaddr_storage ss;
    bool v6 = false;
    if (ch_listen_parse(cfg->ucm_tcp_listen, &ss, &v6) != CH_OK) {
        ch_log_msg(CH_LOG_ERROR, "startup", "ucm_tcp_listen is not ADDR:PORT");
        return CH_EINVAL;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    socklen_t sl =
        ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
        bind(fd, (struct sockaddr *)&ss, sl) || listen(fd, 64)) {
        ch_log_msg(CH_LOG_ERROR, "startup", "cannot listen on ucm_tcp_listen");
        if (fd >= 0) close(fd);
        return CH_ERR;
    }
    sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                               : ((struct sockaddr_in *)&ss)->sin_port);
    ch_ucm_tcp *t = ch_calloc(1, sizeof *t);
    t->fd = fd;
    t->cfg = cfg;
    t->store = store;
    if (pthread_create(&t->acceptor, NULL, acceptor, t) != 0) abort();
    *out = t;
    return CH_OK;
}

void ch_ucm_tcp_stop(ch_ucm_tcp *t)
{
    if (!t) return;
    atomic_store(&t->stopping, true);
    pthread_join(t->acceptor, NULL);
    close(t->fd);
    /* connections end within CH_UCM_IDLE_MS; their writes complete before the store closes */
    for (int i = 0; i < 2 * CH_UCM_IDLE_MS / 50 && atomic_load(&t->conns) > 0; i++)
        usleep(50 * 1000);
    free(t);
}
