/*
 * test_roles.c - least privilege, checked as the roles themselves.
 *
 * Connects as the milter's role (CRMGATE_TEST_MILTER_DSN) and asserts the
 * SQLSTATE of each forbidden statement is 42501 (insufficient_privilege),
 * not merely that it failed; that the capture function works for it,
 * stores attachment contents only under their true SHA-256 and returns no
 * record ids. As the owner (CRMGATE_TEST_DSN): the owner is no superuser
 * and may not create roles, so the migrations ran the production way. As
 * the cluster admin (CRMGATE_TEST_ADMIN_DSN): two concurrent migrations of
 * a fresh database both succeed and record each version once. Cases skip
 * when their DSN is not set.
 */
#include <glib.h>
#include <jansson.h>
#include <string.h>

#include "crmgate/config.h"
#include "crmgate/db.h"
#include "crmgate/ingest.h"
#include "crmgate/message.h"
#include "crmgate/migrations.h"
#include "crmgate/records.h"

static crm_config *cfg;
static db_conn *owner;
static db_conn *milter;
static char run[32];

/* Runs sql as conn; returns the SQLSTATE ("" on success). */
static char *sqlstate_of(db_conn *conn, const char *sql)
{
    PGresult *res = NULL;
    char *err = NULL;
    crm_result r = db_query(conn, 5000, sql, 0, NULL, NULL, NULL, &res, &err);
    if (res)
        PQclear(res);
    if (r == CRM_ERR_DB_DOWN)
        g_error("%s: %s", sql, err);
    g_test_message("%s -> %s %s", sql, r ? db_last_sqlstate(conn) : "ok",
                   err ? err : "");
    g_free(err);
    return g_strdup(r ? db_last_sqlstate(conn) : "");
}

static void test_milter_denied(void)
{
    if (!milter) {
        g_test_skip("CRMGATE_TEST_MILTER_DSN not set");
        return;
    }
    static const char *const denied[] = {
        "SELECT * FROM attachment_blobs LIMIT 1",
        "SELECT sha256 FROM attachment_blobs WHERE content IS NOT NULL",
        "UPDATE attachment_blobs SET content = NULL",
        "DELETE FROM attachment_blobs",
        "INSERT INTO attachment_blobs (sha256, size) VALUES ('x', 1)",
        "SELECT * FROM contacts LIMIT 1",
        "SELECT * FROM deals LIMIT 1",
        "SELECT * FROM leads LIMIT 1",
        "SELECT * FROM users LIMIT 1",
        "SELECT * FROM messages LIMIT 1",
        "SELECT * FROM message_links LIMIT 1",
        "SELECT * FROM threads LIMIT 1",
        "DELETE FROM messages",
        "UPDATE messages SET subject = ''",
        ("INSERT INTO message_links (message_id, record_type, record_id, "
         "reason) VALUES (1, 'deal', 1, 'manual')"),
        "UPDATE deals SET amount = 0",
        "TRUNCATE capture_events",
    };
    for (guint i = 0; i < G_N_ELEMENTS(denied); i++) {
        g_autofree char *st = sqlstate_of(milter, denied[i]);
        if (strcmp(st, "42501") != 0)
            g_error("as crmgate_milter: %s: SQLSTATE '%s', wanted 42501",
                    denied[i], st);
    }
}

static void test_owner_unprivileged(void)
{
    if (!owner) {
        g_test_skip("CRMGATE_TEST_DSN not set");
        return;
    }
    json_t *o = NULL;
    char *err = NULL;
    g_assert_cmpint(
        records_query_json(owner,
                           "SELECT jsonb_build_array(rolsuper, rolcreaterole) "
                           "FROM pg_roles WHERE rolname = current_user",
                           0, NULL, &o, &err),
        ==, CRM_OK);
    g_assert_true(json_is_false(json_array_get(o, 0)));
    g_assert_true(json_is_false(json_array_get(o, 1)));
    json_decref(o);
}

