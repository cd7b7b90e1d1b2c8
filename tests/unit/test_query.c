/* The call list's filters are served by indexes (docs/internals/call-search.md), proved without
 * timing anything: for each filter, EXPLAIN QUERY PLAN of the statement the list would run
 * names the index it uses and never scans the calls table whole. Also, on plain SQL: the
 * triggers of migrations 10 and 11 keep the delivery summary and calls_fts in step with the
 * rows they derive from, and the migrations fill them in for rows written before them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "store/sqlite/sqlite.h"
#include "util/mem.h"
#include "util/result.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    char dir[64], path[96];
    sqlite3 *db;
} fixture;

static int setup(void **state)
{
    fixture *f = ch_calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/ch-unit-query-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof f->path, "%s/q.db", f->dir);
    if (ch_sqlite_open(f->path, false, &f->db) || ch_sqlite_migrate(f->db, NULL)) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    sqlite3_close(f->db);
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        char p[128];
        snprintf(p, sizeof p, "%s%s", f->path, suffixes[i]);
        unlink(p);
    }
    int rc = rmdir(f->dir);
    free(f);
    return rc;
}

static ch_call_filter base(void)
{
    ch_call_filter flt = {.since = CH_TIME_UNSET,
                          .until = CH_TIME_UNSET,
                          .direction = -1,
                          .status = -1,
                          .disposition = -1,
                          .limit = 50};
    return flt;
}

/* The plan of the list's statement for flt taken the way `way`, its lines joined by "\n". */
static char *plan_of(sqlite3 *db, const ch_call_filter *flt, int way)
{
    sqlite3_stmt *st;
    assert_int_equal(ch_sqlite_list_query(db, 1, flt, way, &st), CH_OK);
    char *sql = sqlite3_expanded_sql(st);
    assert_non_null(sql);
    char *eqp = ch_asprintf("EXPLAIN QUERY PLAN %s", sql);
    sqlite3_free(sql);
    sqlite3_finalize(st);
    sqlite3_stmt *p;
    assert_int_equal(sqlite3_prepare_v2(db, eqp, -1, &p, NULL), SQLITE_OK);
    free(eqp);
    size_t cap = 4096, len = 0;
    char *out = ch_malloc(cap);
    out[0] = 0;
    while (sqlite3_step(p) == SQLITE_ROW) {
        const char *d = (const char *)sqlite3_column_text(p, 3);
        size_t n = strlen(d);
        if (len + n + 2 > cap) out = ch_realloc(out, cap = (len + n + 2) * 2);
        memcpy(out + len, d, n);
        len += n;
        out[len++] = '\n';
        out[len] = 0;
    }
    sqlite3_finalize(p);
    return out;
}

/* No line scans the calls table whole ("SCAN c", with or without an index: a full walk). */
static void assert_no_full_scan(const char *plan, const char *what)
{
    const char *p = plan;
    while ((p = strstr(p, "SCAN c"))) {
        if (p[6] == '\n' || p[6] == ' ') fail_msg("%s: full scan of calls:\n%s", what, plan);
        p += 6;
    }
}

/* A walk of every call of the tenant (an index searched on tenant_id alone): fine for the
 * newest page and the window, which stop after a bounded number of rows, a scan otherwise. */
static bool walks_tenant(const char *plan)
{
    return strstr(plan, "calls_recent (tenant_id=?)\n") ||
           strstr(plan, "sqlite_autoindex_calls_1 (tenant_id=?)\n");
}

