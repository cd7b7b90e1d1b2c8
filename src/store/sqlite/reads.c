/* Reads for request threads, on the pool of read-only connections (WAL: they never block
 * the writer). Every query is scoped by tenant_id. */
#include "core/calljson.h"
#include "store/sqlite/sqlite.h"
#include "util/buf.h"
#include "util/limits.h"
#include "util/mem.h"
#include "util/result.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int prepare(sqlite3 *db, const char *q, sqlite3_stmt **st)
{
    int rc = sqlite3_prepare_v2(db, q, -1, st, NULL);
    if (rc != SQLITE_OK) {
        ch_sqlite_log_error(db, q, rc);
        return CH_ESTORE;
    }
    return CH_OK;
}

void ch_sqlite_tenant_row(sqlite3_stmt *st, ch_tenant *t)
{
    memset(t, 0, sizeof *t);
    t->id = sqlite3_column_int64(st, 0);
    t->slug = ch_col_strdup(st, 1);
    t->name = ch_col_strdup(st, 2);
    t->timezone = ch_col_strdup(st, 3);
    t->country = ch_col_strdup(st, 4);
    t->monthly_limit = sqlite3_column_int64(st, 5);
    t->hard_limit = sqlite3_column_int(st, 6) != 0;
    t->features = ch_col_strdup(st, 7);
}

int ch_sqlite_tenant_lookup(ch_backend *b, const char *slug, int64_t id, ch_tenant *out)
{
    sqlite3 *db = ch_sqlite_reader(b);
    sqlite3_stmt *st = NULL;
    int rc = prepare(db,
                     slug ? "SELECT " CH_SQLITE_TENANT_COLS " FROM tenants WHERE slug=?1"
                          : "SELECT " CH_SQLITE_TENANT_COLS " FROM tenants WHERE id=?1",
                     &st);
    if (rc) goto out;
    if (slug)
        sqlite3_bind_text(st, 1, slug, -1, SQLITE_STATIC);
    else
        sqlite3_bind_int64(st, 1, id);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        ch_sqlite_tenant_row(st, out);
        rc = CH_OK;
    } else {
        rc = r == SQLITE_DONE ? CH_ENOTFOUND : CH_ESTORE;
    }
out:
    sqlite3_finalize(st);
    ch_sqlite_reader_done(b, db);
    return rc;
}

int ch_sqlite_credentials(ch_backend *b, int64_t tenant_id, const char *provider,
                          ch_credential **out, size_t *n)
{
    sqlite3 *db = ch_sqlite_reader(b);
    sqlite3_stmt *st = NULL;
    *out = NULL;
    *n = 0;
    size_t cap = 0;
    int rc = prepare(db,
                     "SELECT id, provider, username, password_hash, token_hash, signing_secret,"
                     " COALESCE(allow_ips,''), tenant_id, media FROM credentials"
                     " WHERE (?1 = 0 OR tenant_id=?1)"
                     " AND (?2 IS NULL OR provider=?2) AND COALESCE(enabled,1)=1 ORDER BY id",
                     &st);
    if (rc) goto out;
    sqlite3_bind_int64(st, 1, tenant_id);
    ch_bind_text(st, 2, provider);
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 4;
            *out = ch_realloc(*out, cap * sizeof **out);
        }
        ch_credential *c = &(*out)[(*n)++];
        c->id = sqlite3_column_int64(st, 0);
        c->provider = ch_col_strdup(st, 1);
        c->username = ch_col_strdup(st, 2);
        c->password_hash = ch_col_strdup(st, 3);
        c->token_hash = ch_col_strdup(st, 4);
        c->signing_secret = ch_col_strdup(st, 5);
        c->allow_ips = ch_col_strdup(st, 6);
        c->tenant_id = sqlite3_column_int64(st, 7);
        c->media = ch_col_strdup(st, 8);
    }
    rc = r == SQLITE_DONE ? CH_OK : CH_ESTORE;
out:
    sqlite3_finalize(st);
    ch_sqlite_reader_done(b, db);
    if (rc) {
        ch_credentials_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

int ch_sqlite_apikey(ch_backend *b, const char *key_id, int64_t *tenant_id, char **secret_hash)
{
    sqlite3 *db = ch_sqlite_reader(b);
    sqlite3_stmt *st = NULL;
    int rc = prepare(db,
                     "SELECT tenant_id, secret_hash FROM api_keys WHERE id=?1"
                     " AND COALESCE(revoked,0)=0",
                     &st);
    if (rc) goto out;
    sqlite3_bind_text(st, 1, key_id, -1, SQLITE_STATIC);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        *tenant_id = sqlite3_column_int64(st, 0);
        *secret_hash = ch_col_strdup(st, 1);
        rc = CH_OK;
    } else {
        rc = r == SQLITE_DONE ? CH_ENOTFOUND : CH_ESTORE;
    }
out:
    sqlite3_finalize(st);
    ch_sqlite_reader_done(b, db);
    return rc;
}

/* ---- calls ---------------------------------------------------------------------------- */

#define CALL_COLS                                                                                  \
    "c.id, (SELECT slug FROM tenants t WHERE t.id=c.tenant_id), c.provider, c.external_id,"        \
    " c.direction, c.status, c.disposition, c.from_e164, c.to_e164, c.from_raw, c.to_raw,"         \
    " c.caller_name, c.extension, c.started_at, c.answered_at, c.ended_at, c.duration_sec,"        \
    " c.billsec, c.recording_url, c.transcript, c.summary, c.cost_micros, c.cost_currency,"        \
    " c.metadata, c.over_limit, c.event_count, c.created_at, c.updated_at, c.sort_ts, c.version,"  \
    " e.id, e.extension, e.name, e.email, l.id, l.phone, l.name, c.enriched, c.delivery_state,"    \
    " c.delivery_total, c.delivery_succeeded, c.delivery_failed, c.delivery_pending"
