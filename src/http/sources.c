#include "http/sources.h"
#include "util/limits.h"
#include "util/mem.h"
#include "util/result.h"
#include "util/timeutil.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *key; /* "slug\nprovider" */
    int64_t expires;
    ch_tenant tenant;
    ch_credential *creds;
    size_t n;
} entry;

struct ch_sources {
    ch_store *store;
    pthread_mutex_t lock;
    uint64_t generation; /* bumped by each forget, under lock */
    entry slots[CH_SOURCES_CACHE_SLOTS];
};

ch_sources *ch_sources_new(ch_store *store)
{
    ch_sources *c = ch_calloc(1, sizeof *c);
    c->store = store;
    pthread_mutex_init(&c->lock, NULL);
    return c;
}

static void entry_clear(entry *e)
{
    free(e->key);
    ch_tenant_clear(&e->tenant);
    ch_credentials_free(e->creds, e->n);
    memset(e, 0, sizeof *e);
}

void ch_sources_free(ch_sources *c)
{
    if (!c) return;
    for (int i = 0; i < CH_SOURCES_CACHE_SLOTS; i++)
        entry_clear(&c->slots[i]);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static void copy_tenant(ch_tenant *d, const ch_tenant *s)
{
    *d = *s;
    d->slug = ch_strdup(s->slug);
    d->name = ch_strdup(s->name);
    d->timezone = ch_strdup(s->timezone);
    d->country = ch_strdup(s->country);
    d->features = ch_strdup(s->features);
}

static ch_credential *copy_creds(const ch_credential *s, size_t n)
{
    ch_credential *d = ch_calloc(n, sizeof *d);
    for (size_t i = 0; i < n; i++) {
        d[i].id = s[i].id;
        d[i].tenant_id = s[i].tenant_id;
        d[i].provider = ch_strdup(s[i].provider);
        d[i].username = ch_strdup(s[i].username);
        d[i].password_hash = ch_strdup(s[i].password_hash);
        d[i].token_hash = ch_strdup(s[i].token_hash);
        d[i].signing_secret = ch_strdup(s[i].signing_secret);
        d[i].allow_ips = ch_strdup(s[i].allow_ips);
    }
    return d;
}

static unsigned hash(const char *k)
{
    unsigned h = 2166136261u;
    for (; *k; k++)
        h = (h ^ (unsigned char)*k) * 16777619u;
    return h;
}

int ch_sources_get(ch_sources *c, const char *slug, const char *provider, bool fresh,
                   ch_tenant *tenant, ch_credential **creds, size_t *n, bool *cached)
{
    char *key = ch_asprintf("%s\n%s", slug, provider);
    entry *e = &c->slots[hash(key) % CH_SOURCES_CACHE_SLOTS];
    int64_t now = ch_now_ms();
    *cached = false;
    if (!fresh) {
        pthread_mutex_lock(&c->lock);
        if (e->key && strcmp(e->key, key) == 0 && e->expires > now) {
            copy_tenant(tenant, &e->tenant);
            *creds = copy_creds(e->creds, e->n);
            *n = e->n;
            *cached = true;
        }
        pthread_mutex_unlock(&c->lock);
        if (*cached) {
            free(key);
            return CH_OK;
        }
    }
    pthread_mutex_lock(&c->lock);
    uint64_t gen = c->generation;
    pthread_mutex_unlock(&c->lock);
    int rc = ch_store_tenant_by_slug(c->store, slug, tenant);
    if (rc == CH_OK) {
        rc = ch_store_credentials(c->store, tenant->id, provider, creds, n);
        if (rc == CH_OK && *n == 0) rc = CH_ENOTFOUND;
        if (rc != CH_OK) {
            ch_credentials_free(*creds, *n);
            *creds = NULL;
            *n = 0;
            ch_tenant_clear(tenant);
        }
    }
    if (rc == CH_OK) {
        pthread_mutex_lock(&c->lock);
        if (c->generation != gen) { /* forgotten meanwhile: what was read may be stale */
            pthread_mutex_unlock(&c->lock);
            free(key);
            return rc;
        }
        entry_clear(e);
        e->key = key;
        key = NULL;
        e->expires = now + CH_SOURCES_CACHE_TTL_MS;
        copy_tenant(&e->tenant, tenant);
        e->creds = copy_creds(*creds, *n);
        e->n = *n;
        pthread_mutex_unlock(&c->lock);
    }
    free(key);
    return rc;
}

void ch_sources_forget(ch_sources *c, const char *slug, const char *provider)
{
    char *key = ch_asprintf("%s\n%s", slug, provider);
    entry *e = &c->slots[hash(key) % CH_SOURCES_CACHE_SLOTS];
    pthread_mutex_lock(&c->lock);
    c->generation++;
    if (e->key && strcmp(e->key, key) == 0) entry_clear(e);
    pthread_mutex_unlock(&c->lock);
    free(key);
}
