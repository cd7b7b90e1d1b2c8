/* GET on a webhook URL: the page a PBX administrator opens to check the integration — the URL
 * to paste, method, content type, how to authenticate, an example curl and the fields read.
 * With the source's credentials (a browser's Basic prompt, a token) it also tells when this
 * tenant last received a call here. It never shows a secret, and an unknown tenant or provider
 * is the same 404 as for POST. */
#include "http/reply.h"
#include "http/request.h"
#include "http/router.h"
#include "util/buf.h"
#include "util/limits.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/result.h"
#include "util/timeutil.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>

static int html_escape(ch_buf *b, const char *s)
{
    int rc = CH_OK;
    for (; s && *s && !rc; s++) {
        switch (*s) {
        case '<':
            rc = ch_buf_puts(b, "&lt;");
            break;
        case '>':
            rc = ch_buf_puts(b, "&gt;");
            break;
        case '&':
            rc = ch_buf_puts(b, "&amp;");
            break;
        case '"':
            rc = ch_buf_puts(b, "&quot;");
            break;
        default:
            rc = ch_buf_append(b, s, 1);
        }
    }
    return rc;
}

static enum MHD_Result reply_html(ch_request *r, json_t *info)
{
    ch_buf b;
    ch_buf_init(&b, CH_SETUP_PAGE_MAX);
    int rc = ch_buf_puts(
        &b, "<!doctype html><html><head><meta charset=\"utf-8\"><title>callhook webhook "
            "setup</title><style>body{font:15px/1.5 system-ui,sans-serif;max-width:56em;"
            "margin:2em auto;padding:0 1em}th{text-align:left;padding-right:1em;"
            "vertical-align:top}pre{background:#f4f4f4;padding:1em;overflow:auto}</style>"
            "</head><body><h1>Webhook setup</h1><table>");
    static const char *const rows[][2] = {{"provider", "Provider"},
                                          {"title", "Sender"},
                                          {"url", "URL"},
                                          {"method", "Method"},
                                          {"content_type", "Content type"},
                                          {"authentication", "Authentication"},
                                          {"fields", "Fields read"},
                                          {"last_received_at", "Last call received"}};
    for (size_t i = 0; i < sizeof rows / sizeof *rows && !rc; i++) {
        json_t *v = json_object_get(info, rows[i][0]);
        rc = ch_buf_puts(&b, "<tr><th>");
        if (!rc) rc = html_escape(&b, rows[i][1]);
        if (!rc) rc = ch_buf_puts(&b, "</th><td>");
        if (!rc)
            rc = html_escape(&b, json_is_string(v) ? json_string_value(v)
                                 : json_is_null(v) ? "never (or sign in to see)"
                                                   : "");
        if (!rc) rc = ch_buf_puts(&b, "</td></tr>");
    }
    if (!rc) rc = ch_buf_puts(&b, "</table><h2>Try it</h2><pre>");
    if (!rc) rc = html_escape(&b, json_string_value(json_object_get(info, "example")));
    if (!rc) rc = ch_buf_puts(&b, "</pre></body></html>");
    if (rc) {
        /* the page holds the request's URL (under 2 KiB, escaped at most 6 times) and fixed
         * provider text, far below the ceiling: a cut page would be a broken one, so refuse */
        ch_buf_free(&b);
        json_decref(info);
        return ch_reply_error(r, 500, "page_too_large", NULL, "the setup page is over %zu bytes",
                              b.max);
    }
    size_t n;
    char *text = ch_buf_steal(&b, &n);
    json_decref(info);
    struct MHD_Response *resp = MHD_create_response_from_buffer(n, text, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, "Content-Type", "text/html; charset=utf-8");
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'none'; style-src 'unsafe-inline'");
    return ch_reply_queue(r, 200, resp);
}

