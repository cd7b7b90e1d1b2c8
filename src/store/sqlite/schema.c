/* Opening connections and the schema. tenant_id leads every primary and unique key so that
 * sharding by tenant later is mechanical; every counter is NOT NULL DEFAULT 0 so that a row
 * inserted by hand without them still works (the classic NULL-counter outage). */
#include "store/sqlite/sqlite.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/result.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* the text of a call (sqlite.h) in the triggers of migrations 10 and 11 and in the text index's
 * flush */
#define CALL_TEXT_OLD     CH_SQLITE_CALL_TEXT("old")
#define CALL_TEXT_NEW     CH_SQLITE_CALL_TEXT("new")
#define CALL_TEXT_CALLS   CH_SQLITE_CALL_TEXT("calls")
#define CALL_TEXT_C       CH_SQLITE_CALL_TEXT("c")
#define TEXT_CHANGED      CALL_TEXT_OLD " IS NOT " CALL_TEXT_NEW
#define CALL_TEXT_COLUMNS CH_SQLITE_CALL_TEXT_COLUMNS

/* names the call for the text index with the text the index holds for it, unless named */
#define FTS_NAME_OLD                                                                               \
    " INSERT INTO calls_fts_dirty(rowid, indexed) SELECT old.rowid, " CALL_TEXT_OLD                \
    " WHERE NOT EXISTS (SELECT 1 FROM calls_fts_dirty WHERE rowid=old.rowid);"

/* a call whose sort_ts leads its created_at by more than any call of its tenant before
 * (migration 12); the raise is an UPDATE and an INSERT for a tenant's first call, as conflict
 * clauses inside a trigger give way to the writer's upsert's */
#define LEAD_EXCEEDED                                                                              \
    "new.sort_ts - new.created_at > COALESCE((SELECT lead FROM call_lead WHERE"                    \
    " tenant_id = new.tenant_id), -9223372036854775807)"
#define LEAD_RAISE                                                                                 \
    " UPDATE call_lead SET lead = new.sort_ts - new.created_at WHERE tenant_id = new.tenant_id;"   \
    " INSERT INTO call_lead(tenant_id, lead) SELECT new.tenant_id, new.sort_ts - new.created_at"   \
    " WHERE NOT EXISTS (SELECT 1 FROM call_lead WHERE tenant_id = new.tenant_id);"

