/* What each stage does, by engine: see stages.h and docs/enrichment.md. */
#include "enrich/stages.h"
#include "core/pipeline.h"
#include "enrich/audio.h"
#include "enrich/dictmatch.h"
#include "enrich/fetch.h"
#include "enrich/heuristics.h"
#include "enrich/jschema.h"
#include "enrich/openai.h"
#include "enrich/recordings.h"
#include "enrich/sentiment.h"
#include "enrich/sphinx.h"
#include "enrich/summary.h"
#include "enrich/ucmapi.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/result.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ch_stage_env {
    ch_store *s;
    ch_enrich_opts opts; /* strings owned by the workers (enrich/worker.c) */
    ch_ucm_client *ucm;  /* UCM sessions, shared: one login serves every job */
};

struct ch_stage_thread {
    ch_sphinx *sphinx; /* loaded at the first pocketsphinx job, kept (about a second) */
    char sphinx_err[160];
};

ch_stage_env *ch_stage_env_new(ch_store *s, const ch_enrich_opts *o)
{
    ch_stage_env *e = ch_calloc(1, sizeof *e);
    e->s = s;
    e->opts = *o;
    e->ucm = ch_ucm_client_new();
    return e;
}

void ch_stage_env_free(ch_stage_env *e)
{
    if (!e) return;
    ch_ucm_client_free(e->ucm);
    free(e);
}

ch_stage_thread *ch_stage_thread_new(void)
{
    return ch_calloc(1, sizeof(ch_stage_thread));
}

void ch_stage_thread_free(ch_stage_thread *t)
{
    if (!t) return;
    ch_sphinx_free(t->sphinx);
    free(t);
}

bool ch_stage_is_cpu(const ch_due_job *j)
{
    /* pocketsphinx, and the embedded text engines (ICU over a transcript: tens of ms each, and
     * a backlog of them would otherwise take every worker's core from ingest); the openai
     * engines and the downloads wait on a server */
    if (j->stage == CH_STAGE_TRANSCRIPT) return !strcmp(j->engine, "pocketsphinx");
    return j->stage != CH_STAGE_RECORDING && strcmp(j->engine, "openai") != 0;
}

static void fail(ch_run_outcome *o, ch_run_state st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(ch_run_outcome *o, ch_run_state st, const char *fmt, ...)
{
    o->state = st;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->error, sizeof o->error, fmt, ap);
    va_end(ap);
}

static void done(ch_run_outcome *o, json_t *result)
{
    o->state = CH_RUN_DONE;
    o->error[0] = '\0';
    o->result = json_dumps(result, JSON_COMPACT);
    json_decref(result);
    if (!o->result) abort();
    if (strlen(o->result) > CH_STAGE_RESULT_MAX) {
        free(o->result);
        o->result = NULL;
        fail(o, CH_RUN_FAIL, "the result is over %d bytes", CH_STAGE_RESULT_MAX);
    }
}

/* A client code (enrich/fetch.h) as a run state: transient ones are retried. */
static ch_run_state run_state_of(int rc)
{
    return rc == CH_EAGAIN ? CH_RUN_RETRY : CH_RUN_FAIL;
}

/* ---- inputs ----------------------------------------------------------------------------- */

typedef struct {
    json_t *call;
    ch_pipeline_settings ps;
    ch_job_row jobs[CH_STAGE_COUNT];
    ch_dict *dict;
    /* the dictionary's names and synonyms (pocketsphinx's keyphrases, a transcription hint) */
    char **words;
    size_t nwords;
} inputs;

static void inputs_clear(inputs *in)
{
    json_decref(in->call);
    ch_pipeline_settings_clear(&in->ps);
    for (int i = 0; i < CH_STAGE_COUNT; i++)
        ch_job_row_clear(&in->jobs[i]);
    ch_dict_free(in->dict);
    for (size_t i = 0; i < in->nwords; i++)
        free(in->words[i]);
    free(in->words);
}

static void add_word(inputs *in, const char *w)
{
    in->words = ch_realloc(in->words, (in->nwords + 1) * sizeof *in->words);
    in->words[in->nwords++] = ch_strdup(w);
}