/* the directory's employee of the call's extension and the lead of its external party (both
 * unique per tenant: at most one row each) */
#define CALL_JOINS                                                                                 \
    " LEFT JOIN employees e ON e.tenant_id=c.tenant_id AND e.extension=c.extension"                \
    " LEFT JOIN leads l ON l.tenant_id=c.tenant_id AND l.phone=CASE c.direction"                   \
    " WHEN 'outbound' THEN c.to_e164 WHEN 'internal' THEN NULL ELSE c.from_e164 END"
#define CALL_FROM " FROM calls c" CALL_JOINS
enum {
    COL_SORT_TS = 28,
    COL_VERSION = 29,
    COL_EMPLOYEE = 30,
    COL_LEAD = 34,
    COL_ENRICHED = 37,
    COL_DELIVERY = 38
};

static json_t *col_str(sqlite3_stmt *st, int i)
{
    if (sqlite3_column_type(st, i) == SQLITE_NULL) return json_null();
    return json_stringn((const char *)sqlite3_column_text(st, i),
                        (size_t)sqlite3_column_bytes(st, i));
}

static json_t *col_num(sqlite3_stmt *st, int i)
{
    if (sqlite3_column_type(st, i) == SQLITE_NULL) return json_null();
    return json_integer(sqlite3_column_int64(st, i));
}

static json_t *col_time(sqlite3_stmt *st, int i)
{
    if (sqlite3_column_type(st, i) == SQLITE_NULL) return json_null();
    char buf[40];
    ch_time_format(sqlite3_column_int64(st, i), buf, sizeof buf);
    return json_string(buf);
}

static json_t *legs_of(sqlite3 *db, int64_t tenant_id, const char *call_id)
{
    json_t *legs = json_array();
    sqlite3_stmt *st;
    if (prepare(db, "SELECT state FROM legs WHERE tenant_id=?1 AND call_id=?2 ORDER BY leg_id",
                &st))
        return legs;
    sqlite3_bind_int64(st, 1, tenant_id);
    sqlite3_bind_text(st, 2, call_id, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW) {
        json_t *l = json_loadb((const char *)sqlite3_column_text(st, 0),
                               (size_t)sqlite3_column_bytes(st, 0), 0, NULL);
        if (l) json_array_append_new(legs, l);
    }
    sqlite3_finalize(st);
    return legs;
}

static char *col_text(sqlite3_stmt *st, int i)
{
    return ch_col_strdup(st, i);
}

/* A row of CALL_COLS as the view every backend fills; the JSON is core's. */
static json_t *call_from_row(sqlite3 *db, sqlite3_stmt *st, int64_t tenant_id)
{
    ch_call_view v;
    ch_call_view_init(&v);
    v.id = col_text(st, 0);
    v.tenant = col_text(st, 1);
    v.provider = col_text(st, 2);
    v.external_id = col_text(st, 3);
    ch_callstate *c = &v.state;
    const char *t;
    int k;
    if ((t = (const char *)sqlite3_column_text(st, 4)) && (k = ch_direction_parse(t)) >= 0)
        c->direction = (ch_direction)k;
    if ((t = (const char *)sqlite3_column_text(st, 5)) && (k = ch_status_parse(t)) >= 0)
        c->status = (ch_status)k;
    if ((t = (const char *)sqlite3_column_text(st, 6)) && (k = ch_disposition_parse(t)) >= 0)
        c->disposition = (ch_disposition)k;
    c->from = col_text(st, 7);
    c->to = col_text(st, 8);
    c->from_raw = col_text(st, 9);
    c->to_raw = col_text(st, 10);
    c->caller_name = col_text(st, 11);
    c->extension = col_text(st, 12);
    c->started_at = ch_col_i64(st, 13);
    c->answered_at = ch_col_i64(st, 14);
    c->ended_at = ch_col_i64(st, 15);
    c->duration_sec = ch_col_i64(st, 16);
    c->billsec = ch_col_i64(st, 17);
    c->recording_url = col_text(st, 18);
    c->transcript = col_text(st, 19);
    c->summary = col_text(st, 20);
    c->cost_micros = ch_col_i64(st, 21);
    c->cost_currency = col_text(st, 22);
    if (sqlite3_column_type(st, 23) != SQLITE_NULL)
        c->metadata = json_loadb((const char *)sqlite3_column_text(st, 23),
                                 (size_t)sqlite3_column_bytes(st, 23), 0, NULL);
    v.over_limit = sqlite3_column_int(st, 24) != 0;
    v.event_count = sqlite3_column_int64(st, 25);
    v.created_at = sqlite3_column_int64(st, 26);
    v.updated_at = sqlite3_column_int64(st, 27);
    v.version = sqlite3_column_int64(st, COL_VERSION);
    v.employee_id = sqlite3_column_int64(st, COL_EMPLOYEE); /* 0 when NULL: none */
    v.employee_extension = col_text(st, COL_EMPLOYEE + 1);
    v.employee_name = col_text(st, COL_EMPLOYEE + 2);
    v.employee_email = col_text(st, COL_EMPLOYEE + 3);
    v.lead_id = sqlite3_column_int64(st, COL_LEAD);
    v.lead_phone = col_text(st, COL_LEAD + 1);
    v.lead_name = col_text(st, COL_LEAD + 2);
    v.enriched = col_text(st, COL_ENRICHED);
    v.delivery_state = col_text(st, COL_DELIVERY);
    v.delivery_total = sqlite3_column_int64(st, COL_DELIVERY + 1);
    v.delivery_succeeded = sqlite3_column_int64(st, COL_DELIVERY + 2);
    v.delivery_failed = sqlite3_column_int64(st, COL_DELIVERY + 3);
    v.delivery_pending = sqlite3_column_int64(st, COL_DELIVERY + 4);
    v.legs = legs_of(db, tenant_id, v.id);
    json_t *o = ch_call_view_json(&v);
    ch_call_view_clear(&v);
    return o;
}

