/* Phone numbers to E.164 with a tenant's default country calling code. */
#ifndef CH_PHONE_H
#define CH_PHONE_H

#include <stdbool.h>
#include <stddef.h>

/* Writes "+<digits>" to out and returns true when raw can be read as a full number: already
 * international ("+…", "00…"), or national with a trunk prefix ("0…") or, for NANP (country
 * "1"), ten digits. Extensions, short codes and names return false. country is the calling
 * code as digits ("972"), may be NULL or "". */
bool ch_phone_e164(const char *raw, const char *country, char *out, size_t outsz);

#endif
