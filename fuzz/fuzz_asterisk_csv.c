/* Master.csv lines for `callhook import asterisk-csv`: the CSV reader, then the Asterisk row
 * mapping. A line either is refused with a message or yields an event with its keys. */
#include "providers/asterisk.h"
#include "util/result.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size > 65536) return 0;
    char err[256] = "", field[64];
    json_t *row = NULL;
    if (ch_asterisk_csv_row((const char *)data, size, &row, err, sizeof err) != CH_OK) {
        if (!err[0]) abort();
        return 0;
    }
    ch_raw_request req = {
        .content_type = "text/csv", .tenant_tz = "Asia/Jerusalem", .tenant_country = "972"};
    ch_event *e = NULL;
    err[0] = 0;
    if (ch_asterisk_event(row, &req, &e, err, sizeof err, field, sizeof field) == CH_OK) {
        if (!e->external_id || !e->idem_key) abort();
        ch_event_prepare(e);
        ch_event_free(e);
    } else if (!err[0]) {
        abort();
    }
    json_decref(row);
    return 0;
}
