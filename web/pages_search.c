/*
 * pages_search.c - GET /search?q=: one search box over contacts (name,
 * email, phone by its last nine digits), leads, companies (name, domain),
 * deals (name, ticket) and requests, and "ticket:XXXX" for a deal's or a
 * request's ticket. The text is at most VIEWS_SEARCH_MAX characters (400
 * past it); results are scoped by the viewer's role in SQL and at most
 * SEARCH_PER_KIND per kind (core/views.c).
 */
#include <string.h>

#include "crmgate/views.h"
#include "web.h"

#define SEARCH_PER_KIND 20

void web_search_page(web_req *req, web_resp *resp)
{
    const char *q = webform_get(req->query, "q");
    views_viewer v = {
        .db = req->db,
        .id = req->viewer.id,
        .role = req->viewer.role,
        .timeout_ms = req->cfg->db_time_budget_ms * 5,
    };
    json_t *res = NULL;
    char *err = NULL;
    crm_result r = views_search(&v, q ? q : "", SEARCH_PER_KIND, &res, &err);
    if (r) {
        web_views_error(req, resp, r, err);
        g_free(err);
        return;
    }
    web_page_begin(req, resp, "Search");
    GString *o = resp->body;
    html_printf(o,
                "<h1>Search</h1>\n<form class=\"search-page\" method=\"get\" "
                "action=\"/search\"><label>Name, address, phone, domain or "
                "ticket:XXXX <input type=\"search\" name=\"q\" value=\"%s\" "
                "maxlength=\"%d\"></label> <button>Search</button></form>\n",
                q ? q : "", VIEWS_SEARCH_MAX);
    json_t *results = json_object_get(res, "results");
    if (q && *q && !json_array_size(results)) {
        g_string_append(o, "<p class=\"muted\">Nothing found.</p>\n");
    } else if (json_array_size(results)) {
        g_string_append(o, "<table class=\"results\"><thead><tr><th>Kind</th>"
                           "<th>Name</th><th>Details</th></tr></thead>"
                           "<tbody>\n");
        gsize i;
        json_t *x;
        json_array_foreach(results, i, x)
        {
            const char *type = web_str(x, "type");
            g_autofree char *id = g_strdup(web_str(x, "id"));
            html_printf(o,
                        "<tr data-type=\"%s\" data-id=\"%s\"><td>%s</td>"
                        "<td><a href=\"/%s/%s\">%s</a></td><td>%s</td></tr>\n",
                        type, id, type, views_type_path(type), id,
                        web_str(x, "label"), web_str(x, "detail"));
        }
        g_string_append(o, "</tbody></table>\n");
    }
    web_page_end(resp);
    json_decref(res);
}
