/* The UCM HTTPS API answers' parsers (src/enrich/ucmapi.h). Input: any bytes, as a UCM (or
 * whatever answers in its place) could send. Checks: a challenge or cookie taken is printable
 * ASCII that fits; every recordfiles name is non-empty, has no "..", no control byte and no
 * trailing '@', and there are at most CH_UCM_RECORDFILES_MAX. */
#include "enrich/ucmapi.h"
#include "util/limits.h"
#include "util/result.h"

#include <stdlib.h>
#include <string.h>

static void token(int rc, const char *out, size_t outsz)
{
    if (rc != CH_OK) return;
    size_t n = strlen(out);
    if (n == 0 || n >= outsz) abort();
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)out[i] < 0x21 || (unsigned char)out[i] > 0x7e) abort();
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    const char *body = (const char *)data;
    int status;
    (void)ch_ucmapi_parse_status(body, size, &status);
    char small[8], big[CH_UCM_TOKEN_MAX];
    token(ch_ucmapi_parse_challenge(body, size, big, sizeof big), big, sizeof big);
    token(ch_ucmapi_parse_challenge(body, size, small, sizeof small), small, sizeof small);
    token(ch_ucmapi_parse_cookie(body, size, big, sizeof big), big, sizeof big);

    char **names;
    size_t n;
    if (ch_ucmapi_parse_recordfiles(body, size, &names, &n) == CH_OK) {
        if (n > CH_UCM_RECORDFILES_MAX || names[n]) abort();
        for (size_t i = 0; i < n; i++) {
            size_t l = strlen(names[i]);
            if (l == 0 || strstr(names[i], "..") || names[i][l - 1] == '@') abort();
            for (size_t k = 0; k < l; k++)
                if ((unsigned char)names[i][k] < 0x20) abort();
        }
        ch_ucm_names_free(names);
    } else if (names) {
        abort();
    }
    return 0;
}
