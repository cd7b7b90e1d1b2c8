/* Standard Webhooks signatures (docs/webhooks.md): what a receiver checks with the npm
 * `standardwebhooks` or `svix` packages. */
#ifndef CH_SIGN_H
#define CH_SIGN_H

#include <stddef.h>
#include <stdint.h>

#define CH_WEBHOOK_SIG_MAX 64 /* "v1," + 44 base64 characters + NUL fits */

/* A reusable HMAC-SHA256 context, for one thread: OpenSSL's one-shot HMAC() looks the
 * algorithm up again on every call, which showed in the dispatcher's profile. */
typedef struct ch_signer ch_signer;
ch_signer *ch_signer_new(void); /* aborts when OpenSSL has no HMAC-SHA256 */
void ch_signer_free(ch_signer *s);

/* "v1,<base64 HMAC-SHA256(key, "{msg_id}.{ts}.{body}")>", key being the base64 decoding of
 * the secret after its "whsec_" prefix (a secret without it is decoded whole). CH_OK, or
 * CH_EINVAL when the secret does not decode to 1..64 bytes. */
int ch_webhook_sign_with(ch_signer *s, const char *secret, const char *msg_id, int64_t ts,
                         const char *body, size_t len, char out[CH_WEBHOOK_SIG_MAX]);
/* The same with a signer of its own. */
int ch_webhook_sign(const char *secret, const char *msg_id, int64_t ts, const char *body,
                    size_t len, char out[CH_WEBHOOK_SIG_MAX]);

#endif
