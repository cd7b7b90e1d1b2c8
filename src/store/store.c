/* The store's public functions (store/store.h), written once over the backend table
 * (store/backend.h): choosing the backend by the database URL, the write queue, and the reads,
 * which each backend answers. The writer thread is store/engine.c. */
#include "store/engine.h"
#include "core/trace.h"
#include "util/mem.h"
#include "util/result.h"

#include <stdlib.h>
#include <string.h>

static const ch_store_backend *const backends[] = {&ch_store_sqlite};

/* The backend that claims url, and where its database is; NULL when none does. */
static const ch_store_backend *backend_for(const char *url, const char **location)
{
    for (size_t i = 0; i < sizeof backends / sizeof *backends; i++)
        if (backends[i]->claims(url, location)) return backends[i];
    return NULL;
}

const char *ch_store_backend_name(const char *url)
{
    const char *location;
    const ch_store_backend *be = url ? backend_for(url, &location) : NULL;
    return be ? be->name : NULL;
}

const char *ch_store_file(const char *url)
{
    const char *location;
    const ch_store_backend *be = url ? backend_for(url, &location) : NULL;
    return be && be->local_file ? location : NULL;
}

int ch_store_migrate(const char *url, int *version_out)
{
    const char *location;
    const ch_store_backend *be = backend_for(url, &location);
    return be ? be->migrate(location, version_out) : CH_EINVAL;
}

int ch_store_open(ch_store **out, const ch_store_opts *opts)
{
    const char *location;
    const ch_store_backend *be = backend_for(opts->path, &location);
    if (!be) return CH_EINVAL; /* no backend for this URL in this build */
    ch_store *s = ch_calloc(1, sizeof *s);
    s->be = be;
    s->opts = *opts;
    if (s->opts.read_conns <= 0) s->opts.read_conns = 4;
    if (s->opts.batch_max <= 0) s->opts.batch_max = 1024;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->wake, NULL);
    pthread_mutex_init(&s->stats_lock, NULL);
    atomic_store(&s->writable, true);
    int rc = be->open(location, &s->opts, &s->b);
    if (rc) goto fail;
    s->feed = ch_feed_new();
    ch_feed_set_head(s->feed, be->changes_head(s->b));
    if (pthread_create(&s->writer, NULL, ch_engine_main, s) != 0) {
        rc = CH_ERR;
        goto fail;
    }
    *out = s;
    return CH_OK;
fail:
    if (s->b) be->close(s->b);
    ch_feed_free(s->feed);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->stats_lock);
    free(s);
    return rc ? rc : CH_ESTORE;
}

void ch_store_close(ch_store *s)
{
    if (!s) return;
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->writer, NULL);
    s->be->close(s->b);
    ch_feed_free(s->feed); /* its subscribers (the dispatcher) are gone by now */
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->stats_lock);
    free(s);
}

bool ch_store_writable(ch_store *s)
{
    return atomic_load(&s->writable);
}

ch_feed *ch_store_feed(ch_store *s)
{
    return s->feed;
}

/* ---- the write queue ------------------------------------------------------------------ */

void ch_write_job_init(ch_write_job *job, ch_event **events, size_t n)
{
    memset(job, 0, sizeof *job);
    job->events = events;
    job->n = n;
    job->outcome = ch_calloc(n, sizeof *job->outcome);
    job->call_ids = ch_calloc(n, sizeof *job->call_ids);
    job->reject_reason = ch_calloc(n, sizeof *job->reject_reason);
    job->over_limit = ch_calloc(n, sizeof *job->over_limit);
    job->result = CH_ESTORE;
    job->next = NULL;
}

void ch_write_job_clear(ch_write_job *job)
{
    for (size_t i = 0; job->call_ids && i < job->n; i++)
        free(job->call_ids[i]);
    free(job->outcome);
    free(job->call_ids);
    free(job->reject_reason);
    free(job->over_limit);
    job->outcome = NULL;
    job->call_ids = NULL;
    job->reject_reason = NULL;
    job->over_limit = NULL;
}

void ch_store_submit(ch_store *s, ch_write_job *job)
{
    job->next = NULL;
    pthread_mutex_lock(&s->lock);
    if (s->tail)
        s->tail->next = job;
    else
        s->head = job;
    s->tail = job;
    s->depth++;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
}

size_t ch_store_queue_depth(ch_store *s)
{
    pthread_mutex_lock(&s->lock);
    size_t d = s->depth;
    pthread_mutex_unlock(&s->lock);
    return d;
}

void ch_store_get_stats(ch_store *s, ch_store_stats *out)
{
    pthread_mutex_lock(&s->stats_lock);
    *out = s->stats;
    pthread_mutex_unlock(&s->stats_lock);
}

