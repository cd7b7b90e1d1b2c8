/* The administrative operations (store.h, ch_op) on SQLite: run by the writer thread on its
 * connection, inside the batch's transaction and under the savepoint of their job, so a job's
 * ops apply together or not at all (docs/internals/store-operations.md). Each returns a CH_
 * code: CH_ESTORE leaves the SQLite error on the connection for the writer to judge (a full
 * disk abandons the batch); any other failure is the op refusing, and the writer rolls the job
 * back. Ids are taken inside the write transaction, where SQLite's single write lock makes
 * MAX()+1 safe; a backend with sequences uses them instead. */
#include "core/payload.h"
#include "store/sqlite/sqlite.h"
#include "util/crypto.h"
#include "util/mem.h"
#include "util/result.h"
#include "util/timeutil.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    sqlite3 *db;
    ch_change_log *changes;
    int64_t now;
    int sqlite_rc; /* the SQLite error behind a CH_ESTORE */
} op_ctx;

static sqlite3_stmt *prepare(op_ctx *c, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK) {
        ch_sqlite_log_error(c->db, sql, sqlite3_errcode(c->db));
        abort(); /* our own schema: a statement that does not prepare is a bug */
    }
    return st;
}

/* Steps st once: CH_OK on a row (*id from column 0 when id is set) or on done when done_ok,
 * CH_ENOTFOUND on done otherwise, the constraint's code on a constraint failure, CH_ESTORE. */
static int step_one(op_ctx *c, sqlite3_stmt *st, int64_t *id, bool done_ok, int on_constraint)
{
    int r = sqlite3_step(st);
    if (r != SQLITE_ROW && r != SQLITE_DONE) c->sqlite_rc = r;
    if (r == SQLITE_ROW) {
        if (id) *id = sqlite3_column_int64(st, 0);
        return CH_OK;
    }
    if (r == SQLITE_DONE) return done_ok ? CH_OK : CH_ENOTFOUND;
    if ((r & 0xff) == SQLITE_CONSTRAINT && on_constraint) return on_constraint;
    return CH_ESTORE;
}

static int tenant_add(op_ctx *c, ch_op *op)
{
    const ch_tenant_spec *t = &op->in.tenant;
    sqlite3_stmt *st = prepare(c, "INSERT INTO tenants(slug, name, timezone, country_code,"
                                  " monthly_limit, hard_limit, features)"
                                  " VALUES(?1,?2,?3,?4,?5,?6,?7) RETURNING id");
    sqlite3_bind_text(st, 1, t->slug, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, t->name ? t->name : t->slug, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, t->timezone ? t->timezone : "UTC", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, t->country ? t->country : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, t->monthly_limit);
    sqlite3_bind_int(st, 6, t->hard_limit);
    sqlite3_bind_text(st, 7, t->features ? t->features : "enrichment", -1, SQLITE_STATIC);
    int rc = step_one(c, st, &op->id_out, false, CH_EEXIST);
    sqlite3_finalize(st);
    return rc == CH_ENOTFOUND ? CH_ESTORE : rc;
}

static int tenant_set_retry(op_ctx *c, ch_op *op)
{
    sqlite3_stmt *st = prepare(c, "UPDATE tenants SET retry_schedule=?2 WHERE id=?1 RETURNING id");
    sqlite3_bind_int64(st, 1, op->tenant_id);
    ch_bind_text(st, 2, op->in.retry_schedule);
    int rc = step_one(c, st, NULL, false, 0);
    sqlite3_finalize(st);
    return rc;
}

