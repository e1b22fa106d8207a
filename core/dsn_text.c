/*
 * dsn_text.c - the prose side of the bounce parser (core/dsn.c): the
 * bodies of MTAs that send no message/delivery-status (qmail "<addr>:"
 * blocks, Exim's indented address and "SMTP error from remote mail
 * server", Sendmail and Postfix transcripts, Exchange's "Diagnostic
 * information for administrators", Gmail, Yahoo, Domino, Courier, ...).
 *
 * The prose is first cut where the returned original starts (the usual
 * markers, or a Received:/Return-Path: line). Then every address named on
 * a line that is not a header of the bounce itself, a MAIL FROM or a
 * Message-ID, and is not one of the addresses to skip (the bounce's own
 * sender and recipient) becomes a recipient, in order of first mention;
 * its diagnostic is the text from that mention to the next recipient's.
 *
 * Limits: the text given is at most DSN_MAX_TEXT bytes (dsn.c bounds it);
 * each diagnostic is cut at DSN_MAX_DIAGNOSTIC bytes by dsn_int_add.
 */
#include "dsn_int.h"

#include <string.h>

/* Where the returned original starts, lower case; at a line start when
   the marker starts with '\n'. */
static const char *const cut_markers[] = {
    "original message follows",
    "this is a copy of the message",
    "below this line is a copy",
    "original message headers",
    "-----original message-----",
    "----- original message -----",
    "------ original message",
    "message headers follow",
    "header of the original message",
    "headers of the original message",
    "------- returned message",
    "--- original message",
    "unsent message below",
    "the original message was:",
    "original message ---",
    "\nreceived: ",
    "\nreturn-path: ",
    "\ncontent-type: message/rfc822",
    "\ncontent-type: text/rfc822-headers",
    NULL,
};

gsize dsn_int_text_cut(const char *text, gsize len)
{
    g_autofree char *low = g_ascii_strdown(text, (gssize)len);
    gsize cut = len;
    for (gsize i = 0; cut_markers[i] != NULL; i++) {
        const char *hit = strstr(low, cut_markers[i]);
        /* a marker in the first bytes is the bounce's own header block */
        if (hit != NULL && (gsize)(hit - low) < cut && hit - low > 40)
            cut = (gsize)(hit - low);
    }
    return cut;
}

/* Lines whose addresses are not recipients. */
static bool skip_line(const char *low)
{
    static const char *const starts[] = {"from:",
                                         "date:",
                                         "subject:",
                                         "message-id",
                                         "reply-to:",
                                         "sender:",
                                         "reporting-mta",
                                         "received",
                                         "in-reply-to",
                                         "references",
                                         "return-path",
                                         "x-",
                                         "mail from",
                                         ">>> mail from",
                                         "envelope-from",
                                         "errors-to",
                                         "dkim",
                                         "list-",
                                         "content-",
                                         "arrival-date",
                                         "for more information",
                                         "http",
                                         NULL};
    while (*low == ' ' || *low == '\t' || *low == '>')
        low++;
    for (gsize i = 0; starts[i] != NULL; i++)
        if (g_str_has_prefix(low, starts[i]))
            return true;
    return strstr(low, "mail from:") != NULL ||
           strstr(low, "message-id") != NULL ||
           strstr(low, "envelope-from") != NULL;
}

static bool skip_addr(const char *addr, const char *const *skip)
{
    static const char *const locals[] = {"mailer-daemon@",
                                         "postmaster@",
                                         "mailer_daemon@",
                                         "double-bounce@",
                                         "noreply@",
                                         "no-reply@",
                                         NULL};
    for (gsize i = 0; locals[i] != NULL; i++)
        if (g_str_has_prefix(addr, locals[i]))
            return true;
    for (gsize i = 0; skip != NULL && skip[i] != NULL; i++)
        if (strcmp(addr, skip[i]) == 0)
            return true;
    return false;
}

typedef struct {
    char *addr;
    gsize at; /* offset of the line naming it first */
} mention;

