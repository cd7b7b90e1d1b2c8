/* The UCM TCP output's CSV lines (ingest/ucm_tcp.c): the line reader, then the UCM adapter on the
 * row it makes, as the listener does. */
#include "providers/ucm.h"
#include "provider_fuzz.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size > 65536) return 0;
    json_t *row = ch_ucm_csv_row((const char *)data, size);
    if (!row) return 0;
    char *text = json_dumps(row, JSON_COMPACT);
    json_decref(row);
    if (!text) abort(); /* the row holds only valid strings */
    fuzz_provider("ucm", "application/json", (const unsigned char *)text, strlen(text));
    free(text);
    return 0;
}
