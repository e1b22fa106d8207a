/*
 * test_webform.c - what a browser sends, parsed (core/webform.c): form
 * bodies and query strings ('+', %XX, malformed escapes, %00, repeated
 * names, the field and name bounds, invalid UTF-8) and Cookie headers (odd
 * separators, quotes, prefixes, huge values).
 */
#include <glib.h>
#include <string.h>

#include "crmgate/webform.h"

static webform *parse_ok(const char *s)
{
    webform *f = NULL;
    g_assert_cmpint(webform_parse(s, strlen(s), &f), ==, CRM_OK);
    g_assert_nonnull(f);
    return f;
}

static void test_basic(void)
{
    webform *f = parse_ok("a=1&b=two&empty=&bare");
    g_assert_cmpuint(webform_size(f), ==, 4);
    g_assert_cmpstr(webform_get(f, "a"), ==, "1");
    g_assert_cmpstr(webform_get(f, "b"), ==, "two");
    g_assert_cmpstr(webform_get(f, "empty"), ==, "");
    g_assert_cmpstr(webform_get(f, "bare"), ==, "");
    g_assert_null(webform_get(f, "missing"));
    g_assert_null(webform_get(f, "A")); /* names are case-sensitive */
    webform_free(&f);
    g_assert_null(f);
    webform_free(&f); /* a second free is harmless */

    f = parse_ok("");
    g_assert_cmpuint(webform_size(f), ==, 0);
    webform_free(&f);
    /* empty pairs and a nameless value are skipped */
    f = parse_ok("&&=v&a=1&&=&");
    g_assert_cmpuint(webform_size(f), ==, 1);
    g_assert_cmpstr(webform_get(f, "a"), ==, "1");
    webform_free(&f);
    /* only the first '=' splits */
    f = parse_ok("q=a=b=c");
    g_assert_cmpstr(webform_get(f, "q"), ==, "a=b=c");
    webform_free(&f);
    /* a NULL form answers like an empty one */
    g_assert_null(webform_get(NULL, "a"));
    g_assert_null(webform_get_all(NULL, "a")[0]);
    g_assert_cmpuint(webform_size(NULL), ==, 0);
}

static void test_escapes(void)
{
    webform *f = parse_ok("s=a+b%20c&p=1%2B1&h=%4a%4A%7e&n%61me=v"
                          "&amp=%26%3D&u=caf%C3%A9");
    g_assert_cmpstr(webform_get(f, "s"), ==, "a b c");
    g_assert_cmpstr(webform_get(f, "p"), ==, "1+1");
    g_assert_cmpstr(webform_get(f, "h"), ==, "JJ~");
    g_assert_cmpstr(webform_get(f, "name"), ==, "v"); /* names decode too */
    g_assert_cmpstr(webform_get(f, "amp"), ==, "&=");
    g_assert_cmpstr(webform_get(f, "u"), ==, "caf\xC3\xA9");
    webform_free(&f);
}

/* A malformed escape is kept literally; nothing is read past the end. */
static void test_malformed_escapes(void)
{
    webform *f = parse_ok("a=%zz&b=%4&c=%&d=%%41&e=100%&f=%g1&g=%4");
    g_assert_cmpstr(webform_get(f, "a"), ==, "%zz");
    g_assert_cmpstr(webform_get(f, "b"), ==, "%4");
    g_assert_cmpstr(webform_get(f, "c"), ==, "%");
    g_assert_cmpstr(webform_get(f, "d"), ==, "%A");
    g_assert_cmpstr(webform_get(f, "e"), ==, "100%");
    g_assert_cmpstr(webform_get(f, "f"), ==, "%g1");
    webform_free(&f);
    /* the escape at the very end of the buffer, with the buffer cut short
       (len excludes the rest of the C string) */
    const char *s = "x=%41%42";
    webform *g = NULL;
    g_assert_cmpint(webform_parse(s, 7, &g), ==, CRM_OK);
    g_assert_cmpstr(webform_get(g, "x"), ==, "A%4");
    webform_free(&g);
}

/* A decoded NUL, or a raw one in the bytes, drops the field. */
static void test_nul(void)
{
    webform *f = parse_ok("a=x%00y&b=2&c%00=3&d=%00");
    g_assert_null(webform_get(f, "a"));
    g_assert_null(webform_get(f, "d"));
    g_assert_cmpstr(webform_get(f, "b"), ==, "2");
    g_assert_cmpuint(webform_size(f), ==, 1);
    webform_free(&f);
    static const char raw[] = "a=x\0y&b=2";
    g_assert_cmpint(webform_parse(raw, sizeof(raw) - 1, &f), ==, CRM_OK);
    g_assert_null(webform_get(f, "a"));
    g_assert_cmpstr(webform_get(f, "b"), ==, "2");
    webform_free(&f);
}

