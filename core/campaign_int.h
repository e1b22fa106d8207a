/*
 * campaign_int.h - what the parts of the send loop share (core/
 * campaign_render.c: loading a campaign and building its messages;
 * core/campaign_ledger.c: the ledger statements; core/campaign_send.c: the
 * driver job and task notices). Private to core/.
 */
#ifndef CRMGATE_CAMPAIGN_INT_H
#define CRMGATE_CAMPAIGN_INT_H

#include <glib.h>
#include <jansson.h>
#include <stdbool.h>

#include "crmgate/campaign.h"
#include "crmgate/campaign_msg.h"
#include "crmgate/config.h"
#include "crmgate/db.h"
#include "crmgate/smtp_send.h"
#include "crmgate/template.h"

#define MAX_SUBJECTS 8

/* A campaign and its sending account, loaded for one run of the driver. */
typedef struct {
    gint64 id;
    gint64 account_id;
    char *name;
    char *state;
    template *subjects[MAX_SUBJECTS];
    guint nsubjects;
    template *text;
    template *html;
    int ab_winner;
    guint rate_per_min;
    campaign_window window;
    GTimeZone *tz;
    bool track_opens;
    bool track_clicks;
    gint64 start_in_s;
    /* the account */
    char *from_address;
    char *from_name;
    char *relay_url;
    char *relay_user;
    char *relay_password;
    bool starttls;
    guint daily_cap;
    guint concurrency;
    char *sig_text;
    char *sig_html;
    /* message building, kept for the whole run */
    campaign_msg_builder *builder;
    char *feedback;     /* the Feedback-ID value */
    gint64 view_date_s; /* the second view_date was made in */
    char view_date[16]; /* YYYY-MM-DD in the campaign's zone */
} camp;

/* One leased ledger row. */
typedef struct {
    gint64 id;
    char *address;
    char *domain;
    json_t *vars;
    int variant;
    bool suppressed;
    char *token;
    char *message_id;
    GBytes *msg;
    bool unbuildable; /* build_message failed (marked at submit) */
} rcpt;

/* The driver's view of the ledger: its lease owner and the marks not yet
   written. */
typedef struct {
    db_conn *db;
    const crm_config *cfg;
    const camp *c;
    const char *owner;
    json_t *marks;       /* pending marks: [{id, outcome, ...}] */
    guint sent_unmarked; /* for the daily counter */
    gint64 last_mark_us;
} ledger;

/* A JSON object's string member, NULL when missing or empty. */
static inline const char *campaign_jstr(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s && *s ? s : NULL;
}

/* --- core/campaign_render.c --- */
void campaign_rcpt_free(rcpt *r);
void campaign_camp_free(camp *c);
/* Loads the campaign and its account. NULL with *error_r, or NULL with
 *error_r NULL when the campaign does not exist. */
camp *campaign_camp_load(db_conn *db, const crm_config *cfg, gint64 id,
                         char **error_r);
/* Renders and builds one message into r->msg; false when it cannot be
   built. subject_prefix ("" or "[TEST] "), to_override (a test's
   address) may be NULL. */
bool campaign_build_message(const crm_config *cfg, camp *c, rcpt *r,
                            const char *subject_prefix,
                            const char *to_override);
/* The SMTP route options of the campaign's account. */
void campaign_route_opts(const crm_config *cfg, const camp *c,
                         smtp_route_opts *o);

/* --- core/campaign_ledger.c --- */
/* Queues the outcome of one row (written by campaign_ledger_flush). */
void campaign_ledger_mark(ledger *lg, const rcpt *r, const char *outcome,
                          int code, const char *reply, const char *queue_id,
                          guint retry_s);
/* Writes the queued marks in one statement (rows this driver still
   leases only) and the account's day count. */
crm_result campaign_ledger_flush(ledger *lg, char **error_r);
/* Leases up to max rows into out (rcpt *); A/B: only sample rows until a
   winner is set. */
crm_result campaign_ledger_claim(ledger *lg, guint max, guint lease_s,
                                 bool sample_only, GPtrArray *out,
                                 char **error_r);
/* How many more the account may send today (G_MAXUINT: no cap). */
crm_result campaign_ledger_cap_left(ledger *lg, guint *left_r, char **error_r);
/* The campaign's state now ("running", ...; "deleted"), g_free it; NULL
   on a database error. */
char *campaign_ledger_state(db_conn *db, gint64 id, char **error_r);
/* A/B: decides the winner when the sample is settled and campaign.ab_wait
   has passed; *wait_r seconds to wait (0: decided). */
crm_result campaign_ledger_ab_decide(ledger *lg, gint64 *wait_r,
                                     char **error_r);
/* Marks the campaign finished when nothing is queued or leased; else
 *wait_r seconds until the next row is due. */
crm_result campaign_ledger_try_finish(ledger *lg, bool *finished_r,
                                      gint64 *wait_r, char **error_r);
/* Gives every rcpt in list back to the queue (not counted) and frees it. */
void campaign_ledger_release_all(ledger *lg, GQueue *list, guint retry_s);

#endif
