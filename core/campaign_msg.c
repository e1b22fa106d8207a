/*
 * campaign_msg.c - builds campaign messages (see campaign_msg.h) with
 * GMime 3: the headers a bulk sender owes receivers (List-Unsubscribe with
 * one-click, Precedence, Feedback-ID), the VERP-friendly Message-ID that
 * carries the recipient token, and a text or text+HTML body, written with
 * CRLF line ends.
 *
 * Every input value is cleaned first: invalid UTF-8 repaired, CR and LF
 * in header values turned into spaces (so no value can start a header of
 * its own), body line ends normalised (CRLF, CR, LF all become CRLF on
 * output). The unsubscribe URL is percent-encoded where it holds bytes
 * that cannot stand inside <...> in a header. Nothing is bounded here:
 * sizes are bounded upstream (templates are at most 1 MiB, values come
 * from the database).
 *
 * Speed: a campaign_msg_builder keeps one GMime message (headers, MIME
 * structure, parts, content streams, format options) made from the parts
 * every message of a campaign shares (From, Reply-To, bounce domain,
 * Feedback-ID, campaign id, text-only or text+HTML) and, per message, only
 * sets the recipient's headers (To, Subject, Date, Message-ID,
 * List-Unsubscribe), the two bodies, their transfer encodings and a new
 * multipart boundary on those objects before GMime writes it out. Every
 * header is kept raw (GMime formats a header set by value again at each
 * write); plain ASCII Subject and List-Unsubscribe values are folded by
 * fold_plain, a copy of GMime's rule for them. The Date text is kept
 * while the second does not change (the local zone is read once per
 * builder); the random bytes of Message-IDs and boundaries come from
 * getrandom() in blocks; a To address whose domain is plain ASCII is
 * written without libidn2 (which gives plain ASCII back as it is). The
 * output is byte for byte what a fresh GMime message of the same input
 * gave before the builder (the unit tests compare the two paths, and
 * fold_plain with GMime's formatter). Limits: a builder is not
 * thread-safe (one per thread); it holds one message of the campaign's
 * size between builds.
 */
#include "crmgate/campaign_msg.h"
#include "crmgate/message.h"

#include <gmime/gmime.h>
#include <stdbool.h>
#include <string.h>
#include <sys/random.h>

/* Longest encoded word we write: with "Reply-To: " in front a line stays
   within the 76 characters of RFC 2047 section 2. */
#define CAMPAIGN_MSG_WORD_MAX 66
/* Longest word of a header value sent as it is (it must fold in 78). */
#define CAMPAIGN_MSG_PLAIN_WORD_MAX 60

/* A header value: valid UTF-8, each run of CR and LF as one space
   (g_free it). */
static char *header_value(const char *s)
{
    if (s == NULL)
        return NULL;
    char *v = g_utf8_make_valid(s, -1);
    char *w = v;
    bool in_break = false;
    for (const char *p = v; *p; p++) {
        bool brk = *p == '\r' || *p == '\n';
        if (!brk)
            *w++ = *p;
        else if (!in_break)
            *w++ = ' ';
        in_break = brk;
    }
    *w = '\0';
    return v;
}

/* The URL with bytes that cannot stand inside <...> percent-encoded. */
static char *header_url(const char *s)
{
    GString *out = g_string_new(NULL);
    for (const guchar *p = (const guchar *)s; *p; p++) {
        if (*p <= 0x20 || *p >= 0x7F || *p == '<' || *p == '>' || *p == '"')
            g_string_append_printf(out, "%%%02X", *p);
        else
            g_string_append_c(out, (char)*p);
    }
    return g_string_free(out, FALSE);
}

/* True when a header value can go out as it is: printable ASCII and
   blanks, no word too long to fold (GMime would encode it in words our
   own parser reads back with the fold left in), and nothing a decoder
   would take for an encoded word. */
static bool plain_ascii(const char *s)
{
    gsize word = 0;
    for (const guchar *p = (const guchar *)s; *p; p++) {
        if (*p >= 0x7F || (*p < 0x20 && *p != '\t'))
            return false;
        word = (*p == ' ' || *p == '\t') ? 0 : word + 1;
        if (word > CAMPAIGN_MSG_PLAIN_WORD_MAX)
            return false;
    }
    return strstr(s, "=?") == NULL;
}

