/* Hashing, random tokens, constant-time comparison and password hashing (argon2id). */
#ifndef CH_CRYPTO_H
#define CH_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>

#define CH_SHA256_HEX 65  /* 64 hex digits + NUL */
#define CH_PWHASH_MAX 128 /* argon2id encoded string, NUL included */

/* Call once at start-up (initialises libsodium). Returns CH_OK or CH_ERR. */
int ch_crypto_init(void);
void ch_random_bytes(void *out, size_t n);
/* n random bytes as 2n lowercase hex digits plus NUL in out. */
void ch_random_hex(char *out, size_t nbytes);
/* n random bytes as unpadded base64url in out (outsz >= 4*n/3 + 2). */
void ch_random_token(char *out, size_t outsz, size_t nbytes);
void ch_sha256_hex(const void *data, size_t len, char out[CH_SHA256_HEX]);
void ch_sha256(const void *data, size_t len, unsigned char out[32]);
/* Compares in time independent of where the inputs differ. Different lengths: false. */
bool ch_ct_equal(const void *a, size_t alen, const void *b, size_t blen);
/* HMAC-SHA1 / HMAC-SHA256 of data with key; out holds 20 / 32 bytes. */
void ch_hmac_sha1(const void *key, size_t keylen, const void *data, size_t len,
                  unsigned char out[20]);
void ch_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
                    unsigned char out[32]);
/* Standard base64 (with padding) of n bytes into out (at least 4 * ((n + 2) / 3) + 1 bytes). */
void ch_base64(const unsigned char *in, size_t n, char *out);
/* Standard base64 (padding optional) into out; CH_OK with *outlen, or CH_EINVAL for a character
 * outside the alphabet or more than outsz bytes. */
int ch_base64_decode(const char *in, unsigned char *out, size_t outsz, size_t *outlen);
/* argon2id with libsodium's interactive limits. CH_OK or CH_ERR. */
int ch_password_hash(const char *password, char out[CH_PWHASH_MAX]);
bool ch_password_verify(const char *encoded, const char *password);

#endif
