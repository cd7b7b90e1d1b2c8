/* The route table (src/http/router.h, docs/internals/routing.md): patterns, the canonical path
 * rules, 404 / 405 with Allow, and the webhook routes built from the provider registry — every
 * provider's fixed URL reaches the hook handler with its provider, and no provider is named in
 * src/http/ (a new provider with a fixed URL touches no file there). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "api/routes.h"
#include "http/request.h"
#include "http/router.h"
#include "http/server.h"
#include "providers/provider.h"
#include "util/result.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum MHD_Result h_a(ch_request *r, const ch_route_args *a)
{
    (void)r, (void)a;
    return MHD_YES;
}
static enum MHD_Result h_b(ch_request *r, const ch_route_args *a)
{
    (void)r, (void)a;
    return MHD_NO;
}

static ch_router *full_table(void)
{
    ch_router *rt = ch_router_new();
    assert_int_equal(ch_server_routes(rt), CH_OK);
    assert_int_equal(ch_hook_routes_register(rt), CH_OK);
    assert_int_equal(ch_calls_register(rt), CH_OK);
    assert_int_equal(ch_directory_register(rt), CH_OK);
    assert_int_equal(ch_webhooks_api_register(rt), CH_OK);
    return rt;
}

static ch_route_match look(const ch_router *rt, const char *method, const char *path)
{
    static char keep[1024]; /* the parameters point into it until the next look */
    ch_route_match m;
    ch_router_match(rt, method, path, false, keep, sizeof keep, &m);
    return m;
}

static void patterns_params_and_specificity(void **state)
{
    (void)state;
    ch_router *rt = ch_router_new();
    assert_int_equal(
        ch_router_add(rt, CH_M_GET, "/v1/calls/{id}", CH_RA_NONE, CH_ROUTE_CALL, h_a, NULL), CH_OK);
    assert_int_equal(
        ch_router_add(rt, CH_M_GET, "/v1/calls/export", CH_RA_NONE, CH_ROUTE_EXPORT, h_b, NULL),
        CH_OK);
    ch_route_match m = look(rt, "GET", "/v1/calls/c_123");
    assert_int_equal(m.status, 200);
    assert_ptr_equal(m.handler, h_a);
    assert_string_equal(ch_route_param(&m.args, "id"), "c_123");
    assert_null(ch_route_param(&m.args, "tenant"));
    m = look(rt, "GET", "/v1/calls/export"); /* a literal beats a parameter */
    assert_ptr_equal(m.handler, h_b);
    assert_int_equal(m.metric, CH_ROUTE_EXPORT);
    m = look(rt, "HEAD", "/v1/calls/x"); /* GET answers HEAD */
    assert_int_equal(m.status, 200);
    m = look(rt, "POST", "/v1/calls/x");
    assert_int_equal(m.status, 405);
    assert_string_equal(m.allow, "GET");
    m = look(rt, "OPTIONS", "/v1/calls/x");
    assert_int_equal(m.status, 405);
    /* bad patterns and a second route for a method a shape already takes */
    assert_int_equal(
        ch_router_add(rt, CH_M_GET, "/v1/calls/{other}", CH_RA_NONE, CH_ROUTE_CALL, h_b, NULL),
        CH_EEXIST);
    assert_int_equal(
        ch_router_add(rt, CH_M_POST, "/v1/calls/{other}", CH_RA_NONE, CH_ROUTE_CALL, h_b, NULL),
        CH_OK);
    m = look(rt, "DELETE", "/v1/calls/x");
    assert_string_equal(m.allow, "GET, POST");
    static const char *const bad[] = {"",      "v1",    "/v1/",   "//v1", "/a/./b",
                                      "/a/{x", "/a/{}", "/a%2Fb", "/a?b", "/1/2/3/4/5/6/7"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (ch_router_add(rt, CH_M_GET, bad[i], CH_RA_NONE, CH_ROUTE_OTHER, h_a, NULL) != CH_EINVAL)
            fail_msg("pattern \"%s\" accepted", bad[i]);
    ch_router_free(rt);
}

static void canonical_paths_only(void **state)
{
    (void)state;
    ch_router *rt = full_table();
    static const char *const paths[] = {
        "/",
        "/v1/calls/",
        "//v1/calls",
        "/v1//calls",
        "/v1/./calls",
        "/v1/../v1/calls",
        "/v1/calls/a/b",
        "/hooks",
        "/hooks/acme/generic/extra",
        "/hooks/a%2Fb/generic",
        "/x%00",
        "/nope",
        "/api/onecom",
    };
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        ch_route_match m = look(rt, "GET", paths[i]);
        if (m.status != 404) fail_msg("GET %s: %d, want 404", paths[i], m.status);
        assert_int_equal(m.metric, CH_ROUTE_OTHER);
    }
    /* a decoded path with an escape: fine for the API, never for a webhook route */
    char buf[256];
    ch_route_match m;
    ch_router_match(rt, "GET", "/v1/calls/c_1", true, buf, sizeof buf, &m);
    assert_int_equal(m.status, 200);
    ch_router_match(rt, "POST", "/hooks/acme/generic", true, buf, sizeof buf, &m);
    assert_int_equal(m.status, 404);
    ch_router_match(rt, "PUT", "/hooks/acme/generic", true, buf, sizeof buf, &m);
    assert_int_equal(m.status, 404);
    /* what the server used to answer itself */
    m = look(rt, "POST", "/healthz");
    assert_int_equal(m.status, 405);
    assert_string_equal(m.allow, "GET");
    m = look(rt, "GET", "/metrics");
    assert_int_equal(m.status, 200);
    assert_int_equal(m.metric, CH_ROUTE_METRICS);
    m = look(rt, "PUT", "/v1/endpoints/7");
    assert_int_equal(m.status, 405);
    assert_string_equal(m.allow, "GET, PATCH, DELETE");
    m = look(rt, "GET", "/v1/endpoints/7");
    assert_int_equal(m.auth, CH_RA_API_KEY);
    m = look(rt, "GET", "/healthz");
    assert_int_equal(m.auth, CH_RA_NONE);
    ch_router_free(rt);
}

