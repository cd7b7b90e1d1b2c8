/* `callhook demo`: a ready-to-try tenant for the quick start. The credentials are created once
 * and kept (mode 0600) beside the database so that every `make run` can print them again. */
#include "cli/args.h"
#include "cli/commands.h"
#include "store/store.h"
#include "util/crypto.h"
#include "util/mem.h"
#include "util/result.h"

#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Beside the database file; in the current directory for a database on a server. */
static char *creds_path(const char *db)
{
    const char *file = ch_store_file(db);
    char *copy = ch_strdup(file ? file : "./x");
    char *p = ch_asprintf("%s/demo-credentials.json", dirname(copy));
    free(copy);
    return p;
}

/* A source and an API key for the demo tenant (tenant_id), or for a new demo tenant (0), in
 * one transaction. */
static json_t *create(ch_store *s, int64_t tenant_id)
{
    char token[48], password[48], tokhash[CH_SHA256_HEX], pwhash[CH_PWHASH_MAX];
    ch_random_token(token, sizeof token, 24);
    ch_random_token(password, sizeof password, 18);
    ch_sha256_hex(token, strlen(token), tokhash);
    if (ch_password_hash(password, pwhash) != CH_OK) return NULL;
    ch_credential c = {.provider = "generic",
                       .username = "demo-pbx",
                       .token_hash = tokhash,
                       .password_hash = pwhash,
                       .allow_ips = ""};
    /* tenant_id 0: the tenant the job's CH_OP_TENANT_ADD made */
    ch_op ops[3] = {
        {.kind = CH_OP_TENANT_ADD,
         .in.tenant = {.slug = "demo", .name = "Demo Company", .timezone = "UTC", .country = "1"}},
        {.kind = CH_OP_CREDENTIAL_ADD, .tenant_id = tenant_id, .in.credential = &c},
        {.kind = CH_OP_APIKEY_ADD, .tenant_id = tenant_id}};
    ch_op *first = tenant_id ? &ops[1] : &ops[0];
    size_t n = (size_t)(&ops[3] - first);
    json_t *out = NULL;
    if (ch_store_write(s, first, n) == CH_OK)
        out = json_pack("{s:s, s:s, s:s, s:s, s:s}", "tenant", "demo", "token", token, "username",
                        "demo-pbx", "password", password, "api_key", ops[2].key_out);
    ch_ops_clear(first, n);
    return out;
}

/* The dashboard's demo user (an admin of the demo tenant), added to creds when they do not
 * name one yet (credentials of an older version) or it is gone. True when creds changed. */
static bool demo_user(ch_store *s, const char *slug, json_t *creds)
{
    static const char email[] = "demo@example.com";
    const char *have = json_string_value(json_object_get(creds, "user_email"));
    ch_user u;
    int r = ch_store_user_by_email(s, email, &u);
    bool exists = r == CH_OK;
    if (exists) ch_user_clear(&u);
    if (have && exists) return false;
    ch_tenant t;
    if (ch_store_tenant_by_slug(s, slug, &t) != CH_OK) return false;
    char password[32], hash[CH_PWHASH_MAX];
    ch_random_token(password, sizeof password, 12);
    bool changed = false;
    if (ch_password_hash(password, hash) == CH_OK) {
        /* the address is taken but the credentials file lost it: a new password for it */
        ch_op op = {.kind = exists ? CH_OP_USER_PASSWD : CH_OP_USER_ADD,
                    .tenant_id = t.id,
                    .in.user = {.email = email, .role = "admin", .password_hash = hash}};
        if (ch_store_write(s, &op, 1) == CH_OK) {
            json_object_set_new(creds, "user_email", json_string(email));
            json_object_set_new(creds, "user_password", json_string(password));
            changed = true;
        }
    }
    ch_tenant_clear(&t);
    return changed;
}

int ch_cmd_demo(int argc, char **argv)
{
    static const char *const valued[] = {"config", "db", "listen", NULL};
    ch_args a;
    int rc = ch_args_init(&a, argc, argv, valued);
    const char *listen = rc ? NULL : ch_arg(&a, "listen");
    if (rc || (rc = ch_args_finish(&a))) {
        ch_args_free(&a);
        return rc;
    }
    if (!listen) listen = a.cfg.listen;
    ch_crypto_init();
    ch_store *store = ch_args_store(&a);
    if (!store) {
        ch_args_free(&a);
        return 1;
    }
    char *path = creds_path(a.db);
    json_t *creds = json_load_file(path, 0, NULL);
    ch_tenant t;
    int r = ch_store_tenant_by_slug(store, "demo", &t);
    bool fresh = !(creds && r == CH_OK);
    if (!fresh) {
        ch_tenant_clear(&t);
    } else {
        json_decref(creds);
        /* credentials lost with the tenant kept: a new source and key for it */
        creds = create(store, r == CH_OK ? t.id : 0);
        if (r == CH_OK) ch_tenant_clear(&t);
        if (!creds) {
            fprintf(stderr, "callhook: cannot create the demo tenant in %s\n", a.db);
            free(path);
            ch_args_free(&a);
            return 1;
        }
    }
    if (demo_user(store, "demo", creds) || fresh) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) {
            (void)!fchmod(fd, 0600); /* an older file may be 0644: it holds the demo's secrets */
            json_dumpfd(creds, fd, JSON_INDENT(2));
            close(fd);
        }
    }
    const char *token = json_string_value(json_object_get(creds, "token"));
    const char *key = json_string_value(json_object_get(creds, "api_key"));
    const char *user = json_string_value(json_object_get(creds, "username"));
    const char *pass = json_string_value(json_object_get(creds, "password"));
    const char *uemail = json_string_value(json_object_get(creds, "user_email"));
    const char *upass = json_string_value(json_object_get(creds, "user_password"));
    const char *host = listen[0] == ':' ? "127.0.0.1" : "";
    printf("\n  callhook demo tenant 'demo' (credentials kept in %s)\n\n"
           "  Webhook URL : http://%s%s/hooks/demo/generic\n"
           "  Token       : %s   (Authorization: Bearer …, or X-Api-Key: …)\n"
           "  Basic auth  : %s / %s\n"
           "  API key     : %s\n"
           "  Dashboard   : http://%s%s/   sign in as %s / %s\n\n"
           "  Post a sample call:\n"
           "    curl -sS http://%s%s/hooks/demo/generic -H 'Authorization: Bearer %s' \\\n"
           "      -H 'Content-Type: application/json' -d '{\"call_id\":\"demo-1\","
           "\"direction\":\"inbound\",\"status\":\"ended\",\"disposition\":\"answered\","
           "\"from\":\"(415) 555-0100\",\"to\":\"+14155550199\",\"caller_name\":\"Dana\","
           "\"started_at\":\"2026-11-22T10:15:00Z\",\"ended_at\":\"2026-11-22T10:18:12Z\"}'\n\n"
           "  Read it back:\n"
           "    curl -sS http://%s%s/v1/calls -H 'Authorization: Bearer %s'\n\n",
           path, host, listen, token, user, pass, key, host, listen, uemail ? uemail : "(none)",
           upass ? upass : "(none)", host, listen, token, host, listen, key);
    fflush(stdout);
    json_decref(creds);
    free(path);
    ch_args_free(&a);
    return 0;
}
