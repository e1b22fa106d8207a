/*
 * reports.c - the analytics reports: one table (name, title, columns, chart,
 * SQL), run for a viewer with filters, returned as JSON; the CSV writer of
 * reports (libcsv quoting); payments for the income report.
 *
 * Every statement gets the same parameters: $1 viewer id, $2 viewer role,
 * $3 owner id (NULL: everyone the viewer may see), $4 from and $5 to
 * (dates, inclusive), and returns the rows as one JSON array built in
 * PostgreSQL with json_build_object, so the column order is the table's.
 * The role rule is crm_visible() (sql/0007) on the records counted; mail
 * reports count a manager's own mail (the staff user of a message) and read
 * the rollups of sql/0009, never the messages table in full. Bounds: a
 * period of at most ten years, owner filters up to REPORTS_OWNER_MAX bytes,
 * the unresolved list at 100 rows, each statement within
 * REPORTS_TIMEOUT_MS.
 */
#include "crmgate/reports.h"

#include <csv.h>
#include <jansson.h>
#include <string.h>
#include <time.h>

#include "crmgate/callview.h"
#include "crmgate/records.h"

#define REPORTS_TIMEOUT_MS 20000
#define REPORTS_MAX_DAYS 3660

/* The default period of a report, when from or to is not given. */
typedef enum {
    PERIOD_MONTHS,       /* the last 12 months, this one included */
    PERIOD_MONTHS_AHEAD, /* the same, and 6 months to come */
    PERIOD_WEEKS,        /* the last 12 weeks, this one included */
    PERIOD_DAYS,         /* the last 90 days */
} period_kind;

typedef struct {
    reports_def def;
    period_kind period;
    const char *sql;
} report;

/* SQL pieces: the viewer may see the record of type t aliased a; the owner
   filter; a timestamp in the period; the months of the period. */
#define VIS(t, a)                                                              \
    "crm_visible($1::bigint, $2::text, '" t "', " a ".owner_id, " a            \
    ".co_owner_id)"
#define OWN(a) "($3::bigint IS NULL OR " a ".owner_id = $3::bigint)"
#define IN_PERIOD(col) "(" col " >= $4::date AND " col " < $5::date + 1)"
#define MONTHS                                                                 \
    "months AS (SELECT g::date AS m FROM generate_series("                     \
    "date_trunc('month', $4::date), $5::date, interval '1 month') g)"
/* Staff mail: chief and admin see everyone's, others their own. */
#define MAIL_USER(col)                                                         \
    "($2::text IN ('chief', 'admin') OR " col " = $1::bigint) AND "            \
    "($3::bigint IS NULL OR " col " = $3::bigint)"
/* Payments of the period and of the year before it (income). */
#define PAYMENT_PERIOD                                                         \
    "(p.payment_date >= (date_trunc('month', $4::date) - interval '1 year')"   \
    "::date AND p.payment_date <= $5::date)"
#define USER_NAME(u) "coalesce(nullif(" u ".name, ''), " u ".email)"

static const char *const income_cols[] = {
    "month", "received", "guaranteed", "high", "low", "received_year_before",
    NULL};
static const char *const income_series[] = {
    "received", "guaranteed", "high", "low", "received_year_before", NULL};
static const char *const sales_cols[] = {"month", "won", "amount", NULL};
static const char *const sales_series[] = {"amount", NULL};
static const char *const funnel_cols[] = {"stage", "furthest", "reached",
                                          "drop_off_pct", NULL};
static const char *const funnel_series[] = {"reached", NULL};
static const char *const requests_cols[] = {"month", "total", "pending",
                                            "converted", NULL};
static const char *const requests_series[] = {"total", "pending", "converted",
                                              NULL};
static const char *const sources_cols[] = {"source", "requests", "leads",
                                           "deals",  "won",      NULL};
static const char *const sources_series[] = {"requests", "leads", "deals",
                                             "won", NULL};
static const char *const conversion_cols[] = {"month", "requests", "won",
                                              "rate_pct", NULL};
static const char *const conversion_series[] = {"rate_pct", NULL};
static const char *const reasons_cols[] = {"reason", "status", "deals",
                                           "amount", NULL};
static const char *const reasons_series[] = {"deals", NULL};
static const char *const deals_cols[] = {
    "owner",       "open",       "won",         "lost",
    "open_amount", "won_amount", "lost_amount", "avg_days_to_win",
    NULL};
static const char *const deals_series[] = {"open", "won", "lost", NULL};
static const char *const mail_cols[] = {"week", "manager", "inbound",
                                        "outbound", NULL};
static const char *const mail_series[] = {"inbound", "outbound", NULL};
static const char *const response_cols[] = {"manager", "replies",
                                            "median_hours", "p90_hours", NULL};
static const char *const response_series[] = {"median_hours", "p90_hours",
                                              NULL};
static const char *const unresolved_cols[] = {"id",   "day",     "direction",
                                              "from", "subject", NULL};