static int load_inputs(ch_stage_env *env, const ch_due_job *j, inputs *in, ch_run_outcome *o)
{
    memset(in, 0, sizeof *in);
    int rc = ch_store_get_call(env->s, j->tenant_id, j->call_id, &in->call);
    if (rc) {
        fail(o, rc == CH_ENOTFOUND ? CH_RUN_FAIL : CH_RUN_RETRY, "the call cannot be read (%s)",
             ch_strerror(rc));
        return rc;
    }
    char *text = NULL, err[200];
    if ((rc = ch_store_pipeline_text(env->s, j->tenant_id, &text))) {
        fail(o, CH_RUN_RETRY, "the pipeline settings cannot be read (%s)", ch_strerror(rc));
        return rc;
    }
    if (ch_pipeline_settings_parse(text, &in->ps, err, sizeof err) != CH_OK) {
        ch_pipeline_settings_clear(&in->ps);
        ch_pipeline_settings_parse(NULL, &in->ps, err, sizeof err);
    }
    free(text);
    if ((rc = ch_store_call_jobs(env->s, j->tenant_id, j->call_id, in->jobs))) {
        fail(o, CH_RUN_RETRY, "the call's jobs cannot be read (%s)", ch_strerror(rc));
        return rc;
    }
    ch_dict_view *v;
    size_t n;
    if ((rc = ch_store_dictionary(env->s, j->tenant_id, &v, &n))) {
        fail(o, CH_RUN_RETRY, "the dictionary cannot be read (%s)", ch_strerror(rc));
        return rc;
    }
    in->dict = ch_dict_new();
    for (size_t i = 0; i < n; i++) {
        json_t *syn = json_loads(v[i].synonyms ? v[i].synonyms : "[]", 0, NULL);
        size_t ns = json_array_size(syn);
        const char **list = ch_calloc(ns + 1, sizeof *list);
        for (size_t k = 0; k < ns; k++) {
            list[k] = json_string_value(json_array_get(syn, k));
            if (list[k]) add_word(in, list[k]);
        }
        /* an entry the matcher refuses (too long) is left out, not fatal */
        (void)ch_dict_add(in->dict, v[i].kind, v[i].name, list, ns);
        add_word(in, v[i].name);
        free(list);
        json_decref(syn);
    }
    ch_dict_views_free(v, n);
    return CH_OK;
}

static const char *call_str(const inputs *in, const char *key)
{
    return json_string_value(json_object_get(in->call, key));
}

/* The recording stage's result (sha256, mime…), or NULL. Borrowed from a new reference. */
static json_t *recording_result(const inputs *in)
{
    const ch_job_row *r = &in->jobs[CH_STAGE_RECORDING];
    if (r->state != CH_JOB_DONE || !r->result) return NULL;
    return json_loads(r->result, 0, NULL);
}

/* The engine is the job's, chosen when the call was planned; the settings are the tenant's
 * now. A tenant that moved the stage to another engine since may have taken the openai base
 * URL away: the stage then fails saying so (and does not pass a NULL URL on). */
static bool openai_ready(const ch_stage_settings *st, ch_stage s, ch_run_outcome *o)
{
    if (st->base_url && st->base_url[0]) return true;
    fail(o, CH_RUN_FAIL,
         "openai: the tenant's %s settings have no base_url (the engine was changed after the"
         " call was planned)",
         ch_stage_name(s));
    return false;
}

static ch_openai_target openai_target(ch_stage_env *env, const ch_stage_settings *st)
{
    return (ch_openai_target){.base_url = st->base_url,
                              .api_key = st->api_key,
                              .model = st->model,
                              .allow_private = env->opts.allow_private,
                              .timeout_ms = (long)env->opts.timeout_ms};
}

/* ---- recording ------------------------------------------------------------------------- */

/* The first of the tenant's sources of provider with recording settings (JSON), or NULL. */
static json_t *source_media(ch_stage_env *env, int64_t tenant_id, const char *provider)
{
    ch_credential *c;
    size_t n;
    json_t *media = NULL;
    if (ch_store_credentials(env->s, tenant_id, provider, &c, &n) != CH_OK) return NULL;
    for (size_t i = 0; i < n && !media; i++)
        if (c[i].media) media = json_loads(c[i].media, 0, NULL);
    ch_credentials_free(c, n);
    return media;
}

