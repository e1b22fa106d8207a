/*
 * test_jobs.c - the pure parts of core/jobs.c: job kind validation, the
 * backoff (base, growth, cap, jitter within +-20 %, no overflow on huge
 * attempt counts), and jobs_enqueue refusing hostile input before it
 * touches the database (the handle here is never connected).
 */
#include <glib.h>
#include <string.h>

#include "crmgate/jobs.h"

static void test_kind(void)
{
    static const char *const good[] = {"noop", "campaign.send",
                                       "periodic:notices.deliver", "a-b_c9"};
    for (gsize i = 0; i < G_N_ELEMENTS(good); i++)
        g_assert_true(jobs_kind_valid(good[i]));
    char long_kind[JOBS_KIND_MAX + 2];
    memset(long_kind, 'a', sizeof long_kind - 1);
    long_kind[sizeof long_kind - 1] = '\0';
    static const char *const bad[] = {"",          "Noop",  "no op", "noop\n",
                                      "n\xc3\xa9", "noop;", "x'y"};
    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++)
        g_assert_false(jobs_kind_valid(bad[i]));
    g_assert_false(jobs_kind_valid(NULL));
    g_assert_false(jobs_kind_valid(long_kind));
    long_kind[JOBS_KIND_MAX] = '\0';
    g_assert_true(jobs_kind_valid(long_kind));
}

static void test_backoff(void)
{
    for (int k = 0; k < 200; k++) {
        guint a1 = jobs_backoff_s(10, 3600, 1);
        g_assert_cmpuint(a1, >=, 8);
        g_assert_cmpuint(a1, <=, 12);
        guint a3 = jobs_backoff_s(10, 3600, 3); /* 40 s */
        g_assert_cmpuint(a3, >=, 32);
        g_assert_cmpuint(a3, <=, 48);
        guint capped = jobs_backoff_s(10, 3600, 20);
        g_assert_cmpuint(capped, >=, 2880);
        g_assert_cmpuint(capped, <=, 4320);
        guint huge = jobs_backoff_s(86400, 7 * 86400, 1000);
        g_assert_cmpuint(huge, <=, (guint)(7 * 86400 * 1.2) + 1);
        g_assert_cmpuint(jobs_backoff_s(1, 1, 0), >=, 1);
        g_assert_cmpuint(jobs_backoff_s(1, 1, -5), >=, 1);
    }
}

static void test_enqueue_refuses(void)
{
    db_conn *db = db_conn_new("host=127.0.0.1 port=1 connect_timeout=1");
    char *err = NULL;
    gint64 id = 0;
    g_assert_cmpint(jobs_enqueue(db, "Bad Kind", NULL, NULL, NULL, &id, &err),
                    ==, CRM_ERR_USAGE);
    g_assert_nonnull(err);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(jobs_enqueue(db, "noop", NULL, NULL, "", &id, &err), ==,
                    CRM_ERR_USAGE);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(
        jobs_enqueue(db, "noop", NULL, NULL, "k\xff\xfe", &id, &err), ==,
        CRM_ERR_USAGE);
    g_clear_pointer(&err, g_free);
    g_autofree char *key = g_strnfill(JOBS_UNIQUE_KEY_MAX + 1, 'k');
    g_assert_cmpint(jobs_enqueue(db, "noop", NULL, NULL, key, &id, &err), ==,
                    CRM_ERR_USAGE);
    g_clear_pointer(&err, g_free);
    json_t *arr = json_array();
    g_assert_cmpint(jobs_enqueue(db, "noop", arr, NULL, NULL, &id, &err), ==,
                    CRM_ERR_USAGE);
    g_clear_pointer(&err, g_free);
    json_decref(arr);
    g_autofree char *big = g_strnfill(JOBS_PAYLOAD_MAX + 1, 'x');
    json_t *obj = json_pack("{s:s}", "a", big);
    g_assert_cmpint(jobs_enqueue(db, "noop", obj, NULL, NULL, &id, &err), ==,
                    CRM_ERR_TOOBIG);
    g_clear_pointer(&err, g_free);
    json_decref(obj);
    /* a list limit out of range is refused before the database too */
    json_t *out = NULL;
    g_assert_cmpint(jobs_list(db, NULL, NULL, 0, &out, &err), ==,
                    CRM_ERR_USAGE);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(jobs_list(db, "bogus", NULL, 10, &out, &err), ==,
                    CRM_ERR_USAGE);
    g_clear_pointer(&err, g_free);
    g_assert_null(out);
    db_conn_free(&db);
    g_assert_null(db);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/jobs/kind", test_kind);
    g_test_add_func("/jobs/backoff", test_backoff);
    g_test_add_func("/jobs/enqueue_refuses", test_enqueue_refuses);
    return g_test_run();
}