static const char *const campaigns_cols[] = {"name",
                                             "state",
                                             "recipients",
                                             "sent",
                                             "failed",
                                             "bounced",
                                             "bounce_rate_pct",
                                             "replied",
                                             "reply_rate_pct",
                                             "unsubscribed",
                                             "opened",
                                             "clicked",
                                             NULL};
static const char *const campaigns_series[] = {"sent", "bounced", "replied",
                                               NULL};
static const char *const calls_cols[] = {"manager",       "calls_in",
                                         "calls_out",     "answered_in",
                                         "missed_in",     "answered_out",
                                         "avg_answer_s",  "avg_duration_s",
                                         "leads_created", NULL};
static const char *const calls_series[] = {"answered_in", "missed_in",
                                           "calls_out", NULL};

/* The table (clang-format off: the SQL reads best as written). */
// clang-format off
static const report reports[] = {
    {{"income", "Income",
      "Payments per month and status, against the year before, and the "
      "expected income of the coming months",
      income_cols, REPORTS_CHART_BAR, "month", income_series, NULL},
     PERIOD_MONTHS_AHEAD,
     /* Chief and admin without an owner filter read payments alone: the
        planner drops the branch that does not apply. */
     "WITH " MONTHS ", q AS ("
     " SELECT p.payment_date, p.status, p.amount FROM payments p"
     "  WHERE $2::text IN ('chief', 'admin') AND $3::bigint IS NULL"
     "    AND " PAYMENT_PERIOD
     " UNION ALL"
     " SELECT p.payment_date, p.status, p.amount"
     "   FROM payments p JOIN deals d ON d.id = p.deal_id"
     "  WHERE NOT ($2::text IN ('chief', 'admin') AND $3::bigint IS NULL)"
     "    AND " VIS("deal", "d") " AND " OWN("d") " AND " PAYMENT_PERIOD "),"
     " p AS (SELECT date_trunc('month', q.payment_date::timestamp)::date AS m,"
     "  sum(q.amount) FILTER (WHERE q.status = 'received') AS received,"
     "  sum(q.amount) FILTER (WHERE q.status = 'guaranteed') AS guaranteed,"
     "  sum(q.amount) FILTER (WHERE q.status = 'high') AS high,"
     "  sum(q.amount) FILTER (WHERE q.status = 'low') AS low"
     "   FROM q GROUP BY 1)"
     "SELECT coalesce(json_agg(json_build_object('month',"
     " to_char(months.m, 'YYYY-MM'), 'received', coalesce(c.received, 0),"
     " 'guaranteed', coalesce(c.guaranteed, 0), 'high', coalesce(c.high, 0),"
     " 'low', coalesce(c.low, 0), 'received_year_before',"
     " coalesce(y.received, 0)) ORDER BY months.m), '[]')"
     "  FROM months LEFT JOIN p c ON c.m = months.m"
     "  LEFT JOIN p y ON y.m = (months.m - interval '1 year')::date"},
    {{"sales", "Sales",
      "Deals won per month: how many, and their amount (summed as stored, "
      "one currency)",
      sales_cols, REPORTS_CHART_LINE, "month", sales_series, NULL},
     PERIOD_MONTHS,
     "WITH " MONTHS ", d AS ("
     " SELECT date_trunc('month', d.closed_at)::date AS m, d.amount"
     "   FROM deals d"
     "  WHERE d.status = 'won' AND " IN_PERIOD("d.closed_at")
     "    AND " VIS("deal", "d") " AND " OWN("d") ")"
     "SELECT coalesce(json_agg(json_build_object('month',"
     " to_char(x.m, 'YYYY-MM'), 'won', x.won, 'amount', x.amount)"
     " ORDER BY x.m), '[]')"
     "  FROM (SELECT months.m, count(d.m) AS won,"
     "               coalesce(sum(d.amount), 0) AS amount"
     "          FROM months LEFT JOIN d ON d.m = months.m"
     "         GROUP BY months.m) x"},
    {{"funnel", "Sales funnel",
      "Deals created in the period by the furthest stage they reached; how "
      "many reached each stage and the drop-off from the stage before",
      funnel_cols, REPORTS_CHART_HBAR, "stage", funnel_series, NULL},
     PERIOD_MONTHS,
     "WITH far AS ("
     " SELECT f.position AS pos"
     "   FROM deals d JOIN deal_furthest_stage f ON f.deal_id = d.id"
     "  WHERE " IN_PERIOD("d.created_at") " AND " VIS("deal", "d")
     "    AND " OWN("d") "),"
     " st AS (SELECT s.name, s.position,"
     "   (SELECT count(*) FROM far WHERE far.pos = s.position) AS furthest,"
     "   (SELECT count(*) FROM far WHERE far.pos >= s.position) AS reached"
     "   FROM stages s),"
     " w AS (SELECT st.*, lag(st.reached) OVER (ORDER BY st.position,"
     "   st.name) AS prev FROM st)"
     "SELECT coalesce(json_agg(json_build_object('stage', w.name,"
     " 'furthest', w.furthest, 'reached', w.reached, 'drop_off_pct',"
     " CASE WHEN coalesce(w.prev, 0) = 0 THEN 0"
     "      ELSE round(100.0 * (w.prev - w.reached) / w.prev, 1) END)"
     " ORDER BY w.position, w.name), '[]') FROM w"},
    {{"requests", "Requests",
      "Requests per month: all, still pending, and converted to a deal",
      requests_cols, REPORTS_CHART_BAR, "month", requests_series, NULL},
     PERIOD_MONTHS,
     "WITH " MONTHS ", r AS ("
     " SELECT date_trunc('month', r.created_at)::date AS m, r.pending,"
     "        (r.deal_id IS NOT NULL OR EXISTS (SELECT 1 FROM deals d"
     "          WHERE d.request_id = r.id)) AS converted"
     "   FROM requests r"
     "  WHERE " IN_PERIOD("r.created_at") " AND " VIS("request", "r")
     "    AND " OWN("r") ")"
     "SELECT coalesce(json_agg(json_build_object('month',"
     " to_char(x.m, 'YYYY-MM'), 'total', x.total, 'pending', x.pending,"
     " 'converted', x.converted) ORDER BY x.m), '[]')"
     "  FROM (SELECT months.m, count(r.m) AS total,"
     "               count(*) FILTER (WHERE r.pending) AS pending,"
     "               count(*) FILTER (WHERE r.converted) AS converted"
     "          FROM months LEFT JOIN r ON r.m = months.m"
     "         GROUP BY months.m) x"},
    {{"lead-sources", "Lead sources",
      "Requests, leads, deals and won deals created in the period, per lead "
      "source (a deal's source: its request's, lead's or contact's)",
      sources_cols, REPORTS_CHART_BAR, "source", sources_series, NULL},
     PERIOD_MONTHS,
     "WITH rq AS (SELECT r.lead_source_id AS s FROM requests r"
     "  WHERE " IN_PERIOD("r.created_at") " AND " VIS("request", "r")
     "    AND " OWN("r") "),"
     " ld AS (SELECT l.lead_source_id AS s FROM leads l"
     "  WHERE " IN_PERIOD("l.created_at") " AND " VIS("lead", "l")
     "    AND " OWN("l") "),"
     " dl AS (SELECT d.lead_source_id AS s, d.status FROM deals d"
     "  WHERE " IN_PERIOD("d.created_at") " AND " VIS("deal", "d")
     "    AND " OWN("d") ")"
     "SELECT coalesce(json_agg(json_build_object('source', s.name,"
     " 'requests', coalesce(a.rq, 0), 'leads', coalesce(a.ld, 0),"
     " 'deals', coalesce(a.dl, 0), 'won', coalesce(a.won, 0))"
     " ORDER BY s.name), '[]')"
     "  FROM lead_sources s LEFT JOIN ("
     "   SELECT u.s, sum(u.rq) AS rq, sum(u.ld) AS ld, sum(u.dl) AS dl,"
     "          sum(u.won) AS won"
     "     FROM (SELECT rq.s, 1 AS rq, 0 AS ld, 0 AS dl, 0 AS won FROM rq"
     "           UNION ALL SELECT ld.s, 0, 1, 0, 0 FROM ld"
     "           UNION ALL SELECT dl.s, 0, 0, 1, (dl.status = 'won')::int"
     "             FROM dl) u"
     "    GROUP BY u.s) a ON a.s = s.id"},
    {{"conversion", "Conversion",
      "Requests per month of arrival and how many became won deals "
      "(deals.request_id), in percent",
      conversion_cols, REPORTS_CHART_LINE, "month", conversion_series, NULL},
     PERIOD_MONTHS,
     "WITH " MONTHS ", rq AS ("
     " SELECT r.id, date_trunc('month', r.created_at)::date AS m"
     "   FROM requests r"
     "  WHERE " IN_PERIOD("r.created_at") " AND " VIS("request", "r")
     "    AND " OWN("r") "),"
     " won AS (SELECT rq.m FROM deals d JOIN rq ON rq.id = d.request_id"
     "  WHERE d.status = 'won' AND " VIS("deal", "d") ")"
     "SELECT coalesce(json_agg(json_build_object('month',"
     " to_char(x.m, 'YYYY-MM'), 'requests', x.requests, 'won', x.won,"
     " 'rate_pct', CASE WHEN x.requests = 0 THEN 0"
     "   ELSE round(100.0 * x.won / x.requests, 1) END) ORDER BY x.m), '[]')"
     "  FROM (SELECT months.m, coalesce(a.n, 0) AS requests,"
     "               coalesce(b.n, 0) AS won"
     "          FROM months"
     "          LEFT JOIN (SELECT rq.m, count(*) AS n FROM rq GROUP BY 1) a"
     "            ON a.m = months.m"
     "          LEFT JOIN (SELECT won.m, count(*) AS n FROM won GROUP BY 1) b"
     "            ON b.m = months.m) x"},
    {{"closing-reasons", "Closing reasons",
      "Deals closed in the period per closing reason and outcome: how many, "
      "and their amount",
      reasons_cols, REPORTS_CHART_HBAR, "reason", reasons_series, NULL},
     PERIOD_MONTHS,
     "SELECT coalesce(json_agg(json_build_object('reason', x.reason,"
     " 'status', x.status, 'deals', x.n, 'amount', x.amount)"
     " ORDER BY x.status DESC, x.n DESC, x.reason), '[]')"
     "  FROM (SELECT coalesce(cr.name, '(none)') AS reason, d.status,"
     "               count(*) AS n, coalesce(sum(d.amount), 0) AS amount"
     "          FROM deals d"
     "          LEFT JOIN closing_reasons cr ON cr.id = d.closing_reason_id"
     "         WHERE d.status IN ('won', 'lost')"
     "           AND " IN_PERIOD("d.closed_at") " AND " VIS("deal", "d")
     "           AND " OWN("d") " GROUP BY 1, 2) x"},
    {{"deals", "Deals per owner",
      "Deals created in the period per owner: open, won, lost, their "
      "amounts, and the average days from creation to a win",
      deals_cols, REPORTS_CHART_BAR, "owner", deals_series, NULL},
     PERIOD_MONTHS,
     "SELECT coalesce(json_agg(json_build_object('owner',"
     " coalesce(" USER_NAME("u") ", '(nobody)'), 'open', x.open,"
     " 'won', x.won, 'lost', x.lost, 'open_amount', x.oa, 'won_amount',"
     " x.wa, 'lost_amount', x.la, 'avg_days_to_win', x.days)"
     " ORDER BY u.email NULLS LAST), '[]')"
     "  FROM (SELECT d.owner_id,"
     "   count(*) FILTER (WHERE d.status = 'open') AS open,"
     "   count(*) FILTER (WHERE d.status = 'won') AS won,"
     "   count(*) FILTER (WHERE d.status = 'lost') AS lost,"
     "   coalesce(sum(d.amount) FILTER (WHERE d.status = 'open'), 0) AS oa,"
     "   coalesce(sum(d.amount) FILTER (WHERE d.status = 'won'), 0) AS wa,"
     "   coalesce(sum(d.amount) FILTER (WHERE d.status = 'lost'), 0) AS la,"
     "   round(avg(extract(epoch FROM d.closed_at - d.created_at))"
     "         FILTER (WHERE d.status = 'won' AND d.closed_at IS NOT NULL)"
     "         / 86400, 2) AS days"
     "   FROM deals d"
     "  WHERE " IN_PERIOD("d.created_at") " AND " VIS("deal", "d")
     "    AND " OWN("d") " GROUP BY d.owner_id) x"
     "  LEFT JOIN users u ON u.id = x.owner_id"},
    {{"mail-activity", "Mail activity",
      "Captured mail per manager and week (UTC): received and sent",
      mail_cols, REPORTS_CHART_BAR, "week", mail_series, NULL},
     PERIOD_WEEKS,
     "SELECT coalesce(json_agg(json_build_object('week',"
     " to_char(x.week, 'YYYY-MM-DD'), 'manager', " USER_NAME("u") ","
     " 'inbound', x.i, 'outbound', x.o) ORDER BY x.week, u.email), '[]')"
     "  FROM (SELECT a.week, a.user_id,"
     "   coalesce(sum(a.n) FILTER (WHERE a.direction = 'in'), 0)::bigint"
     "     AS i,"
     "   coalesce(sum(a.n) FILTER (WHERE a.direction = 'out'), 0)::bigint"
     "     AS o"
     "   FROM mail_activity_weekly a"
     "  WHERE a.week >= date_trunc('week', $4::date)::date"
     "    AND a.week <= $5::date AND " MAIL_USER("a.user_id")
     "  GROUP BY a.week, a.user_id) x"
     "  JOIN users u ON u.id = x.user_id"},
    {{"first-response", "First response",
      "Hours from the first inbound message of a thread to the first "
      "outbound reply, per manager who replied: median and 90th percentile",
      response_cols, REPORTS_CHART_BAR, "manager", response_series, NULL},
     PERIOD_DAYS,
     /* Per user: an index range scan of (user_id, reply_at) and one sort
        for both percentiles. */
     "SELECT coalesce(json_agg(json_build_object('manager', " USER_NAME("u")
     ", 'replies', x.n, 'median_hours', round((x.p[1] / 3600)::numeric, 2),"
     " 'p90_hours', round((x.p[2] / 3600)::numeric, 2)) ORDER BY u.email),"
     " '[]')"
     "  FROM users u CROSS JOIN LATERAL ("
     "   SELECT count(*) AS n, percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP"
     "     (ORDER BY extract(epoch FROM t.reply_at - t.in_at)::float8) AS p"
     "     FROM thread_first_response t"
     "    WHERE t.user_id = u.id AND " IN_PERIOD("t.reply_at") ") x"
     " WHERE x.n > 0 AND " MAIL_USER("u.id")},
    {{"unresolved", "Unresolved mail",
      "Captured mail linked to no record, newest first (at most 100)",
      unresolved_cols, REPORTS_CHART_BAR, "day", NULL, "id"},
     PERIOD_MONTHS,
     "SELECT coalesce(json_agg(json_build_object('id', m.id, 'day',"
     " to_char(x.at, 'YYYY-MM-DD'), 'direction', m.direction, 'from',"
     " coalesce(m.from_addr, ''), 'subject', m.subject)"
     " ORDER BY x.at DESC, x.message_id DESC), '[]')"
     "  FROM ((SELECT u.message_id, u.at FROM unresolved_messages u"
     "          WHERE $2::text IN ('chief', 'admin') AND $3::bigint IS NULL"
     "            AND " IN_PERIOD("u.at")
     "          ORDER BY u.at DESC, u.message_id DESC LIMIT 100)"
     "        UNION ALL"
     "        (SELECT u.message_id, u.at FROM unresolved_user_messages u"
     "          WHERE NOT ($2::text IN ('chief', 'admin')"
     "                     AND $3::bigint IS NULL)"
     "            AND u.user_id = coalesce($3::bigint, $1::bigint)"
     "            AND " IN_PERIOD("u.at")
     "          ORDER BY u.at DESC, u.message_id DESC LIMIT 100)) x"
     "  JOIN messages m ON m.id = x.message_id"},
    {{"campaigns", "Campaigns",
      "Campaigns created in the period: recipients, sent, failed, bounced "
      "and replied (rates in percent of sent), unsubscribed, opened, clicked",
      campaigns_cols, REPORTS_CHART_BAR, "name", campaigns_series, NULL},
     PERIOD_MONTHS,
     /* The counts are crm_campaign_counts() (sql/0012), what `campaign
        status` prints; who sees a campaign is crm_campaign_visible()
        (sql/0013); the owner filter is the campaign's owner. */
     "SELECT coalesce(json_agg(json_build_object('name', x.name, 'state',"
     " x.state, 'recipients', x.recipients, 'sent', x.sent, 'failed',"
     " x.failed, 'bounced', x.bounced, 'bounce_rate_pct', CASE WHEN x.sent"
     " = 0 THEN 0 ELSE round(100.0 * x.bounced / x.sent, 1) END, 'replied',"
     " x.replied, 'reply_rate_pct', CASE WHEN x.sent = 0 THEN 0"
     " ELSE round(100.0 * x.replied / x.sent, 1) END, 'unsubscribed',"
     " x.unsubscribed, 'opened', x.opened, 'clicked', x.clicked)"
     " ORDER BY x.created_at, x.id), '[]')"
     "  FROM (SELECT c.id, c.name, c.state, c.created_at,"
     "   (k->>'recipients')::bigint AS recipients,"
     "   (k->>'sent')::bigint AS sent, (k->>'failed')::bigint AS failed,"
     "   (k->>'bounced')::bigint AS bounced,"
     "   (k->>'replied')::bigint AS replied,"
     "   (k->>'unsubscribed')::bigint AS unsubscribed,"
     "   (k->>'opened')::bigint AS opened, (k->>'clicked')::bigint AS clicked"
     "   FROM campaigns c CROSS JOIN LATERAL crm_campaign_counts(c.id) k"
     "  WHERE " IN_PERIOD("c.created_at")
     "    AND crm_campaign_visible($1::bigint, $2::text, c.owner_id)"
     "    AND " OWN("c") ") x"},
    {{"calls", "Calls",
      "Calls started in the period per manager: incoming, outgoing, "
      "answered and missed, average seconds to answer and average length of "
      "answered calls, leads created for unknown callers",
      calls_cols, REPORTS_CHART_BAR, "manager", calls_series, NULL},
     PERIOD_DAYS,
     /* The calls the viewer may see (callview.h's rule: chief and admin
        all, others their own and those of records they see), each counted
        for its user; a missed incoming call nobody took counts for the
        record's owner, else the called line's user, else "(nobody)". The
        owner filter is that manager. */
     /* (joins, not a subquery per call: cheaper, and cheap enough in
        the planner's eyes that it does not JIT-compile the statement) */
     "WITH c AS (SELECT c.*, coalesce(c.user_id, CASE WHEN c.direction ="
     "  'in' AND c.state = 'ended' AND c.answered_at IS NULL THEN coalesce("
     "  oc.owner_id, ol.owner_id, om.owner_id, vl.user_id) END) AS mgr"
     "  FROM calls c"
     "  LEFT JOIN contacts oc ON c.record_type = 'contact'"
     "   AND oc.id = c.record_id"
     "  LEFT JOIN leads ol ON c.record_type = 'lead' AND ol.id = c.record_id"
     "  LEFT JOIN companies om ON c.record_type = 'company'"
     "   AND om.id = c.record_id"
     "  LEFT JOIN voip_lines vl ON vl.number_e164 = c.line_e164"
     " WHERE " IN_PERIOD("c.started_at")
     "   AND " CALLVIEW_VISIBLE "),"
     " x AS (SELECT c.mgr,"
     "   count(*) FILTER (WHERE c.direction = 'in') AS calls_in,"
     "   count(*) FILTER (WHERE c.direction = 'out') AS calls_out,"
     "   count(*) FILTER (WHERE c.direction = 'in'"
     "                    AND c.answered_at IS NOT NULL) AS answered_in,"
     "   count(*) FILTER (WHERE c.direction = 'in' AND c.state = 'ended'"
     "                    AND c.answered_at IS NULL) AS missed_in,"
     "   count(*) FILTER (WHERE c.direction = 'out'"
     "                    AND c.answered_at IS NOT NULL) AS answered_out,"
     "   round(avg(extract(epoch FROM c.answered_at - c.started_at))"
     "         FILTER (WHERE c.direction = 'in'"
     "                 AND c.answered_at IS NOT NULL), 1) AS avg_answer_s,"
     "   round(avg(c.duration_s) FILTER (WHERE c.answered_at IS NOT NULL"
     "                                   AND c.duration_s IS NOT NULL), 1)"
     "     AS avg_duration_s,"
     "   count(*) FILTER (WHERE c.lead_created) AS leads_created"
     "   FROM c WHERE ($3::bigint IS NULL OR c.mgr = $3::bigint)"
     "  GROUP BY c.mgr)"
     "SELECT coalesce(json_agg(json_build_object('manager',"
     " coalesce(" USER_NAME("u") ", '(nobody)'), 'calls_in', x.calls_in,"
     " 'calls_out', x.calls_out, 'answered_in', x.answered_in, 'missed_in',"
     " x.missed_in, 'answered_out', x.answered_out, 'avg_answer_s',"
     " x.avg_answer_s, 'avg_duration_s', x.avg_duration_s, 'leads_created',"
     " x.leads_created) ORDER BY u.email NULLS LAST), '[]')"
     "  FROM x LEFT JOIN users u ON u.id = x.mgr"},
};
// clang-format on

