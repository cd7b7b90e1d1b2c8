/* The offline summary: the transcript's most telling sentences, as written, in their original
 * order (extractive). Pure and thread-safe. The score is in docs/internals/enrichment-text.md. */
#ifndef CH_SUMMARY_H
#define CH_SUMMARY_H

#include <stddef.h>

#include "enrich/dictmatch.h"

/* At most max_sentences sentences of transcript (UTF-8; the first CH_TEXT_MAX bytes are read),
 * chosen by score and given back in their original order. A transcript given as turns, one per
 * line ("caller: …\nagent: …"), keeps each chosen sentence's speaker label: one line per turn,
 * "<label>: <sentences>". dict (may be NULL) boosts the sentences that name its entries.
 * NULL when transcript is NULL or has no sentence, or max_sentences is 0. Caller frees. */
char *ch_summary_extractive(const char *transcript, size_t max_sentences, const ch_dict *dict);

#endif
