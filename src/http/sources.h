/* A short-lived cache of (tenant, provider) → tenant settings and source credentials, so that
 * webhook requests do not query the store for them every time. Entries live 2 seconds; a
 * request that fails authentication against a cached entry is checked again against the store,
 * so a credential added with the CLI works at once (a removed one stops within 2 s). */
#ifndef CH_SOURCES_H
#define CH_SOURCES_H

#include <stdbool.h>

#include "store/store.h"

typedef struct ch_sources ch_sources;

ch_sources *ch_sources_new(ch_store *store);
void ch_sources_free(ch_sources *c);
/* Copies of the tenant and its enabled credentials for provider. fresh bypasses the cache.
 * *cached says whether the answer came from the cache. CH_ENOTFOUND when the tenant does not
 * exist or has no source for provider; CH_ESTORE when the store cannot be read. */
int ch_sources_get(ch_sources *c, const char *slug, const char *provider, bool fresh,
                   ch_tenant *tenant, ch_credential **creds, size_t *n, bool *cached);
/* Drops what the cache holds of (slug, provider), after its credentials changed (a password,
 * token or secret rotated through the API): the old one stops working at once. A read that
 * began before and ends after does not put the old credentials back (a generation count). */
void ch_sources_forget(ch_sources *c, const char *slug, const char *provider);

#endif
