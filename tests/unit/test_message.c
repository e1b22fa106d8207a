/*
 * test_message.c - behaviour tests for core/message.c with inline messages:
 * addresses and encoded words, ids, dates, body choice and charsets, the
 * digest, JSON output, streams and threads. Attachments, limits and the
 * 20 MB message are in test_message_parts.c; HTML in test_html_text.c.
 */
#include "crmgate/html_text.h"
#include "crmgate/message.h"
#include "message_test.h"

#include <glib/gstdio.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const message_addr *addr_at(GPtrArray *list, guint i)
{
    g_assert_cmpuint(i, <, list->len);
    return g_ptr_array_index(list, i);
}

/* ---- headers ---- */

static void test_addresses_encoded(void)
{
    crm_message *msg =
        parse("From: =?UTF-8?B?SsO8cmdlbiBNw7xsbGVy?= <Juergen@Example.COM>\n"
              "To: =?iso-8859-1?Q?Andr=E9_Dupont?= <andre@exemple.fr>,\n"
              " \"Bob, Jr.\" <bob@example.org>, plain@example.net\n"
              "Cc: =?UTF-8?Q?=E2=82=AC_team?= <euro@example.com>\n"
              "Reply-To: <reply@example.com>\n"
              "Sender: list@example.com\n"
              "Subject: hi\n"
              "\n"
              "body\n");
    g_assert_cmpuint(msg->from->len, ==, 1);
    g_assert_cmpstr(addr_at(msg->from, 0)->name, ==, "Jürgen Müller");
    g_assert_cmpstr(addr_at(msg->from, 0)->address, ==, "Juergen@Example.COM");
    g_assert_cmpuint(msg->to->len, ==, 3);
    g_assert_cmpstr(addr_at(msg->to, 0)->name, ==, "André Dupont");
    g_assert_cmpstr(addr_at(msg->to, 1)->name, ==, "Bob, Jr.");
    g_assert_cmpstr(addr_at(msg->to, 1)->address, ==, "bob@example.org");
    g_assert_null(addr_at(msg->to, 2)->name);
    g_assert_cmpstr(addr_at(msg->to, 2)->address, ==, "plain@example.net");
    g_assert_cmpstr(addr_at(msg->cc, 0)->name, ==, "€ team");
    g_assert_cmpstr(addr_at(msg->reply_to, 0)->address, ==,
                    "reply@example.com");
    g_assert_cmpstr(addr_at(msg->sender, 0)->address, ==, "list@example.com");
    g_assert_cmpuint(msg->bcc->len, ==, 0);
    message_free(&msg);
    g_assert_null(msg);
}

static void test_address_groups(void)
{
    crm_message *msg =
        parse("From: a@example.com\n"
              "To: Friends: one@example.com, Two <two@example.com>;, "
              "three@example.com\n"
              "Cc: undisclosed-recipients:;\n"
              "Bcc: =?UTF-8?B?w4lxdWlwZQ==?=: x@example.com;\n"
              "\n"
              "body\n");
    g_assert_cmpuint(msg->to->len, ==, 3);
    g_assert_cmpstr(addr_at(msg->to, 0)->address, ==, "one@example.com");
    g_assert_cmpstr(addr_at(msg->to, 1)->name, ==, "Two");
    g_assert_cmpstr(addr_at(msg->to, 2)->address, ==, "three@example.com");
    g_assert_cmpuint(msg->cc->len, ==, 0);
    g_assert_cmpuint(msg->bcc->len, ==, 1);
    message_free(&msg);
}

static void test_address_limit(void)
{
    GString *s = g_string_new("From: a@example.com\nTo: ");
    for (int i = 0; i < 20; i++)
        g_string_append_printf(s, "%su%d@example.com", i ? ", " : "", i);
    g_string_append(s, "\n\nbody\n");
    message_limits lim;
    message_limits_default(&lim);
    lim.max_addresses = 5;
    crm_message *msg = parse_lim(s->str, &lim);
    g_assert_cmpuint(msg->to->len, ==, 5);
    g_assert_cmpstr(addr_at(msg->to, 4)->address, ==, "u4@example.com");
    g_assert_true(has_warning(msg, "To cut at 5 addresses"));
    message_free(&msg);
    g_string_free(s, TRUE);
}