json_t *ch_sqlite_call_json(sqlite3 *db, int64_t tenant_id, const char *call_id)
{
    sqlite3_stmt *st;
    json_t *call = NULL;
    if (prepare(db, "SELECT " CALL_COLS CALL_FROM " WHERE c.tenant_id=?1 AND c.id=?2", &st))
        return NULL;
    sqlite3_bind_int64(st, 1, tenant_id);
    sqlite3_bind_text(st, 2, call_id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) call = call_from_row(db, st, tenant_id);
    sqlite3_finalize(st);
    return call;
}

int ch_sqlite_call_get(ch_backend *b, int64_t tenant_id, const char *call_id, json_t **out)
{
    sqlite3 *db = ch_sqlite_reader(b);
    sqlite3_stmt *st = NULL;
    int rc = prepare(db, "SELECT " CALL_COLS CALL_FROM " WHERE c.tenant_id=?1 AND c.id=?2", &st);
    if (rc) goto out;
    sqlite3_bind_int64(st, 1, tenant_id);
    sqlite3_bind_text(st, 2, call_id, -1, SQLITE_STATIC);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW)
        *out = call_from_row(db, st, tenant_id);
    else
        rc = r == SQLITE_DONE ? CH_ENOTFOUND : CH_ESTORE;
out:
    sqlite3_finalize(st);
    ch_sqlite_reader_done(b, db);
    return rc;
}

/* Appends a fixed clause: the clauses are literals that add up to under 3 KiB against a
 * 8 KiB ceiling, so a failure is a bug in this file, not input. */
static void sql_add(ch_buf *q, const char *clause)
{
    if (ch_buf_puts(q, clause) != CH_OK) abort();
}

/* How the list finds a page (docs/internals/call-search.md). Every way walks an index in the
 * list's order (sort_ts, id descending) and stops after limit+1 rows, except FTS, which sorts
 * the calls the text index names. */
typedef enum {
    DRIVE_PLAIN,  /* calls and its indexes; the planner picks one (test_query.c pins which) */
    DRIVE_NUMBER, /* one walk per number column's index, merged (UNION) */
    DRIVE_WINDOW, /* text: the newest calls after the cursor, tested with instr, down to the
                   * TEXT_WINDOW-th (window_bound) */
    DRIVE_FTS,    /* text: the calls calls_fts names, newest rowid first (fts_page) */
} drive;

/* A common word is found among the newest calls long before the text index's list of its calls
 * could be sorted; a rare one is not, and the text index answers. */
#define TEXT_WINDOW 2000

/* where the window ends: its oldest call */
typedef struct {
    int64_t ts;
    char id[64];
} window_end;

/* The WHERE clauses of a filter, each starting with " AND ": the list's WHERE and the export's
 * match expression. Binds are numbered by role (bind_filter) so the order of clauses does not
 * matter. The number is left out when the number's indexes drive (each branch has its own). */
static void filter_clauses(ch_buf *q, const ch_call_filter *f, drive d)
{
    if (f->since != CH_TIME_UNSET) sql_add(q, " AND c.sort_ts >= ?2");
    if (f->until != CH_TIME_UNSET) sql_add(q, " AND c.sort_ts < ?3");
    if (f->direction >= 0) sql_add(q, " AND c.direction = ?4");
    if (f->status >= 0) sql_add(q, " AND c.status = ?5");
    if (f->disposition >= 0) sql_add(q, " AND c.disposition = ?6");
    if (f->number && d != DRIVE_NUMBER)
        sql_add(q, " AND (c.from_raw = ?7 OR c.to_raw = ?7 OR c.from_e164 = ?8"
                   " OR c.to_e164 = ?8)");
    if (f->extension) sql_add(q, " AND c.extension = ?9");
    if (f->provider) sql_add(q, " AND c.provider = ?16");
    if (f->delivery) sql_add(q, " AND c.delivery_state = ?17");
    /* also behind the text index: what it names is checked against the call's text as it is
     * (a rowid renumbered by a VACUUM run by hand must not show another call) */
    if (f->text) sql_add(q, " AND instr(" CH_SQLITE_CALL_TEXT("c") ", ?10) > 0");
}

/* The text as CH_SQLITE_CALL_TEXT is lowered (ASCII only, as SQLite's lower()). */
static char *text_lower(const char *t)
{
    char *s = ch_strdup(t);
    for (char *p = s; *p; p++)
        if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
    return s;
}

/* The text as an FTS5 phrase: in double quotes, a double quote doubled; the trigram tokenizer
 * makes it "these characters in this order". */
static char *fts_phrase(const char *t)
{
    char *low = text_lower(t);
    ch_buf b;
    ch_buf_init(&b, strlen(low) * 2 + 3);
    sql_add(&b, "\"");
    for (const char *p = low; *p; p++)
        sql_add(&b, *p == '"' ? "\"\"" : (char[]){*p, 0});
    sql_add(&b, "\"");
    free(low);
    char *out = ch_strdup(b.data);
    ch_buf_free(&b);
    return out;
}

