/*
 * test_config.c - loading, validation and error messages of crmgate.conf.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "crmgate/config.h"

static char *tmpdir;

static char *write_conf(const char *name, const char *text)
{
    char *path = g_build_filename(tmpdir, name, NULL);
    g_assert_true(g_file_set_contents(path, text, -1, NULL));
    return path;
}

static void test_valid(void)
{
    g_autofree char *fm =
        write_conf("free.txt", "# comment\ngmail.com\n\nMail.RU # x\n");
    (void)fm;
    g_autofree char *p = write_conf(
        "ok.conf",
        "database { dsn = \"host=/tmp dbname=x\" time_budget_ms = 500 }\n"
        "mail {\n"
        "  internal_domains = { \"Example.COM\", \"bücher.example\" }\n"
        "  capture_domain = \"CRM.example.com\"\n"
        "  never_log_addresses = { \"HR@example.com\" }\n"
        "  never_log_domains = { \"private.test\" }\n"
        "  freemail_domains_file = \"free.txt\"\n"
        "  sales_inbox \"Sales@Example.com\" { lead_source = \"web\" owner = "
        "\"Boss@example.com\" }\n"
        "}\n"
        "limits { open_deals_linked = 5 }\n"
        "milter { spool_dir = \"spool\" }\n"
        "log { level = \"debug\" }\n");
    g_unsetenv("CRMGATE_DSN");
    g_unsetenv("CRMGATE_SPOOL_DIR");
    crm_config *cfg = NULL;
    char *err = NULL;
    g_assert_cmpint(config_load(p, &cfg, &err), ==, CRM_OK);
    g_assert_null(err);
    g_assert_cmpstr(cfg->dsn, ==, "host=/tmp dbname=x");
    g_assert_cmpuint(cfg->db_time_budget_ms, ==, 500);
    g_assert_true(config_is_internal_domain(cfg, "example.com"));
    g_assert_true(config_is_internal_domain(cfg, "xn--bcher-kva.example"));
    g_assert_false(config_is_internal_domain(cfg, "other.com"));
    g_assert_cmpstr(cfg->capture_domain, ==, "crm.example.com");
    g_assert_true(config_is_never_log(cfg, "hr@example.com"));
    g_assert_true(config_is_never_log(cfg, "anyone@private.test"));
    g_assert_false(config_is_never_log(cfg, "bob@example.com"));
    g_assert_true(config_is_freemail(cfg, "gmail.com"));
    g_assert_true(config_is_freemail(cfg, "mail.ru"));
    g_assert_false(config_is_freemail(cfg, "example.com"));
    const config_sales_inbox *s =
        config_sales_inbox_find(cfg, "sales@example.com");
    g_assert_nonnull(s);
    g_assert_cmpstr(s->lead_source, ==, "web");
    g_assert_cmpstr(s->owner, ==, "boss@example.com");
    g_assert_cmpuint(cfg->open_deals_linked, ==, 5);
    g_autofree char *spool = g_build_filename(tmpdir, "spool", NULL);
    g_assert_cmpstr(cfg->spool_dir, ==, spool);
    g_assert_cmpint(cfg->log_level, ==, LOG_LEVEL_DEBUG);
    config_free(&cfg);
    g_assert_null(cfg);

    /* Environment overrides. */
    g_setenv("CRMGATE_DSN", "host=elsewhere", TRUE);
    g_setenv("CRMGATE_SPOOL_DIR", "/var/spool/x", TRUE);
    g_assert_cmpint(config_load(p, &cfg, &err), ==, CRM_OK);
    g_assert_cmpstr(cfg->dsn, ==, "host=elsewhere");
    g_assert_cmpstr(cfg->spool_dir, ==, "/var/spool/x");
    config_free(&cfg);
    g_unsetenv("CRMGATE_DSN");
    g_unsetenv("CRMGATE_SPOOL_DIR");
}

/* Loads text and expects CRM_ERR_CONFIG with "file:line" and a phrase. */
static void expect_error(const char *text, int line, const char *phrase)
{
    g_autofree char *p = write_conf("bad.conf", text);
    crm_config *cfg = NULL;
    char *err = NULL;
    g_assert_cmpint(config_load(p, &cfg, &err), ==, CRM_ERR_CONFIG);
    g_assert_null(cfg);
    g_assert_nonnull(err);
    if (line > 0) {
        g_autofree char *where = g_strdup_printf("%s:%d:", p, line);
        if (!strstr(err, where))
            g_error("error '%s' does not name %s", err, where);
    }
    if (!strstr(err, phrase))
        g_error("error '%s' does not say '%s'", err, phrase);
    g_free(err);
}

static void test_errors(void)
{
    g_autofree char *fm = write_conf("free.txt", "gmail.com\n");
    (void)fm;
    expect_error(
        "mail {\n freemail_domains_file = \"free.txt\"\n bogus_key = 1\n}\n", 3,
        "bogus_key");
    expect_error("limits {\n open_deals_linked = \"many\"\n}\n", 2,
                 "open_deals_linked");
    expect_error("\n\nlimits { open_deals_linked = 1000 }\n", 3,
                 "between 0 and 100");
    expect_error("database { time_budget_ms = 1 }\n", 1, "time_budget_ms");
    expect_error("log { level = \"loud\" }\n", 1, "level");
    expect_error("mail { internal_domains = { \"not a domain\" } }\n", 1,
                 "not a domain");
    expect_error("# a { in a comment\nlimits {\n header_bytes = 70000\n", 2,
                 "never closed");
    expect_error("mail { freemail_domains_file = \"missing.txt\" }\n", 0,
                 "missing.txt");
    expect_error("mail { freemail_domains_file = \"free.txt\"\n"
                 " sales_inbox \"nobody\" { owner = \"x@y.z\" } }\n",
                 0, "sales_inbox");
}

