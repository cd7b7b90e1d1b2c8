/* The outbox as the dispatcher and the tenant see it: due deliveries, delivery history with
 * attempts, replays, test messages and the "skipped" decisions (docs/webhooks.md). Writes here
 * run on a connection of their own (CLI, API) beside the writer thread, like store/admin.c. */
#include "core/payload.h"
#include "store/sqlite/sqlite.h"
#include "util/limits.h"
#include "util/crypto.h"
#include "util/mem.h"
#include "util/result.h"
#include "util/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- dispatcher ----------------------------------------------------------------------- */

/* A delivery waits while an earlier one of the same call to the same endpoint is pending
 * (ordering per call, whichever thread sends it: the later one is not due before the earlier
 * one's result is committed); deliveries of no call and manual ones do not wait. The shard is
 * a block of DUE_SHARD_BLOCK consecutive ids, so each dispatcher thread reads the pages of its
 * own runs of messages rather than every page for half of its rows, and tells rows of other
 * shards apart from the index alone. */
#define DUE_SHARD_BLOCK "64"
#define DUE_SELECT                                                                                 \
    "SELECT d.id, d.next_attempt_at, d.tenant_id, d.endpoint_id, d.call_id, d.message_id,"         \
    " m.payload, e.url, e.secret, CASE WHEN e.previous_secret_until>?1 THEN"                       \
    " e.previous_secret END, e.headers, e.timeout_ms, e.rate_limit_per_min, d.attempts,"           \
    " d.manual, t.retry_schedule, e.payload"                                                       \
    " FROM deliveries d"                                                                           \
    " JOIN endpoints e ON e.tenant_id=d.tenant_id AND e.id=d.endpoint_id"                          \
    " JOIN messages m ON m.tenant_id=d.tenant_id AND m.id=d.message_id"                            \
    " JOIN tenants t ON t.id=d.tenant_id"                                                          \
    " WHERE d.state='pending' AND d.next_attempt_at<=?1 AND e.enabled=1"                           \
    " AND (d.id / " DUE_SHARD_BLOCK ") % ?2 = ?3"                                                  \
    " AND (d.call_id IS NULL OR d.manual=1 OR NOT EXISTS (SELECT 1 FROM deliveries p"              \
    "  WHERE p.state='pending' AND p.tenant_id=d.tenant_id AND p.endpoint_id=d.endpoint_id"        \
    "  AND p.call_id=d.call_id AND p.id<d.id))"
static const char due_sql[] = DUE_SELECT " ORDER BY d.next_attempt_at, d.id";
static const char due_after_sql[] =
    DUE_SELECT " AND (d.next_attempt_at>?4 OR (d.next_attempt_at=?4 AND d.id>?5))"
               " ORDER BY d.next_attempt_at, d.id";

/* The body an endpoint gets (core/payload.h): the stored envelope (column env), or its flat
 * shape when the endpoint's payload (column shape) is "flat" and the message a call event.
 * Built when it is sent, from the message's one stored body: the endpoint's shape is read then,
 * as its URL and secret are, so a replay to a flat endpoint sends the flat body. */
static char *endpoint_body(sqlite3_stmt *st, int env, int shape)
{
    const char *text = (const char *)sqlite3_column_text(st, env);
    char *flat = text && ch_payload_shape_parse((const char *)sqlite3_column_text(st, shape)) ==
                             CH_PAYLOAD_FLAT
                     ? ch_payload_flat_from_envelope(text, (size_t)sqlite3_column_bytes(st, env))
                     : NULL;
    return flat ? flat : ch_col_strdup(st, env);
}

/* A dispatcher worker's view of the outbox: a read connection of its own with its statements
 * prepared once, and where its last fetch stopped, so a backlog is walked once instead of
 * stepping again over everything already in flight. The cursor goes back to the start whenever
 * a fetch reaches the end of what is due: deliveries passed over (an earlier one of their call
 * was pending) are looked at again then. */
struct ch_backend_scan {
    sqlite3 *db;
    sqlite3_stmt *due, *due_after, *next;
    int shard, nshards;
    bool at_cursor;
    int64_t cur_at, cur_id;
    int64_t started_at; /* when the walk from the start began */
};

