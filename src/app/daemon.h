/* The composition root: builds the daemon from its parts in one order and takes it apart in
 * the reverse order (docs/internals/threads.md). Process-wide setup (log, signals, libcurl's
 * global init, the time zone) stays with the caller, cli/serve.c, which owns the process. */
#ifndef CH_DAEMON_H
#define CH_DAEMON_H

#include "app/config.h"

typedef struct ch_daemon ch_daemon;

/* Takes the database's lock file, opens the store (its writer thread), starts the dispatcher,
 * assembles the route table (server, webhook and API routes), starts the HTTP server and the
 * UCM TCP listener when configured, and logs "listening". cfg must outlive the daemon.
 * CH_OK, or an error (logged) with everything already started stopped again. */
int ch_daemon_start(const ch_config *cfg, ch_daemon **out) __attribute__((warn_unused_result));
/* The bound HTTP port (for ":0"). */
int ch_daemon_port(const ch_daemon *d);
/* Stops in reverse order: intake first (UCM TCP, then HTTP with up to 25 s for requests in
 * flight), the dispatcher (5 s for transfers), the store (the writer drains), the lock. */
void ch_daemon_stop(ch_daemon *d);

#endif
