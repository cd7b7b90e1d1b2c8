/* Retry schedules and Retry-After (docs/webhooks.md). */
#ifndef CH_SCHEDULE_H
#define CH_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>

#include "util/limits.h"

/* Waits between attempts: delay_ms[i] follows failed attempt i+1; n + 1 attempts in all. */
typedef struct {
    int n;
    int64_t delay_ms[CH_RETRY_MAX];
} ch_retry_schedule;

/* Svix's: 8 attempts over about 27.6 hours. */
extern const char ch_retry_schedule_default[];

/* "5s,5m,30m": integers with a unit (ms, s, m, h, d), 1..CH_RETRY_MAX entries of 1 ms..7 d,
 * blanks around entries allowed. CH_OK, or CH_EINVAL with a sentence in err. */
int ch_retry_schedule_parse(const char *text, ch_retry_schedule *out, char *err, size_t errsz);
/* The least wait between attempts in a tenant's own schedule (`/v1/webhooks/retry-schedule`,
 * `callhook delivery schedule`): a tenant must not be able to aim a burst of retries at a
 * receiver. The operator's default schedule (config) is not held to it. */
#define CH_RETRY_TENANT_MIN_MS 1000
/* CH_OK when every wait of s is at least CH_RETRY_TENANT_MIN_MS; else CH_EINVAL and a sentence
 * naming the entry in err. */
int ch_retry_schedule_tenant_check(const ch_retry_schedule *s, char *err, size_t errsz);
/* Raises every wait below CH_RETRY_TENANT_MIN_MS to it (tenant schedules saved before the
 * rule). */
void ch_retry_schedule_tenant_floor(ch_retry_schedule *s);
/* The wait after `failed` failed attempts (1-based) with ±20 % jitter from u in [0,1)
 * (0.5: none); -1 when the schedule is exhausted. */
int64_t ch_retry_delay(const ch_retry_schedule *s, int failed, double u);
/* A Retry-After value: delta-seconds or an HTTP-date (IMF-fixdate, RFC 850, asctime) → ms
 * from now_ms, 0 for a past date, at most 24 h; -1 when empty or malformed. Any bytes. */
int64_t ch_retry_after_ms(const char *v, size_t len, int64_t now_ms);
/* The wait after a "slow down" answer (429/502/503/504, a timeout). */
int64_t ch_retry_slowdown(int64_t scheduled_ms, int64_t retry_after_ms);

#endif
