/*
 * mime_guard.c - the streaming bounded pre-scanner of mime_guard.h: the
 * raw message goes in, a bounded copy for GMime comes out.
 *
 * Why: GMime keeps every header and every part of a message as objects
 * (about 50 bytes of memory per byte of a flood of tiny headers), so a
 * 5 MB message could cost 300 MB. The guard sees the bytes first and only
 * lets through what the limits allow, in O(bounds) memory: one line buffer
 * (line_bytes), one pending header and the kept headers of one block
 * (part_header_bytes each), a stack of at most max_depth multipart
 * boundaries and a 64 KiB output buffer. The copy of a copy is the copy:
 * run over its own output with the same limits, the guard cuts nothing.
 *
 * It follows GMime's own reading (gmime-parser.c, 3.2), so that the
 * structure it bounds is the one GMime will build from the copy:
 *  - a header block ends at an empty line, or at a line that is a boundary
 *    of an enclosing multipart (a part without content); a line starting
 *    with a blank continues the header before it; every other line starts
 *    a header (GMime ignores the invalid ones, they still count here);
 *  - the type comes from the Content-Type value read as loosely as GMime's
 *    parser does (type "/" subtype tokens), the boundary from the value
 *    parsed by GMime itself; no or no valid Content-Type gives text/plain,
 *    or message/rfc822 inside multipart/digest;
 *  - multipart with a boundary and message/rfc822 (rfc2822, global, news)
 *    not encoded in base64, quoted-printable or uuencode are containers;
 *  - a boundary line is "--" boundary ["--"] followed by white space only,
 *    checked against every enclosing multipart, innermost first; a
 *    boundary of an outer one ends the inner ones.
 * A part keeps only its first Content-Type header (GMime would use the
 * last, mail clients and Python's email package use the first), and keeps
 * it past the header bounds when it is at most GUARD_CT_MAX bytes, so that
 * a flood of headers does not change what the part is (it still counts).
 *
 * Cuts: headers past the per-part or total count or bytes are dropped
 * (the blank line that ends the block is kept); parts past max_parts are
 * dropped up to the closing boundary of their multipart; a container at
 * max_depth (or a message/rfc822 whose inner message would pass max_parts)
 * has its Content-Type replaced by "Content-Type: application/octet-stream"
 * (the header block is held until its end for that), so GMime keeps it as
 * one opaque leaf; a header
 * line longer than line_bytes is cut there, a body line is folded there (a
 * line break inserted: base64 decodes the same, text keeps every byte);
 * the preamble and the epilogue of a multipart (and the whole body of a
 * multipart without boundary), which GMime keeps as strings in memory and
 * capture never uses, are kept up to line_bytes each.
 * The copy is never longer than the input plus one line end per fold and
 * one header line per opaque container.
 */
#include "crmgate/mime_guard.h"

#include "crmgate/message.h"

#include <gmime/gmime.h>
#include <string.h>

#define GUARD_OUT_CHUNK 65536
#define GUARD_OPAQUE "Content-Type: application/octet-stream"
/* The first Content-Type of a part up to this size is kept past the
   header bounds: it decides the structure. */
#define GUARD_CT_MAX 1024

typedef enum { ST_HEADERS, ST_BODY, ST_SKIP } guard_state;
typedef enum { B_NONE, B_DELIM, B_CLOSE } boundary_kind;

typedef struct {
    char *dashed; /* "--" boundary */
    gsize len;
    guint depth; /* of the multipart entity */
    bool digest;
} guard_frame;

/* The header block being read. */
typedef struct {
    guint depth;
    bool digest_parent;
    guint headers;
    gsize bytes;
    GString *hdr;    /* pending header, when it may be kept */
    gsize hdr_len;   /* its length, stored or not */
    bool hdr_open;   /* a header is pending */
    bool hdr_stored; /* hdr holds all of it */
    bool have_ct;
    char *ct_raw; /* raw value of the kept Content-Type */
    gsize ct_off; /* where it is in the block */
    gsize ct_len;
    bool have_cte;
    GMimeContentEncoding cte;
} guard_entity;

