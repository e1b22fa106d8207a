/*
 * test_campaign_msg.c - one campaign message (core/campaign_msg.c), built
 * and parsed back with GMime: every header (From, To, Reply-To, Subject
 * in RFC 2047, Date, Message-ID carrying the token, List-Unsubscribe and
 * its one-click Post, Precedence, Feedback-ID, X-CRMGate-Campaign,
 * MIME-Version), the text and HTML parts decoded, transfer encodings,
 * CRLF line ends, the signature, header injection through every field,
 * invalid UTF-8, missing required fields, and the speed (printed as a TAP
 * comment; must reach 2,000 messages/s).
 *
 * Every message is also built by one campaign_msg_builder shared by all
 * tests, whatever the previous message was, and must be the same bytes
 * as a fresh build (the random part of the Message-ID and the multipart
 * boundary aside); builder_reuse switches every shared part and every
 * encoding back and forth, and the builder's own speed line must reach
 * 6,000 messages/s.
 */
#include <glib.h>
#include <gmime/gmime.h>
#include <string.h>
#include <time.h>

#include "crmgate/campaign_msg.h"
#include "crmgate/tokens.h"

#if defined(__SANITIZE_ADDRESS__)
#define SPEED_CHECKED 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SPEED_CHECKED 0
#endif
#endif
#ifndef SPEED_CHECKED
#define SPEED_CHECKED 1
#endif

#define SECRET "campaign-secret"
#define DOMAIN "bounce.example.com"

typedef struct {
    GBytes *bytes;
    char *msgid;
    GMimeMessage *m;
    const char *data;
    gsize len;
} built;

static void built_clear(built *b)
{
    g_bytes_unref(b->bytes);
    g_free(b->msgid);
    g_clear_object(&b->m);
}

/* Checks the wire form: CRLF only, lines within 998 bytes, header lines
   holding an encoded word within 76 characters. */
static void check_wire(const char *d, gsize n)
{
    const char *hend = g_strstr_len(d, (gssize)n, "\r\n\r\n");
    g_assert_nonnull(hend);
    for (const char *l = d; l < hend;) {
        const char *e = strstr(l, "\r\n");
        g_autofree char *line = g_strndup(l, (gsize)(e - l));
        if (strstr(line, "=?UTF-8?Q?") != NULL)
            g_assert_cmpuint(strlen(line), <=, 76);
        l = e + 2;
    }
    gsize line = 0;
    for (gsize i = 0; i < n; i++) {
        if (d[i] == '\r') {
            g_assert_true(i + 1 < n && d[i + 1] == '\n');
        } else if (d[i] == '\n') {
            g_assert_true(i > 0 && d[i - 1] == '\r');
            line = 0;
            continue;
        }
        line++;
        g_assert_cmpuint(line, <=, 1000);
    }
    g_assert_true(n >= 2 && d[n - 2] == '\r' && d[n - 1] == '\n');
    g_assert_null(memchr(d, '\0', n));
}

/* The builder every test shares (made in main). */
static campaign_msg_builder *shared;

/* The message with the random part of its Message-ID (the 8 hex before
   the last '@') and its multipart boundary replaced by fixed text. */
static char *normalized(GBytes *bytes, const char *msgid)
{
    gsize n;
    const char *d = g_bytes_get_data(bytes, &n);
    GString *s = g_string_new_len(d, (gssize)n);
    const char *at = NULL; /* the first ".XXXXXXXX@", X lowercase hex */
    for (const char *p = msgid; at == NULL && (p = strchr(p, '.')); p++) {
        gsize k = 1;
        while (k <= 8 && g_ascii_isxdigit(p[k]) && !g_ascii_isupper(p[k]))
            k++;
        if (k == 9 && p[9] == '@')
            at = p + 9;
    }
    g_assert_nonnull(at);
    g_autofree char *rnd = g_strndup(at - 9, 10); /* ".RRRRRRRR@" */
    g_assert_cmpuint(g_string_replace(s, rnd, ".RANDOM@", 0), >=, 1);
    const char *bp = strstr(s->str, "boundary=\"");
    if (bp != NULL) {
        bp += strlen("boundary=\"");
        g_autofree char *boundary = g_strndup(bp, strcspn(bp, "\""));
        g_assert_cmpuint(strlen(boundary), ==, 22);
        g_assert_cmpuint(g_string_replace(s, boundary, "BOUNDARY", 0), >=, 4);
    }
    return g_string_free(s, FALSE);
}

/* in built by the shared builder is what a fresh build of it is. */
static void check_builder_same(const campaign_msg_input *in, GBytes *fresh,
                               const char *fresh_id)
{
    char *id = NULL;
    GBytes *reused = campaign_msg_builder_build(shared, in, &id);
    g_assert_nonnull(reused);
    g_assert_nonnull(id);
    g_assert_cmpstr(id, !=, fresh_id);
    g_autofree char *a = normalized(fresh, fresh_id);
    g_autofree char *b = normalized(reused, id);
    g_assert_cmpstr(b, ==, a);
    g_bytes_unref(reused);
    g_free(id);
}

