/* The enrichment pipeline's decisions: see pipeline.h and docs/internals/enrichment.md. */
#include "core/pipeline.h"
#include "util/limits.h"
#include "util/mem.h"
#include "util/result.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const stage_names[CH_STAGE_COUNT] = {"recording", "transcript", "summary",
                                                        "fields", "sentiment"};

/* the engines each stage may use, the default first */
static const char *const stage_engines[CH_STAGE_COUNT][4] = {
    {"fetch", "none", NULL},
    {"pocketsphinx", "openai", "none", NULL},
    {"extractive", "openai", "none", NULL},
    {"dictionary", "openai", "none", NULL},
    {"lexicon", "openai", "none", NULL},
};

/* the stage whose output a stage reads; -1: none */
static const int stage_input[CH_STAGE_COUNT] = {-1, CH_STAGE_RECORDING, CH_STAGE_TRANSCRIPT,
                                                CH_STAGE_TRANSCRIPT, CH_STAGE_TRANSCRIPT};

const char *ch_stage_name(ch_stage s)
{
    return (unsigned)s < CH_STAGE_COUNT ? stage_names[s] : NULL;
}

int ch_stage_parse(const char *s)
{
    for (int i = 0; s && i < CH_STAGE_COUNT; i++)
        if (!strcmp(s, stage_names[i])) return i;
    return -1;
}

static const char *const job_states[] = {"none", "waiting", "pending", "done", "failed", "skipped"};

const char *ch_job_state_str(ch_job_state s)
{
    return (unsigned)s <= CH_JOB_SKIPPED ? job_states[s] : NULL;
}

int ch_job_state_parse(const char *s)
{
    for (int i = 0; s && i <= CH_JOB_SKIPPED; i++)
        if (!strcmp(s, job_states[i])) return i;
    return -1;
}

void ch_job_row_clear(ch_job_row *j)
{
    free(j->error);
    free(j->result);
    memset(j, 0, sizeof *j);
}

/* ---- settings ----------------------------------------------------------------------- */

static bool engine_known(ch_stage st, const char *e)
{
    for (int i = 0; stage_engines[st][i]; i++)
        if (!strcmp(stage_engines[st][i], e)) return true;
    return false;
}

static void stage_defaults(ch_pipeline_settings *s)
{
    memset(s, 0, sizeof *s);
    for (int i = 0; i < CH_STAGE_COUNT; i++) {
        s->st[i].enabled = true;
        snprintf(s->st[i].engine, sizeof s->st[i].engine, "%s", stage_engines[i][0]);
    }
    s->deadline_s = CH_PIPELINE_DEADLINE_DEFAULT_S;
    s->retention_days = CH_PIPELINE_RETENTION_DEFAULT;
}

void ch_pipeline_settings_clear(ch_pipeline_settings *s)
{
    for (int i = 0; i < CH_STAGE_COUNT; i++) {
        ch_stage_settings *t = &s->st[i];
        free(t->base_url);
        free(t->model);
        free(t->api_key);
        free(t->language);
        free(t->prompt);
        json_decref(t->schema);
    }
    memset(s, 0, sizeof *s);
}

static void settings_copy(ch_pipeline_settings *dst, const ch_pipeline_settings *src)
{
    *dst = *src;
    for (int i = 0; i < CH_STAGE_COUNT; i++) {
        ch_stage_settings *t = &dst->st[i];
        t->base_url = t->base_url ? ch_strdup(t->base_url) : NULL;
        t->model = t->model ? ch_strdup(t->model) : NULL;
        t->api_key = t->api_key ? ch_strdup(t->api_key) : NULL;
        t->language = t->language ? ch_strdup(t->language) : NULL;
        t->prompt = t->prompt ? ch_strdup(t->prompt) : NULL;
        if (t->schema) t->schema = json_deep_copy(t->schema);
    }
}

