/*
 * test_views.c - the parts of core/views.c that decide before any SQL:
 * record types, download file names, search text bounds, and the edits'
 * input checks (all answered without a database: db is NULL).
 */
#include <glib.h>
#include <jansson.h>
#include <string.h>

#include "crmgate/views.h"

static void test_record_type(void)
{
    g_assert_true(views_record_type("contact"));
    g_assert_true(views_record_type("request"));
    g_assert_false(views_record_type("contacts"));
    g_assert_false(views_record_type("user"));
    g_assert_false(views_record_type(""));
    g_assert_false(views_record_type(NULL));
}

static void test_safe_filename(void)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"report.pdf", "report.pdf"},
        {"../../etc/passwd", "passwd"},
        {"C:\\Users\\x\\evil.exe", "evil.exe"},
        {"a\"b'c;d%e.txt", "a_b_c_d_e.txt"},
        {"x\r\nSet-Cookie: a=b", "x__Set-Cookie: a=b"},
        {".htaccess", "htaccess"},
        {"...", "attachment"},
        {"", "attachment"},
        {NULL, "attachment"},
        {"d/", "attachment"},
        {"r\xc3\xa9sum\xc3\xa9.doc", "r__sum__.doc"},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *s = views_safe_filename(cases[i].in);
        g_assert_cmpstr(s, ==, cases[i].out);
    }
    GString *big = g_string_new(NULL);
    for (int i = 0; i < 500; i++)
        g_string_append_c(big, 'a');
    g_autofree char *s = views_safe_filename(big->str);
    g_assert_cmpuint(strlen(s), ==, 100);
    g_string_free(big, TRUE);
}

static void test_search_bounds(void)
{
    views_viewer v = {.db = NULL, .id = 1, .role = "manager"};
    json_t *out = NULL;
    char *err = NULL;
    GString *q = g_string_new(NULL);
    for (int i = 0; i <= VIEWS_SEARCH_MAX; i++)
        g_string_append(q, "\xc3\xa9"); /* 201 characters */
    g_assert_cmpint(views_search(&v, q->str, 20, &out, &err), ==,
                    CRM_ERR_TOOBIG);
    g_assert_null(out);
    g_clear_pointer(&err, g_free);
    g_string_free(q, TRUE);
    g_assert_cmpint(views_search(&v, "a\xff", 20, &out, &err), ==,
                    CRM_ERR_PARSE);
    g_clear_pointer(&err, g_free);
    /* too short: no results, and no query made (db is NULL) */
    g_assert_cmpint(views_search(&v, "  x ", 20, &out, &err), ==, CRM_OK);
    g_assert_cmpuint(json_array_size(json_object_get(out, "results")), ==, 0);
    json_decref(out);
}

static void test_edit_input(void)
{
    views_viewer v = {.db = NULL, .id = 1, .role = "chief"};
    char *err = NULL;
    bool forbidden = true;
    g_assert_cmpint(views_set_owner(&v, "user", 1, "a@b", &forbidden, &err), ==,
                    CRM_ERR_USAGE);
    g_assert_false(forbidden);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(views_set_owner(&v, "deal", 1, "  ", &forbidden, &err), ==,
                    CRM_ERR_USAGE);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(views_set_deal_stage(&v, 1, "proposal", "maybe", "", &err),
                    ==, CRM_ERR_USAGE);
    g_assert_nonnull(strstr(err, "open, won or lost"));
    g_clear_pointer(&err, g_free);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/views/record_type", test_record_type);
    g_test_add_func("/views/safe_filename", test_safe_filename);
    g_test_add_func("/views/search_bounds", test_search_bounds);
    g_test_add_func("/views/edit_input", test_edit_input);
    return g_test_run();
}
