/* The Retell adapter: any bytes as its JSON webhook body (checks in provider_fuzz.h). */
#include "provider_fuzz.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    return fuzz_provider("retell", "application/json", data, size);
}
