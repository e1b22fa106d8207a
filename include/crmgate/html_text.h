/*
 * html_text.h - HTML to readable plain text, for message bodies that come
 * only as text/html.
 *
 * The conversion uses libxml2's forgiving HTML parser and renders roughly
 * what a text browser shows: no scripts or styles, block elements on their
 * own lines, list items with "- ", links as "text <href>". Output is bounded
 * and always valid UTF-8. Thread-safe.
 */
#ifndef CRMGATE_HTML_TEXT_H
#define CRMGATE_HTML_TEXT_H

#include <glib.h>
#include <stdbool.h>

/* Returns newly allocated UTF-8 text for len bytes of UTF-8 html (invalid
   sequences are replaced first), at most max_out bytes, cut at a character
   boundary. *truncated_r (may be NULL) tells whether text was cut. Never
   returns NULL; input that yields no text gives "". */
char *html_text_convert(const char *html, gsize len, gsize max_out,
                        bool *truncated_r);

#endif
