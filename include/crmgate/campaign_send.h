/*
 * campaign_send.h - the send loop of a campaign (the worker's
 * "campaign.send" job), test mail, and task notices by mail.
 *
 * One driver job per running campaign (unique key "campaign:ID") leases
 * ledger rows in batches, renders and builds each message, keeps the
 * account's SMTP connections busy (libcurl multi) within the per-domain
 * and per-campaign limits, and marks each row with the relay's reply as
 * it learns it. It stops for a pause or a cancel within a second or two,
 * sleeps (job snooze) outside the sending window, at the daily cap, and
 * while the relay throttles; it finishes the campaign only when no row is
 * queued or leased.
 */
#ifndef CRMGATE_CAMPAIGN_SEND_H
#define CRMGATE_CAMPAIGN_SEND_H

#include <glib.h>

#include "crmgate/config.h"
#include "crmgate/db.h"
#include "crmgate/jobs.h"
#include "crmgate/result.h"

typedef struct json_t json_t;

/* The "campaign.send" job handler. */
jobs_outcome campaign_send_job(jobs_ctx *ctx, char **error_r,
                               guint *snooze_s_r);

/* The "notices.deliver" periodic handler: mails due task notices through
   the default sending account. */
jobs_outcome campaign_notices_job(jobs_ctx *ctx, char **error_r,
                                  guint *snooze_s_r);

/* Sends the campaign's message to the given addresses now, personalised
   with its first recipient's fields, subject prefixed "[TEST] ", through
   its account; *out_r: {"to": [...], "code": N, "reply": "..."}. The
   ledger is not touched. */
crm_result campaign_send_test(db_conn *db, const crm_config *cfg, gint64 id,
                              const char *const *to, json_t **out_r,
                              char **error_r);

#endif
