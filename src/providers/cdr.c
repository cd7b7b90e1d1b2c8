#include "providers/cdr.h"
#include "providers/number.h"
#include "util/mem.h"
#include "util/phone.h"
#include "util/result.h"
#include "util/timeutil.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool ch_cdr_get(const json_t *row, const char *key, char *buf, size_t bufsz)
{
    const json_t *v = json_object_get(row, key);
    if (!v || json_is_null(v)) return false;
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        while (n && isspace((unsigned char)*s))
            s++, n--;
        while (n && isspace((unsigned char)s[n - 1]))
            n--;
        if (!n || memchr(s, '\0', n)) return false;
        snprintf(buf, bufsz, "%.*s", (int)n, s);
    } else if (json_is_integer(v)) {
        snprintf(buf, bufsz, "%lld", (long long)json_integer_value(v));
    } else if (json_is_real(v)) {
        snprintf(buf, bufsz, "%.17g", json_real_value(v));
    } else {
        return false;
    }
    return buf[0] != '\0';
}

int ch_cdr_id(const json_t *row, const char *key, char *buf)
{
    if (!ch_cdr_get(row, key, buf, CH_ID_MAX + 2)) return 0;
    return strlen(buf) > CH_ID_MAX ? -1 : 1;
}

int ch_cdr_disposition(const char *s)
{
    static const struct {
        const char *name;
        int disp;
    } map[] = {{"ANSWERED", CH_DISP_ANSWERED},
               {"ANSWER", CH_DISP_ANSWERED},
               {"NO ANSWER", CH_DISP_NO_ANSWER},
               {"NOANSWER", CH_DISP_NO_ANSWER},
               {"BUSY", CH_DISP_BUSY},
               {"FAILED", CH_DISP_FAILED},
               {"CONGESTION", CH_DISP_FAILED},
               {"CANCEL", CH_DISP_CANCELED},
               {"CANCELED", CH_DISP_CANCELED},
               {"1", CH_DISP_NO_ANSWER},
               {"2", CH_DISP_BUSY},
               {"3", CH_DISP_FAILED},
               {"4", CH_DISP_ANSWERED}};
    for (size_t i = 0; s && i < sizeof map / sizeof *map; i++)
        if (strcasecmp(s, map[i].name) == 0) return map[i].disp;
    return CH_DISP_NONE;
}

static bool starts(const char *s, const char *prefix)
{
    return s && strncasecmp(s, prefix, strlen(prefix)) == 0;
}

int ch_cdr_direction(const char *userfield, const char *dcontext, const char *channel)
{
    if (userfield) {
        if (strcasecmp(userfield, "Inbound") == 0 || strcasecmp(userfield, "IN") == 0)
            return CH_DIR_INBOUND;
        if (strcasecmp(userfield, "Outbound") == 0 || strcasecmp(userfield, "External") == 0 ||
            strcasecmp(userfield, "EXT") == 0 || strcasecmp(userfield, "OUT") == 0)
            return CH_DIR_OUTBOUND;
        if (strcasecmp(userfield, "Internal") == 0) return CH_DIR_INTERNAL;
    }
    /* the contexts FreePBX, OneCom and hand-written dialplans give calls from a trunk */
    static const char *const inbound[] = {"ext-did",           "from-pstn",    "from-trunk",
                                          "from-did",          "from-outside", "from-external",
                                          "from-sip-external", "from-dahdi",   "from-zaptel",
                                          "inbound",           "incoming"};
    for (size_t i = 0; i < sizeof inbound / sizeof *inbound; i++)
        if (starts(dcontext, inbound[i])) return CH_DIR_INBOUND;
    /* FreePBX's outbound routes */
    if (starts(dcontext, "outrt-") || starts(dcontext, "outbound") ||
        starts(dcontext, "macro-dialout"))
        return CH_DIR_OUTBOUND;
    /* an internal context; the Asterisk adapter turns it outbound when the call leaves
     * through a trunk or dials a full number */
    if (starts(dcontext, "from-internal") || starts(dcontext, "ext-local")) return CH_DIR_INTERNAL;
    (void)channel;
    return CH_DIR_UNKNOWN;
}

