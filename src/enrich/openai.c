/* OpenAI-compatible transcription and chat clients (enrich/openai.h). */
#include "enrich/openai.h"

#include "enrich/fetch.h"
#include "util/limits.h"
#include "util/mem.h"
#include "util/result.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- parsers ------------------------------------------------------------------------------ */

static void set_err(char *err, size_t errlen, const char *msg)
{
    if (err && errlen) snprintf(err, errlen, "%s", msg);
}

/* s without leading and trailing white space, as a JSON string (NULL when not UTF-8). */
static json_t *trimmed(const char *s, size_t l)
{
    while (l && (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t'))
        s++, l--;
    while (l && (s[l - 1] == ' ' || s[l - 1] == '\n' || s[l - 1] == '\r' || s[l - 1] == '\t'))
        l--;
    return json_stringn(s, l);
}

static bool is_text_plain(const char *ct)
{
    return ct && strncasecmp(ct, "text/plain", 10) == 0;
}

static json_t *parse_segments(json_t *in)
{
    json_t *out = json_array();
    size_t i;
    json_t *s;
    json_array_foreach(in, i, s)
    {
        if (json_array_size(out) >= CH_TRANSCRIPT_SEGMENTS_MAX) break;
        json_t *st = json_object_get(s, "start"), *en = json_object_get(s, "end");
        json_t *tx = json_object_get(s, "text");
        if (!json_is_number(st) || !json_is_number(en) || !json_is_string(tx)) continue;
        double a = json_number_value(st), b = json_number_value(en);
        if (!(a >= 0 && b >= a && b < 1e7)) continue; /* NaN and nonsense left out */
        json_t *t = trimmed(json_string_value(tx), json_string_length(tx));
        json_array_append_new(out, json_pack("{s:f,s:f,s:o}", "start", a, "end", b, "text", t));
    }
    return out;
}

int ch_openai_parse_transcription(const char *body, size_t len, const char *content_type,
                                  json_t **result, char *err, size_t errlen)
{
    *result = NULL;
    if (is_text_plain(content_type)) {
        json_t *t = trimmed(body ? body : "", body ? len : 0);
        if (!t) {
            set_err(err, errlen, "transcription: the text is not UTF-8");
            return CH_EINVAL;
        }
        *result = json_pack("{s:o,s:[]}", "text", t, "segments");
        return CH_OK;
    }
    json_t *j = body ? json_loadb(body, len, 0, NULL) : NULL;
    json_t *text = json_object_get(j, "text"), *segs = json_object_get(j, "segments");
    if (!json_is_object(j) || (!json_is_string(text) && !json_is_array(segs))) {
        json_decref(j);
        set_err(err, errlen, "transcription: the answer has no text");
        return CH_EINVAL;
    }
    json_t *out = json_object();
    json_t *segments = parse_segments(segs);
    if (json_is_string(text)) {
        json_object_set_new(out, "text",
                            trimmed(json_string_value(text), json_string_length(text)));
    } else { /* segments only: their texts joined */
        size_t i, total = 0;
        json_t *s;
        json_array_foreach(segments, i, s) total +=
            json_string_length(json_object_get(s, "text")) + 1;
        char *all = ch_calloc(1, total + 1), *p = all;
        json_array_foreach(segments, i, s)
        {
            json_t *tx = json_object_get(s, "text");
            if (p != all) *p++ = ' ';
            memcpy(p, json_string_value(tx), json_string_length(tx));
            p += json_string_length(tx);
        }
        json_object_set_new(out, "text", json_stringn(all, (size_t)(p - all)));
        free(all);
    }
    json_object_set_new(out, "segments", segments);
    json_t *lang = json_object_get(j, "language"), *dur = json_object_get(j, "duration");
    if (json_is_string(lang) && json_string_length(lang) > 0 && json_string_length(lang) < 64)
        json_object_set(out, "language", lang);
    if (json_is_number(dur) && json_number_value(dur) >= 0 && json_number_value(dur) < 1e7)
        json_object_set_new(out, "duration", json_real(json_number_value(dur)));
    json_decref(j);
    *result = out;
    return CH_OK;
}

int ch_openai_parse_chat(const char *body, size_t len, char **content, char *err, size_t errlen)
{
    *content = NULL;
    json_t *j = body ? json_loadb(body, len, 0, NULL) : NULL;
    json_t *msg = json_object_get(json_array_get(json_object_get(j, "choices"), 0), "message");
    json_t *c = json_object_get(msg, "content"), *refusal = json_object_get(msg, "refusal");
    int rc = CH_EINVAL;
    if (json_is_string(c)) {
        *content = ch_strndup(json_string_value(c), json_string_length(c));
        rc = CH_OK;
    } else if (json_is_string(refusal)) {
        char why[200];
        snprintf(why, sizeof why, "chat: the model refused: %s", json_string_value(refusal));
        set_err(err, errlen, why);
    } else {
        set_err(err, errlen, "chat: no choices[0].message.content in the answer");
    }
    json_decref(j);
    return rc;
}

static const char *error_message(json_t *j)
{
    json_t *e = json_object_get(j, "error");
    if (json_is_string(e)) return json_string_value(e);
    if (json_is_string(json_object_get(e, "message")))
        return json_string_value(json_object_get(e, "message"));
    if (json_is_string(json_object_get(j, "detail")))
        return json_string_value(json_object_get(j, "detail"));
    if (json_is_string(json_object_get(j, "message")))
        return json_string_value(json_object_get(j, "message"));
    return NULL;
}

void ch_openai_error_reason(long status, const char *body, size_t len, char *err, size_t errlen)
{
    if (!err || !errlen) return;
    json_t *j = body && len ? json_loadb(body, len, 0, NULL) : NULL;
    const char *msg = error_message(j);
    size_t ml = msg ? strlen(msg) : 0;
    if (!msg && body && !j) { /* a text body (a proxy's page): its start */
        msg = body;
        ml = len;
    }
    int n = snprintf(err, errlen, "HTTP %ld", status);
    if (msg && ml && n >= 0 && (size_t)n + 3 < errlen) {
        char *p = err + n;
        size_t room = errlen - (size_t)n - 3;
        if (ml > room) ml = room;
        *p++ = ':';
        *p++ = ' ';
        for (size_t i = 0; i < ml; i++) /* one line in a log: control bytes become spaces */
            *p++ = (unsigned char)msg[i] < 0x20 || msg[i] == 0x7f ? ' ' : msg[i];
        *p = 0;
    }
    json_decref(j);
}

/* ---- exchanges ---------------------------------------------------------------------------- */

typedef struct {
    const ch_openai_target *t;
    const unsigned char *audio;
    size_t len;
    const char *filename, *mime, *language, *prompt;
} upload;

static void field(curl_mime *m, const char *name, const char *value)
{
    curl_mimepart *p = curl_mime_addpart(m);
    curl_mime_name(p, name);
    curl_mime_data(p, value, CURL_ZERO_TERMINATED);
}

static int add_parts(curl_mime *m, void *arg)
{
    const upload *u = arg;
    curl_mimepart *p = curl_mime_addpart(m);
    curl_mime_name(p, "file");
    if (curl_mime_data(p, (const char *)u->audio, u->len) != CURLE_OK) return CH_ERR;
    curl_mime_filename(p, u->filename && *u->filename ? u->filename : "audio.wav");
    curl_mime_type(p, u->mime && *u->mime ? u->mime : "application/octet-stream");
    field(m, "model", u->t->model ? u->t->model : "whisper-1");
    if (u->language && *u->language) field(m, "language", u->language);
    if (u->prompt && *u->prompt) field(m, "prompt", u->prompt);
    field(m, "response_format", "verbose_json");
    field(m, "timestamp_granularities[]", "segment");
    return CH_OK;
}

/* POSTs to {base}/path; CH_OK with a 2xx answer in r, else the reason in err. */
static int exchange(const ch_openai_target *t, const char *path, ch_fetch_req *req,
                    ch_fetch_resp *r, long *retry_after_s, char *err, size_t errlen)
{
    size_t bl = strlen(t->base_url);
    while (bl && t->base_url[bl - 1] == '/')
        bl--;
    char *url = ch_asprintf("%.*s%s", (int)bl, t->base_url, path);
    char *auth =
        t->api_key && *t->api_key ? ch_asprintf("Authorization: Bearer %s", t->api_key) : NULL;
    const char *headers[4] = {"Accept: application/json", NULL, NULL, NULL};
    if (req->body) headers[1] = "Content-Type: application/json";
    const char **h = headers;
    while (*h)
        h++;
    *h = auth; /* last: the key is in no other place of the request */
    req->method = "POST";
    req->url = url;
    req->headers = headers;
    req->max_body = CH_OPENAI_ANSWER_MAX;
    req->timeout_ms = t->timeout_ms;
    req->allow_private = t->allow_private;
    int rc = ch_fetch(req, r);
    if (retry_after_s) *retry_after_s = r->retry_after_s;
    if (rc == CH_OK && (rc = ch_fetch_status_class(r->status)) != CH_OK)
        ch_openai_error_reason(r->status, (const char *)r->body, r->len, err, errlen);
    else if (rc != CH_OK)
        set_err(err, errlen, r->error);
    if (rc == CH_ETOOBIG) rc = CH_EINVAL;
    if (auth) {
        memset(auth, 0, strlen(auth)); /* no copy of the key outlives the request */
        free(auth);
    }
    free(url);
    return rc;
}

int ch_openai_transcribe(const ch_openai_target *t, const unsigned char *audio, size_t len,
                         const char *filename, const char *mime, const char *language,
                         const char *prompt, json_t **result, long *retry_after_s, char *err,
                         size_t errlen)
{
    *result = NULL;
    upload u = {t, audio, len, filename, mime, language, prompt};
    ch_fetch_req req = {.mime = add_parts, .mime_arg = &u};
    ch_fetch_resp r;
    int rc = exchange(t, "/audio/transcriptions", &req, &r, retry_after_s, err, errlen);
    if (rc == CH_OK)
        rc = ch_openai_parse_transcription((const char *)r.body, r.len, r.content_type, result, err,
                                           errlen);
    ch_fetch_resp_free(&r);
    return rc;
}

int ch_openai_chat(const ch_openai_target *t, const char *system_prompt, const char *user_text,
                   const json_t *schema, char **content, long *retry_after_s, char *err,
                   size_t errlen)
{
    *content = NULL;
    json_t *sys = system_prompt ? json_string(system_prompt) : NULL;
    json_t *usr = json_string(user_text ? user_text : "");
    if ((system_prompt && !sys) || !usr) { /* jansson refuses text that is not UTF-8 */
        json_decref(sys);
        json_decref(usr);
        set_err(err, errlen, "chat: the prompt is not UTF-8");
        return CH_EINVAL;
    }
    json_t *msgs = json_array();
    if (sys) json_array_append_new(msgs, json_pack("{s:s,s:o}", "role", "system", "content", sys));
    json_array_append_new(msgs, json_pack("{s:s,s:o}", "role", "user", "content", usr));
    json_t *doc = json_pack("{s:s,s:o,s:i}", "model", t->model ? t->model : "", "messages", msgs,
                            "temperature", 0);
    if (schema)
        json_object_set_new(doc, "response_format",
                            json_pack("{s:s,s:{s:s,s:b,s:O}}", "type", "json_schema", "json_schema",
                                      "name", "fields", "strict", 1, "schema", (json_t *)schema));
    char *body = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    ch_fetch_req req = {.body = body, .body_len = strlen(body)};
    ch_fetch_resp r;
    int rc = exchange(t, "/chat/completions", &req, &r, retry_after_s, err, errlen);
    if (rc == CH_OK) rc = ch_openai_parse_chat((const char *)r.body, r.len, content, err, errlen);
    ch_fetch_resp_free(&r);
    free(body);
    return rc;
}
