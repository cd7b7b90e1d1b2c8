/* Merging a call's events into one call (docs/merge.md). A pure function of the *set* of
 * events: any order of arrival, with any repeats removed by the idempotency key beforehand,
 * gives the same result. */
#ifndef CH_MERGE_H
#define CH_MERGE_H

#include "core/model.h"

typedef struct {
    ch_callstate call;
    ch_callstate *legs; /* sorted by leg id */
    size_t nlegs;
} ch_merged;

/* Folds events[0..n) into out (which the caller clears with ch_merged_clear). country is the
 * tenant's default calling code for E.164 normalisation. The events array is not modified. */
void ch_merge_fold(ch_merged *out, ch_event *const *events, size_t n, const char *country);
void ch_merged_clear(ch_merged *m);
/* 0 when both states are equal in every field (used by tests and to skip no-op updates). */
int ch_callstate_cmp(const ch_callstate *a, const ch_callstate *b);

#endif