static gint cmp_str_ptr(gconstpointer a, gconstpointer b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The keys of a JSON object, sorted and comma-separated. */
static char *keys_of(json_t *o)
{
    g_autoptr(GPtrArray) k = g_ptr_array_new();
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        (void)v;
        g_ptr_array_add(k, (gpointer)key);
    }
    g_ptr_array_sort(k, cmp_str_ptr);
    g_ptr_array_add(k, NULL);
    return g_strjoinv(",", (char **)k->pdata);
}

static crm_message *parse(const char *text)
{
    message_limits lim;
    ingest_message_limits(cfg, &lim);
    crm_message *m = NULL;
    g_assert_cmpint(message_parse_bytes(text, strlen(text), &lim, &m), ==,
                    CRM_OK);
    return m;
}

static void test_milter_captures(void)
{
    if (!milter || !owner) {
        g_test_skip("CRMGATE_TEST_MILTER_DSN or CRMGATE_TEST_DSN not set");
        return;
    }
    /* A sales-inbox mail with an attachment: it creates a lead and a
       request, and the milter still learns no id. */
    g_autofree char *mid = g_strdup_printf("roles-%s@test", run);
    g_autofree char *payload = g_strdup_printf("attachment of run %s", run);
    g_autofree char *b64 =
        g_base64_encode((const guchar *)payload, strlen(payload));
    g_autofree char *text = g_strdup_printf(
        "Message-ID: <%s>\r\nFrom: Pat Prospect <pat-%s@prospect.test>\r\n"
        "To: sales@example.com\r\nSubject: roles %s\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n"
        "Content-Type: text/plain\r\n\r\nhello\r\n--b\r\n"
        "Content-Type: application/octet-stream; name=\"a.bin\"\r\n"
        "Content-Disposition: attachment; filename=\"a.bin\"\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n%s\r\n--b--\r\n",
        mid, run, run, b64);
    crm_message *m = parse(text);
    g_assert_cmpuint(m->attachments->len, ==, 1);
    ingest_envelope env = {.source = "milter"};
    ingest_plan *p = ingest_plan_new(cfg, &env, m);
    g_assert_cmpint(p->verdict, ==, INGEST_LOG);

    /* The C path, as the milter: attachment content in the same call. */
    ingest_result res;
    char *err = NULL;
    crm_result r = ingest_store(milter, 5000, p, m, &res, &err);
    if (r)
        g_error("ingest_store as crmgate_milter: %s", err);
    g_assert_true(res.is_new);
    g_assert_nonnull(strstr(res.links, "lead/sales-inbox"));
    g_assert_nonnull(strstr(res.links, "request/sales-inbox"));
    g_assert_null(strpbrk(res.links, "0123456789:"));
    ingest_result_clear(&res);

    /* The raw result, as the milter: no id anywhere. */
    g_autofree char *doc = json_dumps(p->doc, JSON_COMPACT);
    const char *v[] = {doc};
    PGresult *pr = NULL;
    g_assert_cmpint(db_query(milter, 5000,
                             "SELECT crm_capture($1::jsonb, 'again')", 1, v,
                             NULL, NULL, &pr, &err),
                    ==, CRM_OK);
    json_t *o = json_loads(PQgetvalue(pr, 0, 0), 0, NULL);
    PQclear(pr);
    g_assert_nonnull(o);
    g_autofree char *keys = keys_of(o);
    g_assert_cmpstr(keys, ==, "links,new,new_links,rethreaded,tokens_ignored");
    g_assert_false(json_is_true(json_object_get(o, "new")));
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(o, "links"), i, l)
    {
        g_autofree char *lk = keys_of(l);
        g_assert_cmpstr(lk, ==, "n,reason,type");
    }
    json_decref(o);

    /* As the owner: the content is stored, under its true hash. */
    const message_attachment *a = g_ptr_array_index(m->attachments, 0);
    const char *q[] = {a->sha256};
    json_t *blob = NULL;
    g_assert_cmpint(
        records_query_json(owner,
                           "SELECT jsonb_build_array(octet_length(content), "
                           "encode(sha256(content), 'hex')) FROM "
                           "attachment_blobs WHERE sha256 = $1",
                           1, q, &blob, &err),
        ==, CRM_OK);
    g_assert_nonnull(blob);
    g_assert_cmpint(json_integer_value(json_array_get(blob, 0)), ==,
                    (json_int_t)strlen(payload));
    g_assert_cmpstr(json_string_value(json_array_get(blob, 1)), ==, a->sha256);
    json_decref(blob);
    ingest_plan_free(&p);
    message_free(&m);

    /* Content under a hash it does not have is refused. */
    g_autofree char *fake = g_compute_checksum_for_string(
        G_CHECKSUM_SHA256, mid, -1); /* the hash of other bytes */
    g_autofree char *fdoc = g_strdup_printf(
        "{\"message_id\": \"fake-%s\", \"digest\": \"%s\", \"direction\": "
        "\"in\", \"attachments\": [{\"filename\": \"x\", \"content_type\": "
        "\"application/octet-stream\", \"size\": 4, \"sha256\": \"%s\", "
        "\"blob\": 1}], \"blobs\": 1}",
        mid, fake, fake);
    const char *fv[] = {fdoc};
    g_assert_cmpint(db_query(milter, 5000,
                             "SELECT crm_capture($1::jsonb, '', "
                             "ARRAY['\\x65766c21'::bytea])",
                             1, fv, NULL, NULL, &pr, &err),
                    ==, CRM_OK);
    PQclear(pr);
    const char *fq[] = {fake};
    g_assert_cmpint(records_query_json(owner,
                                       "SELECT to_jsonb(content IS NULL) FROM "
                                       "attachment_blobs WHERE sha256 = $1",
                                       1, fq, &blob, &err),
                    ==, CRM_OK);
    g_assert_true(json_is_true(blob));
    json_decref(blob);
}

