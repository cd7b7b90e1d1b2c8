/* The SQLite store through its interface (src/store/store.h), on a real database file in a
 * fresh mkdtemp directory per test: migration, tenants, the writer's outcomes, reading a call
 * back, dedup, usage counted once per call per month, a hard monthly limit, a tenant row
 * inserted by hand with plain SQL, and paging. Counters are checked with sqlite3 directly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/pipeline.h"
#include "store/store.h"
#include "util/mem.h"
#include "util/result.h"
#include "util/timeutil.h"

#include <dirent.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAY14 1715681700000LL /* 2024-05-14T10:15:00Z */

typedef struct {
    char dir[64], db[96];
    ch_store *s;
    int64_t acme, other;
} fixture;

/* Removes dir and every file in it (t.db, m.db and any -wal/-shm left beside them). */
static int remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
        char p[384];
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        unlink(p);
    }
    closedir(d);
    return rmdir(dir);
}

static int setup(void **state)
{
    fixture *f = ch_calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/ch-unit-store-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->db, sizeof f->db, "%s/t.db", f->dir);
    ch_tenant_spec a = {
        .slug = "acme", .name = "Acme", .timezone = "Asia/Jerusalem", .country = "972"};
    ch_tenant_spec b = {.slug = "other",
                        .name = "Other",
                        .timezone = "UTC",
                        .country = "1",
                        .monthly_limit = 1,
                        .hard_limit = true};
    ch_store_opts o = {.path = f->db};
    ch_op ops[2] = {{.kind = CH_OP_TENANT_ADD, .in.tenant = a},
                    {.kind = CH_OP_TENANT_ADD, .in.tenant = b}};
    if (ch_store_open(&f->s, &o) || ch_store_write(f->s, ops, 2)) {
        if (f->s) ch_store_close(f->s);
        remove_dir(f->dir);
        free(f);
        return -1;
    }
    f->acme = ops[0].id_out;
    f->other = ops[1].id_out;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    ch_store_close(f->s);
    int rc = remove_dir(f->dir);
    free(f);
    return rc;
}

/* ---- submitting a job and waiting for it ---------------------------------------------- */

typedef struct {
    pthread_mutex_t m;
    pthread_cond_t c;
    bool done;
} waiter;

static void on_done(ch_write_job *job)
{
    waiter *w = job->arg;
    pthread_mutex_lock(&w->m);
    w->done = true;
    pthread_cond_signal(&w->c);
    pthread_mutex_unlock(&w->m);
}

static void submit_as(ch_store *s, const ch_tenant *t, ch_write_job *job, ch_event **evs, size_t n)
{
    waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false};
    ch_write_job_init(job, evs, n);
    job->tenant_id = t->id;
    job->tenant_tz = t->timezone;
    job->tenant_country = t->country;
    job->monthly_limit = t->monthly_limit;
    job->hard_limit = t->hard_limit;
    job->done = on_done;
    job->arg = &w;
    ch_store_submit(s, job);
    pthread_mutex_lock(&w.m);
    while (!w.done)
        pthread_cond_wait(&w.c, &w.m);
    pthread_mutex_unlock(&w.m);
}

/* As the HTTP layer does: the tenant as the store knows it. */
static void submit(fixture *f, int64_t tenant, ch_write_job *job, ch_event **evs, size_t n)
{
    ch_tenant t;
    assert_int_equal(ch_store_tenant_by_id(f->s, tenant, &t), CH_OK);
    submit_as(f->s, &t, job, evs, n);
    ch_tenant_clear(&t);
}

static ch_event *ev(const char *call, const char *key, int64_t seq)
{
    ch_event *e = ch_event_new();
    e->provider = ch_strdup("generic");
    e->external_id = ch_strdup(call);
    e->idem_key = ch_strdup(key);
    e->seq = seq;
    e->raw = ch_asprintf("{\"call_id\":\"%s\",\"event_id\":\"%s\"}", call, key + 8);
    e->raw_len = strlen(e->raw);
    e->content_type = ch_strdup("application/json");
    return e;
}