static void expect(sqlite3 *db, const ch_call_filter *flt, int way, const char *uses, bool sorts,
                   const char *what)
{
    char *plan = plan_of(db, flt, way);
    assert_no_full_scan(plan, what);
    bool bounded = strncmp(what, "newest page", 11) == 0 || strstr(what, "the window");
    if (!bounded && walks_tenant(plan))
        fail_msg("%s: walks every call of the tenant:\n%s", what, plan);
    if (!strstr(plan, uses)) fail_msg("%s: expected %s in the plan:\n%s", what, uses, plan);
    /* a page is read in the list's order from its index, never sorted whole — except the
     * rows the text index names, and the <= limit+1 rows of a number's merged walks */
    if (!sorts && strstr(plan, "USE TEMP B-TREE FOR ORDER BY"))
        fail_msg("%s: sorts instead of walking an index in order:\n%s", what, plan);
    free(plan);
}

static void plans(void **state)
{
    fixture *fx = *state;
    sqlite3 *db = fx->db;
    const int plain = ch_sqlite_list_way(&(ch_call_filter){0}, false);
    ch_call_filter f = base();
    expect(db, &f, plain, "calls_recent", false, "newest page");
    f.cursor = "1715681700000.c_00000000000000000001";
    expect(db, &f, plain, "calls_recent", false, "newest page after a cursor");
    f = base();
    f.since = 1;
    f.until = 2;
    expect(db, &f, plain, "calls_recent (tenant_id=? AND sort_ts>? AND sort_ts<?)", false,
           "time range");
    f = base();
    f.extension = "1001";
    expect(db, &f, plain, "calls_extension (tenant_id=? AND extension=?)", false, "extension");
    f.cursor = "1715681700000.c_00000000000000000001";
    expect(db, &f, plain, "calls_extension (tenant_id=? AND extension=? AND (sort_ts,id)<(?,?))",
           false, "extension after a cursor");
    f = base();
    f.provider = "twilio";
    expect(db, &f, plain, "calls_provider (tenant_id=? AND provider=?)", false, "provider");
    f = base();
    f.delivery = "failed";
    expect(db, &f, plain, "calls_delivery (tenant_id=? AND delivery_state=?)", false, "delivery");
    f = base();
    f.disposition = 2;
    expect(db, &f, plain, "calls_disposition (tenant_id=? AND disposition=?)", false,
           "disposition");
    f = base();
    f.direction = 1;
    expect(db, &f, plain, "calls_direction (tenant_id=? AND direction=?)", false, "direction");
    f.disposition = 2;
    expect(db, &f, plain, "(tenant_id=? AND di", false, "direction + disposition");

    /* numbers: an index per number column, one walk each in the list's order, merged; only
     * the merged page (limit+1 rows) is sorted, for the outer query */
    f = base();
    f.number = "050-123-4567";
    f.number_e164 = "+972501234567";
    int way = ch_sqlite_list_way(&f, true);
    static const char *const walks[] = {"INDEX calls_from_raw (tenant_id=? AND from_raw=?)\n",
                                        "INDEX calls_to_raw (tenant_id=? AND to_raw=?)\n",
                                        "INDEX calls_from_e164 (tenant_id=? AND from_e164=?)\n",
                                        "INDEX calls_to_e164 (tenant_id=? AND to_e164=?)\n"};
    for (size_t i = 0; i < 4; i++)
        expect(db, &f, way, walks[i], true, "number");
    char *plan = plan_of(db, &f, way);
    if (!strstr(plan, "MERGE (UNION)")) fail_msg("number: the walks are not merged:\n%s", plan);
    const char *sort = strstr(plan, "USE TEMP B-TREE FOR ORDER BY");
    if (sort && strstr(sort + 1, "USE TEMP B-TREE FOR ORDER BY"))
        fail_msg("number: a walk is sorted:\n%s", plan);
    free(plan);
    f.cursor = "1715681700000.c_00000000000000000001";
    f.extension = "1001";
    f.text = "invoice";
    expect(db, &f, way, "calls_to_e164 (tenant_id=? AND to_e164=? AND (sort_ts,id)<(?,?))", true,
           "number + cursor + extension + text");

    /* text: the bounded window on calls_recent, then the FTS5 index */
    f = base();
    f.text = "invoice";
    expect(db, &f, ch_sqlite_list_way(&f, true),
           "calls_recent (tenant_id=? AND (sort_ts,id)>(?,?))", false, "text, the window");
    /* the index's matches newest rowid first, unsorted: the page stops the walk (fts_page) */
    expect(db, &f, ch_sqlite_list_way(&f, false), "VIRTUAL TABLE INDEX", false, "text, the index");
}

