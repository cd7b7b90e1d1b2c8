/* Words of a text and their comparison keys (textseg.h). */
#include "enrich/textseg.h"

#include "util/limits.h"
#include "util/mem.h"
#include "util/result.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <unicode/ubrk.h>
#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>
#include <unicode/utf16.h>
#include <unicode/utf8.h>

/* ---- keys --------------------------------------------------------------------------------- */

/* n applied to s (a fresh buffer, *outlen units), or NULL when ICU fails. Two passes at most:
 * the first with room for the usual growth, the second with the size ICU asked for. */
static UChar *normalize(const UNormalizer2 *n, const UChar *s, int32_t len, int32_t *outlen)
{
    int32_t cap = len * 2 + 16;
    for (int pass = 0; pass < 2; pass++) {
        UChar *out = ch_malloc((size_t)cap * sizeof *out);
        UErrorCode st = U_ZERO_ERROR;
        int32_t got = unorm2_normalize(n, s, len, out, cap, &st);
        if (U_SUCCESS(st)) { /* U_STRING_NOT_TERMINATED_WARNING included: the units are there */
            *outlen = got;
            return out;
        }
        free(out);
        if (st != U_BUFFER_OVERFLOW_ERROR) return NULL;
        cap = got + 1;
    }
    return NULL;
}

/* What a key keeps of code point c after case folding and decomposition: 0 drops it. */
static UChar32 key_char(UChar32 c)
{
    /* Hebrew cantillation marks and niqqud (and the few punctuation signs among them: maqaf,
     * paseq, sof pasuq, which never sit inside a word anyway) */
    if (c >= 0x0591 && c <= 0x05C7) return 0;
    switch (u_charType(c)) {
    case U_NON_SPACING_MARK: /* accents once decomposed: "Bogotá" is "bogota" */
    case U_ENCLOSING_MARK:
    case U_COMBINING_SPACING_MARK:
    case U_FORMAT_CHAR: /* RLM, ZWJ, soft hyphen inside a word */
        return 0;
    default:
        break;
    }
    switch (c) {
    /* Hebrew final letters compare equal to their base forms: they differ only by position,
     * and ASR output and hand-typed synonyms are not always consistent about them */
    case 0x05DA:
        return 0x05DB; /* ך → כ */
    case 0x05DD:
        return 0x05DE; /* ם → מ */
    case 0x05DF:
        return 0x05E0; /* ן → נ */
    case 0x05E3:
        return 0x05E4; /* ף → פ */
    case 0x05E5:
        return 0x05E6; /* ץ → צ */
    /* geresh and gershayim are typed as ASCII quotes more often than not (ת"א, ג'ורג') */
    case 0x05F3:
        return '\'';
    case 0x05F4:
        return '"';
    case 0x2018:
    case 0x2019:
        return '\'';
    case 0x201C:
    case 0x201D:
        return '"';
    default:
        return c;
    }
}

static char *to_utf8(const UChar *s, int32_t n)
{
    UErrorCode st = U_ZERO_ERROR;
    int32_t need = 0;
    u_strToUTF8WithSub(NULL, 0, &need, s, n, 0xFFFD, NULL, &st);
    char *out = ch_malloc((size_t)need + 1);
    st = U_ZERO_ERROR;
    u_strToUTF8WithSub(out, need + 1, NULL, s, n, 0xFFFD, NULL, &st);
    if (U_FAILURE(st)) need = 0;
    out[need] = 0;
    return out;
}

char *ch_text_key_u(const UChar *s, int32_t n)
{
    UErrorCode st = U_ZERO_ERROR;
    const UNormalizer2 *fold = unorm2_getNFKCCasefoldInstance(&st);
    const UNormalizer2 *nfd = unorm2_getNFDInstance(&st);
    if (U_FAILURE(st)) return ch_strdup("");
    /* NFKC_Casefold first (ligatures, full-width forms, case), then NFD so that accents
     * become marks that key_char drops */
    int32_t n1 = 0, n2 = 0;
    UChar *a = normalize(fold, s, n, &n1);
    UChar *b = a ? normalize(nfd, a, n1, &n2) : NULL;
    free(a);
    if (!b) return ch_strdup("");
    int32_t j = 0;
    for (int32_t i = 0; i < n2;) {
        UChar32 c;
        U16_NEXT(b, i, n2, c);
        c = key_char(c);
        if (c) U16_APPEND_UNSAFE(b, j, c); /* never longer than what was read */
    }
    char *out = to_utf8(b, j);
    free(b);
    return out;
}

