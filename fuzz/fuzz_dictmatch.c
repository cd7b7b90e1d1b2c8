/* The text engines on arbitrary bytes, invalid UTF-8 included: dictionary matching
 * (src/enrich/dictmatch.h) above all, and the summary, sentiment and heuristic fields.
 * Input: "<name>\n<text>" — name is added to a fresh dictionary beside a fixed English and
 * Hebrew one; both match text (and the fixed one matches the whole input too).
 * Checks: a result always comes back and dumps as JSON (valid UTF-8); every match's "text" is
 * the input's bytes at its "offset"; the chosen names are names of the dictionary; at most
 * CH_DICT_MATCHES_MAX matches are listed; a name that was accepted and whose words are only
 * separated by spaces is found in itself; the summary is NULL or valid UTF-8 no longer than
 * three bytes per input byte (U+FFFD for an invalid one) plus its line breaks; the sentiment's
 * label agrees with its score in [-1, 1]; the intent is one of the six. */
#include "enrich/dictmatch.h"
#include "enrich/heuristics.h"
#include "enrich/sentiment.h"
#include "enrich/summary.h"
#include "enrich/textseg.h"
#include "util/limits.h"
#include "util/result.h"

#include <stdlib.h>
#include <string.h>

static ch_dict *fixed;

static void build_fixed(void)
{
    fixed = ch_dict_new();
    const char *ny[] = {"NYC", "the big apple"};
    const char *ta[] = {"Tel Aviv", "תל-אביב-יפו", "ת״א"};
    const char *pl[] = {"אינסטלטור", "plumber", "pipes"};
    if (ch_dict_add(fixed, "city", "New York", ny, 2) || ch_dict_add(fixed, "city", "York", 0, 0) ||
        ch_dict_add(fixed, "city", "תל אביב", ta, 3) ||
        ch_dict_add(fixed, "city", "ירושלים", 0, 0) ||
        ch_dict_add(fixed, "service", "אינסטלציה", pl, 3))
        abort();
}

static bool known(const char *name, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (names[i] && strcmp(name, names[i]) == 0) return true;
    return false;
}

static void check(const ch_dict *d, const char *text, const char *const *names, size_t nnames)
{
    json_t *r = ch_dict_match(d, text);
    if (!r) abort();
    char *dump = json_dumps(r, 0);
    if (!dump) abort(); /* a string that is not UTF-8 cannot be dumped */
    free(dump);
    const json_t *ms = json_object_get(r, "matches");
    if (!json_is_array(ms) || json_array_size(ms) > CH_DICT_MATCHES_MAX) abort();
    size_t len = strlen(text);
    for (size_t i = 0; i < json_array_size(ms); i++) {
        const json_t *m = json_array_get(ms, i);
        const char *seen = json_string_value(json_object_get(m, "text"));
        json_int_t off = json_integer_value(json_object_get(m, "offset"));
        if (!seen || !*seen || off < 0 || (size_t)off + strlen(seen) > len) abort();
        if (memcmp(text + off, seen, strlen(seen)) != 0) abort();
        if (!known(json_string_value(json_object_get(m, "name")), names, nnames)) abort();
    }
    const char *fields[] = {"city", "service_category"};
    for (int f = 0; f < 2; f++) {
        const json_t *v = json_object_get(r, fields[f]);
        if (!json_is_null(v) && !(json_is_string(v) && known(json_string_value(v), names, nnames)))
            abort();
    }
    json_decref(r);
}

/* the name's words follow one another with only spaces between them */
static bool plain_phrase(const char *name)
{
    ch_textseg ts;
    bool plain = ch_textseg_init(&ts, name) == CH_OK && ts.nwords > 0;
    for (size_t i = 1; plain && i < ts.nwords; i++)
        plain = ts.words[i].joined;
    ch_textseg_free(&ts);
    return plain;
}

static void other_engines(const char *text)
{
    char *sum = ch_summary_extractive(text, 3, fixed);
    if (sum && (!ch_text_valid_utf8(sum) || strlen(sum) > 3 * strlen(text) + 8)) abort();
    free(sum);

    json_t *r = ch_sentiment_lexicon(text);
    double score = json_real_value(json_object_get(r, "score"));
    const char *label = json_string_value(json_object_get(r, "label"));
    const char *want = score >= 0.25 ? "positive" : score <= -0.25 ? "negative" : "neutral";
    if (!label || strcmp(label, want) != 0 || score < -1 || score > 1) abort();
    json_decref(r);

    r = ch_fields_heuristic(text);
    char *dump = json_dumps(r, 0);
    if (!dump) abort();
    free(dump);
    const char *intent = json_string_value(json_object_get(r, "intent"));
    const char *intents[] = {"booking",      "quote",       "complaint",
                             "cancellation", "information", "other"};
    if (!intent || !known(intent, intents, 6)) abort();
    const json_t *name = json_object_get(r, "customer_name");
    if (!json_is_null(name) && !(json_is_string(name) && *json_string_value(name))) abort();
    json_decref(r);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size > 64 * 1024) return 0;
    if (!fixed) build_fixed();
    char *in = malloc(size + 1);
    memcpy(in, data, size);
    in[size] = 0;
    const char *fixed_names[] = {"New York", "York", "תל אביב", "ירושלים", "אינסטלציה"};
    check(fixed, in, fixed_names, 5);
    other_engines(in);

    char *text = strchr(in, '\n');
    if (text) *text++ = 0;
    ch_dict *d = ch_dict_new();
    const char *syn[] = {"nyc"};
    int rc = ch_dict_add(d, "city", in, syn, 1);
    const char *names[] = {rc == CH_OK ? in : NULL};
    check(d, text ? text : "", names, 1);
    if (rc == CH_OK && plain_phrase(in)) {
        json_t *r = ch_dict_match(d, in);
        const char *city = json_string_value(json_object_get(r, "city"));
        if (!city || strcmp(city, in) != 0) abort();
        json_decref(r);
    }
    ch_dict_free(d);
    free(in);
    return 0;
}
