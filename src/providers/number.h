/* The numbers, times and ids senders state, parsed strictly and range-checked once for every
 * adapter (docs/providers.md#numbers): the merge keeps the largest duration and end time, so one
 * absurd value would otherwise pin a call for good. Internal to src/providers. */
#ifndef CH_PROVIDERS_NUMBER_H
#define CH_PROVIDERS_NUMBER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/model.h"
#include "util/limits.h"

#define CH_DURATION_MAX_SEC (7 * 24 * 3600)    /* a week: longer is a sender's bug */
#define CH_COST_MAX         1000000.0          /* currency units per call */
#define CH_SEQ_MAX          1000000000000000.0 /* 10^15: exact in a double */
#define CH_TIME_MIN_MS      946684800000LL     /* 2000-01-01T00:00:00Z */
#define CH_TIME_MAX_MS      4102444800000LL    /* 2100-01-01T00:00:00Z */
#define CH_IGNORED_KEY      "callhook_ignored" /* metadata: field → why it was dropped */

/* What a numeric field may hold, in the sender's unit, and how it is stored. */
typedef struct {
    const char *what; /* for messages: "a whole number of seconds from 0 to 604800" */
    bool whole;       /* a fraction is refused (else rounded) */
    double lo, hi;    /* inclusive, in the sender's unit */
    double scale;     /* stored = round(value × scale) */
} ch_num_rule;

extern const ch_num_rule ch_num_seconds;      /* whole seconds, 0 … 7 days */
extern const ch_num_rule ch_num_seconds_real; /* seconds with fractions (rounded), 0 … 7 days */
extern const ch_num_rule ch_num_millis;       /* a duration in ms → whole seconds, 0 … 7 days */
extern const ch_num_rule ch_num_sequence;     /* whole, 0 … 10^15 */
extern const ch_num_rule ch_num_cost;         /* currency units → micros, 0 … 10^6 */
extern const ch_num_rule ch_num_cost_signed;  /* the same, −10^6 … 10^6 (generic: a credit) */
extern const ch_num_rule ch_num_cost_cents;   /* cents → micros of the unit, 0 … 10^8 */
extern const ch_num_rule ch_num_unix_s; /* Unix seconds (fractions kept) → ms, 2000 … 2100 */
extern const ch_num_rule ch_num_unix_s_whole; /* whole Unix seconds → ms, 2000 … 2100 */
extern const ch_num_rule ch_num_unix_ms;      /* Unix ms → ms, 2000 … 2100 */
extern const ch_num_rule ch_num_unix_us;      /* whole Unix µs (kept in µs), 2000 … 2100 */

/* Strict decimal text: optional '-', digits, optionally '.' and digits; at most
 * CH_NUM_TEXT_MAX characters; no spaces, sign '+', exponent, hex, "inf" or "nan". */
bool ch_num_strict(const char *s, double *out);

/* s against r: CH_OK with *out set, or CH_EINVAL with why = "must be <r->what>". */
int ch_num_text(const char *s, const ch_num_rule *r, int64_t *out, char *why, size_t whysz);

/* A JSON member's value against r. Strings holding strict decimal text are read only when
 * strings is true (PBXs send every value as text). CH_ENOTFOUND when absent, null or "";
 * otherwise as ch_num_text. */
int ch_num_json(const json_t *v, const ch_num_rule *r, bool strings, int64_t *out, char *why,
                size_t whysz);

/* True when ms lies between CH_TIME_MIN_MS and CH_TIME_MAX_MS. */
bool ch_time_sane(int64_t ms);
/* "must be a time between 2000 and 2100" and the like, for messages. */
extern const char ch_time_range_what[];

/* The length check every adapter applies to the ids it keys calls and events by: true when
 * id is 1 … CH_ID_MAX bytes. */
bool ch_id_ok(const char *id);

/* Records in e's metadata (under CH_IGNORED_KEY) that field's value was dropped, and why: the
 * senders whose retries make a 4xx harmful keep the rest of the record. */
void ch_event_ignore(ch_event *e, const char *field, const char *why);
/* Adds meta's members to e's metadata (steals meta; an empty object is dropped). */
void ch_event_add_meta(ch_event *e, json_t *meta);

#endif
