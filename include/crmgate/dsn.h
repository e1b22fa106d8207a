/*
 * dsn.h - the bounce parser: delivery status notifications (RFC 3464),
 * complaint reports (ARF, RFC 5965), the prose bounces of the common MTAs
 * and providers, and auto-replies, each recipient classified with a reason
 * in Sisimai's vocabulary and a hard/soft flag (Sisimai's hardbounce).
 *
 * Limits: the message given is scanned once (GMime) plus bounded text
 * scans; at most DSN_MAX_PARTS MIME parts walked, DSN_MAX_RECIPIENTS kept,
 * DSN_MAX_TEXT bytes of prose looked at, diagnostics cut at
 * DSN_MAX_DIAGNOSTIC bytes.
 */
#ifndef CRMGATE_DSN_H
#define CRMGATE_DSN_H

#include <glib.h>
#include <jansson.h>
#include <stdbool.h>

#define DSN_MAX_PARTS 256
#define DSN_MAX_DEPTH 16
#define DSN_MAX_RECIPIENTS 1000
#define DSN_MAX_TEXT (256 * 1024)
#define DSN_MAX_DIAGNOSTIC 1000

typedef struct {
    char *recipient;  /* normalised lower-case address (never "") */
    char *action;     /* failed, delayed, delivered, relayed, expanded */
    char *status;     /* "5.1.1" or "" */
    char *diagnostic; /* one line, <= DSN_MAX_DIAGNOSTIC bytes, UTF-8 */
    char *reason;     /* Sisimai's vocabulary: userunknown, ... undefined */
    int reply_code;   /* 550 or 0 */
    bool hard;        /* Sisimai's hardbounce */
} dsn_recipient;

typedef struct {
    GPtrArray *recipients;        /* dsn_recipient* */
    char *kind;                   /* "dsn", "arf", "text", "autoreply" */
    char *feedback_type;          /* ARF Feedback-Type or NULL */
    char *original_message_id;    /* Message-ID of the original, or NULL */
    char *original_envelope_from; /* Return-Path of the original, or NULL */
} dsn_report;

/* Parses a bounce/complaint/auto-reply message (raw bytes). Returns NULL
   when it is none of them. */
dsn_report *dsn_parse(const char *data, gsize len);
/* Frees *rp and sets it to NULL (NULL-safe). */
void dsn_report_free(dsn_report **rp);
/* The report as {"recipients":[{recipient,action,status,diagnostic,reason,
   hard}],"kind","feedback_type","original_message_id"}; a new reference. */
json_t *dsn_report_json(const dsn_report *r);
/* Sisimai's hardbounce: userunknown, hostunknown, hasmoved, and notaccept
   with a 5xx status (status may be NULL or ""). */
bool dsn_reason_is_hard(const char *reason, const char *status);
/* The reason for a diagnostic text, a status ("5.1.1" or "") and a reply
   code (0 if none): phrase table first for ambiguous codes, like Sisimai. */
const char *dsn_classify(const char *diagnostic, const char *status,
                         int reply_code);

#endif
