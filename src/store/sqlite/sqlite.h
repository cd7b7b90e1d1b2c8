/* The SQLite backend (store/backend.h): shared by the files of src/store/sqlite/; nothing
 * outside this folder includes it. */
#ifndef CH_SQLITE_INTERNAL_H
#define CH_SQLITE_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>

#include "store/store.h"

#include "store/backend.h"

typedef struct sqlite_writer sqlite_writer; /* write.c: the writer's statements and state */

/* The SQLite backend's state (ch_backend of store/backend.h). */
typedef struct {
    ch_store_opts opts;
    char *path;
    /* the write connection, used by the engine's writer thread only */
    sqlite3 *wdb;
    sqlite_writer *w;
    struct sqlite_jobs *jobs; /* jobs.c: the pipeline's statements on the write connection */
    /* checkpointer: moves WAL pages into the database file off the writer's path */
    pthread_t checkpointer;
    pthread_mutex_t ckpt_lock;
    pthread_cond_t ckpt_wake;
    bool ckpt_stop;
    atomic_int ckpt_backfilled; /* WAL frames the last background checkpoint left copied */
    /* read pool */
    sqlite3 **readers;
    int nreaders, free_top;
    sqlite3 **free_stack;
    pthread_mutex_t rlock;
    pthread_cond_t rfree;
} ch_sqlite;

static inline ch_sqlite *Q(ch_backend *b)
{
    return (ch_sqlite *)b;
}

/* Opens a connection with callhook's settings (WAL, FULL sync, busy timeout). */
int ch_sqlite_open(const char *path, bool readonly, sqlite3 **out);
/* Creates/upgrades the schema on db. */
int ch_sqlite_migrate(sqlite3 *db, int *version_out);
int ch_sqlite_exec(sqlite3 *db, const char *sql);
void ch_sqlite_log_error(sqlite3 *db, const char *what, int rc);

/* A connection of the read pool (waits for one to be free), and its return. */
sqlite3 *ch_sqlite_reader(ch_backend *b);
void ch_sqlite_reader_done(ch_backend *b, sqlite3 *db);

/* A tenant row: "SELECT " CH_SQLITE_TENANT_COLS " FROM tenants …", read by
 * ch_sqlite_tenant_row (reads.c). */
#define CH_SQLITE_TENANT_COLS                                                                      \
    "id, slug, COALESCE(name,''), COALESCE(NULLIF(timezone,''),'UTC'), COALESCE(country_code,'')," \
    " COALESCE(monthly_limit,0), COALESCE(hard_limit,0), COALESCE(features,'')"
void ch_sqlite_tenant_row(sqlite3_stmt *st, ch_tenant *t);

/* Text column or NULL, copied. */
char *ch_col_strdup(sqlite3_stmt *st, int col);
/* Integer column, or CH_NUM_UNSET when NULL. */
int64_t ch_col_i64(sqlite3_stmt *st, int col);
/* Binds text, NULL when s is NULL. */
int ch_bind_text(sqlite3_stmt *st, int idx, const char *s);
/* Binds an integer, NULL when CH_NUM_UNSET. */
int ch_bind_i64(sqlite3_stmt *st, int idx, int64_t v);

/* The text of a call that `q` searches (docs/internals/call-search.md), as one SQL expression
 * over the call row p ("new", "old", "c"): caller name, numbers, transcript, summary and the
 * enrichment's transcript and summary, one field a line, lowered as SQLite's lower() does
 * (ASCII). The FTS5 table calls_fts indexes exactly this; the bounded scans test instr() on it,
 * so both ways of answering match the same calls. */
#define CH_SQLITE_CALL_TEXT(p)                                                                     \
    "lower(coalesce(" p ".caller_name,'')||char(10)||coalesce(" p ".from_raw,'')||char(10)||"      \
    "coalesce(" p ".to_raw,'')||char(10)||coalesce(" p ".from_e164,'')||char(10)||"                \
    "coalesce(" p ".to_e164,'')||char(10)||coalesce(" p ".transcript,'')||char(10)||"              \
    "coalesce(" p ".summary,'')||char(10)||coalesce(CASE WHEN json_valid(" p ".enriched) THEN"     \
    " json_extract(" p ".enriched,'$.transcript') END,'')||char(10)||coalesce(CASE WHEN"           \
    " json_valid(" p ".enriched) THEN json_extract(" p ".enriched,'$.summary') END,''))"