static built build(const campaign_msg_input *in)
{
    built b = {0};
    b.bytes = campaign_msg_build(in, &b.msgid);
    g_assert_nonnull(b.bytes);
    g_assert_nonnull(b.msgid);
    check_builder_same(in, b.bytes, b.msgid);
    b.data = g_bytes_get_data(b.bytes, &b.len);
    check_wire(b.data, b.len);
    GMimeStream *s = g_mime_stream_mem_new_with_buffer(b.data, b.len);
    GMimeParser *p = g_mime_parser_new_with_stream(s);
    b.m = g_mime_parser_construct_message(p, NULL);
    g_object_unref(p);
    g_object_unref(s);
    g_assert_nonnull(b.m);
    return b;
}

/* The raw header block (up to the blank line). */
static char *header_block(const built *b)
{
    const char *end = g_strstr_len(b->data, (gssize)b->len, "\r\n\r\n");
    g_assert_nonnull(end);
    return g_strndup(b->data, (gsize)(end - b->data) + 2);
}

/* How many header lines start with name ":" (case-insensitive). */
static guint count_header(const char *block, const char *name)
{
    guint n = 0;
    gsize nl = strlen(name);
    for (const char *p = block; p != NULL && *p;) {
        if (g_ascii_strncasecmp(p, name, nl) == 0 && p[nl] == ':')
            n++;
        p = strstr(p, "\r\n");
        if (p != NULL)
            p += 2;
    }
    return n;
}

/* A header's value, unfolded. */
static char *header(const built *b, const char *name)
{
    const char *v = g_mime_object_get_header(GMIME_OBJECT(b->m), name);
    if (v == NULL)
        return NULL;
    char *u = g_mime_utils_header_unfold(v);
    return g_strstrip(u);
}

/* A part's decoded text with CRLF turned back into LF. */
static char *part_text(GMimeObject *part)
{
    g_assert_true(GMIME_IS_TEXT_PART(part));
    g_autofree char *t = g_mime_text_part_get_text(GMIME_TEXT_PART(part));
    GString *out = g_string_new(NULL);
    for (const char *p = t; *p; p++)
        if (!(*p == '\r' && p[1] == '\n'))
            g_string_append_c(out, *p);
    return g_string_free(out, FALSE);
}

static void check_mailbox(InternetAddressList *list, const char *name,
                          const char *addr)
{
    g_assert_nonnull(list);
    g_assert_cmpint(internet_address_list_length(list), ==, 1);
    InternetAddress *a = internet_address_list_get_address(list, 0);
    g_assert_true(INTERNET_ADDRESS_IS_MAILBOX(a));
    g_assert_cmpstr(
        internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a)), ==,
        addr);
    const char *got = internet_address_get_name(a);
    if (name == NULL || *name == '\0')
        g_assert_true(got == NULL || *got == '\0');
    else
        g_assert_cmpstr(got, ==, name);
}

static campaign_msg_input base_input(const char *token, GDateTime *date)
{
    campaign_msg_input in = {0};
    in.from_name = "Sales T\xc3\xa9"
                   "am";
    in.from_address = "sales@example.com";
    in.reply_to = "replies@example.com";
    in.to_name = "Ana L\xc3\xb3pez";
    in.to_address = "ana@example.org";
    in.subject = "Gr\xc3\xbc\xc3\x9f"
                 "e, Ana: our \xe2\x82\xac offer";
    in.text = "Hello Ana,\nplain text.\r\nThird line.\n.\nend";
    in.html = "<html><body><p>Hello <b>Ana</b></p></body></html>";
    in.signature_text = "Bob\nSales";
    in.signature_html = "<p class=\"sig\">Bob</p>";
    in.token = token;
    in.bounce_domain = DOMAIN;
    in.unsubscribe_url = "https://crm.example.com/unsubscribe/TOKEN";
    in.feedback_id = "42:7:crmgate:crmgate";
    in.campaign_id = 42;
    in.date = date;
    return in;
}

