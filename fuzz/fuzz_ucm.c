/* The Grandstream UCM adapter: flat CDRs, arrays, cdr_root with grouped main/sub CDRs. */
#include "provider_fuzz.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    return fuzz_provider("ucm", "application/json", data, size);
}
