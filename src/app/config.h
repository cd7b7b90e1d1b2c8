/* Configuration: defaults, then the INI file, then CALLHOOK_* environment, then flags. */
#ifndef CH_CONFIG_H
#define CH_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

typedef struct {
    char listen[128];
    char db[1024];
    char public_url[1024];
    char ucm_tcp_listen[128]; /* "" = off; ADDR:PORT of the Grandstream CDR TCP output listener */
    char log_file[1024];
    int log_level;
    size_t max_body;
    size_t max_records;
    int threads;
    int64_t db_max_bytes;
    int auth_fail_limit;
    int auth_fail_window;
    int auth_verify_threads;  /* password (argon2id) verifications at once, off HTTP threads */
    int auth_addr_fail_limit; /* failed authentications per address (all tenants) per window */
    int auth_session_idle;    /* seconds a dashboard session lives without a request (1800) */
    int auth_session_max;     /* seconds a dashboard session lives at most (43200) */
    /* abuse limits of the HTTP front (docs/security.md) */
    char trusted_proxies[1024]; /* CIDRs whose X-Forwarded-For / Forwarded is believed */
    char metrics_allow[1024];   /* CIDRs that may read /metrics */
    int max_conns_per_addr;     /* open connections per client address (IPv6: per /64) */
    int header_timeout;         /* seconds from connection (or previous answer) to full headers */
    int body_timeout;           /* seconds to receive a request body, in total */
    /* live updates, GET /v1/stream (docs/internals/stream.md) */
    int max_streams;         /* streams open at once (below the connection limit) */
    int stream_heartbeat_ms; /* a ": hb" comment this often on every stream */
    size_t stream_buffer;    /* bytes queued for one stream; past it, fed from the log */
    int batch_max;
    /* outbound webhooks (docs/webhooks.md) */
    char delivery_allow_private[1024]; /* CIDRs a webhook may reach though not public */
    char delivery_retry_schedule[512]; /* the default retry schedule ("5s,5m,…") */
    int delivery_concurrency;          /* deliveries in flight at once */
    int delivery_threads;              /* dispatcher threads (default: CPUs, at most 4) */
    int64_t delivery_disable_after;    /* seconds of exhausted messages before disabling */
    int delivery_max_endpoints;        /* endpoints per tenant (default 50) */
    unsigned db_mode;                  /* mode of the database files (default 0600) */
    int ucm_tcp_record_timeout;        /* seconds a UCM TCP record may take to arrive (30) */
    /* enrichment (docs/enrichment.md) */
    char enrich_allow_private[1024];  /* CIDRs a recording or engine may be fetched from */
    char enrich_recordings_dir[1024]; /* "" = "recordings" beside the database file */
    char enrich_retry_schedule[512];  /* between attempts of a stage */
    int enrich_threads;               /* stages at once (default 2) */
    int enrich_cpu_threads;           /* CPU-bound stages at once (default 1) */
    int enrich_timeout;               /* seconds of one network exchange (60) */
    int enrich_sweep_interval;        /* seconds between looks for recordings past retention */
    int enrich_idle_priority;         /* 1: workers in SCHED_IDLE (default), 0: normal */
    int64_t enrich_max_recording_bytes;
} ch_config;

void ch_config_defaults(ch_config *c);
/* Where recordings are kept: enrich.recordings_dir, or "recordings" beside the database file
 * (a database on a server: "recordings" in the working directory). */
void ch_config_recordings_dir(const ch_config *c, char *out, size_t outsz);
/* The store's options for this configuration (the daemon's and the CLI's: one engine). */
void ch_config_store_opts(const ch_config *c, ch_store_opts *out);
/* Reads an INI file over c. CH_OK, or CH_EINVAL with a message in err. */
int ch_config_load_file(ch_config *c, const char *path, char *err, size_t errsz);
/* Applies CALLHOOK_* variables. CH_OK or CH_EINVAL with a message. */
int ch_config_load_env(ch_config *c, char *err, size_t errsz);
/* Sets one option by its INI name ("server.listen", "store.db", …). */
int ch_config_set(ch_config *c, const char *section, const char *name, const char *value, char *err,
                  size_t errsz);

#endif
