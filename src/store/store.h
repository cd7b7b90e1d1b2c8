/* The store: every write and read of callhook's data. One writer thread runs whatever jobs
 * arrived meanwhile (events, delivery results, administrative operations) in one transaction
 * (group commit, docs/write-path.md); request threads read on connections of their own. The
 * database is a backend behind a table (store/backend.h, docs/internals/store-backend.md),
 * chosen by the database URL: SQLite today, PostgreSQL later, with this interface unchanged. */
#ifndef CH_STORE_H
#define CH_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/feed.h"
#include "core/model.h"
#include "core/pipeline.h"
#include "core/settle.h"
#include "core/views.h"
#include "util/limits.h"
#include "util/result.h"

typedef struct ch_store ch_store;
typedef struct ch_op ch_op; /* an administrative write (below) */

typedef struct {
    const char *path;
    int64_t max_bytes; /* 0 = no limit; beyond it writes fail like a full disk (503) */
    int read_conns;    /* size of the read pool */
    int batch_max;     /* most requests committed in one transaction */
    /* an endpoint whose messages keep exhausting their retries for this long is disabled;
     * 0 = the default, 5 days */
    int64_t disable_after_ms;
    /* retention of the change feed's durable log: the newest changes_keep changes (0 = the
     * default, 1,000,000), and none older than changes_keep_ms (0 = the default, 7 days) */
    int64_t changes_keep, changes_keep_ms;
} ch_store_opts;

typedef struct {
    int64_t id;
    int64_t tenant_id;
    char *provider;
    char *username;
    char *password_hash; /* argon2id */
    char *token_hash;    /* sha256 hex of the bearer / x-api-key token */
    char *signing_secret;
    char *allow_ips; /* CIDR list; empty = any address */
    /* how the source's recordings are fetched (docs/enrichment.md), JSON object text or NULL:
     * UCM {"api_url", "api_user", "api_password", "insecure_tls"}; Twilio {"basic_user",
     * "basic_password"} when "Enforce HTTP Auth on Media URLs" is on */
    char *media;
} ch_credential;

/* ---- opening ------------------------------------------------------------------------- */

/* The database is named by a URL (docs/internals/store-backend.md): "sqlite:PATH",
 * "sqlite:///abs/path" or a plain PATH choose the SQLite backend; a URL no backend of this
 * build takes ("postgresql://…" until that backend exists) fails to open with CH_EINVAL.
 * opts.path is that URL. */
/* The backend's name for url ("sqlite"), NULL when no backend of this build takes it. */
const char *ch_store_backend_name(const char *url);
/* The file of the database when its backend keeps it in a local file (SQLite): a pointer into
 * url. NULL for a database on a server. */
const char *ch_store_file(const char *url);
/* Opens (creating and migrating) the database and starts the writer thread. */
CH_NODISCARD int ch_store_open(ch_store **out, const ch_store_opts *opts);
/* Commits everything queued, stops the writer, closes all connections. */
void ch_store_close(ch_store *s);
/* Creates or upgrades the schema of the database at url; prints nothing. */
CH_NODISCARD int ch_store_migrate(const char *url, int *version_out);
/* The mode of the database files callhook creates (a backend of local files), and the most an
 * existing one may allow (tightened, with a warning, when opened for writing). Default 0600. */
void ch_store_set_file_mode(unsigned mode);
/* True while the last write succeeded and the database answers (for /readyz). */
bool ch_store_writable(ch_store *s);

/* ---- write path ---------------------------------------------------------------------- */

typedef enum {
    CH_REC_STORED = 0,
    CH_REC_DUPLICATE,
    CH_REC_REJECTED, /* refused by the store: reject_reason says why (e.g. monthly limit) */
} ch_rec_outcome;

/* ch_delivery_result (a delivery attempt's result) and what it implies: core/settle.h */

