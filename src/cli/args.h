/* Minimal "--name value" / "--flag" argument scanning shared by the commands. Internal. */
#ifndef CH_ARGS_H
#define CH_ARGS_H

#include <stdbool.h>

#include "app/config.h"
#include "store/store.h"

typedef struct {
    int argc;
    char **argv;
    bool *used;
    const char *positional[4];
    int npositional;
    bool json;
    ch_config cfg;
    const char *db;  /* effective database path */
    ch_store *store; /* opened by ch_args_store */
} ch_args;

/* Scans argv: positional arguments, then options. Loads config (file, env, --db). Returns 0
 * or 2 (usage error, message printed). valued lists the options that take a value. */
int ch_args_init(ch_args *a, int argc, char **argv, const char *const *valued);
const char *ch_arg(ch_args *a, const char *name); /* last value of --name, or NULL */
bool ch_flag(ch_args *a, const char *name);       /* --name present */
/* Every value of a repeatable option, joined with commas (caller frees), or NULL. */
char *ch_arg_joined(ch_args *a, const char *name);
/* Prints an error for any option not consumed; returns 2 if there was one. */
int ch_args_finish(ch_args *a);
/* Commits what was written and closes the store. */
void ch_args_free(ch_args *a);
/* The store of a->db, opened on first use with the configuration's settings: the same engine
 * as the daemon's (its own writer in this process, serialised with the daemon's by SQLite's
 * lock). NULL, with a message printed, when it cannot be opened. */
ch_store *ch_args_store(ch_args *a);
/* Tenant slug of the store: CH_OK, CH_ENOTFOUND, or CH_ESTORE. */
int ch_args_tenant(ch_args *a, const char *slug, ch_tenant *t);

#endif
