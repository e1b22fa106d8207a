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

/* ---- small helpers shared with dsn_text.c ---- */

char *dsn_int_line(const char *s, gsize len, gsize max)
{
    GString *o = g_string_sized_new(MIN(len, max) + 8);
    bool space = false;
    for (gsize i = 0; i < len && o->len < max + 8; i++) {
        guchar c = (guchar)s[i];
        if (c == '\0')
            continue;
        if (c < 0x20 || c == 0x7f || c == ' ') {
            space = o->len > 0;
            continue;
        }
        if (space)
            g_string_append_c(o, ' ');
        space = false;
        g_string_append_c(o, (char)c);
    }
    char *v = g_utf8_make_valid(o->str, (gssize)o->len);
    g_string_free(o, TRUE);
    gsize n = strlen(v);
    if (n > max) {
        gsize cut = max;
        while (cut > 0 && ((guchar)v[cut] & 0xC0) == 0x80)
            cut--;
        v[cut] = '\0';
    }
    return v;
}

static bool addr_char(guchar c)
{
    return g_ascii_isalnum(c) || c >= 0x80 || strchr("!#$%&'*+-/=?^_`{|}~.", c);
}

char *dsn_int_address(const char *s, gsize len)
{
    for (gsize i = 0; i < len; i++) {
        if (s[i] != '@' || i == 0)
            continue;
        gsize a = i, b = i + 1;
        while (a > 0 && addr_char((guchar)s[a - 1]) && i - a < 64)
            a--;
        while (b < len && addr_char((guchar)s[b]) && b - i < 255)
            b++;
        while (b > i + 1 && s[b - 1] == '.')
            b--;
        while (a < i && s[a] == '.')
            a++;
        if (a == i || b == i + 1 || !memchr(s + i + 1, '.', b - i - 1))
            continue;
        g_autofree char *cand = g_strndup(s + a, b - a);
        char *norm = addr_normalize(cand);
        if (norm != NULL) {
            char *low = g_utf8_strdown(norm, -1);
            g_free(norm);
            return low;
        }
    }
    return NULL;
}

dsn_recipient *dsn_int_find(dsn_report *rep, const char *addr)
{
    for (guint i = 0; i < rep->recipients->len; i++) {
        dsn_recipient *r = g_ptr_array_index(rep->recipients, i);
        if (strcmp(r->recipient, addr) == 0)
            return r;
    }
    return NULL;
}

dsn_recipient *dsn_int_add(dsn_report *rep, const char *addr,
                           const char *action, const char *status,
                           const char *diagnostic)
{
    if (addr == NULL || *addr == '\0' ||
        rep->recipients->len >= DSN_MAX_RECIPIENTS ||
        dsn_int_find(rep, addr) != NULL)
        return NULL;
    dsn_recipient *r = g_new0(dsn_recipient, 1);
    r->recipient = g_strdup(addr);
    r->action = g_strdup(action != NULL ? action : "");
    r->status = g_strdup(status != NULL ? status : "");
    r->diagnostic = dsn_int_line(diagnostic != NULL ? diagnostic : "",
                                 diagnostic != NULL ? strlen(diagnostic) : 0,
                                 DSN_MAX_DIAGNOSTIC);
    g_ptr_array_add(rep->recipients, r);
    return r;
}

bool dsn_int_status_in(const char *s, char out[16])
{
    for (const char *p = s; *p != '\0'; p++) {
        if ((*p != '2' && *p != '4' && *p != '5') || p[1] != '.' ||
            (p > s && (g_ascii_isdigit(p[-1]) || p[-1] == '.')))
            continue;
        const char *q = p + 2;
        int d1 = 0, d2 = 0;
        while (d1 < 4 && g_ascii_isdigit(q[d1]))
            d1++;
        if (d1 == 0 || d1 > 3 || q[d1] != '.')
            continue;
        q += d1 + 1;
        while (d2 < 4 && g_ascii_isdigit(q[d2]))
            d2++;
        if (d2 == 0 || d2 > 3 || q[d2] == '.' || g_ascii_isdigit(q[d2]))
            continue;
        gsize n = (gsize)(q + d2 - p);
        memcpy(out, p, n);
        out[n] = '\0';
        return true;
    }
    return false;
}

