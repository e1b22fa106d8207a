/*
 * webform.h - parsing what a browser sends: application/x-www-form-
 * urlencoded bodies and query strings, and Cookie headers.
 *
 * Bounded: at most WEBFORM_MAX_FIELDS fields (more: CRM_ERR_TOOBIG), names
 * up to WEBFORM_MAX_NAME bytes (longer fields are dropped). '+' is a space,
 * %XX is decoded; a malformed escape is kept literally; a decoded NUL
 * drops the field; invalid UTF-8 is replaced by U+FFFD, so every value
 * handed on is a valid C string of valid UTF-8. A repeated name keeps its
 * first value (webform_get_all gives every one).
 */
#ifndef CRMGATE_WEBFORM_H
#define CRMGATE_WEBFORM_H

#include <glib.h>
#include <stdbool.h>

#include "crmgate/result.h"

#define WEBFORM_MAX_FIELDS 256
#define WEBFORM_MAX_NAME 128

typedef struct webform webform;

/* Parses len bytes of s (a query string without '?', or a form body).
   Returns CRM_OK or CRM_ERR_TOOBIG (too many fields; *form_r is NULL). */
crm_result webform_parse(const char *s, gsize len, webform **form_r);
/* An empty form. */
webform *webform_new(void);
/* Adds a field already decoded (a query argument libmicrohttpd parsed):
   the same bounds and UTF-8 repair as webform_parse. False when the form
   is full. */
bool webform_add(webform *f, const char *name, const char *value);
/* The first value of name, or NULL (borrowed). */
const char *webform_get(const webform *f, const char *name);
/* Every value of name, NULL-terminated (borrowed array). */
const char *const *webform_get_all(const webform *f, const char *name);
/* Number of fields. */
guint webform_size(const webform *f);
/* Called by webform_foreach with each name and its first value. */
typedef void (*webform_fn)(const char *name, const char *value, void *data);
/* Calls fn for every distinct name (in no particular order). */
void webform_foreach(const webform *f, webform_fn fn, void *data);
/* Frees *fp and clears the pointer. */
void webform_free(webform **fp);

/* The value of cookie name in a Cookie header value, newly allocated, or
   NULL. Cookie values are taken as they are (no decoding); at most 4096
   bytes. */
char *webform_cookie(const char *header, const char *name);

#endif
