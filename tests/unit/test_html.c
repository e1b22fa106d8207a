/*
 * test_html.c - the one HTML escaper (core/html.c): the five specials,
 * control characters, invalid UTF-8, html_printf's formats and URL
 * encoding.
 */
#include <glib.h>
#include <string.h>

#include "crmgate/html.h"

static char *esc(const char *s)
{
    return html_escape_dup(s);
}

#define ESC_IS(in, want)                                                       \
    do {                                                                       \
        char *got_ = esc(in);                                                  \
        g_assert_cmpstr(got_, ==, want);                                       \
        g_assert_true(g_utf8_validate(got_, -1, NULL));                        \
        g_free(got_);                                                          \
    } while (0)

static void test_specials(void)
{
    ESC_IS("<>&\"'", "&lt;&gt;&amp;&quot;&#39;");
    ESC_IS("<script>alert(1)</script>",
           "&lt;script&gt;alert(1)&lt;/script&gt;");
    ESC_IS("\" onmouseover=\"x", "&quot; onmouseover=&quot;x");
    ESC_IS("&amp;", "&amp;amp;"); /* escaping twice shows the entity */
    ESC_IS("plain text 123", "plain text 123");
    ESC_IS("", "");
    char *n = html_escape_dup(NULL);
    g_assert_cmpstr(n, ==, "");
    g_free(n);
    GString *out = g_string_new("keep");
    html_escape(out, NULL);
    g_assert_cmpstr(out->str, ==, "keep");
    g_string_free(out, TRUE);
}

static void test_controls(void)
{
    ESC_IS("a\tb\nc", "a\tb\nc"); /* tab and newline stay */
    ESC_IS("a\x01"
           "b\rc\x1b[31md\x7f"
           "e",
           "abc[31mde");
    ESC_IS("c1\xC2\x85|\xC2\x9F|\xC2\xA0", "c1||\xC2\xA0"); /* U+0085, U+009F
                                                               dropped; NBSP
                                                               kept */
    ESC_IS("caf\xC3\xA9 \xE2\x9C\x93 \xF0\x9F\x98\x80",
           "caf\xC3\xA9 \xE2\x9C\x93 \xF0\x9F\x98\x80");
}

static void test_invalid_utf8(void)
{
    ESC_IS("a\xFF"
           "b",
           "a\xEF\xBF\xBD"
           "b");
    ESC_IS("end\xC3", "end\xEF\xBF\xBD"); /* cut sequence at the end */
    ESC_IS("\xC0\xAF", "\xEF\xBF\xBD\xEF\xBF\xBD"); /* overlong '/' */
    ESC_IS("\xED\xA0\x80",
           "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");      /* UTF-16
                                                             surrogate */
    ESC_IS("\xE2\x9C<", "\xEF\xBF\xBD\xEF\xBF\xBD&lt;"); /* a cut sequence
                                                            cannot eat the
                                                            '<' after it */
    /* html_escape_len: only len bytes, a NUL inside never passes through */
    GString *out = g_string_new(NULL);
    html_escape_len(out, "ab<cd", 3);
    g_assert_cmpstr(out->str, ==, "ab&lt;");
    g_string_truncate(out, 0);
    html_escape_len(out, "a\0<b", 4);
    g_assert_cmpuint(out->len, ==, strlen(out->str));
    g_assert_nonnull(strstr(out->str, "&lt;b"));
    g_assert_true(g_utf8_validate(out->str, -1, NULL));
    g_string_truncate(out, 0);
    html_escape_len(out, NULL, 5);
    g_assert_cmpuint(out->len, ==, 0);
    /* a cut multi-byte character at the end of len */
    html_escape_len(out, "\xC3\xA9", 1);
    g_assert_cmpstr(out->str, ==, "\xEF\xBF\xBD");
    g_string_free(out, TRUE);
}

static void test_printf(void)
{
    GString *out = g_string_new(NULL);
    html_printf(out, "<a href=\"/x/%s\">%s</a>", "\"><script>", "<b>");
    g_assert_cmpstr(out->str, ==,
                    "<a href=\"/x/&quot;&gt;&lt;script&gt;\">&lt;b&gt;</a>");
    g_string_truncate(out, 0);
    html_printf(out, "%d|%i|%u|%ld|%lld|%%|%.2f|%.0f", -5, 7, 4000000000u,
                (long)-1234567890123, (long long)9000000000000000000LL, 3.14159,
                2.5);
    g_assert_cmpstr(out->str, ==,
                    "-5|7|4000000000|-1234567890123|9000000000000000000|%|"
                    "3.14|2");
    g_string_truncate(out, 0);
    const char *volatile none = NULL; /* hidden from -Wformat-overflow */
    html_printf(out, "[%s]", none);
    g_assert_cmpstr(out->str, ==, "[]");
    g_string_truncate(out, 0);
    html_printf(out, "no conversions");
    g_assert_cmpstr(out->str, ==, "no conversions");
    g_string_truncate(out, 0);
    html_printf(out, "%s%s", "&", "\xFF");
    g_assert_cmpstr(out->str, ==, "&amp;\xEF\xBF\xBD");
    g_string_truncate(out, 0);
    html_printf(out, "%" G_GINT64_FORMAT, (gint64)G_MININT64);
    g_assert_cmpstr(out->str, ==, "-9223372036854775808");
    g_string_free(out, TRUE);
}

/* An unsupported conversion is a programming error: it aborts. */
static void test_printf_unsupported(void)
{
    if (g_test_subprocess()) {
        GString *out = g_string_new(NULL);
        html_printf(out, "%x", 255u);
        g_string_free(out, TRUE);
        return;
    }
    g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*unsupported conversion*");
}

static void test_url_encode(void)
{
    GString *out = g_string_new(NULL);
    html_url_encode(out, "a b&c=d/e?f#g%h+i");
    g_assert_cmpstr(out->str, ==, "a%20b%26c%3Dd%2Fe%3Ff%23g%25h%2Bi");
    g_string_truncate(out, 0);
    html_url_encode(out, "AZaz09-._~");
    g_assert_cmpstr(out->str, ==, "AZaz09-._~");
    g_string_truncate(out, 0);
    html_url_encode(out, "caf\xC3\xA9<\"'>");
    g_assert_cmpstr(out->str, ==, "caf%C3%A9%3C%22%27%3E");
    g_string_truncate(out, 0);
    html_url_encode(out, NULL);
    g_assert_cmpuint(out->len, ==, 0);
    g_string_free(out, TRUE);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/html/specials", test_specials);
    g_test_add_func("/html/controls", test_controls);
    g_test_add_func("/html/invalid-utf8", test_invalid_utf8);
    g_test_add_func("/html/printf", test_printf);
    g_test_add_func("/html/printf-unsupported", test_printf_unsupported);
    g_test_add_func("/html/url-encode", test_url_encode);
    return g_test_run();
}
