/* A merged call or leg state as JSON (docs/http-api.md): the fields the read API serves and
 * the webhooks carry. Backend-neutral. */
#ifndef CH_CALLJSON_H
#define CH_CALLJSON_H

#include <jansson.h>
#include <stdbool.h>

#include "core/model.h"

/* leg: with the leg's id and without transcript and summary. */
json_t *ch_callstate_json(const ch_callstate *c, bool leg);

#endif
