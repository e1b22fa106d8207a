/*
 * message.c - capture parsing: one RFC 5322 message read with GMime 3 into
 * the crm_message model of message.h. Here: the public API and the
 * top-level headers; message_input.c reads the input (guard pass, digest);
 * message_mime.c walks the MIME tree (body text, attachments);
 * message_json.c writes the outputs; message_util.c holds the leaf helpers
 * (text cleaning, warnings, RFC 2047 decoding); message_int.h is what they
 * share. Calls go one way, from message.c down to message_util.c.
 *
 * Every parse first reads the input through the MIME guard (mime_guard.h)
 * without copying it; a message within every bound is then parsed as it is,
 * otherwise the guard's bounded copy is parsed instead (message_input.c:
 * in memory up to 4 MiB, then in an unlinked temporary file) and its warnings
 * come first in msg->warnings. So GMime, which keeps every header and part
 * as objects (about 50 bytes per byte for a flood of tiny headers), never
 * sees more than the bounds allow.
 *
 * GMime parses with per-call options (fallback charsets UTF-8,
 * windows-1252, iso-8859-1; loose address and RFC 2047 rules) whose warning
 * callback turns parser complaints into msg->warnings. The stream must be
 * seekable: GMime keeps part contents as substreams of it (nothing is
 * copied into memory), and a last pass over the original computes raw_size
 * and the digest. message_parse_bytes reads the caller's buffer in place
 * and copies it into a memory stream only when GMime parses it as it is;
 * message_parse_file and message_parse_fd read the file.
 *
 * Single-valued headers come from their first occurrence (GMime's own
 * fields hold the last): Message-ID, Subject (decoded by our RFC 2047
 * decoder: GMime drops words of long encoded subjects), From, Sender,
 * Reply-To; Date from the first with a well-formed time, else the first
 * that decodes.
 *
 * Digest: see message_input.c.
 *
 * Limits: ids keep 998 bytes, names and addresses 1 KiB, the subject
 * 16 KiB; max_addresses and max_references bound the lists; parts, depth,
 * headers and lines are bounded by the guard. Each cut adds a warning.
 * Body, parts and attachments: see message_mime.c.
 */
#include "crmgate/message.h"
#include "message_int.h"

#include "crmgate/mime_guard.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define MSG_ID_MAX 998
#define MSG_SUBJECT_MAX 16384

void message_limits_default(message_limits *lim)
{
    lim->text_max = 256 * 1024;
    lim->attachment_store_max = 10 * 1024 * 1024;
    lim->max_depth = 8;
    lim->max_parts = 500;
    lim->max_addresses = 500;
    lim->max_references = 32;
    mime_guard_limits g;
    mime_guard_limits_default(&g);
    lim->part_header_bytes = g.part_header_bytes;
    lim->part_headers = g.part_headers;
    lim->total_header_bytes = g.total_header_bytes;
    lim->total_headers = g.total_headers;
    lim->line_bytes = g.line_bytes;
}

/* ---- strings from the wire ---- */

static bool blank(const char *s)
{
    for (; *s != '\0'; s++)
        if (!g_ascii_isspace(*s))
            return false;
    return true;
}

/* ---- warnings ---- */

/* GMime's parser complaints, by GMimeParserWarning value. */
static const char *const parser_warning_texts[] = {
    [GMIME_WARN_DUPLICATED_HEADER] = "duplicate header",
    [GMIME_WARN_DUPLICATED_PARAMETER] = "duplicate parameter",
    [GMIME_WARN_UNENCODED_8BIT_HEADER] = "unencoded 8-bit header",
    [GMIME_WARN_INVALID_CONTENT_TYPE] = "invalid content type",
    [GMIME_WARN_INVALID_RFC2047_HEADER_VALUE] = "invalid RFC 2047 value",
    [GMIME_WARN_MALFORMED_MULTIPART] = "malformed multipart",
    [GMIME_WARN_TRUNCATED_MESSAGE] = "truncated message",
    [GMIME_WARN_MALFORMED_MESSAGE] = "malformed message",
    [GMIME_CRIT_INVALID_HEADER_NAME] = "invalid header name",
    [GMIME_CRIT_CONFLICTING_HEADER] = "conflicting header",
    [GMIME_CRIT_CONFLICTING_PARAMETER] = "conflicting parameter",
    [GMIME_CRIT_MULTIPART_WITHOUT_BOUNDARY] = "multipart without boundary",
    [GMIME_WARN_INVALID_PARAMETER] = "invalid parameter",
    [GMIME_WARN_INVALID_ADDRESS_LIST] = "invalid address list",
    [GMIME_CRIT_NESTING_OVERFLOW] = "MIME nesting too deep",
    [GMIME_WARN_PART_WITHOUT_CONTENT] = "part without content",
    [GMIME_CRIT_PART_WITHOUT_HEADERS_OR_CONTENT] =
        "part without headers or content",
};