/* fmt is an sqlite3_mprintf format (%Q quotes a string). */
static int64_t sql_int(fixture *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *q = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open_v2(f->db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    if (sqlite3_prepare_v2(db, q, -1, &st, NULL) != SQLITE_OK) fail_msg("%s", sqlite3_errmsg(db));
    int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    sqlite3_close(db);
    sqlite3_free(q);
    return v;
}

static const char *jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* The month the writer counts usage in: now, in the tenant's zone. */
static void this_month(const char *tz, char out[8])
{
    ch_time_month(ch_now_ms(), tz, out);
}

/* ---- tests ------------------------------------------------------------------------------ */

static void open_migrate_and_tenants(void **state)
{
    fixture *f = *state;
    char path[128];
    snprintf(path, sizeof path, "%s/m.db", f->dir);
    int v = 0;
    assert_int_equal(ch_store_migrate(path, &v), CH_OK);
    assert_int_equal(v, 12); /* 1: foundation, 2: directory, 3: endpoints, 4: outbox, 5: feed,
                              * 6: endpoint payload shape, 7: enrichment, 8: users, sessions,
                              * 9: diagnostics, 10: call filters, 11: their indexes and
                              * triggers, 12: the text search's bound */
    assert_int_equal(ch_store_migrate(path, &v), CH_OK); /* again: nothing to do */
    assert_int_equal(v, 12);

    const char *tables[] = {"tenants",        "credentials", "api_keys", "calls",      "legs",
                            "events",         "usage",       "messages", "deliveries", "attempts",
                            "delivery_skips", "changes",     "users",    "sessions"};
    for (size_t i = 0; i < sizeof tables / sizeof *tables; i++)
        if (sql_int(f, "SELECT count(*) FROM sqlite_master WHERE type='table' AND name=%Q",
                    tables[i]) != 1)
            fail_msg("no table %s", tables[i]);
    assert_int_equal(sql_int(f, "PRAGMA user_version"), 12);

    ch_tenant t;
    assert_int_equal(ch_store_tenant_by_slug(f->s, "acme", &t), CH_OK);
    assert_int_equal(t.id, f->acme);
    assert_string_equal(t.name, "Acme");
    assert_string_equal(t.timezone, "Asia/Jerusalem");
    assert_string_equal(t.country, "972");
    assert_int_equal(t.monthly_limit, 0);
    assert_false(t.hard_limit);
    assert_string_equal(t.features, "enrichment");
    ch_tenant_clear(&t);
    assert_int_equal(ch_store_tenant_by_id(f->s, f->other, &t), CH_OK);
    assert_string_equal(t.slug, "other");
    assert_int_equal(t.monthly_limit, 1);
    assert_true(t.hard_limit);
    ch_tenant_clear(&t);
    assert_int_equal(ch_store_tenant_by_slug(f->s, "nobody", &t), CH_ENOTFOUND);
    ch_op again = {.kind = CH_OP_TENANT_ADD, .in.tenant = {.slug = "acme"}};
    assert_int_equal(ch_store_write(f->s, &again, 1), CH_EEXIST);
    assert_int_equal(again.result, CH_EEXIST);
}

static void events_merge_into_one_call_and_duplicates_change_nothing(void **state)
{
    fixture *f = *state;
    ch_event *e1 = ev("call-A", "generic:A-1", 1), *e2 = ev("call-A", "generic:A-2", 2);
    e1->direction = CH_DIR_INBOUND;
    e1->status = CH_STATUS_RINGING;
    e1->from_raw = ch_strdup("050-123-4567");
    e1->to_raw = ch_strdup("03-123-4567");
    e1->started_at = MAY14;
    e1->metadata = json_pack("{s:s}", "queue", "billing");
    e2->status = CH_STATUS_ENDED;
    e2->disposition = CH_DISP_ANSWERED;
    e2->answered_at = MAY14 + 6000;
    e2->ended_at = MAY14 + 192000;
    e2->recording_url = ch_strdup("https://r/A.mp3");
    e2->cost_micros = 120000;
    e2->cost_currency = ch_strdup("USD");

    ch_write_job j1, j2, j3;
    submit(f, f->acme, &j1, &e2, 1); /* the end arrives first */
    assert_int_equal(j1.result, CH_OK);
    assert_int_equal(j1.outcome[0], CH_REC_STORED);
    assert_false(j1.over_limit[0]);
    char *id = ch_strdup(j1.call_ids[0]);
    assert_true(strncmp(id, "c_", 2) == 0);
    submit(f, f->acme, &j2, &e1, 1);
    assert_int_equal(j2.outcome[0], CH_REC_STORED);
    assert_string_equal(j2.call_ids[0], id); /* same call_id: same call */

    json_t *before;
    assert_int_equal(ch_store_get_call(f->s, f->acme, id, &before), CH_OK);
    submit(f, f->acme, &j3, &e1, 1); /* a retry of the ringing delivery */
    assert_int_equal(j3.result, CH_OK);
    assert_int_equal(j3.outcome[0], CH_REC_DUPLICATE);
    assert_string_equal(j3.call_ids[0], id);
    json_t *after;
    assert_int_equal(ch_store_get_call(f->s, f->acme, id, &after), CH_OK);
    assert_true(json_equal(before, after)); /* not even updated_at moves */

    /* the call as served, merged from both events */
    assert_string_equal(jstr(after, "id"), id);
    assert_string_equal(jstr(after, "tenant"), "acme");
    assert_string_equal(jstr(after, "provider"), "generic");
    assert_string_equal(jstr(after, "external_id"), "call-A");
    assert_string_equal(jstr(after, "direction"), "inbound");
    assert_string_equal(jstr(after, "status"), "ended");
    assert_string_equal(jstr(after, "disposition"), "answered");
    assert_string_equal(jstr(after, "from"), "+972501234567");
    assert_string_equal(jstr(after, "to"), "+97231234567");
    assert_string_equal(jstr(after, "from_raw"), "050-123-4567");
    assert_string_equal(jstr(after, "started_at"), "2024-05-14T10:15:00Z");
    assert_string_equal(jstr(after, "answered_at"), "2024-05-14T10:15:06Z");
    assert_string_equal(jstr(after, "ended_at"), "2024-05-14T10:18:12Z");
    assert_int_equal(json_integer_value(json_object_get(after, "duration_sec")), 192);
    assert_int_equal(json_integer_value(json_object_get(after, "billsec")), 186);
    assert_string_equal(jstr(after, "recording_url"), "https://r/A.mp3");
    assert_true(json_is_null(json_object_get(after, "transcript")));
    json_t *cost = json_object_get(after, "cost");
    assert_true(json_real_value(json_object_get(cost, "amount")) == 0.12);
    assert_string_equal(jstr(cost, "currency"), "USD");
    assert_string_equal(jstr(json_object_get(after, "metadata"), "queue"), "billing");
    assert_int_equal(json_integer_value(json_object_get(after, "event_count")), 2);
    assert_int_equal(json_array_size(json_object_get(after, "legs")), 0);
    json_t *events = json_object_get(after, "events");
    assert_int_equal(json_array_size(events), 2);

    /* one row per idempotency key, whatever the number of deliveries */
    assert_int_equal(sql_int(f, "SELECT count(*) FROM events WHERE idem_key='generic:A-1'"), 1);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM events"), 2);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM calls"), 1);

    /* the other tenant cannot see it */
    json_t *x = NULL;
    assert_int_equal(ch_store_get_call(f->s, f->other, id, &x), CH_ENOTFOUND);
    assert_int_equal(ch_store_get_call(f->s, f->acme, "c_000000000000deadbeef", &x), CH_ENOTFOUND);

    json_decref(before);
    json_decref(after);
    free(id);
    ch_write_job_clear(&j1);
    ch_write_job_clear(&j2);
    ch_write_job_clear(&j3);
    ch_event_free(e1);
    ch_event_free(e2);
}

static void usage_counts_each_call_once_per_month(void **state)
{
    fixture *f = *state;
    char month[8];
    this_month("Asia/Jerusalem", month);
    /* call B: three events over two jobs, one of them repeated inside its job; call C: one */
    ch_event *a[3] = {ev("call-B", "generic:B-1", 1), ev("call-C", "generic:C-1", 1),
                      ev("call-B", "generic:B-2", 2)};
    ch_event *b[2] = {ev("call-B", "generic:B-3", 3), ev("call-B", "generic:B-3", 3)};
    ch_write_job ja, jb;
    submit(f, f->acme, &ja, a, 3);
    assert_int_equal(ja.result, CH_OK);
    for (int i = 0; i < 3; i++)
        assert_int_equal(ja.outcome[i], CH_REC_STORED);
    assert_string_equal(ja.call_ids[0], ja.call_ids[2]);
    assert_string_not_equal(ja.call_ids[0], ja.call_ids[1]);
    submit(f, f->acme, &jb, b, 2);
    assert_int_equal(jb.outcome[0], CH_REC_STORED);
    assert_int_equal(jb.outcome[1], CH_REC_DUPLICATE); /* the same key twice in one job */
    assert_string_equal(jb.call_ids[1], ja.call_ids[0]);

    const char *q = "SELECT %s FROM usage WHERE tenant_id=%lld AND month=%Q";
    assert_int_equal(sql_int(f, q, "calls", (long long)f->acme, month), 2);
    assert_int_equal(sql_int(f, q, "events", (long long)f->acme, month), 4);
    assert_int_equal(sql_int(f, q, "over_limit_calls", (long long)f->acme, month), 0);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM usage"), 1); /* one row: this month */
    assert_int_equal(sql_int(f, "SELECT event_count FROM calls WHERE external_id='call-B'"), 3);

    /* idempotency keys are per tenant: the same key elsewhere is a new event and call */
    ch_write_job k;
    submit(f, f->other, &k, a, 1);
    assert_int_equal(k.outcome[0], CH_REC_STORED);
    assert_string_not_equal(k.call_ids[0], ja.call_ids[0]);
    this_month("UTC", month);
    assert_int_equal(sql_int(f, q, "calls", (long long)f->other, month), 1);
    ch_write_job_clear(&ja);
    ch_write_job_clear(&jb);
    ch_write_job_clear(&k);
    for (int i = 0; i < 3; i++)
        ch_event_free(a[i]);
    ch_event_free(b[0]);
    ch_event_free(b[1]);
}