typedef struct {
    pthread_mutex_t m;
    pthread_cond_t c;
    bool done;
} waiter;

static void wake_waiter(ch_write_job *job)
{
    waiter *w = job->arg;
    pthread_mutex_lock(&w->m);
    w->done = true;
    pthread_cond_signal(&w->c);
    pthread_mutex_unlock(&w->m);
}

int ch_store_submit_wait(ch_store *s, ch_write_job *job)
{
    waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false};
    job->done = wake_waiter;
    job->arg = &w;
    ch_store_submit(s, job);
    pthread_mutex_lock(&w.m);
    while (!w.done)
        pthread_cond_wait(&w.c, &w.m);
    pthread_mutex_unlock(&w.m);
    return job->result;
}

int ch_store_write(ch_store *s, ch_op *ops, size_t n)
{
    ch_write_job job;
    ch_write_job_init(&job, NULL, 0);
    job.ops = ops;
    job.nops = n;
    int rc = ch_store_submit_wait(s, &job);
    ch_write_job_clear(&job);
    return rc;
}

void ch_ops_clear(ch_op *ops, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(ops[i].key_out);
        ops[i].key_out = NULL;
    }
}

/* ---- reads: each answered by the backend ----------------------------------------------- */

int ch_store_tenant_by_slug(ch_store *s, const char *slug, ch_tenant *out)
{
    return s->be->tenant_lookup(s->b, slug, 0, out);
}

int ch_store_tenant_by_id(ch_store *s, int64_t id, ch_tenant *out)
{
    return s->be->tenant_lookup(s->b, NULL, id, out);
}

int ch_store_credentials(ch_store *s, int64_t tenant_id, const char *provider, ch_credential **out,
                         size_t *n)
{
    return s->be->credentials(s->b, tenant_id, provider, out, n);
}

void ch_credentials_free(ch_credential *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(c[i].provider);
        free(c[i].username);
        free(c[i].password_hash);
        free(c[i].token_hash);
        free(c[i].signing_secret);
        free(c[i].allow_ips);
        free(c[i].media);
    }
    free(c);
}

int ch_store_apikey(ch_store *s, const char *key_id, int64_t *tenant_id, char **secret_hash)
{
    return s->be->apikey(s->b, key_id, tenant_id, secret_hash);
}

void ch_user_clear(ch_user *u)
{
    free(u->email);
    free(u->role);
    if (u->password_hash) {
        memset(u->password_hash, 0, strlen(u->password_hash));
        free(u->password_hash);
    }
    free(u->tenant_slug);
    memset(u, 0, sizeof *u);
}

int ch_store_user_by_email(ch_store *s, const char *email, ch_user *out)
{
    memset(out, 0, sizeof *out);
    return s->be->user_get(s->b, email, out);
}

int ch_store_user_list(ch_store *s, int64_t tenant_id, json_t **out)
{
    ch_user *v = NULL;
    size_t n = 0;
    int rc = s->be->user_list(s->b, tenant_id, &v, &n);
    if (rc) return rc;
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(a, json_pack("{s:I, s:s, s:s, s:I, s:I}", "id", (json_int_t)v[i].id,
                                           "email", v[i].email, "role", v[i].role, "created_at",
                                           (json_int_t)v[i].created_at, "updated_at",
                                           (json_int_t)v[i].updated_at));
        ch_user_clear(&v[i]);
    }
    free(v);
    *out = json_pack("{s:o}", "users", a);
    return CH_OK;
}

void ch_session_clear(ch_session *v)
{
    free(v->email);
    free(v->role);
    free(v->tenant_slug);
    if (v->csrf) {
        memset(v->csrf, 0, strlen(v->csrf));
        free(v->csrf);
    }
    memset(v, 0, sizeof *v);
}

int ch_store_session_get(ch_store *s, const char *id_hash, ch_session *out)
{
    memset(out, 0, sizeof *out);
    return s->be->session_get(s->b, id_hash, out);
}

int ch_store_last_received(ch_store *s, int64_t tenant_id, const char *provider, int64_t *out)
{
    return s->be->last_received(s->b, tenant_id, provider, out);
}

struct ch_due_scan {
    const ch_store_backend *be;
    ch_backend_scan *impl;
};

int ch_due_scan_open(ch_store *s, int shard, int nshards, ch_due_scan **out)
{
    ch_backend_scan *impl;
    int rc = s->be->due_scan_open(s->b, shard, nshards, &impl);
    if (rc) return rc;
    ch_due_scan *sc = ch_calloc(1, sizeof *sc);
    sc->be = s->be;
    sc->impl = impl;
    *out = sc;
    return CH_OK;
}

