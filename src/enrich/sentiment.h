/* The offline sentiment of a transcript: a small lexicon of English and Hebrew words of
 * callhook's own, with negation ("not good", "לא טוב") and intensifiers ("very", "מאוד").
 * A rough signal, not an understanding: docs/internals/enrichment-text.md says what it misses.
 * Pure and thread-safe. */
#ifndef CH_SENTIMENT_H
#define CH_SENTIMENT_H

#include <jansson.h>

/* {"label": "positive"|"neutral"|"negative", "score": -1..1} for text (UTF-8; the first
 * CH_TEXT_MAX bytes are read); the label is positive from +0.25, negative from -0.25. NULL only
 * if text is NULL. */
json_t *ch_sentiment_lexicon(const char *text);

#endif
