/* JSON of the administrative reads (core/views.h): one place, whichever backend read them. */
#include "core/views.h"
#include "util/mem.h"
#include "util/timeutil.h"

#include <stdlib.h>
#include <string.h>

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *num_or_null(int64_t v)
{
    return v == CH_NUM_UNSET ? json_null() : json_integer(v);
}

/* to the second, as the endpoint and directory lists have always shown times */
static json_t *time_s(int64_t ms)
{
    if (ms == CH_TIME_UNSET) return json_null();
    char buf[40];
    ch_time_format(ms / 1000 * 1000, buf, sizeof buf);
    return json_string(buf);
}

/* with milliseconds, as the delivery log shows them */
static json_t *time_ms(int64_t ms)
{
    if (ms == CH_TIME_UNSET) return json_null();
    char buf[40];
    ch_time_format_ms(ms, buf, sizeof buf);
    return json_string(buf);
}

void ch_tenant_usage_free(ch_tenant_usage *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ch_tenant_clear(&v[i].tenant);
    free(v);
}

void ch_directory_entries_free(ch_directory_entry *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].extension);
        free(v[i].email);
        free(v[i].phone);
        free(v[i].phone_raw);
        free(v[i].source);
        free(v[i].name);
    }
    free(v);
}

void ch_endpoint_views_free(ch_endpoint_view *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].url);
        free(v[i].kind);
        free(v[i].events);
        free(v[i].disabled_reason);
        free(v[i].payload);
        json_decref(v[i].headers);
    }
    free(v);
}

void ch_delivery_view_clear(ch_delivery_view *d)
{
    free(d->message_id);
    free(d->type);
    free(d->call_id);
    free(d->state);
    free(d->last_error);
    free(d->payload);
    for (size_t i = 0; i < d->nlog; i++) {
        free(d->log[i].response);
        free(d->log[i].error);
        free(d->log[i].trigger);
    }
    free(d->log);
    memset(d, 0, sizeof *d);
}

void ch_delivery_views_free(ch_delivery_view *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ch_delivery_view_clear(&v[i]);
    free(v);
}

void ch_skip_views_free(ch_skip_view *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].reason);
        free(v[i].type);
        free(v[i].last_call_id);
    }
    free(v);
}

json_t *ch_tenant_usage_json(const ch_tenant_usage *v)
{
    const ch_tenant *t = &v->tenant;
    return json_pack("{s:I, s:s, s:s, s:s, s:s, s:I, s:b, s:s, s:{s:s, s:I, s:I, s:I, s:f}}", "id",
                     (json_int_t)t->id, "slug", t->slug, "name", t->name, "timezone", t->timezone,
                     "country", t->country, "monthly_limit", (json_int_t)t->monthly_limit,
                     "hard_limit", t->hard_limit, "features", t->features, "usage", "month",
                     v->month, "calls", (json_int_t)v->calls, "events", (json_int_t)v->events,
                     "over_limit_calls", (json_int_t)v->over_limit_calls, "transcribed_minutes",
                     (double)(v->transcribed_ms / 600) / 100.0);
}

json_t *ch_directory_entry_json(const ch_directory_entry *e, bool employee)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(e->id));
    if (employee) {
        json_object_set_new(o, "extension", str_or_null(e->extension));
        json_object_set_new(o, "name", str_or_null(e->name));
        json_object_set_new(o, "email", str_or_null(e->email));
    } else {
        json_object_set_new(o, "phone", str_or_null(e->phone));
        json_object_set_new(o, "phone_raw", str_or_null(e->phone_raw));
        json_object_set_new(o, "name", str_or_null(e->name));
        json_object_set_new(o, "source", str_or_null(e->source));
    }
    return o;
}