static void parser_warning(gint64 offset, GMimeParserWarning code,
                           const gchar *item, gpointer user_data)
{
    parse_ctx *ctx = user_data;
    const char *what = (guint)code < G_N_ELEMENTS(parser_warning_texts) &&
                               parser_warning_texts[code] != NULL
                           ? parser_warning_texts[code]
                           : "parser warning";
    (void)offset;
    if (item == NULL || *item == '\0') {
        message_int_add_warning(ctx->msg, "%s", what);
        return;
    }
    g_autofree char *it =
        message_int_clean_text(item, -1, MSG_WARNING_ITEM_MAX, NULL);
    g_strdelimit(it, "\r\n\t", ' ');
    message_int_add_warning(ctx->msg, "%s: %s", what, it);
}

/* ---- model objects ---- */

static void addr_free(gpointer p)
{
    message_addr *a = p;
    g_free(a->name);
    g_free(a->address);
    g_free(a);
}

static void attachment_free(gpointer p)
{
    message_attachment *a = p;
    g_free(a->filename);
    g_free(a->content_type);
    if (a->content != NULL)
        g_bytes_unref(a->content);
    g_free(a);
}

static crm_message *message_new(void)
{
    crm_message *m = g_new0(crm_message, 1);
    m->references = g_ptr_array_new_with_free_func(g_free);
    m->from = g_ptr_array_new_with_free_func(addr_free);
    m->sender = g_ptr_array_new_with_free_func(addr_free);
    m->to = g_ptr_array_new_with_free_func(addr_free);
    m->cc = g_ptr_array_new_with_free_func(addr_free);
    m->bcc = g_ptr_array_new_with_free_func(addr_free);
    m->reply_to = g_ptr_array_new_with_free_func(addr_free);
    m->attachments = g_ptr_array_new_with_free_func(attachment_free);
    m->warnings = g_ptr_array_new_with_free_func(g_free);
    m->subject = g_strdup("");
    m->text = g_strdup("");
    return m;
}

void message_free(crm_message **msgp)
{
    if (msgp == NULL || *msgp == NULL)
        return;
    crm_message *m = *msgp;
    g_free(m->message_id);
    g_free(m->in_reply_to);
    g_ptr_array_unref(m->references);
    g_ptr_array_unref(m->from);
    g_ptr_array_unref(m->sender);
    g_ptr_array_unref(m->to);
    g_ptr_array_unref(m->cc);
    g_ptr_array_unref(m->bcc);
    g_ptr_array_unref(m->reply_to);
    if (m->date != NULL)
        g_date_time_unref(m->date);
    g_free(m->subject);
    g_free(m->text);
    g_ptr_array_unref(m->attachments);
    g_ptr_array_unref(m->warnings);
    g_free(m);
    *msgp = NULL;
}

/* ---- headers ---- */

/* Returns a message id without white space and <>, or NULL if empty. */
static char *clean_id(parse_ctx *ctx, const char *id, const char *what)
{
    bool cut = false;
    g_autofree char *v = message_int_clean_text(id, -1, G_MAXSIZE, NULL);
    char *p = v;
    while (*p != '\0' && (g_ascii_isspace(*p) || *p == '<'))
        p++;
    gsize n = strlen(p);
    while (n > 0 && (g_ascii_isspace(p[n - 1]) || p[n - 1] == '>'))
        n--;
    if (n == 0)
        return NULL;
    char *out = message_int_clean_text(p, (gssize)n, MSG_ID_MAX, &cut);
    if (cut)
        message_int_add_warning(ctx->msg, "%s cut at %d bytes", what,
                                MSG_ID_MAX);
    return out;
}

