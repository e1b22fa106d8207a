/*
 * html.h - the one HTML-escaping helper, and small builders on top of it.
 *
 * Everything crmgate-web puts into a page from data goes through
 * html_escape(): the five HTML specials become entities, control
 * characters other than tab and newline are dropped, and invalid UTF-8
 * becomes U+FFFD, so no value can open a tag, close an attribute or break
 * the page's encoding. Attribute values are always double-quoted by the
 * builders, so the same escaping serves text and attributes.
 */
#ifndef CRMGATE_HTML_H
#define CRMGATE_HTML_H

#include <glib.h>

/* Appends s (NULL: nothing), escaped, to out. */
void html_escape(GString *out, const char *s);
/* Appends the first len bytes of s, escaped. */
void html_escape_len(GString *out, const char *s, gsize len);
/* Appends a printf-formatted text, every %s argument escaped: the format
   itself is trusted markup. Only %s, %d/%i, %u, %ld/%li (G_GINT64_FORMAT),
   %lld, %% and %.Nf are supported (anything else aborts: a programming
   error). */
void html_printf(GString *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Returns a newly allocated escaped copy of s. */
char *html_escape_dup(const char *s);
/* Appends s percent-encoded for a URL query value (RFC 3986 unreserved
   characters kept). */
void html_url_encode(GString *out, const char *s);

#endif
