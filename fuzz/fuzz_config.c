/* The configuration file: any bytes as an INI file over the defaults. Accepted values must be
 * within their documented ranges. */
#include "app/config.h"
#include "util/result.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size > 8192) return 0;
    int fd = memfd_create("fuzz.ini", 0);
    if (fd < 0) return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ch_config c;
    ch_config_defaults(&c);
    char err[256];
    if (ch_config_load_file(&c, path, err, sizeof err) == CH_OK) {
        if (c.threads < 1 || c.threads > 256 || c.max_body == 0 || c.max_records == 0) abort();
    }
    close(fd);
    return 0;
}
