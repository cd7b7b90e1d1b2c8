/* Grandstream UCM "CDR Real-Time Output" over a plain TCP connection (older firmware, and the
 * TCP delivery method of newer ones): the UCM connects and writes CDRs — JSON objects on newer
 * firmware, one CSV line per CDR on older. There is no authentication on this transport: the
 * tenant is the one whose `ucm` source allow-lists the UCM's address (docs/providers.md). */
#ifndef CH_UCM_TCP_H
#define CH_UCM_TCP_H

#include "app/config.h"
#include "store/store.h"

typedef struct ch_ucm_tcp ch_ucm_tcp;

/* Listens on cfg->ucm_tcp_listen; *port_out is the bound port. CH_OK or an error (logged). */
int ch_ucm_tcp_start(ch_ucm_tcp **out, const ch_config *cfg, ch_store *store, int *port_out);
/* Stops accepting and waits (bounded) for the connections in progress. */
void ch_ucm_tcp_stop(ch_ucm_tcp *t);

#endif
