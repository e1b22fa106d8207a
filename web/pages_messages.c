/*
 * pages_messages.c - GET /messages/ID (a captured message: subject, date,
 * direction, participants by role, links to records with their reason,
 * warnings, the text and the attachments) and
 * GET /messages/ID/attachments/POS (an attachment's stored bytes).
 *
 * Visibility is crm_message_visible() (sql/0010): the viewer may see a
 * record the message is linked to; chief and admin see all; others see an
 * unresolved message only when they took part in it as a user. Anything
 * else is 404, the same as a message that does not exist.
 *
 * Captured HTML is never rendered: the capture path keeps the text part
 * (or text made from the HTML), and it is shown escaped inside
 * <div class="mail-text"><pre>. Attachments are always sent as
 * application/octet-stream with Content-Disposition: attachment and a
 * sanitised file name, so a browser never renders one as a page.
 */
#include <string.h>

#include "crmgate/log.h"
#include "crmgate/views.h"
#include "web.h"

static void participants(GString *o, json_t *m)
{
    static const char *const roles[] = {
        "from", "sender", "reply_to",      "to",
        "cc",   "bcc",    "envelope_from", "envelope_rcpt"};
    static const char *const labels[] = {
        "From", "Sender", "Reply-To",      "To",
        "Cc",   "Bcc",    "Envelope from", "Envelope recipients"};
    json_t *ps = json_object_get(m, "participants");
    for (gsize k = 0; k < G_N_ELEMENTS(roles); k++) {
        bool first = true;
        gsize i;
        json_t *p;
        json_array_foreach(ps, i, p)
        {
            if (strcmp(web_str(p, "role"), roles[k]) != 0)
                continue;
            if (first)
                html_printf(o, "<dt>%s</dt><dd class=\"role-%s\">", labels[k],
                            roles[k]);
            else
                g_string_append(o, ", ");
            first = false;
            const char *name = web_str(p, "name");
            if (*name)
                html_printf(o, "%s &lt;%s&gt;", name, web_str(p, "address"));
            else
                html_printf(o, "%s", web_str(p, "address"));
        }
        if (!first)
            g_string_append(o, "</dd>\n");
    }
}

