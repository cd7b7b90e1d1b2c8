/* Phone numbers to E.164 with a tenant's default country calling code. */
#ifndef CH_PHONE_H
#define CH_PHONE_H

#include <stdbool.h>
#include <stddef.h>

/* Writes "+<digits>" to out and returns true when raw reads as a full number (libphonenumber,
 * src/util/phone.cc): a valid number of the tenant's country written nationally
 * ("050-123-4567" with "972"), or an international form ("+…", the country's international
 * prefix, "tel:"/"sip:" URIs) that is valid or of a possible length. Extensions, short codes,
 * names and numbers with an extension return false. country is the calling code as digits
 * ("972"), may be NULL or "". Slow (~12 µs) the first time: each thread keeps its last answers
 * (256 of them) and repeats them; not for the writer thread all the same. */
bool ch_phone_e164(const char *raw, const char *country, char *out, size_t outsz);

#endif