/* The raw value of an RFC 2047 "Q" encoding of s (valid UTF-8): encoded
   words of at most CAMPAIGN_MSG_WORD_MAX characters, cut between
   characters, one per folded line (each ending in LF; the
   characters kept raw are those allowed in a phrase too). Q, not B:
   GMime 3.2 joins adjacent B words before decoding them, and base64
   padding inside the join cuts the rest of the subject or name off when
   the message is read back. */
static char *encode_q(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    GString *out = g_string_new(NULL);
    GString *word = g_string_new(NULL);
    for (const char *p = s; *p;) {
        const char *next = g_utf8_next_char(p);
        char ch[16]; /* one character: at most 4 bytes, 3 each */
        gsize n = 0;
        for (const char *c = p; c < next && n + 3 < sizeof ch; c++) {
            guchar b = (guchar)*c;
            if (b == ' ') {
                ch[n++] = '_';
            } else if (g_ascii_isalnum(b) || strchr("!*+-/", b) != NULL) {
                ch[n++] = (char)b;
            } else {
                ch[n++] = '=';
                ch[n++] = hex[b >> 4];
                ch[n++] = hex[b & 0xF];
            }
        }
        if (word->len > 0 && 12 + word->len + n > CAMPAIGN_MSG_WORD_MAX) {
            g_string_append_printf(out, " =?UTF-8?Q?%s?=\n", word->str);
            g_string_truncate(word, 0);
        }
        g_string_append_len(word, ch, (gssize)n);
        p = next;
    }
    g_string_append_printf(out, " =?UTF-8?Q?%s?=\n", word->str);
    g_string_free(word, TRUE);
    return g_string_free(out, FALSE);
}

static bool given(const char *s)
{
    return s != NULL && *s != '\0';
}

/* True when the len bytes at s are all ASCII (8 at a time). */
static bool all_ascii(const char *s, gsize len)
{
    guint64 acc = 0;
    gsize i = 0;
    for (; i + 8 <= len; i += 8) {
        guint64 w;
        memcpy(&w, s + i, 8);
        acc |= w;
    }
    for (; i < len; i++)
        acc |= (guchar)s[i];
    return (acc & G_GUINT64_CONSTANT(0x8080808080808080)) == 0;
}

/* True when a line (up to LF) of the len bytes at s is longer than
   CAMPAIGN_MSG_LINE_MAX bytes. */
static bool long_line(const char *s, gsize len)
{
    const char *end = s + len;
    for (const char *p = s; p < end;) {
        const char *nl = memchr(p, '\n', (gsize)(end - p));
        const char *e = nl != NULL ? nl : end;
        if ((gsize)(e - p) > CAMPAIGN_MSG_LINE_MAX)
            return true;
        p = e + 1;
    }
    return false;
}

static void set_header(GMimeObject *obj, const char *name, const char *value)
{
    g_mime_object_set_header(obj, name, value, "utf-8");
}

/* True when addr can be written as it is: one '@', and only letters,
   digits and ".-_+=" around it (else GMime quotes and IDN-encodes it). */
static bool simple_address(const char *addr)
{
    const char *at = strchr(addr, '@');
    if (at == NULL || at == addr || at[1] == '\0' || strchr(at + 1, '@'))
        return false;
    for (const char *p = addr; *p; p++)
        if (*p != '@' && !g_ascii_isalnum(*p) && strchr(".-_+=", *p) == NULL)
            return false;
    return true;
}

static const char *const address_header[] = {
    [GMIME_ADDRESS_TYPE_FROM] = "From",
    [GMIME_ADDRESS_TYPE_TO] = "To",
    [GMIME_ADDRESS_TYPE_REPLY_TO] = "Reply-To",
};

/* Adds one mailbox; a name that is not plain ASCII is written Q-encoded
   by us (see encode_q) in front of the address as GMime formats it. */