static void test_headers_and_parts(void)
{
    g_autofree char *tok = token_recipient(SECRET, 1234);
    GDateTime *date = g_date_time_new_from_unix_utc(1765000000);
    campaign_msg_input in = base_input(tok, date);
    built b = build(&in);
    g_autofree char *block = header_block(&b);

    check_mailbox(g_mime_message_get_from(b.m),
                  "Sales T\xc3\xa9"
                  "am",
                  "sales@example.com");
    check_mailbox(g_mime_message_get_to(b.m), "Ana L\xc3\xb3pez",
                  "ana@example.org");
    check_mailbox(g_mime_message_get_reply_to(b.m), NULL,
                  "replies@example.com");
    g_assert_cmpstr(g_mime_message_get_subject(b.m), ==,
                    "Gr\xc3\xbc\xc3\x9f"
                    "e, Ana: our \xe2\x82\xac offer");
    g_assert_nonnull(strstr(block, "Subject: =?")); /* RFC 2047 */
    GDateTime *got_date = g_mime_message_get_date(b.m);
    g_assert_nonnull(got_date);
    g_assert_cmpint(g_date_time_to_unix(got_date), ==, 1765000000);

    /* Message-ID <TOKEN.RANDOM@domain>, and the token comes back out */
    g_assert_cmpstr(g_mime_message_get_message_id(b.m), ==, b.msgid);
    g_autofree char *prefix = g_strconcat(tok, ".", NULL);
    g_assert_true(g_str_has_prefix(b.msgid, prefix));
    g_assert_true(g_str_has_suffix(b.msgid, "@" DOMAIN));
    const char *rnd = b.msgid + strlen(prefix);
    for (int i = 0; i < 8; i++)
        g_assert_true(g_ascii_isxdigit(rnd[i]) && !g_ascii_isupper(rnd[i]));
    g_assert_cmpint(rnd[8], ==, '@');
    gint64 id = 0;
    g_assert_true(token_from_message_id(SECRET, DOMAIN, b.msgid, &id));
    g_assert_cmpint(id, ==, 1234);
    g_autofree char *raw_id = g_strdup_printf("Message-ID: <%s>\r\n", b.msgid);
    g_assert_nonnull(strstr(block, raw_id));

    g_autofree char *lu = header(&b, "List-Unsubscribe");
    g_autofree char *want_lu =
        g_strdup_printf("<https://crm.example.com/unsubscribe/TOKEN>, "
                        "<mailto:unsubscribe+%s@" DOMAIN ">",
                        tok);
    g_assert_cmpstr(lu, ==, want_lu);
    g_autofree char *lup = header(&b, "List-Unsubscribe-Post");
    g_assert_cmpstr(lup, ==, "List-Unsubscribe=One-Click");
    g_autofree char *prec = header(&b, "Precedence");
    g_assert_cmpstr(prec, ==, "bulk");
    g_autofree char *fid = header(&b, "Feedback-ID");
    g_assert_cmpstr(fid, ==, "42:7:crmgate:crmgate");
    g_autofree char *cid = header(&b, "X-CRMGate-Campaign");
    g_assert_cmpstr(cid, ==, "42");
    g_autofree char *mv = header(&b, "MIME-Version");
    g_assert_cmpstr(mv, ==, "1.0");
    const char *once[] = {"From",
                          "To",
                          "Reply-To",
                          "Subject",
                          "Date",
                          "Message-ID",
                          "List-Unsubscribe",
                          "List-Unsubscribe-Post",
                          "Precedence",
                          "Feedback-ID",
                          "X-CRMGate-Campaign",
                          "MIME-Version",
                          "Content-Type"};
    for (guint i = 0; i < G_N_ELEMENTS(once); i++)
        g_assert_cmpuint(count_header(block, once[i]), ==, 1);
    g_assert_cmpuint(count_header(block, "Bcc"), ==, 0);
    g_assert_cmpuint(count_header(block, "Cc"), ==, 0);

    /* multipart/alternative: text first, then HTML */
    GMimeObject *body = g_mime_message_get_mime_part(b.m);
    g_assert_true(GMIME_IS_MULTIPART(body));
    GMimeContentType *ct = g_mime_object_get_content_type(body);
    g_assert_true(g_mime_content_type_is_type(ct, "multipart", "alternative"));
    GMimeMultipart *mp = GMIME_MULTIPART(body);
    g_assert_cmpint(g_mime_multipart_get_count(mp), ==, 2);
    GMimeObject *tp = g_mime_multipart_get_part(mp, 0);
    GMimeObject *hp = g_mime_multipart_get_part(mp, 1);
    g_assert_true(g_mime_content_type_is_type(
        g_mime_object_get_content_type(tp), "text", "plain"));
    g_assert_true(g_mime_content_type_is_type(
        g_mime_object_get_content_type(hp), "text", "html"));
    g_assert_cmpstr(g_mime_object_get_content_type_parameter(tp, "charset"), ==,
                    "utf-8");
    g_assert_cmpstr(g_mime_object_get_content_type_parameter(hp, "charset"), ==,
                    "utf-8");
    g_assert_cmpint(g_mime_part_get_content_encoding(GMIME_PART(tp)), ==,
                    GMIME_CONTENT_ENCODING_7BIT);
    g_assert_cmpint(g_mime_part_get_content_encoding(GMIME_PART(hp)), ==,
                    GMIME_CONTENT_ENCODING_7BIT);
    g_autofree char *text = part_text(tp);
    g_assert_cmpstr(text, ==,
                    "Hello Ana,\nplain text.\nThird line.\n.\nend\n-- \n"
                    "Bob\nSales");
    g_autofree char *html = part_text(hp);
    g_assert_cmpstr(html, ==,
                    "<html><body><p>Hello <b>Ana</b></p>"
                    "<p class=\"sig\">Bob</p></body></html>");
    /* no dot-stuffing: the lone "." line is sent as it is */
    g_assert_nonnull(g_strstr_len(b.data, (gssize)b.len, "\r\n.\r\nend"));
    built_clear(&b);

    /* two builds get two Message-IDs */
    built b2 = build(&in);
    built b3 = build(&in);
    g_assert_cmpstr(b2.msgid, !=, b3.msgid);
    built_clear(&b2);
    built_clear(&b3);
    g_date_time_unref(date);
}