json_t *ch_endpoint_view_json(const ch_endpoint_view *e)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(e->id));
    json_object_set_new(o, "url", str_or_null(e->url));
    json_object_set_new(o, "kind", str_or_null(e->kind));
    json_object_set_new(o, "events", str_or_null(e->events));
    json_object_set_new(o, "payload", json_string(e->payload ? e->payload : "standard"));
    json_object_set_new(o, "enabled", json_boolean(e->enabled));
    json_object_set_new(o, "disabled_reason", str_or_null(e->disabled_reason));
    json_object_set_new(o, "headers", e->headers ? json_incref(e->headers) : json_object());
    json_object_set_new(o, "timeout_ms", json_integer(e->timeout_ms));
    json_object_set_new(o, "rate_limit_per_min", json_integer(e->rate_limit_per_min));
    json_object_set_new(o, "secret_rotating_until", time_s(e->secret_rotating_until));
    json_object_set_new(o, "created_at", time_s(e->created_at));
    json_object_set_new(o, "updated_at", time_s(e->updated_at));
    return o;
}

/* The receiver's body as text: bytes that are not UTF-8 (or NUL) become '?'. */
static json_t *response_text(const char *b, size_t n)
{
    if (!b) return json_null();
    json_t *s = json_stringn(b, n);
    if (s) return s;
    char *copy = ch_strndup(b, n);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)copy[i] >= 0x80 || copy[i] == 0) copy[i] = '?';
    s = json_stringn(copy, n);
    free(copy);
    return s;
}

json_t *ch_delivery_view_json(const ch_delivery_view *d, bool with_log)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(d->id));
    json_object_set_new(o, "endpoint_id", json_integer(d->endpoint_id));
    json_object_set_new(o, "message_id", str_or_null(d->message_id));
    json_object_set_new(o, "type", str_or_null(d->type));
    json_object_set_new(o, "call_id", str_or_null(d->call_id));
    json_object_set_new(o, "state", str_or_null(d->state));
    json_object_set_new(o, "attempts", json_integer(d->attempts));
    bool pending = d->state && strcmp(d->state, "pending") == 0;
    json_object_set_new(o, "next_attempt_at", pending ? time_ms(d->next_attempt_at) : json_null());
    json_object_set_new(o, "last_status", num_or_null(d->last_status));
    json_object_set_new(o, "last_error", str_or_null(d->last_error));
    json_object_set_new(o, "created_at", time_ms(d->created_at));
    json_object_set_new(o, "updated_at", time_ms(d->updated_at));
    json_object_set_new(o, "manual", json_boolean(d->manual));
    if (!with_log) return o;
    json_t *payload = d->payload ? json_loads(d->payload, 0, NULL) : NULL;
    json_object_set_new(o, "payload", payload ? payload : json_null());
    json_t *log = json_array();
    for (size_t i = 0; i < d->nlog; i++) {
        const ch_attempt_view *a = &d->log[i];
        json_t *j = json_object();
        json_object_set_new(j, "at", time_ms(a->at));
        json_object_set_new(j, "status", num_or_null(a->status));
        json_object_set_new(j, "latency_ms", json_integer(a->latency_ms));
        json_object_set_new(j, "response", response_text(a->response, a->response_len));
        json_object_set_new(j, "error", str_or_null(a->error));
        json_object_set_new(j, "trigger", str_or_null(a->trigger));
        json_array_append_new(log, j);
    }
    json_object_set_new(o, "attempt_log", log);
    return o;
}

json_t *ch_skip_view_json(const ch_skip_view *s)
{
    json_t *o = json_object();
    char *why = ch_asprintf("skipped: %s", s->reason ? s->reason : "");
    json_object_set_new(o, "decision", json_string(why));
    free(why);
    json_object_set_new(o, "reason", str_or_null(s->reason));
    json_object_set_new(o, "type", str_or_null(s->type));
    json_object_set_new(o, "count", json_integer(s->count));
    json_object_set_new(o, "last_at", time_ms(s->last_at));
    json_object_set_new(o, "last_call_id", str_or_null(s->last_call_id));
    return o;
}
