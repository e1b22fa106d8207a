/*
 * respond.c - what handlers use to answer: redirects, JSON, CSV, errors,
 * the page frame (navigation, logout form), and the viewer-scoped query
 * helpers every data read goes through.
 */
#include <string.h>

#include "crmgate/log.h"
#include "web.h"

void web_header(web_resp *resp, const char *name, const char *value)
{
    g_ptr_array_add(resp->headers, g_strdup(name));
    g_ptr_array_add(resp->headers, g_strdup(value));
}

void web_redirect(web_resp *resp, const char *location)
{
    resp->status = 303;
    web_header(resp, "Location", location);
    g_string_truncate(resp->body, 0);
}

void web_json(web_resp *resp, unsigned status, json_t *value)
{
    resp->status = status;
    resp->ctype = "application/json";
    char *text = json_dumps(value, JSON_COMPACT | JSON_ENSURE_ASCII);
    g_string_assign(resp->body, text ? text : "null");
    g_string_append_c(resp->body, '\n');
    free(text);
    json_decref(value);
}

void web_csv(web_resp *resp, GString *csv, const char *filename)
{
    resp->ctype = "text/csv; charset=utf-8";
    g_string_free(resp->body, TRUE);
    resp->body = csv;
    g_autofree char *disp =
        g_strdup_printf("attachment; filename=\"%s\"", filename);
    web_header(resp, "Content-Disposition", disp);
}

static const char *reason(unsigned status)
{
    switch (status) {
    case 400:
        return "Bad request";
    case 401:
        return "Login required";
    case 403:
        return "Forbidden";
    case 404:
        return "Not found";
    case 405:
        return "Method not allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Request too large";
    case 429:
        return "Too many attempts";
    case 503:
        return "Service unavailable";
    default:
        return "Error";
    }
}

void web_error(web_req *req, web_resp *resp, unsigned status, const char *msg)
{
    g_string_truncate(resp->body, 0);
    if ((req->route && (req->route->flags & WEB_API)) ||
        (req->path && g_str_has_prefix(req->path, "/api/"))) {
        web_json(resp, status, json_pack("{s:s}", "error", msg));
        return;
    }
    resp->status = status;
    resp->ctype = NULL;
    web_page_begin(req, resp, reason(status));
    html_printf(resp->body, "<h1>%s</h1>\n<p>%s</p>\n", reason(status), msg);
    web_page_end(resp);
    resp->status = status;
}

void web_csrf_field(web_req *req, GString *out)
{
    html_printf(out, "<input type=\"hidden\" name=\"csrf\" value=\"%s\">",
                req->viewer.csrf ? req->viewer.csrf : "");
}

void web_page_begin(web_req *req, web_resp *resp, const char *title)
{
    GString *o = resp->body;
    html_printf(o,
                "<!doctype html>\n<html lang=\"en\"><head><meta "
                "charset=\"utf-8\">\n<meta name=\"viewport\" "
                "content=\"width=device-width, initial-scale=1\">\n"
                "<title>%s - crmgate</title>\n<link rel=\"stylesheet\" "
                "href=\"/static/style.css\"></head>\n<body>\n",
                title);
    if (req->viewer.id) {
        g_string_append(o, "<nav><a class=\"brand\" href=\"/tasks\">crmgate</a>"
                           " <a href=\"/tasks\">Tasks</a>"
                           " <a href=\"/reports\">Reports</a>"
                           " <a href=\"/campaigns\">Campaigns</a>"
                           " <a href=\"/calls\">Calls</a>"
                           " <form class=\"search\" action=\"/search\" "
                           "method=\"get\"><input type=\"search\" name=\"q\" "
                           "placeholder=\"Search\" aria-label=\"Search\">"
                           "</form>");
        html_printf(o, " <span class=\"who\">%s (%s)</span>",
                    req->viewer.name && *req->viewer.name ? req->viewer.name
                                                          : req->viewer.email,
                    req->viewer.role);
        g_string_append(o, " <form class=\"logout\" action=\"/logout\" "
                           "method=\"post\">");
        web_csrf_field(req, o);
        g_string_append(o, "<button>Log out</button></form></nav>\n");
    }
    g_string_append(o, "<main>\n");
}

