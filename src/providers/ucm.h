/* Grandstream UCM pieces shared with the TCP listener (ingest/ucm_tcp.c). */
#ifndef CH_PROVIDERS_UCM_H
#define CH_PROVIDERS_UCM_H

#include <jansson.h>
#include <stddef.h>

/* One CSV line of the UCM's TCP CDR output (older firmware: the field order of the CDR table,
 * values optionally quoted with ') → a JSON row with the UCM's field names, or NULL when the
 * line has fewer than 16 columns (not a CDR). */
json_t *ch_ucm_csv_row(const char *line, size_t len);

#endif
