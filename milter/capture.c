/*
 * capture.c - what the milter does with a finished message, and the spool
 * replay thread.
 *
 * At end of message: parse (memory or spill file), plan, and hand the plan
 * to the writers; wait for the result at most database.time_budget_ms. Any
 * failure (the database down or slow, an SQL error) writes the raw message
 * with its envelope to the fsync'd spool instead; mail flow is never
 * blocked. After a database failure we stop trying for a few seconds (a
 * circuit breaker), so a dead database costs each message one spool write,
 * not one timeout.
 *
 * Writers: database.pool_size threads, each with its own connection, take
 * every capture waiting in the queue (up to WRITER_BATCH) and store them in
 * one crm_capture_batch() call, one transaction. Under load, sessions that
 * finish together share a round trip and a commit (group commit done by
 * the application); with one message in flight it is a batch of one. A
 * waiter that gives up marks its job abandoned and spools; the writer then
 * frees the job when it is done with it (the capture may still be stored,
 * and the replay then only adds a capture event).
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "crmgate/log.h"
#include "crmgate/message.h"
#include "crmgate/spool.h"
#include "milter.h"

#define BREAKER_SECONDS 5

milter_state milter_g;

static gint now_s(void)
{
    return (gint)(g_get_monotonic_time() / G_USEC_PER_SEC);
}

static bool db_marked_down(void)
{
    return g_atomic_int_get(&milter_g.db_down_until_s) > now_s();
}

static void mark_db_down(void)
{
    g_atomic_int_set(&milter_g.db_down_until_s, now_s() + BREAKER_SECONDS);
}

static void fill_envelope(ingest_envelope *env, const milter_msg *m,
                          const char *queue_id)
{
    memset(env, 0, sizeof(*env));
    env->source = "milter";
    env->queue_id = queue_id;
    env->envelope_from = m->envelope_from;
    env->envelope_rcpts = m->rcpts;
    env->auth_authen = m->auth_authen;
    env->daemon_name = m->daemon_name;
    env->non_smtpd = m->non_smtpd;
    env->direction = INGEST_DIR_AUTO;
}

static crm_result parse(milter_msg *m, crm_message **msg_r)
{
    message_limits lim;
    ingest_message_limits(milter_g.cfg, &lim);
    if (m->spill_fd < 0)
        return message_parse_bytes((const char *)m->mem->data, m->mem->len,
                                   &lim, msg_r);
    return message_parse_fd(m->spill_fd, 0, &lim, msg_r);
}

static char *spool(milter_msg *m, const ingest_envelope *env, const char *why)
{
    char *path = NULL, *err = NULL;
    crm_result r = spool_write(
        milter_g.cfg->spool_dir, env,
        m->spill_fd < 0 ? (const char *)m->mem->data : NULL,
        m->spill_fd < 0 ? m->mem->len : 0, m->spill_fd, &path, &err);
    char *out;
    if (r) {
        /* Nothing more we can do: the mail itself still goes through. */
        out = g_strdup_printf("capture LOST reason=\"%s\" spool_error=\"%s\"",
                              why, err);
    } else {
        g_autofree char *base = g_path_get_basename(path);
        out = g_strdup_printf("spooled file=%s reason=\"%s\"", base, why);
    }
    g_free(path);
    g_free(err);
    return out;
}

#define WRITER_BATCH 32

/* One capture handed to the writers. Owned by the waiter until it gives
   up (abandoned), then by the writer. */
typedef struct {
    ingest_plan *plan;
    crm_message *msg;
    crm_result r;
    char *err;
    ingest_result res;
    bool done;      /* under jobs_lock */
    bool abandoned; /* under jobs_lock */
} capture_job;

static GAsyncQueue *jobs; /* capture_job *, or the stop marker */
static GMutex jobs_lock;
static GCond jobs_done;
static GThread **writers;
static guint n_writers;
static char writer_stop; /* its address is the stop marker */

static void job_free(capture_job *job)
{
    ingest_plan_free(&job->plan);
    message_free(&job->msg);
    ingest_result_clear(&job->res);
    g_free(job->err);
    g_free(job);
}

