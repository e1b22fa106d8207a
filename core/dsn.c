/*
 * dsn.c - the bounce parser (include/crmgate/dsn.h): reads a returned
 * message with GMime and finds who failed and why.
 *
 * In order: message/delivery-status parts (RFC 3464 per-recipient groups:
 * Final-Recipient, Original-Recipient, Action, Status, Diagnostic-Code with
 * its continuation lines) give kind "dsn"; a message/feedback-report (ARF)
 * gives kind "arf" (Original-Rcpt-To, Removal-Recipient, else the To of the
 * attached original); else, when the message looks like a bounce (sender
 * MAILER-DAEMON/postmaster, a bounce subject, multipart/report), the prose
 * of the top-level text parts is read (core/dsn_text.c): kind "text";
 * an Amazon SES notification (JSON) is read by core/dsn_fields.c, which
 * also holds the delivery-status reader and the shared text helpers;
 * else auto-reply headers give kind "autoreply" (reason vacation). The
 * reason of each recipient comes from core/dsn_reason.c.
 *
 * Limits: the input goes through mime_guard first (DSN_MAX_PARTS parts,
 * depth DSN_MAX_DEPTH, bounded headers and lines), so GMime never sees a
 * deeper or wider tree; at most DSN_MAX_TEXT bytes of text are kept from
 * each part and DSN_MAX_TEXT of prose in all; at most DSN_MAX_RECIPIENTS
 * recipients; diagnostics of DSN_MAX_DIAGNOSTIC bytes.
 */
#include "dsn_int.h"

#include "crmgate/addr.h"
#include "crmgate/message.h"
#include "crmgate/mime_guard.h"

#include <gmime/gmime.h>
#include <string.h>

typedef struct {
    GString *ds;    /* message/delivery-status contents */
    GString *fr;    /* message/feedback-report contents */
    GString *prose; /* top-level text/plain contents */
    GString *html;  /* top-level text/html contents, when no text/plain */
    char *orig_to;
    char *orig_msgid;
    char *orig_from;
    guint parts;
    bool report; /* multipart/report seen */
} walk_ctx;

/* ---- reading parts ---- */

static bool is_type(GMimeObject *obj, const char *type, const char *subtype)
{
    GMimeContentType *ct = g_mime_object_get_content_type(obj);
    return ct != NULL && g_mime_content_type_is_type(ct, type, subtype);
}

/* Appends the decoded content of a leaf (or the serialisation of a message
   part) to out, at most max bytes. */
static void part_bytes(GMimeObject *obj, GString *out, gsize max)
{
    GMimeStream *mem = g_mime_stream_mem_new();
    if (GMIME_IS_PART(obj)) {
        GMimeDataWrapper *w = g_mime_part_get_content(GMIME_PART(obj));
        if (w != NULL)
            g_mime_data_wrapper_write_to_stream(w, mem);
    } else if (GMIME_IS_MESSAGE_PART(obj)) {
        GMimeMessage *m =
            g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
        if (m != NULL)
            g_mime_object_write_to_stream(GMIME_OBJECT(m), NULL, mem);
    }
    GByteArray *arr = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
    if (arr != NULL && out->len < max)
        g_string_append_len(out, (const char *)arr->data,
                            (gssize)MIN(arr->len, max - out->len));
    g_object_unref(mem);
}

static char *header_addr(GMimeObject *obj, const char *name)
{
    const char *v = g_mime_object_get_header(obj, name);
    return v != NULL ? dsn_int_address(v, strlen(v)) : NULL;
}

/* Takes To, Message-ID and Return-Path/From of the returned original. */
static void original_headers(walk_ctx *w, GMimeObject *obj)
{
    if (w->orig_to == NULL)
        w->orig_to = header_addr(obj, "To");
    if (w->orig_msgid == NULL) {
        const char *v = g_mime_object_get_header(obj, "Message-ID");
        if (v != NULL) {
            g_autofree char *line = dsn_int_line(v, strlen(v), 998);
            char *s = g_strstrip(line);
            gsize n = strlen(s);
            if (n > 2 && s[0] == '<' && s[n - 1] == '>') {
                s[n - 1] = '\0';
                s++;
            }
            if (*s)
                w->orig_msgid = g_strdup(s);
        }
    }
    if (w->orig_from == NULL)
        w->orig_from = header_addr(obj, "Return-Path");
    if (w->orig_from == NULL)
        w->orig_from = header_addr(obj, "From");
}