/* Even in a long backlog, start over this often: a delivery that waited for an earlier one of
 * its call may sit before the cursor once that one is done. */
#define DUE_RESCAN_MS 100

static const char due_next_sql[] =
    "SELECT MIN(next_attempt_at) FROM deliveries WHERE state='pending' AND next_attempt_at>?1";

void ch_sqlite_due_scan_free(ch_backend_scan *sc)
{
    if (!sc) return;
    sqlite3_finalize(sc->due);
    sqlite3_finalize(sc->due_after);
    sqlite3_finalize(sc->next);
    sqlite3_close(sc->db);
    free(sc);
}

int ch_sqlite_due_scan_open(ch_backend *b, int shard, int nshards, ch_backend_scan **out)
{
    ch_backend_scan *sc = ch_calloc(1, sizeof *sc);
    sc->shard = shard;
    sc->nshards = nshards > 0 ? nshards : 1;
    int rc = ch_sqlite_open(Q(b)->path, true, &sc->db);
    if (rc == CH_OK && (sqlite3_prepare_v3(sc->db, due_sql, -1, SQLITE_PREPARE_PERSISTENT, &sc->due,
                                           NULL) != SQLITE_OK ||
                        sqlite3_prepare_v3(sc->db, due_after_sql, -1, SQLITE_PREPARE_PERSISTENT,
                                           &sc->due_after, NULL) != SQLITE_OK ||
                        sqlite3_prepare_v3(sc->db, due_next_sql, -1, SQLITE_PREPARE_PERSISTENT,
                                           &sc->next, NULL) != SQLITE_OK))
        rc = CH_ESTORE;
    if (rc) {
        ch_sqlite_due_scan_free(sc);
        return rc;
    }
    *out = sc;
    return CH_OK;
}