/* The condition of the partial indexes calls_from_e164 and calls_to_e164 (migration 11), side
 * "from" or "to": a query must repeat it word for word for SQLite to use them. */
#define CH_SQLITE_E164_DIFFERS(side) side "_e164 IS NOT " side "_raw"

/* the columns CH_SQLITE_CALL_TEXT reads: an UPDATE setting none of them leaves the text as is */
#define CH_SQLITE_CALL_TEXT_COLUMNS                                                                \
    "caller_name, from_raw, to_raw, from_e164, to_e164, transcript, summary, enriched"

/* Brings calls_fts up to date with calls_fts_dirty (migration 10), inside the caller's write
 * transaction: the writer runs it in the commit of a batch once enough calls wait (write.c,
 * fts_flush; its three statements are ch_sqlite_fts_flush_sql, prepared once there), the
 * backend when it opens. SQLite result. */
int ch_sqlite_fts_flush(sqlite3 *db);
extern const char *const ch_sqlite_fts_flush_sql[3];

/* The list's ways of finding a page (reads.c), for tests/unit/test_query.c's plans: the way
 * ch_sqlite_list_calls takes first for f (window: the text's bounded scan, else its index),
 * and that way's statement, bound. */
int ch_sqlite_list_way(const ch_call_filter *f, bool window);
int ch_sqlite_list_query(sqlite3 *db, int64_t tenant_id, const ch_call_filter *f, int way,
                         sqlite3_stmt **out);

/* The call as the read API shows it (without events), read on db — the writer's connection
 * sees its own open transaction. NULL when there is no such call. */
json_t *ch_sqlite_call_json(sqlite3 *db, int64_t tenant_id, const char *call_id);

/* The changes a transaction makes (changes.c): each is written to the durable log at once
 * (seq = its rowid) and kept here until the commit publishes it, or a rollback drops it. */
typedef struct {
    sqlite3 *db;
    sqlite3_stmt *insert, *prune;
    ch_change *v;
    size_t n, cap;
    int64_t now;
    int64_t keep, keep_ms, since_prune;
} ch_change_log;

void ch_change_log_init(ch_change_log *l, sqlite3 *db, int64_t keep, int64_t keep_ms);
void ch_change_log_free(ch_change_log *l);
/* Writes one change; an SQLite code. call_id may be NULL. */
int ch_change_log_add(ch_change_log *l, int64_t tenant_id, ch_change_kind kind, const char *call_id,
                      int64_t delivery_id, int64_t version);
/* Drops what was retained beyond the limits, a bounded chunk at a time, inside the writer's
 * transaction; an SQLite code. */
int ch_change_log_prune(ch_change_log *l);

/* Runs one administrative op on the writer's connection, inside its open transaction (ops.c):
 * a CH_ code; on CH_ESTORE *sqlite_rc holds the SQLite error. */
int ch_sqlite_op_run(sqlite3 *db, ch_change_log *changes, int64_t now, ch_op *op, int *sqlite_rc);

