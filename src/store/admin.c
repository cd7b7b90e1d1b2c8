/* Administration from the CLI: a short-lived connection of its own. It can run beside a
 * serving daemon (WAL; SQLite serialises the two writers with its lock and busy timeout). */
#include "store/sqlite_internal.h"
#include "util/crypto.h"
#include "util/mem.h"
#include "util/result.h"
#include "util/timeutil.h"

#include <stdlib.h>
#include <string.h>

static int open_db(const char *path, sqlite3 **db)
{
    int rc = ch_sqlite_open(path, false, db);
    if (rc) return rc;
    rc = ch_sqlite_migrate(*db, NULL);
    if (rc) {
        sqlite3_close(*db);
        *db = NULL;
    }
    return rc;
}

int ch_admin_tenant_add(const char *path, const ch_tenant_spec *t, int64_t *id_out)
{
    sqlite3 *db;
    int rc = open_db(path, &db);
    if (rc) return rc;
    sqlite3_stmt *st = NULL;
    rc = sqlite3_prepare_v2(db,
                            "INSERT INTO tenants(slug, name, timezone, country_code, monthly_limit,"
                            " hard_limit, features) VALUES(?1,?2,?3,?4,?5,?6,?7)",
                            -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, t->slug, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, t->name ? t->name : t->slug, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, t->timezone ? t->timezone : "UTC", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, t->country ? t->country : "", -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, t->monthly_limit);
        sqlite3_bind_int(st, 6, t->hard_limit);
        sqlite3_bind_text(st, 7, t->features ? t->features : "enrichment", -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE) {
        *id_out = sqlite3_last_insert_rowid(db);
        rc = CH_OK;
    } else {
        rc = (rc & 0xff) == SQLITE_CONSTRAINT ? CH_EEXIST : CH_ESTORE;
    }
    sqlite3_close(db);
    return rc;
}

static void fill_tenant(sqlite3_stmt *st, ch_tenant *t)
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

#define TENANT_COLS                                                                                \
    "id, slug, COALESCE(name,''), COALESCE(NULLIF(timezone,''),'UTC'), COALESCE(country_code,'')," \
    " COALESCE(monthly_limit,0), COALESCE(hard_limit,0), COALESCE(features,'')"