int ch_sqlite_due_deliveries(ch_backend_scan *sc, int64_t now, int limit, ch_due_skip_fn skip,
                             void *skip_arg, ch_due_delivery **out, size_t *n, int64_t *next_due)
{
    ch_due_delivery *v = ch_calloc((size_t)limit, sizeof *v);
    size_t cnt = 0;
    int rc = CH_ESTORE, r = SQLITE_DONE;
    *out = NULL;
    *n = 0;
    *next_due = CH_TIME_UNSET;
    if (sc->at_cursor && now - sc->started_at >= DUE_RESCAN_MS) sc->at_cursor = false;
    if (!sc->at_cursor) sc->started_at = now;
    sqlite3_stmt *st = sc->at_cursor ? sc->due_after : sc->due;
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int(st, 2, sc->nshards);
    sqlite3_bind_int(st, 3, sc->shard);
    if (sc->at_cursor) {
        sqlite3_bind_int64(st, 4, sc->cur_at);
        sqlite3_bind_int64(st, 5, sc->cur_id);
    }
    if (sqlite3_exec(sc->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) goto out;
    while (cnt < (size_t)limit && (r = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        sc->cur_id = id;
        sc->cur_at = sqlite3_column_int64(st, 1);
        if (skip && skip(skip_arg, id)) continue;
        ch_due_delivery *d = &v[cnt++];
        d->delivery_id = id;
        d->tenant_id = sqlite3_column_int64(st, 2);
        d->endpoint_id = sqlite3_column_int64(st, 3);
        d->call_id = ch_col_strdup(st, 4);
        d->message_id = ch_col_strdup(st, 5);
        d->payload = endpoint_body(st, 6, 16);
        d->url = ch_col_strdup(st, 7);
        d->secret = ch_col_strdup(st, 8);
        d->previous_secret = ch_col_strdup(st, 9);
        d->headers = ch_col_strdup(st, 10);
        d->timeout_ms = sqlite3_column_int64(st, 11);
        d->rate_limit_per_min = sqlite3_column_int64(st, 12);
        d->attempts = sqlite3_column_int(st, 13);
        d->manual = sqlite3_column_int(st, 14) != 0;
        d->retry_schedule = ch_col_strdup(st, 15);
    }
    if (r != SQLITE_ROW && r != SQLITE_DONE) goto end;
    /* stopped early: go on from here next time; reached the end: start over next time */
    sc->at_cursor = r == SQLITE_ROW;
    sqlite3_bind_int64(sc->next, 1, now);
    if (sqlite3_step(sc->next) == SQLITE_ROW && sqlite3_column_type(sc->next, 0) != SQLITE_NULL)
        *next_due = sqlite3_column_int64(sc->next, 0);
    rc = CH_OK;
end:
    sqlite3_reset(sc->next);
    sqlite3_reset(st);
    sqlite3_exec(sc->db, "COMMIT", NULL, NULL, NULL);
out:
    if (rc) {
        sc->at_cursor = false;
        ch_due_deliveries_free(v, cnt);
        return rc;
    }
    *out = v;
    *n = cnt;
    return CH_OK;
}

/* ---- administration ------------------------------------------------------------------- */

#define DELIVERY_COLS                                                                              \
    "d.id, d.endpoint_id, d.message_id, m.type, d.call_id, d.state, d.attempts,"                   \
    " d.next_attempt_at, d.last_status, d.last_error, d.created_at, d.updated_at, d.manual"

static void delivery_row(sqlite3_stmt *st, ch_delivery_view *d)
{
    memset(d, 0, sizeof *d);
    d->id = sqlite3_column_int64(st, 0);
    d->endpoint_id = sqlite3_column_int64(st, 1);
    d->message_id = ch_col_strdup(st, 2);
    d->type = ch_col_strdup(st, 3);
    d->call_id = ch_col_strdup(st, 4);
    d->state = ch_col_strdup(st, 5);
    d->attempts = sqlite3_column_int64(st, 6);
    d->next_attempt_at = ch_col_i64(st, 7);
    d->last_status = ch_col_i64(st, 8);
    d->last_error = ch_col_strdup(st, 9);
    d->created_at = sqlite3_column_int64(st, 10);
    d->updated_at = sqlite3_column_int64(st, 11);
    d->manual = sqlite3_column_int(st, 12) != 0;
}

int ch_sqlite_delivery_list(ch_backend *b, int64_t tenant_id, int64_t endpoint_id,
                            const char *state, int64_t before_id, int limit, ch_delivery_view **out,
                            size_t *n)
{
    sqlite3 *db = ch_sqlite_reader(b);
    sqlite3_stmt *st = NULL;
    ch_delivery_view *v = NULL;
    size_t cnt = 0;
    int rc = CH_ESTORE;
    limit = limit > 0 && limit <= CH_PAGE_LIMIT_MAX ? limit : 100;
    if (sqlite3_prepare_v2(db,
                           "SELECT " DELIVERY_COLS " FROM deliveries d JOIN messages m ON"
                           " m.tenant_id=d.tenant_id AND m.id=d.message_id WHERE d.tenant_id=?1"
                           " AND (?2=0 OR d.endpoint_id=?2) AND (?3 IS NULL OR d.state=?3)"
                           " AND (?4=0 OR d.id<?4) ORDER BY d.id DESC LIMIT ?5",
                           -1, &st, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_int64(st, 1, tenant_id);
    sqlite3_bind_int64(st, 2, endpoint_id);
    ch_bind_text(st, 3, state);
    sqlite3_bind_int64(st, 4, before_id);
    sqlite3_bind_int(st, 5, limit);
    v = ch_calloc((size_t)limit, sizeof *v);
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW && cnt < (size_t)limit)
        delivery_row(st, &v[cnt++]);
    if (r == SQLITE_DONE || r == SQLITE_ROW) rc = CH_OK;
out:
    sqlite3_finalize(st);
    ch_sqlite_reader_done(b, db);
    if (rc) {
        ch_delivery_views_free(v, cnt);
        return rc;
    }
    *out = v;
    *n = cnt;
    return CH_OK;
}

int ch_sqlite_delivery_get(ch_backend *b, int64_t tenant_id, int64_t id, ch_delivery_view *out)
{
    sqlite3 *db = ch_sqlite_reader(b);
    sqlite3_stmt *st = NULL;
    int rc = CH_ESTORE;
    memset(out, 0, sizeof *out);
    if (sqlite3_prepare_v2(db,
                           "SELECT " DELIVERY_COLS ", m.payload, (SELECT e.payload FROM endpoints e"
                           " WHERE e.tenant_id=d.tenant_id AND e.id=d.endpoint_id)"
                           " FROM deliveries d JOIN messages m"
                           " ON m.tenant_id=d.tenant_id AND m.id=d.message_id"
                           " WHERE d.tenant_id=?1 AND d.id=?2",
                           -1, &st, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_int64(st, 1, tenant_id);
    sqlite3_bind_int64(st, 2, id);
    int r = sqlite3_step(st);
    if (r != SQLITE_ROW) {
        rc = r == SQLITE_DONE ? CH_ENOTFOUND : CH_ESTORE;
        goto out;
    }
    delivery_row(st, out);
    out->payload = endpoint_body(st, 13, 14); /* what the endpoint gets */
    sqlite3_finalize(st);
    if (sqlite3_prepare_v2(db,
                           "SELECT at, status, latency_ms, response, error, trigger FROM attempts"
                           " WHERE delivery_id=?1 AND tenant_id=?2 ORDER BY id",
                           -1, &st, NULL) != SQLITE_OK) {
        st = NULL;
        goto out;
    }
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, tenant_id);
    size_t cap = 0;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (out->nlog == cap) {
            cap = cap ? cap * 2 : 8;
            out->log = ch_realloc(out->log, cap * sizeof *out->log);
        }
        ch_attempt_view *a = &out->log[out->nlog++];
        memset(a, 0, sizeof *a);
        a->at = ch_col_i64(st, 0);
        a->status = ch_col_i64(st, 1);
        a->latency_ms = sqlite3_column_int64(st, 2);
        const char *raw = sqlite3_column_blob(st, 3);
        a->response_len = (size_t)sqlite3_column_bytes(st, 3);
        a->response = raw ? ch_strndup(raw, a->response_len) : NULL;
        a->error = ch_col_strdup(st, 4);
        a->trigger = ch_col_strdup(st, 5);
    }
    rc = r == SQLITE_DONE ? CH_OK : CH_ESTORE;
out:
    sqlite3_finalize(st);
    ch_sqlite_reader_done(b, db);
    if (rc) ch_delivery_view_clear(out);
    return rc;
}

int ch_sqlite_delivery_skips(ch_backend *b, int64_t tenant_id, ch_skip_view **out, size_t *n)
{
    sqlite3 *db = ch_sqlite_reader(b);
    sqlite3_stmt *st = NULL;
    ch_skip_view *v = NULL;
    size_t cnt = 0, cap = 0;
    int rc = CH_ESTORE;
    if (sqlite3_prepare_v2(db,
                           "SELECT reason, type, count, last_at, last_call_id FROM delivery_skips"
                           " WHERE tenant_id=?1 ORDER BY last_at DESC, reason, type",
                           -1, &st, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_int64(st, 1, tenant_id);
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (cnt == cap) {
            cap = cap ? cap * 2 : 8;
            v = ch_realloc(v, cap * sizeof *v);
        }
        ch_skip_view *k = &v[cnt++];
        k->reason = ch_col_strdup(st, 0);
        k->type = ch_col_strdup(st, 1);
        k->count = sqlite3_column_int64(st, 2);
        k->last_at = ch_col_i64(st, 3);
        k->last_call_id = ch_col_strdup(st, 4);
    }
    if (r == SQLITE_DONE) rc = CH_OK;
out:
    sqlite3_finalize(st);
    ch_sqlite_reader_done(b, db);
    if (rc) {
        ch_skip_views_free(v, cnt);
        return rc;
    }
    *out = v;
    *n = cnt;
    return CH_OK;
}

int ch_sqlite_tenant_retry(ch_backend *b, int64_t tenant_id, char **schedule_out)
{
    sqlite3 *db = ch_sqlite_reader(b);
    sqlite3_stmt *st = NULL;
    *schedule_out = NULL;
    int rc = CH_ESTORE;
    if (sqlite3_prepare_v2(db, "SELECT retry_schedule FROM tenants WHERE id=?1", -1, &st, NULL) !=
        SQLITE_OK)
        goto out;
    sqlite3_bind_int64(st, 1, tenant_id);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        *schedule_out = ch_col_strdup(st, 0);
        rc = CH_OK;
    } else if (r == SQLITE_DONE) {
        rc = CH_ENOTFOUND;
    }
out:
    sqlite3_finalize(st);
    ch_sqlite_reader_done(b, db);
    return rc;
}