static int credential_add(op_ctx *c, ch_op *op)
{
    const ch_credential *cr = op->in.credential;
    sqlite3_stmt *st = prepare(c, "INSERT INTO credentials(tenant_id, id, provider, username,"
                                  " password_hash, token_hash, signing_secret, allow_ips, media)"
                                  " VALUES(?1, (SELECT COALESCE(MAX(id),0)+1 FROM credentials"
                                  " WHERE tenant_id=?1), ?2,?3,?4,?5,?6,?7,?8) RETURNING id");
    sqlite3_bind_int64(st, 1, op->tenant_id);
    ch_bind_text(st, 2, cr->provider);
    ch_bind_text(st, 3, cr->username);
    ch_bind_text(st, 4, cr->password_hash);
    ch_bind_text(st, 5, cr->token_hash);
    ch_bind_text(st, 6, cr->signing_secret);
    ch_bind_text(st, 7, cr->allow_ips ? cr->allow_ips : "");
    ch_bind_text(st, 8, cr->media);
    int rc = step_one(c, st, &op->id_out, false, 0);
    sqlite3_finalize(st);
    return rc == CH_ENOTFOUND ? CH_ESTORE : rc;
}

static int apikey_add(op_ctx *c, ch_op *op)
{
    /* chk_<key id: 12 hex>_<secret: 32 random bytes, base64url>. Only a hash of the secret is
     * stored; the id finds the row without a scan. */
    char id[13], secret[48], hash[CH_SHA256_HEX];
    ch_random_hex(id, 6);
    ch_random_token(secret, sizeof secret, 32);
    ch_sha256_hex(secret, strlen(secret), hash);
    sqlite3_stmt *st = prepare(c, "INSERT INTO api_keys(tenant_id, id, secret_hash)"
                                  " SELECT ?1,?2,?3 WHERE EXISTS (SELECT 1 FROM tenants"
                                  " WHERE id=?1) RETURNING 0");
    sqlite3_bind_int64(st, 1, op->tenant_id);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, hash, -1, SQLITE_STATIC);
    int rc = step_one(c, st, NULL, false, 0);
    sqlite3_finalize(st);
    if (rc == CH_OK) op->key_out = ch_asprintf("chk_%s_%s", id, secret);
    return rc;
}

static int directory_add(op_ctx *c, ch_op *op, const char *sql, const char *k1, const char *k2,
                         const char *k3)
{
    sqlite3_stmt *st = prepare(c, sql);
    sqlite3_bind_int64(st, 1, op->tenant_id);
    ch_bind_text(st, 2, k1);
    ch_bind_text(st, 3, k2);
    ch_bind_text(st, 4, k3);
    sqlite3_bind_int64(st, 5, c->now);
    int rc = step_one(c, st, &op->id_out, false, 0);
    sqlite3_finalize(st);
    return rc == CH_ENOTFOUND ? CH_ESTORE : rc;
}

static int employee_add(op_ctx *c, ch_op *op)
{
    return directory_add(
        c, op,
        "INSERT INTO employees(tenant_id, id, extension, name, email, created_at) VALUES(?1,"
        "(SELECT COALESCE(MAX(id),0)+1 FROM employees WHERE tenant_id=?1),?2,?3,?4,?5)"
        " ON CONFLICT(tenant_id, extension) DO UPDATE SET name=COALESCE(excluded.name, name),"
        " email=COALESCE(excluded.email, email) RETURNING id",
        op->in.employee.extension, op->in.employee.name, op->in.employee.email);
}

static int lead_add(op_ctx *c, ch_op *op)
{
    return directory_add(
        c, op,
        "INSERT INTO leads(tenant_id, id, phone, phone_raw, name, source, created_at) VALUES(?1,"
        "(SELECT COALESCE(MAX(id),0)+1 FROM leads WHERE tenant_id=?1),?2,?3,?4,'manual',?5)"
        " ON CONFLICT(tenant_id, phone) DO UPDATE SET name=COALESCE(excluded.name, name)"
        " RETURNING id",
        op->in.lead.phone_e164, op->in.lead.phone_raw, op->in.lead.name);
}

/* ---- endpoints ---------------------------------------------------------------------- */