void web_page_end(web_resp *resp)
{
    g_string_append(resp->body, "</main>\n</body></html>\n");
}

void web_text(GString *out, json_t *v)
{
    if (!v || json_is_null(v))
        return;
    if (json_is_string(v)) {
        html_escape(out, json_string_value(v));
    } else if (json_is_integer(v)) {
        g_string_append_printf(out, "%" JSON_INTEGER_FORMAT,
                               json_integer_value(v));
    } else if (json_is_real(v)) {
        g_string_append_printf(out, "%.2f", json_real_value(v));
    } else if (json_is_true(v)) {
        g_string_append(out, "yes");
    } else if (json_is_false(v)) {
        g_string_append(out, "no");
    } else {
        char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        html_escape(out, t);
        free(t);
    }
}

const char *web_str(json_t *obj, const char *key)
{
    static _Thread_local char buf[64];
    json_t *v = json_object_get(obj, key);
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v)) {
        g_snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT,
                   json_integer_value(v));
        return buf;
    }
    if (json_is_real(v)) {
        g_snprintf(buf, sizeof buf, "%.2f", json_real_value(v));
        return buf;
    }
    return "";
}

void web_when(GString *out, json_t *obj, const char *key)
{
    const char *s = web_str(obj, key);
    gsize n = strlen(s);
    /* "2026-12-02T08:04:39.123+00:00" -> "2026-12-02 08:04" */
    if (n >= 16 && s[10] == 'T') {
        html_escape_len(out, s, 10);
        g_string_append_c(out, ' ');
        html_escape_len(out, s + 11, 5);
    } else {
        html_escape(out, s);
    }
}

/* Runs sql with the viewer as $1 and $2 before the n values; with out_r
   the answer is one JSON value (db_query_json), else none is wanted. On a
   database error answers 500/503 itself and returns false. */
static bool run(web_req *req, web_resp *resp, const char *sql, int n,
                const char *const *values, json_t **out_r)
{
    g_autofree char *vid = g_strdup_printf("%" G_GINT64_FORMAT, req->viewer.id);
    const char **all = g_new0(const char *, n + 2);
    all[0] = vid;
    all[1] = req->viewer.role ? req->viewer.role : "";
    for (int i = 0; i < n; i++)
        all[i + 2] = values[i];
    char *err = NULL;
    guint budget = req->cfg->db_time_budget_ms * 5;
    PGresult *res = NULL;
    crm_result r = out_r ? db_query_json(req->db, budget, sql, n + 2, all, NULL,
                                         NULL, out_r, &err)
                         : db_query(req->db, budget, sql, n + 2, all, NULL,
                                    NULL, &res, &err);
    g_free(all);
    PQclear(res);
    if (r) {
        log_error("web: %s %s: %s", req->method,
                  req->route ? req->route->pattern : req->path,
                  err ? err : crm_strerror(r));
        g_free(err);
        web_error(req, resp, r == CRM_ERR_DB_DOWN ? 503 : 500,
                  r == CRM_ERR_DB_DOWN ? "the database is not answering"
                                       : "the database refused the request");
        return false;
    }
    return true;
}

bool web_query_json(web_req *req, web_resp *resp, const char *sql, int n,
                    const char *const *values, json_t **out_r)
{
    return run(req, resp, sql, n, values, out_r);
}

bool web_exec(web_req *req, web_resp *resp, const char *sql, int n,
              const char *const *values)
{
    return run(req, resp, sql, n, values, NULL);
}

views_viewer web_views_viewer(web_req *req)
{
    views_viewer v = {
        .db = req->db,
        .id = req->viewer.id,
        .role = req->viewer.role,
        .timeout_ms = req->cfg->db_time_budget_ms * 5,
    };
    return v;
}
