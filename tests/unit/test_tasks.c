/*
 * test_tasks.c - the pure parts of core/tasks.c: views, priorities,
 * stages, record references, dates, and the signed one-click completion
 * link (a known HMAC vector, binding to task, user and expiry, expiry,
 * an empty secret, the link's shape).
 */
#include <glib.h>
#include <string.h>

#include "crmgate/config.h"
#include "crmgate/tasks.h"

static void test_views(void)
{
    tasks_view v;
    g_assert_true(tasks_view_parse(NULL, &v));
    g_assert_cmpint(v.kind, ==, TASKS_VIEW_MINE);
    g_assert_true(tasks_view_parse("", &v));
    g_assert_cmpint(v.kind, ==, TASKS_VIEW_MINE);
    g_assert_true(tasks_view_parse("mine", &v));
    g_assert_cmpint(v.kind, ==, TASKS_VIEW_MINE);
    g_assert_true(tasks_view_parse("overdue", &v));
    g_assert_cmpint(v.kind, ==, TASKS_VIEW_OVERDUE);
    g_assert_true(tasks_view_parse("all", &v));
    g_assert_cmpint(v.kind, ==, TASKS_VIEW_ALL);
    g_assert_true(tasks_view_parse("open", &v));
    g_assert_cmpint(v.kind, ==, TASKS_VIEW_OPEN);
    g_assert_true(tasks_view_parse("project:42", &v));
    g_assert_cmpint(v.kind, ==, TASKS_VIEW_PROJECT);
    g_assert_cmpint(v.project_id, ==, 42);
    static const char *const bad[] = {
        "project:",     "project:0",  "project:-1",
        "project:1x",   "project: 1", "project:99999999999999999999",
        "ALL",          "mine ",      "projects:1",
        "overdue;drop",
    };
    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++)
        g_assert_false(tasks_view_parse(bad[i], &v));
}

static void test_priority(void)
{
    int p = 0;
    g_assert_true(tasks_parse_priority("1", &p));
    g_assert_cmpint(p, ==, 1);
    g_assert_true(tasks_parse_priority("low", &p));
    g_assert_cmpint(p, ==, 1);
    g_assert_true(tasks_parse_priority("Middle", &p));
    g_assert_cmpint(p, ==, 2);
    g_assert_true(tasks_parse_priority("medium", &p));
    g_assert_cmpint(p, ==, 2);
    g_assert_true(tasks_parse_priority("3", &p));
    g_assert_cmpint(p, ==, 3);
    g_assert_true(tasks_parse_priority("HIGH", &p));
    g_assert_cmpint(p, ==, 3);
    g_assert_false(tasks_parse_priority("0", &p));
    g_assert_false(tasks_parse_priority("4", &p));
    g_assert_false(tasks_parse_priority("01", &p));
    g_assert_false(tasks_parse_priority("", &p));
    g_assert_false(tasks_parse_priority(NULL, &p));
}

static void test_stage(void)
{
    g_assert_cmpstr(tasks_parse_stage("pending"), ==, "pending");
    g_assert_cmpstr(tasks_parse_stage("in progress"), ==, "in_progress");
    g_assert_cmpstr(tasks_parse_stage("In-Progress"), ==, "in_progress");
    g_assert_cmpstr(tasks_parse_stage("in_progress"), ==, "in_progress");
    g_assert_cmpstr(tasks_parse_stage("DONE"), ==, "done");
    g_assert_cmpstr(tasks_parse_stage("postponed"), ==, "postponed");
    g_assert_cmpstr(tasks_parse_stage("cancelled"), ==, "canceled");
    g_assert_cmpstr(tasks_parse_stage("canceled"), ==, "canceled");
    g_assert_null(tasks_parse_stage("finished"));
    g_assert_null(tasks_parse_stage(""));
    g_assert_null(tasks_parse_stage(NULL));
}

static void test_record(void)
{
    const char *type = NULL;
    gint64 id = 0;
    g_assert_true(tasks_parse_record("deal:42", &type, &id));
    g_assert_cmpstr(type, ==, "deal");
    g_assert_cmpint(id, ==, 42);
    g_assert_true(tasks_parse_record("request:7", &type, &id));
    g_assert_cmpstr(type, ==, "request");
    g_assert_true(tasks_parse_record("company:1", &type, &id));
    g_assert_true(tasks_parse_record("contact:1", &type, &id));
    g_assert_true(tasks_parse_record("lead:1", &type, &id));
    static const char *const bad[] = {
        "deal",    "deal:", "deal:0",   "deal:-3", "deal:x",  "deals:1",
        "users:1", ":1",    "deal:1:2", "Deal:1",  "deal: 1", ""};
    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++)
        g_assert_false(tasks_parse_record(bad[i], &type, &id));
    g_assert_false(tasks_parse_record(NULL, &type, &id));
}

