/*
 * jobs.c - the job queue's statements (sql/0011_jobs.sql): enqueue, claim
 * under a lease, ack into jobs_done, fail with backoff, snooze, heartbeat,
 * list and retry.
 *
 * Each function is one parameterised statement (PQexecParams through
 * db_query), so no session state is needed and every call works through
 * pgbouncer in transaction pooling mode. Batches are bounded by the
 * caller (worker.batch, at most 10,000); ids travel as one bigint[] text
 * parameter. Every statement has a deadline (JOBS_SQL_MS): a database
 * that stops answering costs a thread at most that long, then
 * CRM_ERR_DB_DOWN and a reconnect on the next call.
 */
#include "crmgate/jobs.h"

#include <string.h>

#include "crmgate/log.h"

#define JOBS_SQL_MS 30000

bool jobs_kind_valid(const char *kind)
{
    size_t n = kind ? strlen(kind) : 0;
    if (n == 0 || n > JOBS_KIND_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = kind[i];
        if (!g_ascii_islower(c) && !g_ascii_isdigit(c) && c != '.' &&
            c != '_' && c != ':' && c != '-')
            return false;
    }
    return true;
}

/* "{1,2,3}": ids as one bigint[] parameter. */
static char *ids_array(const gint64 *ids, guint n)
{
    GString *s = g_string_sized_new(16 + (gsize)n * 12);
    g_string_append_c(s, '{');
    for (guint i = 0; i < n; i++)
        g_string_append_printf(s, "%s%" G_GINT64_FORMAT, i ? "," : "", ids[i]);
    g_string_append_c(s, '}');
    return g_string_free(s, FALSE);
}

static guint affected(PGresult *res)
{
    return (guint)g_ascii_strtoull(PQcmdTuples(res), NULL, 10);
}

/* text cut to at most max bytes on a character boundary, made valid
   UTF-8 (a handler's error may quote anything). */
static char *clean_text(const char *text, gsize max)
{
    g_autofree char *valid = g_utf8_make_valid(text ? text : "", -1);
    gsize n = strlen(valid);
    if (n <= max)
        return g_steal_pointer(&valid);
    const char *end = valid + max;
    while (end > valid && (((guchar)*end) & 0xC0) == 0x80)
        end--;
    return g_strndup(valid, (gsize)(end - valid));
}

crm_result jobs_enqueue(db_conn *db, const char *kind, json_t *payload,
                        GDateTime *run_at, const char *unique_key, gint64 *id_r,
                        char **error_r)
{
    if (!jobs_kind_valid(kind)) {
        *error_r = g_strdup("a job kind is 1-100 characters of a-z 0-9 . _ "
                            ": -");
        return CRM_ERR_USAGE;
    }
    if (unique_key &&
        (!*unique_key || strlen(unique_key) > JOBS_UNIQUE_KEY_MAX ||
         !g_utf8_validate(unique_key, -1, NULL))) {
        *error_r = g_strdup("a unique key is 1-200 bytes of UTF-8");
        return CRM_ERR_USAGE;
    }
    g_autofree char *body = NULL;
    if (payload) {
        if (!json_is_object(payload)) {
            *error_r = g_strdup("a job payload is a JSON object");
            return CRM_ERR_USAGE;
        }
        body = json_dumps(payload, JSON_COMPACT);
        if (!body || strlen(body) > JOBS_PAYLOAD_MAX) {
            *error_r = g_strdup_printf("a job payload is at most %d bytes",
                                       JOBS_PAYLOAD_MAX);
            return CRM_ERR_TOOBIG;
        }
    }
    g_autofree char *at = run_at ? g_date_time_format_iso8601(run_at) : NULL;
    const char *values[] = {kind, body ? body : "{}", at, unique_key};
    PGresult *res = NULL;
    crm_result r = db_query(db, JOBS_SQL_MS,
                            "SELECT crm_job_enqueue($1, $2::jsonb, "
                            "coalesce($3::timestamptz, now()), $4)",
                            4, values, NULL, NULL, &res, error_r);
    if (r)
        return r;
    if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
        PQclear(res);
        *error_r = g_strdup("crm_job_enqueue returned no id");
        return CRM_ERR_INTERNAL;
    }
    if (id_r)
        *id_r = g_ascii_strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return CRM_OK;
}

void jobs_batch_clear(jobs_batch *batch)
{
    for (guint i = 0; i < batch->n; i++) {
        g_free(batch->jobs[i].kind);
        json_decref(batch->jobs[i].payload);
    }
    g_free(batch->jobs);
    batch->jobs = NULL;
    batch->n = 0;
}