static void a_hard_monthly_limit_refuses_new_calls_only(void **state)
{
    fixture *f = *state;
    ch_event *a = ev("L-1", "generic:L-1a", 1), *b = ev("L-1", "generic:L-1b", 2),
             *c = ev("L-2", "generic:L-2a", 1);
    ch_write_job ja, jb, jc;
    submit(f, f->other, &ja, &a, 1); /* the one call the limit allows */
    assert_int_equal(ja.outcome[0], CH_REC_STORED);
    submit(f, f->other, &jc, &c, 1); /* a second call: refused */
    assert_int_equal(jc.result, CH_OK);
    assert_int_equal(jc.outcome[0], CH_REC_REJECTED);
    assert_string_equal(jc.reject_reason[0], "monthly_limit_reached");
    assert_null(jc.call_ids[0]);
    submit(f, f->other, &jb, &b, 1); /* more events of the known call are still taken */
    assert_int_equal(jb.outcome[0], CH_REC_STORED);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM calls WHERE external_id='L-2'"), 0);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM events WHERE idem_key='generic:L-2a'"), 0);
    ch_write_job_clear(&ja);
    ch_write_job_clear(&jb);
    ch_write_job_clear(&jc);
    ch_event_free(a);
    ch_event_free(b);
    ch_event_free(c);
}

static void a_tenant_inserted_by_hand_without_counters_works(void **state)
{
    fixture *f = *state;
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    /* only the columns a person typing SQL would give; every other one left to the schema */
    assert_int_equal(
        sqlite3_exec(db, "INSERT INTO tenants(slug) VALUES('byhand')", NULL, NULL, NULL),
        SQLITE_OK);
    int64_t id = sqlite3_last_insert_rowid(db);
    /* and this month's usage row without its counters */
    char month[8];
    this_month("UTC", month);
    char *q = sqlite3_mprintf("INSERT INTO usage(tenant_id, month) VALUES(%lld, %Q)", (long long)id,
                              month);
    int rc = sqlite3_exec(db, q, NULL, NULL, NULL);
    sqlite3_free(q);
    assert_int_equal(rc, SQLITE_OK);
    sqlite3_close(db);

    ch_tenant t;
    assert_int_equal(ch_store_tenant_by_slug(f->s, "byhand", &t), CH_OK);
    assert_int_equal(t.id, id);
    assert_string_equal(t.timezone, "UTC");
    assert_string_equal(t.country, "");
    assert_int_equal(t.monthly_limit, 0);
    assert_false(t.hard_limit);

    ch_event *e1 = ev("H-1", "generic:H-1", 1), *e2 = ev("H-1", "generic:H-2", 2);
    e1->from_raw = ch_strdup("050-123-4567"); /* no country: kept as sent */
    e2->status = CH_STATUS_ENDED;
    ch_write_job j1, j2;
    submit_as(f->s, &t, &j1, &e1, 1);
    assert_int_equal(j1.result, CH_OK);
    assert_int_equal(j1.outcome[0], CH_REC_STORED);
    submit_as(f->s, &t, &j2, &e2, 1);
    assert_int_equal(j2.outcome[0], CH_REC_STORED);
    const char *uq = "SELECT %s FROM usage WHERE tenant_id=%lld AND month=%Q";
    assert_int_equal(sql_int(f, uq, "calls", (long long)id, month), 1);
    assert_int_equal(sql_int(f, uq, "events", (long long)id, month), 2);

    json_t *call;
    assert_int_equal(ch_store_get_call(f->s, id, j1.call_ids[0], &call), CH_OK);
    assert_string_equal(jstr(call, "tenant"), "byhand");
    assert_string_equal(jstr(call, "status"), "ended");
    assert_string_equal(jstr(call, "from"), "050-123-4567");
    json_decref(call);
    ch_write_job_clear(&j1);
    ch_write_job_clear(&j2);
    ch_event_free(e1);
    ch_event_free(e2);
    ch_tenant_clear(&t);
}

static void list_filters_and_paginates(void **state)
{
    fixture *f = *state;
    ch_event *evs[5];
    for (int i = 0; i < 5; i++) {
        char call[16], key[32];
        snprintf(call, sizeof call, "P-%d", i);
        snprintf(key, sizeof key, "generic:P-%d", i);
        evs[i] = ev(call, key, 1);
        evs[i]->started_at = MAY14 + i * 60000;
        evs[i]->direction = i % 2 ? CH_DIR_OUTBOUND : CH_DIR_INBOUND;
    }
    ch_write_job j;
    submit(f, f->acme, &j, evs, 5);
    ch_call_filter flt = {.since = CH_TIME_UNSET,
                          .until = CH_TIME_UNSET,
                          .direction = -1,
                          .status = -1,
                          .disposition = -1,
                          .limit = 2};
    json_t *page;
    char seen[5][16];
    size_t nseen = 0;
    char cursor[128] = "";
    for (int p = 0; p < 5; p++) {
        flt.cursor = *cursor ? cursor : NULL;
        assert_int_equal(ch_store_list_calls(f->s, f->acme, &flt, &page), CH_OK);
        json_t *data = json_object_get(page, "data"), *c;
        size_t i;
        json_array_foreach(data, i, c)
        {
            assert_true(nseen < 5);
            snprintf(seen[nseen++], sizeof seen[0], "%s", jstr(c, "external_id"));
        }
        json_t *next = json_object_get(page, "next_cursor");
        bool more = json_is_string(next);
        if (more) snprintf(cursor, sizeof cursor, "%s", json_string_value(next));
        json_decref(page);
        if (!more) break;
    }
    assert_int_equal(nseen, 5); /* every call once, newest start first */
    for (size_t i = 0; i < nseen; i++) {
        char want[16];
        snprintf(want, sizeof want, "P-%zu", 4 - i);
        assert_string_equal(seen[i], want);
    }
    flt.cursor = "garbage";
    assert_int_equal(ch_store_list_calls(f->s, f->acme, &flt, &page), CH_EINVAL);
    flt.cursor = NULL;
    flt.limit = 50;
    flt.direction = CH_DIR_OUTBOUND; /* P-1 and P-3 */
    assert_int_equal(ch_store_list_calls(f->s, f->acme, &flt, &page), CH_OK);
    assert_int_equal(json_array_size(json_object_get(page, "data")), 2);
    json_decref(page);
    flt.direction = -1;
    assert_int_equal(ch_store_list_calls(f->s, f->other, &flt, &page), CH_OK);
    assert_int_equal(json_array_size(json_object_get(page, "data")), 0); /* not other's */
    json_decref(page);
    ch_write_job_clear(&j);
    for (int i = 0; i < 5; i++)
        ch_event_free(evs[i]);
}

/* The ids of the calls a text search lists, in order, joined by spaces. */
static void text_search(fixture *f, const char *text, char *out, size_t outsz)
{
    ch_call_filter flt = {.since = CH_TIME_UNSET,
                          .until = CH_TIME_UNSET,
                          .direction = -1,
                          .status = -1,
                          .disposition = -1,
                          .text = text,
                          .limit = 50};
    json_t *page, *c;
    assert_int_equal(ch_store_list_calls(f->s, f->acme, &flt, &page), CH_OK);
    size_t i, used = 0;
    *out = '\0';
    json_array_foreach(json_object_get(page, "data"), i, c) used +=
        (size_t)snprintf(out + used, outsz - used, "%s%s", used ? " " : "", jstr(c, "external_id"));
    json_decref(page);
}