typedef struct ch_write_job ch_write_job;
struct ch_write_job {
    /* in: either events … */
    int64_t tenant_id;
    const char *tenant_tz, *tenant_country;
    int64_t monthly_limit;
    bool hard_limit;
    bool no_auto_leads; /* the tenant turned off creating leads for unknown numbers */
    bool no_enrichment; /* the tenant has not the "enrichment" feature: no pipeline */
    ch_event **events;
    size_t n;
    const char *request_id;
    /* … or delivery results (the dispatcher's) … */
    ch_delivery_result *results;
    size_t nresults;
    /* … or administrative operations (below): all of them apply, or none */
    ch_op *ops;
    size_t nops;
    void (*done)(ch_write_job *job); /* called on the writer thread after commit/rollback */
    void *arg;
    /* out (valid in done) */
    int result; /* CH_OK; CH_ESTORE: nothing of this job was stored; or the refusal of an op */
    ch_rec_outcome *outcome;    /* [n] */
    char **call_ids;            /* [n] public call ids (owned by the job; ch_write_job_clear) */
    const char **reject_reason; /* [n] static strings */
    bool *over_limit;           /* [n] the call is over the tenant's monthly limit */
    /* private */
    ch_write_job *next;
};

/* Zeroes the job and allocates the output arrays for n events; set the inputs after. */
void ch_write_job_init(ch_write_job *job, ch_event **events, size_t n);
/* Frees the outputs (not the events). */
void ch_write_job_clear(ch_write_job *job);
/* Queues the job; done() is called exactly once, from the writer thread. */
void ch_store_submit(ch_store *s, ch_write_job *job);
/* Submits the job and waits until it is committed or failed; for callers that may block (the
 * CLI import, the UCM TCP listener), not for HTTP threads. Sets done/arg itself; returns
 * job->result. */
int ch_store_submit_wait(ch_store *s, ch_write_job *job);
/* The change feed of this store (core/feed.h): the writer publishes each commit's changes to
 * it after the commit; the dispatcher subscribes to delivery.created. */
ch_feed *ch_store_feed(ch_store *s);
/* Jobs queued and not yet taken by the writer (a gauge for /metrics). */
size_t ch_store_queue_depth(ch_store *s);

#define CH_BATCH_BUCKETS  12 /* requests per transaction: 1, 2, 4, … 1024, +Inf */
#define CH_COMMIT_BUCKETS 11
typedef struct {
    uint64_t batches;
    uint64_t batch_hist[CH_BATCH_BUCKETS]; /* cumulative counts, Prometheus style */
    uint64_t batch_requests;               /* sum over all batches */
    uint64_t events_stored, events_duplicate, records_refused;
    uint64_t store_errors;
    /* time from BEGIN to the end of COMMIT (fsync included), cumulative buckets in ms:
     * 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128, +Inf */
    uint64_t commit_hist[CH_COMMIT_BUCKETS];
    uint64_t commit_us_sum;
} ch_store_stats;
void ch_store_get_stats(ch_store *s, ch_store_stats *out);

/* ---- lookups for request threads ----------------------------------------------------- */

CH_NODISCARD int ch_store_tenant_by_slug(ch_store *s, const char *slug, ch_tenant *out);
CH_NODISCARD int ch_store_tenant_by_id(ch_store *s, int64_t id, ch_tenant *out);
/* Every enabled credential of tenant for provider (NULL provider: all; tenant_id 0: every
 * tenant's, for the URLs that find the tenant from the credential). */
CH_NODISCARD int ch_store_credentials(ch_store *s, int64_t tenant_id, const char *provider,
                                      ch_credential **out, size_t *n);
void ch_credentials_free(ch_credential *c, size_t n);
/* The tenant that owns API key id key_id and the key's secret hash. */
CH_NODISCARD int ch_store_apikey(ch_store *s, const char *key_id, int64_t *tenant_id,
                                 char **secret_hash);

/* When the tenant's newest event from provider was received (ms), CH_TIME_UNSET if never. */
CH_NODISCARD int ch_store_last_received(ch_store *s, int64_t tenant_id, const char *provider,
                                        int64_t *out);

/* ---- outbox, for the dispatcher ------------------------------------------------------ */

typedef struct {
    int64_t delivery_id, tenant_id, endpoint_id;
    char *call_id, *message_id, *payload;
    char *url, *secret, *previous_secret; /* previous_secret: NULL unless still signing */
    char *headers;                        /* JSON object text */
    int64_t timeout_ms, rate_limit_per_min;
    int attempts; /* made before this one */
    bool manual;
    char *retry_schedule; /* the tenant's, NULL = the server's */
} ch_due_delivery;