/* text/rfc822-headers: parse the content as a header block. */
static void original_header_part(walk_ctx *w, GMimeObject *obj)
{
    GString *s = g_string_new(NULL);
    part_bytes(obj, s, 256 * 1024);
    g_string_append(s, "\n\n");
    GMimeStream *st = g_mime_stream_mem_new_with_buffer(s->str, s->len);
    GMimeParser *p = g_mime_parser_new_with_stream(st);
    GMimeMessage *m = g_mime_parser_construct_message(p, NULL);
    if (m != NULL) {
        original_headers(w, GMIME_OBJECT(m));
        g_object_unref(m);
    }
    g_object_unref(p);
    g_object_unref(st);
    g_string_free(s, TRUE);
}

static void walk(walk_ctx *w, GMimeObject *obj, guint depth, bool top)
{
    if (obj == NULL || depth > DSN_MAX_DEPTH || w->parts >= DSN_MAX_PARTS)
        return;
    w->parts++;
    if (GMIME_IS_MULTIPART(obj)) {
        if (is_type(obj, "multipart", "report"))
            w->report = true;
        GMimeMultipart *mp = GMIME_MULTIPART(obj);
        int n = g_mime_multipart_get_count(mp);
        for (int i = 0; i < n && w->parts < DSN_MAX_PARTS; i++)
            walk(w, g_mime_multipart_get_part(mp, i), depth + 1, top);
        return;
    }
    if (is_type(obj, "message", "delivery-status") ||
        is_type(obj, "message", "global-delivery-status")) {
        part_bytes(obj, w->ds, DSN_MAX_TEXT);
        g_string_append(w->ds, "\n\n");
        return;
    }
    if (is_type(obj, "message", "feedback-report")) {
        part_bytes(obj, w->fr, DSN_MAX_TEXT);
        g_string_append(w->fr, "\n\n");
        return;
    }
    if (is_type(obj, "text", "rfc822-headers") ||
        is_type(obj, "text", "rfc822-header")) {
        original_header_part(w, obj);
        return;
    }
    if (GMIME_IS_MESSAGE_PART(obj)) {
        GMimeMessage *m =
            g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
        if (m != NULL)
            original_headers(w, GMIME_OBJECT(m));
        return;
    }
    if (!top || !GMIME_IS_PART(obj))
        return;
    GMimeContentDisposition *d = g_mime_object_get_content_disposition(obj);
    bool attach = d != NULL && g_mime_content_disposition_is_attachment(d);
    if (is_type(obj, "text", "html") && !attach) {
        part_bytes(obj, w->html, DSN_MAX_TEXT);
    } else if (is_type(obj, "message", "*") || is_type(obj, "text", "*")) {
        /* text/plain, and any other text/... or message/... leaf (an
           original, a report of a kind not known here) */
        part_bytes(obj, w->prose, DSN_MAX_TEXT);
        g_string_append_c(w->prose, '\n');
    }
}

/* A broken MIME structure (a boundary that matches nothing) hides the
   parts: then the delivery-status fields are looked for in the raw bytes,
   and the raw body is the prose. */
static void raw_fallback(walk_ctx *w, const char *data, gsize len)
{
    if (w->ds->len > 0 || w->fr->len > 0)
        return;
    gsize n = MIN(len, (gsize)DSN_MAX_TEXT);
    g_autofree char *low = g_ascii_strdown(data, (gssize)n);
    const char *body = strstr(low, "\n\n");
    const char *body2 = strstr(low, "\r\n\r\n");
    if (body == NULL || (body2 != NULL && body2 < body))
        body = body2;
    if (body == NULL)
        return;
    static const char *const fields[] = {
        "\nfinal-recipient:", "\noriginal-recipient:", NULL};
    const char *first = NULL;
    for (gsize i = 0; fields[i] != NULL; i++) {
        const char *hit = strstr(body, fields[i]);
        if (hit != NULL && (first == NULL || hit < first))
            first = hit;
    }
    if (first != NULL) {
        /* back to the blank line before: the group's other fields */
        const char *start = first;
        while (start > body &&
               !(start[0] == '\n' &&
                 (start[-1] == '\n' || (start[-1] == '\r' && start > body + 1 &&
                                        start[-2] == '\n'))))
            start--;
        g_string_append_len(w->ds, data + (start - low),
                            (gssize)(n - (gsize)(start - low)));
    }
    if (w->prose->len == 0 && first != NULL)
        g_string_append_len(w->prose, data + (body - low),
                            (gssize)(first - body));
}

