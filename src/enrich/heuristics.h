/* Fields guessed from a transcript without a model: the customer's name from how people
 * introduce themselves, and the call's intent from keyword classes, in English and Hebrew.
 * Pure and thread-safe. docs/internals/enrichment-text.md */
#ifndef CH_HEURISTICS_H
#define CH_HEURISTICS_H

#include <jansson.h>

/* {"customer_name": "<name>"|null, "intent": "booking"|"quote"|"complaint"|"cancellation"|
 * "information"|"other"} for text (UTF-8; the first CH_TEXT_MAX bytes are read). NULL only if
 * text is NULL. */
json_t *ch_fields_heuristic(const char *text);

#endif
