/*
 * test_callview.c - the parts of core/callview.c that decide before any
 * SQL: the call log's filter checks, click-to-call's record types, and
 * recording download names (all answered without a database: db is NULL).
 */
#include <glib.h>
#include <jansson.h>
#include <string.h>

#include "crmgate/callview.h"

static void test_list_filters(void)
{
    views_viewer v = {.db = NULL, .id = 1, .role = "manager"};
    static const callview_filter bad[] = {
        {.direction = "sideways"},
        {.direction = "IN"},
        {.state = "ringing"},
        {.state = "missed' OR 1=1 --"},
        {.user = "abc"},
        {.user = "-1"},
        {.user = "1234567890123456789"},
        {.page = "0"},
        {.page = "100001"},
        {.page = "1e3"},
        {.page = "9999999"},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
        json_t *out = NULL;
        char *err = NULL;
        g_assert_cmpint(callview_list(&v, &bad[i], &out, &err), ==,
                        CRM_ERR_USAGE);
        g_assert_null(out);
        g_assert_nonnull(err);
        g_free(err);
    }
}

static void test_request_types(void)
{
    views_viewer v = {.db = NULL, .id = 1, .role = "chief"};
    static const char *const types[] = {"deal", "company",  "request",
                                        "",     "contacts", NULL};
    for (gsize i = 0; i < G_N_ELEMENTS(types); i++) {
        gint64 id = 7;
        bool no_ext = true;
        char *err = NULL;
        g_assert_cmpint(callview_request(&v, types[i], 1, &id, &no_ext, &err),
                        ==, CRM_ERR_USAGE);
        g_assert_cmpint(id, ==, 0);
        g_assert_false(no_ext);
        g_assert_nonnull(err);
        g_free(err);
    }
    json_t *out = NULL;
    char *err = NULL;
    g_assert_cmpint(callview_requests(&v, "user", 1, 5, &out, &err), ==,
                    CRM_ERR_USAGE);
    g_assert_null(out);
    g_free(err);
}

static void test_recording_filename(void)
{
    static const struct {
        const char *ctype, *name;
    } cases[] = {
        {"audio/mpeg", "call-7.mp3"},
        {"audio/wav", "call-7.wav"},
        {"audio/ogg", "call-7.ogg"},
        {"audio/mp4", "call-7.m4a"},
        {"application/octet-stream", "call-7.bin"},
        {"text/html", "call-7.bin"},
        {NULL, "call-7.bin"},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *s = callview_recording_filename(7, cases[i].ctype);
        g_assert_cmpstr(s, ==, cases[i].name);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/callview/list_filters", test_list_filters);
    g_test_add_func("/callview/request_types", test_request_types);
    g_test_add_func("/callview/recording_filename", test_recording_filename);
    return g_test_run();
}
