/* tenant / source / apikey / migrate / demo. Each prints what the user needs next. */
#include "cli/args.h"
#include "cli/commands.h"
#include "core/pipeline.h"
#include "ingest/sourceinfo.h"
#include "providers/provider.h"
#include "store/store.h"
#include "util/cidr.h"
#include "util/crypto.h"
#include "util/mem.h"
#include "util/result.h"
#include "util/timeutil.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int fail(ch_args *a, int status, const char *fmt, const char *arg)
{
    fprintf(stderr, "callhook: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    ch_args_free(a);
    return status;
}

static void print_json(json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT);
    puts(s);
    free(s);
    json_decref(o);
}

static bool slug_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 63 || !isalnum((unsigned char)s[0])) return false;
    for (size_t i = 0; i < n; i++)
        if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-'))
            return false;
    return true;
}

/* Base URL providers use to reach us: --public-url / config, else the listen address. */
static char *base_url(ch_args *a)
{
    const char *pub = ch_arg(a, "public-url");
    if (!pub && a->cfg.public_url[0]) pub = a->cfg.public_url;
    if (pub) {
        size_t n = strlen(pub);
        while (n && pub[n - 1] == '/')
            n--;
        return ch_strndup(pub, n);
    }
    const char *listen = ch_arg(a, "listen");
    if (!listen) listen = a->cfg.listen;
    if (listen[0] == ':') return ch_asprintf("http://127.0.0.1%s", listen);
    return ch_asprintf("http://%s", listen);
}

int ch_cmd_migrate(int argc, char **argv)
{
    static const char *const valued[] = {"config", "db", NULL};
    ch_args a;
    int rc = ch_args_init(&a, argc, argv, valued);
    if (rc || (rc = ch_args_finish(&a))) {
        ch_args_free(&a);
        return rc;
    }
    int version = 0;
    if (ch_store_migrate(a.db, &version)) return fail(&a, 1, "cannot migrate %s", a.db);
    if (a.json)
        print_json(json_pack("{s:i}", "schema_version", version));
    else
        printf("%s: schema version %d\n", a.db, version);
    ch_args_free(&a);
    return 0;
}

int ch_cmd_tenant_add(int argc, char **argv)
{
    static const char *const valued[] = {"config",        "db",       "name", "timezone", "country",
                                         "monthly-limit", "features", NULL};
    ch_args a;
    int rc = ch_args_init(&a, argc, argv, valued);
    if (rc) {
        ch_args_free(&a);
        return rc;
    }
    ch_tenant_spec t = {0};
    t.slug = a.npositional ? a.positional[0] : NULL;
    t.name = ch_arg(&a, "name");
    t.timezone = ch_arg(&a, "timezone");
    t.country = ch_arg(&a, "country");
    t.features = ch_arg(&a, "features");
    const char *limit = ch_arg(&a, "monthly-limit");
    t.hard_limit = ch_flag(&a, "hard-limit");
    if ((rc = ch_args_finish(&a))) {
        ch_args_free(&a);
        return rc;
    }
    if (!t.slug || a.npositional != 1) return fail(&a, 2, "usage: %s", "callhook tenant add SLUG");
    if (!slug_ok(t.slug))
        return fail(&a, 2,
                    "invalid slug '%s': use 1-63 of a-z 0-9 -, starting with a letter or "
                    "digit",
                    t.slug);
    if (t.timezone && !ch_tz_valid(t.timezone))
        return fail(&a, 2, "unknown time zone '%s' (an IANA name such as Asia/Jerusalem)",
                    t.timezone);
    if (t.country) {
        const char *c = t.country[0] == '+' ? t.country + 1 : t.country;
        size_t n = strlen(c);
        if (n < 1 || n > 3 || strspn(c, "0123456789") != n || c[0] == '0')
            return fail(&a, 2, "invalid country calling code '%s' (digits, e.g. 972 or 1)",
                        t.country);
        t.country = c;
    }
    if (limit) {
        char *end;
        long long v = strtoll(limit, &end, 10);
        if (*end || end == limit || v < 0) return fail(&a, 2, "invalid --monthly-limit %s", limit);
        t.monthly_limit = v;
    }
    ch_store *store = ch_args_store(&a);
    if (!store) return fail(&a, 1, "cannot open %s", a.db);
    ch_op op = {.kind = CH_OP_TENANT_ADD, .in.tenant = t};
    rc = ch_store_write(store, &op, 1);
    int64_t id = op.id_out;
    if (rc == CH_EEXIST) return fail(&a, 1, "tenant '%s' already exists", t.slug);
    if (rc) return fail(&a, 1, "cannot write to %s", a.db);
    if (a.json) {
        print_json(json_pack("{s:I, s:s, s:s, s:s, s:s, s:I, s:b, s:s}", "id", (json_int_t)id,
                             "slug", t.slug, "name", t.name ? t.name : t.slug, "timezone",
                             t.timezone ? t.timezone : "UTC", "country", t.country ? t.country : "",
                             "monthly_limit", (json_int_t)t.monthly_limit, "hard_limit",
                             t.hard_limit, "features", t.features ? t.features : "enrichment"));
    } else {
        printf("Tenant '%s' created (id %lld, time zone %s).\n\nNext:\n"
               "  callhook source add %s generic --token <secret>   # where calls come from\n"
               "  callhook apikey add %s                            # to read calls\n",
               t.slug, (long long)id, t.timezone ? t.timezone : "UTC", t.slug, t.slug);
    }
    ch_args_free(&a);
    return 0;
}