enum MHD_Result ch_handle_hook_setup(ch_request *r, const char *tenant_slug,
                                     const char *provider_name)
{
    ch_server *srv = r->srv;
    const ch_provider *p = ch_provider_find(provider_name);
    ch_tenant_clear(&r->tenant); /* the handler runs again after a password verification */
    ch_credential *creds = NULL;
    size_t ncreds = 0;
    bool cached = false;
    int rc = CH_ENOTFOUND;
    if (p && tenant_slug)
        rc = ch_sources_get(srv->sources, tenant_slug, provider_name, false, &r->tenant, &creds,
                            &ncreds, &cached);
    else if (p)
        rc = CH_OK; /* a fixed URL: the tenant is found from the credential of each POST */
    if (rc != CH_OK)
        return ch_reply_error(r, rc == CH_ESTORE ? 503 : 404,
                              rc == CH_ESTORE ? "store_unavailable" : "not_found", NULL,
                              "no webhook source for this tenant and provider");

    char url[2048];
    ch_request_url(r, url, sizeof url);
    url[strcspn(url, "?")] = '\0';
    const char *ct = p->content_types[0];
    json_t *info =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "provider", p->name, "title",
                  p->title ? p->title : p->name, "url", url, "method", "POST", "content_type", ct,
                  "authentication", p->auth ? p->auth : "", "fields", p->fields ? p->fields : "");
    char *example =
        ch_asprintf("curl -X POST '%s' -H 'Content-Type: %s' %s --data-binary @cdr.%s", url, ct,
                    p->verify ? "-H '<the provider signs the request>'" : "-u USERNAME:PASSWORD",
                    strstr(ct, "json") ? "json" : "txt");
    json_object_set_new(info, "example", json_string(example));
    free(example);

    /* the last call is the tenant's business: only for a request that authenticates */
    if (tenant_slug) {
        ch_auth_input ain = {.authorization = ch_header(r, "Authorization"),
                             .api_key = ch_header(r, "X-Api-Key") ? ch_header(r, "X-Api-Key")
                                                                  : ch_query(r, "token"),
                             .peer = ch_client(r),
                             .verify = &r->verify};
        size_t matched;
        bool authed = false;
        if (ain.authorization || ain.api_key) {
            /* the same checks, throttling and verification threads as a POST */
            char scope[512];
            ch_hook_scope(r, tenant_slug, provider_name, scope, sizeof scope);
            int arc = ch_auth_webhook(srv->auth, creds, ncreds, &ain, &matched);
            if (arc == CH_EAGAIN) {
                ch_credentials_free(creds, ncreds);
                json_decref(info);
                return ch_verify_later(r, scope);
            }
            ch_verify_clear(&r->verify);
            authed = arc == CH_OK;
            if (!authed) {
                ch_auth_failed(srv->auth, ch_client(r), scope);
                ch_metrics_auth_failure();
            }
        }
        json_object_set_new(info, "authenticated", json_boolean(authed));
        if (authed) {
            int64_t last;
            if (ch_store_last_received(srv->store, r->tenant.id, p->name, &last) == CH_OK &&
                last != CH_TIME_UNSET) {
                char ts[40];
                ch_time_format(last, ts, sizeof ts);
                json_object_set_new(info, "last_received_at", json_string(ts));
            } else {
                json_object_set_new(info, "last_received_at", json_null());
            }
        }
    }
    ch_credentials_free(creds, ncreds);
    const char *accept = ch_header(r, "Accept");
    if (accept && strstr(accept, "text/html")) return reply_html(r, info);
    return ch_reply_json(r, 200, info);
}

/* ---- the webhook routes ------------------------------------------------------------- */

static enum MHD_Result hook_setup(ch_request *r, const ch_route_args *a)
{
    return ch_handle_hook_setup(r, ch_route_param(a, "tenant"), ch_route_param(a, "provider"));
}

static enum MHD_Result hook_post(ch_request *r, const ch_route_args *a)
{
    return ch_handle_hook(r, ch_route_param(a, "tenant"), ch_route_param(a, "provider"));
}

/* A provider's fixed URL: the provider is the route's; the tenant is in the path or, without
 * {tenant}, the owner of the credential presented. */
static enum MHD_Result fixed_setup(ch_request *r, const ch_route_args *a)
{
    const ch_provider *p = a->data;
    return ch_handle_hook_setup(r, ch_route_param(a, "tenant"), p->name);
}

static enum MHD_Result fixed_post(ch_request *r, const ch_route_args *a)
{
    const ch_provider *p = a->data;
    return ch_handle_hook(r, ch_route_param(a, "tenant"), p->name);
}

int ch_hook_routes_register(ch_router *rt)
{
    size_t n;
    const ch_provider *const *all = ch_providers(&n);
    return ch_hook_routes_add(rt, all, n);
}

int ch_hook_routes_add(ch_router *rt, const ch_provider *const *all, size_t n)
{
    int rc;
    if ((rc = ch_router_add(rt, CH_M_GET, "/hooks/{tenant}/{provider}", CH_RA_HOOK, CH_ROUTE_HOOKS,
                            hook_setup, NULL)) ||
        (rc = ch_router_add(rt, CH_M_POST, "/hooks/{tenant}/{provider}", CH_RA_HOOK, CH_ROUTE_HOOKS,
                            hook_post, NULL)))
        return rc;
    for (size_t i = 0; i < n; i++) {
        for (const char *const *fp = all[i]->fixed_paths; fp && *fp; fp++) {
            if ((rc = ch_router_add(rt, CH_M_GET, *fp, CH_RA_HOOK, CH_ROUTE_HOOKS, fixed_setup,
                                    all[i])) ||
                (rc = ch_router_add(rt, CH_M_POST, *fp, CH_RA_HOOK, CH_ROUTE_HOOKS, fixed_post,
                                    all[i]))) {
                ch_logline l;
                if (ch_log_begin(&l, CH_LOG_ERROR, "route_refused", NULL)) {
                    ch_log_str(&l, "provider", all[i]->name);
                    ch_log_str(&l, "path", *fp);
                    ch_log_str(&l, "reason", rc == CH_EEXIST ? "taken" : "not a path pattern");
                    ch_log_end(&l);
                }
                return rc;
            }
        }
    }
    return CH_OK;
}