static void test_dates(void)
{
    g_assert_true(tasks_valid_date("2026-12-06"));
    g_assert_true(tasks_valid_date("2024-02-29"));
    g_assert_false(tasks_valid_date("2026-02-29"));
    g_assert_false(tasks_valid_date("2026-13-01"));
    g_assert_false(tasks_valid_date("2026-1-01"));
    g_assert_false(tasks_valid_date("2026-01-01x"));
    g_assert_false(tasks_valid_date("tomorrow"));
    g_assert_false(tasks_valid_date("+026-01-01"));
    g_assert_false(tasks_valid_date(""));
    g_assert_false(tasks_valid_date(NULL));
}

/* HMAC-SHA256("k3y", "task-done:42:7:2000000000"), from Python's hmac. */
static const char vector[] =
    "9ffcf2233ea5e06ab725885c4c5b631e6eb55c0f4c07f7aa27a05421be418ed7";

static void test_sig(void)
{
    g_autofree char *sig = tasks_done_sig("k3y", 42, 7, 2000000000);
    g_assert_cmpstr(sig, ==, vector);
    gint64 now = 1900000000;
    g_assert_true(tasks_done_verify("k3y", 42, 7, 2000000000, vector, now));
    /* bound to each field, the key, and the time */
    g_assert_false(tasks_done_verify("k3y", 43, 7, 2000000000, vector, now));
    g_assert_false(tasks_done_verify("k3y", 42, 8, 2000000000, vector, now));
    g_assert_false(tasks_done_verify("k3y", 42, 7, 2000000001, vector, now));
    g_assert_false(tasks_done_verify("k3z", 42, 7, 2000000000, vector, now));
    g_assert_false(
        tasks_done_verify("k3y", 42, 7, 2000000000, vector, 2000000000));
    g_assert_false(tasks_done_verify("", 42, 7, 2000000000, vector, now));
    g_assert_false(tasks_done_verify(NULL, 42, 7, 2000000000, vector, now));
    g_assert_false(tasks_done_verify("k3y", 42, 7, 2000000000, NULL, now));
    g_assert_false(tasks_done_verify("k3y", 42, 7, 2000000000, "", now));
    g_autofree char *upper = g_ascii_strup(vector, -1);
    g_assert_false(tasks_done_verify("k3y", 42, 7, 2000000000, upper, now));
    g_autofree char *cut = g_strndup(vector, 63);
    g_assert_false(tasks_done_verify("k3y", 42, 7, 2000000000, cut, now));
}

static void test_link(void)
{
    crm_config *cfg = config_new_defaults();
    g_free(cfg->web_base_url);
    cfg->web_base_url = g_strdup("https://crm.example.com");
    g_free(cfg->web_secret);
    cfg->web_secret = g_strdup("");
    g_assert_null(tasks_done_link(cfg, 5, 9, TASKS_LINK_TTL_S));
    g_free(cfg->web_secret);
    cfg->web_secret = g_strdup("s3cret");
    gint64 before = g_get_real_time() / G_USEC_PER_SEC;
    g_autofree char *link = tasks_done_link(cfg, 5, 9, TASKS_LINK_TTL_S);
    g_assert_nonnull(link);
    g_assert_true(
        g_str_has_prefix(link, "https://crm.example.com/tasks/5/done?u=9&e="));
    const char *e = strstr(link, "&e=") + 3;
    gint64 expiry = g_ascii_strtoll(e, NULL, 10);
    g_assert_cmpint(expiry, >=, before + TASKS_LINK_TTL_S);
    g_assert_cmpint(expiry, <=, before + TASKS_LINK_TTL_S + 5);
    const char *s = strstr(link, "&s=");
    g_assert_nonnull(s);
    g_assert_cmpuint(strlen(s + 3), ==, 64);
    g_assert_true(tasks_done_verify("s3cret", 5, 9, expiry, s + 3, before));
    g_assert_false(
        tasks_done_verify("s3cret", 5, 9, expiry, s + 3, expiry + 1));
    config_free(&cfg);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/tasks/views", test_views);
    g_test_add_func("/tasks/priority", test_priority);
    g_test_add_func("/tasks/stage", test_stage);
    g_test_add_func("/tasks/record", test_record);
    g_test_add_func("/tasks/dates", test_dates);
    g_test_add_func("/tasks/signature", test_sig);
    g_test_add_func("/tasks/link", test_link);
    return g_test_run();
}