static const report *find(const char *name)
{
    for (gsize i = 0; name && i < G_N_ELEMENTS(reports); i++)
        if (strcmp(reports[i].def.name, name) == 0)
            return &reports[i];
    return NULL;
}

const reports_def *reports_find(const char *name)
{
    const report *r = find(name);
    return r ? &r->def : NULL;
}

const reports_def *reports_nth(gsize i)
{
    return i < G_N_ELEMENTS(reports) ? &reports[i].def : NULL;
}

/* Parses YYYY-MM-DD into d; false when malformed or not a real date. */
static bool parse_date(const char *s, GDate *d)
{
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && !g_ascii_isdigit(s[i]))
            return false;
    int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 +
            (s[3] - '0');
    int m = (s[5] - '0') * 10 + (s[6] - '0');
    int day = (s[8] - '0') * 10 + (s[9] - '0');
    if (y < 1900 || y > 2999 || !g_date_valid_dmy(day, m, y))
        return false;
    g_date_clear(d, 1);
    g_date_set_dmy(d, day, m, y);
    return true;
}

static void format_date(const GDate *d, char buf[11])
{
    g_snprintf(buf, 11, "%04d-%02d-%02d", g_date_get_year(d),
               g_date_get_month(d), g_date_get_day(d));
}

/* The default period of kind, ending today (local time). */
static void default_period(period_kind kind, GDate *from, GDate *to)
{
    GDate today;
    g_date_clear(&today, 1);
    g_date_set_time_t(&today, time(NULL));
    *from = today;
    *to = today;
    switch (kind) {
    case PERIOD_MONTHS:
    case PERIOD_MONTHS_AHEAD:
        g_date_set_day(from, 1);
        g_date_subtract_months(from, 11);
        if (kind == PERIOD_MONTHS_AHEAD) {
            g_date_add_months(to, 6);
            g_date_set_day(to, g_date_get_days_in_month(g_date_get_month(to),
                                                        g_date_get_year(to)));
        }
        break;
    case PERIOD_WEEKS:
        g_date_subtract_days(from, g_date_get_weekday(from) - G_DATE_MONDAY);
        g_date_subtract_days(from, 7 * 11);
        break;
    case PERIOD_DAYS:
        g_date_subtract_days(from, 89);
        break;
    }
}

