#include "http/auth.h"
#include "http/client.h"
#include "util/cidr.h"
#include "util/crypto.h"
#include "util/limits.h"
#include "util/mem.h"
#include "util/result.h"
#include "util/timeutil.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct {
    uint64_t id; /* keyed hash of (address, scope); 0 = free */
    int64_t window_start;
    int count;
} fail_slot;

typedef struct {
    uint64_t id;
    int n;
} pending_slot;

struct ch_auth {
    ch_auth_opts o;
    int window_ms;
    unsigned char hash_key[crypto_shorthash_KEYBYTES];
    unsigned char cache_key[crypto_generichash_KEYBYTES];
    pthread_mutex_t lock;
    fail_slot fails[CH_AUTH_FAIL_SLOTS];
    /* argon2id costs tens of milliseconds by design. A successful verification is remembered
     * as a keyed hash of (stored hash, presented password) under a key that exists only in
     * this process: the next request with the same password costs one hash, a changed
     * password misses, and the table is no offline oracle. Failures are never cached. */
    unsigned char verified[CH_AUTH_VERIFIED_SLOTS][32];
    /* the verification threads */
    pthread_cond_t work;
    pthread_t *threads;
    int nthreads;
    bool stop;
    ch_verify *head, *tail;
    int queued;
    pending_slot pending[CH_AUTH_PENDING_SLOTS];
    char *standin; /* hash of a random password: unknown users cost the same as known ones */
    _Atomic uint64_t verifications, refused;
};

void ch_auth_get_stats(ch_auth *a, uint64_t *verifications, uint64_t *refused)
{
    *verifications = atomic_load(&a->verifications);
    *refused = atomic_load(&a->refused);
}

static uint64_t keyed_id(ch_auth *a, const unsigned char addr[16], const char *scope)
{
    unsigned char buf[16 + 256];
    size_t n = 16;
    memcpy(buf, addr, 16);
    if (scope) {
        size_t sl = strnlen(scope, 255);
        buf[n++] = 1; /* an empty scope differs from none */
        memcpy(buf + n, scope, sl);
        n += sl;
    }
    uint64_t h;
    crypto_shorthash((unsigned char *)&h, buf, n, a->hash_key);
    return h ? h : 1;
}

static void *verify_main(void *arg);

ch_auth *ch_auth_new(const ch_auth_opts *o)
{
    ch_auth *a = ch_calloc(1, sizeof *a);
    a->o = *o;
    if (a->o.fail_limit <= 0) a->o.fail_limit = 10;
    if (a->o.addr_fail_limit <= 0) a->o.addr_fail_limit = 50;
    if (a->o.window_sec <= 0) a->o.window_sec = 60;
    if (a->o.verify_threads <= 0) a->o.verify_threads = 1;
    a->window_ms = a->o.window_sec * 1000;
    randombytes_buf(a->hash_key, sizeof a->hash_key);
    randombytes_buf(a->cache_key, sizeof a->cache_key);
    pthread_mutex_init(&a->lock, NULL);
    pthread_cond_init(&a->work, NULL);
    a->nthreads = a->o.verify_threads;
    a->threads = ch_calloc((size_t)a->nthreads, sizeof *a->threads);
    for (int i = 0; i < a->nthreads; i++)
        if (pthread_create(&a->threads[i], NULL, verify_main, a) != 0) abort();
    return a;
}

void ch_auth_free(ch_auth *a)
{
    if (!a) return;
    pthread_mutex_lock(&a->lock);
    a->stop = true;
    pthread_cond_broadcast(&a->work);
    pthread_mutex_unlock(&a->lock);
    for (int i = 0; i < a->nthreads; i++)
        pthread_join(a->threads[i], NULL);
    free(a->threads);
    free(a->standin);
    pthread_cond_destroy(&a->work);
    pthread_mutex_destroy(&a->lock);
    sodium_memzero(a, sizeof *a);
    free(a);
}

/* ---- failure throttling --------------------------------------------------------------- */

static int slot_wait(ch_auth *a, uint64_t id, int limit, int64_t now)
{
    fail_slot *s = &a->fails[id % CH_AUTH_FAIL_SLOTS];
    if (s->id != id || s->count < limit || now - s->window_start >= a->window_ms) return 0;
    return (int)((a->window_ms - (now - s->window_start) + 999) / 1000);
}