/* ---- ARF ---- */

static void parse_arf(dsn_report *rep, walk_ctx *w)
{
    const char *p = w->fr->str;
    for (;;) {
        const char *nl = strchr(p, '\n');
        gsize ll = nl != NULL ? (gsize)(nl - p) : strlen(p);
        g_autofree char *line = g_strndup(p, ll);
        char *colon = strchr(line, ':');
        if (colon != NULL) {
            *colon = '\0';
            char *name = g_strstrip(line);
            char *val = g_strstrip(colon + 1);
            if (g_ascii_strcasecmp(name, "Feedback-Type") == 0 &&
                rep->feedback_type == NULL) {
                rep->feedback_type = g_ascii_strdown(val, -1);
            } else if (g_ascii_strcasecmp(name, "Original-Rcpt-To") == 0 ||
                       g_ascii_strcasecmp(name, "Removal-Recipient") == 0) {
                g_autofree char *a = dsn_int_address(val, strlen(val));
                dsn_int_add(rep, a, "failed", "", "");
            }
        }
        if (nl == NULL)
            break;
        p = nl + 1;
    }
    if (rep->recipients->len == 0 && w->orig_to != NULL)
        dsn_int_add(rep, w->orig_to, "failed", "", "");
    if (rep->feedback_type == NULL)
        rep->feedback_type = g_strdup("abuse");
}

/* ---- deciding what the message is ---- */

/* Google Groups answers a post it refuses (no such group, not a member)
   in the sender's language: the group address is the recipient, the
   reason "rejected". */
static void google_groups(dsn_report *rep)
{
    for (guint i = 0; i < rep->recipients->len; i++) {
        dsn_recipient *r = g_ptr_array_index(rep->recipients, i);
        if ((g_str_has_suffix(r->recipient, "@googlegroups.com") ||
             strstr(r->recipient, "@google-groups.") != NULL) &&
            strcmp(r->reason, "onhold") == 0) {
            g_free(r->reason);
            r->reason = g_strdup("rejected");
        }
    }
}

/* Content-filtering gateways (McAfee, MXLogic, SurfControl, MailFoundry)
   answer "user unknown" for a mailbox after DATA: the address may be
   fine, the message was filtered (Sisimai reads them so). Their marks are
   looked for in the first 64 KiB. */
static bool filtering_gateway(const char *data, gsize len)
{
    static const char *const marks[] = {"x-nai-header", "mxlogic",
                                        "surfcontrol", "mailfoundry", NULL};
    g_autofree char *low = g_ascii_strdown(data, (gssize)MIN(len, 65536));
    for (gsize i = 0; marks[i] != NULL; i++)
        if (strstr(low, marks[i]) != NULL)
            return true;
    return false;
}

static bool subject_has(GMimeMessage *m, const char *what)
{
    const char *subj = g_mime_object_get_header(GMIME_OBJECT(m), "Subject");
    g_autofree char *ls = subj != NULL ? g_ascii_strdown(subj, -1) : NULL;
    return ls != NULL && strstr(ls, what) != NULL;
}

static bool looks_like_bounce(GMimeMessage *m, const walk_ctx *w)
{
    if (w->report)
        return true;
    const char *from = g_mime_object_get_header(GMIME_OBJECT(m), "From");
    g_autofree char *lf = from != NULL ? g_ascii_strdown(from, -1) : NULL;
    if (lf != NULL &&
        (strstr(lf, "mailer-daemon") || strstr(lf, "postmaster") ||
         strstr(lf, "post_master") || strstr(lf, "mail delivery") ||
         strstr(lf, "mailer daemon") || strstr(lf, "mail.delivery") ||
         strstr(lf, "no-reply@") || strstr(lf, "bounce") ||
         strstr(lf, "mmsadmin") || strstr(lf, "notification")))
        return true;
    const char *subj = g_mime_object_get_header(GMIME_OBJECT(m), "Subject");
    g_autofree char *ls = subj != NULL ? g_ascii_strdown(subj, -1) : NULL;
    static const char *const words[] = {"undeliver",
                                        "undelivered",
                                        "returned mail",
                                        "delivery status",
                                        "delivery failure",
                                        "delivery failed",
                                        "failure notice",
                                        "delivery notification",
                                        "not delivered",
                                        "could not be delivered",
                                        "bounce",
                                        "mail delivery",
                                        "rejected",
                                        "mail system error",
                                        "nondeliverable",
                                        "non-remis",
                                        "non remis",
                                        "failed delivery",
                                        "delivery problem",
                                        "error",
                                        "warning",
                                        "unzustellbar",
                                        NULL};
    for (gsize i = 0; ls != NULL && words[i] != NULL; i++)
        if (strstr(ls, words[i]))
            return true;
    return false;
}