int ch_cmd_tenant_list(int argc, char **argv)
{
    static const char *const valued[] = {"config", "db", NULL};
    ch_args a;
    int rc = ch_args_init(&a, argc, argv, valued);
    if (rc || (rc = ch_args_finish(&a))) {
        ch_args_free(&a);
        return rc;
    }
    json_t *list;
    ch_store *store = ch_args_store(&a);
    if (!store || ch_store_tenant_list(store, &list)) return fail(&a, 1, "cannot read %s", a.db);
    if (a.json) {
        print_json(json_pack("{s:o}", "tenants", list));
    } else {
        printf("%-20s %-22s %-8s %10s %10s %10s %12s\n", "SLUG", "TIME ZONE", "COUNTRY", "LIMIT",
               "CALLS", "EVENTS", "TRANSCRIBED");
        size_t i;
        json_t *t;
        json_array_foreach(list, i, t)
        {
            json_t *u = json_object_get(t, "usage");
            printf("%-20s %-22s %-8s %10lld %10lld %10lld %10.1fm\n",
                   json_string_value(json_object_get(t, "slug")),
                   json_string_value(json_object_get(t, "timezone")),
                   json_string_value(json_object_get(t, "country")),
                   (long long)json_integer_value(json_object_get(t, "monthly_limit")),
                   (long long)json_integer_value(json_object_get(u, "calls")),
                   (long long)json_integer_value(json_object_get(u, "events")),
                   json_number_value(json_object_get(u, "transcribed_minutes")));
        }
        json_decref(list);
    }
    ch_args_free(&a);
    return 0;
}

static bool http_url_ok(const char *u)
{
    const char *rest = !strncmp(u, "https://", 8)  ? u + 8
                       : !strncmp(u, "http://", 7) ? u + 7
                                                   : NULL;
    if (!rest || !*rest || *rest == '/' || strlen(u) > 2048) return false;
    for (const char *p = u; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f) return false;
    return true;
}

/* A list of host names (letters, digits, '-', '.', ':' and brackets for an IPv6 address),
 * separated by commas, none empty. */
