/* Webhook authentication (src/http/auth.h): the Authorization header (Basic base64 decoding,
 * Bearer, anything else) and X-Api-Key, checked against a source's credentials as
 * ch_auth_webhook does for every POST /hooks/…. Input: "<authorization>\n<x-api-key>".
 * Credentials: 1 = user "pbx" / password "s3cret-pass" and token "tok_0123456789";
 * 2 = token "tok_allowlisted", only from 198.51.100.0/24; 3 = a signing secret, whose provider
 * check passes when X-Api-Key is "sig:whsec_test". The peer is 192.0.2.1.
 * Checks: only the real secrets authenticate, credential 2 is refused (403) from this peer.
 * The password hash uses argon2id's minimum cost so that a matching user name does not slow the
 * fuzzer down; the verification code is the same. A password check answers CH_EAGAIN first (it
 * goes to the verification threads); the harness verifies in line and asks again, as the
 * request does when it is resumed. */
#include "http/auth.h"
#include "util/crypto.h"
#include "util/result.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool signature_ok(const void *ctx, const char *secret)
{
    const char *key = ctx;
    return key && strncmp(key, "sig:", 4) == 0 && strcmp(key + 4, secret) == 0;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    static char pwhash[CH_PWHASH_MAX], tok1[CH_SHA256_HEX], tok2[CH_SHA256_HEX];
    if (!pwhash[0]) {
        ch_crypto_init();
        if (crypto_pwhash_str_alg(pwhash, "s3cret-pass", 11, crypto_pwhash_OPSLIMIT_MIN,
                                  crypto_pwhash_MEMLIMIT_MIN, crypto_pwhash_ALG_ARGON2ID13))
            abort();
        ch_sha256_hex("tok_0123456789", 14, tok1);
        ch_sha256_hex("tok_allowlisted", 15, tok2);
    }
    if (size > 2048) return 0;
    const ch_credential creds[] = {
        {.id = 1,
         .provider = "generic",
         .username = "pbx",
         .password_hash = pwhash,
         .token_hash = tok1},
        {.id = 2, .provider = "generic", .token_hash = tok2, .allow_ips = "198.51.100.0/24"},
        {.id = 3, .provider = "generic", .signing_secret = "whsec_test"},
    };
    char *in = malloc(size + 1);
    memcpy(in, data, size);
    in[size] = 0;
    char *key = strchr(in, '\n');
    if (key) *key++ = 0;
    struct sockaddr_in peer = {.sin_family = AF_INET};
    inet_pton(AF_INET, "192.0.2.1", &peer.sin_addr);

    /* one instance (it starts threads); successes are remembered only by its verification
     * threads, which this harness does not use, so no input sees another's cache */
    static ch_auth *auth;
    if (!auth) auth = ch_auth_new(&(ch_auth_opts){.fail_limit = 10, .window_sec = 60});
    size_t idx = 99;
    ch_verify v = {0};
    ch_auth_input ain = {.authorization = in,
                         .api_key = key,
                         .peer = (struct sockaddr *)&peer,
                         .signature_ok = signature_ok,
                         .signature_ctx = key,
                         .verify = &v};
    const size_t ncreds = sizeof creds / sizeof *creds;
    int rc = ch_auth_webhook(auth, creds, ncreds, &ain, &idx);
    /* what the verification threads do, in line: verify (a stand-in never passes), ask again */
    for (int round = 0; rc == CH_EAGAIN && round < 4; round++) {
        if (!v.password) abort();
        ch_verify_finish(&v, v.stored && ch_password_verify(v.stored, v.password));
        rc = ch_auth_webhook(auth, creds, ncreds, &ain, &idx);
    }
    ch_verify_clear(&v);
    bool token1 = strstr(in, "tok_0123456789") || (key && strcmp(key, "tok_0123456789") == 0);
    bool token2 = strstr(in, "tok_allowlisted") || (key && strcmp(key, "tok_allowlisted") == 0);
    if (rc == CH_OK) {
        if (idx >= ncreds) abort();
        int64_t id = creds[idx].id;
        if (id == 1 && !token1 && strncasecmp(in, "Basic ", 6) != 0) abort();
        if (id == 2 || (id == 3 && !(key && strcmp(key, "sig:whsec_test") == 0))) abort();
    } else if (rc == CH_ELIMIT) {
        if (!token2) abort();
    } else if (rc != CH_EAUTH) {
        abort();
    }
    /* the failure limit: 10 failures lock (address, scope) out */
    for (int i = 0; i < 10; i++)
        ch_auth_failed(auth, (struct sockaddr *)&peer, "fuzz");
    if (ch_auth_lockout(auth, (struct sockaddr *)&peer, "fuzz") <= 0) abort();
    free(in);
    return 0;
}
