/*
 * test_spool.c - the capture journal: fsync'd write, status, ingest into a
 * real PostgreSQL (CRMGATE_TEST_DSN), unreadable files set aside in bad/
 * and brought back with spool_unbad, stale temporary files removed,
 * 8-bit envelope strings kept byte for byte, cut flags recorded on the
 * stored message, the envelope bounded when written, a database that is
 * down or lacks the capture functions leaving every entry in place.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utime.h>

#include "crmgate/config.h"
#include "crmgate/message.h"
#include "crmgate/records.h"
#include "crmgate/spool.h"

static crm_config *cfg;
static char *dir;
static char *run_id;
static GPtrArray *alice; /* the one recipient most entries have */

static const char *test_dsn(void)
{
    const char *dsn = g_getenv("CRMGATE_TEST_DSN");
    if (!dsn || !*dsn)
        g_error("CRMGATE_TEST_DSN not set: run through tests/run-all.sh");
    return dsn;
}

/* Writes one entry for a message with the given local id; returns its
   name. */
static char *write_entry(const ingest_envelope *env, const spool_flags *fl,
                         const char *id)
{
    g_autofree char *msg = g_strdup_printf(
        "From: x@client.test\r\nTo: alice@example.com\r\n"
        "Subject: spool test %s\r\nMessage-ID: <%s-%s@spool.test>\r\n\r\n"
        "hello %s\r\n",
        id, id, run_id, id);
    char *name = NULL, *err = NULL;
    crm_result r = spool_write(dir, env, fl, msg, strlen(msg), -1, &name, &err);
    if (r)
        g_error("spool_write: %s", err);
    return name;
}

static char *read_entry(const char *name)
{
    g_autofree char *path = g_build_filename(dir, name, NULL);
    char *text = NULL;
    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    return text;
}

/* One value from the test database as JSON. */
static json_t *query(const char *sql, const char *arg)
{
    db_conn *db = db_conn_new(test_dsn());
    json_t *row = NULL;
    char *err = NULL;
    const char *p[] = {arg};
    if (records_query_json(db, sql, arg ? 1 : 0, p, &row, &err))
        g_error("query: %s", err);
    db_conn_free(&db);
    return row;
}

static void clear_dir(void)
{
    g_autoptr(GPtrArray) names = spool_list(dir, NULL);
    for (guint i = 0; i < names->len; i++) {
        g_autofree char *p =
            g_build_filename(dir, g_ptr_array_index(names, i), NULL);
        g_unlink(p);
    }
}

static void test_write_status(void)
{
    clear_dir();
    ingest_envelope env = {.source = "milter",
                           .queue_id = "Q1",
                           .envelope_from = "x@client.test",
                           .envelope_rcpts = alice};
    g_autofree char *name = write_entry(&env, NULL, "w1");
    g_autofree char *text = read_entry(name);
    /* One JSON envelope line, then the message bytes unchanged. */
    char *nl = strchr(text, '\n');
    g_assert_nonnull(nl);
    *nl = '\0';
    json_t *ej = json_loads(text, 0, NULL);
    g_assert_nonnull(ej);
    g_assert_cmpstr(json_string_value(json_object_get(ej, "queue_id")), ==,
                    "Q1");
    json_decref(ej);
    g_assert_true(g_str_has_prefix(nl + 1, "From: x@client.test\r\n"));
    spool_stats st;
    char *err = NULL;
    g_assert_cmpint(spool_status(dir, &st, &err), ==, CRM_OK);
    g_assert_cmpuint(st.files, ==, 1);
    g_assert_cmpuint(st.bytes, >, strlen(nl + 1));
    g_assert_cmpint(st.oldest, >, 0);
}

/* 8-bit bytes in the envelope sender and SASL login: no crash, stored as
   base64 in the journal and given back byte for byte. */
static void test_eightbit_envelope(void)
{
    clear_dir();
    g_autoptr(GPtrArray) rcpts = g_ptr_array_new();
    g_ptr_array_add(rcpts, "alice@example.com");
    g_ptr_array_add(rcpts, "b\xf6"
                           "b@example.com");
    ingest_envelope env = {.source = "milter",
                           .queue_id = "Q8",
                           .envelope_from = "m\xfcller@client.test",
                           .auth_authen = "\xff\xfe",
                           .envelope_rcpts = rcpts};
    g_autofree char *name = write_entry(&env, NULL, "eightbit");
    g_autofree char *text = read_entry(name);
    *strchr(text, '\n') = '\0';
    json_t *ej = json_loads(text, 0, NULL);
    g_assert_nonnull(ej);
    g_autofree guchar *from = g_base64_decode(
        json_string_value(json_object_get(ej, "envelope_from_b64")),
        &(gsize){0});
    g_assert_cmpstr((char *)from, ==, "m\xfcller@client.test");
    g_assert_null(json_object_get(ej, "envelope_from"));
    json_decref(ej);

    db_conn *db = db_conn_new(test_dsn());
    spool_replay_stats rs;
    char *err = NULL;
    if (spool_replay(cfg, db, &rs, &err))
        g_error("spool_replay: %s", err);
    db_conn_free(&db);
    g_assert_cmpuint(rs.replayed, ==, 1);
    g_autofree char *mid = g_strdup_printf("eightbit-%s@spool.test", run_id);
    json_t *n = query("SELECT to_jsonb(count(*)) FROM capture_events e JOIN "
                      "messages m ON m.id = e.message_id WHERE "
                      "m.message_id = $1 AND e.queue_id = 'Q8'",
                      mid);
    g_assert_cmpint(json_integer_value(n), ==, 1);
    json_decref(n);
}

