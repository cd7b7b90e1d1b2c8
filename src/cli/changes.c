/* callhook changes: reads the change feed's durable log from a cursor (docs/cli.md,
 * docs/internals/change-feed.md). Read-only; works while the daemon runs. */
#include "cli/args.h"
#include "cli/commands.h"
#include "store/store.h"
#include "util/mem.h"
#include "util/result.h"
#include "util/timeutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A whole decimal number in [0, max], or -1. */
static int64_t parse_count(const char *s, int64_t max)
{
    if (!s || !*s || strlen(s) > 19) return -1;
    int64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9') return -1;
        if (v > (max - (*p - '0')) / 10) return -1;
        v = v * 10 + (*p - '0');
    }
    return v;
}

static json_t *change_json(const ch_change *c)
{
    char at[40];
    ch_time_format_ms(c->at, at, sizeof at);
    json_t *o = json_pack(
        "{s:I, s:I, s:s, s:s}", "seq", (json_int_t)c->seq, "tenant_id", (json_int_t)c->tenant_id,
        "kind", ch_change_kind_str(c->kind) ? ch_change_kind_str(c->kind) : "unknown", "at", at);
    json_object_set_new(o, "call_id", c->call_id[0] ? json_string(c->call_id) : json_null());
    if (c->version > 0) json_object_set_new(o, "version", json_integer(c->version));
    if (c->delivery_id > 0) json_object_set_new(o, "delivery_id", json_integer(c->delivery_id));
    return o;
}

int ch_cmd_changes(int argc, char **argv)
{
    static const char *const valued[] = {"config", "db", "since", "limit", "tenant", NULL};
    ch_args a;
    int rc = ch_args_init(&a, argc, argv, valued);
    const char *since_s = rc ? NULL : ch_arg(&a, "since");
    const char *limit_s = rc ? NULL : ch_arg(&a, "limit");
    const char *slug = rc ? NULL : ch_arg(&a, "tenant");
    if (rc || (rc = ch_args_finish(&a))) {
        ch_args_free(&a);
        return rc;
    }
    int64_t since = since_s ? parse_count(since_s, INT64_MAX) : 0;
    int64_t limit = limit_s ? parse_count(limit_s, CH_CHANGES_MAX_LIMIT) : 100;
    if (a.npositional != 0 || since < 0 || limit < 1) {
        fprintf(stderr,
                "usage: callhook changes [--since CURSOR] [--limit 1..%d] [--tenant SLUG]"
                " [--db PATH] [--json]\n",
                CH_CHANGES_MAX_LIMIT);
        ch_args_free(&a);
        return 2;
    }
    ch_store *store = NULL;
    ch_change_page page = {0};
    ch_tenant t = {0};
    rc = 1;
    if (!(store = ch_args_store(&a))) goto out;
    if (slug) {
        int r = ch_store_tenant_by_slug(store, slug, &t);
        if (r != CH_OK) {
            fprintf(stderr, "callhook: %s\n",
                    r == CH_ENOTFOUND ? "no such tenant" : "cannot read the database");
            goto out;
        }
    }
    if (ch_store_changes_since(store, t.id, since, (int)limit, &page) != CH_OK) {
        fprintf(stderr, "callhook: cannot read the change log\n");
        goto out;
    }
    if (a.json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < page.n; i++)
            json_array_append_new(arr, change_json(&page.v[i]));
        json_t *o = json_pack("{s:o, s:I, s:I, s:b}", "changes", arr, "next_cursor",
                              (json_int_t)page.next_cursor, "head", (json_int_t)page.head, "reset",
                              page.reset);
        char *s = json_dumps(o, JSON_COMPACT);
        puts(s);
        free(s);
        json_decref(o);
    } else {
        if (page.reset)
            printf("cursor %lld is no longer in the log (or is from another database):"
                   " re-read the state, then go on from %lld\n",
                   (long long)since, (long long)page.next_cursor);
        for (size_t i = 0; i < page.n; i++) {
            const ch_change *c = &page.v[i];
            printf("%lld %s %s", (long long)c->seq, ch_change_kind_str(c->kind),
                   c->call_id[0] ? c->call_id : "-");
            if (c->version > 0) printf(" v%lld", (long long)c->version);
            if (c->delivery_id > 0) printf(" delivery %lld", (long long)c->delivery_id);
            printf("\n");
        }
        printf("next cursor: %lld\n", (long long)page.next_cursor);
    }
    rc = 0;
out:
    ch_change_page_clear(&page);
    ch_tenant_clear(&t);
    ch_args_free(&a);
    return rc;
}
