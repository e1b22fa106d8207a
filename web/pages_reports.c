/*
 * pages_reports.c - the report pages: GET /reports (the list), GET
 * /reports/NAME (filter form, SVG chart, table, CSV link; ?format=csv the
 * CSV) and GET /api/reports/NAME (the JSON of core/reports.c).
 *
 * The numbers come from reports_run() with the viewer's id and role, so
 * every report counts only what the viewer may see. Filters come from the
 * query (owner, from, to); a bad one answers 400, an unknown report 404.
 */
#include <string.h>

#include "crmgate/log.h"
#include "crmgate/reports.h"
#include "crmgate/svgchart.h"
#include "web.h"

/* Runs the report of the route for the viewer; NULL when it answered an
   error itself. */
static json_t *run_report(web_req *req, web_resp *resp)
{
    reports_filters f = {
        .owner = webform_get(req->query, "owner"),
        .from = webform_get(req->query, "from"),
        .to = webform_get(req->query, "to"),
    };
    json_t *rep = NULL;
    char *err = NULL;
    crm_result r = reports_run(req->db, req->args[0], req->viewer.id,
                               req->viewer.role, &f, &rep, &err);
    switch (r) {
    case CRM_OK:
        break;
    case CRM_ERR_NOTFOUND:
        web_error(req, resp, 404, "there is no such report");
        break;
    case CRM_ERR_USAGE:
        web_error(req, resp, 400, err ? err : "bad filter");
        break;
    case CRM_ERR_DB_DOWN:
        log_error("web: report %s: %s", req->args[0], err ? err : "");
        web_error(req, resp, 503, "the database is not answering");
        break;
    case CRM_ERR_PARSE:
    case CRM_ERR_TOOBIG:
    case CRM_ERR_DB:
    case CRM_ERR_IO:
    case CRM_ERR_CONFIG:
    case CRM_ERR_EXISTS:
    case CRM_ERR_INTERNAL:
    case CRM_ERR_BUSY:
    case CRM_ERR_AUTH:
        log_error("web: report %s: %s", req->args[0],
                  err ? err : crm_strerror(r));
        web_error(req, resp, 500, "the report failed");
        break;
    }
    g_free(err);
    return rep;
}

void web_reports_list(web_req *req, web_resp *resp)
{
    web_page_begin(req, resp, "Reports");
    g_string_append(resp->body, "<h1>Reports</h1>\n<ul class=\"reports\">\n");
    for (gsize i = 0; reports_nth(i); i++) {
        const reports_def *d = reports_nth(i);
        html_printf(resp->body,
                    "<li><a href=\"/reports/%s\">%s</a><br><small>%s"
                    "</small></li>\n",
                    d->name, d->title, d->description);
    }
    g_string_append(resp->body, "</ul>\n");
    web_page_end(resp);
}

/* The chart of a report: one point per distinct label (rows with the same
   label are summed), the report's numeric series, or a count of rows. */
static void chart(GString *out, const reports_def *d, json_t *rep)
{
    json_t *rows = json_object_get(rep, "rows");
    GPtrArray *labels = g_ptr_array_new_with_free_func(g_free);
    GHashTable *index = g_hash_table_new(g_str_hash, g_str_equal);
    gsize ns = 0;
    while (d->chart_series && d->chart_series[ns])
        ns++;
    gsize nseries = ns ? ns : 1;
    GArray **vals = g_new0(GArray *, nseries);
    for (gsize s = 0; s < nseries; s++)
        vals[s] = g_array_new(FALSE, TRUE, sizeof(double));
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        GString *l = g_string_new(NULL);
        reports_cell_text(l, json_object_get(row, d->chart_label));
        gpointer at;
        gsize k;
        if (g_hash_table_lookup_extended(index, l->str, NULL, &at)) {
            k = GPOINTER_TO_SIZE(at);
            g_string_free(l, TRUE);
        } else {
            k = labels->len;
            char *key = g_string_free(l, FALSE);
            g_ptr_array_add(labels, key);
            g_hash_table_insert(index, key, GSIZE_TO_POINTER(k));
            for (gsize s = 0; s < nseries; s++)
                g_array_set_size(vals[s], k + 1);
        }
        for (gsize s = 0; s < nseries; s++) {
            double v =
                ns ? json_number_value(json_object_get(row, d->chart_series[s]))
                   : 1.0;
            g_array_index(vals[s], double, k) += v;
        }
    }
    svgchart_series *series = g_new0(svgchart_series, nseries);
    for (gsize s = 0; s < nseries; s++) {
        series[s].name = ns ? d->chart_series[s] : "messages";
        series[s].values = (const double *)vals[s]->data;
    }
    svgchart_kind kind = d->chart == REPORTS_CHART_LINE   ? SVGCHART_LINE
                         : d->chart == REPORTS_CHART_HBAR ? SVGCHART_HBAR
                                                          : SVGCHART_BAR;
    svgchart_render(out, kind, d->title, (const char *const *)labels->pdata,
                    labels->len, series, nseries);
    g_free(series);
    for (gsize s = 0; s < nseries; s++)
        g_array_free(vals[s], TRUE);
    g_free(vals);
    g_hash_table_destroy(index);
    g_ptr_array_free(labels, TRUE);
}

