/* The Cookie request header parser (src/http/cookie.h), which reads what any client sends.
 * Input: "<name>\n<Cookie header>". Checks: a value found fits the buffer and contains no ';'
 * (a value never runs into the next cookie); the same header parsed with a bigger buffer finds
 * the same value; a found value that passes ch_session_id_ok is 22 base64url characters. */
#include "http/cookie.h"
#include "util/result.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size > 8192) return 0;
    char *in = malloc(size + 1);
    memcpy(in, data, size);
    in[size] = 0;
    char *header = strchr(in, '\n');
    const char *name = "__Host-callhook_session";
    if (header) {
        *header++ = 0;
        if (*in) name = in;
    } else {
        header = in;
    }
    char small[CH_SESSION_ID_LEN + 2], big[8200];
    int rs = ch_cookie_get(header, name, small, sizeof small);
    int rb = ch_cookie_get(header, name, big, sizeof big);
    if (rb == CH_ENOTFOUND && rs != CH_ENOTFOUND) abort();
    if (rb == CH_OK) {
        if (strchr(big, ';')) abort();
        if (strlen(big) >= sizeof big) abort();
        if (rs == CH_OK && strcmp(small, big) != 0) abort();
        if (rs == CH_ETOOBIG && strlen(big) < sizeof small) abort();
        if (ch_session_id_ok(big)) {
            if (strlen(big) != CH_SESSION_ID_LEN) abort();
            if (strspn(big, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") !=
                CH_SESSION_ID_LEN)
                abort();
        }
    }
    (void)ch_host_is_loopback(header);
    free(in);
    return 0;
}