static void stage_recording(ch_stage_env *env, const ch_due_job *j, inputs *in, ch_run_outcome *o)
{
    const char *where = call_str(in, "recording_url");
    const char *provider = call_str(in, "provider");
    if (!where || !where[0]) {
        fail(o, CH_RUN_FAIL, "the call has no recording");
        return;
    }
    json_t *media = source_media(env, j->tenant_id, provider ? provider : "");
    ch_fetch_resp resp;
    memset(&resp, 0, sizeof resp);
    int rc;
    bool ucm = !strstr(where, "://"); /* a UCM names a file in its recordings, not a URL */
    if (ucm) {
        const char *api = json_string_value(json_object_get(media, "api_url"));
        if (!api) {
            fail(o, CH_RUN_FAIL,
                 "the recording is a UCM file name and the %s source has no recording API"
                 " settings (api_url, api_user, api_password)",
                 provider ? provider : "call's");
            json_decref(media);
            return;
        }
        ch_ucm_target t = {.base_url = api,
                           .user = json_string_value(json_object_get(media, "api_user")),
                           .password = json_string_value(json_object_get(media, "api_password")),
                           .allow_private = env->opts.allow_private,
                           .timeout_ms = (long)env->opts.timeout_ms,
                           .max_body = (size_t)env->opts.max_recording_bytes,
                           .insecure_tls = json_is_true(json_object_get(media, "insecure_tls")),
                           .pinned_pubkey =
                               json_string_value(json_object_get(media, "pinned_pubkey"))};
        rc = ch_ucm_fetch_recording(env->ucm, &t, where, &resp);
        if (rc == CH_EAGAIN && resp.retry_after_s > 0)
            o->retry_after_ms = resp.retry_after_s * 1000;
        if (rc) {
            fail(o, run_state_of(rc), "%s", resp.error[0] ? resp.error : ch_strerror(rc));
            goto out;
        }
    } else {
        /* the account's credentials go only to the hosts the source names (Twilio's API by
         * default), never to whatever host a RecordingUrl points at */
        const char *hosts = json_string_value(json_object_get(media, "basic_hosts"));
        if (!hosts) hosts = CH_MEDIA_BASIC_HOSTS_DEFAULT;
        const char *bu = json_string_value(json_object_get(media, "basic_user"));
        bool creds = bu && ch_fetch_host_listed(where, hosts);
        ch_fetch_req req = {.method = "GET",
                            .url = where,
                            .basic_user = creds ? bu : NULL,
                            .basic_pass =
                                creds ? json_string_value(json_object_get(media, "basic_password"))
                                      : NULL,
                            .max_body = (size_t)env->opts.max_recording_bytes,
                            .timeout_ms = (long)env->opts.timeout_ms,
                            .max_redirects = 3, /* Twilio answers with a redirect to its storage */
                            .allow_private = env->opts.allow_private};
        rc = ch_fetch(&req, &resp);
        if (rc) {
            fail(o, run_state_of(rc), "%s", resp.error[0] ? resp.error : ch_strerror(rc));
            goto out;
        }
        int cls = ch_fetch_status_class(resp.status);
        if (cls != CH_OK) {
            if (resp.retry_after_s > 0) o->retry_after_ms = resp.retry_after_s * 1000;
            fail(o, cls == CH_EAGAIN ? CH_RUN_RETRY : CH_RUN_FAIL,
                 "HTTP %ld from the recording URL%s%s%s", resp.status,
                 bu && !creds ? " (sent without the source's credentials: they go only to " : "",
                 bu && !creds ? hosts : "", bu && !creds ? ")" : "");
            goto out;
        }
    }
    /* decoded once here, so a file that is not audio fails this stage, not a later one */
    ch_audio a;
    char err[200];
    if (ch_audio_decode(resp.body, resp.len, CH_AUDIO_MAX_SECONDS_DEFAULT, &a, err, sizeof err) !=
        CH_OK) {
        fail(o, CH_RUN_FAIL, "decode error: %s", err);
        goto out;
    }
    char sha[CH_SHA256_HEX];
    rc = ch_recording_store(env->opts.recordings_dir, resp.body, resp.len, sha, err, sizeof err);
    if (rc) {
        fail(o, CH_RUN_RETRY, "the recording cannot be kept: %s", err);
        ch_audio_free(&a);
        goto out;
    }
    if (ch_recording_path(env->opts.recordings_dir, sha, o->file, sizeof o->file) != CH_OK)
        o->file[0] = '\0';
    char url[128];
    snprintf(url, sizeof url, "/v1/calls/%s/recording", j->call_id);
    done(o, json_pack("{s:s, s:s, s:s, s:I, s:f, s:i, s:i, s:s}", "sha256", sha, "mime", a.mime,
                      "format", a.format, "bytes", (json_int_t)resp.len, "seconds", a.seconds,
                      "channels", a.channels, "sample_rate", a.source_rate, "url", url));
    ch_audio_free(&a);
out:
    ch_fetch_resp_free(&resp);
    json_decref(media);
}

