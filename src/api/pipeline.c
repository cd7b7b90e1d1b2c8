/* The enrichment settings through the API key (docs/enrichment.md): GET/PUT /v1/pipeline (the
 * tenant's stages, engines, deadline, retention; PUT takes any subset and validates every
 * key) and /v1/dictionaries (cities and service categories with synonyms, which the fields
 * stage matches and the pocketsphinx engine listens for). */
#include "api/routes.h"
#include "core/pipeline.h"
#include "enrich/settings.h"
#include "http/reply.h"
#include "http/request.h"
#include "http/router.h"
#include "util/limits.h"
#include "util/mem.h"
#include "util/result.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The kinds of dictionary entries, as the API names them and as they are stored. */
static const char *dict_kind(const char *s)
{
    if (!s) return NULL;
    if (!strcmp(s, "city") || !strcmp(s, "cities")) return "city";
    if (!strcmp(s, "service") || !strcmp(s, "services") || !strcmp(s, "service_category"))
        return "service";
    return NULL;
}

static json_t *load_body(ch_request *r)
{
    json_error_t jerr;
    return json_loadb(r->body.data ? r->body.data : "", r->body.len, 0, &jerr);
}

/* ---- /v1/pipeline ------------------------------------------------------------------------ */

typedef struct {
    ch_op op;
    char *text;
    json_t *shown;
} pipeline_write;

static void pipeline_write_free(void *p)
{
    pipeline_write *w = p;
    free(w->text);
    json_decref(w->shown);
    free(w);
}

static enum MHD_Result pipeline_written(ch_request *r, void *ctx, int rc)
{
    pipeline_write *w = ctx;
    if (rc) return ch_reply_result(r, rc, NULL, NULL, "the pipeline settings could not be saved");
    return ch_reply_json(r, 200, json_incref(w->shown));
}

static enum MHD_Result pipeline(ch_request *r, const ch_route_args *a)
{
    char *text = NULL;
    int rc = ch_store_pipeline_text(r->srv->store, a->tenant_id, &text);
    if (rc) return ch_reply_result(r, rc, NULL, NULL, "the store cannot be read");
    if (!strcmp(a->method, "GET")) {
        json_t *o = ch_pipeline_settings_shown(text);
        free(text);
        return ch_reply_json(r, 200, o);
    }
    json_t *body = load_body(r);
    if (!json_is_object(body)) {
        json_decref(body);
        free(text);
        return ch_reply_error(r, 400, "malformed_json", NULL, "the body must be a JSON object");
    }
    pipeline_write *w = ch_calloc(1, sizeof *w);
    char err[200];
    rc = ch_pipeline_settings_update(text, body, &w->text, &w->shown, err, sizeof err);
    json_decref(body);
    free(text);
    if (rc) {
        pipeline_write_free(w);
        return ch_reply_error(r, 422, "invalid_setting", NULL, "%s", err);
    }
    w->op.kind = CH_OP_PIPELINE_SET;
    w->op.tenant_id = a->tenant_id;
    w->op.in.text = w->text;
    return ch_request_write(r, &w->op, 1, pipeline_written, w, pipeline_write_free);
}

/* ---- /v1/dictionaries ------------------------------------------------------------------- */

typedef struct {
    ch_op op;
    json_t *body;
    char *synonyms;
} dict_write;

static void dict_write_free(void *p)
{
    dict_write *w = p;
    json_decref(w->body);
    free(w->synonyms);
    free(w);
}

static enum MHD_Result dict_written(ch_request *r, void *ctx, int rc)
{
    dict_write *w = ctx;
    if (rc == CH_ELIMIT)
        return ch_reply_error(r, 422, "limit_reached", NULL,
                              "a tenant's dictionary holds at most %d entries",
                              CH_DICT_ENTRIES_MAX);
    if (rc == CH_ENOTFOUND)
        return ch_reply_error(r, 404, "not_found", NULL, "no such %s in the dictionary",
                              w->op.in.dict.kind);
    if (rc) return ch_reply_result(r, rc, NULL, NULL, "the dictionary could not be written");
    if (w->op.kind == CH_OP_DICT_REMOVE)
        return ch_reply_json(r, 200, json_pack("{s:b}", "removed", 1));
    json_t *syn = json_loads(w->synonyms, 0, NULL);
    return ch_reply_json(r, 201,
                         json_pack("{s:s, s:s, s:o}", "kind", w->op.in.dict.kind, "name",
                                   w->op.in.dict.name, "synonyms", syn ? syn : json_array()));
}