static bool is_id(const char *s)
{
    gsize n = strlen(s);
    if (n == 0 || n > 18)
        return false;
    for (gsize i = 0; i < n; i++)
        if (!g_ascii_isdigit(s[i]))
            return false;
    return true;
}

/* Resolves the owner filter to a user the viewer may choose; *id_r and
 *email_r (newly allocated) get it. */
static crm_result resolve_owner(db_conn *db, const char *owner, const char *vid,
                                const char *role, char **id_r, char **email_r,
                                char **error_r)
{
    if (strlen(owner) > REPORTS_OWNER_MAX) {
        *error_r = g_strdup("owner: too long");
        return CRM_ERR_USAGE;
    }
    const char *values[] = {is_id(owner) ? owner : NULL,
                            is_id(owner) ? NULL : owner, role, vid};
    json_t *u = NULL;
    crm_result r = records_query_json(
        db,
        "SELECT json_build_object('id', u.id::text, 'email', u.email)"
        "  FROM users u"
        " WHERE (u.id = $1::bigint OR u.email_norm = lower($2::text))"
        "   AND ($3::text IN ('chief', 'admin') OR u.id = $4::bigint)"
        " ORDER BY u.id LIMIT 1",
        4, values, &u, error_r);
    if (r)
        return r;
    if (!u) {
        *error_r = g_strdup("owner: no such user (managers and operators "
                            "may only choose themselves)");
        return CRM_ERR_USAGE;
    }
    *id_r = g_strdup(json_string_value(json_object_get(u, "id")));
    *email_r = g_strdup(json_string_value(json_object_get(u, "email")));
    json_decref(u);
    return CRM_OK;
}