static const char *const migrations[] = {
    /* 1: the foundation */
    "CREATE TABLE IF NOT EXISTS tenants ("
    "  id INTEGER PRIMARY KEY,"
    "  slug TEXT NOT NULL UNIQUE,"
    "  name TEXT NOT NULL DEFAULT '',"
    "  timezone TEXT NOT NULL DEFAULT 'UTC',"
    "  country_code TEXT NOT NULL DEFAULT '',"
    "  monthly_limit INTEGER NOT NULL DEFAULT 0,"
    "  hard_limit INTEGER NOT NULL DEFAULT 0,"
    "  features TEXT NOT NULL DEFAULT 'enrichment',"
    "  created_at INTEGER NOT NULL DEFAULT (CAST(strftime('%s','now') AS INTEGER) * 1000));"
    "CREATE TABLE IF NOT EXISTS credentials ("
    "  tenant_id INTEGER NOT NULL,"
    "  id INTEGER NOT NULL,"
    "  provider TEXT NOT NULL,"
    "  username TEXT,"
    "  password_hash TEXT,"
    "  token_hash TEXT,"
    "  signing_secret TEXT,"
    "  allow_ips TEXT NOT NULL DEFAULT '',"
    "  enabled INTEGER NOT NULL DEFAULT 1,"
    "  created_at INTEGER NOT NULL DEFAULT (CAST(strftime('%s','now') AS INTEGER) * 1000),"
    "  PRIMARY KEY (tenant_id, id));"
    "CREATE INDEX IF NOT EXISTS credentials_provider ON credentials(tenant_id, provider);"
    "CREATE TABLE IF NOT EXISTS api_keys ("
    "  tenant_id INTEGER NOT NULL,"
    "  id TEXT NOT NULL,"
    "  secret_hash TEXT NOT NULL,"
    "  revoked INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL DEFAULT (CAST(strftime('%s','now') AS INTEGER) * 1000),"
    "  PRIMARY KEY (tenant_id, id));"
    "CREATE INDEX IF NOT EXISTS api_keys_id ON api_keys(id);"
    "CREATE TABLE IF NOT EXISTS calls ("
    "  tenant_id INTEGER NOT NULL,"
    "  id TEXT NOT NULL,"
    "  provider TEXT NOT NULL,"
    "  external_id TEXT NOT NULL,"
    "  direction TEXT NOT NULL DEFAULT 'unknown',"
    "  status TEXT NOT NULL DEFAULT 'queued',"
    "  disposition TEXT,"
    "  from_e164 TEXT, to_e164 TEXT, from_raw TEXT, to_raw TEXT,"
    "  caller_name TEXT, extension TEXT,"
    "  started_at INTEGER, answered_at INTEGER, ended_at INTEGER,"
    "  duration_sec INTEGER, billsec INTEGER,"
    "  recording_url TEXT, transcript TEXT, summary TEXT,"
    "  cost_micros INTEGER, cost_currency TEXT,"
    "  metadata TEXT,"
    "  over_limit INTEGER NOT NULL DEFAULT 0,"
    "  event_count INTEGER NOT NULL DEFAULT 0,"
    "  sort_ts INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  PRIMARY KEY (tenant_id, id),"
    "  UNIQUE (tenant_id, provider, external_id));"
    "CREATE INDEX IF NOT EXISTS calls_recent ON calls(tenant_id, sort_ts, id);"
    "CREATE TABLE IF NOT EXISTS legs ("
    "  tenant_id INTEGER NOT NULL,"
    "  call_id TEXT NOT NULL,"
    "  leg_id TEXT NOT NULL,"
    "  state TEXT NOT NULL,"
    "  PRIMARY KEY (tenant_id, call_id, leg_id));"
    "CREATE TABLE IF NOT EXISTS events ("
    "  tenant_id INTEGER NOT NULL,"
    "  id INTEGER NOT NULL,"
    "  call_id TEXT NOT NULL,"
    "  idem_key TEXT NOT NULL,"
    "  provider TEXT NOT NULL,"
    "  kind TEXT,"
    "  leg_id TEXT,"
    "  seq INTEGER,"
    "  ts INTEGER,"
    "  received_at INTEGER NOT NULL,"
    "  request_id TEXT,"
    "  content_type TEXT,"
    "  raw BLOB NOT NULL,"
    "  norm TEXT NOT NULL,"
    "  PRIMARY KEY (tenant_id, id),"
    "  UNIQUE (tenant_id, idem_key));"
    "CREATE INDEX IF NOT EXISTS events_call ON events(tenant_id, call_id);"
    "CREATE TABLE IF NOT EXISTS usage ("
    "  tenant_id INTEGER NOT NULL,"
    "  month TEXT NOT NULL,"
    "  calls INTEGER NOT NULL DEFAULT 0,"
    "  events INTEGER NOT NULL DEFAULT 0,"
    "  over_limit_calls INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (tenant_id, month));"
    "CREATE TABLE IF NOT EXISTS probe (x BLOB);",
    /* 2: the directory. Calls are linked to it when read (extension → employee, the external
     * party's E.164 number → lead), so an employee added later is linked to past calls too. */
    "CREATE TABLE IF NOT EXISTS employees ("
    "  tenant_id INTEGER NOT NULL,"
    "  id INTEGER NOT NULL,"
    "  extension TEXT NOT NULL,"
    "  name TEXT,"
    "  email TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  PRIMARY KEY (tenant_id, id),"
    "  UNIQUE (tenant_id, extension));"
    "CREATE TABLE IF NOT EXISTS leads ("
    "  tenant_id INTEGER NOT NULL,"
    "  id INTEGER NOT NULL,"
    "  phone TEXT NOT NULL,"
    "  phone_raw TEXT,"
    "  name TEXT,"
    "  source TEXT NOT NULL DEFAULT 'manual',"
    "  created_at INTEGER NOT NULL,"
    "  PRIMARY KEY (tenant_id, id),"
    "  UNIQUE (tenant_id, phone));",
    /* 3: outbound webhook endpoints (docs/webhooks.md) */
    "CREATE TABLE IF NOT EXISTS endpoints ("
    "  tenant_id INTEGER NOT NULL,"
    "  id INTEGER NOT NULL,"
    "  url TEXT NOT NULL,"
    "  kind TEXT NOT NULL DEFAULT 'generic'"
    "    CHECK (kind IN ('inbound','outbound','generic','status')),"
    "  events TEXT NOT NULL DEFAULT '*',"
    "  enabled INTEGER NOT NULL DEFAULT 1,"
    "  disabled_reason TEXT,"
    "  secret TEXT NOT NULL,"
    "  previous_secret TEXT,"
    "  previous_secret_until INTEGER,"
    "  headers TEXT NOT NULL DEFAULT '{}',"
    "  timeout_ms INTEGER NOT NULL DEFAULT 15000,"
    "  rate_limit_per_min INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  PRIMARY KEY (tenant_id, id));",
    /* 4: the outbox (docs/webhooks.md). Messages and their deliveries are written in the
     * transaction of the change that causes them. notified holds one bit per lifecycle event
     * already created for the call, so each is created once whatever the order of arrival;
     * state_hash tells a real change from a repeat after call.completed. Delivery ids are
     * global and rise with creation: the dispatcher scans across tenants, and per-call order
     * is the order of ids. */
    "ALTER TABLE calls ADD COLUMN notified INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE calls ADD COLUMN state_hash INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE tenants ADD COLUMN retry_schedule TEXT;"
    "ALTER TABLE endpoints ADD COLUMN failing_since INTEGER;"
    "CREATE TABLE IF NOT EXISTS messages ("
    "  tenant_id INTEGER NOT NULL,"
    "  id TEXT NOT NULL,"
    "  type TEXT NOT NULL,"
    "  call_id TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  payload TEXT NOT NULL,"
    "  PRIMARY KEY (tenant_id, id));"
    "CREATE UNIQUE INDEX IF NOT EXISTS messages_one_completed ON messages(tenant_id, call_id)"
    "  WHERE type='call.completed';"
    "CREATE TABLE IF NOT EXISTS deliveries ("
    "  id INTEGER PRIMARY KEY,"
    "  tenant_id INTEGER NOT NULL,"
    "  endpoint_id INTEGER NOT NULL,"
    "  message_id TEXT NOT NULL,"
    "  call_id TEXT,"
    "  state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending','succeeded','failed')),"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_attempt_at INTEGER,"
    "  manual INTEGER NOT NULL DEFAULT 0,"
    "  last_status INTEGER,"
    "  last_error TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  UNIQUE (tenant_id, message_id, endpoint_id));"
    "CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries(next_attempt_at, id)"
    "  WHERE state='pending';"
    "CREATE INDEX IF NOT EXISTS deliveries_pending ON deliveries(tenant_id, endpoint_id, call_id,"
    "  id) WHERE state='pending';"
    "CREATE INDEX IF NOT EXISTS deliveries_endpoint ON deliveries(tenant_id, endpoint_id, id);"
    "CREATE TABLE IF NOT EXISTS attempts ("
    "  id INTEGER PRIMARY KEY,"
    "  tenant_id INTEGER NOT NULL,"
    "  delivery_id INTEGER NOT NULL,"
    "  at INTEGER NOT NULL,"
    "  status INTEGER,"
    "  latency_ms INTEGER NOT NULL,"
    "  response BLOB,"
    "  error TEXT,"
    "  trigger TEXT NOT NULL DEFAULT 'scheduled');"
    "CREATE INDEX IF NOT EXISTS attempts_delivery ON attempts(delivery_id, id);"
    /* "no endpoint" decisions, counted per tenant, reason and event type: a row per skipped
     * event would cost every tenant without endpoints a write per event */
    "CREATE TABLE IF NOT EXISTS delivery_skips ("
    "  tenant_id INTEGER NOT NULL,"
    "  reason TEXT NOT NULL,"
    "  type TEXT NOT NULL,"
    "  count INTEGER NOT NULL DEFAULT 0,"
    "  last_at INTEGER NOT NULL,"
    "  last_call_id TEXT,"
    "  PRIMARY KEY (tenant_id, reason, type));"
    /* what waits for an endpoint that is disabled or removed fails at once (and can be
     * replayed once it is back), whichever connection disables it */
    "CREATE TRIGGER IF NOT EXISTS endpoints_disabled AFTER UPDATE OF enabled ON endpoints"
    "  WHEN new.enabled=0 AND old.enabled=1 BEGIN"
    "  UPDATE deliveries SET state='failed', last_error='endpoint disabled',"
    "   updated_at=CAST(strftime('%s','now') AS INTEGER)*1000"
    "   WHERE state='pending' AND tenant_id=new.tenant_id AND endpoint_id=new.id; END;"
    "CREATE TRIGGER IF NOT EXISTS endpoints_removed AFTER DELETE ON endpoints BEGIN"
    "  UPDATE deliveries SET state='failed', last_error='endpoint removed',"
    "   updated_at=CAST(strftime('%s','now') AS INTEGER)*1000"
    "   WHERE state='pending' AND tenant_id=old.tenant_id AND endpoint_id=old.id; END;",
    /* 5: the change feed (docs/internals/change-feed.md). A call's version counts its changes;
     * changes is the durable log, written in the transaction of the change: seq is the cursor
     * (one writer, so seq order is commit order). No AUTOINCREMENT: pruning never removes the
     * newest row, so a seq is never handed out twice. */
    "ALTER TABLE calls ADD COLUMN version INTEGER NOT NULL DEFAULT 1;"
    "CREATE TABLE IF NOT EXISTS changes ("
    "  seq INTEGER PRIMARY KEY,"
    "  tenant_id INTEGER NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  call_id TEXT,"
    "  delivery_id INTEGER,"
    "  version INTEGER,"
    "  at INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS changes_tenant ON changes(tenant_id, seq);",
    /* 6: the body shape each endpoint gets (docs/webhooks.md "Flat payload"); the envelope for
     * every endpoint saved before */
    "ALTER TABLE endpoints ADD COLUMN payload TEXT NOT NULL"
    "  DEFAULT 'standard'"
    "  CHECK (payload IN ('standard','flat'));",
    /* 7: post-call enrichment (docs/internals/enrichment.md): the tenant's pipeline settings
     * and dictionaries, a recording's fetch settings on its source, the stage jobs of each
     * call, the call's enriched output (built by core/pipeline from its jobs), transcribed
     * minutes in the usage */
    "ALTER TABLE tenants ADD COLUMN pipeline TEXT;"
    "ALTER TABLE credentials ADD COLUMN media TEXT;"
    "ALTER TABLE calls ADD COLUMN enriched TEXT;"
    "ALTER TABLE usage ADD COLUMN transcribed_ms INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE IF NOT EXISTS dictionary ("
    "  tenant_id INTEGER NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  synonyms TEXT NOT NULL DEFAULT '[]',"
    "  created_at INTEGER NOT NULL,"
    "  PRIMARY KEY (tenant_id, kind, name));"
    "CREATE TABLE IF NOT EXISTS jobs ("
    "  tenant_id INTEGER NOT NULL,"
    "  call_id TEXT NOT NULL,"
    "  stage TEXT NOT NULL,"
    "  state TEXT NOT NULL,"
    "  engine TEXT NOT NULL DEFAULT '',"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_at INTEGER NOT NULL DEFAULT 0,"
    "  deadline INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  started_at INTEGER,"
    "  finished_at INTEGER,"
    "  ms INTEGER,"
    "  error TEXT,"
    "  result TEXT,"
    "  PRIMARY KEY (tenant_id, call_id, stage)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS jobs_due ON jobs(next_at) WHERE state='pending';"
    "CREATE INDEX IF NOT EXISTS jobs_open ON jobs(deadline) WHERE state IN ('pending','waiting');"
    "CREATE INDEX IF NOT EXISTS jobs_recording ON jobs(finished_at) WHERE stage='recording' AND"
    " state='done';",
    /* 8: dashboard users and their sign-in sessions (docs/internals/authentication.md). An
     * email signs in to one tenant, so it is unique across tenants (stored lower-cased, and
     * compared without case). A session row is keyed by the sha256 of its cookie id: the
     * database never holds a usable cookie. */
    "CREATE TABLE IF NOT EXISTS users ("
    "  id INTEGER PRIMARY KEY,"
    "  tenant_id INTEGER NOT NULL,"
    "  email TEXT NOT NULL COLLATE NOCASE UNIQUE,"
    "  role TEXT NOT NULL CHECK (role IN ('admin','viewer')),"
    "  password_hash TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS users_tenant ON users(tenant_id, id);"
    "CREATE TABLE IF NOT EXISTS sessions ("
    "  id_hash TEXT PRIMARY KEY,"
    "  user_id INTEGER NOT NULL,"
    "  tenant_id INTEGER NOT NULL,"
    "  csrf TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  last_seen_at INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS sessions_user ON sessions(user_id);"
    "CREATE INDEX IF NOT EXISTS sessions_seen ON sessions(last_seen_at);"
    "CREATE INDEX IF NOT EXISTS sessions_created ON sessions(created_at);",
    /* 9: diagnostics and sources (issue 12). When a source last received an event (GET
     * /v1/sources) is one seek in events_provider instead of a walk back through the tenant's
     * events until one of that provider; the dead letters of the diagnostics are counted in a
     * partial index that holds only the failed deliveries. */
    "CREATE INDEX IF NOT EXISTS events_provider ON events(tenant_id, provider, id);"
    "CREATE INDEX IF NOT EXISTS deliveries_failed ON deliveries(tenant_id, endpoint_id, id)"
    " WHERE state='failed';",
    /* 10: call filters served by indexes (docs/internals/call-search.md). Everything derived
     * from a call row is kept by triggers, so every writer (the daemon, callhook import, a
     * replay, a recovery, an endpoint disabled) keeps it in the transaction of its change, and
     * the rows already there are filled in here. delivery_*: the call's deliveries by state;
     * delivery_state: failed (a dead letter), else retrying (one still pending), else
     * delivered (all succeeded), or none. calls_fts:
     * contentless FTS5 trigram index of CH_SQLITE_CALL_TEXT, rowid = the call's rowid. */
    "ALTER TABLE calls ADD COLUMN delivery_state TEXT NOT NULL DEFAULT 'none';"
    "ALTER TABLE calls ADD COLUMN delivery_total INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE calls ADD COLUMN delivery_succeeded INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE calls ADD COLUMN delivery_failed INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE calls ADD COLUMN delivery_pending INTEGER NOT NULL DEFAULT 0;"
    "UPDATE calls SET delivery_total=d.n, delivery_succeeded=d.s, delivery_failed=d.f,"
    " delivery_pending=d.p, delivery_state=CASE WHEN d.f>0 THEN 'failed' WHEN d.p>0 THEN"
    " 'retrying' WHEN d.n>0 THEN 'delivered' ELSE 'none' END"
    " FROM (SELECT tenant_id, call_id, count(*) AS n, sum(state='succeeded') AS s,"
    " sum(state='failed') AS f, sum(state='pending') AS p FROM deliveries"
    " WHERE call_id IS NOT NULL GROUP BY tenant_id, call_id) d"
    " WHERE calls.tenant_id=d.tenant_id AND calls.id=d.call_id;"
    "CREATE TRIGGER IF NOT EXISTS deliveries_call_insert AFTER INSERT ON deliveries"
    "  WHEN new.call_id IS NOT NULL BEGIN"
    "  UPDATE calls SET delivery_total=delivery_total+1,"
    "   delivery_succeeded=delivery_succeeded+(new.state='succeeded'),"
    "   delivery_failed=delivery_failed+(new.state='failed'),"
    "   delivery_pending=delivery_pending+(new.state='pending'),"
    "   delivery_state=CASE WHEN delivery_failed+(new.state='failed')>0 THEN 'failed'"
    "    WHEN delivery_pending+(new.state='pending')>0 THEN 'retrying' ELSE 'delivered' END"
    "   WHERE tenant_id=new.tenant_id AND id=new.call_id; END;"
    "CREATE TRIGGER IF NOT EXISTS deliveries_call_update AFTER UPDATE OF state ON deliveries"
    "  WHEN new.call_id IS NOT NULL AND old.state IS NOT new.state BEGIN"
    "  UPDATE calls SET"
    "   delivery_succeeded=delivery_succeeded+(new.state='succeeded')-(old.state='succeeded'),"
    "   delivery_failed=delivery_failed+(new.state='failed')-(old.state='failed'),"
    "   delivery_pending=delivery_pending+(new.state='pending')-(old.state='pending'),"
    "   delivery_state=CASE WHEN delivery_failed+(new.state='failed')-(old.state='failed')>0"
    "    THEN 'failed' WHEN delivery_pending+(new.state='pending')-(old.state='pending')>0"
    "    THEN 'retrying' WHEN delivery_total>0 THEN 'delivered' ELSE 'none' END"
    "   WHERE tenant_id=new.tenant_id AND id=new.call_id; END;"
    "CREATE TRIGGER IF NOT EXISTS deliveries_call_delete AFTER DELETE ON deliveries"
    "  WHEN old.call_id IS NOT NULL BEGIN"
    "  UPDATE calls SET delivery_total=delivery_total-1,"
    "   delivery_succeeded=delivery_succeeded-(old.state='succeeded'),"
    "   delivery_failed=delivery_failed-(old.state='failed'),"
    "   delivery_pending=delivery_pending-(old.state='pending'),"
    "   delivery_state=CASE WHEN delivery_failed-(old.state='failed')>0 THEN 'failed'"
    "    WHEN delivery_pending-(old.state='pending')>0 THEN 'retrying'"
    "    WHEN delivery_total-1>0 THEN 'delivered' ELSE 'none' END"
    "   WHERE tenant_id=old.tenant_id AND id=old.call_id; END;"
    "CREATE INDEX IF NOT EXISTS calls_delivery ON calls(tenant_id, delivery_state, sort_ts, id);"
    "CREATE INDEX IF NOT EXISTS calls_extension ON calls(tenant_id, extension, sort_ts, id);"
    "CREATE INDEX IF NOT EXISTS calls_provider ON calls(tenant_id, provider, sort_ts, id);"
    "CREATE INDEX IF NOT EXISTS calls_direction ON calls(tenant_id, direction, sort_ts, id);"
    "CREATE INDEX IF NOT EXISTS calls_disposition ON calls(tenant_id, disposition, sort_ts, id);"
    /* (a table call_numbers and its triggers stood here: a database migrated to 10 before
     * they were replaced by migration 11's indexes has them, and 11 drops them) */
    "CREATE VIRTUAL TABLE IF NOT EXISTS calls_fts USING fts5(body, content='',"
    "  tokenize='trigram case_sensitive 1');"
    "INSERT INTO calls_fts(rowid, body) SELECT rowid, " CALL_TEXT_CALLS " FROM calls;"
    /* the text index is brought up to date once per write transaction (the writer's commit,
     * ch_sqlite_fts_flush), not per statement: FTS5 writes a segment at the end of every
     * statement that touched it, and merging a segment per call was most of a call's write
     * cost. Until then calls_fts_dirty names the calls whose text changed, with the text the
     * index holds for them (NULL: none yet), and searches test those calls directly. */
    "CREATE TABLE IF NOT EXISTS calls_fts_dirty (rowid INTEGER PRIMARY KEY, indexed TEXT);"
    "CREATE TRIGGER IF NOT EXISTS calls_fts_insert AFTER INSERT ON calls BEGIN"
    "  INSERT INTO calls_fts_dirty(rowid, indexed) SELECT new.rowid, NULL"
    "   WHERE NOT EXISTS (SELECT 1 FROM calls_fts_dirty WHERE rowid=new.rowid); END;"
    "CREATE TRIGGER IF NOT EXISTS calls_fts_update AFTER UPDATE ON calls WHEN " TEXT_CHANGED
    " BEGIN" FTS_NAME_OLD " END;",
    /* 11: what the call filters cost the writer, cut (docs/internals/call-search.md, "What
     * it costs the writer"). call_numbers and its triggers give way to an index per number
     * column: plain index entries cost a new call a fraction of the CPU the side table's four
     * trigger statements and WITHOUT ROWID primary key did (measured). The E.164 indexes hold
     * only the calls whose E.164 number differs from the raw one (the raw index has the
     * others): a number already sent in E.164, as most platforms do, costs one index page,
     * not two, in each commit. The text index's update
     * trigger fires only for an UPDATE that sets a column of the call's text: every delivery
     * inserted or settled updates its call's delivery counts, and the trigger's WHEN clause
     * then built the call's text twice (json_extract of the enrichment included) for nothing.
     * The writer's upsert sets every column, so for it the WHEN clause still decides. */
    "DROP TRIGGER IF EXISTS calls_numbers_insert;"
    "DROP TRIGGER IF EXISTS calls_numbers_update;"
    "DROP TABLE IF EXISTS call_numbers;"
    "CREATE INDEX IF NOT EXISTS calls_from_raw ON calls(tenant_id, from_raw, sort_ts, id);"
    "CREATE INDEX IF NOT EXISTS calls_to_raw ON calls(tenant_id, to_raw, sort_ts, id);"
    "CREATE INDEX IF NOT EXISTS calls_from_e164 ON calls(tenant_id, from_e164, sort_ts, id)"
    " WHERE " CH_SQLITE_E164_DIFFERS(
        "from") ";"
                "CREATE INDEX IF NOT EXISTS calls_to_e164 ON calls(tenant_id, to_e164, sort_ts, id)"
                " WHERE " CH_SQLITE_E164_DIFFERS(
                    "to") ";"
                          "DROP TRIGGER IF EXISTS calls_fts_update;"
                          "CREATE TRIGGER calls_fts_update AFTER UPDATE OF " CALL_TEXT_COLUMNS
                          " ON calls WHEN " TEXT_CHANGED " BEGIN" FTS_NAME_OLD " END;",
    /* 12: per tenant, the largest lead of a call's sort_ts over its created_at, ever
     * (docs/internals/call-search.md, "q"). A text search walks the text index's matches
     * newest rowid first and stops once a rowid's created_at plus its tenant's lead is older
     * than its page's last call: rowids and created_at grow together. Per tenant, so that one
     * tenant's call dated in 2035 slows no other tenant's searches. Written only when a call
     * sets a new maximum for its tenant; a maximum no longer reached is still a true bound. */
    "CREATE TABLE IF NOT EXISTS call_lead (tenant_id INTEGER PRIMARY KEY,"
    "  lead INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO call_lead(tenant_id, lead)"
    " SELECT tenant_id, MAX(sort_ts - created_at) FROM calls GROUP BY tenant_id;"
    "CREATE TRIGGER IF NOT EXISTS calls_lead_insert AFTER INSERT ON calls"
    "  WHEN " LEAD_EXCEEDED " BEGIN" LEAD_RAISE " END;"
    "CREATE TRIGGER IF NOT EXISTS calls_lead_update AFTER UPDATE OF sort_ts, created_at ON calls"
    "  WHEN " LEAD_EXCEEDED " BEGIN" LEAD_RAISE " END;",
};

