/* Asterisk-style CDR rows (Asterisk cdr_json/cdr_custom, OneCom, Grandstream UCM): the fields
 * they share, mapped once onto a normalised event. Values may be strings (as UCM sends every
 * value) or numbers. Internal to src/providers. */
#ifndef CH_PROVIDERS_CDR_H
#define CH_PROVIDERS_CDR_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "providers/provider.h"

/* A member as text: strings as they are, integers and reals printed; false when absent, null or
 * empty (after trimming spaces). */
bool ch_cdr_get(const json_t *row, const char *key, char *buf, size_t bufsz);

/* An id member (uniqueid, session, …) into buf of CH_ID_MAX + 2 bytes: 1 when present, 0 when
 * absent or empty, -1 when longer than CH_ID_MAX bytes (a 422 naming the member). */
int ch_cdr_id(const json_t *row, const char *key, char *buf);

/* Fills e from row's common fields: src/dst (numbers), clid (caller name when it differs from
 * the number), caller_name, start/answer/end (PBX-local "YYYY-MM-DD HH:MM:SS" in the tenant's
 * zone, RFC 3339, or Unix seconds), duration, billsec, disposition, userfield/dcontext
 * (direction), recordfiles (first file), dstanswer (extension). Without an end, the end is
 * start + duration. Every row is a finished CDR: status ended. An unusable time or count is
 * refused when refuse is set (senders whose answer a person reads), else dropped and recorded
 * in the event (ch_event_ignore). CH_OK, or CH_EINVAL with a message naming the field in err. */
int ch_cdr_fill(ch_event *e, const json_t *row, const ch_raw_request *req, bool refuse, char *err,
                size_t errsz, char *field, size_t fieldsz);

/* Maps an Asterisk disposition ("ANSWERED", "NO ANSWER", "BUSY", "FAILED", "CONGESTION",
 * "CANCEL", numeric 1–4) onto callhook's; CH_DISP_NONE when unknown. */
int ch_cdr_disposition(const char *s);

/* Direction from a UCM userfield ("Inbound", "Outbound", "Internal", "External") or an
 * Asterisk context ("from-pstn", "ext-did-1", "from-internal", "from-trunk"…). */
int ch_cdr_direction(const char *userfield, const char *dcontext, const char *channel);

/* When e's direction is still unknown, decides it from the numbers' shapes: an external number
 * (a full number with the tenant's country calling code, else 7 digits or more) calling an
 * extension (1–6 digits) is inbound, the reverse outbound, extension to extension internal. */
void ch_cdr_direction_guess(ch_event *e, const char *country);

#endif
