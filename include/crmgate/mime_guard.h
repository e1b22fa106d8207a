/*
 * mime_guard.h - a streaming, bounded pre-scanner for raw MIME messages.
 *
 * Fed the raw message in chunks of any size, the guard follows the MIME
 * structure itself (header blocks, multipart boundaries, message/rfc822
 * bodies) and writes a bounded copy of the message: what GMime is then given
 * to parse. It enforces, before GMime sees anything, the number of MIME
 * parts, the nesting depth, header bytes and header count per part and in
 * total, and the line length. Past a bound the copy stays parseable and
 * keeps what fits; each kind of cut is counted in mime_guard_stats and
 * described by mime_guard_warnings(). Memory is O(bounds), whatever the
 * input.
 */
#ifndef CRMGATE_MIME_GUARD_H
#define CRMGATE_MIME_GUARD_H

#include <glib.h>
#include <stdbool.h>

typedef struct {
    guint max_parts;          /* MIME entities (header blocks), the top one
                                 included */
    guint max_depth;          /* multipart and message/rfc822 nesting */
    gsize part_header_bytes;  /* header bytes per part */
    guint part_headers;       /* headers per part */
    gsize total_header_bytes; /* header bytes of all parts */
    guint total_headers;      /* headers of all parts */
    gsize line_bytes;         /* line length without its line end; also
                                 the preamble and the epilogue kept per
                                 multipart */
} mime_guard_limits;

typedef struct {
    guint64 bytes_in;
    guint64 bytes_out;
    guint parts;                     /* entities kept */
    guint64 parts_dropped;           /* parts past max_parts */
    guint64 parts_opaque;            /* containers kept as opaque leaves
                                        (nesting or part count) */
    guint64 headers_part_count;      /* headers dropped: per-part count */
    guint64 headers_part_bytes;      /* headers dropped: per-part bytes */
    guint64 headers_total_count;     /* headers dropped: total count */
    guint64 headers_total_bytes;     /* headers dropped: total bytes */
    guint64 header_lines_cut;        /* header lines cut at line_bytes */
    guint64 body_lines_folded;       /* body lines folded at line_bytes */
    guint64 duplicate_content_types; /* second and later Content-Type
                                        headers of a part, dropped */
    guint64 face_bytes_dropped;      /* preamble and epilogue bytes past
                                        line_bytes per multipart */
} mime_guard_stats;

/* Receives the bounded copy, in order. */
typedef void (*mime_guard_write_fn)(const char *data, gsize len, gpointer user);

typedef struct mime_guard mime_guard;

/* The default bounds, one place for the guard and the config table. */
#define MIME_GUARD_MAX_PARTS 500
#define MIME_GUARD_MAX_DEPTH 8
#define MIME_GUARD_PART_HEADER_BYTES (64 * 1024)
#define MIME_GUARD_PART_HEADERS 1000
#define MIME_GUARD_TOTAL_HEADER_BYTES (256 * 1024)
#define MIME_GUARD_TOTAL_HEADERS 5000
#define MIME_GUARD_LINE_BYTES (64 * 1024)

/* Fills lim with the defaults: 500 parts, depth 8, 64 KiB and 1000
   headers per part, 256 KiB and 5000 headers in total, lines of 64 KiB. */
void mime_guard_limits_default(mime_guard_limits *lim);

/* Returns a new guard writing its copy to write(user) (NULL: count only).
   Initialises GMime if needed (it parses Content-Type values). */
mime_guard *mime_guard_new(const mime_guard_limits *lim,
                           mime_guard_write_fn write, gpointer user);

/* Feeds the next len bytes of the raw message. */
void mime_guard_feed(mime_guard *g, const char *data, gsize len);

/* Ends the input: flushes the last line and all output. */
void mime_guard_finish(mime_guard *g);

/* Returns the counters (borrowed; final after mime_guard_finish). */
const mime_guard_stats *mime_guard_get_stats(const mime_guard *g);

/* True when the copy differs from the input (something was cut). */
bool mime_guard_changed(const mime_guard *g);

/* Returns a new array of new strings, one warning per kind of cut, with
   its count and bound (empty when nothing was cut). */
GPtrArray *mime_guard_warnings(const mime_guard *g);

/* Frees *gp and clears the pointer; NULL is fine. */
void mime_guard_free(mime_guard **gp);

#endif
