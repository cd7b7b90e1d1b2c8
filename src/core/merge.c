/* The merge rules, in brief (docs/merge.md has the why):
 *   - events are ordered by (sequence, provider timestamp, idempotency key); "newer" means later
 *     in that order, which is a total order on the set, so the fold does not depend on arrival;
 *   - status only moves forward (max); disposition takes the strongest evidence (max rank);
 *   - started_at/answered_at take the earliest known value, ended_at the latest, durations the
 *     largest: values that only grow where that is the provider's meaning;
 *   - other scalars: the newest known value wins; null/empty never replaces a known value;
 *   - the call comes from call-level events; what all legs together say only fills what those
 *     left unknown (an agent leg cannot overwrite the number the customer dialled, and an agent
 *     leg that ended does not end a call the call-level events still describe as live);
 *   - metadata merges key by key, newest wins; null inside metadata erases nothing. */
#include "core/merge.h"
#include "util/mem.h"
#include "util/phone.h"

#include <stdlib.h>
#include <string.h>

static int cmp_i64(int64_t a, int64_t b)
{
    return a < b ? -1 : a > b;
}

static int cmp_events(const void *pa, const void *pb)
{
    const ch_event *a = *(ch_event *const *)pa, *b = *(ch_event *const *)pb;
    int c = cmp_i64(a->seq, b->seq);
    if (!c) c = cmp_i64(a->ts, b->ts);
    if (!c) c = strcmp(a->idem_key ? a->idem_key : "", b->idem_key ? b->idem_key : "");
    return c;
}

static void take_str(char **dst, const char *src, bool fill_only)
{
    if (!src || !*src) return;
    if (fill_only && *dst) return;
    free(*dst);
    *dst = ch_strdup(src);
}

/* A number and its E.164 form move together: the E.164 form is the winner's, or NULL (then
 * derive() normalises the raw form itself, for events stored before they carried it). */
static void take_number(char **raw, char **e164, const char *src_raw, const char *src_e164,
                        bool fill_only)
{
    if (!src_raw || !*src_raw) return;
    if (fill_only && *raw) return;
    free(*raw);
    free(*e164);
    *raw = ch_strdup(src_raw);
    *e164 = src_e164 ? ch_strdup(src_e164) : NULL;
}

static void min_time(int64_t *dst, int64_t v)
{
    if (v == CH_TIME_UNSET) return;
    if (*dst == CH_TIME_UNSET || v < *dst) *dst = v;
}

static void max_num(int64_t *dst, int64_t v)
{
    if (v == CH_NUM_UNSET) return;
    if (*dst == CH_NUM_UNSET || v > *dst) *dst = v;
}

static void apply(ch_callstate *s, const ch_event *e)
{
    if (e->direction != CH_DIR_UNKNOWN) s->direction = e->direction;
    if (e->status > s->status) s->status = e->status;
    if (e->disposition > s->disposition) s->disposition = e->disposition;
    take_number(&s->from_raw, &s->from, e->from_raw, e->from_e164, false);
    take_number(&s->to_raw, &s->to, e->to_raw, e->to_e164, false);
    take_str(&s->caller_name, e->caller_name, false);
    take_str(&s->extension, e->extension, false);
    take_str(&s->recording_url, e->recording_url, false);
    take_str(&s->transcript, e->transcript, false);
    take_str(&s->summary, e->summary, false);
    min_time(&s->started_at, e->started_at);
    min_time(&s->answered_at, e->answered_at);
    max_num(&s->ended_at, e->ended_at);
    max_num(&s->duration_sec, e->duration_sec);
    max_num(&s->billsec, e->billsec);
    if (e->cost_micros != CH_NUM_UNSET) {
        s->cost_micros = e->cost_micros;
        take_str(&s->cost_currency, e->cost_currency, false);
    }
    if (e->metadata && json_object_size(e->metadata)) {
        if (!s->metadata) s->metadata = json_object();
        /* null inside metadata means "not known", like everywhere else: it never erases */
        const char *k;
        json_t *v;
        json_object_foreach(e->metadata, k, v)
        {
            if (!json_is_null(v)) json_object_set(s->metadata, k, v);
        }
    }
}