int dsn_int_reply_in(const char *s)
{
    for (const char *p = s; *p != '\0'; p++) {
        if ((*p != '2' && *p != '4' && *p != '5') ||
            (p > s && (g_ascii_isalnum(p[-1]) || p[-1] == '.' || p[-1] == '-' ||
                       p[-1] == '#')))
            continue;
        if (!g_ascii_isdigit(p[1]) || !g_ascii_isdigit(p[2]))
            continue;
        char e = p[3];
        if (e != ' ' && e != '-' && e != '\0' && e != '\n' && e != '\r' &&
            e != ')' && e != ']')
            continue;
        int v = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
        if (p[1] <= '5' && v != 250 && v != 220 && v != 221 && v != 354)
            return v;
    }
    return 0;
}

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

/* ---- message/delivery-status ---- */

typedef struct {
    char *final;
    char *original;
    char *action;
    char *status;
    GString *diag;
} ds_group;

static void group_clear(ds_group *g)
{
    g_clear_pointer(&g->final, g_free);
    g_clear_pointer(&g->original, g_free);
    g_clear_pointer(&g->action, g_free);
    g_clear_pointer(&g->status, g_free);
    g_string_truncate(g->diag, 0);
}

/* "type; value" -> value (the whole string when there is no ';'). */
static const char *after_type(const char *v)
{
    const char *semi = strchr(v, ';');
    const char *at = strchr(v, '@');
    if (semi != NULL && (at == NULL || semi < at))
        v = semi + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    return v;
}

/* Ends a group: adds its recipient when it names one. */
static void group_flush(dsn_report *rep, ds_group *g)
{
    char *addr = NULL;
    if (g->final != NULL) {
        const char *v = after_type(g->final);
        addr = dsn_int_address(v, strlen(v));
    }
    if (addr == NULL && g->original != NULL) {
        const char *v = after_type(g->original);
        addr = dsn_int_address(v, strlen(v));
    }
    if (addr != NULL) {
        char st[16] = "";
        if (g->status != NULL)
            dsn_int_status_in(g->status, st);
        char dst[16] = "";
        /* a vague x.0.0 refined by the diagnostic's own code */
        if ((st[0] == '\0' || strcmp(st + 1, ".0.0") == 0) &&
            dsn_int_status_in(g->diag->str, dst) &&
            (st[0] == '\0' || dst[0] == st[0]))
            memcpy(st, dst, sizeof(st));
        g_autofree char *action =
            g->action != NULL ? g_ascii_strdown(g_strstrip(g->action), -1)
                              : g_strdup(st[0] == '4' ? "delayed" : "failed");
        const char *diag = after_type(g->diag->str);
        dsn_recipient *r = dsn_int_add(rep, addr, action, st, diag);
        if (r != NULL && g_ascii_strncasecmp(g->diag->str, "x-unix", 6) == 0) {
            /* a local delivery program failed (procmail, a pipe) */
            r->reason = g_strdup(dsn_int_mailer_reason(r->diagnostic));
            r->reply_code = dsn_int_reply_in(r->diagnostic);
        }
    }
    g_free(addr);
    group_clear(g);
}

static void set_field(char **slot, const char *v)
{
    if (*slot == NULL)
        *slot = g_strdup(v);
}

/* Parses the fields of delivery-status text; groups split at blank lines
   and at a second Final-Recipient. */