static void bind_filter(sqlite3_stmt *st, int64_t tenant_id, const ch_call_filter *f)
{
    sqlite3_bind_int64(st, 1, tenant_id);
    if (f->since != CH_TIME_UNSET) sqlite3_bind_int64(st, 2, f->since);
    if (f->until != CH_TIME_UNSET) sqlite3_bind_int64(st, 3, f->until);
    if (f->direction >= 0)
        sqlite3_bind_text(st, 4, ch_direction_str((ch_direction)f->direction), -1, SQLITE_STATIC);
    if (f->status >= 0)
        sqlite3_bind_text(st, 5, ch_status_str((ch_status)f->status), -1, SQLITE_STATIC);
    if (f->disposition >= 0)
        sqlite3_bind_text(st, 6, ch_disposition_str((ch_disposition)f->disposition), -1,
                          SQLITE_STATIC);
    if (f->number) {
        sqlite3_bind_text(st, 7, f->number, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 8, f->number_e164 ? f->number_e164 : f->number, -1, SQLITE_TRANSIENT);
    }
    if (f->extension) sqlite3_bind_text(st, 9, f->extension, -1, SQLITE_TRANSIENT);
    if (f->provider) sqlite3_bind_text(st, 16, f->provider, -1, SQLITE_TRANSIENT);
    if (f->delivery) sqlite3_bind_text(st, 17, f->delivery, -1, SQLITE_TRANSIENT);
    if (f->text) {
        /* copied (TRANSIENT): a statement without one of them refuses its bind */
        char *low = text_lower(f->text), *phrase = fts_phrase(f->text);
        sqlite3_bind_text(st, 10, low, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 14, phrase, -1, SQLITE_TRANSIENT);
        free(low);
        free(phrase);
    }
}

/* One branch of the number walk: the calls whose number column has this form of the number
 * (?7 as sent, ?8 E.164), newest first, from that column's index (tenant_id, column, sort_ts,
 * id); where, the index's own condition (a partial index). */
static void number_branch(ch_buf *q, const ch_call_filter *f, const char *column, const char *param,
                          const char *where, bool cursor)
{
    sql_add(q, "SELECT c.sort_ts AS ts, c.id AS cid FROM calls c INDEXED BY calls_");
    sql_add(q, column);
    sql_add(q, " WHERE c.tenant_id=?1 AND c.");
    sql_add(q, column);
    sql_add(q, "=");
    sql_add(q, param);
    if (where) {
        sql_add(q, " AND ");
        sql_add(q, where);
    }
    filter_clauses(q, f, DRIVE_NUMBER);
    if (cursor) sql_add(q, " AND (c.sort_ts, c.id) < (?11, ?12)");
}

/* The list's query for one way of finding the page: one page after the cursor, newest first
 * (limit+1 rows: the last one says there is more). */
static int build_query(sqlite3 *db, int64_t tenant_id, const ch_call_filter *f, drive d,
                       const window_end *bound, sqlite3_stmt **out)
{
    int64_t cts = 0;
    char cid[64] = "";
    if (f->cursor && ch_store_cursor_parse(f->cursor, &cts, cid, sizeof cid)) return CH_EINVAL;
    bool cursor = cid[0] != 0;
    ch_buf q;
    ch_buf_init(&q, 8192);
    switch (d) {
    case DRIVE_NUMBER:
        /* The number matches a call whose raw number is ?7 or whose E.164 number is ?8. The
         * E.164 indexes hold only calls whose E.164 number differs from the raw one; for the
         * others the E.164 number is the raw one, found by walking the raw index for ?8 too.
         * Each branch walks its index backwards; the compound's ORDER BY merges them and
         * UNION drops a call found twice. */
        sql_add(&q, "SELECT " CALL_COLS " FROM (");
        static const char *const sides[] = {"from", "to"};
        for (int i = 0; i < 2; i++) {
            char raw[16], e164[16];
            snprintf(raw, sizeof raw, "%s_raw", sides[i]);
            snprintf(e164, sizeof e164, "%s_e164", sides[i]);
            if (i) sql_add(&q, " UNION ");
            number_branch(&q, f, raw, "?7", NULL, cursor);
            if (f->number_e164 && strcmp(f->number_e164, f->number) != 0) {
                sql_add(&q, " UNION ");
                number_branch(&q, f, raw, "?8", NULL, cursor);
            }
            sql_add(&q, " UNION ");
            number_branch(&q, f, e164, "?8",
                          i ? CH_SQLITE_E164_DIFFERS("c.to") : CH_SQLITE_E164_DIFFERS("c.from"),
                          cursor);
        }
        /* CROSS JOIN: the page's calls by primary key, never a walk of the tenant's calls
         * testing each against the page */
        sql_add(&q, " ORDER BY 1 DESC, 2 DESC LIMIT ?13) p CROSS JOIN calls c"
                    " ON c.tenant_id=?1 AND c.id=p.cid" CALL_JOINS);
        break;
    case DRIVE_WINDOW:
        /* the plain walk, newest first, stopping at the page or at the window's oldest call
         * (window_bound), whichever comes first */
        sql_add(&q, "SELECT " CALL_COLS CALL_FROM " WHERE c.tenant_id=?1");
        filter_clauses(&q, f, d);
        if (cursor) sql_add(&q, " AND (c.sort_ts, c.id) < (?11, ?12)");
        if (bound) sql_add(&q, " AND (c.sort_ts, c.id) >= (?18, ?19)");
        break;
    case DRIVE_FTS:
        /* the text index's matches, newest rowid first (FTS5 walks its doclists backwards, no
         * sort); fts_page looks each up and stops on its bound */
        sql_add(&q, "SELECT rowid FROM calls_fts WHERE calls_fts MATCH ?14 ORDER BY rowid DESC");
        break;
    case DRIVE_PLAIN:
        sql_add(&q, "SELECT " CALL_COLS CALL_FROM " WHERE c.tenant_id=?1");
        filter_clauses(&q, f, d);
        if (cursor) sql_add(&q, " AND (c.sort_ts, c.id) < (?11, ?12)");
        break;
    }
    if (d != DRIVE_FTS) sql_add(&q, " ORDER BY c.sort_ts DESC, c.id DESC");
    if (d != DRIVE_NUMBER && d != DRIVE_FTS) sql_add(&q, " LIMIT ?13");
    sqlite3_stmt *st;
    int rc = prepare(db, q.data, &st);
    ch_buf_free(&q);
    if (rc) return rc;
    bind_filter(st, tenant_id, f);
    if (cursor) {
        sqlite3_bind_int64(st, 11, cts);
        sqlite3_bind_text(st, 12, cid, -1, SQLITE_TRANSIENT);
    }
    sqlite3_bind_int(st, 13, f->limit + 1);
    if (bound) {
        sqlite3_bind_int64(st, 18, bound->ts);
        sqlite3_bind_text(st, 19, bound->id, -1, SQLITE_TRANSIENT);
    }
    *out = st;
    return CH_OK;
}

