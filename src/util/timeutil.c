#include "util/timeutil.h"
#include "util/result.h"

#include <ctype.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* glibc has no thread-safe per-call time zone: conversions that need one switch TZ under this
 * lock. They are rare (PBX-local times), and nothing else in callhook uses local time. */
static pthread_mutex_t tz_lock = PTHREAD_MUTEX_INITIALIZER;

int64_t ch_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ch_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void split(int64_t ms, time_t *sec, int *milli)
{
    int64_t s = ms / 1000, m = ms % 1000;
    if (m < 0) {
        m += 1000;
        s -= 1;
    }
    *sec = (time_t)s;
    *milli = (int)m;
}

void ch_time_format_ms(int64_t ms, char *out, size_t outsz)
{
    time_t sec;
    int milli;
    split(ms, &sec, &milli);
    struct tm tm;
    gmtime_r(&sec, &tm);
    snprintf(out, outsz, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, milli);
}

void ch_time_format(int64_t ms, char *out, size_t outsz)
{
    time_t sec;
    int milli;
    split(ms, &sec, &milli);
    struct tm tm;
    gmtime_r(&sec, &tm);
    if (milli)
        snprintf(out, outsz, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, milli);
    else
        snprintf(out, outsz, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)**p)) return CH_EINVAL;
        v = v * 10 + (**p - '0');
        (*p)++;
    }
    *out = v;
    return CH_OK;
}

static bool is_utc(const char *tz)
{
    return !tz || !*tz || strcmp(tz, "UTC") == 0 || strcmp(tz, "Etc/UTC") == 0;
}

bool ch_tz_valid(const char *tz)
{
    if (is_utc(tz)) return true;
    size_t n = strlen(tz);
    if (n > 64 || tz[0] == '/' || strstr(tz, "..")) return false;
    for (size_t i = 0; i < n; i++) {
        char c = tz[i];
        if (!isalnum((unsigned char)c) && c != '/' && c != '_' && c != '-' && c != '+')
            return false;
    }
    char path[128];
    snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", tz);
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static void set_tz(const char *tz)
{
    setenv("TZ", tz, 1);
    tzset();
}

static long utc_offset_at(time_t t)
{
    struct tm lt;
    return localtime_r(&t, &lt) ? lt.tm_gmtoff : 0;
}

/* Local wall-clock time in tz to UTC seconds, with the offsets in force a day before and a day
 * after: an ambiguous time (the repeated hour) takes the first occurrence, a time in the gap of
 * a spring-forward the offset from before the change. (mktime with tm_isdst = -1 is not used:
 * glibc resolves ambiguous times from the previous call's guess, so the same string gave
 * different instants depending on what was parsed before.) */
static time_t local_to_utc(struct tm *tm, const char *tz)
{
    time_t wall = timegm(tm);
    if (is_utc(tz)) return wall;
    pthread_mutex_lock(&tz_lock);
    set_tz(tz);
    long before = utc_offset_at(wall - 86400), after = utc_offset_at(wall + 86400);
    time_t t = wall - before;
    if (before != after && utc_offset_at(t) != before && utc_offset_at(wall - after) == after)
        t = wall - after;
    set_tz("UTC");
    pthread_mutex_unlock(&tz_lock);
    return t;
}

void ch_time_month(int64_t ms, const char *tz, char out[8])
{
    time_t sec;
    int milli;
    split(ms, &sec, &milli);
    struct tm tm;
    if (is_utc(tz)) {
        gmtime_r(&sec, &tm);
    } else {
        pthread_mutex_lock(&tz_lock);
        set_tz(tz);
        localtime_r(&sec, &tm);
        set_tz("UTC");
        pthread_mutex_unlock(&tz_lock);
    }
    snprintf(out, 8, "%04u-%02u", (unsigned)(tm.tm_year + 1900) % 10000u,
             (unsigned)(tm.tm_mon + 1) % 100u);
}

int ch_time_parse(const char *s, const char *tz, int64_t *out_ms)
{
    if (!s) return CH_EINVAL;
    const char *p = s;
    int Y, M, D, h, m, sec = 0, milli = 0;
    if (digits(&p, 4, &Y) || *p++ != '-' || digits(&p, 2, &M) || *p++ != '-' || digits(&p, 2, &D))
        return CH_EINVAL;
    if (*p != 'T' && *p != 't' && *p != ' ') return CH_EINVAL;
    p++;
    if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &m)) return CH_EINVAL;
    if (*p == ':') {
        p++;
        if (digits(&p, 2, &sec)) return CH_EINVAL;
        if (*p == '.' || *p == ',') {
            p++;
            int scale = 100, nd = 0;
            while (isdigit((unsigned char)*p)) {
                if (nd < 3) milli += (*p - '0') * scale;
                scale /= 10;
                nd++;
                p++;
            }
            if (nd == 0) return CH_EINVAL;
        }
    }
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (M < 1 || M > 12 || D < 1 || D > mdays[M - 1] || h > 23 || m > 59 || sec > 60)
        return CH_EINVAL;
    bool leap = (Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0;
    if (M == 2 && D == 29 && !leap) return CH_EINVAL; /* mktime would roll it into March */
    struct tm tm = {.tm_year = Y - 1900,
                    .tm_mon = M - 1,
                    .tm_mday = D,
                    .tm_hour = h,
                    .tm_min = m,
                    .tm_sec = sec};
    time_t t;
    if (*p == '\0') {
        t = local_to_utc(&tm, tz);
    } else if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
        t = timegm(&tm);
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1, oh, om = 0;
        p++;
        if (digits(&p, 2, &oh)) return CH_EINVAL;
        if (*p == ':') p++;
        if (*p && digits(&p, 2, &om)) return CH_EINVAL;
        if (*p || oh > 23 || om > 59) return CH_EINVAL;
        t = timegm(&tm) - sign * (oh * 3600 + om * 60);
    } else {
        return CH_EINVAL;
    }
    if (t == (time_t)-1 && !(Y == 1969 && M == 12 && D == 31)) return CH_EINVAL;
    *out_ms = (int64_t)t * 1000 + milli;
    return CH_OK;
}
