/* See settings.h. */
#include "enrich/settings.h"
#include "core/pipeline.h"
#include "enrich/jschema.h"
#include "util/limits.h"
#include "util/result.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Stored by an older build with other rules: read as the defaults would be. */
static void parse_or_defaults(const char *text, ch_pipeline_settings *ps)
{
    char err[200];
    if (ch_pipeline_settings_parse(text, ps, err, sizeof err) != CH_OK) {
        ch_pipeline_settings_clear(ps);
        ch_pipeline_settings_parse(NULL, ps, err, sizeof err);
    }
}

json_t *ch_pipeline_settings_shown(const char *text)
{
    ch_pipeline_settings ps;
    parse_or_defaults(text, &ps);
    json_t *o = ch_pipeline_settings_json(&ps, false);
    ch_pipeline_settings_clear(&ps);
    return o;
}

int ch_pipeline_settings_update(const char *text, const json_t *patch, char **stored,
                                json_t **shown, char *err, size_t errlen)
{
    *stored = NULL;
    *shown = NULL;
    ch_pipeline_settings ps;
    parse_or_defaults(text, &ps);
    int rc = ch_pipeline_settings_apply(&ps, patch, err, errlen);
    const json_t *schema = ps.st[CH_STAGE_FIELDS].schema;
    if (rc == CH_OK && schema) { /* refused now, not when the first call meets it */
        char why[160];
        if ((rc = ch_jschema_check(schema, why, sizeof why)))
            snprintf(err, errlen, "fields.schema: %s", why);
    }
    if (rc) goto out;
    json_t *keep = ch_pipeline_settings_json(&ps, true);
    char *t = json_dumps(keep, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(keep);
    if (!t || strlen(t) > CH_PIPELINE_TEXT_MAX) {
        free(t);
        snprintf(err, errlen, "the pipeline settings are over %d bytes", CH_PIPELINE_TEXT_MAX);
        rc = CH_EINVAL;
        goto out;
    }
    *stored = t;
    *shown = ch_pipeline_settings_json(&ps, false);
out:
    ch_pipeline_settings_clear(&ps);
    return rc;
}
