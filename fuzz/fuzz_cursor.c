/* The read API's query values: the page cursor "<sort_ts>.<call id>" (ch_store_cursor_parse)
 * and since/until (ch_query_time), each given the whole input as a string, as
 * GET /v1/calls?cursor=…&since=… passes them (tenant in Europe/London).
 * Checks: an accepted cursor has an id "c_<lower hex>" that fits its buffer, and the cursor
 * written back as the server writes it parses to the same values; an accepted time is a real
 * instant (never CH_TIME_UNSET, which means "no filter"). */
#include "api/query.h"
#include "store/store.h"
#include "util/result.h"
#include "util/timeutil.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size > 512) return 0;
    char s[513];
    memcpy(s, data, size);
    s[size] = 0;

    int64_t ts = 0;
    char id[64];
    if (ch_store_cursor_parse(s, &ts, id, sizeof id) == CH_OK) {
        size_t n = strnlen(id, sizeof id);
        if (n == sizeof id || n < 3 || strncmp(id, "c_", 2) != 0) abort();
        if (strspn(id + 2, "0123456789abcdef") != n - 2) abort();
        char again[96], id2[64];
        int64_t ts2 = 0;
        snprintf(again, sizeof again, "%" PRId64 ".%s", ts, id);
        if (ch_store_cursor_parse(again, &ts2, id2, sizeof id2) != CH_OK || ts2 != ts ||
            strcmp(id2, id) != 0)
            abort();
    }

    int64_t ms = 0;
    if (ch_query_time(s, "Europe/London", &ms) == CH_OK && ms == CH_TIME_UNSET) abort();
    return 0;
}