/* text as UTF-16 (invalid bytes → U+FFFD) with, when off is given, the byte offset of each unit;
 * at most max bytes are read */
static UChar *to_utf16(const char *text, size_t max, int32_t *ulen, size_t **off)
{
    size_t len = strnlen(text, max);
    UChar *u = ch_malloc((len + 1) * sizeof *u);
    size_t *o = off ? ch_malloc((len + 1) * sizeof *o) : NULL;
    int32_t j = 0;
    for (int32_t i = 0; i < (int32_t)len;) {
        int32_t at = i;
        UChar32 c;
        U8_NEXT(text, i, (int32_t)len, c);
        if (c < 0) c = 0xFFFD;
        if (o) {
            o[j] = (size_t)at;
            if (U16_LENGTH(c) == 2) o[j + 1] = (size_t)at;
        }
        U16_APPEND_UNSAFE(u, j, c); /* a UTF-16 unit per UTF-8 byte at most */
    }
    if (o) o[j] = len;
    *ulen = j;
    if (off) *off = o;
    return u;
}

char *ch_text_key(const char *utf8)
{
    int32_t n = 0;
    UChar *u = to_utf16(utf8, CH_TEXT_MAX, &n, NULL);
    char *k = ch_text_key_u(u, n);
    free(u);
    return k;
}

/* ---- Hebrew prefixes ---------------------------------------------------------------------- */

/* Hebrew letters are two bytes in UTF-8: D7 90 (א) … D7 AA (ת) */
static bool prefix_letter(const char *p, bool first)
{
    if ((unsigned char)p[0] != 0xD7) return false;
    switch ((unsigned char)p[1]) {
    case 0x95:
        return first; /* ו: "and", before the others */
    case 0xA9:        /* ש */
    case 0x91:        /* ב */
    case 0x9C:        /* ל */
    case 0x9E:        /* מ */
    case 0x94:        /* ה */
    case 0x9B:
        return true; /* כ */
    default:
        return false;
    }
}

static size_t code_points(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80) n++;
    return n;
}

size_t ch_text_prefixes(const char *key, size_t skip[3])
{
    size_t n = 0, at = 0;
    while (n < 3 && prefix_letter(key + at, n == 0)) {
        at += 2;
        if (code_points(key + at) < 2) break;
        skip[n++] = at;
    }
    return n;
}

/* ---- words -------------------------------------------------------------------------------- */

/* a gap that a phrase may span: spaces, dashes (maqaf included) and periods ("St. Louis"), no
 * line break (a line is a speaker's turn) */
static bool joining_gap(const UChar *u, int32_t from, int32_t to)
{
    for (int32_t i = from; i < to;) {
        UChar32 c;
        U16_NEXT(u, i, to, c);
        if (c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x85 || c == 0x2028 ||
            c == 0x2029)
            return false;
        if (!u_isUWhiteSpace(c) && c != '.' && u_charType(c) != U_DASH_PUNCTUATION) return false;
    }
    return true;
}

int ch_textseg_init(ch_textseg *ts, const char *text)
{
    memset(ts, 0, sizeof *ts);
    ts->u = to_utf16(text, CH_TEXT_MAX, &ts->ulen, &ts->off);
    UErrorCode st = U_ZERO_ERROR;
    UBreakIterator *bi = ubrk_open(UBRK_WORD, "", ts->u, ts->ulen, &st);
    if (U_FAILURE(st)) return CH_ERR;
    size_t cap = 0;
    bool joined = false;
    int32_t from = ubrk_first(bi);
    for (int32_t to = ubrk_next(bi); to != UBRK_DONE; from = to, to = ubrk_next(bi)) {
        int32_t status = ubrk_getRuleStatus(bi);
        if (status < UBRK_WORD_NONE_LIMIT) { /* spaces, punctuation, symbols */
            joined = joined && joining_gap(ts->u, from, to);
            continue;
        }
        if (ts->nwords == cap) {
            cap = cap ? cap * 2 : 64;
            ts->words = ch_realloc(ts->words, cap * sizeof *ts->words);
        }
        ch_word *w = &ts->words[ts->nwords++];
        w->ustart = from;
        w->uend = to;
        w->start = ts->off[from];
        w->end = ts->off[to];
        w->key = ch_text_key_u(ts->u + from, to - from);
        w->joined = joined;
        w->number = status >= UBRK_WORD_NUMBER && status < UBRK_WORD_NUMBER_LIMIT;
        joined = true;
    }
    ubrk_close(bi);
    return CH_OK;
}

