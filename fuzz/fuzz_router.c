/* The route table (http/router.h) with every route the daemon registers, given the input as a
 * request path (first byte: the method). Checks: a found route's parameters are non-empty
 * segments of the path with no '/', and only canonical paths are routed (no empty, "." or ".."
 * segment, no trailing slash, no escaped '/', '\', '?', '#' or control character). */
#include "api/routes.h"
#include "http/request.h"
#include "http/router.h"
#include "http/server.h"

#include <stdlib.h>
#include <string.h>

static ch_router *table(void)
{
    static ch_router *rt;
    if (!rt) {
        rt = ch_router_new();
        if (ch_server_routes(rt) || ch_hook_routes_register(rt) || ch_calls_register(rt) ||
            ch_directory_register(rt) || ch_webhooks_api_register(rt))
            abort();
    }
    return rt;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    static const char *const methods[] = {"GET",   "HEAD",   "POST",   "PUT",
                                          "PATCH", "DELETE", "OPTIONS"};
    if (size < 1 || size > 1100) return 0;
    const char *method = methods[data[0] % (sizeof methods / sizeof *methods)];
    char path[1100], buf[1024];
    memcpy(path, data + 1, size - 1);
    path[size - 1] = '\0';
    ch_route_match m;
    ch_router_match(table(), method, path, false, buf, sizeof buf, &m);
    if (m.status != 200 && m.status != 404 && m.status != 405) abort();
    if (m.status == 404) return 0;
    size_t n = strcspn(path, "?#");
    path[n] = '\0'; /* the rules are about the path; the query is anything */
    if (path[0] != '/' || strstr(path, "//") || strstr(path, "/./") || strstr(path, "/../"))
        abort();
    if (n > 1 && path[n - 1] == '/') abort();
    if (m.status == 405 && !m.allow[0]) abort();
    for (int i = 0; m.status == 200 && i < m.args.n; i++)
        if (!m.args.value[i][0] || strchr(m.args.value[i], '/') || !m.args.name[i][0]) abort();
    return 0;
}