enum { SHAPE_OTHER, SHAPE_EXTENSION, SHAPE_EXTERNAL };

/* An extension is 1–6 digits; an external number is a full number in the tenant's country (or
 * international), or, without a country, 7 digits or more. */
static int number_shape(const char *s, const char *country)
{
    if (!s || !*s) return SHAPE_OTHER;
    size_t n = strlen(s), digits = strspn(s, "0123456789");
    if (digits == n && n <= 6) return SHAPE_EXTENSION;
    char e164[32];
    if (country && *country)
        return ch_phone_e164(s, country, e164, sizeof e164) ? SHAPE_EXTERNAL : SHAPE_OTHER;
    size_t d = 0;
    for (const char *p = s; *p; p++)
        if (isdigit((unsigned char)*p)) d++;
    return d >= 7 && strspn(s, "+0123456789-() ") == n ? SHAPE_EXTERNAL : SHAPE_OTHER;
}

void ch_cdr_direction_guess(ch_event *e, const char *country)
{
    if (e->direction != CH_DIR_UNKNOWN) return;
    int from = number_shape(e->from_raw, country), to = number_shape(e->to_raw, country);
    if (from == SHAPE_EXTERNAL && to == SHAPE_EXTENSION)
        e->direction = CH_DIR_INBOUND;
    else if (from == SHAPE_EXTENSION && to == SHAPE_EXTERNAL)
        e->direction = CH_DIR_OUTBOUND;
    else if (from == SHAPE_EXTENSION && to == SHAPE_EXTENSION)
        e->direction = CH_DIR_INTERNAL;
}

/* "YYYY-MM-DD HH:MM:SS" (tenant-local), RFC 3339, or Unix seconds (milliseconds and
 * microseconds told apart by size), between the years 2000 and 2100. */
static int cdr_time(const char *s, const char *tz, int64_t *out)
{
    double v;
    if (ch_num_strict(s, &v)) {
        const ch_num_rule *r = v > 1e14   ? &ch_num_unix_us
                               : v > 1e11 ? &ch_num_unix_ms
                                          : &ch_num_unix_s;
        char why[8];
        int64_t t;
        if (ch_num_text(s, r, &t, why, sizeof why) != CH_OK) return CH_EINVAL;
        *out = r == &ch_num_unix_us ? (t + 500) / 1000 : t;
        return CH_OK;
    }
    int64_t t;
    if (ch_time_parse(s, tz, &t) != CH_OK || !ch_time_sane(t)) return CH_EINVAL;
    *out = t;
    return CH_OK;
}

/* clid is `"Name" <number>` or a bare number: the name when it says more than the number. */
static char *clid_name(const char *clid, const char *src)
{
    const char *lt = strchr(clid, '<');
    size_t n = lt ? (size_t)(lt - clid) : strlen(clid);
    while (n && isspace((unsigned char)clid[n - 1]))
        n--;
    const char *p = clid;
    if (n >= 2 && p[0] == '"' && p[n - 1] == '"') {
        p++;
        n -= 2;
    }
    if (!n || !lt) return NULL; /* a bare number */
    if (src && strlen(src) == n && strncmp(p, src, n) == 0) return NULL;
    return ch_strndup(p, n);
}

static int fail(char *err, size_t errsz, char *field, size_t fieldsz, const char *k,
                const char *what)
{
    snprintf(err, errsz, "%s %s", k, what);
    snprintf(field, fieldsz, "%s", k);
    return CH_EINVAL;
}