static void fill_num(int64_t *dst, int64_t v)
{
    if (*dst == CH_NUM_UNSET) *dst = v;
}

/* What the legs say about the call, used only where the call-level events say nothing. While
 * call-level events describe a live call, a leg that ended (the agent who did not pick up in a
 * ring group) does not end the call: leg end times and verdicts stay on the leg. */
static void fill_from_legs(ch_callstate *s, const ch_callstate *legs)
{
    bool call_live = s->status != CH_STATUS_NONE && s->status < CH_STATUS_ENDED;
    if (s->direction == CH_DIR_UNKNOWN) s->direction = legs->direction;
    if (s->status == CH_STATUS_NONE) s->status = legs->status;
    if (!call_live && s->disposition == CH_DISP_NONE) s->disposition = legs->disposition;
    take_number(&s->from_raw, &s->from, legs->from_raw, legs->from, true);
    take_number(&s->to_raw, &s->to, legs->to_raw, legs->to, true);
    take_str(&s->caller_name, legs->caller_name, true);
    take_str(&s->extension, legs->extension, true);
    take_str(&s->recording_url, legs->recording_url, true);
    take_str(&s->transcript, legs->transcript, true);
    take_str(&s->summary, legs->summary, true);
    fill_num(&s->started_at, legs->started_at);
    fill_num(&s->answered_at, legs->answered_at);
    if (!call_live) {
        fill_num(&s->ended_at, legs->ended_at);
        fill_num(&s->duration_sec, legs->duration_sec);
        fill_num(&s->billsec, legs->billsec);
    }
    if (s->cost_micros == CH_NUM_UNSET && legs->cost_micros != CH_NUM_UNSET) {
        s->cost_micros = legs->cost_micros;
        take_str(&s->cost_currency, legs->cost_currency, false);
    }
    if (legs->metadata && json_object_size(legs->metadata)) {
        if (!s->metadata) s->metadata = json_object();
        json_object_update_missing(s->metadata, legs->metadata);
    }
}

/* Facts implied by others: a call with an end time has ended; one answered is at least in
 * progress; an ended call with an answer time was answered. Durations from the times when the
 * provider did not state them. */
static void derive(ch_callstate *s, const char *country)
{
    if (s->ended_at != CH_TIME_UNSET && s->status < CH_STATUS_ENDED) s->status = CH_STATUS_ENDED;
    if (s->disposition != CH_DISP_NONE && s->status < CH_STATUS_ENDED) {
        /* a disposition is a final verdict; "answered" alone may arrive mid-call */
        if (s->disposition != CH_DISP_ANSWERED) s->status = CH_STATUS_ENDED;
    }
    if (s->answered_at != CH_TIME_UNSET && s->status < CH_STATUS_IN_PROGRESS)
        s->status = CH_STATUS_IN_PROGRESS;
    if (s->status == CH_STATUS_ENDED && s->disposition == CH_DISP_NONE &&
        s->answered_at != CH_TIME_UNSET)
        s->disposition = CH_DISP_ANSWERED;
    if (s->status == CH_STATUS_ENDED && s->ended_at != CH_TIME_UNSET) {
        if (s->duration_sec == CH_NUM_UNSET && s->started_at != CH_TIME_UNSET &&
            s->ended_at >= s->started_at)
            s->duration_sec = (s->ended_at - s->started_at) / 1000;
        if (s->billsec == CH_NUM_UNSET && s->answered_at != CH_TIME_UNSET &&
            s->ended_at >= s->answered_at)
            s->billsec = (s->ended_at - s->answered_at) / 1000;
    }
    /* from/to: the E.164 form the winning event carried; else normalised here (events stored
     * before events carried it); else the raw form ("E.164 where possible") */
    char e164[24];
    char **pairs[2][2] = {{&s->from, &s->from_raw}, {&s->to, &s->to_raw}};
    for (int i = 0; i < 2; i++) {
        char **num = pairs[i][0], *raw = *pairs[i][1];
        if (*num || !raw) continue;
        *num = ch_strdup(ch_phone_e164(raw, country, e164, sizeof e164) ? e164 : raw);
    }
}

