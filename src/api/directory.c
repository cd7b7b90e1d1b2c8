/* GET/POST /v1/employees and /v1/leads: the tenant's directory through the API key
 * (docs/directory.md). POST adds, or updates the name/email of an existing entry. */
#include "api/routes.h"
#include "http/reply.h"
#include "http/request.h"
#include "http/router.h"
#include "util/mem.h"
#include "util/phone.h"
#include "util/result.h"

#include <stdlib.h>
#include <string.h>

static const char *member(json_t *o, const char *k, size_t max, bool *bad)
{
    json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) return NULL;
    if (!json_is_string(v) || json_string_length(v) < 1 || json_string_length(v) > max ||
        memchr(json_string_value(v), 0, json_string_length(v)))
        *bad = true;
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* A directory write in flight: the op points into body and e164. */
typedef struct {
    ch_op op;
    json_t *body;
    char e164[24];
    const char *which;
} dir_write;

static void dir_write_free(void *p)
{
    dir_write *w = p;
    json_decref(w->body);
    free(w);
}

/* 201 with the entry as the list shows it. */
static enum MHD_Result written(ch_request *r, void *ctx, int rc)
{
    dir_write *w = ctx;
    if (rc) return ch_reply_result(r, rc, NULL, NULL, "the directory could not be written");
    json_t *list, *found = NULL;
    int64_t id = w->op.id_out;
    if (ch_store_directory_list(r->srv->store, w->op.tenant_id, w->which, &list) == CH_OK) {
        size_t i;
        json_t *o;
        json_array_foreach(json_object_get(list, w->which), i, o)
        {
            if (json_integer_value(json_object_get(o, "id")) == id) found = json_incref(o);
        }
        json_decref(list);
    }
    return ch_reply_json(r, 201, found ? found : json_pack("{s:I}", "id", (json_int_t)id));
}

/* GET / POST /v1/employees, /v1/leads; a->data is the collection's name. */
static enum MHD_Result directory(ch_request *r, const ch_route_args *a)
{
    int64_t tid = a->tenant_id;
    const char *which = a->data;
    bool post = strcmp(a->method, "POST") == 0;
    bool emp = strcmp(which, "employees") == 0;
    if (!post) {
        json_t *list;
        if (ch_store_directory_list(r->srv->store, tid, which, &list) != CH_OK)
            return ch_reply_error(r, 503, "store_unavailable", NULL, "the store cannot be read");
        return ch_reply_json(r, 200, list);
    }
    json_error_t jerr;
    json_t *body = json_loadb(r->body.data ? r->body.data : "", r->body.len, 0, &jerr);
    if (!json_is_object(body)) {
        json_decref(body);
        return ch_reply_error(r, 400, "malformed_json", NULL, "the body must be a JSON object");
    }
    bool bad_key = false, bad_name = false, bad_email = false;
    const char *key = member(body, emp ? "extension" : "phone", emp ? 32 : 64, &bad_key);
    const char *name = member(body, "name", 256, &bad_name);
    const char *email = emp ? member(body, "email", 256, &bad_email) : NULL;
    if (!key || bad_key || bad_name || bad_email) {
        const char *f = !key || bad_key ? (emp ? "extension" : "phone")
                        : bad_name      ? "name"
                                        : "email";
        json_decref(body);
        return ch_reply_error(r, 422, "invalid_record", f,
                              "%s is required as a string of sensible length", f);
    }
    dir_write *w = ch_calloc(1, sizeof *w);
    w->body = body;
    w->which = which;
    w->op.tenant_id = tid;
    if (emp) {
        w->op.kind = CH_OP_EMPLOYEE_ADD;
        w->op.in.employee.extension = key;
        w->op.in.employee.name = name;
        w->op.in.employee.email = email;
    } else {
        ch_tenant t;
        if (ch_store_tenant_by_id(r->srv->store, tid, &t) != CH_OK) {
            dir_write_free(w);
            return ch_reply_error(r, 503, "store_unavailable", NULL, "the store cannot be read");
        }
        bool ok = ch_phone_e164(key, t.country, w->e164, sizeof w->e164);
        ch_tenant_clear(&t);
        if (!ok) {
            dir_write_free(w);
            return ch_reply_error(r, 422, "invalid_record", "phone", "phone is not a phone number");
        }
        w->op.kind = CH_OP_LEAD_ADD;
        w->op.in.lead.phone_e164 = w->e164;
        w->op.in.lead.phone_raw = key;
        w->op.in.lead.name = name;
    }
    return ch_request_write(r, &w->op, 1, written, w, dir_write_free);
}

int ch_directory_register(ch_router *rt)
{
    int rc;
    if ((rc = ch_router_add(rt, CH_M_GET | CH_M_POST, "/v1/employees", CH_RA_API_KEY,
                            CH_ROUTE_CALLS, directory, "employees")) ||
        (rc = ch_router_add(rt, CH_M_GET | CH_M_POST, "/v1/leads", CH_RA_API_KEY, CH_ROUTE_CALLS,
                            directory, "leads")))
        return rc;
    return CH_OK;
}
