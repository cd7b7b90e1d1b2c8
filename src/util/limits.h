/* The ceilings on what a peer can make callhook hold: bytes, counts, slots and the time a
 * connection may stay idle. Every buffer, queue or table the network can fill is bounded by a
 * value named here, so that a reviewer reads one list (as curl keeps its limits), and a change
 * to one is a change to this file (docs/internals/limits.md). Settings an operator may change
 * (callhook.ini) keep their range in app/config.c; their defaults are here. A header of the
 * bottom layer: it includes nothing, and every layer may include it. */
#ifndef CH_LIMITS_H
#define CH_LIMITS_H

/* ---- HTTP connections (http/server.c, http/guard.c) --------------------------------------- */

#define CH_HTTP_CONNS_MAX   4096        /* open connections, all clients (MHD's limit) */
#define CH_HTTP_CONN_MEMORY (64 * 1024) /* per connection: request line, headers, buffers */
/* a connection that moves no byte this long is closed (an export whose client stops reading
 * ends here) */
#define CH_HTTP_IDLE_SEC      60
#define CH_GUARD_ADDR_BUCKETS 4096 /* client addresses whose connections are counted */
#define CH_GUARD_OVER_MS      2000 /* headers deadline of a connection over its limit */
#define CH_MAX_CONNS_PER_ADDR 128  /* default of server.max_conns_per_addr */
#define CH_HEADER_TIMEOUT_SEC 20   /* default of server.header_timeout */
#define CH_BODY_TIMEOUT_SEC   60   /* default of server.body_timeout */

/* ---- request bodies and answers ----------------------------------------------------------- */

#define CH_MAX_BODY_DEFAULT (1 << 20)  /* default of server.max_body: a request's body kept */
#define CH_MAX_BODY_CEILING (64 << 20) /* server.max_body at most */
/* body read and thrown away past max_body (4 × max_body if that is more), so that a client
 * that writes its whole body before reading gets its 413; then the connection is closed */
#define CH_BODY_DISCARD_MIN    (16 << 20)
#define CH_MAX_RECORDS_DEFAULT 1000      /* default of server.max_records: records per request */
#define CH_MAX_RECORDS_CEILING 100000    /* server.max_records at most */
#define CH_METRICS_PAGE_MAX    (1 << 20) /* GET /metrics (a fixed set of series, ~10 KiB) */
#define CH_SETUP_PAGE_MAX      (1 << 20) /* the HTML setup page of a webhook URL */

/* ---- routing (http/router.c) -------------------------------------------------------------- */

#define CH_ROUTE_MAX_SEGS   6 /* segments of a route; a longer path matches no route */
#define CH_ROUTE_MAX_PARAMS 4 /* {parameters} of a route */

/* ---- authentication (http/auth.c, http/sources.c) ----------------------------------------- */

#define CH_AUTH_FAIL_SLOTS      8192 /* (address, scope) failure counters; collisions evict */
#define CH_AUTH_VERIFIED_SLOTS  1024 /* successful password verifications remembered */
#define CH_AUTH_PENDING_SLOTS   1024 /* client addresses whose pending verifications are counted */
#define CH_VERIFY_QUEUE_MAX     256  /* password verifications waiting, all clients */
#define CH_VERIFY_PER_ADDR      4    /* verifications waiting or running per client address */
#define CH_VERIFY_SEEN          4    /* verifications per request (credentials sharing a user) */
#define CH_SOURCES_CACHE_SLOTS  256  /* (tenant, provider) sources cached */
#define CH_SOURCES_CACHE_TTL_MS 2000 /* a cached source is used this long (then re-read) */
#define CH_EMAIL_MAX            254  /* a dashboard user's email (RFC 5321's path limit) */
#define CH_PASSWORD_MIN         8    /* a dashboard user's password, bytes (OWASP ASVS 2.1.1) */
#define CH_PASSWORD_MAX         128 /* … at most (argon2id takes any length; a ceiling all the same) */

/* ---- ingest: what one event may carry (providers/, core/) --------------------------------- */

#define CH_ID_MAX                256 /* bytes of a call, leg or event id */
#define CH_NUM_TEXT_MAX          40  /* characters of a number sent as text */
#define CH_FREESWITCH_MAX_PARAMS 64  /* form fields of a FreeSWITCH request */
#define CH_TWILIO_MAX_PARAMS     256 /* form fields of a Twilio request */
#define CH_ASTERISK_CSV_MAX_COLS 21  /* columns of an Asterisk Master.csv line */
/* Metadata (docs/merge.md, "Metadata limits"): far above what any PBX or voice-AI platform
 * sends; they keep one sender from making the single writer slow for every tenant. Per event
 * (refused with 422 metadata_too_large before anything is written): */