struct mime_guard {
    mime_guard_limits lim;
    mime_guard_write_fn write;
    gpointer user;
    mime_guard_stats st;
    GMimeParserOptions *opts;
    GString *out;
    GString *block; /* the kept headers of the block being read */
    GString *line;
    bool discard;    /* dropping the rest of an over-long header line */
    bool discard_cr; /* the last byte dropped was a CR */
    bool eol_known;
    bool eol_crlf; /* the first line ended with CRLF */
    bool finished;
    guard_state state;
    bool face;         /* ST_BODY is a multipart preamble or epilogue */
    gsize face_bytes;  /* its bytes so far */
    guint skip_level;  /* ST_SKIP: the frame whose parts are dropped */
    GPtrArray *frames; /* guard_frame *, innermost last */
    guint total_headers;
    gsize total_bytes;
    guard_entity e;
};

void mime_guard_limits_default(mime_guard_limits *lim)
{
    lim->max_parts = MIME_GUARD_MAX_PARTS;
    lim->max_depth = MIME_GUARD_MAX_DEPTH;
    lim->part_header_bytes = MIME_GUARD_PART_HEADER_BYTES;
    lim->part_headers = MIME_GUARD_PART_HEADERS;
    lim->total_header_bytes = MIME_GUARD_TOTAL_HEADER_BYTES;
    lim->total_headers = MIME_GUARD_TOTAL_HEADERS;
    lim->line_bytes = MIME_GUARD_LINE_BYTES;
}

static void frame_free(gpointer p)
{
    guard_frame *f = p;
    g_free(f->dashed);
    g_free(f);
}

/* ---- output ---- */

static void flush_out(mime_guard *g)
{
    if (g->out->len > 0 && g->write != NULL)
        g->write(g->out->str, g->out->len, g->user);
    g_string_truncate(g->out, 0);
}

static void emit(mime_guard *g, const char *s, gsize n)
{
    if (g->state == ST_HEADERS) {
        g_string_append_len(g->block, s, (gssize)n);
        return;
    }
    g->st.bytes_out += n;
    if (g->write == NULL)
        return;
    g_string_append_len(g->out, s, (gssize)n);
    if (g->out->len >= GUARD_OUT_CHUNK)
        flush_out(g);
}

/* Writes the header block out (it was held back so that its Content-Type
   can still be replaced); the state must no longer be ST_HEADERS. */
static void block_out(mime_guard *g)
{
    GString *b = g->block;
    guard_state st = g->state;
    g->state = ST_BODY;
    emit(g, b->str, b->len);
    g->state = st;
    g_string_truncate(b, 0);
}

/* ---- reading values as GMime does ---- */

