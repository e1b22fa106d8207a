/*
 * pages_calls.c - calls in the web view: the call log GET /calls (HTML,
 * filters direction, state, user, page) and GET /api/calls (its JSON), a
 * call's recording GET /calls/ID/recording (the stored bytes as an
 * attachment), click-to-call POST /contacts/ID/call and /leads/ID/call
 * (303 back to the record page) and POST /api/contacts/ID/call and
 * /api/leads/ID/call (202 {"request": ID}); and the two pieces of record
 * pages: a call on the timeline, the click-to-call section of a contact or
 * lead (the Call button, or a hint when the viewer has no extension, and
 * the record's last CALL_REQUESTS_SHOWN requests).
 *
 * The data and the visibility rule come from core/callview.c; a call or
 * record the viewer may not see is 404. Every value is escaped
 * (html_printf / web_text).
 */
#include <string.h>

#include "crmgate/callview.h"
#include "crmgate/log.h"
#include "web.h"

#define CALL_REQUESTS_SHOWN 5

/* The record type of /TYPE/ID/call or /api/TYPE/ID/call. */
static const char *call_target_type(const char *path)
{
    if (path && g_str_has_prefix(path, "/api/"))
        path += 4;
    return web_record_type_of(path);
}

/* "12 s", "3 min 4 s" for a duration member; nothing when absent. */
static void duration_text(GString *o, json_t *it, const char *key)
{
    json_t *d = json_object_get(it, key);
    if (!json_is_integer(d))
        return;
    json_int_t s = json_integer_value(d);
    if (s >= 60)
        html_printf(o, "%lld min %lld s", (long long)(s / 60),
                    (long long)(s % 60));
    else
        html_printf(o, "%lld s", (long long)s);
}

void web_timeline_call(GString *o, json_t *it)
{
    const char *dir = web_str(it, "direction");
    html_printf(o,
                "<li class=\"call\" data-call-id=\"%s\" data-state=\"%s\">"
                "<span class=\"dir dir-%s\">%s</span> Call ",
                web_str(it, "id"), web_str(it, "state"), dir,
                strcmp(dir, "out") == 0 ? "out" : "in");
    html_printf(o, "%s <span class=\"remote\">%s</span>",
                strcmp(dir, "out") == 0 ? "to" : "from", web_str(it, "remote"));
    html_printf(o, " &middot; <b class=\"call-state\">%s</b>",
                web_str(it, "state"));
    if (*web_str(it, "disposition"))
        html_printf(o, " (<span class=\"disposition\">%s</span>)",
                    web_str(it, "disposition"));
    if (*web_str(it, "extension")) {
        html_printf(o, " &middot; ext <span class=\"extension\">%s</span>",
                    web_str(it, "extension"));
        if (*web_str(it, "user"))
            html_printf(o, " (%s)", web_str(it, "user"));
    }
    g_string_append(o, " &middot; <time>");
    web_when(o, it, "started_at");
    g_string_append(o, "</time>");
    if (*web_str(it, "answered_at")) {
        g_string_append(o, " &middot; answered <time>");
        web_when(o, it, "answered_at");
        g_string_append(o, "</time>");
    }
    if (json_is_integer(json_object_get(it, "duration"))) {
        g_string_append(o, " &middot; <span class=\"duration\">");
        duration_text(o, it, "duration");
        g_string_append(o, "</span>");
    }
    if (json_is_true(json_object_get(it, "lead_created")))
        g_string_append(o, " &middot; new lead");
    if (*web_str(it, "recording"))
        html_printf(o,
                    " &middot; <a class=\"recording\" href=\"%s\">"
                    "recording</a>",
                    web_str(it, "recording"));
    g_string_append(o, "</li>\n");
}

