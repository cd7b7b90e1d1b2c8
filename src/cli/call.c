/* callhook call trace SLUG CALL_ID: everything that happened to one call, as GET
 * /v1/calls/{id}/trace shows it (docs/http-api.md). */
#include "cli/args.h"
#include "cli/commands.h"
#include "store/store.h"
#include "util/result.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ch_cmd_call(const char *sub, int argc, char **argv)
{
    static const char *const valued[] = {"config", "db", NULL};
    ch_args a;
    int rc = ch_args_init(&a, argc, argv, valued);
    if (rc || (rc = ch_args_finish(&a))) goto out;
    if (strcmp(sub, "trace") != 0 || a.npositional != 2) {
        fprintf(stderr, "usage: callhook call trace SLUG CALL_ID\n");
        rc = 2;
        goto out;
    }
    ch_tenant t;
    int r = ch_args_tenant(&a, a.positional[0], &t);
    if (r) {
        fprintf(stderr, "callhook: %s\n",
                r == CH_ENOTFOUND ? "no such tenant" : "cannot read the database");
        rc = 1;
        goto out;
    }
    json_t *trace = NULL;
    r = ch_store_call_trace(a.store, t.id, a.positional[1], &trace);
    ch_tenant_clear(&t);
    if (r) {
        fprintf(stderr, "callhook: %s\n",
                r == CH_ENOTFOUND ? "no such call" : "cannot read the database");
        rc = 1;
        goto out;
    }
    char *s = json_dumps(trace, a.json ? JSON_COMPACT : JSON_INDENT(2));
    puts(s ? s : "null");
    free(s);
    json_decref(trace);
out:
    ch_args_free(&a);
    return rc;
}
