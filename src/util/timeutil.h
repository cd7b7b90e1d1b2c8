/* Clocks, RFC 3339 formatting/parsing and time-zone conversion. All times are int64
 * milliseconds since the Unix epoch, UTC. CH_TIME_UNSET marks "not known". */
#ifndef CH_TIMEUTIL_H
#define CH_TIMEUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CH_TIME_UNSET INT64_MIN

int64_t ch_now_ms(void);
int64_t ch_mono_ns(void);

/* "2024-05-14T10:15:00.123Z" (always milliseconds; used in logs). */
void ch_time_format_ms(int64_t ms, char *out, size_t outsz);
/* "2024-05-14T10:15:00Z", with ".123" only when the milliseconds are not zero. */
void ch_time_format(int64_t ms, char *out, size_t outsz);

/* Parses RFC 3339 / ISO 8601 date-times: "YYYY-MM-DDTHH:MM:SS[.fff][Z|±HH:MM|±HHMM]" and the
 * same with a space instead of 'T'. A time without an offset is local time in tz (IANA name;
 * NULL or "" means UTC). Returns CH_OK or CH_EINVAL. */
int ch_time_parse(const char *s, const char *tz, int64_t *out_ms);

/* True when tz names a zone in the system's time-zone database ("UTC" always). */
bool ch_tz_valid(const char *tz);
/* Calendar month "YYYY-MM" of the instant ms in zone tz. */
void ch_time_month(int64_t ms, const char *tz, char out[8]);

#endif