crm_result reports_run(db_conn *db, const char *name, gint64 viewer_id,
                       const char *viewer_role, const reports_filters *filters,
                       json_t **out_r, char **error_r)
{
    *out_r = NULL;
    const report *rep = find(name);
    if (!rep) {
        *error_r = g_strdup_printf("no report called '%s'", name ? name : "");
        return CRM_ERR_NOTFOUND;
    }
    GDate from, to;
    default_period(rep->period, &from, &to);
    const char *f_from =
        filters && filters->from && *filters->from ? filters->from : NULL;
    const char *f_to =
        filters && filters->to && *filters->to ? filters->to : NULL;
    if (f_from && !parse_date(f_from, &from)) {
        *error_r = g_strdup("from: not a date (YYYY-MM-DD)");
        return CRM_ERR_USAGE;
    }
    if (f_to && !parse_date(f_to, &to)) {
        *error_r = g_strdup("to: not a date (YYYY-MM-DD)");
        return CRM_ERR_USAGE;
    }
    if (g_date_compare(&from, &to) > 0) {
        *error_r = g_strdup("from is after to");
        return CRM_ERR_USAGE;
    }
    if (g_date_days_between(&from, &to) > REPORTS_MAX_DAYS) {
        *error_r = g_strdup("the period is longer than ten years");
        return CRM_ERR_USAGE;
    }
    const char *role = viewer_role ? viewer_role : "";
    g_autofree char *vid = g_strdup_printf("%" G_GINT64_FORMAT, viewer_id);
    g_autofree char *owner_id = NULL;
    g_autofree char *owner_email = NULL;
    if (filters && filters->owner && *filters->owner) {
        crm_result r = resolve_owner(db, filters->owner, vid, role, &owner_id,
                                     &owner_email, error_r);
        if (r)
            return r;
    }
    char from_s[11], to_s[11];
    format_date(&from, from_s);
    format_date(&to, to_s);
    const char *values[] = {vid, role, owner_id, from_s, to_s};
    PGresult *res = NULL;
    crm_result r;
    /* The mail rollups are fed through rollup_queue (sql/0009): mail
       captured since the last fold counts too, so fold the queue first (a
       no-op while the ingester or another report is folding it). */
    if (strstr(rep->sql, "mail_activity_weekly") ||
        strstr(rep->sql, "thread_first_response") ||
        strstr(rep->sql, "unresolved_messages")) {
        r = db_exec(db, REPORTS_TIMEOUT_MS,
                    "SELECT crm_report_rollups_advance()", 0, NULL, error_r);
        if (r)
            return r;
    }
    r = db_query(db, REPORTS_TIMEOUT_MS, rep->sql, 5, values, NULL, NULL, &res,
                 error_r);
    if (r)
        return r;
    json_error_t jerr;
    json_t *rows = PQntuples(res) > 0 && !PQgetisnull(res, 0, 0)
                       ? json_loads(PQgetvalue(res, 0, 0), 0, &jerr)
                       : json_array();
    PQclear(res);
    if (!json_is_array(rows)) {
        json_decref(rows);
        *error_r = g_strdup("report: bad JSON from the database");
        return CRM_ERR_DB;
    }
    json_t *cols = json_array();
    for (const char *const *c = rep->def.columns; *c; c++)
        json_array_append_new(cols, json_string(*c));
    *out_r =
        json_pack("{s:s,s:s,s:{s:s?,s:s,s:s},s:o,s:o}", "report", rep->def.name,
                  "title", rep->def.title, "filters", "owner", owner_email,
                  "from", from_s, "to", to_s, "columns", cols, "rows", rows);
    return CRM_OK;
}

