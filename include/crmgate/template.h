/*
 * template.h - compiled campaign templates (subject, text and HTML bodies).
 *
 * Syntax: literal text with tags {{name}}, {{ name }} (spaces and tabs
 * around the name are ignored) and {{name|fallback text}} (the fallback,
 * trimmed of spaces and tabs at both ends, is used when the value is
 * missing or empty; it may hold spaces and newlines, never "}}"). A lone
 * '{' or "}}" outside a tag is literal text. Names are the fixed set of
 * template_is_known_variable. Compile errors (unknown variable, empty
 * name, "{{" without "}}", a template over TEMPLATE_MAX_BYTES, invalid
 * UTF-8 or a NUL byte) read "line L, column C: what" with L and C counted
 * from 1, C in characters, pointing at the "{{" of the faulty tag (or the
 * bad byte).
 */
#ifndef CRMGATE_TEMPLATE_H
#define CRMGATE_TEMPLATE_H

#include <glib.h>
#include <stdbool.h>

#define TEMPLATE_MAX_BYTES (1024 * 1024)

typedef struct template template;

/* Compiles len bytes of text; NULL and *error_r (g_free it; error_r may
   be NULL) on error. */
template *template_compile(const char *text, gsize len, char **error_r);
/* Frees *tp and clears it (NULL is harmless). */
void template_free(template **tp);
/* Looks up a variable's value; return NULL or "" when missing. */
typedef const char *(*template_lookup)(const char *name, gpointer user_data);
/* Appends the rendering to out. html: values and fallbacks HTML-escaped
   (& < > " '); literal text is copied as it is either way. Values that
   are not valid UTF-8 are repaired (U+FFFD). view_date, when the lookup
   has no value, is today's date (UTC, YYYY-MM-DD). */
void template_render(const template *t, template_lookup lookup,
                     gpointer user_data, bool html, GString *out);
/* The variables a template uses, each once, in order of first use
   (borrowed, NULL-terminated), to fetch only those. */
const char *const *template_variables(const template *t);
/* True when name is one of the variables templates may use. */
bool template_is_known_variable(const char *name);
/* The known variables (borrowed, NULL-terminated). */
const char *const *template_known_variables(void);

#endif