static void add_mailbox(GMimeMessage *m, GMimeAddressType type,
                        const char *name, const char *addr)
{
    g_autofree char *n = header_value(given(name) ? name : "");
    g_autofree char *a = header_value(addr);
    g_mime_message_add_mailbox(m, type, n, a);
    if (plain_ascii(n))
        return;
    g_autofree char *formatted = NULL;
    if (simple_address(a)) {
        formatted = g_strdup(a);
    } else {
        InternetAddress *bare = internet_address_mailbox_new(NULL, a);
        formatted = internet_address_to_string(bare, NULL, TRUE);
        g_object_unref(bare);
    }
    g_autofree char *words = encode_q(n);
    g_autofree char *raw = g_strdup_printf("%s <%s>\n", words, formatted);
    GMimeHeaderList *list = g_mime_object_get_header_list(GMIME_OBJECT(m));
    GMimeHeader *h = g_mime_header_list_get_header(list, address_header[type]);
    g_mime_header_set_raw_value(h, raw);
}

/* Keeps h's value as raw text: GMime writes a header set by value through
   its formatter again at every write, a raw one as it is (the text is
   the same: the formatter ran when the value was set; the newline filter
   makes its LF line ends CRLF either way). */
static void freeze_header(GMimeHeader *h)
{
    g_autofree char *raw = g_strdup(g_mime_header_get_raw_value(h));
    if (raw != NULL)
        g_mime_header_set_raw_value(h, raw);
}

/* freeze_header for every header of obj. */
static void freeze_headers(GMimeObject *obj)
{
    GMimeHeaderList *list = g_mime_object_get_header_list(obj);
    int n = g_mime_header_list_get_count(list);
    for (int i = 0; i < n; i++)
        freeze_header(g_mime_header_list_get_header_at(list, i));
}

/* True when GMime would write addr exactly as it is after a name: one
   '@', a local part of letters, digits and "._+=-" with no dot first,
   last or doubled, a domain of dot-separated labels of letters, digits
   and '-' that is not an "xn--" (A-label) one. For such a domain libidn2
   gives the same domain back, which GMime then writes as it was given. */
static bool plain_address(const char *addr)
{
    const char *at = strchr(addr, '@');
    if (at == NULL || at == addr || at[1] == '\0')
        return false;
    char prev = '.';
    for (const char *p = addr; p < at; p++) {
        if (*p == '.' ? prev == '.'
                      : !g_ascii_isalnum(*p) && strchr("_+=-", *p) == NULL)
            return false;
        prev = *p;
    }
    if (prev == '.')
        return false;
    prev = '.';
    for (const char *p = at + 1; *p; p++) {
        if (*p == '.' ? prev == '.' : !g_ascii_isalnum(*p) && *p != '-')
            return false;
        if (prev == '.' && g_ascii_strncasecmp(p, "xn--", 4) == 0)
            return false;
        prev = *p;
    }
    return prev != '.';
}

/* GMime's To line starts after "To: " (4 columns) and folds at 78. */
#define TO_COLUMN 4
#define FOLD_COLUMN 78

/* The raw value of a To header for name (may be empty) and addr, both
   cleaned (header_value): what GMime's own address list writes (a
   mailbox added to a fresh message), or our Q words for a name that is
   not plain ASCII (as add_mailbox). */
