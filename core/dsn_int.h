/*
 * dsn_int.h - shared between the bounce parser's files (core/dsn.c, the
 * MIME side; core/dsn_fields.c, fields and helpers; core/dsn_text.c, the
 * prose side; core/dsn_reason.c, the reason tables). Not an API.
 */
#ifndef CRMGATE_DSN_INT_H
#define CRMGATE_DSN_INT_H

#include "crmgate/dsn.h"

/* A one-line, valid UTF-8, NUL-free copy of s[0..len) with runs of white
   space squeezed, cut at max bytes on a character boundary. */
char *dsn_int_line(const char *s, gsize len, gsize max);
/* The first e-mail address in s[0..len) (bracketed or bare), normalised
   and lower case, or NULL. */
char *dsn_int_address(const char *s, gsize len);
/* Adds a recipient (NULL fields are ""), unless the address is there
   already or the report holds DSN_MAX_RECIPIENTS; returns it or NULL. */
dsn_recipient *dsn_int_add(dsn_report *rep, const char *addr,
                           const char *action, const char *status,
                           const char *diagnostic);
/* The recipient with that address, or NULL. */
dsn_recipient *dsn_int_find(dsn_report *rep, const char *addr);
/* The first status code "c.s.d" (c in 2, 4, 5) in s, into out[16]; false
   if none. */
bool dsn_int_status_in(const char *s, char out[16]);
/* The first SMTP reply code (2xx, 4xx, 5xx, a word of its own) in s, or 0. */
int dsn_int_reply_in(const char *s);
/* Reads the prose of a bounce: adds the recipients it names (none of the
   addresses in skip, a NULL-terminated list), each with the text that
   follows it as diagnostic. Returns how many it added. */
guint dsn_int_text(dsn_report *rep, const char *text, gsize len,
                   const char *const *skip);
/* The prose cut where the returned original message starts. */
gsize dsn_int_text_cut(const char *text, gsize len);

/* dsn_classify with a context text (the prose about the recipient) that
   may tell the SMTP command the error answered. */
const char *dsn_classify_ctx(const char *diagnostic, const char *context,
                             const char *status, int reply_code);

/* The reason of a failure a local delivery program reported (Diagnostic-
   Code of type X-Unix): a phrase of the tables, else "mailererror". */
const char *dsn_int_mailer_reason(const char *diagnostic);

/* A new empty report of that kind. */
dsn_report *dsn_int_report_new(const char *kind);
/* "type; value" -> value (the whole string when there is no ';' before
   an '@'). */
const char *dsn_int_after_type(const char *v);
/* Reads the fields of message/delivery-status text into rep: groups
   split at blank lines and at a second Final-Recipient. */
void dsn_int_parse_ds(dsn_report *rep, const char *text, gsize len);
/* An Amazon SES notification (JSON body) as a report, or NULL. */
dsn_report *dsn_int_ses_json(const char *prose);

#endif
