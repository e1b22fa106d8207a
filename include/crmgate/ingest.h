/*
 * ingest.h - the one capture path: milter, spool replay and the CLI all
 * turn an envelope and a parsed message into a plan, then store the plan.
 *
 * ingest_plan_new() is pure (no I/O): direction, never-log and internal-only
 * policy, participants, capture tokens, ticket, company domains, sales
 * inbox, and the evidence that the mail is outbound (only then, and only
 * from an active user, does the database trust a capture token).
 * ingest_store() writes the plan and the attachment contents to PostgreSQL
 * in one call to crm_capture() (sql/0005_capture_trust.sql). The split keeps
 * policy unit-testable without a database and the milter's database wait to
 * one round trip. Results carry no record ids: the milter's role learns
 * nothing about the CRM.
 */
#ifndef CRMGATE_INGEST_H
#define CRMGATE_INGEST_H

#include <glib.h>
typedef struct json_t json_t; /* jansson's; only pointers here */
#include <stdbool.h>

#include "crmgate/config.h"
#include "crmgate/db.h"
#include "crmgate/message.h"
#include "crmgate/result.h"

typedef enum {
    INGEST_DIR_AUTO = 0,
    INGEST_DIR_IN,
    INGEST_DIR_OUT,
} ingest_direction;

typedef struct {
    const char *source;         /* "milter", "import", "replay", "cli" */
    const char *queue_id;       /* may be NULL */
    const char *envelope_from;  /* MAIL FROM as given; NULL or "" for none */
    GPtrArray *envelope_rcpts;  /* char *, RCPT TO as given; may be NULL */
    const char *auth_authen;    /* {auth_authen}; NULL when not set */
    const char *daemon_name;    /* {daemon_name}; NULL when not set */
    bool non_smtpd;             /* submitted with sendmail (pickup) */
    ingest_direction direction; /* forced by the caller, or AUTO */
} ingest_envelope;

typedef enum {
    INGEST_LOG = 0,
    INGEST_SKIP_NEVER_LOG, /* a party is on a never-log list */
    INGEST_SKIP_INTERNAL,  /* only internal parties, log_internal off */
    INGEST_SKIP_NO_PARTY,  /* no internal party at all: not our mail */
    INGEST_SKIP_CAMPAIGN,  /* our campaign mail, or what comes back to
                              the bounce domain: feedback, not a capture */
} ingest_verdict;

typedef struct {
    ingest_verdict verdict;
    const char *direction;    /* "in", "out" or "internal" */
    json_t *doc;              /* the crm_capture() document (LOG only) */
    guint capture_rcpts;      /* capture addresses among the recipients */
    json_t *feedback;         /* campaign feedback to record, or NULL:
                                 [{"recipient": ID, "kind": K, "doc": {...}}]
                                 (crm_campaign_feedback) */
    bool parse_bounce;        /* addressed to the bounce domain: hand the raw
                                 bytes to ingest_campaign_bounce() */
    gint64 bounce_rcpt;       /* the VERP token's recipient, or 0 */
    const char *campaign_why; /* INGEST_SKIP_CAMPAIGN: "campaign-mail",
                                 "bounce", "unsubscribe" */
} ingest_plan;

/* What a capture did, for the log: no record ids. */
typedef struct {
    bool is_new;          /* first capture of this message */
    int new_links;        /* links this capture added */
    int rethreaded;       /* earlier replies moved into this one's thread */
    char *tokens_ignored; /* NULL, or why the capture tokens were ignored:
                             "not-outbound", "unknown-sender",
                             "login-mismatch" */
    char *links;          /* link types and reasons, a count past one:
                             "deal/capture-token,deal/open-deal*2" */
} ingest_result;

/* Fills lim with the parser bounds the configuration sets. */
void ingest_message_limits(const crm_config *cfg, message_limits *lim);

/* Returns a short name for a verdict ("log", "never-log", ...). */
const char *ingest_verdict_name(ingest_verdict v);

/* True when rcpt (as given) is a capture address, to be removed from the
   envelope so nothing is delivered to or bounced from it. */
bool ingest_is_capture_rcpt(const crm_config *cfg, const char *rcpt);

/* Builds the plan for one message. Never fails on odd input: unusable
   addresses are skipped. */
ingest_plan *ingest_plan_new(const crm_config *cfg, const ingest_envelope *env,
                             const crm_message *msg);
void ingest_plan_free(ingest_plan **planp);

/* Stores a LOG plan and its attachment contents with one crm_capture()
   call. Waits at most timeout_ms per query (0: no
   limit). CRM_ERR_DB_DOWN when the database is unreachable or too slow. */
crm_result ingest_store(db_conn *db, guint timeout_ms, const ingest_plan *plan,
                        const crm_message *msg, ingest_result *result_r,
                        char **error_r);

/* Stores several LOG plans in one transaction and one round trip
   (crm_capture_batch); results[i] belongs to plans[i]. A plan that fails
   alone gets its error in errors_r[i] (newly allocated) and does not
   disturb the others. want_links: fill results[i].links (costs a query per
   message). */
crm_result ingest_store_batch(db_conn *db, guint timeout_ms,
                              ingest_plan *const *plans,
                              const crm_message *const *msgs, guint n,
                              bool want_links, ingest_result *results,
                              char **errors_r, char **error_r);

void ingest_result_clear(ingest_result *result);

/* Campaign traffic (core/ingest_campaign.c), called by ingest_plan_new():
   our own campaign mail passing the milter (its Message-ID carries a
   signed token) is not captured; mail to bounce+TOKEN@, unsubscribe+TOKEN@
   or fbl@ at campaign.bounce_domain is feedback, not a capture; a reply
   whose In-Reply-To/References carry our token is captured as usual and
   marks the recipient replied (auto-replies apart). */
void ingest_campaign_classify(const crm_config *cfg, const ingest_envelope *env,
                              const crm_message *msg, ingest_plan *plan);
/* Parses the raw message of a plan with parse_bounce set (DSN, ARF,
   provider prose, auto-reply) and adds its feedback. */
void ingest_campaign_bounce(const crm_config *cfg, ingest_plan *plan,
                            const char *raw, gsize len);
/* Records plan->feedback (one statement per item); *summary_r: what was
   done, for the log ("bounced-hard,replied"). */
crm_result ingest_feedback_store(db_conn *db, guint timeout_ms,
                                 const ingest_plan *plan, char **summary_r,
                                 char **error_r);

#endif