/* "/api/webhook/cdr/{tenant}" → "/api/webhook/cdr/acme" */
static void instantiate(const char *pattern, char *out, size_t outsz)
{
    out[0] = '\0';
    for (const char *p = pattern; *p;) {
        if (*p == '{') {
            snprintf(out + strlen(out), outsz - strlen(out), "acme");
            p = strchr(p, '}') + 1;
        } else {
            snprintf(out + strlen(out), outsz - strlen(out), "%c", *p++);
        }
    }
}

static void provider_fixed_urls_reach_the_hook_handler(void **state)
{
    (void)state;
    ch_router *rt = full_table();
    ch_route_match g = look(rt, "GET", "/hooks/acme/generic");
    ch_route_match p = look(rt, "POST", "/hooks/acme/generic");
    assert_int_equal(p.status, 200);
    assert_int_equal(p.auth, CH_RA_HOOK);
    assert_string_equal(ch_route_param(&p.args, "provider"), "generic");
    size_t n, fixed = 0;
    const ch_provider *const *all = ch_providers(&n);
    ch_route_handler fixed_post = NULL, fixed_get = NULL;
    for (size_t i = 0; i < n; i++) {
        for (const char *const *fp = all[i]->fixed_paths; fp && *fp; fp++, fixed++) {
            char path[256];
            instantiate(*fp, path, sizeof path);
            ch_route_match m = look(rt, "POST", path);
            if (m.status != 200 || m.args.data != all[i] || m.auth != CH_RA_HOOK ||
                m.metric != CH_ROUTE_HOOKS)
                fail_msg("POST %s (%s): status %d, not the provider's hook route", path,
                         all[i]->name, m.status);
            /* one hook handler for every fixed URL, another for GET (the setup page) */
            if (fixed_post && m.handler != fixed_post) fail_msg("%s: another POST handler", path);
            fixed_post = m.handler;
            assert_ptr_not_equal(m.handler, p.handler); /* not the /hooks/{t}/{p} adapter */
            const char *tenant = ch_route_param(&m.args, "tenant");
            if (strstr(*fp, "{tenant}"))
                assert_string_equal(tenant, "acme");
            else
                assert_null(tenant);
            m = look(rt, "GET", path);
            assert_int_equal(m.status, 200);
            assert_ptr_equal(m.args.data, all[i]);
            if (fixed_get && m.handler != fixed_get) fail_msg("%s: another GET handler", path);
            fixed_get = m.handler;
            assert_ptr_not_equal(fixed_get, fixed_post);
            m = look(rt, "DELETE", path);
            assert_int_equal(m.status, 405);
            assert_string_equal(m.allow, "GET, POST");
        }
    }
    assert_true(fixed >= 3); /* ucm, asterisk (OneCom), bolna */
    (void)g;
    ch_router_free(rt);
}