/* What the milter cut is recorded on the stored message. */
static void test_cut_flags(void)
{
    clear_dir();
    ingest_envelope env = {.source = "milter", .envelope_rcpts = alice};
    spool_flags fl = {
        .headers_cut = true, .body_cut = true, .rcpts_dropped = 7};
    g_free(write_entry(&env, &fl, "cut"));
    db_conn *db = db_conn_new(test_dsn());
    spool_replay_stats rs;
    char *err = NULL;
    if (spool_replay(cfg, db, &rs, &err))
        g_error("spool_replay: %s", err);
    db_conn_free(&db);
    g_assert_cmpuint(rs.replayed, ==, 1);
    g_autofree char *mid = g_strdup_printf("cut-%s@spool.test", run_id);
    json_t *w =
        query("SELECT warnings FROM messages WHERE message_id = $1", mid);
    g_autofree char *ws = json_dumps(w, 0);
    json_decref(w);
    g_assert_nonnull(strstr(ws, "headers past"));
    g_assert_nonnull(strstr(ws, "bytes was not captured"));
    g_assert_nonnull(strstr(ws, "7 recipients past the limit"));
}

/* A huge recipient list is cut when written: the envelope line stays under
   the bound and the cut is counted. */
static void test_envelope_bound(void)
{
    clear_dir();
    g_autoptr(GPtrArray) rcpts = g_ptr_array_new_with_free_func(g_free);
    for (int i = 0; i < 5000; i++)
        g_ptr_array_add(rcpts, g_strdup_printf("%0300d@example.com", i));
    ingest_envelope env = {.source = "milter", .envelope_rcpts = rcpts};
    g_autofree char *name = write_entry(&env, NULL, "bound");
    g_autofree char *text = read_entry(name);
    char *nl = strchr(text, '\n');
    g_assert_cmpuint((gsize)(nl - text), <, SPOOL_ENVELOPE_MAX);
    *nl = '\0';
    json_t *ej = json_loads(text, 0, NULL);
    g_assert_nonnull(ej);
    gsize kept = json_array_size(json_object_get(ej, "envelope_rcpts"));
    json_int_t dropped = json_integer_value(
        json_object_get(json_object_get(ej, "cut"), "rcpts_dropped"));
    g_assert_cmpuint(kept, >, 100);
    g_assert_cmpint(dropped, >, 0);
    g_assert_cmpint((json_int_t)kept + dropped, ==, 5000);
    json_decref(ej);
    clear_dir();
}

static void test_replay_bad_and_stale(void)
{
    clear_dir();
    ingest_envelope env = {.source = "milter",
                           .queue_id = "Q1",
                           .envelope_from = "x@client.test",
                           .envelope_rcpts = alice};
    g_free(write_entry(&env, NULL, "good"));
    /* An unreadable file next to the good one. */
    g_autofree char *bad =
        g_build_filename(dir, "0000000000000001-1-1.msg", NULL);
    g_assert_true(g_file_set_contents(bad, "not json\n", -1, NULL));
    /* A temporary file from a crash two hours ago. */
    g_autofree char *tmp = g_build_filename(dir, "tmp-stale.msg", NULL);
    g_assert_true(g_file_set_contents(tmp, "x", -1, NULL));
    struct utimbuf old = {.actime = time(NULL) - 7200,
                          .modtime = time(NULL) - 7200};
    utime(tmp, &old);

    db_conn *db = db_conn_new(test_dsn());
    spool_replay_stats rs;
    char *err = NULL;
    crm_result r = spool_replay(cfg, db, &rs, &err);
    if (r)
        g_error("spool_replay: %s", err);
    g_assert_cmpuint(rs.replayed, ==, 1);
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
    g_autofree char *mid = g_strdup_printf("good-%s@spool.test", run_id);
    json_t *row = query("SELECT to_jsonb(count(*)) FROM capture_events e JOIN "
                        "messages m ON m.id = e.message_id WHERE "
                        "m.message_id = $1 AND e.source = 'milter' AND "
                        "e.queue_id = 'Q1'",
                        mid);
    g_assert_cmpint(json_integer_value(row), ==, 1);
    json_decref(row);

    /* replay --bad: the file comes back, and is set aside again. */
    guint moved_back = 0;
    g_assert_cmpint(spool_unbad(dir, &moved_back, &err), ==, CRM_OK);
    g_assert_cmpuint(moved_back, ==, 1);
    g_assert_true(g_file_test(bad, G_FILE_TEST_EXISTS));
    r = spool_replay(cfg, db, &rs, &err);
    g_assert_cmpint(r, ==, CRM_OK);
    g_assert_cmpuint(rs.bad, ==, 1);
    db_conn_free(&db);
}

