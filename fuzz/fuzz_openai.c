/* The OpenAI-compatible answers' parsers (src/enrich/openai.h). Input: a first byte choosing
 * the Content-Type (text/plain or JSON), then the answer's bytes. Checks: a transcription has
 * a string "text" and an array "segments" of at most CH_TRANSCRIPT_SEGMENTS_MAX, each with
 * 0 <= start <= end; it dumps back to JSON; a chat content is returned whole; an error reason
 * starts with "HTTP <status>", fits, and has no control byte. */
#include "enrich/openai.h"
#include "util/limits.h"
#include "util/result.h"

#include <stdlib.h>
#include <string.h>

static void transcription(const char *body, size_t size, const char *ct)
{
    json_t *res = NULL;
    char err[128];
    if (ch_openai_parse_transcription(body, size, ct, &res, err, sizeof err) != CH_OK) {
        if (res) abort();
        return;
    }
    json_t *segs = json_object_get(res, "segments");
    if (!json_is_string(json_object_get(res, "text")) || !json_is_array(segs) ||
        json_array_size(segs) > CH_TRANSCRIPT_SEGMENTS_MAX)
        abort();
    size_t i;
    json_t *s;
    json_array_foreach(segs, i, s)
    {
        double a = json_real_value(json_object_get(s, "start"));
        double b = json_real_value(json_object_get(s, "end"));
        if (!(a >= 0 && b >= a) || !json_is_string(json_object_get(s, "text"))) abort();
    }
    char *dump = json_dumps(res, JSON_COMPACT);
    if (!dump) abort();
    free(dump);
    json_decref(res);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size == 0 || size > (1 << 16)) return 0;
    const char *ct = data[0] & 1 ? "text/plain; charset=utf-8" : "application/json";
    const char *body = (const char *)data + 1;
    size--;
    transcription(body, size, ct);

    char *content = NULL, err[96];
    if (ch_openai_parse_chat(body, size, &content, err, sizeof err) == CH_OK) {
        if (!content) abort();
        free(content);
    } else if (content) {
        abort();
    }

    ch_openai_error_reason(503, body, size, err, sizeof err);
    if (strncmp(err, "HTTP 503", 8) != 0 || strlen(err) >= sizeof err) abort();
    for (const char *p = err; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) abort();
    return 0;
}