static char *to_raw(const char *name, const char *addr)
{
    if (!plain_ascii(name)) {
        g_autofree char *formatted = NULL;
        if (simple_address(addr)) {
            formatted = g_strdup(addr);
        } else {
            InternetAddress *bare = internet_address_mailbox_new(NULL, addr);
            formatted = internet_address_to_string(bare, NULL, TRUE);
            g_object_unref(bare);
        }
        g_autofree char *words = encode_q(name);
        return g_strdup_printf("%s <%s>\n", words, formatted);
    }
    if (plain_address(addr)) {
        /* no fold: what mailbox_to_string writes on one line */
        gsize alen = strlen(addr);
        if (*name == '\0') {
            if (TO_COLUMN + alen <= FOLD_COLUMN)
                return g_strconcat(" ", addr, "\n", NULL);
        } else {
            g_autofree char *enc =
                g_mime_utils_header_encode_phrase(NULL, name, NULL);
            gsize nlen = strlen(enc);
            if (TO_COLUMN + nlen <= FOLD_COLUMN &&
                TO_COLUMN + nlen + alen + 3 < FOLD_COLUMN)
                return g_strconcat(" ", enc, " <", addr, ">\n", NULL);
        }
    }
    /* anything else: GMime's own list encoder, as a fresh message does */
    InternetAddressList *list = internet_address_list_new();
    InternetAddress *mb = internet_address_mailbox_new(name, addr);
    internet_address_list_add(list, mb);
    g_object_unref(mb);
    GString *s = g_string_new("To: ");
    internet_address_list_encode(list, NULL, s);
    g_object_unref(list);
    char *raw = g_strdup(s->str + 3);
    g_string_free(s, TRUE);
    return raw;
}

/* Random bytes kept per builder: one getrandom() per block. */
#define RANDOM_BLOCK 512

struct campaign_msg_builder {
    /* what the message was made from (copies; NULL = not made yet) */
    GMimeMessage *m;
    char *from_name, *from_address, *reply_to, *bounce_domain, *feedback_id;
    gint64 campaign_id;
    bool with_html;
    char *domain; /* header_value(bounce_domain) */
    GMimeHeader *h_to, *h_subject, *h_date, *h_msgid, *h_unsub;
    GMimeMultipart *alt; /* NULL for text only */
    GMimePart *text_part, *html_part;
    GByteArray *text_buf, *html_buf; /* owned by the parts' streams */
    GString *scratch;
    GMimeFormatOptions *opts;
    GMimeStream *out;
    GByteArray *idle; /* what out holds between messages */
    gsize last_size;
    /* the Date header: kept while the second and the offset are equal */
    GTimeZone *local;
    gint64 date_unix;
    GTimeSpan date_offset;
    bool date_set;
    guchar random[RANDOM_BLOCK];
    gsize random_left;
};

campaign_msg_builder *campaign_msg_builder_new(void)
{
    message_library_init();
    campaign_msg_builder *b = g_new0(campaign_msg_builder, 1);
    b->scratch = g_string_sized_new(8192);
    b->opts = g_mime_format_options_new();
    g_mime_format_options_set_newline_format(b->opts, GMIME_NEWLINE_FORMAT_DOS);
    b->out = g_mime_stream_mem_new();
    b->idle = g_byte_array_new();
    return b;
}

/* Drops the message made for other fixed parts. */
static void builder_clear(campaign_msg_builder *b)
{
    if (b->m != NULL)
        g_object_unref(b->m);
    b->m = NULL;
    g_clear_pointer(&b->from_name, g_free);
    g_clear_pointer(&b->from_address, g_free);
    g_clear_pointer(&b->reply_to, g_free);
    g_clear_pointer(&b->bounce_domain, g_free);
    g_clear_pointer(&b->feedback_id, g_free);
    g_clear_pointer(&b->domain, g_free);
    b->h_to = b->h_subject = b->h_date = b->h_msgid = b->h_unsub = NULL;
    b->alt = NULL;
    b->text_part = b->html_part = NULL;
    b->text_buf = b->html_buf = NULL;
    b->date_set = false;
}

void campaign_msg_builder_free(campaign_msg_builder *b)
{
    if (b == NULL)
        return;
    builder_clear(b);
    g_string_free(b->scratch, TRUE);
    g_mime_format_options_free(b->opts);
    g_object_unref(b->out);
    g_byte_array_unref(b->idle);
    if (b->local != NULL)
        g_time_zone_unref(b->local);
    g_free(b);
}

/* n random bytes. */
static void random_bytes(campaign_msg_builder *b, guchar *dst, gsize n)
{
    while (n > 0) {
        if (b->random_left == 0) {
            ssize_t got = getrandom(b->random, sizeof b->random, 0);
            if (got <= 0) {
                for (gsize i = 0; i < sizeof b->random; i += 4) {
                    guint32 r = g_random_int();
                    memcpy(b->random + i, &r, 4);
                }
                got = sizeof b->random;
            }
            b->random_left = (gsize)got;
        }
        gsize take = MIN(n, b->random_left);
        memcpy(dst, b->random + sizeof b->random - b->random_left, take);
        b->random_left -= take;
        dst += take;
        n -= take;
    }
}