/* The two throttle ids of a client: (address, scope) and the address alone. */
static void throttle_ids(ch_auth *a, const struct sockaddr *client, const char *scope,
                         uint64_t *pair, uint64_t *addr)
{
    unsigned char key[16];
    ch_client_key(client, key);
    *pair = keyed_id(a, key, scope ? scope : "");
    *addr = keyed_id(a, key, NULL);
}

int ch_auth_lockout(ch_auth *a, const struct sockaddr *client, const char *scope)
{
    uint64_t pair, addr;
    throttle_ids(a, client, scope, &pair, &addr);
    int64_t now = ch_mono_ns() / 1000000;
    pthread_mutex_lock(&a->lock);
    int w1 = slot_wait(a, pair, a->o.fail_limit, now);
    int w2 = slot_wait(a, addr, a->o.addr_fail_limit, now);
    pthread_mutex_unlock(&a->lock);
    return w1 > w2 ? w1 : w2;
}

static void slot_count(ch_auth *a, uint64_t id, int64_t now)
{
    fail_slot *s = &a->fails[id % CH_AUTH_FAIL_SLOTS];
    if (s->id != id || now - s->window_start >= a->window_ms) {
        s->id = id;
        s->window_start = now;
        s->count = 0;
    }
    s->count++;
}

void ch_auth_failed(ch_auth *a, const struct sockaddr *client, const char *scope)
{
    uint64_t pair, addr;
    throttle_ids(a, client, scope, &pair, &addr);
    int64_t now = ch_mono_ns() / 1000000;
    pthread_mutex_lock(&a->lock);
    slot_count(a, pair, now);
    slot_count(a, addr, now);
    pthread_mutex_unlock(&a->lock);
}

/* ---- password verification, off the HTTP threads ------------------------------------- */

/* The slot counting addr's waiting verifications, probing a few slots; NULL when all are busy
 * with other addresses (lock held). */
static pending_slot *pending_of(ch_auth *a, const unsigned char addr[16])
{
    uint64_t id = keyed_id(a, addr, NULL);
    pending_slot *unused = NULL;
    for (uint64_t i = 0; i < 4; i++) {
        pending_slot *p = &a->pending[(id + i) % CH_AUTH_PENDING_SLOTS];
        if (p->id == id) return p;
        if (p->n == 0 && !unused) unused = p;
    }
    if (unused) unused->id = id;
    return unused;
}

int ch_auth_verify_submit(ch_auth *a, ch_verify *v, const struct sockaddr *client)
{
    ch_client_key(client, v->addr);
    pthread_mutex_lock(&a->lock);
    pending_slot *p = pending_of(a, v->addr);
    if (!p || p->n >= CH_VERIFY_PER_ADDR || a->queued >= CH_VERIFY_QUEUE_MAX) {
        pthread_mutex_unlock(&a->lock);
        atomic_fetch_add(&a->refused, 1);
        return CH_ELIMIT;
    }
    p->n++;
    a->queued++;
    v->next = NULL;
    if (a->tail)
        a->tail->next = v;
    else
        a->head = v;
    a->tail = v;
    pthread_cond_signal(&a->work);
    pthread_mutex_unlock(&a->lock);
    return CH_OK;
}

static void remember(ch_auth *a, const unsigned char key[32])
{
    size_t slot = (key[0] | (size_t)key[1] << 8) % CH_AUTH_VERIFIED_SLOTS;
    pthread_mutex_lock(&a->lock);
    memcpy(a->verified[slot], key, 32);
    pthread_mutex_unlock(&a->lock);
}

static bool remembered(ch_auth *a, const unsigned char key[32])
{
    size_t slot = (key[0] | (size_t)key[1] << 8) % CH_AUTH_VERIFIED_SLOTS;
    pthread_mutex_lock(&a->lock);
    bool hit = sodium_memcmp(a->verified[slot], key, 32) == 0;
    pthread_mutex_unlock(&a->lock);
    return hit;
}

