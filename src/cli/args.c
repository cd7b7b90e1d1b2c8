#include "cli/args.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/result.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool takes_value(const char *const *valued, const char *name)
{
    for (; *valued; valued++)
        if (strcmp(*valued, name) == 0) return true;
    return false;
}

int ch_args_init(ch_args *a, int argc, char **argv, const char *const *valued)
{
    memset(a, 0, sizeof *a);
    a->argc = argc;
    a->argv = argv;
    a->used = ch_calloc((size_t)argc + 1, sizeof *a->used);
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        if (strncmp(s, "--", 2) == 0) {
            /* --db-mode: every command that may create the database takes it */
            if (takes_value(valued, s + 2) || strcmp(s + 2, "db-mode") == 0) {
                if (i + 1 >= argc) {
                    fprintf(stderr, "callhook: %s needs a value\n", s);
                    return 2;
                }
                i++;
            }
            continue;
        }
        if (a->npositional == 4) {
            fprintf(stderr, "callhook: unexpected argument %s\n", s);
            return 2;
        }
        a->used[i] = true;
        a->positional[a->npositional++] = s;
    }
    a->json = ch_flag(a, "json");
    ch_config_defaults(&a->cfg);
    char err[512];
    const char *cfgfile = ch_arg(a, "config");
    if (!cfgfile) cfgfile = getenv("CALLHOOK_CONFIG");
    if (cfgfile && *cfgfile && ch_config_load_file(&a->cfg, cfgfile, err, sizeof err)) {
        fprintf(stderr, "callhook: %s\n", err);
        return 2;
    }
    if (ch_config_load_env(&a->cfg, err, sizeof err)) {
        fprintf(stderr, "callhook: %s\n", err);
        return 2;
    }
    const char *db = ch_arg(a, "db");
    if (db) snprintf(a->cfg.db, sizeof a->cfg.db, "%s", db);
    a->db = a->cfg.db;
    const char *mode = ch_arg(a, "db-mode");
    if (mode && ch_config_set(&a->cfg, "store", "db_mode", mode, err, sizeof err)) {
        fprintf(stderr, "callhook: --db-mode is 0600 or 0640 (the database holds secrets)\n");
        return 2;
    }
    ch_store_set_file_mode(a->cfg.db_mode);
    return 0;
}

const char *ch_arg(ch_args *a, const char *name)
{
    const char *v = NULL;
    for (int i = 0; i + 1 < a->argc; i++) {
        if (strncmp(a->argv[i], "--", 2) == 0 && strcmp(a->argv[i] + 2, name) == 0 &&
            !a->used[i + 1]) {
            a->used[i] = a->used[i + 1] = true;
            v = a->argv[i + 1];
            i++;
        }
    }
    return v;
}

bool ch_flag(ch_args *a, const char *name)
{
    bool found = false;
    for (int i = 0; i < a->argc; i++)
        if (strncmp(a->argv[i], "--", 2) == 0 && strcmp(a->argv[i] + 2, name) == 0) {
            a->used[i] = true;
            found = true;
        }
    return found;
}

char *ch_arg_joined(ch_args *a, const char *name)
{
    /* the ceiling is the whole command line, which the values and their commas cannot pass:
     * argv is bounded by the kernel (ARG_MAX), and a failed append here would be a bug */
    size_t all = 0;
    for (int i = 0; i < a->argc; i++)
        all += strlen(a->argv[i]) + 1;
    ch_buf b;
    ch_buf_init(&b, all);
    for (int i = 0; i + 1 < a->argc; i++) {
        if (strncmp(a->argv[i], "--", 2) == 0 && strcmp(a->argv[i] + 2, name) == 0) {
            if ((b.len && ch_buf_puts(&b, ",")) || ch_buf_puts(&b, a->argv[i + 1])) abort();
            a->used[i] = a->used[i + 1] = true;
            i++;
        }
    }
    return b.len ? ch_buf_steal(&b, NULL) : (ch_buf_free(&b), NULL);
}

int ch_args_finish(ch_args *a)
{
    ch_arg(a, "config");
    ch_arg(a, "db");
    for (int i = 0; i < a->argc; i++)
        if (!a->used[i]) {
            fprintf(stderr, "callhook: unknown option %s (see callhook --help)\n", a->argv[i]);
            return 2;
        }
    return 0;
}

void ch_args_free(ch_args *a)
{
    if (a->store) ch_store_close(a->store);
    a->store = NULL;
    free(a->used);
}

ch_store *ch_args_store(ch_args *a)
{
    if (a->store) return a->store;
    ch_store_opts so;
    ch_config_store_opts(&a->cfg, &so);
    so.read_conns = 1;
    if (ch_store_open(&a->store, &so) != CH_OK) {
        fprintf(stderr, "callhook: cannot open the database %s\n", a->db);
        a->store = NULL;
    }
    return a->store;
}

int ch_args_tenant(ch_args *a, const char *slug, ch_tenant *t)
{
    ch_store *s = ch_args_store(a);
    return s ? ch_store_tenant_by_slug(s, slug, t) : CH_ESTORE;
}