/* ---- transcript ------------------------------------------------------------------------- */

static const char *speaker_of(int channel, int channels)
{
    /* Twilio dual-channel and Vapi stereo: the first channel is the caller's side */
    return channels < 2 ? NULL : channel == 0 ? "caller" : "agent";
}

static int by_start(const void *a, const void *b)
{
    double x = json_number_value(json_object_get(*(json_t *const *)a, "start"));
    double y = json_number_value(json_object_get(*(json_t *const *)b, "start"));
    return x < y ? -1 : x > y;
}

/* Segments of every channel, interleaved by start time, and the transcript text ("caller:
 * …" lines for stereo). Takes the segment arrays. */
static json_t *transcript_of(json_t **segs, int channels, json_t *extra)
{
    size_t total = 0;
    for (int c = 0; c < channels; c++)
        total += json_array_size(segs[c]);
    json_t **all = ch_calloc(total + 1, sizeof *all);
    size_t k = 0;
    for (int c = 0; c < channels; c++) {
        size_t i;
        json_t *s;
        json_array_foreach(segs[c], i, s)
        {
            const char *sp = speaker_of(c, channels);
            json_object_set_new(s, "speaker", sp ? json_string(sp) : json_null());
            all[k++] = s;
        }
    }
    qsort(all, k, sizeof *all, by_start);
    json_t *out = json_array();
    ch_buf text;
    ch_buf_init(&text, CH_STAGE_RESULT_MAX);
    bool full = false;
    for (size_t i = 0; i < k; i++) {
        json_array_append(out, all[i]);
        const char *t = json_string_value(json_object_get(all[i], "text"));
        const char *sp = json_string_value(json_object_get(all[i], "speaker"));
        if (!t || !t[0] || full) continue;
        int r = sp ? ch_buf_printf(&text, "%s%s: %s", text.len ? "\n" : "", sp, t)
                   : ch_buf_printf(&text, "%s%s", text.len ? " " : "", t);
        full = r != CH_OK; /* the text is cut at the ceiling; the segments keep all */
    }
    for (int c = 0; c < channels; c++)
        json_decref(segs[c]);
    free(all);
    size_t len;
    char *t = ch_buf_steal(&text, &len);
    json_t *r = json_pack("{s:s, s:o}", "text", t ? t : "", "segments", out);
    free(t);
    if (extra) json_object_update(r, extra);
    json_decref(extra);
    return r;
}

/* A WAV file of one channel (16-bit PCM), for an engine that takes a file. */
static unsigned char *wav_of(const int16_t *pcm, size_t n, int rate, size_t *len)
{
    size_t data = n * 2;
    unsigned char *w = ch_malloc(44 + data);
    uint32_t v;
    memcpy(w, "RIFF", 4);
    v = (uint32_t)(36 + data);
    memcpy(w + 4, &v, 4); /* little-endian hosts (x86-64, arm64) */
    memcpy(w + 8, "WAVEfmt ", 8);
    v = 16;
    memcpy(w + 16, &v, 4);
    uint16_t h = 1;
    memcpy(w + 20, &h, 2); /* PCM */
    memcpy(w + 22, &h, 2); /* mono */
    v = (uint32_t)rate;
    memcpy(w + 24, &v, 4);
    v = (uint32_t)rate * 2;
    memcpy(w + 28, &v, 4);
    h = 2;
    memcpy(w + 32, &h, 2);
    h = 16;
    memcpy(w + 34, &h, 2);
    memcpy(w + 36, "data", 4);
    v = (uint32_t)data;
    memcpy(w + 40, &v, 4);
    memcpy(w + 44, pcm, data);
    *len = 44 + data;
    return w;
}