static void *verify_main(void *arg)
{
    pthread_setname_np(pthread_self(), "ch-verify"); /* top -H, perf: docs/internals/threads.md */
    ch_auth *a = arg;
    pthread_mutex_lock(&a->lock);
    for (;;) {
        while (!a->stop && !a->head)
            pthread_cond_wait(&a->work, &a->lock);
        if (a->stop) break;
        ch_verify *v = a->head;
        a->head = v->next;
        if (!a->head) a->tail = NULL;
        a->queued--;
        if (!v->stored && !a->standin) {
            /* made once, on first need, here rather than at start-up (it costs a verification) */
            char pw[33], hash[CH_PWHASH_MAX];
            ch_random_hex(pw, 16);
            pthread_mutex_unlock(&a->lock);
            int rc = ch_password_hash(pw, hash);
            pthread_mutex_lock(&a->lock);
            if (rc == CH_OK && !a->standin) a->standin = ch_strdup(hash);
        }
        const char *stored = v->stored ? v->stored : a->standin;
        pthread_mutex_unlock(&a->lock);
        bool ok = ch_password_verify(stored, v->password) && v->stored;
        atomic_fetch_add(&a->verifications, 1);
        if (ok) remember(a, v->key);
        pthread_mutex_lock(&a->lock);
        pending_slot *p = pending_of(a, v->addr);
        if (p && p->n > 0) p->n--;
        pthread_mutex_unlock(&a->lock);
        ch_verify_finish(v, ok);
        v->on_done(v); /* v belongs to its request again from here */
        pthread_mutex_lock(&a->lock);
    }
    pthread_mutex_unlock(&a->lock);
    return NULL;
}

static void job_clear(ch_verify *v)
{
    free(v->stored);
    v->stored = NULL;
    if (v->password) {
        sodium_memzero(v->password, strlen(v->password));
        free(v->password);
        v->password = NULL;
    }
}

void ch_verify_finish(ch_verify *v, bool ok)
{
    if (!v->stored) {
        v->standin_done = true;
    } else if (v->nseen < CH_VERIFY_SEEN) {
        memcpy(v->seen[v->nseen].key, v->key, 32);
        v->seen[v->nseen++].ok = ok;
    }
    job_clear(v);
}

void ch_verify_clear(ch_verify *v)
{
    job_clear(v);
    sodium_memzero(v, sizeof *v);
}

static void cache_key(ch_auth *a, const char *stored, const char *password, unsigned char out[32])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, a->cache_key, sizeof a->cache_key, 32);
    crypto_generichash_update(&st, (const unsigned char *)stored, strlen(stored) + 1);
    crypto_generichash_update(&st, (const unsigned char *)password, strlen(password));
    crypto_generichash_final(&st, out, 32);
}

/* CH_OK, CH_EAUTH, or CH_EAGAIN with v's job set to (stored, password). */
static int password_check(ch_auth *a, const char *stored, const char *password, ch_verify *v)
{
    unsigned char key[32];
    cache_key(a, stored, password, key);
    if (remembered(a, key)) return CH_OK;
    if (!v) return CH_EAUTH;
    for (int i = 0; i < v->nseen; i++)
        if (sodium_memcmp(v->seen[i].key, key, 32) == 0) return v->seen[i].ok ? CH_OK : CH_EAUTH;
    if (v->nseen == CH_VERIFY_SEEN) return CH_EAUTH; /* enough CPU for one request */
    job_clear(v);
    v->stored = ch_strdup(stored);
    v->password = ch_strdup(password);
    memcpy(v->key, key, 32);
    return CH_EAGAIN;
}

/* "Basic base64(user:pass)" → user, pass (in buf). */
static bool parse_basic(const char *h, char *buf, size_t bufsz, char **user, char **pass)
{
    if (!h || strncasecmp(h, "Basic ", 6) != 0) return false;
    h += 6;
    while (*h == ' ')
        h++;
    size_t n;
    if (sodium_base642bin((unsigned char *)buf, bufsz - 1, h, strlen(h), " ", &n, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0)
        return false;
    buf[n] = '\0';
    if (strlen(buf) != n) return false; /* NUL inside */
    char *colon = strchr(buf, ':');
    if (!colon) return false;
    *colon = '\0';
    *user = buf;
    *pass = colon + 1;
    return true;
}

void ch_auth_basic_user(const char *authorization, char *out, size_t outsz)
{
    char buf[1024];
    char *user, *pass;
    out[0] = '\0';
    if (parse_basic(authorization, buf, sizeof buf, &user, &pass)) snprintf(out, outsz, "%s", user);
    sodium_memzero(buf, sizeof buf);
}

static const char *bearer(const char *h)
{
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) return NULL;
    h += 7;
    while (*h == ' ')
        h++;
    return *h ? h : NULL;
}

