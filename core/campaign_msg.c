/*
 * campaign_msg.c - builds one campaign message (see campaign_msg.h) with
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
 */
#include "crmgate/campaign_msg.h"
#include "crmgate/message.h"

#include <gmime/gmime.h>
#include <stdbool.h>
#include <string.h>

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

/* A body: valid UTF-8 with LF line ends (GMime writes them as CRLF). */
static char *body_text(const char *s)
{
    gsize n = strlen(s);
    char *v = g_utf8_validate(s, (gssize)n, NULL)
                  ? g_strndup(s, n)
                  : g_utf8_make_valid(s, (gssize)n);
    if (strchr(v, '\r') == NULL)
        return v;
    char *w = v;
    for (const char *p = v; *p; p++) {
        if (*p != '\r')
            *w++ = *p;
        else if (p[1] != '\n')
            *w++ = '\n'; /* a bare CR ends a line; CRLF loses its CR */
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

/* Sets the Subject: as it is when plain ASCII (GMime folds it), else
   Q-encoded. */
static void set_subject(GMimeMessage *m, const char *subject)
{
    g_mime_message_set_subject(m, subject, "utf-8");
    if (plain_ascii(subject))
        return;
    GMimeHeaderList *list = g_mime_object_get_header_list(GMIME_OBJECT(m));
    GMimeHeader *h = g_mime_header_list_get_header(list, "Subject");
    g_autofree char *raw = encode_q(subject);
    g_mime_header_set_raw_value(h, raw);
}

static bool given(const char *s)
{
    return s != NULL && *s != '\0';
}

/* True when s needs quoted-printable: an 8-bit byte or a long line. */
static bool needs_qp(const char *s)
{
    gsize line = 0;
    for (const guchar *p = (const guchar *)s; *p; p++) {
        if (*p >= 0x80)
            return true;
        line = *p == '\n' ? 0 : line + 1;
        if (line > CAMPAIGN_MSG_LINE_MAX)
            return true;
    }
    return false;
}

/* A text/SUBTYPE part holding body (UTF-8, LF line ends). */
static GMimeObject *text_part(const char *subtype, const char *body)
{
    GMimeTextPart *tp = g_mime_text_part_new_with_subtype(subtype);
    GMimeObject *obj = GMIME_OBJECT(tp);
    g_mime_object_set_content_type_parameter(obj, "charset", "utf-8");
    GMimeStream *mem = g_mime_stream_mem_new_with_buffer(body, strlen(body));
    GMimeDataWrapper *w = g_mime_data_wrapper_new_with_stream(
        mem, GMIME_CONTENT_ENCODING_DEFAULT);
    g_mime_part_set_content(GMIME_PART(tp), w);
    g_object_unref(w);
    g_object_unref(mem);
    g_mime_part_set_content_encoding(
        GMIME_PART(tp), needs_qp(body) ? GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE
                                       : GMIME_CONTENT_ENCODING_7BIT);
    return obj;
}

/* The HTML with the signature before its last </body>, else at the end. */
static char *html_with_signature(const char *html, const char *sig)
{
    if (!given(sig))
        return g_strdup(html);
    const char *at = NULL;
    gsize n = strlen(html);
    for (gsize i = n; i >= 7 && at == NULL; i--)
        if (g_ascii_strncasecmp(html + i - 7, "</body>", 7) == 0)
            at = html + i - 7;
    if (at == NULL)
        return g_strconcat(html, sig, NULL);
    g_autofree char *head = g_strndup(html, (gsize)(at - html));
    return g_strconcat(head, sig, at, NULL);
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

/* The body: text/plain, or multipart/alternative of text and HTML. */
static GMimeObject *build_body(const campaign_msg_input *in)
{
    GString *t = g_string_new(in->text);
    if (given(in->signature_text)) {
        g_string_append(t, "\n-- \n");
        g_string_append(t, in->signature_text);
    }
    g_autofree char *text = body_text(t->str);
    g_string_free(t, TRUE);
    GMimeObject *tp = text_part("plain", text);
    if (!given(in->html))
        return tp;
    g_autofree char *h = html_with_signature(in->html, in->signature_html);
    g_autofree char *html = body_text(h);
    GMimeMultipart *alt = g_mime_multipart_new_with_subtype("alternative");
    g_mime_multipart_add(alt, tp);
    g_object_unref(tp);
    GMimeObject *hp = text_part("html", html);
    g_mime_multipart_add(alt, hp);
    g_object_unref(hp);
    return GMIME_OBJECT(alt);
}

GBytes *campaign_msg_build(const campaign_msg_input *in, char **message_id_r)
{
    if (message_id_r != NULL)
        *message_id_r = NULL;
    if (in == NULL || !given(in->from_address) || !given(in->to_address) ||
        in->text == NULL || !given(in->token) || !given(in->bounce_domain) ||
        !given(in->unsubscribe_url))
        return NULL;
    message_library_init();

    g_autofree char *token = header_value(in->token);
    g_autofree char *domain = header_value(in->bounce_domain);
    char random[9];
    g_snprintf(random, sizeof random, "%08x", g_random_int());
    g_autofree char *msgid = g_strdup_printf("%s.%s@%s", token, random, domain);

    GMimeMessage *m = g_mime_message_new(FALSE);
    GMimeObject *obj = GMIME_OBJECT(m);
    add_mailbox(m, GMIME_ADDRESS_TYPE_FROM, in->from_name, in->from_address);
    add_mailbox(m, GMIME_ADDRESS_TYPE_TO, in->to_name, in->to_address);
    if (given(in->reply_to))
        add_mailbox(m, GMIME_ADDRESS_TYPE_REPLY_TO, NULL, in->reply_to);
    g_autofree char *subject =
        header_value(given(in->subject) ? in->subject : "");
    set_subject(m, subject);
    GDateTime *date = in->date != NULL ? g_date_time_ref(in->date)
                                       : g_date_time_new_now_local();
    g_mime_message_set_date(m, date);
    g_date_time_unref(date);
    g_autofree char *bracketed = g_strdup_printf("<%s>", msgid);
    set_header(obj, "Message-ID", bracketed);

    g_autofree char *url = header_url(in->unsubscribe_url);
    g_autofree char *unsub =
        g_strdup_printf("<%s>, <mailto:unsubscribe+%s@%s>", url, token, domain);
    set_header(obj, "List-Unsubscribe", unsub);
    set_header(obj, "List-Unsubscribe-Post", "List-Unsubscribe=One-Click");
    set_header(obj, "Precedence", "bulk");
    if (given(in->feedback_id)) {
        g_autofree char *fid = header_value(in->feedback_id);
        set_header(obj, "Feedback-ID", fid);
    }
    char cid[24];
    g_snprintf(cid, sizeof cid, "%" G_GINT64_FORMAT, in->campaign_id);
    set_header(obj, "X-CRMGate-Campaign", cid);

    GMimeObject *body = build_body(in);
    g_mime_message_set_mime_part(m, body);
    g_object_unref(body);

    GMimeFormatOptions *opts = g_mime_format_options_new();
    g_mime_format_options_set_newline_format(opts, GMIME_NEWLINE_FORMAT_DOS);
    GMimeStream *mem = g_mime_stream_mem_new();
    g_mime_object_write_to_stream(obj, opts, mem);
    g_mime_format_options_free(opts);
    GByteArray *ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
    g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(mem), FALSE);
    g_object_unref(mem);
    g_object_unref(m);
    if (message_id_r != NULL)
        *message_id_r = g_steal_pointer(&msgid);
    return g_byte_array_free_to_bytes(ba);
}