/* ---- the backend table's functions (backend.c assembles them) ---- */
int ch_sqlite_migrate_path(const char *path, int *version_out);
int ch_sqlite_backend_open(const char *path, const ch_store_opts *opts, ch_backend **out);
void ch_sqlite_backend_close(ch_backend *b);
int64_t ch_sqlite_changes_head(ch_backend *b);
/* write.c: the writer's side */
int ch_sqlite_writer_new(ch_sqlite *q);
void ch_sqlite_writer_free(ch_sqlite *q);
int ch_sqlite_tx_begin(ch_backend *b, int64_t now);
int ch_sqlite_tx_savepoint(ch_backend *b);
int ch_sqlite_tx_release(ch_backend *b);
void ch_sqlite_tx_rollback_to(ch_backend *b);
int ch_sqlite_tx_commit(ch_backend *b);
void ch_sqlite_tx_rollback(ch_backend *b);
bool ch_sqlite_tx_fatal(ch_backend *b);
void ch_sqlite_tx_changes(ch_backend *b, const ch_change **v, size_t *n);
void ch_sqlite_after_batch(ch_backend *b);
bool ch_sqlite_probe(ch_backend *b);
int ch_sqlite_event_seen(ch_backend *b, int64_t tenant_id, const char *idem_key, char **call_id);
int ch_sqlite_call_find(ch_backend *b, int64_t tenant_id, const char *provider,
                        const char *external_id, ch_call_found *out);
int ch_sqlite_usage_calls(ch_backend *b, int64_t tenant_id, const char *month, int64_t *calls);
int ch_sqlite_usage_add(ch_backend *b, int64_t tenant_id, const char *month, int64_t calls,
                        int64_t events, int64_t over_limit_calls);
int ch_sqlite_call_events(ch_backend *b, int64_t tenant_id, const char *call_id, ch_event ***out,
                          size_t *n);
int ch_sqlite_event_insert(ch_backend *b, int64_t tenant_id, const char *call_id, const ch_event *e,
                           const char *request_id);
int ch_sqlite_call_upsert(ch_backend *b, const ch_call_row *row);
int ch_sqlite_leg_upsert(ch_backend *b, int64_t tenant_id, const char *call_id, const char *leg_id,
                         const char *state_json);
int ch_sqlite_lead_touch(ch_backend *b, int64_t tenant_id, const char *phone, const char *raw,
                         const char *name);
int ch_sqlite_change_add(ch_backend *b, int64_t tenant_id, ch_change_kind kind, const char *call_id,
                         int64_t delivery_id, int64_t version);
int ch_sqlite_outbox_emit(ch_backend *b, int64_t tenant_id, const char *call_id, ch_direction dir,
                          const ch_call_plan *plan, ch_status prev_status);
int ch_sqlite_delivery_result(ch_backend *b, const ch_delivery_result *r);
int ch_sqlite_op_apply(ch_backend *b, ch_op *op);
/* reads.c, admin.c, deliveries.c, changes.c */
int ch_sqlite_tenant_lookup(ch_backend *b, const char *slug, int64_t id, ch_tenant *out);
int ch_sqlite_credentials(ch_backend *b, int64_t tenant_id, const char *provider,
                          ch_credential **out, size_t *n);
int ch_sqlite_apikey(ch_backend *b, const char *key_id, int64_t *tenant_id, char **secret_hash);
int ch_sqlite_last_received(ch_backend *b, int64_t tenant_id, const char *provider, int64_t *out);
int ch_sqlite_due_scan_open(ch_backend *b, int shard, int nshards, ch_backend_scan **out);
void ch_sqlite_due_scan_free(ch_backend_scan *sc);
int ch_sqlite_due_deliveries(ch_backend_scan *sc, int64_t now, int limit, ch_due_skip_fn skip,
                             void *skip_arg, ch_due_delivery **out, size_t *n, int64_t *next_due);
int ch_sqlite_changes_since(ch_backend *b, int64_t tenant_id, int64_t cursor, int limit,
                            ch_change_page *out);
int ch_sqlite_list_calls(ch_backend *b, int64_t tenant_id, const ch_call_filter *f, json_t **out);
int ch_sqlite_get_call(ch_backend *b, int64_t tenant_id, const char *call_id, json_t **out);
/* The list object of one call (no events), on a reader connection: CH_ENOTFOUND, CH_ESTORE. */
int ch_sqlite_call_get(ch_backend *b, int64_t tenant_id, const char *call_id, json_t **out);
int ch_sqlite_export_open(ch_backend *b, int64_t tenant_id, const ch_call_filter *f,
                          ch_backend_export **out);
