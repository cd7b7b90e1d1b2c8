/* Live updates: GET /v1/stream (Server-Sent Events) and the hub that feeds every open stream
 * from the store's change feed, one thread for all of them (docs/internals/stream.md). */
#ifndef CH_STREAM_H
#define CH_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "util/buf.h"

typedef struct ch_stream_hub ch_stream_hub;
typedef struct ch_router ch_router;

typedef struct {
    int max_streams;   /* streams open at once; past it 503 too_many_streams */
    int heartbeat_ms;  /* a ": hb" comment this often */
    size_t buffer_max; /* bytes queued for one stream; past it, fed from the log */
} ch_stream_opts;

typedef struct {
    int64_t open;          /* streams open now */
    int64_t queued_bytes;  /* bytes queued on all streams, not yet handed to the socket */
    uint64_t opened;       /* streams accepted so far */
    uint64_t refused;      /* 503 too_many_streams */
    uint64_t dropped_slow; /* closed: their client stopped reading */
    uint64_t behind;       /* buffer full: went on from the log at the client's pace */
    uint64_t events;       /* events queued on streams (one per event per stream) */
    uint64_t frames_built; /* events built (one per change, shared by the streams) */
    uint64_t resets;       /* reset events sent */
} ch_stream_stats;

/* Subscribes to the store's change feed and starts the hub's thread. */
ch_stream_hub *ch_stream_hub_start(ch_store *store, const ch_stream_opts *o);
/* Stops the hub's thread and ends every stream (what is queued on an idle stream is sent, a
 * slow one is cut: its client resumes by id); new streams are refused. Before MHD stops. */
void ch_stream_hub_close(ch_stream_hub *h);
/* After MHD has stopped (every stream's response is gone). NULL is fine. */
void ch_stream_hub_free(ch_stream_hub *h);
void ch_stream_get_stats(ch_stream_hub *h, ch_stream_stats *out);
/* The callhook_stream_* series of /metrics. */
int ch_stream_metrics(ch_stream_hub *h, ch_buf *b);

/* Registers GET /v1/stream (CH_RA_API_KEY). */
int ch_stream_routes(ch_router *rt) __attribute__((warn_unused_result));

#endif