static void test_message_id_missing(void)
{
    crm_message *msg = parse("From: a@example.com\nSubject: x\n\nbody\n");
    g_assert_null(msg->message_id);
    g_assert_true(has_warning(msg, "no Message-ID"));
    g_assert_true(has_warning(msg, "no Date"));
    message_free(&msg);

    msg = parse("From: a@example.com\nMessage-ID:   <id.1@example.com>  \n"
                "\nbody\n");
    g_assert_cmpstr(msg->message_id, ==, "id.1@example.com");
    g_assert_false(has_warning(msg, "Message-ID"));
    message_free(&msg);
}

static void test_references(void)
{
    GString *s = g_string_new("From: a@example.com\nReferences:");
    for (int i = 1; i <= 40; i++)
        g_string_append_printf(s, "\n <ref%d@example.com>", i);
    g_string_append(s, "\nIn-Reply-To: <ref40@example.com> "
                       "<other@example.com>\n\nbody\n");
    crm_message *msg = parse(s->str);
    g_assert_cmpuint(msg->references->len, ==, 32);
    g_assert_cmpstr(g_ptr_array_index(msg->references, 0), ==,
                    "ref9@example.com");
    g_assert_cmpstr(g_ptr_array_index(msg->references, 31), ==,
                    "ref40@example.com");
    g_assert_true(has_warning(msg, "References cut"));
    g_assert_cmpstr(msg->in_reply_to, ==, "ref40@example.com");
    message_free(&msg);
    g_string_free(s, TRUE);

    msg = parse("From: a@example.com\n"
                "In-Reply-To: Your message of Monday <x.y@example.com>\n"
                "\nbody\n");
    g_assert_cmpstr(msg->in_reply_to, ==, "x.y@example.com");
    g_assert_cmpuint(msg->references->len, ==, 0);
    message_free(&msg);
}

static void test_date(void)
{
    crm_message *msg = parse("From: a@example.com\n"
                             "Date: Fri, 07 Oct 1994 16:15:05 -0700 (PDT)\n"
                             "\nbody\n");
    g_assert_nonnull(msg->date);
    g_assert_cmpint(g_date_time_get_utc_offset(msg->date), ==,
                    -7 * G_TIME_SPAN_HOUR);
    g_assert_cmpint(g_date_time_to_unix(msg->date), ==, 781571705);
    json_t *j = message_to_json(msg);
    g_assert_cmpstr(json_string_value(json_object_get(j, "date")), ==,
                    "1994-10-07T16:15:05-07:00");
    json_decref(j);
    message_free(&msg);

    msg = parse("From: a@example.com\nDate: Tue, 1 Jun 2021 09:30:00 +0530\n"
                "\nbody\n");
    j = message_to_json(msg);
    g_assert_cmpstr(json_string_value(json_object_get(j, "date")), ==,
                    "2021-06-01T09:30:00+05:30");
    json_decref(j);
    message_free(&msg);

    msg = parse("From: a@example.com\nDate: the day after tomorrow\n"
                "\nbody\n");
    g_assert_null(msg->date);
    g_assert_true(has_warning(msg, "unparseable Date"));
    j = message_to_json(msg);
    g_assert_true(json_is_null(json_object_get(j, "date")));
    json_decref(j);
    message_free(&msg);
}

static void test_subject(void)
{
    crm_message *msg = parse(
        "From: a@example.com\n"
        "Subject: =?UTF-8?B?w6lsw6h2ZQ==?= and\n =?iso-8859-1?Q?caf=E9?=\n"
        "\nbody\n");
    g_assert_cmpstr(msg->subject, ==, "élève and café");
    message_free(&msg);
    msg = parse("From: a@example.com\n\nbody\n");
    g_assert_cmpstr(msg->subject, ==, "");
    message_free(&msg);
}

