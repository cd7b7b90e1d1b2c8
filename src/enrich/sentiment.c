/* Lexicon sentiment (sentiment.h). Each word found in the lexicon adds its weight (-3 … +3):
 *   - times 1.5 after an intensifier ("very good") within 2 words, or when an intensifier
 *     follows it directly ("טוב מאוד");
 *   - times -0.75 within 3 words after a negator ("not good" is bad, "not bad" is only fairly
 *     good): a negation is milder than its opposite;
 * a comma, a full stop, a question or exclamation mark or a line break ends a negation or an
 * intensifier's reach. Hebrew words are looked up as written, then without their prefixes
 * ("והשירות" → "שירות"). The sum s becomes the score s / (|s| + 4): one "great" gives 0.33,
 * one "thanks" 0.11; it saturates towards ±1 as words pile up. */
#include "enrich/sentiment.h"

#include "enrich/textseg.h"
#include "util/mem.h"
#include "util/result.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct lex {
    const char *word;
    double weight;
} lex;

/* Written for callhook: words that a caller or an agent uses about the service. Topic words
 * ("leak", "נזילה") are not opinions and are left out; so are words whose sense depends on the
 * context too much ("like", "יקר": dear or expensive). */
/* clang-format off */
static const lex lexicon[] = {
    /* English, positive */
    {"good", 2}, {"great", 2.5}, {"excellent", 3}, {"amazing", 3}, {"awesome", 3}, {"perfect", 3},
    {"wonderful", 3}, {"fantastic", 3}, {"happy", 2}, {"glad", 2}, {"pleased", 2},
    {"satisfied", 2}, {"love", 2.5}, {"loved", 2.5}, {"nice", 1.5}, {"helpful", 2}, {"fine", 0.5},
    {"thanks", 0.5}, {"thank", 0.5}, {"appreciate", 1.5}, {"appreciated", 1.5}, {"quick", 1},
    {"fast", 1}, {"friendly", 1.5}, {"recommend", 1.5}, {"resolved", 1.5}, {"fixed", 1},
    {"working", 1}, {"works", 1}, {"best", 2.5}, {"pleasure", 2}, {"polite", 1.5},
    {"professional", 1.5}, {"reliable", 1.5}, {"easy", 1},
    /* English, negative */
    {"bad", -2}, {"terrible", -3}, {"awful", -3}, {"horrible", -3}, {"worst", -3}, {"poor", -2},
    {"disappointed", -2.5}, {"disappointing", -2.5}, {"unhappy", -2}, {"angry", -2.5},
    {"upset", -2}, {"annoyed", -2}, {"annoying", -2}, {"frustrated", -2.5}, {"frustrating", -2.5},
    {"rude", -2.5}, {"broken", -1.5}, {"problem", -1}, {"problems", -1}, {"issue", -1},
    {"issues", -1}, {"complaint", -2}, {"complain", -2}, {"unacceptable", -3},
    {"ridiculous", -2.5}, {"late", -1}, {"slow", -1.5}, {"wrong", -1.5}, {"useless", -2.5},
    {"waste", -2}, {"hate", -3}, {"sucks", -2.5}, {"scam", -3}, {"mess", -1.5}, {"delay", -1},
    {"delayed", -1}, {"failed", -1.5}, {"fail", -1.5},
    /* Hebrew, positive */
    {"טוב", 2}, {"טובה", 2}, {"מצוין", 3}, {"מצויין", 3}, {"מצוינת", 3}, {"מעולה", 3},
    {"נהדר", 3}, {"נהדרת", 3}, {"נפלא", 3}, {"מושלם", 3}, {"מדהים", 3}, {"מדהימה", 3},
    {"יופי", 1}, {"אחלה", 2}, {"שמח", 2}, {"שמחה", 2}, {"מרוצה", 2}, {"מרוצים", 2}, {"אוהב", 2},
    {"אוהבת", 2}, {"תודה", 0.5}, {"מקצועי", 1.5}, {"מקצועית", 1.5}, {"אדיב", 1.5}, {"אדיבה", 1.5},
    {"נחמד", 1.5}, {"נחמדה", 1.5}, {"מהיר", 1}, {"ממליץ", 1.5}, {"ממליצה", 1.5}, {"עזרתם", 1.5},
    {"נפתר", 1.5}, {"סבבה", 1}, {"כיף", 1.5}, {"מקובל", 1},
    /* Hebrew, negative */
    {"רע", -2}, {"רעה", -2}, {"גרוע", -3}, {"גרועה", -3}, {"נורא", -2.5}, {"נוראי", -3},
    {"איום", -3}, {"איומה", -3}, {"זוועה", -3}, {"מאוכזב", -2.5}, {"מאוכזבת", -2.5},
    {"מאכזב", -2.5}, {"כועס", -2.5}, {"כועסת", -2.5}, {"עצבני", -2}, {"עצבנית", -2},
    {"מתוסכל", -2.5}, {"מתוסכלת", -2.5}, {"בעיה", -1}, {"בעייה", -1}, {"בעיות", -1}, {"תקלה", -1},
    {"תקלות", -1}, {"תלונה", -2}, {"להתלונן", -2}, {"מתלונן", -2}, {"חצוף", -2.5},
    {"חצופה", -2.5}, {"איחור", -1}, {"שבור", -1.5}, {"שבורה", -1.5}, {"מקולקל", -1.5},
    {"מקולקלת", -1.5}, {"בזבוז", -2}, {"שערורייה", -3}, {"שערוריה", -3}, {"חבל", -1},
    {"מבאס", -2}, {"מעצבן", -2}, {"מעצבנת", -2},
};
/* clang-format on */

