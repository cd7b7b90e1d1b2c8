/* E.164 normalisation of numbers as PBXs write them; first byte picks the tenant country. */
#include "util/phone.h"

#include <stdlib.h>
#include <string.h>

static const char *const countries[] = {"972", "1", "44", "49", "91", "7", "", "9999"};

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size < 1 || size > 200) return 0;
    const char *cc = countries[data[0] % (sizeof countries / sizeof *countries)];
    char raw[201];
    memcpy(raw, data + 1, size - 1);
    raw[size - 1] = 0;
    char out[24];
    if (ch_phone_e164(raw, cc, out, sizeof out)) {
        /* "+" then 1–15 digits */
        size_t n = strlen(out);
        if (out[0] != '+' || n < 2 || n > 16) abort();
        for (size_t i = 1; i < n; i++)
            if (out[i] < '0' || out[i] > '9') abort();
    }
    return 0;
}