static void test_garbage_headers(void)
{
    static const char raw[] = "From: \xff\xfe\x80 <bad\xc3@example.com>\n"
                              "To: \"\x01\x02\" <\xe9t\xe9@exemple.fr>\n"
                              "Subject: caf\xe9 \xc3\x28 \x00zero\n"
                              "Message-ID: <\xff\xff@x>\n"
                              "X-\xff: \xff\n"
                              "\n"
                              "body \xff\xfe\n";
    crm_message *msg = NULL;
    g_assert_cmpint(message_parse_bytes(raw, sizeof(raw) - 1, NULL, &msg), ==,
                    CRM_OK);
    /* raw 8-bit bytes decoded with the fallback charset (windows-1252);
       the NUL ends the subject */
    g_assert_cmpstr(msg->subject, ==, "caf\xc3\xa9 \xc3\x83(");
    g_assert_cmpstr(msg->text, ==, "body \xc3\xbf\xc3\xbe\n");
    g_assert_cmpstr(msg->message_id, ==, "\xc3\xbf\xc3\xbf@x");
    g_assert_true(has_warning(msg, "unencoded 8-bit header: Subject"));
    /* Every address kept is valid UTF-8. (The loop used to be the whole
       check, and it ran zero times: both addresses are dropped.) */
    for (guint i = 0; i < msg->from->len; i++) {
        const message_addr *a = addr_at(msg->from, i);
        g_assert_true(a->name == NULL || g_utf8_validate(a->name, -1, NULL));
        g_assert_true(g_utf8_validate(a->address, -1, NULL));
    }
    /* 8-bit addresses are read with the Subject's fallback charset, not
       dropped. */
    g_assert_cmpuint(msg->from->len, ==, 1);
    g_assert_cmpuint(msg->to->len, ==, 1);
    g_assert_cmpstr(addr_at(msg->from, 0)->address, ==,
                    "bad\xc3\x83@example.com");
    g_assert_cmpstr(addr_at(msg->to, 0)->address, ==,
                    "\xc3\xa9t\xc3\xa9@exemple.fr");
    g_assert_true(has_warning(msg, "unencoded 8-bit header: From"));
    /* every string made it into the JSON (jansson refuses invalid UTF-8,
       which would leave a key out) */
    json_t *j = message_to_json(msg);
    g_assert_cmpstr(json_string_value(json_object_get(j, "subject")), ==,
                    msg->subject);
    g_assert_cmpstr(json_string_value(json_object_get(j, "message_id")), ==,
                    msg->message_id);
    g_assert_cmpuint(json_array_size(json_object_get(j, "warnings")), ==,
                     msg->warnings->len);
    json_decref(j);
    message_free(&msg);
}

static void test_empty_and_garbage(void)
{
    crm_message *msg = NULL;
    g_assert_cmpint(message_parse_bytes("", 0, NULL, &msg), ==, CRM_ERR_PARSE);
    g_assert_null(msg);

    static const char bin[] = "\x01\x02\x03\xff\xfe\x00garbage";
    g_assert_cmpint(message_parse_bytes(bin, sizeof(bin) - 1, NULL, &msg), ==,
                    CRM_OK);
    g_assert_true(has_warning(msg, "no message headers found"));
    g_assert_cmpstr(msg->subject, ==, "");
    g_assert_cmpuint(msg->raw_size, ==, sizeof(bin) - 1);
    message_free(&msg);

    g_assert_cmpint(message_parse_file("/nonexistent/crmgate.eml", NULL, &msg),
                    ==, CRM_ERR_IO);
    g_assert_null(msg);
    message_free(&msg); /* NULL is fine */
}

/* ---- body ---- */

static void test_alternative_prefers_plain(void)
{
    crm_message *msg =
        parse("From: a@example.com\n"
              "MIME-Version: 1.0\n"
              "Content-Type: multipart/alternative; boundary=\"b1\"\n"
              "\n"
              "--b1\n"
              "Content-Type: text/html; charset=utf-8\n"
              "\n"
              "<p>HTML version</p>\n"
              "--b1\n"
              "Content-Type: text/plain; charset=utf-8\n"
              "\n"
              "Plain version\n"
              "--b1--\n");
    g_assert_cmpstr(msg->text, ==, "Plain version");
    g_assert_false(msg->text_from_html);
    g_assert_cmpuint(msg->attachments->len, ==, 0);
    message_free(&msg);
}

