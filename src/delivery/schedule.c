#include "delivery/schedule.h"
#include "util/result.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

const char ch_retry_schedule_default[] = "5s,5m,30m,2h,5h,10h,10h";

#define DAY_MS (86400LL * 1000)

int ch_retry_schedule_parse(const char *text, ch_retry_schedule *out, char *err, size_t errsz)
{
    out->n = 0;
    const char *p = text ? text : "";
    for (int k = 1;; k++) {
        while (*p == ' ' || *p == '\t')
            p++;
        const char *start = p;
        int64_t v = 0;
        int digits = 0;
        while (isdigit((unsigned char)*p) && digits < 12) {
            v = v * 10 + (*p++ - '0');
            digits++;
        }
        int64_t unit = 0;
        if (digits && !strncmp(p, "ms", 2))
            unit = 1, p += 2;
        else if (digits && *p == 's')
            unit = 1000, p++;
        else if (digits && *p == 'm')
            unit = 60000, p++;
        else if (digits && *p == 'h')
            unit = 3600000, p++;
        else if (digits && *p == 'd')
            unit = DAY_MS, p++;
        while (*p == ' ' || *p == '\t')
            p++;
        if (!unit || (*p && *p != ',')) {
            int len = (int)strcspn(start, ",");
            snprintf(err, errsz,
                     "entry %d of the retry schedule (\"%.*s\") is not a number with a unit "
                     "(ms, s, m, h, d), e.g. \"5s,5m,30m\"",
                     k, len > 40 ? 40 : len, start);
            return CH_EINVAL;
        }
        int64_t ms = v > 7 * DAY_MS / unit ? 7 * DAY_MS + 1 : v * unit; /* no overflow */
        if (ms < 1 || ms > 7 * DAY_MS) {
            snprintf(err, errsz, "entry %d of the retry schedule is not between 1 ms and 7 days",
                     k);
            return CH_EINVAL;
        }
        if (out->n == CH_RETRY_MAX) {
            snprintf(err, errsz, "a retry schedule has at most %d entries", CH_RETRY_MAX);
            return CH_EINVAL;
        }
        out->delay_ms[out->n++] = ms;
        if (!*p) break;
        p++; /* ',' */
    }
    return CH_OK;
}

int ch_retry_schedule_tenant_check(const ch_retry_schedule *s, char *err, size_t errsz)
{
    for (int i = 0; i < s->n; i++)
        if (s->delay_ms[i] < CH_RETRY_TENANT_MIN_MS) {
            snprintf(err, errsz,
                     "entry %d of the retry schedule (%lld ms) is shorter than 1 s, the least a "
                     "tenant's schedule may wait between attempts",
                     i + 1, (long long)s->delay_ms[i]);
            return CH_EINVAL;
        }
    return CH_OK;
}

void ch_retry_schedule_tenant_floor(ch_retry_schedule *s)
{
    for (int i = 0; i < s->n; i++)
        if (s->delay_ms[i] < CH_RETRY_TENANT_MIN_MS) s->delay_ms[i] = CH_RETRY_TENANT_MIN_MS;
}

int64_t ch_retry_delay(const ch_retry_schedule *s, int failed, double u)
{
    if (failed < 1 || failed > s->n) return -1;
    double base = (double)s->delay_ms[failed - 1];
    if (u < 0) u = 0;
    if (u >= 1) u = 0.999999;
    int64_t d = (int64_t)(base * (0.8 + 0.4 * u)); /* ±20 %, Svix's jitter */
    return d < 1 ? 1 : d;
}

/* Hook0's rule: a receiver's "slow down" can only lengthen the wait, never shorten it (a
 * bogus Retry-After: 0 must not turn retries into a flood), and never beyond 10 hours. */
int64_t ch_retry_slowdown(int64_t scheduled_ms, int64_t retry_after_ms)
{
    int64_t d = scheduled_ms;
    if (retry_after_ms > d) d = retry_after_ms;
    if (d > 10 * 3600000LL) d = 10 * 3600000LL;
    return d;
}

static int month_of(const char *m)
{
    static const char *const names[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    for (int i = 0; i < 12; i++)
        if (strncmp(m, names[i], 3) == 0) return i;
    return -1;
}

static bool valid_tm(const struct tm *t)
{
    return t->tm_mon >= 0 && t->tm_mday >= 1 && t->tm_mday <= 31 && t->tm_hour >= 0 &&
           t->tm_hour <= 23 && t->tm_min >= 0 && t->tm_min <= 59 && t->tm_sec >= 0 &&
           t->tm_sec <= 60 && t->tm_year >= 70 && t->tm_year <= 1100;
}

int64_t ch_retry_after_ms(const char *v, size_t len, int64_t now_ms)
{
    char buf[64];
    if (!v || len == 0 || len >= sizeof buf) return -1;
    memcpy(buf, v, len);
    buf[len] = 0;
    if (memchr(buf, 0, len)) return -1;
    const int64_t cap = DAY_MS;
    size_t digits = strspn(buf, "0123456789");
    if (digits == len) {
        if (len > 9) return cap; /* a huge number of seconds: the cap anyway */
        int64_t secs = 0;
        for (size_t i = 0; i < len; i++)
            secs = secs * 10 + (buf[i] - '0');
        return secs * 1000 > cap ? cap : secs * 1000;
    }
    struct tm t;
    memset(&t, 0, sizeof t);
    char wd[16], mon[4], tz[4];
    int n = 0;
    /* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
    if (sscanf(buf, "%15[A-Za-z], %2d %3s %4d %2d:%2d:%2d %3s%n", wd, &t.tm_mday, mon, &t.tm_year,
               &t.tm_hour, &t.tm_min, &t.tm_sec, tz, &n) == 8 &&
        (size_t)n == len) {
        t.tm_year -= 1900;
    } else if (n = 0, /* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT */
               sscanf(buf, "%15[A-Za-z], %2d-%3s-%2d %2d:%2d:%2d %3s%n", wd, &t.tm_mday, mon,
                      &t.tm_year, &t.tm_hour, &t.tm_min, &t.tm_sec, tz, &n) == 8 &&
                   (size_t)n == len) {
        if (t.tm_year < 70) t.tm_year += 100;
    } else if (n = 0, /* asctime: Sun Nov  6 08:49:37 1994 */
               sscanf(buf, "%15[A-Za-z] %3s %2d %2d:%2d:%2d %4d%n", wd, mon, &t.tm_mday, &t.tm_hour,
                      &t.tm_min, &t.tm_sec, &t.tm_year, &n) == 7 &&
                   (size_t)n == len) {
        t.tm_year -= 1900;
        strcpy(tz, "GMT");
    } else {
        return -1;
    }
    if (strcmp(tz, "GMT") != 0) return -1;
    t.tm_mon = month_of(mon);
    if (!valid_tm(&t)) return -1;
    time_t when = timegm(&t);
    if (when == (time_t)-1) return -1;
    int64_t d = (int64_t)when * 1000 - now_ms;
    if (d < 0) return 0;
    return d > cap ? cap : d;
}
