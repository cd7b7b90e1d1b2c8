#include "providers/provider.h"
#include "util/mem.h"
#include "util/result.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

extern const ch_provider ch_provider_generic;
extern const ch_provider ch_provider_ucm;
extern const ch_provider ch_provider_asterisk;
extern const ch_provider ch_provider_twilio;
extern const ch_provider ch_provider_bolna;
extern const ch_provider ch_provider_retell;
extern const ch_provider ch_provider_vapi;
extern const ch_provider ch_provider_freeswitch;

static const ch_provider *const providers[] = {
    &ch_provider_generic, &ch_provider_ucm,    &ch_provider_asterisk, &ch_provider_twilio,
    &ch_provider_bolna,   &ch_provider_retell, &ch_provider_vapi,     &ch_provider_freeswitch,
};

json_t *ch_provider_load_json(const ch_raw_request *req, ch_parse_error *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(req->body, req->body_len, 0, &jerr);
    if (!root) {
        ch_parse_error_set(err, 400, "malformed_json", NULL, "malformed JSON: %s", jerr.text);
        err->line = jerr.line;
        err->column = jerr.column;
    }
    return root;
}

const char *ch_raw_header(const ch_raw_request *req, const char *name)
{
    return req && req->header ? req->header(req->header_ctx, name) : NULL;
}

const ch_provider *const *ch_providers(size_t *n)
{
    *n = sizeof providers / sizeof *providers;
    return providers;
}

const char *ch_provider_names(void)
{
    static char names[256];
    if (!names[0])
        for (size_t i = 0; i < sizeof providers / sizeof *providers; i++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "",
                     providers[i]->name);
    return names;
}

const ch_provider *ch_provider_find(const char *name)
{
    if (!name) return NULL;
    for (size_t i = 0; i < sizeof providers / sizeof *providers; i++)
        if (strcmp(providers[i]->name, name) == 0) return providers[i];
    return NULL;
}

const char *ch_json_text(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_string(v) && json_string_length(v) ? json_string_value(v) : NULL;
}

bool ch_media_type_is(const char *ct, const char *type)
{
    if (!ct) return false;
    size_t n = strcspn(ct, ";");
    while (n && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
        n--;
    return strlen(type) == n && strncasecmp(type, ct, n) == 0;
}

bool ch_provider_accepts(const ch_provider *p, const char *ct)
{
    for (const char *const *t = p->content_types; *t; t++)
        if (ch_media_type_is(ct, *t)) return true;
    return false;
}

static ch_record *next_record(ch_parsed *p)
{
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 4;
        p->records = ch_realloc(p->records, p->cap * sizeof *p->records);
    }
    ch_record *r = &p->records[p->n++];
    memset(r, 0, sizeof *r);
    return r;
}

void ch_parsed_add_event(ch_parsed *p, ch_event *e)
{
    next_record(p)->event = e;
}

void ch_parsed_add_error(ch_parsed *p, const char *field, const char *fmt, ...)
{
    ch_record *r = next_record(p);
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->error = ch_strdup(msg);
    r->field = field ? ch_strdup(field) : NULL;
}

void ch_parsed_clear(ch_parsed *p)
{
    for (size_t i = 0; i < p->n; i++) {
        ch_event_free(p->records[i].event);
        free(p->records[i].error);
        free(p->records[i].field);
    }
    free(p->records);
    memset(p, 0, sizeof *p);
}

void ch_parse_error_set(ch_parse_error *err, int status, const char *code, const char *field,
                        const char *fmt, ...)
{
    err->http_status = status;
    err->code = code;
    snprintf(err->field, sizeof err->field, "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
}
