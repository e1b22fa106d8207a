/*
 * test_rfc3339.c - dates printed as RFC 3339 with their own offset.
 */
#include <glib.h>

#include "crmgate/rfc3339.h"

static void test_format(void)
{
    GTimeZone *tz = g_time_zone_new_offset(-7 * 3600);
    GDateTime *d = g_date_time_new(tz, 1994, 10, 7, 16, 15, 5.25);
    g_autofree char *s = rfc3339_format(d);
    g_assert_cmpstr(s, ==, "1994-10-07T16:15:05-07:00");
    g_date_time_unref(d);
    g_time_zone_unref(tz);
    tz = g_time_zone_new_offset(5 * 3600 + 30 * 60);
    d = g_date_time_new(tz, 2021, 6, 1, 9, 3, 0);
    g_autofree char *t = rfc3339_format(d);
    g_assert_cmpstr(t, ==, "2021-06-01T09:03:00+05:30");
    g_date_time_unref(d);
    g_time_zone_unref(tz);
}

static void test_normalize(void)
{
    /* what PostgreSQL's to_jsonb gives for a timestamptz */
    g_autofree char *a = rfc3339_normalize("2026-12-02T05:53:17.123456+00:00");
    g_assert_cmpstr(a, ==, "2026-12-02T05:53:17+00:00");
    g_autofree char *b = rfc3339_normalize("2026-01-31T23:59:59Z");
    g_assert_cmpstr(b, ==, "2026-01-31T23:59:59+00:00");
    g_autofree char *c = rfc3339_normalize("2026-01-31T23:59:59-03:30");
    g_assert_cmpstr(c, ==, "2026-01-31T23:59:59-03:30");
    g_assert_null(rfc3339_normalize("2026-01-31T23:59:59")); /* no zone */
    g_assert_null(rfc3339_normalize("yesterday"));
    g_assert_null(rfc3339_normalize(NULL));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/rfc3339/format", test_format);
    g_test_add_func("/rfc3339/normalize", test_normalize);
    return g_test_run();
}
