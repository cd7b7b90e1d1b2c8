/* The SQLite store through its interface, on a real database file: the writer's outcomes,
 * dedup, merge across jobs, usage counted once per call, monthly limits, tenant isolation, and
 * a tenant row inserted by hand with no counters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "store/store.h"
#include "util/mem.h"
#include "util/result.h"
#include "util/timeutil.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    char dir[64], db[96];
    ch_store *s;
    int64_t acme, other;
} fixture;

static int setup(void **state)
{
    fixture *f = ch_calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/ch-unit-store-XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    snprintf(f->db, sizeof f->db, "%s/t.db", f->dir);
    ch_tenant_spec a = {
        .slug = "acme", .name = "Acme", .timezone = "Asia/Jerusalem", .country = "972"};
    ch_tenant_spec b = {.slug = "other",
                        .name = "Other",
                        .timezone = "UTC",
                        .country = "1",
                        .monthly_limit = 1,
                        .hard_limit = true};
    if (ch_admin_tenant_add(f->db, &a, &f->acme) || ch_admin_tenant_add(f->db, &b, &f->other))
        return -1;
    ch_store_opts o = {.path = f->db};
    if (ch_store_open(&f->s, &o)) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    ch_store_close(f->s);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0) return -1;
    free(f);
    return 0;
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

static void submit(fixture *f, int64_t tenant, ch_write_job *job, ch_event **evs, size_t n)
{
    waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false};
    ch_write_job_init(job, evs, n);
    job->tenant_id = tenant;
    job->tenant_tz = tenant == f->acme ? "Asia/Jerusalem" : "UTC";
    job->tenant_country = tenant == f->acme ? "972" : "1";
    job->monthly_limit = tenant == f->other ? 1 : 0;
    job->hard_limit = tenant == f->other;
    job->done = on_done;
    job->arg = &w;
    ch_store_submit(f->s, job);
    pthread_mutex_lock(&w.m);
    while (!w.done)
        pthread_cond_wait(&w.c, &w.m);
    pthread_mutex_unlock(&w.m);
}

static ch_event *ev(const char *call, const char *key, int64_t seq)
{
    ch_event *e = ch_event_new();
    e->provider = ch_strdup("generic");
    e->external_id = ch_strdup(call);
    e->idem_key = ch_strdup(key);
    e->seq = seq;
    e->raw = ch_strdup("{}");
    e->raw_len = 2;
    e->content_type = ch_strdup("application/json");
    return e;
}

static int64_t sql_int(fixture *f, const char *q)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open_v2(f->db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, q, -1, &st, NULL), SQLITE_OK);
    int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* ---- tests ------------------------------------------------------------------------------ */

static void events_merge_into_one_call_and_duplicates_change_nothing(void **state)
{
    fixture *f = *state;
    ch_event *e1 = ev("call-A", "generic:A-1", 1), *e2 = ev("call-A", "generic:A-2", 2);
    e1->status = CH_STATUS_RINGING;
    e1->from_raw = ch_strdup("050-123-4567");
    e2->status = CH_STATUS_ENDED;
    e2->disposition = CH_DISP_ANSWERED;
    e2->answered_at = 1715681706000LL;
    e2->ended_at = 1715681892000LL;

    ch_write_job j1, j2, j3;
    submit(f, f->acme, &j1, &e2, 1); /* the end arrives first */
    assert_int_equal(j1.result, CH_OK);
    assert_int_equal(j1.outcome[0], CH_REC_STORED);
    char *id = ch_strdup(j1.call_ids[0]);
    assert_true(strncmp(id, "c_", 2) == 0);
    submit(f, f->acme, &j2, &e1, 1);
    assert_int_equal(j2.outcome[0], CH_REC_STORED);
    assert_string_equal(j2.call_ids[0], id);

    json_t *before;
    assert_int_equal(ch_store_get_call(f->s, f->acme, id, &before), CH_OK);
    submit(f, f->acme, &j3, &e1, 1); /* a retry of the first delivery */
    assert_int_equal(j3.outcome[0], CH_REC_DUPLICATE);
    assert_string_equal(j3.call_ids[0], id);
    json_t *after;
    assert_int_equal(ch_store_get_call(f->s, f->acme, id, &after), CH_OK);
    json_object_del(before, "updated_at");
    json_object_del(after, "updated_at");
    assert_true(json_equal(before, after));

    assert_string_equal(json_string_value(json_object_get(after, "status")), "ended");
    assert_string_equal(json_string_value(json_object_get(after, "disposition")), "answered");
    assert_string_equal(json_string_value(json_object_get(after, "from")), "+972501234567");
    assert_int_equal(json_integer_value(json_object_get(after, "billsec")), 186);
    assert_int_equal(json_array_size(json_object_get(after, "events")), 2);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM events WHERE idem_key='generic:A-1'"), 1);

    /* usage: one call, two events (the duplicate counts nothing) */
    assert_int_equal(sql_int(f, "SELECT calls FROM usage WHERE tenant_id=1"), 1);
    assert_int_equal(sql_int(f, "SELECT events FROM usage WHERE tenant_id=1"), 2);

    /* the other tenant cannot see it */
    json_t *x;
    assert_int_equal(ch_store_get_call(f->s, f->other, id, &x), CH_ENOTFOUND);

    json_decref(before);
    json_decref(after);
    free(id);
    ch_write_job_clear(&j1);
    ch_write_job_clear(&j2);
    ch_write_job_clear(&j3);
    ch_event_free(e1);
    ch_event_free(e2);
}