int ch_auth_webhook(ch_auth *a, const ch_credential *creds, size_t n, const ch_auth_input *in,
                    size_t *matched)
{
    const char *authorization = in->authorization, *api_key = in->api_key;
    const struct sockaddr *peer = in->peer;
    char buf[1024];
    char *user = NULL, *pass = NULL;
    bool basic = parse_basic(authorization, buf, sizeof buf, &user, &pass);
    const char *token = bearer(authorization);
    if (!token && api_key && *api_key) token = api_key;
    char token_hash[CH_SHA256_HEX] = "";
    if (token) ch_sha256_hex(token, strlen(token), token_hash);
    int rc = CH_EAUTH;
    bool password_tried = false;

    /* A request that presents a secret is judged by the credentials that have one; only a
     * request with none may match an address-only credential. So a token for tenant B is never
     * taken as tenant A's because A trusts the sender's address (fixed URLs shared by tenants). */
    bool presents = basic || token;
    bool forbidden = false;
    for (int round = 0; round < 2; round++)
        for (size_t i = 0; i < n; i++) {
            const ch_credential *c = &creds[i];
            bool signed_source = c->signing_secret && *c->signing_secret && in->signature_ok;
            bool has_secret = c->token_hash || c->password_hash || signed_source;
            if (has_secret != (round == 0)) continue;
            bool ok = false;
            if (!has_secret) {
                ok = !presents && c->allow_ips && *c->allow_ips; /* address-only source */
            } else {
                if (token && c->token_hash)
                    ok = ch_ct_equal(token_hash, strlen(token_hash), c->token_hash,
                                     strlen(c->token_hash));
                if (!ok && signed_source)
                    ok = in->signature_ok(in->signature_ctx, c->signing_secret);
                if (!ok && basic && c->username && c->password_hash &&
                    ch_ct_equal(user, strlen(user), c->username, strlen(c->username))) {
                    password_tried = true;
                    int pc = password_check(a, c->password_hash, pass, in->verify);
                    if (pc == CH_EAGAIN) {
                        rc = CH_EAGAIN;
                        goto out;
                    }
                    ok = pc == CH_OK;
                }
            }
            if (!ok) continue;
            if (c->allow_ips && *c->allow_ips && !ch_cidr_list_match(c->allow_ips, peer)) {
                forbidden = true;
                continue;
            }
            *matched = i;
            rc = CH_OK;
            goto out;
        }
    rc = forbidden ? CH_ELIMIT : CH_EAUTH;
    /* A wrong user name must cost what a wrong password costs, or names can be enumerated:
     * verify against a stand-in hash once before answering. */
    if (basic && !password_tried && in->verify && !in->verify->standin_done) {
        job_clear(in->verify);
        in->verify->password = ch_strdup(pass);
        rc = CH_EAGAIN;
    }
out:
    sodium_memzero(buf, sizeof buf);
    return rc;
}

int ch_auth_password(ch_auth *a, const char *stored, const char *password, ch_verify *v)
{
    if (stored) return password_check(a, stored, password, v);
    if (!v || v->standin_done) return CH_EAUTH;
    job_clear(v);
    v->password = ch_strdup(password);
    return CH_EAGAIN;
}

int ch_auth_apikey(ch_auth *a, ch_store *s, const char *authorization, int64_t *tenant_id)
{
    (void)a;
    const char *key = bearer(authorization);
    /* chk_<12 hex>_<secret> */
    if (!key || strncmp(key, "chk_", 4) != 0 || strlen(key) < 4 + 12 + 2 || key[16] != '_')
        return CH_EAUTH;
    char id[13];
    memcpy(id, key + 4, 12);
    id[12] = '\0';
    const char *secret = key + 17;
    char *stored = NULL;
    int64_t tid;
    if (ch_store_apikey(s, id, &tid, &stored) != CH_OK) return CH_EAUTH;
    char h[CH_SHA256_HEX];
    ch_sha256_hex(secret, strlen(secret), h);
    bool ok = ch_ct_equal(h, strlen(h), stored, strlen(stored));
    free(stored);
    if (!ok) return CH_EAUTH;
    *tenant_id = tid;
    return CH_OK;
}
