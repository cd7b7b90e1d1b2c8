/* The offline text engines on a transcript (src/enrich/): dictionary matching (English, Hebrew
 * with prefixes, niqqud and final letters, mixed), the extractive summary, lexicon sentiment
 * and the heuristic fields (customer name, intent). Expected values are worked out by hand from
 * the rules in docs/internals/enrichment-text.md. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "enrich/dictmatch.h"
#include "enrich/heuristics.h"
#include "enrich/sentiment.h"
#include "enrich/summary.h"
#include "enrich/textseg.h"
#include "util/limits.h"
#include "util/mem.h"
#include "util/result.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------------------------ */

static const char *str_or_null(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    assert_non_null(v); /* the member is always there, null or not */
    return json_is_null(v) ? NULL : json_string_value(v);
}

#define assert_field(o, key, want)                                                                 \
    do {                                                                                           \
        const char *got_ = str_or_null(o, key);                                                    \
        const char *want_ = (want);                                                                \
        if (!want_)                                                                                \
            assert_null(got_);                                                                     \
        else                                                                                       \
            assert_string_equal(got_ ? got_ : "(null)", want_);                                    \
    } while (0)

static ch_dict *english_dict(void)
{
    ch_dict *d = ch_dict_new();
    const char *ny[] = {"NYC", "the Big Apple"};
    assert_int_equal(ch_dict_add(d, "city", "New York", ny, 2), CH_OK);
    assert_int_equal(ch_dict_add(d, "city", "York", NULL, 0), CH_OK);
    assert_int_equal(ch_dict_add(d, "city", "Boston", NULL, 0), CH_OK);
    assert_int_equal(ch_dict_add(d, "city", "Ra", NULL, 0), CH_OK);
    const char *pl[] = {"plumber", "leak", "pipes"};
    assert_int_equal(ch_dict_add(d, "service", "Plumbing", pl, 3), CH_OK);
    const char *el[] = {"electrician"};
    assert_int_equal(ch_dict_add(d, "service", "Electrical", el, 1), CH_OK);
    return d;
}

static ch_dict *hebrew_dict(void)
{
    ch_dict *d = ch_dict_new();
    const char *ta[] = {"Tel Aviv", "תל-אביב-יפו", "ת״א"};
    assert_int_equal(ch_dict_add(d, "city", "תל אביב", ta, 3), CH_OK);
    const char *jr[] = {"Jerusalem"};
    assert_int_equal(ch_dict_add(d, "city", "ירושלים", jr, 1), CH_OK);
    assert_int_equal(ch_dict_add(d, "city", "חיפה", NULL, 0), CH_OK);
    const char *pl[] = {"אינסטלטור", "plumber"};
    assert_int_equal(ch_dict_add(d, "service", "אינסטלציה", pl, 2), CH_OK);
    const char *el[] = {"חשמלאי"};
    assert_int_equal(ch_dict_add(d, "service", "חשמל", el, 1), CH_OK);
    return d;
}

/* the i-th match: its name, the text as written and its byte offset */
static void assert_match(const json_t *r, size_t i, const char *kind, const char *name,
                         const char *text, long long offset)
{
    const json_t *m = json_array_get(json_object_get(r, "matches"), i);
    assert_non_null(m);
    assert_string_equal(json_string_value(json_object_get(m, "kind")), kind);
    assert_string_equal(json_string_value(json_object_get(m, "name")), name);
    assert_string_equal(json_string_value(json_object_get(m, "text")), text);
    assert_int_equal(json_integer_value(json_object_get(m, "offset")), offset);
}

static size_t nmatches(const json_t *r)
{
    return json_array_size(json_object_get(r, "matches"));
}

/* ---- dictionary: English ------------------------------------------------------------------ */

