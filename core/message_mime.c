/*
 * message_mime.c - the MIME side of capture parsing (see message.c): walks
 * the tree of the outer message, picks and converts the body text, and
 * records the attachments. Private to message.c through message_int.h.
 *
 * Which parts are what (outer message only; parts inside an attached
 * message/rfc822 never become the body):
 *  - body candidates are text/plain and text/html leaves without a file
 *    name or an attachment disposition; in a multipart/alternative only the
 *    branch holding text/plain (else the one holding HTML) is a candidate.
 *  - the body is every text/plain candidate in order, joined by a newline
 *    (mail clients show inline text parts one after the other; keeping only
 *    the first would drop text); if there is none, the HTML candidates
 *    converted with html_text, and text_from_html is set.
 *  - every other leaf is an attachment, except unused text/plain and
 *    text/html without a name: those are the other side of an alternative
 *    or the body of an attached message, already represented.
 *  - a message/rfc822 (or global/news) part is an attachment as a whole
 *    (size and hash of GMime's serialisation of it: headers as GMime writes
 *    them, contents byte for byte), and its own attachments are listed too.
 *
 * Limits: body text keeps text_max bytes (cut on a character boundary),
 * HTML is read up to 4 x text_max before conversion, attachments keep
 * content up to attachment_store_max; sizes and SHA-256 are computed
 * streaming in MSG_CHUNK pieces, so memory stays bounded for huge parts.
 * max_parts and max_depth bound the walk. Each of these cuts adds a
 * warning, and so do file names cut at MSG_NAME_MAX bytes and content types
 * cut at MSG_TYPE_MAX.
 */
#include "message_int.h"

#include "crmgate/html_text.h"

#include <string.h>

#define MSG_TYPE_MAX 255
#define MSG_HTML_FACTOR 4
#define MSG_HTML_MIN (64 * 1024)

/* ---- MIME tree ---- */

static bool is_type(GMimeObject *obj, const char *type, const char *subtype)
{
    GMimeContentType *ct = g_mime_object_get_content_type(obj);
    return ct != NULL && g_mime_content_type_is_type(ct, type, subtype);
}

static bool has_attachment_disposition(GMimeObject *obj)
{
    GMimeContentDisposition *d = g_mime_object_get_content_disposition(obj);
    return d != NULL && g_mime_content_disposition_is_attachment(d);
}

static const char *object_filename(GMimeObject *obj)
{
    if (GMIME_IS_PART(obj))
        return g_mime_part_get_filename(GMIME_PART(obj));
    const char *f =
        g_mime_object_get_content_disposition_parameter(obj, "filename");
    return f != NULL ? f
                     : g_mime_object_get_content_type_parameter(obj, "name");
}

/* A text/plain or text/html leaf that is not marked as a file. */
static bool is_body_kind(GMimeObject *obj, const char *subtype)
{
    if (!GMIME_IS_PART(obj) || !is_type(obj, "text", subtype))
        return false;
    const char *f = object_filename(obj);
    return (f == NULL || *f == '\0') && !has_attachment_disposition(obj);
}

/* True when the leaf's content is nothing but white space (at most a few
   bytes of it): such a branch of an alternative gives no body, and taking
   it would hide the branch that does. */
static bool is_blank_leaf(GMimeObject *obj)
{
    GMimeDataWrapper *w = g_mime_part_get_content(GMIME_PART(obj));
    GMimeStream *st = w != NULL ? g_mime_data_wrapper_get_stream(w) : NULL;
    if (st == NULL)
        return true;
    gint64 len = g_mime_stream_length(st);
    if (len < 0 || len > 8)
        return false;
    char buf[8];
    GMimeStream *sub = g_mime_stream_substream(st, g_mime_stream_tell(st),
                                               g_mime_stream_tell(st) + len);
    gssize n = g_mime_stream_read(sub, buf, sizeof(buf));
    g_object_unref(sub);
    for (gssize i = 0; i < n; i++)
        if (!g_ascii_isspace(buf[i]))
            return false;
    return true;
}

