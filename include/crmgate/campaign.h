/*
 * campaign.h - mass-mail campaigns: sending accounts, tags, segments, the
 * per-recipient ledger, state changes, status and the send log, the
 * suppression list. The send loop itself is campaign_send.h.
 *
 * Everything here runs as the CLI's (or the web's) database role; the
 * ledger is filled in SQL (crm_campaign_fill, sql/0012_campaigns.sql) so a
 * segment of 100,000 people is one statement.
 */
#ifndef CRMGATE_CAMPAIGN_H
#define CRMGATE_CAMPAIGN_H

#include <glib.h>
#include <stdbool.h>

#include "crmgate/config.h"
#include "crmgate/db.h"
#include "crmgate/result.h"

typedef struct json_t json_t;

typedef struct {
    const char *from;     /* sending address */
    const char *name;     /* display name */
    const char *relay;    /* smtp://HOST:PORT or smtps://HOST:PORT */
    const char *user;     /* may be NULL */
    const char *password; /* may be NULL; stored sealed */
    const char *starttls; /* "required", "off", or NULL: required unless
                             the relay is on loopback */
    guint daily_cap;      /* 0: none */
    guint concurrency;    /* 0: campaign.concurrency */
    const char *signature_text;
    const char *signature_html;
    bool is_default;
} campaign_account;

typedef struct {
    const char *name;
    gint64 account_id; /* 0: the default account */
    const char *subject;
    const char *const *ab_subjects; /* NULL-terminated variants B, C...; may
                                       be NULL */
    const char *text_template;      /* the text, not a file name */
    const char *html_template;      /* may be NULL */
    const char *segment;
    guint rate_per_min;   /* 0: as fast as the account allows */
    const char *window;   /* "Mon-Thu 09:00-17:00" or NULL */
    const char *tz;       /* NULL: UTC */
    const char *at;       /* start time or NULL */
    const char *owner;    /* user address or NULL */
    const char *base_dir; /* csv:FILE relative to this; NULL = cwd */
    int track_opens;      /* -1: campaign.track_opens, 0 off, 1 on */
    int track_clicks;     /* -1: campaign.track_clicks, 0 off, 1 on */
} campaign_spec;

/* A sending window: days (bit 0 = Monday) and minutes of the day. */
typedef struct {
    guint8 days;
    guint16 start_min; /* inclusive */
    guint16 end_min;   /* exclusive; 1440 = midnight */
} campaign_window;

/* Parses "Mon-Thu 09:00-17:00", "Mon,Wed,Fri", "09:00-17:00" (every day)
   or "Fri-Mon 08:30-12:00". NULL or "" = always. */
crm_result campaign_window_parse(const char *text, campaign_window *w_r,
                                 char **error_r);
/* Seconds from now until the window is open (0: open now), in tz. */
gint64 campaign_window_wait(const campaign_window *w, GTimeZone *tz,
                            GDateTime *now);

/* Parses a segment ("tag:T,company:ID,country:CC,owner:EMAIL,leads,
   contacts,csv:FILE", terms joined by ',' are all required) into the
   filter document crm_campaign_fill() takes; csv files are read (libcsv,
   a header row naming email and optional first_name, last_name, company,
   title, country, city, phone columns; at most 1,000,000 rows). */
crm_result campaign_segment_parse(const char *expr, const char *base_dir,
                                  json_t **filter_r, char **error_r);

/* Adds a sending account; *rec_r: its row (without the password). */
crm_result campaign_account_add(db_conn *db, const crm_config *cfg,
                                const campaign_account *a, json_t **rec_r,
                                char **error_r);
/* The sending accounts as {"accounts": [...]} (no passwords). */
crm_result campaign_account_list(db_conn *db, json_t **out_r, char **error_r);
/* Seals a relay password for the database (libsodium secretbox under a
   key derived from campaign.secret); g_bytes_unref the result. */
GBytes *campaign_password_seal(const crm_config *cfg, const char *password);
/* Opens a sealed password; NULL when it cannot (wrong key, damaged). */
char *campaign_password_open(const crm_config *cfg, const void *sealed,
                             gsize len);

/* Tags a record ("contact:ID", "lead:ID", ...); *added_r new links. */
crm_result campaign_tag_add(db_conn *db, const char *record,
                            const char *const *tags, guint *added_r,
                            char **error_r);

/* Creates a draft campaign and fills its ledger. Templates are compiled
   first: an unknown variable is an error here, never at send time. */
crm_result campaign_create(db_conn *db, const crm_config *cfg,
                           const campaign_spec *s, json_t **rec_r,
                           char **error_r);

/* start | pause | resume | cancel. start: scheduled when its start time
   is ahead, else running; running queues the send job. Returns
   CRM_ERR_USAGE with the reason for a change the state does not allow. */
crm_result campaign_action(db_conn *db, const crm_config *cfg, gint64 id,
                           const char *action, json_t **status_r,
                           char **error_r);

/* One flat object: id, name, state and the counts. */
crm_result campaign_status(db_conn *db, gint64 id, json_t **status_r,
                           char **error_r);
/* Per recipient domain: [{domain, recipients, sent, failed, bounced, ...}]
 */
crm_result campaign_domains(db_conn *db, gint64 id, guint limit,
                            json_t **rows_r, char **error_r);
/* The send log, one row per recipient (address, state, attempts, code,
   reply, queue id, timestamps), in id order. */
crm_result campaign_log(db_conn *db, gint64 id, json_t **rows_r,
                        char **error_r);
/* Queues failed rows again (unless suppressed since); *n_r how many. */
crm_result campaign_resend_failed(db_conn *db, const crm_config *cfg, gint64 id,
                                  guint *n_r, char **error_r);

/* The suppression list. */
crm_result campaign_suppress_add(db_conn *db, const char *address,
                                 const char *reason, char **error_r);
crm_result campaign_suppress_remove(db_conn *db, const char *address,
                                    bool *removed_r, char **error_r);
crm_result campaign_suppress_list(db_conn *db, json_t **out_r, char **error_r);

#endif
