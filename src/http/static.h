/* The dashboard (docs/dashboard.md, docs/internals/dashboard.md): the files of web/, built into
 * the binary by cmake/embed-web.cmake, served at / and /assets/{file}; every page route of the
 * single-page app (/calls/{id}, /webhooks, …) answers index.html so deep links load. Answers
 * carry a strong ETag (sha256 of the file), answer If-None-Match with 304, are revalidated on
 * every use (Cache-Control: no-cache; names are not hashed) and carry the dashboard's CSP. */
#ifndef CH_STATIC_H
#define CH_STATIC_H

#include <stdbool.h>
#include <stddef.h>

typedef struct ch_router ch_router;

/* One embedded file (the generated table). */
typedef struct {
    const char *path; /* relative to web/: "index.html", "assets/app.js" */
    const char *content_type;
    const char *etag; /* "\"<sha256 hex>\"", quotes included */
    const unsigned char *data;
    size_t size;
} ch_web_file;

extern const ch_web_file ch_web_files[];
extern const size_t ch_web_files_n;

/* The Content-Security-Policy of every dashboard answer: no inline script or style. */
#define CH_DASHBOARD_CSP                                                                           \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "              \
    "media-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "              \
    "form-action 'self'"

/* The embedded file at path (relative to web/), or NULL. */
const ch_web_file *ch_web_find(const char *path);
/* Whether an If-None-Match header value (a list of entity tags, or *) names etag. Compared
 * weakly, as RFC 9110 says for If-None-Match: W/"x" matches "x". */
bool ch_etag_match(const char *if_none_match, const char *etag);
/* Registers / , /assets/{file} and the app's page routes (CH_RA_NONE). */
int ch_static_register(ch_router *rt) __attribute__((warn_unused_result));

#endif