static bool is_autoreply(GMimeMessage *m)
{
    GMimeObject *o = GMIME_OBJECT(m);
    const char *v = g_mime_object_get_header(o, "Auto-Submitted");
    while (v != NULL && (*v == ' ' || *v == '\t'))
        v++;
    if (v != NULL && g_ascii_strncasecmp(v, "no", 2) != 0)
        return true;
    if (g_mime_object_get_header(o, "X-Autoreply") != NULL ||
        g_mime_object_get_header(o, "X-Autorespond") != NULL ||
        g_mime_object_get_header(o, "X-Autoresponder") != NULL)
        return true;
    v = g_mime_object_get_header(o, "Precedence");
    if (v != NULL && strstr(v, "auto_reply") != NULL)
        return true;
    const char *subj = g_mime_object_get_header(o, "Subject");
    g_autofree char *ls = subj != NULL ? g_ascii_strdown(subj, -1) : NULL;
    return ls != NULL &&
           (strstr(ls, "out of office") || strstr(ls, "auto:") ||
            strstr(ls, "automatic reply") || strstr(ls, "autoreply") ||
            strstr(ls, "auto reply") || strstr(ls, "auto response") ||
            strstr(ls, "auto-reply") || strstr(ls, "vacation") ||
            strstr(ls, "abwesenheit"));
}

/* "542 kijitora@example.com Rejected": the server refuses the address
   itself (MessageLabs words it so). */
static bool names_refused(const char *diag, const char *addr)
{
    g_autofree char *low = g_ascii_strdown(diag, -1);
    const char *hit = strstr(low, addr);
    if (hit == NULL)
        return false;
    hit += strlen(addr);
    if (*hit == '>')
        hit++;
    return g_str_has_prefix(hit, " rejected");
}

static bool refine_status(const char *st)
{
    return g_str_has_suffix(st, ".0.0");
}

static void classify_all(dsn_report *rep, const char *prose, GHashTable *ctx)
{
    for (guint i = 0; i < rep->recipients->len; i++) {
        dsn_recipient *r = g_ptr_array_index(rep->recipients, i);
        if (r->reason != NULL)
            continue;
        r->reply_code = dsn_int_reply_in(r->diagnostic);
        char st[16];
        /* no status, or a vague x.0.0 one: the diagnostic's own code; a
           x.y.0 one: a more precise code the diagnostic quotes further on
           (SES: "5.1.0 - Unknown address error 550-'5.2.2 ...") */
        if (dsn_int_status_in(r->diagnostic, st) &&
            (r->status[0] == '\0' ||
             (r->status[0] == st[0] && refine_status(r->status)))) {
            g_free(r->status);
            r->status = g_strdup(st);
        } else if (r->status[0] != '\0' && g_str_has_suffix(r->status, ".0")) {
            const char *p = r->diagnostic;
            for (int k = 0; k < 8 && dsn_int_status_in(p, st); k++) {
                const char *at = strstr(p, st);
                if (st[0] == r->status[0] && strcmp(st, r->status) != 0 &&
                    !g_str_has_suffix(st, ".0")) {
                    g_free(r->status);
                    r->status = g_strdup(st);
                    break;
                }
                if (at == NULL)
                    break;
                p = at + strlen(st);
            }
        }
        const char *c =
            ctx != NULL ? g_hash_table_lookup(ctx, r->recipient) : NULL;
        if (c == NULL && rep->recipients->len == 1)
            c = prose;
        const char *reason =
            dsn_classify_ctx(r->diagnostic, c, r->status, r->reply_code);
        if ((strcmp(reason, "onhold") == 0 ||
             strcmp(reason, "undefined") == 0) &&
            c != NULL && *c)
            reason = dsn_classify_ctx(c, NULL, r->status, r->reply_code);
        if ((strcmp(reason, "onhold") == 0 ||
             strcmp(reason, "undefined") == 0) &&
            prose != NULL && *prose)
            reason = dsn_classify_ctx(prose, NULL, r->status, r->reply_code);
        if ((strcmp(reason, "undefined") == 0 ||
             strcmp(reason, "onhold") == 0) &&
            strcmp(r->action, "delayed") == 0)
            reason = "expired";
        if (strcmp(reason, "onhold") == 0 &&
            names_refused(r->diagnostic, r->recipient))
            reason = "userunknown";
        r->reason = g_strdup(reason);
        r->hard = dsn_reason_is_hard(r->reason, r->status);
    }
}

