/* Administrative reads on the read pool: tenants, the directory, endpoints. The writes are
 * typed operations run by the writer (ops.c). Rows become JSON here, in C, not in SQL. */
#include "store/sqlite/sqlite.h"
#include "util/mem.h"
#include "util/result.h"
#include "util/timeutil.h"

#include <stdlib.h>
#include <string.h>

int ch_sqlite_tenant_list(ch_backend *b, json_t **out)
{
    sqlite3 *db = ch_sqlite_reader(b);
    int rc;
    char month[8];
    sqlite3_stmt *st = NULL, *us = NULL;
    json_t *arr = json_array();
    rc = CH_ESTORE;
    if (sqlite3_prepare_v2(db, "SELECT " CH_SQLITE_TENANT_COLS " FROM tenants ORDER BY slug", -1,
                           &st, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "SELECT COALESCE(calls,0), COALESCE(events,0),"
                           " COALESCE(over_limit_calls,0) FROM usage"
                           " WHERE tenant_id=?1 AND month=?2",
                           -1, &us, NULL) != SQLITE_OK)
        goto out;
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        ch_tenant t;
        ch_sqlite_tenant_row(st, &t);
        ch_time_month(ch_now_ms(), t.timezone, month);
        int64_t calls = 0, events = 0, over = 0;
        sqlite3_bind_int64(us, 1, t.id);
        sqlite3_bind_text(us, 2, month, -1, SQLITE_STATIC);
        if (sqlite3_step(us) == SQLITE_ROW) {
            calls = sqlite3_column_int64(us, 0);
            events = sqlite3_column_int64(us, 1);
            over = sqlite3_column_int64(us, 2);
        }
        sqlite3_reset(us);
        json_array_append_new(
            arr, json_pack("{s:I, s:s, s:s, s:s, s:s, s:I, s:b, s:s, s:{s:s, s:I, s:I, s:I}}", "id",
                           (json_int_t)t.id, "slug", t.slug, "name", t.name, "timezone", t.timezone,
                           "country", t.country, "monthly_limit", (json_int_t)t.monthly_limit,
                           "hard_limit", t.hard_limit, "features", t.features, "usage", "month",
                           month, "calls", (json_int_t)calls, "events", (json_int_t)events,
                           "over_limit_calls", (json_int_t)over));
        ch_tenant_clear(&t);
    }
    if (r == SQLITE_DONE) rc = CH_OK;
out:
    sqlite3_finalize(st);
    sqlite3_finalize(us);
    ch_sqlite_reader_done(b, db);
    if (rc) {
        json_decref(arr);
        return rc;
    }
    *out = arr;
    return CH_OK;
}

static json_t *col_json(sqlite3_stmt *st, int i)
{
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_NULL:
        return json_null();
    case SQLITE_INTEGER:
        return json_integer(sqlite3_column_int64(st, i));
    default:
        return json_stringn((const char *)sqlite3_column_text(st, i),
                            (size_t)sqlite3_column_bytes(st, i));
    }
}

/* RFC 3339 UTC to the second, as these lists have always shown times */
static json_t *time_json(int64_t ms)
{
    char buf[40];
    ch_time_format(ms / 1000 * 1000, buf, sizeof buf);
    return json_string(buf);
}

static json_t *col_json_time(sqlite3_stmt *st, int i)
{
    if (sqlite3_column_type(st, i) == SQLITE_NULL) return json_null();
    return time_json(sqlite3_column_int64(st, i));
}

/* Each row of st as an object whose keys are the column names; columns named *_at are times.
 * {"<key>": [...]} */
static int rows_json(sqlite3_stmt *st, const char *key, json_t **out)
{
    json_t *list = json_array();
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *o = json_object();
        for (int i = 0; i < sqlite3_column_count(st); i++) {
            const char *name = sqlite3_column_name(st, i);
            size_t n = strlen(name);
            bool time = n > 3 && strcmp(name + n - 3, "_at") == 0;
            json_object_set_new(o, name, time ? col_json_time(st, i) : col_json(st, i));
        }
        json_array_append_new(list, o);
    }
    if (r != SQLITE_DONE) {
        json_decref(list);
        return CH_ESTORE;
    }
    *out = json_pack("{s:o}", key, list);
    return CH_OK;
}

int ch_sqlite_directory_list(ch_backend *b, int64_t tenant_id, const char *which, json_t **out)
{
    bool emp = strcmp(which, "employees") == 0;
    const char *sql = emp ? "SELECT id, extension, name, email FROM employees WHERE tenant_id=?1"
                            " ORDER BY id"
                          : "SELECT id, phone, phone_raw, name, source FROM leads"
                            " WHERE tenant_id=?1 ORDER BY id";
    sqlite3 *db = ch_sqlite_reader(b);
    sqlite3_stmt *st = NULL;
    int rc = CH_ESTORE;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, tenant_id);
        rc = rows_json(st, emp ? "employees" : "leads", out);
    }
    sqlite3_finalize(st);
    ch_sqlite_reader_done(b, db);
    return rc;
}

int ch_sqlite_endpoint_list(ch_backend *b, int64_t tenant_id, int64_t id, json_t **out)
{
    sqlite3 *db = ch_sqlite_reader(b);
    sqlite3_stmt *st = NULL;
    int rc = CH_ESTORE;
    if (sqlite3_prepare_v2(db,
                           "SELECT id, url, kind, events, enabled, disabled_reason, headers,"
                           " timeout_ms, rate_limit_per_min, CASE WHEN previous_secret_until > ?3"
                           " THEN previous_secret_until END AS secret_rotating_until, created_at,"
                           " updated_at FROM endpoints WHERE tenant_id=?1 AND (?2=0 OR id=?2)"
                           " ORDER BY id",
                           -1, &st, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_int64(st, 1, tenant_id);
    sqlite3_bind_int64(st, 2, id);
    sqlite3_bind_int64(st, 3, ch_now_ms());
    /* secret_rotating_until is not named *_at: converted below */
    if ((rc = rows_json(st, "endpoints", out))) goto out;
    /* enabled is a boolean, headers an object, secret_rotating_until a time */
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(*out, "endpoints"), i, e)
    {
        json_object_set_new(e, "enabled",
                            json_boolean(json_integer_value(json_object_get(e, "enabled"))));
        json_t *h = json_loads(json_string_value(json_object_get(e, "headers")), 0, NULL);
        json_object_set_new(e, "headers", h ? h : json_object());
        json_t *until = json_object_get(e, "secret_rotating_until");
        if (json_is_integer(until))
            json_object_set_new(e, "secret_rotating_until", time_json(json_integer_value(until)));
    }
out:
    sqlite3_finalize(st);
    ch_sqlite_reader_done(b, db);
    return rc;
}
