/* A source's setup: the exact settings to enter on the PBX or platform that sends the calls —
 * URL, method, content type, how it authenticates, the username, the IP allow-list, how its
 * recordings are fetched — as `callhook source add` prints it and GET /v1/sources lists it.
 * Never a password, token hash or secret. */
#ifndef CH_SOURCEINFO_H
#define CH_SOURCEINFO_H

#include <jansson.h>

#include "store/store.h"

/* {"id", "credential_id", "tenant", "provider", "title", "url", "method", "content_type",
 * "auth": ["basic"|"token"|"signature"|"source_ip"…], "auth_help", "username", "allow_ips",
 * "fixed_urls": [..], "media": {…without passwords…}} for credential c of tenant slug, the
 * URL under base ("https://hooks.example.com", no trailing '/'). */
json_t *ch_source_info(const char *base, const char *slug, const ch_credential *c);
/* The recording settings without their passwords, only whether one is set ({} for NULL). */
json_t *ch_source_media_public(const char *media);

#endif
