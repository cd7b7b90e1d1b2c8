/* callhook pipeline show|set, callhook dictionary add|list|remove: a tenant's enrichment
 * settings and dictionaries (docs/enrichment.md), the same rules and the same JSON as
 * /v1/pipeline and /v1/dictionaries (api/pipeline.c). */
#include "cli/args.h"
#include "cli/commands.h"
#include "core/pipeline.h"
#include "enrich/settings.h"
#include "store/store.h"
#include "util/limits.h"
#include "util/mem.h"
#include "util/result.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int done(ch_args *a, int rc)
{
    ch_args_free(a);
    return rc;
}

static void print_json(const ch_args *a, json_t *o)
{
    char *s = json_dumps(o, a->json ? JSON_COMPACT : JSON_INDENT(2));
    puts(s ? s : "null");
    free(s);
}

/* The tenant named by the first positional argument: 0, or 1 with a message. */
static int tenant_of(ch_args *a, ch_tenant *t)
{
    memset(t, 0, sizeof *t);
    int r = ch_args_tenant(a, a->positional[0], t);
    if (r == CH_OK) return 0;
    fprintf(stderr, "callhook: %s\n",
            r == CH_ENOTFOUND ? "no such tenant" : "cannot read the database");
    return 1;
}

/* ---- pipeline ----------------------------------------------------------------------- */

/* The per-stage options: --STAGE-FIELD, FIELD as the patch names it. */
static const char *const stage_fields[][2] = {
    {"engine", "engine"},     {"url", "base_url"},  {"model", "model"},     {"key", "api_key"},
    {"language", "language"}, {"prompt", "prompt"}, {"enabled", "enabled"}, {"redo", "redo"},
};
#define NFIELDS (sizeof stage_fields / sizeof *stage_fields)

/* Every option `pipeline set` takes a value for (built once; static storage). */
static const char *const *pipeline_valued(void)
{
    static char names[CH_STAGE_COUNT * NFIELDS][32];
    static const char *v[CH_STAGE_COUNT * NFIELDS + 8];
    size_t n = 0;
    v[n++] = "config";
    v[n++] = "db";
    v[n++] = "deadline";
    v[n++] = "retention-days";
    v[n++] = "fields-schema";
    for (int st = 0; st < CH_STAGE_COUNT; st++)
        for (size_t f = 0; f < NFIELDS; f++) {
            char *s = names[st * NFIELDS + f];
            snprintf(s, sizeof names[0], "%s-%s", ch_stage_name((ch_stage)st), stage_fields[f][0]);
            v[n++] = s;
        }
    v[n] = NULL;
    return v;
}

/* "600" as an integer; anything else as the string it is, for the settings' own check to
 * refuse with the key named. */
static json_t *number_or_text(const char *s)
{
    char *end;
    errno = 0;
    long long n = strtoll(s, &end, 10);
    return *s && !*end && !errno ? json_integer(n) : json_string(s);
}

static json_t *bool_or_text(const char *s)
{
    if (!strcmp(s, "true")) return json_true();
    if (!strcmp(s, "false")) return json_false();
    return json_string(s);
}

/* --fields-schema: inline JSON (starts with '{', or null) or a file holding it. */
static json_t *load_schema(const char *arg, char *err, size_t errlen)
{
    json_error_t je;
    const char *p = arg;
    while (*p == ' ' || *p == '\t' || *p == '\n')
        p++;
    json_t *v;
    if (*p == '{' || !strcmp(p, "null"))
        v = json_loads(p, JSON_DECODE_ANY, &je);
    else
        v = json_load_file(arg, 0, &je);
    if (!v) snprintf(err, errlen, "--fields-schema: %s (%s)", je.text, arg);
    return v;
}

/* The stage object of the patch, created when missing; NULL when --json made it something
 * else (the settings' check names it). */
static json_t *stage_obj(json_t *patch, const char *stage)
{
    json_t *o = json_object_get(patch, stage);
    if (!o) {
        o = json_object();
        json_object_set_new(patch, stage, o);
    }
    return json_is_object(o) ? o : NULL;
}

/* The patch the options describe, over the one given with --json (patch, taken): NULL (with
 * err) when it cannot be built. */