void web_click_to_call(web_req *req, GString *o, const char *type, json_t *rec)
{
    if (strcmp(type, "contact") != 0 && strcmp(type, "lead") != 0)
        return;
    views_viewer v = web_views_viewer(req);
    json_t *info = NULL;
    char *err = NULL;
    crm_result r =
        callview_requests(&v, type, req->id, CALL_REQUESTS_SHOWN, &info, &err);
    g_string_append(o, "<section id=\"click-to-call\">\n<h2>Call</h2>\n");
    if (r) {
        log_error("web: click-to-call requests of %s %" G_GINT64_FORMAT ": %s",
                  type, req->id, err ? err : crm_strerror(r));
        g_free(err);
        g_string_append(o, "<p class=\"muted\">Click-to-call is not "
                           "available right now.</p>\n</section>\n");
        return;
    }
    const char *ext = web_str(info, "extension");
    const char *phone = web_str(rec, "phone");
    if (!*phone) {
        g_string_append(o, "<p class=\"muted\">No phone number.</p>\n");
    } else if (!*ext) {
        g_string_append(o, "<p class=\"hint\">Set your extension to call "
                           "from here: an admin sets it with "
                           "<code>crmgate user add ... --extension "
                           "EXT</code>.</p>\n");
    } else {
        html_printf(o,
                    "<form class=\"call\" method=\"post\" "
                    "action=\"/%s/%s/call\">",
                    views_type_path(type), web_str(rec, "id"));
        web_csrf_field(req, o);
        html_printf(o,
                    "<button>Call</button> <span class=\"muted\">%s from "
                    "your extension %s (your phone rings first)</span>"
                    "</form>\n",
                    web_str(rec, "phone_e164")[0] ? web_str(rec, "phone_e164")
                                                  : phone,
                    ext);
    }
    json_t *list = json_object_get(info, "requests");
    if (json_array_size(list)) {
        g_string_append(o, "<ul class=\"call-requests\">\n");
        gsize i;
        json_t *q;
        json_array_foreach(list, i, q)
        {
            html_printf(o,
                        "<li data-request-id=\"%s\" data-state=\"%s\"><time>",
                        web_str(q, "id"), web_str(q, "state"));
            web_when(o, q, "created_at");
            html_printf(o, "</time> to %s from ext %s: <b>%s</b>",
                        web_str(q, "to"), web_str(q, "from_ext"),
                        web_str(q, "state"));
            if (*web_str(q, "result"))
                html_printf(o, " &middot; <span class=\"result\">%s</span>",
                            web_str(q, "result"));
            g_string_append(o, "</li>\n");
        }
        g_string_append(o, "</ul>\n");
    }
    g_string_append(o, "</section>\n");
    json_decref(info);
}

/* Queues a click-to-call for the route's record; answers errors itself
   and returns the request's id, or 0. */
static gint64 call_request(web_req *req, web_resp *resp)
{
    const char *type = call_target_type(req->path);
    views_viewer v = web_views_viewer(req);
    gint64 id = 0;
    bool no_ext = false;
    char *err = NULL;
    crm_result r = callview_request(&v, type, req->id, &id, &no_ext, &err);
    if (r == CRM_OK) {
        log_info("web: click-to-call request=%" G_GINT64_FORMAT
                 " type=%s id=%" G_GINT64_FORMAT " by=%" G_GINT64_FORMAT,
                 id, type, req->id, req->viewer.id);
    } else if (no_ext) {
        web_error(req, resp, 409, err);
    } else {
        web_views_error(req, resp, r, err);
    }
    g_free(err);
    return id;
}

void web_record_call_post(web_req *req, web_resp *resp)
{
    gint64 id = call_request(req, resp);
    if (!id)
        return;
    g_autofree char *loc = g_strdup_printf(
        "/%s/%" G_GINT64_FORMAT "?called=%" G_GINT64_FORMAT,
        views_type_path(call_target_type(req->path)), req->id, id);
    web_redirect(resp, loc);
}

void web_api_record_call(web_req *req, web_resp *resp)
{
    gint64 id = call_request(req, resp);
    if (id)
        web_json(resp, 202, json_pack("{s:I}", "request", (json_int_t)id));
}

void web_call_recording(web_req *req, web_resp *resp)
{
    views_viewer v = web_views_viewer(req);
    GBytes *content = NULL;
    const char *ctype = NULL;
    char *err = NULL;
    crm_result r = callview_recording(&v, req->id, &content, &ctype, &err);
    if (r) {
        web_views_error(req, resp, r, err);
        g_free(err);
        return;
    }
    gsize len = 0;
    const char *data = g_bytes_get_data(content, &len);
    g_string_truncate(resp->body, 0);
    g_string_append_len(resp->body, data, (gssize)len);
    resp->ctype = ctype;
    g_autofree char *name = callview_recording_filename(req->id, ctype);
    g_autofree char *disp =
        g_strdup_printf("attachment; filename=\"%s\"", name);
    web_header(resp, "Content-Disposition", disp);
    g_bytes_unref(content);
}

/* The call log's filters from the query. */
static callview_filter list_filter(web_req *req)
{
    callview_filter f = {
        .direction = webform_get(req->query, "direction"),
        .state = webform_get(req->query, "state"),
        .user = webform_get(req->query, "user"),
        .page = webform_get(req->query, "page"),
    };
    return f;
}

void web_api_calls(web_req *req, web_resp *resp)
{
    callview_filter f = list_filter(req);
    views_viewer v = web_views_viewer(req);
    json_t *out = NULL;
    char *err = NULL;
    crm_result r = callview_list(&v, &f, &out, &err);
    if (r)
        web_views_error(req, resp, r, err);
    else
        web_json(resp, 200, out);
    g_free(err);
}

/* An <option> of a filter select. */
static void option(GString *o, const char *value, const char *label,
                   const char *cur)
{
    html_printf(o, "<option value=\"%s\"%s>%s</option>", value,
                cur && strcmp(cur, value) == 0 ? " selected" : "", label);
}