/* raw as UTF-8: itself when it is valid UTF-8, else its bytes read as
   windows-1252 (iso-8859-1 for the few bytes that has no character for),
   the fallback GMime uses for the Subject, so that an 8-bit Message-ID or
   address is kept and reads like the Subject beside it. Newly allocated. */
static char *eightbit_to_utf8(const char *raw)
{
    if (g_utf8_validate(raw, -1, NULL))
        return g_strdup(raw);
    char *out = g_convert(raw, -1, "UTF-8", "WINDOWS-1252", NULL, NULL, NULL);
    if (out == NULL)
        out = g_convert(raw, -1, "UTF-8", "ISO-8859-1", NULL, NULL, NULL);
    return out != NULL ? out : g_utf8_make_valid(raw, -1);
}

/* The raw (undecoded, folded) value of the first header called name. */
static const char *raw_header(GMimeObject *obj, const char *name)
{
    GMimeHeaderList *hl = g_mime_object_get_header_list(obj);
    GMimeHeader *h =
        hl != NULL ? g_mime_header_list_get_header(hl, name) : NULL;
    return h != NULL ? g_mime_header_get_raw_value(h) : NULL;
}

static void read_ids(parse_ctx *ctx, GMimeObject *obj)
{
    crm_message *msg = ctx->msg;
    /* the first Message-ID (GMime's own field holds the last one) */
    const char *raw8 = raw_header(obj, "Message-ID");
    g_autofree char *raw_utf8 = raw8 != NULL ? eightbit_to_utf8(raw8) : NULL;
    const char *raw = raw_utf8;
    g_autofree char *mid =
        raw != NULL ? g_mime_utils_decode_message_id(raw) : NULL;
    if (mid != NULL)
        msg->message_id = clean_id(ctx, mid, "Message-ID");
    if (msg->message_id == NULL && raw != NULL)
        msg->message_id = clean_id(ctx, raw, "Message-ID");
    if (msg->message_id == NULL)
        message_int_add_warning(msg, "no Message-ID");

    const char *as = g_mime_object_get_header(obj, "Auto-Submitted");
    const char *prec = g_mime_object_get_header(obj, "Precedence");
    g_autofree char *as_v = as ? g_strstrip(g_ascii_strdown(as, -1)) : NULL;
    g_autofree char *prec_v =
        prec ? g_strstrip(g_ascii_strdown(prec, -1)) : NULL;
    msg->auto_reply = (as_v && *as_v && !g_str_has_prefix(as_v, "no")) ||
                      g_mime_object_get_header(obj, "X-Autoreply") != NULL ||
                      g_mime_object_get_header(obj, "X-Autorespond") != NULL ||
                      (prec_v && (strcmp(prec_v, "auto_reply") == 0 ||
                                  strcmp(prec_v, "bulk") == 0 ||
                                  strcmp(prec_v, "junk") == 0));

    const char *irt = g_mime_object_get_header(obj, "In-Reply-To");
    if (irt != NULL) {
        GMimeReferences *refs = g_mime_references_parse(ctx->opts, irt);
        if (refs != NULL && g_mime_references_length(refs) > 0)
            msg->in_reply_to = clean_id(
                ctx, g_mime_references_get_message_id(refs, 0), "In-Reply-To");
        else if (!blank(irt))
            message_int_add_warning(msg, "unparseable In-Reply-To");
        if (refs != NULL)
            g_mime_references_free(refs);
    }

    const char *rv = g_mime_object_get_header(obj, "References");
    if (rv == NULL)
        return;
    GMimeReferences *refs = g_mime_references_parse(ctx->opts, rv);
    int n = refs != NULL ? g_mime_references_length(refs) : 0;
    int first = 0;
    if (n > 0 && (guint)n > ctx->lim.max_references) {
        first = n - (int)ctx->lim.max_references;
        message_int_add_warning(msg,
                                "References cut: kept the last %u of %d ids",
                                ctx->lim.max_references, n);
    }
    for (int i = first; i < n; i++) {
        char *id = clean_id(ctx, g_mime_references_get_message_id(refs, i),
                            "References id");
        if (id != NULL)
            g_ptr_array_add(msg->references, id);
    }
    if (refs != NULL)
        g_mime_references_free(refs);
}

