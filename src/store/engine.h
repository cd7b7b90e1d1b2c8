/* The store's engine, shared by store.c (the public functions) and engine.c (the writer
 * thread): the store object, backend-neutral. Internal to src/store/. */
#ifndef CH_STORE_ENGINE_H
#define CH_STORE_ENGINE_H

#include <pthread.h>
#include <stdatomic.h>

#include "store/backend.h"

struct ch_store {
    const ch_store_backend *be;
    ch_backend *b;
    ch_store_opts opts;
    /* the write queue, taken by the writer thread */
    pthread_t writer;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    ch_write_job *head, *tail;
    size_t depth;
    bool stopping;
    atomic_bool writable;
    pthread_mutex_t stats_lock;
    ch_store_stats stats;
    /* the change feed: published to after every commit */
    ch_feed *feed;
};

/* The writer thread (engine.c): group commit of every queued job, the merge of each event. */
void *ch_engine_main(void *arg);

#endif