static ch_callstate *leg_for(ch_merged *m, const char *id, size_t *cap)
{
    for (size_t i = 0; i < m->nlegs; i++)
        if (strcmp(m->legs[i].id, id) == 0) return &m->legs[i];
    if (m->nlegs == *cap) {
        *cap = *cap ? *cap * 2 : 4;
        m->legs = ch_realloc(m->legs, *cap * sizeof *m->legs);
    }
    ch_callstate *l = &m->legs[m->nlegs++];
    ch_callstate_init(l);
    l->id = ch_strdup(id);
    return l;
}

static int cmp_legs(const void *a, const void *b)
{
    return strcmp(((const ch_callstate *)a)->id, ((const ch_callstate *)b)->id);
}

void ch_merge_fold(ch_merged *out, ch_event *const *events, size_t n, const char *country)
{
    memset(out, 0, sizeof *out);
    ch_callstate_init(&out->call);
    ch_event **sorted = ch_malloc((n ? n : 1) * sizeof *sorted);
    memcpy(sorted, events, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_events);

    size_t cap = 0;
    ch_callstate legs;
    ch_callstate_init(&legs);
    bool any_leg = false;
    for (size_t i = 0; i < n; i++) {
        if (!sorted[i]->leg_id) {
            apply(&out->call, sorted[i]);
        } else {
            any_leg = true;
            apply(&legs, sorted[i]);
            apply(leg_for(out, sorted[i]->leg_id, &cap), sorted[i]);
        }
    }
    free(sorted);
    if (any_leg) fill_from_legs(&out->call, &legs);
    ch_callstate_clear(&legs);

    derive(&out->call, country);
    for (size_t i = 0; i < out->nlegs; i++)
        derive(&out->legs[i], country);
    if (out->nlegs > 1) qsort(out->legs, out->nlegs, sizeof *out->legs, cmp_legs);
}

void ch_merged_clear(ch_merged *m)
{
    ch_callstate_clear(&m->call);
    for (size_t i = 0; i < m->nlegs; i++)
        ch_callstate_clear(&m->legs[i]);
    free(m->legs);
    m->legs = NULL;
    m->nlegs = 0;
}

static int cmp_str(const char *a, const char *b)
{
    if (!a || !b) return (a != NULL) - (b != NULL);
    return strcmp(a, b);
}

int ch_callstate_cmp(const ch_callstate *a, const ch_callstate *b)
{
    int c = 0;
    const char *sa[] = {a->id,         a->from,        a->to,           a->from_raw,
                        a->to_raw,     a->caller_name, a->extension,    a->recording_url,
                        a->transcript, a->summary,     a->cost_currency};
    const char *sb[] = {b->id,         b->from,        b->to,           b->from_raw,
                        b->to_raw,     b->caller_name, b->extension,    b->recording_url,
                        b->transcript, b->summary,     b->cost_currency};
    for (size_t i = 0; !c && i < sizeof sa / sizeof *sa; i++)
        c = cmp_str(sa[i], sb[i]);
    const int64_t na[] = {a->direction,    a->status,      a->disposition,
                          a->started_at,   a->answered_at, a->ended_at,
                          a->duration_sec, a->billsec,     a->cost_micros};
    const int64_t nb[] = {b->direction,    b->status,      b->disposition,
                          b->started_at,   b->answered_at, b->ended_at,
                          b->duration_sec, b->billsec,     b->cost_micros};
    for (size_t i = 0; !c && i < sizeof na / sizeof *na; i++)
        c = cmp_i64(na[i], nb[i]);
    if (!c && (a->metadata || b->metadata))
        c = !(a->metadata && b->metadata && json_equal(a->metadata, b->metadata));
    return c;
}