static void parse_ds(dsn_report *rep, const char *text, gsize len)
{
    ds_group g = {.diag = g_string_new(NULL)};
    GString *field = g_string_new(NULL); /* current unfolded field */
    const char *p = text, *end = text + len;
    bool more = true;
    while (more) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl != NULL ? nl : end;
        gsize ll = (gsize)(le - p);
        if (ll > 0 && p[ll - 1] == '\r')
            ll--;
        bool cont = ll > 0 && (p[0] == ' ' || p[0] == '\t');
        bool blank = true;
        for (gsize i = 0; i < ll; i++)
            if (!g_ascii_isspace(p[i]))
                blank = false;
        if (cont && !blank && field->len < 4096) {
            g_string_append_c(field, ' ');
            g_string_append_len(field, p, (gssize)MIN(ll, 4096));
        } else {
            /* the previous field is complete */
            if (field->len > 0) {
                char *f = field->str;
                char *colon = strchr(f, ':');
                if (colon != NULL) {
                    *colon = '\0';
                    char *name = g_strstrip(f);
                    char *val = g_strstrip(colon + 1);
                    if (g_ascii_strcasecmp(name, "Final-Recipient") == 0) {
                        if (g.final != NULL)
                            group_flush(rep, &g);
                        set_field(&g.final, val);
                    } else if (g_ascii_strcasecmp(name, "Original-Recipient") ==
                               0) {
                        if (g.original != NULL && g.final != NULL)
                            group_flush(rep, &g);
                        set_field(&g.original, val);
                    } else if (g_ascii_strcasecmp(name, "Action") == 0) {
                        set_field(&g.action, val);
                    } else if (g_ascii_strcasecmp(name, "Status") == 0) {
                        set_field(&g.status, val);
                    } else if (g_ascii_strcasecmp(name, "Diagnostic-Code") ==
                                   0 &&
                               g.diag->len == 0) {
                        g_string_append(g.diag, val);
                    }
                }
                g_string_truncate(field, 0);
            }
            if (blank) {
                if (g.final != NULL || g.original != NULL)
                    group_flush(rep, &g);
                else
                    group_clear(&g);
            } else {
                g_string_append_len(field, p, (gssize)MIN(ll, 4096));
            }
        }
        more = nl != NULL;
        p = nl != NULL ? nl + 1 : end;
    }
    if (g.final != NULL || g.original != NULL)
        group_flush(rep, &g);
    group_clear(&g);
    g_string_free(g.diag, TRUE);
    g_string_free(field, TRUE);
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

static dsn_report *report_new(const char *kind);

/* Amazon SES notifications sent by mail (SNS): a JSON body with
   "notificationType" Bounce, Complaint or Delivery. SNS folds long lines
   with "!" + newline + space, undone here. NULL when the prose is none. */
static dsn_report *ses_json(const char *prose)
{
    const char *key = strstr(prose, "\"notificationType\"");
    if (key == NULL)
        return NULL;
    const char *open = key;
    while (open > prose && *open != '{')
        open--;
    if (*open != '{')
        return NULL;
    GString *js = g_string_sized_new(strlen(open));
    for (const char *p = open; *p != '\0'; p++) {
        if (p[0] == '!' && p[1] == '\n' && p[2] == ' ') {
            p += 2;
            continue;
        }
        if (p[0] == '!' && p[1] == '\r' && p[2] == '\n' && p[3] == ' ') {
            p += 3;
            continue;
        }
        g_string_append_c(js, *p);
    }
    json_error_t err;
    json_t *j = json_loadb(js->str, js->len, JSON_DISABLE_EOF_CHECK, &err);
    g_string_free(js, TRUE);
    if (j == NULL)
        return NULL;
    const char *type =
        json_string_value(json_object_get(j, "notificationType"));
    json_t *list = NULL;
    dsn_report *rep = NULL;
    const char *reason = NULL;
    if (type != NULL && strcmp(type, "Complaint") == 0) {
        json_t *c = json_object_get(j, "complaint");
        list = json_object_get(c, "complainedRecipients");
        rep = report_new("arf");
        const char *ft =
            json_string_value(json_object_get(c, "complaintFeedbackType"));
        rep->feedback_type = g_ascii_strdown(ft != NULL ? ft : "abuse", -1);
        reason = "feedback";
    } else if (type != NULL && strcmp(type, "Bounce") == 0) {
        list =
            json_object_get(json_object_get(j, "bounce"), "bouncedRecipients");
        rep = report_new("dsn");
    } else if (type != NULL && strcmp(type, "Delivery") == 0) {
        list = json_object_get(json_object_get(j, "delivery"), "recipients");
        rep = report_new("dsn");
        reason = "delivered";
    }
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        const char *addr =
            json_is_string(v)
                ? json_string_value(v)
                : json_string_value(json_object_get(v, "emailAddress"));
        const char *diag =
            json_string_value(json_object_get(v, "diagnosticCode"));
        const char *st = json_string_value(json_object_get(v, "status"));
        const char *action = json_string_value(json_object_get(v, "action"));
        g_autofree char *a =
            addr != NULL ? dsn_int_address(addr, strlen(addr)) : NULL;
        bool delivered = reason != NULL && strcmp(reason, "delivered") == 0;
        if (diag == NULL && delivered)
            diag = json_string_value(json_object_get(
                json_object_get(j, "delivery"), "smtpResponse"));
        char code[16] = "";
        if (st == NULL && diag != NULL && dsn_int_status_in(diag, code))
            st = code;
        dsn_recipient *r = dsn_int_add(rep, a,
                                       action != NULL ? action
                                       : delivered    ? "delivered"
                                                      : "failed",
                                       st != NULL ? st : "",
                                       diag != NULL ? after_type(diag) : "");
        if (r != NULL && reason != NULL)
            r->reason = g_strdup(reason);
    }
    if (rep != NULL && rep->recipients->len == 0)
        dsn_report_free(&rep);
    json_decref(j);
    return rep;
}