/* A MIME message with the given attachment payloads. */
static char *mime_with(const char *mid, const char *const *payloads)
{
    GString *t = g_string_new(NULL);
    g_string_append_printf(
        t,
        "Message-ID: <%s>\r\nFrom: someone@client.test\r\n"
        "To: alice@example.com\r\nSubject: blobs\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n"
        "Content-Type: text/plain\r\n\r\nsee attached\r\n",
        mid);
    for (guint i = 0; payloads[i]; i++) {
        g_autofree char *b64 =
            g_base64_encode((const guchar *)payloads[i], strlen(payloads[i]));
        g_string_append_printf(
            t,
            "--b\r\nContent-Type: application/octet-stream\r\n"
            "Content-Disposition: attachment; filename=\"f%u.bin\"\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n%s\r\n",
            i, b64);
    }
    g_string_append(t, "--b--\r\n");
    return g_string_free(t, FALSE);
}

/* True when attachment_blobs holds exactly payload under its SHA-256. */
static bool blob_stored(const char *payload)
{
    g_autofree char *sha =
        g_compute_checksum_for_string(G_CHECKSUM_SHA256, payload, -1);
    const char *q[] = {sha, payload};
    json_t *o = NULL;
    char *err = NULL;
    g_assert_cmpint(
        records_query_json(owner,
                           "SELECT to_jsonb(content = convert_to($2, 'UTF8')) "
                           "FROM attachment_blobs WHERE sha256 = $1",
                           2, q, &o, &err),
        ==, CRM_OK);
    bool ok = json_is_true(o);
    json_decref(o);
    return ok;
}

/* The milter's path: a batch whose documents carry 2, 0 and 1 attachment
   contents in one bytea[]; each lands under its own hash. */
