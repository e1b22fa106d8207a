/*
 * test_svgchart.c - the SVG charts of the report pages: every kind parses
 * as XML (libxml2), hostile labels and titles come out escaped, empty data,
 * zero and negative values, one bar, many bars, the label bound.
 */
#include <glib.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <math.h>
#include <string.h>

#include "crmgate/svgchart.h"

static const char hostile[] = "<script>alert(1)</script> & \"q\" 'a'";

/* Parses out as XML; returns the document (the caller frees it). */
static xmlDocPtr parse(const GString *out)
{
    xmlDocPtr doc = xmlReadMemory(out->str, (int)out->len, "chart.svg", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR |
                                      XML_PARSE_NOWARNING);
    g_assert_nonnull(doc);
    xmlNodePtr root = xmlDocGetRootElement(doc);
    g_assert_cmpstr((const char *)root->name, ==, "svg");
    xmlChar *cls = xmlGetProp(root, (const xmlChar *)"class");
    g_assert_cmpstr((const char *)cls, ==, "chart");
    xmlFree(cls);
    xmlChar *role = xmlGetProp(root, (const xmlChar *)"role");
    g_assert_cmpstr((const char *)role, ==, "img");
    xmlFree(role);
    return doc;
}

/* Counts elements called name under node. */
static guint count(xmlNodePtr node, const char *name)
{
    guint n = 0;
    for (xmlNodePtr c = node; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE &&
            strcmp((const char *)c->name, name) == 0)
            n++;
        n += count(c->children, name);
    }
    return n;
}

static void test_hostile_labels(void)
{
    static const svgchart_kind kinds[] = {SVGCHART_BAR, SVGCHART_LINE,
                                          SVGCHART_HBAR};
    const char *labels[] = {hostile, "ok"};
    const double v[] = {3, 4};
    svgchart_series s = {hostile, v};
    for (gsize k = 0; k < G_N_ELEMENTS(kinds); k++) {
        GString *out = g_string_new(NULL);
        svgchart_render(out, kinds[k], hostile, labels, 2, &s, 1);
        g_assert_null(strstr(out->str, "<script"));
        g_assert_nonnull(strstr(out->str, "&lt;script&gt;"));
        g_assert_nonnull(strstr(out->str, "aria-label=\"&lt;script&gt;"));
        xmlDocPtr doc = parse(out);
        xmlNodePtr root = xmlDocGetRootElement(doc);
        g_assert_cmpuint(count(root->children, "script"), ==, 0);
        /* the title element holds the text itself, decoded */
        xmlChar *aria = xmlGetProp(root, (const xmlChar *)"aria-label");
        g_assert_cmpstr((const char *)aria, ==, hostile);
        xmlFree(aria);
        xmlFreeDoc(doc);
        g_string_free(out, TRUE);
    }
}

static void test_empty(void)
{
    GString *out = g_string_new(NULL);
    svgchart_render(out, SVGCHART_BAR, "Empty", NULL, 0, NULL, 0);
    g_assert_nonnull(strstr(out->str, "No data"));
    xmlFreeDoc(parse(out));
    g_string_truncate(out, 0);
    const char *labels[] = {"a"};
    svgchart_render(out, SVGCHART_LINE, "No series", labels, 1, NULL, 0);
    g_assert_nonnull(strstr(out->str, "No data"));
    xmlFreeDoc(parse(out));
    g_string_free(out, TRUE);
}