static void stage_transcript(ch_stage_env *env, ch_stage_thread *t, const ch_due_job *j, inputs *in,
                             ch_run_outcome *o)
{
    json_t *rec = recording_result(in);
    const char *sha = json_string_value(json_object_get(rec, "sha256"));
    unsigned char *bytes = NULL;
    size_t len = 0;
    char err[200];
    ch_audio a;
    memset(&a, 0, sizeof a);
    if (!sha) {
        fail(o, CH_RUN_FAIL, "no recording to transcribe");
        goto out;
    }
    if (ch_recording_load(env->opts.recordings_dir, sha, (size_t)env->opts.max_recording_bytes,
                          &bytes, &len, err, sizeof err) != CH_OK) {
        fail(o, CH_RUN_FAIL, "the recording is gone: %s", err);
        goto out;
    }
    if (ch_audio_decode(bytes, len, CH_AUDIO_MAX_SECONDS_DEFAULT, &a, err, sizeof err) != CH_OK) {
        fail(o, CH_RUN_FAIL, "decode error: %s", err);
        goto out;
    }
    const ch_stage_settings *st = &in->ps.st[CH_STAGE_TRANSCRIPT];
    json_t *segs[2] = {NULL, NULL};
    if (!strcmp(j->engine, "pocketsphinx")) {
        o->cpu = true;
        if (!t->sphinx && !t->sphinx_err[0])
            t->sphinx = ch_sphinx_new(NULL, t->sphinx_err, sizeof t->sphinx_err);
        if (!t->sphinx) {
            fail(o, CH_RUN_FAIL, "pocketsphinx: %s", t->sphinx_err);
            goto out;
        }
        json_t *hits_all = json_array(), *skipped = NULL;
        for (int c = 0; c < a.channels; c++) {
            json_t *hits = NULL, *sk = NULL;
            if (ch_sphinx_transcribe(t->sphinx, a.pcm[c], a.samples, (const char *const *)in->words,
                                     in->nwords, &segs[c], &hits, &sk, err, sizeof err) != CH_OK) {
                fail(o, CH_RUN_FAIL, "pocketsphinx: %s", err);
                for (int k = 0; k <= c; k++)
                    json_decref(segs[k]);
                json_decref(hits_all);
                json_decref(hits);
                json_decref(sk);
                json_decref(skipped);
                goto out;
            }
            json_array_extend(hits_all, hits);
            json_decref(hits);
            if (!skipped)
                skipped = sk;
            else
                json_decref(sk);
        }
        json_t *extra = json_pack("{s:s, s:o, s:o}", "language", "en", "keywords", hits_all,
                                  "unknown_words", skipped ? skipped : json_array());
        if (st->redo) json_object_set_new(extra, "redo", json_true());
        done(o, transcript_of(segs, a.channels, extra));
    } else if (!strcmp(j->engine, "openai")) {
        if (!openai_ready(st, j->stage, o)) goto out;
        ch_openai_target tg = openai_target(env, st);
        /* the dictionary's words as the prompt: Whisper spells names it was told about */
        char *prompt = NULL;
        if (st->prompt) {
            prompt = ch_strdup(st->prompt);
        } else if (in->nwords) {
            ch_buf b;
            ch_buf_init(&b, 800);
            for (size_t i = 0; i < in->nwords; i++)
                if (ch_buf_printf(&b, "%s%s", i ? ", " : "", in->words[i])) break;
            size_t n;
            prompt = ch_buf_steal(&b, &n);
        }
        json_t *extra = NULL;
        for (int c = 0; c < a.channels; c++) {
            unsigned char *file = bytes;
            size_t flen = len;
            const char *mime = a.mime;
            if (a.channels == 2) { /* each side on its own: speaker turns for free */
                file = wav_of(a.pcm[c], a.samples, CH_AUDIO_RATE, &flen);
                mime = "audio/wav";
            }
            json_t *r = NULL;
            long retry = -1;
            int rc = ch_openai_transcribe(
                &tg, file, flen, !strcmp(mime, "audio/mpeg") ? "recording.mp3" : "recording.wav",
                mime, st->language, prompt, &r, &retry, err, sizeof err);
            if (file != bytes) free(file);
            if (rc) {
                if (retry > 0) o->retry_after_ms = retry * 1000;
                fail(o, run_state_of(rc), "openai: %s", err);
                for (int k = 0; k < c; k++)
                    json_decref(segs[k]);
                json_decref(extra);
                free(prompt);
                goto out;
            }
            json_t *sg = json_object_get(r, "segments");
            if (json_array_size(sg)) {
                segs[c] = json_incref(sg);
            } else { /* a plain json answer: one segment of the whole */
                segs[c] = json_pack("[{s:f, s:f, s:O}]", "start", 0.0, "end", a.seconds, "text",
                                    json_object_get(r, "text") ? json_object_get(r, "text")
                                                               : json_string(""));
            }
            if (!extra && json_object_get(r, "language"))
                extra = json_pack("{s:O}", "language", json_object_get(r, "language"));
            json_decref(r);
        }
        free(prompt);
        if (st->redo) {
            if (!extra) extra = json_object();
            json_object_set_new(extra, "redo", json_true());
        }
        done(o, transcript_of(segs, a.channels, extra));
    } else {
        fail(o, CH_RUN_FAIL, "no transcription engine %s", j->engine);
    }
    if (o->state == CH_RUN_DONE) o->transcribed_ms = (int64_t)(a.seconds * 1000);
out:
    ch_audio_free(&a);
    free(bytes);
    json_decref(rec);
}

