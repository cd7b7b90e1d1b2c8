/* The Grandstream UCM HTTPS API client (enrich/ucmapi.h). */
#include "enrich/ucmapi.h"

#include "util/limits.h"
#include "util/mem.h"
#include "util/result.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- parsers ------------------------------------------------------------------------------ */

static json_t *load(const char *body, size_t len)
{
    if (!body || len == 0) return NULL;
    json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    if (j && !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

int ch_ucmapi_parse_status(const char *body, size_t len, int *status)
{
    json_t *j = load(body, len);
    json_t *s = json_object_get(j, "status");
    int rc = CH_EINVAL;
    if (json_is_integer(s) && json_integer_value(s) >= -100000 && json_integer_value(s) <= 100000) {
        *status = (int)json_integer_value(s);
        rc = CH_OK;
    }
    json_decref(j);
    return rc;
}

static bool printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e) return false;
    return true;
}

static int response_string(const char *body, size_t len, const char *key, char *out, size_t outsz)
{
    json_t *j = load(body, len);
    json_t *v = json_object_get(json_object_get(j, "response"), key);
    int rc = CH_EINVAL;
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t l = json_string_length(v);
        if (l > 0 && l < outsz && strlen(s) == l && printable(s)) {
            memcpy(out, s, l + 1);
            rc = CH_OK;
        }
    }
    json_decref(j);
    return rc;
}

int ch_ucmapi_parse_challenge(const char *body, size_t len, char *out, size_t outsz)
{
    return response_string(body, len, "challenge", out, outsz);
}

int ch_ucmapi_parse_cookie(const char *body, size_t len, char *out, size_t outsz)
{
    return response_string(body, len, "cookie", out, outsz);
}

/* One comma-separated entry, trimmed and without its trailing '@'s; NULL when unusable. */
static char *record_name(const char *p, size_t l)
{
    while (l && (*p == ' ' || *p == '\t'))
        p++, l--;
    while (l && (p[l - 1] == ' ' || p[l - 1] == '\t' || p[l - 1] == '@'))
        l--;
    if (l == 0 || l > 255) return NULL; /* the UCM truncates names past 256 characters */
    for (size_t i = 0; i < l; i++)
        if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f) return NULL;
    if (memmem(p, l, "..", 2)) return NULL; /* the UCM skips these too */
    return ch_strndup(p, l);
}

int ch_ucmapi_parse_recordfiles(const char *body, size_t len, char ***names, size_t *n)
{
    *names = NULL;
    *n = 0;
    json_t *j = load(body, len);
    if (!j) return CH_EINVAL;
    json_t *v = json_object_get(json_object_get(j, "response"), "recordfiles");
    if (v && !json_is_string(v) && !json_is_null(v)) {
        json_decref(j);
        return CH_EINVAL;
    }
    char **out = ch_calloc(CH_UCM_RECORDFILES_MAX + 1, sizeof *out);
    size_t k = 0;
    const char *s = json_is_string(v) ? json_string_value(v) : "";
    size_t sl = json_is_string(v) ? json_string_length(v) : 0;
    size_t i = 0;
    while (i < sl && k < CH_UCM_RECORDFILES_MAX) {
        const char *e = memchr(s + i, ',', sl - i);
        size_t el = e ? (size_t)(e - (s + i)) : sl - i;
        char *name = record_name(s + i, el);
        if (name) out[k++] = name;
        i += el + 1;
    }
    json_decref(j);
    *names = out;
    *n = k;
    return CH_OK;
}

void ch_ucm_names_free(char **names)
{
    if (!names) return;
    for (char **p = names; *p; p++)
        free(*p);
    free(names);
}

/* ---- the session cache -------------------------------------------------------------------- */

typedef struct {
    char *key; /* base_url "\n" user */
    char cookie[CH_UCM_TOKEN_MAX];
    bool busy; /* a worker is logging in for this key: the others wait for its cookie */
} session;

struct ch_ucm_client {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* a login ended */
    session s[CH_UCM_SESSIONS_MAX];
    size_t next; /* where the search for a slot to reuse starts (oldest first) */
};

