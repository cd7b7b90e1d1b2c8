/* The route table (docs/internals/routing.md): handlers register a method set, a path pattern
 * with {param} segments, an authentication kind and a metrics label; the server only splits
 * the path into its canonical segments and dispatches. The table is built once by the
 * composition root (app/daemon.c) before the server starts and is read-only afterwards, so the
 * MHD threads share it without a lock. */
#ifndef CH_ROUTER_H
#define CH_ROUTER_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>

#include "http/metrics.h"
#include "util/limits.h"

typedef struct ch_request ch_request;
typedef struct ch_router ch_router;

/* Methods a route takes. GET also answers HEAD (libmicrohttpd drops the body). */
enum {
    CH_M_GET = 1u << 0,
    CH_M_POST = 1u << 1,
    CH_M_PUT = 1u << 2,
    CH_M_PATCH = 1u << 3,
    CH_M_DELETE = 1u << 4,
};

typedef enum {
    CH_RA_NONE,    /* public */
    CH_RA_API_KEY, /* the router checks the API key (Bearer) or the dashboard session cookie
                    * and hands over the tenant id (and the user and role); for a cookie it
                    * also enforces CSRF and the viewer's read-only role */
    CH_RA_HOOK,    /* the handler authenticates the sender itself (source credentials,
                    * provider signatures); the path takes no %-escape at all */
} ch_route_auth;

/* Who a CH_RA_API_KEY request acts as: an API key (the tenant's, full access) or a dashboard
 * user signed in with the session cookie. */
typedef enum { CH_ROLE_APIKEY = 0, CH_ROLE_ADMIN, CH_ROLE_VIEWER } ch_role;

/* What a handler receives besides the request. */
typedef struct {
    const char *name[CH_ROUTE_MAX_PARAMS]; /* the pattern's {param} names, in order */
    const char *value[CH_ROUTE_MAX_PARAMS];
    int n;
    int64_t tenant_id; /* CH_RA_API_KEY: the key's or the signed-in user's tenant */
    int64_t user_id;   /* CH_RA_API_KEY: the signed-in user, 0 for an API key */
    ch_role role;      /* CH_RA_API_KEY: CH_ROLE_APIKEY for an API key, else the user's role */
    const void *data;  /* what the route registered (e.g. its provider) */
    const char *method;
} ch_route_args;

typedef enum MHD_Result (*ch_route_handler)(ch_request *r, const ch_route_args *a);

/* The value of {name}, or NULL. */
const char *ch_route_param(const ch_route_args *a, const char *name);

ch_router *ch_router_new(void);
void ch_router_free(ch_router *rt);
/* Adds a route. pattern: "/seg/{param}/…" (canonical: no empty segment, no trailing slash, at
 * most CH_ROUTE_MAX_SEGS segments and CH_ROUTE_MAX_PARAMS params). CH_EINVAL for a bad
 * pattern or an empty method set, CH_EEXIST when a route with the same pattern shape already
 * takes one of these methods (two providers claiming one URL fail the start, not a request). */
int ch_router_add(ch_router *rt, unsigned methods, const char *pattern, ch_route_auth auth,
                  ch_route metric, ch_route_handler handler, const void *data)
    __attribute__((warn_unused_result));

/* The lookup, without a request (the server, tests). */
typedef struct {
    int status;     /* 200 found, 404 no such path, 405 path known but not that method */
    char allow[64]; /* 405: the methods the path takes ("GET, POST") */
    ch_route metric;
    ch_route_auth auth;
    ch_route_handler handler;
    ch_route_args args;
} ch_route_match;
/* Splits path (a canonical request path, no query) and looks it up. seg_buf holds the
 * parameter values the match points into; escaped: the path was %-decoded (CH_RA_HOOK routes
 * refuse it). */
void ch_router_match(const ch_router *rt, const char *method, const char *path, bool escaped,
                     char *seg_buf, size_t seg_bufsz, ch_route_match *m);

/* Answers r: splits raw_uri (or url, MHD's decoded path) by the canonical path rules, finds
 * the route, answers 404 / 405, authenticates CH_RA_API_KEY routes, runs the handler. */
enum MHD_Result ch_router_dispatch(const ch_router *rt, ch_request *r, const char *method,
                                   const char *url);

#endif
