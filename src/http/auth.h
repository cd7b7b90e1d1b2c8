/* Authentication of webhook senders (credentials of tenant + provider) and of API clients
 * (API keys), with a per-address limit on failures. */
#ifndef CH_AUTH_H
#define CH_AUTH_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "store/store.h"

typedef struct ch_auth ch_auth;

ch_auth *ch_auth_new(int fail_limit, int fail_window_sec);
void ch_auth_free(ch_auth *a);

/* Seconds the address must still wait after too many failures, or 0. */
int ch_auth_lockout(ch_auth *a, const struct sockaddr *peer);
/* Counts a failure against the address. */
void ch_auth_failed(ch_auth *a, const struct sockaddr *peer);

/* Checks a webhook request against the source's credentials:
 *   CH_OK       a credential matched (its index in creds in *matched),
 *   CH_EAUTH    none matched (401),
 *   CH_ELIMIT   a credential matched but the address is outside its allow-list (403).
 * A credential may hold several secrets (password, token, signing secret): any one that matches
 * authenticates. A credential without any secret authenticates by its allow-list alone. */
typedef struct {
    const char *authorization, *api_key; /* the request's headers, may be NULL */
    const struct sockaddr *peer;
    /* A provider signature check (a credential with a signing secret passes when it returns
     * true); NULL when the provider has none. */
    bool (*signature_ok)(const void *ctx, const char *secret);
    const void *signature_ctx;
} ch_auth_input;
int ch_auth_webhook(ch_auth *a, const ch_credential *creds, size_t n, const ch_auth_input *in,
                    size_t *matched);

/* Checks "Bearer chk_…" against the store; CH_OK with the key's tenant, or CH_EAUTH. */
int ch_auth_apikey(ch_auth *a, ch_store *s, const char *authorization, int64_t *tenant_id);

#endif
