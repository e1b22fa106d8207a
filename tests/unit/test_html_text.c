/*
 * test_html_text.c - HTML to readable text (core/html_text.c): blocks,
 * lists, links, entities, whitespace, bounds, and hostile input.
 */
#include "crmgate/html_text.h"
#include "crmgate/message.h"

#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char *html(const char *in, gsize max, bool *cut)
{
    return html_text_convert(in, strlen(in), max, cut);
}

static void test_html_text(void)
{
    bool cut = true;
    g_autofree char *t1 =
        html("<html><head><title>Title</title><style>.x{}</style></head><body>"
             "<script>var a = 1;</script>"
             "<h1>Hello&nbsp;&amp;   welcome</h1>"
             "<p>First   line<br>second\nline</p>"
             "<ul><li>one</li><li>two <b>bold</b></li></ul>"
             "<p><a href=\"https://example.com\">https://example.com</a> and "
             "<a href=\"mailto:x@example.com\">x@example.com</a> and "
             "<a href=\"https://example.com/p?q=1&amp;r=2\">click</a></p>"
             "<table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr></table>"
             "<pre>  keep   this\n  spacing</pre>"
             "<p>&lt;tag&gt; &eacute; &#x263A;</p>"
             "</body></html>",
             1000, &cut);
    g_assert_false(cut);
    g_assert_cmpstr(t1, ==,
                    "Hello & welcome\n\n"
                    "First line\nsecond line\n\n"
                    "- one\n- two bold\n\n"
                    "https://example.com and x@example.com and click "
                    "<https://example.com/p?q=1&r=2>\n\n"
                    "a b\nc\n\n"
                    "  keep   this\n  spacing\n\n"
                    "<tag> é ☺");

    g_autofree char *t2 =
        html("<p>a</p><p></p><p></p><br><br><br><p>b</p>", 100, NULL);
    g_assert_cmpstr(t2, ==, "a\n\nb");

    g_autofree char *t3 = html("<p>plain", 100, NULL);
    g_assert_cmpstr(t3, ==, "plain");

    g_autofree char *t4 = html("", 100, &cut);
    g_assert_cmpstr(t4, ==, "");

    /* cut on a character boundary */
    g_autofree char *t5 = html("<p>ééééé</p>", 5, &cut);
    g_assert_true(cut);
    g_assert_cmpstr(t5, ==, "éé");

    g_autofree char *t6 =
        html("<ul><li>a<ul><li>b</li></ul></li></ul>", 100, NULL);
    g_assert_cmpstr(t6, ==, "- a\n  - b");

    g_autofree char *t7 = html(
        "<p>x<img src=\"cid:1\" alt=\"Logo\">y</p><img alt=\"\">", 100, NULL);
    g_assert_cmpstr(t7, ==, "x Logo y");

    /* invalid UTF-8 and NUL-free garbage */
    static const char bad[] = "<p>\xff\xfe caf\xc3\xa9 \xc3</p>";
    g_autofree char *t8 = html_text_convert(bad, sizeof(bad) - 1, 100, NULL);
    g_assert_true(g_utf8_validate(t8, -1, NULL));
    g_assert_nonnull(strstr(t8, "caf\xc3\xa9")); /* the valid text kept */
}

static void test_html_hostile(void)
{
    GString *s = g_string_new(NULL);
    for (int i = 0; i < 100000; i++)
        g_string_append(s, "<div><span>");
    g_string_append(s, "deep");
    bool cut = false;
    char *t = html_text_convert(s->str, s->len, 1000, &cut);
    g_assert_true(g_utf8_validate(t, -1, NULL));
    g_assert_cmpuint(strlen(t), <=, 1000);
    /* The text under 100,000 nested elements is kept: past libxml2's
       nesting limit the document is read again without its tags.
       (Validating UTF-8 was the whole check, and "" passes it.) */
    g_assert_nonnull(strstr(t, "deep"));
    g_assert_false(cut);
    g_free(t);
    g_string_free(s, TRUE);

    s = g_string_new(NULL);
    for (int i = 0; i < 50000; i++)
        g_string_append(s, "<p>word &amp; <a href=\"http://x/\">l</a>");
    t = html_text_convert(s->str, s->len, 4096, &cut);
    g_assert_true(cut);
    g_assert_cmpuint(strlen(t), <=, 4096);
    g_free(t);
    g_string_free(s, TRUE);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/html_text/render", test_html_text);
    g_test_add_func("/html_text/hostile", test_html_hostile);
    return g_test_run();
}
