/* Reads of dashboard users and sessions (store.h), on the read pool. */
#include "store/sqlite/sqlite.h"
#include "util/mem.h"
#include "util/result.h"

#include <stdlib.h>
#include <string.h>

/* Runs q (prepared on a reader) with text ?1 = key; row() reads the first row. */
static int read_one(ch_backend *b, const char *q, const char *key,
                    void (*row)(sqlite3_stmt *st, void *out), void *out)
{
    sqlite3 *db = ch_sqlite_reader(b);
    sqlite3_stmt *st = NULL;
    int rc = CH_ESTORE;
    int r = sqlite3_prepare_v2(db, q, -1, &st, NULL);
    if (r != SQLITE_OK) {
        ch_sqlite_log_error(db, q, r);
        goto out;
    }
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        row(st, out);
        rc = CH_OK;
    } else if (r == SQLITE_DONE) {
        rc = CH_ENOTFOUND;
    }
out:
    sqlite3_finalize(st);
    ch_sqlite_reader_done(b, db);
    return rc;
}

static void user_row(sqlite3_stmt *st, void *out)
{
    ch_user *u = out;
    memset(u, 0, sizeof *u);
    u->id = sqlite3_column_int64(st, 0);
    u->tenant_id = sqlite3_column_int64(st, 1);
    u->email = ch_col_strdup(st, 2);
    u->role = ch_col_strdup(st, 3);
    u->password_hash = ch_col_strdup(st, 4);
    u->created_at = sqlite3_column_int64(st, 5);
    u->updated_at = sqlite3_column_int64(st, 6);
    u->tenant_slug = ch_col_strdup(st, 7);
}

int ch_sqlite_user_get(ch_backend *b, const char *email, ch_user *out)
{
    return read_one(b,
                    "SELECT u.id, u.tenant_id, u.email, u.role, u.password_hash, u.created_at,"
                    " u.updated_at, t.slug FROM users u JOIN tenants t ON t.id=u.tenant_id"
                    " WHERE u.email=?1",
                    email, user_row, out);
}

int ch_sqlite_user_list(ch_backend *b, int64_t tenant_id, ch_user **out, size_t *n)
{
    sqlite3 *db = ch_sqlite_reader(b);
    sqlite3_stmt *st = NULL;
    static const char q[] = "SELECT id, tenant_id, email, role, '', created_at, updated_at, ''"
                            " FROM users WHERE tenant_id=?1 ORDER BY id";
    *out = NULL;
    *n = 0;
    size_t cap = 0;
    int rc = CH_ESTORE;
    int r = sqlite3_prepare_v2(db, q, -1, &st, NULL);
    if (r != SQLITE_OK) {
        ch_sqlite_log_error(db, q, r);
        goto out;
    }
    sqlite3_bind_int64(st, 1, tenant_id);
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            *out = ch_realloc(*out, cap * sizeof **out);
        }
        user_row(st, &(*out)[(*n)++]);
    }
    if (r == SQLITE_DONE) rc = CH_OK;
out:
    sqlite3_finalize(st);
    ch_sqlite_reader_done(b, db);
    return rc;
}

static void session_row(sqlite3_stmt *st, void *out)
{
    ch_session *v = out;
    memset(v, 0, sizeof *v);
    v->user_id = sqlite3_column_int64(st, 0);
    v->tenant_id = sqlite3_column_int64(st, 1);
    v->csrf = ch_col_strdup(st, 2);
    v->created_at = sqlite3_column_int64(st, 3);
    v->last_seen_at = sqlite3_column_int64(st, 4);
    v->email = ch_col_strdup(st, 5);
    v->role = ch_col_strdup(st, 6);
    v->tenant_slug = ch_col_strdup(st, 7);
}

int ch_sqlite_session_get(ch_backend *b, const char *id_hash, ch_session *out)
{
    /* joined with its user and tenant as they are now: a role changed or a tenant gone counts
     * from the next request */
    return read_one(b,
                    "SELECT s.user_id, s.tenant_id, s.csrf, s.created_at, s.last_seen_at, u.email,"
                    " u.role, t.slug FROM sessions s JOIN users u ON u.id=s.user_id AND"
                    " u.tenant_id=s.tenant_id JOIN tenants t ON t.id=s.tenant_id"
                    " WHERE s.id_hash=?1",
                    id_hash, session_row, out);
}
