/* Reads for the diagnostics and usage (GET /v1/diagnostics, GET /v1/usage): each endpoint's
 * failing state and newest delivery, the tenant's dead letters, one tenant's month of usage.
 * The counts walk the partial index deliveries_failed (migration 9), so they cost what there is
 * to count, capped at CH_DIAG_COUNT_MAX. */
#include "store/sqlite/sqlite.h"
#include "util/limits.h"
#include "util/mem.h"
#include "util/result.h"
#include "util/timeutil.h"

#include <stdlib.h>
#include <string.h>

static char *col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? ch_strdup((const char *)t) : NULL;
}

int ch_sqlite_endpoint_health(ch_backend *b, int64_t tenant_id, ch_endpoint_health **out, size_t *n,
                              int64_t *dead_letters)
{
    sqlite3 *db = ch_sqlite_reader(b);
    sqlite3_stmt *eps = NULL, *failed = NULL, *last = NULL, *dead = NULL;
    ch_endpoint_health *v = NULL;
    size_t cnt = 0, cap = 0;
    int rc = CH_ESTORE, r = SQLITE_ERROR;
    *out = NULL;
    *n = 0;
    *dead_letters = 0;
    if (sqlite3_prepare_v2(db, "SELECT id, failing_since FROM endpoints WHERE tenant_id=?1", -1,
                           &eps, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "SELECT count(*) FROM (SELECT 1 FROM deliveries WHERE tenant_id=?1 AND"
                           " endpoint_id=?2 AND state='failed' AND updated_at>=?3 LIMIT ?4)",
                           -1, &failed, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "SELECT state, last_status, last_error FROM deliveries WHERE"
                           " tenant_id=?1 AND endpoint_id=?2 ORDER BY id DESC LIMIT 1",
                           -1, &last, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "SELECT count(*) FROM (SELECT 1 FROM deliveries WHERE tenant_id=?1 AND"
                           " state='failed' LIMIT ?2)",
                           -1, &dead, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_int64(eps, 1, tenant_id);
    while ((r = sqlite3_step(eps)) == SQLITE_ROW) {
        if (cnt == cap) {
            cap = cap ? cap * 2 : 8;
            v = ch_realloc(v, cap * sizeof *v);
        }
        ch_endpoint_health *h = &v[cnt++];
        memset(h, 0, sizeof *h);
        h->id = sqlite3_column_int64(eps, 0);
        h->failing_since = sqlite3_column_type(eps, 1) == SQLITE_NULL
                               ? CH_TIME_UNSET
                               : sqlite3_column_int64(eps, 1);
        h->last_status = CH_NUM_UNSET;
        if (h->failing_since != CH_TIME_UNSET) {
            sqlite3_bind_int64(failed, 1, tenant_id);
            sqlite3_bind_int64(failed, 2, h->id);
            sqlite3_bind_int64(failed, 3, h->failing_since);
            sqlite3_bind_int64(failed, 4, CH_DIAG_COUNT_MAX);
            if (sqlite3_step(failed) != SQLITE_ROW) break;
            h->failed = sqlite3_column_int64(failed, 0);
            sqlite3_reset(failed);
        }
        sqlite3_bind_int64(last, 1, tenant_id);
        sqlite3_bind_int64(last, 2, h->id);
        int lr = sqlite3_step(last);
        if (lr == SQLITE_ROW) {
            h->last_state = col_text(last, 0);
            if (sqlite3_column_type(last, 1) != SQLITE_NULL)
                h->last_status = sqlite3_column_int64(last, 1);
            h->last_error = col_text(last, 2);
        } else if (lr != SQLITE_DONE) {
            break;
        }
        sqlite3_reset(last);
    }
    if (r != SQLITE_DONE) goto out;
    sqlite3_bind_int64(dead, 1, tenant_id);
    sqlite3_bind_int64(dead, 2, CH_DIAG_COUNT_MAX);
    if (sqlite3_step(dead) != SQLITE_ROW) goto out;
    *dead_letters = sqlite3_column_int64(dead, 0);
    rc = CH_OK;
out:
    sqlite3_finalize(eps);
    sqlite3_finalize(failed);
    sqlite3_finalize(last);
    sqlite3_finalize(dead);
    ch_sqlite_reader_done(b, db);
    if (rc) {
        ch_endpoint_health_free(v, cnt);
        return rc;
    }
    *out = v;
    *n = cnt;
    return CH_OK;
}

int ch_sqlite_tenant_usage(ch_backend *b, int64_t tenant_id, ch_tenant_usage *out)
{
    sqlite3 *db = ch_sqlite_reader(b);
    sqlite3_stmt *st = NULL, *us = NULL;
    int rc = CH_ESTORE;
    memset(out, 0, sizeof *out);
    if (sqlite3_prepare_v2(db, "SELECT " CH_SQLITE_TENANT_COLS " FROM tenants WHERE id=?1", -1, &st,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "SELECT COALESCE(calls,0), COALESCE(events,0),"
                           " COALESCE(over_limit_calls,0), COALESCE(transcribed_ms,0) FROM usage"
                           " WHERE tenant_id=?1 AND month=?2",
                           -1, &us, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_int64(st, 1, tenant_id);
    int r = sqlite3_step(st);
    if (r != SQLITE_ROW) {
        rc = r == SQLITE_DONE ? CH_ENOTFOUND : CH_ESTORE;
        goto out;
    }
    ch_sqlite_tenant_row(st, &out->tenant);
    ch_time_month(ch_now_ms(), out->tenant.timezone, out->month);
    sqlite3_bind_int64(us, 1, tenant_id);
    sqlite3_bind_text(us, 2, out->month, -1, SQLITE_STATIC);
    r = sqlite3_step(us);
    if (r == SQLITE_ROW) {
        out->calls = sqlite3_column_int64(us, 0);
        out->events = sqlite3_column_int64(us, 1);
        out->over_limit_calls = sqlite3_column_int64(us, 2);
        out->transcribed_ms = sqlite3_column_int64(us, 3);
    }
    rc = r == SQLITE_ROW || r == SQLITE_DONE ? CH_OK : CH_ESTORE;
    if (rc) ch_tenant_clear(&out->tenant);
out:
    sqlite3_finalize(st);
    sqlite3_finalize(us);
    ch_sqlite_reader_done(b, db);
    return rc;
}