/* The oldest of the newest TEXT_WINDOW calls after the cursor (within since/until): CH_OK with
 * *found false when there are fewer (the window is every call left), CH_EINVAL for a bad
 * cursor. A walk of the covering index calls_recent, no call read. */
static int window_bound(sqlite3 *db, int64_t tenant_id, const ch_call_filter *f, window_end *out,
                        bool *found)
{
    int64_t cts = 0;
    char cid[64] = "";
    *found = false;
    if (f->cursor && ch_store_cursor_parse(f->cursor, &cts, cid, sizeof cid)) return CH_EINVAL;
    ch_buf q;
    ch_buf_init(&q, 1024);
    sql_add(&q, "SELECT c.sort_ts, c.id FROM calls c WHERE c.tenant_id=?1");
    if (f->since != CH_TIME_UNSET) sql_add(&q, " AND c.sort_ts >= ?2");
    if (f->until != CH_TIME_UNSET) sql_add(&q, " AND c.sort_ts < ?3");
    if (cid[0]) sql_add(&q, " AND (c.sort_ts, c.id) < (?11, ?12)");
    sql_add(&q, " ORDER BY c.sort_ts DESC, c.id DESC LIMIT 1 OFFSET ?15");
    sqlite3_stmt *st;
    int rc = prepare(db, q.data, &st);
    ch_buf_free(&q);
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, tenant_id);
    if (f->since != CH_TIME_UNSET) sqlite3_bind_int64(st, 2, f->since);
    if (f->until != CH_TIME_UNSET) sqlite3_bind_int64(st, 3, f->until);
    if (cid[0]) {
        sqlite3_bind_int64(st, 11, cts);
        sqlite3_bind_text(st, 12, cid, -1, SQLITE_TRANSIENT);
    }
    sqlite3_bind_int(st, 15, TEXT_WINDOW - 1);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        out->ts = sqlite3_column_int64(st, 0);
        snprintf(out->id, sizeof out->id, "%s", (const char *)sqlite3_column_text(st, 1));
        *found = true;
    } else if (r != SQLITE_DONE) {
        rc = CH_ESTORE;
    }
    sqlite3_finalize(st);
    return rc;
}

int ch_sqlite_list_query(sqlite3 *db, int64_t tenant_id, const ch_call_filter *f, int way,
                         sqlite3_stmt **out)
{
    window_end w = {.ts = 0, .id = "c_0"};
    return build_query(db, tenant_id, f, (drive)way, way == DRIVE_WINDOW ? &w : NULL, out);
}

int ch_sqlite_list_way(const ch_call_filter *f, bool window)
{
    if (f->number) return DRIVE_NUMBER;
    if (f->text) return window ? DRIVE_WINDOW : DRIVE_FTS;
    return DRIVE_PLAIN;
}

/* One page by one way: the calls in *data (with their cursors in "_cursor"), *rows of them,
 * *next the cursor after the last when one more row exists. */
static int list_page(sqlite3 *db, int64_t tenant_id, const ch_call_filter *f, drive d,
                     const window_end *bound, json_t *data, int *rows, char *next, size_t nextsz)
{
    sqlite3_stmt *st = NULL;
    int rc = build_query(db, tenant_id, f, d, bound, &st);
    if (rc) return rc;
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (*rows == f->limit) {
            /* one more row exists: the cursor points after the last row returned */
            json_t *last = json_array_get(data, json_array_size(data) - 1);
            snprintf(next, nextsz, "%s", json_string_value(json_object_get(last, "_cursor")));
            break;
        }
        json_t *call = call_from_row(db, st, tenant_id);
        char cur[96];
        snprintf(cur, sizeof cur, "%lld.%s", (long long)sqlite3_column_int64(st, COL_SORT_TS),
                 (const char *)sqlite3_column_text(st, 0));
        json_object_set_new(call, "_cursor", json_string(cur));
        json_array_append_new(data, call);
        (*rows)++;
    }
    if (r != SQLITE_ROW && r != SQLITE_DONE) rc = CH_ESTORE;
    sqlite3_finalize(st);
    return rc;
}

/* ---- the text index's page, newest rowid first ----------------------------------------- */

/* Rowids and created_at grow together only as far as the clocks of the processes writing
 * allow: a clock stepped back, or a writer that waited for the database lock holding an older
 * time, gives a later rowid an earlier created_at. The bound allows that much. */
#define FTS_CREATED_SLACK_MS (60LL * 60 * 1000)

typedef struct {
    int64_t ts;
    int64_t rowid;
    char id[64];
} fts_hit;

/* (a) after (b) in the list's order: older sort_ts, then lower id */
static bool fts_hit_below(const fts_hit *a, const fts_hit *b)
{
    return a->ts < b->ts || (a->ts == b->ts && strcmp(a->id, b->id) < 0);
}

