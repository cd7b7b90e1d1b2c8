#include "util/crypto.h"
#include "util/result.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int ch_crypto_init(void)
{
    return sodium_init() < 0 ? CH_ERR : CH_OK;
}

void ch_random_bytes(void *out, size_t n)
{
    if (RAND_bytes(out, (int)n) != 1) abort(); /* no entropy: nothing is safe to do */
}

void ch_random_hex(char *out, size_t nbytes)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char b[64];
    while (nbytes > 0) {
        size_t k = nbytes < sizeof b ? nbytes : sizeof b;
        ch_random_bytes(b, k);
        for (size_t i = 0; i < k; i++) {
            *out++ = hex[b[i] >> 4];
            *out++ = hex[b[i] & 15];
        }
        nbytes -= k;
    }
    *out = '\0';
}

void ch_random_token(char *out, size_t outsz, size_t nbytes)
{
    unsigned char b[64];
    if (nbytes > sizeof b) nbytes = sizeof b;
    ch_random_bytes(b, nbytes);
    sodium_bin2base64(out, outsz, b, nbytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

void ch_sha256(const void *data, size_t len, unsigned char out[32])
{
    SHA256(data, len, out);
}

void ch_sha256_hex(const void *data, size_t len, char out[CH_SHA256_HEX])
{
    unsigned char d[32];
    SHA256(data, len, d);
    sodium_bin2hex(out, CH_SHA256_HEX, d, sizeof d);
}

bool ch_ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    if (alen != blen) return false;
    return CRYPTO_memcmp(a, b, alen) == 0;
}

void ch_hmac_sha1(const void *key, size_t keylen, const void *data, size_t len,
                  unsigned char out[20])
{
    unsigned int n = 20;
    if (!HMAC(EVP_sha1(), key, (int)keylen, data, len, out, &n)) abort();
}

void ch_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
                    unsigned char out[32])
{
    unsigned int n = 32;
    if (!HMAC(EVP_sha256(), key, (int)keylen, data, len, out, &n)) abort();
}

void ch_base64(const unsigned char *in, size_t n, char *out)
{
    EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

int ch_password_hash(const char *password, char out[CH_PWHASH_MAX])
{
    _Static_assert(crypto_pwhash_STRBYTES <= CH_PWHASH_MAX, "pwhash buffer");
    if (crypto_pwhash_str_alg(out, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                              crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13))
        return CH_ERR;
    return CH_OK;
}

bool ch_password_verify(const char *encoded, const char *password)
{
    if (!encoded || !password) return false;
    return crypto_pwhash_str_verify(encoded, password, strlen(password)) == 0;
}

int ch_base64_decode(const char *in, unsigned char *out, size_t outsz, size_t *outlen)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(in);
    while (n > 0 && in[n - 1] == '=')
        n--;
    if (n % 4 == 1) return CH_EINVAL;
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        const char *p = in[i] ? strchr(alphabet, in[i]) : NULL;
        if (!p) return CH_EINVAL;
        acc = (acc << 6) | (uint32_t)(p - alphabet);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o == outsz) return CH_EINVAL;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    *outlen = o;
    return CH_OK;
}