/* Appends the text of one cell: strings as they are, integers in full,
   reals with up to 15 significant digits, null as nothing. */
static void cell_text(GString *out, json_t *v)
{
    if (json_is_string(v)) {
        g_string_append(out, json_string_value(v));
    } else if (json_is_integer(v)) {
        g_string_append_printf(out, "%" JSON_INTEGER_FORMAT,
                               json_integer_value(v));
    } else if (json_is_real(v)) {
        char buf[G_ASCII_DTOSTR_BUF_SIZE];
        g_string_append(
            out, g_ascii_formatd(buf, sizeof buf, "%.15g", json_real_value(v)));
    } else if (json_is_true(v) || json_is_false(v)) {
        g_string_append(out, json_is_true(v) ? "true" : "false");
    }
}

void reports_cell_text(GString *out, json_t *value)
{
    cell_text(out, value);
}

/* Appends one CSV field (libcsv's quoting: always quoted, quotes doubled);
   an empty value is an empty unquoted field. */
static void csv_field_out(GString *out, const char *s, gsize len)
{
    if (len == 0)
        return;
    size_t need = csv_write(NULL, 0, s, len);
    gsize at = out->len;
    g_string_set_size(out, at + need);
    csv_write(out->str + at, need, s, len);
}

void reports_csv(json_t *rep_json, GString *out)
{
    json_t *cols = json_object_get(rep_json, "columns");
    json_t *rows = json_object_get(rep_json, "rows");
    size_t i, j;
    json_t *c, *row;
    json_array_foreach(cols, i, c)
    {
        if (i)
            g_string_append_c(out, ',');
        const char *s = json_string_value(c);
        csv_field_out(out, s, strlen(s));
    }
    g_string_append(out, "\r\n");
    GString *cell = g_string_new(NULL);
    json_array_foreach(rows, j, row)
    {
        json_array_foreach(cols, i, c)
        {
            if (i)
                g_string_append_c(out, ',');
            g_string_truncate(cell, 0);
            cell_text(cell, json_object_get(row, json_string_value(c)));
            csv_field_out(out, cell->str, cell->len);
        }
        g_string_append(out, "\r\n");
    }
    g_string_free(cell, TRUE);
}

