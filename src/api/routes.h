/* The API's routes, registered by the composition root (app/daemon.c) into the route table
 * (http/router.h): http/ never calls into api/. */
#ifndef CH_API_ROUTES_H
#define CH_API_ROUTES_H

typedef struct ch_router ch_router;

/* GET /v1/calls, /v1/calls/export (streamed), /v1/calls/{id} (api/calls.c). */
int ch_calls_register(ch_router *rt) __attribute__((warn_unused_result));
/* GET / POST /v1/employees, /v1/leads (api/directory.c). */
int ch_directory_register(ch_router *rt) __attribute__((warn_unused_result));
/* /v1/endpoints…, /v1/deliveries…, /v1/webhooks/… (api/webhooks.c). */
int ch_webhooks_api_register(ch_router *rt) __attribute__((warn_unused_result));

/* GET /v1/diagnostics, /v1/sources, /v1/usage; POST /v1/sources/{id}/rotate; GET
 * /v1/sources/{id}/secret (api/console.c). */
int ch_console_api_register(ch_router *rt) __attribute__((warn_unused_result));

/* GET/PUT /v1/pipeline, /v1/dictionaries (api/pipeline.c). */
int ch_pipeline_api_register(ch_router *rt) __attribute__((warn_unused_result));

#endif
