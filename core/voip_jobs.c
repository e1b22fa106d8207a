/*
 * voip_jobs.c - the worker's VoIP jobs (see voip_jobs.h).
 *
 * The CRM side of a call is SQL (crm_call_process, sql/0015_voip.sql);
 * this file adds what needs the network: recordings and click-to-call
 * over the provider's API (voip_api.c). The worker role reads only the
 * call columns and request rows it needs. Outcomes: a database error or a
 * provider that is down, slow or not ready yet is RETRY (the job's
 * backoff); a refusal that will not change (no key configured, wrong key,
 * a link that is no http(s) URL, a recording over
 * voip.recording_max_bytes) marks the row 'failed' at once; on the last
 * attempt a retryable failure marks it 'failed' too.
 */
#include "crmgate/voip_jobs.h"

#include <jansson.h>
#include <string.h>

#include "crmgate/log.h"
#include "crmgate/voip_api.h"

#define VOIP_JOB_DB_MS 30000
#define VOIP_RESULT_MAX 2000

/* The positive integer payload[key], or 0. */
static gint64 payload_id(const jobs_ctx *ctx, const char *key)
{
    json_t *v = json_object_get(ctx->job->payload, key);
    return json_is_integer(v) && json_integer_value(v) > 0
               ? (gint64)json_integer_value(v)
               : 0;
}

/* True when this attempt is the job's last. */
static bool last_attempt(const jobs_ctx *ctx)
{
    return ctx->job->attempts >= ctx->job->max_attempts;
}

