/* Heuristic fields (heuristics.h).
 *
 * Name: the first self-introduction outside the agent's turns (a line labelled agent, נציג, …
 * is the business speaking): "my name is X", "my name's X", "this is X", "I'm X", "I am X",
 * "שמי X", "קוראים לי X", "השם שלי (הוא) X", "מדבר/מדברת X". X is one word, or two when the
 * second follows with only a space or a hyphen, is not a function word, and (in English, when
 * the first is capitalised) is capitalised too. After "this is", "I'm" and "I am" the name must
 * be capitalised ("I am calling" is no name); ASR output, all lower case, is title-cased. In
 * Hebrew a second word that starts with ב ל מ ו ש is taken for a preposition or conjunction
 * ("שמי דנה מתל אביב") and left out.
 *
 * Intent: each class has keywords and phrases; every hit counts 1 in a customer's turn and 0.5
 * in an agent's; the class with most wins, a tie to the first of cancellation, complaint,
 * booking, quote, information; no hit is "other". Hebrew words are matched with their prefixes
 * stripped too ("ולבטל"). */
#include "enrich/heuristics.h"

#include "enrich/textseg.h"
#include "util/mem.h"
#include "util/result.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <unicode/uchar.h>
#include <unicode/utf16.h>

/* ---- phrases ------------------------------------------------------------------------------ */

typedef struct phrase {
    char **keys;
    size_t n;
} phrase;

typedef struct phrase_set {
    const char *const *text; /* NULL-terminated */
    phrase *p;
    size_t n;
} phrase_set;

static void set_build(phrase_set *s)
{
    while (s->text[s->n])
        s->n++;
    s->p = ch_calloc(s->n, sizeof *s->p);
    for (size_t i = 0; i < s->n; i++) {
        ch_textseg ts;
        if (ch_textseg_init(&ts, s->text[i]) == CH_OK) {
            s->p[i].keys = ch_malloc((ts.nwords ? ts.nwords : 1) * sizeof(char *));
            for (size_t j = 0; j < ts.nwords; j++) {
                s->p[i].keys[j] = ts.words[j].key;
                ts.words[j].key = NULL;
            }
            s->p[i].n = ts.nwords;
        }
        ch_textseg_free(&ts);
    }
}

/* The word as written, then without 1, 2, 3 Hebrew prefix letters. */
typedef struct variants {
    const char *v[4];
    size_t n;
} variants;

static variants variants_of(const char *key)
{
    size_t skip[3];
    variants vs = {.v = {key}, .n = 1};
    size_t n = ch_text_prefixes(key, skip);
    for (size_t i = 0; i < n; i++)
        vs.v[vs.n++] = key + skip[i];
    return vs;
}

/* does p start at word i, whose variants are vs? */
static bool phrase_at(const phrase *p, const ch_textseg *ts, size_t i, const variants *vs)
{
    if (!p->n || i + p->n > ts->nwords) return false;
    bool first = false;
    for (size_t k = 0; k < vs->n && !first; k++)
        first = strcmp(vs->v[k], p->keys[0]) == 0;
    if (!first) return false;
    for (size_t j = 1; j < p->n; j++)
        if (strcmp(ts->words[i + j].key, p->keys[j]) != 0) return false;
    return true;
}

/* ---- tables (callhook's own) -------------------------------------------------------------- */

enum { INTENT_CANCEL, INTENT_COMPLAINT, INTENT_BOOKING, INTENT_QUOTE, INTENT_INFO, INTENTS };
static const char *const intent_names[INTENTS] = {"cancellation", "complaint", "booking", "quote",
                                                  "information"};

static const char *const cancel_words[] = {
    "cancel",   "cancelling", "canceling",   "cancellation", "cancelled",
    "canceled", "call off",   "unsubscribe", "terminate",    "stop the service",
    "לבטל",     "ביטול",      "מבטל",        "מבטלת",        "תבטלו",
    "בטלו",     NULL};
static const char *const complaint_words[] = {
    "complaint", "complain",  "complaining", "unacceptable", "disappointed",
    "refund",    "manager",   "supervisor",  "terrible",     "awful",
    "worst",     "still not", "תלונה",       "להתלונן",      "מתלונן",
    "מתלוננת",   "מאוכזב",    "מאוכזבת",     "החזר",         "מנהל",
    "אחראי",     "שערורייה",  "לא מקובל",    "גרוע",         NULL};