static int endpoint_add(op_ctx *c, ch_op *op)
{
    const ch_endpoint_spec *e = &op->in.endpoint;
    char *headers = e->headers ? json_dumps(e->headers, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    /* the cap is checked in the INSERT itself */
    sqlite3_stmt *st = prepare(
        c, "INSERT INTO endpoints(tenant_id, id, url, kind, events, secret, headers,"
           " timeout_ms, rate_limit_per_min, created_at, updated_at, enabled, disabled_reason,"
           " payload)"
           " SELECT ?1,"
           /* never reuse a removed endpoint's id: its deliveries keep it */
           "(SELECT COALESCE(MAX(m),0)+1 FROM (SELECT MAX(id) m FROM endpoints WHERE"
           " tenant_id=?1 UNION ALL SELECT MAX(endpoint_id) FROM deliveries WHERE"
           " tenant_id=?1)),"
           "?2,?3,?4,?5,COALESCE(?6,'{}'),?7,?8,?9,?9,?11 IS NULL,?11,COALESCE(?12,'standard')"
           " WHERE ?10 <= 0 OR (SELECT COUNT(*) FROM endpoints WHERE tenant_id=?1) < ?10"
           " RETURNING id");
    sqlite3_bind_int64(st, 1, op->tenant_id);
    ch_bind_text(st, 2, e->url);
    ch_bind_text(st, 3, e->kind);
    ch_bind_text(st, 4, e->events);
    ch_bind_text(st, 5, e->secret);
    ch_bind_text(st, 6, headers);
    sqlite3_bind_int64(st, 7, e->timeout_ms);
    sqlite3_bind_int64(st, 8, e->rate_limit_per_min);
    sqlite3_bind_int64(st, 9, c->now);
    sqlite3_bind_int64(st, 10, e->max_per_tenant);
    ch_bind_text(st, 11, e->disabled_reason);
    ch_bind_text(st, 12, e->payload);
    int rc = step_one(c, st, &op->id_out, false, 0);
    sqlite3_finalize(st);
    free(headers);
    return rc == CH_ENOTFOUND ? CH_ELIMIT : rc; /* no row: the tenant has the most already */
}

static int endpoint_update(op_ctx *c, ch_op *op)
{
    const ch_endpoint_spec *e = &op->in.endpoint;
    char *headers = e->headers ? json_dumps(e->headers, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    sqlite3_stmt *st = prepare(c, "UPDATE endpoints SET url=COALESCE(?3,url),"
                                  " kind=COALESCE(?4,kind), events=COALESCE(?5,events),"
                                  " headers=COALESCE(?6,headers),"
                                  " timeout_ms=COALESCE(?7,timeout_ms),"
                                  " rate_limit_per_min=COALESCE(?8,rate_limit_per_min),"
                                  " payload=COALESCE(?10,payload),"
                                  " updated_at=?9 WHERE tenant_id=?1 AND id=?2 RETURNING id");
    sqlite3_bind_int64(st, 1, op->tenant_id);
    sqlite3_bind_int64(st, 2, op->id);
    ch_bind_text(st, 3, e->url);
    ch_bind_text(st, 4, e->kind);
    ch_bind_text(st, 5, e->events);
    ch_bind_text(st, 6, headers);
    if (e->timeout_ms >= 0) sqlite3_bind_int64(st, 7, e->timeout_ms);
    if (e->rate_limit_per_min >= 0) sqlite3_bind_int64(st, 8, e->rate_limit_per_min);
    sqlite3_bind_int64(st, 9, c->now);
    ch_bind_text(st, 10, e->payload);
    int rc = step_one(c, st, NULL, false, 0);
    sqlite3_finalize(st);
    free(headers);
    return rc;
}

/* One UPDATE or DELETE of the tenant's endpoint op->id, ?3 text and ?4 number given, ?5 now;
 * CH_ENOTFOUND when there is no such endpoint. */
static int endpoint_change(op_ctx *c, ch_op *op, const char *sql, const char *text, int64_t num)
{
    sqlite3_stmt *st = prepare(c, sql);
    sqlite3_bind_int64(st, 1, op->tenant_id);
    sqlite3_bind_int64(st, 2, op->id);
    ch_bind_text(st, 3, text);
    sqlite3_bind_int64(st, 4, num);
    sqlite3_bind_int64(st, 5, c->now);
    int rc = step_one(c, st, NULL, false, 0);
    sqlite3_finalize(st);
    return rc;
}

static int endpoint_enable(op_ctx *c, ch_op *op)
{
    return endpoint_change(
        c, op,
        "UPDATE endpoints SET enabled=?4, disabled_reason=CASE ?4 WHEN 1 THEN NULL ELSE ?3 END,"
        " failing_since=CASE ?4 WHEN 1 THEN NULL ELSE failing_since END, updated_at=?5"
        " WHERE tenant_id=?1 AND id=?2 RETURNING id",
        op->in.enable.reason, op->in.enable.enabled);
}

static int endpoint_rotate(op_ctx *c, ch_op *op)
{
    return endpoint_change(c, op,
                           "UPDATE endpoints SET previous_secret=secret,"
                           " previous_secret_until=?5+?4, secret=?3, updated_at=?5"
                           " WHERE tenant_id=?1 AND id=?2 RETURNING id",
                           op->in.rotate.secret, op->in.rotate.overlap_ms);
}

static int endpoint_remove(op_ctx *c, ch_op *op)
{
    return endpoint_change(c, op,
                           "DELETE FROM endpoints WHERE tenant_id=?1 AND id=?2 AND ?3 IS NULL"
                           " AND ?4=0 AND ?5>0 RETURNING id",
                           NULL, 0);
}

/* CH_OK when the tenant's endpoint id exists and is enabled; CH_ENOTFOUND, CH_EDISABLED. The
 * tenant's slug and the endpoint's URL are copied out when asked for. */
static int endpoint_usable(op_ctx *c, int64_t tenant_id, int64_t id, char **slug, char **url)
{
    sqlite3_stmt *st = prepare(c, "SELECT e.enabled, t.slug, e.url FROM endpoints e JOIN tenants t"
                                  " ON t.id=e.tenant_id WHERE e.tenant_id=?1 AND e.id=?2");
    sqlite3_bind_int64(st, 1, tenant_id);
    sqlite3_bind_int64(st, 2, id);
    int r = sqlite3_step(st), rc;
    if (r != SQLITE_ROW && r != SQLITE_DONE) c->sqlite_rc = r;
    if (r == SQLITE_ROW) {
        rc = sqlite3_column_int(st, 0) ? CH_OK : CH_EDISABLED;
        if (slug) *slug = ch_col_strdup(st, 1);
        if (url) *url = ch_col_strdup(st, 2);
    } else {
        rc = r == SQLITE_DONE ? CH_ENOTFOUND : CH_ESTORE;
    }
    sqlite3_finalize(st);
    return rc;
}

/* Tells the subscribers (the dispatcher) that a delivery is pending. */
static int delivery_pending(op_ctx *c, int64_t tenant_id, int64_t delivery_id, const char *call_id)
{
    int r = ch_change_log_add(c->changes, tenant_id, CH_CHANGE_DELIVERY_CREATED, call_id,
                              delivery_id, 0);
    if (r == SQLITE_OK) return CH_OK;
    c->sqlite_rc = r;
    return CH_ESTORE;
}

static int endpoint_test(op_ctx *c, ch_op *op)
{
    char *slug = NULL, *url = NULL, *payload = NULL;
    sqlite3_stmt *st = NULL;
    int rc = endpoint_usable(c, op->tenant_id, op->id, &slug, &url);
    if (rc) goto out;
    char id[CH_MESSAGE_ID_SIZE];
    uint64_t rnd;
    ch_random_bytes(&rnd, sizeof rnd);
    ch_message_id(id, c->now, rnd);
    json_t *data = ch_payload_test_data(op->id, url);
    payload = ch_payload_envelope("test", id, c->now, slug, data);
    json_decref(data);
    if (!payload) abort(); /* slug and url are NOT NULL columns: jansson fails only on allocation */
    st = prepare(c, "INSERT INTO messages(tenant_id, id, type, call_id, created_at, payload)"
                    " VALUES(?1,?2,'test',NULL,?3,?4)");
    sqlite3_bind_int64(st, 1, op->tenant_id);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, c->now);
    sqlite3_bind_text(st, 4, payload, -1, SQLITE_STATIC);
    if ((rc = step_one(c, st, NULL, true, 0))) goto out;
    sqlite3_finalize(st);
    st = prepare(c, "INSERT INTO deliveries(tenant_id, endpoint_id, message_id, call_id,"
                    " next_attempt_at, manual, created_at, updated_at)"
                    " VALUES(?1,?2,?3,NULL,?4,1,?4,?4) RETURNING id");
    sqlite3_bind_int64(st, 1, op->tenant_id);
    sqlite3_bind_int64(st, 2, op->id);
    sqlite3_bind_text(st, 3, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, c->now);
    if ((rc = step_one(c, st, &op->id_out, false, 0))) goto out;
    rc = delivery_pending(c, op->tenant_id, op->id_out, NULL);
out:
    sqlite3_finalize(st);
    free(payload);
    free(slug);
    free(url);
    return rc;
}

/* The rows st returns: (delivery id, call id), each made pending; *n counts them. */
static int pending_rows(op_ctx *c, sqlite3_stmt *st, int64_t tenant_id, int64_t *n)
{
    /* RETURNING rows are all computed by the first step, so writing the change log while
     * stepping through them does not disturb them */
    int r;
    *n = 0;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        char *call_id = ch_col_strdup(st, 1);
        int rc = delivery_pending(c, tenant_id, sqlite3_column_int64(st, 0), call_id);
        free(call_id);
        if (rc) return rc;
        (*n)++;
    }
    if (r == SQLITE_DONE) return CH_OK;
    c->sqlite_rc = r;
    return CH_ESTORE;
}