static void test_milter_batch_blobs(void)
{
    if (!milter || !owner) {
        g_test_skip("CRMGATE_TEST_MILTER_DSN or CRMGATE_TEST_DSN not set");
        return;
    }
    g_autofree char *a1 = g_strdup_printf("first of A %s", run);
    g_autofree char *a2 = g_strdup_printf("second of A %s", run);
    g_autofree char *c1 = g_strdup_printf("only of C %s", run);
    const char *pa[] = {a1, a2, NULL};
    const char *pb[] = {NULL};
    const char *pc[] = {c1, NULL};
    const char *const *payloads[] = {pa, pb, pc};
    enum { N = 3 };
    crm_message *msgs[N];
    ingest_plan *plans[N];
    ingest_envelope env = {.source = "milter"};
    for (int i = 0; i < N; i++) {
        g_autofree char *mid = g_strdup_printf("batch%d-%s@test", i, run);
        g_autofree char *text = mime_with(mid, payloads[i]);
        msgs[i] = parse(text);
        plans[i] = ingest_plan_new(cfg, &env, msgs[i]);
        g_assert_cmpint(plans[i]->verdict, ==, INGEST_LOG);
    }
    ingest_result results[N];
    char *errs[N];
    char *err = NULL;
    crm_result r = ingest_store_batch(milter, 5000, plans,
                                      (const crm_message *const *)msgs, N, true,
                                      results, errs, &err);
    if (r)
        g_error("ingest_store_batch as crmgate_milter: %s", err);
    for (int i = 0; i < N; i++) {
        g_assert_null(errs[i]);
        g_assert_true(results[i].is_new);
        ingest_result_clear(&results[i]);
        ingest_plan_free(&plans[i]);
        message_free(&msgs[i]);
    }
    g_assert_true(blob_stored(a1));
    g_assert_true(blob_stored(a2));
    g_assert_true(blob_stored(c1));

    /* A content first seen over the size limit (row without content)
       is filled in by a later capture that carries it. */
    g_autofree char *late = g_strdup_printf("late content %s", run);
    const char *pl[] = {late, NULL};
    g_autofree char *mid1 = g_strdup_printf("late1-%s@test", run);
    g_autofree char *t1 = mime_with(mid1, pl);
    message_limits lim;
    ingest_message_limits(cfg, &lim);
    lim.attachment_store_max = 1;
    crm_message *m = NULL;
    g_assert_cmpint(message_parse_bytes(t1, strlen(t1), &lim, &m), ==, CRM_OK);
    g_assert_null(
        ((message_attachment *)g_ptr_array_index(m->attachments, 0))->content);
    ingest_plan *p = ingest_plan_new(cfg, &env, m);
    ingest_result res;
    g_assert_cmpint(ingest_store(milter, 5000, p, m, &res, &err), ==, CRM_OK);
    ingest_result_clear(&res);
    ingest_plan_free(&p);
    message_free(&m);
    g_assert_false(blob_stored(late));
    g_autofree char *mid2 = g_strdup_printf("late2-%s@test", run);
    g_autofree char *t2 = mime_with(mid2, pl);
    m = parse(t2);
    p = ingest_plan_new(cfg, &env, m);
    g_assert_cmpint(ingest_store(milter, 5000, p, m, &res, &err), ==, CRM_OK);
    ingest_result_clear(&res);
    ingest_plan_free(&p);
    message_free(&m);
    g_assert_true(blob_stored(late));
}

/* Two migrations at once on a fresh database (owner crmgate, created by
   the admin). */
typedef struct {
    const char *dsn;
    crm_result r;
    guint applied;
    char *err;
} migrate_arg;

static gpointer migrate_one(gpointer data)
{
    migrate_arg *a = data;
    db_conn *c = db_conn_new(a->dsn);
    a->r = db_migrate(c, &a->applied, &a->err);
    db_conn_free(&c);
    return NULL;
}

