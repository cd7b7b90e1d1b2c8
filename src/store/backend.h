/* The store backend table (docs/internals/store-backend.md), in the shape of curl's TLS
 * backends: the engine (store/engine.c: queue, group commit, merge driving, limits, ids of
 * calls, the change feed) and the public functions of store/store.h are written once; a
 * backend supplies the database — its transaction, the rows the engine reads and writes, the
 * administrative operations and the reads — behind this table. The database URL chooses the
 * backend (`sqlite:PATH` or a plain path today; `postgresql://…` later).
 *
 * Contract, for every backend:
 * - CH_ codes only (util/result.h): a backend converts its own errors at this boundary. A
 *   write that fails for the database as a whole (full disk, I/O, lost connection) answers
 *   CH_ESTORE and makes tx_fatal() true until the next tx_begin.
 * - The tx_* and write operations run only on the writer thread, inside the transaction that
 *   tx_begin opened; each job runs under a savepoint (tx_savepoint … tx_release or
 *   tx_rollback_to), and rolling a job back also forgets what it left in memory (its change
 *   records, its outbox counters).
 * - Ids of new rows come from the backend (sequences, or what its locking makes safe), never
 *   from the engine.
 * - Every change a subscriber must learn of is written with change_add in the transaction of
 *   the change; tx_changes hands the committed batch's records over, in commit order, for the
 *   engine to publish. The cursor of the durable log must stay monotonic in commit order on
 *   the backend (docs/internals/change-feed.md).
 * - Reads run on any thread, on connections of their own, and return C values (core/model.h,
 *   core/calljson.h, core/views.h); the JSON is built once, in core, from those.
 * The conformance suite is tests/unit/test_store.c: every backend must pass it. */
#ifndef CH_STORE_BACKEND_H
#define CH_STORE_BACKEND_H

#include "core/lifecycle.h"
#include "core/trace.h"
#include "core/views.h"
#include "store/store.h"

typedef struct ch_backend ch_backend; /* a backend's own state */

/* A call as the writer finds it before a change. */
typedef struct {
    char id[CH_CHANGE_CALL_ID];
    bool over_limit;
    int64_t created_at;
    int64_t version; /* before the change */
    ch_call_before before;
} ch_call_found;

/* A call's merged state as the writer stores it. */
typedef struct {
    int64_t tenant_id;
    const char *id, *provider, *external_id;
    bool over_limit;
    int64_t created_at, sort_ts, updated_at;
    const ch_callstate *state;
    const char *metadata; /* JSON text, or NULL */
    const char *enriched; /* the pipeline's output (JSON text); NULL: left as it is */
    int64_t notified, state_hash;
} ch_call_row;

/* A backend's read iterators, wrapped by the engine (store.c). */
typedef struct ch_backend_scan ch_backend_scan;
typedef struct ch_backend_export ch_backend_export;