/* Expired leases first (a dead worker's jobs), then due available jobs by
   priority and time. Each branch locks only what it takes (SKIP LOCKED),
   so concurrent workers never wait for each other. An expired job that
   used its last attempt is discarded instead of run once more. */
static const char claim_sql[] =
    "WITH expired AS ("
    " SELECT id FROM jobs WHERE state = 'running' AND lease_expires_at < now()"
    " ORDER BY lease_expires_at LIMIT $2 FOR UPDATE SKIP LOCKED),"
    " avail AS ("
    " SELECT id FROM jobs WHERE state = 'available' AND run_at <= now()"
    " ORDER BY priority DESC, run_at LIMIT $2 FOR UPDATE SKIP LOCKED),"
    " c AS (SELECT id FROM expired UNION ALL SELECT id FROM avail LIMIT $2),"
    " t AS (SELECT j.id, (j.state = 'running' AND"
    "   j.attempts >= coalesce(j.max_attempts, $4::int)) AS dead"
    "   FROM jobs j JOIN c ON c.id = j.id)"
    " UPDATE jobs j SET"
    " state = CASE WHEN t.dead THEN 'discarded' ELSE 'running' END,"
    " last_error = CASE WHEN t.dead THEN 'lease expired' ELSE j.last_error"
    "   END,"
    " lease_owner = CASE WHEN t.dead THEN NULL ELSE $1 END,"
    " lease_expires_at = CASE WHEN t.dead THEN NULL"
    "   ELSE now() + make_interval(secs => $3::int) END,"
    " attempts = CASE WHEN t.dead THEN j.attempts ELSE j.attempts + 1 END,"
    " updated_at = now()"
    " FROM t WHERE j.id = t.id"
    " RETURNING j.id, j.kind, j.payload::text, j.attempts,"
    " coalesce(j.max_attempts, $4::int), t.dead";

crm_result jobs_claim(db_conn *db, const char *owner, guint max, guint lease_s,
                      guint default_max_attempts, jobs_batch *batch_r,
                      char **error_r)
{
    batch_r->jobs = NULL;
    batch_r->n = 0;
    if (max == 0)
        return CRM_OK;
    char n_s[16], lease[16], maxa[16];
    g_snprintf(n_s, sizeof n_s, "%u", max);
    g_snprintf(lease, sizeof lease, "%u", lease_s);
    g_snprintf(maxa, sizeof maxa, "%u", default_max_attempts);
    const char *values[] = {owner, n_s, lease, maxa};
    PGresult *res = NULL;
    crm_result r = db_query(db, JOBS_SQL_MS, claim_sql, 4, values, NULL, NULL,
                            &res, error_r);
    if (r)
        return r;
    int rows = PQntuples(res);
    batch_r->jobs = g_new0(jobs_job, rows > 0 ? rows : 1);
    for (int i = 0; i < rows; i++) {
        gint64 id = g_ascii_strtoll(PQgetvalue(res, i, 0), NULL, 10);
        if (strcmp(PQgetvalue(res, i, 5), "t") == 0) {
            log_warn("job=%" G_GINT64_FORMAT " kind=%s discarded "
                     "error=\"lease expired\" attempts=%s",
                     id, PQgetvalue(res, i, 1), PQgetvalue(res, i, 3));
            continue;
        }
        jobs_job *j = &batch_r->jobs[batch_r->n++];
        j->id = id;
        j->kind = g_strdup(PQgetvalue(res, i, 1));
        j->payload = json_loads(PQgetvalue(res, i, 2), 0, NULL);
        if (!j->payload)
            j->payload = json_object();
        j->attempts = (int)g_ascii_strtoll(PQgetvalue(res, i, 3), NULL, 10);
        j->max_attempts = (int)g_ascii_strtoll(PQgetvalue(res, i, 4), NULL, 10);
    }
    PQclear(res);
    return CRM_OK;
}

crm_result jobs_ack(db_conn *db, const char *owner, const gint64 *ids, guint n,
                    guint *acked_r, char **error_r)
{
    if (acked_r)
        *acked_r = 0;
    if (n == 0)
        return CRM_OK;
    g_autofree char *arr = ids_array(ids, n);
    const char *values[] = {arr, owner};
    PGresult *res = NULL;
    crm_result r = db_query(
        db, JOBS_SQL_MS,
        "WITH d AS (DELETE FROM jobs WHERE id = ANY($1::bigint[])"
        " AND lease_owner = $2 AND state = 'running'"
        " RETURNING id, kind, payload, attempts, unique_key, lease_owner,"
        " created_at)"
        " INSERT INTO jobs_done (id, kind, payload, attempts, unique_key,"
        " worker, created_at) SELECT * FROM d",
        2, values, NULL, NULL, &res, error_r);
    if (r)
        return r;
    if (acked_r)
        *acked_r = affected(res);
    PQclear(res);
    return CRM_OK;
}