#define CH_META_EVENT_MAX_KEYS  500         /* object members, at every depth */
#define CH_META_EVENT_MAX_DEPTH 10          /* nesting; the metadata object itself is 1 */
#define CH_META_EVENT_MAX_BYTES (64 * 1024) /* compact JSON */
/* Per call (the event is stored, its metadata is not kept): keys in the call's merged metadata,
 * and bytes of metadata its events keep together (what every merge of the call reads back;
 * metadata an event repeats verbatim from another event of the call is kept once). */
#define CH_META_CALL_MAX_KEYS  2000
#define CH_META_CALL_MAX_BYTES (256 * 1024)

/* ---- the UCM TCP listener (ingest/ucm_tcp.c) ---------------------------------------------- */

#define CH_UCM_CONNS_MAX          64           /* connections at once */
#define CH_UCM_RECORD_MAX         (256 * 1024) /* one record: far above any CDR the UCM writes */
#define CH_UCM_IDLE_MS            10000        /* a connection silent between records is closed */
#define CH_UCM_RECORD_TIMEOUT_SEC 30           /* default of ucm.tcp_record_timeout */
/* After an over-long record is answered, the rest of it is read and thrown away for this long
 * at most (and this much), as nginx's lingering close does: closing with unread data sends a
 * reset, and a sender that sees a reset instead of the answer resends the record forever. */
#define CH_UCM_LINGER_MS      5000
#define CH_UCM_LINGER_IDLE_MS 1000
#define CH_UCM_LINGER_BYTES   (8 << 20)

/* ---- the read API: lists, export, change feed (api/calls.c, store/) ------------------------ */

#define CH_PAGE_LIMIT_MAX     500        /* rows per page of a list (?limit=): calls, deliveries */
#define CH_EXPORTS_PER_TENANT 4          /* exports one tenant may run at once */
#define CH_EXPORT_TENANTS     256        /* tenants exporting at once, server-wide */
#define CH_EXPORT_PIECE       (64 << 10) /* bytes produced per call of the reader, about */
#define CH_EXPORT_PENDING_MAX (64 << 20) /* bytes produced but not yet taken by the client */
#define CH_EXPORT_SCAN        1024       /* rows looked at per page, matching or not */
#define CH_EXPORT_CALLS       256        /* calls per page */
#define CH_EXPORT_BYTES       (4 << 20)  /* a page ends once its rows add up to this many bytes */

/* the change feed (GET /v1/changes, callhook changes, in-process subscribers) */
#define CH_CHANGES_MAX_LIMIT 1000                 /* changes per page */
#define CH_CHANGES_KEEP      1000000              /* changes the durable log keeps at most */
#define CH_CHANGES_KEEP_MS   (7LL * 86400 * 1000) /* and for this long at most */
#define CH_FEED_MAX_QUEUE    65536                /* changes queued for one in-process subscriber */

/* ---- live updates: GET /v1/stream (http/stream.c, docs/internals/stream.md) ---------------- */

#define CH_STREAMS_DEFAULT     1000         /* default of server.max_streams */
#define CH_STREAM_CONN_RESERVE 512          /* connections kept for the rest of the API */
#define CH_STREAM_BUF_DEFAULT  (256 * 1024) /* bytes queued for one stream */
#define CH_STREAM_BUF_MIN      4096
#define CH_STREAM_BUF_MAX      (16 * 1024 * 1024)
#define CH_STREAM_FRAMES_MAX   8192  /* events queued for one stream, whatever their size */
#define CH_STREAM_HEARTBEAT_MS 15000 /* default of server.stream_heartbeat_ms */
#define CH_STREAM_HUB_QUEUE    16384 /* the hub's change-feed queue (80 bytes a change) */
#define CH_STREAM_REPLAY_PAGE  200   /* changes a resuming stream reads from the log per step */
#define CH_STREAM_RETRY_AFTER  5     /* seconds, with 503 too_many_streams */

/* ---- outbound webhooks (delivery/, api/webhooks.c) ---------------------------------------- */

#define CH_ENDPOINT_URL_MAX          2048        /* bytes of an endpoint's URL */
#define CH_ENDPOINT_EVENTS_MAX       8192        /* bytes of an endpoint's event filter, joined */
#define CH_ENDPOINT_HEADERS_MAX      32          /* headers an endpoint adds to its deliveries */
#define CH_ENDPOINT_HEADER_NAME_MAX  64          /* characters of a header name an endpoint sets */
#define CH_ENDPOINT_HEADER_VALUE_MAX 1024        /* bytes of its value */
#define CH_RESPONSE_KEEP             (20 * 1024) /* bytes of a receiver's answer kept per attempt */
#define CH_RETRY_MAX                 32          /* steps of a retry schedule */

/* ---- enrichment: text engines on a transcript (enrich/dictmatch.c, summary.c, sentiment.c,
 * heuristics.c, jschema.c) ------------------------------------------------------------------ */

/* bytes of a transcript a text engine reads; the rest is ignored (an hour of speech is about
 * 60 000 words: ~400 KB in English, ~600 KB in Hebrew) */