void ch_due_scan_free(ch_due_scan *sc)
{
    if (!sc) return;
    sc->be->due_scan_free(sc->impl);
    free(sc);
}

int ch_store_due_deliveries(ch_due_scan *sc, int64_t now, int limit, ch_due_skip_fn skip,
                            void *skip_arg, ch_due_delivery **out, size_t *n, int64_t *next_due)
{
    return sc->be->due_deliveries(sc->impl, now, limit, skip, skip_arg, out, n, next_due);
}

void ch_due_delivery_clear(ch_due_delivery *d)
{
    free(d->call_id);
    free(d->message_id);
    free(d->payload);
    free(d->url);
    free(d->secret);
    free(d->previous_secret);
    free(d->headers);
    free(d->retry_schedule);
    memset(d, 0, sizeof *d);
}

void ch_due_deliveries_free(ch_due_delivery *d, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ch_due_delivery_clear(&d[i]);
    free(d);
}

int ch_store_changes_since(ch_store *s, int64_t tenant_id, int64_t cursor, int limit,
                           ch_change_page *out)
{
    memset(out, 0, sizeof *out);
    if (limit < 1 || limit > CH_CHANGES_MAX_LIMIT || cursor < 0) return CH_EINVAL;
    return s->be->changes_since(s->b, tenant_id, cursor, limit, out);
}

void ch_change_page_clear(ch_change_page *p)
{
    free(p->v);
    memset(p, 0, sizeof *p);
}

int ch_store_list_calls(ch_store *s, int64_t tenant_id, const ch_call_filter *f, json_t **out)
{
    return s->be->list_calls(s->b, tenant_id, f, out);
}

int ch_store_get_call(ch_store *s, int64_t tenant_id, const char *call_id, json_t **out)
{
    return s->be->get_call(s->b, tenant_id, call_id, out);
}

int ch_store_call_json(ch_store *s, int64_t tenant_id, const char *call_id, json_t **out)
{
    return s->be->call_json(s->b, tenant_id, call_id, out);
}

struct ch_export {
    const ch_store_backend *be;
    ch_backend_export *impl;
};

int ch_store_export_open(ch_store *s, int64_t tenant_id, const ch_call_filter *f, ch_export **out)
{
    ch_backend_export *impl;
    int rc = s->be->export_open(s->b, tenant_id, f, &impl);
    if (rc) return rc;
    ch_export *x = ch_calloc(1, sizeof *x);
    x->be = s->be;
    x->impl = impl;
    *out = x;
    return CH_OK;
}

int ch_store_export_next(ch_export *x, json_t **call)
{
    return x->be->export_next(x->impl, call);
}

void ch_store_export_close(ch_export *x)
{
    if (!x) return;
    x->be->export_close(x->impl);
    free(x);
}

int ch_store_tenant_list(ch_store *s, json_t **out)
{
    ch_tenant_usage *v;
    size_t n;
    int rc = s->be->tenant_list(s->b, &v, &n);
    if (rc) return rc;
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, ch_tenant_usage_json(&v[i]));
    ch_tenant_usage_free(v, n);
    *out = list;
    return CH_OK;
}

int ch_store_endpoint_health(ch_store *s, int64_t tenant_id, ch_endpoint_health **out, size_t *n,
                             int64_t *dead_letters)
{
    return s->be->endpoint_health(s->b, tenant_id, out, n, dead_letters);
}

void ch_endpoint_health_free(ch_endpoint_health *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].last_state);
        free(v[i].last_error);
    }
    free(v);
}

int ch_store_tenant_usage(ch_store *s, int64_t tenant_id, ch_tenant_usage *out)
{
    return s->be->tenant_usage(s->b, tenant_id, out);
}

int ch_store_directory_list(ch_store *s, int64_t tenant_id, const char *which, json_t **out)
{
    bool employees = strcmp(which, "employees") == 0;
    ch_directory_entry *v;
    size_t n;
    int rc = s->be->directory_list(s->b, tenant_id, employees, &v, &n);
    if (rc) return rc;
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, ch_directory_entry_json(&v[i], employees));
    ch_directory_entries_free(v, n);
    *out = json_pack("{s:o}", employees ? "employees" : "leads", list);
    return CH_OK;
}

int ch_store_endpoint_list(ch_store *s, int64_t tenant_id, int64_t id, json_t **out)
{
    ch_endpoint_view *v;
    size_t n;
    int rc = s->be->endpoint_list(s->b, tenant_id, id, &v, &n);
    if (rc) return rc;
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, ch_endpoint_view_json(&v[i]));
    ch_endpoint_views_free(v, n);
    *out = json_pack("{s:o}", "endpoints", list);
    return CH_OK;
}