/* Failed deliveries of an enabled endpoint go again, with a fresh retry schedule — what Svix
 * calls "recover": the receiver is back and wants what it missed. */
static int endpoint_recover(op_ctx *c, ch_op *op)
{
    int rc = endpoint_usable(c, op->tenant_id, op->id, NULL, NULL);
    if (rc) return rc;
    sqlite3_stmt *st = prepare(c, "UPDATE deliveries SET state='pending', attempts=0, manual=0,"
                                  " next_attempt_at=?4, updated_at=?4 WHERE tenant_id=?1 AND"
                                  " endpoint_id=?2 AND state='failed' AND created_at>=?3"
                                  " RETURNING id, call_id");
    sqlite3_bind_int64(st, 1, op->tenant_id);
    sqlite3_bind_int64(st, 2, op->id);
    sqlite3_bind_int64(st, 3, op->in.since_ms);
    sqlite3_bind_int64(st, 4, c->now);
    rc = pending_rows(c, st, op->tenant_id, &op->id_out);
    sqlite3_finalize(st);
    return rc;
}

static int delivery_replay(op_ctx *c, ch_op *op)
{
    sqlite3_stmt *st = prepare(c, "SELECT d.state='pending', d.endpoint_id FROM deliveries d"
                                  " WHERE d.tenant_id=?1 AND d.id=?2");
    sqlite3_bind_int64(st, 1, op->tenant_id);
    sqlite3_bind_int64(st, 2, op->id);
    int r = sqlite3_step(st), rc;
    if (r != SQLITE_ROW && r != SQLITE_DONE) c->sqlite_rc = r;
    bool pending = r == SQLITE_ROW && sqlite3_column_int(st, 0);
    int64_t endpoint_id = r == SQLITE_ROW ? sqlite3_column_int64(st, 1) : 0;
    sqlite3_finalize(st);
    if (r != SQLITE_ROW) return r == SQLITE_DONE ? CH_ENOTFOUND : CH_ESTORE;
    if (pending) return CH_EEXIST;
    if ((rc = endpoint_usable(c, op->tenant_id, endpoint_id, NULL, NULL)))
        return rc == CH_ENOTFOUND ? CH_EDISABLED : rc; /* removed */
    st = prepare(c, "UPDATE deliveries SET state='pending', manual=1, next_attempt_at=?3,"
                    " updated_at=?3 WHERE tenant_id=?1 AND id=?2 RETURNING id, call_id");
    sqlite3_bind_int64(st, 1, op->tenant_id);
    sqlite3_bind_int64(st, 2, op->id);
    sqlite3_bind_int64(st, 3, c->now);
    int64_t n;
    rc = pending_rows(c, st, op->tenant_id, &n);
    sqlite3_finalize(st);
    return rc;
}