static void test_text_only_and_qp(void)
{
    g_autofree char *tok = token_recipient(SECRET, 9);
    campaign_msg_input in = base_input(tok, NULL);
    in.html = NULL;
    in.reply_to = NULL;
    in.signature_text = NULL;
    in.from_name = NULL;
    in.to_name = "";
    GString *t = g_string_new("Gr\xc3\xbc\xc3\x9f"
                              "e\n");
    for (int i = 0; i < 3000; i++)
        g_string_append_c(t, (char)('a' + i % 26));
    g_string_append(t, "\n=3D literal, trailing space \nlast");
    in.text = t->str;
    gint64 before = g_get_real_time() / G_USEC_PER_SEC;
    built b = build(&in);
    g_autofree char *block = header_block(&b);
    GMimeObject *body = g_mime_message_get_mime_part(b.m);
    g_assert_true(GMIME_IS_TEXT_PART(body));
    g_assert_true(g_mime_content_type_is_type(
        g_mime_object_get_content_type(body), "text", "plain"));
    g_assert_cmpint(g_mime_part_get_content_encoding(GMIME_PART(body)), ==,
                    GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE);
    /* a single part ends with the message's last line end */
    g_autofree char *text = part_text(body);
    g_autofree char *want = g_strconcat(t->str, "\n", NULL);
    g_assert_true(strcmp(text, want) == 0);
    g_assert_cmpuint(count_header(block, "Reply-To"), ==, 0);
    check_mailbox(g_mime_message_get_from(b.m), NULL, "sales@example.com");
    check_mailbox(g_mime_message_get_to(b.m), NULL, "ana@example.org");
    /* date NULL: now */
    gint64 when = g_date_time_to_unix(g_mime_message_get_date(b.m));
    g_assert_cmpint(when, >=, before);
    g_assert_cmpint(when, <=, before + 5);
    built_clear(&b);

    /* only a long ASCII line: quoted-printable too; short ASCII: 7bit */
    GString *lng = g_string_new(NULL);
    for (int i = 0; i < CAMPAIGN_MSG_LINE_MAX + 1; i++)
        g_string_append_c(lng, 'x');
    in.text = lng->str;
    b = build(&in);
    body = g_mime_message_get_mime_part(b.m);
    g_assert_cmpint(g_mime_part_get_content_encoding(GMIME_PART(body)), ==,
                    GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE);
    g_autofree char *lt = part_text(body);
    g_assert_true(g_str_has_prefix(lt, lng->str));
    g_assert_cmpuint(strlen(lt), ==, lng->len + 1);
    built_clear(&b);
    g_string_truncate(lng, CAMPAIGN_MSG_LINE_MAX);
    in.text = lng->str;
    b = build(&in);
    body = g_mime_message_get_mime_part(b.m);
    g_assert_cmpint(g_mime_part_get_content_encoding(GMIME_PART(body)), ==,
                    GMIME_CONTENT_ENCODING_7BIT);
    built_clear(&b);
    /* 8-bit HTML: that part alone is quoted-printable */
    in.text = "plain";
    in.html = "<p>caf\xc3\xa9</p>";
    b = build(&in);
    GMimeMultipart *mp = GMIME_MULTIPART(g_mime_message_get_mime_part(b.m));
    g_assert_cmpint(g_mime_part_get_content_encoding(
                        GMIME_PART(g_mime_multipart_get_part(mp, 0))),
                    ==, GMIME_CONTENT_ENCODING_7BIT);
    GMimeObject *hp = g_mime_multipart_get_part(mp, 1);
    g_assert_cmpint(g_mime_part_get_content_encoding(GMIME_PART(hp)), ==,
                    GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE);
    g_autofree char *h = part_text(hp);
    g_assert_cmpstr(h, ==, "<p>caf\xc3\xa9</p><p class=\"sig\">Bob</p>");
    built_clear(&b);
    /* an empty text body is allowed */
    in.text = "";
    in.html = NULL;
    b = build(&in);
    built_clear(&b);
    g_string_free(lng, TRUE);
    g_string_free(t, TRUE);
}

static void test_injection(void)
{
    g_autofree char *tok = token_recipient(SECRET, 77);
    campaign_msg_input in = base_input(tok, NULL);
    in.subject = "Hi\r\nBcc: x@y";
    in.from_name = "Evil\r\nBcc: a@evil.example";
    in.to_name = "Ana\nCc: b@evil.example";
    in.reply_to = "r@example.com\r\nX-Injected: 1";
    in.feedback_id = "1:2\r\nBcc: c@evil.example";
    in.unsubscribe_url = "https://x.example/u?a=1\r\nBcc: d@evil>\"<";
    built b = build(&in);
    g_autofree char *block = header_block(&b);
    g_assert_cmpuint(count_header(block, "Bcc"), ==, 0);
    g_assert_cmpuint(count_header(block, "Cc"), ==, 0);
    g_assert_cmpuint(count_header(block, "X-Injected"), ==, 0);
    g_assert_null(g_mime_object_get_header(GMIME_OBJECT(b.m), "Bcc"));
    g_assert_null(
        g_mime_message_get_bcc(b.m) != NULL &&
                internet_address_list_length(g_mime_message_get_bcc(b.m)) > 0
            ? "bcc"
            : NULL);
    g_assert_cmpstr(g_mime_message_get_subject(b.m), ==, "Hi Bcc: x@y");
    g_autofree char *fid = header(&b, "Feedback-ID");
    g_assert_cmpstr(fid, ==, "1:2 Bcc: c@evil.example");
    g_autofree char *lu = header(&b, "List-Unsubscribe");
    g_assert_true(g_str_has_prefix(
        lu, "<https://x.example/u?a=1%0D%0ABcc:%20d@evil%3E%22%3C>, "));
    /* every header line is a header or a continuation */
    g_auto(GStrv) lines = g_strsplit(block, "\r\n", -1);
    for (guint i = 0; lines[i] != NULL && *lines[i]; i++)
        g_assert_true(lines[i][0] == ' ' || lines[i][0] == '\t' ||
                      strchr(lines[i], ':') != NULL);
    built_clear(&b);

    /* token and domain with CR/LF cannot break the Message-ID line */
    in = base_input("1-x\r\nBcc: e@evil", NULL);
    in.bounce_domain = "d.example\nBcc: f@evil";
    b = build(&in);
    g_autofree char *block2 = header_block(&b);
    g_assert_cmpuint(count_header(block2, "Bcc"), ==, 0);
    built_clear(&b);
}

