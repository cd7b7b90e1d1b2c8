/* POST /hooks/{tenant}/{provider}: authenticate, run the ingest pipeline (ingest/ingest.h:
 * parse, limits, normalise, submit to the writer) and suspend until the events are durable
 * (docs/write-path.md), then answer. */
#include "http/metrics.h"
#include "ingest/ingest.h"
#include "http/request.h"
#include "util/cidr.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"
#include "util/result.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *event_id_of(const ch_event *e)
{
    const char *colon = e->idem_key ? strchr(e->idem_key, ':') : NULL;
    return colon ? colon + 1 : e->idem_key;
}

static json_t *record_result(ch_request *r, size_t k, const ch_event *e)
{
    ch_write_job *job = &r->job;
    json_t *o = json_object();
    switch (job->outcome[k]) {
    case CH_REC_STORED:
    case CH_REC_DUPLICATE:
        json_object_set_new(o, "status",
                            json_string(job->outcome[k] == CH_REC_STORED ? "stored" : "duplicate"));
        json_object_set_new(o, "call_id", json_string(job->call_ids[k]));
        json_object_set_new(o, "event_id", json_string(event_id_of(e)));
        if (job->over_limit[k]) json_object_set_new(o, "over_limit", json_true());
        break;
    case CH_REC_REJECTED:
        json_object_set_new(o, "status", json_string("rejected"));
        json_object_set_new(o, "error", json_string(job->reject_reason[k]));
        json_object_set_new(o, "message",
                            json_string("the tenant's monthly call limit is reached"));
        break;
    }
    return o;
}

/* The answer to a request whose job has run (or that needed no write). Built on the MHD
 * thread that owns the connection, not on the writer: the writer's time is the ingest limit. */
struct MHD_Response *ch_hook_answer(ch_request *r, int *status_out)
{
    ch_write_job *job = &r->job;
    size_t stored = 0, dups = 0, refused = 0;
    int status;
    json_t *body;

    if (job->result != CH_OK) {
        status = 503;
        body = ch_error_json("store_unavailable", NULL,
                             "the event could not be stored; nothing was kept, retry later");
    } else {
        for (size_t k = 0; k < job->n; k++) {
            stored += job->outcome[k] == CH_REC_STORED;
            dups += job->outcome[k] == CH_REC_DUPLICATE;
            refused += job->outcome[k] == CH_REC_REJECTED;
        }
        if (!r->parsed.batch) {
            if (refused) {
                status = 429;
                body = ch_error_json("monthly_limit_reached", NULL,
                                     "the tenant's monthly call limit is reached");
            } else {
                status = 200;
                body = record_result(r, 0, job->events[0]);
            }
        } else {
            json_t *results = json_array();
            size_t k = 0, rejected = 0;
            for (size_t i = 0; i < r->parsed.n; i++) {
                ch_record *rec = &r->parsed.records[i];
                json_t *o;
                if (rec->event) {
                    o = record_result(r, k, job->events[k]);
                    k++;
                } else {
                    o = json_pack("{s:s, s:s, s:s}", "status", "rejected", "error",
                                  "invalid_record", "message", rec->error);
                    if (rec->field) json_object_set_new(o, "field", json_string(rec->field));
                    rejected++;
                }
                json_object_set_new(o, "index", json_integer((json_int_t)i));
                json_array_append_new(results, o);
            }
            status = stored + dups > 0 ? 200 : refused ? 429 : 422;
            body = json_pack("{s:I, s:I, s:I, s:o}", "stored", (json_int_t)stored, "duplicates",
                             (json_int_t)dups, "rejected", (json_int_t)(rejected + refused),
                             "results", results);
            if (status != 200) {
                json_object_set_new(
                    body, "error",
                    json_string(status == 429 ? "monthly_limit_reached" : "invalid_record"));
                json_object_set_new(body, "message", json_string("no record was accepted"));
            }
        }
    }

    ch_logline l;
    bool ok = status == 200;
    if (ch_log_begin(&l,
                     ok              ? CH_LOG_DEBUG
                     : status == 503 ? CH_LOG_ERROR
                                     : CH_LOG_INFO,
                     ok ? "stored" : "rejected", r->id)) {
        ch_log_str(&l, "tenant", r->tenant.slug);
        if (!ok) {
            ch_log_int(&l, "status", status);
            ch_log_str(&l, "reason", json_string_value(json_object_get(body, "error")));
        }
        ch_log_int(&l, "stored", (int64_t)stored);
        ch_log_int(&l, "duplicates", (int64_t)dups);
        ch_log_int(&l, "refused", (int64_t)refused);
        ch_log_end(&l);
    }
    if (stored && ch_log_begin(&l, CH_LOG_DEBUG, "merged", r->id)) {
        ch_log_int(&l, "calls", (int64_t)stored);
        ch_log_end(&l);
    }
    struct MHD_Response *resp = ch_json_response(body);
    if (status == 503) MHD_add_response_header(resp, "Retry-After", "1");
    *status_out = status;
    return resp;
}

/* Runs on the writer thread once the batch holding this request committed (or failed): it
 * only wakes the connection; ch_hook_answer() runs when MHD calls us again. */
