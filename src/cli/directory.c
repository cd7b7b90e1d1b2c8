/* callhook employee add|list, callhook lead add|list: the tenant's directory (docs/directory.md).
 */
#include "cli/args.h"
#include "cli/commands.h"
#include "store/store.h"
#include "util/mem.h"
#include "util/phone.h"
#include "util/result.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int done(ch_args *a, int rc)
{
    ch_args_free(a);
    return rc;
}

int ch_cmd_directory(const char *what, const char *sub, int argc, char **argv)
{
    static const char *const valued[] = {"config", "db", "name", "email", NULL};
    ch_args a;
    int rc = ch_args_init(&a, argc, argv, valued);
    const char *name = rc ? NULL : ch_arg(&a, "name"), *email = rc ? NULL : ch_arg(&a, "email");
    if (rc || (rc = ch_args_finish(&a))) return done(&a, rc);
    bool emp = strcmp(what, "employee") == 0, add = strcmp(sub, "add") == 0;
    if (a.npositional != (add ? 2 : 1) || (!add && strcmp(sub, "list") != 0) || (!emp && email)) {
        fprintf(stderr, "usage: callhook employee add SLUG EXTENSION [--name N] [--email E]\n"
                        "       callhook lead add SLUG PHONE [--name N]\n"
                        "       callhook employee|lead list SLUG\n");
        return done(&a, 2);
    }
    ch_tenant t;
    int r = ch_args_tenant(&a, a.positional[0], &t);
    if (r) {
        fprintf(stderr, "callhook: %s\n",
                r == CH_ENOTFOUND ? "no such tenant" : "cannot read the database");
        return done(&a, 1);
    }
    rc = 1;
    if (!add) {
        json_t *list;
        if (ch_store_directory_list(a.store, t.id, emp ? "employees" : "leads", &list) == CH_OK) {
            char *s = json_dumps(list, a.json ? JSON_COMPACT : JSON_INDENT(2));
            puts(s);
            free(s);
            json_decref(list);
            rc = 0;
        }
        goto out;
    }
    const char *key = a.positional[1];
    ch_op op = {.kind = emp ? CH_OP_EMPLOYEE_ADD : CH_OP_LEAD_ADD, .tenant_id = t.id};
    char e164[24];
    if (emp) {
        if (!*key || strlen(key) > 32) {
            fprintf(stderr, "callhook: an extension is 1 to 32 characters\n");
            rc = 2;
            goto out;
        }
        op.in.employee.extension = key;
        op.in.employee.name = name;
        op.in.employee.email = email;
    } else {
        if (!ch_phone_e164(key, t.country, e164, sizeof e164)) {
            fprintf(stderr, "callhook: '%s' is not a phone number (country code %s)\n", key,
                    t.country ? t.country : "none");
            rc = 2;
            goto out;
        }
        op.in.lead.phone_e164 = e164;
        op.in.lead.phone_raw = key;
        op.in.lead.name = name;
    }
    int64_t id = 0;
    if ((r = ch_store_write(a.store, &op, 1)) == CH_OK) id = op.id_out;
    if (r) {
        fprintf(stderr, "callhook: cannot write to %s\n", a.db);
        goto out;
    }
    if (a.json)
        printf("{\"tenant\":\"%s\",\"%s\":{\"id\":%lld}}\n", t.slug, emp ? "employee" : "lead",
               (long long)id);
    else if (emp)
        printf("employee %lld: extension %s of '%s'; calls handled by %s are linked to them\n",
               (long long)id, key, t.slug, key);
    else
        printf("lead %lld: %s (%s) of '%s'; calls with this number are linked to it\n",
               (long long)id, e164, key, t.slug);
    rc = 0;
out:
    ch_tenant_clear(&t);
    return done(&a, rc);
}
