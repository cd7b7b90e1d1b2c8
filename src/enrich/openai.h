/* Clients of the OpenAI-compatible HTTP API (OpenAI, whisper.cpp's server, speaches, LocalAI,
 * llama.cpp, Ollama): audio transcription and chat completions with a JSON Schema, and the
 * pure parsers of their answers (docs/internals/enrichment-net.md). Every function is
 * blocking and thread-safe; the API key is sent only in the Authorization header and never
 * written to an error message or a log. */
#ifndef CH_OPENAI_H
#define CH_OPENAI_H

#include <jansson.h>
#include <stddef.h>

typedef struct ch_openai_target {
    const char *base_url;      /* "https://api.openai.com/v1" (no trailing slash needed) */
    const char *api_key;       /* "Authorization: Bearer <key>"; NULL or "": none sent */
    const char *model;         /* "whisper-1", "gpt-4o-mini", … */
    const char *allow_private; /* CIDRs allowed though not public: a server on the LAN */
    long timeout_ms;           /* the whole exchange (0: CH_FETCH_TIMEOUT_MS) */
} ch_openai_target;

/* Results of the four functions below: CH_OK; CH_EAGAIN for a failure worth retrying
 * (timeout, no connection, 408, 429, 5xx; *retry_after_s from Retry-After, else -1); CH_EINVAL
 * for a permanent one (another 4xx, an answer that does not parse or is over
 * CH_OPENAI_ANSWER_MAX, an address the SSRF guard refuses). err always says why. */

/* POST {base}/audio/transcriptions, multipart: file (filename, mime), model, language and
 * prompt when not NULL, response_format=verbose_json, timestamp_granularities[]=segment.
 * *result (caller decrefs): {"text": s, "segments": [{"start","end","text"}], "language": s,
 * "duration": n}, language and duration only when the server said them. */
int ch_openai_transcribe(const ch_openai_target *t, const unsigned char *audio, size_t len,
                         const char *filename, const char *mime, const char *language,
                         const char *prompt, json_t **result, long *retry_after_s, char *err,
                         size_t errlen);

/* POST {base}/chat/completions: model, messages [system (when not NULL), user], temperature 0,
 * and with a schema response_format {"type":"json_schema","json_schema":{"name":"fields",
 * "strict":true,"schema":schema}}. *content (caller frees): choices[0].message.content. The
 * content is not checked against the schema here: servers that accept a schema do not all
 * enforce it, so the caller validates. */
int ch_openai_chat(const ch_openai_target *t, const char *system_prompt, const char *user_text,
                   const json_t *schema, char **content, long *retry_after_s, char *err,
                   size_t errlen);

/* ---- pure parsers (fuzzed) ---------------------------------------------------------------- */

/* A transcription answer: JSON {"text"} (json), with "segments", "language", "duration"
 * (verbose_json), or plain text when content_type is text/plain (text). *result as above
 * (segments [] when the answer has none, at most CH_TRANSCRIPT_SEGMENTS_MAX). CH_OK or
 * CH_EINVAL with err. */
int ch_openai_parse_transcription(const char *body, size_t len, const char *content_type,
                                  json_t **result, char *err, size_t errlen);
/* choices[0].message.content of a chat completion. CH_OK or CH_EINVAL with err (a refusal's
 * text when the model refused). */
int ch_openai_parse_chat(const char *body, size_t len, char **content, char *err, size_t errlen);
/* "HTTP <status>: <message>" from an error answer: {"error":{"message":…}}, {"error":"…"},
 * {"detail":"…"}, {"message":"…"}, or the start of a text body; control characters replaced. */
void ch_openai_error_reason(long status, const char *body, size_t len, char *err, size_t errlen);

#endif