void ch_sqlite_log_error(sqlite3 *db, const char *what, int rc)
{
    ch_logline l;
    if (ch_log_begin(&l, CH_LOG_ERROR, "store_error", NULL)) {
        ch_log_str(&l, "op", what);
        ch_log_int(&l, "code", rc);
        ch_log_str(&l, "error", db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        ch_log_end(&l);
    }
}

int ch_sqlite_exec(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
    if (rc != SQLITE_OK) {
        ch_sqlite_log_error(db, err ? err : sql, rc);
        sqlite3_free(err);
    }
    return rc;
}

/* ---- file modes ---------------------------------------------------------------------- */

/* The database holds secrets in plain text (endpoint and provider signing secrets: they are
 * needed to compute HMACs), so its files are 0600 (0640 for a service group) whatever the umask.
 * SQLite gives the -wal and -shm files the main file's mode, so the main file is what counts. */
static atomic_uint file_mode = 0600;

void ch_store_set_file_mode(unsigned mode)
{
    atomic_store(&file_mode, mode & 0777);
}

/* The file at path is tightened to mode when it allows more; logged, as someone chose the old
 * mode. By path, never through a descriptor: closing any descriptor of a file drops every POSIX
 * lock this process holds on it, SQLite connections' included (a corrupted database). */
static void tighten(const char *path, unsigned mode)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || !(st.st_mode & 0777 & ~mode)) return;
    char from[8], to[8];
    snprintf(from, sizeof from, "%04o", (unsigned)(st.st_mode & 0777));
    snprintf(to, sizeof to, "%04o", (unsigned)(st.st_mode & 0777 & mode));
    bool ok = chmod(path, st.st_mode & 0777 & mode) == 0;
    ch_logline l;
    if (ch_log_begin(&l, CH_LOG_WARN, ok ? "db_mode_tightened" : "db_mode_unchanged", NULL)) {
        ch_log_str(&l, "file", path);
        ch_log_str(&l, "mode", from);
        ch_log_str(&l, ok ? "now" : "wanted", to);
        if (!ok) ch_log_str(&l, "error", strerror(errno));
        ch_log_end(&l);
    }
}