static const char *const booking_words[] = {
    "book",      "booking", "appointment",  "schedule",  "reschedule",   "reserve", "reservation",
    "come over", "come by", "send someone", "available", "availability", "slot",    "תור",
    "לקבוע",     "לתאם",    "פגישה",        "להזמין",    "הזמנה",        "זמין",    "פנוי",
    "פנויה",     "שיבוא",   "שתבוא",        NULL};
static const char *const quote_words[] = {
    "quote",       "price",    "prices", "pricing", "cost",   "costs",  "estimate",  "how much",
    "rate",        "rates",    "charge", "fee",     "מחיר",   "מחירים", "הצעת מחיר", "כמה עולה",
    "כמה זה עולה", "כמה יעלה", "עלות",   "תעריף",   "מחירון", NULL};
static const char *const info_words[] = {
    "information",   "info",     "hours",     "open",         "opening",     "address", "located",
    "where are you", "question", "wondering", "do you offer", "do you have", "מידע",    "שעות",
    "פתוחים",        "כתובת",    "שאלה",      "לשאול",        "לברר",        "האם אתם", NULL};

static phrase_set intents[INTENTS] = {
    {.text = cancel_words}, {.text = complaint_words}, {.text = booking_words},
    {.text = quote_words},  {.text = info_words},
};

/* what comes before a name; caps: the name must be capitalised */
typedef struct intro {
    const char *text;
    bool caps;
} intro;
static const intro intro_list[] = {
    {"my name is", false}, {"my name's", false}, {"this is", true},    {"i'm", true},
    {"i am", true},        {"שמי", false},       {"קוראים לי", false}, {"השם שלי הוא", false},
    {"השם שלי", false},    {"מדבר", false},      {"מדברת", false},
};
#define INTROS (sizeof intro_list / sizeof *intro_list)
static const char *intro_text[INTROS + 1];
static phrase_set intros = {.text = intro_text};

/* words that follow an introduction and are no name */
static const char *const not_name_words[] = {
    "calling", "speaking", "here", "just",      "trying", "looking",   "interested", "having",
    "still",   "sorry",    "back", "regarding", "going",  "wondering", "actually",   "mister",
    "mr",      "mrs",      "ms",   "miss",      "from",   "עם",        "על",         "מ",
    "בקשר",    "פה",       "כאן",  "שוב",       "מתקשר",  "מתקשרת",    NULL};
static ch_text_table not_names = {.words = not_name_words};

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void build(void)
{
    for (int i = 0; i < INTENTS; i++)
        set_build(&intents[i]);
    for (size_t i = 0; i < INTROS; i++)
        intro_text[i] = intro_list[i].text;
    set_build(&intros);
    ch_text_table_build(&not_names);
}

/* ---- name --------------------------------------------------------------------------------- */

static bool name_word(const ch_word *w)
{
    if (w->number || !*w->key) return false;
    /* names are not stripped of Hebrew prefixes ("כהן" is no "הן"), but "ואני" is "and I" */
    const char *k = w->key;
    bool conj =
        (unsigned char)k[0] == 0xD7 && ((unsigned char)k[1] == 0x95 || (unsigned char)k[1] == 0xA9);
    if (ch_text_stopword_exact(k) || (conj && ch_text_stopword_exact(k + 2))) return false;
    return !ch_text_table_has(&not_names, k);
}

static bool capitalised(const ch_textseg *ts, const ch_word *w)
{
    UChar32 c;
    int32_t i = w->ustart;
    U16_NEXT(ts->u, i, w->uend, c);
    return u_isupper(c) || u_istitle(c);
}

static bool hebrew(const ch_textseg *ts, const ch_word *w)
{
    UChar c = ts->u[w->ustart];
    return c >= 0x05D0 && c <= 0x05EA;
}

/* only spaces or hyphens between words a and b */
static bool tight(const ch_textseg *ts, const ch_word *a, const ch_word *b)
{
    for (int32_t k = a->uend; k < b->ustart; k++)
        if (ts->u[k] != ' ' && ts->u[k] != '-' && ts->u[k] != 0x05BE) return false;
    return true;
}

