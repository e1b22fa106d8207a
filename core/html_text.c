/*
 * html_text.c - HTML to readable plain text with libxml2's HTML parser.
 *
 * Used when a message has no text/plain body. The document is parsed in
 * recovery mode (no network, no error output, the document's own charset
 * hints ignored: the caller hands over UTF-8) and walked without recursion,
 * so hostile nesting cannot exhaust the stack. Rendering follows what a
 * text browser does: script/style/head/title/template are dropped, white
 * space folds to one space outside <pre>, block elements start new lines
 * (paragraph-like ones leave a blank line), <br> breaks the line, list
 * items get "- " (indented per list level), table cells are separated by a
 * space, images show their alt text, and a link shows "text <href>" unless
 * the text already is the target. Finally spaces before line ends go, runs
 * of 3+ newlines become 2 and the text is trimmed.
 *
 * Limits: output is cut at max_out bytes on a UTF-8 character boundary (the
 * walk stops there); input larger than INT_MAX bytes is cut (libxml2 takes
 * an int); a link target adds at most HTML_HREF_MAX bytes.
 */
#include "crmgate/html_text.h"

#include <libxml/HTMLparser.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <limits.h>
#include <string.h>

#define HTML_HREF_MAX 2048

typedef struct {
    xmlNode *node;
    gsize start; /* out->len when the <a> was entered */
} html_link;

typedef struct {
    GString *out;
    gsize max;
    bool full;      /* max reached: stop */
    int pending_nl; /* newlines owed before the next text (0..2) */
    bool space;     /* white space seen since the last text */
    int pre;        /* inside <pre>/<textarea> */
    int lists;      /* <ul>/<ol> nesting */
    GArray *links;  /* html_link, open <a href> elements */
} html_state;

static gpointer html_init_once(gpointer data)
{
    (void)data;
    xmlInitParser();
    return NULL;
}

static bool name_is(const xmlNode *n, const char *name)
{
    return n->name != NULL &&
           g_ascii_strcasecmp((const char *)n->name, name) == 0;
}

static bool name_in(const xmlNode *n, const char *const *names)
{
    for (; *names != NULL; names++)
        if (name_is(n, *names))
            return true;
    return false;
}

/* Elements whose content is never shown. */
static const char *const skip_names[] = {"script", "style",    "head",
                                         "title",  "template", NULL};
/* Block elements that leave a blank line before and after. */
static const char *const para_names[] = {
    "p",       "h1",         "h2",   "h3",       "h4", "h5",
    "h6",      "blockquote", "pre",  "table",    "dl", "hr",
    "address", "figure",     "form", "fieldset", NULL};
/* Block elements that start and end a line. */
static const char *const line_names[] = {
    "div",        "tr",      "dt",      "dd",   "section",  "article", "header",
    "footer",     "nav",     "aside",   "main", "center",   "caption", "option",
    "figcaption", "summary", "details", "body", "textarea", NULL};

/* Appends n bytes, stopping (and marking full) at the output bound. */
static void out_append(html_state *st, const char *s, gsize n)
{
    if (st->full)
        return;
    gsize room = st->max - st->out->len;
    if (n > room) {
        n = room;
        while (n > 0 && ((guchar)s[n] & 0xC0) == 0x80)
            n--;
        st->full = true;
    }
    g_string_append_len(st->out, s, (gssize)n);
}

static void flush_breaks(html_state *st)
{
    if (st->pending_nl > 0 && st->out->len > 0) {
        int have = 0;
        for (gsize i = st->out->len; i > 0 && have < 2; i--) {
            if (st->out->str[i - 1] != '\n')
                break;
            have++;
        }
        for (int i = have; i < st->pending_nl; i++)
            out_append(st, "\n", 1);
    }
    st->pending_nl = 0;
}

static void block_break(html_state *st, int n)
{
    if (n > st->pending_nl)
        st->pending_nl = n;
    st->space = false;
}

static bool out_at_line_start(const html_state *st)
{
    return st->out->len == 0 || st->out->str[st->out->len - 1] == '\n';
}

/* Length of the white space (ASCII or U+00A0) at s, 0 if none. */
static gsize space_len(const char *s, const char *end)
{
    if (s < end &&
        (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '\f'))
        return 1;
    if (end - s >= 2 && (guchar)s[0] == 0xC2 && (guchar)s[1] == 0xA0)
        return 2;
    return 0;
}