/* Creates the database file with the configured mode before SQLite does (SQLite would use
 * 0644 & ~umask), and tightens an existing one, its WAL and its shared-memory file. */
static void secure_files(const char *path)
{
    if (!path || !*path || !strcmp(path, ":memory:")) return;
    unsigned mode = atomic_load(&file_mode);
    /* O_EXCL: only a file that did not exist, so no connection of this process has it open */
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd >= 0) {
        (void)!fchmod(fd, mode); /* exactly mode, whatever the umask took away or not */
        close(fd);
        return;
    }
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
        char *p = ch_asprintf("%s%s", path, suffixes[i]);
        tighten(p, mode);
        free(p);
    }
}

int ch_sqlite_open(const char *path, bool readonly, sqlite3 **out)
{
    if (!readonly) secure_files(path);
    sqlite3 *db = NULL;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (readonly ? 0 : SQLITE_OPEN_CREATE);
    int rc = sqlite3_open_v2(path, &db, flags, NULL);
    if (rc != SQLITE_OK) {
        ch_sqlite_log_error(db, "open", rc);
        sqlite3_close(db);
        return CH_ESTORE;
    }
    sqlite3_busy_timeout(db, 10000);
    sqlite3_extended_result_codes(db, 1);
    /* WAL: readers never block the writer. synchronous=FULL: a commit is on disk when it
     * returns, which is what a 2xx promises. */
    const char *pragmas = readonly ? "PRAGMA query_only=1; PRAGMA cache_size=-8000;"
                                   : "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                                     "PRAGMA cache_size=-32000; PRAGMA temp_store=MEMORY;"
                                     "PRAGMA journal_size_limit=67108864;";
    if (ch_sqlite_exec(db, pragmas) != SQLITE_OK) {
        sqlite3_close(db);
        return CH_ESTORE;
    }
    *out = db;
    return CH_OK;
}