/* True when obj, or a multipart below it (a few levels, *budget nodes at
   most), is a body candidate of the given subtype with some content. */
static bool holds_body(GMimeObject *obj, const char *subtype, int levels,
                       guint *budget)
{
    if (*budget == 0)
        return false;
    (*budget)--;
    if (is_body_kind(obj, subtype))
        return !is_blank_leaf(obj);
    if (!GMIME_IS_MULTIPART(obj) || levels == 0)
        return false;
    GMimeMultipart *mp = GMIME_MULTIPART(obj);
    int n = g_mime_multipart_get_count(mp);
    for (int i = 0; i < n; i++)
        if (holds_body(g_mime_multipart_get_part(mp, i), subtype, levels - 1,
                       budget))
            return true;
    return false;
}

/* The branch of a multipart/alternative that gives the body: the first
   holding text/plain, else the first holding HTML, else -1 (all). */
static int preferred_alternative(parse_ctx *ctx, GMimeMultipart *mp)
{
    static const char *const kinds[] = {"plain", "html"};
    int n = g_mime_multipart_get_count(mp);
    for (size_t k = 0; k < G_N_ELEMENTS(kinds); k++) {
        guint budget = ctx->lim.max_parts;
        for (int i = 0; i < n; i++)
            if (holds_body(g_mime_multipart_get_part(mp, i), kinds[k], 3,
                           &budget))
                return i;
    }
    return -1;
}

/* Feeds decoded bytes into a hash, a size and, under the bound, a copy. */
typedef struct {
    crm_sha256 sum;
    gsize size;
    gsize keep_max;
    GByteArray *keep; /* NULL once size passed keep_max */
} content_sink;

static void sink_feed(content_sink *k, const char *data, gsize len)
{
    if (len == 0)
        return;
    crm_sha256_update(&k->sum, (const guchar *)data, len);
    k->size += len;
    if (k->keep != NULL && k->size > k->keep_max) {
        g_byte_array_unref(k->keep);
        k->keep = NULL;
    }
    if (k->keep != NULL)
        g_byte_array_append(k->keep, (const guint8 *)data, (guint)len);
}

static bool base64_char_ok(guchar c)
{
    return g_ascii_isalnum(c) || c == '+' || c == '/' || c == '=' ||
           g_ascii_isspace(c);
}

static void attachment_finish(message_attachment *a, content_sink *k)
{
    a->size = k->size;
    crm_sha256_peek_hex(&k->sum, a->sha256);
    if (k->keep != NULL)
        a->content = g_byte_array_free_to_bytes(k->keep);
    k->keep = NULL;
}

static message_attachment *attachment_new(parse_ctx *ctx, GMimeObject *obj)
{
    message_attachment *a = g_new0(message_attachment, 1);
    const char *f = object_filename(obj);
    bool cut = false;
    if (f != NULL) {
        char *name =
            g_strstrip(message_int_clean_text(f, -1, MSG_NAME_MAX, &cut));
        if (cut)
            message_int_add_warning(
                ctx->msg, "attachment file name cut at %d bytes", MSG_NAME_MAX);
        /* keep the base name: clients send "C:\dir\file.doc" */
        const char *base = MAX(strrchr(name, '/'), strrchr(name, '\\'));
        if (base != NULL) {
            char *b = g_strdup(base + 1);
            g_free(name);
            name = b;
        }
        for (char *p = name; *p != '\0'; p++)
            if ((guchar)*p < 0x20 || *p == 0x7f)
                *p = '_';
        if (*name != '\0')
            a->filename = name;
        else
            g_free(name);
    }
    GMimeContentType *ct = g_mime_object_get_content_type(obj);
    g_autofree char *mime =
        ct != NULL ? g_mime_content_type_get_mime_type(ct) : NULL;
    g_autofree char *clean =
        message_int_clean_text(mime != NULL ? mime : "application/octet-stream",
                               -1, MSG_TYPE_MAX, &cut);
    if (cut)
        message_int_add_warning(ctx->msg, "content type cut at %d bytes",
                                MSG_TYPE_MAX);
    a->content_type = g_utf8_strdown(clean, -1);
    return a;
}

