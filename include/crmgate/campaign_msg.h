/*
 * campaign_msg.h - one campaign message, built with GMime 3 and returned
 * as the CRLF bytes handed to SMTP DATA.
 *
 * Headers: From, To, Reply-To (when given), Subject (RFC 2047 when not
 * ASCII), Date, Message-ID <TOKEN.RANDOM@bounce_domain> (RANDOM: 8
 * lowercase hex), MIME-Version, List-Unsubscribe: <URL>,
 * <mailto:unsubscribe+TOKEN@bounce_domain>, List-Unsubscribe-Post:
 * List-Unsubscribe=One-Click, Precedence: bulk, Feedback-ID and
 * X-CRMGate-Campaign. CR and LF in every input value become spaces (no
 * header injection); invalid UTF-8 is repaired; non-ASCII subjects and
 * names are RFC 2047 Q words. Body: text/plain alone,
 * or multipart/alternative (text, then HTML); each part charset=utf-8,
 * quoted-printable when it has 8-bit bytes or a line over
 * CAMPAIGN_MSG_LINE_MAX bytes, else 7bit.
 */
#ifndef CRMGATE_CAMPAIGN_MSG_H
#define CRMGATE_CAMPAIGN_MSG_H

#include <glib.h>

/* Longest body line sent as 7bit (RFC 5322's 998 without CRLF). */
#define CAMPAIGN_MSG_LINE_MAX 998

typedef struct {
    const char *from_name, *from_address; /* the sending account */
    const char *reply_to;                 /* may be NULL */
    const char *to_name, *to_address;
    const char *subject; /* rendered, UTF-8 */
    const char *text;    /* rendered text body (required) */
    const char *html;    /* rendered HTML body or NULL */
    const char *signature_text,
        *signature_html; /* appended (text: "\n-- \n" + sig); may be NULL */
    const char *token;   /* recipient token */
    const char *bounce_domain;
    const char *unsubscribe_url; /* https/http URL */
    const char *feedback_id;     /* full Feedback-ID value, e.g.
                                    "42:7:crmgate:crmgate" */
    gint64 campaign_id;
    GDateTime *date; /* NULL = now */
} campaign_msg_input;

/* Returns the message as CRLF bytes ready for SMTP DATA (no dot-stuffing:
   libcurl does it); *message_id_r (may be NULL; g_free it) gets the
   Message-ID without brackets. NULL (and *message_id_r NULL) when a
   required field (from_address, to_address, text, token, bounce_domain,
   unsubscribe_url) is missing or empty. */
GBytes *campaign_msg_build(const campaign_msg_input *in, char **message_id_r);

/* A builder keeps one GMime message made from the parts every message of
   a campaign shares (from_name, from_address, reply_to, bounce_domain,
   feedback_id, campaign_id, whether there is HTML) and sets only the
   recipient's parts per message: several times faster than
   campaign_msg_build for a run of messages. The output is the same.
   Not thread-safe: one builder per thread. */
typedef struct campaign_msg_builder campaign_msg_builder;

/* A new builder (campaign_msg_builder_free it). */
campaign_msg_builder *campaign_msg_builder_new(void);

/* campaign_msg_build through b; when a shared part of in differs from the
   previous message's, b makes its message again. */
GBytes *campaign_msg_builder_build(campaign_msg_builder *b,
                                   const campaign_msg_input *in,
                                   char **message_id_r);

/* Frees b (NULL is fine). */
void campaign_msg_builder_free(campaign_msg_builder *b);

#endif
