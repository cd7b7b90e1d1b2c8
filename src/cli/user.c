/* callhook user add|list|remove|passwd: the dashboard's users (docs/cli.md, docs/security.md).
 * Passwords are hashed here (argon2id) and only the hash is stored; a generated password is
 * printed once. */
#include "cli/args.h"
#include "cli/commands.h"
#include "store/store.h"
#include "util/crypto.h"
#include "util/limits.h"
#include "util/mem.h"
#include "util/result.h"

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int done(ch_args *a, int rc)
{
    ch_args_free(a);
    return rc;
}

static void print_json(json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT);
    puts(s);
    free(s);
    json_decref(o);
}

/* A plausible address, lower-cased into out: one '@' with text on both sides, no space or
 * control character. Mail is never sent to it; it is a sign-in name. */
static bool email_norm(const char *in, char *out)
{
    size_t n = strlen(in);
    if (n < 3 || n > CH_EMAIL_MAX) return false;
    const char *at = strchr(in, '@');
    if (!at || at == in || !at[1] || strchr(at + 1, '@')) return false;
    for (size_t i = 0; i <= n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (i < n && (c <= 0x20 || c == 0x7f)) return false;
        out[i] = (char)tolower(c);
    }
    return true;
}

static const char usage_text[] =
    "usage: callhook user add SLUG EMAIL [--password P] [--role admin|viewer]\n"
    "       callhook user list SLUG\n"
    "       callhook user remove SLUG EMAIL\n"
    "       callhook user passwd SLUG EMAIL [--password P]\n";

int ch_cmd_user(const char *sub, int argc, char **argv)
{
    static const char *const valued[] = {"config", "db", "password", "role", NULL};
    ch_args a;
    int rc = ch_args_init(&a, argc, argv, valued);
    const char *given = rc ? NULL : ch_arg(&a, "password"), *role = rc ? NULL : ch_arg(&a, "role");
    if (rc || (rc = ch_args_finish(&a))) return done(&a, rc);
    bool add = strcmp(sub, "add") == 0, list = strcmp(sub, "list") == 0,
         remove = strcmp(sub, "remove") == 0, passwd = strcmp(sub, "passwd") == 0;
    if (!(add || list || remove || passwd) || a.npositional != (list ? 1 : 2) || (role && !add) ||
        (given && !(add || passwd))) {
        fputs(usage_text, stderr);
        return done(&a, 2);
    }
    if (role && strcmp(role, "admin") != 0 && strcmp(role, "viewer") != 0) {
        fprintf(stderr, "callhook: --role is admin or viewer\n");
        return done(&a, 2);
    }
    char email[CH_EMAIL_MAX + 1] = "";
    if (!list && !email_norm(a.positional[1], email)) {
        fprintf(stderr, "callhook: '%s' is not an email address\n", a.positional[1]);
        return done(&a, 2);
    }
    if (given && (strlen(given) < CH_PASSWORD_MIN || strlen(given) > CH_PASSWORD_MAX)) {
        fprintf(stderr, "callhook: a password is %d to %d bytes\n", CH_PASSWORD_MIN,
                CH_PASSWORD_MAX);
        return done(&a, 2);
    }
    ch_crypto_init();
    ch_tenant t;
    int r = ch_args_tenant(&a, a.positional[0], &t);
    if (r) {
        fprintf(stderr, "callhook: %s\n",
                r == CH_ENOTFOUND ? "no such tenant" : "cannot read the database");
        return done(&a, 1);
    }
    rc = 1;
    char generated[32] = "", hash[CH_PWHASH_MAX] = "";
    if (list) {
        json_t *out;
        if (ch_store_user_list(a.store, t.id, &out) != CH_OK) {
            fprintf(stderr, "callhook: cannot read %s\n", a.db);
            goto out;
        }
        json_object_set_new(out, "tenant", json_string(t.slug));
        char *s = json_dumps(out, a.json ? JSON_COMPACT : JSON_INDENT(2));
        puts(s);
        free(s);
        json_decref(out);
        rc = 0;
        goto out;
    }
    /* 18 random bytes: 24 characters, 144 bits */
    if ((add || passwd) && !given) ch_random_token(generated, sizeof generated, 18);
    const char *password = given ? given : generated;
    if ((add || passwd) && ch_password_hash(password, hash) != CH_OK) {
        fprintf(stderr, "callhook: cannot hash the password\n");
        goto out;
    }
    ch_op op = {.kind = add      ? CH_OP_USER_ADD
                        : passwd ? CH_OP_USER_PASSWD
                                 : CH_OP_USER_REMOVE,
                .tenant_id = t.id,
                .in.user = {.email = email, .role = role ? role : "admin", .password_hash = hash}};
    r = ch_store_write(a.store, &op, 1);
    if (r == CH_EEXIST) {
        fprintf(stderr, "callhook: %s is a user already (of this or another tenant)\n", email);
        goto out;
    }
    if (r == CH_ENOTFOUND) {
        fprintf(stderr, "callhook: '%s' has no user %s\n", t.slug, email);
        goto out;
    }
    if (r) {
        fprintf(stderr, "callhook: cannot write to %s\n", a.db);
        goto out;
    }
    if (remove) {
        if (a.json)
            print_json(
                json_pack("{s:s, s:s, s:b}", "tenant", t.slug, "email", email, "removed", 1));
        else
            printf("user %s of '%s' removed; their sessions have ended\n", email, t.slug);
    } else if (a.json) {
        json_t *o = json_pack("{s:s, s:I, s:s}", "tenant", t.slug, "id", (json_int_t)op.id_out,
                              "email", email);
        if (add) json_object_set_new(o, "role", json_string(role ? role : "admin"));
        if (!given) json_object_set_new(o, "password", json_string(generated));
        if (passwd) json_object_set_new(o, "sessions_ended", json_true());
        print_json(o);
    } else {
        printf("user %s of '%s' %s", email, t.slug, add ? "added" : "has a new password");
        if (add) printf(" (%s)", role ? role : "admin");
        printf(passwd ? "; their sessions have ended\n" : "\n");
        if (!given) printf("password (shown once, keep it safe): %s\n", generated);
    }
    rc = 0;
out:
    sodium_memzero(generated, sizeof generated);
    ch_tenant_clear(&t);
    return done(&a, rc);
}