void ch_textseg_free(ch_textseg *ts)
{
    for (size_t i = 0; i < ts->nwords; i++)
        free(ts->words[i].key);
    free(ts->words);
    free(ts->u);
    free(ts->off);
    memset(ts, 0, sizeof *ts);
}

char *ch_textseg_utf8(const ch_textseg *ts, int32_t from, int32_t to)
{
    while (from < to && u_isUWhiteSpace(ts->u[from]))
        from++;
    while (to > from && u_isUWhiteSpace(ts->u[to - 1]))
        to--;
    return to_utf8(ts->u + from, to - from);
}

bool ch_text_valid_utf8(const char *s)
{
    size_t len = strlen(s);
    for (int32_t i = 0; i < (int32_t)len;) {
        UChar32 c;
        U8_NEXT(s, i, (int32_t)len, c);
        if (c < 0) return false;
    }
    return true;
}

/* ---- word tables -------------------------------------------------------------------------- */

static int key_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void ch_text_table_build(ch_text_table *t)
{
    size_t n = 0;
    while (t->words[n])
        n++;
    t->keys = ch_malloc((n ? n : 1) * sizeof *t->keys);
    for (size_t i = 0; i < n; i++)
        t->keys[i] = ch_text_key(t->words[i]);
    qsort(t->keys, n, sizeof *t->keys, key_cmp);
    t->n = n;
}

bool ch_text_table_has(const ch_text_table *t, const char *key)
{
    return bsearch(&key, t->keys, t->n, sizeof *t->keys, key_cmp) != NULL;
}

/* Words that carry no topic: pronouns, articles, prepositions, auxiliaries, fillers and phone
 * courtesies. Written for callhook, short on purpose: a word missing here costs a little
 * score, a content word listed here would be lost. */
static const char *const stop_words[] = {
    /* English */
    "a", "an", "the", "and", "or", "but", "if", "so", "to", "of", "in", "on", "at", "for", "with",
    "from", "by", "about", "as", "into", "up", "out", "is", "are", "was", "were", "be", "been",
    "am", "do", "does", "did", "have", "has", "had", "i", "i'm", "i've", "i'd", "i'll", "me", "my",
    "you", "you're", "your", "we", "we're", "our", "us", "they", "them", "their", "he", "she",
    "him", "his", "her", "it", "it's", "its", "this", "that", "that's", "these", "those", "there",
    "here", "what", "which", "who", "how", "when", "where", "why", "can", "could", "would",
    "should", "will", "shall", "may", "might", "must", "just", "yes", "no", "not", "don't", "ok",
    "okay", "yeah", "yep", "uh", "um", "hmm", "hi", "hello", "hey", "bye", "goodbye", "thanks",
    "thank", "please", "well", "like", "really", "very", "oh", "also", "then", "than", "some",
    "any", "all", "get", "got", "know", "think", "want", "need", "let", "one", "right", "sure",
    "great", "now", "too", "again", "more", "much", "other", "over",
    /* Hebrew (final letters as written: keys fold them) */
    "אני", "אתה", "את", "הוא", "היא", "אנחנו", "אתם", "אתן", "הם", "הן", "זה", "זאת", "זו", "אלה",
    "של", "על", "עם", "אל", "כי", "אם", "גם", "רק", "כן", "לא", "מה", "מי", "איך", "איפה", "למה",
    "מתי", "כמה", "יש", "אין", "היה", "הייתה", "היו", "יהיה", "להיות", "אז", "עוד", "כבר", "פה",
    "כאן", "שם", "כל", "אבל", "או", "אחד", "אחת", "בסדר", "שלום", "תודה", "רבה", "רגע", "אוקיי",
    "אוקי", "נו", "אה", "אמ", "יופי", "ממש", "מאוד", "הזה", "הזאת", "לי", "לך", "לו", "לה", "לנו",
    "לכם", "להם", "אותי", "אותך", "אותו", "אותה", "אותנו", "שלי", "שלך", "שלו", "שלה", "שלנו",
    "שלכם", "צריך", "צריכה", "רוצה", "רציתי", "אפשר", "בבקשה", "עכשיו", "טוב", "ככה", "כזה", "כזאת",
    "בדיוק", "אולי", "הרבה", "קצת", "יודע", "יודעת", "חושב", "חושבת", "ואז", "לגבי", "אצל", "בין",
    "עד", "אחרי", "לפני", NULL};