static void flatten_addresses(parse_ctx *ctx, InternetAddressList *list,
                              GPtrArray *out, const char *header, int level,
                              bool *cut_r)
{
    int n = list != NULL ? internet_address_list_length(list) : 0;
    for (int i = 0; i < n; i++) {
        InternetAddress *ia = internet_address_list_get_address(list, i);
        if (INTERNET_ADDRESS_IS_GROUP(ia)) {
            if (level < 2)
                flatten_addresses(ctx,
                                  internet_address_group_get_members(
                                      INTERNET_ADDRESS_GROUP(ia)),
                                  out, header, level + 1, cut_r);
            continue;
        }
        if (!INTERNET_ADDRESS_IS_MAILBOX(ia))
            continue;
        if (out->len >= ctx->lim.max_addresses) {
            *cut_r = true;
            return;
        }
        const char *name = internet_address_get_name(ia);
        const char *addr =
            internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia));
        message_addr *a = g_new0(message_addr, 1);
        bool cut = false;
        if (name != NULL) {
            a->name = g_strstrip(
                message_int_clean_text(name, -1, MSG_NAME_MAX, &cut));
            if (*a->name == '\0')
                g_clear_pointer(&a->name, g_free);
        }
        a->address = g_strstrip(message_int_clean_text(addr != NULL ? addr : "",
                                                       -1, MSG_NAME_MAX, &cut));
        if (cut)
            message_int_add_warning(ctx->msg, "address in %s cut at %d bytes",
                                    header, MSG_NAME_MAX);
        if (a->name == NULL && *a->address == '\0') {
            addr_free(a);
            continue;
        }
        g_ptr_array_add(out, a);
    }
}

/* Returns a copy of raw with the 8-bit bytes inside Q-encoded words
   written as =XX, or NULL when there are none. Old clients (Eudora, Outlook
   2000) put raw Latin-1 inside encoded words; GMime's address parser would
   first turn such bytes into UTF-8 and then decode them again in the word's
   charset (mojibake). Its Subject decoder gets them right already. */
static char *requote_8bit_words(const char *raw)
{
    GString *o = NULL;
    const char *copied = raw, *p = raw;
    while ((p = strstr(p, "=?")) != NULL) {
        const char *q = p + 2;
        while (*q != '\0' && *q != '?' && !g_ascii_isspace(*q) && q - p < 80)
            q++;
        if (*q != '?' || (q[1] != 'Q' && q[1] != 'q') || q[2] != '?') {
            p += 2;
            continue;
        }
        const char *text = q + 3, *end = strstr(text, "?=");
        if (end == NULL)
            break;
        const char *c = text;
        while (c < end && (guchar)*c < 0x80)
            c++;
        if (c < end) {
            if (o == NULL)
                o = g_string_new(NULL);
            g_string_append_len(o, copied, text - copied);
            for (c = text; c < end; c++) {
                if ((guchar)*c >= 0x80)
                    g_string_append_printf(o, "=%02X", (guchar)*c);
                else
                    g_string_append_c(o, *c);
            }
            copied = end;
        }
        p = end + 2;
    }
    if (o == NULL)
        return NULL;
    g_string_append(o, copied);
    return g_string_free(o, FALSE);
}

/* The addresses of every header called name (only the first when
   first_only), re-parsed from raw values with 8-bit encoded words
   requoted; NULL when GMime's list is right. */