static void test_html_only(void)
{
    crm_message *msg =
        parse("From: a@example.com\n"
              "Content-Type: text/html; charset=iso-8859-1\n"
              "Content-Transfer-Encoding: quoted-printable\n"
              "\n"
              "<html><head><title>T</title><style>p{color:red}</style>"
              "<script>alert(1)</script></head><body>\n"
              "<p>Caf=E9 &amp; cr&egrave;me &#8364;5</p>\n"
              "<p>See <a href=3D\"https://example.com/x\">our site</a>.</p>\n"
              "</body></html>\n");
    g_assert_true(msg->text_from_html);
    g_assert_cmpstr(msg->text, ==,
                    "Café & crème €5\n\nSee our site "
                    "<https://example.com/x>.");
    g_assert_cmpuint(msg->attachments->len, ==, 0);
    message_free(&msg);
}

static void test_charsets(void)
{
    crm_message *msg = parse("From: a@example.com\n"
                             "Content-Type: text/plain; charset=windows-1252\n"
                             "\n"
                             "caf\xe9 \x80 \x93quoted\x94\n");
    g_assert_cmpstr(msg->text, ==, "café € “quoted”\n");
    message_free(&msg);

    msg = parse("From: a@example.com\n"
                "Content-Type: text/plain; charset=koi8-r\n"
                "\n"
                "\xf0\xd2\xc9\xd7\xc5\xd4\n");
    g_assert_cmpstr(msg->text, ==, "Привет\n");
    message_free(&msg);

    /* no charset, 8-bit: UTF-8 when valid, else windows-1252 */
    msg = parse("From: a@example.com\n\nna\xc3\xafve\n");
    g_assert_cmpstr(msg->text, ==, "naïve\n");
    message_free(&msg);
    msg = parse("From: a@example.com\n\nna\xefve\n");
    g_assert_cmpstr(msg->text, ==, "naïve\n");
    message_free(&msg);

    msg = parse("From: a@example.com\n"
                "Content-Type: text/plain; charset=x-no-such-charset\n"
                "\nhello\n");
    g_assert_cmpstr(msg->text, ==, "hello\n");
    g_assert_true(has_warning(msg, "unknown charset x-no-such-charset"));
    message_free(&msg);

    /* base64 body with CRLF line ends comes out with LF */
    msg = parse("From: a@example.com\n"
                "Content-Type: text/plain; charset=utf-8\n"
                "Content-Transfer-Encoding: base64\n"
                "\n"
                "bGluZSAxDQpsaW5lIDINCg==\n");
    g_assert_cmpstr(msg->text, ==, "line 1\nline 2\n");
    message_free(&msg);
}

static void test_inline_parts_joined(void)
{
    crm_message *msg =
        parse("From: a@example.com\n"
              "Content-Type: multipart/mixed; boundary=b\n"
              "\n"
              "--b\n"
              "Content-Type: text/plain\n"
              "\n"
              "first\n"
              "--b\n"
              "Content-Type: image/png\n"
              "Content-Disposition: inline\n"
              "\n"
              "PNG\n"
              "--b\n"
              "Content-Type: text/plain\n"
              "\n"
              "second\n"
              "--b\n"
              "Content-Type: text/plain; name=notes.txt\n"
              "Content-Disposition: attachment; filename=\"notes.txt\"\n"
              "\n"
              "file\n"
              "--b--\n");
    g_assert_cmpstr(msg->text, ==, "first\nsecond");
    g_assert_cmpuint(msg->attachments->len, ==, 2);
    message_attachment *a = g_ptr_array_index(msg->attachments, 0);
    g_assert_cmpstr(a->content_type, ==, "image/png");
    g_assert_null(a->filename);
    a = g_ptr_array_index(msg->attachments, 1);
    g_assert_cmpstr(a->filename, ==, "notes.txt");
    g_assert_cmpstr(a->content_type, ==, "text/plain");
    g_assert_cmpuint(a->size, ==, 4); /* "file"; the newline belongs to
                                          the boundary */
    message_free(&msg);
}

