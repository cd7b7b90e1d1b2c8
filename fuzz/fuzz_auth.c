/* Webhook authentication headers: Authorization (Basic/Bearer, anything else) and X-Api-Key
 * against a credential with a username/password and a token. Input: "<authorization>\n<key>". */
#include "http/auth.h"
#include "util/crypto.h"
#include "util/result.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    static ch_auth *auth;
    static ch_credential cred;
    static char pwhash[CH_PWHASH_MAX], tokhash[CH_SHA256_HEX];
    if (!auth) {
        ch_crypto_init();
        auth = ch_auth_new(1000000, 60);
        ch_password_hash("s3cret-pass", pwhash);
        ch_sha256_hex("tok_0123456789", 14, tokhash);
        cred = (ch_credential){.id = 1,
                               .provider = "generic",
                               .username = "pbx",
                               .password_hash = pwhash,
                               .token_hash = tokhash,
                               .allow_ips = ""};
    }
    if (size > 2048) return 0;
    char *in = malloc(size + 1);
    memcpy(in, data, size);
    in[size] = 0;
    char *key = strchr(in, '\n');
    if (key) *key++ = 0;
    struct sockaddr_in peer = {.sin_family = AF_INET};
    inet_pton(AF_INET, "192.0.2.1", &peer.sin_addr);
    size_t id = 99;
    ch_auth_input ain = {.authorization = in, .api_key = key, .peer = (struct sockaddr *)&peer};
    int rc = ch_auth_webhook(auth, &cred, 1, &ain, &id);
    if (rc == CH_OK && id != 0) abort();
    free(in);
    return 0;
}
