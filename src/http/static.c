#include "http/static.h"
#include "http/reply.h"
#include "http/request.h"
#include "http/router.h"
#include "util/result.h"

#include <string.h>

const ch_web_file *ch_web_find(const char *path)
{
    for (size_t i = 0; i < ch_web_files_n; i++)
        if (strcmp(ch_web_files[i].path, path) == 0) return &ch_web_files[i];
    return NULL;
}

bool ch_etag_match(const char *inm, const char *etag)
{
    if (!inm || !etag) return false;
    size_t elen = strlen(etag);
    const char *p = inm;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p) return false;
        if (*p == '*') return true;
        if (p[0] == 'W' && p[1] == '/') p += 2;
        if (*p != '"') return false; /* not a list of entity tags: nothing matches */
        const char *end = strchr(p + 1, '"');
        if (!end) return false;
        size_t len = (size_t)(end - p) + 1;
        if (len == elen && memcmp(p, etag, elen) == 0) return true;
        p = end + 1;
    }
}

static enum MHD_Result serve(ch_request *r, const ch_web_file *f)
{
    bool fresh = ch_etag_match(ch_header(r, "If-None-Match"), f->etag);
    struct MHD_Response *resp =
        fresh ? MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT)
              : MHD_create_response_from_buffer(f->size, (void *)f->data, MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    if (!fresh) MHD_add_response_header(resp, "Content-Type", f->content_type);
    MHD_add_response_header(resp, "ETag", f->etag);
    /* names carry no hash, so every use revalidates: a 304 costs one small round trip */
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "Content-Security-Policy", CH_DASHBOARD_CSP);
    return ch_reply_queue(r, fresh ? 304 : 200, resp);
}

static enum MHD_Result handle_index(ch_request *r, const ch_route_args *a)
{
    const ch_web_file *f = ch_web_find("index.html");
    if (!f) return ch_reply_error(r, 404, "not_found", NULL, "this build has no dashboard");
    return serve(r, f);
}

static enum MHD_Result handle_asset(ch_request *r, const ch_route_args *a)
{
    /* {file} is one canonical segment (the router refuses "..", "/" and escaped slashes) */
    char path[128];
    const char *name = ch_route_param(a, "file");
    const ch_web_file *f = NULL;
    if (name && strlen(name) < sizeof path - 8) {
        memcpy(path, "assets/", 7);
        strcpy(path + 7, name);
        f = ch_web_find(path);
    }
    if (!f) return ch_reply_error(r, 404, "not_found", NULL, "no such asset");
    return serve(r, f);
}

int ch_static_register(ch_router *rt)
{
    /* the app's page routes: each loads index.html, whose script draws the page */
    static const char *const pages[] = {"/",         "/calls",    "/calls/{id}",
                                        "/webhooks", "/sources",  "/diagnostics",
                                        "/usage",    "/pipeline", "/signin"};
    int rc;
    for (size_t i = 0; i < sizeof pages / sizeof *pages; i++)
        if ((rc = ch_router_add(rt, CH_M_GET, pages[i], CH_RA_NONE, CH_ROUTE_OTHER, handle_index,
                                NULL)))
            return rc;
    return ch_router_add(rt, CH_M_GET, "/assets/{file}", CH_RA_NONE, CH_ROUTE_OTHER, handle_asset,
                         NULL);
}