/* ---- enrichment --------------------------------------------------------------------- */

static int pipeline_set(op_ctx *c, ch_op *op)
{
    sqlite3_stmt *st = prepare(c, "UPDATE tenants SET pipeline=?2 WHERE id=?1 RETURNING id");
    sqlite3_bind_int64(st, 1, op->tenant_id);
    ch_bind_text(st, 2, op->in.text);
    int rc = step_one(c, st, NULL, false, 0);
    sqlite3_finalize(st);
    return rc;
}

static int dict_add(op_ctx *c, ch_op *op)
{
    sqlite3_stmt *st = prepare(c, "SELECT COUNT(*) FROM dictionary WHERE tenant_id=?1 AND NOT"
                                  " (kind=?2 AND name=?3)");
    sqlite3_bind_int64(st, 1, op->tenant_id);
    sqlite3_bind_text(st, 2, op->in.dict.kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, op->in.dict.name, -1, SQLITE_STATIC);
    int64_t n = 0;
    int rc = step_one(c, st, &n, false, 0);
    sqlite3_finalize(st);
    if (rc) return rc;
    if (n >= CH_DICT_ENTRIES_MAX) return CH_ELIMIT;
    st = prepare(c, "INSERT INTO dictionary(tenant_id, kind, name, synonyms, created_at)"
                    " VALUES(?1,?2,?3,?4,?5) ON CONFLICT(tenant_id, kind, name) DO UPDATE SET"
                    " synonyms=excluded.synonyms");
    sqlite3_bind_int64(st, 1, op->tenant_id);
    sqlite3_bind_text(st, 2, op->in.dict.kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, op->in.dict.name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, op->in.dict.synonyms ? op->in.dict.synonyms : "[]", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, c->now);
    rc = step_one(c, st, NULL, true, 0);
    sqlite3_finalize(st);
    return rc;
}

