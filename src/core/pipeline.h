/* The post-call enrichment pipeline's decisions (docs/internals/enrichment.md): a tenant's
 * settings, which stage jobs a call that ended gets, how finishing one stage moves the others,
 * when the pipeline as a whole is finished and in what state, and the call's `enriched` JSON
 * built from its jobs. Pure and backend-neutral, as core/lifecycle is: the store's writer runs
 * these in the transaction that changes the jobs, the workers (src/enrich/) run the stages. */
#ifndef CH_PIPELINE_H
#define CH_PIPELINE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/model.h"

typedef enum {
    CH_STAGE_RECORDING = 0, /* fetch the recording, keep it, measure it */
    CH_STAGE_TRANSCRIPT,    /* needs the recording */
    CH_STAGE_SUMMARY,       /* the three below need a transcript (the provider's or ours) */
    CH_STAGE_FIELDS,
    CH_STAGE_SENTIMENT,
    CH_STAGE_COUNT
} ch_stage;

const char *ch_stage_name(ch_stage s);
int ch_stage_parse(const char *s); /* -1 when unknown */

typedef enum {
    CH_JOB_NONE = 0, /* not planned */
    CH_JOB_WAITING,  /* its input is not there yet */
    CH_JOB_PENDING,  /* due at next_at */
    CH_JOB_DONE,
    CH_JOB_FAILED,  /* for good: error says why */
    CH_JOB_SKIPPED, /* not run: error says why ("provided", "no transcript", …) */
} ch_job_state;

const char *ch_job_state_str(ch_job_state s);
int ch_job_state_parse(const char *s); /* -1 when unknown */

#define CH_ENGINE_NAME 16

typedef struct {
    bool enabled;
    char engine[CH_ENGINE_NAME]; /* "none" is the same as disabled */
    /* the `openai` engines: any server speaking OpenAI's protocol */
    char *base_url, *model, *api_key, *language, *prompt;
    json_t *schema; /* fields: the tenant's JSON schema for the openai extraction */
    bool redo;      /* run even when the provider sent this stage's value */
} ch_stage_settings;

typedef struct {
    ch_stage_settings st[CH_STAGE_COUNT];
    int64_t deadline_s;     /* from the call's end to call.completed at the latest */
    int64_t retention_days; /* of the recordings; 0 = kept */
} ch_pipeline_settings;

#define CH_PIPELINE_DEADLINE_DEFAULT_S 600
#define CH_PIPELINE_RETENTION_DEFAULT  90
/* The hosts a source's HTTP Basic credentials for recordings go to, unless its media settings
 * name others (basic_hosts): Twilio's RecordingUrl is always on its API host. */
#define CH_MEDIA_BASIC_HOSTS_DEFAULT "api.twilio.com"

/* The settings stored as JSON text (NULL or "": the defaults: every stage on, with the
 * embedded engines). CH_OK, or CH_EINVAL with the offending key in err. */
int ch_pipeline_settings_parse(const char *text, ch_pipeline_settings *out, char *err,
                               size_t errlen);
/* Applies a patch (the body of PUT /v1/pipeline: any subset of the JSON below) over s,
 * validating every key. CH_OK or CH_EINVAL naming the key; s is unchanged on error. */
int ch_pipeline_settings_apply(ch_pipeline_settings *s, const json_t *patch, char *err,
                               size_t errlen);
/* {"deadline_s", "retention_days", "recording": {...}, "transcript": {...}, …}; secrets (API
 * keys) as "api_key_set": true unless reveal (the stored form). */
json_t *ch_pipeline_settings_json(const ch_pipeline_settings *s, bool reveal);
void ch_pipeline_settings_clear(ch_pipeline_settings *s);

/* One stage job of a call, as the store keeps it. Strings owned. */
typedef struct {
    ch_stage stage;
    ch_job_state state;
    char engine[CH_ENGINE_NAME];
    int attempts;
    int64_t next_at, deadline, started_at, finished_at, ms; /* ms UTC; ms: run time */
    char *error;  /* why it failed / was skipped / was retried last */
    char *result; /* JSON text of the stage's output (see docs/enrichment.md) */
} ch_job_row;

void ch_job_row_clear(ch_job_row *j);

typedef struct {
    ch_job_row jobs[CH_STAGE_COUNT]; /* state NONE: not planned */
    /* nothing to run: why ("no_recording", "over_limit", "disabled", "provided"); NULL when
     * some stage is to run */
    const char *skip_reason;
} ch_pipeline_plan;

/* The jobs of a call that ended (c as merged; provider its adapter), due from now, with the
 * deadline now + settings' deadline. Results owned by the plan (ch_pipeline_plan_clear). */
void ch_pipeline_plan_call(const ch_pipeline_settings *s, const ch_callstate *c, bool over_limit,
                           int64_t now, ch_pipeline_plan *out);
void ch_pipeline_plan_clear(ch_pipeline_plan *p);

/* After a stage changed state: waiting stages whose input is done become pending (due now);
 * those whose input failed or was skipped for want of input become skipped, saying why.
 * jobs is indexed by stage (state NONE where not planned). Returns how many became pending. */
int ch_pipeline_advance(ch_job_row jobs[CH_STAGE_COUNT], int64_t now);

/* Every open stage (waiting or pending) failed with "deadline passed". Returns how many. */
int ch_pipeline_expire(ch_job_row jobs[CH_STAGE_COUNT], int64_t now);

/* The pipeline's state: "running" while a stage is waiting or pending; then "done" (every
 * stage done or provided), "partial" (some done, some failed), "failed" (none done) or
 * "skipped" (none ran). */
const char *ch_pipeline_state(const ch_job_row jobs[CH_STAGE_COUNT]);
bool ch_pipeline_finished(const ch_job_row jobs[CH_STAGE_COUNT]);

/* The call's `enriched` JSON text (stored on the call; ch_call_view_json lays it over the
 * call): {"enrichment": {"state", "reason", "stages": {name: {state, engine, ms, attempts,
 * error}}}, "recording": {...}|null, "transcript", "transcript_segments", "summary", "fields",
 * "sentiment"} from the jobs' results. skip_reason: the plan's, when no job was planned. */
char *ch_pipeline_enriched(const ch_job_row jobs[CH_STAGE_COUNT], const char *skip_reason);

#endif
