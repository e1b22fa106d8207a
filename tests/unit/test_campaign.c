/*
 * test_campaign.c - the pure parts of core/campaign.c: sending windows
 * (parsing, hostile text, the wait until a window opens across days, time
 * zones and DST), segments (every term, their combination, hostile terms,
 * csv files with bad rows, invalid UTF-8 and too many columns) and the
 * sealing of relay passwords.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <jansson.h>
#include <string.h>

#include "crmgate/campaign.h"
#include "crmgate/config.h"

static void test_window_parse(void)
{
    campaign_window w;
    char *err = NULL;
    g_assert_cmpint(campaign_window_parse("Mon-Thu 09:00-17:00", &w, &err), ==,
                    CRM_OK);
    g_assert_cmpuint(w.days, ==, 0x0f);
    g_assert_cmpuint(w.start_min, ==, 540);
    g_assert_cmpuint(w.end_min, ==, 1020);
    g_assert_cmpint(campaign_window_parse("Fri-Mon", &w, &err), ==, CRM_OK);
    g_assert_cmpuint(w.days, ==, (1u << 4) | (1u << 5) | (1u << 6) | 1u);
    g_assert_cmpuint(w.end_min, ==, 1440);
    g_assert_cmpint(campaign_window_parse("mon,WED,fri 08:30-24:00", &w, &err),
                    ==, CRM_OK);
    g_assert_cmpuint(w.days, ==, 1u | (1u << 2) | (1u << 4));
    g_assert_cmpuint(w.end_min, ==, 1440);
    g_assert_cmpint(campaign_window_parse("10:00-11:00", &w, &err), ==, CRM_OK);
    g_assert_cmpuint(w.days, ==, 0x7f);
    g_assert_cmpint(campaign_window_parse(NULL, &w, &err), ==, CRM_OK);
    g_assert_cmpuint(w.days, ==, 0x7f);
    static const char *const bad[] = {"Funday",
                                      "Mon-Thu 17:00-09:00",
                                      "Mon 25:00-26:00",
                                      "Mon 9:00-17:00",
                                      "Mon-Thu 09:00-17:00 extra",
                                      "Mon 09:00",
                                      "09:00-09:00",
                                      "Mon--Thu",
                                      "-",
                                      " ",
                                      "Mon 09:60-10:00",
                                      "Mon \xff\xfe"};
    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_assert_cmpint(campaign_window_parse(bad[i], &w, &err), ==,
                        CRM_ERR_USAGE);
        g_assert_nonnull(err);
        g_clear_pointer(&err, g_free);
    }
    GString *huge = g_string_new(NULL);
    for (int i = 0; i < 1000; i++)
        g_string_append(huge, "Mon,");
    g_assert_cmpint(campaign_window_parse(huge->str, &w, &err), ==,
                    CRM_ERR_USAGE);
    g_clear_pointer(&err, g_free);
    g_string_free(huge, TRUE);
}

static gint64 wait_at(const char *window, const char *tz, const char *now)
{
    campaign_window w;
    char *err = NULL;
    g_assert_cmpint(campaign_window_parse(window, &w, &err), ==, CRM_OK);
    GTimeZone *z = g_time_zone_new_identifier(tz);
    g_assert_nonnull(z);
    GDateTime *t = g_date_time_new_from_iso8601(now, NULL);
    g_assert_nonnull(t);
    gint64 s = campaign_window_wait(&w, z, t);
    g_date_time_unref(t);
    g_time_zone_unref(z);
    return s;
}

static void test_window_wait(void)
{
    /* 2026-12-07 is a Monday */
    g_assert_cmpint(
        wait_at("Mon-Thu 09:00-17:00", "UTC", "2026-12-07T10:00:00Z"), ==, 0);
    g_assert_cmpint(
        wait_at("Mon-Thu 09:00-17:00", "UTC", "2026-12-07T08:00:00Z"), ==,
        3600);
    /* Thursday 17:00 is closed: next Monday 09:00 */
    g_assert_cmpint(
        wait_at("Mon-Thu 09:00-17:00", "UTC", "2026-12-10T17:00:00Z"), ==,
        (3 * 24 + 16) * 3600);
    /* in Berlin (UTC+1 in winter) 08:30 UTC is 09:30: open */
    g_assert_cmpint(
        wait_at("Mon 09:00-10:00", "Europe/Berlin", "2026-12-07T08:30:00Z"), ==,
        0);
    g_assert_cmpint(
        wait_at("Mon 09:00-10:00", "Europe/Berlin", "2026-12-07T07:30:00Z"), ==,
        30 * 60);
    /* all day, every day */
    g_assert_cmpint(wait_at("Mon-Sun", "UTC", "2026-12-09T23:59:59Z"), ==, 0);
    /* across the spring DST change (2027-03-28 in Berlin): Sunday 09:00
       local is 07:00 UTC */
    g_assert_cmpint(
        wait_at("Sun 09:00-10:00", "Europe/Berlin", "2027-03-28T06:00:00Z"), ==,
        3600);
}