/* ---- the text stages ------------------------------------------------------------------- */

static const char *default_prompt(ch_stage s)
{
    switch (s) {
    case CH_STAGE_SUMMARY:
        return "Summarize this phone call in 2-3 sentences: who called, what they asked for, and"
               " what was agreed. Answer in the language of the call.";
    case CH_STAGE_FIELDS:
        return "Extract the fields of the JSON schema from this phone call transcript. Use null"
               " for what the call does not say.";
    default:
        return "Judge the caller's sentiment in this phone call. Answer with JSON: label"
               " (positive, neutral or negative) and score from -1 to 1.";
    }
}

/* The schema the openai fields engine asks for when the tenant has none. */
static json_t *default_fields_schema(void)
{
    return json_pack("{s:s, s:{s:{s:[s,s]}, s:{s:[s,s]}, s:{s:[s,s]}, s:{s:[s,s]}}, s:[s,s,s,s],"
                     " s:b}",
                     "type", "object", "properties", "city", "type", "string", "null",
                     "service_category", "type", "string", "null", "customer_name", "type",
                     "string", "null", "intent", "type", "string", "null", "required", "city",
                     "service_category", "customer_name", "intent", "additionalProperties", 0);
}

static json_t *sentiment_schema(void)
{
    return json_pack("{s:s, s:{s:{s:s, s:[s,s,s]}, s:{s:s, s:i, s:i}}, s:[s,s], s:b}", "type",
                     "object", "properties", "label", "type", "string", "enum", "positive",
                     "neutral", "negative", "score", "type", "number", "minimum", -1, "maximum", 1,
                     "required", "label", "score", "additionalProperties", 0);
}

/* Asks an openai chat engine for JSON in schema and validates it (servers that accept a
 * schema do not all enforce it). */
static json_t *chat_json(ch_stage_env *env, const ch_stage_settings *st, ch_stage s,
                         const char *text, const json_t *schema, ch_run_outcome *o)
{
    ch_openai_target tg = openai_target(env, st);
    char *content = NULL, err[200];
    long retry = -1;
    int rc = ch_openai_chat(&tg, st->prompt ? st->prompt : default_prompt(s), text, schema,
                            &content, &retry, err, sizeof err);
    if (rc) {
        if (retry > 0) o->retry_after_ms = retry * 1000;
        fail(o, run_state_of(rc), "openai: %s", err);
        return NULL;
    }
    json_error_t je;
    json_t *v = json_loads(content, 0, &je);
    free(content);
    if (!v) {
        fail(o, CH_RUN_FAIL, "openai: the answer is not JSON (%s)", je.text);
        return NULL;
    }
    if (ch_jschema_validate(schema, v, err, sizeof err) != CH_OK) {
        json_decref(v);
        fail(o, CH_RUN_FAIL, "openai: the answer does not match the schema: %s", err);
        return NULL;
    }
    return v;
}