/* Records a leaf part as an attachment: decodes its content chunk by
   chunk for size and SHA-256. */
static void add_part_attachment(parse_ctx *ctx, GMimePart *part)
{
    message_attachment *a = attachment_new(ctx, GMIME_OBJECT(part));
    content_sink k = {
        .keep_max = ctx->lim.attachment_store_max,
        .keep = g_byte_array_new(),
    };
    crm_sha256_init(&k.sum);
    GMimeDataWrapper *w = g_mime_part_get_content(part);
    GMimeStream *src = w != NULL ? g_mime_data_wrapper_get_stream(w) : NULL;
    if (src != NULL) {
        GMimeContentEncoding enc = g_mime_data_wrapper_get_encoding(w);
        GMimeFilter *dec = NULL;
        if (enc == GMIME_CONTENT_ENCODING_BASE64 ||
            enc == GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE ||
            enc == GMIME_CONTENT_ENCODING_UUENCODE)
            dec = g_mime_filter_basic_new(enc, FALSE);
        g_autofree char *buf = g_malloc(MSG_CHUNK);
        bool bad64 = false;
        char *out;
        size_t outlen, outpre;
        ssize_t n;
        g_mime_stream_reset(src);
        while ((n = g_mime_stream_read(src, buf, MSG_CHUNK)) > 0) {
            if (enc == GMIME_CONTENT_ENCODING_BASE64 && !bad64)
                for (ssize_t i = 0; i < n && !bad64; i++)
                    bad64 = !base64_char_ok((guchar)buf[i]);
            if (dec == NULL) {
                sink_feed(&k, buf, (gsize)n);
                continue;
            }
            g_mime_filter_filter(dec, buf, (size_t)n, 0, &out, &outlen,
                                 &outpre);
            sink_feed(&k, out, outlen);
        }
        if (n < 0)
            message_int_add_warning(ctx->msg, "read error in part %s",
                                    a->content_type);
        if (dec != NULL) {
            g_mime_filter_complete(dec, buf, 0, 0, &out, &outlen, &outpre);
            sink_feed(&k, out, outlen);
            g_object_unref(dec);
        }
        if (bad64)
            message_int_add_warning(ctx->msg, "invalid base64 in part %s%s%s",
                                    a->content_type, a->filename ? " " : "",
                                    a->filename ? a->filename : "");
    }
    attachment_finish(a, &k);
    g_ptr_array_add(ctx->msg->attachments, a);
}

/* Records an attached message as one attachment, hashing GMime's
   serialisation of it. */
static void add_message_attachment(parse_ctx *ctx, GMimeMessagePart *mp,
                                   GMimeMessage *inner)
{
    message_attachment *a = attachment_new(ctx, GMIME_OBJECT(mp));
    crm_sha256_mime_object(GMIME_OBJECT(inner), a->sha256, &a->size);
    if (a->size <= ctx->lim.attachment_store_max) {
        GByteArray *arr = g_byte_array_new();
        GMimeStream *mem = g_mime_stream_mem_new_with_byte_array(arr);
        g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(mem), FALSE);
        g_mime_object_write_to_stream(GMIME_OBJECT(inner), NULL, mem);
        g_object_unref(mem);
        a->content = g_byte_array_free_to_bytes(arr);
    }
    g_ptr_array_add(ctx->msg->attachments, a);
}

/* Sorts obj and everything below it into body candidates (ctx->plain,
   ctx->html) and attachments. depth is obj's nesting level (0 for the top
   part); body_scope is true while inside the outer message's body. */
