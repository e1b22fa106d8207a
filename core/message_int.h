/*
 * message_int.h - private to the message parser: what core/message.c and
 * core/message_mime.c share. Not installed, not for other modules; the
 * public API is include/crmgate/message.h.
 *
 * message.c owns the parse context (message_parse_stream keeps it on its
 * stack for one call), the warnings and the text cleaning; message_mime.c
 * walks the MIME tree into body candidates and attachments and builds
 * msg->text. Functions shared between the two are prefixed message_int_;
 * everything else in either file is static.
 */
#ifndef CRMGATE_MESSAGE_INT_H
#define CRMGATE_MESSAGE_INT_H

#include "crmgate/message.h"

#include <glib.h>
#include <gmime/gmime.h>
#include <stdbool.h>

#include "crmgate/hash.h"

#define MSG_CHUNK 65536   /* bytes per streaming read */
#define MSG_NAME_MAX 1024 /* display names, addresses, file names */

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

/* message.c */

/* Returns valid UTF-8 without NUL bytes, cut to max bytes; *cut_r (may
   be NULL) tells whether it was cut. len < 0: s is NUL-terminated. */
char *message_int_clean_text(const char *s, gssize len, gsize max, bool *cut_r);

/* Adds a warning to msg (cleaned to UTF-8, deduplicated, bounded). */
void message_int_add_warning(crm_message *msg, const char *fmt, ...)
    G_GNUC_PRINTF(2, 3);

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