static int dict_remove(op_ctx *c, ch_op *op)
{
    sqlite3_stmt *st = prepare(c, "DELETE FROM dictionary WHERE tenant_id=?1 AND kind=?2 AND"
                                  " name=?3 RETURNING 1");
    sqlite3_bind_int64(st, 1, op->tenant_id);
    sqlite3_bind_text(st, 2, op->in.dict.kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, op->in.dict.name, -1, SQLITE_STATIC);
    int rc = step_one(c, st, NULL, false, 0);
    sqlite3_finalize(st);
    return rc;
}

static int source_media(op_ctx *c, ch_op *op)
{
    sqlite3_stmt *st = prepare(c, "UPDATE credentials SET media=?3 WHERE tenant_id=?1 AND id=?2"
                                  " RETURNING id");
    sqlite3_bind_int64(st, 1, op->tenant_id);
    sqlite3_bind_int64(st, 2, op->id);
    ch_bind_text(st, 3, op->in.text);
    int rc = step_one(c, st, NULL, false, 0);
    sqlite3_finalize(st);
    return rc;
}

/* ---- dashboard users and sessions ---------------------------------------------------- */

static int user_add(op_ctx *c, ch_op *op)
{
    sqlite3_stmt *st = prepare(c, "INSERT INTO users(tenant_id, email, role, password_hash,"
                                  " created_at, updated_at) SELECT ?1,?2,?3,?4,?5,?5"
                                  " WHERE EXISTS (SELECT 1 FROM tenants WHERE id=?1) RETURNING id");
    sqlite3_bind_int64(st, 1, op->tenant_id);
    ch_bind_text(st, 2, op->in.user.email);
    ch_bind_text(st, 3, op->in.user.role ? op->in.user.role : "admin");
    ch_bind_text(st, 4, op->in.user.password_hash);
    sqlite3_bind_int64(st, 5, c->now);
    int rc = step_one(c, st, &op->id_out, false, CH_EEXIST);
    sqlite3_finalize(st);
    return rc;
}

