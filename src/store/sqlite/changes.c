/* The change feed's durable log on SQLite (docs/internals/change-feed.md): rows written by the
 * writer inside the transaction of the change, pruned by count and age, read by cursor. */
#include "store/sqlite/sqlite.h"
#include "util/limits.h"
#include "util/mem.h"
#include "util/result.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Pruning runs once per PRUNE_EVERY changes and deletes at most PRUNE_CHUNK rows: bounded work
 * inside a write transaction, and four times the rate the log grows at, so it keeps up. */
#define PRUNE_EVERY 1024
#define PRUNE_CHUNK 4096

void ch_change_log_init(ch_change_log *l, sqlite3 *db, int64_t keep, int64_t keep_ms)
{
    memset(l, 0, sizeof *l);
    l->db = db;
    l->keep = keep > 0 ? keep : CH_CHANGES_KEEP;
    l->keep_ms = keep_ms > 0 ? keep_ms : CH_CHANGES_KEEP_MS;
    static const char ins[] = "INSERT INTO changes(tenant_id, kind, call_id, delivery_id, version,"
                              " at) VALUES(?1,?2,?3,?4,?5,?6)";
    /* the newest row always stays: seq is max(rowid)+1, so an empty table would hand out old
     * seqs again */
    static const char prune[] =
        "DELETE FROM changes WHERE seq IN (SELECT seq FROM changes ORDER BY seq LIMIT ?3)"
        " AND seq < (SELECT MAX(seq) FROM changes)"
        " AND (seq <= (SELECT MAX(seq) FROM changes) - ?1 OR at < ?2)";
    if (sqlite3_prepare_v3(db, ins, -1, SQLITE_PREPARE_PERSISTENT, &l->insert, NULL) != SQLITE_OK ||
        sqlite3_prepare_v3(db, prune, -1, SQLITE_PREPARE_PERSISTENT, &l->prune, NULL) !=
            SQLITE_OK) {
        ch_sqlite_log_error(db, "changes", sqlite3_errcode(db));
        abort(); /* our own schema: a statement that does not prepare is a bug */
    }
}

void ch_change_log_free(ch_change_log *l)
{
    sqlite3_finalize(l->insert);
    sqlite3_finalize(l->prune);
    free(l->v);
    memset(l, 0, sizeof *l);
}

int ch_change_log_add(ch_change_log *l, int64_t tenant_id, ch_change_kind kind, const char *call_id,
                      int64_t delivery_id, int64_t version)
{
    sqlite3_stmt *st = l->insert;
    sqlite3_bind_int64(st, 1, tenant_id);
    sqlite3_bind_text(st, 2, ch_change_kind_str(kind), -1, SQLITE_STATIC);
    ch_bind_text(st, 3, call_id);
    if (delivery_id > 0) sqlite3_bind_int64(st, 4, delivery_id);
    if (version > 0) sqlite3_bind_int64(st, 5, version);
    sqlite3_bind_int64(st, 6, l->now);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE) return rc;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = ch_realloc(l->v, l->cap * sizeof *l->v);
    }
    ch_change *c = &l->v[l->n++];
    c->seq = sqlite3_last_insert_rowid(l->db);
    c->tenant_id = tenant_id;
    c->kind = kind;
    snprintf(c->call_id, sizeof c->call_id, "%s", call_id ? call_id : "");
    c->delivery_id = delivery_id;
    c->version = version;
    c->at = l->now;
    l->since_prune++;
    return SQLITE_OK;
}

int ch_change_log_prune(ch_change_log *l)
{
    if (l->since_prune < PRUNE_EVERY) return SQLITE_OK;
    l->since_prune = 0;
    sqlite3_stmt *st = l->prune;
    sqlite3_bind_int64(st, 1, l->keep);
    sqlite3_bind_int64(st, 2, l->now - l->keep_ms);
    sqlite3_bind_int(st, 3, PRUNE_CHUNK);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* ---- reading ------------------------------------------------------------------------ */

int ch_sqlite_changes_since(ch_backend *b, int64_t tenant_id, int64_t cursor, int limit,
                            ch_change_page *out)
{
    memset(out, 0, sizeof *out);
    if (cursor < 0 || limit < 1 || limit > CH_CHANGES_MAX_LIMIT) return CH_EINVAL;
    sqlite3 *db = ch_sqlite_reader(b);
    sqlite3_stmt *st = NULL;
    int rc = CH_ESTORE;
    /* one read transaction: the bounds and the rows come from the same snapshot */
    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) goto out;
    int64_t oldest = 0, head = 0;
    if (sqlite3_prepare_v2(db, "SELECT COALESCE(MIN(seq),0), COALESCE(MAX(seq),0) FROM changes", -1,
                           &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW)
        goto out;
    oldest = sqlite3_column_int64(st, 0);
    head = sqlite3_column_int64(st, 1);
    sqlite3_finalize(st);
    st = NULL;
    out->head = head;
    /* older than what is kept (rows after the cursor were pruned), or from another database */
    if (cursor > head || (oldest > 0 && cursor < oldest - 1)) {
        out->reset = true;
        out->next_cursor = head;
        rc = CH_OK;
        goto out;
    }
    const char *q = tenant_id ? "SELECT seq, tenant_id, kind, call_id, delivery_id, version, at"
                                " FROM changes WHERE tenant_id=?3 AND seq>?1 ORDER BY seq LIMIT ?2"
                              : "SELECT seq, tenant_id, kind, call_id, delivery_id, version, at"
                                " FROM changes WHERE seq>?1 ORDER BY seq LIMIT ?2";
    if (sqlite3_prepare_v2(db, q, -1, &st, NULL) != SQLITE_OK) goto out;
    sqlite3_bind_int64(st, 1, cursor);
    sqlite3_bind_int(st, 2, limit);
    if (tenant_id) sqlite3_bind_int64(st, 3, tenant_id);
    out->v = ch_calloc((size_t)limit, sizeof *out->v);
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        ch_change *c = &out->v[out->n++];
        c->seq = sqlite3_column_int64(st, 0);
        c->tenant_id = sqlite3_column_int64(st, 1);
        c->kind = ch_change_kind_parse((const char *)sqlite3_column_text(st, 2));
        const unsigned char *cid = sqlite3_column_text(st, 3);
        snprintf(c->call_id, sizeof c->call_id, "%s", cid ? (const char *)cid : "");
        c->delivery_id = sqlite3_column_int64(st, 4);
        c->version = sqlite3_column_int64(st, 5);
        c->at = sqlite3_column_int64(st, 6);
    }
    if (r != SQLITE_DONE) goto out;
    /* a short page read everything up to head in this snapshot: the next read starts there
     * (a tenant's reader does not scan other tenants' changes again) */
    out->next_cursor =
        out->n == (size_t)limit ? out->v[out->n - 1].seq : (head > cursor ? head : cursor);
    rc = CH_OK;
out:
    sqlite3_finalize(st);
    if (!sqlite3_get_autocommit(db)) sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    ch_sqlite_reader_done(b, db);
    if (rc != CH_OK) ch_change_page_clear(out);
    return rc;
}