static bool hosts_ok(const char *list)
{
    size_t n = strlen(list);
    if (!n || n > 1024) return false;
    bool empty = true;
    for (const char *p = list;; p++) {
        if (*p == ',' || !*p) {
            if (empty) return false;
            if (!*p) return true;
            empty = true;
            continue;
        }
        if (!(isalnum((unsigned char)*p) || strchr("-.:[]", *p))) return false;
        empty = false;
    }
}

/* The recording settings of the media flags, or NULL after printing why they are wrong.
 * `*none` is set when no media flag was given. */
static json_t *media_of_args(ch_args *a, bool *none)
{
    const char *api = ch_arg(a, "api-url"), *au = ch_arg(a, "api-user"),
               *ap = ch_arg(a, "api-password"), *pin = ch_arg(a, "pinned-pubkey"),
               *bu = ch_arg(a, "basic-user"), *bp = ch_arg(a, "basic-password"),
               *bh = ch_arg(a, "basic-hosts");
    bool insecure = ch_flag(a, "insecure-tls");
    *none = !api && !au && !ap && !pin && !bu && !bp && !bh && !insecure;
    if (*none) return NULL;
    if (api && !http_url_ok(api)) {
        fprintf(stderr, "callhook: invalid --api-url '%s' (an http:// or https:// URL)\n", api);
        return NULL;
    }
    if ((au || ap || pin || insecure) && !api) {
        fprintf(stderr, "callhook: --api-user, --api-password, --pinned-pubkey and "
                        "--insecure-tls go with --api-url\n");
        return NULL;
    }
    if (api && (!au || !ap)) {
        fprintf(stderr, "callhook: a recording API (--api-url) needs --api-user and "
                        "--api-password\n");
        return NULL;
    }
    if ((bu != NULL) != (bp != NULL)) {
        fprintf(stderr, "callhook: --basic-user and --basic-password go together\n");
        return NULL;
    }
    if (bh && !bu) {
        fprintf(stderr, "callhook: --basic-hosts goes with --basic-user\n");
        return NULL;
    }
    if (bh && !hosts_ok(bh)) {
        fprintf(stderr,
                "callhook: invalid --basic-hosts '%s' (host names separated by commas, such as "
                "api.twilio.com)\n",
                bh);
        return NULL;
    }
    if (pin && (strncmp(pin, "sha256//", 8) || strlen(pin) < 9 || strlen(pin) > 1024)) {
        fprintf(stderr,
                "callhook: invalid --pinned-pubkey '%s' (sha256//BASE64, as curl takes "
                "it)\n",
                pin);
        return NULL;
    }
    json_t *m = json_object();
    if (api) {
        json_object_set_new(m, "api_url", json_string(api));
        json_object_set_new(m, "api_user", json_string(au));
        json_object_set_new(m, "api_password", json_string(ap));
        if (insecure) json_object_set_new(m, "insecure_tls", json_true());
        if (pin) json_object_set_new(m, "pinned_pubkey", json_string(pin));
    }
    if (bu) {
        json_object_set_new(m, "basic_user", json_string(bu));
        json_object_set_new(m, "basic_password", json_string(bp));
        json_object_set_new(m, "basic_hosts", json_string(bh ? bh : CH_MEDIA_BASIC_HOSTS_DEFAULT));
    }
    return m;
}

/* Warns (stderr) about each --allow-ip entry shorter than /8 (IPv4) or /16 (IPv6): such a
 * range is most of the Internet, and a source trusted by address alone then takes anyone's
 * calls. It is still accepted: an operator may mean it, e.g. behind a filtering firewall. */