/* A dispatcher worker's reader of the outbox (its own connection and cursor): it sees the
 * deliveries of its shard (of nshards, by blocks of delivery ids). */
typedef struct ch_due_scan ch_due_scan;
CH_NODISCARD int ch_due_scan_open(ch_store *s, int shard, int nshards, ch_due_scan **out);
void ch_due_scan_free(ch_due_scan *sc);
/* Deliveries due at now whose endpoint is enabled and whose earlier deliveries of the same
 * call to the same endpoint are settled, oldest first; at most limit, leaving out those skip
 * says so of (in flight already). *next_due: when the next pending delivery is due
 * (CH_TIME_UNSET when none). */
typedef bool (*ch_due_skip_fn)(void *arg, int64_t delivery_id);
CH_NODISCARD int ch_store_due_deliveries(ch_due_scan *sc, int64_t now, int limit,
                                         ch_due_skip_fn skip, void *skip_arg, ch_due_delivery **out,
                                         size_t *n, int64_t *next_due);
void ch_due_deliveries_free(ch_due_delivery *d, size_t n);
void ch_due_delivery_clear(ch_due_delivery *d); /* frees its strings */

/* ---- enrichment jobs, for the workers (src/enrich/) --------------------------------- */

typedef struct {
    int64_t tenant_id;
    char call_id[CH_CHANGE_CALL_ID];
    int stage; /* ch_stage */
    char engine[16];
    int attempts; /* made before this one */
    int64_t deadline;
} ch_due_job;

typedef bool (*ch_job_skip_fn)(void *arg, const ch_due_job *j);
/* Stage jobs due at now, oldest first, at most limit, leaving out those skip says so of (in
 * flight already). *next_due: when the next one is due (CH_TIME_UNSET when none; now when
 * more are due than were taken). */
/* busy: tenants left out of this scan (they hold their share of the workers), JSON array text of
 * their ids, or NULL. */
CH_NODISCARD int ch_store_jobs_due(ch_store *s, int64_t now, int limit, const char *busy,
                                   ch_job_skip_fn skip, void *arg, ch_due_job **out, size_t *n,
                                   int64_t *next_due);
/* Recordings past their tenant's retention (retention_days; 0 keeps them), at most limit:
 * their tenant, call and file. */
typedef struct {
    int64_t tenant_id;
    char call_id[CH_CHANGE_CALL_ID];
    char sha256[65];
} ch_expired_recording;
CH_NODISCARD int ch_store_recordings_expired(ch_store *s, int64_t now, int limit,
                                             ch_expired_recording **out, size_t *n);
/* How many kept recordings (not forgotten) use the file sha256, all tenants. */
CH_NODISCARD int ch_store_recording_refs(ch_store *s, const char *sha256, int64_t *n);
/* Stage jobs pending (due or waiting for a retry), all tenants (a gauge for /metrics). */
CH_NODISCARD int ch_store_jobs_depth(ch_store *s, int64_t *pending);
/* Calls with open stages past their deadline (call_id and tenant_id filled), at most limit. */
CH_NODISCARD int ch_store_jobs_expired(ch_store *s, int64_t now, int limit, ch_due_job **out,
                                       size_t *n);

/* ---- the change feed's durable log (docs/internals/change-feed.md) ------------------ */

typedef struct {
    ch_change *v; /* seq > the cursor asked for, oldest first */
    size_t n;
    /* true when the cursor is older than the log's retention or newer than its head (another
     * database): v is empty; the client re-reads the state it mirrors, then goes on from
     * next_cursor (taken before it re-reads, so nothing is missed) */
    bool reset;
    int64_t next_cursor; /* where to go on from */
    int64_t head;        /* the newest seq in the log */
} ch_change_page;

/* Changes after cursor (0 = from the oldest kept), of tenant_id (0 = every tenant), at most
 * limit (1..CH_CHANGES_MAX_LIMIT). */