/* Ends every session of the user (tenant, email): a new password or a removal must not leave a
 * signed-in browser behind. */
static int user_sessions_end(op_ctx *c, ch_op *op)
{
    sqlite3_stmt *st = prepare(c, "DELETE FROM sessions WHERE user_id=(SELECT id FROM users"
                                  " WHERE tenant_id=?1 AND email=?2)");
    sqlite3_bind_int64(st, 1, op->tenant_id);
    ch_bind_text(st, 2, op->in.user.email);
    int rc = step_one(c, st, NULL, true, 0);
    sqlite3_finalize(st);
    return rc;
}

static int user_passwd(op_ctx *c, ch_op *op)
{
    int rc = user_sessions_end(c, op);
    if (rc) return rc;
    sqlite3_stmt *st = prepare(c, "UPDATE users SET password_hash=?3, updated_at=?4"
                                  " WHERE tenant_id=?1 AND email=?2 RETURNING id");
    sqlite3_bind_int64(st, 1, op->tenant_id);
    ch_bind_text(st, 2, op->in.user.email);
    ch_bind_text(st, 3, op->in.user.password_hash);
    sqlite3_bind_int64(st, 4, c->now);
    rc = step_one(c, st, &op->id_out, false, 0);
    sqlite3_finalize(st);
    return rc;
}

static int user_remove(op_ctx *c, ch_op *op)
{
    int rc = user_sessions_end(c, op);
    if (rc) return rc;
    sqlite3_stmt *st = prepare(c, "DELETE FROM users WHERE tenant_id=?1 AND email=?2 RETURNING id");
    sqlite3_bind_int64(st, 1, op->tenant_id);
    ch_bind_text(st, 2, op->in.user.email);
    rc = step_one(c, st, &op->id_out, false, 0);
    sqlite3_finalize(st);
    return rc;
}

static int session_add(op_ctx *c, ch_op *op)
{
    /* the sweep: sign-ins are rare next to requests, and each one clears what expired */
    sqlite3_stmt *st =
        prepare(c, "DELETE FROM sessions WHERE last_seen_at < ?1 OR created_at < ?2");
    sqlite3_bind_int64(st, 1, c->now - op->in.session.idle_ms);
    sqlite3_bind_int64(st, 2, c->now - op->in.session.max_ms);
    int rc = step_one(c, st, NULL, true, 0);
    sqlite3_finalize(st);
    if (rc) return rc;
    st = prepare(c, "INSERT INTO sessions(id_hash, user_id, tenant_id, csrf, created_at,"
                    " last_seen_at) SELECT ?1, id, tenant_id, ?3, ?4, ?4 FROM users"
                    " WHERE id=?2 AND tenant_id=?5 RETURNING 0");
    ch_bind_text(st, 1, op->in.session.id_hash);
    sqlite3_bind_int64(st, 2, op->id);
    ch_bind_text(st, 3, op->in.session.csrf);
    sqlite3_bind_int64(st, 4, c->now);
    sqlite3_bind_int64(st, 5, op->tenant_id);
    rc = step_one(c, st, NULL, false, CH_EEXIST);
    sqlite3_finalize(st);
    return rc;
}

static int session_touch(op_ctx *c, ch_op *op)
{
    sqlite3_stmt *st =
        prepare(c, "UPDATE sessions SET last_seen_at=MAX(last_seen_at, ?2) WHERE id_hash=?1");
    ch_bind_text(st, 1, op->in.session.id_hash);
    sqlite3_bind_int64(st, 2, c->now);
    int rc = step_one(c, st, NULL, true, 0);
    sqlite3_finalize(st);
    return rc;
}

static int session_remove(op_ctx *c, ch_op *op)
{
    sqlite3_stmt *st = prepare(c, "DELETE FROM sessions WHERE id_hash=?1");
    ch_bind_text(st, 1, op->in.session.id_hash);
    int rc = step_one(c, st, NULL, true, 0);
    sqlite3_finalize(st);
    return rc;
}