static void on_committed(ch_write_job *job)
{
    ch_request *r = job->arg;
    MHD_resume_connection(r->conn);
}

static const char *header_of(void *ctx, const char *name)
{
    return ch_header(ctx, name);
}

/* Called by ch_ingest() right before it submits: the writer may resume us before ch_ingest()
 * returns, so the connection is suspended first. */
static void before_submit(void *arg)
{
    ch_request *r = arg;
    r->state = REQ_WAITING;
    MHD_suspend_connection(r->conn);
}

static void on_verified(ch_verify *v)
{
    ch_request *r = v->arg;
    MHD_resume_connection(r->conn);
}

enum MHD_Result ch_verify_later(ch_request *r, const char *scope)
{
    ch_server *srv = r->srv;
    int wait = ch_auth_lockout(srv->auth, ch_client(r), scope);
    if (wait > 0) {
        /* no more password verifications for this client until its window ends: its
         * failures cost bounded CPU (passwords verified before still pass, from the cache) */
        ch_verify_clear(&r->verify);
        r->retry_after = wait;
        return ch_reply_error(r, 429, "rate_limited", NULL,
                              "too many failed authentications from this address; retry later");
    }
    r->verify.on_done = on_verified;
    r->verify.arg = r;
    r->state = REQ_VERIFYING;
    /* suspend before queueing: the verification may finish before this function returns */
    MHD_suspend_connection(r->conn);
    if (ch_auth_verify_submit(srv->auth, &r->verify, ch_client(r)) != CH_OK) {
        r->verify_refused = true; /* answered on resume: a suspended request cannot queue */
        MHD_resume_connection(r->conn);
    }
    return MHD_YES;
}

/* What failures are counted against, besides the address: the tenant and provider addressed
 * (or the provider alone on a fixed URL) and the user name presented. */
void ch_hook_scope(ch_request *r, const char *tenant_slug, const char *provider_name, char *out,
                   size_t outsz)
{
    char user[128];
    ch_auth_basic_user(ch_header(r, "Authorization"), user, sizeof user);
    snprintf(out, outsz, "hook\n%s\n%s\n%s", tenant_slug ? tenant_slug : "", provider_name, user);
}

enum MHD_Result ch_handle_hook(ch_request *r, const char *tenant_slug, const char *provider_name)
{
    ch_server *srv = r->srv;
    const struct sockaddr *client = ch_client(r);
    ch_logline l;
    if (ch_log_begin(&l, CH_LOG_DEBUG, "received", r->id)) {
        ch_log_str(&l, "tenant", tenant_slug ? tenant_slug : "(from credential)");
        ch_log_str(&l, "provider", provider_name);
        ch_log_int(&l, "bytes", (int64_t)r->body.len);
        ch_log_end(&l);
    }
    char scope[512];
    ch_hook_scope(r, tenant_slug, provider_name, scope, sizeof scope);
    ch_tenant_clear(&r->tenant); /* the handler runs again after a password verification */

    r->provider = ch_provider_find(provider_name);
    ch_credential *creds = NULL;
    size_t ncreds = 0;
    bool cached = false;
    int rc = CH_ENOTFOUND;
    if (r->provider && tenant_slug)
        rc = ch_sources_get(srv->sources, tenant_slug, provider_name, false, &r->tenant, &creds,
                            &ncreds, &cached);
    else if (r->provider) /* the tenant is whoever owns the credential that matches */
        rc = ch_store_credentials(srv->store, 0, provider_name, &creds, &ncreds);
    if (rc == CH_OK && !tenant_slug && ncreds == 0) rc = CH_ENOTFOUND;
    if (rc != CH_OK)
        return ch_reply_error(r, rc == CH_ESTORE ? 503 : 404,
                              rc == CH_ESTORE ? "store_unavailable" : "not_found", NULL,
                              "no webhook source for this tenant and provider");