static void test_hostile_values(void)
{
    g_autofree char *tok = token_recipient(SECRET, 5);
    campaign_msg_input in = base_input(tok, NULL);
    in.subject = "bad \xff\xfe subject \xc3";
    in.to_name = "\xc3\x28 name";
    in.text = "text \xff\r\rline\r";
    in.html = "<p>\xe2\x82</p>";
    built b = build(&in);
    const char *subject = g_mime_message_get_subject(b.m);
    g_assert_true(g_utf8_validate(subject, -1, NULL));
    g_assert_true(g_str_has_prefix(subject, "bad "));
    GMimeMultipart *mp = GMIME_MULTIPART(g_mime_message_get_mime_part(b.m));
    g_autofree char *text = part_text(g_mime_multipart_get_part(mp, 0));
    g_assert_true(g_utf8_validate(text, -1, NULL));
    /* bare CRs became line ends */
    g_assert_true(g_str_has_prefix(text, "text \xef\xbf\xbd\n\nline\n-- \n"));
    g_autofree char *html = part_text(g_mime_multipart_get_part(mp, 1));
    g_assert_true(g_utf8_validate(html, -1, NULL));
    built_clear(&b);

    /* a long subject and names fold, and decode back whole */
    GString *s = g_string_new(NULL);
    for (int i = 0; i < 300; i++)
        g_string_append(s, "w\xc3\xb6rd ");
    g_string_truncate(s, s->len - 1);
    in = base_input(tok, NULL);
    in.subject = s->str;
    b = build(&in);
    g_assert_cmpstr(g_mime_message_get_subject(b.m), ==, s->str);
    g_autofree char *lblock = header_block(&b);
    g_assert_cmpuint(count_header(lblock, "Subject"), ==, 1);
    built_clear(&b);
    g_string_free(s, TRUE);

    /* long non-ASCII names, names with specials, and names that look
       encoded come back whole */
    GString *cyr = g_string_new(NULL);
    for (int i = 0; i < 14; i++)
        g_string_append(cyr, "\xd0\x98\xd0\xb2\xd0\xb0\xd0\xbd ");
    g_string_append(cyr, "\xe6\x9d\x8e \xf0\x9f\x98\x80");
    in = base_input(tok, NULL);
    in.from_name = cyr->str;
    in.to_name = "Ana \"the\" <b>, Co; (x)";
    in.reply_to = "replies@example.com";
    b = build(&in);
    check_mailbox(g_mime_message_get_from(b.m), cyr->str, "sales@example.com");
    check_mailbox(g_mime_message_get_to(b.m), "Ana \"the\" <b>, Co; (x)",
                  "ana@example.org");
    check_mailbox(g_mime_message_get_reply_to(b.m), NULL,
                  "replies@example.com");
    built_clear(&b);
    in.from_name = "=?UTF-8?B?eA==?= sales";
    in.to_name = "\xc3\x89lodie =?x";
    b = build(&in);
    check_mailbox(g_mime_message_get_from(b.m), "=?UTF-8?B?eA==?= sales",
                  "sales@example.com");
    check_mailbox(g_mime_message_get_to(b.m), "\xc3\x89lodie =?x",
                  "ana@example.org");
    built_clear(&b);
    g_string_free(cyr, TRUE);

    /* an ASCII subject with no room to fold, and a huge name: no line
       over 998 bytes (check_wire), and both come back whole */
    GString *wide = g_string_new("Start ");
    for (int i = 0; i < 3000; i++)
        g_string_append_c(wide, (char)('a' + i % 26));
    g_string_append(wide, " end");
    in = base_input(tok, NULL);
    in.subject = wide->str;
    in.to_name = wide->str;
    b = build(&in);
    g_assert_cmpstr(g_mime_message_get_subject(b.m), ==, wide->str);
    check_mailbox(g_mime_message_get_to(b.m), wide->str, "ana@example.org");
    built_clear(&b);
    g_string_free(wide, TRUE);

    /* plain ASCII stays readable; "=?" in it is encoded, and comes back */
    const char *subjects[] = {"Plain news", "a =?UTF-8?B?eA==?= b",
                              "tab\there_=?"};
    const char *raw[] = {"\r\nSubject: Plain news\r\n",
                         "\r\nSubject: =?UTF-8?Q?", "\r\nSubject: =?UTF-8?Q?"};
    in = base_input(tok, NULL); /* nothing pointing into freed strings */
    for (guint i = 0; i < G_N_ELEMENTS(subjects); i++) {
        in.subject = subjects[i];
        b = build(&in);
        g_autofree char *sb = header_block(&b);
        g_assert_nonnull(strstr(sb, raw[i]));
        g_assert_cmpstr(g_mime_message_get_subject(b.m), ==, subjects[i]);
        built_clear(&b);
    }
}