/* A link to page n of the log with the current filters. */
static void page_link(GString *o, const callview_filter *f, gint64 n,
                      const char *label)
{
    GString *q = g_string_new("/calls?page=");
    g_string_append_printf(q, "%" G_GINT64_FORMAT, n);
    const char *keys[] = {"direction", "state", "user"};
    const char *vals[] = {f->direction, f->state, f->user};
    for (gsize i = 0; i < G_N_ELEMENTS(keys); i++)
        if (vals[i] && *vals[i]) {
            g_string_append_printf(q, "&%s=", keys[i]);
            html_url_encode(q, vals[i]);
        }
    html_printf(o, "<a href=\"%s\">%s</a>", q->str, label);
    g_string_free(q, TRUE);
}

static void call_row(GString *o, json_t *c)
{
    html_printf(o, "<tr data-call-id=\"%s\"><td><time>", web_str(c, "id"));
    web_when(o, c, "started_at");
    html_printf(o, "</time></td><td>%s</td><td>%s</td><td>%s</td><td>",
                web_str(c, "direction"), web_str(c, "state"),
                web_str(c, "disposition"));
    const char *remote = web_str(c, "remote_e164");
    html_printf(o, "%s</td><td>%s</td><td>%s</td><td>",
                *remote ? remote : web_str(c, "remote_number"),
                web_str(c, "extension"), web_str(c, "user"));
    const char *rec = web_str(c, "record");
    const char *colon = strchr(rec, ':');
    if (colon && *web_str(c, "record_name")) {
        g_autofree char *type = g_strndup(rec, (gsize)(colon - rec));
        const char *plural = views_type_path(type);
        if (plural) {
            html_printf(o, "<a href=\"/%s/%s\">%s</a>", plural, colon + 1,
                        web_str(c, "record_name"));
            if (json_is_true(json_object_get(c, "lead_created")))
                g_string_append(o, " <span class=\"muted\">(new)</span>");
        }
    }
    g_string_append(o, "</td><td>");
    duration_text(o, c, "duration");
    g_string_append(o, "</td><td>");
    if (*web_str(c, "recording"))
        html_printf(o, "<a class=\"recording\" href=\"%s\">recording</a>",
                    web_str(c, "recording"));
    g_string_append(o, "</td></tr>\n");
}

void web_calls_page(web_req *req, web_resp *resp)
{
    callview_filter f = list_filter(req);
    views_viewer v = web_views_viewer(req);
    json_t *out = NULL;
    char *err = NULL;
    crm_result r = callview_list(&v, &f, &out, &err);
    if (r) {
        web_views_error(req, resp, r, err);
        g_free(err);
        return;
    }
    web_page_begin(req, resp, "Calls");
    GString *o = resp->body;
    g_string_append(o, "<h1>Calls</h1>\n<form class=\"filters\" "
                       "method=\"get\" action=\"/calls\"><label>Direction "
                       "<select name=\"direction\">");
    option(o, "", "any", f.direction);
    option(o, "in", "incoming", f.direction);
    option(o, "out", "outgoing", f.direction);
    g_string_append(o, "</select></label> <label>State <select "
                       "name=\"state\">");
    option(o, "", "any", f.state);
    option(o, "answered", "answered", f.state);
    option(o, "missed", "missed", f.state);
    html_printf(o,
                "</select></label> <label>User id <input name=\"user\" "
                "value=\"%s\" size=\"6\" inputmode=\"numeric\"></label> "
                "<button>Show</button></form>\n",
                f.user ? f.user : "");
    json_t *calls = json_object_get(out, "calls");
    if (!json_array_size(calls)) {
        g_string_append(o, "<p class=\"muted\">No calls.</p>\n");
    } else {
        g_string_append(o, "<table class=\"calls\"><thead><tr><th>When</th>"
                           "<th>Direction</th><th>State</th>"
                           "<th>Disposition</th><th>Number</th>"
                           "<th>Extension</th><th>User</th><th>Record</th>"
                           "<th>Duration</th><th>Recording</th></tr></thead>"
                           "<tbody>\n");
        gsize i;
        json_t *c;
        json_array_foreach(calls, i, c)
        {
            call_row(o, c);
        }
        g_string_append(o, "</tbody></table>\n");
    }
    json_int_t page = json_integer_value(json_object_get(out, "page"));
    bool more = json_is_true(json_object_get(out, "more"));
    if (page > 1 || more) {
        g_string_append(o, "<p class=\"pages\">");
        if (page > 1)
            page_link(o, &f, page - 1, "Newer");
        html_printf(o, " page %lld ", (long long)page);
        if (more)
            page_link(o, &f, page + 1, "Older");
        g_string_append(o, "</p>\n");
    }
    web_page_end(resp);
    json_decref(out);
}