void message_int_walk(parse_ctx *ctx, GMimeObject *obj, guint depth,
                      bool body_scope)
{
    if (obj == NULL)
        return;
    if (ctx->parts >= ctx->lim.max_parts) {
        if (!ctx->parts_warned)
            message_int_add_warning(ctx->msg, "MIME parts cut at max_parts=%u",
                                    ctx->lim.max_parts);
        ctx->parts_warned = true;
        return;
    }
    if (depth > ctx->lim.max_depth) {
        if (!ctx->depth_warned)
            message_int_add_warning(ctx->msg,
                                    "MIME nesting cut at max_depth=%u",
                                    ctx->lim.max_depth);
        ctx->depth_warned = true;
        return;
    }
    ctx->parts++;

    if (GMIME_IS_MULTIPART(obj)) {
        GMimeMultipart *mp = GMIME_MULTIPART(obj);
        int pref = -1;
        if (body_scope && is_type(obj, "multipart", "alternative"))
            pref = preferred_alternative(ctx, mp);
        int n = g_mime_multipart_get_count(mp);
        for (int i = 0; i < n; i++)
            message_int_walk(ctx, g_mime_multipart_get_part(mp, i), depth + 1,
                             body_scope && (pref < 0 || pref == i));
        return;
    }
    if (GMIME_IS_MESSAGE_PART(obj)) {
        GMimeMessagePart *mp = GMIME_MESSAGE_PART(obj);
        GMimeMessage *inner = g_mime_message_part_get_message(mp);
        if (inner == NULL)
            return;
        add_message_attachment(ctx, mp, inner);
        message_int_walk(ctx, g_mime_message_get_mime_part(inner), depth + 1,
                         false);
        return;
    }
    if (!GMIME_IS_PART(obj))
        return;
    if (is_body_kind(obj, "plain") || is_body_kind(obj, "html")) {
        /* outside the body scope this is the other side of an
           alternative or an attached message's body: not a file */
        if (body_scope)
            g_ptr_array_add(
                is_type(obj, "text", "plain") ? ctx->plain : ctx->html, obj);
        return;
    }
    add_part_attachment(ctx, GMIME_PART(obj));
}

/* ---- body text ---- */

static bool charset_is(const char *cs, const char *name)
{
    return cs != NULL && g_ascii_strcasecmp(cs, name) == 0;
}

/* Reads the decoded content of part as UTF-8, at most cap bytes, cut on a
   character boundary; *cut_r tells whether there was more. */
