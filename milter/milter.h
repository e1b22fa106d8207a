/*
 * milter.h - crmgate-milter's private state: a connection context holding
 * a message context, as in OpenDKIM.
 */
#ifndef CRMGATE_MILTER_H
#define CRMGATE_MILTER_H

#include <glib.h>
#include <libmilter/mfapi.h>
#include <stdbool.h>

#include "crmgate/config.h"
#include "crmgate/db.h"
#include "crmgate/ingest.h"

/* One message in flight: envelope and bytes. The bytes (headers, blank
   line, body) live in memory up to limits.body_memory_bytes and in an
   unlinked temporary file beyond it, so a 50 MB message costs no memory. */
typedef struct {
    char *envelope_from;
    GPtrArray *rcpts; /* char *, as given in RCPT TO */
    char *auth_authen;
    char *daemon_name;
    bool non_smtpd;
    GByteArray *mem; /* bytes while in memory */
    int spill_fd;    /* -1 until spilled */
    gsize size;      /* bytes kept (memory or file) */
    gsize header_bytes;
    guint rcpts_dropped;
    bool headers_cut;
    bool body_cut;
    bool eoh_seen;
    bool failed; /* an I/O error: capture what we have, spool it */
    gint64 started_us;
} milter_msg;

typedef struct {
    milter_msg *msg;
    unsigned long negotiated; /* SMFIP_* steps and flags agreed */
} milter_conn;

/* Process-wide state, set up once in main(). */
typedef struct {
    crm_config *cfg;
    gint db_down_until_s; /* monotonic seconds: spool without trying */
    GMutex replay_lock;
    GCond replay_cond;
    bool stopping;
} milter_state;

extern milter_state milter_g;

/* The libmilter descriptor with our callbacks. */
extern struct smfiDesc milter_desc;

/* Frees *msgp (closing its spill file) and clears the pointer. */
void milter_msg_free(milter_msg **msgp);

/* Stores one finished message: parse, plan, database or spool. Returns a
   one-line summary for the log (newly allocated). Never fails: every
   problem ends in the spool or in a logged reason. */
char *milter_capture(milter_msg *msg, const char *queue_id);

/* Starts n writer threads (each with its own database connection) that
   store queued captures in batches; milter_writers_stop() drains and joins
   them once no session can queue more. */
void milter_writers_start(guint n);
void milter_writers_stop(void);

/* Starts the thread that replays the spool every replay_interval seconds
   while the database is reachable; stopped by milter_replay_stop(). */
GThread *milter_replay_start(void);
void milter_replay_stop(GThread *thread);

#endif