static void test_concurrent_migrate(void)
{
    const char *admin_dsn = g_getenv("CRMGATE_TEST_ADMIN_DSN");
    const char *dsn = g_getenv("CRMGATE_TEST_DSN");
    if (!admin_dsn || !*admin_dsn || !dsn || !*dsn) {
        g_test_skip("CRMGATE_TEST_ADMIN_DSN or CRMGATE_TEST_DSN not set");
        return;
    }
    db_conn *admin = db_conn_new(admin_dsn);
    char *err = NULL;
    /* The name is ours (digits of the run id): DDL takes no parameters. */
    g_autofree char *name = g_strdup_printf("crmgate_mig_%s", run);
    g_autofree char *create =
        g_strdup_printf("CREATE DATABASE %s OWNER crmgate", name);
    if (db_exec(admin, 10000, create, 0, NULL, &err))
        g_error("%s: %s", create, err);
    g_autofree char *fresh = g_strdup_printf("%s dbname=%s", dsn, name);
    migrate_arg args[2] = {{.dsn = fresh}, {.dsn = fresh}};
    GThread *t[2];
    for (int i = 0; i < 2; i++)
        t[i] = g_thread_new("migrate", migrate_one, &args[i]);
    for (int i = 0; i < 2; i++)
        g_thread_join(t[i]);
    for (int i = 0; i < 2; i++)
        if (args[i].r)
            g_error("migrate %d: %s", i, args[i].err);
    g_assert_cmpuint(args[0].applied + args[1].applied, ==,
                     crm_migrations_count);
    db_conn *c = db_conn_new(fresh);
    json_t *o = NULL;
    g_assert_cmpint(
        records_query_json(c,
                           "SELECT jsonb_build_array(count(*), "
                           "count(DISTINCT version)) FROM schema_migrations",
                           0, NULL, &o, &err),
        ==, CRM_OK);
    g_assert_cmpint(json_integer_value(json_array_get(o, 0)), ==,
                    crm_migrations_count);
    g_assert_cmpint(json_integer_value(json_array_get(o, 1)), ==,
                    crm_migrations_count);
    json_decref(o);
    /* Again: nothing to do. */
    guint again = 99;
    g_assert_cmpint(db_migrate(c, &again, &err), ==, CRM_OK);
    g_assert_cmpuint(again, ==, 0);
    db_conn_free(&c);
    g_autofree char *drop =
        g_strdup_printf("DROP DATABASE %s WITH (FORCE)", name);
    if (db_exec(admin, 10000, drop, 0, NULL, &err))
        g_error("%s: %s", drop, err);
    db_conn_free(&admin);
}

static db_conn *connect_env(const char *var)
{
    const char *dsn = g_getenv(var);
    if (!dsn || !*dsn)
        return NULL;
    db_conn *c = db_conn_new(dsn);
    char *err = NULL;
    if (db_connect(c, 5000, &err))
        g_error("%s: %s", var, err);
    return c;
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    message_library_init();
    cfg = config_new_defaults();
    g_hash_table_add(cfg->internal_domains, g_strdup("example.com"));
    config_sales_inbox *si = g_new0(config_sales_inbox, 1);
    si->address = g_strdup("sales@example.com");
    si->lead_source = g_strdup("email");
    g_hash_table_replace(cfg->sales_inboxes, si->address, si);
    g_snprintf(run, sizeof(run), "%" G_GINT64_FORMAT "%u",
               g_get_real_time() % 100000000, g_random_int_range(0, 1000));
    owner = connect_env("CRMGATE_TEST_DSN");
    milter = connect_env("CRMGATE_TEST_MILTER_DSN");
    g_test_add_func("/roles/milter-denied", test_milter_denied);
    g_test_add_func("/roles/owner-unprivileged", test_owner_unprivileged);
    g_test_add_func("/roles/milter-captures", test_milter_captures);
    g_test_add_func("/roles/milter-batch-blobs", test_milter_batch_blobs);
    g_test_add_func("/roles/concurrent-migrate", test_concurrent_migrate);
    int rc = g_test_run();
    db_conn_free(&milter);
    db_conn_free(&owner);
    config_free(&cfg);
    return rc;
}