CH_NODISCARD int ch_store_changes_since(ch_store *s, int64_t tenant_id, int64_t cursor, int limit,
                                        ch_change_page *out);
void ch_change_page_clear(ch_change_page *p);

/* ---- read API ------------------------------------------------------------------------ */

typedef struct {
    int64_t since, until;               /* on started_at (or received time); CH_TIME_UNSET = open */
    int direction, status, disposition; /* -1 = any */
    const char *number;                 /* matches from or to as sent … */
    const char *number_e164;            /* … or normalised (may be NULL) */
    const char *extension;
    const char *provider; /* a provider name */
    const char *delivery; /* "delivered" | "retrying" | "failed" | "none" (the API checks) */
    /* substring of caller name, numbers, transcript, summary (the provider's and the
     * enrichment's), ASCII letters in any case; at least 3 characters (the API checks: the
     * list answers it from a trigram index, docs/internals/call-search.md) */
    const char *text;
    int limit;          /* 1..500 */
    const char *cursor; /* opaque, from a previous page */
} ch_call_filter;

/* A cursor, "<sort_ts>.<call id>" of the last row of the previous page: CH_OK with both (id
 * NUL-terminated in idsz bytes), or CH_EINVAL. */
CH_NODISCARD int ch_store_cursor_parse(const char *c, int64_t *ts, char *id, size_t idsz);
/* {"data":[call…], "next_cursor": "…"|null}. CH_EINVAL for a bad cursor. */
CH_NODISCARD int ch_store_list_calls(ch_store *s, int64_t tenant_id, const ch_call_filter *f,
                                     json_t **out);
/* The call with legs and events; CH_ENOTFOUND when it is not this tenant's. */
CH_NODISCARD int ch_store_get_call(ch_store *s, int64_t tenant_id, const char *call_id,
                                   json_t **out);
/* The call object as GET /v1/calls lists it (no events: the SSE hub's payload); CH_ENOTFOUND
 * when it is not this tenant's. */
CH_NODISCARD int ch_store_call_json(ch_store *s, int64_t tenant_id, const char *call_id,
                                    json_t **out);

/* Streaming export: an iterator over the filtered calls (limit and cursor are ignored), newest
 * first by id (creation time). It reads pages in short read transactions of their own, so it
 * holds no snapshot between two calls of next; calls created after the first page are left
 * out, and a call appears once, as it was when its page was read. */
typedef struct ch_export ch_export;
CH_NODISCARD int ch_store_export_open(ch_store *s, int64_t tenant_id, const ch_call_filter *f,
                                      ch_export **out);
/* CH_OK with the next call in *call (caller decrefs), CH_OK with *call NULL at the end, or
 * CH_ESTORE (the export cannot go on). */
CH_NODISCARD int ch_store_export_next(ch_export *x, json_t **call);
void ch_store_export_close(ch_export *x);

/* ---- administration: typed write operations run by the writer ------------------------
 * Every administrative write (API, CLI, demo) is one of these, run by the writer thread in the
 * batch's transaction under a savepoint of its job: the ops of one job all apply, or none does
 * (docs/internals/store-operations.md). Reads go through the read pool. */

typedef struct {
    const char *slug, *name, *timezone, *country;
    const char *features; /* comma-separated; NULL = the default ("enrichment") */
    int64_t monthly_limit;
    bool hard_limit;
} ch_tenant_spec;

/* Outbound webhook endpoints (docs/webhooks.md); validated by the caller (delivery/endpoint.h).
 * The secret is stored so deliveries can be signed; lists never show it. */
typedef struct {
    const char *url, *kind, *events, *secret;
    const json_t *headers; /* object, may be NULL */
    int64_t timeout_ms, rate_limit_per_min;
    int64_t max_per_tenant; /* add: CH_ELIMIT when the tenant has this many already; 0 = no cap */
    const char *disabled_reason; /* add: non-NULL = created disabled, for this reason */
    const char *payload; /* "standard" | "flat" (core/payload.h); NULL: standard, or unchanged */
} ch_endpoint_spec;

