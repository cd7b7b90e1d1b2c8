/* Words of a UTF-8 text for the text engines (dictmatch, summary, sentiment, heuristics): the
 * text as UTF-16 for ICU with a map back to byte offsets, its words (ICU's word break
 * iterator) and each word's comparison key (NFKC case folding, marks and Hebrew niqqud
 * removed, Hebrew final letters folded to their base forms). docs/internals/enrichment-text.md */
#ifndef CH_TEXTSEG_H
#define CH_TEXTSEG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <unicode/utypes.h>

typedef struct ch_word {
    int32_t ustart, uend; /* in UTF-16 units of ch_textseg.u */
    size_t start, end;    /* in bytes of the original text */
    char *key;            /* comparison key, UTF-8 */
    /* only spaces and dashes on one line separate it from the word before (a phrase may go on) */
    bool joined;
    bool number; /* a number, not letters */
} ch_word;

typedef struct ch_textseg {
    UChar *u;       /* the text, invalid UTF-8 replaced by U+FFFD */
    int32_t ulen;   /* UTF-16 units */
    size_t *off;    /* off[i]: byte offset of unit i in the text; off[ulen] = bytes read */
    ch_word *words; /* in text order */
    size_t nwords;
} ch_textseg;

/* Reads at most CH_TEXT_MAX bytes of text (a cut character becomes U+FFFD) and splits it into
 * words. CH_OK, or CH_ERR when ICU fails (ts is then empty). ch_textseg_free in both cases. */
int ch_textseg_init(ch_textseg *ts, const char *text);
void ch_textseg_free(ch_textseg *ts);

/* The comparison key of UTF-16 text (one word or several; spaces are kept), or of UTF-8 text
 * (invalid bytes become U+FFFD). Never NULL. */
char *ch_text_key_u(const UChar *s, int32_t n);
char *ch_text_key(const char *utf8);
/* Valid UTF-8 of ts's units [from, to), spaces at both ends trimmed. */
char *ch_textseg_utf8(const ch_textseg *ts, int32_t from, int32_t to);

/* True when s is well-formed UTF-8. */
bool ch_text_valid_utf8(const char *s);

/* A table of words as comparison keys, sorted for ch_text_table_has: built from UTF-8 words on
 * first use, thread-safely (pthread_once). */
typedef struct ch_text_table {
    const char *const *words; /* NULL-terminated, as written in the source */
    char **keys;
    size_t n;
} ch_text_table;
void ch_text_table_build(ch_text_table *t);
bool ch_text_table_has(const ch_text_table *t, const char *key);

/* Function words (English and Hebrew, a short list of callhook's own): key, or key without
 * its Hebrew prefixes ("ושאני" → "אני"), is one. */
bool ch_text_stopword(const char *key);
/* key itself is one (a name like "כהן" is not "הן" with a prefix). */
bool ch_text_stopword_exact(const char *key);

/* A line of the text (units of ch_textseg.u); a transcript given as turns has one per line,
 * "<label>: <words>", the label being at most 3 words of letters and digits. */
typedef struct ch_textline {
    int32_t start, end;             /* the line, without its line break */
    int32_t label_start, label_end; /* the speaker label, or label_start == label_end */
    int32_t content;                /* where the turn's words begin */
    bool agent; /* the label names the business's side: agent, assistant, bot, נציג, … */
} ch_textline;
/* Every line of ts (one at least). Caller frees. */
ch_textline *ch_textseg_lines(const ch_textseg *ts, size_t *nlines);
bool ch_text_line_break(UChar32 c);

/* Hebrew one-letter prefixes (ו ש ב ל מ ה כ; ו only first, at most 3 letters, at least 2
 * letters left) that key may carry: fills skip[] with the byte offsets at which key without
 * 1, 2, 3 of them begins, and returns how many. */
size_t ch_text_prefixes(const char *key, size_t skip[3]);

#endif
