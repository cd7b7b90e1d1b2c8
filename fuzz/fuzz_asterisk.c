/* The Asterisk/OneCom adapter: CDR JSON, single or batch; the checks are in provider_fuzz.h. */
#include "provider_fuzz.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    return fuzz_provider("asterisk", "application/json", data, size);
}
