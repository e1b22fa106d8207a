/*
 * spool.h - the fsync'd spool that holds captures the database could not
 * take (down, too slow, or any internal failure), until replay.
 *
 * One file per message: a first line with the envelope as JSON, then the
 * raw message bytes. Files are written under a temporary name, fsync'd,
 * renamed and the directory fsync'd, so a file that exists is complete.
 * Replay takes an exclusive flock per file, so the milter's timer and
 * `crmgate spool replay` can run at the same time without double work.
 */
#ifndef CRMGATE_SPOOL_H
#define CRMGATE_SPOOL_H

#include <glib.h>
#include <stdbool.h>

#include "crmgate/config.h"
#include "crmgate/db.h"
#include "crmgate/ingest.h"
#include "crmgate/result.h"

/* Writes one capture: the raw message is data/len when data is not NULL,
   otherwise the whole content of the file fd (read from offset 0). */
crm_result spool_write(const char *dir, const ingest_envelope *env,
                       const char *data, gsize len, int fd, char **path_r,
                       char **error_r);

typedef struct {
    guint files;   /* messages waiting */
    guint64 bytes; /* their total size */
    gint64 oldest; /* unix time of the oldest, 0 if none */
    guint bad;     /* files set aside as unreadable */
} spool_stats;

/* Counts what waits in dir. */
crm_result spool_status(const char *dir, spool_stats *stats_r, char **error_r);

typedef struct {
    guint replayed; /* ingested and removed */
    guint skipped;  /* policy skipped (never-log...) and removed */
    guint bad;      /* unreadable, moved to dir/bad */
    guint left;     /* still waiting (database down, or locked) */
} spool_replay_stats;

/* Ingests every waiting file, oldest first, and removes each one stored.
   Stops at the first database failure (CRM_ERR_DB_DOWN; the rest waits). */
crm_result spool_replay(const crm_config *cfg, db_conn *db,
                        spool_replay_stats *stats_r, char **error_r);

#endif