static void warn_broad_ranges(const char *list)
{
    const char *p = list;
    while (*p) {
        size_t n = strcspn(p, ",");
        char entry[64];
        snprintf(entry, sizeof entry, "%.*s", (int)(n < 63 ? n : 63), p);
        char *slash = strchr(entry, '/');
        if (slash) {
            *slash = '\0';
            long prefix = strtol(slash + 1, NULL, 10);
            unsigned char a[16];
            bool v4 = inet_pton(AF_INET, entry + strspn(entry, " \t"), a) == 1;
            bool v6 = !v4 && inet_pton(AF_INET6, entry + strspn(entry, " \t"), a) == 1;
            if (v6 && IN6_IS_ADDR_V4MAPPED((struct in6_addr *)a) && prefix >= 96)
                v4 = true, v6 = false, prefix -= 96;
            *slash = '/';
            if ((v4 && prefix < 8) || (v6 && prefix < 16))
                fprintf(stderr,
                        "callhook: warning: --allow-ip %s allows %s: anyone there is trusted "
                        "as this source\n",
                        entry, prefix == 0 ? "every address" : "a large part of the Internet");
        }
        p += n;
        if (*p == ',') p++;
    }
}

int ch_cmd_source_add(int argc, char **argv)
{
    static const char *const valued[] = {
        "config",        "db",         "username",       "password",    "token",    "secret",
        "allow-ip",      "public-url", "listen",         "api-url",     "api-user", "api-password",
        "pinned-pubkey", "basic-user", "basic-password", "basic-hosts", NULL};
    ch_args a;
    int rc = ch_args_init(&a, argc, argv, valued);
    if (rc) {
        ch_args_free(&a);
        return rc;
    }
    const char *slug = a.npositional > 0 ? a.positional[0] : NULL;
    const char *provider = a.npositional > 1 ? a.positional[1] : NULL;
    const char *user = ch_arg(&a, "username"), *pass = ch_arg(&a, "password");
    const char *token = ch_arg(&a, "token"), *secret = ch_arg(&a, "secret");
    char *allow = ch_arg_joined(&a, "allow-ip");
    char *base = base_url(&a); /* consumes --public-url / --listen: read once */
    bool no_media = true;
    json_t *media = media_of_args(&a, &no_media);
    char *media_text = media ? json_dumps(media, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    ch_tenant t = {0};
    char pwhash[CH_PWHASH_MAX], tokhash[CH_SHA256_HEX];
    if ((rc = ch_args_finish(&a))) goto out;
    rc = 2;
    if (!slug || !provider || a.npositional != 2) {
        fprintf(stderr, "callhook: usage: callhook source add SLUG PROVIDER [options]\n");
        goto out;
    }
    if (!no_media && !media) goto out; /* media_of_args said why */
    const ch_provider *prov = ch_provider_find(provider);
    if (!prov) {
        fprintf(stderr, "callhook: unknown provider '%s' (known: %s)\n", provider,
                ch_provider_names());
        goto out;
    }
    if (secret && !prov->verify) {
        fprintf(stderr,
                "callhook: %s requests carry no signature to check with --secret; use "
                "--token, --username/--password or --allow-ip\n",
                provider);
        goto out;
    }
    if ((user != NULL) != (pass != NULL)) {
        fprintf(stderr, "callhook: --username and --password go together\n");
        goto out;
    }
    if (!user && !token && !secret && !allow) {
        fprintf(stderr, "callhook: a source needs a credential: --username/--password, "
                        "--token, --secret or --allow-ip\n");
        goto out;
    }
    if ((token && strlen(token) < 8) || (pass && strlen(pass) < 8)) {
        fprintf(stderr, "callhook: tokens and passwords need at least 8 characters\n");
        goto out;
    }
    if (allow && !ch_cidr_list_valid(allow)) {
        fprintf(stderr, "callhook: invalid --allow-ip '%s' (CIDR such as 203.0.113.0/24)\n", allow);
        goto out;
    }
    if (allow) warn_broad_ranges(allow);
    rc = 1;
    int r = ch_args_tenant(&a, slug, &t);
    if (r == CH_ENOTFOUND) {
        fprintf(stderr, "callhook: no tenant '%s' (callhook tenant add %s)\n", slug, slug);
        goto out;
    }
    if (r) {
        fprintf(stderr, "callhook: cannot read %s\n", a.db);
        goto out;
    }
    ch_crypto_init();
    ch_credential c = {.provider = (char *)provider, .allow_ips = allow, .media = media_text};
    if (user) {
        if (ch_password_hash(pass, pwhash)) {
            fprintf(stderr, "callhook: password hashing failed\n");
            goto out;
        }
        c.username = (char *)user;
        c.password_hash = pwhash;
    }
    if (token) {
        ch_sha256_hex(token, strlen(token), tokhash);
        c.token_hash = tokhash;
    }
    c.signing_secret = (char *)secret;
    ch_op op = {.kind = CH_OP_CREDENTIAL_ADD, .tenant_id = t.id, .in.credential = &c};
    if (ch_store_write(ch_args_store(&a), &op, 1)) {
        fprintf(stderr, "callhook: cannot write to %s\n", a.db);
        goto out;
    }
    int64_t id = op.id_out;
    c.id = id;
    json_t *info = ch_source_info(base, slug, &c);
    if (a.json) {
        print_json(info);
    } else {
        const char *url = json_string_value(json_object_get(info, "url"));
        printf("Source %lld added for tenant '%s' (%s).\n\nConfigure the sender:\n"
               "  URL:          %s\n  Method:       POST\n  Content-Type: %s\n",
               (long long)id, slug, provider, url,
               json_string_value(json_object_get(info, "content_type")));
        if (user)
            printf("  Auth:         HTTP Basic, username '%s' and the password you chose\n", user);
        if (token)
            printf(
                "  Auth:         header 'Authorization: Bearer <token>' or 'X-Api-Key: <token>'\n");
        if (allow) printf("  Allowed from: %s\n", allow);
        if (strcmp(provider, "generic") == 0)
            printf("\nTry it:\n  curl -sS %s -H 'Content-Type: application/json' %s\\\n"
                   "    -d "
                   "'{\"call_id\":\"test-1\",\"status\":\"ended\",\"from\":\"+14155550100\"}'\n",
                   url,
                   token  ? "-H 'Authorization: Bearer <token>' "
                   : user ? "-u USER:PASS "
                          : "");
        else
            printf("\nSetup page (fields, example): curl -sS %s\nSee docs/providers.md#%s.\n", url,
                   provider);
        json_decref(info);
    }
    rc = 0;
out:
    ch_tenant_clear(&t);
    json_decref(media);
    free(media_text);
    free(base);
    free(allow);
    ch_args_free(&a);
    return rc;
}

int ch_cmd_source_media(int argc, char **argv)
{
    static const char *const valued[] = {
        "config",        "db",         "api-url",        "api-user",    "api-password",
        "pinned-pubkey", "basic-user", "basic-password", "basic-hosts", NULL};
    ch_args a;
    int rc = ch_args_init(&a, argc, argv, valued);
    if (rc) {
        ch_args_free(&a);
        return rc;
    }
    const char *slug = a.npositional > 0 ? a.positional[0] : NULL;
    const char *idtext = a.npositional > 1 ? a.positional[1] : NULL;
    bool clear = ch_flag(&a, "clear"), none = true;
    json_t *media = media_of_args(&a, &none);
    char *text = NULL;
    ch_tenant t = {0};
    ch_credential *creds = NULL;
    size_t ncreds = 0;
    if ((rc = ch_args_finish(&a))) goto out;
    rc = 2;
    if (!slug || !idtext || a.npositional != 2) {
        fprintf(stderr, "callhook: usage: callhook source media SLUG SOURCE_ID [--api-url URL "
                        "--api-user U --api-password P] [--basic-user U --basic-password P "
                        "[--basic-hosts H,…]] [--clear]\n");
        goto out;
    }
    char *end;
    long long id = strtoll(idtext, &end, 10);
    if (*end || end == idtext || id <= 0) {
        fprintf(stderr,
                "callhook: invalid SOURCE_ID '%s' (the credential_id `source add` "
                "printed)\n",
                idtext);
        goto out;
    }
    if (clear && !none) {
        fprintf(stderr, "callhook: --clear takes no other recording option\n");
        goto out;
    }
    if (!clear && !media) {
        if (none)
            fprintf(stderr, "callhook: give the recording settings (--api-url… or "
                            "--basic-user…) or --clear\n");
        goto out;
    }
    if (media) text = json_dumps(media, JSON_COMPACT | JSON_SORT_KEYS);
    rc = 1;
    int r = ch_args_tenant(&a, slug, &t);
    if (r == CH_ENOTFOUND) {
        fprintf(stderr, "callhook: no tenant '%s'\n", slug);
        goto out;
    }
    if (r) {
        fprintf(stderr, "callhook: cannot read %s\n", a.db);
        goto out;
    }
    ch_op op = {.kind = CH_OP_SOURCE_MEDIA, .tenant_id = t.id, .id = id, .in.text = text};
    r = ch_store_write(ch_args_store(&a), &op, 1);
    if (r == CH_ENOTFOUND) {
        fprintf(stderr, "callhook: tenant '%s' has no source %lld\n", slug, id);
        goto out;
    }
    if (r) {
        fprintf(stderr, "callhook: cannot write to %s\n", a.db);
        goto out;
    }
    const char *provider = "";
    if (ch_store_credentials(ch_args_store(&a), t.id, NULL, &creds, &ncreds) == CH_OK)
        for (size_t i = 0; i < ncreds; i++)
            if (creds[i].id == id) provider = creds[i].provider;
    json_t *shown = ch_source_media_public(text);
    if (a.json) {
        print_json(json_pack("{s:s, s:I, s:s, s:o}", "tenant", slug, "source_id", (json_int_t)id,
                             "provider", provider, "media", shown));
    } else {
        if (!text)
            printf("Source %lld (%s) of '%s': recording settings cleared.\n", id, provider, slug);
        else {
            char *s = json_dumps(shown, JSON_INDENT(2) | JSON_SORT_KEYS);
            printf("Source %lld (%s) of '%s': recordings fetched with\n%s\n", id, provider, slug,
                   s);
            free(s);
        }
        json_decref(shown);
    }
    rc = 0;
out:
    ch_credentials_free(creds, ncreds);
    ch_tenant_clear(&t);
    json_decref(media);
    free(text);
    ch_args_free(&a);
    return rc;
}

int ch_cmd_apikey_add(int argc, char **argv)
{
    static const char *const valued[] = {"config", "db", NULL};
    ch_args a;
    int rc = ch_args_init(&a, argc, argv, valued);
    if (rc || (rc = ch_args_finish(&a))) {
        ch_args_free(&a);
        return rc;
    }
    if (a.npositional != 1) return fail(&a, 2, "usage: %s", "callhook apikey add SLUG");
    const char *slug = a.positional[0];
    ch_tenant t;
    int r = ch_args_tenant(&a, slug, &t);
    if (r == CH_ENOTFOUND) return fail(&a, 1, "no tenant '%s'", slug);
    if (r) return fail(&a, 1, "cannot read %s", a.db);
    ch_op op = {.kind = CH_OP_APIKEY_ADD, .tenant_id = t.id};
    r = ch_store_write(ch_args_store(&a), &op, 1);
    ch_tenant_clear(&t);
    if (r) return fail(&a, 1, "cannot write to %s", a.db);
    char *key = op.key_out;
    if (a.json)
        print_json(json_pack("{s:s, s:s}", "tenant", slug, "api_key", key));
    else
        printf("API key for '%s' (shown once, keep it safe):\n  %s\n\nTry it:\n"
               "  curl -sS -H 'Authorization: Bearer %s' http://127.0.0.1:8080/v1/calls\n",
               slug, key, key);
    free(key);
    ch_args_free(&a);
    return 0;
}