/* A text/SUBTYPE part (charset utf-8) whose content is a byte array we
   refill for each message; *buf_r gets that array. */
static GMimePart *new_text_part(const char *subtype, GByteArray **buf_r)
{
    GMimeTextPart *tp = g_mime_text_part_new_with_subtype(subtype);
    GMimeObject *obj = GMIME_OBJECT(tp);
    g_mime_object_set_content_type_parameter(obj, "charset", "utf-8");
    GMimeStream *mem = g_mime_stream_mem_new();
    *buf_r = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
    GMimeDataWrapper *w = g_mime_data_wrapper_new_with_stream(
        mem, GMIME_CONTENT_ENCODING_DEFAULT);
    g_mime_part_set_content(GMIME_PART(tp), w);
    g_object_unref(w);
    g_object_unref(mem);
    g_mime_part_set_content_encoding(GMIME_PART(tp),
                                     GMIME_CONTENT_ENCODING_7BIT);
    return GMIME_PART(tp);
}

static bool same(const char *a, const char *b)
{
    return g_strcmp0(a, b) == 0;
}

/* True when the message was made for the fixed parts of in. */
static bool builder_fits(const campaign_msg_builder *b,
                         const campaign_msg_input *in)
{
    return b->m != NULL && b->campaign_id == in->campaign_id &&
           b->with_html == given(in->html) &&
           same(b->from_address, in->from_address) &&
           same(b->from_name, in->from_name) &&
           same(b->reply_to, given(in->reply_to) ? in->reply_to : NULL) &&
           same(b->bounce_domain, in->bounce_domain) &&
           same(b->feedback_id,
                given(in->feedback_id) ? in->feedback_id : NULL);
}

/* Makes the message for the fixed parts of in, headers in their order
   (the recipient's ones hold placeholders until the first build). */
static void builder_make(campaign_msg_builder *b, const campaign_msg_input *in)
{
    builder_clear(b);
    b->from_name = g_strdup(in->from_name);
    b->from_address = g_strdup(in->from_address);
    b->reply_to = given(in->reply_to) ? g_strdup(in->reply_to) : NULL;
    b->bounce_domain = g_strdup(in->bounce_domain);
    b->feedback_id = given(in->feedback_id) ? g_strdup(in->feedback_id) : NULL;
    b->campaign_id = in->campaign_id;
    b->with_html = given(in->html);
    b->domain = header_value(in->bounce_domain);

    GMimeMessage *m = g_mime_message_new(FALSE);
    GMimeObject *obj = GMIME_OBJECT(m);
    GMimeHeaderList *list = g_mime_object_get_header_list(obj);
    add_mailbox(m, GMIME_ADDRESS_TYPE_FROM, in->from_name, in->from_address);
    g_mime_message_add_mailbox(m, GMIME_ADDRESS_TYPE_TO, NULL, "to@invalid");
    if (given(in->reply_to))
        add_mailbox(m, GMIME_ADDRESS_TYPE_REPLY_TO, NULL, in->reply_to);
    g_mime_message_set_subject(m, "", "utf-8");
    GDateTime *epoch = g_date_time_new_from_unix_utc(0);
    g_mime_message_set_date(m, epoch);
    g_date_time_unref(epoch);
    set_header(obj, "Message-ID", "<id@invalid>");
    set_header(obj, "List-Unsubscribe", "<mailto:u@invalid>");
    set_header(obj, "List-Unsubscribe-Post", "List-Unsubscribe=One-Click");
    set_header(obj, "Precedence", "bulk");
    if (given(in->feedback_id)) {
        g_autofree char *fid = header_value(in->feedback_id);
        set_header(obj, "Feedback-ID", fid);
    }
    char cid[24];
    g_snprintf(cid, sizeof cid, "%" G_GINT64_FORMAT, in->campaign_id);
    set_header(obj, "X-CRMGate-Campaign", cid);
    b->h_to = g_mime_header_list_get_header(list, "To");
    b->h_subject = g_mime_header_list_get_header(list, "Subject");
    b->h_date = g_mime_header_list_get_header(list, "Date");
    b->h_msgid = g_mime_header_list_get_header(list, "Message-ID");
    b->h_unsub = g_mime_header_list_get_header(list, "List-Unsubscribe");

    b->text_part = new_text_part("plain", &b->text_buf);
    if (b->with_html) {
        b->alt = g_mime_multipart_new_with_subtype("alternative");
        g_mime_multipart_add(b->alt, GMIME_OBJECT(b->text_part));
        g_object_unref(b->text_part);
        b->html_part = new_text_part("html", &b->html_buf);
        g_mime_multipart_add(b->alt, GMIME_OBJECT(b->html_part));
        g_object_unref(b->html_part);
        g_mime_message_set_mime_part(m, GMIME_OBJECT(b->alt));
        g_object_unref(b->alt);
    } else {
        g_mime_message_set_mime_part(m, GMIME_OBJECT(b->text_part));
        g_object_unref(b->text_part);
    }
    freeze_headers(obj);
    freeze_headers(GMIME_OBJECT(b->text_part));
    if (b->html_part != NULL)
        freeze_headers(GMIME_OBJECT(b->html_part));
    b->m = m;
}

