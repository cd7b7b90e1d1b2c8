/* A change of a tenant's pipeline settings, validated as a whole: the patch applied over the
 * stored settings (core/pipeline.h) and the fields schema checked against the subset the
 * extraction supports (enrich/jschema.h). Shared by PUT /v1/pipeline and `callhook pipeline
 * set`, so both refuse the same things with the same words. */
#ifndef CH_ENRICH_SETTINGS_H
#define CH_ENRICH_SETTINGS_H

#include <jansson.h>
#include <stddef.h>

/* The settings stored as text (NULL: the defaults; text an older build stored that no longer
 * parses reads as the defaults too) with patch applied. CH_OK with *stored (the text to keep,
 * secrets revealed; caller frees) and *shown (secrets as api_key_set; caller decrefs), or
 * CH_EINVAL with the offending key in err ("fields.schema: …", "the pipeline settings are over
 * N bytes"). */
int ch_pipeline_settings_update(const char *text, const json_t *patch, char **stored,
                                json_t **shown, char *err, size_t errlen);

/* The settings stored as text as the API shows them (secrets as api_key_set). */
json_t *ch_pipeline_settings_shown(const char *text);

#endif