int ch_sqlite_migrate(sqlite3 *db, int *version_out)
{
    sqlite3_stmt *st;
    int version = 0;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) version = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
    }
    int target = (int)(sizeof migrations / sizeof *migrations);
    for (int v = version; v < target; v++) {
        char *sql = ch_asprintf("BEGIN IMMEDIATE; %s PRAGMA user_version=%d; COMMIT;",
                                migrations[v], v + 1);
        int rc = ch_sqlite_exec(db, sql);
        free(sql);
        if (rc != SQLITE_OK) {
            ch_sqlite_exec(db, "ROLLBACK");
            return CH_ESTORE;
        }
        version = v + 1;
    }
    if (version_out) *version_out = version;
    return CH_OK;
}

const char *const ch_sqlite_fts_flush_sql[3] = {
    "INSERT INTO calls_fts(calls_fts, rowid, body) SELECT 'delete', rowid, indexed"
    " FROM calls_fts_dirty WHERE indexed IS NOT NULL",
    "INSERT INTO calls_fts(rowid, body) SELECT d.rowid, " CALL_TEXT_C
    " FROM calls_fts_dirty d JOIN calls c ON c.rowid=d.rowid",
    "DELETE FROM calls_fts_dirty",
};

int ch_sqlite_fts_flush(sqlite3 *db)
{
    int rc = SQLITE_OK;
    for (int i = 0; i < 3 && rc == SQLITE_OK; i++)
        rc = ch_sqlite_exec(db, ch_sqlite_fts_flush_sql[i]);
    return rc;
}

