/* E.164 normalisation of numbers as PBXs write them (src/util/phone.h). Input: one byte choosing
 * the tenant's country code (byte % 8 indexes countries[] below), then the raw number.
 * Checks: a result is "+", a first digit 1–9 (no country code starts with 0) and at most 15
 * digits in all; it fits a small buffer exactly or is refused; normalising it again changes
 * nothing, whatever the tenant's country. */
#include "util/phone.h"

#include <stdlib.h>
#include <string.h>

static const char *const countries[] = {"972", "1", "44", "49", "91", "7", "", "9999"};
#define NCOUNTRIES (sizeof countries / sizeof *countries)

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size < 1 || size > 200) return 0;
    const char *cc = countries[data[0] % NCOUNTRIES];
    char raw[201];
    memcpy(raw, data + 1, size - 1);
    raw[size - 1] = 0;
    char out[24];
    memset(out, 'x', sizeof out);
    if (!ch_phone_e164(raw, cc, out, sizeof out)) return 0;
    size_t n = strnlen(out, sizeof out);
    if (n == sizeof out || out[0] != '+' || n < 2 || n > 16 || out[1] < '1' || out[1] > '9')
        abort();
    for (size_t i = 2; i < n; i++)
        if (out[i] < '0' || out[i] > '9') abort();
    char tight[17], again[24];
    if (!ch_phone_e164(raw, cc, tight, n + 1) || strcmp(tight, out) != 0) abort();
    if (ch_phone_e164(raw, cc, tight, n)) abort(); /* one byte short: refused, not cut */
    for (size_t k = 0; k < NCOUNTRIES; k++)
        if (!ch_phone_e164(out, countries[k], again, sizeof again) || strcmp(again, out) != 0)
            abort();
    return 0;
}
