#include "http/session.h"
#include "http/cookie.h"
#include "http/request.h"
#include "http/router.h"
#include "util/limits.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/result.h"
#include "util/timeutil.h"

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool ch_session_secure(ch_request *r)
{
    const char *pub = r->srv->cfg->public_url;
    if (strncasecmp(pub, "https://", 8) == 0) return true;
    return ch_host_is_loopback(ch_header(r, "Host"));
}

static const char *cookie_name(ch_request *r)
{
    return ch_session_secure(r) ? CH_SESSION_COOKIE_HOST : CH_SESSION_COOKIE_PLAIN;
}

bool ch_session_presented(ch_request *r)
{
    char id[CH_SESSION_ID_LEN + 2];
    return ch_cookie_get(ch_header(r, "Cookie"), cookie_name(r), id, sizeof id) != CH_ENOTFOUND;
}

/* ---- writes nobody waits for (last_seen_at, expired sessions) ------------------------- */

typedef struct {
    ch_write_job job; /* first: done() gets it back */
    ch_op op;
    char id_hash[CH_SHA256_HEX];
} bg_write;

static void bg_done(ch_write_job *job)
{
    bg_write *w = (bg_write *)job;
    ch_write_job_clear(&w->job);
    free(w);
}

static void bg_submit(ch_store *s, ch_op_kind kind, const char *id_hash)
{
    bg_write *w = ch_calloc(1, sizeof *w);
    ch_write_job_init(&w->job, NULL, 0);
    memcpy(w->id_hash, id_hash, CH_SHA256_HEX);
    w->op.kind = kind;
    w->op.in.session.id_hash = w->id_hash;
    w->job.ops = &w->op;
    w->job.nops = 1;
    w->job.done = bg_done;
    ch_store_submit(s, &w->job);
}

int ch_session_find(ch_request *r, ch_session *out, char id_hash[CH_SHA256_HEX])
{
    memset(out, 0, sizeof *out);
    char id[CH_SESSION_ID_LEN + 2];
    int rc = ch_cookie_get(ch_header(r, "Cookie"), cookie_name(r), id, sizeof id);
    if (rc == CH_ENOTFOUND) return CH_ENOTFOUND;
    if (rc != CH_OK || !ch_session_id_ok(id)) return CH_EAUTH;
    ch_sha256_hex(id, strlen(id), id_hash);
    sodium_memzero(id, sizeof id);
    rc = ch_store_session_get(r->srv->store, id_hash, out);
    if (rc == CH_ENOTFOUND) return CH_EAUTH;
    if (rc != CH_OK) return CH_ESTORE;
    const ch_config *cfg = r->srv->cfg;
    int64_t now = ch_now_ms(), idle_ms = (int64_t)cfg->auth_session_idle * 1000,
            max_ms = (int64_t)cfg->auth_session_max * 1000;
    if (now - out->last_seen_at >= idle_ms || now - out->created_at >= max_ms) {
        ch_session_clear(out);
        bg_submit(r->srv->store, CH_OP_SESSION_REMOVE, id_hash);
        return CH_EAUTH;
    }
    /* last_seen_at only needs the precision of the idle timeout: one write per session per
     * interval, not one per request */
    int64_t touch_ms = idle_ms / 4 < 60000 ? idle_ms / 4 : 60000;
    if (now - out->last_seen_at >= touch_ms) bg_submit(r->srv->store, CH_OP_SESSION_TOUCH, id_hash);
    return CH_OK;
}

/* Sec-Fetch-Site is set by the browser and cannot be forged by a page: a cross-site (or
 * same-site sibling) request is refused whatever else it carries. Absent: not a browser, or an
 * old one (then the token decides). */
static bool same_origin(ch_request *r)
{
    const char *site = ch_header(r, "Sec-Fetch-Site");
    return !site || strcmp(site, "same-origin") == 0 || strcmp(site, "none") == 0;
}

bool ch_session_csrf_ok(ch_request *r, const ch_session *s)
{
    if (!same_origin(r)) return false;
    const char *tok = ch_header(r, "X-CSRF-Token");
    if (!tok || !s->csrf || !*s->csrf) return false;
    return ch_ct_equal(tok, strlen(tok), s->csrf, strlen(s->csrf));
}

/* ---- the routes ------------------------------------------------------------------------ */

static json_t *session_body(const char *email, const char *role, const char *tenant,
                            const char *csrf)
{
    return json_pack("{s:{s:s, s:s, s:s}, s:s}", "user", "email", email, "role", role, "tenant",
                     tenant, "csrf_token", csrf);
}