static gpointer writer_main(gpointer data)
{
    (void)data;
    const crm_config *cfg = milter_g.cfg;
    db_conn *db = db_conn_new(cfg->milter_dsn);
    for (;;) {
        capture_job *batch[WRITER_BATCH];
        ingest_plan *plans[WRITER_BATCH];
        const crm_message *msgs[WRITER_BATCH];
        ingest_result results[WRITER_BATCH];
        char *errs[WRITER_BATCH];
        guint n = 0;
        bool stop = false;
        gpointer item = g_async_queue_pop(jobs);
        while (item) {
            if (item == &writer_stop) {
                stop = true;
                break;
            }
            batch[n] = item;
            plans[n] = batch[n]->plan;
            msgs[n] = batch[n]->msg;
            if (++n == WRITER_BATCH)
                break;
            item = g_async_queue_try_pop(jobs);
        }
        if (n > 0) {
            char *err = NULL;
            crm_result r =
                ingest_store_batch(db, cfg->db_time_budget_ms, plans, msgs, n,
                                   true, results, errs, &err);
            g_mutex_lock(&jobs_lock);
            for (guint i = 0; i < n; i++) {
                capture_job *job = batch[i];
                if (r) {
                    job->r = r;
                    job->err = g_strdup(err);
                } else if (errs[i]) {
                    job->r = CRM_ERR_DB;
                    job->err = errs[i];
                } else {
                    job->res = results[i];
                }
                job->done = true;
                if (job->abandoned)
                    job_free(job);
            }
            g_cond_broadcast(&jobs_done);
            g_mutex_unlock(&jobs_lock);
            g_free(err);
        }
        if (stop)
            break;
    }
    db_conn_free(&db);
    return NULL;
}

void milter_writers_start(guint n)
{
    jobs = g_async_queue_new();
    n_writers = n;
    writers = g_new0(GThread *, n);
    for (guint i = 0; i < n; i++)
        writers[i] = g_thread_new("capture-writer", writer_main, NULL);
}

void milter_writers_stop(void)
{
    for (guint i = 0; i < n_writers; i++)
        g_async_queue_push(jobs, &writer_stop);
    for (guint i = 0; i < n_writers; i++)
        g_thread_join(writers[i]);
    g_free(writers);
    g_async_queue_unref(jobs);
}