typedef enum {
    CH_OP_TENANT_ADD = 1,   /* in.tenant; id_out. CH_EEXIST: the slug is taken */
    CH_OP_TENANT_SET_RETRY, /* in.retry_schedule (validated by the caller; NULL = the server's) */
    CH_OP_CREDENTIAL_ADD,   /* in.credential; id_out */
    CH_OP_APIKEY_ADD,       /* key_out: the full key, shown once */
    CH_OP_EMPLOYEE_ADD,     /* in.employee; adding an existing extension updates it; id_out */
    CH_OP_LEAD_ADD,         /* in.lead; adding an existing number fills its name; id_out */
    CH_OP_ENDPOINT_ADD,     /* in.endpoint; id_out. CH_ELIMIT: max_per_tenant reached */
    CH_OP_ENDPOINT_UPDATE,  /* id; the fields of in.endpoint that are set (NULL / negative:
                             * left alone; secret ignored) */
    CH_OP_ENDPOINT_ENABLE,  /* id; in.enable */
    CH_OP_ENDPOINT_ROTATE,  /* id; in.rotate: the new secret signs from now on, the old one
                             * also until now + overlap_ms */
    CH_OP_ENDPOINT_REMOVE,  /* id */
    CH_OP_ENDPOINT_TEST,    /* id; queues a "test" message; id_out: its delivery.
                             * CH_EDISABLED: the endpoint is disabled */
    CH_OP_ENDPOINT_RECOVER, /* id; every failed delivery created at or after in.since_ms goes
                             * again with a fresh schedule; id_out: how many. CH_EDISABLED */
    CH_OP_DELIVERY_REPLAY,  /* id; one more manual attempt now, no retries after it. CH_EEXIST:
                             * still pending; CH_EDISABLED: its endpoint is disabled or gone */
    /* enrichment (docs/internals/enrichment.md) */
    CH_OP_PIPELINE_SET,     /* in.text: the tenant's pipeline settings, validated JSON (NULL: the
                             * defaults) */
    CH_OP_DICT_ADD,         /* in.dict; adding an existing name replaces its synonyms. CH_ELIMIT:
                             * CH_DICT_ENTRIES_MAX reached */
    CH_OP_DICT_REMOVE,      /* in.dict (kind, name). CH_ENOTFOUND */
    CH_OP_SOURCE_MEDIA,     /* id: a credential (source); in.text: how its recordings are fetched
                             * (JSON object, validated by the caller; NULL: none) */
    CH_OP_STAGE_RESULT,     /* in.stage: a worker's outcome of one stage job (the engine runs it:
                             * the job, the call's enriched output, call.completed/updated).
                             * CH_ENOTFOUND: no such job (the call is gone) */
    CH_OP_PIPELINE_EXPIRE,  /* in.stage.call_id: the open stages of a call past its deadline fail */
    CH_OP_RECORDING_FORGET, /* in.stage.call_id: the recording passed the tenant's retention: the
                             * call says so (deleted_at); the file goes after the commit */
    /* dashboard users and sessions (docs/internals/authentication.md) */
    CH_OP_USER_ADD,       /* in.user (email lower-cased, role, password_hash); id_out.
                           * CH_EEXIST: the email is taken (by any tenant) */
    CH_OP_USER_PASSWD,    /* in.user (email, password_hash): ends the user's sessions.
                           * CH_ENOTFOUND */
    CH_OP_USER_REMOVE,    /* in.user.email: the user and their sessions go. CH_ENOTFOUND */
    CH_OP_SESSION_ADD,    /* id: the user; in.session (id_hash, csrf, idle_ms, max_ms): a new
                           * session, and every expired session is deleted. CH_ENOTFOUND: the
                           * user is gone */
    CH_OP_SESSION_TOUCH,  /* in.session.id_hash: last_seen_at = now (no error if gone) */
    CH_OP_SESSION_REMOVE, /* in.session.id_hash: sign-out, an expired session (no error if
                           * gone) */
    CH_OP_SOURCE_ROTATE   /* id: an enabled credential (source); in.credential: its
                           * password_hash, token_hash or signing_secret that are set replace
                           * the stored ones (the rest are ignored). CH_ENOTFOUND */
} ch_op_kind;