static json_t *build_patch(ch_args *a, json_t *patch, char *err, size_t errlen)
{
    const char *v;
    if ((v = ch_arg(a, "deadline"))) json_object_set_new(patch, "deadline_s", number_or_text(v));
    if ((v = ch_arg(a, "retention-days")))
        json_object_set_new(patch, "retention_days", number_or_text(v));
    for (int st = 0; st < CH_STAGE_COUNT; st++) {
        const char *stage = ch_stage_name((ch_stage)st);
        for (size_t f = 0; f < NFIELDS; f++) {
            char name[48];
            snprintf(name, sizeof name, "%s-%s", stage, stage_fields[f][0]);
            if (!(v = ch_arg(a, name))) continue;
            json_t *o = stage_obj(patch, stage);
            if (!o) {
                snprintf(err, errlen, "%s must be an object", stage);
                json_decref(patch);
                return NULL;
            }
            bool flag =
                !strcmp(stage_fields[f][0], "enabled") || !strcmp(stage_fields[f][0], "redo");
            json_object_set_new(o, stage_fields[f][1], flag ? bool_or_text(v) : json_string(v));
        }
    }
    if ((v = ch_arg(a, "fields-schema"))) {
        json_t *schema = load_schema(v, err, errlen);
        json_t *o = schema ? stage_obj(patch, "fields") : NULL;
        if (!o) {
            if (schema) snprintf(err, errlen, "fields must be an object");
            json_decref(schema);
            json_decref(patch);
            return NULL;
        }
        json_object_set_new(o, "schema", schema);
    }
    return patch;
}

static int pipeline_usage(void)
{
    fprintf(stderr, "usage: callhook pipeline show SLUG\n"
                    "       callhook pipeline set SLUG [--deadline S] [--retention-days N]\n"
                    "            [--STAGE-engine E] [--STAGE-url URL] [--STAGE-model M]\n"
                    "            [--STAGE-key K] [--STAGE-language L] [--STAGE-prompt P]\n"
                    "            [--STAGE-enabled true|false] [--STAGE-redo true|false]\n"
                    "            [--fields-schema FILE|JSON] [--json '{...patch...}']\n"
                    "  STAGE: recording, transcript, summary, fields, sentiment\n");
    return 2;
}

int ch_cmd_pipeline(const char *sub, int argc, char **argv)
{
    bool set = !strcmp(sub, "set");
    if (!set && strcmp(sub, "show")) return pipeline_usage();
    ch_args a;
    /* --json is the output flag of every command; followed by an object it is the patch:
     * taken out before the options are scanned */
    char **args = ch_calloc((size_t)argc + 1, sizeof *args);
    int nargs = 0;
    json_t *given = NULL;
    char err[256] = "";
    for (int i = 0; i < argc; i++) {
        if (set && !strcmp(argv[i], "--json") && i + 1 < argc && argv[i + 1][0] == '{') {
            json_error_t je;
            json_decref(given);
            given = json_loads(argv[++i], 0, &je);
            if (!json_is_object(given)) {
                fprintf(stderr, "callhook: --json: the patch must be a JSON object (%s)\n",
                        je.text);
                json_decref(given);
                free(args);
                return 2;
            }
            continue;
        }
        args[nargs++] = argv[i];
    }
    int rc = ch_args_init(&a, nargs, args, pipeline_valued());
    json_t *patch = NULL;
    if (rc) goto out;
    if (set) {
        json_t *base = given ? given : json_object();
        given = NULL; /* build_patch takes it */
        if (!(patch = build_patch(&a, base, err, sizeof err))) {
            fprintf(stderr, "callhook: %s\n", err);
            rc = 2;
            goto out;
        }
    }
    if ((rc = ch_args_finish(&a))) goto out;
    if (a.npositional != 1) {
        rc = pipeline_usage();
        goto out;
    }
    ch_tenant t;
    if ((rc = tenant_of(&a, &t))) goto out;
    char *text = NULL;
    if (ch_store_pipeline_text(a.store, t.id, &text) != CH_OK) {
        fprintf(stderr, "callhook: cannot read the database\n");
        rc = 1;
        goto tenant;
    }
    if (!set) {
        json_t *o = ch_pipeline_settings_shown(text);
        print_json(&a, o);
        json_decref(o);
        goto text;
    }
    char *stored;
    json_t *shown;
    if (ch_pipeline_settings_update(text, patch, &stored, &shown, err, sizeof err) != CH_OK) {
        fprintf(stderr, "callhook: %s\n", err);
        rc = 2;
        goto text;
    }
    ch_op op = {.kind = CH_OP_PIPELINE_SET, .tenant_id = t.id, .in.text = stored};
    if (ch_store_write(a.store, &op, 1) != CH_OK) {
        fprintf(stderr, "callhook: cannot write to %s\n", a.db);
        rc = 1;
    } else {
        print_json(&a, shown);
    }
    free(stored);
    json_decref(shown);
text:
    free(text);
tenant:
    ch_tenant_clear(&t);
out:
    json_decref(given);
    json_decref(patch);
    rc = done(&a, rc);
    free(args);
    return rc;
}

/* ---- dictionary --------------------------------------------------------------------- */

