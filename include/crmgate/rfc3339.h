/*
 * rfc3339.h - dates as crmgate prints them: RFC 3339 with seconds and the
 * date's own offset (1994-10-07T16:15:05-07:00), built with GDateTime.
 */
#ifndef CRMGATE_RFC3339_H
#define CRMGATE_RFC3339_H

#include <glib.h>

/* The g_date_time_format() pattern of every date crmgate prints. */
#define RFC3339_FORMAT "%Y-%m-%dT%H:%M:%S%:z"

/* Returns d as RFC 3339 (g_free it). */
char *rfc3339_format(GDateTime *d);

/* Parses an ISO 8601 / RFC 3339 text (as PostgreSQL's JSON gives dates)
   and returns it as RFC 3339 in its own offset, or NULL when text is not a
   date with a time zone (g_free it). */
char *rfc3339_normalize(const char *text);

#endif