static enum MHD_Result reply_session(ch_request *r, int status, json_t *body, const char *cookie)
{
    struct MHD_Response *resp = ch_json_response(body);
    /* the body holds the CSRF token: never kept by a cache */
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    if (cookie) MHD_add_response_header(resp, "Set-Cookie", cookie);
    return ch_reply_queue(r, status, resp);
}

static enum MHD_Result unauthenticated(ch_request *r, int rc)
{
    if (rc == CH_ESTORE)
        return ch_reply_error(r, 503, "store_unavailable", NULL, "the store cannot be read");
    return ch_reply_error(r, 401, "unauthenticated", NULL, "sign in first (POST /v1/session)");
}

static enum MHD_Result handle_get(ch_request *r)
{
    ch_session s;
    char hash[CH_SHA256_HEX];
    int rc = ch_session_find(r, &s, hash);
    if (rc != CH_OK) return unauthenticated(r, rc);
    enum MHD_Result ret =
        reply_session(r, 200, session_body(s.email, s.role, s.tenant_slug, s.csrf), NULL);
    ch_session_clear(&s);
    return ret;
}

typedef struct {
    ch_op ops[2];
    char id[CH_SESSION_ID_LEN + 2], id_hash[CH_SHA256_HEX], old_hash[CH_SHA256_HEX], csrf[48];
    char *email, *role, *tenant;
} signin_ctx;

static void signin_ctx_free(void *p)
{
    signin_ctx *c = p;
    free(c->email);
    free(c->role);
    free(c->tenant);
    sodium_memzero(c, sizeof *c);
    free(c);
}

static enum MHD_Result signed_in(ch_request *r, void *ctx, int result)
{
    signin_ctx *c = ctx;
    if (result == CH_ENOTFOUND) /* the user was removed meanwhile */
        return ch_reply_error(r, 401, "invalid_credentials", NULL, "wrong email or password");
    if (result != CH_OK)
        return ch_reply_error(r, 503, "store_unavailable", NULL, "the session cannot be stored");
    char cookie[192];
    ch_session_set_cookie(cookie, sizeof cookie, c->id, ch_session_secure(r),
                          r->srv->cfg->auth_session_max);
    ch_logline l;
    if (ch_log_begin(&l, CH_LOG_INFO, "signed_in", r->id)) {
        ch_log_str(&l, "tenant", c->tenant);
        ch_log_str(&l, "email", c->email);
        ch_log_end(&l);
    }
    enum MHD_Result ret =
        reply_session(r, 200, session_body(c->email, c->role, c->tenant, c->csrf), cookie);
    sodium_memzero(cookie, sizeof cookie);
    return ret;
}

static enum MHD_Result signin_failed(ch_request *r, const char *scope)
{
    const struct sockaddr *client = ch_client(r);
    int wait = ch_auth_lockout(r->srv->auth, client, scope);
    ch_auth_failed(r->srv->auth, client, scope);
    ch_metrics_auth_failure();
    if (wait > 0) {
        r->retry_after = wait;
        return ch_reply_error(r, 429, "rate_limited", NULL,
                              "too many failed sign-ins; retry later");
    }
    /* one answer for an unknown email and a wrong password */
    return ch_reply_error(r, 401, "invalid_credentials", NULL, "wrong email or password");
}

/* The request's body holds the password: wiped once it has been judged (not before: the
 * handler runs again after a verification and reads it again). */
static void wipe_body(ch_request *r)
{
    if (r->body.data) sodium_memzero(r->body.data, r->body.len);
}

static enum MHD_Result handle_post(ch_request *r)
{
    /* login CSRF: another site's page must not sign the browser in as someone else */
    if (!same_origin(r))
        return ch_reply_error(r, 403, "csrf", NULL, "sign in from a page of this origin");
    json_error_t jerr;
    json_t *body = json_loadb(r->body.data ? r->body.data : "", r->body.len, 0, &jerr);
    const char *email_in = json_string_value(json_object_get(body, "email"));
    const char *password = json_string_value(json_object_get(body, "password"));
    enum MHD_Result ret;
    if (!json_is_object(body) || !email_in || !password) {
        json_decref(body);
        return ch_reply_error(r, 422, "invalid_request", NULL,
                              "send {\"email\": \"…\", \"password\": \"…\"}");
    }
    size_t elen = strlen(email_in), plen = strlen(password);
    if (elen == 0 || elen > CH_EMAIL_MAX || plen > CH_PASSWORD_MAX) {
        json_decref(body);
        return ch_reply_error(r, 401, "invalid_credentials", NULL, "wrong email or password");
    }
    char email[CH_EMAIL_MAX + 1], scope[CH_EMAIL_MAX + 16];
    for (size_t i = 0; i <= elen; i++)
        email[i] = (char)tolower((unsigned char)email_in[i]);
    snprintf(scope, sizeof scope, "signin:%s", email);