/* The name after an introduction whose last word is i - 1, or NULL. */
static char *name_at(const ch_textseg *ts, size_t i, int32_t line_end, bool caps)
{
    if (i >= ts->nwords || ts->words[i].uend > line_end) return NULL;
    const ch_word *w = &ts->words[i];
    if (!tight(ts, &ts->words[i - 1], w) || !name_word(w)) return NULL;
    bool upper = capitalised(ts, w), he = hebrew(ts, w);
    if (caps && !upper && !he) return NULL;
    const ch_word *last = w;
    if (i + 1 < ts->nwords && ts->words[i + 1].uend <= line_end) {
        const ch_word *w2 = &ts->words[i + 1];
        bool ok = tight(ts, w, w2) && name_word(w2) && hebrew(ts, w2) == he;
        if (ok && !he && upper) ok = capitalised(ts, w2);
        if (ok && he) ok = !strchr("\x91\x9c\x9e\x95\xa9", ts->words[i + 1].key[1]); /* בלמוש */
        if (ok) last = w2;
    }
    int32_t n = last->uend - w->ustart;
    UChar *u = ch_malloc((size_t)n * sizeof *u);
    memcpy(u, ts->u + w->ustart, (size_t)n * sizeof *u);
    bool any_upper = false;
    for (int32_t k = 0; k < n; k++)
        any_upper = any_upper || u_isupper(u[k]);
    for (int32_t k = 0; k < n && !any_upper && !he; k++) /* ASR output: "john smith" */
        if (k == 0 || u[k - 1] == ' ' || u[k - 1] == '-') u[k] = (UChar)u_toupper(u[k]);
    ch_textseg tmp = {.u = u, .ulen = n};
    char *out = ch_textseg_utf8(&tmp, 0, n);
    free(u);
    return out;
}

static char *find_name(const ch_textseg *ts, const ch_textline *ls, size_t nl)
{
    size_t l = 0;
    for (size_t i = 0; i < ts->nwords; i++) {
        while (l + 1 < nl && ls[l].end < ts->words[i].ustart)
            l++;
        if (ls[l].agent || ts->words[i].ustart < ls[l].content) continue;
        variants vs = variants_of(ts->words[i].key);
        for (size_t k = 0; k < intros.n; k++) {
            const phrase *p = &intros.p[k];
            if (!phrase_at(p, ts, i, &vs) || ts->words[i + p->n - 1].uend > ls[l].end) continue;
            /* the introduction's words follow one another closely too */
            bool close = true;
            for (size_t j = 1; j < p->n && close; j++)
                close = tight(ts, &ts->words[i + j - 1], &ts->words[i + j]);
            char *name = close ? name_at(ts, i + p->n, ls[l].end, intro_list[k].caps) : NULL;
            if (name) return name;
        }
    }
    return NULL;
}

/* ---- intent ------------------------------------------------------------------------------- */

static const char *find_intent(const ch_textseg *ts, const ch_textline *ls, size_t nl)
{
    double score[INTENTS] = {0};
    size_t l = 0;
    for (size_t i = 0; i < ts->nwords; i++) {
        while (l + 1 < nl && ls[l].end < ts->words[i].ustart)
            l++;
        if (ts->words[i].ustart < ls[l].content) continue; /* the label itself */
        variants vs = variants_of(ts->words[i].key);
        for (int c = 0; c < INTENTS; c++)
            for (size_t k = 0; k < intents[c].n; k++)
                if (phrase_at(&intents[c].p[k], ts, i, &vs)) score[c] += ls[l].agent ? 0.5 : 1;
    }
    int best = -1;
    for (int c = 0; c < INTENTS; c++)
        if (score[c] > 0 && (best < 0 || score[c] > score[best])) best = c;
    return best < 0 ? "other" : intent_names[best];
}

json_t *ch_fields_heuristic(const char *text)
{
    if (!text) return NULL;
    pthread_once(&once, build);
    ch_textseg ts;
    char *name = NULL;
    const char *intent = "other";
    if (ch_textseg_init(&ts, text) == CH_OK) {
        size_t nl = 0;
        ch_textline *ls = ch_textseg_lines(&ts, &nl);
        name = find_name(&ts, ls, nl);
        intent = find_intent(&ts, ls, nl);
        free(ls);
    }
    ch_textseg_free(&ts);
    json_t *out = json_pack("{s:o, s:s}", "customer_name", name ? json_string(name) : json_null(),
                            "intent", intent);
    free(name);
    return out;
}