static void test_replay_db_down(void)
{
    clear_dir();
    /* Nothing listens on port 1: replay stops and leaves the file. */
    ingest_envelope env = {.source = "milter", .envelope_rcpts = alice};
    g_autofree char *name = write_entry(&env, NULL, "down");
    db_conn *db = db_conn_new("host=127.0.0.1 port=1 connect_timeout=2");
    spool_replay_stats rs;
    char *err = NULL;
    g_assert_cmpint(spool_replay(cfg, db, &rs, &err), ==, CRM_ERR_DB_DOWN);
    g_assert_nonnull(err);
    g_free(err);
    g_assert_cmpuint(rs.left, ==, 1);
    g_autofree char *path = g_build_filename(dir, name, NULL);
    g_assert_true(g_file_test(path, G_FILE_TEST_EXISTS));
    db_conn_free(&db);
}

/* A schema without the capture functions (an upgrade without migrate):
   the entry stays, and the error says what to run. */
static void test_replay_not_migrated(void)
{
    clear_dir();
    ingest_envelope env = {.source = "milter", .envelope_rcpts = alice};
    g_autofree char *name = write_entry(&env, NULL, "nomigrate");
    /* A search_path where crm_capture_batch does not exist. */
    g_autofree char *dsn =
        g_strdup_printf("%s options='-c search_path=pg_catalog'", test_dsn());
    db_conn *db = db_conn_new(dsn);
    spool_replay_stats rs;
    char *err = NULL;
    g_assert_cmpint(spool_replay(cfg, db, &rs, &err), ==, CRM_ERR_CONFIG);
    g_assert_nonnull(strstr(err, "crmgate migrate"));
    g_free(err);
    g_assert_cmpuint(rs.left, ==, 1);
    g_assert_cmpuint(rs.bad, ==, 0);
    g_autofree char *path = g_build_filename(dir, name, NULL);
    g_assert_true(g_file_test(path, G_FILE_TEST_EXISTS));
    db_conn_free(&db);
    clear_dir();
}

/* An entry cut short (the milter died before its sync, so it never
   answered) is recognised by its recorded size and set aside, not stored
   as if it were whole. */
static void test_torn_entry(void)
{
    clear_dir();
    ingest_envelope env = {.source = "milter", .envelope_rcpts = alice};
    g_autofree char *name = write_entry(&env, NULL, "torn");
    g_autofree char *path = g_build_filename(dir, name, NULL);
    struct stat sb;
    g_assert_cmpint(stat(path, &sb), ==, 0);
    g_assert_cmpint(truncate(path, sb.st_size - 10), ==, 0);
    db_conn *db = db_conn_new(test_dsn());
    spool_replay_stats rs;
    char *err = NULL;
    g_assert_cmpint(spool_replay(cfg, db, &rs, &err), ==, CRM_OK);
    db_conn_free(&db);
    g_assert_cmpuint(rs.replayed, ==, 0);
    g_assert_cmpuint(rs.bad, ==, 1);
    g_autofree char *moved = g_build_filename(dir, "bad", name, NULL);
    g_assert_true(g_file_test(moved, G_FILE_TEST_EXISTS));
    g_autofree char *mid = g_strdup_printf("torn-%s@spool.test", run_id);
    json_t *n = query("SELECT to_jsonb(count(*)) FROM messages WHERE "
                      "message_id = $1",
                      mid);
    g_assert_cmpint(json_integer_value(n), ==, 0);
    json_decref(n);
    g_unlink(moved);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    message_library_init();
    dir = g_dir_make_tmp("crmgate-spool-XXXXXX", NULL);
    alice = g_ptr_array_new();
    g_ptr_array_add(alice, "alice@example.com");
    run_id = g_strdup_printf("%" G_GINT64_FORMAT, g_get_real_time());
    cfg = config_new_defaults();
    g_hash_table_add(cfg->internal_domains, g_strdup("example.com"));
    g_free(cfg->spool_dir);
    cfg->spool_dir = g_strdup(dir);
    g_test_add_func("/spool/write-status", test_write_status);
    g_test_add_func("/spool/eightbit-envelope", test_eightbit_envelope);
    g_test_add_func("/spool/cut-flags", test_cut_flags);
    g_test_add_func("/spool/envelope-bound", test_envelope_bound);
    g_test_add_func("/spool/replay-bad-stale", test_replay_bad_and_stale);
    g_test_add_func("/spool/replay-db-down", test_replay_db_down);
    g_test_add_func("/spool/replay-not-migrated", test_replay_not_migrated);
    g_test_add_func("/spool/torn-entry", test_torn_entry);
    int rc = g_test_run();
    config_free(&cfg);
    return rc;
}
