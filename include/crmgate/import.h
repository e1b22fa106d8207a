/*
 * import.h - backfill existing mail: a message file, a Maildir (cur/ and
 * new/), a directory of messages or an mbox, stored in batches.
 *
 * The calling thread reads and parses, and builds plans; IMPORT_LANES
 * store threads, each with its own connection, store them in batches of
 * IMPORT_BATCH with one crm_capture_batch() call each. A message goes to
 * the lane of its thread (the first References id, else In-Reply-To,
 * else its own Message-ID), so a reply is stored after the message it
 * answers, while unrelated threads are stored in parallel. Each lane holds
 * at most IMPORT_QUEUE_MAX batches waiting, so memory stays bounded
 * whatever the size of the input.
 */
#ifndef CRMGATE_IMPORT_H
#define CRMGATE_IMPORT_H

#include <glib.h>
#include <stdbool.h>

#include "crmgate/config.h"
#include "crmgate/db.h"
#include "crmgate/ingest.h"
#include "crmgate/result.h"

typedef struct import_run import_run;

typedef struct {
    guint seen;       /* messages read and parsed */
    guint stored;     /* stored (new or not) */
    guint fresh;      /* new to the database */
    guint dups;       /* already there: a capture event added */
    guint skipped;    /* policy skipped (never-log, internal-only) */
    guint errors;     /* rejected by the database */
    guint unreadable; /* could not be read or parsed */
    guint total;      /* messages expected, 0 when unknown (mbox) */
} import_stats;

/* Called at most every 100 ms while messages are read, and once at the
   end with final set. */
typedef void (*import_progress_fn)(const import_stats *st, double seconds,
                                   bool final, void *data);
/* Called for each message that could not be read or stored. */
typedef void (*import_error_fn)(const char *what, const char *error,
                                void *data);

typedef struct {
    ingest_direction direction; /* forced, or AUTO */
    import_progress_fn progress;
    import_error_fn on_error;
    void *data;
} import_opts;

/* Starts a run: db is the first lane's connection (borrowed), the other
   lanes connect to cfg->dsn. CRM_ERR_DB_DOWN when they cannot. */
crm_result import_run_new(const crm_config *cfg, db_conn *db,
                          const import_opts *opts, import_run **run_r,
                          char **error_r);

/* Reads everything at path: a file, a Maildir, a directory or an mbox. */
crm_result import_path(import_run *run, const char *path, char **error_r);

/* Stores what is left, stops the lanes and frees *runp. Returns the first
   fatal database error of the run, if any. */
crm_result import_finish(import_run **runp, import_stats *stats_r,
                         double *seconds_r, char **error_r);

/* Splits the mbox text data/len into messages, unquoting mboxrd ">From "
   lines, and calls fn for each message's bytes (valid until it returns).
   A "From " line starts a message at the start of the text or after a
   blank line. Returns the number of messages. */
typedef void (*import_mbox_fn)(const char *msg, gsize len, void *data);
guint import_mbox_split(const char *data, gsize len, import_mbox_fn fn,
                        void *fn_data);

#endif
