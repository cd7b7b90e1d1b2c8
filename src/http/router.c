#include "http/router.h"
#include "http/reply.h"
#include "http/request.h"
#include "http/session.h"
#include "util/mem.h"
#include "util/result.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    unsigned methods;
    char *pattern;
    char *lit[CH_ROUTE_MAX_SEGS]; /* a literal segment, or NULL for a {param} */
    const char *pname[CH_ROUTE_MAX_SEGS];
    int nseg;
    unsigned
        rank; /* literal positions, the leftmost highest: "/v1/calls/export" > "/v1/calls/{id}" */
    ch_route_auth auth;
    ch_route metric;
    ch_route_handler handler;
    const void *data;
} route_entry;

struct ch_router {
    route_entry *e;
    size_t n, cap;
};

ch_router *ch_router_new(void)
{
    return ch_calloc(1, sizeof(ch_router));
}

void ch_router_free(ch_router *rt)
{
    if (!rt) return;
    for (size_t i = 0; i < rt->n; i++) {
        for (int k = 0; k < rt->e[i].nseg; k++)
            free(rt->e[i].lit[k]);
        free(rt->e[i].pattern);
    }
    free(rt->e);
    free(rt);
}

/* Splits the path of a request target ("/a/b/c?q") into at most max segments (copied into
 * buf). Only the canonical form is a path: one leading slash, no empty, "." or ".." segment,
 * no trailing slash, and no escape for a slash, a backslash, '?', '#' or a control character
 * (which libmicrohttpd would decode into the path it hands us: "/hooks/a%2Fb", "/x%00"). *escaped
 * says whether any %-escape was present. -1 for anything else. */
static int split_path(const char *target, char *buf, size_t bufsz, char **seg, int max,
                      bool *escaped)
{
    size_t n = strcspn(target, "?#");
    if (n >= bufsz || n == 0 || target[0] != '/') return -1;
    memcpy(buf, target, n);
    buf[n] = '\0';
    *escaped = false;
    for (const char *p = buf; (p = strchr(p, '%')); p++) {
        *escaped = true;
        unsigned v;
        if (sscanf(p + 1, "%2x", &v) != 1) return -1;
        if (v < 0x20 || v == '/' || v == '\\' || v == '?' || v == '#' || v == 0x7f) return -1;
    }
    if (n == 1) return 0;
    int k = 0;
    char *p = buf + 1;
    for (;;) {
        char *slash = strchr(p, '/');
        if (slash) *slash = '\0';
        if (!*p || strcmp(p, ".") == 0 || strcmp(p, "..") == 0 || k == max) return -1;
        seg[k++] = p;
        if (!slash) break;
        p = slash + 1;
    }
    return k;
}

static bool same_shape(const route_entry *a, const route_entry *b)
{
    if (a->nseg != b->nseg || a->rank != b->rank) return false;
    for (int k = 0; k < a->nseg; k++)
        if (a->lit[k] && strcmp(a->lit[k], b->lit[k]) != 0) return false;
    return true;
}

int ch_router_add(ch_router *rt, unsigned methods, const char *pattern, ch_route_auth auth,
                  ch_route metric, ch_route_handler handler, const void *data)
{
    if (!methods || !pattern || !handler || strlen(pattern) >= 256) return CH_EINVAL;
    route_entry e = {
        .methods = methods, .auth = auth, .metric = metric, .handler = handler, .data = data};
    e.pattern = ch_strdup(pattern);
    char buf[256], *seg[CH_ROUTE_MAX_SEGS];
    bool escaped;
    int n = split_path(pattern, buf, sizeof buf, seg, CH_ROUTE_MAX_SEGS, &escaped);
    int params = 0;
    /* "/" is the one pattern without a segment (the dashboard's home) */
    if (n < 0 || escaped || strchr(pattern, '?')) goto bad;
    for (int k = 0; k < n; k++) {
        size_t len = strlen(seg[k]);
        if (seg[k][0] == '{') {
            if (len < 3 || seg[k][len - 1] != '}' || params == CH_ROUTE_MAX_PARAMS) goto bad;
            /* the name points into the pattern copy: same offset, brace stripped */
            size_t off = (size_t)(seg[k] - buf) + 1;
            e.pattern[off + len - 2] = '\0';
            e.pname[k] = e.pattern + off;
            params++;
        } else {
            if (strpbrk(seg[k], "{}")) goto bad;
            e.lit[k] = ch_strdup(seg[k]);
            e.rank |= 1u << (CH_ROUTE_MAX_SEGS - 1 - k);
        }
    }
    e.nseg = n;
    for (size_t i = 0; i < rt->n; i++)
        if (same_shape(&rt->e[i], &e) && (rt->e[i].methods & methods)) {
            for (int k = 0; k < n; k++)
                free(e.lit[k]);
            free(e.pattern);
            return CH_EEXIST;
        }
    if (rt->n == rt->cap) {
        rt->cap = rt->cap ? rt->cap * 2 : 16;
        rt->e = ch_realloc(rt->e, rt->cap * sizeof *rt->e);
    }
    rt->e[rt->n++] = e;
    return CH_OK;
bad:
    for (int k = 0; k < CH_ROUTE_MAX_SEGS; k++)
        free(e.lit[k]);
    free(e.pattern);
    return CH_EINVAL;
}

