/*
 * rfc3339.c - format and re-format dates as RFC 3339 through GDateTime,
 * so that no date is ever put together by hand.
 */
#include "crmgate/rfc3339.h"

char *rfc3339_format(GDateTime *d)
{
    return g_date_time_format(d, RFC3339_FORMAT);
}

char *rfc3339_normalize(const char *text)
{
    if (text == NULL)
        return NULL;
    /* no default zone: a date without one is not RFC 3339 */
    GDateTime *d = g_date_time_new_from_iso8601(text, NULL);
    if (d == NULL)
        return NULL;
    char *s = rfc3339_format(d);
    g_date_time_unref(d);
    return s;
}
