#include "http/auth.h"
#include "util/cidr.h"
#include "util/crypto.h"
#include "util/mem.h"
#include "util/result.h"
#include "util/timeutil.h"

#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define FAIL_SLOTS     4096 /* addresses tracked at once; a new one evicts on collision */
#define VERIFIED_SLOTS 1024

typedef struct {
    unsigned char addr[16];
    int64_t window_start; /* ms */
    int count;
} fail_slot;

struct ch_auth {
    int limit, window_ms;
    pthread_mutex_t lock;
    fail_slot fails[FAIL_SLOTS];
    /* argon2id costs tens of milliseconds by design. A successful verification is remembered
     * as SHA-256(stored hash, presented password): the next request with the same password
     * costs one hash, a changed password misses. Failures are never cached. */
    unsigned char verified[VERIFIED_SLOTS][32];
};

ch_auth *ch_auth_new(int fail_limit, int fail_window_sec)
{
    ch_auth *a = ch_calloc(1, sizeof *a);
    a->limit = fail_limit > 0 ? fail_limit : 10;
    a->window_ms = (fail_window_sec > 0 ? fail_window_sec : 60) * 1000;
    pthread_mutex_init(&a->lock, NULL);
    return a;
}

void ch_auth_free(ch_auth *a)
{
    if (!a) return;
    pthread_mutex_destroy(&a->lock);
    free(a);
}

static void addr_key(const struct sockaddr *sa, unsigned char out[16])
{
    memset(out, 0, 16);
    if (!sa) return;
    if (sa->sa_family == AF_INET) {
        out[10] = out[11] = 0xff; /* as IPv4-mapped IPv6 */
        memcpy(out + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        memcpy(out, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
    }
}

static fail_slot *slot_for(ch_auth *a, const unsigned char key[16])
{
    uint32_t h = 2166136261u;
    for (int i = 0; i < 16; i++)
        h = (h ^ key[i]) * 16777619u;
    return &a->fails[h % FAIL_SLOTS];
}

int ch_auth_lockout(ch_auth *a, const struct sockaddr *peer)
{
    unsigned char key[16];
    addr_key(peer, key);
    int64_t now = ch_now_ms();
    int wait = 0;
    pthread_mutex_lock(&a->lock);
    fail_slot *s = slot_for(a, key);
    if (memcmp(s->addr, key, 16) == 0 && s->count >= a->limit &&
        now - s->window_start < a->window_ms)
        wait = (int)((a->window_ms - (now - s->window_start) + 999) / 1000);
    pthread_mutex_unlock(&a->lock);
    return wait;
}

void ch_auth_failed(ch_auth *a, const struct sockaddr *peer)
{
    unsigned char key[16];
    addr_key(peer, key);
    int64_t now = ch_now_ms();
    pthread_mutex_lock(&a->lock);
    fail_slot *s = slot_for(a, key);
    if (memcmp(s->addr, key, 16) != 0 || now - s->window_start >= a->window_ms) {
        memcpy(s->addr, key, 16);
        s->window_start = now;
        s->count = 0;
    }
    s->count++;
    pthread_mutex_unlock(&a->lock);
}

static bool password_ok(ch_auth *a, const char *stored, const char *password)
{
    unsigned char key[32];
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const unsigned char *)stored, strlen(stored) + 1);
    crypto_hash_sha256_update(&st, (const unsigned char *)password, strlen(password));
    crypto_hash_sha256_final(&st, key);
    size_t slot = (key[0] | (size_t)key[1] << 8) % VERIFIED_SLOTS;
    pthread_mutex_lock(&a->lock);
    bool hit = sodium_memcmp(a->verified[slot], key, 32) == 0;
    pthread_mutex_unlock(&a->lock);
    if (hit) return true;
    if (!ch_password_verify(stored, password)) return false;
    pthread_mutex_lock(&a->lock);
    memcpy(a->verified[slot], key, 32);
    pthread_mutex_unlock(&a->lock);
    return true;
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
                if (!ok && basic && c->username && c->password_hash &&
                    ch_ct_equal(user, strlen(user), c->username, strlen(c->username)))
                    ok = password_ok(a, c->password_hash, pass);
                if (!ok && signed_source)
                    ok = in->signature_ok(in->signature_ctx, c->signing_secret);
            }
            if (!ok) continue;
            if (c->allow_ips && *c->allow_ips && !ch_cidr_list_match(c->allow_ips, peer)) {
                forbidden = true;
                continue;
            }
            *matched = i;
            sodium_memzero(buf, sizeof buf);
            return CH_OK;
        }
    sodium_memzero(buf, sizeof buf);
    return forbidden ? CH_ELIMIT : CH_EAUTH;
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
