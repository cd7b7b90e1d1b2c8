/* Shared by the SQLite store's files; not for other modules. */
#ifndef CH_SQLITE_INTERNAL_H
#define CH_SQLITE_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>

#include "store/store.h"

#define CH_SCHEMA_VERSION 1

struct ch_store {
    ch_store_opts opts;
    char *path;
    /* writer */
    sqlite3 *wdb;
    pthread_t writer;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    ch_write_job *head, *tail;
    size_t depth;
    bool stopping;
    atomic_bool writable;
    pthread_mutex_t stats_lock;
    ch_store_stats stats;
    /* checkpointer: moves WAL pages into the database file off the writer's path */
    pthread_t checkpointer;
    pthread_cond_t ckpt_wake;
    bool ckpt_stop;
    atomic_int ckpt_backfilled; /* WAL frames the last background checkpoint left copied */
    /* read pool */
    sqlite3 **readers;
    int nreaders, free_top;
    sqlite3 **free_stack;
    pthread_mutex_t rlock;
    pthread_cond_t rfree;
    /* the change feed: published to after every commit */
    ch_feed *feed;
};

/* Opens a connection with callhook's settings (WAL, FULL sync, busy timeout). */
int ch_sqlite_open(const char *path, bool readonly, sqlite3 **out);
/* Creates/upgrades the schema on db. */
int ch_sqlite_migrate(sqlite3 *db, int *version_out);
int ch_sqlite_exec(sqlite3 *db, const char *sql);
void ch_sqlite_log_error(sqlite3 *db, const char *what, int rc);

sqlite3 *ch_store_reader(ch_store *s);
void ch_store_reader_done(ch_store *s, sqlite3 *db);

/* Text column or NULL, copied. */
char *ch_col_strdup(sqlite3_stmt *st, int col);
/* Integer column, or CH_NUM_UNSET when NULL. */
int64_t ch_col_i64(sqlite3_stmt *st, int col);
/* Binds text, NULL when s is NULL. */
int ch_bind_text(sqlite3_stmt *st, int idx, const char *s);
/* Binds an integer, NULL when CH_NUM_UNSET. */
int ch_bind_i64(sqlite3_stmt *st, int idx, int64_t v);

/* The leg / call state as stored and served (calljson.c). */
json_t *ch_callstate_json(const ch_callstate *c, bool leg);

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
int ch_sqlite_op_apply(sqlite3 *db, ch_change_log *changes, int64_t now, ch_op *op, int *sqlite_rc);

/* Writer thread (sqlite_write.c). */
void *ch_writer_main(void *arg);

#endif