/* Fills reason, reply code and hard for every recipient; ctx maps an
   address to the prose about it (may be NULL). */
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

static dsn_report *report_new(const char *kind)
{
    dsn_report *rep = g_new0(dsn_report, 1);
    rep->recipients = g_ptr_array_new();
    rep->kind = g_strdup(kind);
    return rep;
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
        rep = ses_json(prose);
    if (rep != NULL) {
        /* an SES notification */
    } else if (w.fr->len > 0) {
        rep = report_new("arf");
        parse_arf(rep, &w);
        for (guint i = 0; i < rep->recipients->len; i++) {
            dsn_recipient *r = g_ptr_array_index(rep->recipients, i);
            r->reason = g_strdup("feedback");
        }
    } else if (w.ds->len == 0 && w.orig_to != NULL &&
               subject_has(m, "complaint about message")) {
        /* Hotmail's old complaint: the original attached, no report */
        rep = report_new("arf");
        rep->feedback_type = g_strdup("abuse");
        dsn_recipient *r = dsn_int_add(rep, w.orig_to, "failed", "", "");
        if (r != NULL)
            r->reason = g_strdup("feedback");
    } else if (w.ds->len > 0) {
        rep = report_new("dsn");
        parse_ds(rep, w.ds->str, w.ds->len);
        /* a group without a diagnostic takes the prose about it */
        if (rep->recipients->len > 0 && *prose) {
            dsn_report *t = report_new("text");
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
        rep = report_new("text");
        const char *body = prose;
        g_autofree char *fromhtml = NULL;
        if (*body == '\0' && w.html->len > 0) {
            fromhtml = dsn_int_line(w.html->str, w.html->len, DSN_MAX_TEXT);
            body = fromhtml;
        }
        dsn_report *t = report_new("text");
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
        rep = report_new("autoreply");
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

void dsn_report_free(dsn_report **rp)
{
    if (rp == NULL || *rp == NULL)
        return;
    dsn_report *r = *rp;
    for (guint i = 0; i < r->recipients->len; i++) {
        dsn_recipient *x = g_ptr_array_index(r->recipients, i);
        g_free(x->recipient);
        g_free(x->action);
        g_free(x->status);
        g_free(x->diagnostic);
        g_free(x->reason);
        g_free(x);
    }
    g_ptr_array_unref(r->recipients);
    g_free(r->kind);
    g_free(r->feedback_type);
    g_free(r->original_message_id);
    g_free(r->original_envelope_from);
    g_free(r);
    *rp = NULL;
}

static json_t *str_or_null(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

json_t *dsn_report_json(const dsn_report *r)
{
    json_t *list = json_array();
    for (guint i = 0; i < r->recipients->len; i++) {
        const dsn_recipient *x = g_ptr_array_index(r->recipients, i);
        json_t *o = json_object();
        json_object_set_new(o, "recipient", json_string(x->recipient));
        json_object_set_new(o, "action", json_string(x->action));
        json_object_set_new(o, "status", json_string(x->status));
        json_object_set_new(o, "diagnostic", json_string(x->diagnostic));
        json_object_set_new(o, "reason", json_string(x->reason));
        json_object_set_new(o, "hard", json_boolean(x->hard));
        json_array_append_new(list, o);
    }
    json_t *j = json_object();
    json_object_set_new(j, "recipients", list);
    json_object_set_new(j, "kind", str_or_null(r->kind));
    json_object_set_new(j, "feedback_type", str_or_null(r->feedback_type));
    json_object_set_new(j, "original_message_id",
                        str_or_null(r->original_message_id));
    return j;
}