/* Sets buf to s (len bytes, no NUL inside) as valid UTF-8 with LF line
   ends (a bare CR ends a line, CRLF loses its CR; GMime writes CRLF).
   True when the result is all ASCII. */
static bool body_fill(GByteArray *buf, const char *s, gsize len)
{
    g_autofree char *valid = NULL;
    bool ascii = all_ascii(s, len);
    if (!ascii && !g_utf8_validate_len(s, len, NULL)) {
        valid = g_utf8_make_valid(s, (gssize)len);
        s = valid;
        len = strlen(valid);
    }
    g_byte_array_set_size(buf, (guint)len);
    if (len == 0) /* an empty body: the array may have no data at all */
        return ascii;
    guint8 *w = buf->data;
    const char *end = s + len;
    const char *cr = memchr(s, '\r', len);
    if (cr == NULL) {
        memcpy(w, s, len);
        return ascii;
    }
    memcpy(w, s, (gsize)(cr - s));
    w += cr - s;
    for (const char *p = cr; p < end; p++) {
        if (*p != '\r')
            *w++ = (guint8)*p;
        else if (p + 1 == end || p[1] != '\n')
            *w++ = '\n';
    }
    g_byte_array_set_size(buf, (guint)(w - buf->data));
    return ascii;
}

/* Sets the part's transfer encoding for its content: quoted-printable
   when it has an 8-bit byte or a line over CAMPAIGN_MSG_LINE_MAX bytes,
   else 7bit (the header is rewritten only when that changes). */
static void set_encoding(GMimePart *part, const GByteArray *buf, bool ascii)
{
    bool qp = !ascii || long_line((const char *)buf->data, buf->len);
    GMimeContentEncoding want = qp ? GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE
                                   : GMIME_CONTENT_ENCODING_7BIT;
    if (g_mime_part_get_content_encoding(part) != want) {
        g_mime_part_set_content_encoding(part, want);
        GMimeHeaderList *list =
            g_mime_object_get_header_list(GMIME_OBJECT(part));
        freeze_header(
            g_mime_header_list_get_header(list, "Content-Transfer-Encoding"));
    }
}

/* The text body (with its signature) and the HTML body (signature before
   its last </body>, else at the end) into the parts. */