int ch_sqlite_migrate_path(const char *path, int *version_out)
{
    sqlite3 *db;
    int rc = ch_sqlite_open(path, false, &db);
    if (rc) return rc;
    rc = ch_sqlite_migrate(db, version_out);
    sqlite3_close(db);
    return rc;
}

char *ch_col_strdup(sqlite3_stmt *st, int col)
{
    if (sqlite3_column_type(st, col) == SQLITE_NULL) return NULL;
    const unsigned char *t = sqlite3_column_text(st, col);
    return t ? ch_strndup((const char *)t, (size_t)sqlite3_column_bytes(st, col)) : NULL;
}

int64_t ch_col_i64(sqlite3_stmt *st, int col)
{
    if (sqlite3_column_type(st, col) == SQLITE_NULL) return CH_NUM_UNSET;
    return sqlite3_column_int64(st, col);
}

int ch_bind_text(sqlite3_stmt *st, int idx, const char *s)
{
    return s ? sqlite3_bind_text(st, idx, s, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, idx);
}

int ch_bind_i64(sqlite3_stmt *st, int idx, int64_t v)
{
    return v == CH_NUM_UNSET ? sqlite3_bind_null(st, idx) : sqlite3_bind_int64(st, idx, v);
}

/* ---- the backend's lifecycle ----------------------------------------------------------- */