int ch_sqlite_export_next(ch_backend_export *x, json_t **call);
void ch_sqlite_export_close(ch_backend_export *x);
int ch_sqlite_tenant_list(ch_backend *b, ch_tenant_usage **out, size_t *n);
int ch_sqlite_directory_list(ch_backend *b, int64_t tenant_id, bool employees,
                             ch_directory_entry **out, size_t *n);
int ch_sqlite_endpoint_list(ch_backend *b, int64_t tenant_id, int64_t id, ch_endpoint_view **out,
                            size_t *n);
int ch_sqlite_delivery_list(ch_backend *b, int64_t tenant_id, int64_t endpoint_id,
                            const char *state, int64_t before_id, int limit, ch_delivery_view **out,
                            size_t *n);
int ch_sqlite_delivery_get(ch_backend *b, int64_t tenant_id, int64_t id, ch_delivery_view *out);
int ch_sqlite_delivery_skips(ch_backend *b, int64_t tenant_id, ch_skip_view **out, size_t *n);
int ch_sqlite_tenant_retry(ch_backend *b, int64_t tenant_id, char **schedule_out);
/* write.c: records and logs a failed statement of the writer's transaction: CH_ESTORE */
int ch_sqlite_writer_failed(ch_sqlite *q, const char *what, int sqlite_rc);
/* jobs.c: the enrichment pipeline's rows */
void ch_sqlite_jobs_new(ch_sqlite *q);
void ch_sqlite_jobs_free(ch_sqlite *q);
int ch_sqlite_pipeline_settings(ch_backend *b, int64_t tenant_id, char **text);
int ch_sqlite_call_jobs(ch_backend *b, int64_t tenant_id, const char *call_id,
                        ch_job_row jobs[CH_STAGE_COUNT]);
int ch_sqlite_job_put(ch_backend *b, int64_t tenant_id, const char *call_id, const ch_job_row *j,
                      int64_t now);
int ch_sqlite_call_enrich(ch_backend *b, int64_t tenant_id, const char *call_id,
                          const char *enriched, int64_t notified, int64_t now, int64_t *version);
int ch_sqlite_call_state(ch_backend *b, int64_t tenant_id, const char *call_id, ch_call_found *out,
                         ch_direction *dir);
int ch_sqlite_usage_transcribed(ch_backend *b, int64_t tenant_id, const char *month, int64_t ms);
int ch_sqlite_jobs_due(ch_backend *b, int64_t now, int limit, const char *busy, ch_job_skip_fn skip,
                       void *arg, ch_due_job **out, size_t *n, int64_t *next_due);
int ch_sqlite_jobs_expired(ch_backend *b, int64_t now, int limit, ch_due_job **out, size_t *n);
int ch_sqlite_jobs_depth(ch_backend *b, int64_t *pending);
int ch_sqlite_recordings_expired(ch_backend *b, int64_t now, int limit, ch_expired_recording **out,
                                 size_t *n);
int ch_sqlite_recording_refs(ch_backend *b, const char *sha256, int64_t *n);
int ch_sqlite_jobs_read(ch_backend *b, int64_t tenant_id, const char *call_id,
                        ch_job_row jobs[CH_STAGE_COUNT]);
int ch_sqlite_pipeline_get(ch_backend *b, int64_t tenant_id, char **text);
int ch_sqlite_dictionary_list(ch_backend *b, int64_t tenant_id, ch_dict_view **out, size_t *n);
/* users.c */
int ch_sqlite_user_get(ch_backend *b, const char *email, ch_user *out);
int ch_sqlite_user_list(ch_backend *b, int64_t tenant_id, ch_user **out, size_t *n);
int ch_sqlite_session_get(ch_backend *b, const char *id_hash, ch_session *out);
/* trace.c */
int ch_sqlite_endpoint_health(ch_backend *b, int64_t tenant_id, ch_endpoint_health **out, size_t *n,
                              int64_t *dead_letters);
int ch_sqlite_tenant_usage(ch_backend *b, int64_t tenant_id, ch_tenant_usage *out);
int ch_sqlite_call_trace(ch_backend *b, int64_t tenant_id, const char *call_id, ch_call_trace *out);

#endif
