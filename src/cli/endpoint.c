/* callhook endpoint add|update|list|disable|enable|rotate|remove: where the tenant's call events
 * go and in which shape (docs/webhooks.md). The secret is printed once, when it is made. */
#include "cli/args.h"
#include "cli/commands.h"
#include "core/payload.h"
#include "delivery/endpoint.h"
#include "store/store.h"
#include "util/crypto.h"
#include "util/mem.h"
#include "util/result.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROTATE_OVERLAP_MS (24LL * 3600 * 1000) /* both secrets sign for a day */

static int usage(void)
{
    fprintf(stderr,
            "usage: callhook endpoint add SLUG URL [--kind inbound|outbound|generic|status]\n"
            "                [--events LIST] [--header 'Name: value']... [--timeout-ms N]\n"
            "                [--rate-limit N-per-minute] [--payload standard|flat]\n"
            "       callhook endpoint update SLUG ID [--kind K] [--events LIST]\n"
            "                [--header 'Name: value']... [--timeout-ms N] [--rate-limit N]\n"
            "                [--payload standard|flat]\n"
            "       callhook endpoint list SLUG\n"
            "       callhook endpoint disable|enable|rotate|remove SLUG ID\n");
    return 2;
}

/* endpoint update: the options given change, the others stay (NULL: not given). */
static int endpoint_update(ch_args *a, const ch_tenant *t, long long id, const char *kind,
                           const char *events, const json_t *headers, const char *tmo,
                           const char *rl, const char *shape)
{
    if (kind && !ch_endpoint_kind_valid(kind)) {
        fprintf(stderr, "callhook: --kind is inbound, outbound, generic or status\n");
        return 2;
    }
    const char *bad = events ? ch_endpoint_events_problem(events) : NULL;
    if (bad) {
        fprintf(stderr, "callhook: unknown event type '%s' in --events\n", bad);
        return 2;
    }
    long long timeout = tmo ? strtoll(tmo, NULL, 10) : -1, rate = rl ? strtoll(rl, NULL, 10) : -1;
    if ((tmo && (timeout < 1000 || timeout > 60000)) || (rl && (rate < 0 || rate > 1000000))) {
        fprintf(stderr, "callhook: --timeout-ms is 1000–60000, --rate-limit 0 (none) or more\n");
        return 2;
    }
    if (!kind && !events && !headers && !tmo && !rl && !shape) {
        fprintf(stderr, "callhook: endpoint update: nothing to change\n");
        return 2;
    }
    ch_endpoint_spec spec = {.kind = kind,
                             .events = events,
                             .headers = headers,
                             .timeout_ms = timeout,
                             .rate_limit_per_min = rate,
                             .payload = shape};
    ch_op op = {.kind = CH_OP_ENDPOINT_UPDATE, .tenant_id = t->id, .id = id, .in.endpoint = spec};
    int r = ch_store_write(a->store, &op, 1);
    if (r == CH_ENOTFOUND) {
        fprintf(stderr, "callhook: tenant '%s' has no endpoint %lld\n", t->slug, id);
        return 1;
    }
    if (r) {
        fprintf(stderr, "callhook: cannot write to %s\n", a->db);
        return 1;
    }
    json_t *o = NULL;
    if (ch_store_endpoint_list(a->store, t->id, id, &o) != CH_OK) return 1;
    json_t *e = json_array_get(json_object_get(o, "endpoints"), 0);
    if (a->json) {
        char *s = json_dumps(e, JSON_COMPACT);
        puts(s ? s : "null");
        free(s);
    } else {
        printf("Endpoint %lld of '%s' updated: %s (%s calls, events %s, %s payload)\n", id, t->slug,
               json_string_value(json_object_get(e, "url")),
               json_string_value(json_object_get(e, "kind")),
               json_string_value(json_object_get(e, "events")),
               json_string_value(json_object_get(e, "payload")));
    }
    json_decref(o);
    return 0;
}