guint jobs_backoff_s(guint base_s, guint max_s, int attempts)
{
    int exp = attempts > 1 ? attempts - 1 : 0;
    /* 2^31 s is far past any cap (retry_max is at most a week) */
    guint64 d = (guint64)base_s << (exp > 31 ? 31 : exp);
    if (d > max_s)
        d = max_s;
    double j = (double)d * g_random_double_range(0.8, 1.2);
    return j < 1.0 ? 1 : (guint)(j + 0.5);
}

crm_result jobs_fail(db_conn *db, const crm_config *cfg, const char *owner,
                     const jobs_job *job, const char *error, bool discard,
                     bool *discarded_r, char **error_r)
{
    if (discarded_r)
        *discarded_r = false;
    char id[24], delay[16], maxa[16];
    g_snprintf(id, sizeof id, "%" G_GINT64_FORMAT, job->id);
    g_snprintf(delay, sizeof delay, "%u",
               jobs_backoff_s(cfg->worker_retry_base_s, cfg->worker_retry_max_s,
                              job->attempts));
    g_snprintf(maxa, sizeof maxa, "%u", cfg->worker_max_attempts);
    g_autofree char *msg = clean_text(error ? error : "failed", JOBS_ERROR_MAX);
    const char *values[] = {id, owner, delay, discard ? "t" : "f", maxa, msg};
    PGresult *res = NULL;
    crm_result r = db_query(
        db, JOBS_SQL_MS,
        "WITH t AS (SELECT id, ($4::boolean OR"
        " attempts >= coalesce(max_attempts, $5::int)) AS dead FROM jobs"
        " WHERE id = $1::bigint AND lease_owner = $2 AND state = 'running')"
        " UPDATE jobs j SET"
        " state = CASE WHEN t.dead THEN 'discarded' ELSE 'available' END,"
        " run_at = CASE WHEN t.dead THEN j.run_at"
        "   ELSE now() + make_interval(secs => $3::int) END,"
        " last_error = $6, lease_owner = NULL, lease_expires_at = NULL,"
        " updated_at = now() FROM t WHERE j.id = t.id RETURNING j.state",
        6, values, NULL, NULL, &res, error_r);
    if (r)
        return r;
    if (discarded_r && PQntuples(res) == 1)
        *discarded_r = strcmp(PQgetvalue(res, 0, 0), "discarded") == 0;
    PQclear(res);
    return CRM_OK;
}

crm_result jobs_snooze(db_conn *db, const char *owner, const gint64 *ids,
                       guint n, guint snooze_s, guint *moved_r, char **error_r)
{
    if (moved_r)
        *moved_r = 0;
    if (n == 0)
        return CRM_OK;
    g_autofree char *arr = ids_array(ids, n);
    char secs[16];
    g_snprintf(secs, sizeof secs, "%u", snooze_s);
    const char *values[] = {arr, owner, secs};
    PGresult *res = NULL;
    crm_result r =
        db_query(db, JOBS_SQL_MS,
                 "UPDATE jobs SET state = 'available',"
                 " run_at = now() + make_interval(secs => $3::int),"
                 " attempts = greatest(attempts - 1, 0), lease_owner = NULL,"
                 " lease_expires_at = NULL, updated_at = now()"
                 " WHERE id = ANY($1::bigint[]) AND lease_owner = $2"
                 " AND state = 'running'",
                 3, values, NULL, NULL, &res, error_r);
    if (r)
        return r;
    if (moved_r)
        *moved_r = affected(res);
    PQclear(res);
    return CRM_OK;
}

crm_result jobs_heartbeat(db_conn *db, const char *owner_prefix,
                          const gint64 *ids, guint n, guint lease_s,
                          guint *renewed_r, char **error_r)
{
    if (renewed_r)
        *renewed_r = 0;
    if (n == 0)
        return CRM_OK;
    g_autofree char *arr = ids_array(ids, n);
    char secs[16];
    g_snprintf(secs, sizeof secs, "%u", lease_s);
    const char *values[] = {arr, owner_prefix, secs};
    PGresult *res = NULL;
    crm_result r = db_query(
        db, JOBS_SQL_MS,
        "UPDATE jobs SET lease_expires_at = now() + make_interval(secs =>"
        " $3::int) WHERE id = ANY($1::bigint[]) AND state = 'running'"
        " AND starts_with(lease_owner, $2)",
        3, values, NULL, NULL, &res, error_r);
    if (r)
        return r;
    if (renewed_r)
        *renewed_r = affected(res);
    PQclear(res);
    return CRM_OK;
}