static void test_text_truncated(void)
{
    GString *s = g_string_new("From: a@example.com\n"
                              "Content-Type: text/plain; charset=utf-8\n\n");
    for (int i = 0; i < 100; i++)
        g_string_append(s, "é");
    message_limits lim;
    message_limits_default(&lim);
    lim.text_max = 101;
    crm_message *msg = parse_lim(s->str, &lim);
    g_assert_cmpuint(strlen(msg->text), ==, 100);
    g_assert_true(g_utf8_validate(msg->text, -1, NULL));
    g_assert_true(msg->text_truncated);
    g_assert_true(has_warning(msg, "body text cut at 101 bytes"));
    message_free(&msg);

    lim.text_max = 200; /* exactly fits */
    msg = parse_lim(s->str, &lim);
    g_assert_cmpuint(strlen(msg->text), ==, 200);
    g_assert_false(msg->text_truncated);
    message_free(&msg);
    g_string_free(s, TRUE);
}

/* ---- attachments ---- */

static void test_digest(void)
{
    const char *a = "Received: from a.example by b.example; "
                    "Mon, 1 Jan 2024 00:00:00 +0000\n"
                    "From: A <a@example.com>\n"
                    "Date: Mon, 1 Jan 2024 00:00:00 +0000\n"
                    "Subject: hello\n"
                    "Message-ID: <d1@example.com>\n"
                    "\n"
                    "line one\n"
                    "line two\n";
    const char *b = "Received: from c.example by d.example\r\n"
                    "Received: from e.example by f.example\r\n"
                    "X-Spam: no\r\n"
                    "From: A <a@example.com>\r\n"
                    "Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
                    "Subject: hello\r\n"
                    "Message-ID: <d1@example.com>\r\n"
                    "\r\n"
                    "line one\r\n"
                    "line two\r\n"
                    "\r\n  \r\n";
    const char *c = "From: A <a@example.com>\n"
                    "Date: Mon, 1 Jan 2024 00:00:00 +0000\n"
                    "Subject: hello\n"
                    "Message-ID: <d1@example.com>\n"
                    "\n"
                    "line one\n"
                    "line 2\n";
    crm_message *ma = parse(a), *mb = parse(b), *mc = parse(c);
    g_assert_cmpuint(strlen(ma->digest), ==, 64);
    g_assert_cmpstr(ma->digest, ==, mb->digest);
    g_assert_cmpstr(ma->digest, !=, mc->digest);
    g_assert_cmpuint(ma->raw_size, ==, strlen(a));
    g_assert_cmpuint(mb->raw_size, ==, strlen(b));
    message_free(&ma);
    message_free(&mb);
    message_free(&mc);
}

/* ---- a 20 MB message with bounded memory ---- */

