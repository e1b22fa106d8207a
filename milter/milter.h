/*
 * milter.h - crmgate-milter's private state: a connection context holding
 * a message context, as in OpenDKIM; the journal; the ingester child.
 *
 * Two processes: the milter itself holds Postfix's connections and does
 * as little as possible (take bytes, journal them, answer); its child, the
 * ingester (the same binary started with --ingester), parses the journal
 * entries and stores them in PostgreSQL. A parser crash or hang, or a
 * database that is down or frozen, costs neither mail flow nor captures.
 */
#ifndef CRMGATE_MILTER_H
#define CRMGATE_MILTER_H

#include <glib.h>
#include <libmilter/mfapi.h>
#include <stdbool.h>

#include "crmgate/config.h"
#include "crmgate/ingest.h"
#include "crmgate/spool.h"

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
    spool_flags cut; /* what was cut while receiving */
    bool eoh_seen;
    gint64 started_us;
} milter_msg;

typedef struct {
    milter_msg *msg;
    unsigned long negotiated; /* SMFIP_* steps and flags agreed */
} milter_conn;

/* Process-wide state, set up once in main(). */
typedef struct {
    crm_config *cfg;
    char *config_path; /* absolute, for the ingester */
    const char *log_level_name;
    gint sessions; /* open MTA connections (atomic) */
} milter_state;

extern milter_state milter_g;

/* The libmilter descriptor with our callbacks. */
extern struct smfiDesc milter_desc;

/* The write end of the pipe to the ingester (journal.c; set by
   milter_ingester_start() before the listener starts, never closed while
   sessions run), or -1. */
extern int milter_notify_fd;

/* Frees *msgp (closing its spill file) and clears the pointer. */
void milter_msg_free(milter_msg **msgp);

/* Journals one finished message (fsync'd) and tells the ingester. Returns
   the one-line summary for the log (newly allocated). Never fails the
   mail: a journal that cannot be written is logged as a lost capture. */
char *milter_journal(milter_msg *msg, const char *queue_id);

/* Starts the thread that runs the ingester child and restarts it when it
   dies (with back-off); milter_ingester_stop() ends it, waiting at most
   wait_s seconds for the child to finish its batch. */
void milter_ingester_start(void);
void milter_ingester_stop(guint wait_s);

/* The one listening socket libmilter opened (smfi_opensocket), or -1. */
int milter_find_listener(void);
/* Blocks the stop signals in the calling thread (and the threads it
   starts afterwards). */
void milter_signals_block(void);
/* Waits for a stop signal, then stops without breaking a session: stop
   accepting (listen_fd, and unix_path unlinked when not NULL), serve the
   open sessions at most drain_timeout_s seconds, smfi_stop(). */
void milter_wait_and_stop(int listen_fd, const char *unix_path,
                          guint drain_timeout_s);

/* The ingester process: main() calls this for --ingester. Returns the exit
   status. */
int milter_ingester_main(void);

#endif
