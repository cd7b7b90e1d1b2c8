/* Retry schedules (a tenant's, through the API) and Retry-After (a receiver's header) —
 * src/delivery/schedule.h. Input: "<schedule>\n<Retry-After bytes>".
 * Checks: an accepted schedule has 1..CH_RETRY_MAX delays of 1 ms..7 days, its jitter stays
 * within ±20 % and it ends; a Retry-After is -1 or 0..24 h; a slow-down never shortens a wait
 * nor passes 10 hours. */
#include "delivery/schedule.h"
#include "util/result.h"

#include <stdlib.h>
#include <string.h>

#define DAY (24LL * 3600 * 1000)

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size > 4096) return 0;
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    char *nl = memchr(text, '\n', size);
    size_t ra_len = nl ? size - (size_t)(nl - text) - 1 : 0;
    const char *ra = nl ? nl + 1 : "";
    if (nl) *nl = 0;

    ch_retry_schedule s;
    char err[160];
    if (ch_retry_schedule_parse(text, &s, err, sizeof err) == CH_OK) {
        if (s.n < 1 || s.n > CH_RETRY_MAX) abort();
        for (int i = 1; i <= s.n; i++) {
            int64_t base = s.delay_ms[i - 1];
            if (base < 1 || base > 7 * DAY) abort();
            int64_t lo = ch_retry_delay(&s, i, 0.0), hi = ch_retry_delay(&s, i, 0.999999);
            if (lo < 1 || lo > base || hi < lo || hi > base + base / 5 + 1) abort();
        }
        if (ch_retry_delay(&s, s.n + 1, 0.5) != -1) abort();
    } else if (!err[0] || !memchr(err, 0, sizeof err)) {
        abort(); /* a refusal always says why */
    }

    int64_t now = 1764547200000LL; /* 2025-12-01 */
    int64_t ms = ch_retry_after_ms(ra, ra_len, now);
    if (ms != -1 && (ms < 0 || ms > DAY)) abort();
    int64_t waited = ch_retry_slowdown(5000, ms);
    if (waited < 5000 || waited > 10 * 3600 * 1000LL) abort();
    free(text);
    return 0;
}
