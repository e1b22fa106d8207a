/*
 * jobs.h - the PostgreSQL job queue (sql/0011_jobs.sql) that crmgate-worker
 * runs and that the rest of crmgate feeds.
 *
 * A job is claimed in batches under a lease (FOR UPDATE SKIP LOCKED); a
 * lease that expires makes it claimable again. Finished jobs move to
 * jobs_done (one statement per batch); failed ones come back after an
 * exponential, jittered backoff or are discarded after max_attempts.
 * Every call is one statement with parameters: all of it works through
 * pgbouncer in transaction pooling mode.
 */
#ifndef CRMGATE_JOBS_H
#define CRMGATE_JOBS_H

#include <glib.h>
#include <jansson.h>
#include <stdbool.h>

#include "crmgate/config.h"
#include "crmgate/db.h"
#include "crmgate/result.h"

/* Bounds of what a caller may hand over. */
#define JOBS_KIND_MAX 100
#define JOBS_UNIQUE_KEY_MAX 200
#define JOBS_ERROR_MAX 2000
#define JOBS_PAYLOAD_MAX (1024 * 1024)
#define JOBS_LIST_MAX 10000

typedef struct {
    gint64 id;
    char *kind;
    json_t *payload;
    int attempts, max_attempts;
} jobs_job;

typedef enum {
    JOBS_DONE = 0,
    JOBS_RETRY,
    JOBS_DISCARD,
    JOBS_SNOOZE
} jobs_outcome;

typedef struct {
    const crm_config *cfg;
    db_conn *db; /* this thread's own connection */
    const jobs_job *job;
    const char *worker_id;  /* host:pid:thread, the lease owner */
    bool (*stopping)(void); /* true once SIGTERM asked to drain: long
                               handlers return SNOOZE */
} jobs_ctx;

/* A handler: returns the outcome; error_r for RETRY/DISCARD; *snooze_s_r
   for SNOOZE. */
typedef jobs_outcome (*jobs_handler)(jobs_ctx *ctx, char **error_r,
                                     guint *snooze_s_r);

/* What jobs_claim hands out: claimed jobs, owned by the caller. */
typedef struct {
    jobs_job *jobs;
    guint n;
} jobs_batch;

/* Enqueues a job through crm_job_enqueue() (NOTIFY included); payload is
   borrowed (NULL = {}), run_at NULL = now, unique_key NULL = none. *id_r
   is the new job's id, or the live job holding unique_key. */
crm_result jobs_enqueue(db_conn *db, const char *kind, json_t *payload,
                        GDateTime *run_at, const char *unique_key, gint64 *id_r,
                        char **error_r);

/* Claims up to max jobs for owner under a lease of lease_s seconds
   (available ones due now, and those whose lease expired; an expired one
   that used its last attempt is discarded with 'lease expired').
   default_max_attempts stands for a job's NULL max_attempts. */
crm_result jobs_claim(db_conn *db, const char *owner, guint max, guint lease_s,
                      guint default_max_attempts, jobs_batch *batch_r,
                      char **error_r);

/* Frees the jobs of a batch and clears it. */
void jobs_batch_clear(jobs_batch *batch);

/* Moves the n jobs (ids) still leased by owner to jobs_done, in one
   statement; *acked_r (may be NULL) says how many moved. */
crm_result jobs_ack(db_conn *db, const char *owner, const gint64 *ids, guint n,
                    guint *acked_r, char **error_r);

/* A failed attempt of job (as claimed): back to available after
   jobs_backoff_s(cfg->worker_retry_base_s, cfg->worker_retry_max_s,
   job->attempts), or discarded when discard is true or the attempts are
   used up. error is stored (cut to JOBS_ERROR_MAX bytes, valid UTF-8).
   *discarded_r (may be NULL) says which happened. */
crm_result jobs_fail(db_conn *db, const crm_config *cfg, const char *owner,
                     const jobs_job *job, const char *error, bool discard,
                     bool *discarded_r, char **error_r);

/* The delay before retry number attempts (1 = after the first failure):
   base * 2^(attempts-1) capped at max_s, then +-20 % jitter; at least 1. */
guint jobs_backoff_s(guint base_s, guint max_s, int attempts);

/* Puts the n jobs leased by owner back to available at now + snooze_s,
   without counting the attempt (release: snooze_s 0). */
crm_result jobs_snooze(db_conn *db, const char *owner, const gint64 *ids,
                       guint n, guint snooze_s, guint *moved_r, char **error_r);

/* Extends to now + lease_s the lease of each of the n jobs whose lease
   owner starts with owner_prefix ("host:pid:"). */
crm_result jobs_heartbeat(db_conn *db, const char *owner_prefix,
                          const gint64 *ids, guint n, guint lease_s,
                          guint *renewed_r, char **error_r);

/* Lists jobs as {"jobs":[{id,kind,state,attempts,max_attempts,run_at,
   last_error,unique_key}]}, newest first; state NULL = every state of the
   hot table, "done" = jobs_done (run_at is then finished_at); kind NULL =
   any; limit 1..JOBS_LIST_MAX. */
crm_result jobs_list(db_conn *db, const char *state, const char *kind,
                     guint limit, json_t **out_r, char **error_r);

/* Makes discarded jobs available again now with attempts 0: job id, or
   every discarded one when id is 0. A discarded job whose unique key a
   live job holds stays. *count_r: how many. CRM_ERR_NOTFOUND when id is
   given and is no discarded job. */
crm_result jobs_retry(db_conn *db, gint64 id, guint *count_r, char **error_r);

/* Creates the coming months' partitions of jobs_done (the worker calls it
   daily); *made_r: how many were new. */
crm_result jobs_partitions(db_conn *db, guint *made_r, char **error_r);

/* True when kind is a valid job kind: 1..JOBS_KIND_MAX bytes of
   [a-z0-9._:-]. */
bool jobs_kind_valid(const char *kind);

#endif