    const char *ct = ch_header(r, "Content-Type");
    ch_request_url(r, r->url, sizeof r->url);
    ch_ingest_ctx ing = {
        .provider = r->provider,
        .tenant = &r->tenant,
        .raw = {.content_type = ct,
                .body = r->body.data ? r->body.data : "",
                .body_len = r->body.len,
                .max_records = srv->cfg->max_records,
                .url = r->url,
                .header = header_of,
                .header_ctx = r,
                .now_ms = ch_now_ms()},
        .request_id = r->id,
        .store = srv->store,
        .done = on_committed,
        .before_submit = before_submit,
        .arg = r,
        .parsed = &r->parsed,
        .job = &r->job,
    };
    int64_t cred_id = 0;
    size_t matched = 0;
    ch_auth_input ain = {.authorization = ch_header(r, "Authorization"),
                         /* senders that cannot set headers (Bolna agents) put the token
                          * in the URL they are given: ?token=… */
                         .api_key = ch_header(r, "X-Api-Key") ? ch_header(r, "X-Api-Key")
                                                              : ch_query(r, "token"),
                         .peer = client,
                         .signature_ok = r->provider->verify ? ch_ingest_signature_ok : NULL,
                         .signature_ctx = &ing,
                         .verify = &r->verify};
    rc = ch_auth_webhook(srv->auth, creds, ncreds, &ain, &matched);
    if ((rc == CH_EAUTH || rc == CH_ELIMIT) && cached) {
        /* the cache may predate a credential added since: ask the store once more */
        ch_credentials_free(creds, ncreds);
        ch_tenant_clear(&r->tenant);
        creds = NULL;
        ncreds = 0;
        int rc2 = ch_sources_get(srv->sources, tenant_slug, provider_name, true, &r->tenant, &creds,
                                 &ncreds, &cached);
        if (rc2 == CH_OK)
            rc = ch_auth_webhook(srv->auth, creds, ncreds, &ain, &matched);
        else if (rc2 == CH_ESTORE)
            return ch_reply_error(r, 503, "store_unavailable", NULL, "the store cannot be read");
    }
    if (rc == CH_EAGAIN) {
        ch_credentials_free(creds, ncreds);
        return ch_verify_later(r, scope);
    }
    if (rc == CH_OK) cred_id = creds[matched].id;
    if (rc == CH_OK && !tenant_slug && !creds[matched].token_hash &&
        !creds[matched].password_hash && !creds[matched].signing_secret) {
        /* an address-only source on a URL shared by every tenant: if another tenant trusts the
         * same address, the delivery's owner cannot be told — refuse instead of guessing */
        for (size_t i = 0; i < ncreds; i++) {
            const ch_credential *o = &creds[i];
            if (o->tenant_id != creds[matched].tenant_id && !o->token_hash && !o->password_hash &&
                !o->signing_secret && o->allow_ips && *o->allow_ips &&
                ch_cidr_list_match(o->allow_ips, client)) {
                ch_credentials_free(creds, ncreds);
                return ch_reply_error(r, 401, "unauthorized", NULL,
                                      "several tenants trust this address on this shared URL; "
                                      "give each tenant's sender its own ?token=");
            }
        }
    }
    if (rc == CH_OK && !tenant_slug) {
        int rc2 = ch_store_tenant_by_id(srv->store, creds[matched].tenant_id, &r->tenant);
        if (rc2 != CH_OK) {
            ch_credentials_free(creds, ncreds);
            return ch_reply_error(r, rc2 == CH_ESTORE ? 503 : 404,
                                  rc2 == CH_ESTORE ? "store_unavailable" : "not_found", NULL,
                                  "the credential's tenant is gone");
        }
    }
    ch_credentials_free(creds, ncreds);
    ch_verify_clear(&r->verify);
    if (rc != CH_OK) {
        /* never refused before it was checked: a request that authenticates always passes;
         * past the limit, failures are answered 429 instead of 401 */
        int wait = ch_auth_lockout(srv->auth, client, scope);
        ch_auth_failed(srv->auth, client, scope);
        ch_metrics_auth_failure();
        if (wait > 0) {
            r->retry_after = wait;
            return ch_reply_error(r, 429, "rate_limited", NULL,
                                  "too many failed authentications from this address; retry "
                                  "later");
        }
        if (rc == CH_ELIMIT)
            return ch_reply_error(r, 403, "forbidden_source", NULL,
                                  "requests from this address are not allowed for this source");
        return ch_reply_error(r, 401, "unauthorized", NULL, "authentication failed");
    }
    if (ch_log_begin(&l, CH_LOG_DEBUG, "authenticated", r->id)) {
        ch_log_str(&l, "tenant", r->tenant.slug);
        ch_log_int(&l, "credential", cred_id);
        ch_log_end(&l);
    }

    int irc = ch_ingest(&ing);
    r->events = ing.events; /* freed with the request, as parsed and job are */
    if (irc != CH_OK) {
        const ch_ingest_refusal *f = &ing.refusal;
        if (f->line > 0) {
            json_t *b = ch_error_json(f->code, f->field, f->message);
            json_object_set_new(b, "line", json_integer(f->line));
            json_object_set_new(b, "column", json_integer(f->column));
            if (ch_log_begin(&l, CH_LOG_INFO, "rejected", r->id)) {
                ch_log_int(&l, "status", f->status);
                ch_log_str(&l, "reason", f->code);
                ch_log_int(&l, "line", f->line);
                ch_log_int(&l, "column", f->column);
                ch_log_end(&l);
            }
            return ch_reply_json(r, f->status, b);
        }
        return ch_reply_error(r, f->status, f->code, f->field, "%s", f->message);
    }
    if (ing.nevents < r->parsed.n) ch_metrics_records_rejected(r->parsed.n - ing.nevents);
    if (ing.outcome == CH_INGEST_IGNORED)
        return ch_reply_json(
            r, 200, json_pack("{s:s, s:s}", "status", "ignored", "message", r->parsed.ignored));
    if (ing.outcome == CH_INGEST_NO_RECORD) {
        /* every record of a batch was rejected: answer without a write */
        int status;
        struct MHD_Response *resp = ch_hook_answer(r, &status);
        return ch_reply_queue(r, status, resp);
    }
    return MHD_YES; /* submitted: on_committed() resumes the connection */
}
