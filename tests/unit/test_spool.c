/*
 * test_spool.c - the capture spool: fsync'd write, status, replay into a
 * real PostgreSQL (CRMGATE_TEST_DSN; skipped without it), unreadable files
 * set aside in bad/, stale temporary files removed.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <utime.h>

#include "crmgate/config.h"
#include "crmgate/records.h"
#include "crmgate/spool.h"

static crm_config *cfg;
static char *dir;
static char mid1[64]; /* spool-1-RUN@test: unique per run */

static void test_write_status(void)
{
    g_autoptr(GPtrArray) rcpts = g_ptr_array_new();
    g_ptr_array_add(rcpts, "alice@example.com");
    ingest_envelope env = {.source = "milter",
                           .queue_id = "Q1",
                           .envelope_from = "x@client.test",
                           .envelope_rcpts = rcpts};
    g_autofree char *msg =
        g_strdup_printf("From: x@client.test\r\nTo: alice@example.com\r\n"
                        "Message-ID: <%s>\r\n\r\nhello\r\n",
                        mid1);
    char *path = NULL, *err = NULL;
    g_assert_cmpint(spool_write(dir, &env, msg, strlen(msg), -1, &path, &err),
                    ==, CRM_OK);
    g_assert_true(g_file_test(path, G_FILE_TEST_EXISTS));
    g_autofree char *text = NULL;
    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    /* One JSON envelope line, then the message bytes unchanged. */
    const char *nl = strchr(text, '\n');
    g_assert_nonnull(nl);
    json_error_t jerr;
    json_t *envj = json_loadb(text, (size_t)(nl - text), 0, &jerr);
    if (envj == NULL)
        g_error("envelope line is not JSON: %s", jerr.text);
    g_assert_cmpstr(json_string_value(json_object_get(envj, "queue_id")), ==,
                    "Q1");
    g_assert_cmpstr(json_string_value(json_object_get(envj, "envelope_from")),
                    ==, "x@client.test");
    json_t *rc = json_object_get(envj, "envelope_rcpts");
    g_assert_cmpuint(json_array_size(rc), ==, 1);
    g_assert_cmpstr(json_string_value(json_array_get(rc, 0)), ==,
                    "alice@example.com");
    json_decref(envj);
    g_assert_cmpstr(nl + 1, ==, msg);
    g_free(path);
    spool_stats st;
    g_assert_cmpint(spool_status(dir, &st, &err), ==, CRM_OK);
    g_assert_cmpuint(st.files, ==, 1);
    g_assert_cmpuint(st.bytes, >, strlen(msg));
    g_assert_cmpint(st.oldest, >, 0);
}

static void test_replay(void)
{
    const char *dsn = g_getenv("CRMGATE_TEST_DSN");
    if (!dsn || !*dsn) {
        g_test_skip("CRMGATE_TEST_DSN not set");
        return;
    }
    /* An unreadable file next to the good one from test_write_status. */
    g_autofree char *bad =
        g_build_filename(dir, "0000000000000001-1-1.msg", NULL);
    g_assert_true(g_file_set_contents(bad, "not json\n", -1, NULL));
    /* A temporary file from a crash two hours ago. */
    g_autofree char *tmp = g_build_filename(dir, "tmp-stale.msg", NULL);
    g_assert_true(g_file_set_contents(tmp, "x", -1, NULL));
    struct utimbuf old = {.actime = time(NULL) - 7200,
                          .modtime = time(NULL) - 7200};
    utime(tmp, &old);

    db_conn *db = db_conn_new(dsn);
    /* mid1 is unique to this run, so an earlier run's row is no match. */
    spool_replay_stats rs;
    char *err = NULL;
    crm_result r = spool_replay(cfg, db, &rs, &err);
    if (r)
        g_error("spool_replay: %s", err);
    g_assert_cmpuint(rs.replayed, ==, 1);
    g_assert_cmpuint(rs.skipped, ==, 0);
    g_assert_cmpuint(rs.bad, ==, 1);
    g_assert_cmpuint(rs.left, ==, 0);
    g_assert_false(g_file_test(tmp, G_FILE_TEST_EXISTS));
    g_autofree char *moved =
        g_build_filename(dir, "bad", "0000000000000001-1-1.msg", NULL);
    g_assert_true(g_file_test(moved, G_FILE_TEST_EXISTS));
    spool_stats st;
    g_assert_cmpint(spool_status(dir, &st, &err), ==, CRM_OK);
    g_assert_cmpuint(st.files, ==, 0);
    g_assert_cmpuint(st.bad, ==, 1);
    json_t *row = NULL;
    const char *p[] = {mid1};
    g_assert_cmpint(records_query_json(db,
                                       "SELECT to_jsonb(count(*)) FROM "
                                       "capture_events e JOIN messages m ON "
                                       "m.id = e.message_id WHERE "
                                       "m.message_id = $1 AND e.source = "
                                       "'replay' AND e.queue_id = 'Q1'",
                                       1, p, &row, &err),
                    ==, CRM_OK);
    g_assert_cmpint(json_integer_value(row), ==, 1);
    json_decref(row);
    db_conn_free(&db);
}

static void test_replay_db_down(void)
{
    /* Nothing listens on port 1: replay stops and leaves the file. */
    g_autoptr(GPtrArray) rcpts = g_ptr_array_new();
    g_ptr_array_add(rcpts, "alice@example.com");
    ingest_envelope env = {.source = "milter", .envelope_rcpts = rcpts};
    const char msg[] = "From: y@client.test\r\nTo: alice@example.com\r\n"
                       "Message-ID: <spool-2@test>\r\n\r\nhello\r\n";
    char *path = NULL, *err = NULL;
    g_assert_cmpint(spool_write(dir, &env, msg, strlen(msg), -1, &path, &err),
                    ==, CRM_OK);
    g_free(path);
    db_conn *db = db_conn_new("host=127.0.0.1 port=1 connect_timeout=2");
    spool_replay_stats rs;
    g_assert_cmpint(spool_replay(cfg, db, &rs, &err), ==, CRM_ERR_DB_DOWN);
    g_assert_nonnull(err);
    g_free(err);
    g_assert_cmpuint(rs.left, ==, 1);
    db_conn_free(&db);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    message_library_init();
    dir = g_dir_make_tmp("crmgate-spool-XXXXXX", NULL);
    g_snprintf(mid1, sizeof(mid1), "spool-1-%" G_GINT64_FORMAT "-%u@test",
               g_get_real_time(), g_random_int());
    cfg = config_new_defaults();
    g_hash_table_add(cfg->internal_domains, g_strdup("example.com"));
    g_free(cfg->spool_dir);
    cfg->spool_dir = g_strdup(dir);
    g_test_add_func("/spool/write-status", test_write_status);
    g_test_add_func("/spool/replay", test_replay);
    g_test_add_func("/spool/replay-db-down", test_replay_db_down);
    int rc = g_test_run();
    config_free(&cfg);
    return rc;
}
