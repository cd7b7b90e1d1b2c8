/* The configuration file (src/app/config.h): any bytes as an INI file over the defaults, read
 * from a memfd through ch_config_load_file as `callhook serve --config` does.
 * Checks: an accepted file leaves every value inside its documented range and every string
 * terminated inside its buffer; a refused one says why. */
#include "app/config.h"
#include "util/log.h"
#include "util/result.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define TERMINATED(a) (strnlen((a), sizeof(a)) < sizeof(a))

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size > 8192) return 0;
    int fd = memfd_create("fuzz.ini", 0);
    if (fd < 0) abort();
    if (write(fd, data, size) != (ssize_t)size) abort();
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ch_config c;
    ch_config_defaults(&c);
    char err[256] = "";
    if (ch_config_load_file(&c, path, err, sizeof err) == CH_OK) {
        if (c.threads < 1 || c.threads > 256 || c.max_body < 256 || c.max_body > (64 << 20) ||
            c.max_records < 1 || c.max_records > 100000 || c.db_max_bytes < 0 || c.batch_max < 1 ||
            c.batch_max > 65536 || c.auth_fail_limit < 1 || c.auth_fail_limit > 1000000 ||
            c.auth_fail_window < 1 || c.auth_fail_window > 86400 || c.log_level < CH_LOG_DEBUG ||
            c.log_level > CH_LOG_OFF)
            abort();
        if (!TERMINATED(c.listen) || !TERMINATED(c.db) || !TERMINATED(c.public_url) ||
            !TERMINATED(c.log_file))
            abort();
    } else if (!err[0]) {
        abort();
    }
    close(fd);
    return 0;
}