/* A new password, token or signing secret for an enabled source; the others stay. */
static int source_rotate(op_ctx *c, ch_op *op)
{
    const ch_credential *cr = op->in.credential;
    sqlite3_stmt *st = prepare(c, "UPDATE credentials SET password_hash=COALESCE(?3,password_hash),"
                                  " token_hash=COALESCE(?4,token_hash),"
                                  " signing_secret=COALESCE(?5,signing_secret)"
                                  " WHERE tenant_id=?1 AND id=?2 AND enabled=1 RETURNING id");
    sqlite3_bind_int64(st, 1, op->tenant_id);
    sqlite3_bind_int64(st, 2, op->id);
    ch_bind_text(st, 3, cr->password_hash);
    ch_bind_text(st, 4, cr->token_hash);
    ch_bind_text(st, 5, cr->signing_secret);
    int rc = step_one(c, st, NULL, false, 0);
    sqlite3_finalize(st);
    return rc;
}

static int apply(op_ctx *c, ch_op *op)
{
    switch (op->kind) {
    case CH_OP_TENANT_ADD:
        return tenant_add(c, op);
    case CH_OP_TENANT_SET_RETRY:
        return tenant_set_retry(c, op);
    case CH_OP_CREDENTIAL_ADD:
        return credential_add(c, op);
    case CH_OP_APIKEY_ADD:
        return apikey_add(c, op);
    case CH_OP_EMPLOYEE_ADD:
        return employee_add(c, op);
    case CH_OP_LEAD_ADD:
        return lead_add(c, op);
    case CH_OP_ENDPOINT_ADD:
        return endpoint_add(c, op);
    case CH_OP_ENDPOINT_UPDATE:
        return endpoint_update(c, op);
    case CH_OP_ENDPOINT_ENABLE:
        return endpoint_enable(c, op);
    case CH_OP_ENDPOINT_ROTATE:
        return endpoint_rotate(c, op);
    case CH_OP_ENDPOINT_REMOVE:
        return endpoint_remove(c, op);
    case CH_OP_ENDPOINT_TEST:
        return endpoint_test(c, op);
    case CH_OP_ENDPOINT_RECOVER:
        return endpoint_recover(c, op);
    case CH_OP_DELIVERY_REPLAY:
        return delivery_replay(c, op);
    case CH_OP_PIPELINE_SET:
        return pipeline_set(c, op);
    case CH_OP_DICT_ADD:
        return dict_add(c, op);
    case CH_OP_DICT_REMOVE:
        return dict_remove(c, op);
    case CH_OP_SOURCE_MEDIA:
        return source_media(c, op);
    case CH_OP_SOURCE_ROTATE:
        return source_rotate(c, op);
    case CH_OP_STAGE_RESULT: /* the engine's own (store/engine.c) */
    case CH_OP_PIPELINE_EXPIRE:
    case CH_OP_RECORDING_FORGET:
        break;
    case CH_OP_USER_ADD:
        return user_add(c, op);
    case CH_OP_USER_PASSWD:
        return user_passwd(c, op);
    case CH_OP_USER_REMOVE:
        return user_remove(c, op);
    case CH_OP_SESSION_ADD:
        return session_add(c, op);
    case CH_OP_SESSION_TOUCH:
        return session_touch(c, op);
    case CH_OP_SESSION_REMOVE:
        return session_remove(c, op);
    }
    return CH_EINVAL;
}

int ch_sqlite_op_run(sqlite3 *db, ch_change_log *changes, int64_t now, ch_op *op, int *sqlite_rc)
{
    op_ctx c = {.db = db, .changes = changes, .now = now, .sqlite_rc = SQLITE_OK};
    op->id_out = 0;
    int rc = apply(&c, op);
    *sqlite_rc =
        rc == CH_ESTORE ? (c.sqlite_rc != SQLITE_OK ? c.sqlite_rc : SQLITE_ERROR) : SQLITE_OK;
    return rc;
}