static void *checkpointer_main(void *arg)
{
    pthread_setname_np(pthread_self(),
                       "ch-checkpoint"); /* top -H, perf: docs/internals/threads.md */
    ch_sqlite *q = arg;
    sqlite3 *db = NULL;
    if (ch_sqlite_open(q->path, false, &db)) return NULL;
    pthread_mutex_lock(&q->ckpt_lock);
    while (!q->ckpt_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&q->ckpt_wake, &q->ckpt_lock, &ts);
        if (q->ckpt_stop) break;
        pthread_mutex_unlock(&q->ckpt_lock);
        /* PASSIVE: copies what it can without blocking the writer or readers. */
        int log = 0, done = 0;
        if (sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done) ==
            SQLITE_OK)
            atomic_store(&q->ckpt_backfilled, done);
        pthread_mutex_lock(&q->ckpt_lock);
    }
    pthread_mutex_unlock(&q->ckpt_lock);
    sqlite3_close(db);
    return NULL;
}

static void free_backend(ch_sqlite *q)
{
    for (int i = 0; q->readers && i < q->nreaders; i++)
        sqlite3_close(q->readers[i]);
    free(q->readers);
    free(q->free_stack);
    ch_sqlite_writer_free(q);
    /* A clean close checkpoints the WAL into the main file. */
    sqlite3_close(q->wdb);
    free(q->path);
    pthread_mutex_destroy(&q->ckpt_lock);
    pthread_cond_destroy(&q->ckpt_wake);
    pthread_mutex_destroy(&q->rlock);
    pthread_cond_destroy(&q->rfree);
    free(q);
}