static void dict_matches_english_case_punctuation_and_phrases(void **state)
{
    (void)state;
    ch_dict *d = english_dict();
    json_t *r = ch_dict_match(d, "Hi! I'm in NEW YORK, need a PLUMBER... new york again.");
    assert_field(r, "city", "New York");
    assert_field(r, "service_category", "Plumbing");
    assert_int_equal(nmatches(r), 3);
    /* the longest phrase wins: "New York", not "York" */
    assert_match(r, 0, "city", "New York", "NEW YORK", 11);
    assert_match(r, 1, "service", "Plumbing", "PLUMBER", 28);
    assert_match(r, 2, "city", "New York", "new york", 39);
    json_decref(r);

    /* synonyms, multi-word synonyms; a phrase may span a dash, not a comma or a line */
    r = ch_dict_match(d, "from nyc to the big apple, new-york; new, york; new\nyork");
    assert_int_equal(nmatches(r), 5);
    assert_match(r, 0, "city", "New York", "nyc", 5);
    assert_match(r, 1, "city", "New York", "the big apple", 12);
    assert_match(r, 2, "city", "New York", "new-york", 27);
    assert_match(r, 3, "city", "York", "york", 42);
    assert_match(r, 4, "city", "York", "york", 52);
    /* New York 3 times, York twice */
    assert_field(r, "city", "New York");
    assert_field(r, "service_category", NULL);
    json_decref(r);
    ch_dict_free(d);
}

static void dict_matches_whole_words_only(void **state)
{
    (void)state;
    ch_dict *d = english_dict();
    /* "Ra" is in "Rain", "Boston" in "Bostonian", "leak" in "leaking": none is a word of it */
    json_t *r = ch_dict_match(d, "Rain in Bostonian parks, leaking Yorkshire");
    assert_int_equal(nmatches(r), 0);
    assert_field(r, "city", NULL);
    assert_field(r, "service_category", NULL);
    json_decref(r);
    r = ch_dict_match(d, "Ra, the city; (Boston)");
    assert_int_equal(nmatches(r), 2);
    assert_match(r, 0, "city", "Ra", "Ra", 0);
    assert_match(r, 1, "city", "Boston", "Boston", 15);
    json_decref(r);
    ch_dict_free(d);
}

static void dict_most_mentioned_wins_ties_go_to_first(void **state)
{
    (void)state;
    ch_dict *d = english_dict();
    json_t *r = ch_dict_match(d, "Boston or New York? New York. Electrician and a plumber.");
    assert_field(r, "city", "New York");               /* 2 against 1 */
    assert_field(r, "service_category", "Electrical"); /* 1 each: the first mentioned */
    json_decref(r);
    r = ch_dict_match(d, "a leak, then an electrician, electrician, and pipes; plumber");
    assert_field(r, "service_category", "Plumbing"); /* 3 against 2 */
    json_decref(r);
    ch_dict_free(d);
}

static void dict_add_refuses_bad_entries(void **state)
{
    (void)state;
    ch_dict *d = ch_dict_new();
    assert_int_equal(ch_dict_add(d, "country", "Israel", NULL, 0), CH_EINVAL);
    assert_int_equal(ch_dict_add(d, NULL, "Israel", NULL, 0), CH_EINVAL);
    assert_int_equal(ch_dict_add(d, "city", "", NULL, 0), CH_EINVAL);
    assert_int_equal(ch_dict_add(d, "city", NULL, NULL, 0), CH_EINVAL);
    assert_int_equal(ch_dict_add(d, "city", " , !", NULL, 0), CH_EINVAL);     /* no word */
    assert_int_equal(ch_dict_add(d, "city", "\xd6\xb8", NULL, 0), CH_EINVAL); /* only a mark */
    assert_int_equal(ch_dict_add(d, "city", "Bad\xff", NULL, 0), CH_EINVAL);  /* not UTF-8 */
    char longname[CH_DICT_NAME_MAX + 2];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    assert_int_equal(ch_dict_add(d, "city", longname, NULL, 0), CH_EINVAL);
    longname[CH_DICT_NAME_MAX] = 0; /* exactly the ceiling */
    assert_int_equal(ch_dict_add(d, "city", longname, NULL, 0), CH_OK);
    assert_int_equal(ch_dict_add(d, "city", "a b c d e f g h i", NULL, 0), CH_EINVAL); /* 9 */
    assert_int_equal(ch_dict_add(d, "city", "a b c d e f g h", NULL, 0), CH_OK);
    /* a bad synonym refuses the whole entry */
    const char *syn[] = {"Fine", ""};
    assert_int_equal(ch_dict_add(d, "city", "Haifa", syn, 2), CH_EINVAL);
    assert_int_equal(ch_dict_size(d), 2);
    json_t *r = ch_dict_match(d, "Haifa and Fine");
    assert_int_equal(nmatches(r), 0);
    json_decref(r);
    assert_int_equal(ch_dict_add(d, "city", "Haifa", syn, 1), CH_OK);
    assert_int_equal(ch_dict_add(d, "city", "Haifa", NULL, 0), CH_EEXIST);
    assert_int_equal(ch_dict_add(d, "service", "Haifa", NULL, 0), CH_OK); /* another kind */
    assert_int_equal(ch_dict_size(d), 4);
    ch_dict_free(d);
}

