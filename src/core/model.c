#include "core/model.h"
#include "util/mem.h"
#include "util/phone.h"
#include "util/result.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *dir_names[] = {"unknown", "inbound", "outbound", "internal"};
static const char *status_names[] = {NULL, "queued", "ringing", "in_progress", "ended"};
static const char *disp_names[] = {NULL, "canceled", "failed", "no_answer", "busy", "answered"};

const char *ch_direction_str(ch_direction d)
{
    return (unsigned)d < 4 ? dir_names[d] : "unknown";
}

const char *ch_status_str(ch_status s)
{
    return (unsigned)s < 5 ? status_names[s] : NULL;
}

const char *ch_disposition_str(ch_disposition d)
{
    return (unsigned)d < 6 ? disp_names[d] : NULL;
}

static int lookup(const char *const *names, int n, const char *s)
{
    if (!s) return -1;
    for (int i = 0; i < n; i++)
        if (names[i] && strcmp(names[i], s) == 0) return i;
    return -1;
}

int ch_direction_parse(const char *s)
{
    return lookup(dir_names, 4, s);
}

int ch_status_parse(const char *s)
{
    return lookup(status_names, 5, s);
}

int ch_disposition_parse(const char *s)
{
    return lookup(disp_names, 6, s);
}

ch_event *ch_event_new(void)
{
    ch_event *e = ch_calloc(1, sizeof *e);
    e->seq = CH_NUM_UNSET;
    e->ts = CH_TIME_UNSET;
    e->started_at = e->answered_at = e->ended_at = CH_TIME_UNSET;
    e->duration_sec = e->billsec = e->cost_micros = CH_NUM_UNSET;
    return e;
}

void ch_event_free(ch_event *e)
{
    if (!e) return;
    char **strs[] = {&e->provider,      &e->external_id,   &e->idem_key,     &e->kind,
                     &e->leg_id,        &e->from_raw,      &e->to_raw,       &e->caller_name,
                     &e->extension,     &e->recording_url, &e->transcript,   &e->summary,
                     &e->cost_currency, &e->raw,           &e->content_type, &e->norm,
                     &e->from_e164,     &e->to_e164,       &e->meta_dropped, &e->meta_as};
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++)
        free(*strs[i]);
    json_decref(e->metadata);
    free(e);
}

void ch_callstate_init(ch_callstate *c)
{
    memset(c, 0, sizeof *c);
    c->started_at = c->answered_at = c->ended_at = CH_TIME_UNSET;
    c->duration_sec = c->billsec = c->cost_micros = CH_NUM_UNSET;
}

void ch_callstate_clear(ch_callstate *c)
{
    char **strs[] = {&c->id,         &c->from,        &c->to,           &c->from_raw,
                     &c->to_raw,     &c->caller_name, &c->extension,    &c->recording_url,
                     &c->transcript, &c->summary,     &c->cost_currency};
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++)
        free(*strs[i]);
    json_decref(c->metadata);
    ch_callstate_init(c);
}

void ch_tenant_clear(ch_tenant *t)
{
    free(t->slug);
    free(t->name);
    free(t->timezone);
    free(t->country);
    free(t->features);
    memset(t, 0, sizeof *t);
}

/* ---- event <-> JSON ------------------------------------------------------------------- */

static void set_str(json_t *o, const char *k, const char *v)
{
    if (v) json_object_set_new(o, k, json_string(v));
}

static void set_int(json_t *o, const char *k, int64_t v)
{
    if (v != CH_NUM_UNSET) json_object_set_new(o, k, json_integer(v));
}

json_t *ch_event_to_json(const ch_event *e)
{
    json_t *o = json_object();
    set_str(o, "provider", e->provider);
    set_str(o, "external_id", e->external_id);
    set_str(o, "idem_key", e->idem_key);
    set_str(o, "kind", e->kind);
    set_str(o, "leg_id", e->leg_id);
    set_int(o, "seq", e->seq);
    set_int(o, "ts", e->ts);
    if (e->direction != CH_DIR_UNKNOWN) set_str(o, "direction", ch_direction_str(e->direction));
    set_str(o, "status", ch_status_str(e->status));
    set_str(o, "disposition", ch_disposition_str(e->disposition));
    set_str(o, "from", e->from_raw);
    set_str(o, "to", e->to_raw);
    set_str(o, "from_e164", e->from_e164);
    set_str(o, "to_e164", e->to_e164);
    set_str(o, "caller_name", e->caller_name);
    set_str(o, "extension", e->extension);
    set_int(o, "started_at", e->started_at);
    set_int(o, "answered_at", e->answered_at);
    set_int(o, "ended_at", e->ended_at);
    set_int(o, "duration_sec", e->duration_sec);
    set_int(o, "billsec", e->billsec);
    set_str(o, "recording_url", e->recording_url);
    set_str(o, "transcript", e->transcript);
    set_str(o, "summary", e->summary);
    set_int(o, "cost_micros", e->cost_micros);
    set_str(o, "cost_currency", e->cost_currency);
    if (e->meta_as) {
        set_str(o, "metadata_as", e->meta_as);
    } else if (e->metadata && json_object_size(e->metadata)) {
        json_object_set(o, "metadata", e->metadata);
        /* read back by every later merge of the call, to add up what its events keep */
        if (e->meta_bytes) set_int(o, "metadata_bytes", (int64_t)e->meta_bytes);
    }
    set_str(o, "metadata_dropped", e->meta_dropped);
    return o;
}

static char *get_str(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_string(v) ? ch_strdup(json_string_value(v)) : NULL;
}

