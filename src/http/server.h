/* The HTTP front: libmicrohttpd with an epoll thread pool. Requests that write are suspended
 * until the writer has committed their batch, then resumed with their answer. */
#ifndef CH_SERVER_H
#define CH_SERVER_H

#include "app/config.h"
#include "store/store.h"

typedef struct ch_server ch_server;

typedef struct ch_router ch_router;

/* Registers the server's own routes: /healthz, /readyz, /metrics (metrics_allow). */
int ch_server_routes(ch_router *rt) __attribute__((warn_unused_result));
/* Starts listening on cfg->listen; the bound port is in *port_out (for ":0"). The server only
 * dispatches: every path it answers is in routes (read-only, it must outlive the server). */
int ch_server_start(ch_server **out, const ch_config *cfg, ch_store *store, const ch_router *routes,
                    int *port_out);
struct ch_dispatcher;
/* The dispatcher to wake after API replays and test messages (before traffic starts). */
void ch_server_set_dispatcher(ch_server *srv, struct ch_dispatcher *d);
struct ch_enrich;
/* The enrichment workers, for their counters in /metrics. */
void ch_server_set_enrich(ch_server *srv, struct ch_enrich *e);
/* Stops accepting, lets requests in flight finish (at most grace_ms), closes. */
void ch_server_stop(ch_server *srv, int grace_ms);

#endif
