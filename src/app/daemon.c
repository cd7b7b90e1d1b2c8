#include "app/daemon.h"
#include "api/routes.h"
#include "delivery/dispatcher.h"
#include "enrich/worker.h"
#include "http/request.h"
#include "http/router.h"
#include "http/session.h"
#include "http/static.h"
#include "http/server.h"
#include "ingest/ucm_tcp.h"
#include "store/store.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/result.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <unistd.h>

struct ch_daemon {
    const ch_config *cfg;
    int lock_fd;
    ch_store *store;
    ch_dispatcher *disp;
    ch_enrich *enrich;
    ch_router *routes;
    ch_server *srv;
    int port;
    ch_ucm_tcp *ucm;
};

static void startup_error(const char *msg, const char *db)
{
    ch_logline l;
    if (ch_log_begin(&l, CH_LOG_ERROR, "startup", NULL)) {
        ch_log_str(&l, "msg", msg);
        if (db) ch_log_str(&l, "db", db);
        ch_log_end(&l);
    }
}

/* Every path the HTTP server answers. Built before the server starts, read-only after. */
static int build_routes(ch_router *rt)
{
    int rc;
    if ((rc = ch_server_routes(rt)) || (rc = ch_hook_routes_register(rt)) ||
        (rc = ch_calls_register(rt)) || (rc = ch_directory_register(rt)) ||
        (rc = ch_webhooks_api_register(rt)) || (rc = ch_pipeline_api_register(rt)) ||
        (rc = ch_session_routes(rt)) || (rc = ch_console_api_register(rt)) ||
        (rc = ch_static_register(rt)))
        return rc;
    return CH_OK;
}

int ch_daemon_start(const ch_config *cfg, ch_daemon **out)
{
    ch_daemon *d = ch_calloc(1, sizeof *d);
    d->cfg = cfg;
    d->lock_fd = -1;
    *out = NULL;
    int rc = CH_ERR;

    /* One daemon per database file: its writer assumes it is the only one merging events.
     * The CLI's commands may still run beside it (their one short transaction each). A
     * database on a server takes the coordination of several nodes into its own backend. */
    const char *file = ch_store_file(cfg->db);
    if (!ch_store_backend_name(cfg->db)) {
        startup_error("no store backend of this build takes this database URL", cfg->db);
        goto fail;
    }
    char *lockpath = file ? ch_asprintf("%s-serve.lock", file) : NULL;
    d->lock_fd = lockpath ? open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600) : -1;
    free(lockpath);
    if (file && (d->lock_fd < 0 || flock(d->lock_fd, LOCK_EX | LOCK_NB) != 0)) {
        startup_error(d->lock_fd < 0 ? "cannot create the database's lock file"
                                     : "another callhook serve uses this database",
                      cfg->db);
        goto fail;
    }
    ch_store_opts so;
    ch_config_store_opts(cfg, &so);
    if (ch_store_open(&d->store, &so)) {
        startup_error("cannot open the database", cfg->db);
        goto fail;
    }
    ch_dispatcher_opts dopts = {.allow_private = cfg->delivery_allow_private,
                                .retry_schedule = cfg->delivery_retry_schedule,
                                .concurrency = cfg->delivery_concurrency,
                                .threads = cfg->delivery_threads};
    if (ch_dispatcher_start(&d->disp, d->store, &dopts)) goto fail;
    char recdir[1024];
    ch_config_recordings_dir(cfg, recdir, sizeof recdir);
    ch_enrich_opts eopts = {.allow_private = cfg->enrich_allow_private,
                            .recordings_dir = recdir,
                            .retry_schedule = cfg->enrich_retry_schedule,
                            .threads = cfg->enrich_threads,
                            .cpu_threads = cfg->enrich_cpu_threads,
                            .timeout_ms = (int64_t)cfg->enrich_timeout * 1000,
                            .sweep_interval_ms = (int64_t)cfg->enrich_sweep_interval * 1000,
                            .idle_priority = cfg->enrich_idle_priority != 0,
                            .max_recording_bytes = cfg->enrich_max_recording_bytes};
    if (ch_enrich_start(&d->enrich, d->store, &eopts)) {
        startup_error("the enrichment workers could not start (enrich.* settings)", NULL);
        goto fail;
    }
    d->routes = ch_router_new();
    if ((rc = build_routes(d->routes)) != CH_OK) {
        startup_error("the route table could not be built (two routes for one path?)", NULL);
        goto fail;
    }
    rc = CH_ERR;
    if (ch_server_start(&d->srv, cfg, d->store, d->routes, &d->port)) goto fail;
    ch_server_set_dispatcher(d->srv, d->disp);
    ch_server_set_enrich(d->srv, d->enrich);
    if (cfg->ucm_tcp_listen[0]) {
        int uport = 0;
        if (ch_ucm_tcp_start(&d->ucm, cfg, d->store, &uport) != CH_OK) goto fail;
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
        ch_log_int(&l, "port", d->port);
        ch_log_str(&l, "db", cfg->db);
        if (cfg->public_url[0]) ch_log_str(&l, "public_url", cfg->public_url);
        ch_log_str(&l, "version", CH_VERSION);
        ch_log_end(&l);
    }
    *out = d;
    return CH_OK;
fail:
    ch_daemon_stop(d);
    return rc;
}

int ch_daemon_port(const ch_daemon *d)
{
    return d ? d->port : 0;
}

void ch_daemon_stop(ch_daemon *d)
{
    if (!d) return;
    /* what is not up yet is NULL: each stop takes NULL */
    if (d->ucm) ch_ucm_tcp_stop(d->ucm);
    if (d->srv) ch_server_stop(d->srv, d->store ? 25000 : 0);
    /* transfers in flight get a moment to finish; what does not is sent again after restart */
    if (d->disp) ch_dispatcher_stop(d->disp, 5000);
    /* a running stage finishes; what does not is pending and runs again after a restart */
    if (d->enrich) ch_enrich_stop(d->enrich, 5000);
    if (d->store) ch_store_close(d->store);
    ch_router_free(d->routes);              /* after the server: its threads read the table */
    if (d->lock_fd >= 0) close(d->lock_fd); /* releases the lock */
    free(d);
}
