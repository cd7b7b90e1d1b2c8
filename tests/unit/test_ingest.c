/* The ingest pipeline (src/ingest/ingest.h) with the generic adapter: each refusal it makes
 * before anything is written (content type, parse, metadata limits), the write job it builds
 * for a tenant, and the two ways it submits (waiting, and a done callback after before_submit)
 * on a real database file in a fresh mkdtemp directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ingest/ingest.h"
#include "store/store.h"
#include "util/mem.h"
#include "util/result.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EVENT(id)                                                                                  \
    "{\"event_id\":\"" id "\",\"call_id\":\"c-" id "\",\"type\":\"call.ringing\","                 \
    "\"timestamp\":\"2024-05-14T10:15:00+03:00\",\"direction\":\"inbound\","                       \
    "\"status\":\"ringing\",\"from\":\"050-123-4567\",\"to\":\"03-123-4567\"}"

static const ch_tenant acme = {.id = 7,
                               .slug = "acme",
                               .timezone = "Asia/Jerusalem",
                               .country = "972",
                               .monthly_limit = 100,
                               .hard_limit = true,
                               .features = "x,no-auto-leads"};

typedef struct {
    ch_parsed parsed;
    ch_write_job job;
    ch_ingest_ctx in;
} run;

static int ingest_body(run *r, const ch_tenant *t, ch_store *s, const char *ct, const char *body)
{
    memset(r, 0, sizeof *r);
    r->in = (ch_ingest_ctx){
        .provider = ch_provider_find("generic"),
        .tenant = t,
        .raw = {.content_type = ct, .body = body, .body_len = strlen(body), .max_records = 100},
        .request_id = "req-1",
        .store = s,
        .parsed = &r->parsed,
        .job = &r->job};
    return ch_ingest(&r->in);
}

static void a_content_type_the_adapter_does_not_take_is_refused(void **state)
{
    run r;
    assert_int_equal(ingest_body(&r, &acme, NULL, "text/plain", EVENT("e1")), CH_EINVAL);
    assert_int_equal(r.in.outcome, CH_INGEST_REFUSED);
    assert_int_equal(r.in.refusal.status, 415);
    assert_string_equal(r.in.refusal.code, "unsupported_media_type");
    assert_string_equal(r.in.refusal.message,
                        "content type text/plain is not accepted here; send application/json");
    assert_int_equal(r.parsed.n, 0); /* not parsed */
    ch_ingest_clear(&r.in);
}

static void a_syntax_error_is_refused_with_its_position(void **state)
{
    run r;
    assert_int_equal(ingest_body(&r, &acme, NULL, "application/json", "{\n  \"event_id\": }"),
                     CH_EINVAL);
    assert_int_equal(r.in.refusal.status, 400);
    assert_string_equal(r.in.refusal.code, "malformed_json");
    assert_int_equal(r.in.refusal.line, 2);
    assert_true(r.in.refusal.column > 0);
    ch_ingest_clear(&r.in);
}

static void metadata_over_the_limit_refuses_the_whole_batch_naming_the_record(void **state)
{
    /* 600 keys: over the 500 per event */
    char *body = ch_malloc(64 * 1024);
    size_t n = (size_t)snprintf(body, 1024,
                                "[" EVENT("e1") ",{\"event_id\":\"e2\",\"call_id\":"
                                                "\"c2\",\"type\":\"call.ringing\",\"metadata\":{");
    for (int i = 0; i < 600; i++)
        n += (size_t)snprintf(body + n, 64, "%s\"k%d\":1", i ? "," : "", i);
    snprintf(body + n, 64, "}}]");
    run r;
    assert_int_equal(ingest_body(&r, &acme, NULL, "application/json", body), CH_EINVAL);
    assert_int_equal(r.in.refusal.status, 422);
    assert_string_equal(r.in.refusal.code, "metadata_too_large");
    assert_string_equal(r.in.refusal.field, "[1].metadata");
    assert_null(r.in.events); /* refused before anything was prepared */
    ch_ingest_clear(&r.in);
    free(body);
}

static void the_job_carries_the_tenant_and_every_valid_event_prepared(void **state)
{
    run r;
    assert_int_equal(
        ingest_body(&r, &acme, NULL, "application/json", "[" EVENT("e1") ",42," EVENT("e2") "]"),
        CH_OK);
    assert_int_equal(r.in.outcome, CH_INGEST_PREPARED); /* no store: not submitted */
    assert_int_equal(r.parsed.n, 3);
    assert_int_equal(r.in.nevents, 2);
    assert_ptr_equal(r.in.events[0], r.parsed.records[0].event);
    assert_ptr_equal(r.in.events[1], r.parsed.records[2].event);
    assert_non_null(r.in.events[0]->norm);
    assert_string_equal(r.in.events[0]->from_e164, "+972501234567"); /* the tenant's country */
    assert_ptr_equal(r.job.events, r.in.events);
    assert_int_equal(r.job.n, 2);
    assert_int_equal(r.job.tenant_id, 7);
    assert_string_equal(r.job.tenant_tz, "Asia/Jerusalem");
    assert_string_equal(r.job.tenant_country, "972");
    assert_int_equal(r.job.monthly_limit, 100);
    assert_true(r.job.hard_limit);
    assert_true(r.job.no_auto_leads);
    assert_string_equal(r.job.request_id, "req-1");
    ch_ingest_clear(&r.in);
}

