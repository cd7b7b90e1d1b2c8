#include "cli/args.h"
#include "cli/commands.h"
#include "delivery/dispatcher.h"
#include "http/server.h"
#include "ingest/ucm_tcp.h"
#include "store/store.h"
#include "util/crypto.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/result.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

int ch_cmd_serve(int argc, char **argv)
{
    static const char *const valued[] = {
        "config",   "db",      "listen",       "public-url",     "log-level", "log-file",
        "max-body", "threads", "db-max-bytes", "ucm-tcp-listen", NULL};
    ch_args a;
    int lock_fd = -1;
    /* a long-running server that frees and allocates the same amounts all the time (SQLite's
     * page cache emptied by every commit, curl's buffers): giving memory back to the kernel
     * after each burst only to fault it in again cost ~2 % of the dispatcher's CPU */
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
    mallopt(M_MMAP_THRESHOLD, 4 << 20);
    int rc = ch_args_init(&a, argc, argv, valued);
    if (rc) goto out;
    static const struct {
        const char *flag, *section, *name;
    } flags[] = {
        {"listen", "server", "listen"},         {"public-url", "server", "public_url"},
        {"log-level", "log", "level"},          {"log-file", "log", "file"},
        {"max-body", "server", "max_body"},     {"threads", "server", "threads"},
        {"db-max-bytes", "store", "max_bytes"}, {"ucm-tcp-listen", "server", "ucm_tcp_listen"},
    };
    char err[512];
    for (size_t i = 0; i < sizeof flags / sizeof *flags; i++) {
        const char *v = ch_arg(&a, flags[i].flag);
        if (v && ch_config_set(&a.cfg, flags[i].section, flags[i].name, v, err, sizeof err)) {
            fprintf(stderr, "callhook: --%s: %s\n", flags[i].flag, err);
            rc = 2;
            goto out;
        }
    }
    if ((rc = ch_args_finish(&a))) goto out;
    const ch_config *cfg = &a.cfg;

    if (ch_log_open(cfg->log_file, cfg->log_level) < 0) {
        fprintf(stderr, "callhook: cannot open log file %s: %s\n", cfg->log_file, strerror(errno));
        rc = 1;
        goto out;
    }
    if (ch_crypto_init()) {
        ch_log_msg(CH_LOG_ERROR, "startup", "libsodium failed to initialise");
        rc = 1;
        goto out;
    }
    /* Signals are taken by sigwait in this thread only: block them before any thread starts
     * so every thread inherits the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT); /* before any thread: it is not thread-safe */
    setenv("TZ", "UTC", 1);

    /* One daemon per database: the writer thread assumes it is the only one writing events
     * (event ids, merges). The CLI's admin commands may still run beside it. */
    char *lockpath = ch_asprintf("%s-serve.lock", cfg->db);
    lock_fd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    free(lockpath);
    if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
        ch_logline l;
        if (ch_log_begin(&l, CH_LOG_ERROR, "startup", NULL)) {
            ch_log_str(&l, "msg",
                       lock_fd < 0 ? "cannot create the database's lock file"
                                   : "another callhook serve uses this database");
            ch_log_str(&l, "db", cfg->db);
            ch_log_end(&l);
        }
        rc = 1;
        goto out;
    }

    ch_store *store = NULL;
    ch_store_opts so = {.path = cfg->db,
                        .max_bytes = cfg->db_max_bytes,
                        .read_conns = cfg->threads + 2,
                        .batch_max = cfg->batch_max,
                        .disable_after_ms = cfg->delivery_disable_after * 1000};
    if (ch_store_open(&store, &so)) {
        ch_logline l;
        if (ch_log_begin(&l, CH_LOG_ERROR, "startup", NULL)) {
            ch_log_str(&l, "msg", "cannot open the database");
            ch_log_str(&l, "db", cfg->db);
            ch_log_end(&l);
        }
        rc = 1;
        goto out;
    }
    ch_dispatcher *disp = NULL;
    ch_dispatcher_opts dopts = {.allow_private = cfg->delivery_allow_private,
                                .retry_schedule = cfg->delivery_retry_schedule,
                                .concurrency = cfg->delivery_concurrency,
                                .threads = cfg->delivery_threads};
    if (ch_dispatcher_start(&disp, store, &dopts)) {
        ch_store_close(store);
        rc = 1;
        goto out;
    }
    ch_server *srv = NULL;
    int port = 0;
    if (ch_server_start(&srv, cfg, store, &port)) {
        ch_dispatcher_stop(disp, 0);
        ch_store_close(store);
        rc = 1;
        goto out;
    }
    ch_server_set_dispatcher(srv, disp);
    ch_ucm_tcp *ucm = NULL;
    if (cfg->ucm_tcp_listen[0]) {
        int uport = 0;
        if (ch_ucm_tcp_start(&ucm, cfg, store, &uport) != CH_OK) {
            ch_server_stop(srv, 1000);
            ch_dispatcher_stop(disp, 0);
            ch_store_close(store);
            rc = 1;
            goto out;
        }
        ch_logline ul;
        if (ch_log_begin(&ul, CH_LOG_WARN, "ucm_tcp_listening", NULL)) {
            ch_log_str(&ul, "address", cfg->ucm_tcp_listen);
            ch_log_int(&ul, "port", uport);
            ch_log_end(&ul);
        }
    }
    ch_logline l;
    if (ch_log_begin(&l, CH_LOG_WARN, "listening", NULL)) {
        ch_log_str(&l, "address", cfg->listen);
        ch_log_int(&l, "port", port);
        ch_log_str(&l, "db", cfg->db);
        if (cfg->public_url[0]) ch_log_str(&l, "public_url", cfg->public_url);
        ch_log_str(&l, "version", CH_VERSION);
        ch_log_end(&l);
    }

    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0) continue;
        if (sig == SIGHUP) {
            ch_log_reopen();
            ch_log_msg(CH_LOG_INFO, "log_reopened", NULL);
            continue;
        }
        if (ch_log_begin(&l, CH_LOG_WARN, "stopping", NULL)) {
            ch_log_str(&l, "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT");
            ch_log_end(&l);
        }
        break;
    }
    ch_server_stop(srv, 25000);
    ch_ucm_tcp_stop(ucm);
    /* transfers in flight get a moment to finish; what does not is sent again after restart */
    ch_dispatcher_stop(disp, 5000);
    ch_store_close(store);
    ch_log_msg(CH_LOG_WARN, "stopped", NULL);
    rc = 0;
out:
    if (lock_fd >= 0) close(lock_fd); /* releases the lock */
    ch_log_close();
    ch_args_free(&a);
    curl_global_cleanup();
    return rc;
}
