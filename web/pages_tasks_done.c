/*
 * pages_tasks_done.c - the signed one-click completion of task notices
 * (GET /tasks/ID/done shows a confirm page, POST completes; no login: the
 * HMAC of task, user and expiry under web.secret is the token, and the
 * user must still be allowed to see the task) and the tasks' JSON API
 * (/api/tasks, /api/tasks/ID). The pages that need a session are in
 * pages_tasks.c.
 */
#include <string.h>

#include "crmgate/tasks.h"
#include "pages_tasks.h"
#include "web.h"

typedef struct {
    gint64 user;
    gint64 expiry;
    const char *sig;
} done_link;

/* Reads u, e, s (from the form of a POST, else the query) and checks the
   signature, the expiry and that the user still sees the task. False
   (403 answered) otherwise; *role_r is the user's role. */
static bool done_check(web_req *req, web_resp *resp, done_link *l,
                       char **role_r)
{
    webform *src = strcmp(req->method, "POST") == 0 ? req->form : req->query;
    const char *u = webform_get(src, "u");
    const char *e = webform_get(src, "e");
    l->sig = webform_get(src, "s");
    *role_r = NULL;
    gint64 now = g_get_real_time() / G_USEC_PER_SEC;
    if (!u || !e || !l->sig ||
        !g_ascii_string_to_signed(u, 10, 1, G_MAXINT64, &l->user, NULL) ||
        !g_ascii_string_to_signed(e, 10, 1, G_MAXINT64, &l->expiry, NULL) ||
        !tasks_done_verify(req->cfg->web_secret, req->id, l->user, l->expiry,
                           l->sig, now)) {
        web_error(req, resp, 403,
                  "this link is not valid or has expired; open the task "
                  "after logging in");
        return false;
    }
    char *err = NULL;
    if (tasks_user_role(req->db, l->user, role_r, &err)) {
        g_free(err);
        web_error(req, resp, 403, "this link is not valid any more");
        return false;
    }
    return true;
}

static void done_hidden(GString *o, const done_link *l)
{
    html_printf(o,
                "<input type=\"hidden\" name=\"u\" value=\"%" G_GINT64_FORMAT
                "\"><input type=\"hidden\" name=\"e\" value=\"%" G_GINT64_FORMAT
                "\"><input type=\"hidden\" name=\"s\" value=\"%s\">",
                l->user, l->expiry, l->sig);
}

void web_task_done_confirm(web_req *req, web_resp *resp)
{
    done_link l;
    g_autofree char *role = NULL;
    if (!done_check(req, resp, &l, &role))
        return;
    tasks_actor a = {.id = l.user, .role = role};
    json_t *t = NULL;
    char *err = NULL;
    crm_result r = tasks_get(req->db, &a, req->id, &t, &err);
    if (r == CRM_ERR_NOTFOUND) {
        g_free(err);
        web_error(req, resp, 403, "this link is not valid any more");
        return;
    }
    if (r) {
        web_tasks_fail(req, resp, r, err);
        return;
    }
    web_page_begin(req, resp, "Complete a task");
    GString *o = resp->body;
    g_string_append(o, "<h1>");
    web_text(o, json_object_get(t, "title"));
    html_printf(o, "</h1>\n<p>Stage: <span class=\"stage\">%s</span></p>\n",
                web_str(t, "stage"));
    if (json_is_true(json_object_get(t, "open"))) {
        html_printf(o,
                    "<form method=\"post\" action=\"/tasks/%" G_GINT64_FORMAT
                    "/done\">",
                    req->id);
        done_hidden(o, &l);
        g_string_append(o, "<button type=\"submit\">Mark as done</button>"
                           "</form>\n");
    } else {
        g_string_append(o, "<p>This task is closed.</p>\n");
    }
    web_page_end(resp);
    json_decref(t);
}

void web_task_done_post(web_req *req, web_resp *resp)
{
    done_link l;
    g_autofree char *role = NULL;
    if (!done_check(req, resp, &l, &role))
        return;
    tasks_actor a = {.id = l.user, .role = role};
    char *err = NULL;
    crm_result r = tasks_complete(req->db, &a, req->id, &err);
    if (r == CRM_ERR_NOTFOUND) {
        g_free(err);
        web_error(req, resp, 403, "this link is not valid any more");
        return;
    }
    if (r == CRM_ERR_EXISTS) {
        resp->status = 409;
        web_page_begin(req, resp, "Cannot complete");
        html_printf(resp->body,
                    "<h1>Cannot complete the task</h1>\n<p class=\"error\" "
                    "role=\"alert\">%s</p>\n",
                    err);
        web_page_end(resp);
        resp->status = 409;
        g_free(err);
        return;
    }
    if (r) {
        web_tasks_fail(req, resp, r, err);
        return;
    }
    GString *loc = g_string_new(NULL);
    g_string_append_printf(loc,
                           "/tasks/%" G_GINT64_FORMAT
                           "/done?u=%" G_GINT64_FORMAT "&e=%" G_GINT64_FORMAT
                           "&s=",
                           req->id, l.user, l.expiry);
    html_url_encode(loc, l.sig);
    web_redirect(resp, loc->str);
    g_string_free(loc, TRUE);
}

/* --- JSON API
 * ------------------------------------------------------------------------ */

void web_api_tasks(web_req *req, web_resp *resp)
{
    tasks_view v;
    if (!tasks_view_parse(webform_get(req->query, "view"), &v) ||
        v.kind == TASKS_VIEW_OPEN) {
        web_error(req, resp, 400, "view is mine, overdue, all or project:ID");
        return;
    }
    tasks_actor a = web_tasks_actor(req);
    json_t *out = NULL;
    char *err = NULL;
    crm_result r = tasks_list(req->db, &a, &v, &out, &err);
    if (r) {
        web_tasks_fail(req, resp, r, err);
        return;
    }
    web_json(resp, 200, out);
}

void web_api_task(web_req *req, web_resp *resp)
{
    tasks_actor a = web_tasks_actor(req);
    json_t *t = NULL;
    char *err = NULL;
    crm_result r = tasks_get(req->db, &a, req->id, &t, &err);
    if (r) {
        web_tasks_fail(req, resp, r, err);
        return;
    }
    web_json(resp, 200, t);
}