/* a string setting: null clears it; a string up to max bytes */
static int set_string(char **dst, json_t *v, size_t max, const char *stage, const char *key,
                      char *err, size_t errlen)
{
    if (json_is_null(v)) {
        free(*dst);
        *dst = NULL;
        return CH_OK;
    }
    if (!json_is_string(v) || json_string_length(v) > max) {
        snprintf(err, errlen, "%s.%s must be a string of at most %zu bytes, or null", stage, key,
                 max);
        return CH_EINVAL;
    }
    free(*dst);
    *dst = json_string_length(v) ? ch_strdup(json_string_value(v)) : NULL;
    return CH_OK;
}

static int apply_stage(ch_stage st, ch_stage_settings *t, json_t *o, char *err, size_t errlen)
{
    const char *name = stage_names[st];
    if (!json_is_object(o)) {
        snprintf(err, errlen, "%s must be an object", name);
        return CH_EINVAL;
    }
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        int rc = CH_OK;
        if (!strcmp(key, "enabled") || !strcmp(key, "redo")) {
            if (!json_is_boolean(v)) {
                snprintf(err, errlen, "%s.%s must be true or false", name, key);
                return CH_EINVAL;
            }
            *(key[0] == 'e' ? &t->enabled : &t->redo) = json_is_true(v);
        } else if (!strcmp(key, "engine")) {
            if (!json_is_string(v) || !engine_known(st, json_string_value(v))) {
                char list[96] = "";
                for (int i = 0; stage_engines[st][i]; i++)
                    snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                             stage_engines[st][i]);
                snprintf(err, errlen, "%s.engine must be one of: %s", name, list);
                return CH_EINVAL;
            }
            snprintf(t->engine, sizeof t->engine, "%s", json_string_value(v));
        } else if (!strcmp(key, "base_url")) {
            rc = set_string(&t->base_url, v, CH_PIPELINE_URL_MAX, name, key, err, errlen);
            if (!rc && t->base_url && strncmp(t->base_url, "http://", 7) &&
                strncmp(t->base_url, "https://", 8)) {
                snprintf(err, errlen, "%s.base_url must be an http:// or https:// URL", name);
                rc = CH_EINVAL;
            }
        } else if (!strcmp(key, "model")) {
            rc = set_string(&t->model, v, 128, name, key, err, errlen);
        } else if (!strcmp(key, "api_key")) {
            rc = set_string(&t->api_key, v, 512, name, key, err, errlen);
        } else if (!strcmp(key, "language")) {
            rc = set_string(&t->language, v, 16, name, key, err, errlen);
        } else if (!strcmp(key, "prompt")) {
            rc = set_string(&t->prompt, v, CH_PIPELINE_PROMPT_MAX, name, key, err, errlen);
        } else if (!strcmp(key, "schema") && st == CH_STAGE_FIELDS) {
            if (!json_is_null(v) && !json_is_object(v)) {
                snprintf(err, errlen, "fields.schema must be a JSON Schema object, or null");
                return CH_EINVAL;
            }
            json_decref(t->schema);
            t->schema = json_is_null(v) ? NULL : json_deep_copy(v);
        } else if (!strcmp(key, "api_key_set")) {
            /* what GET shows; sending it back changes nothing */
        } else {
            snprintf(err, errlen, "%s.%s is not a setting", name, key);
            return CH_EINVAL;
        }
        if (rc) return rc;
    }
    if (!strcmp(t->engine, "openai") && !t->base_url) {
        snprintf(err, errlen, "%s.base_url is needed by the openai engine", name);
        return CH_EINVAL;
    }
    return CH_OK;
}

static int apply(ch_pipeline_settings *s, const json_t *patch, char *err, size_t errlen)
{
    if (!json_is_object(patch)) {
        snprintf(err, errlen, "the pipeline settings must be a JSON object");
        return CH_EINVAL;
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)patch, key, v)
    {
        int st = ch_stage_parse(key);
        if (st >= 0) {
            int rc = apply_stage(st, &s->st[st], v, err, errlen);
            if (rc) return rc;
        } else if (!strcmp(key, "deadline_s")) {
            if (!json_is_integer(v) || json_integer_value(v) < 10 ||
                json_integer_value(v) > 7 * 86400) {
                snprintf(err, errlen, "deadline_s must be an integer from 10 to 604800");
                return CH_EINVAL;
            }
            s->deadline_s = json_integer_value(v);
        } else if (!strcmp(key, "retention_days")) {
            if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 36500) {
                snprintf(err, errlen, "retention_days must be an integer from 0 (keep) to 36500");
                return CH_EINVAL;
            }
            s->retention_days = json_integer_value(v);
        } else {
            snprintf(err, errlen, "%s is not a pipeline setting", key);
            return CH_EINVAL;
        }
    }
    return CH_OK;
}