static void test_json_and_snippet(void)
{
    crm_message *msg =
        parse("From: \"Ann\" <ann@example.com>\n"
              "To: bob@example.com\n"
              "Subject: Quarterly numbers\n"
              "Date: Mon, 1 Jan 2024 10:00:00 +0100\n"
              "Message-ID: <q1@example.com>\n"
              "References: <r0@example.com> <r1@example.com>\n"
              "Content-Type: multipart/mixed; boundary=b\n"
              "\n"
              "--b\n"
              "Content-Type: text/plain\n"
              "\n"
              "  Hello   Bob,\n\n\tthe   numbers\n are attached.\n"
              "--b\n"
              "Content-Type: application/pdf; name=q.pdf\n"
              "\n"
              "%PDF\n"
              "--b--\n");
    json_t *j = message_to_json(msg);
    static const char *const keys[] = {
        "message_id", "subject", "date",        "from",
        "to",         "cc",      "reply_to",    "in_reply_to",
        "references", "text",    "attachments", "warnings"};
    for (size_t i = 0; i < G_N_ELEMENTS(keys); i++)
        g_assert_nonnull(json_object_get(j, keys[i]));
    g_assert_cmpstr(json_string_value(json_object_get(j, "message_id")), ==,
                    "q1@example.com");
    json_t *from0 = json_array_get(json_object_get(j, "from"), 0);
    g_assert_cmpstr(json_string_value(json_object_get(from0, "name")), ==,
                    "Ann");
    json_t *to0 = json_array_get(json_object_get(j, "to"), 0);
    g_assert_true(json_is_null(json_object_get(to0, "name")));
    g_assert_true(json_is_null(json_object_get(j, "in_reply_to")));
    g_assert_cmpuint(json_array_size(json_object_get(j, "references")), ==, 2);
    json_t *att = json_array_get(json_object_get(j, "attachments"), 0);
    g_assert_cmpstr(json_string_value(json_object_get(att, "filename")), ==,
                    "q.pdf");
    g_assert_cmpint(json_integer_value(json_object_get(att, "size")), ==, 4);
    g_assert_cmpuint(strlen(json_string_value(json_object_get(att, "sha256"))),
                     ==, 64);
    char *dump = json_dumps(j, JSON_COMPACT);
    g_assert_nonnull(dump);
    free(dump);
    json_decref(j);

    g_autofree char *sn = message_snippet(msg, 22);
    g_assert_cmpstr(sn, ==, "Hello Bob, the numbers");
    g_autofree char *all = message_snippet(msg, 1000);
    g_assert_cmpstr(all, ==, "Hello Bob, the numbers are attached.");
    g_autofree char *six = message_snippet(msg, 6);
    g_assert_cmpstr(six, ==, "Hello");
    g_autofree char *none = message_snippet(msg, 0);
    g_assert_cmpstr(none, ==, "");
    message_free(&msg);
}

static void test_parse_fd_offset(void)
{
    const char *raw = "JUNKFrom: a@example.com\nSubject: s\n\nbody\n";
    g_autofree char *path = NULL;
    int fd = g_file_open_tmp("crmgate-test-XXXXXX", &path, NULL);
    g_assert_cmpint(fd, >=, 0);
    g_unlink(path);
    g_assert_cmpint(write(fd, raw, strlen(raw)), ==, (ssize_t)strlen(raw));
    g_assert_cmpint(lseek(fd, 2, SEEK_SET), ==, 2);
    crm_message *msg = NULL;
    g_assert_cmpint(message_parse_fd(fd, 4, NULL, &msg), ==, CRM_OK);
    g_assert_cmpstr(msg->subject, ==, "s");
    g_assert_cmpuint(msg->raw_size, ==, strlen(raw) - 4);
    /* the caller's offset is where it was */
    g_assert_cmpint(lseek(fd, 0, SEEK_CUR), ==, 2);
    message_free(&msg);
    close(fd);

    /* a pipe cannot be read twice: refused, not half parsed */
    int fds[2];
    g_assert_cmpint(pipe(fds), ==, 0);
    g_assert_cmpint(write(fds[1], raw, strlen(raw)), ==, (ssize_t)strlen(raw));
    close(fds[1]);
    g_assert_cmpint(message_parse_fd(fds[0], 0, NULL, &msg), ==, CRM_ERR_IO);
    g_assert_null(msg);
    close(fds[0]);
}

/* ---- fidelity against Python's email package ---- */