static int fake_parse(const ch_raw_request *req, ch_parsed *out, ch_parse_error *err)
{
    (void)req, (void)out, (void)err;
    return CH_OK;
}

/* A provider the registry does not know, as a test build would add one: its fixed URL is
 * routed to the hook handler with it, and two providers claiming one URL are refused. */
static void a_new_provider_needs_no_http_change(void **state)
{
    (void)state;
    static const char *const types[] = {"application/json", NULL};
    static const char *const fake_paths[] = {"/api/fakevoice/{tenant}/cdr", "/fakevoice", NULL};
    static const char *const twin_paths[] = {"/api/fakevoice/{t}/cdr", NULL};
    static const ch_provider fake = {
        .name = "fakevoice",
        .content_types = types,
        .parse = fake_parse,
        .fixed_paths = fake_paths,
    };
    static const ch_provider twin = {
        .name = "twin",
        .content_types = types,
        .parse = fake_parse,
        .fixed_paths = twin_paths,
    };
    const ch_provider *const one[] = {&fake};
    ch_router *rt = ch_router_new();
    assert_int_equal(ch_hook_routes_add(rt, one, 1), CH_OK);
    ch_route_match m = look(rt, "POST", "/api/fakevoice/acme/cdr");
    assert_int_equal(m.status, 200);
    assert_ptr_equal(m.args.data, &fake);
    assert_int_equal(m.auth, CH_RA_HOOK);
    assert_string_equal(ch_route_param(&m.args, "tenant"), "acme");
    m = look(rt, "GET", "/fakevoice");
    assert_int_equal(m.status, 200);
    assert_ptr_equal(m.args.data, &fake);
    assert_null(ch_route_param(&m.args, "tenant"));
    ch_router_free(rt);

    const ch_provider *const both[] = {&fake, &twin};
    rt = ch_router_new();
    assert_int_equal(ch_hook_routes_add(rt, both, 2), CH_EEXIST);
    ch_router_free(rt);
}

/* No provider's name as a string literal in src/http/: the routes come from the registry.
 * CH_HTTP_SRC may name another folder (to check this test against an older server.c). */
static void http_names_no_provider(void **state)
{
    (void)state;
    char dir[1024];
    const char *over = getenv("CH_HTTP_SRC");
    const char *fixtures = getenv("CH_FIXTURES");
    if (over)
        snprintf(dir, sizeof dir, "%s", over);
    else if (fixtures)
        snprintf(dir, sizeof dir, "%s/../../src/http", fixtures);
    else
        skip();
    DIR *d = opendir(dir);
    if (!d) fail_msg("cannot open %s", dir);
    size_t n, files = 0;
    const ch_provider *const *all = ch_providers(&n);
    struct dirent *de;
    char problem[2200] = "";
    while (!problem[0] && (de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len < 3 || (strcmp(de->d_name + len - 2, ".c") && strcmp(de->d_name + len - 2, ".h")))
            continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        FILE *f = fopen(path, "r");
        if (!f) {
            snprintf(problem, sizeof problem, "cannot read %s", path);
            break;
        }
        static char text[1 << 20];
        size_t got = fread(text, 1, sizeof text - 1, f);
        text[got] = '\0';
        fclose(f);
        files++;
        for (size_t i = 0; i < n; i++) {
            char lit[64];
            snprintf(lit, sizeof lit, "\"%s\"", all[i]->name);
            if (strstr(text, lit) && !problem[0])
                snprintf(problem, sizeof problem,
                         "%s names the provider %s: register its URL in its descriptor "
                         "(fixed_paths) instead",
                         path, lit);
        }
    }
    closedir(d);
    if (problem[0]) fail_msg("%s", problem);
    assert_true(files > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(patterns_params_and_specificity),
        cmocka_unit_test(canonical_paths_only),
        cmocka_unit_test(provider_fixed_urls_reach_the_hook_handler),
        cmocka_unit_test(a_new_provider_needs_no_http_change),
        cmocka_unit_test(http_names_no_provider),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
