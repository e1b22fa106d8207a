/*
 * spool.h - the capture journal: every message the milter accepts is
 * written here first, fsync'd, and only then answered; the ingester
 * (a child process of crmgate-milter) stores the entries in PostgreSQL in
 * batches and deletes each one once it is committed. A database that is
 * down, slow or frozen only makes the journal longer.
 *
 * One file per message: a first line with the envelope as JSON (bounded
 * to SPOOL_ENVELOPE_MAX when written and when read), then the raw message
 * bytes. An entry is written under a temporary name and locked, renamed
 * while still locked, and made durable with one fdatasync (data, inode and
 * name in one filesystem journal commit on ext4 and XFS; concurrent
 * sessions share the commit). The envelope records the message size, so
 * an entry cut short by a crash before the sync (never acknowledged) is
 * recognised and set aside. Readers take an exclusive flock per file
 * (skipping entries still being written), so the ingester and `crmgate
 * spool replay`
 * can run at the same time without double work. Files that can never be
 * parsed, or that crashed the ingester repeatedly, are moved to bad/.
 */
#ifndef CRMGATE_SPOOL_H
#define CRMGATE_SPOOL_H

#include <glib.h>
#include <stdbool.h>

#include "crmgate/config.h"
#include "crmgate/db.h"
#include "crmgate/ingest.h"
#include "crmgate/result.h"

#define SPOOL_ENVELOPE_MAX (1024 * 1024)

/* What the milter cut while receiving; stored with the entry, so the
   capture records it whenever it is ingested. */
typedef struct {
    bool headers_cut;    /* headers past limits.header_bytes dropped */
    bool body_cut;       /* bytes past limits.message_bytes dropped */
    bool partial;        /* an I/O error: only part of the message kept */
    guint rcpts_dropped; /* recipients past the limit not recorded */
} spool_flags;

/* Writes one entry: the raw message is data/len when data is not NULL,
   otherwise the whole content of the file fd (read from offset 0). The
   envelope line is cut to SPOOL_ENVELOPE_MAX by dropping recipients
   (counted in rcpts_dropped). Sets *name_r to the new file's name in dir
   (newly allocated). */
crm_result spool_write(const char *dir, const ingest_envelope *env,
                       const spool_flags *flags, const char *data, gsize len,
                       int fd, char **name_r, char **error_r);

typedef struct {
    guint files;       /* messages waiting */
    guint64 bytes;     /* their total size */
    gint64 oldest;     /* unix time of the oldest, 0 if none */
    guint bad;         /* files set aside in bad/ */
    gint64 oldest_bad; /* unix time of the oldest in bad/, 0 if none */
} spool_stats;

/* Counts what waits in dir. */
crm_result spool_status(const char *dir, spool_stats *stats_r, char **error_r);

/* Lists the waiting entries of dir, oldest first (char *, owned). */
GPtrArray *spool_list(const char *dir, char **error_r);

typedef struct {
    guint replayed; /* stored and removed */
    guint skipped;  /* policy skipped (never-log...) and removed */
    guint bad;      /* moved to dir/bad */
    guint left;     /* still waiting (database down, locked, retry) */
} spool_replay_stats;

/* Per-entry failure counts kept by a long-running ingester (name ->
   count); NULL for a one-shot replay. */
typedef GHashTable spool_attempts;
spool_attempts *spool_attempts_new(void);

/* Called before each entry is parsed and after (name NULL): the ingester
   records the entry it is working on, so a crash can be blamed on it. */
typedef void (*spool_parse_hook)(const char *name, void *data);

typedef struct {
    guint max_attempts;        /* SQL failures of one entry before bad/ */
    spool_attempts *attempts;  /* may be NULL */
    spool_parse_hook on_parse; /* may be NULL */
    void *hook_data;
    guint timeout_ms; /* per query; 0 = no limit */
} spool_ingest_opts;

/* Stores the named entries of cfg->spool_dir as one batch (one
   transaction) and removes each one stored or skipped. Entries that are
   gone or locked by another reader are passed over. Returns CRM_OK when
   the batch went through (single entries may have failed: see stats);
   CRM_ERR_DB_DOWN when the database is unreachable, slow or answered with
   a transient error (serialization, deadlock, shutdown): nothing was lost,
   retry later; CRM_ERR_CONFIG when the schema lacks the capture functions
   (run `crmgate migrate`); the entries stay. */
crm_result spool_ingest(const crm_config *cfg, db_conn *db,
                        const char *const *names, guint n,
                        const spool_ingest_opts *opts,
                        spool_replay_stats *stats_r, char **error_r);

/* Ingests every waiting entry, oldest first, in batches. Stops at the
   first database failure (the rest waits). */
crm_result spool_replay(const crm_config *cfg, db_conn *db,
                        spool_replay_stats *stats_r, char **error_r);

/* Moves every entry of dir/bad back into dir, to be retried; sets
 *moved_r. */
crm_result spool_unbad(const char *dir, guint *moved_r, char **error_r);

/* Removes temporary files a crash left behind before their rename (older
   than an hour: a write in progress is never that old; such an entry was
   never acknowledged). */
void spool_remove_stale(const char *dir);

/* Moves one entry to dir/bad and logs why. */
void spool_set_aside(const char *dir, const char *name, const char *why);

#endif
