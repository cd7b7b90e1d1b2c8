#include "providers/number.h"
#include "util/result.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WEEK  ((double)CH_DURATION_MAX_SEC)
#define T0_S  (CH_TIME_MIN_MS / 1000.0)
#define T1_S  (CH_TIME_MAX_MS / 1000.0)
#define T0_MS ((double)CH_TIME_MIN_MS)
#define T1_MS ((double)CH_TIME_MAX_MS)

const ch_num_rule ch_num_seconds = {"a whole number of seconds from 0 to 604800 (7 days)", true, 0,
                                    WEEK, 1};
const ch_num_rule ch_num_seconds_real = {"a number of seconds from 0 to 604800 (7 days)", false, 0,
                                         WEEK, 1};
const ch_num_rule ch_num_millis = {"a number of milliseconds from 0 to 604800000 (7 days)", false,
                                   0, WEEK * 1000, 1e-3};
const ch_num_rule ch_num_sequence = {"a whole number from 0 to 10^15", true, 0, CH_SEQ_MAX, 1};
const ch_num_rule ch_num_cost = {"an amount from 0 to 1000000", false, 0, CH_COST_MAX, 1e6};
const ch_num_rule ch_num_cost_signed = {"an amount from -1000000 to 1000000", false, -CH_COST_MAX,
                                        CH_COST_MAX, 1e6};
const ch_num_rule ch_num_cost_cents = {"an amount in cents from 0 to 100000000", false, 0,
                                       CH_COST_MAX * 100, 1e4};
const ch_num_rule ch_num_unix_s = {"Unix seconds between the years 2000 and 2100", false, T0_S,
                                   T1_S, 1000};
const ch_num_rule ch_num_unix_s_whole = {"whole Unix seconds between the years 2000 and 2100", true,
                                         T0_S, T1_S, 1000};
const ch_num_rule ch_num_unix_ms = {"Unix milliseconds between the years 2000 and 2100", false,
                                    T0_MS, T1_MS, 1};
const ch_num_rule ch_num_unix_us = {"whole Unix microseconds between the years 2000 and 2100", true,
                                    T0_MS * 1000, T1_MS * 1000, 1};

const char ch_time_range_what[] = "a time between the years 2000 and 2100";

bool ch_num_strict(const char *s, double *out)
{
    if (!s) return false;
    size_t n = strlen(s);
    if (n == 0 || n > CH_NUM_TEXT_MAX) return false;
    const char *p = s;
    if (*p == '-') p++;
    size_t digits = 0, frac = 0;
    while (isdigit((unsigned char)*p))
        p++, digits++;
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p))
            p++, frac++;
        if (!frac) return false; /* "12." */
    }
    if (*p || !digits) return false; /* ".5", "1e3", " 1", "0x10", "nan" */
    char *end;
    double v = strtod(s, &end);
    if (*end || !isfinite(v)) return false;
    *out = v;
    return true;
}

static int check(double v, const ch_num_rule *r, int64_t *out, char *why, size_t whysz)
{
    if (!isfinite(v) || v < r->lo || v > r->hi || (r->whole && v != floor(v))) {
        snprintf(why, whysz, "must be %s", r->what);
        return CH_EINVAL;
    }
    *out = (int64_t)llround(v * r->scale);
    return CH_OK;
}

int ch_num_text(const char *s, const ch_num_rule *r, int64_t *out, char *why, size_t whysz)
{
    double v;
    if (!ch_num_strict(s, &v)) {
        snprintf(why, whysz, "must be %s", r->what);
        return CH_EINVAL;
    }
    return check(v, r, out, why, whysz);
}

int ch_num_json(const json_t *v, const ch_num_rule *r, bool strings, int64_t *out, char *why,
                size_t whysz)
{
    if (!v || json_is_null(v) || (json_is_string(v) && !json_string_length(v))) return CH_ENOTFOUND;
    if (json_is_integer(v)) return check((double)json_integer_value(v), r, out, why, whysz);
    if (json_is_real(v)) return check(json_real_value(v), r, out, why, whysz);
    if (strings && json_is_string(v) && !memchr(json_string_value(v), '\0', json_string_length(v)))
        return ch_num_text(json_string_value(v), r, out, why, whysz);
    snprintf(why, whysz, "must be %s", r->what);
    return CH_EINVAL;
}

bool ch_time_sane(int64_t ms)
{
    return ms >= CH_TIME_MIN_MS && ms <= CH_TIME_MAX_MS;
}

bool ch_id_ok(const char *id)
{
    return id && *id && strnlen(id, CH_ID_MAX + 1) <= CH_ID_MAX;
}

void ch_event_ignore(ch_event *e, const char *field, const char *why)
{
    if (!e->metadata) e->metadata = json_object();
    json_t *ign = json_object_get(e->metadata, CH_IGNORED_KEY);
    if (!json_is_object(ign)) {
        ign = json_object();
        json_object_set_new(e->metadata, CH_IGNORED_KEY, ign);
    }
    char msg[256];
    snprintf(msg, sizeof msg, "%s %s; the value was ignored", field, why);
    json_object_set_new(ign, field, json_string(msg));
}

void ch_event_add_meta(ch_event *e, json_t *meta)
{
    if (!meta) return;
    if (!json_object_size(meta)) {
        json_decref(meta);
        return;
    }
    if (!e->metadata) {
        e->metadata = meta;
        return;
    }
    json_object_update_missing(e->metadata, meta);
    json_decref(meta);
}
