/*
 * webform.c - form, query string and cookie parsing for crmgate-web (see
 * webform.h for the rules and bounds). Fuzzed by tests/fuzz/fuzz_webform.c.
 */
#include "crmgate/webform.h"

#include <string.h>

struct webform {
    GHashTable *fields; /* name -> GPtrArray of char * (NULL-terminated) */
    guint n;
};

webform *webform_new(void)
{
    webform *f = g_new0(webform, 1);
    f->fields = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                      (GDestroyNotify)g_ptr_array_unref);
    return f;
}

void webform_free(webform **fp)
{
    webform *f = *fp;
    if (!f)
        return;
    g_hash_table_destroy(f->fields);
    g_free(f);
    *fp = NULL;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes s[0..len); NULL when it holds a NUL. */
static char *decode(const char *s, gsize len)
{
    GString *out = g_string_sized_new(len);
    for (gsize i = 0; i < len; i++) {
        char c = s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%' && i + 2 < len) {
            int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
            if (h >= 0 && l >= 0) {
                c = (char)(h * 16 + l);
                i += 2;
            }
        }
        if (c == '\0') {
            g_string_free(out, TRUE);
            return NULL;
        }
        g_string_append_c(out, c);
    }
    char *raw = g_string_free(out, FALSE);
    if (g_utf8_validate(raw, -1, NULL))
        return raw;
    char *valid = g_utf8_make_valid(raw, -1);
    g_free(raw);
    return valid;
}

static void add(webform *f, char *name, char *value)
{
    GPtrArray *vals = g_hash_table_lookup(f->fields, name);
    if (!vals) {
        vals = g_ptr_array_new_with_free_func(g_free);
        g_ptr_array_add(vals, NULL);
        g_hash_table_insert(f->fields, name, vals);
    } else {
        g_free(name);
    }
    /* keep the array NULL-terminated */
    vals->pdata[vals->len - 1] = value;
    g_ptr_array_add(vals, NULL);
    f->n++;
}

crm_result webform_parse(const char *s, gsize len, webform **form_r)
{
    webform *f = webform_new();
    const char *p = s, *end = s + len;
    while (p < end) {
        const char *amp = memchr(p, '&', (gsize)(end - p));
        const char *fe = amp ? amp : end;
        if (fe > p) {
            if (f->n >= WEBFORM_MAX_FIELDS) {
                webform_free(&f);
                *form_r = NULL;
                return CRM_ERR_TOOBIG;
            }
            const char *eq = memchr(p, '=', (gsize)(fe - p));
            const char *ne = eq ? eq : fe;
            if ((gsize)(ne - p) <= WEBFORM_MAX_NAME * 3) {
                char *name = decode(p, (gsize)(ne - p));
                char *value =
                    eq ? decode(eq + 1, (gsize)(fe - eq - 1)) : g_strdup("");
                if (name && value && *name &&
                    strlen(name) <= WEBFORM_MAX_NAME) {
                    add(f, name, value);
                } else {
                    g_free(name);
                    g_free(value);
                }
            }
        }
        p = fe + 1;
    }
    *form_r = f;
    return CRM_OK;
}

bool webform_add(webform *f, const char *name, const char *value)
{
    if (f->n >= WEBFORM_MAX_FIELDS)
        return false;
    if (!name || !*name || strlen(name) > WEBFORM_MAX_NAME)
        return true;
    char *n = g_utf8_make_valid(name, -1);
    char *v = g_utf8_make_valid(value ? value : "", -1);
    add(f, n, v);
    return true;
}

const char *webform_get(const webform *f, const char *name)
{
    GPtrArray *vals = f ? g_hash_table_lookup(f->fields, name) : NULL;
    return vals ? g_ptr_array_index(vals, 0) : NULL;
}

const char *const *webform_get_all(const webform *f, const char *name)
{
    static const char *const none[] = {NULL};
    GPtrArray *vals = f ? g_hash_table_lookup(f->fields, name) : NULL;
    return vals ? (const char *const *)vals->pdata : none;
}

guint webform_size(const webform *f)
{
    return f ? f->n : 0;
}

void webform_foreach(const webform *f, webform_fn fn, void *data)
{
    if (!f)
        return;
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, f->fields);
    while (g_hash_table_iter_next(&it, &k, &v))
        fn(k, g_ptr_array_index((GPtrArray *)v, 0), data);
}

char *webform_cookie(const char *header, const char *name)
{
    if (!header || !name)
        return NULL;
    gsize nl = strlen(name);
    const char *p = header;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ';')
            p++;
        const char *e = strchr(p, ';');
        gsize n = e ? (gsize)(e - p) : strlen(p);
        if (n > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
            const char *v = p + nl + 1;
            gsize vl = n - nl - 1;
            while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
                vl--;
            if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
                v++;
                vl -= 2;
            }
            if (vl > 4096 || memchr(v, '\0', vl))
                return NULL;
            return g_strndup(v, vl);
        }
        if (!e)
            break;
        p = e + 1;
    }
    return NULL;
}