static json_t *seg(const char *expr, const char *dir, crm_result want)
{
    json_t *f = NULL;
    char *err = NULL;
    crm_result r = campaign_segment_parse(expr, dir, &f, &err);
    g_assert_cmpint(r, ==, want);
    if (r)
        g_assert_nonnull(err);
    g_free(err);
    return f;
}

static void test_segment(void)
{
    json_t *f = seg("tag:News,company:42,country:de,owner:Boss@Example.COM,"
                    "leads",
                    NULL, CRM_OK);
    g_assert_cmpstr(
        json_string_value(json_array_get(json_object_get(f, "tags"), 0)), ==,
        "news");
    g_assert_cmpint(json_integer_value(json_object_get(f, "company")), ==, 42);
    g_assert_cmpstr(json_string_value(json_object_get(f, "country")), ==, "DE");
    g_assert_cmpstr(json_string_value(json_object_get(f, "owner")), ==,
                    "boss@example.com");
    g_assert_true(json_is_true(json_object_get(f, "leads")));
    g_assert_null(json_object_get(f, "contacts"));
    json_decref(f);
    f = seg("tag:a, tag:b", NULL, CRM_OK);
    g_assert_cmpuint(json_array_size(json_object_get(f, "tags")), ==, 2);
    json_decref(f);
    static const char *const bad[] = {"",
                                      "frob:1",
                                      "tag:",
                                      "company:x",
                                      "company:0",
                                      "company:-1",
                                      "country:DEU",
                                      "country:1",
                                      "owner:nope",
                                      "tag:a,,tag:b",
                                      "leads:1",
                                      "csv:/nonexistent",
                                      "company:99999999999999999999",
                                      ","};
    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++)
        g_assert_null(seg(bad[i], NULL, i == 11 ? CRM_ERR_IO : CRM_ERR_USAGE));
}

static void test_segment_csv(void)
{
    g_autofree char *dir = g_dir_make_tmp("crmseg-XXXXXX", NULL);
    g_autofree char *p = g_build_filename(dir, "list.csv", NULL);
    const char csv[] = "Email,First_Name,ignored,company\n"
                       "A@Example.com,Ann,x,Acme\n"
                       "not-an-address,Bob,y,\n"
                       "\"quoted@example.com\",\"Q, Uoted\",z,\n"
                       "bad\xff@example.com,\xff\xfe,w,\n"
                       ",,,\n";
    g_assert_true(g_file_set_contents(p, csv, sizeof(csv) - 1, NULL));
    json_t *f = seg("csv:list.csv", dir, CRM_OK);
    json_t *rows = json_object_get(f, "csv");
    g_assert_cmpuint(json_array_size(rows), ==, 2);
    g_assert_cmpstr(
        json_string_value(json_object_get(json_array_get(rows, 0), "email")),
        ==, "a@example.com");
    g_assert_cmpstr(json_string_value(
                        json_object_get(json_array_get(rows, 0), "first_name")),
                    ==, "Ann");
    g_assert_null(json_object_get(json_array_get(rows, 0), "ignored"));
    g_assert_cmpstr(json_string_value(
                        json_object_get(json_array_get(rows, 1), "first_name")),
                    ==, "Q, Uoted");
    json_decref(f);
    /* no email column */
    g_assert_true(g_file_set_contents(p, "name\nx\n", -1, NULL));
    g_assert_null(seg("csv:list.csv", dir, CRM_ERR_PARSE));
    /* two csv terms */
    g_assert_true(g_file_set_contents(p, "email\na@b.example\n", -1, NULL));
    g_assert_null(seg("csv:list.csv,csv:list.csv", dir, CRM_ERR_USAGE));
    g_unlink(p);
    g_rmdir(dir);
}

static void test_password_seal(void)
{
    crm_config *cfg = config_new_defaults();
    g_free(cfg->campaign_secret);
    cfg->campaign_secret = g_strdup("k1");
    GBytes *b = campaign_password_seal(cfg, "hunter2");
    gsize len;
    const char *d = g_bytes_get_data(b, &len);
    g_assert_null(memmem(d, len, "hunter2", 7));
    char *pw = campaign_password_open(cfg, d, len);
    g_assert_cmpstr(pw, ==, "hunter2");
    g_free(pw);
    /* another key, a flipped byte, a short buffer: nothing */
    g_free(cfg->campaign_secret);
    cfg->campaign_secret = g_strdup("k2");
    g_assert_null(campaign_password_open(cfg, d, len));
    g_free(cfg->campaign_secret);
    cfg->campaign_secret = g_strdup("k1");
    char *copy = g_memdup2(d, len);
    copy[len - 1] ^= 1;
    g_assert_null(campaign_password_open(cfg, copy, len));
    g_assert_null(campaign_password_open(cfg, copy, 5));
    g_free(copy);
    g_bytes_unref(b);
    config_free(&cfg);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/campaign/window-parse", test_window_parse);
    g_test_add_func("/campaign/window-wait", test_window_wait);
    g_test_add_func("/campaign/segment", test_segment);
    g_test_add_func("/campaign/segment-csv", test_segment_csv);
    g_test_add_func("/campaign/password-seal", test_password_seal);
    return g_test_run();
}