/* ---- dictionary: Hebrew ------------------------------------------------------------------- */

static void dict_matches_hebrew_with_prefixes(void **state)
{
    (void)state;
    ch_dict *d = hebrew_dict();
    const char *text = "אני צריך אינסטלטור בתל אביב";
    json_t *r = ch_dict_match(d, text);
    assert_field(r, "city", "תל אביב");
    assert_field(r, "service_category", "אינסטלציה");
    assert_int_equal(nmatches(r), 2);
    /* "אני צריך " is 3 + 1 + 4 + 1 letters and spaces: 2×7 + 2 bytes */
    assert_match(r, 0, "service", "אינסטלציה", "אינסטלטור", 16);
    assert_match(r, 1, "city", "תל אביב", "בתל אביב", strstr(text, "בתל") - text);
    json_decref(r);

    /* מ, ו+ב, ש+ב, ו+ש+ב; the final mem of ירושלים compares equal to a base mem */
    text = "הגעתי מירושלים, ובחיפה יש חשמלאי. שבירושלים? ושבחיפה!";
    r = ch_dict_match(d, text);
    assert_int_equal(nmatches(r), 5);
    assert_match(r, 0, "city", "ירושלים", "מירושלים", strstr(text, "מירושלים") - text);
    assert_match(r, 1, "city", "חיפה", "ובחיפה", strstr(text, "ובחיפה") - text);
    assert_match(r, 2, "service", "חשמל", "חשמלאי", strstr(text, "חשמלאי") - text);
    assert_match(r, 3, "city", "ירושלים", "שבירושלים", strstr(text, "שבירושלים") - text);
    assert_match(r, 4, "city", "חיפה", "ושבחיפה", strstr(text, "ושבחיפה") - text);
    assert_field(r, "city", "ירושלים"); /* 2 each: the first mentioned */
    json_decref(r);

    /* letters that are not prefixes are not stripped ("נחיפה"), nor is ו after another one
     * ("בוחיפה"), nor a prefix that would leave less than two letters */
    r = ch_dict_match(d, "נחיפה בוחיפה אחיפה");
    assert_int_equal(nmatches(r), 0);
    json_decref(r);
    ch_dict_free(d);
}