/* A worker's outcome of one stage job (CH_OP_STAGE_RESULT). */
typedef struct {
    const char *call_id;
    int stage;       /* ch_stage */
    int state;       /* CH_JOB_DONE, CH_JOB_FAILED, or CH_JOB_PENDING: retry at next_at */
    int64_t next_at; /* a retry's due time */
    int64_t started_at, ms;
    const char *error;      /* why it failed, or why the last attempt did */
    const char *result;     /* JSON text (done) */
    int64_t transcribed_ms; /* audio transcribed, for the usage */
    const char *month;      /* the tenant's month of now, for the usage */
    /* a file the done result names (a recording): checked in the writer's transaction, so a
     * retention sweep that removed the same bytes between the worker's store and this commit
     * turns the result into a retry instead of a call pointing at nothing */
    const char *must_exist;
} ch_stage_outcome;

struct ch_op {
    ch_op_kind kind;
    /* every op but TENANT_ADD; another tenant's rows are "not found". 0 after a TENANT_ADD
     * of the same job: the tenant it added */
    int64_t tenant_id;
    int64_t id; /* the endpoint or delivery the op is about */
    union {
        ch_tenant_spec tenant;
        const char *retry_schedule;
        const ch_credential *credential;
        struct {
            const char *extension, *name, *email;
        } employee;
        struct {
            const char *phone_e164, *phone_raw, *name;
        } lead;
        ch_endpoint_spec endpoint;
        struct {
            bool enabled;
            const char *reason; /* why it is disabled */
        } enable;
        struct {
            const char *secret;
            int64_t overlap_ms;
        } rotate;
        int64_t since_ms;
        const char *text;
        struct {
            const char *kind, *name;
            const char *synonyms; /* JSON array text */
        } dict;
        ch_stage_outcome stage;
        struct {
            const char *email, *role, *password_hash;
        } user;
        struct {
            const char *id_hash; /* sha256 hex of the cookie's id */
            const char *csrf;
            int64_t idle_ms, max_ms; /* SESSION_ADD: what counts as expired for the sweep */
        } session;
    } in;
    /* out */
    int result;     /* CH_OK, or why the op refused (CH_ENOTFOUND, …): the job wrote nothing */
    int64_t id_out; /* see the kind */
    char *key_out;  /* freed by ch_ops_clear */
};

/* Runs ops as one job and waits for its commit: CH_OK, the result of the op that refused, or
 * CH_ESTORE. For callers that may block (the CLI, tests), not for HTTP threads, which submit a
 * job with ops and are resumed by its done(). */
CH_NODISCARD int ch_store_write(ch_store *s, ch_op *ops, size_t n);
void ch_ops_clear(ch_op *ops, size_t n);

/* ---- administration: reads ------------------------------------------------------------ */

/* JSON array of tenants with this month's usage. */
CH_NODISCARD int ch_store_tenant_list(ch_store *s, json_t **out);
/* {"employees": [...]} or {"leads": [...]}, oldest first. which: "employees" | "leads". */
CH_NODISCARD int ch_store_directory_list(ch_store *s, int64_t tenant_id, const char *which,
                                         json_t **out);
/* {"endpoints": [{id, url, kind, events, enabled, disabled_reason, headers, timeout_ms,
 * rate_limit_per_min, secret_rotating_until, created_at, updated_at}]}; id 0 = every endpoint
 * of the tenant, else only that one (an empty list when it has none with that id). */
CH_NODISCARD int ch_store_endpoint_list(ch_store *s, int64_t tenant_id, int64_t id, json_t **out);
/* Deliveries (docs/webhooks.md). {"deliveries": [...]} newest first; endpoint_id 0 = any,
 * state NULL = any, before_id 0 = from the newest. */
CH_NODISCARD int ch_store_delivery_list(ch_store *s, int64_t tenant_id, int64_t endpoint_id,
                                        const char *state, int64_t before_id, int limit,
                                        json_t **out);
