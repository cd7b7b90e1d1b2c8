/* The setup of a source (sourceinfo.h), written once for the CLI and the API. */
#include "ingest/sourceinfo.h"

#include "providers/provider.h"
#include "util/mem.h"

#include <stdlib.h>
#include <string.h>

json_t *ch_source_media_public(const char *media)
{
    json_t *m = media ? json_loads(media, 0, NULL) : NULL;
    json_t *o = json_object();
    static const char *const shown[] = {
        "api_url", "api_user", "insecure_tls", "pinned_pubkey", "basic_user", "basic_hosts", NULL};
    for (int i = 0; m && shown[i]; i++) {
        json_t *v = json_object_get(m, shown[i]);
        if (v) json_object_set(o, shown[i], v);
    }
    if (json_object_get(m, "api_password")) json_object_set_new(o, "api_password_set", json_true());
    if (json_object_get(m, "basic_password"))
        json_object_set_new(o, "basic_password_set", json_true());
    json_decref(m);
    return o;
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

json_t *ch_source_info(const char *base, const char *slug, const ch_credential *c)
{
    char *url = ch_asprintf("%s/hooks/%s/%s", base, slug, c->provider);
    const ch_provider *p = ch_provider_find(c->provider);
    json_t *auth = json_array();
    if (c->password_hash) json_array_append_new(auth, json_string("basic"));
    if (c->token_hash) json_array_append_new(auth, json_string("token"));
    if (c->signing_secret) json_array_append_new(auth, json_string("signature"));
    if (c->allow_ips && *c->allow_ips) json_array_append_new(auth, json_string("source_ip"));
    /* a provider with fixed URLs (its console only takes one) also takes them, the tenant found
     * from the credential presented */
    json_t *fixed = json_array();
    for (const char *const *fp = p ? p->fixed_paths : NULL; fp && *fp; fp++) {
        const char *t = strstr(*fp, "{tenant}");
        char *f = t ? ch_asprintf("%s%.*s%s%s", base, (int)(t - *fp), *fp, slug, t + 8)
                    : ch_asprintf("%s%s", base, *fp);
        json_array_append_new(fixed, json_string(f));
        free(f);
    }
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(c->id));
    json_object_set_new(o, "credential_id", json_integer(c->id));
    json_object_set_new(o, "tenant", json_string(slug));
    json_object_set_new(o, "provider", json_string(c->provider));
    json_object_set_new(o, "title", str_or_null(p && p->title ? p->title : c->provider));
    json_object_set_new(o, "url", json_string(url));
    json_object_set_new(o, "method", json_string("POST"));
    json_object_set_new(o, "content_type",
                        json_string(p ? p->content_types[0] : "application/json"));
    json_object_set_new(o, "auth", auth);
    json_object_set_new(o, "auth_help", str_or_null(p ? p->auth : NULL));
    json_object_set_new(o, "username", str_or_null(c->password_hash ? c->username : NULL));
    json_object_set_new(o, "allow_ips", json_string(c->allow_ips ? c->allow_ips : ""));
    json_object_set_new(o, "fixed_urls", fixed);
    if (c->media) json_object_set_new(o, "media", ch_source_media_public(c->media));
    free(url);
    return o;
}
