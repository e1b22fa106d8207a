/*
 * handlers.c - what crmgate-worker runs, by job kind.
 *
 * The table below is the one place a kind is bound to its handler; other
 * parts (campaigns, notices) add their lines here. Kinds for tests and
 * the bench: "noop" does nothing; "fail" always fails (retried with
 * backoff, then discarded); "sleep" sleeps payload {"ms": N} (0..3600000)
 * and finishes even while draining (drain tests). The periodic table
 * (kind, interval) is empty for now.
 */
#include <jansson.h>
#include <string.h>

#include "crmgate/campaign_send.h"
#include "crmgate/tasks.h"
#include "crmgate/voip_jobs.h"
#include "worker.h"

#define SLEEP_MS_MAX 3600000

static jobs_outcome handle_noop(jobs_ctx *ctx, char **error_r,
                                guint *snooze_s_r)
{
    (void)ctx;
    (void)error_r;
    (void)snooze_s_r;
    return JOBS_DONE;
}

static jobs_outcome handle_fail(jobs_ctx *ctx, char **error_r,
                                guint *snooze_s_r)
{
    (void)snooze_s_r;
    *error_r = g_strdup_printf("fail job: attempt %d fails on purpose",
                               ctx->job->attempts);
    return JOBS_RETRY;
}

static jobs_outcome handle_sleep(jobs_ctx *ctx, char **error_r,
                                 guint *snooze_s_r)
{
    (void)snooze_s_r;
    json_t *ms = json_object_get(ctx->job->payload, "ms");
    if (!json_is_integer(ms) || json_integer_value(ms) < 0 ||
        json_integer_value(ms) > SLEEP_MS_MAX) {
        *error_r = g_strdup("sleep job: payload needs \"ms\": 0..3600000");
        return JOBS_DISCARD;
    }
    g_usleep((gulong)json_integer_value(ms) * 1000);
    return JOBS_DONE;
}

/* "task.assigned" {"task": ID}: the owner's 'assigned' notice of a task
   made in SQL (a request's task), signed here. */
static jobs_outcome handle_task_assigned(jobs_ctx *ctx, char **error_r,
                                         guint *snooze_s_r)
{
    (void)snooze_s_r;
    json_int_t task =
        json_integer_value(json_object_get(ctx->job->payload, "task"));
    if (task <= 0) {
        *error_r = g_strdup("task.assigned: payload needs \"task\"");
        return JOBS_DISCARD;
    }
    crm_result r = tasks_notify_assigned(ctx->db, ctx->cfg, task, error_r);
    if (r == CRM_ERR_NOTFOUND)
        return JOBS_DONE;
    return r ? JOBS_RETRY : JOBS_DONE;
}

static const worker_handler handlers[] = {
    {"noop", handle_noop},
    {"fail", handle_fail},
    {"sleep", handle_sleep},
    {"campaign.send", campaign_send_job},
    {"notices.deliver", campaign_notices_job},
    {"task.assigned", handle_task_assigned},
    {"voip.call", voip_call_job},
    {"voip.recording", voip_recording_job},
    {"voip.callback", voip_callback_job},
};

const worker_periodic worker_periodics[] = {
    {"notices.deliver", 10},
    {NULL, 0},
};

jobs_handler worker_handler_find(const char *kind)
{
    for (size_t i = 0; i < G_N_ELEMENTS(handlers); i++)
        if (strcmp(handlers[i].kind, kind) == 0)
            return handlers[i].fn;
    return NULL;
}
