#include "http/ucm_tcp.h"
#include "http/server.h"
#include "providers/ucm.h"
#include "providers/provider.h"
#include "util/cidr.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/result.h"

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

#define MAX_CONNS 64
#define MAX_BYTES (256 * 1024) /* per connection: far above the UCM's 10,000-record buffer rows */
#define IDLE_MS   10000

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

/* Parses one record (JSON text) with the UCM adapter and commits it; true when durable. */
static bool store_record(ch_ucm_tcp *t, const ch_tenant *tenant, const char *json, size_t len)
{
    const ch_provider *p = ch_provider_find("ucm");
    ch_raw_request req = {.content_type = "application/json",
                          .body = json,
                          .body_len = len,
                          .tenant_tz = tenant->timezone,
                          .tenant_country = tenant->country,
                          .max_records = t->cfg->max_records};
    ch_parsed parsed = {0};
    ch_parse_error err = {0};
    bool ok = false;
    if (p->parse(&req, &parsed, &err) != CH_OK) {
        ch_log_msg(CH_LOG_INFO, "ucm_tcp_rejected", err.message);
        goto out;
    }
    ch_event **evs = ch_calloc(parsed.n ? parsed.n : 1, sizeof *evs);
    size_t n = 0;
    for (size_t i = 0; i < parsed.n; i++)
        if (parsed.records[i].event) {
            ch_event_normalise(parsed.records[i].event, tenant->country);
            ch_event_prepare(parsed.records[i].event);
            evs[n++] = parsed.records[i].event;
        }
    ok = true; /* rejected rows are acknowledged: resending them cannot help */
    if (n) {
        ch_write_job job;
        ch_write_job_init(&job, evs, n);
        job.tenant_id = tenant->id;
        job.tenant_tz = tenant->timezone;
        job.tenant_country = tenant->country;
        job.monthly_limit = tenant->monthly_limit;
        job.hard_limit = tenant->hard_limit;
        job.no_auto_leads = tenant->features && strstr(tenant->features, "no-auto-leads");
        job.request_id = "ucm-tcp";
        ok = ch_store_submit_wait(t->store, &job) == CH_OK;
        ch_write_job_clear(&job);
    }
    free(evs);
out:
    ch_parsed_clear(&parsed);
    return ok;
}

/* Consumes the complete records at the start of buf[0..*len); false on a store failure. */
static bool drain(ch_ucm_tcp *t, const ch_tenant *tenant, char *buf, size_t *len, bool at_eof)
{
    size_t off = 0;
    for (;;) {
        while (off < *len &&
               (buf[off] == ' ' || buf[off] == '\r' || buf[off] == '\n' || buf[off] == '\t'))
            off++;
        if (off >= *len) break;
        if (buf[off] == '{' || buf[off] == '[') {
            json_error_t jerr;
            json_t *j = json_loadb(buf + off, *len - off, JSON_DISABLE_EOF_CHECK, &jerr);
            if (!j) {
                if (!at_eof) break; /* incomplete: wait for more */
                ch_log_msg(CH_LOG_INFO, "ucm_tcp_rejected", jerr.text);
                off = *len;
                break;
            }
            size_t used = jerr.position;
            json_decref(j);
            if (!store_record(t, tenant, buf + off, used)) return false;
            off += used;
        } else {
            char *nl = memchr(buf + off, '\n', *len - off);
            if (!nl && !at_eof) break;
            size_t n = nl ? (size_t)(nl - (buf + off)) : *len - off;
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

static void *serve_conn(void *arg)
{
    conn *c = arg;
    ch_ucm_tcp *t = c->t;
    ch_tenant tenant = {0};
    char *buf = NULL;
    int64_t tid = tenant_of(t->store, (struct sockaddr *)&c->peer);
    if (!tid || ch_store_tenant_by_id(t->store, tid, &tenant) != CH_OK) {
        char a[64];
        ch_addr_format((struct sockaddr *)&c->peer, a, sizeof a);
        ch_log_msg(CH_LOG_WARN, "ucm_tcp_refused", a); /* no source allow-lists this address */
        goto out;
    }
    buf = ch_malloc(MAX_BYTES + 1);
    size_t len = 0;
    bool eof = false, failed = false;
    while (!eof && !failed && !atomic_load(&t->stopping)) {
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        int pr = poll(&pfd, 1, IDLE_MS);
        if (pr <= 0) break; /* idle or error: what arrived complete is stored */
        ssize_t got = recv(c->fd, buf + len, MAX_BYTES - len, 0);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0)
            eof = true;
        else
            len += (size_t)got;
        if (len == MAX_BYTES) eof = true; /* ceiling: treat as the end of this connection */
        failed = !drain(t, &tenant, buf, &len, eof);
    }
    if (!failed && len) failed = !drain(t, &tenant, buf, &len, true);
    /* "OK" only when everything received is durable; otherwise the UCM keeps and resends it */
    if (!failed) (void)!send(c->fd, "OK\r\n", 4, MSG_NOSIGNAL);
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
    ch_ucm_tcp *t = arg;
    while (!atomic_load(&t->stopping)) {
        struct pollfd pfd = {.fd = t->fd, .events = POLLIN};
        if (poll(&pfd, 1, 200) <= 0) continue;
        conn *c = ch_calloc(1, sizeof *c);
        socklen_t sl = sizeof c->peer;
        c->t = t;
        c->fd = accept4(t->fd, (struct sockaddr *)&c->peer, &sl, SOCK_CLOEXEC);
        if (c->fd < 0 || atomic_fetch_add(&t->conns, 1) >= MAX_CONNS) {
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
    if (ch_parse_listen(cfg->ucm_tcp_listen, &ss, &v6) != CH_OK) {
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
    /* connections end within IDLE_MS; their writes complete before the store closes */
    for (int i = 0; i < 2 * IDLE_MS / 50 && atomic_load(&t->conns) > 0; i++)
        usleep(50 * 1000);
    free(t);
}