const char *ch_route_param(const ch_route_args *a, const char *name)
{
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->name[i], name) == 0) return a->value[i];
    return NULL;
}

static unsigned method_bit(const char *method)
{
    if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0) return CH_M_GET;
    if (strcmp(method, "POST") == 0) return CH_M_POST;
    if (strcmp(method, "PUT") == 0) return CH_M_PUT;
    if (strcmp(method, "PATCH") == 0) return CH_M_PATCH;
    if (strcmp(method, "DELETE") == 0) return CH_M_DELETE;
    return 0; /* OPTIONS, TRACE, …: no route takes them */
}

static void match_segs(const ch_router *rt, const char *method, char **seg, int n, bool escaped,
                       ch_route_match *m)
{
    memset(m, 0, sizeof *m);
    m->status = 404;
    m->metric = CH_ROUTE_OTHER;
    const route_entry *best = NULL;
    for (size_t i = 0; i < rt->n; i++) {
        const route_entry *e = &rt->e[i];
        if (e->nseg != n || (best && e->rank <= best->rank)) continue;
        int k = 0;
        while (k < n && (!e->lit[k] || strcmp(e->lit[k], seg[k]) == 0))
            k++;
        if (k == n) best = e;
    }
    if (!best) return;
    /* every route of that shape: one takes the method, or the path answers 405 */
    unsigned bit = method_bit(method), allowed = 0;
    const route_entry *hit = NULL;
    bool hook = false;
    for (size_t i = 0; i < rt->n; i++) {
        const route_entry *e = &rt->e[i];
        if (!same_shape(e, best)) continue;
        allowed |= e->methods;
        hook |= e->auth == CH_RA_HOOK;
        if (e->methods & bit) hit = e;
    }
    /* tenant slugs and provider names have one spelling: no escapes on the webhook routes */
    if (escaped && hook) return;
    m->metric = best->metric;
    if (!hit) {
        static const char *const names[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};
        m->status = 405;
        for (unsigned b = 0; b < sizeof names / sizeof *names; b++)
            if (allowed & (1u << b))
                snprintf(m->allow + strlen(m->allow), sizeof m->allow - strlen(m->allow), "%s%s",
                         m->allow[0] ? ", " : "", names[b]);
        return;
    }
    m->status = 200;
    m->auth = hit->auth;
    m->handler = hit->handler;
    m->args.data = hit->data;
    m->args.method = method;
    for (int k = 0; k < n; k++)
        if (hit->pname[k]) {
            m->args.name[m->args.n] = hit->pname[k];
            m->args.value[m->args.n++] = seg[k];
        }
}

void ch_router_match(const ch_router *rt, const char *method, const char *path, bool escaped,
                     char *seg_buf, size_t seg_bufsz, ch_route_match *m)
{
    char *seg[CH_ROUTE_MAX_SEGS];
    bool esc;
    int n = split_path(path, seg_buf, seg_bufsz, seg, CH_ROUTE_MAX_SEGS, &esc);
    if (n < 0) {
        memset(m, 0, sizeof *m);
        m->status = 404;
        m->metric = CH_ROUTE_OTHER;
        return;
    }
    match_segs(rt, method, seg, n, escaped || esc, m);
}