static int64_t get_int(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : CH_NUM_UNSET;
}

ch_event *ch_event_from_json(const json_t *o)
{
    if (!json_is_object(o)) return NULL;
    ch_event *e = ch_event_new();
    e->provider = get_str(o, "provider");
    e->external_id = get_str(o, "external_id");
    e->idem_key = get_str(o, "idem_key");
    e->kind = get_str(o, "kind");
    e->leg_id = get_str(o, "leg_id");
    e->seq = get_int(o, "seq");
    e->ts = get_int(o, "ts");
    int d = ch_direction_parse(json_string_value(json_object_get(o, "direction")));
    e->direction = d < 0 ? CH_DIR_UNKNOWN : (ch_direction)d;
    int s = ch_status_parse(json_string_value(json_object_get(o, "status")));
    e->status = s < 0 ? CH_STATUS_NONE : (ch_status)s;
    int p = ch_disposition_parse(json_string_value(json_object_get(o, "disposition")));
    e->disposition = p < 0 ? CH_DISP_NONE : (ch_disposition)p;
    e->from_raw = get_str(o, "from");
    e->to_raw = get_str(o, "to");
    e->from_e164 = get_str(o, "from_e164");
    e->to_e164 = get_str(o, "to_e164");
    e->caller_name = get_str(o, "caller_name");
    e->extension = get_str(o, "extension");
    e->started_at = get_int(o, "started_at");
    e->answered_at = get_int(o, "answered_at");
    e->ended_at = get_int(o, "ended_at");
    e->duration_sec = get_int(o, "duration_sec");
    e->billsec = get_int(o, "billsec");
    e->recording_url = get_str(o, "recording_url");
    e->transcript = get_str(o, "transcript");
    e->summary = get_str(o, "summary");
    e->cost_micros = get_int(o, "cost_micros");
    e->cost_currency = get_str(o, "cost_currency");
    json_t *m = json_object_get(o, "metadata");
    /* shared, not copied: nothing modifies an event's metadata, and o is usually freed next */
    if (json_is_object(m)) e->metadata = json_incref(m);
    int64_t mb = get_int(o, "metadata_bytes");
    if (e->metadata && mb > 0) e->meta_bytes = (size_t)mb;
    e->meta_dropped = get_str(o, "metadata_dropped");
    e->meta_as = get_str(o, "metadata_as");
    if (!e->external_id || !e->idem_key) {
        ch_event_free(e);
        return NULL;
    }
    return e;
}

void ch_event_normalise(ch_event *e, const char *country)
{
    char v[24];
    if (e->from_raw && !e->from_e164 && ch_phone_e164(e->from_raw, country, v, sizeof v))
        e->from_e164 = ch_strdup(v);
    if (e->to_raw && !e->to_e164 && ch_phone_e164(e->to_raw, country, v, sizeof v))
        e->to_e164 = ch_strdup(v);
}

static void measure(const json_t *v, size_t level, size_t max_depth, ch_meta_size *out)
{
    if (!json_is_object(v) && !json_is_array(v)) return;
    if (level > out->depth) out->depth = level;
    if (level > max_depth) return; /* already too deep: what is below changes no verdict */
    const char *k;
    json_t *x;
    size_t i;
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, k, x)
        {
            out->keys++;
            measure(x, level + 1, max_depth, out);
        }
    } else {
        json_array_foreach(v, i, x) measure(x, level + 1, max_depth, out);
    }
}

void ch_metadata_measure(const json_t *m, size_t max_depth, ch_meta_size *out)
{
    memset(out, 0, sizeof *out);
    if (m) measure(m, 1, max_depth, out);
}

int ch_event_check_metadata(ch_event *e, char *why, size_t why_size)
{
    if (!e->metadata || !json_object_size(e->metadata)) return CH_OK;
    ch_meta_size sz;
    ch_metadata_measure(e->metadata, CH_META_EVENT_MAX_DEPTH, &sz);
    /* json_dumpb with no buffer only counts: the size without an allocation */
    if (sz.depth <= CH_META_EVENT_MAX_DEPTH && sz.keys <= CH_META_EVENT_MAX_KEYS)
        sz.bytes = json_dumpb(e->metadata, NULL, 0, JSON_COMPACT);
    if (sz.depth > CH_META_EVENT_MAX_DEPTH) {
        snprintf(why, why_size, "metadata is nested more than %d levels deep; at most %d per event",
                 CH_META_EVENT_MAX_DEPTH, CH_META_EVENT_MAX_DEPTH);
        return CH_ETOOBIG;
    }
    if (sz.keys > CH_META_EVENT_MAX_KEYS) {
        snprintf(why, why_size,
                 "metadata has %zu keys (counted at every depth); at most %d per event", sz.keys,
                 CH_META_EVENT_MAX_KEYS);
        return CH_ETOOBIG;
    }
    if (sz.bytes > CH_META_EVENT_MAX_BYTES) {
        snprintf(why, why_size, "metadata is %zu bytes as JSON; at most %d per event", sz.bytes,
                 CH_META_EVENT_MAX_BYTES);
        return CH_ETOOBIG;
    }
    e->meta_bytes = sz.bytes;
    return CH_OK;
}

void ch_event_prepare(ch_event *e)
{
    if (e->norm) return;
    if (e->metadata && json_object_size(e->metadata) && !e->meta_bytes)
        e->meta_bytes = json_dumpb(e->metadata, NULL, 0, JSON_COMPACT);
    json_t *j = ch_event_to_json(e);
    e->norm = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!e->norm) abort();
}