static void dict_ignores_niqqud_and_finals(void **state)
{
    (void)state;
    ch_dict *d = hebrew_dict();
    /* "יְרוּשָׁלַיִם" with niqqud; "בְּתֵל אָבִיב" likewise; and the dictionary's own synonym with a
     * maqaf instead of hyphens */
    json_t *r = ch_dict_match(d, "גרתי ביְרוּשָׁלַיִם ועכשיו בְּתֵל אָבִיב, תל־אביב־יפו");
    assert_int_equal(nmatches(r), 3);
    assert_match(r, 0, "city", "ירושלים", "ביְרוּשָׁלַיִם", 9);
    assert_field(r, "city", "תל אביב");
    const json_t *m = json_array_get(json_object_get(r, "matches"), 2);
    assert_string_equal(json_string_value(json_object_get(m, "text")), "תל־אביב־יפו");
    json_decref(r);

    /* a dictionary written with niqqud matches text without it; a name ending in a base
     * letter matches the same word written with a final one (and back) */
    ch_dict *n = ch_dict_new();
    assert_int_equal(ch_dict_add(n, "city", "חֵיפָה", NULL, 0), CH_OK);
    assert_int_equal(ch_dict_add(n, "city", "ראשון לציונ", NULL, 0), CH_OK);
    r = ch_dict_match(n, "בחיפה או בראשון לציון");
    assert_int_equal(nmatches(r), 2);
    assert_match(r, 1, "city", "ראשון לציונ", "בראשון לציון", 16);
    json_decref(r);

    /* the gershayim abbreviation, typed with an ASCII double quote */
    r = ch_dict_match(d, "אני גר בת\"א");
    assert_int_equal(nmatches(r), 1);
    assert_field(r, "city", "תל אביב");
    json_decref(r);
    ch_dict_free(n);
    ch_dict_free(d);
}

static void dict_matches_mixed_hebrew_and_english(void **state)
{
    (void)state;
    ch_dict *d = hebrew_dict();
    const char *text = "I need a plumber בירושלים, actually in Tel-Aviv; אינסטלטור";
    json_t *r = ch_dict_match(d, text);
    assert_int_equal(nmatches(r), 4);
    assert_match(r, 0, "service", "אינסטלציה", "plumber", 9);
    assert_match(r, 1, "city", "ירושלים", "בירושלים", 17);
    assert_match(r, 2, "city", "תל אביב", "Tel-Aviv", strstr(text, "Tel") - text);
    assert_field(r, "service_category", "אינסטלציה");
    assert_field(r, "city", "ירושלים"); /* 1 each: the first */
    json_decref(r);
    ch_dict_free(d);
}

static void dict_survives_invalid_utf8_and_accents(void **state)
{
    (void)state;
    ch_dict *d = ch_dict_new();
    assert_int_equal(ch_dict_add(d, "city", "Bogotá", NULL, 0), CH_OK);
    assert_int_equal(ch_dict_add(d, "city", "Zürich", NULL, 0), CH_OK);
    /* accents are ignored both ways; full-width letters and ligatures are folded */
    json_t *r = ch_dict_match(d, "bogota BOGOTÁ zurich Ｚｕｒｉｃｈ");
    assert_int_equal(nmatches(r), 4);
    assert_field(r, "city", "Bogotá");
    json_decref(r);
    /* invalid bytes never match and never cut a word in two that is matched */
    r = ch_dict_match(d, "\xff\xfe Bogot\xc3 zurich\xe2\x82 \xc0\xaf bogot\xe1");
    assert_int_equal(nmatches(r), 1);
    assert_match(r, 0, "city", "Zürich", "zurich", 10);
    json_decref(r);
    r = ch_dict_match(d, "");
    assert_int_equal(nmatches(r), 0);
    json_decref(r);
    assert_null(ch_dict_match(d, NULL));
    ch_dict_free(d);

    /* an empty dictionary matches nothing */
    d = ch_dict_new();
    r = ch_dict_match(d, "Zürich");
    assert_int_equal(nmatches(r), 0);
    assert_field(r, "city", NULL);
    json_decref(r);
    ch_dict_free(d);
}

static void dict_lists_at_most_the_ceiling_but_counts_all(void **state)
{
    (void)state;
    ch_dict *d = english_dict();
    size_t n = CH_DICT_MATCHES_MAX + 50;
    char *text = ch_malloc(n * 7 + 16);
    char *p = text;
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "Boston ");
    strcpy(p, "NYC NYC");
    json_t *r = ch_dict_match(d, text);
    assert_int_equal(nmatches(r), CH_DICT_MATCHES_MAX);
    assert_field(r, "city", "Boston");
    json_decref(r);
    free(text);
    ch_dict_free(d);
}

