/* Time parsing: RFC 3339 and PBX-local times in a tenant's zone (src/util/timeutil.h).
 * Input: one byte choosing the zone (byte % 8 indexes zones[] below), then the time string.
 * Checks: a parsed time formats (both formats) and parses again to the same instant; a time with
 * an offset does not depend on the zone; a local time is within a day of the same wall clock in
 * UTC. */
#include "util/result.h"
#include "util/timeutil.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *const zones[] = {
    "UTC",
    "Europe/London",
    "Asia/Jerusalem",
    "America/New_York",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "",
    "Not/AZone",
};

static void roundtrip(int64_t ms, void (*format)(int64_t, char *, size_t))
{
    char out[64];
    format(ms, out, sizeof out);
    int64_t again = 0;
    if (ch_time_parse(out, "Pacific/Chatham", &again) != CH_OK || again != ms) abort();
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size < 1 || size > 256) return 0;
    const char *tz = zones[data[0] % (sizeof zones / sizeof *zones)];
    char s[257];
    memcpy(s, data + 1, size - 1);
    s[size - 1] = 0;
    int64_t ms = 0;
    if (ch_time_parse(s, tz, &ms) != CH_OK) return 0;
    char month[8];
    ch_time_month(ms, tz, month);
    /* years 0001–9999: what RFC 3339 can write */
    if (ms < -62135596800000LL || ms > 253402300799999LL) return 0;
    roundtrip(ms, ch_time_format);
    roundtrip(ms, ch_time_format_ms);
    int64_t utc = 0;
    if (ch_time_parse(s, "UTC", &utc) != CH_OK) abort();
    int64_t d = ms > utc ? ms - utc : utc - ms;
    if (d > 26 * 3600 * 1000LL) abort();
    /* the same string with an offset: only a local time may move with the zone */
    size_t n = strlen(s);
    bool has_offset = n && (s[n - 1] == 'Z' || s[n - 1] == 'z' || strpbrk(s + 10, "+-"));
    if (has_offset && d != 0) abort();
    return 0;
}
