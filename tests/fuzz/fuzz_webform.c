/*
 * fuzz_webform.c - libFuzzer target for what a browser sends to
 * crmgate-web (core/webform.c): form bodies and query strings
 * (webform_parse) and Cookie headers (webform_cookie).
 *
 * Forms: the input is parsed whole and compared with a small model of the
 * rules in webform.h written here ('+' is a space, %XX decoded, a
 * malformed escape kept, a decoded NUL drops the field, invalid UTF-8
 * becomes U+FFFD, names 1..WEBFORM_MAX_NAME bytes, at most
 * WEBFORM_MAX_FIELDS fields else CRM_ERR_TOOBIG and no form). Besides
 * agreeing with the model field for field, every name and value must be
 * valid UTF-8 with no NUL, and webform_get must be webform_get_all's first.
 *
 * Cookies: the input up to its first NUL (as a header reaches us) is
 * searched for fixed names and for the first names the header itself
 * uses; a value found is at most 4096 bytes, has no ';', and is a piece
 * of the header (taken as it is).
 */
#include "crmgate/webform.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The model's decoding of s[0..len): NULL when it yields a NUL. */
static char *model_decode(const char *s, gsize len)
{
    GString *out = g_string_new(NULL);
    for (gsize i = 0; i < len; i++) {
        char c = s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%' && len - i >= 3 && hex(s[i + 1]) >= 0 &&
                   hex(s[i + 2]) >= 0) {
            c = (char)(hex(s[i + 1]) * 16 + hex(s[i + 2]));
            i += 2;
        }
        if (c == '\0') {
            g_string_free(out, TRUE);
            return NULL;
        }
        g_string_append_c(out, c);
    }
    char *valid = g_utf8_make_valid(out->str, (gssize)out->len);
    g_string_free(out, TRUE);
    return valid;
}

static void free_values(gpointer p)
{
    g_ptr_array_unref(p);
}

/* The model: name -> GPtrArray of values; *n_r fields; false when the
   form has too many fields. */
static gboolean model_parse(const char *s, gsize len, GHashTable *fields,
                            guint *n_r)
{
    guint n = 0;
    gsize start = 0;
    for (gsize i = 0; i <= len; i++) {
        if (i != len && s[i] != '&')
            continue;
        const char *p = s + start;
        gsize pl = i - start;
        start = i + 1;
        if (pl == 0)
            continue;
        if (n >= WEBFORM_MAX_FIELDS)
            return FALSE;
        const char *eq = memchr(p, '=', pl);
        gsize nl = eq ? (gsize)(eq - p) : pl;
        char *name = model_decode(p, nl);
        char *value = eq ? model_decode(eq + 1, pl - nl - 1) : g_strdup("");
        if (name && value && *name && strlen(name) <= WEBFORM_MAX_NAME) {
            GPtrArray *vals = g_hash_table_lookup(fields, name);
            if (!vals) {
                vals = g_ptr_array_new_with_free_func(g_free);
                g_hash_table_insert(fields, g_strdup(name), vals);
            }
            g_ptr_array_add(vals, value);
            value = NULL;
            n++;
        }
        g_free(name);
        g_free(value);
    }
    *n_r = n;
    return TRUE;
}

static void check_form(const char *s, gsize len)
{
    GHashTable *model =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, free_values);
    guint model_n = 0;
    gboolean fits = model_parse(s, len, model, &model_n);

    webform *f = (webform *)&model; /* must be set either way */
    crm_result r = webform_parse(s, len, &f);
    if (!fits) {
        if (r != CRM_ERR_TOOBIG || f != NULL)
            abort();
        g_hash_table_destroy(model);
        return;
    }
    if (r != CRM_OK || f == NULL)
        abort();
    if (webform_size(f) != model_n || model_n > WEBFORM_MAX_FIELDS)
        abort();
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, model);
    while (g_hash_table_iter_next(&it, &k, &v)) {
        const char *name = k;
        GPtrArray *want = v;
        if (!*name || strlen(name) > WEBFORM_MAX_NAME ||
            !g_utf8_validate(name, -1, NULL))
            abort();
        const char *const *got = webform_get_all(f, name);
        const char *first = webform_get(f, name);
        if (!first || !got[0] || strcmp(first, got[0]) != 0)
            abort();
        guint i = 0;
        for (; got[i]; i++) {
            if (i >= want->len)
                abort();
            if (!g_utf8_validate(got[i], -1, NULL))
                abort();
            if (strcmp(got[i], g_ptr_array_index(want, i)) != 0)
                abort();
        }
        if (i != want->len)
            abort();
    }
    webform_free(&f);
    if (f != NULL)
        abort();
    g_hash_table_destroy(model);
}

static void check_cookie(const char *header, const char *name)
{
    char *v = webform_cookie(header, name);
    if (!v)
        return;
    if (strlen(v) > 4096 || strchr(v, ';'))
        abort();
    if (!strstr(header, v)) /* taken as it is: a piece of the header */
        abort();
    g_free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    check_form(s, size);

    char *header = g_strndup(s, size); /* up to the first NUL */
    static const char *const fixed[] = {"crmgate_session", "crmgate_csrf", "a",
                                        "="};
    for (guint i = 0; i < G_N_ELEMENTS(fixed); i++)
        check_cookie(header, fixed[i]);
    /* the first few names the header itself uses */
    const char *p = header;
    for (guint tried = 0; *p && tried < 4; tried++) {
        while (*p == ' ' || *p == '\t' || *p == ';')
            p++;
        const char *eq = strchr(p, '=');
        const char *semi = strchr(p, ';');
        if (!eq || (semi && semi < eq))
            break;
        char *name = g_strndup(p, (gsize)(eq - p));
        if (*name)
            check_cookie(header, name);
        g_free(name);
        if (!semi)
            break;
        p = semi + 1;
    }
    g_free(header);
    return 0;
}