static int64_t one(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static char *text_of(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    char *v = ch_strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return v;
}

static void exec_ok(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) fail_msg("%s: %s", sql, err);
}

#define CALL_INSERT                                                                                \
    "INSERT INTO calls(tenant_id, id, provider, external_id, from_raw, from_e164, to_raw,"         \
    " caller_name, transcript, sort_ts, created_at, updated_at) VALUES"

static void assert_state(sqlite3 *db, const char *id, const char *want, int total, int ok,
                         int failed, int pending)
{
    char *q = ch_asprintf("SELECT delivery_state||' '||delivery_total||' '||delivery_succeeded||"
                          "' '||delivery_failed||' '||delivery_pending FROM calls WHERE id='%s'",
                          id);
    char *got = text_of(db, q);
    char *exp = ch_asprintf("%s %d %d %d %d", want, total, ok, failed, pending);
    assert_string_equal(got, exp);
    free(q);
    free(got);
    free(exp);
}

/* The delivery summary follows every change of a delivery's state, whoever makes it. */
static void delivery_summary(void **state)
{
    fixture *fx = *state;
    sqlite3 *db = fx->db;
    exec_ok(db, CALL_INSERT "(1,'c_1','generic','x1','0501','+9720501','1001','Dana','',1,1,1)");
    assert_state(db, "c_1", "none", 0, 0, 0, 0);
    exec_ok(db, "INSERT INTO deliveries(id, tenant_id, endpoint_id, message_id, call_id,"
                " created_at, updated_at) VALUES(1,1,1,'m1','c_1',1,1),(2,1,2,'m1','c_1',1,1),"
                " (3,1,1,'t1',NULL,1,1)");
    assert_state(db, "c_1", "retrying", 2, 0, 0, 2);
    exec_ok(db, "UPDATE deliveries SET state='succeeded', attempts=1 WHERE id=1");
    assert_state(db, "c_1", "retrying", 2, 1, 0, 1);
    exec_ok(db, "UPDATE deliveries SET attempts=attempts+1 WHERE id=2"); /* no state change */
    assert_state(db, "c_1", "retrying", 2, 1, 0, 1);
    exec_ok(db, "UPDATE deliveries SET state='failed' WHERE id=2");
    assert_state(db, "c_1", "failed", 2, 1, 1, 0);
    exec_ok(db, "UPDATE deliveries SET state='pending' WHERE id=2"); /* a replay */
    assert_state(db, "c_1", "retrying", 2, 1, 0, 1);
    exec_ok(db, "UPDATE deliveries SET state='succeeded' WHERE id=2");
    assert_state(db, "c_1", "delivered", 2, 2, 0, 0);
    /* an endpoint disabled fails what waits for it (schema.c's trigger) */
    exec_ok(db, "INSERT INTO endpoints(tenant_id, id, url, secret, created_at, updated_at)"
                " VALUES(1,3,'https://x.example/h','s',1,1)");
    exec_ok(db, "INSERT INTO deliveries(id, tenant_id, endpoint_id, message_id, call_id,"
                " created_at, updated_at) VALUES(4,1,3,'m2','c_1',1,1)");
    assert_state(db, "c_1", "retrying", 3, 2, 0, 1);
    exec_ok(db, "UPDATE endpoints SET enabled=0 WHERE id=3");
    assert_state(db, "c_1", "failed", 3, 2, 1, 0);
    exec_ok(db, "DELETE FROM deliveries WHERE id=4");
    assert_state(db, "c_1", "delivered", 2, 2, 0, 0);
}