static void one_job_many_events_and_the_same_key_in_another_tenant(void **state)
{
    fixture *f = *state;
    ch_event *evs[3] = {ev("call-B", "generic:B-1", 1), ev("call-C", "generic:C-1", 1),
                        ev("call-B", "generic:B-2", 2)};
    ch_write_job j;
    submit(f, f->acme, &j, evs, 3);
    assert_int_equal(j.result, CH_OK);
    for (int i = 0; i < 3; i++)
        assert_int_equal(j.outcome[i], CH_REC_STORED);
    assert_string_equal(j.call_ids[0], j.call_ids[2]);
    assert_string_not_equal(j.call_ids[0], j.call_ids[1]);

    /* idempotency keys are per tenant: the same key elsewhere is a new event */
    ch_write_job k;
    submit(f, f->other, &k, evs, 1);
    assert_int_equal(k.outcome[0], CH_REC_STORED);
    assert_string_not_equal(k.call_ids[0], j.call_ids[0]);
    ch_write_job_clear(&j);
    ch_write_job_clear(&k);
    for (int i = 0; i < 3; i++)
        ch_event_free(evs[i]);
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
    submit(f, f->other, &jb, &b, 1); /* more events of the known call still count */
    assert_int_equal(jb.outcome[0], CH_REC_STORED);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM calls WHERE external_id='L-2'"), 0);
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
    /* only the columns a person typing SQL would give; every counter left to the schema */
    assert_int_equal(sqlite3_exec(db, "INSERT INTO tenants(slug, name) VALUES('byhand', 'By hand')",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    int64_t id = sqlite3_last_insert_rowid(db);
    /* and a usage row with NULL counters, the classic cause of "NULL + 1 = NULL → 500" */
    char *q = sqlite3_mprintf(
        "INSERT INTO usage(tenant_id, month) VALUES(%lld, strftime('%%Y-%%m','now'))",
        (long long)id);
    int rc = sqlite3_exec(db, q, NULL, NULL, NULL);
    sqlite3_free(q);
    assert_int_equal(rc, SQLITE_OK);
    sqlite3_close(db);

    ch_tenant t;
    assert_int_equal(ch_store_tenant_by_id(f->s, id, &t), CH_OK);
    assert_int_equal(t.monthly_limit, 0);
    ch_event *e = ev("H-1", "generic:H-1", 1);
    ch_write_job j;
    waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false};
    ch_write_job_init(&j, &e, 1);
    j.tenant_id = id;
    j.tenant_tz = t.timezone;
    j.tenant_country = t.country;
    j.done = on_done;
    j.arg = &w;
    ch_store_submit(f->s, &j);
    pthread_mutex_lock(&w.m);
    while (!w.done)
        pthread_cond_wait(&w.c, &w.m);
    pthread_mutex_unlock(&w.m);
    assert_int_equal(j.result, CH_OK);
    assert_int_equal(j.outcome[0], CH_REC_STORED);
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT calls FROM usage WHERE tenant_id=%lld", (long long)id);
    assert_int_equal(sql_int(f, sql), 1);
    ch_write_job_clear(&j);
    ch_event_free(e);
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
        evs[i]->started_at = 1715681700000LL + i * 60000;
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
    const char *seen[5];
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
            seen[nseen++] = ch_strdup(json_string_value(json_object_get(c, "external_id")));
        }
        json_t *next = json_object_get(page, "next_cursor");
        bool more = json_is_string(next);
        if (more) snprintf(cursor, sizeof cursor, "%s", json_string_value(next));
        json_decref(page);
        if (!more) break;
    }
    assert_int_equal(nseen, 5); /* every call once, newest first */
    for (size_t i = 0; i < nseen; i++) {
        char want[16];
        snprintf(want, sizeof want, "P-%zu", 4 - i);
        assert_string_equal(seen[i], want);
        free((void *)seen[i]);
    }
    flt.cursor = "garbage";
    assert_int_equal(ch_store_list_calls(f->s, f->acme, &flt, &page), CH_EINVAL);
    flt.cursor = NULL;
    flt.limit = 50;
    flt.direction = CH_DIR_OUTBOUND;
    assert_int_equal(ch_store_list_calls(f->s, f->acme, &flt, &page), CH_OK);
    assert_int_equal(json_array_size(json_object_get(page, "data")), 2);
    json_decref(page);
    ch_write_job_clear(&j);
    for (int i = 0; i < 5; i++)
        ch_event_free(evs[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(events_merge_into_one_call_and_duplicates_change_nothing,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(one_job_many_events_and_the_same_key_in_another_tenant,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_hard_monthly_limit_refuses_new_calls_only, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_tenant_inserted_by_hand_without_counters_works, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(list_filters_and_paginates, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