static bool is_lwsp(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* GMime's skip_cfws: white space and (nested) comments. */
static const char *skip_cfws(const char *p)
{
    for (;;) {
        while (is_lwsp(*p))
            p++;
        if (*p != '(')
            return p;
        int level = 0;
        for (; *p != '\0'; p++) {
            if (*p == '\\' && p[1] != '\0')
                p++;
            else if (*p == '(')
                level++;
            else if (*p == ')' && --level == 0) {
                p++;
                break;
            }
        }
    }
}

static bool is_ttoken(char c)
{
    guchar u = (guchar)c;
    return u > 32 && u < 127 && strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

/* The type and subtype as GMime's parser reads them (the parameters do not
   matter for that); false when there is no valid "type/subtype". */
static bool lax_type(const char *v, char **type_r, char **subtype_r)
{
    const char *p = skip_cfws(v), *start = p;
    while (is_ttoken(*p))
        p++;
    gsize tlen = (gsize)(p - start);
    const char *tstart = start;
    p = skip_cfws(p);
    if (*p++ != '/')
        return false;
    p = skip_cfws(p);
    start = p;
    while (is_ttoken(*p))
        p++;
    if (p == start)
        return false;
    *type_r = g_strndup(tstart, tlen);
    *subtype_r = g_strndup(start, (gsize)(p - start));
    return true;
}

/* The boundary parameter as GMime's object gets it (unfolded, decoded,
   parsed with the same loose options); NULL when absent. */
static char *boundary_param(mime_guard *g, const char *raw)
{
    g_autofree char *unfolded = g_mime_utils_header_unfold(raw);
    g_autofree char *decoded =
        g_mime_utils_header_decode_text(g->opts, unfolded);
    GMimeContentType *ct = g_mime_content_type_parse(g->opts, decoded);
    const char *b =
        ct != NULL ? g_mime_content_type_get_parameter(ct, "boundary") : NULL;
    char *out = b != NULL ? g_strdup(b) : NULL;
    if (ct != NULL)
        g_object_unref(ct);
    return out;
}

static bool is_rfc822(const char *subtype)
{
    static const char *const names[] = {"rfc822", "rfc2822", "global", "news"};
    for (size_t i = 0; i < G_N_ELEMENTS(names); i++)
        if (g_ascii_strcasecmp(subtype, names[i]) == 0)
            return true;
    return false;
}

/* True when header h (name ':' value) is called name; *value_r (may be
   NULL) gets the value without the final line end. */
static bool header_named(const GString *h, const char *name, char **value_r)
{
    const char *colon = memchr(h->str, ':', h->len);
    if (colon == NULL)
        return false;
    gsize n = (gsize)(colon - h->str);
    while (n > 0 && (h->str[n - 1] == ' ' || h->str[n - 1] == '\t'))
        n--;
    if (n != strlen(name) || g_ascii_strncasecmp(h->str, name, n) != 0)
        return false;
    if (value_r != NULL) {
        gsize vlen = h->len - (gsize)(colon + 1 - h->str);
        if (vlen > 0 && colon[vlen] == '\n')
            vlen--;
        if (vlen > 0 && colon[vlen] == '\r')
            vlen--;
        *value_r = g_strndup(colon + 1, vlen);
    }
    return true;
}

/* ---- boundaries ---- */

/* Whether s[from..n) is white space only. */
static bool lwsp_rest(const char *s, gsize from, gsize n)
{
    for (gsize i = from; i < n; i++)
        if (!is_lwsp(s[i]))
            return false;
    return true;
}

/* Checks line s (n bytes with its line end) against the enclosing
   boundaries, innermost first; *level_r gets the frame index. */
static boundary_kind match_boundary(const mime_guard *g, const char *s, gsize n,
                                    guint *level_r)
{
    if (n < 2 || s[0] != '-' || s[1] != '-')
        return B_NONE;
    for (guint i = g->frames->len; i > 0; i--) {
        const guard_frame *f = g_ptr_array_index(g->frames, i - 1);
        if (n < f->len || memcmp(s, f->dashed, f->len) != 0)
            continue;
        *level_r = i - 1;
        if (n >= f->len + 2 && s[f->len] == '-' && s[f->len + 1] == '-' &&
            lwsp_rest(s, f->len + 2, n))
            return B_CLOSE;
        if (lwsp_rest(s, f->len, n))
            return B_DELIM;
    }
    return B_NONE;
}

/* ---- header blocks ---- */

static void entity_start(mime_guard *g, guint depth, bool digest_parent)
{
    guard_entity *e = &g->e;
    g_free(e->ct_raw);
    GString *hdr = e->hdr;
    g_string_truncate(hdr, 0);
    memset(e, 0, sizeof(*e));
    e->hdr = hdr;
    e->depth = depth;
    e->digest_parent = digest_parent;
    g->face = false;
    g->st.parts++;
    g->state = ST_HEADERS;
}

/* Whether the next header of this part could still be kept. */
static bool header_may_fit(const mime_guard *g)
{
    return g->e.headers < g->lim.part_headers &&
           g->total_headers < g->lim.total_headers;
}

/* How much of the pending header is worth storing: all of it when it may
   be kept, else up to GUARD_CT_MAX while it may be the part's
   Content-Type. */
static gsize store_max(const mime_guard *g)
{
    gsize max = header_may_fit(g) ? g->lim.part_header_bytes : 0;
    if (!g->e.have_ct)
        max = MAX(max, GUARD_CT_MAX);
    return max;
}

static void header_start(mime_guard *g, const char *s, gsize n)
{
    guard_entity *e = &g->e;
    e->hdr_open = true;
    e->hdr_len = n;
    g_string_truncate(e->hdr, 0);
    e->hdr_stored = n <= store_max(g);
    if (e->hdr_stored)
        g_string_append_len(e->hdr, s, (gssize)n);
}

static void header_continue(mime_guard *g, const char *s, gsize n)
{
    guard_entity *e = &g->e;
    e->hdr_len += n;
    if (e->hdr_stored && e->hdr->len + n <= store_max(g)) {
        g_string_append_len(e->hdr, s, (gssize)n);
    } else {
        e->hdr_stored = false;
        g_string_truncate(e->hdr, 0);
    }
}

/* Keeps or drops the pending header. */
static void header_flush(mime_guard *g)
{
    guard_entity *e = &g->e;
    if (!e->hdr_open)
        return;
    e->hdr_open = false;
    bool ct = e->hdr_stored && header_named(e->hdr, "Content-Type", NULL);
    if (ct && e->have_ct) {
        g->st.duplicate_content_types++;
        return;
    }
    if (ct && e->hdr_len <= GUARD_CT_MAX) {
        /* kept whatever the bounds (and counted) */
    } else if (e->headers >= g->lim.part_headers) {
        g->st.headers_part_count++;
        return;
    } else if (g->total_headers >= g->lim.total_headers) {
        g->st.headers_total_count++;
        return;
    } else if (!e->hdr_stored ||
               e->bytes + e->hdr_len > g->lim.part_header_bytes) {
        g->st.headers_part_bytes++;
        return;
    } else if (g->total_bytes + e->hdr_len > g->lim.total_header_bytes) {
        g->st.headers_total_bytes++;
        return;
    }
    e->headers++;
    e->bytes += e->hdr_len;
    g->total_headers++;
    g->total_bytes += e->hdr_len;
    gsize at = g->block->len;
    emit(g, e->hdr->str, e->hdr->len);
    char *value = NULL;
    if (header_named(e->hdr, "Content-Type", &value)) {
        e->have_ct = true;
        e->ct_raw = value;
        e->ct_off = at;
        e->ct_len = e->hdr->len;
    } else if (!e->have_cte &&
               header_named(e->hdr, "Content-Transfer-Encoding", &value)) {
        e->have_cte = true;
        e->cte = g_mime_content_encoding_from_string(value);
        g_free(value);
    }
}

/* The header block ended: at an empty line s (has_body) or at a boundary
   (no content). Decides what the entity is and what follows. */
static void headers_end(mime_guard *g, const char *s, gsize n, bool has_body)
{
    guard_entity *e = &g->e;
    g_autofree char *type = NULL, *subtype = NULL, *boundary = NULL;
    if (!e->have_ct || !lax_type(e->ct_raw, &type, &subtype)) {
        type = g_strdup(e->digest_parent ? "message" : "text");
        subtype = g_strdup(e->digest_parent ? "rfc822" : "plain");
    }
    bool multipart = false, message = false, face = false;
    if (g_ascii_strcasecmp(type, "multipart") == 0 && e->have_ct) {
        boundary = boundary_param(g, e->ct_raw);
        multipart = boundary != NULL;
        face = true; /* without a boundary GMime keeps it all as preamble */
    } else if (g_ascii_strcasecmp(type, "message") == 0 && is_rfc822(subtype)) {
        message =
            !e->have_cte || (e->cte != GMIME_CONTENT_ENCODING_BASE64 &&
                             e->cte != GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE &&
                             e->cte != GMIME_CONTENT_ENCODING_UUENCODE);
    }
    if (!has_body) {
        g->state = ST_BODY; /* the boundary line follows */
        block_out(g);
        return;
    }
    if ((multipart || message) &&
        (e->depth >= g->lim.max_depth ||
         (message && g->st.parts >= g->lim.max_parts))) {
        /* the Content-Type becomes an opaque one, in its place */
        const char *eol = n >= 2 && s[n - 2] == '\r' ? "\r\n" : "\n";
        g_autofree char *opaque = g_strconcat(GUARD_OPAQUE, eol, NULL);
        /* the totals count what is written, so that the copy reads the
           same when guarded again */
        g->total_bytes += strlen(opaque);
        if (e->have_ct) {
            g_string_erase(g->block, (gssize)e->ct_off, (gssize)e->ct_len);
            g->total_bytes -= e->ct_len;
        } else {
            g->total_headers++;
        }
        g_string_insert(g->block, e->have_ct ? (gssize)e->ct_off : -1, opaque);
        g->st.parts_opaque++;
        multipart = message = face = false;
    }
    g->state = ST_BODY;
    block_out(g);
    emit(g, s, n);
    g->face = face;
    g->face_bytes = 0;
    if (multipart) {
        guard_frame *f = g_new0(guard_frame, 1);
        f->dashed = g_strconcat("--", boundary, NULL);
        f->len = strlen(f->dashed);
        f->depth = e->depth;
        f->digest = g_ascii_strcasecmp(subtype, "digest") == 0;
        g_ptr_array_add(g->frames, f);
        g->state = ST_BODY; /* the preamble */
    } else if (message) {
        entity_start(g, e->depth + 1, false);
    } else {
        g->state = ST_BODY;
    }
}

/* A boundary line of frame level. */
static void on_boundary(mime_guard *g, boundary_kind b, guint level,
                        const char *s, gsize n)
{
    bool skipping = g->state == ST_SKIP && level == g->skip_level;
    g_ptr_array_set_size(g->frames, level + 1); /* ends the inner ones */
    guard_frame *f = g_ptr_array_index(g->frames, level);
    if (b == B_CLOSE) {
        emit(g, s, n);
        g_ptr_array_set_size(g->frames, level);
        g->state = ST_BODY; /* the epilogue */
        g->face = true;
        g->face_bytes = 0;
        return;
    }
    if (skipping || g->st.parts >= g->lim.max_parts) {
        g->st.parts_dropped++;
        g->state = ST_SKIP;
        g->skip_level = level;
        return;
    }
    emit(g, s, n);
    entity_start(g, f->depth + 1, f->digest);
}

/* A body line: preambles and epilogues (GMime keeps them as strings in
   memory) are kept up to line_bytes each. */
static void emit_body(mime_guard *g, const char *s, gsize n)
{
    if (g->face) {
        g->face_bytes += n;
        if (g->face_bytes > g->lim.line_bytes) {
            g->st.face_bytes_dropped += n;
            return;
        }
    }
    emit(g, s, n);
}

static bool blank_line(const char *s, gsize n)
{
    return s[0] == '\n' || (n >= 2 && s[0] == '\r' && s[1] == '\n');
}

/* One line of the copy-to-be: s, n bytes with its line end (none at the
   end of the input). */
static void process_line(mime_guard *g, const char *s, gsize n)
{
    guint level = 0;
    boundary_kind b = match_boundary(g, s, n, &level);
    switch (g->state) {
    case ST_HEADERS:
        if (blank_line(s, n)) {
            header_flush(g);
            headers_end(g, s, n, true);
        } else if (b != B_NONE) {
            header_flush(g);
            headers_end(g, s, n, false);
            on_boundary(g, b, level, s, n);
        } else if ((s[0] == ' ' || s[0] == '\t') && g->e.hdr_open) {
            header_continue(g, s, n);
        } else {
            header_flush(g);
            header_start(g, s, n);
        }
        return;
    case ST_BODY:
    case ST_SKIP:
        if (b != B_NONE)
            on_boundary(g, b, level, s, n);
        else if (g->state == ST_BODY)
            emit_body(g, s, n);
        return;
    }
}

/* Processes and clears the line buffer. */
static void take_line(mime_guard *g)
{
    GString *l = g->line;
    if (!g->eol_known && l->len > 0 && l->str[l->len - 1] == '\n') {
        g->eol_known = true;
        g->eol_crlf = l->len >= 2 && l->str[l->len - 2] == '\r';
    }
    if (l->len > 0)
        process_line(g, l->str, l->len);
    g_string_truncate(l, 0);
}

/* The line buffer holds line_bytes bytes (or one more, a CR) and the next
   byte does not end the line. */
static void overflow(mime_guard *g)
{
    GString *l = g->line;
    gsize max = g->lim.line_bytes;
    if (g->state == ST_HEADERS) {
        g_string_truncate(l, max);
        g->discard = true;
        g->discard_cr = false;
        g->st.header_lines_cut++;
        return;
    }
    bool carry_cr = l->len > max;
    if (g->state == ST_BODY)
        g->st.body_lines_folded++;
    g_string_truncate(l, max);
    g_string_append(l, l->str[max - 1] != '\r' && g->eol_crlf ? "\r\n" : "\n");
    take_line(g);
    if (carry_cr)
        g_string_append_c(l, '\r');
}

/* ---- public ---- */

mime_guard *mime_guard_new(const mime_guard_limits *lim,
                           mime_guard_write_fn write, gpointer user)
{
    mime_guard *g = g_new0(mime_guard, 1);
    if (lim != NULL)
        g->lim = *lim;
    else
        mime_guard_limits_default(&g->lim);
    g->lim.max_parts = MAX(g->lim.max_parts, 1);
    g->lim.line_bytes = MAX(g->lim.line_bytes, 80);
    g->write = write;
    g->user = user;
    message_library_init();
    g->opts = g_mime_parser_options_new();
    g_mime_parser_options_set_rfc2047_compliance_mode(
        g->opts, GMIME_RFC_COMPLIANCE_LOOSE);
    g_mime_parser_options_set_parameter_compliance_mode(
        g->opts, GMIME_RFC_COMPLIANCE_LOOSE);
    g->out = g_string_sized_new(write != NULL ? GUARD_OUT_CHUNK + 1024 : 0);
    g->line = g_string_sized_new(1024);
    g->block = g_string_sized_new(1024);
    g->frames = g_ptr_array_new_with_free_func(frame_free);
    g->e.hdr = g_string_sized_new(256);
    entity_start(g, 0, false);
    return g;
}

void mime_guard_feed(mime_guard *g, const char *data, gsize len)
{
    g_return_if_fail(!g->finished);
    g->st.bytes_in += len;
    gsize max = g->lim.line_bytes;
    while (len > 0) {
        const char *nl = memchr(data, '\n', len);
        gsize upto = nl != NULL ? (gsize)(nl - data) : len;
        gsize used;
        if (g->discard) {
            if (upto > 0)
                g->discard_cr = data[upto - 1] == '\r';
            if (nl == NULL)
                return;
            g_string_append(g->line, g->discard_cr ? "\r\n" : "\n");
            g->discard = false;
            take_line(g);
            used = upto + 1;
        } else {
            GString *l = g->line;
            gsize room = l->len < max ? max - l->len : 0;
            if (upto <= room) {
                used = upto + (nl != NULL);
                g_string_append_len(l, data, (gssize)used);
                if (nl != NULL)
                    take_line(g);
            } else if (room > 0) {
                used = room;
                g_string_append_len(l, data, (gssize)used);
            } else if (l->len == max && data[0] == '\r') {
                used = 1; /* may be the CR of CRLF */
                g_string_append_c(l, '\r');
            } else {
                used = 0;
                overflow(g);
            }
        }
        data += used;
        len -= used;
    }
}

void mime_guard_finish(mime_guard *g)
{
    if (g->finished)
        return;
    g->finished = true;
    g->discard = false;
    take_line(g);
    if (g->state == ST_HEADERS) {
        header_flush(g);
        g->state = ST_BODY;
        block_out(g);
    }
    flush_out(g);
}

const mime_guard_stats *mime_guard_get_stats(const mime_guard *g)
{
    return &g->st;
}

bool mime_guard_changed(const mime_guard *g)
{
    const mime_guard_stats *s = &g->st;
    return s->parts_dropped || s->parts_opaque || s->headers_part_count ||
           s->headers_part_bytes || s->headers_total_count ||
           s->headers_total_bytes || s->header_lines_cut ||
           s->body_lines_folded || s->duplicate_content_types ||
           s->face_bytes_dropped;
}

GPtrArray *mime_guard_warnings(const mime_guard *g)
{
    const mime_guard_stats *s = &g->st;
    const mime_guard_limits *l = &g->lim;
    GPtrArray *w = g_ptr_array_new_with_free_func(g_free);
    if (s->headers_part_count)
        g_ptr_array_add(
            w, g_strdup_printf("%" G_GUINT64_FORMAT " headers past the "
                               "per-part limit of %u were not captured",
                               s->headers_part_count, l->part_headers));
    if (s->headers_part_bytes)
        g_ptr_array_add(
            w, g_strdup_printf("%" G_GUINT64_FORMAT " headers past the "
                               "per-part limit of %zu header bytes were not "
                               "captured",
                               s->headers_part_bytes, l->part_header_bytes));
    if (s->headers_total_count)
        g_ptr_array_add(
            w, g_strdup_printf("%" G_GUINT64_FORMAT " headers past the total "
                               "limit of %u were not captured",
                               s->headers_total_count, l->total_headers));
    if (s->headers_total_bytes)
        g_ptr_array_add(
            w, g_strdup_printf("%" G_GUINT64_FORMAT " headers past the total "
                               "limit of %zu header bytes were not captured",
                               s->headers_total_bytes, l->total_header_bytes));
    if (s->parts_dropped)
        g_ptr_array_add(w, g_strdup_printf("%" G_GUINT64_FORMAT
                                           " MIME parts past the "
                                           "limit of %u were not captured",
                                           s->parts_dropped, l->max_parts));
    if (s->parts_opaque)
        g_ptr_array_add(
            w, g_strdup_printf("%" G_GUINT64_FORMAT " MIME containers at the "
                               "nesting limit of %u (or the part limit) were "
                               "kept as opaque attachments",
                               s->parts_opaque, l->max_depth));
    if (s->header_lines_cut)
        g_ptr_array_add(
            w, g_strdup_printf("%" G_GUINT64_FORMAT " header lines longer "
                               "than %zu bytes were cut at the bound",
                               s->header_lines_cut, l->line_bytes));
    if (s->body_lines_folded)
        g_ptr_array_add(
            w, g_strdup_printf("%" G_GUINT64_FORMAT " body lines longer than "
                               "%zu bytes were folded at the bound",
                               s->body_lines_folded, l->line_bytes));
    if (s->face_bytes_dropped)
        g_ptr_array_add(
            w, g_strdup_printf("%" G_GUINT64_FORMAT " bytes of multipart "
                               "preamble or epilogue past %zu bytes each were "
                               "not captured",
                               s->face_bytes_dropped, l->line_bytes));
    if (s->duplicate_content_types)
        g_ptr_array_add(
            w, g_strdup_printf("%" G_GUINT64_FORMAT " repeated Content-Type "
                               "headers were dropped (the first is kept)",
                               s->duplicate_content_types));
    return w;
}

void mime_guard_free(mime_guard **gp)
{
    if (gp == NULL || *gp == NULL)
        return;
    mime_guard *g = *gp;
    g_mime_parser_options_free(g->opts);
    g_string_free(g->out, TRUE);
    g_string_free(g->line, TRUE);
    g_string_free(g->block, TRUE);
    g_ptr_array_unref(g->frames);
    g_free(g->e.ct_raw);
    g_string_free(g->e.hdr, TRUE);
    g_free(g);
    *gp = NULL;
}
