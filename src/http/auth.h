/* Authentication of webhook senders (credentials of tenant + provider) and of API clients
 * (API keys), with throttling of failures and password verification off the HTTP threads
 * (docs/security.md, docs/internals/authentication.md).
 *
 * Throttling: failures are counted per (client address, scope) — the scope names what was
 * attempted (tenant and provider, user name, API key id) — and per client address over all
 * scopes. A request that authenticates is never refused; past a limit, failures are answered
 * 429 instead of 401, and no more passwords are verified for that address (and scope) until the
 * window ends, so a client's failures cost bounded CPU. Addresses are IPv4 or IPv6 /64. */
#ifndef CH_AUTH_H
#define CH_AUTH_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "store/store.h"
#include "util/limits.h"

typedef struct ch_auth ch_auth;

typedef struct {
    int fail_limit;      /* failures per (address, scope) per window */
    int addr_fail_limit; /* failures per address per window, all scopes */
    int window_sec;
    int verify_threads; /* argon2id verifications at once */
} ch_auth_opts;

ch_auth *ch_auth_new(const ch_auth_opts *o);
/* Stops the verification threads; nothing may be pending (the HTTP daemon has stopped). */
void ch_auth_free(ch_auth *a);
/* Password verifications run (stand-ins included) and refused for a full queue. */
void ch_auth_get_stats(ch_auth *a, uint64_t *verifications, uint64_t *refused);

/* Seconds the client must still wait before failing again for scope (or for any scope, when
 * the address is over its own limit), or 0. */
int ch_auth_lockout(ch_auth *a, const struct sockaddr *client, const char *scope);
/* Counts a failure against (client, scope) and client. */
void ch_auth_failed(ch_auth *a, const struct sockaddr *client, const char *scope);

/* A password verification handed to the verification threads. Lives in the request, whose
 * handler runs again after each one and finds the verdicts it already has. */
typedef struct ch_verify {
    /* the job */
    char *stored;   /* the argon2id hash; NULL: a stand-in of the same cost (unknown user) */
    char *password; /* as presented */
    unsigned char key[32];
    unsigned char addr[16];
    /* verdicts so far */
    struct {
        unsigned char key[32];
        bool ok;
    } seen[CH_VERIFY_SEEN];
    int nseen;
    bool standin_done;
    void (*on_done)(struct ch_verify *v); /* on a verification thread; v may be freed after */
    void *arg;
    struct ch_verify *next;
} ch_verify;

/* Queues v. CH_OK; CH_ELIMIT when the client already has its share of verifications waiting
 * or the queue is full (answer 429/503 and let it retry). */
int ch_auth_verify_submit(ch_auth *a, ch_verify *v, const struct sockaddr *client);
/* Records the verdict of v's job (what the verification threads do before on_done). */
void ch_verify_finish(ch_verify *v, bool ok);
void ch_verify_clear(ch_verify *v);

/* Checks a webhook request against the source's credentials:
 *   CH_OK       a credential matched (its index in creds in *matched),
 *   CH_EAUTH    none matched (401),
 *   CH_ELIMIT   a credential matched but the address is outside its allow-list (403),
 *   CH_EAGAIN   a password must be verified first: in->verify is filled; submit it and call
 *               again when it is done (only when in->verify is set; without it, passwords
 *               not verified before count as wrong).
 * A credential may hold several secrets (password, token, signing secret): any one that matches
 * authenticates. A credential without any secret authenticates by its allow-list alone. */
typedef struct {
    const char *authorization, *api_key; /* the request's headers, may be NULL */
    const struct sockaddr *peer;         /* the client address (allow-lists) */
    /* A provider signature check (a credential with a signing secret passes when it returns
     * true); NULL when the provider has none. */
    bool (*signature_ok)(const void *ctx, const char *secret);
    const void *signature_ctx;
    ch_verify *verify;
} ch_auth_input;
int ch_auth_webhook(ch_auth *a, const ch_credential *creds, size_t n, const ch_auth_input *in,
                    size_t *matched);

/* The user name of a Basic Authorization header (for throttling scopes), into out ("" if none). */
void ch_auth_basic_user(const char *authorization, char *out, size_t outsz);

/* Checks a dashboard user's password (docs/internals/authentication.md): stored is the user's
 * argon2id hash, or NULL for an email that names no user — then the password is verified once
 * against the stand-in hash, so an unknown email costs what a wrong password costs. CH_OK,
 * CH_EAUTH, or CH_EAGAIN with v's job set: hand it to ch_verify_later and call again. */
int ch_auth_password(ch_auth *a, const char *stored, const char *password, ch_verify *v);

/* Checks "Bearer chk_…" against the store; CH_OK with the key's tenant, or CH_EAUTH. */
int ch_auth_apikey(ch_auth *a, ch_store *s, const char *authorization, int64_t *tenant_id);

#endif
