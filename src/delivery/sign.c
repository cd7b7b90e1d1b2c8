#include "delivery/sign.h"
#include "util/crypto.h"
#include "util/mem.h"
#include "util/result.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ch_signer {
    EVP_MAC *mac;
    EVP_MAC_CTX *ctx;
};

ch_signer *ch_signer_new(void)
{
    ch_signer *s = ch_calloc(1, sizeof *s);
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    if (!(s->mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) || !(s->ctx = EVP_MAC_CTX_new(s->mac)) ||
        !EVP_MAC_CTX_set_params(s->ctx, params))
        abort(); /* OpenSSL without HMAC or SHA-256: nothing can be signed */
    return s;
}

void ch_signer_free(ch_signer *s)
{
    if (!s) return;
    EVP_MAC_CTX_free(s->ctx);
    EVP_MAC_free(s->mac);
    free(s);
}

int ch_webhook_sign_with(ch_signer *s, const char *secret, const char *msg_id, int64_t ts,
                         const char *body, size_t len, char out[CH_WEBHOOK_SIG_MAX])
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
    unsigned char mac[32];
    size_t maclen = 0;
    if (!EVP_MAC_init(s->ctx, key, keylen, NULL) ||
        !EVP_MAC_update(s->ctx, (const unsigned char *)prefix, (size_t)pn) ||
        !EVP_MAC_update(s->ctx, (const unsigned char *)body, len) ||
        !EVP_MAC_final(s->ctx, mac, &maclen, sizeof mac) || maclen != sizeof mac)
        abort(); /* only fails when out of memory */
    memcpy(out, "v1,", 3);
    ch_base64(mac, sizeof mac, out + 3);
    return CH_OK;
}

int ch_webhook_sign(const char *secret, const char *msg_id, int64_t ts, const char *body,
                    size_t len, char out[CH_WEBHOOK_SIG_MAX])
{
    ch_signer *s = ch_signer_new();
    int rc = ch_webhook_sign_with(s, secret, msg_id, ts, body, len, out);
    ch_signer_free(s);
    return rc;
}
