/* bench/query's filler: writes N calls of one tenant straight into a callhook database that
 * `callhook tenant add` created (so the schema, its indexes and its triggers are the binary's
 * own), with one prepared INSERT and one transaction per 100,000 rows; the indexes of calls and
 * the text index are built in bulk at the end, as the migrations build them for calls already
 * there. Far faster than posting N webhooks, and what is measured is reading, not ingest.
 *
 *   fill DB TENANT_ID N SEED
 *
 * The spread (deterministic for a seed): numbers of a 200,000-number pool, a few of them busy;
 * 5 company numbers; 200 extensions; 4 providers plus a rare one; inbound 60 %, outbound 30 %,
 * internal 10 %; answered 60 %, no_answer 20 %, busy 10 %, failed 7 %, canceled 3 %; a
 * transcript on half the calls, in which the word "invoice" is common (1 call in 6), "walrus"
 * uncommon (1 in 4,000) and "zebrafish" rare (1 in 1,000,000); Hebrew and Latin caller names.
 * Where the database has the delivery summary columns (issue 12's migration), the calls get
 * delivery states too: delivered 85 %, none 10 %, retrying 3 %, failed 2 %. Prints what the
 * queries of run.sh need (a busy number, an extension, a number with no calls, …) as shell
 * assignments. */
#include "store/sqlite/sqlite.h" /* CH_SQLITE_CALL_TEXT: the text the index holds */

#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng;
static uint32_t rnd(void) /* xorshift64* */
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (uint32_t)((rng * 2685821657736338717ULL) >> 32);
}
static uint32_t below(uint32_t n)
{
    return rnd() % n;
}

static const char *const words[] = {
    "hello",    "thanks",  "calling", "about",   "order",   "delivery", "tomorrow", "price",
    "question", "account", "support", "please",  "number",  "service",  "morning",  "again",
    "booking",  "refund",  "week",    "payment", "address", "update",   "schedule", "manager",
    "shalom",   "todah",   "בבקשה",   "תודה",    "הזמנה",   "משלוח",    "מחר",      "שלום"};
static const char *const first[] = {"Dana",  "Noa",  "Avi",    "Maya",  "Oliver", "Emma",
                                    "Lucas", "Sara", "Daniel", "יוסי",  "מיכל",   "רונית",
                                    "Pepe",  "Inès", "Jonas",  "Aisha", "Chen",   "Ivan"};
static const char *const last[] = {"Levi",  "Cohen", "Mizrahi", "Smith",  "Garcia", "Müller",
                                   "כהן",   "לוי",   "Peretz",  "Dubois", "Rossi",  "Kim",
                                   "Nowak", "Silva", "Haddad",  "Tanaka", "Berg",   "Friedman"};
static const char *const providers[] = {"asterisk", "twilio", "freeswitch", "ucm"};

#define POOL 200000

/* migration 10's fill of the text index for the calls already there */
#define FTS_FILL                                                                                   \
    "INSERT INTO calls_fts(rowid, body) SELECT rowid, " CH_SQLITE_CALL_TEXT("calls") " FROM calls"
#define DIDS 5

/* the i-th external number of the pool: raw as a PBX shows it, and E.164 */
static void external(uint32_t i, char *raw, char *e164)
{
    sprintf(raw, "05%u-%03u-%04u", 2 + i % 7, (i / 7) % 1000, (i / 7000) % 10000 + 1000);
    sprintf(e164, "+9725%u%03u%04u", 2 + i % 7, (i / 7) % 1000, (i / 7000) % 10000 + 1000);
}

/* a pool index: 1 call in 20 goes to one of 20 busy numbers, the rest spread evenly */
static uint32_t pick_external(void)
{
    return below(20) == 0 ? below(20) : 20 + below(POOL - 20);
}

static void append(char *buf, size_t cap, const char *s)
{
    size_t n = strlen(buf);
    snprintf(buf + n, cap - n, "%s", s);
}