guint dsn_int_text(dsn_report *rep, const char *text, gsize len,
                   const char *const *skip)
{
    len = MIN(len, (gsize)DSN_MAX_TEXT);
    GArray *found = g_array_new(FALSE, FALSE, sizeof(mention));
    /* every line naming a recipient: offset and index in found */
    GArray *lines = g_array_new(FALSE, FALSE, sizeof(mention));
    const char *p = text, *end = text + len;
    while (p < end && found->len < DSN_MAX_RECIPIENTS) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl != NULL ? nl : end;
        gsize ll = MIN((gsize)(le - p), 4096);
        g_autofree char *low = g_ascii_strdown(p, (gssize)ll);
        if (memchr(p, '@', ll) != NULL && !skip_line(low)) {
            /* every address on the line, in order */
            gsize off = 0;
            while (off < ll) {
                const char *at = memchr(p + off, '@', ll - off);
                if (at == NULL)
                    break;
                /* the token holding this '@' */
                gsize ts = (gsize)(at - p), te = ts + 1;
                while (ts > off && !g_ascii_isspace(p[ts - 1]) &&
                       p[ts - 1] != '<' && p[ts - 1] != '(' &&
                       p[ts - 1] != '"' && p[ts - 1] != '\'' &&
                       p[ts - 1] != ':' && p[ts - 1] != '[' &&
                       p[ts - 1] != '=' && p[ts - 1] != ',' && p[ts - 1] != ';')
                    ts--;
                while (te < ll && !g_ascii_isspace(p[te]) && p[te] != '>' &&
                       p[te] != '"' && p[te] != '\'' && p[te] != ')' &&
                       p[te] != ',' && p[te] != ';' && p[te] != ']')
                    te++;
                bool url = ts >= 3 && memcmp(p + ts - 3, "://", 3) == 0;
                if (ts > 0 && p[ts - 1] == '=' && ts >= 7 &&
                    g_ascii_strncasecmp(p + ts - 7, "mailto:", 7) != 0)
                    url = true;
                char *a = url ? NULL : dsn_int_address(p + ts, te - ts);
                if (a != NULL && !skip_addr(a, skip)) {
                    bool dup = false;
                    for (guint i = 0; i < found->len; i++)
                        if (strcmp(g_array_index(found, mention, i).addr, a) ==
                            0) {
                            dup = true;
                            mention l = {g_array_index(found, mention, i).addr,
                                         (gsize)(p - text)};
                            if (lines->len < 4 * DSN_MAX_RECIPIENTS)
                                g_array_append_val(lines, l);
                        }
                    if (!dup) {
                        mention l = {a, (gsize)(p - text)};
                        g_array_append_val(lines, l);
                        mention m = {a, (gsize)(p - text)};
                        g_array_append_val(found, m);
                        a = NULL;
                    }
                }
                g_free(a);
                off = te + 1;
            }
        }
        p = nl != NULL ? nl + 1 : end;
    }
    guint added = 0;
    for (guint i = 0; i < found->len; i++) {
        mention *m = &g_array_index(found, mention, i);
        gsize stop = len;
        for (guint k = 0; k < lines->len; k++) {
            const mention *l = &g_array_index(lines, mention, k);
            if (l->at > m->at && l->addr != m->addr) {
                stop = l->at;
                break;
            }
        }
        if (stop <= m->at)
            stop = MIN(len, m->at + 2048);
        stop = MIN(stop, m->at + 4096);
        /* a line that holds its own reply code ("554 <a@b>... error",
           "<a@b>: host x said: 550 ...") is the diagnostic, with its
           indented continuation lines */
        const char *ls = text + m->at;
        const char *le = memchr(ls, '\n', stop - m->at);
        if (le != NULL) {
            g_autofree char *first = g_strndup(ls, (gsize)(le - ls));
            char *rest = strstr(first, m->addr);
            g_autofree char *lfirst = g_ascii_strdown(first, -1);
            char *lrest = strstr(lfirst, m->addr);
            if (lrest != NULL)
                rest = first + (lrest - lfirst);
            if (rest != NULL) {
                memset(rest, ' ', strlen(m->addr)); /* not a code */
                bool words = false;
                for (const char *c = rest; *c != '\0'; c++)
                    if (g_ascii_isalpha(*c))
                        words = true;
                if (dsn_int_reply_in(first) != 0 && words) {
                    const char *q = le + 1;
                    while (q < text + stop && (*q == ' ' || *q == '\t')) {
                        const char *qe =
                            memchr(q, '\n', (size_t)(text + stop - q));
                        q = qe != NULL ? qe + 1 : text + stop;
                    }
                    stop = (gsize)(q - text);
                }
            }
        }
        g_autofree char *diag = dsn_int_line(text + m->at, stop - m->at, 4096);
        /* the address itself is no part of its diagnostic */
        char *d = diag;
        g_autofree char *ld = g_ascii_strdown(d, -1);
        char *lh = strstr(ld, m->addr);
        if (lh != NULL && lh - ld < 400) {
            char *hit = d + (lh - ld);
            char *after = hit + strlen(m->addr);
            while (*after == '>' || *after == ':' || *after == ' ' ||
                   *after == '.' || *after == ',' || *after == ')')
                after++;
            while (hit > d && (hit[-1] == '<' || hit[-1] == ' '))
                hit--;
            if (hit > d) {
                *hit = ' ';
                memmove(hit + 1, after, strlen(after) + 1);
            } else {
                d = after;
            }
        }
        char st[16] = "";
        dsn_int_status_in(d, st);
        if (dsn_int_add(rep, m->addr, st[0] == '4' ? "delayed" : "failed", st,
                        d) != NULL)
            added++;
    }
    for (guint i = 0; i < found->len; i++)
        g_free(g_array_index(found, mention, i).addr);
    g_array_unref(found);
    g_array_unref(lines);
    return added;
}