static void test_required(void)
{
    g_autofree char *tok = token_recipient(SECRET, 5);
    campaign_msg_input ok = base_input(tok, NULL);
    const char **fields[] = {&ok.from_address,  &ok.to_address,
                             &ok.text,          &ok.token,
                             &ok.bounce_domain, &ok.unsubscribe_url};
    for (guint i = 0; i < G_N_ELEMENTS(fields); i++) {
        const char *keep = *fields[i];
        *fields[i] = NULL;
        char *id = (char *)"set";
        g_assert_null(campaign_msg_build(&ok, &id));
        g_assert_null(id);
        if (fields[i] != &ok.text) {
            *fields[i] = "";
            g_assert_null(campaign_msg_build(&ok, NULL));
        }
        *fields[i] = keep;
    }
    g_assert_null(campaign_msg_build(NULL, NULL));
    GBytes *bytes = campaign_msg_build(&ok, NULL);
    g_assert_nonnull(bytes);
    g_bytes_unref(bytes);
}

/* CPU seconds used by this process: a floor "on one core" must not fail
   because other programs share the machine. */
static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_speed(void)
{
    g_autofree char *tok = token_recipient(SECRET, 123456);
    GDateTime *date = g_date_time_new_now_utc();
    campaign_msg_input in = base_input(tok, date);
    GString *text = g_string_new(NULL), *html = g_string_new("<html><body>");
    while (text->len < 1500)
        g_string_append(text, "Dear Ana, this is our news for this month.\n");
    while (html->len < 3000)
        g_string_append(html, "<p>Dear <b>Ana</b>, this is our news.</p>\n");
    g_string_append(html, "</body></html>");
    in.text = text->str;
    in.html = html->str;
    const int n = 4000;
    gsize bytes = 0;
    gint64 start = g_get_monotonic_time();
    double cpu0 = cpu_seconds();
    for (int i = 0; i < n; i++) {
        GBytes *b = campaign_msg_build(&in, NULL);
        bytes += g_bytes_get_size(b);
        g_bytes_unref(b);
    }
    double cpu = cpu_seconds() - cpu0;
    double secs = (double)(g_get_monotonic_time() - start) / 1e6;
    double rate = n / (cpu > 0 ? cpu : secs);
    g_test_message("campaign message build: %.0f messages/s (text+HTML, "
                   "%" G_GSIZE_FORMAT " bytes each; per CPU second, %.0f "
                   "per wall second)",
                   rate, bytes / (gsize)n, n / secs);
    if (SPEED_CHECKED && g_getenv("CRMGATE_VALGRIND") == NULL)
        g_assert_cmpfloat(rate, >=, 2000.0);
    g_string_free(text, TRUE);
    g_string_free(html, TRUE);
    g_date_time_unref(date);
}

/* One builder through messages that switch every shared part and every
   encoding back and forth: each is the same as a fresh build, and nothing
   of the previous message stays. */