/* Keeps the best `cap` hits, sorted newest first; a rowid seen already is not added twice. */
static void fts_hit_keep(fts_hit *best, int *n, int cap, const fts_hit *h)
{
    for (int i = 0; i < *n; i++)
        if (best[i].rowid == h->rowid) return;
    if (*n == cap && !fts_hit_below(&best[cap - 1], h)) return;
    int at = *n < cap ? (*n)++ : cap - 1;
    while (at > 0 && fts_hit_below(&best[at - 1], h)) {
        best[at] = best[at - 1];
        at--;
    }
    best[at] = *h;
}

/* Tests the call at rowid ?20 against the filter (the text against its text as it is now):
 * its created_at always, and whether it belongs on the page. */
static int fts_probe_sql(const ch_call_filter *f, bool cursor, char **out)
{
    ch_buf q;
    ch_buf_init(&q, 2048);
    sql_add(&q, "SELECT c.created_at, c.sort_ts, c.id, (c.tenant_id=?1");
    filter_clauses(&q, f, DRIVE_FTS);
    if (cursor) sql_add(&q, " AND (c.sort_ts, c.id) < (?11, ?12)");
    sql_add(&q, ") FROM calls c WHERE c.rowid=?20");
    *out = ch_strdup(q.data);
    ch_buf_free(&q);
    return CH_OK;
}

/* The page when the text index answers (docs/internals/call-search.md, "q"): the calls the
 * index has not caught up with (calls_fts_dirty, a batch at most) are tested first, then the
 * index's matches newest rowid first, keeping the best limit+1 in the list's order, until a
 * match's created_at plus the largest lead any of the tenant's calls' sort_ts has had over its
 * created_at (call_lead) is older than the worst kept: no call further down can be on the page.
 * Each match costs a lookup of its call row; the walk reads about a page's worth of them when calls
 * are stored about when they happened. */
static int fts_page(sqlite3 *db, int64_t tenant_id, const ch_call_filter *f, json_t *data,
                    int *rows, char *next, size_t nextsz)
{
    int64_t cts = 0;
    char cid[64] = "";
    if (f->cursor && ch_store_cursor_parse(f->cursor, &cts, cid, sizeof cid)) return CH_EINVAL;
    bool cursor = cid[0] != 0;
    int cap = f->limit + 1, n = 0, rc = CH_OK;
    fts_hit *best = ch_calloc((size_t)cap, sizeof *best);
    sqlite3_stmt *lead = NULL, *dirty = NULL, *matches = NULL, *probe = NULL, *row = NULL;
    char *probe_sql = NULL;
    fts_probe_sql(f, cursor, &probe_sql);
    if ((rc = prepare(db, "SELECT lead FROM call_lead WHERE tenant_id=?1", &lead)) ||
        (rc = prepare(db, "SELECT rowid FROM calls_fts_dirty", &dirty)) ||
        (rc = build_query(db, tenant_id, f, DRIVE_FTS, NULL, &matches)) ||
        (rc = prepare(db, probe_sql, &probe)) ||
        (rc = prepare(db, "SELECT " CALL_COLS CALL_FROM " WHERE c.tenant_id=?1 AND c.id=?2", &row)))
        goto out;
    /* no row: the tenant has no call (its first call's trigger makes it); no bound, the walk
     * reads every match */
    sqlite3_bind_int64(lead, 1, tenant_id);
    int64_t max_lead = sqlite3_step(lead) == SQLITE_ROW ? sqlite3_column_int64(lead, 0) : INT64_MAX;
    bind_filter(probe, tenant_id, f);
    if (cursor) {
        sqlite3_bind_int64(probe, 11, cts);
        sqlite3_bind_text(probe, 12, cid, -1, SQLITE_TRANSIENT);
    }
    for (int pass = 0; pass < 2; pass++) {
        sqlite3_stmt *src = pass ? matches : dirty;
        int r;
        while ((r = sqlite3_step(src)) == SQLITE_ROW) {
            sqlite3_bind_int64(probe, 20, sqlite3_column_int64(src, 0));
            int pr = sqlite3_step(probe);
            if (pr == SQLITE_ROW) {
                int64_t created = sqlite3_column_int64(probe, 0);
                if (sqlite3_column_int(probe, 3)) {
                    fts_hit h = {.ts = sqlite3_column_int64(probe, 1),
                                 .rowid = sqlite3_column_int64(src, 0)};
                    snprintf(h.id, sizeof h.id, "%s", (const char *)sqlite3_column_text(probe, 2));
                    fts_hit_keep(best, &n, cap, &h);
                }
                /* every call further down was created no later than this one (plus the
                 * slack), so its sort_ts is at most created + max_lead */
                bool bounded = max_lead < INT64_MAX / 4 && created < INT64_MAX / 4;
                if (pass && n == cap && bounded &&
                    created + FTS_CREATED_SLACK_MS + max_lead < best[cap - 1].ts) {
                    sqlite3_reset(probe);
                    r = SQLITE_DONE;
                    break;
                }
            } else if (pr != SQLITE_DONE) {
                r = pr;
                sqlite3_reset(probe);
                break;
            }
            sqlite3_reset(probe);
        }
        if (r != SQLITE_DONE) {
            rc = CH_ESTORE;
            goto out;
        }
    }
    /* the page: its calls whole, by primary key */
    sqlite3_bind_int64(row, 1, tenant_id);
    for (int i = 0; i < n && i < f->limit; i++) {
        sqlite3_bind_text(row, 2, best[i].id, -1, SQLITE_STATIC);
        if (sqlite3_step(row) == SQLITE_ROW) {
            json_t *call = call_from_row(db, row, tenant_id);
            json_array_append_new(data, call);
            (*rows)++;
        }
        sqlite3_reset(row);
    }
    if (n == cap)
        snprintf(next, nextsz, "%lld.%s", (long long)best[f->limit - 1].ts, best[f->limit - 1].id);
out:
    sqlite3_finalize(lead);
    sqlite3_finalize(dirty);
    sqlite3_finalize(matches);
    sqlite3_finalize(probe);
    sqlite3_finalize(row);
    free(probe_sql);
    free(best);
    return rc;
}