static void emit_text(html_state *st, const char *text, gsize len)
{
    const char *p = text, *end = text + len;

    if (st->pre > 0) {
        flush_breaks(st);
        while (p < end && !st->full) {
            const char *cr = memchr(p, '\r', (gsize)(end - p));
            const char *stop = cr != NULL ? cr : end;
            out_append(st, p, (gsize)(stop - p));
            p = cr != NULL ? cr + 1 : end;
        }
        return;
    }
    while (p < end && !st->full) {
        gsize sl = space_len(p, end);
        if (sl > 0) {
            st->space = true;
            p += sl;
            continue;
        }
        const char *run = p;
        while (p < end && space_len(p, end) == 0)
            p++;
        flush_breaks(st);
        if (st->space && !out_at_line_start(st) &&
            st->out->str[st->out->len - 1] != ' ')
            out_append(st, " ", 1);
        st->space = false;
        out_append(st, run, (gsize)(p - run));
    }
}

static char *attr_dup(xmlNode *n, const char *name)
{
    xmlChar *v = xmlGetProp(n, (const xmlChar *)name);
    if (v == NULL)
        return NULL;
    char *s = g_strstrip(g_strdup((const char *)v));
    xmlFree(v);
    return s;
}

/* Called when the walk enters element n; returns false to skip its
   content. */
static bool enter_element(html_state *st, xmlNode *n)
{
    if (name_in(n, skip_names))
        return false;
    if (name_is(n, "br")) {
        flush_breaks(st);
        out_append(st, "\n", 1);
        st->space = false;
    } else if (name_is(n, "li")) {
        block_break(st, 1);
        flush_breaks(st);
        for (int i = 1; i < st->lists && i < 8; i++)
            out_append(st, "  ", 2);
        out_append(st, "- ", 2);
    } else if (name_is(n, "ul") || name_is(n, "ol")) {
        block_break(st, st->lists > 0 ? 1 : 2);
        st->lists++;
    } else if (name_is(n, "td") || name_is(n, "th")) {
        st->space = true;
    } else if (name_is(n, "img")) {
        g_autofree char *alt = attr_dup(n, "alt");
        if (alt != NULL && *alt != '\0') {
            st->space = true;
            emit_text(st, alt, strlen(alt));
            st->space = true;
        }
    } else if (name_is(n, "a")) {
        html_link l = {n, st->out->len};
        g_array_append_val(st->links, l);
    } else if (name_in(n, para_names)) {
        block_break(st, 2);
    } else if (name_in(n, line_names)) {
        block_break(st, 1);
    }
    if (name_is(n, "pre") || name_is(n, "textarea"))
        st->pre++;
    return true;
}

/* True when the link target adds nothing to the visible text. */
static bool href_is_redundant(const char *href, const char *text)
{
    if (*text == '\0' || *href == '\0' || *href == '#' ||
        g_ascii_strncasecmp(href, "javascript:", 11) == 0)
        return true;
    if (g_ascii_strncasecmp(href, "mailto:", 7) == 0 &&
        g_ascii_strcasecmp(href + 7, text) == 0)
        return true;
    if (g_ascii_strcasecmp(href, text) == 0)
        return true;
    /* "example.com" or "https://example.com/" shown for the same href */
    const char *h = strstr(href, "://");
    h = h != NULL ? h + 3 : href;
    const char *t = strstr(text, "://");
    t = t != NULL ? t + 3 : text;
    gsize hl = strlen(h), tl = strlen(t);
    while (hl > 0 && h[hl - 1] == '/')
        hl--;
    while (tl > 0 && t[tl - 1] == '/')
        tl--;
    return hl == tl && g_ascii_strncasecmp(h, t, hl) == 0;
}

static void leave_link(html_state *st, xmlNode *n)
{
    if (st->links->len == 0)
        return;
    html_link *l = &g_array_index(st->links, html_link, st->links->len - 1);
    if (l->node != n)
        return;
    gsize start = MIN(l->start, st->out->len);
    g_array_set_size(st->links, st->links->len - 1);

    g_autofree char *href = attr_dup(n, "href");
    if (href == NULL || st->full)
        return;
    g_autofree char *text =
        g_strstrip(g_strndup(st->out->str + start, st->out->len - start));
    if (href_is_redundant(href, text))
        return;
    if (strlen(href) > HTML_HREF_MAX)
        return; /* a data: URI or similar, not worth showing */
    flush_breaks(st);
    out_append(st, " <", 2);
    out_append(st, href, strlen(href));
    out_append(st, ">", 1);
}

static void leave_element(html_state *st, xmlNode *n)
{
    if (name_in(n, skip_names))
        return;
    if (name_is(n, "pre") || name_is(n, "textarea"))
        st->pre--;
    if (name_is(n, "a")) {
        leave_link(st, n);
    } else if (name_is(n, "ul") || name_is(n, "ol")) {
        st->lists--;
        block_break(st, st->lists > 0 ? 1 : 2);
    } else if (name_is(n, "td") || name_is(n, "th")) {
        st->space = true;
    } else if (name_in(n, para_names)) {
        block_break(st, 2);
    } else if (name_is(n, "li") || name_in(n, line_names)) {
        block_break(st, 1);
    }
}

static void leave_node(html_state *st, xmlNode *n)
{
    if (n->type == XML_ELEMENT_NODE)
        leave_element(st, n);
}