/* The writer indexes calls' text in batches (write.c, FTS_BATCH_*): a call waits, named in
 * calls_fts_dirty, until 512 are named or the first has waited a second. Waiting changes no
 * answer: a search older than the newest-calls window, answered by the text index, finds it. */
static void the_text_index_catches_up_in_batches_and_search_finds_calls_waiting(void **state)
{
    fixture *f = *state;
    enum { FILL = 2100 }; /* more than the 2,000 newest calls the window reads */
    ch_event **fill = ch_calloc(FILL, sizeof *fill);
    for (int i = 0; i < FILL; i++) {
        char call[16], key[32];
        snprintf(call, sizeof call, "F-%d", i);
        snprintf(key, sizeof key, "generic:F-%d", i);
        fill[i] = ev(call, key, 1);
        fill[i]->caller_name = ch_strdup("Filler Person");
        fill[i]->started_at = MAY14 + i * 60000LL;
    }
    ch_write_job jf;
    submit(f, f->acme, &jf, fill, FILL);
    /* more than a batch named in one transaction: indexed at its commit */
    assert_int_equal(sql_int(f, "SELECT count(*) FROM calls_fts_dirty"), 0);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM calls_fts WHERE calls_fts MATCH"
                                " '\"filler\"'"),
                     FILL);

    /* one call, older than every filler: named, not indexed yet */
    ch_event *old = ev("OLD-1", "generic:OLD-1", 1);
    old->caller_name = ch_strdup("Quentin Zebulon");
    old->started_at = MAY14 - 86400000LL;
    ch_write_job jo;
    submit(f, f->acme, &jo, &old, 1);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM calls_fts_dirty"), 1);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM calls_fts WHERE calls_fts MATCH"
                                " '\"zebulon\"'"),
                     0);
    char got[256];
    text_search(f, "zebulon", got, sizeof got);
    assert_string_equal(got, "OLD-1");

    /* a second later, the next commit indexes what waited */
    usleep(1100 * 1000);
    ch_event *next = ev("NEXT-1", "generic:NEXT-1", 1);
    next->caller_name = ch_strdup("Another Zebulon");
    next->started_at = MAY14 - 2 * 86400000LL;
    ch_write_job jn;
    submit(f, f->acme, &jn, &next, 1);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM calls_fts_dirty"), 0);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM calls_fts WHERE calls_fts MATCH"
                                " '\"zebulon\"'"),
                     2);
    text_search(f, "zebulon", got, sizeof got);
    assert_string_equal(got, "OLD-1 NEXT-1");
    text_search(f, "nobody has this", got, sizeof got);
    assert_string_equal(got, "");

    ch_write_job_clear(&jf);
    ch_write_job_clear(&jo);
    ch_write_job_clear(&jn);
    for (int i = 0; i < FILL; i++)
        ch_event_free(fill[i]);
    free(fill);
    ch_event_free(old);
    ch_event_free(next);
}

/* ---- the change feed ------------------------------------------------------------------- */

static void count_wake(void *arg)
{
    (*(int *)arg)++; /* on the writer thread; read after submit returned (done ran after it) */
}

/* Each commit's changes reach a queue subscriber in seq order (the call's version counting
 * its changes, the delivery it caused), a wake-up subscriber is woken by delivery.created,
 * the durable log holds the same records, and a tenant's read sees only its own. */