/* Addresses of an X-Failed-Recipients header (Exim, Google), in order. */
static void failed_recipients(dsn_report *rep, GMimeMessage *m,
                              const char *prose)
{
    const char *v =
        g_mime_object_get_header(GMIME_OBJECT(m), "X-Failed-Recipients");
    if (v == NULL)
        return;
    g_auto(GStrv) parts = g_strsplit(v, ",", DSN_MAX_RECIPIENTS);
    for (guint i = 0; parts[i] != NULL; i++) {
        g_autofree char *a = dsn_int_address(parts[i], strlen(parts[i]));
        dsn_int_add(rep, a, "failed", "", prose);
    }
}

static void guard_write(const char *data, gsize len, gpointer user)
{
    g_byte_array_append(user, (const guint8 *)data, (guint)len);
}

/* GMime parses the bounded copy mime_guard writes (depth, parts, lines). */
static GMimeMessage *parse_guarded(const char *data, gsize len)
{
    message_library_init();
    mime_guard_limits gl;
    mime_guard_limits_default(&gl);
    gl.max_parts = DSN_MAX_PARTS;
    gl.max_depth = MIN(DSN_MAX_DEPTH, gl.max_depth);
    GByteArray *copy = g_byte_array_sized_new((guint)MIN(len, 1u << 20));
    mime_guard *g = mime_guard_new(&gl, guard_write, copy);
    mime_guard_feed(g, data, len);
    mime_guard_finish(g);
    mime_guard_free(&g);
    GMimeStream *st = g_mime_stream_mem_new_with_byte_array(copy); /* owns */
    GMimeParser *p = g_mime_parser_new_with_stream(st);
    g_mime_parser_set_format(p, GMIME_FORMAT_MESSAGE);
    GMimeMessage *m = g_mime_parser_construct_message(p, NULL);
    g_object_unref(p);
    g_object_unref(st);
    return m;
}