static void stage_text(ch_stage_env *env, const ch_due_job *j, inputs *in, ch_run_outcome *o)
{
    const char *text = call_str(in, "transcript");
    if (!text || !text[0]) {
        fail(o, CH_RUN_FAIL, "no transcript");
        return;
    }
    const ch_stage_settings *st = &in->ps.st[j->stage];
    bool openai = !strcmp(j->engine, "openai");
    if (openai && !openai_ready(st, j->stage, o)) return;
    if (j->stage == CH_STAGE_SUMMARY) {
        if (openai) {
            ch_openai_target tg = openai_target(env, st);
            char *content = NULL, err[200];
            long retry = -1;
            int rc = ch_openai_chat(&tg, st->prompt ? st->prompt : default_prompt(j->stage), text,
                                    NULL, &content, &retry, err, sizeof err);
            if (rc) {
                if (retry > 0) o->retry_after_ms = retry * 1000;
                fail(o, run_state_of(rc), "openai: %s", err);
                return;
            }
            done(o, json_pack("{s:s, s:b}", "summary", content, "redo", st->redo));
            free(content);
            return;
        }
        char *s = ch_summary_extractive(text, 3, in->dict);
        done(o, json_pack("{s:s, s:b}", "summary", s ? s : "", "redo", st->redo));
        free(s);
        return;
    }
    if (j->stage == CH_STAGE_FIELDS) {
        /* the dictionary's matches on the transcript, and on the words pocketsphinx spotted
         * (its keyword pass catches names the free transcription misses) */
        json_t *tr = NULL;
        const ch_job_row *tj = &in->jobs[CH_STAGE_TRANSCRIPT];
        if (tj->state == CH_JOB_DONE && tj->result) tr = json_loads(tj->result, 0, NULL);
        ch_buf b;
        ch_buf_init(&b, CH_STAGE_RESULT_MAX * 2);
        int r = ch_buf_puts(&b, text);
        size_t i;
        json_t *h;
        json_array_foreach(json_object_get(tr, "keywords"), i, h)
        {
            const char *p = json_string_value(json_object_get(h, "phrase"));
            if (p && r == CH_OK) r = ch_buf_printf(&b, "\n%s", p);
        }
        json_decref(tr);
        size_t n;
        char *all = ch_buf_steal(&b, &n);
        json_t *m = ch_dict_match(in->dict, all ? all : text);
        json_t *hf = ch_fields_heuristic(text);
        free(all);
        json_t *fields = json_object();
        json_object_set(fields, "city", json_object_get(m, "city"));
        json_object_set(fields, "service_category", json_object_get(m, "service_category"));
        json_object_set(fields, "customer_name", json_object_get(hf, "customer_name"));
        json_object_set(fields, "intent", json_object_get(hf, "intent"));
        if (openai) {
            json_t *schema = st->schema ? json_incref(st->schema) : default_fields_schema();
            json_t *v = chat_json(env, st, j->stage, text, schema, o);
            json_decref(schema);
            if (!v) {
                json_decref(fields);
                json_decref(m);
                json_decref(hf);
                return;
            }
            const char *k;
            json_t *val;
            json_object_foreach(v, k, val) /* the model's values win where it has one */
            {
                if (!json_is_null(val) || !json_object_get(fields, k))
                    json_object_set(fields, k, val);
            }
            json_decref(v);
        }
        json_t *res =
            json_pack("{s:o, s:O}", "fields", fields, "matches",
                      json_object_get(m, "matches") ? json_object_get(m, "matches") : json_array());
        json_decref(m);
        json_decref(hf);
        done(o, res);
        return;
    }
    /* sentiment */
    if (openai) {
        json_t *schema = sentiment_schema();
        json_t *v = chat_json(env, st, j->stage, text, schema, o);
        json_decref(schema);
        if (v) done(o, json_pack("{s:o}", "sentiment", v));
        return;
    }
    done(o, json_pack("{s:o}", "sentiment", ch_sentiment_lexicon(text)));
}

void ch_stage_run(ch_stage_env *env, ch_stage_thread *t, const ch_due_job *j, ch_run_outcome *o)
{
    memset(o, 0, sizeof *o);
    o->retry_after_ms = -1;
    inputs in;
    if (load_inputs(env, j, &in, o) != CH_OK) {
        inputs_clear(&in);
        return;
    }
    switch (j->stage) {
    case CH_STAGE_RECORDING:
        stage_recording(env, j, &in, o);
        break;
    case CH_STAGE_TRANSCRIPT:
        stage_transcript(env, t, j, &in, o);
        break;
    case CH_STAGE_SUMMARY:
    case CH_STAGE_FIELDS:
    case CH_STAGE_SENTIMENT:
        stage_text(env, j, &in, o);
        break;
    default:
        fail(o, CH_RUN_FAIL, "no such stage");
    }
    inputs_clear(&in);
}