static void test_builder_reuse(void)
{
    g_autofree char *tok = token_recipient(SECRET, 31);
    GDateTime *date = g_date_time_new_from_unix_utc(1765000000);
    GString *lng = g_string_new(NULL);
    for (int i = 0; i < 1200; i++)
        g_string_append_c(lng, 'x');
    campaign_msg_builder *b = campaign_msg_builder_new();
    for (int round = 0; round < 24; round++) {
        campaign_msg_input in = base_input(tok, round % 3 ? date : NULL);
        if (round % 2)
            in.reply_to = NULL;
        if (round % 4 >= 2)
            in.html = NULL;
        if (round % 5 == 1)
            in.from_name = "Plain Sender";
        if (round % 6 == 2)
            in.feedback_id = NULL;
        if (round % 7 == 3)
            in.campaign_id = 43;
        if (round % 3 == 1) {
            in.text = "7bit only";
            in.html = in.html ? "<p>7bit</p>" : NULL;
            in.signature_text = NULL;
            in.signature_html = NULL;
            in.subject = "Plain subject";
            in.to_name = round % 2 ? "Ana Lopez" : NULL;
            in.to_address = "Ana.Lopez+news@Example.ORG";
        } else if (round % 3 == 0) {
            in.text = "8-bit caf\xc3\xa9";
        } else {
            in.text = lng->str;
            in.to_name = "Smith, John";
            in.to_address = "x@xn--bcher-kva.example";
        }
        char *id = NULL;
        GBytes *bytes = campaign_msg_builder_build(b, &in, &id);
        g_assert_nonnull(bytes);
        char *fid = NULL;
        GBytes *fresh = campaign_msg_build(&in, &fid);
        g_autofree char *x = normalized(bytes, id);
        g_autofree char *y = normalized(fresh, fid);
        g_assert_cmpstr(x, ==, y);
        const char *hend = strstr(x, "\r\n\r\n");
        g_autofree char *block = g_strndup(x, (gsize)(hend - x) + 2);
        g_assert_cmpuint(count_header(block, "Reply-To"), ==,
                         in.reply_to ? 1 : 0);
        g_assert_cmpuint(count_header(block, "Feedback-ID"), ==,
                         in.feedback_id ? 1 : 0);
        g_assert_true((strstr(x, "multipart/alternative") != NULL) ==
                      (in.html != NULL));
        if (round % 3 == 1)
            g_assert_null(strstr(x, "quoted-printable"));
        else
            g_assert_nonnull(strstr(x, "quoted-printable"));
        if (round % 3 == 1)
            g_assert_nonnull(
                strstr(block, in.to_name ? "\r\nTo: Ana Lopez "
                                           "<Ana.Lopez+news@Example.ORG>\r\n"
                                         : "\r\nTo: "
                                           "Ana.Lopez+news@Example.ORG\r\n"));
        g_bytes_unref(bytes);
        g_bytes_unref(fresh);
        g_free(id);
        g_free(fid);
    }
    /* same input twice: new Message-ID random and new boundary */
    campaign_msg_input in = base_input(tok, date);
    char *id1 = NULL, *id2 = NULL;
    GBytes *m1 = campaign_msg_builder_build(b, &in, &id1);
    GBytes *m2 = campaign_msg_builder_build(b, &in, &id2);
    g_assert_cmpstr(id1, !=, id2);
    const char *d1 = g_bytes_get_data(m1, NULL);
    const char *d2 = g_bytes_get_data(m2, NULL);
    const char *b1 = strstr(d1, "boundary=");
    const char *b2 = strstr(d2, "boundary=");
    g_assert_true(b1 != NULL && b2 != NULL);
    g_assert_false(strncmp(b1, b2, 9 + 24) == 0);
    g_bytes_unref(m1);
    g_bytes_unref(m2);
    g_free(id1);
    g_free(id2);
    /* missing required fields: NULL, and the builder goes on after */
    in.token = "";
    char *id = (char *)"set";
    g_assert_null(campaign_msg_builder_build(b, &in, &id));
    g_assert_null(id);
    g_assert_null(campaign_msg_builder_build(b, NULL, NULL));
    g_assert_null(campaign_msg_builder_build(NULL, &in, NULL));
    in.token = tok;
    GBytes *again = campaign_msg_builder_build(b, &in, NULL);
    g_assert_nonnull(again);
    g_bytes_unref(again);
    campaign_msg_builder_free(b);
    campaign_msg_builder_free(NULL);
    g_string_free(lng, TRUE);
    g_date_time_unref(date);
}

/* The raw lines of header name in the message (folds kept, CRLF made
   LF), from the name to the end of its last line. */
static char *raw_header(GBytes *bytes, const char *name)
{
    gsize n;
    const char *d = g_bytes_get_data(bytes, &n);
    g_autofree char *key = g_strconcat("\r\n", name, ":", NULL);
    const char *p = g_strstr_len(d, (gssize)n, key);
    g_assert_nonnull(p);
    p += 2;
    const char *e = p;
    do
        e = strstr(e, "\r\n") + 2;
    while (*e == ' ' || *e == '\t');
    GString *out = g_string_new_len(p, e - p);
    g_string_replace(out, "\r\n", "\n", 0);
    return g_string_free(out, FALSE);
}

/* What GMime itself writes for header name set to value (on a fresh
   message: the formatter GMime uses for that name). */
static char *gmime_header(const char *name, const char *value)
{
    GMimeMessage *m = g_mime_message_new(FALSE);
    g_mime_object_set_header(GMIME_OBJECT(m), name, value, "utf-8");
    GMimeHeader *h = g_mime_header_list_get_header(
        g_mime_object_get_header_list(GMIME_OBJECT(m)), name);
    char *raw = g_strconcat(name, ":", g_mime_header_get_raw_value(h), NULL);
    g_object_unref(m);
    return raw;
}

/* Plain ASCII subjects and unsubscribe URLs, which the builder folds
   itself, fold exactly as GMime's own formatter folds them: words of 1 to
   60 characters (longer ones are Q words), URLs of every length, runs of
   spaces and tabs, lines that fill up at every
   length (a fixed seed: the same cases each run). */