static InternetAddressList *reparse_addresses(parse_ctx *ctx,
                                              GMimeHeaderList *hl,
                                              const char *name, bool first_only)
{
    int n = g_mime_header_list_get_count(hl);
    GPtrArray *values = g_ptr_array_new_with_free_func(g_free);
    bool changed = first_only;
    for (int i = 0; i < n && !(first_only && values->len > 0); i++) {
        GMimeHeader *h = g_mime_header_list_get_header_at(hl, i);
        const char *raw = g_mime_header_get_raw_value(h);
        if (raw == NULL ||
            g_ascii_strcasecmp(g_mime_header_get_name(h), name) != 0)
            continue;
        /* 8-bit bytes inside encoded words are in the word's charset:
           requote those first; what is left outside them is read with the
           fallback charset. */
        g_autofree char *rq = requote_8bit_words(raw);
        const char *v = rq != NULL ? rq : raw;
        char *utf8 = eightbit_to_utf8(v);
        changed = changed || rq != NULL || strcmp(utf8, raw) != 0;
        g_ptr_array_add(values, utf8);
    }
    InternetAddressList *list = NULL;
    if (changed) {
        list = internet_address_list_new();
        for (guint i = 0; i < values->len; i++) {
            InternetAddressList *l = internet_address_list_parse(
                ctx->opts, g_ptr_array_index(values, i));
            if (l != NULL) {
                internet_address_list_append(list, l);
                g_object_unref(l);
            }
        }
    }
    g_ptr_array_unref(values);
    return list;
}

static void read_addresses(parse_ctx *ctx, GMimeMessage *m)
{
    /* From, Sender and Reply-To: the first header only (what clients
       show); repeated To, Cc and Bcc headers all count */
    static const struct {
        GMimeAddressType type;
        bool first_only;
        const char *header;
        size_t field;
    } headers[] = {
        {GMIME_ADDRESS_TYPE_FROM, true, "From",
         G_STRUCT_OFFSET(crm_message, from)},
        {GMIME_ADDRESS_TYPE_SENDER, true, "Sender",
         G_STRUCT_OFFSET(crm_message, sender)},
        {GMIME_ADDRESS_TYPE_TO, false, "To", G_STRUCT_OFFSET(crm_message, to)},
        {GMIME_ADDRESS_TYPE_CC, false, "Cc", G_STRUCT_OFFSET(crm_message, cc)},
        {GMIME_ADDRESS_TYPE_BCC, false, "Bcc",
         G_STRUCT_OFFSET(crm_message, bcc)},
        {GMIME_ADDRESS_TYPE_REPLY_TO, true, "Reply-To",
         G_STRUCT_OFFSET(crm_message, reply_to)},
    };
    GMimeHeaderList *hl = g_mime_object_get_header_list(GMIME_OBJECT(m));
    for (size_t i = 0; i < G_N_ELEMENTS(headers); i++) {
        GPtrArray *out =
            G_STRUCT_MEMBER(GPtrArray *, ctx->msg, headers[i].field);
        bool cut = false;
        InternetAddressList *fixed = reparse_addresses(
            ctx, hl, headers[i].header, headers[i].first_only);
        flatten_addresses(
            ctx,
            fixed != NULL ? fixed
                          : g_mime_message_get_addresses(m, headers[i].type),
            out, headers[i].header, 0, &cut);
        if (fixed != NULL)
            g_object_unref(fixed);
        if (cut)
            message_int_add_warning(ctx->msg, "%s cut at %u addresses",
                                    headers[i].header, ctx->lim.max_addresses);
    }
}

/* Whether v holds a time as RFC 5322 writes it: HH:MM or HH:MM:SS as a
   token of its own. GMime reads "10:00:t" as midnight. */
static bool date_time_ok(const char *v)
{
    for (const char *c = strchr(v, ':'); c != NULL; c = strchr(c + 1, ':')) {
        const char *h = c;
        while (h > v && g_ascii_isdigit(h[-1]))
            h--;
        if (c - h < 1 || c - h > 2 || (h > v && !g_ascii_isspace(h[-1])))
            continue;
        const char *p = c + 1;
        if (!g_ascii_isdigit(p[0]) || !g_ascii_isdigit(p[1]))
            continue;
        p += 2;
        if (p[0] == ':') {
            if (!g_ascii_isdigit(p[1]) || !g_ascii_isdigit(p[2]))
                continue;
            p += 3;
        }
        return *p == '\0' || g_ascii_isspace(*p);
    }
    return false;
}

