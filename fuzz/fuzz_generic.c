/* The generic adapter (docs/generic-event.md): any bytes as a JSON webhook body; the checks are
 * in provider_fuzz.h. */
#include "provider_fuzz.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    return fuzz_provider("generic", "application/json", data, size);
}