int ch_pipeline_settings_apply(ch_pipeline_settings *s, const json_t *patch, char *err,
                               size_t errlen)
{
    ch_pipeline_settings tmp;
    settings_copy(&tmp, s);
    int rc = apply(&tmp, patch, err, errlen);
    if (rc) {
        ch_pipeline_settings_clear(&tmp);
        return rc;
    }
    ch_pipeline_settings_clear(s);
    *s = tmp;
    return CH_OK;
}

int ch_pipeline_settings_parse(const char *text, ch_pipeline_settings *out, char *err,
                               size_t errlen)
{
    stage_defaults(out);
    if (!text || !text[0]) return CH_OK;
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    if (!j) {
        snprintf(err, errlen, "pipeline settings are not JSON: %s", je.text);
        return CH_EINVAL;
    }
    int rc = ch_pipeline_settings_apply(out, j, err, errlen);
    json_decref(j);
    return rc;
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

json_t *ch_pipeline_settings_json(const ch_pipeline_settings *s, bool reveal)
{
    json_t *o = json_object();
    json_object_set_new(o, "deadline_s", json_integer(s->deadline_s));
    json_object_set_new(o, "retention_days", json_integer(s->retention_days));
    for (int i = 0; i < CH_STAGE_COUNT; i++) {
        const ch_stage_settings *t = &s->st[i];
        json_t *st = json_object();
        json_object_set_new(st, "enabled", json_boolean(t->enabled));
        json_object_set_new(st, "engine", json_string(t->engine));
        if (i != CH_STAGE_RECORDING) {
            json_object_set_new(st, "base_url", str_or_null(t->base_url));
            json_object_set_new(st, "model", str_or_null(t->model));
            if (reveal)
                json_object_set_new(st, "api_key", str_or_null(t->api_key));
            else
                json_object_set_new(st, "api_key_set", json_boolean(t->api_key != NULL));
            json_object_set_new(st, "language", str_or_null(t->language));
            json_object_set_new(st, "prompt", str_or_null(t->prompt));
            json_object_set_new(st, "redo", json_boolean(t->redo));
        }
        if (i == CH_STAGE_FIELDS)
            json_object_set_new(st, "schema", t->schema ? json_deep_copy(t->schema) : json_null());
        json_object_set_new(o, stage_names[i], st);
    }
    return o;
}

/* ---- planning ----------------------------------------------------------------------- */

static bool stage_on(const ch_pipeline_settings *s, ch_stage st)
{
    return s->st[st].enabled && strcmp(s->st[st].engine, "none") != 0;
}

static bool has(const char *s)
{
    return s && s[0];
}

static void put(ch_pipeline_plan *p, const ch_pipeline_settings *s, ch_stage st, ch_job_state state,
                const char *why, int64_t now)
{
    ch_job_row *j = &p->jobs[st];
    j->stage = st;
    j->state = state;
    snprintf(j->engine, sizeof j->engine, "%s", s->st[st].engine);
    j->next_at = now;
    j->deadline = now + s->deadline_s * 1000;
    j->error = why ? ch_strdup(why) : NULL;
    if (state == CH_JOB_SKIPPED) j->finished_at = now;
}

void ch_pipeline_plan_call(const ch_pipeline_settings *s, const ch_callstate *c, bool over_limit,
                           int64_t now, ch_pipeline_plan *out)
{
    memset(out, 0, sizeof *out);
    if (over_limit) {
        out->skip_reason = "over_limit";
        return;
    }
    bool rec = has(c->recording_url), text = has(c->transcript);
    if (!rec && !text) {
        out->skip_reason = "no_recording";
        return;
    }
    if (rec && stage_on(s, CH_STAGE_RECORDING))
        put(out, s, CH_STAGE_RECORDING, CH_JOB_PENDING, NULL, now);
    /* a transcript: the provider's (kept unless the tenant asks to redo it), or ours from
     * the recording */
    bool transcript_coming = false;
    if (stage_on(s, CH_STAGE_TRANSCRIPT)) {
        if (text && !s->st[CH_STAGE_TRANSCRIPT].redo)
            put(out, s, CH_STAGE_TRANSCRIPT, CH_JOB_SKIPPED, "provided", now);
        else if (out->jobs[CH_STAGE_RECORDING].state == CH_JOB_PENDING) {
            put(out, s, CH_STAGE_TRANSCRIPT, CH_JOB_WAITING, NULL, now);
            transcript_coming = true;
        }
    }
    for (int st = CH_STAGE_SUMMARY; st < CH_STAGE_COUNT; st++) {
        if (!stage_on(s, st)) continue;
        if (st == CH_STAGE_SUMMARY && has(c->summary) && !s->st[st].redo)
            put(out, s, st, CH_JOB_SKIPPED, "provided", now);
        else if (transcript_coming)
            put(out, s, st, CH_JOB_WAITING, NULL, now);
        else if (text)
            put(out, s, st, CH_JOB_PENDING, NULL, now);
    }
    bool open = false, any = false;
    for (int st = 0; st < CH_STAGE_COUNT; st++) {
        open |= out->jobs[st].state == CH_JOB_WAITING || out->jobs[st].state == CH_JOB_PENDING;
        any |= out->jobs[st].state != CH_JOB_NONE;
    }
    if (!open) { /* nothing to run: the call completes now */
        ch_pipeline_plan_clear(out);
        out->skip_reason = any ? "provided" : "disabled";
    }
}

void ch_pipeline_plan_clear(ch_pipeline_plan *p)
{
    for (int i = 0; i < CH_STAGE_COUNT; i++)
        ch_job_row_clear(&p->jobs[i]);
    p->skip_reason = NULL;
}

int ch_pipeline_advance(ch_job_row jobs[CH_STAGE_COUNT], int64_t now)
{
    int woke = 0;
    /* in stage order, so a skip propagates down the chain in one pass */
    for (int st = 0; st < CH_STAGE_COUNT; st++) {
        ch_job_row *j = &jobs[st];
        if (j->state != CH_JOB_WAITING || stage_input[st] < 0) continue;
        const ch_job_row *in = &jobs[stage_input[st]];
        if (in->state == CH_JOB_DONE ||
            (in->state == CH_JOB_SKIPPED && in->error && !strcmp(in->error, "provided"))) {
            j->state = CH_JOB_PENDING;
            j->next_at = now;
            woke++;
        } else if (in->state == CH_JOB_FAILED || in->state == CH_JOB_SKIPPED ||
                   in->state == CH_JOB_NONE) {
            j->state = CH_JOB_SKIPPED;
            j->finished_at = now;
            free(j->error);
            j->error = ch_asprintf("no %s: the %s stage %s", stage_names[stage_input[st]],
                                   stage_names[stage_input[st]],
                                   in->state == CH_JOB_FAILED ? "failed" : "did not run");
        }
    }
    return woke;
}

int ch_pipeline_expire(ch_job_row jobs[CH_STAGE_COUNT], int64_t now)
{
    int n = 0;
    for (int st = 0; st < CH_STAGE_COUNT; st++) {
        ch_job_row *j = &jobs[st];
        if (j->state != CH_JOB_WAITING && j->state != CH_JOB_PENDING) continue;
        j->state = CH_JOB_FAILED;
        j->finished_at = now;
        free(j->error);
        j->error =
            ch_strdup(j->attempts ? "deadline passed (last error: retrying)" : "deadline passed");
        n++;
    }
    return n;
}

bool ch_pipeline_finished(const ch_job_row jobs[CH_STAGE_COUNT])
{
    for (int st = 0; st < CH_STAGE_COUNT; st++)
        if (jobs[st].state == CH_JOB_WAITING || jobs[st].state == CH_JOB_PENDING) return false;
    return true;
}

const char *ch_pipeline_state(const ch_job_row jobs[CH_STAGE_COUNT])
{
    if (!ch_pipeline_finished(jobs)) return "running";
    int done = 0, failed = 0, planned = 0;
    for (int st = 0; st < CH_STAGE_COUNT; st++) {
        const ch_job_row *j = &jobs[st];
        if (j->state == CH_JOB_NONE) continue;
        planned++;
        if (j->state == CH_JOB_DONE ||
            (j->state == CH_JOB_SKIPPED && j->error && !strcmp(j->error, "provided")))
            done++;
        else
            failed++;
    }
    if (!planned) return "skipped";
    if (!failed) return "done";
    return done ? "partial" : "failed";
}

/* ---- the call's enriched JSON -------------------------------------------------------- */

static json_t *result_of(const ch_job_row *j)
{
    if (j->state != CH_JOB_DONE || !j->result) return NULL;
    return json_loads(j->result, 0, NULL);
}

char *ch_pipeline_enriched(const ch_job_row jobs[CH_STAGE_COUNT], const char *skip_reason)
{
    json_t *o = json_object();
    json_t *en = json_object();
    json_object_set_new(en, "state",
                        json_string(skip_reason ? "skipped" : ch_pipeline_state(jobs)));
    json_object_set_new(en, "reason", str_or_null(skip_reason));
    json_t *stages = json_object();
    int64_t deadline = 0;
    for (int st = 0; st < CH_STAGE_COUNT; st++) {
        const ch_job_row *j = &jobs[st];
        if (j->state == CH_JOB_NONE) continue;
        if (j->deadline > deadline) deadline = j->deadline;
        json_t *s = json_object();
        json_object_set_new(s, "state", json_string(ch_job_state_str(j->state)));
        json_object_set_new(s, "engine", json_string(j->engine));
        json_object_set_new(
            s, "ms", j->ms > 0 || j->state == CH_JOB_DONE ? json_integer(j->ms) : json_null());
        json_object_set_new(s, "attempts", json_integer(j->attempts));
        json_object_set_new(s, "error", str_or_null(j->error));
        json_object_set_new(stages, stage_names[st], s);
    }
    json_object_set_new(en, "stages", stages);
    if (deadline) {
        char ts[40];
        ch_time_format(deadline, ts, sizeof ts);
        json_object_set_new(en, "deadline", json_string(ts));
    } else {
        json_object_set_new(en, "deadline", json_null());
    }
    json_object_set_new(o, "enrichment", en);

    json_t *r;
    if ((r = result_of(&jobs[CH_STAGE_RECORDING]))) {
        json_object_set_new(o, "recording", r);
    }
    if ((r = result_of(&jobs[CH_STAGE_TRANSCRIPT]))) {
        json_t *text = json_object_get(r, "text");
        if (json_is_string(text)) json_object_set(o, "transcript", text);
        if (json_is_true(json_object_get(r, "redo")))
            json_object_set_new(o, "transcript_redo", json_true());
        json_t *segs = json_object_get(r, "segments");
        if (json_is_array(segs)) json_object_set(o, "transcript_segments", segs);
        json_decref(r);
    }
    if ((r = result_of(&jobs[CH_STAGE_SUMMARY]))) {
        json_t *text = json_object_get(r, "summary");
        if (json_is_string(text)) json_object_set(o, "summary", text);
        if (json_is_true(json_object_get(r, "redo")))
            json_object_set_new(o, "summary_redo", json_true());
        json_decref(r);
    }
    if ((r = result_of(&jobs[CH_STAGE_FIELDS]))) {
        json_t *f = json_object_get(r, "fields");
        if (json_is_object(f)) json_object_set(o, "fields", f);
        json_decref(r);
    }
    if ((r = result_of(&jobs[CH_STAGE_SENTIMENT]))) {
        json_t *f = json_object_get(r, "sentiment");
        if (json_is_object(f)) json_object_set(o, "sentiment", f);
        json_decref(r);
    }
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!text) abort();
    return text;
}