int ch_admin_tenant_get(const char *path, const char *slug, ch_tenant *out)
{
    sqlite3 *db;
    int rc = open_db(path, &db);
    if (rc) return rc;
    sqlite3_stmt *st = NULL;
    rc = CH_ESTORE;
    if (sqlite3_prepare_v2(db, "SELECT " TENANT_COLS " FROM tenants WHERE slug=?1", -1, &st,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, slug, -1, SQLITE_STATIC);
        int r = sqlite3_step(st);
        if (r == SQLITE_ROW) {
            fill_tenant(st, out);
            rc = CH_OK;
        } else if (r == SQLITE_DONE) {
            rc = CH_ENOTFOUND;
        }
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

int ch_admin_tenant_list(const char *path, json_t **out)
{
    sqlite3 *db;
    int rc = open_db(path, &db);
    if (rc) return rc;
    char month[8];
    sqlite3_stmt *st = NULL, *us = NULL;
    json_t *arr = json_array();
    rc = CH_ESTORE;
    if (sqlite3_prepare_v2(db, "SELECT " TENANT_COLS " FROM tenants ORDER BY slug", -1, &st,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "SELECT COALESCE(calls,0), COALESCE(events,0),"
                           " COALESCE(over_limit_calls,0) FROM usage"
                           " WHERE tenant_id=?1 AND month=?2",
                           -1, &us, NULL) != SQLITE_OK)
        goto out;
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        ch_tenant t;
        fill_tenant(st, &t);
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
    sqlite3_close(db);
    if (rc) {
        json_decref(arr);
        return rc;
    }
    *out = arr;
    return CH_OK;
}

int ch_admin_credential_add(const char *path, int64_t tenant_id, const ch_credential *c,
                            int64_t *id_out)
{
    sqlite3 *db;
    int rc = open_db(path, &db);
    if (rc) return rc;
    sqlite3_stmt *st = NULL;
    rc = CH_ESTORE;
    if (ch_sqlite_exec(db, "BEGIN IMMEDIATE") != SQLITE_OK) goto out;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO credentials(tenant_id, id, provider, username,"
                           " password_hash, token_hash, signing_secret, allow_ips)"
                           " VALUES(?1, (SELECT COALESCE(MAX(id),0)+1 FROM credentials"
                           " WHERE tenant_id=?1), ?2,?3,?4,?5,?6,?7) RETURNING id",
                           -1, &st, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_int64(st, 1, tenant_id);
    ch_bind_text(st, 2, c->provider);
    ch_bind_text(st, 3, c->username);
    ch_bind_text(st, 4, c->password_hash);
    ch_bind_text(st, 5, c->token_hash);
    ch_bind_text(st, 6, c->signing_secret);
    ch_bind_text(st, 7, c->allow_ips ? c->allow_ips : "");
    if (sqlite3_step(st) == SQLITE_ROW) {
        *id_out = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        st = NULL;
        if (ch_sqlite_exec(db, "COMMIT") == SQLITE_OK) rc = CH_OK;
    }
out:
    sqlite3_finalize(st);
    if (!sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(db);
    return rc;
}

int ch_admin_apikey_add(const char *path, int64_t tenant_id, char **key_out)
{
    sqlite3 *db;
    int rc = open_db(path, &db);
    if (rc) return rc;
    /* chk_<key id: 12 hex>_<secret: 32 random bytes, base64url>. Only a hash of the secret is
     * stored; the id finds the row without a scan. */
    char id[13], secret[48], hash[CH_SHA256_HEX];
    ch_random_hex(id, 6);
    ch_random_token(secret, sizeof secret, 32);
    ch_sha256_hex(secret, strlen(secret), hash);
    sqlite3_stmt *st = NULL;
    rc = CH_ESTORE;
    if (sqlite3_prepare_v2(db, "INSERT INTO api_keys(tenant_id, id, secret_hash) VALUES(?1,?2,?3)",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, tenant_id);
        sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, hash, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_DONE) {
            *key_out = ch_asprintf("chk_%s_%s", id, secret);
            rc = CH_OK;
        }
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

static int directory_upsert(const char *path, const char *sql, int64_t tenant_id, const char *k1,
                            const char *k2, const char *k3, int64_t *id_out)
{
    sqlite3 *db;
    int rc = open_db(path, &db);
    if (rc) return rc;
    sqlite3_stmt *st = NULL;
    rc = CH_ESTORE;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) goto out;
    sqlite3_bind_int64(st, 1, tenant_id);
    ch_bind_text(st, 2, k1);
    ch_bind_text(st, 3, k2);
    ch_bind_text(st, 4, k3);
    sqlite3_bind_int64(st, 5, ch_now_ms());
    if (sqlite3_step(st) == SQLITE_ROW) {
        *id_out = sqlite3_column_int64(st, 0);
        rc = CH_OK;
    }
out:
    if (rc) ch_sqlite_log_error(db, "directory", sqlite3_errcode(db));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

int ch_admin_employee_add(const char *path, int64_t tenant_id, const char *extension,
                          const char *name, const char *email, int64_t *id_out)
{
    return directory_upsert(
        path,
        "INSERT INTO employees(tenant_id, id, extension, name, email, created_at) VALUES(?1,"
        "(SELECT COALESCE(MAX(id),0)+1 FROM employees WHERE tenant_id=?1),?2,?3,?4,?5)"
        " ON CONFLICT(tenant_id, extension) DO UPDATE SET name=COALESCE(excluded.name, name),"
        " email=COALESCE(excluded.email, email) RETURNING id",
        tenant_id, extension, name, email, id_out);
}

int ch_admin_lead_add(const char *path, int64_t tenant_id, const char *phone_e164,
                      const char *phone_raw, const char *name, int64_t *id_out)
{
    return directory_upsert(
        path,
        "INSERT INTO leads(tenant_id, id, phone, phone_raw, name, source, created_at) VALUES(?1,"
        "(SELECT COALESCE(MAX(id),0)+1 FROM leads WHERE tenant_id=?1),?2,?3,?4,'manual',?5)"
        " ON CONFLICT(tenant_id, phone) DO UPDATE SET name=COALESCE(excluded.name, name)"
        " RETURNING id",
        tenant_id, phone_e164, phone_raw, name, id_out);
}

int ch_admin_directory_list(const char *path, int64_t tenant_id, const char *which, json_t **out)
{
    sqlite3 *db;
    int rc = ch_sqlite_open(path, true, &db);
    if (rc) return rc;
    bool emp = strcmp(which, "employees") == 0;
    const char *sql = emp ? "SELECT json_object('id', id, 'extension', extension, 'name', name,"
                            " 'email', email) FROM employees WHERE tenant_id=?1 ORDER BY id"
                          : "SELECT json_object('id', id, 'phone', phone, 'phone_raw', phone_raw,"
                            " 'name', name, 'source', source) FROM leads WHERE tenant_id=?1"
                            " ORDER BY id";
    sqlite3_stmt *st = NULL;
    json_t *list = json_array();
    rc = CH_ESTORE;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) goto out;
    sqlite3_bind_int64(st, 1, tenant_id);
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *o = json_loadb((const char *)sqlite3_column_text(st, 0),
                               (size_t)sqlite3_column_bytes(st, 0), 0, NULL);
        if (o) json_array_append_new(list, o);
    }
    if (r == SQLITE_DONE) rc = CH_OK;
out:
    sqlite3_finalize(st);
    sqlite3_close(db);
    if (rc) {
        json_decref(list);
        return rc;
    }
    *out = json_pack("{s:o}", which, list);
    return CH_OK;
}

/* ---- endpoints ---------------------------------------------------------------------- */

int ch_admin_endpoint_add(const char *path, int64_t tenant_id, const ch_endpoint_spec *e,
                          int64_t *id_out)
{
    sqlite3 *db;
    int rc = open_db(path, &db);
    if (rc) return rc;
    sqlite3_stmt *st = NULL;
    char *headers = e->headers ? json_dumps(e->headers, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    rc = CH_ESTORE;
    /* the cap is checked in the INSERT itself, so two adds at once cannot both pass it */
    if (sqlite3_prepare_v2(
            db,
            "INSERT INTO endpoints(tenant_id, id, url, kind, events, secret, headers,"
            " timeout_ms, rate_limit_per_min, created_at, updated_at) SELECT ?1,"
            /* never reuse a removed endpoint's id: its deliveries keep it */
            "(SELECT COALESCE(MAX(m),0)+1 FROM (SELECT MAX(id) m FROM endpoints WHERE"
            " tenant_id=?1 UNION ALL SELECT MAX(endpoint_id) FROM deliveries WHERE"
            " tenant_id=?1)),"
            "?2,?3,?4,?5,COALESCE(?6,'{}'),?7,?8,?9,?9"
            " WHERE ?10 <= 0 OR (SELECT COUNT(*) FROM endpoints WHERE tenant_id=?1) < ?10"
            " RETURNING id",
            -1, &st, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_int64(st, 1, tenant_id);
    ch_bind_text(st, 2, e->url);
    ch_bind_text(st, 3, e->kind);
    ch_bind_text(st, 4, e->events);
    ch_bind_text(st, 5, e->secret);
    ch_bind_text(st, 6, headers);
    sqlite3_bind_int64(st, 7, e->timeout_ms);
    sqlite3_bind_int64(st, 8, e->rate_limit_per_min);
    sqlite3_bind_int64(st, 9, ch_now_ms());
    sqlite3_bind_int64(st, 10, e->max_per_tenant);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        *id_out = sqlite3_column_int64(st, 0);
        rc = CH_OK;
    } else if (r == SQLITE_DONE) {
        rc = CH_ELIMIT; /* no row: the tenant has max_per_tenant endpoints already */
    }
out:
    if (rc == CH_ESTORE) ch_sqlite_log_error(db, "endpoint add", sqlite3_errcode(db));
    free(headers);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

int ch_admin_endpoint_list(const char *path, int64_t tenant_id, json_t **out)
{
    sqlite3 *db;
    int rc = ch_sqlite_open(path, true, &db);
    if (rc) return rc;
    sqlite3_stmt *st = NULL;
    json_t *list = json_array();
    rc = CH_ESTORE;
    if (sqlite3_prepare_v2(
            db,
            "SELECT json_object('id', id, 'url', url, 'kind', kind, 'events', events, 'enabled',"
            " json(CASE enabled WHEN 1 THEN 'true' ELSE 'false' END), 'disabled_reason',"
            " disabled_reason, 'headers', json(headers), 'timeout_ms', timeout_ms,"
            " 'rate_limit_per_min', rate_limit_per_min, 'secret_rotating_until',"
            " CASE WHEN previous_secret_until > ?2 THEN"
            " strftime('%Y-%m-%dT%H:%M:%SZ', previous_secret_until / 1000, 'unixepoch') END,"
            " 'created_at', strftime('%Y-%m-%dT%H:%M:%SZ', created_at / 1000, 'unixepoch'),"
            " 'updated_at', strftime('%Y-%m-%dT%H:%M:%SZ', updated_at / 1000, 'unixepoch'))"
            " FROM endpoints WHERE tenant_id=?1 ORDER BY id",
            -1, &st, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_int64(st, 1, tenant_id);
    sqlite3_bind_int64(st, 2, ch_now_ms());
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *o = json_loadb((const char *)sqlite3_column_text(st, 0),
                               (size_t)sqlite3_column_bytes(st, 0), 0, NULL);
        if (o) json_array_append_new(list, o);
    }
    if (r == SQLITE_DONE) rc = CH_OK;
out:
    sqlite3_finalize(st);
    sqlite3_close(db);
    if (rc) {
        json_decref(list);
        return rc;
    }
    *out = json_pack("{s:o}", "endpoints", list);
    return CH_OK;
}

/* Runs one UPDATE/DELETE on the tenant's endpoint id; CH_ENOTFOUND when no row changed. */
static int endpoint_change(const char *path, const char *sql, int64_t tenant_id, int64_t id,
                           const char *text, int64_t num)
{
    sqlite3 *db;
    int rc = open_db(path, &db);
    if (rc) return rc;
    sqlite3_stmt *st = NULL;
    rc = CH_ESTORE;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, tenant_id);
        sqlite3_bind_int64(st, 2, id);
        ch_bind_text(st, 3, text);
        sqlite3_bind_int64(st, 4, num);
        sqlite3_bind_int64(st, 5, ch_now_ms());
        if (sqlite3_step(st) == SQLITE_DONE) rc = sqlite3_changes(db) ? CH_OK : CH_ENOTFOUND;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

int ch_admin_endpoint_set_enabled(const char *path, int64_t tenant_id, int64_t id, bool enabled,
                                  const char *reason)
{
    return endpoint_change(
        path,
        "UPDATE endpoints SET enabled=?4, disabled_reason=CASE ?4 WHEN 1 THEN"
        " NULL ELSE ?3 END, failing_since=CASE ?4 WHEN 1 THEN NULL ELSE failing_since END,"
        " updated_at=?5 WHERE tenant_id=?1 AND id=?2",
        tenant_id, id, reason, enabled);
}

int ch_admin_endpoint_rotate(const char *path, int64_t tenant_id, int64_t id,
                             const char *new_secret, int64_t overlap_ms)
{
    return endpoint_change(
        path,
        "UPDATE endpoints SET previous_secret=secret, previous_secret_until=?5+?4,"
        " secret=?3, updated_at=?5 WHERE tenant_id=?1 AND id=?2",
        tenant_id, id, new_secret, overlap_ms);
}

int ch_admin_endpoint_remove(const char *path, int64_t tenant_id, int64_t id)
{
    return endpoint_change(path,
                           "DELETE FROM endpoints WHERE tenant_id=?1 AND id=?2 AND ?3 IS NULL"
                           " AND ?4=0 AND ?5>0",
                           tenant_id, id, NULL, 0);
}

int ch_admin_endpoint_update(const char *path, int64_t tenant_id, int64_t id,
                             const ch_endpoint_spec *e)
{
    sqlite3 *db;
    int rc = open_db(path, &db);
    if (rc) return rc;
    sqlite3_stmt *st = NULL;
    char *headers = e->headers ? json_dumps(e->headers, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    rc = CH_ESTORE;
    if (sqlite3_prepare_v2(db,
                           "UPDATE endpoints SET url=COALESCE(?3,url), kind=COALESCE(?4,kind),"
                           " events=COALESCE(?5,events), headers=COALESCE(?6,headers),"
                           " timeout_ms=COALESCE(?7,timeout_ms),"
                           " rate_limit_per_min=COALESCE(?8,rate_limit_per_min), updated_at=?9"
                           " WHERE tenant_id=?1 AND id=?2",
                           -1, &st, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_int64(st, 1, tenant_id);
    sqlite3_bind_int64(st, 2, id);
    ch_bind_text(st, 3, e->url);
    ch_bind_text(st, 4, e->kind);
    ch_bind_text(st, 5, e->events);
    ch_bind_text(st, 6, headers);
    if (e->timeout_ms >= 0) sqlite3_bind_int64(st, 7, e->timeout_ms);
    if (e->rate_limit_per_min >= 0) sqlite3_bind_int64(st, 8, e->rate_limit_per_min);
    sqlite3_bind_int64(st, 9, ch_now_ms());
    if (sqlite3_step(st) == SQLITE_DONE) rc = sqlite3_changes(db) ? CH_OK : CH_ENOTFOUND;
out:
    if (rc == CH_ESTORE) ch_sqlite_log_error(db, "endpoint update", sqlite3_errcode(db));
    free(headers);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}