/* The date of the first Date header with a well-formed time, else of the
   first one GMime can decode; NULL when none. */
static GDateTime *read_date(GMimeObject *obj)
{
    GMimeHeaderList *hl = g_mime_object_get_header_list(obj);
    int n = hl != NULL ? g_mime_header_list_get_count(hl) : 0;
    GDateTime *fallback = NULL;
    for (int i = 0; i < n; i++) {
        GMimeHeader *h = g_mime_header_list_get_header_at(hl, i);
        const char *v = g_mime_header_get_value(h);
        if (v == NULL || g_ascii_strcasecmp(g_mime_header_get_name(h), "Date"))
            continue;
        GDateTime *d = g_mime_utils_header_decode_date(v);
        if (d == NULL)
            continue;
        if (date_time_ok(v)) {
            if (fallback != NULL)
                g_date_time_unref(fallback);
            return d;
        }
        if (fallback == NULL)
            fallback = d;
        else
            g_date_time_unref(d);
    }
    return fallback;
}

static void read_headers(parse_ctx *ctx, GMimeMessage *m)
{
    GMimeObject *obj = GMIME_OBJECT(m);
    crm_message *msg = ctx->msg;

    read_ids(ctx, obj);
    read_addresses(ctx, m);

    /* the first Subject; the first Date with a well-formed time, else the
       first that decodes at all (GMime's own fields hold the last) */
    const char *date = g_mime_object_get_header(obj, "Date");
    GDateTime *d = read_date(obj);
    if (d != NULL) {
        msg->date = d;
    } else if (date != NULL) {
        g_autofree char *raw = message_int_clean_text(date, -1, 100, NULL);
        message_int_add_warning(msg, "unparseable Date: %s", raw);
    } else {
        message_int_add_warning(msg, "no Date header");
    }

    const char *raw_subject = raw_header(obj, "Subject");
    g_autofree char *subject =
        raw_subject != NULL ? message_int_decode_header(raw_subject) : NULL;
    if (subject != NULL) {
        bool cut = false;
        g_free(msg->subject);
        msg->subject =
            message_int_clean_text(subject, -1, MSG_SUBJECT_MAX, &cut);
        if (cut)
            message_int_add_warning(msg, "Subject cut at %d bytes",
                                    MSG_SUBJECT_MAX);
    }
}

/* ---- parsing ---- */

static GMimeParserOptions *parser_options_new(parse_ctx *ctx)
{
    static const char *charsets[] = {"UTF-8", "windows-1252", "iso-8859-1",
                                     NULL};
    GMimeParserOptions *o = g_mime_parser_options_new();
    g_mime_parser_options_set_fallback_charsets(o, charsets);
    g_mime_parser_options_set_rfc2047_compliance_mode(
        o, GMIME_RFC_COMPLIANCE_LOOSE);
    g_mime_parser_options_set_address_compliance_mode(
        o, GMIME_RFC_COMPLIANCE_LOOSE);
    g_mime_parser_options_set_parameter_compliance_mode(
        o, GMIME_RFC_COMPLIANCE_LOOSE);
    g_mime_parser_options_set_warning_callback(o, parser_warning, ctx);
    return o;
}

static int header_count(GMimeObject *obj)
{
    GMimeHeaderList *hl = g_mime_object_get_header_list(obj);
    return hl != NULL ? g_mime_header_list_get_count(hl) : 0;
}

