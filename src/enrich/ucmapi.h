/* The Grandstream UCM HTTPS API (UCM63xx, "API Configuration > HTTPS API Settings (New)"):
 * challenge, login with md5(challenge + password), then recapi to download a recording and
 * getRecordInfosByCall to list a call's recordings, the session cookie inside each JSON body.
 * A ch_ucm_client caches one session per (UCM address, user) across jobs and threads
 * (docs/internals/enrichment-net.md). */
#ifndef CH_UCMAPI_H
#define CH_UCMAPI_H

#include "enrich/fetch.h"

#include <stdbool.h>
#include <stddef.h>

/* The UCM's "status" codes callhook acts on (0 is success). */
#define CH_UCM_STATUS_EXPIRED_A    (-5) /* session expired / not logged in: log in again */
#define CH_UCM_STATUS_EXPIRED_B    (-6)
#define CH_UCM_STATUS_RATE_LIMITED (-45) /* too many requests: wait CH_UCM_RATE_LIMIT_S */

typedef struct ch_ucm_client ch_ucm_client;

ch_ucm_client *ch_ucm_client_new(void);
void ch_ucm_client_free(ch_ucm_client *c);

typedef struct ch_ucm_target {
    const char *base_url; /* "https://10.0.0.5:8089" (http:// accepted: tests, a TLS proxy) */
    const char *user, *password; /* the API user ("cdrapi") and its password */
    const char *allow_private;   /* as ch_fetch_req: a UCM is usually on a private network */
    long timeout_ms;             /* each exchange (0: CH_FETCH_TIMEOUT_MS) */
    size_t max_body;             /* ceiling of a recording (0: CH_FETCH_MAX_BODY) */
    bool insecure_tls;           /* the UCM's self-signed certificate, unchecked */
    const char *ca_file;         /* or: trust this PEM file */
    const char *pinned_pubkey;   /* or: "sha256//<base64>" of the UCM's key */
} ch_ucm_target;

/* Downloads the recording `name`, a recordfiles entry ("auto-1700000000-1001-2002.wav", may
 * carry a "dir/" prefix naming the filedir; "monitor" otherwise). Logs in when no session is
 * cached, and once again when the UCM says the session expired. CH_OK with out->body (the
 * file, out->content_type as the UCM sent it); else out->error says why and the code is
 * CH_EAGAIN (transient; rate limited: out->retry_after_s = CH_UCM_RATE_LIMIT_S), CH_EAUTH
 * (challenge or login refused), CH_ETOOBIG, or CH_EINVAL (the UCM refused the request). */
int ch_ucm_fetch_recording(ch_ucm_client *c, const ch_ucm_target *t, const char *name,
                           ch_fetch_resp *out);

/* The recordings of the call whose CDR AcctId is call_id (getRecordInfosByCall): CH_OK with
 * *names (NULL-terminated, *n entries, freed with ch_ucm_names_free; none is not an error),
 * else as ch_ucm_fetch_recording with the reason in err and *retry_after_s (-1 if none). */
int ch_ucm_record_files(ch_ucm_client *c, const ch_ucm_target *t, const char *call_id,
                        char ***names, size_t *n, long *retry_after_s, char *err, size_t errlen);
void ch_ucm_names_free(char **names);

/* Whether the cache holds a session for t (tests). */
bool ch_ucm_client_has_session(ch_ucm_client *c, const ch_ucm_target *t);

/* ---- the pure parsers of the UCM's JSON answers (fuzzed) --------------------------------- */

/* The top-level "status" integer: CH_OK with *status, or CH_EINVAL (not JSON, no status). */
int ch_ucmapi_parse_status(const char *body, size_t len, int *status);
/* response.challenge / response.cookie into out (printable ASCII, 1..outsz-1 bytes): CH_OK,
 * or CH_EINVAL. */
int ch_ucmapi_parse_challenge(const char *body, size_t len, char *out, size_t outsz);
int ch_ucmapi_parse_cookie(const char *body, size_t len, char *out, size_t outsz);
/* response.recordfiles, comma separated: each entry trimmed, a trailing '@' stripped, empty
 * entries and ones with ".." or control characters skipped, at most CH_UCM_RECORDFILES_MAX.
 * CH_OK with *names as ch_ucm_record_files (an absent or empty list gives none), or
 * CH_EINVAL when the answer is not JSON or recordfiles is not a string. */
int ch_ucmapi_parse_recordfiles(const char *body, size_t len, char ***names, size_t *n);

#endif
