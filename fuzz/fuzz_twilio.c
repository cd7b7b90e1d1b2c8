/* The Twilio adapter: status and recording callbacks as form bodies (the signature check runs
 * first, as in the server, with a fixed URL and no X-Twilio-Signature); the checks are in
 * provider_fuzz.h. */
#include "provider_fuzz.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    return fuzz_provider("twilio", "application/x-www-form-urlencoded", data, size);
}
