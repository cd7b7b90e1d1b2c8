/* The FreeSWITCH mod_json_cdr adapter: the first byte picks the body encoding (its media type)
 * among the three mod_json_cdr sends, the rest is the body (checks in provider_fuzz.h). */
#include "provider_fuzz.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    static const char *const types[] = {"application/json", "application/x-www-form-urlencoded",
                                        "application/x-www-form-base64-encoded"};
    if (size == 0) return 0;
    return fuzz_provider("freeswitch", types[data[0] % 3], data + 1, size - 1);
}