static void a_batch_without_a_valid_record_needs_no_write(void **state)
{
    run r;
    assert_int_equal(ingest_body(&r, &acme, NULL, "application/json", "[42]"), CH_OK);
    assert_int_equal(r.in.outcome, CH_INGEST_NO_RECORD);
    assert_int_equal(r.job.n, 0);
    assert_int_equal(r.job.result, CH_OK);
    ch_ingest_clear(&r.in);
}

/* ---- with a store ------------------------------------------------------------------------ */

typedef struct {
    char dir[64], db[96];
    ch_store *s;
    ch_tenant t;
} fixture;

static int setup(void **state)
{
    fixture *f = ch_calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/ch-unit-ingest-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->db, sizeof f->db, "%s/t.db", f->dir);
    ch_tenant_spec a = {
        .slug = "acme", .name = "Acme", .timezone = "Asia/Jerusalem", .country = "972"};
    ch_store_opts o = {.path = f->db};
    ch_op op = {.kind = CH_OP_TENANT_ADD, .in.tenant = a};
    if (ch_store_open(&f->s, &o) || ch_store_write(f->s, &op, 1) ||
        ch_store_tenant_by_slug(f->s, "acme", &f->t)) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    ch_store_close(f->s);
    ch_tenant_clear(&f->t);
    char p[160];
    static const char *const files[] = {"t.db", "t.db-wal", "t.db-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", f->dir, files[i]);
        unlink(p);
    }
    int rc = rmdir(f->dir);
    free(f);
    return rc;
}

static void waiting_submits_and_a_repeat_is_a_duplicate(void **state)
{
    fixture *f = *state;
    for (int i = 0; i < 2; i++) {
        run r;
        assert_int_equal(ingest_body(&r, &f->t, f->s, "application/json", EVENT("e1")), CH_OK);
        assert_int_equal(r.in.outcome, CH_INGEST_WRITTEN);
        assert_int_equal(r.job.result, CH_OK);
        assert_int_equal(r.job.outcome[0], i == 0 ? CH_REC_STORED : CH_REC_DUPLICATE);
        ch_ingest_clear(&r.in);
    }
}

typedef struct {
    pthread_mutex_t m;
    pthread_cond_t c;
    int order; /* 1 after before_submit, 2 after done */
    bool done_after_suspend;
} waiter;

static void before(void *arg)
{
    waiter *w = arg;
    pthread_mutex_lock(&w->m);
    w->order = 1;
    pthread_mutex_unlock(&w->m);
}

static void on_done(ch_write_job *job)
{
    waiter *w = job->arg;
    pthread_mutex_lock(&w->m);
    w->done_after_suspend = w->order == 1;
    w->order = 2;
    pthread_cond_signal(&w->c);
    pthread_mutex_unlock(&w->m);
}

static void a_done_callback_runs_after_before_submit(void **state)
{
    fixture *f = *state;
    waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, false};
    run r;
    memset(&r, 0, sizeof r);
    r.in = (ch_ingest_ctx){.provider = ch_provider_find("generic"),
                           .tenant = &f->t,
                           .raw = {.content_type = "application/json",
                                   .body = EVENT("e9"),
                                   .body_len = strlen(EVENT("e9")),
                                   .max_records = 100},
                           .request_id = "req-2",
                           .store = f->s,
                           .done = on_done,
                           .before_submit = before,
                           .arg = &w,
                           .parsed = &r.parsed,
                           .job = &r.job};
    assert_int_equal(ch_ingest(&r.in), CH_OK);
    pthread_mutex_lock(&w.m);
    while (w.order != 2)
        pthread_cond_wait(&w.c, &w.m);
    pthread_mutex_unlock(&w.m);
    assert_true(w.done_after_suspend);
    assert_int_equal(r.job.result, CH_OK);
    assert_int_equal(r.job.outcome[0], CH_REC_STORED);
    ch_ingest_clear(&r.in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_content_type_the_adapter_does_not_take_is_refused),
        cmocka_unit_test(a_syntax_error_is_refused_with_its_position),
        cmocka_unit_test(metadata_over_the_limit_refuses_the_whole_batch_naming_the_record),
        cmocka_unit_test(the_job_carries_the_tenant_and_every_valid_event_prepared),
        cmocka_unit_test(a_batch_without_a_valid_record_needs_no_write),
        cmocka_unit_test_setup_teardown(waiting_submits_and_a_repeat_is_a_duplicate, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_done_callback_runs_after_before_submit, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