/* only the first CH_TEXT_MAX bytes are read: a name past them is not seen, and a name cut by
 * the ceiling is not either */
static void dict_reads_at_most_the_ceiling(void **state)
{
    (void)state;
    ch_dict *d = english_dict();
    char *text = ch_malloc(CH_TEXT_MAX + 64);
    memset(text, ' ', CH_TEXT_MAX + 63);
    text[CH_TEXT_MAX + 63] = 0;
    memcpy(text, "Boston", 6);
    memcpy(text + CH_TEXT_MAX - 3, "NYC", 3);     /* ends exactly at the ceiling */
    memcpy(text + CH_TEXT_MAX - 20, "Boston", 6); /* well inside */
    memcpy(text + CH_TEXT_MAX + 10, "Boston", 6); /* beyond */
    json_t *r = ch_dict_match(d, text);
    assert_int_equal(nmatches(r), 3);
    assert_match(r, 2, "city", "New York", "NYC", CH_TEXT_MAX - 3);
    json_decref(r);
    memcpy(text + CH_TEXT_MAX - 3, "  NYC", 5); /* cut: "N" inside, "YC" beyond */
    r = ch_dict_match(d, text);
    assert_int_equal(nmatches(r), 2);
    json_decref(r);
    free(text);
    ch_dict_free(d);
}

/* many threads match one dictionary at once (run under TSan it would also prove no race) */
static void *match_thread(void *arg)
{
    const ch_dict *d = arg;
    for (int i = 0; i < 200; i++) {
        json_t *r = ch_dict_match(d, "אני צריך אינסטלטור בתל אביב");
        const char *c = json_string_value(json_object_get(r, "city"));
        if (!c || strcmp(c, "תל אביב") != 0) abort();
        json_decref(r);
    }
    return NULL;
}

static void dict_is_shared_by_threads(void **state)
{
    (void)state;
    ch_dict *d = hebrew_dict();
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, match_thread, d), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    ch_dict_free(d);
}

static void text_keys_and_prefixes(void **state)
{
    (void)state;
    char *k = ch_text_key("ﬁNAL Straße ירוּשָׁלַיִם ך");
    assert_string_equal(k, "final strasse ירושלימ כ");
    free(k);
    size_t skip[3];
    assert_int_equal(ch_text_prefixes("ושבחיפה", skip), 3);
    assert_int_equal(skip[0], 2);
    assert_int_equal(skip[2], 6);
    assert_int_equal(ch_text_prefixes("בת", skip), 0); /* one letter would be left */
    assert_int_equal(ch_text_prefixes("בוחיפה", skip), 1);
    assert_int_equal(ch_text_prefixes("plumber", skip), 0);
}

/* ---- summary ------------------------------------------------------------------------------ */

#define CALL_EN                                                                                    \
    "agent: Hello, thank you for calling Acme, how can I help?\n"                                  \
    "caller: Hi. My kitchen sink is leaking and the pipes under the sink are old. It started "     \
    "yesterday.\n"                                                                                 \
    "agent: I see. Where are you located?\n"                                                       \
    "caller: I am in Tel Aviv, near the port.\n"                                                   \
    "agent: We can send someone tomorrow morning to fix the sink and replace the pipes.\n"         \
    "caller: Great, thanks."

