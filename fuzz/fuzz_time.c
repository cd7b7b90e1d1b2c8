/* Time parsing (RFC 3339 and PBX-local with a zone). First byte picks the zone; a parsed time
 * that is formatted and parsed again must give the same instant. */
#include "util/result.h"
#include "util/timeutil.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *const zones[] = {"UTC",
                                    "Asia/Jerusalem",
                                    "America/New_York",
                                    "Europe/London",
                                    "Australia/Lord_Howe",
                                    "Pacific/Chatham",
                                    "",
                                    "Not/AZone"};

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size < 1 || size > 256) return 0;
    const char *tz = zones[data[0] % (sizeof zones / sizeof *zones)];
    char s[257];
    memcpy(s, data + 1, size - 1);
    s[size - 1] = 0;
    int64_t ms;
    if (ch_time_parse(s, tz, &ms) != CH_OK) return 0;
    /* years 0001–9999: what RFC 3339 can write */
    if (ms < -62135596800000LL || ms > 253402300799999LL) return 0;
    char out[64];
    ch_time_format(ms, out, sizeof out);
    int64_t again;
    if (ch_time_parse(out, "UTC", &again) != CH_OK || again != ms) abort();
    return 0;
}