char *milter_capture(milter_msg *m, const char *queue_id)
{
    const crm_config *cfg = milter_g.cfg;
    ingest_envelope env;
    crm_message *msg = NULL;
    ingest_plan *plan = NULL;
    char *outcome = NULL;
    char *message_id = NULL;
    const char *direction = NULL; /* static strings */
    gint64 eom_us = g_get_monotonic_time();
    fill_envelope(&env, m, queue_id);

    crm_result r = m->failed ? CRM_ERR_IO : parse(m, &msg);
    if (r) {
        outcome = spool(m, &env, crm_strerror(r));
        goto done;
    }
    if (m->headers_cut)
        g_ptr_array_add(msg->warnings,
                        g_strdup_printf("headers past %" G_GSIZE_FORMAT
                                        " bytes were not captured",
                                        cfg->header_bytes));
    if (m->body_cut)
        g_ptr_array_add(msg->warnings,
                        g_strdup_printf("message past %" G_GSIZE_FORMAT
                                        " bytes was not captured",
                                        cfg->message_bytes));
    if (m->rcpts_dropped)
        g_ptr_array_add(msg->warnings,
                        g_strdup_printf("%u recipients past the limit were "
                                        "not recorded",
                                        m->rcpts_dropped));
    plan = ingest_plan_new(cfg, &env, msg);
    if (plan->verdict != INGEST_LOG) {
        outcome = g_strdup_printf("skipped reason=%s",
                                  ingest_verdict_name(plan->verdict));
        goto done;
    }
    if (db_marked_down()) {
        outcome = spool(m, &env, "database marked down");
        goto done;
    }
    /* The job takes the message and the plan; keep what the log needs. */
    g_free(message_id);
    message_id = g_strdup(msg->message_id ? msg->message_id : "");
    direction = plan->direction;
    capture_job *job = g_new0(capture_job, 1);
    job->plan = plan;
    job->msg = msg;
    plan = NULL;
    msg = NULL;
    gint64 deadline =
        g_get_monotonic_time() + (gint64)cfg->db_time_budget_ms * 1000;
    g_mutex_lock(&jobs_lock);
    g_async_queue_push(jobs, job);
    while (!job->done && g_cond_wait_until(&jobs_done, &jobs_lock, deadline))
        ;
    if (!job->done) {
        job->abandoned = true;
        g_mutex_unlock(&jobs_lock);
        outcome = spool(m, &env, "database slower than the time budget");
        goto done;
    }
    g_mutex_unlock(&jobs_lock);
    if (job->r) {
        if (job->r == CRM_ERR_DB_DOWN)
            mark_db_down();
        g_autofree char *why = g_strdup_printf("%s: %s", crm_strerror(job->r),
                                               job->err ? job->err : "");
        outcome = spool(m, &env, why);
    } else {
        const ingest_result *res = &job->res;
        outcome = g_strdup_printf(
            "stored row=%" G_GINT64_FORMAT " new=%s links=%s%s",
            res->message_row, res->is_new ? "yes" : "no",
            res->links && *res->links ? res->links : "none",
            res->tokens_ignored ? " tokens=ignored-unknown-sender" : "");
    }
    job_free(job);
done:;
    gint64 end_us = g_get_monotonic_time();
    if (!message_id)
        message_id = g_strdup(msg && msg->message_id ? msg->message_id : "");
    if (!direction)
        direction = plan ? plan->direction : "-";
    char *line = g_strdup_printf(
        "capture queue_id=%s message_id=<%s> direction=%s size=%" G_GSIZE_FORMAT
        " %s eom_ms=%.1f session_ms=%.1f",
        queue_id ? queue_id : "-", message_id, direction, m->size, outcome,
        (double)(end_us - eom_us) / 1000.0,
        (double)(end_us - m->started_us) / 1000.0);
    g_free(outcome);
    g_free(message_id);
    ingest_plan_free(&plan);
    message_free(&msg);
    return line;
}

static gpointer replay_main(gpointer data)
{
    (void)data;
    const crm_config *cfg = milter_g.cfg;
    db_conn *db = db_conn_new(cfg->milter_dsn);
    g_mutex_lock(&milter_g.replay_lock);
    while (!milter_g.stopping) {
        gint64 until = g_get_monotonic_time() +
                       (gint64)cfg->replay_interval_s * G_USEC_PER_SEC;
        while (!milter_g.stopping &&
               g_cond_wait_until(&milter_g.replay_cond, &milter_g.replay_lock,
                                 until))
            ;
        if (milter_g.stopping)
            break;
        g_mutex_unlock(&milter_g.replay_lock);
        spool_stats st;
        char *err = NULL;
        if (spool_status(cfg->spool_dir, &st, &err) == CRM_OK && st.files > 0) {
            spool_replay_stats rs;
            crm_result r = spool_replay(cfg, db, &rs, &err);
            if (rs.replayed || rs.bad || rs.skipped)
                log_info("spool: replay replayed=%u skipped=%u bad=%u left=%u",
                         rs.replayed, rs.skipped, rs.bad, rs.left);
            if (r)
                log_warn("spool: replay stopped: %s",
                         err ? err : crm_strerror(r));
            else
                g_atomic_int_set(&milter_g.db_down_until_s, 0);
        }
        g_free(err);
        g_mutex_lock(&milter_g.replay_lock);
    }
    g_mutex_unlock(&milter_g.replay_lock);
    db_conn_free(&db);
    return NULL;
}

GThread *milter_replay_start(void)
{
    return g_thread_new("spool-replay", replay_main, NULL);
}

void milter_replay_stop(GThread *thread)
{
    g_mutex_lock(&milter_g.replay_lock);
    milter_g.stopping = true;
    g_cond_signal(&milter_g.replay_cond);
    g_mutex_unlock(&milter_g.replay_lock);
    g_thread_join(thread);
}
