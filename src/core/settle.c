/* What a delivery result implies (settle.h): pure. */
#include "core/settle.h"

#include <stdlib.h>
#include <string.h>

void ch_delivery_result_clear(ch_delivery_result *r)
{
    free(r->call_id);
    free(r->error);
    free(r->response);
    memset(r, 0, sizeof *r);
}

void ch_settle_plan_of(const ch_delivery_result *r, ch_settle_plan *out)
{
    static const char *const states[] = {
        [CH_DLV_SUCCEEDED] = "succeeded",
        [CH_DLV_RETRY] = "pending",
        [CH_DLV_FAILED] = "failed",
    };
    memset(out, 0, sizeof *out);
    bool has_call = r->call_id != NULL;
    out->attempt = r->outcome != CH_DLV_PAUSE;
    out->state = out->attempt ? states[r->outcome] : NULL;
    out->report_settled = out->attempt && r->outcome != CH_DLV_RETRY;
    out->hold_call = r->outcome == CH_DLV_RETRY && has_call;
    out->hold_endpoint = r->pause_until > 0;
    out->release_call =
        r->outcome == CH_DLV_SUCCEEDED && has_call && (r->prior_attempts > 0 || r->manual);
    out->endpoint_ok = r->outcome == CH_DLV_SUCCEEDED;
    out->disable = r->disable_reason != NULL;
    out->endpoint_failing = !out->disable && r->outcome == CH_DLV_FAILED && !r->manual;
}

bool ch_settle_disable_due(int64_t failing_since, int64_t now, int64_t disable_after_ms)
{
    if (disable_after_ms <= 0) disable_after_ms = CH_SETTLE_DISABLE_AFTER_MS;
    return now - failing_since >= disable_after_ms;
}