static int64_t fts_count(sqlite3 *db, const char *phrase)
{
    char *q = ch_asprintf("SELECT count(*) FROM calls_fts WHERE calls_fts MATCH '\"%s\"'", phrase);
    int64_t n = one(db, q);
    free(q);
    return n;
}

/* The writer's commit: the text index catches up with calls_fts_dirty. */
static void flush(sqlite3 *db)
{
    exec_ok(db, "BEGIN");
    assert_int_equal(ch_sqlite_fts_flush(db), SQLITE_OK);
    exec_ok(db, "COMMIT");
    assert_int_equal(one(db, "SELECT count(*) FROM calls_fts_dirty"), 0);
}

/* calls_fts follows a call's text at the next flush, calls_fts_dirty naming the call until
 * then (with the text the index still has). */
static void derived_rows(void **state)
{
    fixture *fx = *state;
    sqlite3 *db = fx->db;
    exec_ok(db, CALL_INSERT "(1,'c_2','generic','x2','0501','+9720501','0501','Dana','Hello"
                            " INVOICE',5,1,1)");
    assert_int_equal(fts_count(db, "invoice"), 0);
    assert_int_equal(one(db, "SELECT count(*) FROM calls_fts_dirty d JOIN calls c ON"
                             " c.rowid=d.rowid WHERE c.id='c_2' AND d.indexed IS NULL"),
                     1);
    flush(db);
    assert_int_equal(fts_count(db, "invoice"), 1);
    exec_ok(db, "UPDATE calls SET from_raw='0502', sort_ts=9, transcript='other words' WHERE"
                " id='c_2'");
    /* the index still has the old text, and the dirty row says so */
    assert_int_equal(fts_count(db, "invoice"), 1);
    assert_int_equal(one(db, "SELECT instr(indexed, 'hello invoice') > 0 FROM calls_fts_dirty"), 1);
    exec_ok(db, "UPDATE calls SET transcript='other words again' WHERE id='c_2'");
    assert_int_equal(one(db, "SELECT instr(indexed, 'hello invoice') > 0 FROM calls_fts_dirty"), 1);
    flush(db);
    assert_int_equal(fts_count(db, "invoice"), 0);
    assert_int_equal(fts_count(db, "her words ag"), 1);
    /* the enrichment's transcript is searched too */
    exec_ok(db, "UPDATE calls SET enriched='{\"transcript\":\"שלום עולם\",\"summary\":null}'"
                " WHERE id='c_2'");
    flush(db);
    assert_int_equal(fts_count(db, "לום"), 1);
    /* an update that leaves the text alone leaves the index alone */
    exec_ok(db, "UPDATE calls SET status='ended' WHERE id='c_2'");
    assert_int_equal(one(db, "SELECT count(*) FROM calls_fts_dirty"), 0);
    exec_ok(db, "UPDATE calls SET delivery_total=delivery_total+1 WHERE id='c_2'");
    assert_int_equal(one(db, "SELECT count(*) FROM calls_fts_dirty"), 0);
    assert_int_equal(fts_count(db, "עולם"), 1);
    /* call_lead follows the largest lead of a tenant's calls' sort_ts over their created_at,
     * never down, each tenant its own */
    int64_t lead = one(db, "SELECT lead FROM call_lead WHERE tenant_id=1");
    exec_ok(db, CALL_INSERT "(1,'c_9','generic','x9',NULL,NULL,NULL,NULL,NULL,5000,1000,1000)");
    assert_int_equal(one(db, "SELECT lead FROM call_lead WHERE tenant_id=1"),
                     lead > 4000 ? lead : 4000);
    exec_ok(db, "UPDATE calls SET sort_ts=9000 WHERE id='c_9'");
    assert_int_equal(one(db, "SELECT lead FROM call_lead WHERE tenant_id=1"), 8000);
    exec_ok(db, "UPDATE calls SET sort_ts=2000 WHERE id='c_9'");
    assert_int_equal(one(db, "SELECT lead FROM call_lead WHERE tenant_id=1"), 8000);
    exec_ok(db, CALL_INSERT "(2,'c_9','generic','x9',NULL,NULL,NULL,NULL,NULL,10,1000,1000)");
    assert_int_equal(one(db, "SELECT lead FROM call_lead WHERE tenant_id=2"), -990);
    assert_int_equal(one(db, "SELECT lead FROM call_lead WHERE tenant_id=1"), 8000);
    /* the FTS5 index agrees with itself after the deletes */
    exec_ok(db, "INSERT INTO calls_fts(calls_fts, rank) VALUES('integrity-check', 0)");
}

