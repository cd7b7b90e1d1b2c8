/* The dashboard's embedded files and their serving rules (http/static.h): the generated table
 * holds web/ with content types and sha256 ETags, If-None-Match is compared weakly over a list,
 * and / plus the page routes find their handler beside the API's routes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "http/router.h"
#include "http/static.h"
#include "util/result.h"

static void files_embedded(void **state)
{
    (void)state;
    const ch_web_file *f = ch_web_find("index.html");
    assert_non_null(f);
    assert_string_equal(f->content_type, "text/html; charset=utf-8");
    assert_true(f->size > 100);
    assert_non_null(memmem(f->data, f->size, "/assets/app.js", 14));
    assert_int_equal(f->data[f->size], 0); /* the generator ends each file with a NUL */
    f = ch_web_find("assets/app.js");
    assert_non_null(f);
    assert_string_equal(f->content_type, "text/javascript; charset=utf-8");
    assert_string_equal(ch_web_find("assets/app.css")->content_type, "text/css; charset=utf-8");
    assert_null(ch_web_find("assets/nope.js"));
    assert_null(ch_web_find("../index.html"));
    assert_null(ch_web_find(""));
    /* every ETag is a quoted sha256, and two files do not share one */
    for (size_t i = 0; i < ch_web_files_n; i++) {
        const char *e = ch_web_files[i].etag;
        assert_int_equal(strlen(e), 66);
        assert_true(e[0] == '"' && e[65] == '"');
        assert_int_equal(strspn(e + 1, "0123456789abcdef"), 64);
        for (size_t k = 0; k < i; k++)
            assert_string_not_equal(ch_web_files[k].etag, e);
    }
    assert_true(ch_web_files_n >= 10);
}

static void etag_matching(void **state)
{
    (void)state;
    const char *e = "\"abc\"";
    assert_true(ch_etag_match("\"abc\"", e));
    assert_true(ch_etag_match("W/\"abc\"", e));
    assert_true(ch_etag_match("\"x\", \"abc\"", e));
    assert_true(ch_etag_match("\"x\",W/\"abc\"", e));
    assert_true(ch_etag_match("*", e));
    assert_false(ch_etag_match(NULL, e));
    assert_false(ch_etag_match("", e));
    assert_false(ch_etag_match("\"abcd\"", e));
    assert_false(ch_etag_match("\"ab\"", e));
    assert_false(ch_etag_match("abc", e));
    assert_false(ch_etag_match("\"abc", e));
    assert_false(ch_etag_match("\"x\" junk \"abc\"", e));
}

static enum MHD_Result h_api(ch_request *r, const ch_route_args *a)
{
    (void)r;
    (void)a;
    return MHD_YES;
}

static ch_route_match look(ch_router *rt, const char *method, const char *path)
{
    static char buf[256];
    ch_route_match m;
    ch_router_match(rt, method, path, false, buf, sizeof buf, &m);
    return m;
}

static void routes_beside_the_api(void **state)
{
    (void)state;
    ch_router *rt = ch_router_new();
    assert_int_equal(
        ch_router_add(rt, CH_M_GET, "/v1/calls/{id}", CH_RA_API_KEY, CH_ROUTE_CALL, h_api, NULL),
        CH_OK);
    assert_int_equal(
        ch_router_add(rt, CH_M_GET, "/healthz", CH_RA_NONE, CH_ROUTE_HEALTHZ, h_api, NULL), CH_OK);
    assert_int_equal(ch_static_register(rt), CH_OK);
    assert_int_equal(ch_static_register(rt), CH_EEXIST); /* registered once */
    static const char *const pages[] = {"/",         "/calls",       "/calls/c_1",
                                        "/webhooks", "/diagnostics", "/signin",
                                        "/usage",    "/pipeline",    "/sources"};
    ch_route_match idx = look(rt, "GET", "/");
    assert_int_equal(idx.status, 200);
    assert_int_equal(idx.auth, CH_RA_NONE);
    for (size_t i = 0; i < sizeof pages / sizeof *pages; i++) {
        ch_route_match m = look(rt, "GET", pages[i]);
        if (m.status != 200 || m.handler != idx.handler) fail_msg("GET %s", pages[i]);
    }
    ch_route_match a = look(rt, "GET", "/assets/app.js");
    assert_int_equal(a.status, 200);
    assert_string_equal(ch_route_param(&a.args, "file"), "app.js");
    assert_int_equal(look(rt, "POST", "/").status, 405);
    assert_int_equal(look(rt, "GET", "/assets/a/b").status, 404);
    assert_int_equal(look(rt, "GET", "/assets/..").status, 404);
    assert_int_equal(look(rt, "GET", "//").status, 404);
    /* the API keeps its routes */
    ch_route_match c = look(rt, "GET", "/v1/calls/c_1");
    assert_int_equal(c.auth, CH_RA_API_KEY);
    assert_int_equal(c.metric, CH_ROUTE_CALL);
    assert_int_equal(look(rt, "GET", "/healthz").metric, CH_ROUTE_HEALTHZ);
    ch_router_free(rt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(files_embedded),
        cmocka_unit_test(etag_matching),
        cmocka_unit_test(routes_beside_the_api),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