crm_result jobs_list(db_conn *db, const char *state, const char *kind,
                     guint limit, json_t **out_r, char **error_r)
{
    *out_r = NULL;
    if (limit == 0 || limit > JOBS_LIST_MAX) {
        *error_r = g_strdup_printf("the limit is 1-%d", JOBS_LIST_MAX);
        return CRM_ERR_USAGE;
    }
    bool done = state && strcmp(state, "done") == 0;
    if (state && !done && strcmp(state, "available") != 0 &&
        strcmp(state, "running") != 0 && strcmp(state, "discarded") != 0) {
        *error_r = g_strdup("a job state is available, running, discarded "
                            "or done");
        return CRM_ERR_USAGE;
    }
    char lim[16];
    g_snprintf(lim, sizeof lim, "%u", limit);
    json_t *list = NULL;
    crm_result r;
    if (done) {
        const char *values[] = {kind, lim};
        r = db_query_json(
            db, JOBS_SQL_MS,
            "SELECT coalesce(json_agg(x), '[]') FROM (SELECT id, kind,"
            " 'done' AS state, attempts, NULL::int AS max_attempts,"
            " finished_at AS run_at, NULL::text AS last_error, unique_key"
            " FROM jobs_done WHERE ($1::text IS NULL OR kind = $1)"
            " ORDER BY finished_at DESC, id DESC LIMIT $2::int) x",
            2, values, NULL, NULL, &list, error_r);
    } else {
        const char *values[] = {state, kind, lim};
        r = db_query_json(
            db, JOBS_SQL_MS,
            "SELECT coalesce(json_agg(x), '[]') FROM (SELECT id, kind,"
            " state, attempts, max_attempts, run_at, last_error, unique_key"
            " FROM jobs WHERE ($1::text IS NULL OR state = $1)"
            " AND ($2::text IS NULL OR kind = $2)"
            " ORDER BY id DESC LIMIT $3::int) x",
            3, values, NULL, NULL, &list, error_r);
    }
    if (r)
        return r;
    if (!json_is_array(list)) {
        json_decref(list);
        *error_r = g_strdup("job list: unexpected answer");
        return CRM_ERR_INTERNAL;
    }
    *out_r = json_pack("{s:o}", "jobs", list);
    return CRM_OK;
}

crm_result jobs_retry(db_conn *db, gint64 id, guint *count_r, char **error_r)
{
    *count_r = 0;
    char id_s[24];
    g_snprintf(id_s, sizeof id_s, "%" G_GINT64_FORMAT, id);
    const char *values[] = {id > 0 ? id_s : NULL};
    PGresult *res = NULL;
    crm_result r = db_query(
        db, JOBS_SQL_MS,
        "WITH c AS (SELECT DISTINCT ON (coalesce(d.unique_key, d.id::text))"
        " d.id FROM jobs d WHERE d.state = 'discarded'"
        " AND ($1::bigint IS NULL OR d.id = $1::bigint)"
        " AND (d.unique_key IS NULL OR NOT EXISTS (SELECT 1 FROM jobs o"
        "  WHERE o.unique_key = d.unique_key AND o.state <> 'discarded'))"
        " ORDER BY coalesce(d.unique_key, d.id::text), d.id DESC),"
        " u AS (UPDATE jobs j SET state = 'available', attempts = 0,"
        " run_at = now(), last_error = NULL, lease_owner = NULL,"
        " lease_expires_at = NULL, updated_at = now() FROM c"
        " WHERE j.id = c.id RETURNING j.kind)"
        " SELECT count(*) FROM u",
        1, values, NULL, NULL, &res, error_r);
    if (r)
        return r;
    *count_r = (guint)g_ascii_strtoull(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    if (*count_r > 0) {
        char *ignored = NULL;
        if (db_exec(db, JOBS_SQL_MS,
                    "SELECT pg_notify('crmgate_jobs', 'retry')", 0, NULL,
                    &ignored))
            g_free(ignored); /* the fallback poll finds them */
    } else if (id > 0) {
        *error_r = g_strdup_printf("job %" G_GINT64_FORMAT " is not a "
                                   "discarded job (or a live job holds "
                                   "its unique key)",
                                   id);
        return CRM_ERR_NOTFOUND;
    }
    return CRM_OK;
}

crm_result jobs_partitions(db_conn *db, guint *made_r, char **error_r)
{
    PGresult *res = NULL;
    crm_result r = db_query(db, JOBS_SQL_MS, "SELECT crm_jobs_partitions(3)", 0,
                            NULL, NULL, NULL, &res, error_r);
    if (r)
        return r;
    if (made_r)
        *made_r = (guint)g_ascii_strtoull(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return CRM_OK;
}
