/* The Asterisk adapter's pieces shared with `callhook import asterisk-csv` (cli/import.c). */
#ifndef CH_PROVIDERS_ASTERISK_H
#define CH_PROVIDERS_ASTERISK_H

#include <jansson.h>
#include <stddef.h>

#include "providers/provider.h"

/* One CDR (JSON object with Asterisk's field names) → event. CH_OK, or CH_EINVAL with a message
 * in err and the offending member in field. The event's raw body is the row as JSON. */
int ch_asterisk_event(const json_t *row, const ch_raw_request *req, ch_event **out, char *err,
                      size_t errsz, char *field, size_t fieldsz);

/* One line of cdr_csv's Master.csv (no header; 16, 18 or 21 columns, as set by loguniqueid,
 * loguserfield and newcdrcolumns; strings in double quotes with "" for a quote, numbers and
 * empty dates unquoted) → a JSON object with the columns' names. A line without uniqueid gets
 * a call_id derived from its content, so each such CDR is a call of its own and importing it
 * twice finds it again. CH_OK or CH_EINVAL with a message in err. */
int ch_asterisk_csv_row(const char *line, size_t len, json_t **out, char *err, size_t errsz);

#endif
