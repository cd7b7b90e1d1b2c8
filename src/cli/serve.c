#include "app/daemon.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "util/crypto.h"
#include "util/log.h"
#include "util/result.h"

#include <curl/curl.h>
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ch_cmd_serve(int argc, char **argv)
{
    static const char *const valued[] = {
        "config",   "db",      "listen",       "public-url",     "log-level", "log-file",
        "max-body", "threads", "db-max-bytes", "ucm-tcp-listen", NULL};
    ch_args a;
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

    if (ch_log_open(cfg->log_file, cfg->log_level) != CH_OK) {
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

    ch_daemon *dmn = NULL;
    if (ch_daemon_start(cfg, &dmn) != CH_OK) {
        rc = 1;
        goto out;
    }

    ch_logline l;
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
    ch_daemon_stop(dmn);
    ch_log_msg(CH_LOG_WARN, "stopped", NULL);
    rc = 0;
out:
    ch_log_close();
    ch_args_free(&a);
    curl_global_cleanup();
    return rc;
}