static void test_repeated(void)
{
    webform *f = parse_ok("t=1&x=0&t=2&t=3");
    g_assert_cmpstr(webform_get(f, "t"), ==, "1"); /* the first wins */
    const char *const *all = webform_get_all(f, "t");
    g_assert_cmpstr(all[0], ==, "1");
    g_assert_cmpstr(all[1], ==, "2");
    g_assert_cmpstr(all[2], ==, "3");
    g_assert_null(all[3]);
    g_assert_cmpuint(webform_size(f), ==, 4);
    g_assert_null(webform_get_all(f, "none")[0]);
    webform_free(&f);
}

static GString *fields(guint n)
{
    GString *s = g_string_new(NULL);
    for (guint i = 0; i < n; i++)
        g_string_append_printf(s, "%sf%u=%u", i ? "&" : "", i, i);
    return s;
}

static void test_field_bound(void)
{
    GString *s = fields(WEBFORM_MAX_FIELDS);
    webform *f = NULL;
    g_assert_cmpint(webform_parse(s->str, s->len, &f), ==, CRM_OK);
    g_assert_cmpuint(webform_size(f), ==, WEBFORM_MAX_FIELDS);
    g_assert_cmpstr(webform_get(f, "f255"), ==, "255");
    /* full: webform_add refuses */
    g_assert_false(webform_add(f, "one", "more"));
    g_assert_null(webform_get(f, "one"));
    webform_free(&f);
    g_string_free(s, TRUE);

    s = fields(WEBFORM_MAX_FIELDS + 1);
    f = (webform *)&s; /* must be cleared */
    g_assert_cmpint(webform_parse(s->str, s->len, &f), ==, CRM_ERR_TOOBIG);
    g_assert_null(f);
    g_string_free(s, TRUE);

    /* empty pairs do not count towards the bound */
    s = g_string_new(NULL);
    for (guint i = 0; i < 5000; i++)
        g_string_append_c(s, '&');
    g_string_append(s, "a=1");
    g_assert_cmpint(webform_parse(s->str, s->len, &f), ==, CRM_OK);
    g_assert_cmpstr(webform_get(f, "a"), ==, "1");
    webform_free(&f);
    g_string_free(s, TRUE);
}

static void test_name_bound(void)
{
    char *max = g_strnfill(WEBFORM_MAX_NAME, 'n');
    char *over = g_strnfill(WEBFORM_MAX_NAME + 1, 'n');
    GString *s = g_string_new(NULL);
    g_string_append_printf(s, "%s=1&%s=2&ok=3", max, over);
    webform *f = parse_ok(s->str);
    g_assert_cmpstr(webform_get(f, max), ==, "1");
    g_assert_null(webform_get(f, over)); /* dropped, not cut */
    g_assert_cmpstr(webform_get(f, "ok"), ==, "3");
    g_assert_cmpuint(webform_size(f), ==, 2);
    webform_free(&f);
    /* the bound is on the decoded name: 128 escaped bytes are fine */
    g_string_truncate(s, 0);
    for (guint i = 0; i < WEBFORM_MAX_NAME; i++)
        g_string_append(s, "%6E");
    g_string_append(s, "=e");
    f = parse_ok(s->str);
    g_assert_cmpstr(webform_get(f, max), ==, "e");
    webform_free(&f);
    /* a huge value is kept whole (the body bound is the server's) */
    char *big = g_strnfill(100000, 'v');
    g_string_printf(s, "big=%s", big);
    f = parse_ok(s->str);
    g_assert_cmpuint(strlen(webform_get(f, "big")), ==, 100000);
    webform_free(&f);
    /* webform_add: the same name bound, silently skipped */
    f = webform_new();
    g_assert_true(webform_add(f, over, "x"));
    g_assert_true(webform_add(f, "", "x"));
    g_assert_true(webform_add(f, NULL, "x"));
    g_assert_true(webform_add(f, "v", NULL));
    g_assert_cmpuint(webform_size(f), ==, 1);
    g_assert_cmpstr(webform_get(f, "v"), ==, "");
    webform_free(&f);
    g_free(big);
    g_free(max);
    g_free(over);
    g_string_free(s, TRUE);
}