static char *part_text(parse_ctx *ctx, GMimePart *part, gsize cap, bool *cut_r)
{
    *cut_r = false;
    GMimeDataWrapper *w = g_mime_part_get_content(part);
    GMimeStream *src = w != NULL ? g_mime_data_wrapper_get_stream(w) : NULL;
    if (src == NULL)
        return g_strdup("");

    GMimeStream *fs = g_mime_stream_filter_new(src);
    GMimeContentEncoding enc = g_mime_data_wrapper_get_encoding(w);
    if (enc == GMIME_CONTENT_ENCODING_BASE64 ||
        enc == GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE ||
        enc == GMIME_CONTENT_ENCODING_UUENCODE) {
        GMimeFilter *f = g_mime_filter_basic_new(enc, FALSE);
        g_mime_stream_filter_add(GMIME_STREAM_FILTER(fs), f);
        g_object_unref(f);
    }
    /* charset: declared and known -> iconv filter; UTF-8 -> as is;
       missing, US-ASCII or unknown -> UTF-8 if valid, else the fallbacks */
    const char *cs =
        g_mime_object_get_content_type_parameter(GMIME_OBJECT(part), "charset");
    bool fallback = true;
    if (charset_is(cs, "utf-8") || charset_is(cs, "utf8")) {
        fallback = false;
    } else if (cs != NULL && !charset_is(cs, "us-ascii")) {
        GMimeFilter *f = g_mime_filter_charset_new(cs, "UTF-8");
        if (f != NULL) {
            g_mime_stream_filter_add(GMIME_STREAM_FILTER(fs), f);
            g_object_unref(f);
            fallback = false;
        } else {
            g_autofree char *c = message_int_clean_text(cs, -1, 64, NULL);
            message_int_add_warning(ctx->msg, "unknown charset %s", c);
        }
    }
    GMimeFilter *d2u = g_mime_filter_dos2unix_new(FALSE);
    g_mime_stream_filter_add(GMIME_STREAM_FILTER(fs), d2u);
    g_object_unref(d2u);

    /* a few bytes past cap tell whether there is more */
    gsize want = cap > G_MAXSIZE - 8 ? cap : cap + 8;
    GByteArray *raw = g_byte_array_new();
    char *buf = g_malloc(MSG_CHUNK);
    ssize_t n;
    g_mime_stream_reset(src);
    while (raw->len < want &&
           (n = g_mime_stream_read(fs, buf, MIN(MSG_CHUNK, want - raw->len))) >
               0)
        g_byte_array_append(raw, (const guint8 *)buf, (guint)n);
    g_free(buf);
    g_object_unref(fs);
    if (raw->len > cap)
        *cut_r = true;

    /* drop NULs first: they would make valid UTF-8 look invalid */
    guint k = 0;
    for (guint i = 0; i < raw->len; i++)
        if (raw->data[i] != 0)
            raw->data[k++] = raw->data[i];
    g_byte_array_set_size(raw, k);
    const char *end = NULL;
    if (fallback && raw->len > 0 &&
        !g_utf8_validate((const char *)raw->data, (gssize)raw->len, &end) &&
        !(*cut_r && (const guint8 *)end + 4 >= raw->data + raw->len)) {
        static const char *const fb[] = {"windows-1252", "iso-8859-1"};
        for (size_t i = 0; i < G_N_ELEMENTS(fb); i++) {
            gsize outlen = 0;
            g_autofree char *conv =
                g_convert((const char *)raw->data, (gssize)raw->len, "UTF-8",
                          fb[i], NULL, &outlen, NULL);
            if (conv != NULL) {
                g_byte_array_set_size(raw, 0);
                g_byte_array_append(raw, (const guint8 *)conv, (guint)outlen);
                break;
            }
        }
    }
    bool cut = false;
    char *text = message_int_clean_text((const char *)raw->data,
                                        (gssize)raw->len, cap, &cut);
    g_byte_array_unref(raw);
    if (cut)
        *cut_r = true;
    return text;
}

/* Joins the body candidates (text/plain, else converted HTML) into
   msg->text, at most text_max bytes. */
void message_int_read_body_text(parse_ctx *ctx)
{
    crm_message *msg = ctx->msg;
    gsize max = ctx->lim.text_max;
    bool html = ctx->plain->len == 0;
    GPtrArray *parts = html ? ctx->html : ctx->plain;
    gsize html_cap = MAX(max, MSG_HTML_MIN);
    if (html_cap <= G_MAXSIZE / MSG_HTML_FACTOR)
        html_cap *= MSG_HTML_FACTOR;
    GString *text = g_string_new(NULL);
    bool cut = false;

    for (guint i = 0; i < parts->len && !cut; i++) {
        if (text->len > 0 && text->str[text->len - 1] != '\n') {
            if (text->len >= max) {
                cut = true;
                break;
            }
            g_string_append_c(text, '\n');
        }
        GMimePart *part = g_ptr_array_index(parts, i);
        g_autofree char *piece = NULL;
        if (!html) {
            piece = part_text(ctx, part, max - text->len, &cut);
        } else {
            bool src_cut = false;
            g_autofree char *src = part_text(ctx, part, html_cap, &src_cut);
            if (src_cut)
                message_int_add_warning(msg,
                                        "HTML body cut at %zu bytes before "
                                        "conversion",
                                        html_cap);
            piece = html_text_convert(src, strlen(src), max - text->len, &cut);
            cut = cut || src_cut;
            msg->text_from_html = true;
        }
        g_string_append(text, piece);
    }
    if (cut) {
        msg->text_truncated = true;
        message_int_add_warning(msg, "body text cut at %zu bytes", max);
    }
    g_free(msg->text);
    msg->text = g_string_free(text, FALSE);
}
