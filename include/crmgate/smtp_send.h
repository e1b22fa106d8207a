/*
 * smtp_send.h - sending mail to an SMTP relay with libcurl.
 *
 * A route is one relay (URL, credentials, TLS policy) with N parallel
 * connections kept alive between messages: the caller submits one transfer
 * per recipient, drives them with smtp_route_run() and collects each
 * outcome (classified reply code, the reply text, the relay's queue id)
 * with smtp_route_next_done(). smtp_send_one() is the blocking form for a
 * single message to a few recipients. A route belongs to one thread;
 * several routes may live in different threads. See core/smtp_send.c.
 */
#ifndef CRMGATE_SMTP_SEND_H
#define CRMGATE_SMTP_SEND_H

#include <glib.h>
#include <stdbool.h>

#include "crmgate/result.h"

/* Bounds: connections per route, reply text kept, queue id kept,
   envelope address length. */
#define SMTP_MAX_CONNECTIONS 256
#define SMTP_REPLY_MAX 512
#define SMTP_QUEUE_ID_MAX 64
#define SMTP_ADDR_MAX 320

typedef struct {
    const char *url;             /* smtp://host:port or smtps://host:port */
    const char *user, *password; /* NULL: no AUTH */
    bool starttls_required; /* smtp:// with STARTTLS required; false: none */
    guint connections;      /* parallel connections (transfers in flight) */
    guint timeout_s;        /* per transfer (0: 60) */
    const char *helo_name;  /* may be NULL */
} smtp_route_opts;

typedef enum {
    SMTP_SENT = 0,
    SMTP_TEMP,
    SMTP_THROTTLE,
    SMTP_PERM,
    SMTP_CONN
} smtp_outcome;

typedef struct {
    smtp_outcome outcome;
    int code;       /* the deciding reply code (250, 450, 550, ...) or 0 */
    char *reply;    /* that reply, one line, <= 512 bytes, valid UTF-8 */
    char *queue_id; /* "queued as XXXX" (Postfix), "id=XXXX", or NULL */
} smtp_result;

typedef struct smtp_route smtp_route;

/* Creates a route to o->url; NULL when the options are invalid (no URL or
   not smtp:// or smtps://, a helo_name with characters outside
   [A-Za-z0-9.-:[]]). connections is clamped to 1..SMTP_MAX_CONNECTIONS. */
smtp_route *smtp_route_new(const smtp_route_opts *o);

/* Frees the route, aborting transfers in flight (their results are lost);
   clears *rp. */
void smtp_route_free(smtp_route **rp);

/* Queues one transfer (one recipient); false when all connections are
   busy. The route keeps a reference to message until the transfer ends.
   user_data comes back with the result. An envelope address that is too
   long or holds control characters, spaces or <> completes at once as
   SMTP_PERM with code 0 (and takes no connection). */
bool smtp_route_submit(smtp_route *r, const char *env_from, const char *rcpt,
                       GBytes *message, gpointer user_data);

/* Returns the number of transfers submitted and not yet completed. */
guint smtp_route_in_flight(const smtp_route *r);

/* Drives transfers for at most timeout_ms (curl_multi_poll), returning
   early once at least one completed; returns transfers completed. */
guint smtp_route_run(smtp_route *r, int timeout_ms);

/* Takes one completed transfer; false when none. The caller owns
 *res_r (smtp_result_clear). */
bool smtp_route_next_done(smtp_route *r, gpointer *user_data_r,
                          smtp_result *res_r);

/* Returns how many new connections the route opened so far (the sum of
   CURLINFO_NUM_CONNECTS over its transfers). */
guint64 smtp_route_connects(const smtp_route *r);

/* Frees the strings of res and zeroes it. */
void smtp_result_clear(smtp_result *res);

/* Blocking single send (task notices, campaign test mail): several
   recipients, one transfer. CRM_OK when the relay accepted the message
   (res_r->outcome SMTP_SENT); CRM_ERR_BUSY for TEMP and THROTTLE,
   CRM_ERR_IO for PERM and CONN, CRM_ERR_USAGE for invalid arguments; *res_r
   is filled in every case but CRM_ERR_USAGE, *error_r (optional) set on
   failure. */
crm_result smtp_send_one(const smtp_route_opts *o, const char *env_from,
                         const char *const *rcpts, GBytes *message,
                         smtp_result *res_r, char **error_r);

/* Classifies a reply code: 2xx SENT; 421, 450, 451, 454 THROTTLE; other
   4xx TEMP; 5xx PERM; anything else (0: no reply) CONN. */
smtp_outcome smtp_classify(int code);

/* Returns the outcome's name: "sent", "temp", "throttle", "perm", "conn". */
const char *smtp_outcome_name(smtp_outcome o);

/* Extracts the relay's queue id from a reply text ("... queued as XXXX",
   "... id=XXXX"); a new string of at most SMTP_QUEUE_ID_MAX bytes of
   [A-Za-z0-9._-], or NULL. */
char *smtp_parse_queue_id(const char *reply);

#endif