static void the_feed_publishes_each_commit_in_order_and_the_log_matches(void **state)
{
    fixture *f = *state;
    ch_endpoint_spec es = {.url = "https://example.com/h",
                           .kind = "generic",
                           .events = "*",
                           .secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"};
    ch_op add = {.kind = CH_OP_ENDPOINT_ADD, .tenant_id = f->acme, .in.endpoint = es};
    assert_int_equal(ch_store_write(f->s, &add, 1), CH_OK);
    int wakes = 0;
    ch_feed *feed = ch_store_feed(f->s);
    ch_feed_sub *q = ch_feed_subscribe(feed, CH_CHANGE_ALL, 64, NULL, NULL);
    ch_feed_sub *w =
        ch_feed_subscribe(feed, CH_CHANGE_MASK(CH_CHANGE_DELIVERY_CREATED), 0, count_wake, &wakes);
    ch_event *e1 = ev("feed-1", "generic:feed-1:a", 1), *e2 = ev("feed-1", "generic:feed-1:b", 2);
    ch_event *e3 = ev("feed-2", "generic:feed-2:a", 1);
    ch_write_job j1, j2, j3;
    submit(f, f->acme, &j1, &e1, 1);
    submit(f, f->acme, &j2, &e2, 1);
    submit(f, f->other, &j3, &e3, 1);
    assert_true(wakes >= 1);

    ch_change got[64];
    size_t n = 0;
    assert_int_equal(ch_feed_read(q, got, 64, &n), CH_OK);
    assert_true(n >= 4);
    int calls = 0, deliveries = 0;
    for (size_t i = 0; i < n; i++) {
        if (i) assert_int_equal(got[i].seq, got[i - 1].seq + 1);
        if (strcmp(got[i].call_id, j1.call_ids[0]) == 0 && got[i].kind <= CH_CHANGE_CALL_UPDATED) {
            assert_int_equal(got[i].kind, calls ? CH_CHANGE_CALL_UPDATED : CH_CHANGE_CALL_CREATED);
            assert_int_equal(got[i].version, ++calls);
        }
        if (got[i].kind == CH_CHANGE_DELIVERY_CREATED) {
            deliveries++;
            assert_int_equal(got[i].tenant_id, f->acme);
            assert_true(got[i].delivery_id > 0);
        }
    }
    assert_int_equal(calls, 2);
    assert_true(deliveries >= 1);
    assert_int_equal(ch_feed_head(feed), got[n - 1].seq);
    assert_int_equal(sql_int(f, "SELECT version FROM calls WHERE id=%Q", j1.call_ids[0]), 2);

    ch_change_page p;
    assert_int_equal(ch_store_changes_since(f->s, 0, 0, 1000, &p), CH_OK);
    assert_false(p.reset);
    assert_int_equal(p.n, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(p.v[i].seq, got[i].seq);
        assert_int_equal(p.v[i].kind, got[i].kind);
        assert_string_equal(p.v[i].call_id, got[i].call_id);
        assert_int_equal(p.v[i].version, got[i].version);
    }
    assert_int_equal(p.next_cursor, got[n - 1].seq);
    ch_change_page_clear(&p);
    assert_int_equal(ch_store_changes_since(f->s, f->other, 0, 1000, &p), CH_OK);
    assert_int_equal(p.n, 1);
    assert_string_equal(p.v[0].call_id, j3.call_ids[0]);
    ch_change_page_clear(&p);
    assert_int_equal(ch_store_changes_since(f->s, 0, -1, 10, &p), CH_EINVAL);
    assert_int_equal(ch_store_changes_since(f->s, 0, 0, 0, &p), CH_EINVAL);

    ch_feed_unsubscribe(q);
    ch_feed_unsubscribe(w);
    ch_write_job_clear(&j1);
    ch_write_job_clear(&j2);
    ch_write_job_clear(&j3);
    ch_event_free(e1);
    ch_event_free(e2);
    ch_event_free(e3);
}

/* A subscriber whose queue is full falls behind instead of holding up the writer: it is told
 * once it has drained what it has, and catches up from the durable log with its cursor. */
static void a_slow_subscriber_falls_behind_and_catches_up_from_the_log(void **state)
{
    fixture *f = *state;
    ch_feed_sub *q = ch_feed_subscribe(ch_store_feed(f->s), CH_CHANGE_ALL, 2, NULL, NULL);
    ch_event *evs[5];
    ch_write_job j;
    for (int i = 0; i < 5; i++) {
        char call[16], key[40];
        snprintf(call, sizeof call, "slow-%d", i);
        snprintf(key, sizeof key, "generic:slow-%d:a", i);
        evs[i] = ev(call, key, 1);
    }
    submit(f, f->acme, &j, evs, 5);
    ch_change got[8];
    size_t n;
    assert_int_equal(ch_feed_read(q, got, 8, &n), CH_OK);
    assert_int_equal(n, 2);
    int64_t cursor = got[1].seq;
    assert_int_equal(ch_feed_read(q, got, 8, &n), CH_ELIMIT);
    assert_int_equal(n, 0);
    assert_int_equal(ch_feed_sub_dropped(q), 3);
    ch_change_page p;
    assert_int_equal(ch_store_changes_since(f->s, 0, cursor, 100, &p), CH_OK);
    assert_int_equal(p.n, 3);
    assert_int_equal(p.v[0].seq, cursor + 1);
    assert_int_equal(p.v[2].kind, CH_CHANGE_CALL_CREATED);
    ch_change_page_clear(&p);
    /* the queue takes changes again */
    ch_event *more = ev("slow-9", "generic:slow-9:a", 1);
    ch_write_job j2;
    submit(f, f->acme, &j2, &more, 1);
    assert_int_equal(ch_feed_read(q, got, 8, &n), CH_OK);
    assert_int_equal(n, 1);
    assert_int_equal(got[0].seq, cursor + 4);
    ch_feed_unsubscribe(q);
    ch_write_job_clear(&j);
    ch_write_job_clear(&j2);
    for (int i = 0; i < 5; i++)
        ch_event_free(evs[i]);
    ch_event_free(more);
}

/* Retention: beyond changes_keep the oldest changes are pruned, the newest always stays, and
 * a cursor older than what is kept gets a reset (as does one beyond the head). */
static void a_cursor_older_than_retention_gets_a_reset(void **state)
{
    fixture *f = *state;
    ch_store_close(f->s);
    ch_store_opts o = {.path = f->db, .changes_keep = 10};
    assert_int_equal(ch_store_open(&f->s, &o), CH_OK);
    enum { N = 1100 }; /* more than one pruning interval */
    ch_event **evs = ch_calloc(N, sizeof *evs);
    for (int i = 0; i < N; i++) {
        char call[16], key[40];
        snprintf(call, sizeof call, "keep-%d", i);
        snprintf(key, sizeof key, "generic:keep-%d:a", i);
        evs[i] = ev(call, key, 1);
    }
    ch_write_job j;
    submit(f, f->acme, &j, evs, N);
    assert_int_equal(j.result, CH_OK);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM changes"), 10);
    ch_change_page p;
    assert_int_equal(ch_store_changes_since(f->s, 0, 0, 100, &p), CH_OK);
    assert_true(p.reset);
    assert_int_equal(p.n, 0);
    assert_int_equal(p.next_cursor, N);
    assert_int_equal(p.head, N);
    ch_change_page_clear(&p);
    assert_int_equal(ch_store_changes_since(f->s, 0, N - 10, 100, &p), CH_OK);
    assert_false(p.reset);
    assert_int_equal(p.n, 10);
    ch_change_page_clear(&p);
    assert_int_equal(ch_store_changes_since(f->s, 0, N + 1, 100, &p), CH_OK);
    assert_true(p.reset);
    ch_change_page_clear(&p);
    /* a restart keeps counting from the head */
    ch_store_close(f->s);
    assert_int_equal(ch_store_open(&f->s, &o), CH_OK);
    assert_int_equal(ch_feed_head(ch_store_feed(f->s)), N);
    ch_write_job_clear(&j);
    for (int i = 0; i < N; i++)
        ch_event_free(evs[i]);
    free(evs);
}

static int64_t endpoint_count(fixture *f, int64_t tenant)
{
    json_t *o;
    assert_int_equal(ch_store_endpoint_list(f->s, tenant, 0, &o), CH_OK);
    int64_t n = (int64_t)json_array_size(json_object_get(o, "endpoints"));
    json_decref(o);
    return n;
}

static const char *endpoint_url(fixture *f, int64_t tenant, int64_t id, char *buf, size_t n)
{
    json_t *o;
    assert_int_equal(ch_store_endpoint_list(f->s, tenant, id, &o), CH_OK);
    json_t *e = json_array_get(json_object_get(o, "endpoints"), 0);
    snprintf(buf, n, "%s", e ? json_string_value(json_object_get(e, "url")) : "");
    json_decref(o);
    return buf;
}

/* The ops of one job apply together or not at all: a refusal in a later op undoes the earlier
 * ones (one API call = one transaction), and another job of the same batch is not touched. */
static void a_job_of_ops_applies_whole_or_not_at_all(void **state)
{
    fixture *f = *state;
    ch_endpoint_spec es = {.url = "https://example.com/a",
                           .kind = "generic",
                           .events = "*",
                           .secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"};
    ch_op add = {.kind = CH_OP_ENDPOINT_ADD, .tenant_id = f->acme, .in.endpoint = es};
    assert_int_equal(ch_store_write(f->s, &add, 1), CH_OK);
    int64_t ep = add.id_out;
    assert_true(ep > 0);

    /* an update, then a change of an endpoint that does not exist: neither happens */
    ch_op patch[2] = {{.kind = CH_OP_ENDPOINT_UPDATE, .tenant_id = f->acme, .id = ep},
                      {.kind = CH_OP_ENDPOINT_ENABLE, .tenant_id = f->acme, .id = ep + 100}};
    patch[0].in.endpoint = (ch_endpoint_spec){
        .url = "https://example.com/b", .timeout_ms = -1, .rate_limit_per_min = -1};
    patch[1].in.enable.enabled = false;
    assert_int_equal(ch_store_write(f->s, patch, 2), CH_ENOTFOUND);
    assert_int_equal(patch[0].result, CH_OK);
    assert_int_equal(patch[1].result, CH_ENOTFOUND);
    char url[128];
    assert_string_equal(endpoint_url(f, f->acme, ep, url, sizeof url), "https://example.com/a");

    /* a new tenant with a source and an endpoint test that refuses: no tenant is left */
    ch_credential c = {.provider = "generic", .token_hash = "00", .allow_ips = ""};
    ch_op newco[3] = {{.kind = CH_OP_TENANT_ADD, .in.tenant = {.slug = "newco"}},
                      {.kind = CH_OP_CREDENTIAL_ADD, .in.credential = &c},
                      {.kind = CH_OP_ENDPOINT_TEST, .id = 1}};
    assert_int_equal(ch_store_write(f->s, newco, 3), CH_ENOTFOUND);
    assert_int_equal(newco[0].id_out, 0); /* outputs of an undone job are cleared */
    ch_tenant t;
    assert_int_equal(ch_store_tenant_by_slug(f->s, "newco", &t), CH_ENOTFOUND);
    assert_int_equal(sql_int(f,
                             "SELECT COUNT(*) FROM credentials WHERE tenant_id NOT IN (%lld,"
                             " %lld)",
                             (long long)f->acme, (long long)f->other),
                     0);

    /* a refused job and a good one queued together: the good one commits */
    ch_write_job bad, good;
    ch_op bad_op = {.kind = CH_OP_ENDPOINT_REMOVE, .tenant_id = f->other, .id = ep};
    ch_op good_op = {.kind = CH_OP_ENDPOINT_ENABLE, .tenant_id = f->acme, .id = ep};
    good_op.in.enable.reason = "paused";
    ch_write_job_init(&bad, NULL, 0);
    ch_write_job_init(&good, NULL, 0);
    bad.ops = &bad_op, bad.nops = 1;
    good.ops = &good_op, good.nops = 1;
    waiter wb = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false}, wg = wb;
    bad.done = good.done = on_done;
    bad.arg = &wb;
    good.arg = &wg;
    ch_store_submit(f->s, &bad);
    ch_store_submit(f->s, &good);
    waiter *ws[2] = {&wb, &wg};
    for (int i = 0; i < 2; i++) {
        pthread_mutex_lock(&ws[i]->m);
        while (!ws[i]->done)
            pthread_cond_wait(&ws[i]->c, &ws[i]->m);
        pthread_mutex_unlock(&ws[i]->m);
    }
    assert_int_equal(bad.result, CH_ENOTFOUND); /* another tenant's endpoint is not found */
    assert_int_equal(good.result, CH_OK);
    assert_int_equal(endpoint_count(f, f->acme), 1);
    assert_int_equal(sql_int(f, "SELECT enabled FROM endpoints WHERE id=%lld", (long long)ep), 0);
    ch_write_job_clear(&bad);
    ch_write_job_clear(&good);

    /* a disabled endpoint takes no test message: its own code, not "invalid" */
    ch_op test = {.kind = CH_OP_ENDPOINT_TEST, .tenant_id = f->acme, .id = ep};
    assert_int_equal(ch_store_write(f->s, &test, 1), CH_EDISABLED);
}

/* A test message's delivery reaches the change feed, which is what wakes the dispatcher. */
static void an_admin_delivery_is_published_to_the_feed(void **state)
{
    fixture *f = *state;
    ch_endpoint_spec es = {.url = "https://example.com/h",
                           .kind = "generic",
                           .events = "*",
                           .secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"};
    ch_op add = {.kind = CH_OP_ENDPOINT_ADD, .tenant_id = f->acme, .in.endpoint = es};
    assert_int_equal(ch_store_write(f->s, &add, 1), CH_OK);
    int wakes = 0;
    ch_feed_sub *w = ch_feed_subscribe(
        ch_store_feed(f->s), CH_CHANGE_MASK(CH_CHANGE_DELIVERY_CREATED), 0, count_wake, &wakes);
    ch_op test = {.kind = CH_OP_ENDPOINT_TEST, .tenant_id = f->acme, .id = add.id_out};
    assert_int_equal(ch_store_write(f->s, &test, 1), CH_OK);
    assert_true(test.id_out > 0);
    assert_int_equal(wakes, 1);
    ch_change_page p;
    assert_int_equal(ch_store_changes_since(f->s, f->acme, 0, 1000, &p), CH_OK);
    assert_int_equal(p.n, 1);
    assert_int_equal(p.v[0].kind, CH_CHANGE_DELIVERY_CREATED);
    assert_int_equal(p.v[0].delivery_id, test.id_out);
    ch_change_page_clear(&p);
    ch_feed_unsubscribe(w);
}

/* The database URL chooses the backend: "sqlite:PATH", "sqlite:///abs" and a plain path are
 * SQLite's; a URL no backend of this build takes fails to open, with nothing created. */
static void a_database_url_chooses_the_backend(void **state)
{
    fixture *f = *state;
    assert_string_equal(ch_store_backend_name(f->db), "sqlite");
    assert_string_equal(ch_store_file(f->db), f->db);
    char url[600];
    snprintf(url, sizeof url, "sqlite:%s", f->db);
    assert_string_equal(ch_store_backend_name(url), "sqlite");
    assert_string_equal(ch_store_file(url), f->db);
    snprintf(url, sizeof url, "sqlite://%s", f->db); /* f->db is absolute: sqlite:///tmp/… */
    assert_string_equal(ch_store_file(url), f->db);
    const char *pg = "postgresql://callhook@127.0.0.1/callhook";
    assert_null(ch_store_backend_name(pg));
    assert_null(ch_store_file(pg));
    assert_null(ch_store_backend_name("sqlite:"));
    ch_store *s = NULL;
    ch_store_opts o = {.path = pg};
    assert_int_equal(ch_store_open(&s, &o), CH_EINVAL);
    assert_null(s);
    /* the same file through its URL: the same database */
    ch_store_opts o2 = {.path = url};
    assert_int_equal(ch_store_open(&s, &o2), CH_OK);
    ch_tenant t;
    assert_int_equal(ch_store_tenant_by_slug(s, "acme", &t), CH_OK);
    assert_int_equal(t.id, f->acme);
    ch_tenant_clear(&t);
    ch_store_close(s);
}

/* The backend's trace read (store/backend.h call_trace): the call's events in received order
 * with their bodies, its status folded from them, the skipped decisions of a tenant without
 * endpoints; another tenant's call is not found. */
static void a_call_trace_reads_the_events_in_received_order(void **state)
{
    fixture *f = *state;
    ch_event *e1 = ev("call-T", "generic:T-1", 1), *e2 = ev("call-T", "generic:T-2", 2);
    e1->direction = CH_DIR_INBOUND;
    e1->status = CH_STATUS_RINGING;
    e2->status = CH_STATUS_ENDED;
    ch_write_job j1, j2;
    submit(f, f->acme, &j1, &e1, 1);
    submit(f, f->acme, &j2, &e2, 1);
    assert_int_equal(j2.outcome[0], CH_REC_STORED);
    const char *id = j1.call_ids[0];
    json_t *tr = NULL;
    assert_int_equal(ch_store_call_trace(f->s, f->other, id, &tr), CH_ENOTFOUND);
    assert_null(tr);
    assert_int_equal(ch_store_call_trace(f->s, f->acme, "c_000000000000deadbeef", &tr),
                     CH_ENOTFOUND);
    assert_int_equal(ch_store_call_trace(f->s, f->acme, id, &tr), CH_OK);
    assert_string_equal(jstr(tr, "call_id"), id);
    assert_string_equal(jstr(tr, "status"), "ended");
    assert_int_equal(json_integer_value(json_object_get(tr, "events_total")), 2);
    json_t *tl = json_object_get(tr, "timeline"), *v;
    size_t i, nev = 0, nstatus = 0, nskip = 0;
    const char *keys[2] = {"generic:T-1", "generic:T-2"};
    json_array_foreach(tl, i, v)
    {
        const char *what = jstr(v, "what");
        if (!strcmp(what, "event")) {
            assert_true(nev < 2);
            assert_string_equal(jstr(v, "idem_key"), keys[nev]);
            assert_string_equal(jstr(v, "body"), nev ? e2->raw : e1->raw);
            assert_string_equal(jstr(v, "content_type"), "application/json");
            nev++;
        }
        nstatus += !strcmp(what, "status");
        if (!strcmp(what, "skipped")) {
            assert_string_equal(jstr(v, "reason"), "no endpoint for inbound calls");
            nskip++;
        }
    }
    assert_int_equal(nev, 2);
    assert_int_equal(nstatus, 2); /* ringing, then ended */
    assert_true(nskip >= 4);      /* started, 2 status changes, ended, completed */
    json_decref(tr);
    ch_write_job_clear(&j1);
    ch_write_job_clear(&j2);
    ch_event_free(e1);
    ch_event_free(e2);
}

/* A recording stage's result names the stored file; the writer checks it in its transaction.
 * A retention sweep removes a file after its own commit, on the writer thread, when no call
 * refers to it any more: a new call's worker that stored the same bytes just before would
 * otherwise commit a result pointing at nothing. Missing → the stage is retried; present →
 * done. */
static void a_stage_result_naming_a_removed_file_is_retried(void **state)
{
    fixture *f = *state;
    ch_event *e = ev("call-R", "generic:R-1", 1);
    e->direction = CH_DIR_INBOUND;
    e->status = CH_STATUS_ENDED;
    e->recording_url = ch_strdup("https://media.example/rec.wav");
    ch_write_job j;
    submit(f, f->acme, &j, &e, 1);
    assert_int_equal(j.outcome[0], CH_REC_STORED);
    char *id = ch_strdup(j.call_ids[0]);
    ch_write_job_clear(&j);
    ch_event_free(e);
    const char *q = "SELECT %s FROM jobs WHERE call_id=%Q AND stage='recording'";
    assert_int_equal(sql_int(f,
                             "SELECT count(*) FROM jobs WHERE call_id=%Q AND stage='recording'"
                             " AND state='pending'",
                             id),
                     1);

    char file[128];
    snprintf(file, sizeof file, "%s/kept.wav", f->dir);
    ch_op op = {.kind = CH_OP_STAGE_RESULT, .tenant_id = f->acme};
    op.in.stage = (ch_stage_outcome){.call_id = id,
                                     .stage = CH_STAGE_RECORDING,
                                     .state = CH_JOB_DONE,
                                     .started_at = MAY14,
                                     .ms = 5,
                                     .result = "{\"sha256\":\"x\"}",
                                     .must_exist = file};
    assert_int_equal(ch_store_write(f->s, &op, 1), CH_OK);
    char *sql =
        sqlite3_mprintf(q, "state='pending' AND attempts=1 AND error LIKE '%%retention%%'", id);
    assert_int_equal(sql_int(f, "%s", sql), 1);
    sqlite3_free(sql);

    FILE *fp = fopen(file, "w");
    assert_non_null(fp);
    fputs("RIFF", fp);
    fclose(fp);
    assert_int_equal(ch_store_write(f->s, &op, 1), CH_OK);
    sql = sqlite3_mprintf(q, "state='done' AND attempts=2 AND result IS NOT NULL", id);
    assert_int_equal(sql_int(f, "%s", sql), 1);
    sqlite3_free(sql);
    free(id);
}

static int session_add(fixture *f, int64_t tenant, int64_t user, const char *hash)
{
    ch_op op = {.kind = CH_OP_SESSION_ADD,
                .tenant_id = tenant,
                .id = user,
                .in.session = {.id_hash = hash, .csrf = "tok", .idle_ms = 60000, .max_ms = 60000}};
    return ch_store_write(f->s, &op, 1);
}

static void users_are_unique_by_email_and_their_sessions_end_with_them(void **state)
{
    fixture *f = *state;
    ch_op add = {.kind = CH_OP_USER_ADD,
                 .tenant_id = f->acme,
                 .in.user = {.email = "ann@example.com", .role = "viewer", .password_hash = "h1"}};
    assert_int_equal(ch_store_write(f->s, &add, 1), CH_OK);
    int64_t ann = add.id_out;
    assert_true(ann > 0);
    /* one email, one sign-in: another tenant cannot take it, whatever its case */
    ch_op dup = {.kind = CH_OP_USER_ADD,
                 .tenant_id = f->other,
                 .in.user = {.email = "ANN@example.com", .role = "admin", .password_hash = "h"}};
    assert_int_equal(ch_store_write(f->s, &dup, 1), CH_EEXIST);
    ch_op bad = {.kind = CH_OP_USER_ADD,
                 .tenant_id = f->other,
                 .in.user = {.email = "x@example.com", .role = "root", .password_hash = "h"}};
    assert_int_not_equal(ch_store_write(f->s, &bad, 1), CH_OK);

    ch_user u;
    assert_int_equal(ch_store_user_by_email(f->s, "Ann@Example.com", &u), CH_OK);
    assert_int_equal(u.id, ann);
    assert_int_equal(u.tenant_id, f->acme);
    assert_string_equal(u.role, "viewer");
    assert_string_equal(u.password_hash, "h1");
    assert_string_equal(u.tenant_slug, "acme");
    ch_user_clear(&u);
    assert_int_equal(ch_store_user_by_email(f->s, "nobody@example.com", &u), CH_ENOTFOUND);

    /* a session names its user's tenant; a user id of another tenant is not found */
    assert_int_equal(session_add(f, f->other, ann, "h-wrong"), CH_ENOTFOUND);
    assert_int_equal(session_add(f, f->acme, ann, "h-a"), CH_OK);
    assert_int_equal(session_add(f, f->acme, ann, "h-b"), CH_OK);
    ch_session v;
    assert_int_equal(ch_store_session_get(f->s, "h-a", &v), CH_OK);
    assert_int_equal(v.user_id, ann);
    assert_int_equal(v.tenant_id, f->acme);
    assert_string_equal(v.csrf, "tok");
    assert_string_equal(v.email, "ann@example.com");
    assert_string_equal(v.tenant_slug, "acme");
    ch_session_clear(&v);

    /* sign-out ends one session; a new password ends all of them */
    ch_op out = {.kind = CH_OP_SESSION_REMOVE, .in.session.id_hash = "h-a"};
    assert_int_equal(ch_store_write(f->s, &out, 1), CH_OK);
    assert_int_equal(ch_store_session_get(f->s, "h-a", &v), CH_ENOTFOUND);
    assert_int_equal(ch_store_session_get(f->s, "h-b", &v), CH_OK);
    ch_session_clear(&v);
    ch_op pw = {.kind = CH_OP_USER_PASSWD,
                .tenant_id = f->acme,
                .in.user = {.email = "ann@example.com", .password_hash = "h2"}};
    assert_int_equal(ch_store_write(f->s, &pw, 1), CH_OK);
    assert_int_equal(ch_store_session_get(f->s, "h-b", &v), CH_ENOTFOUND);
    /* another tenant cannot change or remove the user */
    pw.tenant_id = f->other;
    assert_int_equal(ch_store_write(f->s, &pw, 1), CH_ENOTFOUND);
    ch_op rm = {
        .kind = CH_OP_USER_REMOVE, .tenant_id = f->other, .in.user.email = "ann@example.com"};
    assert_int_equal(ch_store_write(f->s, &rm, 1), CH_ENOTFOUND);

    assert_int_equal(session_add(f, f->acme, ann, "h-c"), CH_OK);
    rm.tenant_id = f->acme;
    assert_int_equal(ch_store_write(f->s, &rm, 1), CH_OK);
    assert_int_equal(ch_store_session_get(f->s, "h-c", &v), CH_ENOTFOUND);
    assert_int_equal(ch_store_user_by_email(f->s, "ann@example.com", &u), CH_ENOTFOUND);
    json_t *list;
    assert_int_equal(ch_store_user_list(f->s, f->acme, &list), CH_OK);
    assert_int_equal(json_array_size(json_object_get(list, "users")), 0);
    json_decref(list);
}

/* Issue 12's reads and op: a source's rotation replaces only what it names, and only for its
 * tenant; an endpoint's health follows its deliveries; one tenant's usage is the tenant list's. */
static void sources_rotate_and_endpoint_health_and_usage(void **state)
{
    fixture *f = *state;
    ch_credential c = {.provider = "generic",
                       .username = "pbx",
                       .password_hash = "old-hash",
                       .token_hash = "old-token",
                       .allow_ips = ""};
    ch_op add = {.kind = CH_OP_CREDENTIAL_ADD, .tenant_id = f->acme, .in.credential = &c};
    assert_int_equal(ch_store_write(f->s, &add, 1), CH_OK);
    int64_t src = add.id_out;

    ch_credential nc = {.token_hash = "new-token"};
    ch_op rot = {
        .kind = CH_OP_SOURCE_ROTATE, .tenant_id = f->other, .id = src, .in.credential = &nc};
    assert_int_equal(ch_store_write(f->s, &rot, 1), CH_ENOTFOUND); /* not the other's */
    rot.tenant_id = f->acme;
    assert_int_equal(ch_store_write(f->s, &rot, 1), CH_OK);
    ch_credential *got;
    size_t n;
    assert_int_equal(ch_store_credentials(f->s, f->acme, "generic", &got, &n), CH_OK);
    assert_int_equal(n, 1);
    assert_string_equal(got[0].token_hash, "new-token");
    assert_string_equal(got[0].password_hash, "old-hash"); /* left alone */
    assert_string_equal(got[0].username, "pbx");
    assert_null(got[0].signing_secret);
    ch_credentials_free(got, n);

    /* health: no delivery yet; a test message pending; the endpoint disabled fails it */
    ch_endpoint_spec es = {.url = "https://example.com/h",
                           .kind = "generic",
                           .events = "*",
                           .secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"};
    ch_op ea = {.kind = CH_OP_ENDPOINT_ADD, .tenant_id = f->acme, .in.endpoint = es};
    assert_int_equal(ch_store_write(f->s, &ea, 1), CH_OK);
    ch_endpoint_health *h;
    int64_t dead = -1;
    assert_int_equal(ch_store_endpoint_health(f->s, f->acme, &h, &n, &dead), CH_OK);
    assert_int_equal(n, 1);
    assert_int_equal(h[0].id, ea.id_out);
    assert_true(h[0].failing_since == CH_TIME_UNSET);
    assert_null(h[0].last_state);
    assert_int_equal(dead, 0);
    ch_endpoint_health_free(h, n);
    ch_op test = {.kind = CH_OP_ENDPOINT_TEST, .tenant_id = f->acme, .id = ea.id_out};
    assert_int_equal(ch_store_write(f->s, &test, 1), CH_OK);
    assert_int_equal(ch_store_endpoint_health(f->s, f->acme, &h, &n, &dead), CH_OK);
    assert_string_equal(h[0].last_state, "pending");
    assert_int_equal(dead, 0);
    ch_endpoint_health_free(h, n);
    ch_op off = {.kind = CH_OP_ENDPOINT_ENABLE, .tenant_id = f->acme, .id = ea.id_out};
    off.in.enable.reason = "paused";
    assert_int_equal(ch_store_write(f->s, &off, 1), CH_OK);
    assert_int_equal(ch_store_endpoint_health(f->s, f->acme, &h, &n, &dead), CH_OK);
    assert_string_equal(h[0].last_state, "failed");
    assert_string_equal(h[0].last_error, "endpoint disabled");
    assert_int_equal(dead, 1);
    ch_endpoint_health_free(h, n);
    assert_int_equal(ch_store_endpoint_health(f->s, f->other, &h, &n, &dead), CH_OK);
    assert_int_equal(n, 0); /* the other tenant has none, and no dead letters */
    assert_int_equal(dead, 0);
    ch_endpoint_health_free(h, n);

    ch_tenant_usage u;
    assert_int_equal(ch_store_tenant_usage(f->s, f->other, &u), CH_OK);
    assert_string_equal(u.tenant.slug, "other");
    assert_int_equal(u.tenant.monthly_limit, 1);
    assert_true(u.tenant.hard_limit);
    char month[8];
    this_month("UTC", month);
    assert_string_equal(u.month, month);
    assert_int_equal(u.calls, 0);
    ch_tenant_clear(&u.tenant);
    assert_int_equal(ch_store_tenant_usage(f->s, 999999, &u), CH_ENOTFOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(open_migrate_and_tenants, setup, teardown),
        cmocka_unit_test_setup_teardown(users_are_unique_by_email_and_their_sessions_end_with_them,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(sources_rotate_and_endpoint_health_and_usage, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_database_url_chooses_the_backend, setup, teardown),
        cmocka_unit_test_setup_teardown(events_merge_into_one_call_and_duplicates_change_nothing,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(usage_counts_each_call_once_per_month, setup, teardown),
        cmocka_unit_test_setup_teardown(a_hard_monthly_limit_refuses_new_calls_only, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_tenant_inserted_by_hand_without_counters_works, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(list_filters_and_paginates, setup, teardown),
        cmocka_unit_test_setup_teardown(
            the_text_index_catches_up_in_batches_and_search_finds_calls_waiting, setup, teardown),
        cmocka_unit_test_setup_teardown(the_feed_publishes_each_commit_in_order_and_the_log_matches,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_slow_subscriber_falls_behind_and_catches_up_from_the_log,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_job_of_ops_applies_whole_or_not_at_all, setup, teardown),
        cmocka_unit_test_setup_teardown(an_admin_delivery_is_published_to_the_feed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_cursor_older_than_retention_gets_a_reset, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_stage_result_naming_a_removed_file_is_retried, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_call_trace_reads_the_events_in_received_order, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
