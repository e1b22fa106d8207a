/*
 * seed.h - data for trying crmgate out and for measuring it.
 *
 * seed_demo() fills a small, realistic CRM (staff with known passwords,
 * companies, contacts, leads, deals with their stage history, payments,
 * requests, tasks and a project) in one transaction, then captures a set
 * of RFC 5322 messages through the real capture path (message parser,
 * ingest plan, crm_capture), so links, threads and participants are what
 * capture makes. It is idempotent: records are keyed by the demo deals'
 * tickets (DEMO0001...), messages by their Message-IDs.
 *
 * seed_bulk() writes a large dataset with set-based SQL (INSERT ... SELECT
 * FROM generate_series) in a few transactions: one for the records, one
 * per SEED_MESSAGE_CHUNK messages. Every run has its own tag in domains,
 * addresses and Message-IDs, so runs add up and never collide.
 */
#ifndef CRMGATE_SEED_H
#define CRMGATE_SEED_H

#include <glib.h>
#include <stdbool.h>

#include "crmgate/config.h"
#include "crmgate/db.h"
#include "crmgate/result.h"

/* The demo login (a manager), and the password of every demo user. */
#define SEED_DEMO_EMAIL "demo@example.com"
#define SEED_DEMO_PASSWORD "crmgate-demo"

/* Bounds of seed_bulk()'s arguments. */
#define SEED_MAX_CONTACTS 10000000
#define SEED_MAX_DEALS 10000000
#define SEED_MAX_MESSAGES 100000000
#define SEED_MAX_MANAGERS 1000
/* Messages written per transaction. */
#define SEED_MESSAGE_CHUNK 100000

typedef struct {
    bool records_added; /* false: the demo records were there already */
    guint users_added;  /* demo users created (with the demo password) */
    guint captured;     /* demo messages captured now */
    guint present;      /* demo messages that were there already */
} seed_demo_result;

/* Fills the demo data (see above); cfg gives the capture settings. */
crm_result seed_demo(const crm_config *cfg, db_conn *db,
                     seed_demo_result *res_r, char **error_r);

typedef struct {
    guint64 contacts;
    guint64 deals;
    guint64 messages;
    guint managers; /* bench-manager-N@example.com, reused when present */
} seed_bulk_opts;

typedef struct {
    char *tag;         /* the run's tag (in domains and Message-IDs) */
    guint64 companies; /* rows added per table */
    guint64 contacts;
    guint64 leads;
    guint64 requests;
    guint64 deals;
    guint64 payments;
    guint64 tasks;
    guint64 messages;
    bool rollups; /* crm_report_rollups_rebuild() was called */
} seed_bulk_result;

/* Called after each step: stage name, units done and expected in it. */
typedef void (*seed_progress_fn)(const char *stage, guint64 done, guint64 total,
                                 double seconds, void *data);

/* Checks o against the bounds above; a message for the user when not. */
crm_result seed_bulk_check(const seed_bulk_opts *o, char **error_r);

/* Writes the large dataset of o (see above); progress may be NULL. */
crm_result seed_bulk(db_conn *db, const seed_bulk_opts *o,
                     seed_progress_fn progress, void *data,
                     seed_bulk_result *res_r, char **error_r);

/* Frees the strings of res. */
void seed_bulk_result_clear(seed_bulk_result *res);

/* Calls crm_report_rollups_rebuild() when it exists (sets *called_r),
   then ANALYZE. */
crm_result seed_finish(db_conn *db, bool *called_r, char **error_r);

#endif
