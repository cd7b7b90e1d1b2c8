/* Extractive summary (summary.h). Sentences come from ICU's sentence break iterator (a line
 * break always ends one, so a sentence never crosses turns); a line that starts with a short
 * "label:" is a speaker's turn. The score of a sentence:
 *     Σ tf(w) over its content words / √(content words)       (tf: count in the whole call)
 *   × (1.25 at the first sentence, falling linearly to 1.0 at the last)
 *   × 2 if it names a dictionary entry
 * and 0 for a sentence of fewer than 3 words ("Hi.", "Yes, sure."). The best ones are kept,
 * ties to the earlier sentence. */
#include "enrich/summary.h"

#include "enrich/textseg.h"
#include "util/buf.h"
#include "util/limits.h"
#include "util/mem.h"
#include "util/result.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <unicode/ubrk.h>
#include <unicode/uchar.h>

typedef struct sentence {
    int32_t start, end;
    size_t line;
    double score;
    size_t index;
    bool chosen;
} sentence;

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool content_word(const ch_word *w)
{
    if (w->number) return true;
    size_t cps = 0;
    for (const char *p = w->key; *p; p++)
        if (((unsigned char)*p & 0xC0) != 0x80) cps++;
    return cps >= 2 && !ch_text_stopword(w->key);
}

/* how often key is among the sorted content keys */
static size_t tf(char **keys, size_t n, const char *key)
{
    char **hit = bsearch(&key, keys, n, sizeof *keys, str_cmp);
    if (!hit) return 0;
    size_t lo = (size_t)(hit - keys), hi = lo;
    while (lo > 0 && strcmp(keys[lo - 1], key) == 0)
        lo--;
    while (hi + 1 < n && strcmp(keys[hi + 1], key) == 0)
        hi++;
    return hi - lo + 1;
}

static void score(const ch_textseg *ts, sentence *ss, size_t ns, const ch_dict *dict,
                  const char *transcript)
{
    char **keys = ch_malloc((ts->nwords + 1) * sizeof *keys);
    size_t nkeys = 0;
    for (size_t i = 0; i < ts->nwords; i++)
        if (content_word(&ts->words[i])) keys[nkeys++] = ts->words[i].key;
    qsort(keys, nkeys, sizeof *keys, str_cmp);

    json_t *found = dict ? ch_dict_match(dict, transcript) : NULL;
    const json_t *matches = json_object_get(found, "matches");
    size_t w = 0, m = 0;
    for (size_t s = 0; s < ns; s++) {
        size_t words = 0, content = 0, sum = 0;
        while (w < ts->nwords && ts->words[w].ustart < ss[s].start)
            w++;
        for (; w < ts->nwords && ts->words[w].uend <= ss[s].end; w++) {
            words++;
            if (!content_word(&ts->words[w])) continue;
            content++;
            sum += tf(keys, nkeys, ts->words[w].key);
        }
        ss[s].score = words < 3 || !content ? 0 : (double)sum / sqrt((double)content);
        ss[s].score *= 1.25 - 0.25 * (ns > 1 ? (double)s / (double)(ns - 1) : 0);
        /* matches come in text order, as sentences do */
        size_t from = ts->off[ss[s].start], to = ts->off[ss[s].end];
        bool named = false;
        for (; m < json_array_size(matches); m++) {
            size_t at =
                (size_t)json_integer_value(json_object_get(json_array_get(matches, m), "offset"));
            if (at >= to) break;
            if (at >= from) named = true;
        }
        if (named) ss[s].score *= 2;
    }
    json_decref(found);
    free(keys);
}

static sentence *split_sentences(const ch_textseg *ts, const ch_textline *ls, size_t nl, size_t *ns)
{
    size_t n = 0, cap = 16, l = 0;
    sentence *ss = ch_malloc(cap * sizeof *ss);
    UErrorCode st = U_ZERO_ERROR;
    UBreakIterator *bi = ubrk_open(UBRK_SENTENCE, "en@ss=standard", ts->u, ts->ulen, &st);
    if (U_FAILURE(st)) {
        *ns = 0;
        return ss;
    }
    int32_t from = ubrk_first(bi);
    for (int32_t to = ubrk_next(bi); to != UBRK_DONE; from = to, to = ubrk_next(bi)) {
        while (l + 1 < nl && ls[l].end < from)
            l++;
        int32_t a = from > ls[l].content ? from : ls[l].content, b = to;
        while (a < b && (u_isUWhiteSpace(ts->u[a]) || ch_text_line_break(ts->u[a])))
            a++;
        while (b > a && (u_isUWhiteSpace(ts->u[b - 1]) || ch_text_line_break(ts->u[b - 1])))
            b--;
        if (a == b) continue;
        if (n == cap) ss = ch_realloc(ss, (cap *= 2) * sizeof *ss);
        ss[n] = (sentence){.start = a, .end = b, .line = l, .index = n};
        n++;
    }
    ubrk_close(bi);
    *ns = n;
    return ss;
}

static int by_score(const void *a, const void *b)
{
    const sentence *x = *(sentence *const *)a, *y = *(sentence *const *)b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

static char *compose(const ch_textseg *ts, const ch_textline *ls, const sentence *ss, size_t ns)
{
    ch_buf b;
    ch_buf_init(&b, (size_t)ts->ulen * 3 + 64); /* never reached: UTF-8 of the sentences */
    size_t last_line = SIZE_MAX;
    int rc = CH_OK;
    for (size_t s = 0; s < ns && rc == CH_OK; s++) {
        if (!ss[s].chosen) continue;
        const ch_textline *l = &ls[ss[s].line];
        if (ss[s].line != last_line) {
            if (b.len) rc = ch_buf_puts(&b, "\n");
            if (rc == CH_OK && l->label_end > l->label_start) {
                char *label = ch_textseg_utf8(ts, l->label_start, l->label_end);
                rc = ch_buf_printf(&b, "%s: ", label);
                free(label);
            }
        } else {
            rc = ch_buf_puts(&b, " ");
        }
        char *text = ch_textseg_utf8(ts, ss[s].start, ss[s].end);
        if (rc == CH_OK) rc = ch_buf_puts(&b, text);
        free(text);
        last_line = ss[s].line;
    }
    if (rc != CH_OK || !b.len) {
        ch_buf_free(&b);
        return NULL;
    }
    return ch_buf_steal(&b, NULL);
}

char *ch_summary_extractive(const char *transcript, size_t max_sentences, const ch_dict *dict)
{
    if (!transcript || !max_sentences) return NULL;
    ch_textseg ts;
    char *out = NULL;
    size_t nl = 0, ns = 0;
    ch_textline *ls = NULL;
    sentence *ss = NULL;
    sentence **order = NULL;
    if (ch_textseg_init(&ts, transcript) != CH_OK) goto out;
    ls = ch_textseg_lines(&ts, &nl);
    ss = split_sentences(&ts, ls, nl, &ns);
    if (!ns) goto out;
    score(&ts, ss, ns, dict, transcript);
    order = ch_malloc(ns * sizeof *order);
    for (size_t i = 0; i < ns; i++)
        order[i] = &ss[i];
    qsort(order, ns, sizeof *order, by_score);
    for (size_t i = 0; i < ns && i < max_sentences; i++)
        order[i]->chosen = true;
    out = compose(&ts, ls, ss, ns);
out:
    free(order);
    free(ss);
    free(ls);
    ch_textseg_free(&ts);
    return out;
}
