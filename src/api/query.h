/* Values of the read API's query parameters that need more than a lookup (the cursor is
 * ch_store_cursor_parse in store/store.h). Pure functions: fuzz/fuzz_cursor.c feeds them. */
#ifndef CH_QUERY_H
#define CH_QUERY_H

#include <stddef.h>
#include <stdint.h>

/* q: the fewest characters a text search takes (the text index is of trigrams) */
#define CH_QUERY_TEXT_MIN 3

/* since/until: Unix seconds ("1715681700", "1715681700.5") or an RFC 3339 time, local in tz
 * when it has no offset. CH_OK with milliseconds in *out_ms, or CH_EINVAL. */
int ch_query_time(const char *v, const char *tz, int64_t *out_ms);

/* Characters (UTF-8 code points: bytes that do not continue one) in v. */
size_t ch_query_text_chars(const char *v);

#endif
