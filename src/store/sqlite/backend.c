/* The SQLite backend's entry in the store backend table (store/backend.h). It claims
 * "sqlite:PATH" ("sqlite:///abs/path" too) and a plain path. */
#include "store/sqlite/sqlite.h"

#include <string.h>

static bool claims(const char *url, const char **location)
{
    if (strncmp(url, "sqlite:", 7) == 0) {
        const char *p = url + 7;
        if (strncmp(p, "//", 2) == 0) p += 2; /* sqlite:///var/x.db: the path is /var/x.db */
        *location = p;
        return *p != '\0';
    }
    /* anything with a scheme is another backend's ("postgresql://…") */
    const char *colon = strstr(url, "://");
    if (colon) return false;
    *location = url;
    return *url != '\0';
}

const ch_store_backend ch_store_sqlite = {
    .name = "sqlite",
    .local_file = true,
    .claims = claims,
    .migrate = ch_sqlite_migrate_path,
    .open = ch_sqlite_backend_open,
    .close = ch_sqlite_backend_close,
    .changes_head = ch_sqlite_changes_head,
    .tx_begin = ch_sqlite_tx_begin,
    .tx_savepoint = ch_sqlite_tx_savepoint,
    .tx_release = ch_sqlite_tx_release,
    .tx_rollback_to = ch_sqlite_tx_rollback_to,
    .tx_commit = ch_sqlite_tx_commit,
    .tx_rollback = ch_sqlite_tx_rollback,
    .tx_fatal = ch_sqlite_tx_fatal,
    .tx_changes = ch_sqlite_tx_changes,
    .after_batch = ch_sqlite_after_batch,
    .probe = ch_sqlite_probe,
    .event_seen = ch_sqlite_event_seen,
    .call_find = ch_sqlite_call_find,
    .usage_calls = ch_sqlite_usage_calls,
    .usage_add = ch_sqlite_usage_add,
    .call_events = ch_sqlite_call_events,
    .event_insert = ch_sqlite_event_insert,
    .call_upsert = ch_sqlite_call_upsert,
    .leg_upsert = ch_sqlite_leg_upsert,
    .lead_touch = ch_sqlite_lead_touch,
    .change_add = ch_sqlite_change_add,
    .outbox_emit = ch_sqlite_outbox_emit,
    .delivery_result = ch_sqlite_delivery_result,
    .op_apply = ch_sqlite_op_apply,
    .pipeline_settings = ch_sqlite_pipeline_settings,
    .call_jobs = ch_sqlite_call_jobs,
    .job_put = ch_sqlite_job_put,
    .call_enrich = ch_sqlite_call_enrich,
    .call_state = ch_sqlite_call_state,
    .usage_transcribed = ch_sqlite_usage_transcribed,
    .tenant_lookup = ch_sqlite_tenant_lookup,
    .credentials = ch_sqlite_credentials,
    .apikey = ch_sqlite_apikey,
    .last_received = ch_sqlite_last_received,
    .due_scan_open = ch_sqlite_due_scan_open,
    .due_scan_free = ch_sqlite_due_scan_free,
    .due_deliveries = ch_sqlite_due_deliveries,
    .changes_since = ch_sqlite_changes_since,
    .list_calls = ch_sqlite_list_calls,
    .get_call = ch_sqlite_get_call,
    .call_json = ch_sqlite_call_get,
    .export_open = ch_sqlite_export_open,
    .export_next = ch_sqlite_export_next,
    .export_close = ch_sqlite_export_close,
    .tenant_list = ch_sqlite_tenant_list,
    .directory_list = ch_sqlite_directory_list,
    .endpoint_list = ch_sqlite_endpoint_list,
    .delivery_list = ch_sqlite_delivery_list,
    .delivery_get = ch_sqlite_delivery_get,
    .delivery_skips = ch_sqlite_delivery_skips,
    .tenant_retry = ch_sqlite_tenant_retry,
    .jobs_due = ch_sqlite_jobs_due,
    .jobs_expired = ch_sqlite_jobs_expired,
    .jobs_depth = ch_sqlite_jobs_depth,
    .recordings_expired = ch_sqlite_recordings_expired,
    .recording_refs = ch_sqlite_recording_refs,
    .jobs_read = ch_sqlite_jobs_read,
    .pipeline_get = ch_sqlite_pipeline_get,
    .dictionary_list = ch_sqlite_dictionary_list,
    .call_trace = ch_sqlite_call_trace,
    .user_get = ch_sqlite_user_get,
    .user_list = ch_sqlite_user_list,
    .session_get = ch_sqlite_session_get,
    .endpoint_health = ch_sqlite_endpoint_health,
    .tenant_usage = ch_sqlite_tenant_usage,
};