/* A name or synonym: a non-empty string of at most CH_DICT_NAME_MAX bytes. */
static bool good_name(json_t *v)
{
    return json_is_string(v) && json_string_length(v) >= 1 &&
           json_string_length(v) <= CH_DICT_NAME_MAX &&
           !memchr(json_string_value(v), 0, json_string_length(v));
}

/* GET /v1/dictionaries; POST {kind, name, synonyms}; DELETE /v1/dictionaries/{kind}/{name} */
static enum MHD_Result dictionaries(ch_request *r, const ch_route_args *a)
{
    if (!strcmp(a->method, "GET")) {
        ch_dict_view *v;
        size_t n;
        int rc = ch_store_dictionary(r->srv->store, a->tenant_id, &v, &n);
        if (rc) return ch_reply_result(r, rc, NULL, NULL, "the store cannot be read");
        json_t *o = ch_dict_views_json(v, n);
        ch_dict_views_free(v, n);
        return ch_reply_json(r, 200, o);
    }
    dict_write *w = ch_calloc(1, sizeof *w);
    w->op.tenant_id = a->tenant_id;
    if (!strcmp(a->method, "DELETE")) {
        const char *kind = dict_kind(ch_route_param(a, "kind"));
        const char *name = ch_route_param(a, "name");
        if (!kind) {
            dict_write_free(w);
            return ch_reply_error(r, 404, "not_found", "kind",
                                  "a dictionary kind is city or service");
        }
        w->body = json_pack("{s:s}", "name", name ? name : "");
        w->op.kind = CH_OP_DICT_REMOVE;
        w->op.in.dict.kind = kind;
        w->op.in.dict.name = json_string_value(json_object_get(w->body, "name"));
        return ch_request_write(r, &w->op, 1, dict_written, w, dict_write_free);
    }
    w->body = load_body(r);
    if (!json_is_object(w->body)) {
        dict_write_free(w);
        return ch_reply_error(r, 400, "malformed_json", NULL, "the body must be a JSON object");
    }
    const char *kind = dict_kind(json_string_value(json_object_get(w->body, "kind")));
    json_t *name = json_object_get(w->body, "name");
    json_t *syn = json_object_get(w->body, "synonyms");
    if (!kind) {
        dict_write_free(w);
        return ch_reply_error(r, 422, "invalid_record", "kind", "kind must be city or service");
    }
    if (!good_name(name)) {
        dict_write_free(w);
        return ch_reply_error(r, 422, "invalid_record", "name",
                              "name must be a string of 1 to %d bytes", CH_DICT_NAME_MAX);
    }
    json_t *list = json_array();
    if (syn && !json_is_null(syn)) {
        size_t i;
        json_t *s;
        if (!json_is_array(syn) || json_array_size(syn) > CH_DICT_SYNONYMS_MAX) {
            json_decref(list);
            dict_write_free(w);
            return ch_reply_error(r, 422, "invalid_record", "synonyms",
                                  "synonyms must be an array of at most %d names",
                                  CH_DICT_SYNONYMS_MAX);
        }
        json_array_foreach(syn, i, s)
        {
            if (!good_name(s)) {
                json_decref(list);
                dict_write_free(w);
                return ch_reply_error(r, 422, "invalid_record", "synonyms",
                                      "each synonym must be a string of 1 to %d bytes",
                                      CH_DICT_NAME_MAX);
            }
            json_array_append(list, s);
        }
    }
    w->synonyms = json_dumps(list, JSON_COMPACT);
    json_decref(list);
    w->op.kind = CH_OP_DICT_ADD;
    w->op.in.dict.kind = kind;
    w->op.in.dict.name = json_string_value(name);
    w->op.in.dict.synonyms = w->synonyms;
    return ch_request_write(r, &w->op, 1, dict_written, w, dict_write_free);
}

int ch_pipeline_api_register(ch_router *rt)
{
    int rc;
    if ((rc = ch_router_add(rt, CH_M_GET | CH_M_PUT, "/v1/pipeline", CH_RA_API_KEY, CH_ROUTE_CALLS,
                            pipeline, NULL)) ||
        (rc = ch_router_add(rt, CH_M_GET | CH_M_POST, "/v1/dictionaries", CH_RA_API_KEY,
                            CH_ROUTE_CALLS, dictionaries, NULL)) ||
        (rc = ch_router_add(rt, CH_M_DELETE, "/v1/dictionaries/{kind}/{name}", CH_RA_API_KEY,
                            CH_ROUTE_CALLS, dictionaries, NULL)))
        return rc;
    return CH_OK;
}