/* One delivery with its message and every attempt; CH_ENOTFOUND when not the tenant's. */
CH_NODISCARD int ch_store_delivery_get(ch_store *s, int64_t tenant_id, int64_t id, json_t **out);
/* {"skipped": [{reason, type, count, last_at, last_call_id}]} */
CH_NODISCARD int ch_store_delivery_skips(ch_store *s, int64_t tenant_id, json_t **out);
/* The tenant's pipeline settings as stored (JSON text, NULL: the defaults). CH_ENOTFOUND. */
CH_NODISCARD int ch_store_pipeline_text(ch_store *s, int64_t tenant_id, char **text);
/* A dictionary entry (docs/enrichment.md). */
typedef struct {
    char *kind, *name, *synonyms; /* synonyms: JSON array text */
    int64_t created_at;
} ch_dict_view;
CH_NODISCARD int ch_store_dictionary(ch_store *s, int64_t tenant_id, ch_dict_view **out, size_t *n);
void ch_dict_views_free(ch_dict_view *v, size_t n);
/* {"cities": [{name, synonyms}], "services": [...]}: GET /v1/dictionaries, `dictionary list`. */
json_t *ch_dict_views_json(const ch_dict_view *v, size_t n);
/* The stage jobs of a call (core/pipeline.h), indexed by stage; state NONE where none. */
CH_NODISCARD int ch_store_call_jobs(ch_store *s, int64_t tenant_id, const char *call_id,
                                    ch_job_row jobs[CH_STAGE_COUNT]);
/* A call's trace (core/trace.h): everything that happened to it, in time order, as GET
 * /v1/calls/{id}/trace answers it. CH_ENOTFOUND when it is not this tenant's call. */
CH_NODISCARD int ch_store_call_trace(ch_store *s, int64_t tenant_id, const char *call_id,
                                     json_t **out);
/* ---- dashboard users and sessions (docs/internals/authentication.md) ---------------- */

typedef struct {
    int64_t id, tenant_id;
    char *email, *role; /* role: "admin" | "viewer" */
    char *password_hash;
    char *tenant_slug;
    int64_t created_at, updated_at;
} ch_user;
void ch_user_clear(ch_user *u);
/* The user with this email (compared without case), any tenant. CH_ENOTFOUND. */
CH_NODISCARD int ch_store_user_by_email(ch_store *s, const char *email, ch_user *out);
/* {"users": [{id, email, role, created_at, updated_at}]}, oldest first (no hashes). */
CH_NODISCARD int ch_store_user_list(ch_store *s, int64_t tenant_id, json_t **out);

typedef struct {
    int64_t user_id, tenant_id;
    char *email, *role, *tenant_slug, *csrf;
    int64_t created_at, last_seen_at;
} ch_session;
void ch_session_clear(ch_session *v);
/* The session whose cookie id hashes to id_hash (sha256 hex), with its user and tenant, expired
 * or not (the caller judges). CH_ENOTFOUND. */
CH_NODISCARD int ch_store_session_get(ch_store *s, const char *id_hash, ch_session *out);

/* An endpoint's health for the diagnostics (GET /v1/diagnostics, `callhook doctor`). */
typedef struct {
    int64_t id;
    int64_t failing_since; /* CH_TIME_UNSET unless its deliveries keep failing */
    int64_t failed;        /* its deliveries failed for good since failing_since (capped) */
    char *last_state;      /* its newest delivery: state, HTTP status (CH_NUM_UNSET), error */
    int64_t last_status;
    char *last_error;
} ch_endpoint_health;
/* The tenant's endpoints' health (any order) and its dead letters (failed deliveries, counted
 * up to CH_DIAG_COUNT_MAX). */
CH_NODISCARD int ch_store_endpoint_health(ch_store *s, int64_t tenant_id, ch_endpoint_health **out,
                                          size_t *n, int64_t *dead_letters);
void ch_endpoint_health_free(ch_endpoint_health *v, size_t n);
/* The tenant's month of usage (ch_tenant_usage of ch_store_tenant_list, for one tenant). */
CH_NODISCARD int ch_store_tenant_usage(ch_store *s, int64_t tenant_id, ch_tenant_usage *out);
/* The tenant's retry schedule; *schedule_out NULL when it uses the server's (caller frees). */
CH_NODISCARD int ch_store_tenant_retry(ch_store *s, int64_t tenant_id, char **schedule_out);

#endif