static void set_bodies(campaign_msg_builder *b, const campaign_msg_input *in)
{
    GString *t = b->scratch;
    g_string_assign(t, in->text);
    if (given(in->signature_text)) {
        g_string_append(t, "\n-- \n");
        g_string_append(t, in->signature_text);
    }
    bool ascii = body_fill(b->text_buf, t->str, t->len);
    set_encoding(b->text_part, b->text_buf, ascii);
    if (!b->with_html)
        return;
    const char *html = in->html, *sig = in->signature_html;
    g_string_truncate(t, 0);
    gsize n = strlen(html);
    const char *at = NULL;
    if (given(sig))
        for (gsize i = n; i >= 7 && at == NULL; i--)
            if (g_ascii_strncasecmp(html + i - 7, "</body>", 7) == 0)
                at = html + i - 7;
    if (!given(sig)) {
        g_string_append_len(t, html, (gssize)n);
    } else if (at == NULL) {
        g_string_append_len(t, html, (gssize)n);
        g_string_append(t, sig);
    } else {
        g_string_append_len(t, html, at - html);
        g_string_append(t, sig);
        g_string_append(t, at);
    }
    ascii = body_fill(b->html_buf, t->str, t->len);
    set_encoding(b->html_part, b->html_buf, ascii);
}

/* The Date header: in->date, else now in the local zone read once. */
static void set_date(campaign_msg_builder *b, const campaign_msg_input *in)
{
    if (in->date == NULL && b->local == NULL)
        b->local = g_time_zone_new_local(); /* read once per builder */
    GDateTime *date = in->date != NULL ? g_date_time_ref(in->date)
                                       : g_date_time_new_now(b->local);
    gint64 unix_s = g_date_time_to_unix(date);
    GTimeSpan offset = g_date_time_get_utc_offset(date);
    if (!b->date_set || unix_s != b->date_unix || offset != b->date_offset) {
        g_mime_message_set_date(b->m, date);
        freeze_header(b->h_date);
        b->date_unix = unix_s;
        b->date_offset = offset;
        b->date_set = true;
    }
    g_date_time_unref(date);
}

/* What GMime's default formatter (g_mime_header_format_default: RFC 2047
   encoding, then folding of unstructured text) makes of v after a field
   of field_len characters, done here for the values where both steps
   are plain: printable ASCII, spaces and tabs, no "=?" (no encoded word
   to write or to read), no whitespace at either end, no word of 78
   characters or more (GMime would encode it in pieces). Encoding leaves
   such a value as it is; folding breaks the line before the last blank
   (the last tab, if any) in front of a word that would end past column
   78. NULL when v is not such a value. */
static char *fold_plain(gsize field_len, const char *v)
{
    gsize n = strlen(v);
    if (n == 0 || v[0] == ' ' || v[0] == '\t' || v[n - 1] == ' ' ||
        v[n - 1] == '\t' || strstr(v, "=?") != NULL)
        return NULL;
    for (gsize i = 0, word = 0; i < n; i++) {
        guchar c = (guchar)v[i];
        if (c == ' ' || c == '\t')
            word = 0;
        else if (c < 0x21 || c > 0x7E || ++word >= 78)
            return NULL;
    }
    GString *out = g_string_sized_new(n + 8);
    g_string_append_c(out, ' ');
    gsize len = field_len + 2, lwsp = 0, tab = 0;
    bool first = true;
    for (const char *p = v; *p;) {
        if (*p == ' ' || *p == '\t') {
            for (; *p == ' ' || *p == '\t'; p++) {
                lwsp = out->len;
                if (*p == '\t')
                    tab = out->len;
                g_string_append_c(out, *p);
                len++;
            }
            continue;
        }
        gsize wl = strcspn(p, " \t");
        if (!first && len + wl > 78) {
            if (tab != 0) {
                g_string_insert_c(out, (gssize)tab, '\n');
                len = (lwsp - tab) + 1;
            } else if (lwsp != 0) {
                g_string_insert_c(out, (gssize)lwsp, '\n');
                len = 1;
            } else if (len > 1) {
                g_string_append(out, "\n ");
                len = 1;
            }
        }
        g_string_append_len(out, p, (gssize)wl);
        len += wl;
        lwsp = tab = 0;
        first = false;
        p += wl;
    }
    g_string_append_c(out, '\n');
    return g_string_free(out, FALSE);
}

/* Sets h (named name) to the raw text format (the formatter GMime uses
   for that name) makes of value, trimmed, as g_mime_header_set_value
   does, but marked raw so that GMime does not format it again at write;
   fold_plain does the default formatter's work for plain values. */
