/*
 * message_int.h - private to the message parser: what core/message.c and
 * core/message_mime.c share. Not installed, not for other modules; the
 * public API is include/crmgate/message.h.
 *
 * message.c owns the parse context (message_parse_stream keeps it on its
 * stack for one call) and the top-level headers; message_input.c reads the
 * input (MIME guard pass, digest); message_mime.c walks the MIME tree into
 * body candidates and attachments and builds msg->text; message_json.c
 * writes the outputs; message_util.c holds what all need (text cleaning,
 * warnings, SHA-256, RFC 2047) and calls none of them, so calls go one
 * way: message.c -> message_input.c, message_mime.c -> message_util.c. Shared
 * functions are prefixed message_int_; everything else in these files is
 * static.
 */
#ifndef CRMGATE_MESSAGE_INT_H
#define CRMGATE_MESSAGE_INT_H

#include "crmgate/message.h"

#include "crmgate/hash.h"
#include <glib.h>
#include <gmime/gmime.h>
#include <stdbool.h>

#define MSG_CHUNK 65536          /* bytes per streaming read */
#define MSG_NAME_MAX 1024        /* display names, addresses, file names */
#define MSG_WARNING_ITEM_MAX 200 /* bytes of quoted input in a warning */

/* One message_parse_stream call: the message being filled and its bounds. */
typedef struct {
    crm_message *msg;
    message_limits lim;
    GMimeParserOptions *opts;
    guint parts; /* MIME objects visited */
    bool parts_warned;
    bool depth_warned;
    GPtrArray *plain; /* GMimePart *, borrowed: body candidates */
    GPtrArray *html;
} parse_ctx;

/* What a parse reads: a seekable stream from start, or a caller's buffer
   (read in place, copied into a stream only when GMime needs it). */
typedef struct {
    GMimeStream *stream;
    gint64 start;
    const char *buf;
    gsize len;
} msg_source;

/* message.c */

/* Parses a message from stream (read from its current position to its
   end; the stream must be seekable), through the MIME guard. Returns CRM_OK
   with *msg_r set, even for malformed input (see warnings); CRM_ERR_PARSE
   only when nothing at all could be read; CRM_ERR_USAGE for a stream that
   cannot seek. */
crm_result message_parse_stream(GMimeStream *stream, const message_limits *lim,
                                crm_message **msg_r);

/* message_input.c */

/* Scans the input through the MIME guard. Sets *guarded_r to NULL when the
   message is within every bound (parse the input itself), else to a new
   stream over the bounded copy; the guard's warnings go to msg. */
crm_result message_int_guard(const msg_source *src, const message_limits *lim,
                             crm_message *msg, GMimeStream **guarded_r);

/* Reads the input for msg->raw_size and msg->digest (m gives the From,
   Date and Subject values; may be NULL). */
crm_result message_int_digest(crm_message *msg, const msg_source *src,
                              GMimeMessage *m);

/* message_util.c */

/* Returns valid UTF-8 without NUL bytes, cut to max bytes; *cut_r (may
   be NULL) tells whether it was cut. len < 0: s is NUL-terminated. */
char *message_int_clean_text(const char *s, gssize len, gsize max, bool *cut_r);

/* Adds a warning to msg (cleaned to UTF-8, deduplicated, bounded). */
void message_int_add_warning(crm_message *msg, const char *fmt, ...)
    G_GNUC_PRINTF(2, 3);

/* Decodes a raw header value: unfolded, RFC 2047 encoded words decoded
   and joined (white space between adjacent encoded words dropped), UTF-8
   (not yet cleaned), trimmed. */
char *message_int_decode_header(const char *raw);

/* message_mime.c */

/* Walks the MIME tree from obj: body candidates into ctx->plain and
   ctx->html, every other leaf and attached message into msg->attachments,
   within max_parts and max_depth. Call with depth 0 and body_scope true. */
void message_int_walk(parse_ctx *ctx, GMimeObject *obj, guint depth,
                      bool body_scope);

/* Joins the body candidates (text/plain, else converted HTML) into
   msg->text, at most text_max bytes. Call after message_int_walk. */
void message_int_read_body_text(parse_ctx *ctx);

#endif