jobs_outcome voip_call_job(jobs_ctx *ctx, char **error_r, guint *snooze_s_r)
{
    (void)snooze_s_r;
    gint64 call = payload_id(ctx, "call");
    if (!call) {
        *error_r = g_strdup("voip.call: payload needs \"call\"");
        return JOBS_DISCARD;
    }
    g_autofree char *id = g_strdup_printf("%" G_GINT64_FORMAT, call);
    g_autofree char *delay =
        g_strdup_printf("%u", ctx->cfg->voip_recording_delay_s);
    const char *p[] = {id, delay};
    json_t *did = NULL;
    crm_result r =
        db_query_json(ctx->db, VOIP_JOB_DB_MS,
                      "SELECT crm_call_process($1::bigint, $2::integer)", 2, p,
                      NULL, NULL, &did, error_r);
    if (r)
        return JOBS_RETRY;
    g_autofree char *text =
        did ? json_dumps(did, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    log_info("job=%" G_GINT64_FORMAT " kind=voip.call call=%s did=%s",
             ctx->job->id, id, text ? text : "{}");
    json_decref(did);
    return JOBS_DONE;
}

/* --- voip.recording ------------------------------------------------------ */

/* Sets the call's recording_state (from 'pending'; never over 'fetched'). */
static crm_result recording_state(jobs_ctx *ctx, const char *id,
                                  const char *state, char **error_r)
{
    const char *p[] = {id, state};
    return db_exec(ctx->db, VOIP_JOB_DB_MS,
                   "UPDATE calls SET recording_state = $2, updated_at = now() "
                   "WHERE id = $1::bigint AND recording_state <> 'fetched'",
                   2, p, error_r);
}

/* A failure: 'failed' now (final, or the last attempt) and DISCARD, else
   RETRY. *error_r holds the reason. */
static jobs_outcome recording_failed(jobs_ctx *ctx, const char *id, bool final,
                                     char **error_r)
{
    if (!final && !last_attempt(ctx))
        return JOBS_RETRY;
    char *err = NULL;
    if (recording_state(ctx, id, "failed", &err)) {
        g_free(err);
        return JOBS_RETRY; /* the database: try again */
    }
    log_warn("job=%" G_GINT64_FORMAT " kind=voip.recording call=%s "
             "recording=failed error=\"%s\"",
             ctx->job->id, id, *error_r ? *error_r : "");
    return JOBS_DISCARD;
}

/* The recording link from Zadarma's API for the call. */
static crm_result zadarma_link(jobs_ctx *ctx, const char *pbx_call_id,
                               const char *recording_id, char **link_r,
                               char **error_r)
{
    GPtrArray *params = g_ptr_array_new();
    g_ptr_array_add(params, (gpointer) "pbx_call_id");
    g_ptr_array_add(params, (gpointer)pbx_call_id);
    if (recording_id && *recording_id) {
        g_ptr_array_add(params, (gpointer) "call_id");
        g_ptr_array_add(params, (gpointer)recording_id);
    }
    json_t *ans = NULL;
    crm_result r = voip_api_get(ctx->cfg, "/v1/pbx/record/request/", params,
                                &ans, error_r);
    g_ptr_array_unref(params);
    if (r) {
        json_decref(ans);
        return r;
    }
    const char *link = json_string_value(json_object_get(ans, "link"));
    if (!link) /* several recordings of one call: the first */
        link =
            json_string_value(json_array_get(json_object_get(ans, "links"), 0));
    if (!link || !*link) {
        *error_r = g_strdup("record request: the answer has no link");
        json_decref(ans);
        return CRM_ERR_BUSY;
    }
    *link_r = g_strdup(link);
    json_decref(ans);
    return CRM_OK;
}

jobs_outcome voip_recording_job(jobs_ctx *ctx, char **error_r,
                                guint *snooze_s_r)
{
    (void)snooze_s_r;
    gint64 call = payload_id(ctx, "call");
    if (!call) {
        *error_r = g_strdup("voip.recording: payload needs \"call\"");
        return JOBS_DISCARD;
    }
    g_autofree char *id = g_strdup_printf("%" G_GINT64_FORMAT, call);
    const char *p[] = {id};
    json_t *c = NULL;
    if (db_query_json(ctx->db, VOIP_JOB_DB_MS,
                      "SELECT json_build_object('provider', provider, "
                      "'call_id', call_id, 'recording_id', recording_id, "
                      "'recording_url', recording_url, 'state', "
                      "recording_state) FROM calls WHERE id = $1::bigint",
                      1, p, NULL, NULL, &c, error_r))
        return JOBS_RETRY;
    if (!c)
        return JOBS_DONE; /* the call is gone */
    const char *provider = json_string_value(json_object_get(c, "provider"));
    const char *state = json_string_value(json_object_get(c, "state"));
    if (state && strcmp(state, "fetched") == 0) {
        json_decref(c);
        return JOBS_DONE;
    }
    g_autofree char *link = NULL;
    crm_result r = CRM_OK;
    if (provider && strcmp(provider, "zadarma") == 0) {
        r = zadarma_link(ctx, json_string_value(json_object_get(c, "call_id")),
                         json_string_value(json_object_get(c, "recording_id")),
                         &link, error_r);
    } else {
        const char *u = json_string_value(json_object_get(c, "recording_url"));
        if (u && *u) {
            link = g_strdup(u);
        } else {
            *error_r = g_strdup("the call's events carry no recording_url");
            r = CRM_ERR_NOTFOUND;
        }
    }
    json_decref(c);
    if (r) /* configuration and credentials do not fix themselves */
        return recording_failed(
            ctx, id, r == CRM_ERR_CONFIG || r == CRM_ERR_AUTH, error_r);
    GByteArray *bytes = NULL;
    g_autofree char *ctype = NULL;
    r = voip_api_download(ctx->cfg, link, &bytes, &ctype, error_r);
    if (!r && bytes->len == 0) { /* not there yet, as far as we can tell */
        g_byte_array_unref(g_steal_pointer(&bytes));
        *error_r = g_strdup("recording download: an empty answer");
        r = CRM_ERR_BUSY;
    }
    if (r)
        return recording_failed(
            ctx, id, r == CRM_ERR_TOOBIG || r == CRM_ERR_USAGE, error_r);
    const char *sp[] = {id, ctype ? ctype : "audio/mpeg",
                        (const char *)bytes->data};
    const int len[] = {0, 0, (int)bytes->len};
    const int fmt[] = {0, 0, 1};
    PGresult *res = NULL;
    r = db_query(ctx->db, VOIP_JOB_DB_MS,
                 "WITH r AS (INSERT INTO call_recordings (call_pk, "
                 "content_type, bytes) VALUES ($1::bigint, $2, $3) "
                 "ON CONFLICT (call_pk) DO UPDATE SET content_type = "
                 "EXCLUDED.content_type, bytes = EXCLUDED.bytes, fetched_at = "
                 "now() RETURNING call_pk) UPDATE calls SET recording_state = "
                 "'fetched', updated_at = now() WHERE id = (SELECT call_pk "
                 "FROM r)",
                 3, sp, len, fmt, &res, error_r);
    guint n = bytes->len;
    g_byte_array_unref(bytes);
    PQclear(res);
    if (r)
        return JOBS_RETRY;
    log_info("job=%" G_GINT64_FORMAT " kind=voip.recording call=%s "
             "recording=fetched bytes=%u",
             ctx->job->id, id, n);
    return JOBS_DONE;
}

/* --- voip.callback ------------------------------------------------------- */

/* Finishes the request (only from 'queued'). */
static crm_result request_finish(jobs_ctx *ctx, const char *id,
                                 const char *state, const char *result,
                                 char **error_r)
{
    g_autofree char *valid = g_utf8_make_valid(result, -1);
    if (g_utf8_strlen(valid, -1) > VOIP_RESULT_MAX) {
        char *end = g_utf8_offset_to_pointer(valid, VOIP_RESULT_MAX);
        *end = '\0';
    }
    const char *p[] = {id, state, valid};
    return db_exec(ctx->db, VOIP_JOB_DB_MS,
                   "UPDATE call_requests SET state = $2, result = $3, "
                   "finished_at = now() WHERE id = $1::bigint AND state = "
                   "'queued'",
                   3, p, error_r);
}

jobs_outcome voip_callback_job(jobs_ctx *ctx, char **error_r, guint *snooze_s_r)
{
    (void)snooze_s_r;
    gint64 req = payload_id(ctx, "request");
    if (!req) {
        *error_r = g_strdup("voip.callback: payload needs \"request\"");
        return JOBS_DISCARD;
    }
    g_autofree char *id = g_strdup_printf("%" G_GINT64_FORMAT, req);
    const char *p[] = {id};
    json_t *row = NULL;
    if (db_query_json(ctx->db, VOIP_JOB_DB_MS,
                      "SELECT json_build_object('from', from_ext, 'to', "
                      "coalesce(to_e164, to_number), 'state', state) FROM "
                      "call_requests WHERE id = $1::bigint",
                      1, p, NULL, NULL, &row, error_r))
        return JOBS_RETRY;
    if (!row)
        return JOBS_DONE;
    const char *state = json_string_value(json_object_get(row, "state"));
    if (!state || strcmp(state, "queued") != 0) {
        json_decref(row);
        return JOBS_DONE; /* done before (a retried job) */
    }
    g_autofree char *from =
        g_strdup(json_string_value(json_object_get(row, "from")));
    g_autofree char *to =
        g_strdup(json_string_value(json_object_get(row, "to")));
    json_decref(row);
    GPtrArray *params = g_ptr_array_new();
    g_ptr_array_add(params, (gpointer) "from");
    g_ptr_array_add(params, from);
    g_ptr_array_add(params, (gpointer) "to");
    g_ptr_array_add(params, to);
    json_t *ans = NULL;
    crm_result r =
        voip_api_get(ctx->cfg, "/v1/request/callback/", params, &ans, error_r);
    g_ptr_array_unref(params);
    json_decref(ans);
    char *err = NULL;
    if (r == CRM_OK) {
        g_autofree char *text =
            g_strdup_printf("callback started: from %s to %s", from, to);
        if (request_finish(ctx, id, "done", text, &err)) {
            *error_r = err;
            return JOBS_RETRY;
        }
        log_info("job=%" G_GINT64_FORMAT " kind=voip.callback request=%s "
                 "state=done",
                 ctx->job->id, id);
        return JOBS_DONE;
    }
    /* Refused for good (no key, wrong key, the provider said no), or a
       network failure on the last attempt: 'failed' with the reason. */
    bool final = r == CRM_ERR_CONFIG || r == CRM_ERR_AUTH ||
                 r == CRM_ERR_PARSE || last_attempt(ctx);
    if (!final)
        return JOBS_RETRY;
    if (request_finish(ctx, id, "failed", *error_r ? *error_r : "failed",
                       &err)) {
        g_free(err);
        return JOBS_RETRY;
    }
    log_warn("job=%" G_GINT64_FORMAT " kind=voip.callback request=%s "
             "state=failed error=\"%s\"",
             ctx->job->id, id, *error_r ? *error_r : "");
    return r == CRM_ERR_PARSE ? JOBS_DONE : JOBS_DISCARD;
}