/* A database at version 7 with calls and deliveries: migrations 10 and 11 fill everything in. */
static void backfill(void **state)
{
    (void)state;
    char dir[64] = "/tmp/ch-unit-query-old-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *path = ch_asprintf("%s/old.db", dir);
    sqlite3 *db;
    assert_int_equal(ch_sqlite_open(path, false, &db), CH_OK);
    assert_int_equal(ch_sqlite_migrate(db, NULL), CH_OK);
    /* undo migrations 10 and 11 by hand: what a version-7 database holds */
    exec_ok(db, "DROP TRIGGER deliveries_call_insert; DROP TRIGGER deliveries_call_update;"
                " DROP TRIGGER deliveries_call_delete; DROP TRIGGER calls_fts_insert;"
                " DROP TRIGGER calls_fts_update; DROP TABLE calls_fts; DROP TABLE calls_fts_dirty;"
                " DROP INDEX calls_from_raw; DROP INDEX calls_to_raw; DROP INDEX calls_from_e164;"
                " DROP INDEX calls_to_e164; DROP TRIGGER calls_lead_insert; DROP TRIGGER"
                " calls_lead_update; DROP TABLE call_lead;"
                " DROP INDEX calls_delivery; DROP INDEX calls_extension; DROP INDEX"
                " calls_provider; DROP INDEX calls_direction; DROP INDEX calls_disposition;"
                " ALTER TABLE calls DROP COLUMN delivery_state; ALTER TABLE calls DROP COLUMN"
                " delivery_total; ALTER TABLE calls DROP COLUMN delivery_succeeded; ALTER TABLE"
                " calls DROP COLUMN delivery_failed; ALTER TABLE calls DROP COLUMN"
                " delivery_pending; PRAGMA user_version=7;");
    exec_ok(db, CALL_INSERT "(1,'c_3','generic','x3','0501','+9720501',NULL,'Zebra Cohen',NULL,"
                            "3,1,1), (1,'c_4','generic','x4',NULL,NULL,NULL,NULL,NULL,4,1,1)");
    exec_ok(db, "INSERT INTO deliveries(tenant_id, endpoint_id, message_id, call_id, state,"
                " created_at, updated_at) VALUES(1,1,'m1','c_3','succeeded',1,1),"
                " (1,2,'m1','c_3','failed',1,1)");
    int v = 0;
    assert_int_equal(ch_sqlite_migrate(db, &v), CH_OK);
    assert_int_equal(v, 12);
    assert_state(db, "c_3", "failed", 2, 1, 1, 0);
    assert_state(db, "c_4", "none", 0, 0, 0, 0);
    assert_int_equal(one(db,
                         "SELECT count(*) FROM sqlite_master WHERE type='index' AND name IN"
                         " ('calls_from_raw','calls_to_raw','calls_from_e164','calls_to_e164')"),
                     4);
    assert_int_equal(one(db, "SELECT count(*) FROM sqlite_master WHERE name='call_numbers'"), 0);
    /* the largest lead of sort_ts over created_at among the tenant's calls: c_4's, 4 - 1 */
    assert_int_equal(one(db, "SELECT lead FROM call_lead WHERE tenant_id=1"), 3);
    assert_int_equal(one(db, "SELECT rowid FROM calls WHERE id='c_3'"),
                     one(db, "SELECT rowid FROM calls_fts WHERE calls_fts MATCH '\"zebra\"'"));
    sqlite3_close(db);
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        char *p = ch_asprintf("%s%s", path, suffixes[i]);
        unlink(p);
        free(p);
    }
    free(path);
    assert_int_equal(rmdir(dir), 0);
}