static const char *dict_kind(const char *s)
{
    if (!strcmp(s, "city") || !strcmp(s, "cities")) return "city";
    if (!strcmp(s, "service") || !strcmp(s, "services")) return "service";
    return NULL;
}

static bool good_name(const char *s)
{
    size_t n = strlen(s);
    return n >= 1 && n <= CH_DICT_NAME_MAX;
}

static int dictionary_usage(void)
{
    fprintf(stderr, "usage: callhook dictionary add SLUG city|service NAME [--synonyms A,B]\n"
                    "       callhook dictionary list SLUG\n"
                    "       callhook dictionary remove SLUG city|service NAME\n");
    return 2;
}

/* --synonyms A,B as a JSON array text: NULL (with a message) when one is empty or too long, or
 * there are too many. */
static char *synonyms_text(const char *list)
{
    json_t *arr = json_array();
    char *copy = ch_strdup(list ? list : "");
    char *save = NULL;
    bool bad = false;
    if (list && *list) {
        /* strtok_r would let "a,,b" through: every comma must separate two names */
        for (char *p = copy;; p = NULL) {
            char *s = p ? p : save;
            char *comma = strchr(s, ',');
            if (comma) *comma = '\0';
            save = comma ? comma + 1 : NULL;
            if (!good_name(s)) bad = true;
            json_array_append_new(arr, json_string(s));
            if (!comma) break;
        }
    }
    free(copy);
    if (bad || json_array_size(arr) > CH_DICT_SYNONYMS_MAX) {
        fprintf(stderr,
                "callhook: --synonyms is a comma-separated list of at most %d names of 1 to %d "
                "bytes\n",
                CH_DICT_SYNONYMS_MAX, CH_DICT_NAME_MAX);
        json_decref(arr);
        return NULL;
    }
    char *t = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    return t;
}

int ch_cmd_dictionary(const char *sub, int argc, char **argv)
{
    static const char *const valued[] = {"config", "db", "synonyms", NULL};
    bool add = !strcmp(sub, "add"), rm = !strcmp(sub, "remove"), list = !strcmp(sub, "list");
    if (!add && !rm && !list) return dictionary_usage();
    ch_args a;
    int rc = ch_args_init(&a, argc, argv, valued);
    const char *syn = rc ? NULL : ch_arg(&a, "synonyms");
    if (rc || (rc = ch_args_finish(&a))) return done(&a, rc);
    if (a.npositional != (list ? 1 : 3) || (syn && !add)) return done(&a, dictionary_usage());
    const char *kind = list ? NULL : dict_kind(a.positional[1]);
    const char *name = list ? NULL : a.positional[2];
    if (!list && !kind) {
        fprintf(stderr, "callhook: a dictionary kind is city or service\n");
        return done(&a, 2);
    }
    if (!list && !good_name(name)) {
        fprintf(stderr, "callhook: a name is 1 to %d bytes\n", CH_DICT_NAME_MAX);
        return done(&a, 2);
    }
    char *synonyms = NULL;
    if (add && !(synonyms = synonyms_text(syn))) return done(&a, 2);
    ch_tenant t;
    if ((rc = tenant_of(&a, &t))) goto out;
    if (list) {
        ch_dict_view *v;
        size_t n;
        if (ch_store_dictionary(a.store, t.id, &v, &n) != CH_OK) {
            fprintf(stderr, "callhook: cannot read the database\n");
            rc = 1;
            goto tenant;
        }
        json_t *o = ch_dict_views_json(v, n);
        ch_dict_views_free(v, n);
        print_json(&a, o);
        json_decref(o);
        goto tenant;
    }
    ch_op op = {.kind = add ? CH_OP_DICT_ADD : CH_OP_DICT_REMOVE, .tenant_id = t.id};
    op.in.dict.kind = kind;
    op.in.dict.name = name;
    op.in.dict.synonyms = synonyms;
    int r = ch_store_write(a.store, &op, 1);
    if (r == CH_ELIMIT)
        fprintf(stderr, "callhook: a tenant's dictionary holds at most %d entries\n",
                CH_DICT_ENTRIES_MAX);
    else if (r == CH_ENOTFOUND)
        fprintf(stderr, "callhook: no such %s in the dictionary\n", kind);
    else if (r)
        fprintf(stderr, "callhook: cannot write to %s\n", a.db);
    if (r) {
        rc = 1;
        goto tenant;
    }
    json_t *o = add ? json_pack("{s:s, s:s, s:o}", "kind", kind, "name", name, "synonyms",
                                json_loads(synonyms, 0, NULL))
                    : json_pack("{s:s, s:s, s:b}", "kind", kind, "name", name, "removed", 1);
    print_json(&a, o);
    json_decref(o);
tenant:
    ch_tenant_clear(&t);
out:
    free(synonyms);
    return done(&a, rc);
}