dsn_report *dsn_parse(const char *data, gsize len)
{
    if (data == NULL || len == 0)
        return NULL;
    GMimeMessage *m = parse_guarded(data, len);
    if (m == NULL)
        return NULL;
    walk_ctx w = {.ds = g_string_new(NULL),
                  .fr = g_string_new(NULL),
                  .prose = g_string_new(NULL),
                  .html = g_string_new(NULL)};
    walk(&w, g_mime_message_get_mime_part(m), 0, true);
    raw_fallback(&w, data, len);

    g_autofree char *self_from = header_addr(GMIME_OBJECT(m), "From");
    g_autofree char *self_to = header_addr(GMIME_OBJECT(m), "To");
    const char *skip[] = {self_to, self_from, w.orig_from, NULL};
    if (self_to == NULL) {
        skip[0] = self_from;
        skip[1] = w.orig_from;
        skip[2] = NULL;
    }
    gsize cut = dsn_int_text_cut(w.prose->str, w.prose->len);
    g_autofree char *prose = g_strndup(w.prose->str, cut);

    dsn_report *rep = NULL;
    GHashTable *ctx =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    if (w.fr->len == 0 && w.ds->len == 0 && strstr(prose, "notificationType"))
        rep = dsn_int_ses_json(prose);
    if (rep != NULL) {
        /* an SES notification */
    } else if (w.fr->len > 0) {
        rep = dsn_int_report_new("arf");
        parse_arf(rep, &w);
        for (guint i = 0; i < rep->recipients->len; i++) {
            dsn_recipient *r = g_ptr_array_index(rep->recipients, i);
            r->reason = g_strdup("feedback");
        }
    } else if (w.ds->len == 0 && w.orig_to != NULL &&
               subject_has(m, "complaint about message")) {
        /* Hotmail's old complaint: the original attached, no report */
        rep = dsn_int_report_new("arf");
        rep->feedback_type = g_strdup("abuse");
        dsn_recipient *r = dsn_int_add(rep, w.orig_to, "failed", "", "");
        if (r != NULL)
            r->reason = g_strdup("feedback");
    } else if (w.ds->len > 0) {
        rep = dsn_int_report_new("dsn");
        dsn_int_parse_ds(rep, w.ds->str, w.ds->len);
        /* a group without a diagnostic takes the prose about it */
        if (rep->recipients->len > 0 && *prose) {
            dsn_report *t = dsn_int_report_new("text");
            dsn_int_text(t, prose, strlen(prose), skip);
            for (guint i = 0; i < rep->recipients->len; i++) {
                dsn_recipient *r = g_ptr_array_index(rep->recipients, i);
                dsn_recipient *tr = dsn_int_find(t, r->recipient);
                if (tr == NULL)
                    continue;
                g_hash_table_insert(ctx, g_strdup(r->recipient),
                                    g_strdup(tr->diagnostic));
                if (r->diagnostic[0] == '\0') {
                    g_free(r->diagnostic);
                    r->diagnostic = g_strdup(tr->diagnostic);
                }
            }
            dsn_report_free(&t);
        }
        if (rep->recipients->len == 0)
            dsn_report_free(&rep);
    }
    bool bounce = looks_like_bounce(m, &w);
    if (rep == NULL && bounce) {
        rep = dsn_int_report_new("text");
        const char *body = prose;
        g_autofree char *fromhtml = NULL;
        if (*body == '\0' && w.html->len > 0) {
            fromhtml = dsn_int_line(w.html->str, w.html->len, DSN_MAX_TEXT);
            body = fromhtml;
        }
        dsn_report *t = dsn_int_report_new("text");
        dsn_int_text(t, body, strlen(body), skip);
        failed_recipients(rep, m, body);
        if (rep->recipients->len > 0) {
            /* the header names them; the prose says why */
            for (guint i = 0; i < rep->recipients->len; i++) {
                dsn_recipient *r = g_ptr_array_index(rep->recipients, i);
                dsn_recipient *tr = dsn_int_find(t, r->recipient);
                if (tr != NULL) {
                    g_free(r->diagnostic);
                    r->diagnostic = g_strdup(tr->diagnostic);
                    g_free(r->status);
                    r->status = g_strdup(tr->status);
                }
            }
            dsn_report_free(&t);
        } else {
            dsn_report_free(&rep);
            rep = t;
        }
        if (rep->recipients->len == 0 && w.orig_to != NULL)
            dsn_int_add(rep, w.orig_to, "failed", "", body);
        if (rep->recipients->len == 0 && self_to != NULL) {
            /* the prose names no one but the bounce's own recipient: a
               message returned to the address it was sent to */
            const char *skip2[] = {self_from, w.orig_from, NULL};
            dsn_int_text(rep, body, strlen(body), skip2);
        }
        if (rep->recipients->len == 0)
            dsn_report_free(&rep);
    }
    if (rep == NULL && !bounce && is_autoreply(m)) {
        rep = dsn_int_report_new("autoreply");
        const char *subj = g_mime_object_get_header(GMIME_OBJECT(m), "Subject");
        dsn_recipient *r = dsn_int_add(rep, self_from, "delivered", "",
                                       subj != NULL ? subj : "auto-reply");
        if (r != NULL)
            r->reason = g_strdup("vacation");
    }
    if (rep != NULL) {
        for (guint i = 0; i < rep->recipients->len; i++) {
            dsn_recipient *r = g_ptr_array_index(rep->recipients, i);
            if (strcmp(rep->kind, "arf") == 0 ||
                strcmp(rep->kind, "autoreply") == 0) {
                r->hard = false;
                if (r->reason == NULL)
                    r->reason = g_strdup("feedback");
            }
        }
        classify_all(rep, prose, ctx);
        google_groups(rep);
        if (filtering_gateway(data, len))
            for (guint i = 0; i < rep->recipients->len; i++) {
                dsn_recipient *r = g_ptr_array_index(rep->recipients, i);
                if (strcmp(r->reason, "userunknown") == 0 &&
                    !g_str_has_suffix(r->status, ".1.1")) {
                    g_free(r->reason);
                    r->reason = g_strdup("filtered");
                    r->hard = false;
                }
            }
        rep->original_message_id = g_strdup(w.orig_msgid);
        rep->original_envelope_from = g_strdup(w.orig_from);
    }
    g_hash_table_destroy(ctx);
    g_string_free(w.ds, TRUE);
    g_string_free(w.fr, TRUE);
    g_string_free(w.prose, TRUE);
    g_string_free(w.html, TRUE);
    g_free(w.orig_to);
    g_free(w.orig_msgid);
    g_free(w.orig_from);
    g_object_unref(m);
    return rep;
}