int ch_store_delivery_list(ch_store *s, int64_t tenant_id, int64_t endpoint_id, const char *state,
                           int64_t before_id, int limit, json_t **out)
{
    ch_delivery_view *v;
    size_t n;
    int rc = s->be->delivery_list(s->b, tenant_id, endpoint_id, state, before_id, limit, &v, &n);
    if (rc) return rc;
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, ch_delivery_view_json(&v[i], false));
    ch_delivery_views_free(v, n);
    *out = json_pack("{s:o}", "deliveries", list);
    return CH_OK;
}

int ch_store_delivery_get(ch_store *s, int64_t tenant_id, int64_t id, json_t **out)
{
    ch_delivery_view d;
    int rc = s->be->delivery_get(s->b, tenant_id, id, &d);
    if (rc) return rc;
    *out = ch_delivery_view_json(&d, true);
    ch_delivery_view_clear(&d);
    return CH_OK;
}

int ch_store_delivery_skips(ch_store *s, int64_t tenant_id, json_t **out)
{
    ch_skip_view *v;
    size_t n;
    int rc = s->be->delivery_skips(s->b, tenant_id, &v, &n);
    if (rc) return rc;
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, ch_skip_view_json(&v[i]));
    ch_skip_views_free(v, n);
    *out = json_pack("{s:o}", "skipped", list);
    return CH_OK;
}

int ch_store_tenant_retry(ch_store *s, int64_t tenant_id, char **schedule_out)
{
    return s->be->tenant_retry(s->b, tenant_id, schedule_out);
}

/* ---- enrichment ------------------------------------------------------------------------ */

int ch_store_jobs_due(ch_store *s, int64_t now, int limit, const char *busy, ch_job_skip_fn skip,
                      void *arg, ch_due_job **out, size_t *n, int64_t *next_due)
{
    return s->be->jobs_due(s->b, now, limit, busy, skip, arg, out, n, next_due);
}

int ch_store_jobs_expired(ch_store *s, int64_t now, int limit, ch_due_job **out, size_t *n)
{
    return s->be->jobs_expired(s->b, now, limit, out, n);
}

int ch_store_recordings_expired(ch_store *s, int64_t now, int limit, ch_expired_recording **out,
                                size_t *n)
{
    return s->be->recordings_expired(s->b, now, limit, out, n);
}

int ch_store_recording_refs(ch_store *s, const char *sha256, int64_t *n)
{
    return s->be->recording_refs(s->b, sha256, n);
}

int ch_store_jobs_depth(ch_store *s, int64_t *pending)
{
    return s->be->jobs_depth(s->b, pending);
}

int ch_store_call_jobs(ch_store *s, int64_t tenant_id, const char *call_id,
                       ch_job_row jobs[CH_STAGE_COUNT])
{
    return s->be->jobs_read(s->b, tenant_id, call_id, jobs);
}

int ch_store_pipeline_text(ch_store *s, int64_t tenant_id, char **text)
{
    return s->be->pipeline_get(s->b, tenant_id, text);
}

int ch_store_dictionary(ch_store *s, int64_t tenant_id, ch_dict_view **out, size_t *n)
{
    return s->be->dictionary_list(s->b, tenant_id, out, n);
}

void ch_dict_views_free(ch_dict_view *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].kind);
        free(v[i].name);
        free(v[i].synonyms);
    }
    free(v);
}

json_t *ch_dict_views_json(const ch_dict_view *v, size_t n)
{
    json_t *cities = json_array(), *services = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *syn = json_loads(v[i].synonyms ? v[i].synonyms : "[]", 0, NULL);
        json_t *e =
            json_pack("{s:s, s:o}", "name", v[i].name, "synonyms", syn ? syn : json_array());
        json_array_append_new(!strcmp(v[i].kind, "city") ? cities : services, e);
    }
    return json_pack("{s:o, s:o}", "cities", cities, "services", services);
}

int ch_store_cursor_parse(const char *c, int64_t *ts, char *id, size_t idsz)
{
    char *end;
    long long v = strtoll(c, &end, 10);
    if (end == c || *end != '.') return CH_EINVAL;
    const char *p = end + 1;
    size_t n = strlen(p);
    if (n < 3 || n >= idsz || strncmp(p, "c_", 2) != 0) return CH_EINVAL;
    for (size_t i = 2; i < n; i++)
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f'))) return CH_EINVAL;
    *ts = v;
    memcpy(id, p, n + 1);
    return CH_OK;
}

int ch_store_call_trace(ch_store *s, int64_t tenant_id, const char *call_id, json_t **out)
{
    ch_call_trace t;
    int rc = s->be->call_trace(s->b, tenant_id, call_id, &t);
    if (rc) return rc;
    *out = ch_call_trace_json(&t);
    ch_call_trace_clear(&t);
    return CH_OK;
}