static void test_invalid_utf8(void)
{
    webform *f = parse_ok("a=%ff%fe&b=ok%C3&c=%C0%AF&%FF=name&d=\xff");
    const char *keys[] = {"a", "b", "c", "d"};
    for (guint i = 0; i < G_N_ELEMENTS(keys); i++) {
        const char *v = webform_get(f, keys[i]);
        g_assert_nonnull(v);
        g_assert_true(g_utf8_validate(v, -1, NULL));
        g_assert_nonnull(strstr(v, "\xEF\xBF\xBD")); /* U+FFFD */
    }
    g_assert_cmpstr(webform_get(f, "a"), ==, "\xEF\xBF\xBD\xEF\xBF\xBD");
    g_assert_true(g_str_has_prefix(webform_get(f, "b"), "ok"));
    g_assert_cmpstr(webform_get(f, "\xEF\xBF\xBD"), ==, "name");
    webform_free(&f);
    /* webform_add repairs too */
    f = webform_new();
    g_assert_true(webform_add(f, "n\xff", "v\xc3"));
    g_assert_cmpstr(webform_get(f, "n\xEF\xBF\xBD"), ==, "v\xEF\xBF\xBD");
    webform_free(&f);
}

static void test_cookie(void)
{
    const char *n = "crmgate_session";
    char *v;
#define COOKIE_IS(header, want)                                                \
    do {                                                                       \
        v = webform_cookie(header, n);                                         \
        g_assert_cmpstr(v, ==, want);                                          \
        g_free(v);                                                             \
    } while (0)
    COOKIE_IS("crmgate_session=abc", "abc");
    COOKIE_IS("a=1; crmgate_session=abc; b=2", "abc");
    COOKIE_IS("a=1;crmgate_session=abc;b=2", "abc");
    COOKIE_IS(";;\t ;crmgate_session=abc \t;;", "abc");
    COOKIE_IS("crmgate_session=\"quoted\"", "quoted");
    COOKIE_IS("crmgate_session=\"", "\"");   /* a lone quote: kept */
    COOKIE_IS("crmgate_session=\"\"", "");   /* empty quoted */
    COOKIE_IS("crmgate_session=a=b", "a=b"); /* '=' in the value */
    COOKIE_IS("crmgate_session=", "");       /* empty value */
    COOKIE_IS("crmgate_session=first; crmgate_session=second", "first");
    COOKIE_IS("xcrmgate_session=1; crmgate_session=2", "2");
    COOKIE_IS("crmgate_sessionx=1", NULL); /* a longer name */
    COOKIE_IS("crmgate_session", NULL);    /* no '=' */
    COOKIE_IS("crmgate_session ; =x", NULL);
    COOKIE_IS(";;;=;crmgate_session", NULL);
    COOKIE_IS("CRMGATE_SESSION=x", NULL); /* names are exact */
    COOKIE_IS("", NULL);
    COOKIE_IS(";", NULL);
    COOKIE_IS("crmgate_session=a b", "a b"); /* taken as it is */
    COOKIE_IS("crmgate_session=%41", "%41"); /* no decoding */
    g_assert_null(webform_cookie(NULL, n));
    g_assert_null(webform_cookie("a=1", NULL));

    /* the value bound: 4096 bytes pass, more do not */
    GString *h = g_string_new("other=1; crmgate_session=");
    char *max = g_strnfill(4096, 'A');
    g_string_append(h, max);
    COOKIE_IS(h->str, max);
    g_string_append(h, "A; next=1");
    COOKIE_IS(h->str, NULL);
    /* a huge header whose other cookies are big does not hide ours */
    g_string_truncate(h, 0);
    for (guint i = 0; i < 200; i++)
        g_string_append_printf(h, "c%u=%s; ", i, "xxxxxxxxxxxxxxxxxxxxxxxx");
    g_string_append(h, "crmgate_session=late");
    COOKIE_IS(h->str, "late");
    g_free(max);
    g_string_free(h, TRUE);
#undef COOKIE_IS
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/webform/basic", test_basic);
    g_test_add_func("/webform/escapes", test_escapes);
    g_test_add_func("/webform/malformed-escapes", test_malformed_escapes);
    g_test_add_func("/webform/nul", test_nul);
    g_test_add_func("/webform/repeated", test_repeated);
    g_test_add_func("/webform/field-bound", test_field_bound);
    g_test_add_func("/webform/name-bound", test_name_bound);
    g_test_add_func("/webform/invalid-utf8", test_invalid_utf8);
    g_test_add_func("/webform/cookie", test_cookie);
    return g_test_run();
}