static void test_plain_fold(void)
{
    g_autofree char *tok = token_recipient(SECRET, 8);
    GRand *rnd = g_rand_new_with_seed(7);
    campaign_msg_builder *b = campaign_msg_builder_new();
    for (int i = 0; i < 3000; i++) {
        GString *subject = g_string_new(NULL);
        int words = g_rand_int_range(rnd, 1, 16);
        int longest = g_rand_int_range(rnd, 0, 3) ? 12 : 60;
        for (int w = 0; w < words; w++) {
            if (w > 0)
                for (int k = g_rand_int_range(rnd, 1, 4); k > 0; k--)
                    g_string_append_c(subject,
                                      g_rand_int_range(rnd, 0, 5) ? ' ' : '\t');
            for (int k = g_rand_int_range(rnd, 1, longest + 1); k > 0; k--) {
                char c = (char)g_rand_int_range(rnd, 0x21, 0x7F);
                if (c == '?' && subject->len > 0 &&
                    subject->str[subject->len - 1] == '=')
                    c = 'q';
                g_string_append_c(subject, c);
            }
        }
        GString *url = g_string_new("https://crm.example.com/");
        for (int k = g_rand_int_range(rnd, 0, 60); k > 0; k--)
            g_string_append_c(url, (char)('a' + g_rand_int_range(rnd, 0, 26)));
        g_string_append(url, "/unsubscribe/");
        g_string_append(url, tok);
        campaign_msg_input in = base_input(tok, NULL);
        in.subject = subject->str;
        in.unsubscribe_url = url->str;
        GBytes *m = campaign_msg_builder_build(b, &in, NULL);
        g_assert_nonnull(m);
        g_autofree char *got_s = raw_header(m, "Subject");
        g_autofree char *want_s = gmime_header("Subject", subject->str);
        g_assert_cmpstr(got_s, ==, want_s);
        g_autofree char *unsub = g_strdup_printf(
            "<%s>, <mailto:unsubscribe+%s@" DOMAIN ">", url->str, tok);
        g_autofree char *got_u = raw_header(m, "List-Unsubscribe");
        g_autofree char *want_u = gmime_header("List-Unsubscribe", unsub);
        g_assert_cmpstr(got_u, ==, want_u);
        g_bytes_unref(m);
        g_string_free(subject, TRUE);
        g_string_free(url, TRUE);
    }
    campaign_msg_builder_free(b);
    g_rand_free(rnd);
}

/* The builder's speed with what a campaign sends: ASCII names, the
   recipient changing, the date now. */
static void test_builder_speed(void)
{
    GString *text = g_string_new(NULL), *html = g_string_new("<html><body>");
    while (text->len < 1500)
        g_string_append(text, "Dear Ana, this is our news for this month.\n");
    while (html->len < 3000)
        g_string_append(html, "<p>Dear <b>Ana</b>, this is our news.</p>\n");
    g_string_append(html, "</body></html>");
    campaign_msg_builder *b = campaign_msg_builder_new();
    const int n = 20000;
    gsize bytes = 0;
    gint64 start = g_get_monotonic_time();
    double cpu0 = cpu_seconds();
    for (int i = 0; i < n; i++) {
        char to[64], name[64];
        g_snprintf(to, sizeof to, "user%d@domain%d.example", i, i % 50);
        g_snprintf(name, sizeof name, "First%d Last%d", i, i);
        g_autofree char *tok = token_recipient(SECRET, i + 1);
        g_autofree char *url =
            g_strconcat("https://crm.example.com/unsubscribe/", tok, NULL);
        campaign_msg_input in = base_input(tok, NULL);
        in.from_name = "Sales Team";
        in.to_name = name;
        in.to_address = to;
        in.subject = "Our news for you, Ana";
        in.text = text->str;
        in.html = html->str;
        in.unsubscribe_url = url;
        GBytes *m = campaign_msg_builder_build(b, &in, NULL);
        bytes += g_bytes_get_size(m);
        g_bytes_unref(m);
    }
    double cpu = cpu_seconds() - cpu0;
    double secs = (double)(g_get_monotonic_time() - start) / 1e6;
    double rate = n / (cpu > 0 ? cpu : secs);
    g_test_message("campaign message build, one builder: %.0f messages/s "
                   "(text+HTML, %" G_GSIZE_FORMAT " bytes each; per CPU "
                   "second, %.0f per wall second)",
                   rate, bytes / (gsize)n, n / secs);
    if (SPEED_CHECKED && g_getenv("CRMGATE_VALGRIND") == NULL)
        g_assert_cmpfloat(rate, >=, 6000.0);
    campaign_msg_builder_free(b);
    g_string_free(text, TRUE);
    g_string_free(html, TRUE);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_mime_init();
    g_test_add_func("/campaign_msg/headers_and_parts", test_headers_and_parts);
    g_test_add_func("/campaign_msg/text_only_and_qp", test_text_only_and_qp);
    g_test_add_func("/campaign_msg/injection", test_injection);
    g_test_add_func("/campaign_msg/hostile_values", test_hostile_values);
    g_test_add_func("/campaign_msg/required", test_required);
    g_test_add_func("/campaign_msg/speed", test_speed);
    g_test_add_func("/campaign_msg/builder_reuse", test_builder_reuse);
    g_test_add_func("/campaign_msg/plain_fold", test_plain_fold);
    g_test_add_func("/campaign_msg/builder_speed", test_builder_speed);
    shared = campaign_msg_builder_new();
    int rc = g_test_run();
    campaign_msg_builder_free(shared);
    g_mime_shutdown();
    return rc;
}