ch_ucm_client *ch_ucm_client_new(void)
{
    ch_ucm_client *c = ch_calloc(1, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    return c;
}

void ch_ucm_client_free(ch_ucm_client *c)
{
    if (!c) return;
    for (size_t i = 0; i < CH_UCM_SESSIONS_MAX; i++)
        free(c->s[i].key);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static char *session_key(const ch_ucm_target *t)
{
    return ch_asprintf("%s\n%s", t->base_url, t->user ? t->user : "");
}

static session *find(ch_ucm_client *c, const char *key)
{
    for (size_t i = 0; i < CH_UCM_SESSIONS_MAX; i++)
        if (c->s[i].key && strcmp(c->s[i].key, key) == 0) return &c->s[i];
    return NULL;
}

/* A slot for a new key: a free one, else the oldest not logging in; NULL when all are. */
static session *take_slot(ch_ucm_client *c, const char *key)
{
    session *s = NULL;
    for (size_t i = 0; i < CH_UCM_SESSIONS_MAX && !s; i++)
        if (!c->s[i].key) s = &c->s[i];
    for (size_t i = 0; i < CH_UCM_SESSIONS_MAX && !s; i++) {
        size_t k = (c->next + i) % CH_UCM_SESSIONS_MAX;
        if (!c->s[k].busy) {
            s = &c->s[k];
            c->next = (k + 1) % CH_UCM_SESSIONS_MAX;
        }
    }
    if (s) {
        free(s->key);
        s->key = ch_strdup(key);
        s->cookie[0] = 0;
    }
    return s;
}

static int login(const ch_ucm_target *t, char *cookie, ch_fetch_resp *r);

/* The cached cookie, or a new login's. One login at a time per (UCM, user): workers needing
 * the same session wait for the one logging in instead of each logging in (a UCM rate-limits,
 * and a backlog of jobs would otherwise start with a burst of logins). The lock is never held
 * across the network. */
static int session_acquire(ch_ucm_client *c, const ch_ucm_target *t, char *cookie, ch_fetch_resp *r)
{
    char *key = session_key(t);
    int rc = CH_OK;
    session *s;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        s = find(c, key);
        if (s && s->cookie[0]) {
            memcpy(cookie, s->cookie, sizeof s->cookie);
            goto out;
        }
        if (s && !s->busy) break;
        if (!s && (s = take_slot(c, key))) break;
        pthread_cond_wait(&c->cv, &c->mu);
    }
    s->busy = true; /* a busy slot is never taken for another key: s stays ours */
    pthread_mutex_unlock(&c->mu);
    rc = login(t, cookie, r);
    pthread_mutex_lock(&c->mu);
    s->busy = false;
    if (rc == CH_OK) memcpy(s->cookie, cookie, sizeof s->cookie);
    pthread_cond_broadcast(&c->cv);
out:
    pthread_mutex_unlock(&c->mu);
    free(key);
    return rc;
}

/* Forgets the session if it is still `cookie`: another worker may have logged in already. */
static void session_drop(ch_ucm_client *c, const ch_ucm_target *t, const char *cookie)
{
    char *key = session_key(t);
    pthread_mutex_lock(&c->mu);
    session *s = find(c, key);
    if (s && strcmp(s->cookie, cookie) == 0) s->cookie[0] = 0;
    pthread_mutex_unlock(&c->mu);
    free(key);
}

bool ch_ucm_client_has_session(ch_ucm_client *c, const ch_ucm_target *t)
{
    char *key = session_key(t);
    pthread_mutex_lock(&c->mu);
    session *s = find(c, key);
    bool ok = s && s->cookie[0];
    pthread_mutex_unlock(&c->mu);
    free(key);
    return ok;
}

/* ---- exchanges ---------------------------------------------------------------------------- */

/* POSTs {"request": request} (stolen) to {base}/api. */
static int api_post(const ch_ucm_target *t, json_t *request, size_t max, ch_fetch_resp *r)
{
    json_t *doc = json_pack("{s:o}", "request", request);
    char *body = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    char *url = ch_asprintf("%s/api", t->base_url);
    static const char *const headers[] = {"Content-Type: application/json;charset=UTF-8", NULL};
    ch_fetch_req req = {.method = "POST",
                        .url = url,
                        .headers = headers,
                        .body = body,
                        .body_len = strlen(body),
                        .max_body = max,
                        .timeout_ms = t->timeout_ms,
                        .allow_private = t->allow_private,
                        .insecure_tls = t->insecure_tls,
                        .ca_file = t->ca_file,
                        .pinned_pubkey = t->pinned_pubkey};
    int rc = ch_fetch(&req, r);
    if (rc == CH_OK && r->status != 200) rc = ch_fetch_status_class(r->status);
    free(url);
    free(body); /* held the cookie or the login token: not kept */
    return rc;
}

/* What a non-zero UCM status means for the job; the reason in r->error. */
static int status_error(int status, const char *what, int otherwise, ch_fetch_resp *r)
{
    if (status == CH_UCM_STATUS_RATE_LIMITED) {
        snprintf(r->error, sizeof r->error, "UCM rate limited %s (status -45)", what);
        r->retry_after_s = CH_UCM_RATE_LIMIT_S;
        return CH_EAGAIN;
    }
    snprintf(r->error, sizeof r->error, "UCM refused %s (status %d)", what, status);
    return otherwise;
}

/* One action with a JSON answer: CH_OK with status 0 and r->body; else the reason in r. */
static int api_json(const ch_ucm_target *t, json_t *request, const char *what, int refused,
                    ch_fetch_resp *r)
{
    int status, rc = api_post(t, request, CH_UCM_API_ANSWER_MAX, r);
    if (rc != CH_OK) return rc;
    if (ch_ucmapi_parse_status((const char *)r->body, r->len, &status) != CH_OK) {
        snprintf(r->error, sizeof r->error, "UCM %s: answer is not the API's JSON", what);
        return CH_EINVAL;
    }
    if (status != 0) return status_error(status, what, refused, r);
    return CH_OK;
}

static void md5_hex(const char *a, const char *b, char out[33])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *x = EVP_MD_CTX_new();
    if (!x) abort();
    EVP_DigestInit_ex(x, EVP_md5(), NULL);
    EVP_DigestUpdate(x, a, strlen(a));
    EVP_DigestUpdate(x, b, strlen(b));
    EVP_DigestFinal_ex(x, md, &mdlen);
    EVP_MD_CTX_free(x);
    for (unsigned i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* challenge → login: the new session's cookie (CH_UCM_TOKEN_MAX bytes). */
static int login(const ch_ucm_target *t, char *cookie, ch_fetch_resp *r)
{
    const char *user = t->user ? t->user : "";
    char challenge[CH_UCM_TOKEN_MAX], token[33];
    int rc = api_json(
        t, json_pack("{s:s,s:s,s:s}", "action", "challenge", "user", user, "version", "1.0"),
        "the challenge", CH_EAUTH, r);
    if (rc != CH_OK) return rc;
    if (ch_ucmapi_parse_challenge((const char *)r->body, r->len, challenge, sizeof challenge)) {
        snprintf(r->error, sizeof r->error, "UCM challenge: no challenge in the answer");
        return CH_EINVAL;
    }
    ch_fetch_resp_free(r);
    md5_hex(challenge, t->password ? t->password : "", token);
    rc = api_json(t, json_pack("{s:s,s:s,s:s}", "action", "login", "user", user, "token", token),
                  "the login", CH_EAUTH, r);
    if (rc != CH_OK) return rc;
    if (ch_ucmapi_parse_cookie((const char *)r->body, r->len, cookie, CH_UCM_TOKEN_MAX)) {
        snprintf(r->error, sizeof r->error, "UCM login: no cookie in the answer");
        return CH_EINVAL;
    }
    ch_fetch_resp_free(r);
    return CH_OK;
}

static bool expired(int status)
{
    return status == CH_UCM_STATUS_EXPIRED_A || status == CH_UCM_STATUS_EXPIRED_B;
}

/* A JSON answer where a file was expected: the UCM's error (binary files never start so). */
static bool json_answer(const ch_fetch_resp *r, int *status)
{
    size_t i = 0;
    while (i < r->len && (r->body[i] == ' ' || r->body[i] == '\n' || r->body[i] == '\r'))
        i++;
    if (i == r->len || r->body[i] != '{' || r->len > CH_UCM_API_ANSWER_MAX) return false;
    if (ch_ucmapi_parse_status((const char *)r->body, r->len, status) == CH_OK) return true;
    *status = 0;
    return strstr(r->content_type, "json") != NULL; /* JSON without a status: still no file */
}

/* One action under the session, logging in first when none is cached and once more when the
 * UCM says it expired. make(arg, cookie) builds the request; file: the answer is a file. */
static int with_session(ch_ucm_client *c, const ch_ucm_target *t, const char *what,
                        json_t *(*make)(const void *, const char *), const void *arg, bool file,
                        ch_fetch_resp *r)
{
    char cookie[CH_UCM_TOKEN_MAX];
    int rc = CH_ERR;
    for (int attempt = 0; attempt < 2; attempt++) {
        if ((rc = session_acquire(c, t, cookie, r)) != CH_OK) return rc;
        int status = 0;
        if (file) {
            rc = api_post(t, make(arg, cookie), t->max_body, r);
            if (rc != CH_OK) return rc;
            if (!json_answer(r, &status)) return CH_OK;
            if (status == 0) {
                snprintf(r->error, sizeof r->error, "UCM %s: a JSON answer, no file", what);
                rc = CH_EINVAL;
                goto fail;
            }
        } else {
            rc = api_post(t, make(arg, cookie), CH_UCM_API_ANSWER_MAX, r);
            if (rc != CH_OK) return rc;
            if (ch_ucmapi_parse_status((const char *)r->body, r->len, &status) != CH_OK) {
                snprintf(r->error, sizeof r->error, "UCM %s: answer is not the API's JSON", what);
                rc = CH_EINVAL;
                goto fail;
            }
            if (status == 0) return CH_OK;
        }
        if (!expired(status)) {
            rc = status_error(status, what, CH_EINVAL, r);
            goto fail;
        }
        session_drop(c, t, cookie);
        ch_fetch_resp_free(r);
        snprintf(r->error, sizeof r->error, "UCM %s: session expired again after a new login",
                 what);
        rc = CH_EAGAIN;
    }
    return rc;
fail:
    ch_fetch_resp_free(r);
    return rc;
}

typedef struct {
    const char *dir, *file;
} recname;

static json_t *make_recapi(const void *arg, const char *cookie)
{
    const recname *n = arg;
    return json_pack("{s:s,s:s,s:s,s:s}", "action", "recapi", "cookie", cookie, "filedir", n->dir,
                     "filename", n->file);
}

int ch_ucm_fetch_recording(ch_ucm_client *c, const ch_ucm_target *t, const char *name,
                           ch_fetch_resp *out)
{
    memset(out, 0, sizeof *out);
    out->retry_after_s = -1;
    const char *slash = strrchr(name, '/');
    char *dir = NULL;
    recname n = {"monitor", name};
    if (slash) { /* "…/queue/x.wav": the last directory names the filedir */
        const char *d = slash;
        while (d > name && d[-1] != '/')
            d--;
        dir = ch_strndup(d, (size_t)(slash - d));
        n.dir = *dir ? dir : "monitor";
        n.file = slash + 1;
    }
    int rc;
    if (!*n.file) {
        snprintf(out->error, sizeof out->error, "UCM recording: empty file name");
        rc = CH_EINVAL;
    } else {
        rc = with_session(c, t, "the recording", make_recapi, &n, true, out);
    }
    if (rc != CH_OK) ch_fetch_resp_free(out); /* an error page is no recording */
    free(dir);
    return rc;
}

static json_t *make_infos(const void *arg, const char *cookie)
{
    return json_pack("{s:s,s:s,s:s}", "action", "getRecordInfosByCall", "cookie", cookie, "id",
                     (const char *)arg);
}

int ch_ucm_record_files(ch_ucm_client *c, const ch_ucm_target *t, const char *call_id,
                        char ***names, size_t *n, long *retry_after_s, char *err, size_t errlen)
{
    *names = NULL;
    *n = 0;
    ch_fetch_resp r;
    memset(&r, 0, sizeof r);
    r.retry_after_s = -1;
    int rc = with_session(c, t, "the call's recordings", make_infos, call_id, false, &r);
    if (rc == CH_OK &&
        ch_ucmapi_parse_recordfiles((const char *)r.body, r.len, names, n) != CH_OK) {
        snprintf(r.error, sizeof r.error, "UCM the call's recordings: recordfiles not a string");
        rc = CH_EINVAL;
    }
    if (retry_after_s) *retry_after_s = r.retry_after_s;
    if (err && errlen) snprintf(err, errlen, "%s", rc == CH_OK ? "" : r.error);
    ch_fetch_resp_free(&r);
    return rc;
}