int ch_sqlite_list_calls(ch_backend *b, int64_t tenant_id, const ch_call_filter *f, json_t **out)
{
    sqlite3 *db = ch_sqlite_reader(b);
    json_t *data = json_array();
    char next[96] = "";
    int rows = 0, rc;
    drive d = (drive)ch_sqlite_list_way(f, true);
    /* the text's reads in one snapshot: the index answers exactly what the window could not */
    bool txn = d == DRIVE_WINDOW && ch_sqlite_exec(db, "BEGIN") == SQLITE_OK;
    window_end w;
    bool bounded = false;
    rc = d == DRIVE_WINDOW ? window_bound(db, tenant_id, f, &w, &bounded) : CH_OK;
    if (!rc)
        rc = list_page(db, tenant_id, f, d, bounded ? &w : NULL, data, &rows, next, sizeof next);
    if (!rc && d == DRIVE_WINDOW && bounded && !next[0]) {
        /* fewer than a page among the newest calls, and older ones exist: the text index
         * finds the rest */
        json_array_clear(data);
        rows = 0;
        rc = fts_page(db, tenant_id, f, data, &rows, next, sizeof next);
    }
    if (txn) sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    ch_sqlite_reader_done(b, db);
    if (rc) {
        json_decref(data);
        return rc;
    }
    size_t i;
    json_t *c;
    json_array_foreach(data, i, c) json_object_del(c, "_cursor");
    *out = json_pack("{s:o, s:o}", "data", data, "next_cursor",
                     next[0] ? json_string(next) : json_null());
    return CH_OK;
}

int ch_sqlite_get_call(ch_backend *b, int64_t tenant_id, const char *call_id, json_t **out)
{
    sqlite3 *db = ch_sqlite_reader(b);
    sqlite3_stmt *st = NULL, *ev = NULL;
    json_t *call = NULL;
    int rc = prepare(db, "SELECT " CALL_COLS CALL_FROM " WHERE c.tenant_id=?1 AND c.id=?2", &st);
    if (rc) goto out;
    sqlite3_bind_int64(st, 1, tenant_id);
    sqlite3_bind_text(st, 2, call_id, -1, SQLITE_STATIC);
    int r = sqlite3_step(st);
    if (r != SQLITE_ROW) {
        rc = r == SQLITE_DONE ? CH_ENOTFOUND : CH_ESTORE;
        goto out;
    }
    call = call_from_row(db, st, tenant_id);
    rc = prepare(db,
                 "SELECT id, kind, idem_key, received_at, seq, ts, leg_id, content_type, raw"
                 " FROM events WHERE tenant_id=?1 AND call_id=?2 ORDER BY received_at, id",
                 &ev);
    if (rc) goto out;
    sqlite3_bind_int64(ev, 1, tenant_id);
    sqlite3_bind_text(ev, 2, call_id, -1, SQLITE_STATIC);
    json_t *events = json_array();
    while ((r = sqlite3_step(ev)) == SQLITE_ROW) {
        json_t *e = json_object();
        json_object_set_new(e, "id", json_integer(sqlite3_column_int64(ev, 0)));
        json_object_set_new(e, "type", col_str(ev, 1));
        json_object_set_new(e, "idempotency_key", col_str(ev, 2));
        char buf[40];
        ch_time_format_ms(sqlite3_column_int64(ev, 3), buf, sizeof buf);
        json_object_set_new(e, "received_at", json_string(buf));
        json_object_set_new(e, "sequence", col_num(ev, 4));
        json_object_set_new(e, "provider_timestamp", col_time(ev, 5));
        json_object_set_new(e, "leg_id", col_str(ev, 6));
        json_object_set_new(e, "content_type", col_str(ev, 7));
        /* raw is kept byte for byte; it is shown as text (invalid UTF-8 is replaced) */
        const char *raw = sqlite3_column_blob(ev, 8);
        size_t rawn = (size_t)sqlite3_column_bytes(ev, 8);
        json_t *rs = json_stringn(raw ? raw : "", rawn);
        if (!rs) {
            char *copy = ch_strndup(raw, rawn);
            for (size_t i = 0; i < rawn; i++)
                if ((unsigned char)copy[i] >= 0x80 || copy[i] == 0) copy[i] = '?';
            rs = json_stringn(copy, rawn);
            free(copy);
        }
        json_object_set_new(e, "raw", rs);
        json_array_append_new(events, e);
    }
    json_object_set_new(call, "events", events);
    rc = r == SQLITE_DONE ? CH_OK : CH_ESTORE;
out:
    sqlite3_finalize(st);
    sqlite3_finalize(ev);
    ch_sqlite_reader_done(b, db);
    if (rc) {
        json_decref(call);
        return rc;
    }
    *out = call;
    return CH_OK;
}

/* ---- export ------------------------------------------------------------------------- */

/* An export is a walk down the tenant's primary key (tenant_id, id) in pages, each read in a
 * short read transaction of its own on a pooled connection that is given back before the page
 * is handed to the client: an export whose client stops reading holds no snapshot, and the WAL
 * can be checkpointed behind it (issue 9). The keyset is the call id, which never changes and
 * sorts by creation time; started_at (the list's order) can change while an export runs, and a
 * keyset on it would skip or repeat such a call. Calls created after the first page was read
 * have greater ids than the keyset, so they are not included. A page's bounds are CH_EXPORT_SCAN,
 * CH_EXPORT_CALLS and CH_EXPORT_BYTES (util/limits.h). */