#define CH_TEXT_MAX          (1 << 20)
#define CH_DICT_ENTRIES_MAX  10000 /* entries (cities + service categories) of one dictionary */
#define CH_DICT_SYNONYMS_MAX 64    /* other spellings of one entry */
#define CH_DICT_NAME_MAX     200   /* bytes of a name or synonym */
#define CH_DICT_PHRASE_WORDS 8     /* words of a name or synonym */
#define CH_DICT_MATCHES_MAX  200   /* matches listed in a result (all are counted) */
#define CH_JSCHEMA_MAX_DEPTH 32    /* nesting of a JSON Schema, and of the value it checks */

/* ---- enrichment's network clients (enrich/fetch.c, enrich/ucmapi.c, enrich/openai.c) ------ */

#define CH_FETCH_MAX_BODY           (50 << 20) /* an answer's body by default (a recording) */
#define CH_FETCH_TIMEOUT_MS         30000      /* one exchange by default, connect included */
#define CH_FETCH_CONNECT_TIMEOUT_MS 10000      /* connecting, at most */
#define CH_FETCH_REDIRECTS_MAX      3          /* hops followed (Twilio: one, to its storage) */
#define CH_UCM_API_ANSWER_MAX       (1 << 20)  /* a UCM API JSON answer (challenge, login, lists) */
#define CH_UCM_TOKEN_MAX            128        /* bytes of a UCM challenge or session cookie */
#define CH_UCM_SESSIONS_MAX         64         /* UCM (address, user) sessions cached */
#define CH_UCM_RECORDFILES_MAX      64         /* recordings of one call listed by a UCM */
#define CH_UCM_RATE_LIMIT_S         15         /* wait after a UCM's "rate limited" (-45) */
#define CH_OPENAI_ANSWER_MAX        (8 << 20)  /* a transcription or chat completion answer */
#define CH_TRANSCRIPT_SEGMENTS_MAX  20000      /* segments of one transcript (hours of speech) */

/* ---- recordings: decoding and speech recognition (enrich/audio.c, enrich/sphinx.c) --------- */

#define CH_AUDIO_MAX_SECONDS_DEFAULT (2 * 3600) /* a recording decoded at most this long */
#define CH_AUDIO_MAX_SECONDS_CEILING (4 * 3600) /* what a caller may ask for at most */
/* 16 kHz samples kept per channel: 4 h = 230 MB per channel; a recording decodes in pieces, so
 * nothing but the output grows with its length */
#define CH_AUDIO_MAX_SAMPLES     ((size_t)CH_AUDIO_MAX_SECONDS_CEILING * 16000)
#define CH_AUDIO_MAX_CHANNELS    16     /* channels a file may declare (the first two are kept) */
#define CH_AUDIO_MIN_RATE        4000   /* Hz a file may declare */
#define CH_AUDIO_MAX_RATE        192000 /* Hz a file may declare */
#define CH_SPHINX_CHUNK_MAX_SEC  20     /* speech decoded as one utterance at most (memory) */
#define CH_SPHINX_KEYPHRASES_MAX 256    /* keyphrases spotted in one pass */
#define CH_SPHINX_KEYPHRASE_MAX  64     /* bytes of one keyphrase */

/* ---- enrichment's pipeline (core/pipeline, enrich/worker.c, enrich/stages.c) -------------- */

#define CH_PIPELINE_URL_MAX    2048        /* bytes of an engine's base URL */
#define CH_PIPELINE_PROMPT_MAX 8192        /* bytes of a tenant's prompt */
#define CH_PIPELINE_TEXT_MAX   (64 * 1024) /* bytes of the pipeline settings, stored */
#define CH_STAGE_RESULT_MAX    (1 << 20)   /* bytes of a stage's stored result (a transcript) */
#define CH_RECORDING_MAX_BYTES                                                                     \
    (200LL << 20) /* a recording fetched (enrich.max_recording_bytes)                              \
                   */

/* ---- a call's trace (core/trace.h, GET /v1/calls/{id}/trace) ------------------------------ */

/* The status changes are found by folding the events in received order, one fold per event:
 * the cost grows with the square of the events shown, so the trace shows the first ones. */
#define CH_TRACE_EVENTS_MAX   500
#define CH_TRACE_RAW_MAX      (16 * 1024) /* bytes of each raw body shown; the size says the rest */
#define CH_TRACE_MESSAGES_MAX 1000        /* webhook messages of the call shown */
#define CH_TRACE_ATTEMPTS_MAX 100         /* attempts shown per delivery (its count says all) */

/* ---- diagnostics (delivery/diagnose.c, GET /v1/diagnostics, `callhook doctor`) ------------- */

#define CH_DIAG_COUNT_MAX    100000 /* failed deliveries counted at most (then "at least") */
#define CH_DIAG_RECENT_CALLS 5      /* the newest calls the report explains */
#define CH_DIAG_PROBE_MS     3000   /* all reachability checks of one report, in parallel */
#define CH_DIAG_PROBES_MAX   64     /* endpoints probed per report (the rest: not checked) */

#endif
