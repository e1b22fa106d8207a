/*
 * test_reports.c - the parts of the reports that need no database: the
 * table (names, columns, charts), the CSV writer (libcsv quoting, numbers,
 * null) and the cell text.
 */
#include <glib.h>
#include <jansson.h>
#include <string.h>

#include "crmgate/reports.h"

static void test_table(void)
{
    static const char *const names[] = {
        "income",        "sales",          "funnel",          "requests",
        "lead-sources",  "conversion",     "closing-reasons", "deals",
        "mail-activity", "first-response", "unresolved",      "campaigns",
        "calls"};
    gsize n = 0;
    while (reports_nth(n))
        n++;
    g_assert_cmpuint(n, ==, G_N_ELEMENTS(names));
    for (gsize i = 0; i < G_N_ELEMENTS(names); i++) {
        const reports_def *d = reports_find(names[i]);
        g_assert_nonnull(d);
        g_assert_cmpstr(d->name, ==, names[i]);
        /* the chart's label and series are columns of the report */
        bool label = false;
        for (const char *const *c = d->columns; *c; c++)
            label = label || strcmp(*c, d->chart_label) == 0;
        g_assert_true(label);
        for (const char *const *s = d->chart_series; s && *s; s++) {
            bool found = false;
            for (const char *const *c = d->columns; *c; c++)
                found = found || strcmp(*c, *s) == 0;
            g_assert_true(found);
        }
    }
    g_assert_null(reports_find("nope"));
    g_assert_null(reports_find(NULL));
    g_assert_null(reports_find(""));
}

static void test_csv(void)
{
    json_t *rep = json_pack("{s:s,s:[s,s,s],s:[{s:s,s:i,s:f},{s:s,s:n,s:f}]}",
                            "report", "x", "columns", "name", "n", "amount",
                            "rows", "name", "a \"quoted\", comma\nline", "n", 3,
                            "amount", 12.5, "name", "", "n", "amount", 1200.0);
    GString *out = g_string_new(NULL);
    reports_csv(rep, out);
    g_assert_cmpstr(out->str, ==,
                    "\"name\",\"n\",\"amount\"\r\n"
                    "\"a \"\"quoted\"\", comma\nline\",\"3\",\"12.5\"\r\n"
                    ",,\"1200\"\r\n");
    g_string_free(out, TRUE);
    json_decref(rep);
}

static void test_cell_text(void)
{
    GString *out = g_string_new(NULL);
    json_t *v = json_real(0.1);
    reports_cell_text(out, v);
    g_assert_cmpstr(out->str, ==, "0.1");
    json_decref(v);
    g_string_truncate(out, 0);
    v = json_integer(-42);
    reports_cell_text(out, v);
    g_assert_cmpstr(out->str, ==, "-42");
    json_decref(v);
    g_string_truncate(out, 0);
    reports_cell_text(out, NULL);
    g_assert_cmpstr(out->str, ==, "");
    g_string_free(out, TRUE);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/reports/table", test_table);
    g_test_add_func("/reports/csv", test_csv);
    g_test_add_func("/reports/cell-text", test_cell_text);
    return g_test_run();
}
