/*
 * message.h - the message model: what capture extracts from one RFC 5322
 * message, parsed with GMime 3.
 *
 * Parsing never fails on malformed input: it recovers what it can and
 * records each problem in warnings. Every list and byte count is bounded by
 * message_limits; a bound that cuts something adds a warning (never a
 * silent cut). All strings are valid UTF-8. Every parse goes through the
 * MIME guard (mime_guard.h) first, so parts, nesting, headers and lines are
 * bounded before GMime builds anything, and memory stays bounded whatever
 * the input.
 *
 * Single-valued headers (Message-ID, Date, Subject, From, Sender,
 * Reply-To) are read from their first occurrence, as mail clients and
 * Python's email package show them.
 */
#ifndef CRMGATE_MESSAGE_H
#define CRMGATE_MESSAGE_H

#include <glib.h>
#include <stdbool.h>

#include "crmgate/result.h"

typedef struct {
    char *name;    /* decoded display name, UTF-8; NULL when absent */
    char *address; /* addr-spec as written (not normalised), UTF-8 */
} message_addr;

typedef struct {
    char *filename;     /* decoded file name; NULL when absent */
    char *content_type; /* lower-case "type/subtype" */
    gsize size;         /* decoded size in bytes */
    char sha256[65];    /* lower-case hex of the decoded content */
    GBytes *content;    /* decoded content when size <= attachment_store_max,
                           else NULL */
} message_attachment;

typedef struct {
    gsize text_max;             /* UTF-8 bytes of body text kept */
    gsize attachment_store_max; /* attachments up to this keep content */
    guint max_depth;            /* message/rfc822 and multipart nesting */
    guint max_parts;            /* MIME parts visited */
    guint max_addresses;        /* addresses kept per header */
    guint max_references;       /* References ids kept (the last ones) */
    gsize part_header_bytes;    /* header bytes per MIME part */
    guint part_headers;         /* headers per MIME part */
    gsize total_header_bytes;   /* header bytes of all parts */
    guint total_headers;        /* headers of all parts */
    gsize line_bytes;           /* longer lines are cut (headers) or
                                   folded (bodies) */
} message_limits;

typedef struct json_t json_t; /* jansson's, for message_to_json */

typedef struct {
    char *message_id;      /* without <>; NULL when missing */
    char *in_reply_to;     /* first id of In-Reply-To, without <>; or NULL */
    GPtrArray *references; /* char *, without <>, oldest first, the last
                              max_references of them */
    GPtrArray *from;       /* message_addr *, each list never NULL */
    GPtrArray *sender;
    GPtrArray *to;
    GPtrArray *cc;
    GPtrArray *bcc;
    GPtrArray *reply_to;
    GDateTime *date;     /* Date header with its own offset; NULL when
                            missing or unparseable */
    char *subject;       /* RFC 2047 decoded; "" when missing */
    char *text;          /* body text: text/plain preferred, else HTML
                            converted to text; "" when none */
    bool text_truncated; /* text was cut at text_max */
    bool text_from_html;
    bool auto_reply;        /* Auto-Submitted (not "no"), X-Autoreply,
                               X-Autorespond or Precedence auto_reply/bulk/junk */
    GPtrArray *attachments; /* message_attachment * */
    GPtrArray *warnings;    /* char *, one per recovered problem */
    char digest[65];        /* SHA-256 hex identifying the content across
                               relays: Message-ID, From, Date, Subject and
                               the body bytes with line ends normalised */
    gsize raw_size;         /* bytes read from the input */
} crm_message;

/* Initialises GMime once; safe to call from any thread, any number of
   times. */
void message_library_init(void);

/* Fills lim with the defaults (text 256 KiB, attachments 10 MiB, depth 8,
   parts 500, addresses 500, references 32, per part 64 KiB and 1000
   headers, in total 256 KiB and 5000 headers, lines 64 KiB). */
void message_limits_default(message_limits *lim);

/* Parses the message in fd from offset to the end of the file. Returns
   CRM_OK with *msg_r set, even for malformed input (see warnings);
   CRM_ERR_PARSE only when nothing at all could be read; CRM_ERR_IO when fd
   cannot be read or seeked. The caller's file offset is left where it
   was. */
crm_result message_parse_fd(int fd, gint64 offset, const message_limits *lim,
                            crm_message **msg_r);
/* Same, from a buffer (not taken over; the message copies what it keeps). */
crm_result message_parse_bytes(const char *data, gsize len,
                               const message_limits *lim, crm_message **msg_r);
/* Same, from a file; CRM_ERR_IO when it cannot be opened. */
crm_result message_parse_file(const char *path, const message_limits *lim,
                              crm_message **msg_r);

/* Frees *msgp and clears the pointer; NULL is fine. */
void message_free(crm_message **msgp);

/* Returns a new JSON object, the `crmgate parse --json` contract:
   message_id, subject, date (RFC 3339 with the message's offset, or null),
   from, to, cc, reply_to (arrays of {name, address}), in_reply_to,
   references (array), text, attachments ({filename, content_type, size,
   sha256}), warnings (array of strings). */
json_t *message_to_json(const crm_message *msg);

/* Gives memory freed by parses back to the kernel (glibc keeps it in its
   arenas otherwise); for daemons to call after a batch. */
void message_release_memory(void);

/* Returns a newly allocated snippet: the first max_chars characters of text
   with runs of white space folded to one space. */
char *message_snippet(const crm_message *msg, guint max_chars);

#endif
