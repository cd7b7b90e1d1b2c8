/* Dashboard sessions (docs/internals/authentication.md, docs/security.md): the session cookie
 * of a request checked against the store, CSRF, and the routes POST / GET / DELETE
 * /v1/session (sign-in, who am I, sign-out). The router (http/router.c) calls
 * ch_session_find and ch_session_csrf_ok for every CH_RA_API_KEY route a cookie reaches. */
#ifndef CH_SESSION_H
#define CH_SESSION_H

#include <stdbool.h>

#include "store/store.h"
#include "util/crypto.h"

typedef struct ch_request ch_request;
typedef struct ch_router ch_router;

/* True when r came over TLS (public_url is https://) or to a loopback Host: the cookie is
 * then __Host-callhook_session with Secure, else callhook_session without. */
bool ch_session_secure(ch_request *r);
/* True when r carries a session cookie (of the name ch_session_secure chooses). */
bool ch_session_presented(ch_request *r);
/* r's session: CH_OK (out filled; caller clears; last_seen_at refreshed in the background at
 * most every min(60 s, idle / 4)), CH_ENOTFOUND without a session cookie, CH_EAUTH for a
 * cookie that names no live session (an expired one is deleted), CH_ESTORE. id_hash: the
 * sha256 hex of the cookie's id. */
int ch_session_find(ch_request *r, ch_session *out, char id_hash[CH_SHA256_HEX]);
/* The CSRF rule for a state-changing request of a cookie session: X-CSRF-Token equals the
 * session's token and Sec-Fetch-Site, when sent, is same-origin or none. */
bool ch_session_csrf_ok(ch_request *r, const ch_session *s);

/* Registers /v1/session (CH_RA_NONE: these handlers check the cookie themselves). */
int ch_session_routes(ch_router *rt) __attribute__((warn_unused_result));

#endif
