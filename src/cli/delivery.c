/* callhook delivery list|show|replay|recover|test|skipped|schedule: the outbox as the tenant
 * sees it (docs/webhooks.md). A serving daemon picks up replays and test messages written
 * here within a second. */
#include "cli/args.h"
#include "cli/commands.h"
#include "delivery/schedule.h"
#include "store/store.h"
#include "util/mem.h"
#include "util/result.h"
#include "util/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(void)
{
    fprintf(
        stderr,
        "usage: callhook delivery list SLUG [--endpoint ID] [--state pending|succeeded|failed]\n"
        "                [--limit N]\n"
        "       callhook delivery show SLUG DELIVERY_ID\n"
        "       callhook delivery replay SLUG DELIVERY_ID\n"
        "       callhook delivery recover SLUG ENDPOINT_ID --since TIME\n"
        "       callhook delivery test SLUG ENDPOINT_ID\n"
        "       callhook delivery skipped SLUG\n"
        "       callhook delivery schedule SLUG '5s,5m,30m,…'|default\n");
    return 2;
}

static int64_t parse_id(const char *s)
{
    char *end;
    long long v = s ? strtoll(s, &end, 10) : 0;
    return s && *s && !*end && v > 0 ? v : 0;
}

static void print_json(json_t *o, bool compact)
{
    char *s = json_dumps(o, compact ? JSON_COMPACT : JSON_INDENT(2));
    puts(s);
    free(s);
}

int ch_cmd_delivery(const char *sub, int argc, char **argv)
{
    static const char *const valued[] = {"config", "db",    "endpoint", "state",
                                         "limit",  "since", NULL};
    ch_args a;
    ch_tenant t = {0};
    json_t *o = NULL;
    int rc = ch_args_init(&a, argc, argv, valued);
    if (rc) {
        ch_args_free(&a);
        return rc;
    }
    const char *ep = ch_arg(&a, "endpoint"), *state = ch_arg(&a, "state");
    const char *lim = ch_arg(&a, "limit"), *since = ch_arg(&a, "since");
    if ((rc = ch_args_finish(&a))) goto out;
    static const struct {
        const char *name;
        int args;
    } subs[] = {{"list", 1}, {"show", 2},    {"replay", 2},  {"recover", 2},
                {"test", 2}, {"skipped", 1}, {"schedule", 2}};
    int want = -1;
    for (size_t i = 0; i < sizeof subs / sizeof *subs; i++)
        if (!strcmp(sub, subs[i].name)) want = subs[i].args;
    if (want < 0 || a.npositional != want) {
        rc = usage();
        goto out;
    }
    int r = ch_args_tenant(&a, a.positional[0], &t);
    if (r) {
        fprintf(stderr, "callhook: %s\n",
                r == CH_ENOTFOUND ? "no such tenant" : "cannot read the database");
        rc = 1;
        goto out;
    }
    int64_t id = want == 2 ? parse_id(a.positional[1]) : 0;
    if (want == 2 && strcmp(sub, "schedule") != 0 && id == 0) {
        rc = usage();
        goto out;
    }
    rc = 1;
    if (!strcmp(sub, "list")) {
        if (state && strcmp(state, "pending") && strcmp(state, "succeeded") &&
            strcmp(state, "failed")) {
            rc = usage();
            goto out;
        }
        r = ch_store_delivery_list(a.store, t.id, parse_id(ep), state, 0, lim ? atoi(lim) : 100,
                                   &o);
    } else if (!strcmp(sub, "show")) {
        r = ch_store_delivery_get(a.store, t.id, id, &o);
    } else if (!strcmp(sub, "skipped")) {
        r = ch_store_delivery_skips(a.store, t.id, &o);
    } else if (!strcmp(sub, "replay")) {
        ch_op op = {.kind = CH_OP_DELIVERY_REPLAY, .tenant_id = t.id, .id = id};
        r = ch_store_write(a.store, &op, 1);
        if (r == CH_EEXIST) {
            fprintf(stderr, "callhook: delivery %lld is still pending\n", (long long)id);
            goto out;
        }
        if (!r) o = json_pack("{s:I, s:b}", "id", (json_int_t)id, "replayed", 1);
    } else if (!strcmp(sub, "recover")) {
        int64_t since_ms;
        if (!since || ch_time_parse(since, "UTC", &since_ms) != CH_OK) {
            fprintf(stderr, "callhook: --since wants a time such as 2026-11-20T00:00:00Z\n");
            rc = 2;
            goto out;
        }
        ch_op op = {.kind = CH_OP_ENDPOINT_RECOVER, .tenant_id = t.id, .id = id};
        op.in.since_ms = since_ms;
        r = ch_store_write(a.store, &op, 1);
        int64_t n = op.id_out;
        if (!r)
            o = json_pack("{s:I, s:I}", "endpoint_id", (json_int_t)id, "replayed", (json_int_t)n);
    } else if (!strcmp(sub, "test")) {
        ch_op op = {.kind = CH_OP_ENDPOINT_TEST, .tenant_id = t.id, .id = id};
        r = ch_store_write(a.store, &op, 1);
        int64_t did = op.id_out;
        if (!r)
            o = json_pack("{s:I, s:I}", "endpoint_id", (json_int_t)id, "delivery_id",
                          (json_int_t)did);
    } else { /* schedule */
        const char *text = a.positional[1];
        bool dflt = !strcmp(text, "default");
        ch_retry_schedule rs;
        char why[200];
        if (!dflt && (ch_retry_schedule_parse(text, &rs, why, sizeof why) != CH_OK ||
                      ch_retry_schedule_tenant_check(&rs, why, sizeof why) != CH_OK)) {
            fprintf(stderr, "callhook: %s\n", why);
            rc = 2;
            goto out;
        }
        ch_op op = {.kind = CH_OP_TENANT_SET_RETRY, .tenant_id = t.id};
        op.in.retry_schedule = dflt ? NULL : text;
        r = ch_store_write(a.store, &op, 1);
        if (!r)
            o = json_pack("{s:s, s:s}", "tenant", t.slug, "retry_schedule",
                          dflt ? "default" : text);
    }
    if (r == CH_EDISABLED) {
        fprintf(stderr, "callhook: the endpoint is disabled or removed; enable it first\n");
        goto out;
    }
    if (r == CH_ENOTFOUND) {
        fprintf(stderr, "callhook: tenant '%s' has no %s %lld\n", t.slug,
                !strcmp(sub, "recover") || !strcmp(sub, "test") ? "endpoint" : "delivery",
                (long long)id);
        goto out;
    }
    if (r) {
        fprintf(stderr, "callhook: cannot use the database %s\n", a.db);
        goto out;
    }
    print_json(o, a.json);
    rc = 0;
out:
    json_decref(o);
    ch_tenant_clear(&t);
    ch_args_free(&a);
    return rc;
}
