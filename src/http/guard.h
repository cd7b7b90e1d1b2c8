/* The connection guard: limits what one client address can hold of the HTTP front and how long
 * any connection may take to deliver a request (docs/internals/connection-guard.md).
 *   - at most max_per_addr open connections per address (IPv6: per /64); trusted proxies are
 *     exempt. A connection over the limit is answered 429 as soon as its headers arrive, and is
 *     closed if they do not arrive within a second or two;
 *   - a total deadline from the connection's start (or its previous answer) to complete request
 *     headers, and another for the body, whatever the pace: libmicrohttpd's own timeout is an
 *     idle timeout, which a client sending a byte every few seconds never trips.
 * A connection past its deadline gets 408 (when a request had begun) and is shut down. */
#ifndef CH_GUARD_H
#define CH_GUARD_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct ch_guard ch_guard;

typedef struct {
    int max_per_addr;
    int header_ms, body_ms;
    const char *exempt; /* CIDR list without a per-address limit (trusted proxies) */
} ch_guard_opts;

typedef struct {
    uint64_t limited;   /* connections refused for their address's limit */
    uint64_t timed_out; /* connections closed at a deadline */
    int64_t open;       /* connections open now */
} ch_guard_stats;

ch_guard *ch_guard_new(const ch_guard_opts *o);
/* Stops the reaper; call after the HTTP daemon has stopped. */
void ch_guard_free(ch_guard *g);
void ch_guard_get_stats(ch_guard *g, ch_guard_stats *st);

/* MHD_OPTION_NOTIFY_CONNECTION callback (cls = the guard). */
void ch_guard_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                     enum MHD_ConnectionNotificationCode code);

/* Phase changes, called from the connection's MHD thread. */
/* The request line arrived (MHD's URI callback). */
void ch_guard_request_line(struct MHD_Connection *c);
/* Headers are complete (first handler call). False when the reaper already closed the request:
 * the handler must return MHD_NO. *over_limit tells the handler to answer 429. */
bool ch_guard_headers_done(struct MHD_Connection *c, bool *over_limit);
/* Still reading the body: false when the reaper closed the request (return MHD_NO). */
bool ch_guard_body_alive(struct MHD_Connection *c);
/* The body is complete: the request is being handled and is never reaped. False as above. */
bool ch_guard_body_done(struct MHD_Connection *c);
/* The answer was sent: the next request's header deadline starts now. */
void ch_guard_request_done(struct MHD_Connection *c);

#endif