static void test_subject_encoded_words(void)
{
    /* many B words, an empty word at the end, a blank continuation line:
       every word decoded, the white space between words dropped */
    crm_message *msg = parse(
        "From: a@example.com\n"
        "Subject: "
        "=?UTF-8?B?0J/"
        "RgNC40LLQtdGCLCDRjdGC0L4g0LTQu9C40L3QvdCw0Y8g0YLQtdC80LAg0L/"
        "QuNGB0YzQvNCwIA==?=\n"
        " =?UTF-8?B?"
        "0LrQvtGC0L7RgNCw0Y8g0YDQsNC30LHQuNGC0LAg0L3QsCDQvNC90L7Qs9C+IA==?=\n"
        " =?UTF-8?B?0LfQsNC60L7QtNC40YDQvtCy0LDQvdC90YvRhSDRgdC70L7QsiA=?=\n"
        " =?UTF-8?B?0Lgg0LfQsNC60LDQvdGH0LjQstCw0LXRgtGB0Y8g0L/"
        "Rg9GB0YLRi9C8?=\n"
        " =?UTF-8?B?\?=\n" /* the empty word; \? avoids a trigraph */
        " \t\n"
        "\nbody\n");
    g_assert_cmpstr(msg->subject, ==,
                    "Привет, это длинная тема письма которая разбита на много "
                    "закодированных слов и заканчивается пустым");
    message_free(&msg);

    /* a character split across two words of one charset */
    msg = parse("From: a@example.com\r\nSubject: "
                "=?UTF-8?B?4oKsdXI=?==?UTF-8?B?byDDvG4=?==?UTF-8?B?w69jb2Q=?==?"
                "UTF-8?B?ZQ==?=\r\n\r\nbody\r\n");
    g_assert_cmpstr(msg->subject, ==, "€uro ünïcode");
    message_free(&msg);

    /* plain text around words keeps its spaces; Q with underscores */
    msg = parse("From: a@example.com\nSubject: Re:  =?UTF-8?Q?caf=C3=A9_au?=\n"
                " =?ISO-8859-1?Q?_lait?= menu =?bogus\n\nbody\n");
    g_assert_cmpstr(msg->subject, ==, "Re:  café au lait menu =?bogus");
    message_free(&msg);
}

static void test_first_of_repeated_headers(void)
{
    crm_message *msg = parse("From: First <first@example.com>\n"
                             "From: second@example.com\n"
                             "Reply-To: r1@example.com\n"
                             "Reply-To: r2@example.com\n"
                             "To: t1@example.com\n"
                             "To: t2@example.com\n"
                             "Subject: first subject\n"
                             "Subject: second subject\n"
                             "Message-ID: <one@example.com>\n"
                             "Message-ID: <two@example.com>\n"
                             "Date: Mon, 1 Jan 2024 10:00:00 +0000\n"
                             "Date: Tue, 2 Jan 2024 10:00:00 +0000\n"
                             "\nbody\n");
    g_assert_cmpstr(msg->subject, ==, "first subject");
    g_assert_cmpstr(msg->message_id, ==, "one@example.com");
    g_assert_nonnull(msg->date);
    g_assert_cmpint(g_date_time_get_day_of_month(msg->date), ==, 1);
    g_assert_cmpuint(msg->from->len, ==, 1);
    g_assert_cmpstr(addr_at(msg->from, 0)->address, ==, "first@example.com");
    g_assert_cmpstr(addr_at(msg->from, 0)->name, ==, "First");
    g_assert_cmpuint(msg->reply_to->len, ==, 1);
    g_assert_cmpstr(addr_at(msg->reply_to, 0)->address, ==, "r1@example.com");
    message_free(&msg);

    /* a Date whose time is broken gives way to the next good one */
    msg = parse("From: a@example.com\n"
                "Date: Tue, 7 Apr 2026 10:00:t <x@example.com>\n"
                "Date: Tue, 7 Apr 2026 10:00:01 +0000\n\nbody\n");
    g_assert_nonnull(msg->date);
    g_assert_cmpint(g_date_time_to_unix(msg->date), ==, 1775556001);
    message_free(&msg);
    msg = parse("From: a@example.com\nDate: 7 Apr 2026 10:00:t\n\nbody\n");
    g_assert_nonnull(msg->date); /* the only one, as GMime reads it */
    message_free(&msg);

    msg = parse("From: a@example.com\nTo: t1@example.com\n"
                "To: t2@example.com\n\nbody\n");
    /* recipients of every To header count */
    g_assert_cmpuint(msg->to->len, ==, 2);
    message_free(&msg);

    /* the first Content-Type of a part wins, as in mail clients */
    msg = parse("From: a@example.com\n"
                "Content-Type: multipart/mixed; boundary=b\n"
                "Content-Type: text/plain\n"
                "\n--b\nContent-Type: text/plain\n\nthe text\n"
                "--b\nContent-Type: image/png; name=a.png\n\nPNG\n--b--\n");
    g_assert_cmpstr(msg->text, ==, "the text");
    g_assert_cmpuint(msg->attachments->len, ==, 1);
    g_assert_true(has_warning(msg, "repeated Content-Type"));
    message_free(&msg);
}