static void test_missing_file(void)
{
    crm_config *cfg = NULL;
    char *err = NULL;
    g_assert_cmpint(config_load("/nonexistent/crmgate.conf", &cfg, &err), ==,
                    CRM_ERR_IO);
    g_assert_nonnull(strstr(err, "/nonexistent/crmgate.conf"));
    g_free(err);
}

static void test_shipped_config(void)
{
    /* The example configuration must always load. */
    crm_config *cfg = NULL;
    char *err = NULL;
    crm_result r = config_load("etc/crmgate.conf", &cfg, &err);
    if (r)
        g_error("etc/crmgate.conf: %s", err);
    g_assert_true(config_is_freemail(cfg, "gmail.com"));
    config_free(&cfg);
}

/* Two sets hold the same strings. */
static void assert_same_set(GHashTable *a, GHashTable *b)
{
    g_assert_cmpuint(g_hash_table_size(a), ==, g_hash_table_size(b));
    GHashTableIter it;
    gpointer k;
    g_hash_table_iter_init(&it, a);
    while (g_hash_table_iter_next(&it, &k, NULL))
        g_assert_true(g_hash_table_contains(b, k));
}

/* A path resolved against its config's directory, without that directory. */
static const char *below_dir(const crm_config *cfg, const char *p)
{
    g_assert_true(g_str_has_prefix(p, cfg->dir));
    return p + strlen(cfg->dir);
}

/* config_new_defaults() is exactly what an empty file gives: the defaults
   are written once, in the option tables. */
static void test_defaults_equal_empty_file(void)
{
    g_unsetenv("CRMGATE_DSN");
    g_unsetenv("CRMGATE_MILTER_DSN");
    g_unsetenv("CRMGATE_SPOOL_DIR");
    g_autofree char *dir = g_build_filename(tmpdir, "empty", NULL);
    g_assert_cmpint(g_mkdir_with_parents(dir, 0700), ==, 0);
    g_autofree char *p = g_build_filename(dir, "empty.conf", NULL);
    g_assert_true(g_file_set_contents(p, "", 0, NULL));
    crm_config *f = NULL;
    char *err = NULL;
    g_assert_cmpint(config_load(p, &f, &err), ==, CRM_OK);
    crm_config *d = config_new_defaults();

    g_assert_cmpstr(d->dsn, ==, f->dsn);
    g_assert_cmpstr(d->milter_dsn, ==, f->milter_dsn);
    g_assert_cmpuint(d->db_time_budget_ms, ==, f->db_time_budget_ms);
    g_assert_cmpuint(d->db_pool_size, ==, f->db_pool_size);
    assert_same_set(d->internal_domains, f->internal_domains);
    g_assert_cmpstr(d->capture_local, ==, f->capture_local);
    g_assert_cmpstr(d->capture_domain, ==, f->capture_domain);
    g_assert_cmpint(d->log_internal, ==, f->log_internal);
    g_assert_cmpstr(d->originating_daemon, ==, f->originating_daemon);
    assert_same_set(d->never_log_addresses, f->never_log_addresses);
    assert_same_set(d->never_log_domains, f->never_log_domains);
    assert_same_set(d->freemail_domains, f->freemail_domains);
    g_assert_cmpuint(g_hash_table_size(d->sales_inboxes), ==,
                     g_hash_table_size(f->sales_inboxes));
    g_assert_cmpuint(d->header_bytes, ==, f->header_bytes);
    g_assert_cmpuint(d->body_memory_bytes, ==, f->body_memory_bytes);
    g_assert_cmpuint(d->message_bytes, ==, f->message_bytes);
    g_assert_cmpuint(d->text_bytes, ==, f->text_bytes);
    g_assert_cmpuint(d->attachment_store_bytes, ==, f->attachment_store_bytes);
    g_assert_cmpuint(d->open_deals_linked, ==, f->open_deals_linked);
    g_assert_cmpuint(d->max_recipients, ==, f->max_recipients);
    g_assert_cmpstr(d->milter_socket, ==, f->milter_socket);
    g_assert_cmpstr(below_dir(d, d->spool_dir), ==, below_dir(f, f->spool_dir));
    g_assert_cmpuint(d->replay_interval_s, ==, f->replay_interval_s);
    g_assert_cmpuint(d->milter_timeout_s, ==, f->milter_timeout_s);
    g_assert_cmpint(d->log_level, ==, f->log_level);
    g_assert_cmpint(d->log_syslog, ==, f->log_syslog);

    /* and they are the documented values */
    g_assert_cmpstr(d->dsn, ==,
                    "host=127.0.0.1 port=55432 dbname=crmgate user=crmgate");
    g_assert_cmpstr(d->capture_local, ==, "crm");
    g_assert_cmpuint(d->header_bytes, ==, 65536);
    g_assert_cmpint(d->log_level, ==, LOG_LEVEL_INFO);
    config_free(&d);
    config_free(&f);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    tmpdir = g_dir_make_tmp("crmgate-config-XXXXXX", NULL);
    g_test_add_func("/config/valid", test_valid);
    g_test_add_func("/config/errors", test_errors);
    g_test_add_func("/config/missing-file", test_missing_file);
    g_test_add_func("/config/shipped", test_shipped_config);
    g_test_add_func("/config/defaults-equal-empty-file",
                    test_defaults_equal_empty_file);
    int rc = g_test_run();
    return rc;
}
