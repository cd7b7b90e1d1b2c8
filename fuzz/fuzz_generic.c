/* The generic adapter: any bytes as a JSON webhook body (see provider_fuzz.h). */
#include "provider_fuzz.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    return fuzz_provider("generic", "application/json", data, size);
}
