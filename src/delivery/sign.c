#include "delivery/sign.h"
#include "util/crypto.h"
#include "util/mem.h"
#include "util/result.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ch_webhook_sign(const char *secret, const char *msg_id, int64_t ts, const char *body,
                    size_t len, char out[CH_WEBHOOK_SIG_MAX])
{
    if (!secret) return CH_EINVAL;
    if (strncmp(secret, "whsec_", 6) == 0) secret += 6;
    unsigned char key[64];
    size_t keylen = 0;
    if (ch_base64_decode(secret, key, sizeof key, &keylen) != CH_OK || keylen == 0)
        return CH_EINVAL;
    char prefix[160];
    int pn = snprintf(prefix, sizeof prefix, "%s.%lld.", msg_id, (long long)ts);
    if (pn < 0 || (size_t)pn >= sizeof prefix) return CH_EINVAL;
    /* one buffer: HMAC over id.ts.body in one call */
    char *msg = ch_malloc((size_t)pn + len);
    memcpy(msg, prefix, (size_t)pn);
    memcpy(msg + pn, body, len);
    unsigned char mac[32];
    ch_hmac_sha256(key, keylen, msg, (size_t)pn + len, mac);
    free(msg);
    memcpy(out, "v1,", 3);
    ch_base64(mac, sizeof mac, out + 3);
    return CH_OK;
}