int ch_cdr_fill(ch_event *e, const json_t *row, const ch_raw_request *req, bool refuse, char *err,
                size_t errsz, char *field, size_t fieldsz)
{
    char v[1024], uf[64] = "", ctx[128] = "", chan[256] = "";
    if (ch_cdr_get(row, "src", v, sizeof v)) e->from_raw = ch_strdup(v);
    if (ch_cdr_get(row, "dst", v, sizeof v) && strcmp(v, "s") != 0) e->to_raw = ch_strdup(v);
    if (ch_cdr_get(row, "caller_name", v, sizeof v)) e->caller_name = ch_strdup(v);
    if (!e->caller_name && ch_cdr_get(row, "clid", v, sizeof v))
        e->caller_name = clid_name(v, e->from_raw);
    if (e->caller_name && e->from_raw && strcmp(e->caller_name, e->from_raw) == 0) {
        free(e->caller_name); /* UCM repeats the number as the name when there is none */
        e->caller_name = NULL;
    }
    /* An unusable time or count: refused (422 naming the field) for senders whose answer a
     * person reads, else dropped with the reason in the event and the rest of the CDR kept
     * (docs/providers.md#numbers) */
    static const char *const times[] = {"start", "answer", "end"};
    int64_t *dst[] = {&e->started_at, &e->answered_at, &e->ended_at};
    static const char time_why[] = "must be a time (YYYY-MM-DD HH:MM:SS, RFC 3339 or Unix "
                                   "seconds) between the years 2000 and 2100";
    for (int i = 0; i < 3; i++) {
        if (!ch_cdr_get(row, times[i], v, sizeof v) || strncmp(v, "0000-00-00", 10) == 0 ||
            cdr_time(v, req->tenant_tz, dst[i]) == CH_OK)
            continue;
        if (refuse) return fail(err, errsz, field, fieldsz, times[i], time_why);
        ch_event_ignore(e, times[i], time_why);
    }
    static const char *const counts[] = {"duration", "billsec"};
    int64_t *cdst[] = {&e->duration_sec, &e->billsec};
    for (int i = 0; i < 2; i++) {
        char why[128];
        if (!ch_cdr_get(row, counts[i], v, sizeof v) ||
            ch_num_text(v, &ch_num_seconds_real, cdst[i], why, sizeof why) == CH_OK)
            continue;
        if (refuse) return fail(err, errsz, field, fieldsz, counts[i], why);
        ch_event_ignore(e, counts[i], why);
    }
    /* Asterisk's own CDR has no end when written by some backends (the OneCom seed format):
     * duration is start → end */
    if (e->ended_at == CH_TIME_UNSET && e->started_at != CH_TIME_UNSET &&
        e->duration_sec != CH_NUM_UNSET)
        e->ended_at = e->started_at + e->duration_sec * 1000;
    if (ch_cdr_get(row, "disposition", v, sizeof v)) {
        e->disposition = ch_cdr_disposition(v);
        if (e->disposition == CH_DISP_NONE)
            return fail(err, errsz, field, fieldsz, "disposition",
                        "must be ANSWERED, NO ANSWER, BUSY, FAILED, CONGESTION or CANCEL");
    }
    /* UCM repeats the start time as "answer" on unanswered legs */
    if (e->disposition != CH_DISP_NONE && e->disposition != CH_DISP_ANSWERED)
        e->answered_at = CH_TIME_UNSET;
    /* a CDR is written when its channel is done */
    e->status = CH_STATUS_ENDED;
    if (e->answered_at != CH_TIME_UNSET && e->disposition == CH_DISP_NONE)
        e->disposition = CH_DISP_ANSWERED;
    ch_cdr_get(row, "userfield", uf, sizeof uf);
    ch_cdr_get(row, "dcontext", ctx, sizeof ctx);
    ch_cdr_get(row, "channel", chan, sizeof chan);
    e->direction = ch_cdr_direction(uf[0] ? uf : NULL, ctx[0] ? ctx : NULL, chan);
    if (ch_cdr_get(row, "dstanswer", v, sizeof v)) e->extension = ch_strdup(v);
    if (ch_cdr_get(row, "recordfiles", v, sizeof v)) {
        size_t n = strcspn(v, "@,");
        if (n) e->recording_url = ch_strndup(v, n);
    }
    return CH_OK;
}
