/*
 * metrics.c - /metrics in the Prometheus text format: requests and their
 * latency per route (counted here, in memory, since the start), captures
 * by direction and web sessions (from PostgreSQL), and the capture
 * journal's depth and age when its directory (milter.spool_dir) is on
 * this host.
 */
#include <string.h>

#include "crmgate/spool.h"
#include "web.h"

static const double buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                 0.1,   0.25,   0.5,   1,    2.5,   5};
#define NB G_N_ELEMENTS(buckets)

typedef struct {
    guint64 by_class[6]; /* 1xx..5xx */
    guint64 bucket[NB];
    guint64 count;
    double sum;
} route_stats;

static GMutex lock;
static GHashTable *stats; /* route name -> route_stats */

void web_metrics_count(const char *route, unsigned status, double seconds)
{
    g_mutex_lock(&lock);
    if (!stats)
        stats = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    route_stats *s = g_hash_table_lookup(stats, route);
    if (!s) {
        s = g_new0(route_stats, 1);
        g_hash_table_insert(stats, g_strdup(route), s);
    }
    unsigned cls = status / 100;
    s->by_class[cls < 6 ? cls : 5]++;
    for (guint i = 0; i < NB; i++)
        if (seconds <= buckets[i])
            s->bucket[i]++;
    s->count++;
    s->sum += seconds;
    g_mutex_unlock(&lock);
}

/* A label value: backslash, quote and newline escaped. */
static void label(GString *o, const char *v)
{
    for (const char *p = v; *p; p++) {
        if (*p == '\\' || *p == '"')
            g_string_append_c(o, '\\');
        if (*p == '\n')
            g_string_append(o, "\\n");
        else
            g_string_append_c(o, *p);
    }
}

void web_metrics(web_req *req, web_resp *resp)
{
    GString *o = resp->body;
    resp->ctype = "text/plain; version=0.0.4; charset=utf-8";
    g_string_append(o, "# HELP crmgate_web_requests_total HTTP requests by "
                       "route and status class.\n"
                       "# TYPE crmgate_web_requests_total counter\n");
    GString *hist = g_string_new(
        "# HELP crmgate_web_request_duration_seconds Request latency by "
        "route.\n# TYPE crmgate_web_request_duration_seconds histogram\n");
    g_mutex_lock(&lock);
    if (stats) {
        GHashTableIter it;
        gpointer k, v;
        g_hash_table_iter_init(&it, stats);
        while (g_hash_table_iter_next(&it, &k, &v)) {
            route_stats *s = v;
            for (guint c = 1; c < 6; c++) {
                if (!s->by_class[c])
                    continue;
                g_string_append(o, "crmgate_web_requests_total{route=\"");
                label(o, k);
                g_string_append_printf(
                    o, "\",code=\"%uxx\"} %" G_GUINT64_FORMAT "\n", c,
                    s->by_class[c]);
            }
            for (guint i = 0; i < NB; i++) {
                g_string_append(hist,
                                "crmgate_web_request_duration_seconds_bucket{"
                                "route=\"");
                label(hist, k);
                g_string_append_printf(hist,
                                       "\",le=\"%g\"} %" G_GUINT64_FORMAT "\n",
                                       buckets[i], s->bucket[i]);
            }
            g_string_append(hist, "crmgate_web_request_duration_seconds_bucket{"
                                  "route=\"");
            label(hist, k);
            g_string_append_printf(
                hist, "\",le=\"+Inf\"} %" G_GUINT64_FORMAT "\n", s->count);
            g_string_append(hist, "crmgate_web_request_duration_seconds_sum{"
                                  "route=\"");
            label(hist, k);
            g_string_append_printf(hist, "\"} %.6f\n", s->sum);
            g_string_append(hist, "crmgate_web_request_duration_seconds_count{"
                                  "route=\"");
            label(hist, k);
            g_string_append_printf(hist, "\"} %" G_GUINT64_FORMAT "\n",
                                   s->count);
        }
    }
    g_mutex_unlock(&lock);
    g_string_append(o, hist->str);
    g_string_free(hist, TRUE);

    char *err = NULL;
    PGresult *res = NULL;
    if (db_query(req->db, 5000,
                 "SELECT 'd:' || direction, count(*) FROM capture_events "
                 "GROUP BY 1 UNION ALL SELECT 's:', count(*) FROM "
                 "web_sessions WHERE expires_at > now()",
                 0, NULL, NULL, NULL, &res, &err) == CRM_OK) {
        g_string_append(o, "# HELP crmgate_captures_total Capture events by "
                           "direction.\n# TYPE crmgate_captures_total "
                           "counter\n");
        for (int i = 0; i < PQntuples(res); i++) {
            const char *key = PQgetvalue(res, i, 0);
            if (g_str_has_prefix(key, "d:")) {
                g_string_append(o, "crmgate_captures_total{direction=\"");
                label(o, key + 2);
                g_string_append_printf(o, "\"} %s\n", PQgetvalue(res, i, 1));
            }
        }
        for (int i = 0; i < PQntuples(res); i++)
            if (strcmp(PQgetvalue(res, i, 0), "s:") == 0)
                g_string_append_printf(
                    o,
                    "# HELP crmgate_web_sessions Active web sessions.\n"
                    "# TYPE crmgate_web_sessions gauge\n"
                    "crmgate_web_sessions %s\n",
                    PQgetvalue(res, i, 1));
        PQclear(res);
        g_string_append(o, "crmgate_database_up 1\n");
    } else {
        g_free(err);
        g_string_append(o, "crmgate_database_up 0\n");
    }
    spool_stats st;
    if (req->cfg->spool_dir &&
        g_file_test(req->cfg->spool_dir, G_FILE_TEST_IS_DIR) &&
        spool_status(req->cfg->spool_dir, &st, &err) == CRM_OK) {
        gint64 now = g_get_real_time() / G_USEC_PER_SEC;
        g_string_append_printf(
            o,
            "# HELP crmgate_journal_depth Messages waiting in the capture "
            "journal.\n# TYPE crmgate_journal_depth gauge\n"
            "crmgate_journal_depth %u\n"
            "# TYPE crmgate_journal_bytes gauge\ncrmgate_journal_bytes "
            "%" G_GUINT64_FORMAT "\n"
            "# TYPE crmgate_journal_oldest_age_seconds gauge\n"
            "crmgate_journal_oldest_age_seconds %" G_GINT64_FORMAT "\n"
            "# TYPE crmgate_journal_bad gauge\ncrmgate_journal_bad %u\n",
            st.files, st.bytes, st.oldest ? now - st.oldest : 0, st.bad);
    } else {
        g_free(err);
    }
}
