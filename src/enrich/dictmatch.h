/* A tenant's dictionary (cities and service categories, each with synonyms in any language)
 * matched against a transcript: Unicode normalisation, whole words only, Hebrew prefixes
 * stripped. Pure and thread-safe once built: many threads may match one dictionary at once,
 * none may add to it meanwhile. docs/internals/enrichment-text.md */
#ifndef CH_DICTMATCH_H
#define CH_DICTMATCH_H

#include <stddef.h>

#include <jansson.h>

typedef struct ch_dict ch_dict;

ch_dict *ch_dict_new(void);
void ch_dict_free(ch_dict *d);

/* Adds an entry. kind: "city" or "service"; name: the canonical value reported; synonyms: other
 * spellings (multi-word allowed). CH_EINVAL for another kind, a name or synonym that is empty,
 * has no word, is longer than CH_DICT_NAME_MAX bytes or CH_DICT_PHRASE_WORDS words, or more
 * than CH_DICT_SYNONYMS_MAX synonyms; CH_EEXIST for a name the kind already has; CH_ELIMIT past
 * CH_DICT_ENTRIES_MAX entries. Nothing is added on error. */
int ch_dict_add(ch_dict *d, const char *kind, const char *name, const char *const *synonyms,
                size_t nsyn);
/* Entries added so far. */
size_t ch_dict_size(const ch_dict *d);

/* Matches text (UTF-8; invalid bytes never match; the first CH_TEXT_MAX bytes are read):
 *   {"city": "<name>"|null, "service_category": "<name>"|null,
 *    "matches": [{"kind":"city"|"service","name":..,"text":<the words as written>,
 *                 "offset":<byte offset in text>}, ...]}
 * The entry of a kind mentioned most wins; a tie goes to the one mentioned first. "matches"
 * lists the first CH_DICT_MATCHES_MAX matches in text order. NULL only if text is NULL. */
json_t *ch_dict_match(const ch_dict *d, const char *text);

#endif