/* Parses src (see message_parse_stream). */
static crm_result parse_source(const msg_source *src, const message_limits *lim,
                               crm_message **msg_r)
{
    parse_ctx ctx = {
        .msg = message_new(),
        .plain = g_ptr_array_new(),
        .html = g_ptr_array_new(),
    };
    if (lim != NULL)
        ctx.lim = *lim;
    else
        message_limits_default(&ctx.lim);

    GMimeStream *guarded = NULL;
    crm_result r = message_int_guard(src, &ctx.lim, ctx.msg, &guarded);
    if (r != CRM_OK) {
        message_free(&ctx.msg);
        g_ptr_array_unref(ctx.plain);
        g_ptr_array_unref(ctx.html);
        return r;
    }
    /* GMime reads the bounded copy, or the input as it is */
    GMimeStream *in = guarded;
    if (in == NULL && src->stream != NULL) {
        in = g_object_ref(src->stream);
        g_mime_stream_seek(in, src->start, GMIME_STREAM_SEEK_SET);
    } else if (in == NULL) {
        in = g_mime_stream_mem_new_with_buffer(src->buf, src->len);
    }
    ctx.opts = parser_options_new(&ctx);

    GMimeParser *parser = g_mime_parser_new_with_stream(in);
    g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
    g_mime_parser_set_persist_stream(parser, TRUE);
    GMimeMessage *m = g_mime_parser_construct_message(parser, ctx.opts);
    g_object_unref(parser);

    /* GMime keeps Content-* headers with the top MIME part */
    GMimeObject *top = m != NULL ? g_mime_message_get_mime_part(m) : NULL;
    if (m == NULL || (header_count(GMIME_OBJECT(m)) == 0 &&
                      (top == NULL || header_count(top) == 0)))
        message_int_add_warning(ctx.msg, "no message headers found");
    if (m != NULL) {
        read_headers(&ctx, m);
        message_int_walk(&ctx, top, 0, true);
        message_int_read_body_text(&ctx);
    }
    r = message_int_digest(ctx.msg, src, m);
    if (r == CRM_OK && ctx.msg->raw_size == 0)
        r = CRM_ERR_PARSE;

    if (m != NULL)
        g_object_unref(m);
    g_object_unref(in);
    g_mime_parser_options_free(ctx.opts);
    g_ptr_array_unref(ctx.plain);
    g_ptr_array_unref(ctx.html);
    if (r != CRM_OK) {
        message_free(&ctx.msg);
        return r;
    }
    *msg_r = ctx.msg;
    return CRM_OK;
}

crm_result message_parse_stream(GMimeStream *stream, const message_limits *lim,
                                crm_message **msg_r)
{
    *msg_r = NULL;
    if (stream == NULL)
        return CRM_ERR_USAGE;
    message_library_init();
    gint64 start = g_mime_stream_tell(stream);
    if (start < 0 ||
        g_mime_stream_seek(stream, start, GMIME_STREAM_SEEK_SET) != start)
        return CRM_ERR_USAGE; /* not seekable */
    msg_source src = {.stream = stream, .start = start};
    return parse_source(&src, lim, msg_r);
}

crm_result message_parse_fd(int fd, gint64 offset, const message_limits *lim,
                            crm_message **msg_r)
{
    *msg_r = NULL;
    if (fd < 0 || offset < 0)
        return CRM_ERR_USAGE;
    message_library_init();
    /* The dup shares the file offset, which GMime's stream moves: put it
       back afterwards. */
    off_t saved = lseek(fd, 0, SEEK_CUR);
    int d = saved < 0 ? -1 : dup(fd);
    if (d < 0)
        return CRM_ERR_IO;
    GMimeStream *s = g_mime_stream_fs_new_with_bounds(d, offset, -1);
    crm_result r = message_parse_stream(s, lim, msg_r);
    g_object_unref(s);
    int saved_errno = errno;
    if (lseek(fd, saved, SEEK_SET) != saved && r == CRM_OK) {
        message_free(msg_r);
        r = CRM_ERR_IO;
    }
    errno = saved_errno;
    if (r == CRM_ERR_USAGE)
        r = CRM_ERR_IO;
    return r;
}

crm_result message_parse_bytes(const char *data, gsize len,
                               const message_limits *lim, crm_message **msg_r)
{
    *msg_r = NULL;
    if (data == NULL && len > 0)
        return CRM_ERR_USAGE;
    if (len == 0)
        return CRM_ERR_PARSE;
    message_library_init();
    msg_source src = {.buf = data, .len = len};
    return parse_source(&src, lim, msg_r);
}

crm_result message_parse_file(const char *path, const message_limits *lim,
                              crm_message **msg_r)
{
    *msg_r = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return CRM_ERR_IO;
    crm_result r = message_parse_fd(fd, 0, lim, msg_r);
    close(fd);
    return r;
}