/* The text index's page walks the matches newest rowid first and stops on a bound: a match
 * stored long before the others but dated after them (its sort_ts leads its created_at, which
 * call_lead remembers) must still head the list, and paging must give every match once, in
 * order. Hours apart, so that the bound's slack does not cover everything. */
static void text_index_walk_is_exact(void **state)
{
    fixture *fx = *state;
    sqlite3 *db = fx->db;
    const int64_t H = 3600000;
    char *sql;
    /* m1 first (lowest rowid), stored at 0 h and dated 10 h; m2..m6 stored and dated 1..5 h:
     * only call_lead's 10 h keeps the walk going down to m1 */
    sql =
        ch_asprintf(CALL_INSERT "(1,'c_a1','generic','m1',NULL,NULL,NULL,'A walrus',NULL,%lld,0,0)",
                    (long long)(10 * H));
    exec_ok(db, sql);
    free(sql);
    for (int i = 2; i <= 6; i++) {
        sql = ch_asprintf(CALL_INSERT "(1,'c_a%d','generic','m%d',NULL,NULL,NULL,'walrus %d',NULL,"
                                      "%lld,%lld,%lld)",
                          i, i, i, (long long)((i - 1) * H), (long long)((i - 1) * H),
                          (long long)((i - 1) * H));
        exec_ok(db, sql);
        free(sql);
    }
    /* 2,100 newer calls without the word: the window of the newest 2,000 has no match */
    exec_ok(db, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<2100)"
                " INSERT INTO calls(tenant_id, id, provider, external_id, caller_name, sort_ts,"
                " created_at, updated_at) SELECT 1, 'f'||i, 'generic', 'f'||i, 'filler',"
                " 100*3600000+i, 100*3600000+i, 100*3600000+i FROM n");
    flush(db);
    assert_int_equal(one(db, "SELECT lead FROM call_lead WHERE tenant_id=1"), 10 * H);
    ch_store_opts o = {.read_conns = 1};
    ch_backend *b;
    assert_int_equal(ch_sqlite_backend_open(fx->path, &o, &b), CH_OK);
    ch_call_filter flt = base();
    flt.text = "walrus";
    flt.limit = 2;
    const char *want[] = {"c_a1", "c_a6", "c_a5", "c_a4", "c_a3", "c_a2"};
    char cursor[96] = "";
    int seen = 0;
    for (int page = 0; page < 4; page++) {
        flt.cursor = *cursor ? cursor : NULL;
        json_t *out, *c;
        assert_int_equal(ch_sqlite_list_calls(b, 1, &flt, &out), CH_OK);
        size_t i;
        json_array_foreach(json_object_get(out, "data"), i, c)
        {
            assert_true(seen < 6);
            assert_string_equal(json_string_value(json_object_get(c, "id")), want[seen]);
            seen++;
        }
        json_t *next = json_object_get(out, "next_cursor");
        bool more = json_is_string(next);
        if (more) snprintf(cursor, sizeof cursor, "%s", json_string_value(next));
        json_decref(out);
        if (!more) break;
    }
    assert_int_equal(seen, 6);
    ch_sqlite_backend_close(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(plans, setup, teardown),
        cmocka_unit_test_setup_teardown(delivery_summary, setup, teardown),
        cmocka_unit_test_setup_teardown(derived_rows, setup, teardown),
        cmocka_unit_test(backfill),
        cmocka_unit_test_setup_teardown(text_index_walk_is_exact, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