/* API-key authentication: MHD_YES with *tenant_id (0 and an answer queued when it fails). */
static enum MHD_Result api_authenticate(ch_request *r, int64_t *tenant_id)
{
    const char *authorization = ch_header(r, "Authorization");
    if (ch_auth_apikey(r->srv->auth, r->srv->store, authorization, tenant_id) == CH_OK)
        return MHD_YES; /* a key that is right is never refused, whatever others did */
    /* failures count against (client, key id): one client's bad key locks out nobody else */
    char scope[32] = "api";
    if (authorization && strncmp(authorization, "Bearer chk_", 11) == 0)
        snprintf(scope, sizeof scope, "api\n%.12s", authorization + 11);
    const struct sockaddr *client = ch_client(r);
    int wait = ch_auth_lockout(r->srv->auth, client, scope);
    ch_auth_failed(r->srv->auth, client, scope);
    ch_metrics_auth_failure();
    if (wait > 0) {
        r->retry_after = wait;
        return ch_reply_error(r, 429, "rate_limited", NULL,
                              "too many failed authentications from this address; retry later");
    }
    return ch_reply_error(r, 401, "unauthorized", NULL, "send Authorization: Bearer <API key>");
}

static bool safe_method(const char *method)
{
    return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
}

/* Session-cookie authentication (http/session.h): MHD_YES with the tenant, user and role set
 * in a (an answer queued when it fails). A state-changing request needs the CSRF token, and a
 * viewer may only read. */
static enum MHD_Result session_authenticate(ch_request *r, const char *method, ch_route_args *a)
{
    ch_session s;
    char hash[CH_SHA256_HEX];
    int rc = ch_session_find(r, &s, hash);
    if (rc == CH_ESTORE)
        return ch_reply_error(r, 503, "store_unavailable", NULL, "the store cannot be read");
    if (rc != CH_OK)
        return ch_reply_error(r, 401, "unauthenticated", NULL,
                              "the session has ended; sign in again (POST /v1/session)");
    enum MHD_Result ret = MHD_YES;
    bool viewer = strcmp(s.role, "viewer") == 0;
    if (!safe_method(method) && !ch_session_csrf_ok(r, &s)) {
        ret = ch_reply_error(r, 403, "csrf", NULL,
                             "send the session's X-CSRF-Token, from a page of this origin");
    } else if (!safe_method(method) && viewer) {
        ret = ch_reply_error(r, 403, "forbidden", NULL, "viewers cannot change settings");
    } else {
        a->tenant_id = s.tenant_id;
        a->user_id = s.user_id;
        a->role = viewer ? CH_ROLE_VIEWER : CH_ROLE_ADMIN;
    }
    ch_session_clear(&s);
    return ret;
}

enum MHD_Result ch_router_dispatch(const ch_router *rt, ch_request *r, const char *method,
                                   const char *url)
{
    char buf[1024];
    char *seg[CH_ROUTE_MAX_SEGS];
    bool escaped, decoded_escaped;
    int n = split_path(r->raw_uri ? r->raw_uri : url, buf, sizeof buf, seg, CH_ROUTE_MAX_SEGS,
                       &escaped);
    /* the escapes are checked on the raw target; the route is found on the decoded path */
    if (n > 0 && escaped)
        n = split_path(url, buf, sizeof buf, seg, CH_ROUTE_MAX_SEGS, &decoded_escaped);
    ch_route_match m;
    if (n >= 0) {
        match_segs(rt, method, seg, n, escaped, &m);
    } else {
        m.status = 404;
        m.metric = CH_ROUTE_OTHER;
    }
    r->route = m.metric;
    if (m.status == 404) return ch_reply_error(r, 404, "not_found", NULL, "no such route");
    if (m.status == 405) return ch_reply_not_allowed(r, m.allow);
    if (m.auth == CH_RA_API_KEY) {
        /* an Authorization header is an API client's: it never falls back to a cookie */
        if (!ch_header(r, "Authorization") && ch_session_presented(r)) {
            if (session_authenticate(r, method, &m.args) != MHD_YES || r->state == REQ_ANSWERED)
                return MHD_YES;
        } else {
            if (api_authenticate(r, &m.args.tenant_id) != MHD_YES || r->state == REQ_ANSWERED)
                return MHD_YES;
            m.args.user_id = 0;
            m.args.role = CH_ROLE_APIKEY;
        }
    }
    return m.handler(r, &m.args);
}
