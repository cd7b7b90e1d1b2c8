/* `callhook doctor SLUG`: the diagnostics report of GET /v1/diagnostics, made on the database
 * without the daemon (delivery/diagnose.h), and `callhook source rotate SLUG SOURCE_ID
 * password|token|secret`: a source's new credential, shown once. */
#include "cli/args.h"
#include "cli/commands.h"
#include "delivery/diagnose.h"
#include "util/crypto.h"
#include "util/mem.h"
#include "util/result.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ch_cmd_doctor(int argc, char **argv)
{
    static const char *const valued[] = {"config", "db", "probe-ms", NULL};
    ch_args a;
    int rc = ch_args_init(&a, argc, argv, valued);
    const char *pm = rc ? NULL : ch_arg(&a, "probe-ms");
    if (rc || (rc = ch_args_finish(&a))) {
        ch_args_free(&a);
        return rc;
    }
    if (a.npositional != 1) {
        fprintf(stderr, "callhook: usage: callhook doctor SLUG [--probe-ms N]\n");
        ch_args_free(&a);
        return 2;
    }
    int probe_ms = 0;
    if (pm) {
        char *end;
        long v = strtol(pm, &end, 10);
        if (*end || end == pm || v < 100 || v > 30000) {
            fprintf(stderr, "callhook: --probe-ms is 100 to 30000\n");
            ch_args_free(&a);
            return 2;
        }
        probe_ms = (int)v;
    }
    const char *slug = a.positional[0];
    ch_tenant t;
    int r = ch_args_tenant(&a, slug, &t);
    if (r) {
        fprintf(stderr,
                r == CH_ENOTFOUND ? "callhook: no tenant '%s'\n"
                                  : "callhook: cannot read the database for '%s'\n",
                slug);
        ch_args_free(&a);
        return 1;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    json_t *report = NULL;
    ch_diagnose_opts o = {.allow_private = a.cfg.delivery_allow_private, .probe_ms = probe_ms};
    r = ch_diagnose(ch_args_store(&a), &t, &o, &report);
    ch_tenant_clear(&t);
    if (r) {
        fprintf(stderr, "callhook: cannot read %s\n", a.db);
        ch_args_free(&a);
        curl_global_cleanup();
        return 1;
    }
    /* the same JSON as the API; indented unless --json asks for one line */
    char *s = json_dumps(report, a.json ? JSON_COMPACT : JSON_INDENT(2));
    puts(s);
    free(s);
    json_decref(report);
    ch_args_free(&a);
    curl_global_cleanup();
    return 0;
}

int ch_cmd_source_rotate(int argc, char **argv)
{
    static const char *const valued[] = {"config", "db", "value", NULL};
    ch_args a;
    int rc = ch_args_init(&a, argc, argv, valued);
    const char *given = rc ? NULL : ch_arg(&a, "value");
    if (rc || (rc = ch_args_finish(&a))) {
        ch_args_free(&a);
        return rc;
    }
    const char *what = a.npositional == 3 ? a.positional[2] : "";
    char *end = NULL;
    long long id = a.npositional == 3 ? strtoll(a.positional[1], &end, 10) : 0;
    if (a.npositional != 3 || !end || *end || id <= 0 ||
        (strcmp(what, "password") && strcmp(what, "token") && strcmp(what, "secret"))) {
        fprintf(stderr, "callhook: usage: callhook source rotate SLUG SOURCE_ID "
                        "password|token|secret [--value V]\n");
        ch_args_free(&a);
        return 2;
    }
    if (given && (strlen(given) < 8 || strlen(given) > 256)) {
        fprintf(stderr, "callhook: --value needs 8 to 256 characters\n");
        ch_args_free(&a);
        return 2;
    }
    const char *slug = a.positional[0];
    ch_tenant t = {0};
    ch_credential *creds = NULL, *c = NULL;
    size_t n = 0;
    rc = 1;
    int r = ch_args_tenant(&a, slug, &t);
    if (r) {
        fprintf(stderr,
                r == CH_ENOTFOUND ? "callhook: no tenant '%s'\n"
                                  : "callhook: cannot read the database for '%s'\n",
                slug);
        goto out;
    }
    if (ch_store_credentials(ch_args_store(&a), t.id, NULL, &creds, &n)) {
        fprintf(stderr, "callhook: cannot read %s\n", a.db);
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        if (creds[i].id == id) c = &creds[i];
    if (!c) {
        fprintf(stderr, "callhook: tenant '%s' has no source %lld\n", slug, id);
        goto out;
    }
    bool has = !strcmp(what, "password") ? c->password_hash != NULL
               : !strcmp(what, "token")  ? c->token_hash != NULL
                                         : c->signing_secret != NULL;
    if (!has) {
        fprintf(stderr, "callhook: source %lld has no %s to rotate\n", id, what);
        goto out;
    }
    ch_crypto_init();
    char value[260], hash[CH_PWHASH_MAX];
    if (given)
        snprintf(value, sizeof value, "%s", given);
    else
        ch_random_token(value, sizeof value, !strcmp(what, "password") ? 18 : 24);
    ch_credential nc = {0};
    if (!strcmp(what, "password")) {
        if (ch_password_hash(value, hash)) {
            fprintf(stderr, "callhook: password hashing failed\n");
            goto out;
        }
        nc.password_hash = hash;
    } else if (!strcmp(what, "token")) {
        ch_sha256_hex(value, strlen(value), hash);
        nc.token_hash = hash;
    } else {
        nc.signing_secret = value;
    }
    ch_op op = {.kind = CH_OP_SOURCE_ROTATE, .tenant_id = t.id, .id = id, .in.credential = &nc};
    if (ch_store_write(ch_args_store(&a), &op, 1)) {
        fprintf(stderr, "callhook: cannot write to %s\n", a.db);
        goto out;
    }
    if (a.json) {
        json_t *o = json_pack("{s:I, s:s, s:s, s:s}", "id", (json_int_t)id, "provider", c->provider,
                              "rotated", what, what, value);
        char *s = json_dumps(o, JSON_COMPACT);
        puts(s);
        free(s);
        json_decref(o);
    } else {
        printf("Source %lld (%s) of '%s': new %s (shown once, keep it safe):\n  %s\n\n"
               "Enter it on the sender now: the old one no longer works (a running daemon may "
               "accept it for up to 2 seconds).\n",
               id, c->provider, slug, what, value);
    }
    explicit_bzero(value, sizeof value);
    rc = 0;
out:
    ch_credentials_free(creds, n);
    ch_tenant_clear(&t);
    ch_args_free(&a);
    return rc;
}