    ch_user u;
    int rc = ch_store_user_by_email(r->srv->store, email, &u);
    if (rc != CH_OK && rc != CH_ENOTFOUND) {
        json_decref(body);
        return ch_reply_error(r, 503, "store_unavailable", NULL, "the store cannot be read");
    }
    rc = ch_auth_password(r->srv->auth, rc == CH_OK ? u.password_hash : NULL, password, &r->verify);
    json_decref(body); /* the password is no longer needed: the verification has a copy */
    if (rc == CH_EAGAIN) {
        ch_user_clear(&u);
        return ch_verify_later(r, scope);
    }
    ch_verify_clear(&r->verify);
    wipe_body(r);
    if (rc != CH_OK) {
        ch_user_clear(&u);
        return signin_failed(r, scope);
    }
    /* a new id at every sign-in; a session the browser still presents ends here */
    signin_ctx *c = ch_calloc(1, sizeof *c);
    unsigned char raw[CH_SESSION_ID_BYTES];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(c->id, sizeof c->id, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof raw);
    ch_sha256_hex(c->id, strlen(c->id), c->id_hash);
    ch_random_token(c->csrf, sizeof c->csrf, 24);
    c->email = ch_strdup(u.email);
    c->role = ch_strdup(u.role);
    c->tenant = ch_strdup(u.tenant_slug);
    size_t n = 0;
    c->ops[n++] = (ch_op){.kind = CH_OP_SESSION_ADD,
                          .tenant_id = u.tenant_id,
                          .id = u.id,
                          .in.session = {.id_hash = c->id_hash,
                                         .csrf = c->csrf,
                                         .idle_ms = (int64_t)r->srv->cfg->auth_session_idle * 1000,
                                         .max_ms = (int64_t)r->srv->cfg->auth_session_max * 1000}};
    ch_session old;
    if (ch_session_find(r, &old, c->old_hash) == CH_OK) {
        ch_session_clear(&old);
        c->ops[n++] = (ch_op){.kind = CH_OP_SESSION_REMOVE, .in.session.id_hash = c->old_hash};
    }
    ch_user_clear(&u);
    ret = ch_request_write(r, c->ops, n, signed_in, c, signin_ctx_free);
    return ret;
}

static enum MHD_Result signed_out(ch_request *r, void *ctx, int result)
{
    (void)ctx;
    if (result != CH_OK)
        return ch_reply_error(r, 503, "store_unavailable", NULL, "the session cannot be ended");
    char cookie[192];
    ch_session_set_cookie(cookie, sizeof cookie, NULL, ch_session_secure(r), 0);
    return reply_session(r, 200, json_pack("{s:b}", "signed_out", 1), cookie);
}

typedef struct {
    ch_op op;
    char id_hash[CH_SHA256_HEX];
} signout_ctx;

static enum MHD_Result handle_delete(ch_request *r)
{
    ch_session s;
    char hash[CH_SHA256_HEX];
    int rc = ch_session_find(r, &s, hash);
    if (rc != CH_OK) return unauthenticated(r, rc);
    bool ok = ch_session_csrf_ok(r, &s);
    ch_session_clear(&s);
    if (!ok)
        return ch_reply_error(r, 403, "csrf", NULL,
                              "send the session's X-CSRF-Token, from a page of this origin");
    signout_ctx *c = ch_calloc(1, sizeof *c);
    memcpy(c->id_hash, hash, sizeof hash);
    c->op = (ch_op){.kind = CH_OP_SESSION_REMOVE, .in.session.id_hash = c->id_hash};
    return ch_request_write(r, &c->op, 1, signed_out, c, free);
}

static enum MHD_Result handle_session(ch_request *r, const ch_route_args *a)
{
    if (strcmp(a->method, "POST") == 0) return handle_post(r);
    if (strcmp(a->method, "DELETE") == 0) return handle_delete(r);
    return handle_get(r);
}

int ch_session_routes(ch_router *rt)
{
    return ch_router_add(rt, CH_M_GET | CH_M_POST | CH_M_DELETE, "/v1/session", CH_RA_NONE,
                         CH_ROUTE_OTHER, handle_session, NULL);
}