static int has_column(sqlite3 *db, const char *table, const char *col)
{
    char q[256];
    snprintf(q, sizeof q, "SELECT 1 FROM pragma_table_info('%s') WHERE name='%s'", table, col);
    sqlite3_stmt *st;
    int yes = 0;
    if (sqlite3_prepare_v2(db, q, -1, &st, NULL) == SQLITE_OK) {
        yes = sqlite3_step(st) == SQLITE_ROW;
        sqlite3_finalize(st);
    }
    return yes;
}

/* The SQL of trigger name, or NULL (caller frees) */
static char *trigger_sql(sqlite3 *db, const char *name)
{
    sqlite3_stmt *st;
    char *sql = NULL;
    if (sqlite3_prepare_v2(db, "SELECT sql FROM sqlite_master WHERE type='trigger' AND name=?1", -1,
                           &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) sql = strdup((const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
    }
    return sql;
}

static void check(sqlite3 *db, int rc, const char *what)
{
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
        fprintf(stderr, "fill: %s: %s\n", what, sqlite3_errmsg(db));
        exit(1);
    }
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: fill DB TENANT_ID N SEED\n");
        return 2;
    }
    const char *path = argv[1];
    long long tenant = atoll(argv[2]), n = atoll(argv[3]);
    rng = (uint64_t)atoll(argv[4]) * 0x9E3779B97F4A7C15ULL + 1;
    sqlite3 *db;
    check(NULL, sqlite3_open(path, &db), "open");
    check(db,
          sqlite3_exec(
              db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF; PRAGMA cache_size=-262144;",
              NULL, NULL, NULL),
          "pragmas");
    int dlv = has_column(db, "calls", "delivery_state");
    /* Ten million rows a row at a time into a table with a dozen indexes is hours (each row
     * seeks every index); CREATE INDEX over the filled table sorts once. So the indexes of
     * calls (not its keys) and the text index's insert trigger are set aside here and made
     * again after the fill, the text index filled with migration 10's own statement. */
    char **saved = NULL, **names = NULL;
    size_t nsaved = 0;
    sqlite3_stmt *st;
    check(db,
          sqlite3_prepare_v2(db,
                             "SELECT name, sql FROM sqlite_master WHERE tbl_name='calls' AND"
                             " type='index' AND sql IS NOT NULL AND name<>'calls_recent'",
                             -1, &st, NULL),
          "indexes");
    while (sqlite3_step(st) == SQLITE_ROW) {
        saved = realloc(saved, (nsaved + 1) * sizeof *saved);
        names = realloc(names, (nsaved + 1) * sizeof *names);
        names[nsaved] = strdup((const char *)sqlite3_column_text(st, 0));
        saved[nsaved++] = strdup((const char *)sqlite3_column_text(st, 1));
    }
    sqlite3_finalize(st);
    for (size_t i = 0; i < nsaved; i++) { /* not while reading sqlite_master: it is locked */
        char *drop = sqlite3_mprintf("DROP INDEX %w", names[i]);
        check(db, sqlite3_exec(db, drop, NULL, NULL, NULL), "drop index");
        sqlite3_free(drop);
        free(names[i]);
    }
    free(names);
    char *fts_trigger = trigger_sql(db, "calls_fts_insert");
    if (fts_trigger)
        check(db, sqlite3_exec(db, "DROP TRIGGER calls_fts_insert", NULL, NULL, NULL), "drop");
    const char *sql =
        dlv ? "INSERT INTO calls(tenant_id, id, provider, external_id, direction, status,"
              " disposition, from_e164, to_e164, from_raw, to_raw, caller_name, extension,"
              " started_at, answered_at, ended_at, duration_sec, billsec, transcript, summary,"
              " sort_ts, created_at, updated_at, event_count, delivery_state, delivery_total,"
              " delivery_succeeded, delivery_failed, delivery_pending) VALUES(?1,?2,?3,?4,?5,?6,"
              "?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22,?23,2,?24,?25,?26,?27,"
              "?28)"
            : "INSERT INTO calls(tenant_id, id, provider, external_id, direction, status,"
              " disposition, from_e164, to_e164, from_raw, to_raw, caller_name, extension,"
              " started_at, answered_at, ended_at, duration_sec, billsec, transcript, summary,"
              " sort_ts, created_at, updated_at, event_count) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,"
              "?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22,?23,2)";
    sqlite3_stmt *ins;
    check(db, sqlite3_prepare_v2(db, sql, -1, &ins, NULL), "prepare");
    /* two years of calls ending now-ish, in order of creation, started a few seconds apart */
    int64_t t0 = 1733000000000LL - 2LL * 365 * 86400 * 1000;
    int64_t step = 2LL * 365 * 86400 * 1000 / (n ? n : 1);
    if (step < 1) step = 1;
    check(db, sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), "begin");
    for (long long i = 0; i < n; i++) {
        char id[40], ext_id[40], fr[32], fe[32], tr[32], te[32], ext[8], name[96];
        char transcript[600] = "", summary[200] = "";
        snprintf(id, sizeof id, "c_%012llx%06llx", (unsigned long long)i, (unsigned long long)i);
        snprintf(ext_id, sizeof ext_id, "bench-%lld", i);
        const char *prov = below(100000) == 0 ? "bolna"
                                              : providers[below(10) < 4   ? 0
                                                          : below(3) == 0 ? 3
                                                          : below(2)      ? 1
                                                                          : 2];
        uint32_t d = below(10);
        const char *dir = d < 6 ? "inbound" : d < 9 ? "outbound" : "internal";
        uint32_t ds = below(100);
        const char *disp = ds < 60   ? "answered"
                           : ds < 80 ? "no_answer"
                           : ds < 90 ? "busy"
                           : ds < 97 ? "failed"
                                     : "canceled";
        snprintf(ext, sizeof ext, "%u", 1000 + below(200));
        uint32_t did = below(DIDS);
        char dr[32], de[32];
        snprintf(dr, sizeof dr, "03-555-%04u", 1000 + did);
        snprintf(de, sizeof de, "+97235551%03u", did);
        char xr[32], xe[32];
        external(pick_external(), xr, xe);
        int e164 = 1;
        if (dir[0] == 'i' && dir[2] == 'b') { /* inbound: external -> company number */
            strcpy(fr, xr), strcpy(fe, xe), strcpy(tr, dr), strcpy(te, de);
        } else if (dir[0] == 'o') {
            strcpy(fr, dr), strcpy(fe, de), strcpy(tr, xr), strcpy(te, xe);
        } else { /* internal: extension to extension, no E.164 */
            strcpy(fr, ext);
            snprintf(tr, sizeof tr, "%u", 1000 + below(200));
            e164 = 0;
        }
        snprintf(name, sizeof name, "%s %s", first[below(18)], last[below(18)]);
        if (below(2)) {
            int nw = 8 + (int)below(40);
            for (int w = 0; w < nw; w++) {
                append(transcript, sizeof transcript, w ? " " : "");
                append(transcript, sizeof transcript, words[below(32)]);
            }
            if (below(3) == 0) append(transcript, sizeof transcript, " invoice");
            if (below(2000) == 0) append(transcript, sizeof transcript, " walrus");
            if (below(500000) == 0) append(transcript, sizeof transcript, " zebrafish");
            if (below(10) < 6) {
                for (int w = 0; w < 6; w++) {
                    append(summary, sizeof summary, w ? " " : "");
                    append(summary, sizeof summary, words[below(32)]);
                }
            }
        }
        int64_t started = t0 + i * step + (int64_t)below(1000);
        int answered = disp[0] == 'a';
        int64_t dur = answered ? 10 + below(600) : below(30);
        sqlite3_reset(ins);
        sqlite3_bind_int64(ins, 1, tenant);
        sqlite3_bind_text(ins, 2, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(ins, 3, prov, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 4, ext_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(ins, 5, dir, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 6, "ended", -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 7, disp, -1, SQLITE_STATIC);
        if (e164) {
            sqlite3_bind_text(ins, 8, fe, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(ins, 9, te, -1, SQLITE_TRANSIENT);
        } else {
            sqlite3_bind_null(ins, 8);
            sqlite3_bind_null(ins, 9);
        }
        sqlite3_bind_text(ins, 10, fr, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(ins, 11, tr, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(ins, 12, name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(ins, 13, ext, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(ins, 14, started);
        if (answered)
            sqlite3_bind_int64(ins, 15, started + 5000);
        else
            sqlite3_bind_null(ins, 15);
        sqlite3_bind_int64(ins, 16, started + dur * 1000);
        sqlite3_bind_int64(ins, 17, dur);
        sqlite3_bind_int64(ins, 18, answered ? dur - 5 : 0);
        if (transcript[0])
            sqlite3_bind_text(ins, 19, transcript, -1, SQLITE_TRANSIENT);
        else
            sqlite3_bind_null(ins, 19);
        if (summary[0])
            sqlite3_bind_text(ins, 20, summary, -1, SQLITE_TRANSIENT);
        else
            sqlite3_bind_null(ins, 20);
        sqlite3_bind_int64(ins, 21, started);
        sqlite3_bind_int64(ins, 22, started);
        sqlite3_bind_int64(ins, 23, started + dur * 1000);
        if (dlv) {
            uint32_t s = below(100);
            int total = s < 10 ? 0 : 1 + (int)below(2);
            const char *state = s < 10   ? "none"
                                : s < 95 ? "delivered"
                                : s < 98 ? "retrying"
                                         : "failed";
            int failed = state[0] == 'f', pending = state[0] == 'r';
            sqlite3_bind_text(ins, 24, state, -1, SQLITE_STATIC);
            sqlite3_bind_int(ins, 25, total);
            sqlite3_bind_int(ins, 26, total - failed - pending);
            sqlite3_bind_int(ins, 27, failed);
            sqlite3_bind_int(ins, 28, pending);
        }
        check(db, sqlite3_step(ins), "insert");
        if ((i + 1) % 100000 == 0) {
            check(db, sqlite3_exec(db, "COMMIT; BEGIN", NULL, NULL, NULL), "commit");
            if ((i + 1) % 1000000 == 0) fprintf(stderr, "fill: %lld calls\n", i + 1);
        }
    }
    check(db, sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), "commit");
    sqlite3_finalize(ins);
    for (size_t i = 0; i < nsaved; i++) {
        fprintf(stderr, "fill: %s\n", saved[i]);
        check(db, sqlite3_exec(db, saved[i], NULL, NULL, NULL), "create index");
        free(saved[i]);
    }
    free(saved);
    if (fts_trigger) {
        fprintf(stderr, "fill: the text index\n");
        check(db, sqlite3_exec(db, FTS_FILL, NULL, NULL, NULL), "text index");
        check(db, sqlite3_exec(db, fts_trigger, NULL, NULL, NULL), "trigger");
        free(fts_trigger);
    }
    check(db, sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL), "checkpoint");
    sqlite3_close(db);
    /* what run.sh asks for: a busy number (raw and E.164), a number of the pool with few calls,
     * a number nobody called, an extension, a company number */
    char raw[32], e[32];
    external(3, raw, e);
    printf("BUSY_RAW='%s'\nBUSY_E164='%s'\n", raw, e);
    external(POOL - 7, raw, e);
    printf("QUIET_E164='%s'\n", e);
    printf("NONE_NUMBER='+15550000000'\nEXTENSION='1042'\nCOMPANY='+97235551002'\n");
    return 0;
}