int ch_sqlite_backend_open(const char *path, const ch_store_opts *opts, ch_backend **out)
{
    ch_sqlite *q = ch_calloc(1, sizeof *q);
    q->opts = *opts;
    q->path = ch_strdup(path);
    pthread_mutex_init(&q->ckpt_lock, NULL);
    pthread_cond_init(&q->ckpt_wake, NULL);
    pthread_mutex_init(&q->rlock, NULL);
    pthread_cond_init(&q->rfree, NULL);

    int rc = ch_sqlite_open(q->path, false, &q->wdb);
    if (rc) goto fail;
    rc = ch_sqlite_migrate(q->wdb, NULL);
    if (rc) goto fail;
    /* what another process (callhook import) left for the text index */
    if (ch_sqlite_exec(q->wdb, "BEGIN IMMEDIATE") != SQLITE_OK) {
        rc = CH_ESTORE;
        goto fail;
    }
    if (ch_sqlite_fts_flush(q->wdb) != SQLITE_OK || ch_sqlite_exec(q->wdb, "COMMIT") != SQLITE_OK) {
        ch_sqlite_exec(q->wdb, "ROLLBACK");
        rc = CH_ESTORE;
        goto fail;
    }
    if (opts->max_bytes > 0) {
        sqlite3_stmt *st;
        int64_t page = 4096;
        if (sqlite3_prepare_v2(q->wdb, "PRAGMA page_size", -1, &st, NULL) == SQLITE_OK) {
            if (sqlite3_step(st) == SQLITE_ROW) page = sqlite3_column_int64(st, 0);
            sqlite3_finalize(st);
        }
        char *sql = ch_asprintf("PRAGMA max_page_count=%lld", (long long)(opts->max_bytes / page));
        ch_sqlite_exec(q->wdb, sql);
        free(sql);
    }
    q->nreaders = opts->read_conns > 0 ? opts->read_conns : 4;
    q->readers = ch_calloc((size_t)q->nreaders, sizeof *q->readers);
    q->free_stack = ch_calloc((size_t)q->nreaders, sizeof *q->free_stack);
    for (int i = 0; i < q->nreaders; i++) {
        rc = ch_sqlite_open(q->path, true, &q->readers[i]);
        if (rc) goto fail;
        q->free_stack[q->free_top++] = q->readers[i];
    }
    /* Checkpoints (copying WAL pages into the database, with an fsync of its own) run on a
     * thread of their own so that commits never wait for them. */
    ch_sqlite_exec(q->wdb, "PRAGMA wal_autocheckpoint=0");
    if ((rc = ch_sqlite_writer_new(q))) goto fail;
    if (pthread_create(&q->checkpointer, NULL, checkpointer_main, q) != 0) abort();
    *out = (ch_backend *)q;
    return CH_OK;
fail:
    free_backend(q);
    return rc ? rc : CH_ESTORE;
}

void ch_sqlite_backend_close(ch_backend *b)
{
    ch_sqlite *q = Q(b);
    pthread_mutex_lock(&q->ckpt_lock);
    q->ckpt_stop = true;
    pthread_cond_signal(&q->ckpt_wake);
    pthread_mutex_unlock(&q->ckpt_lock);
    pthread_join(q->checkpointer, NULL);
    free_backend(q);
}

int64_t ch_sqlite_changes_head(ch_backend *b)
{
    int64_t head = 0;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(Q(b)->wdb, "SELECT COALESCE(MAX(seq),0) FROM changes", -1, &st, NULL) ==
        SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) head = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    return head;
}

sqlite3 *ch_sqlite_reader(ch_backend *b)
{
    ch_sqlite *q = Q(b);
    pthread_mutex_lock(&q->rlock);
    while (q->free_top == 0)
        pthread_cond_wait(&q->rfree, &q->rlock);
    sqlite3 *db = q->free_stack[--q->free_top];
    pthread_mutex_unlock(&q->rlock);
    return db;
}

void ch_sqlite_reader_done(ch_backend *b, sqlite3 *db)
{
    ch_sqlite *q = Q(b);
    pthread_mutex_lock(&q->rlock);
    q->free_stack[q->free_top++] = db;
    pthread_cond_signal(&q->rfree);
    pthread_mutex_unlock(&q->rlock);
}
