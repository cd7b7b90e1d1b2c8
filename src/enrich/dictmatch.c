/* Dictionary matching (dictmatch.h). Every name and synonym is a phrase: the keys of its words
 * (textseg.h). Phrases are found by their first word in a hash table whose chains keep the
 * order of addition, so that among phrases of the same length the entry added first wins.
 * Matching walks the text's words once: at each word the longest phrase that starts there (the
 * word itself, then the word without its Hebrew prefixes) is taken and the walk goes on after
 * it; matches never overlap. */
#include "enrich/dictmatch.h"

#include "enrich/textseg.h"
#include "util/limits.h"
#include "util/mem.h"
#include "util/result.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { KIND_CITY, KIND_SERVICE, KINDS };
static const char *const kind_name[KINDS] = {"city", "service"};
static const char *const kind_field[KINDS] = {"city", "service_category"};

typedef struct entry {
    int kind;
    char *name;
} entry;

typedef struct phrase {
    char **words; /* keys */
    size_t nwords;
    size_t entry;
    size_t next; /* in its hash chain; SIZE_MAX ends it */
} phrase;

struct ch_dict {
    entry *entries;
    size_t nentries;
    phrase *phrases;
    size_t nphrases, pcap;
    size_t *buckets; /* first phrase of each chain; nbuckets is a power of two */
    size_t nbuckets;
};

static uint64_t hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return h;
}

ch_dict *ch_dict_new(void)
{
    return ch_calloc(1, sizeof(ch_dict));
}

static void phrase_free(phrase *p)
{
    for (size_t i = 0; i < p->nwords; i++)
        free(p->words[i]);
    free(p->words);
}

void ch_dict_free(ch_dict *d)
{
    if (!d) return;
    for (size_t i = 0; i < d->nentries; i++)
        free(d->entries[i].name);
    for (size_t i = 0; i < d->nphrases; i++)
        phrase_free(&d->phrases[i]);
    free(d->entries);
    free(d->phrases);
    free(d->buckets);
    free(d);
}

size_t ch_dict_size(const ch_dict *d)
{
    return d->nentries;
}

/* The words of s as a phrase, or CH_EINVAL. */
static int phrase_make(const char *s, phrase *p)
{
    memset(p, 0, sizeof *p);
    if (!s || !*s || strlen(s) > CH_DICT_NAME_MAX || !ch_text_valid_utf8(s)) return CH_EINVAL;
    ch_textseg ts;
    int rc = ch_textseg_init(&ts, s);
    if (rc == CH_OK && (ts.nwords == 0 || ts.nwords > CH_DICT_PHRASE_WORDS)) rc = CH_EINVAL;
    if (rc == CH_OK) {
        p->words = ch_malloc(ts.nwords * sizeof *p->words);
        for (size_t i = 0; i < ts.nwords; i++) {
            p->words[i] = ts.words[i].key;
            ts.words[i].key = NULL;
            if (!*p->words[i]) rc = CH_EINVAL; /* only marks: nothing to compare */
        }
        p->nwords = ts.nwords;
    }
    ch_textseg_free(&ts);
    if (rc != CH_OK) phrase_free(p);
    return rc;
}

/* Rebuilds the chains for twice as many buckets; pushing phrases from the last to the first
 * onto the heads keeps each chain in the order of addition. */
static void rehash(ch_dict *d)
{
    d->nbuckets = d->nbuckets ? d->nbuckets * 2 : 64;
    free(d->buckets);
    d->buckets = ch_malloc(d->nbuckets * sizeof *d->buckets);
    for (size_t b = 0; b < d->nbuckets; b++)
        d->buckets[b] = SIZE_MAX;
    for (size_t i = d->nphrases; i-- > 0;) {
        size_t b = hash(d->phrases[i].words[0]) & (d->nbuckets - 1);
        d->phrases[i].next = d->buckets[b];
        d->buckets[b] = i;
    }
}

static void phrase_append(ch_dict *d, phrase *p)
{
    if (d->nphrases == d->pcap) {
        d->pcap = d->pcap ? d->pcap * 2 : 64;
        d->phrases = ch_realloc(d->phrases, d->pcap * sizeof *d->phrases);
    }
    d->phrases[d->nphrases++] = *p;
    if (d->nphrases > d->nbuckets) {
        rehash(d); /* chains the new phrase too */
        return;
    }
    /* at the tail of its chain */
    size_t b = hash(p->words[0]) & (d->nbuckets - 1), *link = &d->buckets[b];
    while (*link != SIZE_MAX)
        link = &d->phrases[*link].next;
    d->phrases[d->nphrases - 1].next = SIZE_MAX;
    *link = d->nphrases - 1;
}