int ch_cmd_endpoint(const char *sub, int argc, char **argv)
{
    static const char *const valued[] = {"config",     "db",         "kind",    "events", "header",
                                         "timeout-ms", "rate-limit", "payload", NULL};
    ch_args a;
    int rc = ch_args_init(&a, argc, argv, valued);
    if (rc) {
        ch_args_free(&a);
        return rc;
    }
    const char *kind = ch_arg(&a, "kind"), *events = ch_arg(&a, "events");
    const char *tmo = ch_arg(&a, "timeout-ms"), *rl = ch_arg(&a, "rate-limit");
    const char *shape = ch_arg(&a, "payload");
    json_t *headers = json_object();
    bool bad_header = false, any_header = false;
    for (int i = 0; i + 1 < a.argc; i++) {
        if (strcmp(a.argv[i], "--header") != 0) continue;
        any_header = true;
        const char *problem = ch_endpoint_header_problem(a.argv[i + 1]);
        if (!problem && !ch_endpoint_header_add(headers, a.argv[i + 1]))
            problem = "the value is not UTF-8";
        if (problem) {
            fprintf(stderr, "callhook: --header: %s\n", problem);
            bad_header = true;
        }
    }
    char *joined = ch_arg_joined(&a, "header"); /* marks every --header as used */
    free(joined);
    ch_tenant t = {0};
    if ((rc = ch_args_finish(&a)) || bad_header) {
        rc = rc ? rc : 2;
        goto out;
    }
    bool add = !strcmp(sub, "add"), list = !strcmp(sub, "list"), update = !strcmp(sub, "update");
    bool change = !strcmp(sub, "disable") || !strcmp(sub, "enable") || !strcmp(sub, "rotate") ||
                  !strcmp(sub, "remove");
    if ((!add && !list && !update && !change) || a.npositional != (list ? 1 : 2)) {
        rc = usage();
        goto out;
    }
    if (shape && ch_payload_shape_parse(shape) < 0) {
        fprintf(stderr, "callhook: --payload is standard or flat\n");
        rc = 2;
        goto out;
    }
    int r = ch_args_tenant(&a, a.positional[0], &t);
    if (r) {
        fprintf(stderr, "callhook: %s\n",
                r == CH_ENOTFOUND ? "no such tenant" : "cannot read the database");
        rc = 1;
        goto out;
    }
    rc = 1;
    if (list) {
        json_t *o;
        if (ch_store_endpoint_list(a.store, t.id, 0, &o) != CH_OK) goto out;
        char *s = json_dumps(o, a.json ? JSON_COMPACT : JSON_INDENT(2));
        puts(s);
        free(s);
        json_decref(o);
        rc = 0;
        goto out;
    }
    if (add) {
        const char *url = a.positional[1], *problem = ch_endpoint_url_problem(url);
        if (problem) {
            fprintf(stderr, "callhook: %s\n", problem);
            rc = 2;
            goto out;
        }
        if (kind && !ch_endpoint_kind_valid(kind)) {
            fprintf(stderr, "callhook: --kind is inbound, outbound, generic or status\n");
            rc = 2;
            goto out;
        }
        const char *bad = ch_endpoint_events_problem(events ? events : "*");
        if (bad) {
            fprintf(stderr, "callhook: unknown event type '%s' in --events\n", bad);
            rc = 2;
            goto out;
        }
        long long timeout = tmo ? strtoll(tmo, NULL, 10) : 15000,
                  rate = rl ? strtoll(rl, NULL, 10) : 0;
        if (timeout < 1000 || timeout > 60000 || rate < 0 || rate > 1000000) {
            fprintf(stderr,
                    "callhook: --timeout-ms is 1000–60000, --rate-limit 0 (none) or more\n");
            rc = 2;
            goto out;
        }
        char secret[CH_WHSEC_MAX];
        ch_crypto_init();
        ch_endpoint_new_secret(secret);
        ch_endpoint_spec spec = {.url = url,
                                 .kind = kind ? kind : "generic",
                                 .events = events ? events : "*",
                                 .secret = secret,
                                 .headers = headers,
                                 .timeout_ms = timeout,
                                 .rate_limit_per_min = rate,
                                 .max_per_tenant = a.cfg.delivery_max_endpoints,
                                 .payload = shape ? shape : "standard"};
        ch_op op = {.kind = CH_OP_ENDPOINT_ADD, .tenant_id = t.id, .in.endpoint = spec};
        r = ch_store_write(a.store, &op, 1);
        int64_t id = op.id_out;
        if (r == CH_ELIMIT) {
            fprintf(stderr,
                    "callhook: tenant '%s' has %d endpoints, the most allowed "
                    "(delivery.max_endpoints): remove one first\n",
                    t.slug, a.cfg.delivery_max_endpoints);
            goto out;
        }
        if (r != CH_OK) {
            fprintf(stderr, "callhook: cannot write to %s\n", a.db);
            goto out;
        }
        if (a.json)
            printf("{\"tenant\":\"%s\",\"id\":%lld,\"url\":\"%s\",\"kind\":\"%s\",\"payload\":"
                   "\"%s\",\"secret\":\"%s\"}\n",
                   t.slug, (long long)id, url, spec.kind, spec.payload, secret);
        else
            printf("Endpoint %lld of '%s': %s (%s calls, events %s, %s payload)\nSigning secret "
                   "(shown once, Standard Webhooks): %s\n",
                   (long long)id, t.slug, url, spec.kind, spec.events, spec.payload, secret);
        rc = 0;
        goto out;
    }
    char *end;
    long long id = strtoll(a.positional[1], &end, 10);
    if (*end || id <= 0) {
        rc = usage();
        goto out;
    }
    if (update) {
        rc = endpoint_update(&a, &t, id, kind, events, any_header ? headers : NULL, tmo, rl, shape);
        goto out;
    }
    char secret[CH_WHSEC_MAX] = "";
    ch_op op = {.tenant_id = t.id, .id = id};
    if (!strcmp(sub, "rotate")) {
        ch_crypto_init();
        ch_endpoint_new_secret(secret);
        op.kind = CH_OP_ENDPOINT_ROTATE;
        op.in.rotate.secret = secret;
        op.in.rotate.overlap_ms = ROTATE_OVERLAP_MS;
    } else if (!strcmp(sub, "remove")) {
        op.kind = CH_OP_ENDPOINT_REMOVE;
    } else {
        op.kind = CH_OP_ENDPOINT_ENABLE;
        op.in.enable.enabled = !strcmp(sub, "enable");
        op.in.enable.reason = "disabled by an operator";
    }
    r = ch_store_write(a.store, &op, 1);
    if (r == CH_ENOTFOUND) {
        fprintf(stderr, "callhook: tenant '%s' has no endpoint %lld\n", t.slug, id);
        goto out;
    }
    if (r) {
        fprintf(stderr, "callhook: cannot write to %s\n", a.db);
        goto out;
    }
    if (secret[0] && a.json)
        printf("{\"tenant\":\"%s\",\"id\":%lld,\"secret\":\"%s\"}\n", t.slug, id, secret);
    else if (secret[0])
        printf("Endpoint %lld: new signing secret (shown once): %s\nThe old secret also signs "
               "for 24 hours, so receivers can switch without losing a delivery.\n",
               id, secret);
    else if (a.json)
        printf("{\"tenant\":\"%s\",\"id\":%lld,\"%s\":true}\n", t.slug, id,
               !strcmp(sub, "remove")   ? "removed"
               : !strcmp(sub, "enable") ? "enabled"
                                        : "disabled");
    else
        printf("Endpoint %lld %sd.\n", id, sub);
    rc = 0;
out:
    json_decref(headers);
    ch_tenant_clear(&t);
    ch_args_free(&a);
    return rc;
}
