/*
 * reports.h - the analytics reports (django-crm's analytics app): one table
 * of reports, each an SQL statement scoped to the viewer with crm_visible(),
 * run with filters (owner, period) and returned as JSON; their CSV form;
 * and payments, which the income report reads.
 *
 * A report's JSON:
 *   {"report": NAME, "title": ..., "filters": {"owner": EMAIL|null,
 *    "from": "YYYY-MM-DD", "to": "YYYY-MM-DD"},
 *    "columns": ["month", "received", ...],
 *    "rows": [{"month": "2026-01", "received": 123.0, ...}, ...]}
 * Rows are objects keyed by column, numbers are JSON numbers.
 */
#ifndef CRMGATE_REPORTS_H
#define CRMGATE_REPORTS_H

#include <glib.h>
#include <stdbool.h>

#include "crmgate/db.h"
#include "crmgate/result.h"

typedef struct json_t json_t;

/* Longest owner filter (an address or an id) accepted. */
#define REPORTS_OWNER_MAX 254

typedef enum {
    REPORTS_CHART_BAR,  /* vertical bars, one group per label */
    REPORTS_CHART_LINE, /* one line per series */
    REPORTS_CHART_HBAR, /* horizontal bars (the funnel) */
} reports_chart;

/* One report of the table. */
typedef struct {
    const char *name;           /* "income", "sales", ... */
    const char *title;          /* shown as the page's heading */
    const char *description;    /* one sentence for the list */
    const char *const *columns; /* NULL-terminated, in output order */
    reports_chart chart;
    const char *chart_label;         /* the column naming each point */
    const char *const *chart_series; /* NULL-terminated numeric columns;
                                        NULL: count the rows per label */
    const char *link_column; /* a column holding a message id to link, or
                                NULL */
} reports_def;

/* The filters of a run; NULL or "" members take the report's defaults. */
typedef struct {
    const char *owner; /* a user id or address */
    const char *from;  /* YYYY-MM-DD, inclusive */
    const char *to;    /* YYYY-MM-DD, inclusive */
} reports_filters;

/* The report called name, or NULL. */
const reports_def *reports_find(const char *name);
/* The i-th report of the table (from 0), or NULL past its end. */
const reports_def *reports_nth(gsize i);

/* Runs report name for the viewer (id 0 with role admin: everything) with
   filters; *out_r gets the JSON above. CRM_ERR_NOTFOUND for an unknown
   report, CRM_ERR_USAGE (with *error_r) for a bad filter: a malformed or
   impossible date, from after to, a period over ten years, an unknown
   owner, or a manager or operator asking for someone else. */
crm_result reports_run(db_conn *db, const char *name, gint64 viewer_id,
                       const char *viewer_role, const reports_filters *filters,
                       json_t **out_r, char **error_r);

/* Appends report (the JSON of reports_run) as CSV to out: a header row of
   the columns, then one line per row (libcsv quoting; null is empty). */
void reports_csv(json_t *report, GString *out);

/* Appends the plain text of a report cell (strings as they are, numbers
   in full, null as nothing); the caller escapes it for its output. */
void reports_cell_text(GString *out, json_t *value);

/* A payment to add (status received|guaranteed|high|low). */
typedef struct {
    gint64 deal_id;
    const char *amount;   /* decimal, at most 2 fractional digits */
    const char *currency; /* 3 letters; NULL: USD */
    const char *status;   /* NULL: received */
    const char *date;     /* YYYY-MM-DD; NULL: today */
    const char *contract; /* NULL: "" */
} reports_payment;

/* Adds a payment to a deal; *id_r gets its id. CRM_ERR_USAGE for a bad
   field, CRM_ERR_NOTFOUND when the deal does not exist. */
crm_result reports_payment_add(db_conn *db, const reports_payment *p,
                               gint64 *id_r, char **error_r);

#endif