/* Walks the tree below root in document order, iteratively. */
static void walk(html_state *st, xmlNode *root)
{
    xmlNode *cur = root;
    while (cur != NULL && !st->full) {
        bool descend = false;
        if (cur->type == XML_ELEMENT_NODE) {
            descend = enter_element(st, cur);
        } else if (cur->type == XML_TEXT_NODE ||
                   cur->type == XML_CDATA_SECTION_NODE) {
            if (cur->content != NULL)
                emit_text(st, (const char *)cur->content,
                          strlen((const char *)cur->content));
        }
        if (descend && cur->children != NULL) {
            cur = cur->children;
            continue;
        }
        /* leave cur and every ancestor whose last child it was */
        for (;;) {
            leave_node(st, cur);
            if (cur == root) {
                cur = NULL;
                break;
            }
            if (cur->next != NULL) {
                cur = cur->next;
                break;
            }
            cur = cur->parent;
            if (cur == NULL)
                break;
        }
    }
}

/* Drops spaces before line ends, folds 3+ newlines to 2, trims. */
static char *tidy(const GString *in)
{
    GString *o = g_string_sized_new(in->len);
    int nl = 0;
    gsize spaces = 0; /* blanks right before in->str[i] */
    for (gsize i = 0; i < in->len; i++) {
        char c = in->str[i];
        if (c == ' ' || c == '\t') {
            spaces++;
            continue;
        }
        if (c == '\n') {
            spaces = 0;
            nl++;
            continue;
        }
        if (o->len > 0) {
            for (int k = 0; k < MIN(nl, 2); k++)
                g_string_append_c(o, '\n');
            g_string_append_len(o, in->str + i - spaces, (gssize)spaces);
        }
        nl = 0;
        spaces = 0;
        g_string_append_c(o, c);
    }
    return g_string_free(o, FALSE);
}

/* Parses html; *stopped_r tells whether libxml2 gave up before the end
   (its nesting limit). */
static htmlDocPtr read_html(const char *html, gsize len, bool *stopped_r)
{
    *stopped_r = false;
    htmlParserCtxtPtr ctxt = htmlNewParserCtxt();
    if (ctxt == NULL)
        return NULL;
    htmlDocPtr doc = htmlCtxtReadMemory(
        ctxt, html, (int)len, NULL, "UTF-8",
        HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING |
            HTML_PARSE_NONET | HTML_PARSE_COMPACT | HTML_PARSE_IGNORE_ENC);
    *stopped_r = ctxt->errNo == XML_ERR_INTERNAL_ERROR;
    htmlFreeParserCtxt(ctxt);
    return doc;
}

/* html with every tag replaced by a space (text and entities stay). */
static char *strip_tags(const char *html)
{
    GString *o = g_string_sized_new(strlen(html) / 4);
    bool in_tag = false;
    for (const char *p = html; *p != '\0'; p++) {
        if (*p == '<') {
            in_tag = true;
        } else if (*p == '>' && in_tag) {
            in_tag = false;
            g_string_append_c(o, ' ');
        } else if (!in_tag) {
            g_string_append_c(o, *p);
        }
    }
    return g_string_free(o, FALSE);
}

char *html_text_convert(const char *html, gsize len, gsize max_out,
                        bool *truncated_r)
{
    static GOnce once = G_ONCE_INIT;
    g_once(&once, html_init_once, NULL);

    if (truncated_r != NULL)
        *truncated_r = false;
    if (html == NULL || len == 0 || max_out == 0) {
        if (truncated_r != NULL && html != NULL && len > 0)
            *truncated_r = true;
        return g_strdup("");
    }
    if (len > INT_MAX)
        len = INT_MAX;
    g_autofree char *valid = g_utf8_make_valid(html, (gssize)len);

    bool stopped = false;
    htmlDocPtr doc = read_html(valid, strlen(valid), &stopped);
    if (stopped) {
        /* libxml2 stops at its nesting limit (256 elements) and drops the
           rest of the document: read it again without its tags, so the
           text is kept even where the structure cannot be. */
        if (doc != NULL)
            xmlFreeDoc(doc);
        g_autofree char *flat = strip_tags(valid);
        doc = read_html(flat, strlen(flat), &stopped);
    }
    if (doc == NULL)
        return g_strdup("");

    html_state st = {
        .out = g_string_new(NULL),
        .max = max_out,
        .links = g_array_new(FALSE, FALSE, sizeof(html_link)),
    };
    xmlNode *root = xmlDocGetRootElement(doc);
    if (root != NULL)
        walk(&st, root);
    xmlFreeDoc(doc);

    char *text = tidy(st.out);
    if (truncated_r != NULL)
        *truncated_r = st.full;
    g_string_free(st.out, TRUE);
    g_array_free(st.links, TRUE);
    return text;
}