static void test_zero_negative(void)
{
    const char *labels[] = {"a", "b", "c"};
    const double v[] = {0, -5, 2.5};
    const double w[] = {0, 0, NAN};
    svgchart_series s[] = {{"one", v}, {"zero", w}};
    GString *out = g_string_new(NULL);
    svgchart_render(out, SVGCHART_BAR, "Signs", labels, 3, s, 2);
    xmlDocPtr doc = parse(out);
    /* 3 labels x 2 series bars, plus 2 legend swatches */
    g_assert_cmpuint(count(xmlDocGetRootElement(doc)->children, "rect"), ==, 8);
    g_assert_nonnull(strstr(out->str, ">-5</text>"));
    g_assert_nonnull(strstr(out->str, ">2.5</text>"));
    g_assert_null(strstr(out->str, "nan"));
    g_assert_null(strstr(out->str, "-0<"));
    /* no negative heights or widths */
    g_assert_null(strstr(out->str, "height=\"-"));
    g_assert_null(strstr(out->str, "width=\"-"));
    xmlFreeDoc(doc);
    g_string_truncate(out, 0);
    const double zeros[] = {0, 0, 0};
    svgchart_series z = {"z", zeros};
    svgchart_render(out, SVGCHART_HBAR, "Zeros", labels, 3, &z, 1);
    xmlFreeDoc(parse(out));
    g_assert_null(strstr(out->str, "height=\"-"));
    g_assert_null(strstr(out->str, "width=\"-"));
    g_string_free(out, TRUE);
}

static void test_one_bar(void)
{
    const char *labels[] = {"only"};
    const double v[] = {42};
    svgchart_series s = {"n", v};
    GString *out = g_string_new(NULL);
    svgchart_render(out, SVGCHART_BAR, "One", labels, 1, &s, 1);
    xmlDocPtr doc = parse(out);
    g_assert_cmpuint(count(xmlDocGetRootElement(doc)->children, "rect"), ==, 2);
    g_assert_nonnull(strstr(out->str, ">42</text>"));
    g_assert_nonnull(strstr(out->str, ">only</text>"));
    xmlFreeDoc(doc);
    g_string_free(out, TRUE);
}

static void test_many_bars(void)
{
    enum { N = SVGCHART_MAX_LABELS + 50 };
    char **labels = g_new0(char *, N + 1);
    double *v = g_new(double, N);
    for (int i = 0; i < N; i++) {
        labels[i] = g_strdup_printf("label number %d with a long tail", i);
        v[i] = i * 1.5;
    }
    svgchart_series s = {"n", v};
    GString *out = g_string_new(NULL);
    svgchart_render(out, SVGCHART_BAR, "Many", (const char *const *)labels, N,
                    &s, 1);
    xmlDocPtr doc = parse(out);
    g_assert_cmpuint(count(xmlDocGetRootElement(doc)->children, "rect"), ==,
                     SVGCHART_MAX_LABELS + 1);
    g_assert_nonnull(strstr(out->str, "the first 200 of 250 points shown"));
    xmlFreeDoc(doc);
    g_string_truncate(out, 0);
    svgchart_render(out, SVGCHART_LINE, "Many lines",
                    (const char *const *)labels, 60, &s, 1);
    doc = parse(out);
    g_assert_cmpuint(count(xmlDocGetRootElement(doc)->children, "circle"), ==,
                     60);
    g_assert_cmpuint(count(xmlDocGetRootElement(doc)->children, "polyline"), ==,
                     1);
    xmlFreeDoc(doc);
    g_string_free(out, TRUE);
    g_strfreev(labels);
    g_free(v);
}

/* A label cut in the middle of a multibyte character would not be UTF-8. */
static void test_long_utf8_label(void)
{
    const char *labels[] = {"ééééééééééééééééééééééééééééééééééééé"};
    const double v[] = {1};
    svgchart_series s = {"ü", v};
    GString *out = g_string_new(NULL);
    svgchart_render(out, SVGCHART_HBAR, "UTF-8", labels, 1, &s, 1);
    g_assert_true(g_utf8_validate(out->str, (gssize)out->len, NULL));
    xmlFreeDoc(parse(out));
    g_string_free(out, TRUE);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/svgchart/hostile-labels", test_hostile_labels);
    g_test_add_func("/svgchart/empty", test_empty);
    g_test_add_func("/svgchart/zero-negative", test_zero_negative);
    g_test_add_func("/svgchart/one-bar", test_one_bar);
    g_test_add_func("/svgchart/many-bars", test_many_bars);
    g_test_add_func("/svgchart/long-utf8-label", test_long_utf8_label);
    int rc = g_test_run();
    xmlCleanupParser();
    return rc;
}