static ch_text_table stops = {.words = stop_words};
static pthread_once_t stops_once = PTHREAD_ONCE_INIT;

static void stops_build(void)
{
    ch_text_table_build(&stops);
}

bool ch_text_stopword_exact(const char *key)
{
    pthread_once(&stops_once, stops_build);
    return ch_text_table_has(&stops, key);
}

bool ch_text_stopword(const char *key)
{
    if (ch_text_stopword_exact(key)) return true;
    size_t skip[3];
    size_t n = ch_text_prefixes(key, skip);
    for (size_t i = 0; i < n; i++)
        if (ch_text_table_has(&stops, key + skip[i])) return true;
    return false;
}

/* ---- lines and speakers ------------------------------------------------------------------- */

/* Labels of the business's side of a call: its name is not the customer's. */
static const char *const agent_words[] = {
    "agent", "assistant",    "bot",  "ai",    "representative", "rep",   "operator", "support",
    "staff", "receptionist", "נציג", "נציגה", "סוכן",           "סוכנת", "מוקדן",    "מוקדנית",
    "בוט",   "מזכירה",       NULL};
static ch_text_table agents = {.words = agent_words};
static pthread_once_t agents_once = PTHREAD_ONCE_INIT;

static void agents_build(void)
{
    ch_text_table_build(&agents);
}

/* any word of the label is an agent word ("Agent 2", "AI assistant"); *w: the first word not
 * before the label, moved on (lines come in order, so the walk is linear) */
static bool agent_label(const ch_textseg *ts, const ch_textline *l, size_t *w)
{
    bool agent = false;
    while (*w < ts->nwords && ts->words[*w].ustart < l->label_start)
        (*w)++;
    for (size_t i = *w; i < ts->nwords && ts->words[i].ustart < l->label_end; i++)
        agent = agent || ch_text_table_has(&agents, ts->words[i].key);
    return agent;
}

#define LABEL_MAX_UNITS 32 /* "Customer service:" fits, a sentence with a colon does not */
#define LABEL_MAX_WORDS 3

bool ch_text_line_break(UChar32 c)
{
    return c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x85 || c == 0x2028 ||
           c == 0x2029;
}

/* "caller:", "Agent 2:", "נציג:": up to LABEL_MAX_WORDS words of letters and digits, then a
 * colon that ends the text or is followed by a space */
static void find_label(const UChar *u, ch_textline *l)
{
    int32_t i = l->start;
    while (i < l->end && u_isUWhiteSpace(u[i]))
        i++;
    l->label_start = l->label_end = l->content = i;
    int32_t from = i, words = 0;
    bool in_word = false, letters = false;
    for (; i < l->end && i - from <= LABEL_MAX_UNITS; i++) {
        UChar c = u[i];
        if (c == ':') break;
        if (u_isalpha(c) || u_isdigit(c) || c == '_' || c == '-') {
            letters = letters || u_isalpha(c);
            if (!in_word) words++;
            in_word = true;
        } else if (c == ' ') {
            in_word = false;
        } else {
            return;
        }
    }
    if (i >= l->end || u[i] != ':' || !letters || words > LABEL_MAX_WORDS) return;
    if (i + 1 < l->end && !u_isUWhiteSpace(u[i + 1])) return; /* "10:30", "http://" */
    l->label_end = i;
    while (l->label_end > from && u[l->label_end - 1] == ' ')
        l->label_end--;
    l->content = i + 1;
}

ch_textline *ch_textseg_lines(const ch_textseg *ts, size_t *nlines)
{
    pthread_once(&agents_once, agents_build);
    size_t n = 0, cap = 16, w = 0;
    ch_textline *ls = ch_malloc(cap * sizeof *ls);
    int32_t start = 0;
    for (int32_t i = 0; i <= ts->ulen; i++) {
        if (i < ts->ulen && !ch_text_line_break(ts->u[i])) continue;
        if (n == cap) ls = ch_realloc(ls, (cap *= 2) * sizeof *ls);
        ls[n] = (ch_textline){.start = start, .end = i};
        find_label(ts->u, &ls[n]);
        ls[n].agent = agent_label(ts, &ls[n], &w);
        n++;
        start = i + 1;
    }
    *nlines = n;
    return ls;
}