/* Appends "name=value" (URL-encoded) to a query being built. */
static void query_arg(GString *q, const char *name, const char *value)
{
    if (!value || !*value)
        return;
    g_string_append_printf(q, "&%s=", name);
    html_url_encode(q, value);
}

static void table(GString *out, const reports_def *d, json_t *rep)
{
    json_t *cols = json_object_get(rep, "columns");
    size_t i, j;
    json_t *c, *row;
    g_string_append(out, "<div class=\"table-wrap\"><table class=\"report\">"
                         "<thead><tr>");
    json_array_foreach(cols, i, c)
        html_printf(out, "<th>%s</th>", json_string_value(c));
    g_string_append(out, "</tr></thead>\n<tbody>\n");
    GString *cell = g_string_new(NULL);
    json_array_foreach(json_object_get(rep, "rows"), j, row)
    {
        g_string_append(out, "<tr>");
        json_array_foreach(cols, i, c)
        {
            const char *col = json_string_value(c);
            json_t *v = json_object_get(row, col);
            g_string_truncate(cell, 0);
            reports_cell_text(cell, v);
            if (d->link_column && strcmp(col, d->link_column) == 0)
                html_printf(out, "<td><a href=\"/messages/%s\">%s</a></td>",
                            cell->str, cell->str);
            else /* the class is markup: html_printf escapes %s */
                html_printf(out,
                            json_is_number(v) ? "<td class=\"num\">%s</td>"
                                              : "<td>%s</td>",
                            cell->str);
        }
        g_string_append(out, "</tr>\n");
    }
    g_string_free(cell, TRUE);
    if (json_array_size(json_object_get(rep, "rows")) == 0)
        html_printf(out,
                    "<tr><td colspan=\"%d\">Nothing in this period."
                    "</td></tr>\n",
                    (int)json_array_size(cols));
    g_string_append(out, "</tbody></table></div>\n");
}

void web_report_page(web_req *req, web_resp *resp)
{
    const char *format = webform_get(req->query, "format");
    bool csv = format && strcmp(format, "csv") == 0;
    if (format && !csv && *format && strcmp(format, "html") != 0) {
        web_error(req, resp, 400, "format: csv or html");
        return;
    }
    json_t *rep = run_report(req, resp);
    if (!rep)
        return;
    const reports_def *d = reports_find(req->args[0]);
    if (csv) {
        GString *out = g_string_new(NULL);
        reports_csv(rep, out);
        g_autofree char *fn = g_strdup_printf("%s.csv", d->name);
        web_csv(resp, out, fn);
        json_decref(rep);
        return;
    }
    json_t *filters = json_object_get(rep, "filters");
    const char *owner = webform_get(req->query, "owner");
    GString *o = resp->body;
    web_page_begin(req, resp, d->title);
    html_printf(o,
                "<p><a href=\"/reports\">Reports</a></p>\n<h1>%s</h1>\n"
                "<p>%s</p>\n",
                d->title, d->description);
    html_printf(o,
                "<form class=\"filters\" method=\"get\" "
                "action=\"/reports/%s\">\n"
                "<label>Owner <input name=\"owner\" value=\"%s\" "
                "placeholder=\"address or id\" maxlength=\"254\"></label>\n"
                "<label>From <input type=\"date\" name=\"from\" "
                "value=\"%s\"></label>\n"
                "<label>To <input type=\"date\" name=\"to\" "
                "value=\"%s\"></label>\n"
                "<button>Show</button>\n</form>\n",
                d->name, owner ? owner : "", web_str(filters, "from"),
                web_str(filters, "to"));
    g_string_append(o, "<figure>\n");
    chart(o, d, rep);
    g_string_append(o, "</figure>\n");
    GString *q = g_string_new("?format=csv");
    query_arg(q, "owner", owner);
    query_arg(q, "from", web_str(filters, "from"));
    query_arg(q, "to", web_str(filters, "to"));
    html_printf(o, "<p><a class=\"csv\" href=\"%s\">Download CSV</a></p>\n",
                q->str);
    g_string_free(q, TRUE);
    table(o, d, rep);
    web_page_end(resp);
    json_decref(rep);
}

void web_api_report(web_req *req, web_resp *resp)
{
    json_t *rep = run_report(req, resp);
    if (rep)
        web_json(resp, 200, rep);
}