/* ---- threads: the milter parses in several threads at once ---- */

static const char thread_msg[] =
    "From: =?UTF-8?B?SsO8cmdlbg==?= <j@example.com>\n"
    "To: a@example.com, b@example.com\n"
    "Subject: =?iso-8859-1?Q?caf=E9?=\n"
    "Date: Mon, 1 Jan 2024 10:00:00 +0100\n"
    "Message-ID: <t@example.com>\n"
    "Content-Type: multipart/mixed; boundary=b\n"
    "\n"
    "--b\n"
    "Content-Type: text/html; charset=koi8-r\n"
    "\n"
    "<p>\xf0\xd2\xc9\xd7\xc5\xd4 <a href=\"http://x.example/\">x</a></p>\n"
    "--b\n"
    "Content-Type: application/octet-stream; name=a.bin\n"
    "Content-Transfer-Encoding: base64\n"
    "\n"
    "AAECAwQFBgcICQ==\n"
    "--b--\n";

static gpointer thread_parse(gpointer data)
{
    const char *want = data;
    for (int i = 0; i < 50; i++) {
        crm_message *msg = parse(thread_msg);
        g_assert_cmpstr(msg->text, ==, "Привет x <http://x.example/>");
        g_assert_cmpstr(msg->digest, ==, want);
        message_attachment *a = g_ptr_array_index(msg->attachments, 0);
        g_assert_cmpuint(a->size, ==, 10);
        message_free(&msg);
    }
    return NULL;
}

static void test_threads(void)
{
    crm_message *msg = parse(thread_msg);
    g_autofree char *want = g_strdup(msg->digest);
    message_free(&msg);
    GThread *t[4];
    for (size_t i = 0; i < G_N_ELEMENTS(t); i++)
        t[i] = g_thread_new("parse", thread_parse, want);
    for (size_t i = 0; i < G_N_ELEMENTS(t); i++)
        g_thread_join(t[i]);
}

/* ---- html_text ---- */

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    message_library_init();
    g_test_add_func("/message/addresses/encoded", test_addresses_encoded);
    g_test_add_func("/message/addresses/groups", test_address_groups);
    g_test_add_func("/message/addresses/limit", test_address_limit);
    g_test_add_func("/message/ids/missing", test_message_id_missing);
    g_test_add_func("/message/ids/references", test_references);
    g_test_add_func("/message/date", test_date);
    g_test_add_func("/message/subject", test_subject);
    g_test_add_func("/message/garbage-headers", test_garbage_headers);
    g_test_add_func("/message/empty-and-garbage", test_empty_and_garbage);
    g_test_add_func("/message/body/alternative",
                    test_alternative_prefers_plain);
    g_test_add_func("/message/body/html-only", test_html_only);
    g_test_add_func("/message/body/charsets", test_charsets);
    g_test_add_func("/message/body/inline-parts", test_inline_parts_joined);
    g_test_add_func("/message/body/truncated", test_text_truncated);
    g_test_add_func("/message/digest", test_digest);
    g_test_add_func("/message/json-snippet", test_json_and_snippet);
    g_test_add_func("/message/fd-offset", test_parse_fd_offset);
    g_test_add_func("/message/threads", test_threads);
    g_test_add_func("/message/subject-encoded-words",
                    test_subject_encoded_words);
    g_test_add_func("/message/first-of-repeated",
                    test_first_of_repeated_headers);
    return g_test_run();
}
