/*
 * html.c - HTML escaping (the only one) and URL encoding for crmgate-web.
 *
 * html_escape() is what keeps captured mail, names and subjects from ever
 * becoming markup: see html.h for the rules. Its limit is the caller's
 * GString; nothing here allocates more than the output needs.
 */
#include "crmgate/html.h"

#include <stdarg.h>
#include <string.h>

void html_escape_len(GString *out, const char *s, gsize len)
{
    if (!s)
        return;
    const char *p = s, *end = s + len;
    while (p < end) {
        gunichar c = g_utf8_get_char_validated(p, end - p);
        if (c == (gunichar)-1 || c == (gunichar)-2) {
            g_string_append(out, "\xEF\xBF\xBD"); /* U+FFFD */
            p++;
            continue;
        }
        const char *next = g_utf8_next_char(p);
        switch (c) {
        case '&':
            g_string_append(out, "&amp;");
            break;
        case '<':
            g_string_append(out, "&lt;");
            break;
        case '>':
            g_string_append(out, "&gt;");
            break;
        case '"':
            g_string_append(out, "&quot;");
            break;
        case '\'':
            g_string_append(out, "&#39;");
            break;
        default:
            if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7f ||
                (c >= 0x80 && c < 0xa0))
                break; /* control characters: dropped */
            g_string_append_len(out, p, next - p);
        }
        p = next;
    }
}

void html_escape(GString *out, const char *s)
{
    if (s)
        html_escape_len(out, s, strlen(s));
}

char *html_escape_dup(const char *s)
{
    GString *out = g_string_new(NULL);
    html_escape(out, s);
    return g_string_free(out, FALSE);
}

/* html_printf's work on a started va_list (the caller starts and ends
   it). clang-tidy 14's valist checker, run over the whole tree, takes ap
   for uninitialised here (a false positive: the only caller starts it). */
// NOLINTBEGIN(clang-analyzer-valist.Uninitialized)
static void html_vprintf(GString *out, const char *fmt, va_list ap)
{
    for (const char *p = fmt; *p; p++) {
        if (*p != '%') {
            const char *q = strchr(p, '%');
            gsize n = q ? (gsize)(q - p) : strlen(p);
            g_string_append_len(out, p, n);
            p += n - 1;
            continue;
        }
        p++;
        if (*p == '%') {
            g_string_append_c(out, '%');
        } else if (*p == 's') {
            html_escape(out, va_arg(ap, const char *));
        } else if (*p == 'd' || *p == 'i') {
            g_string_append_printf(out, "%d", va_arg(ap, int));
        } else if (*p == 'u') {
            g_string_append_printf(out, "%u", va_arg(ap, unsigned));
        } else if (p[0] == 'l' && (p[1] == 'd' || p[1] == 'i')) {
            g_string_append_printf(out, "%ld", va_arg(ap, long));
            p++;
        } else if (p[0] == 'l' && p[1] == 'l' && (p[2] == 'd' || p[2] == 'i')) {
            g_string_append_printf(out, "%lld", va_arg(ap, long long));
            p += 2;
        } else if (p[0] == '.' && g_ascii_isdigit(p[1]) && p[2] == 'f') {
            g_string_append_printf(out, "%.*f", p[1] - '0', va_arg(ap, double));
            p += 2;
        } else {
            g_error("html_printf: unsupported conversion in \"%s\"", fmt);
        }
    }
}
// NOLINTEND(clang-analyzer-valist.Uninitialized)

void html_printf(GString *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    html_vprintf(out, fmt, ap);
    va_end(ap);
}

void html_url_encode(GString *out, const char *s)
{
    if (s)
        g_string_append_uri_escaped(out, s, NULL, FALSE);
}