typedef struct {
    const char *name;
    bool local_file; /* the database is a file of this machine, location its path */
    /* True when url names a database of this backend; *location is what open and migrate
     * take (points into url). */
    bool (*claims)(const char *url, const char **location);
    int (*migrate)(const char *location, int *version_out);
    int (*open)(const char *location, const ch_store_opts *opts, ch_backend **out);
    void (*close)(ch_backend *b); /* after the writer stopped */
    /* the newest seq of the durable change log (the feed's head at start) */
    int64_t (*changes_head)(ch_backend *b);

    /* ---- the writer's transaction ---- */
    int (*tx_begin)(ch_backend *b, int64_t now);
    int (*tx_savepoint)(ch_backend *b);
    int (*tx_release)(ch_backend *b);
    void (*tx_rollback_to)(ch_backend *b);
    int (*tx_commit)(ch_backend *b); /* writes what the batch accumulated, then commits */
    void (*tx_rollback)(ch_backend *b);
    bool (*tx_fatal)(ch_backend *b);
    void (*tx_changes)(ch_backend *b, const ch_change **v, size_t *n);
    void (*after_batch)(ch_backend *b); /* housekeeping between batches (e.g. the WAL) */
    bool (*probe)(ch_backend *b);       /* can the database take a write? (nothing kept) */

    /* ---- rows, inside the transaction ---- */
    /* CH_OK with the call of an event already stored under idem_key, or CH_ENOTFOUND */
    int (*event_seen)(ch_backend *b, int64_t tenant_id, const char *idem_key, char **call_id);
    /* CH_OK, or CH_ENOTFOUND for a call not seen yet */
    int (*call_find)(ch_backend *b, int64_t tenant_id, const char *provider,
                     const char *external_id, ch_call_found *out);
    int (*usage_calls)(ch_backend *b, int64_t tenant_id, const char *month, int64_t *calls);
    int (*usage_add)(ch_backend *b, int64_t tenant_id, const char *month, int64_t calls,
                     int64_t events, int64_t over_limit_calls);
    /* the events stored for the call (as ch_event_from_json reads them back) */
    int (*call_events)(ch_backend *b, int64_t tenant_id, const char *call_id, ch_event ***out,
                       size_t *n);
    int (*event_insert)(ch_backend *b, int64_t tenant_id, const char *call_id, const ch_event *e,
                        const char *request_id);
    int (*call_upsert)(ch_backend *b, const ch_call_row *row);
    int (*leg_upsert)(ch_backend *b, int64_t tenant_id, const char *call_id, const char *leg_id,
                      const char *state_json);
    /* an external number heard on a call becomes a lead; a known one gets a missing name */
    int (*lead_touch)(ch_backend *b, int64_t tenant_id, const char *phone, const char *raw,
                      const char *name);
    int (*change_add)(ch_backend *b, int64_t tenant_id, ch_change_kind kind, const char *call_id,
                      int64_t delivery_id, int64_t version);
    /* the plan's messages for the call (written already in this transaction) and their
     * deliveries, or the skip counted */
    int (*outbox_emit)(ch_backend *b, int64_t tenant_id, const char *call_id, ch_direction dir,
                       const ch_call_plan *plan, ch_status prev_status);
    int (*delivery_result)(ch_backend *b, const ch_delivery_result *r);
    /* enrichment (core/pipeline.h): the tenant's settings (JSON text or NULL), a call's
     * jobs, one job written whole, the call's enriched output with its lifecycle bits
     * (version + 1; CH_ENOTFOUND), the call as a stage result finds it, the usage's
     * transcribed time */
    int (*pipeline_settings)(ch_backend *b, int64_t tenant_id, char **text);
    int (*call_jobs)(ch_backend *b, int64_t tenant_id, const char *call_id,
                     ch_job_row jobs[CH_STAGE_COUNT]);
    int (*job_put)(ch_backend *b, int64_t tenant_id, const char *call_id, const ch_job_row *j,
                   int64_t now);
    int (*call_enrich)(ch_backend *b, int64_t tenant_id, const char *call_id, const char *enriched,
                       int64_t notified, int64_t now, int64_t *version);
    int (*call_state)(ch_backend *b, int64_t tenant_id, const char *call_id, ch_call_found *out,
                      ch_direction *dir);
    int (*usage_transcribed)(ch_backend *b, int64_t tenant_id, const char *month, int64_t ms);
    int (*op_apply)(ch_backend *b, ch_op *op);

    /* ---- reads (any thread) ---- */
    int (*tenant_lookup)(ch_backend *b, const char *slug, int64_t id, ch_tenant *out);
    int (*credentials)(ch_backend *b, int64_t tenant_id, const char *provider, ch_credential **out,
                       size_t *n);
    int (*apikey)(ch_backend *b, const char *key_id, int64_t *tenant_id, char **secret_hash);
    int (*last_received)(ch_backend *b, int64_t tenant_id, const char *provider, int64_t *out);
    int (*due_scan_open)(ch_backend *b, int shard, int nshards, ch_backend_scan **out);
    void (*due_scan_free)(ch_backend_scan *sc);
    int (*due_deliveries)(ch_backend_scan *sc, int64_t now, int limit, ch_due_skip_fn skip,
                          void *skip_arg, ch_due_delivery **out, size_t *n, int64_t *next_due);
    int (*changes_since)(ch_backend *b, int64_t tenant_id, int64_t cursor, int limit,
                         ch_change_page *out);
    int (*list_calls)(ch_backend *b, int64_t tenant_id, const ch_call_filter *f, json_t **out);
    int (*get_call)(ch_backend *b, int64_t tenant_id, const char *call_id, json_t **out);
    /* the call as the list serves it (no events); CH_ENOTFOUND */
    int (*call_json)(ch_backend *b, int64_t tenant_id, const char *call_id, json_t **out);
    int (*export_open)(ch_backend *b, int64_t tenant_id, const ch_call_filter *f,
                       ch_backend_export **out);
    int (*export_next)(ch_backend_export *x, json_t **call);
    void (*export_close)(ch_backend_export *x);
    int (*tenant_list)(ch_backend *b, ch_tenant_usage **out, size_t *n);
    int (*directory_list)(ch_backend *b, int64_t tenant_id, bool employees,
                          ch_directory_entry **out, size_t *n);
    int (*endpoint_list)(ch_backend *b, int64_t tenant_id, int64_t id, ch_endpoint_view **out,
                         size_t *n);
    int (*delivery_list)(ch_backend *b, int64_t tenant_id, int64_t endpoint_id, const char *state,
                         int64_t before_id, int limit, ch_delivery_view **out, size_t *n);
    /* CH_ENOTFOUND when the tenant has no such delivery */
    int (*delivery_get)(ch_backend *b, int64_t tenant_id, int64_t id, ch_delivery_view *out);
    int (*delivery_skips)(ch_backend *b, int64_t tenant_id, ch_skip_view **out, size_t *n);
    int (*tenant_retry)(ch_backend *b, int64_t tenant_id, char **schedule_out);
    int (*jobs_due)(ch_backend *b, int64_t now, int limit, const char *busy, ch_job_skip_fn skip,
                    void *arg, ch_due_job **out, size_t *n, int64_t *next_due);
    int (*jobs_expired)(ch_backend *b, int64_t now, int limit, ch_due_job **out, size_t *n);
    int (*jobs_depth)(ch_backend *b, int64_t *pending);
    int (*recordings_expired)(ch_backend *b, int64_t now, int limit, ch_expired_recording **out,
                              size_t *n);
    int (*recording_refs)(ch_backend *b, const char *sha256, int64_t *n);
    int (*jobs_read)(ch_backend *b, int64_t tenant_id, const char *call_id,
                     ch_job_row jobs[CH_STAGE_COUNT]);
    int (*pipeline_get)(ch_backend *b, int64_t tenant_id, char **text); /* CH_ENOTFOUND */
    int (*dictionary_list)(ch_backend *b, int64_t tenant_id, ch_dict_view **out, size_t *n);
    /* the rows of a call's trace (core/trace.h) in one snapshot, with the tenant's endpoints
     * as they are now; CH_ENOTFOUND when the tenant has no such call */
    int (*call_trace)(ch_backend *b, int64_t tenant_id, const char *call_id, ch_call_trace *out);
    /* dashboard users and sessions: CH_ENOTFOUND when there is none */
    int (*user_get)(ch_backend *b, const char *email, ch_user *out);
    int (*user_list)(ch_backend *b, int64_t tenant_id, ch_user **out, size_t *n);
    int (*session_get)(ch_backend *b, const char *id_hash, ch_session *out);
    int (*endpoint_health)(ch_backend *b, int64_t tenant_id, ch_endpoint_health **out, size_t *n,
                           int64_t *dead_letters);
    int (*tenant_usage)(ch_backend *b, int64_t tenant_id, ch_tenant_usage *out); /* ENOTFOUND */
} ch_store_backend;

/* The backends compiled in, in the order their claims are tried. */
extern const ch_store_backend ch_store_sqlite;

#endif