static void set_raw(GMimeHeader *h, const char *name,
                    GMimeHeaderRawValueFormatter format, const char *value)
{
    g_autofree char *v = g_strdup(value);
    g_strstrip(v);
    g_autofree char *raw = format == g_mime_header_format_default
                               ? fold_plain(strlen(name), v)
                               : NULL;
    if (raw == NULL)
        raw = format(h, NULL, v, "utf-8");
    g_mime_header_set_raw_value(h, raw);
}

GBytes *campaign_msg_builder_build(campaign_msg_builder *b,
                                   const campaign_msg_input *in,
                                   char **message_id_r)
{
    if (message_id_r != NULL)
        *message_id_r = NULL;
    if (b == NULL || in == NULL || !given(in->from_address) ||
        !given(in->to_address) || in->text == NULL || !given(in->token) ||
        !given(in->bounce_domain) || !given(in->unsubscribe_url))
        return NULL;
    if (!builder_fits(b, in))
        builder_make(b, in);
    GMimeMessage *m = b->m;

    g_autofree char *token = header_value(in->token);
    guchar rnd[4 + 15];
    random_bytes(b, rnd, sizeof rnd);
    char *msgid = g_strdup_printf("%s.%02x%02x%02x%02x@%s", token, rnd[0],
                                  rnd[1], rnd[2], rnd[3], b->domain);

    g_autofree char *to_name =
        header_value(given(in->to_name) ? in->to_name : "");
    g_autofree char *to_addr = header_value(in->to_address);
    g_autofree char *to = to_raw(to_name, to_addr);
    g_mime_header_set_raw_value(b->h_to, to);
    g_autofree char *subject =
        header_value(given(in->subject) ? in->subject : "");
    if (plain_ascii(subject)) {
        set_raw(b->h_subject, "Subject", g_mime_header_format_default, subject);
    } else {
        g_autofree char *q = encode_q(subject);
        g_mime_header_set_raw_value(b->h_subject, q);
    }
    set_date(b, in);
    g_autofree char *bracketed = g_strconcat("<", msgid, ">", NULL);
    set_raw(b->h_msgid, "Message-ID", g_mime_header_format_message_id,
            bracketed);
    g_autofree char *url = header_url(in->unsubscribe_url);
    g_autofree char *unsub = g_strdup_printf("<%s>, <mailto:unsubscribe+%s@%s>",
                                             url, token, b->domain);
    set_raw(b->h_unsub, "List-Unsubscribe", g_mime_header_format_default,
            unsub);

    set_bodies(b, in);
    if (b->alt != NULL) {
        /* as GMime makes one: "=-" and 15 random bytes in base64 */
        char boundary[3 + 20 + 1] = "=-";
        gint state = 0, save = 0;
        gsize n = g_base64_encode_step(rnd + 4, 15, FALSE, boundary + 2, &state,
                                       &save);
        boundary[2 + n] = '\0';
        g_mime_multipart_set_boundary(b->alt, boundary);
    }

    GByteArray *ba = g_byte_array_sized_new((guint)(b->last_size + 512));
    g_mime_stream_mem_set_byte_array(GMIME_STREAM_MEM(b->out), ba);
    g_mime_object_write_to_stream(GMIME_OBJECT(m), b->opts, b->out);
    b->last_size = ba->len;
    /* the stream lets go of ba (it does not own it) */
    g_mime_stream_mem_set_byte_array(GMIME_STREAM_MEM(b->out), b->idle);
    if (message_id_r != NULL)
        *message_id_r = msgid;
    else
        g_free(msgid);
    return g_byte_array_free_to_bytes(ba);
}

GBytes *campaign_msg_build(const campaign_msg_input *in, char **message_id_r)
{
    if (message_id_r != NULL)
        *message_id_r = NULL;
    if (in == NULL)
        return NULL;
    campaign_msg_builder *b = campaign_msg_builder_new();
    GBytes *bytes = campaign_msg_builder_build(b, in, message_id_r);
    campaign_msg_builder_free(b);
    return bytes;
}