static void assert_summary(const char *text, size_t max, const ch_dict *d, const char *want)
{
    char *got = ch_summary_extractive(text, max, d);
    if (!want) {
        assert_null(got);
        return;
    }
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void summary_keeps_the_best_sentences_of_turns_in_order(void **state)
{
    (void)state;
    /* "sink" ×3 and "pipes" ×2 make the two sentences that carry them the best; the caller's
     * comes first in the call, so it is the one kept alone */
    assert_summary(CALL_EN, 1, NULL,
                   "caller: My kitchen sink is leaking and the pipes under the sink are old.");
    assert_summary(CALL_EN, 2, NULL,
                   "caller: My kitchen sink is leaking and the pipes under the sink are old.\n"
                   "agent: We can send someone tomorrow morning to fix the sink and replace the "
                   "pipes.");
    /* without a dictionary the third is the agent's greeting (early, many words); with one,
     * the sentence that names Tel Aviv is worth twice as much and takes its place */
    assert_summary(CALL_EN, 3, NULL,
                   "agent: Hello, thank you for calling Acme, how can I help?\n"
                   "caller: My kitchen sink is leaking and the pipes under the sink are old.\n"
                   "agent: We can send someone tomorrow morning to fix the sink and replace the "
                   "pipes.");
    ch_dict *d = hebrew_dict();
    assert_summary(CALL_EN, 3, d,
                   "caller: My kitchen sink is leaking and the pipes under the sink are old.\n"
                   "caller: I am in Tel Aviv, near the port.\n"
                   "agent: We can send someone tomorrow morning to fix the sink and replace the "
                   "pipes.");
    ch_dict_free(d);
}

static void summary_splits_sentences_in_hebrew_and_plain_text(void **state)
{
    (void)state;
    ch_dict *d = hebrew_dict();
    const char *he = "לקוח: שלום. יש לי נזילה במטבח והצנרת במטבח ישנה מאוד.\n"
                     "נציג: הבנתי, איפה אתה גר?\n"
                     "לקוח: אני גר בתל אביב, ליד הנמל. אפשר אינסטלטור מחר בבוקר לנזילה?\n"
                     "נציג: כן.";
    /* the two sentences that name the dictionary's entries; one turn, one line */
    assert_summary(he, 2, d, "לקוח: אני גר בתל אביב, ליד הנמל. אפשר אינסטלטור מחר בבוקר לנזילה?");
    ch_dict_free(d);
    /* no labels: sentences joined by a space; "Mr." does not end a sentence; times and URLs
     * with a colon are not labels */
    const char *plain = "The boiler broke on Monday. Mr. Cohen called twice about the boiler! "
                        "Is the boiler covered? Bye.\nAt 10:30 see http://example.com now please.";
    assert_summary(plain, 1, NULL, "Mr. Cohen called twice about the boiler!");
    assert_summary(plain, 10, NULL,
                   "The boiler broke on Monday. Mr. Cohen called twice about the boiler! Is the "
                   "boiler covered? Bye.\nAt 10:30 see http://example.com now please.");
}

static void summary_of_nothing_is_null(void **state)
{
    (void)state;
    assert_summary(NULL, 3, NULL, NULL);
    assert_summary("", 3, NULL, NULL);
    assert_summary(" \n\t \n", 3, NULL, NULL);
    assert_summary("caller:\nagent: \n", 3, NULL, NULL); /* labels, no words */
    assert_summary(CALL_EN, 0, NULL, NULL);
    /* a single short sentence is still the summary */
    assert_summary("caller: Hi.", 3, NULL, "caller: Hi.");
}

static void summary_is_valid_utf8_from_invalid_input(void **state)
{
    (void)state;
    char *got = ch_summary_extractive("caller: bad \xff bytes here\xc3 in a sentence.", 1, NULL);
    assert_non_null(got);
    assert_true(ch_text_valid_utf8(got));
    assert_string_equal(got, "caller: bad \xef\xbf\xbd bytes here\xef\xbf\xbd in a sentence.");
    free(got);
}

/* ---- sentiment ---------------------------------------------------------------------------- */

/* label and score (to 3 decimals, as the engine rounds) */
static void assert_sentiment(const char *text, const char *label, double score)
{
    json_t *r = ch_sentiment_lexicon(text);
    assert_non_null(r);
    const char *got = json_string_value(json_object_get(r, "label"));
    if (!got || strcmp(got, label) != 0)
        fail_msg("\"%s\": %s, want %s", text, got ? got : "(none)", label);
    double s = json_real_value(json_object_get(r, "score"));
    if (s < score - 0.0005 || s > score + 0.0005)
        fail_msg("\"%s\": score %.3f, want %.3f", text, s, score);
    json_decref(r);
}

static void sentiment_weighs_words_with_negation_and_intensifiers(void **state)
{
    (void)state;
    /* s / (|s| + 4): good 2 → 0.333 */
    assert_sentiment("The plumber was good", "positive", 0.333);
    /* negated: 2 × -0.75 = -1.5 → -0.273; "not bad": +1.5 → 0.273 */
    assert_sentiment("The plumber was not good", "negative", -0.273);
    assert_sentiment("not bad at all", "positive", 0.273);
    /* intensified: 3 → 0.429; negated and intensified: -2.25 → -0.36 */
    assert_sentiment("very good", "positive", 0.429);
    assert_sentiment("The service was not very good", "negative", -0.36);
    /* a comma ends the negation: "No, it was great" is great (2.5 → 0.385) */
    assert_sentiment("No, it was great", "positive", 0.385);
    /* terrible -3, very disappointed -3.75: -6.75 → -0.628 */
    assert_sentiment("This is terrible, I am very disappointed.", "negative", -0.628);
    /* one polite "thanks" is not a positive call (0.5 → 0.111) */
    assert_sentiment("I need a plumber tomorrow, thanks", "neutral", 0.111);
    assert_sentiment("I need a plumber in Tel Aviv", "neutral", 0);
    assert_sentiment("", "neutral", 0);
    assert_null(ch_sentiment_lexicon(NULL));
}

static void sentiment_reads_hebrew(void **state)
{
    (void)state;
    assert_sentiment("השירות היה מצוין", "positive", 0.429);            /* 3 */
    assert_sentiment("השירות לא היה טוב", "negative", -0.273);          /* 2 × -0.75 */
    assert_sentiment("טוב מאוד", "positive", 0.429);                    /* intensifier after: 3 */
    assert_sentiment("נורא טוב", "positive", 0.429);                    /* "נורא" as "very" */
    assert_sentiment("נורא", "negative", -0.385);                       /* "נורא" alone: -2.5 */
    assert_sentiment("אני מאוד מאוכזב מהשירות", "negative", -0.484);    /* -3.75 */
    assert_sentiment("ולא מרוצה", "negative", -0.273);                  /* ו + לא negates */
    assert_sentiment("והשירות היה מעולה, תודה רבה", "positive", 0.467); /* 3.5 */
    assert_sentiment("מְצֻיָּן", "neutral", 0);       /* spelled otherwise: not in the lexicon */
    assert_sentiment("מְצוּיָן", "positive", 0.429); /* with niqqud: found */
}

/* ---- heuristic fields --------------------------------------------------------------------- */

static void assert_fields(const char *text, const char *name, const char *intent)
{
    json_t *r = ch_fields_heuristic(text);
    assert_non_null(r);
    const json_t *n = json_object_get(r, "customer_name");
    assert_non_null(n);
    if (!name && !json_is_null(n))
        fail_msg("\"%s\": name %s, want null", text, json_string_value(n));
    if (name && (!json_is_string(n) || strcmp(json_string_value(n), name) != 0))
        fail_msg("\"%s\": name %s, want %s", text,
                 json_is_string(n) ? json_string_value(n) : "null", name);
    const char *got = json_string_value(json_object_get(r, "intent"));
    if (!got || strcmp(got, intent) != 0)
        fail_msg("\"%s\": intent %s, want %s", text, got ? got : "(none)", intent);
    json_decref(r);
}

static void fields_find_english_names_and_intents(void **state)
{
    (void)state;
    assert_fields("Hi, my name is John Smith and I need a quote for a new boiler.", "John Smith",
                  "quote");
    /* ASR output has no capitals: title-cased; "i" ends the name */
    assert_fields("my name is john smith i want to book an appointment", "John Smith", "booking");
    /* the agent's "this is Dana" is not the customer's name */
    assert_fields("agent: Hello, this is Dana from Acme, how can I help?\n"
                  "caller: Hi Dana, this is Robert Cohen. I want to cancel my appointment.",
                  "Robert Cohen", "cancellation");
    /* "I am calling", "I'm in": no capitalised name after them */
    assert_fields("I am calling about the price. How much does it cost?", NULL, "quote");
    assert_fields("I'm in Tel Aviv", NULL, "other");
    /* apostrophes and hyphens stay in a name; a comma ends it */
    assert_fields("My name's O'Brien-Smith, I'd like a refund, this is unacceptable",
                  "O'Brien-Smith", "complaint");
    assert_fields("What are your opening hours?", NULL, "information");
    assert_fields("The weather is nice", NULL, "other");
    assert_fields("", NULL, "other");
    assert_null(ch_fields_heuristic(NULL));
}

static void fields_find_hebrew_names_and_intents(void **state)
{
    (void)state;
    assert_fields("שלום, קוראים לי יוסי ואני רוצה לקבוע תור", "יוסי", "booking");
    /* "מתל" starts with מ: a preposition, not a surname */
    assert_fields("שמי דנה מתל אביב, אני רוצה לבטל את ההזמנה", "דנה", "cancellation");
    /* "כהן" is a name, not "הן" behind a prefix */
    assert_fields("השם שלי הוא משה כהן. כמה עולה התיקון?", "משה כהן", "quote");
    assert_fields("נציג: שלום, מדברת רונית.\nלקוח: מדבר אבי, יש לי תלונה על הטכנאי", "אבי",
                  "complaint");
    assert_fields("רציתי לברר מה שעות הפעילות שלכם", NULL, "information");
}

static void fields_intent_ties_and_agent_weight(void **state)
{
    (void)state;
    /* one booking word, one quote word: the tie goes to booking (before quote) */
    assert_fields("I want an appointment, and the price", NULL, "booking");
    /* cancellation comes first of all in a tie */
    assert_fields("cancel the booking", NULL, "cancellation");
    /* two quote words of the agent (0.5 each) against one booking word of the caller: a tie
     * (1 each), booking first; a third agent word would tip it */
    assert_fields("agent: a quote? the price?\ncaller: appointment", NULL, "booking");
    assert_fields("agent: a quote? the price? the cost?\ncaller: appointment", NULL, "quote");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dict_matches_english_case_punctuation_and_phrases),
        cmocka_unit_test(dict_matches_whole_words_only),
        cmocka_unit_test(dict_most_mentioned_wins_ties_go_to_first),
        cmocka_unit_test(dict_add_refuses_bad_entries),
        cmocka_unit_test(dict_matches_hebrew_with_prefixes),
        cmocka_unit_test(dict_ignores_niqqud_and_finals),
        cmocka_unit_test(dict_matches_mixed_hebrew_and_english),
        cmocka_unit_test(dict_survives_invalid_utf8_and_accents),
        cmocka_unit_test(dict_lists_at_most_the_ceiling_but_counts_all),
        cmocka_unit_test(dict_reads_at_most_the_ceiling),
        cmocka_unit_test(dict_is_shared_by_threads),
        cmocka_unit_test(text_keys_and_prefixes),
        cmocka_unit_test(summary_keeps_the_best_sentences_of_turns_in_order),
        cmocka_unit_test(summary_splits_sentences_in_hebrew_and_plain_text),
        cmocka_unit_test(summary_of_nothing_is_null),
        cmocka_unit_test(summary_is_valid_utf8_from_invalid_input),
        cmocka_unit_test(sentiment_weighs_words_with_negation_and_intensifiers),
        cmocka_unit_test(sentiment_reads_hebrew),
        cmocka_unit_test(fields_find_english_names_and_intents),
        cmocka_unit_test(fields_find_hebrew_names_and_intents),
        cmocka_unit_test(fields_intent_ties_and_agent_weight),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