int ch_dict_add(ch_dict *d, const char *kind, const char *name, const char *const *synonyms,
                size_t nsyn)
{
    int k = -1;
    for (int i = 0; i < KINDS; i++)
        if (kind && strcmp(kind, kind_name[i]) == 0) k = i;
    if (k < 0 || nsyn > CH_DICT_SYNONYMS_MAX || (nsyn && !synonyms)) return CH_EINVAL;
    if (!name || !*name) return CH_EINVAL;
    for (size_t i = 0; i < d->nentries; i++)
        if (d->entries[i].kind == k && strcmp(d->entries[i].name, name) == 0) return CH_EEXIST;
    if (d->nentries >= CH_DICT_ENTRIES_MAX) return CH_ELIMIT;

    /* every phrase is made before any is added: nothing is added on error */
    phrase *ps = ch_malloc((nsyn + 1) * sizeof *ps);
    size_t made = 0;
    int rc = CH_OK;
    for (; made <= nsyn; made++) {
        rc = phrase_make(made == 0 ? name : synonyms[made - 1], &ps[made]);
        if (rc != CH_OK) break;
        ps[made].entry = d->nentries;
    }
    if (rc != CH_OK) {
        for (size_t i = 0; i < made; i++)
            phrase_free(&ps[i]);
        free(ps);
        return rc;
    }
    d->entries = ch_realloc(d->entries, (d->nentries + 1) * sizeof *d->entries);
    d->entries[d->nentries++] = (entry){.kind = k, .name = ch_strdup(name)};
    for (size_t i = 0; i <= nsyn; i++)
        phrase_append(d, &ps[i]);
    free(ps);
    return CH_OK;
}

/* ---- matching ----------------------------------------------------------------------------- */

/* Does phrase p, whose first word has been found equal, go on at words[i + 1 …]? */
static bool phrase_continues(const phrase *p, const ch_textseg *ts, size_t i)
{
    if (i + p->nwords > ts->nwords) return false;
    for (size_t j = 1; j < p->nwords; j++) {
        const ch_word *w = &ts->words[i + j];
        if (!w->joined || strcmp(w->key, p->words[j]) != 0) return false;
    }
    return true;
}

/* The longest phrase starting at word i (its first word as written first, then without 1, 2,
 * 3 Hebrew prefix letters), or NULL. */
static const phrase *longest_at(const ch_dict *d, const ch_textseg *ts, size_t i)
{
    const char *key = ts->words[i].key;
    size_t skip[4] = {0};
    size_t nskip = 1 + ch_text_prefixes(key, skip + 1);
    const phrase *best = NULL;
    for (size_t s = 0; s < nskip; s++) {
        const char *first = key + skip[s];
        size_t at = d->buckets[hash(first) & (d->nbuckets - 1)];
        for (; at != SIZE_MAX; at = d->phrases[at].next) {
            const phrase *p = &d->phrases[at];
            if (best && p->nwords <= best->nwords) continue;
            if (strcmp(p->words[0], first) == 0 && phrase_continues(p, ts, i)) best = p;
        }
    }
    return best;
}

json_t *ch_dict_match(const ch_dict *d, const char *text)
{
    if (!text) return NULL;
    json_t *matches = json_array();
    size_t *count = ch_calloc(d->nentries + 1, sizeof *count);
    size_t *first = ch_calloc(d->nentries + 1, sizeof *first);
    ch_textseg ts;
    if (ch_textseg_init(&ts, text) == CH_OK && d->nphrases) {
        for (size_t i = 0; i < ts.nwords;) {
            const phrase *p = longest_at(d, &ts, i);
            if (!p) {
                i++;
                continue;
            }
            const entry *e = &d->entries[p->entry];
            const ch_word *w0 = &ts.words[i], *wn = &ts.words[i + p->nwords - 1];
            if (count[p->entry]++ == 0) first[p->entry] = w0->start;
            if (json_array_size(matches) < CH_DICT_MATCHES_MAX) {
                char *seen = ch_textseg_utf8(&ts, w0->ustart, wn->uend);
                json_array_append_new(
                    matches, json_pack("{s:s, s:s, s:s, s:I}", "kind", kind_name[e->kind], "name",
                                       e->name, "text", seen, "offset", (json_int_t)w0->start));
                free(seen);
            }
            i += p->nwords;
        }
    }
    ch_textseg_free(&ts);

    json_t *out = json_object();
    for (int k = 0; k < KINDS; k++) {
        size_t best = SIZE_MAX;
        for (size_t e = 0; e < d->nentries; e++) {
            if (d->entries[e].kind != k || !count[e]) continue;
            if (best == SIZE_MAX || count[e] > count[best] ||
                (count[e] == count[best] && first[e] < first[best]))
                best = e;
        }
        json_object_set_new(out, kind_field[k],
                            best == SIZE_MAX ? json_null() : json_string(d->entries[best].name));
    }
    json_object_set_new(out, "matches", matches);
    free(count);
    free(first);
    return out;
}