void web_message_page(web_req *req, web_resp *resp)
{
    views_viewer v = web_views_viewer(req);
    json_t *m = NULL;
    char *err = NULL;
    crm_result r = views_message(&v, req->id, &m, &err);
    if (r) {
        web_views_error(req, resp, r, err);
        g_free(err);
        return;
    }
    const char *subj = web_str(m, "subject");
    web_page_begin(req, resp, *subj ? subj : "(no subject)");
    GString *o = resp->body;
    html_printf(o, "<h1>%s</h1>\n<dl class=\"fields\">\n",
                *subj ? subj : "(no subject)");
    html_printf(o, "<dt>Direction</dt><dd class=\"direction\">%s</dd>\n",
                web_str(m, "direction"));
    g_string_append(o, "<dt>Date</dt><dd>");
    web_when(o, m, *web_str(m, "date") ? "date" : "captured_at");
    g_string_append(o, "</dd>\n<dt>Captured</dt><dd>");
    web_when(o, m, "captured_at");
    g_string_append(o, "</dd>\n");
    participants(o, m);
    html_printf(o, "<dt>Message-ID</dt><dd>%s</dd>\n",
                web_str(m, "message_id"));
    g_string_append(o, "</dl>\n");

    json_t *links = json_object_get(m, "links");
    g_string_append(o, "<h2>Linked to</h2>\n");
    if (json_array_size(links)) {
        g_string_append(o, "<ul class=\"links\">\n");
        gsize i;
        json_t *l;
        json_array_foreach(links, i, l)
        {
            const char *type = web_str(l, "type");
            html_printf(o,
                        "<li>%s <a href=\"/%s/%s\">%s</a> <span "
                        "class=\"reason\">(%s)</span></li>\n",
                        type, views_type_path(type), web_str(l, "id"),
                        web_str(l, "label"), web_str(l, "reason"));
        }
        g_string_append(o, "</ul>\n");
    } else {
        g_string_append(o, "<p class=\"muted\">No record (unresolved).</p>\n");
    }

    json_t *warnings = json_object_get(m, "warnings");
    if (json_array_size(warnings)) {
        g_string_append(o, "<h2>Warnings</h2>\n<ul class=\"warnings\">\n");
        gsize i;
        json_t *w;
        json_array_foreach(warnings, i, w)
        {
            g_string_append(o, "<li>");
            web_text(o, w);
            g_string_append(o, "</li>\n");
        }
        g_string_append(o, "</ul>\n");
    }

    g_string_append(o, "<h2>Text</h2>\n<div class=\"mail-text\"><pre "
                       "class=\"body\">");
    html_escape(o, web_str(m, "text"));
    g_string_append(o, "</pre></div>\n");
    if (json_is_true(json_object_get(m, "text_truncated")))
        g_string_append(o, "<p class=\"muted\">The text was cut at the "
                           "stored limit.</p>\n");

    g_autofree char *mid = g_strdup(web_str(m, "id"));
    json_t *atts = json_object_get(m, "attachments");
    if (json_array_size(atts)) {
        g_string_append(o, "<h2>Attachments</h2>\n<ul class=\"attachments\">"
                           "\n");
        gsize i;
        json_t *a;
        json_array_foreach(atts, i, a)
        {
            const char *fn = web_str(a, "filename");
            g_string_append(o, "<li>");
            /* web_str's number buffer is shared: one number per call */
            g_autofree char *pos = g_strdup(web_str(a, "position"));
            if (json_is_true(json_object_get(a, "stored")))
                html_printf(o,
                            "<a href=\"/messages/%s/attachments/%s\" "
                            "download>%s</a>",
                            mid, pos, *fn ? fn : "(no name)");
            else
                html_printf(o,
                            "%s <span class=\"muted\">(not stored: over "
                            "the size limit)</span>",
                            *fn ? fn : "(no name)");
            html_printf(o, " <span class=\"muted\">%s, %s bytes</span></li>\n",
                        web_str(a, "content_type"), web_str(a, "size"));
        }
        g_string_append(o, "</ul>\n");
    }

    json_t *thread = json_object_get(m, "thread");
    if (json_array_size(thread)) {
        g_string_append(o, "<h2>Thread</h2>\n<ul class=\"thread\">\n");
        gsize i;
        json_t *t;
        json_array_foreach(thread, i, t)
        {
            const char *ts = web_str(t, "subject");
            html_printf(o, "<li>%s <time>", web_str(t, "direction"));
            web_when(o, t, "at");
            html_printf(o, "</time> <a href=\"/messages/%s\">%s</a></li>\n",
                        web_str(t, "id"), *ts ? ts : "(no subject)");
        }
        g_string_append(o, "</ul>\n");
    }
    web_page_end(resp);
    json_decref(m);
}

void web_message_attachment(web_req *req, web_resp *resp)
{
    const char *pos = req->args[1];
    gsize n = pos ? strlen(pos) : 0;
    bool digits = n > 0 && n <= 9;
    for (gsize i = 0; digits && i < n; i++)
        digits = g_ascii_isdigit(pos[i]);
    if (!digits) {
        web_error(req, resp, 404, "not found");
        return;
    }
    views_viewer v = web_views_viewer(req);
    GBytes *content = NULL;
    char *filename = NULL, *err = NULL;
    crm_result r = views_attachment(&v, req->id, g_ascii_strtoll(pos, NULL, 10),
                                    &content, &filename, &err);
    if (r) {
        web_views_error(req, resp, r, err);
        g_free(err);
        return;
    }
    gsize len = 0;
    const char *data = g_bytes_get_data(content, &len);
    g_string_truncate(resp->body, 0);
    g_string_append_len(resp->body, data, (gssize)len);
    resp->ctype = "application/octet-stream";
    g_autofree char *safe = views_safe_filename(filename);
    g_autofree char *disp =
        g_strdup_printf("attachment; filename=\"%s\"", safe);
    web_header(resp, "Content-Disposition", disp);
    g_bytes_unref(content);
    g_free(filename);
}
