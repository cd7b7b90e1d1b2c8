/* Administrative reads on the read pool: tenants with their usage, the directory, endpoints
 * (core/views.h: C values; the JSON is core's). The writes are typed operations run by the
 * writer (ops.c). */
#include "store/sqlite/sqlite.h"
#include "util/mem.h"
#include "util/result.h"
#include "util/timeutil.h"

#include <stdlib.h>
#include <string.h>

/* Grows *v (of *cap) to hold one more of size sz; returns the new slot, zeroed. */
static void *grow(void **v, size_t *n, size_t *cap, size_t sz)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        *v = ch_realloc(*v, *cap * sz);
    }
    void *slot = (char *)*v + (*n)++ * sz;
    memset(slot, 0, sz);
    return slot;
}

int ch_sqlite_tenant_list(ch_backend *b, ch_tenant_usage **out, size_t *n)
{
    sqlite3 *db = ch_sqlite_reader(b);
    sqlite3_stmt *st = NULL, *us = NULL;
    ch_tenant_usage *v = NULL;
    size_t cnt = 0, cap = 0;
    int rc = CH_ESTORE;
    if (sqlite3_prepare_v2(db, "SELECT " CH_SQLITE_TENANT_COLS " FROM tenants ORDER BY slug", -1,
                           &st, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "SELECT COALESCE(calls,0), COALESCE(events,0),"
                           " COALESCE(over_limit_calls,0), COALESCE(transcribed_ms,0) FROM usage"
                           " WHERE tenant_id=?1 AND month=?2",
                           -1, &us, NULL) != SQLITE_OK)
        goto out;
    int r;
    int64_t now = ch_now_ms();
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        ch_tenant_usage *u = grow((void **)&v, &cnt, &cap, sizeof *v);
        ch_sqlite_tenant_row(st, &u->tenant);
        ch_time_month(now, u->tenant.timezone, u->month);
        sqlite3_bind_int64(us, 1, u->tenant.id);
        sqlite3_bind_text(us, 2, u->month, -1, SQLITE_STATIC);
        if (sqlite3_step(us) == SQLITE_ROW) {
            u->calls = sqlite3_column_int64(us, 0);
            u->events = sqlite3_column_int64(us, 1);
            u->over_limit_calls = sqlite3_column_int64(us, 2);
            u->transcribed_ms = sqlite3_column_int64(us, 3);
        }
        sqlite3_reset(us);
    }
    if (r == SQLITE_DONE) rc = CH_OK;
out:
    sqlite3_finalize(st);
    sqlite3_finalize(us);
    ch_sqlite_reader_done(b, db);
    if (rc) {
        ch_tenant_usage_free(v, cnt);
        return rc;
    }
    *out = v;
    *n = cnt;
    return CH_OK;
}

int ch_sqlite_directory_list(ch_backend *b, int64_t tenant_id, bool employees,
                             ch_directory_entry **out, size_t *n)
{
    const char *sql = employees ? "SELECT id, extension, name, email FROM employees"
                                  " WHERE tenant_id=?1 ORDER BY id"
                                : "SELECT id, phone, phone_raw, name, source FROM leads"
                                  " WHERE tenant_id=?1 ORDER BY id";
    sqlite3 *db = ch_sqlite_reader(b);
    sqlite3_stmt *st = NULL;
    ch_directory_entry *v = NULL;
    size_t cnt = 0, cap = 0;
    int rc = CH_ESTORE, r = SQLITE_ERROR;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, tenant_id);
        while ((r = sqlite3_step(st)) == SQLITE_ROW) {
            ch_directory_entry *e = grow((void **)&v, &cnt, &cap, sizeof *v);
            e->id = sqlite3_column_int64(st, 0);
            if (employees) {
                e->extension = ch_col_strdup(st, 1);
                e->name = ch_col_strdup(st, 2);
                e->email = ch_col_strdup(st, 3);
            } else {
                e->phone = ch_col_strdup(st, 1);
                e->phone_raw = ch_col_strdup(st, 2);
                e->name = ch_col_strdup(st, 3);
                e->source = ch_col_strdup(st, 4);
            }
        }
        if (r == SQLITE_DONE) rc = CH_OK;
    }
    sqlite3_finalize(st);
    ch_sqlite_reader_done(b, db);
    if (rc) {
        ch_directory_entries_free(v, cnt);
        return rc;
    }
    *out = v;
    *n = cnt;
    return CH_OK;
}

int ch_sqlite_endpoint_list(ch_backend *b, int64_t tenant_id, int64_t id, ch_endpoint_view **out,
                            size_t *n)
{
    sqlite3 *db = ch_sqlite_reader(b);
    sqlite3_stmt *st = NULL;
    ch_endpoint_view *v = NULL;
    size_t cnt = 0, cap = 0;
    int rc = CH_ESTORE, r = SQLITE_ERROR;
    if (sqlite3_prepare_v2(db,
                           "SELECT id, url, kind, events, enabled, disabled_reason, headers,"
                           " timeout_ms, rate_limit_per_min, CASE WHEN previous_secret_until > ?3"
                           " THEN previous_secret_until END, created_at, updated_at, payload"
                           " FROM endpoints WHERE tenant_id=?1 AND (?2=0 OR id=?2) ORDER BY id",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, tenant_id);
        sqlite3_bind_int64(st, 2, id);
        sqlite3_bind_int64(st, 3, ch_now_ms());
        while ((r = sqlite3_step(st)) == SQLITE_ROW) {
            ch_endpoint_view *e = grow((void **)&v, &cnt, &cap, sizeof *v);
            e->id = sqlite3_column_int64(st, 0);
            e->url = ch_col_strdup(st, 1);
            e->kind = ch_col_strdup(st, 2);
            e->events = ch_col_strdup(st, 3);
            e->enabled = sqlite3_column_int(st, 4) != 0;
            e->disabled_reason = ch_col_strdup(st, 5);
            const char *h = (const char *)sqlite3_column_text(st, 6);
            e->headers = h ? json_loads(h, 0, NULL) : NULL;
            e->timeout_ms = sqlite3_column_int64(st, 7);
            e->rate_limit_per_min = sqlite3_column_int64(st, 8);
            e->secret_rotating_until = ch_col_i64(st, 9);
            e->created_at = sqlite3_column_int64(st, 10);
            e->updated_at = sqlite3_column_int64(st, 11);
            e->payload = ch_col_strdup(st, 12);
        }
        if (r == SQLITE_DONE) rc = CH_OK;
    }
    sqlite3_finalize(st);
    ch_sqlite_reader_done(b, db);
    if (rc) {
        ch_endpoint_views_free(v, cnt);
        return rc;
    }
    *out = v;
    *n = cnt;
    return CH_OK;
}