static const char *const negator_words[] = {
    "not",      "no",        "never",   "don't",  "doesn't",  "didn't", "isn't",
    "wasn't",   "aren't",    "weren't", "won't",  "wouldn't", "can't",  "cannot",
    "couldn't", "shouldn't", "haven't", "hasn't", "nothing",  "nobody", "neither",
    "nor",      "without",   "hardly",  "לא",     "אין",      "אינו",   "אינה",
    "איננו",    "בלי",       "ללא",     "אף",     "מעולם",    "שום",    NULL};

/* "נורא" is "terrible" alone and "very" before an opinion ("נורא טוב") */
static const char *const intensifier_words[] = {
    "very",       "really", "so",  "extremely", "totally", "absolutely", "super", "incredibly",
    "completely", "מאוד",   "ממש", "נורא",      "סופר",    "לגמרי",      NULL};

typedef struct lex_key {
    char *key;
    double weight;
} lex_key;

static lex_key *lex_keys;
static size_t lex_n;
static ch_text_table negators = {.words = negator_words};
static ch_text_table intensifiers = {.words = intensifier_words};
static pthread_once_t once = PTHREAD_ONCE_INIT;

static int lex_cmp(const void *a, const void *b)
{
    return strcmp(((const lex_key *)a)->key, ((const lex_key *)b)->key);
}

static void build(void)
{
    lex_n = sizeof lexicon / sizeof *lexicon;
    lex_keys = ch_malloc(lex_n * sizeof *lex_keys);
    for (size_t i = 0; i < lex_n; i++)
        lex_keys[i] = (lex_key){ch_text_key(lexicon[i].word), lexicon[i].weight};
    qsort(lex_keys, lex_n, sizeof *lex_keys, lex_cmp);
    ch_text_table_build(&negators);
    ch_text_table_build(&intensifiers);
}

/* the word as written, then without 1, 2, 3 Hebrew prefix letters */
static size_t variants(const char *key, const char *out[4])
{
    size_t skip[3];
    size_t n = ch_text_prefixes(key, skip);
    out[0] = key;
    for (size_t i = 0; i < n; i++)
        out[i + 1] = key + skip[i];
    return n + 1;
}

static double weight_of(const char *key)
{
    const char *v[4];
    size_t n = variants(key, v);
    for (size_t i = 0; i < n; i++) {
        lex_key probe = {.key = (char *)v[i]};
        const lex_key *hit = bsearch(&probe, lex_keys, lex_n, sizeof *lex_keys, lex_cmp);
        if (hit) return hit->weight;
    }
    return 0;
}

static bool in_table(const ch_text_table *t, const char *key)
{
    const char *v[4];
    size_t n = variants(key, v);
    for (size_t i = 0; i < n; i++)
        if (ch_text_table_has(t, v[i])) return true;
    return false;
}

/* does the gap before word i end a clause? */
static bool clause_ends(const ch_textseg *ts, size_t i)
{
    if (i == 0) return true;
    for (int32_t k = ts->words[i - 1].uend; k < ts->words[i].ustart; k++) {
        UChar c = ts->u[k];
        if (c < 0x80 && strchr(",.;:!?()\n\r", (char)c)) return true;
        if (c == 0x061F || c == 0x2026 || c == 0x2028 || c == 0x2029) return true;
    }
    return false;
}

json_t *ch_sentiment_lexicon(const char *text)
{
    if (!text) return NULL;
    pthread_once(&once, build);
    ch_textseg ts;
    double sum = 0, boost = 1, last = 0; /* last: value of the previous word if an opinion */
    int negate_left = 0, boost_left = 0;
    if (ch_textseg_init(&ts, text) == CH_OK) {
        for (size_t i = 0; i < ts.nwords; i++) {
            const char *key = ts.words[i].key;
            if (clause_ends(&ts, i)) {
                negate_left = boost_left = 0;
                last = 0;
            }
            double w = weight_of(key);
            bool next_is_opinion =
                i + 1 < ts.nwords && !clause_ends(&ts, i + 1) && weight_of(ts.words[i + 1].key);
            if (in_table(&intensifiers, key) && (w == 0 || next_is_opinion)) {
                if (last != 0) { /* after its opinion: "טוב מאוד" */
                    sum += last * 0.5;
                    last = 0;
                } else {
                    boost = 1.5;
                    boost_left = 2;
                }
                continue;
            }
            if (in_table(&negators, key)) {
                negate_left = 3;
                last = 0;
                continue;
            }
            double v = 0;
            if (w != 0) {
                v = w * (boost_left > 0 ? boost : 1);
                if (negate_left > 0) v *= -0.75;
                boost_left = 0;
                sum += v;
            } else if (boost_left > 0) {
                boost_left--;
            }
            if (negate_left > 0) negate_left--;
            last = v;
        }
    }
    ch_textseg_free(&ts);
    double score = sum / (fabs(sum) + 4);
    score = round(score * 1000) / 1000 + 0.0; /* + 0.0: never "-0.0" */
    const char *label = score >= 0.25 ? "positive" : score <= -0.25 ? "negative" : "neutral";
    return json_pack("{s:s, s:f}", "label", label, "score", score);
}