struct ch_backend_export {
    ch_backend *b;
    int64_t tenant_id;
    ch_call_filter f; /* strings owned */
    char *after;      /* id of the last call looked at; NULL before the first page */
    bool done;        /* the last page reached the end of the tenant's calls */
    json_t *page;     /* calls read, not yet taken */
    size_t next;
};

static char *dup_or_null(const char *s)
{
    return s ? ch_strdup(s) : NULL;
}

int ch_sqlite_export_open(ch_backend *b, int64_t tenant_id, const ch_call_filter *f,
                          ch_backend_export **out)
{
    ch_backend_export *x = ch_calloc(1, sizeof *x);
    x->b = b;
    x->tenant_id = tenant_id;
    x->f = *f;
    x->f.cursor = NULL;
    x->f.number = dup_or_null(f->number);
    x->f.number_e164 = dup_or_null(f->number_e164);
    x->f.extension = dup_or_null(f->extension);
    x->f.provider = dup_or_null(f->provider);
    x->f.delivery = dup_or_null(f->delivery);
    x->f.text = dup_or_null(f->text);
    x->page = json_array();
    *out = x;
    return CH_OK;
}

/* Reads the next page into x->page. The scan looks at CH_EXPORT_SCAN rows at most, so a page's
 * transaction stays short even when few calls match. */
static int export_page(ch_backend_export *x)
{
    json_array_clear(x->page);
    x->next = 0;
    sqlite3 *db = ch_sqlite_reader(x->b);
    sqlite3_stmt *scan = NULL, *get = NULL;
    ch_buf q;
    ch_buf_init(&q, 8192);
    sql_add(&q, "SELECT c.id, (1");
    filter_clauses(&q, &x->f, DRIVE_PLAIN);
    sql_add(&q, ") FROM calls c WHERE c.tenant_id=?1");
    if (x->after) sql_add(&q, " AND c.id < ?12");
    sql_add(&q, " ORDER BY c.id DESC LIMIT ?13");
    bool in_txn = false;
    int rc = prepare(db, q.data, &scan);
    if (!rc)
        rc = prepare(db, "SELECT " CALL_COLS CALL_FROM " WHERE c.tenant_id=?1 AND c.id=?2", &get);
    /* one snapshot for the page: the scan, the calls and their legs agree */
    if (!rc) rc = ch_sqlite_exec(db, "BEGIN") == SQLITE_OK ? CH_OK : CH_ESTORE;
    if (rc) goto out;
    in_txn = true;
    bind_filter(scan, x->tenant_id, &x->f);
    if (x->after) sqlite3_bind_text(scan, 12, x->after, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(scan, 13, CH_EXPORT_SCAN);
    sqlite3_bind_int64(get, 1, x->tenant_id);
    int r, scanned = 0;
    size_t bytes = 0;
    while ((r = sqlite3_step(scan)) == SQLITE_ROW) {
        scanned++;
        free(x->after);
        x->after = ch_col_strdup(scan, 0);
        if (!sqlite3_column_int(scan, 1)) continue;
        sqlite3_bind_text(get, 2, x->after, -1, SQLITE_STATIC);
        int g = sqlite3_step(get);
        if (g == SQLITE_ROW) {
            for (int i = 0; i < sqlite3_column_count(get); i++)
                bytes += (size_t)sqlite3_column_bytes(get, i);
            json_array_append_new(x->page, call_from_row(db, get, x->tenant_id));
        }
        sqlite3_reset(get);
        if (g != SQLITE_ROW && g != SQLITE_DONE) {
            r = g;
            break;
        }
        if (json_array_size(x->page) >= CH_EXPORT_CALLS || bytes >= CH_EXPORT_BYTES) break;
    }
    if (r == SQLITE_DONE)
        x->done = scanned < CH_EXPORT_SCAN;
    else if (r != SQLITE_ROW)
        rc = CH_ESTORE;
out:
    sqlite3_finalize(scan);
    sqlite3_finalize(get);
    if (in_txn) sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    ch_sqlite_reader_done(x->b, db);
    ch_buf_free(&q);
    return rc;
}

int ch_sqlite_export_next(ch_backend_export *x, json_t **call)
{
    *call = NULL;
    while (x->next >= json_array_size(x->page)) {
        if (x->done) return CH_OK;
        int rc = export_page(x);
        if (rc) return rc;
    }
    *call = json_incref(json_array_get(x->page, x->next++));
    return CH_OK;
}

void ch_sqlite_export_close(ch_backend_export *x)
{
    if (!x) return;
    free((char *)x->f.number);
    free((char *)x->f.number_e164);
    free((char *)x->f.extension);
    free((char *)x->f.provider);
    free((char *)x->f.delivery);
    free((char *)x->f.text);
    free(x->after);
    json_decref(x->page);
    free(x);
}

int ch_sqlite_last_received(ch_backend *b, int64_t tenant_id, const char *provider, int64_t *out)
{
    sqlite3 *db = ch_sqlite_reader(b);
    sqlite3_stmt *st = NULL;
    *out = CH_TIME_UNSET;
    /* event ids grow with time: walking the primary key backwards finds the newest first */
    int rc = prepare(db,
                     "SELECT received_at FROM events WHERE tenant_id=?1 AND provider=?2"
                     " ORDER BY id DESC LIMIT 1",
                     &st);
    if (rc) goto out;
    sqlite3_bind_int64(st, 1, tenant_id);
    sqlite3_bind_text(st, 2, provider, -1, SQLITE_STATIC);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) *out = sqlite3_column_int64(st, 0);
    rc = r == SQLITE_ROW || r == SQLITE_DONE ? CH_OK : CH_ESTORE;
out:
    sqlite3_finalize(st);
    ch_sqlite_reader_done(b, db);
    return rc;
}
