/*
 * voip_jobs.h - crmgate-worker's VoIP jobs (bound to their kinds in
 * worker/handlers.c):
 *   "voip.call" {"call": ID}: crm_call_process() (matching, lead, request,
 *       call-back task, the recording job);
 *   "voip.recording" {"call": ID}: the recording into call_recordings
 *       (Zadarma: a link from the API; other PBXs: the events'
 *       recording_url), calls.recording_state 'fetched' or 'failed';
 *   "voip.callback" {"request": ID}: click-to-call through the provider's
 *       API; call_requests.state 'done' or 'failed' with a result text.
 * Network and "not ready" failures are retried with the job's backoff;
 * the last attempt marks the row 'failed'.
 */
#ifndef CRMGATE_VOIP_JOBS_H
#define CRMGATE_VOIP_JOBS_H

#include "crmgate/jobs.h"

/* "voip.call": processes the call once more (idempotent). */
jobs_outcome voip_call_job(jobs_ctx *ctx, char **error_r, guint *snooze_s_r);

/* "voip.recording": fetches and stores the call's recording. */
jobs_outcome voip_recording_job(jobs_ctx *ctx, char **error_r,
                                guint *snooze_s_r);

/* "voip.callback": asks the provider to place a click-to-call request. */
jobs_outcome voip_callback_job(jobs_ctx *ctx, char **error_r,
                               guint *snooze_s_r);

#endif
