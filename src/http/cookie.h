/* The Cookie request header and the session cookie's attributes (docs/security.md): pure
 * string functions, fuzzed (fuzz/fuzz_cookie.c). */
#ifndef CH_COOKIE_H
#define CH_COOKIE_H

#include <stdbool.h>
#include <stddef.h>

/* The session cookie: 16 random bytes as unpadded base64url (22 characters). The __Host-
 * prefix makes a browser refuse it unless it is Secure, has Path=/ and no Domain, so no other
 * host (a sibling subdomain) can set or shadow it. */
#define CH_SESSION_COOKIE_HOST  "__Host-callhook_session"
#define CH_SESSION_COOKIE_PLAIN "callhook_session"
#define CH_SESSION_ID_BYTES     16
#define CH_SESSION_ID_LEN       22

/* The value of the first cookie called name in a Cookie header ("a=1; b=2"), copied into out.
 * CH_OK; CH_ENOTFOUND when there is none; CH_ETOOBIG when the value does not fit in outsz
 * (NUL included). Names compare exactly; a value may be "quoted". */
int ch_cookie_get(const char *header, const char *name, char *out, size_t outsz);
/* True when id has the shape of a session id (CH_SESSION_ID_LEN base64url characters). */
bool ch_session_id_ok(const char *id);
/* True when a Host header names this machine's loopback (localhost, 127.0.0.1, [::1], with or
 * without a port): browsers treat it as a secure context, so a Secure cookie works there over
 * plain HTTP. */
bool ch_host_is_loopback(const char *host);
/* The Set-Cookie value for the session id (NULL or "": clear it), secure: with the __Host-
 * name and Secure; max_age seconds (when setting). Into out (at least 192 bytes). */
void ch_session_set_cookie(char *out, size_t outsz, const char *id, bool secure, int max_age);

#endif
