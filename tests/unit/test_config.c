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

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    tmpdir = g_dir_make_tmp("crmgate-config-XXXXXX", NULL);
    g_test_add_func("/config/valid", test_valid);
    g_test_add_func("/config/errors", test_errors);
    g_test_add_func("/config/missing-file", test_missing_file);
    g_test_add_func("/config/shipped", test_shipped_config);
    int rc = g_test_run();
    return rc;
}
