/*
 * fuzz_template.c - libFuzzer target for campaign templates
 * (core/template.c): the input is compiled whole; a template that compiles
 * is rendered in text and HTML mode with a fixed lookup whose values are
 * hostile (markup, quotes, invalid UTF-8, empty).
 *
 * Checked: compile either gives a template and no error, or no template
 * and an error starting "line "; every variable listed is known and
 * listed once; both renderings are valid UTF-8; the HTML rendering holds
 * no '<', '>' or '"' that the input did not hold (values and fallbacks are
 * escaped); an input without "{{" renders as itself in text mode.
 */
#include "crmgate/template.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *lookup(const char *name, gpointer user_data)
{
    (void)user_data;
    if (strcmp(name, "first_name") == 0)
        return "</p><script>alert(\"x\")</script>";
    if (strcmp(name, "company") == 0)
        return "A & B 'q'";
    if (strcmp(name, "city") == 0)
        return "bad \xff\xfe \xc3";
    if (strcmp(name, "email") == 0)
        return "";
    if (strcmp(name, "title") == 0)
        return NULL;
    return name;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    char *err = NULL;
    template *t = template_compile(s, size, &err);
    if (t == NULL) {
        if (err == NULL || strncmp(err, "line ", 5) != 0)
            abort();
        g_free(err);
        return 0;
    }
    if (err != NULL)
        abort();
    const char *const *vars = template_variables(t);
    for (guint i = 0; vars[i] != NULL; i++) {
        if (!template_is_known_variable(vars[i]))
            abort();
        for (guint j = 0; j < i; j++)
            if (strcmp(vars[i], vars[j]) == 0)
                abort();
    }
    GString *text = g_string_new(NULL);
    GString *html = g_string_new(NULL);
    template_render(t, lookup, NULL, false, text);
    template_render(t, lookup, NULL, true, html);
    if (!g_utf8_validate(text->str, (gssize)text->len, NULL) ||
        !g_utf8_validate(html->str, (gssize)html->len, NULL))
        abort();
    static const char markup[] = "<>\"";
    for (const char *m = markup; *m; m++)
        if (memchr(html->str, *m, html->len) != NULL &&
            memchr(s, *m, size) == NULL)
            abort();
    if (memmem(s, size, "{{", 2) == NULL &&
        (text->len != size || memcmp(text->str, s, size) != 0))
        abort();
    g_string_free(text, TRUE);
    g_string_free(html, TRUE);
    template_free(&t);
    if (t != NULL)
        abort();
    return 0;
}