static bool valid_amount(const char *s)
{
    gsize n = strlen(s), i = 0, frac = 0;
    bool dot = false;
    if (n == 0 || n > 15)
        return false;
    for (; i < n; i++) {
        if (s[i] == '.' && !dot && i > 0) {
            dot = true;
        } else if (g_ascii_isdigit(s[i])) {
            if (dot)
                frac++;
        } else {
            return false;
        }
    }
    return frac <= 2 && s[n - 1] != '.';
}

crm_result reports_payment_add(db_conn *db, const reports_payment *p,
                               gint64 *id_r, char **error_r)
{
    static const char *const statuses[] = {"received", "guaranteed", "high",
                                           "low"};
    const char *status = p->status ? p->status : "received";
    bool status_ok = false;
    for (gsize i = 0; i < G_N_ELEMENTS(statuses); i++)
        status_ok = status_ok || strcmp(status, statuses[i]) == 0;
    if (!status_ok) {
        *error_r = g_strdup("status: received, guaranteed, high or low");
        return CRM_ERR_USAGE;
    }
    if (!p->amount || !valid_amount(p->amount)) {
        *error_r = g_strdup("amount: a number like 1200 or 1200.50");
        return CRM_ERR_USAGE;
    }
    g_autofree char *cur = g_ascii_strup(p->currency ? p->currency : "USD", -1);
    if (strlen(cur) != 3 || !g_ascii_isalpha(cur[0]) ||
        !g_ascii_isalpha(cur[1]) || !g_ascii_isalpha(cur[2])) {
        *error_r = g_strdup("currency: three letters, e.g. USD");
        return CRM_ERR_USAGE;
    }
    GDate d;
    if (p->date && !parse_date(p->date, &d)) {
        *error_r = g_strdup("date: YYYY-MM-DD");
        return CRM_ERR_USAGE;
    }
    const char *contract = p->contract ? p->contract : "";
    if (strlen(contract) > 1000) {
        *error_r = g_strdup("contract: at most 1000 bytes");
        return CRM_ERR_USAGE;
    }
    g_autofree char *deal = g_strdup_printf("%" G_GINT64_FORMAT, p->deal_id);
    const char *values[] = {deal, p->amount, cur, status, p->date, contract};
    json_t *id = NULL;
    crm_result r = records_query_json(
        db,
        "INSERT INTO payments (deal_id, amount, currency, status,"
        "                      payment_date, contract)"
        " SELECT d.id, $2::numeric, $3, $4, coalesce($5::date, current_date),"
        "        $6 FROM deals d WHERE d.id = $1::bigint"
        " RETURNING to_json(id)",
        6, values, &id, error_r);
    if (r)
        return r;
    if (!id) {
        *error_r = g_strdup_printf("no deal %" G_GINT64_FORMAT, p->deal_id);
        return CRM_ERR_NOTFOUND;
    }
    *id_r = json_integer_value(id);
    json_decref(id);
    return CRM_OK;
}
