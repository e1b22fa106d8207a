/*
 * pages_tasks.c - tasks in the web view: the list (/tasks and its views),
 * a task's page with its forms (edit, complete, reassign, comment), the
 * new-task form and projects. The signed one-click completion of notices
 * (/tasks/ID/done) and the JSON API are in pages_tasks_done.c.
 *
 * All logic and every rule is in core/tasks.c and SQL: a handler turns the
 * form into tasks_fields, calls core with the viewer as the actor and
 * answers: 303 after a write, 404 for a task (or record, parent, project)
 * the viewer may not see, 409 with the task's page when open subtasks keep
 * it from being done, 400 for a malformed field. Every value printed goes
 * through html_printf / web_text (escaped).
 */
#include <string.h>

#include "crmgate/log.h"
#include "crmgate/tasks.h"
#include "crmgate/views.h"
#include "pages_tasks.h"
#include "web.h"

tasks_actor web_tasks_actor(const web_req *req)
{
    tasks_actor a = {.id = req->viewer.id, .role = req->viewer.role};
    return a;
}

/* The HTTP status for a core result. */
static unsigned status_of(crm_result r)
{
    switch (r) {
    case CRM_OK:
        return 200;
    case CRM_ERR_NOTFOUND:
        return 404;
    case CRM_ERR_EXISTS:
        return 409;
    case CRM_ERR_USAGE:
    case CRM_ERR_PARSE:
    case CRM_ERR_TOOBIG:
        return 400;
    case CRM_ERR_DB_DOWN:
    case CRM_ERR_BUSY:
        return 503;
    case CRM_ERR_AUTH:
        return 403;
    case CRM_ERR_DB:
    case CRM_ERR_IO:
    case CRM_ERR_CONFIG:
    case CRM_ERR_INTERNAL:
        return 500;
    }
    return 500;
}

/* Answers a failed core call (and frees err). A 404 never says more than
   "not found": whether the thing exists is not the viewer's business. */
void web_tasks_fail(web_req *req, web_resp *resp, crm_result r, char *err)
{
    unsigned st = status_of(r);
    if (st >= 500)
        log_error("web: %s %s: %s", req->method, req->path,
                  err ? err : crm_strerror(r));
    web_error(req, resp, st,
              st == 404   ? "not found"
              : st >= 500 ? "the request could not be completed now"
                          : (err ? err : crm_strerror(r)));
    g_free(err);
}

static const char *priority_name(json_int_t p)
{
    return p == 1 ? "low" : p == 3 ? "high" : "middle";
}

/* The page of a record "TYPE:ID": /deals/ID and so on (NULL if unknown). */
static char *record_path(const char *rec)
{
    const char *type = NULL;
    gint64 id = 0;
    if (!rec || !tasks_parse_record(rec, &type, &id) || !views_type_path(type))
        return NULL;
    return g_strdup_printf("/%s/%" G_GINT64_FORMAT, views_type_path(type), id);
}

static void record_link(GString *o, json_t *task)
{
    const char *rec = json_string_value(json_object_get(task, "record"));
    g_autofree char *path = record_path(rec);
    if (path)
        html_printf(o, "<a href=\"%s\">%s</a>", path, rec);
}

/* --- forms to fields ------------------------------------------------------ */

/* A form value, or NULL when absent. */
static const char *field(web_req *req, const char *name)
{
    return webform_get(req->form, name);
}

/* Optional id field: absent or "" leaves *id_r; false if malformed. */
static bool id_field(web_req *req, const char *name, gint64 *id_r)
{
    const char *s = field(req, name);
    guint64 v = 0;
    if (!s || !*s)
        return true;
    if (strlen(s) > 18 ||
        !g_ascii_string_to_unsigned(s, 10, 1, G_MAXINT64, &v, NULL))
        return false;
    *id_r = (gint64)v;
    return true;
}

/* The non-empty "responsible" values, NULL-terminated (owned array of
   borrowed strings), or NULL when the form has no such field. */
static const char **responsible_field(web_req *req)
{
    const char *const *all = webform_get_all(req->form, "responsible");
    if (!all || !all[0])
        return webform_get(req->form, "responsible_set")
                   ? g_new0(const char *, 1)
                   : NULL;
    GPtrArray *a = g_ptr_array_new();
    for (const char *const *p = all; *p; p++)
        if (**p)
            g_ptr_array_add(a, (gpointer)*p);
    g_ptr_array_add(a, NULL);
    return (const char **)g_ptr_array_free(a, FALSE);
}

/* Reads the task fields of a form; false (and *err_r) for a malformed one.
   edit: the fields an edit form sends ("" clears due, remind_at). */
static bool form_fields(web_req *req, tasks_fields *f, bool edit,
                        const char **err_r)
{
    memset(f, 0, sizeof(*f));
    f->title = field(req, "title");
    f->description = field(req, "description");
    f->due = field(req, "due");
    if (f->due && !edit && !*f->due)
        f->due = NULL;
    if (f->due && *f->due && !tasks_valid_date(f->due)) {
        *err_r = "due is a date YYYY-MM-DD";
        return false;
    }
    f->remind_at = field(req, "remind_at");
    if (f->remind_at && !edit && !*f->remind_at)
        f->remind_at = NULL;
    const char *p = field(req, "priority");
    if (p && *p && !tasks_parse_priority(p, &f->priority)) {
        *err_r = "priority is 1-3 or low, middle, high";
        return false;
    }
    const char *st = field(req, "stage");
    if (st && *st) {
        f->stage = tasks_parse_stage(st);
        if (!f->stage) {
            *err_r = "unknown stage";
            return false;
        }
    }
    const char *proj = field(req, "project");
    if (edit && proj && !*proj)
        f->project_id = -1;
    else if (!id_field(req, "project", &f->project_id)) {
        *err_r = "project is a project id";
        return false;
    }
    if (!id_field(req, "parent", &f->parent_id)) {
        *err_r = "parent is a task id";
        return false;
    }
    const char *rec = field(req, "record");
    if (rec && *rec &&
        !tasks_parse_record(rec, &f->record_type, &f->record_id)) {
        *err_r = "record is TYPE:ID (contact, lead, company, deal, request)";
        return false;
    }
    const char *owner = field(req, "owner");
    f->owner = owner && *owner ? owner : NULL;
    return true;
}

/* --- the list --------------------------------------------------------------
 */

static void view_links(GString *o, const char *current)
{
    static const char *const views[][2] = {
        {"mine", "Mine"}, {"overdue", "Overdue"}, {"all", "All"}};
    g_string_append(o, "<p class=\"views\">");
    for (gsize i = 0; i < G_N_ELEMENTS(views); i++) {
        if (strcmp(current, views[i][0]) == 0)
            html_printf(o, "<strong>%s</strong> · ", views[i][1]);
        else
            html_printf(o, "<a href=\"/tasks?view=%s\">%s</a> · ", views[i][0],
                        views[i][1]);
    }
    g_string_append(o, "<a href=\"/projects\">Projects</a> · "
                       "<a href=\"/tasks/new\">New task</a></p>\n");
}

/* The table of tasks (the markup other pages' tests rely on). */
static void task_table(GString *o, json_t *tasks)
{
    if (json_array_size(tasks) == 0) {
        g_string_append(o, "<p class=\"muted\">No tasks.</p>\n");
        return;
    }
    g_string_append(o, "<table class=\"tasks\"><thead><tr><th>Task</th>"
                       "<th>Stage</th><th>Priority</th><th>Due</th>"
                       "<th>Record</th></tr></thead>\n<tbody>\n");
    size_t i;
    json_t *t;
    json_array_foreach(tasks, i, t)
    {
        json_int_t id = json_integer_value(json_object_get(t, "id"));
        bool overdue = json_is_true(json_object_get(t, "overdue"));
        html_printf(o, "<tr data-task-id=\"%lld\"", (long long)id);
        if (overdue)
            g_string_append(o, " class=\"overdue\"");
        html_printf(o, "><td><a href=\"/tasks/%lld\">", (long long)id);
        web_text(o, json_object_get(t, "title"));
        html_printf(
            o, "</a></td><td>%s</td><td>%s</td><td>", web_str(t, "stage"),
            priority_name(json_integer_value(json_object_get(t, "priority"))));
        web_text(o, json_object_get(t, "due"));
        if (overdue)
            g_string_append(o, " (overdue)");
        g_string_append(o, "</td><td>");
        record_link(o, t);
        g_string_append(o, "</td></tr>\n");
    }
    g_string_append(o, "</tbody></table>\n");
    if (json_array_size(tasks) >= TASKS_LIST_MAX)
        html_printf(o,
                    "<p class=\"muted\">Only the first %d tasks are shown "
                    "(open ones first, overdue first, then by due "
                    "date).</p>\n",
                    TASKS_LIST_MAX);
}

void web_tasks_list(web_req *req, web_resp *resp)
{
    const char *view = webform_get(req->query, "view");
    tasks_view v;
    if (!tasks_view_parse(view, &v) || v.kind == TASKS_VIEW_OPEN) {
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
    const char *title = v.kind == TASKS_VIEW_OVERDUE   ? "Overdue tasks"
                        : v.kind == TASKS_VIEW_ALL     ? "All tasks"
                        : v.kind == TASKS_VIEW_PROJECT ? "Project tasks"
                                                       : "My tasks";
    web_page_begin(req, resp, title);
    GString *o = resp->body;
    html_printf(o, "<h1>%s</h1>\n", title);
    view_links(o, view && *view ? view : "mine");
    if (v.kind == TASKS_VIEW_PROJECT)
        html_printf(o,
                    "<p><a href=\"/tasks/new?project=%" G_GINT64_FORMAT
                    "\">New task in this project</a></p>\n",
                    v.project_id);
    task_table(o, json_object_get(out, "tasks"));
    web_page_end(resp);
    json_decref(out);
}

/* --- a task's page -----------------------------------------------------------
 */

static void option(GString *o, const char *value, const char *label,
                   const char *current)
{
    html_printf(o, "<option value=\"%s\"%s>%s</option>", value,
                current && strcmp(value, current) == 0 ? " selected" : "",
                label);
}

static void priority_select(GString *o, json_int_t current)
{
    g_string_append(o, "<label>Priority <select name=\"priority\">");
    const char *cur = current == 1 ? "1" : current == 3 ? "3" : "2";
    option(o, "1", "low", cur);
    option(o, "2", "middle", cur);
    option(o, "3", "high", cur);
    g_string_append(o, "</select></label>\n");
}

static void stage_select(GString *o, const char *current)
{
    g_string_append(o, "<label>Stage <select name=\"stage\">");
    option(o, "pending", "pending", current);
    option(o, "in_progress", "in progress", current);
    option(o, "postponed", "postponed", current);
    option(o, "done", "done", current);
    option(o, "canceled", "canceled", current);
    g_string_append(o, "</select></label>\n");
}

/* A <select name="project"> of the projects the viewer sees. */
static void project_select(web_req *req, GString *o, gint64 current)
{
    tasks_actor a = web_tasks_actor(req);
    json_t *out = NULL;
    char *err = NULL;
    if (tasks_projects(req->db, &a, &out, &err)) {
        g_free(err);
        return;
    }
    g_string_append(o, "<label>Project <select name=\"project\">"
                       "<option value=\"\">(none)</option>");
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(out, "projects"), i, p)
    {
        json_int_t id = json_integer_value(json_object_get(p, "id"));
        html_printf(o, "<option value=\"%lld\"%s>%s</option>", (long long)id,
                    id == current ? " selected" : "", web_str(p, "name"));
    }
    g_string_append(o, "</select></label>\n");
    json_decref(out);
}

static void dt(GString *o, const char *name)
{
    html_printf(o, "<dt>%s</dt><dd>", name);
}

/* Renders the task page with status (200, or 409 with message). */
static void task_page(web_req *req, web_resp *resp, gint64 id, unsigned status,
                      const char *message)
{
    tasks_actor a = web_tasks_actor(req);
    json_t *t = NULL;
    char *err = NULL;
    crm_result r = tasks_get(req->db, &a, id, &t, &err);
    if (r) {
        web_tasks_fail(req, resp, r, err);
        return;
    }
    g_string_truncate(resp->body, 0);
    web_page_begin(req, resp, web_str(t, "title"));
    GString *o = resp->body;
    const char *stage = web_str(t, "stage");
    bool open = json_is_true(json_object_get(t, "open"));
    g_string_append(o, "<p><a href=\"/tasks\">Tasks</a></p>\n<h1>");
    web_text(o, json_object_get(t, "title"));
    g_string_append(o, "</h1>\n");
    if (message)
        html_printf(o, "<p class=\"error\" role=\"alert\">%s</p>\n", message);
    g_string_append(o, "<dl class=\"fields\">");
    dt(o, "Stage");
    html_printf(o, "<span class=\"stage\">%s</span></dd>", stage);
    dt(o, "Priority");
    html_printf(
        o, "%s</dd>",
        priority_name(json_integer_value(json_object_get(t, "priority"))));
    dt(o, "Owner");
    web_text(o, json_object_get(t, "owner"));
    g_string_append(o, "</dd>");
    json_t *resp_users = json_object_get(t, "responsible");
    dt(o, "Responsible");
    size_t i;
    json_t *u;
    json_array_foreach(resp_users, i, u)
    {
        if (i)
            g_string_append(o, ", ");
        web_text(o, u);
    }
    g_string_append(o, "</dd>");
    dt(o, "Due");
    web_text(o, json_object_get(t, "due"));
    if (json_is_true(json_object_get(t, "overdue")))
        g_string_append(o, " <span class=\"overdue\">overdue</span>");
    g_string_append(o, "</dd>");
    if (!json_is_null(json_object_get(t, "remind_at")) &&
        json_object_get(t, "remind_at")) {
        dt(o, "Reminder");
        web_when(o, t, "remind_at");
        g_string_append(o, "</dd>");
    }
    json_t *proj = json_object_get(t, "project");
    if (json_is_integer(proj)) {
        dt(o, "Project");
        html_printf(o, "<a href=\"/tasks?view=project:%lld\">",
                    (long long)json_integer_value(proj));
        web_text(o, json_object_get(t, "project_name"));
        g_string_append(o, "</a></dd>");
    }
    if (json_is_string(json_object_get(t, "record"))) {
        dt(o, "Record");
        record_link(o, t);
        g_string_append(o, "</dd>");
    }
    json_t *parent = json_object_get(t, "parent");
    if (json_is_integer(parent)) {
        dt(o, "Subtask of");
        html_printf(o, "<a href=\"/tasks/%lld\">",
                    (long long)json_integer_value(parent));
        json_t *pt = json_object_get(t, "parent_title");
        if (json_is_string(pt))
            web_text(o, pt);
        else
            html_printf(o, "task %lld", (long long)json_integer_value(parent));
        g_string_append(o, "</a></dd>");
    }
    dt(o, "Created");
    web_when(o, t, "created_at");
    g_string_append(o, "</dd>");
    if (!open) {
        dt(o, "Closed");
        web_when(o, t, "closed_at");
        g_string_append(o, "</dd>");
    }
    g_string_append(o, "</dl>\n");
    const char *desc = web_str(t, "description");
    if (*desc)
        html_printf(o, "<pre class=\"body\">%s</pre>\n", desc);

    if (open) {
        html_printf(o,
                    "<form method=\"post\" action=\"/tasks/%" G_GINT64_FORMAT
                    "/complete\">",
                    id);
        web_csrf_field(req, o);
        g_string_append(o,
                        "<button type=\"submit\">Complete</button></form>\n");
    }

    /* subtasks */
    g_string_append(o, "<h2 id=\"subtasks\">Subtasks</h2>\n");
    json_t *subs = json_object_get(t, "subtasks");
    if (json_array_size(subs)) {
        g_string_append(o, "<ul class=\"subtasks\">");
        json_array_foreach(subs, i, u)
        {
            json_int_t sid = json_integer_value(json_object_get(u, "id"));
            html_printf(o, "<li data-task-id=\"%lld\"><a href=\"/tasks/%lld\">",
                        (long long)sid, (long long)sid);
            web_text(o, json_object_get(u, "title"));
            html_printf(o, "</a> <span class=\"muted\">%s</span></li>",
                        web_str(u, "stage"));
        }
        g_string_append(o, "</ul>\n");
    }
    html_printf(o,
                "<p><a href=\"/tasks/new?parent=%" G_GINT64_FORMAT
                "\">Add a subtask</a></p>\n",
                id);

    /* comments */
    g_string_append(o, "<h2 id=\"comments\">Comments</h2>\n");
    json_array_foreach(json_object_get(t, "comments"), i, u)
    {
        g_string_append(o, "<div class=\"card comment\"><p class=\"muted\">");
        json_t *who = json_object_get(u, "author_name");
        web_text(o, json_is_string(who) && *json_string_value(who)
                        ? who
                        : json_object_get(u, "author"));
        g_string_append(o, " · ");
        web_when(o, u, "at");
        html_printf(o, "</p><pre class=\"body\">%s</pre></div>\n",
                    web_str(u, "body"));
    }
    html_printf(o,
                "<form method=\"post\" action=\"/tasks/%" G_GINT64_FORMAT
                "/comments\">",
                id);
    web_csrf_field(req, o);
    g_string_append(o, "<label>Comment <textarea name=\"body\" rows=\"3\" "
                       "required maxlength=\"20000\"></textarea></label> "
                       "<button type=\"submit\">Add comment</button></form>\n");

    /* edit */
    g_string_append(o, "<h2 id=\"edit\">Edit</h2>\n");
    html_printf(
        o, "<form method=\"post\" action=\"/tasks/%" G_GINT64_FORMAT "\">", id);
    web_csrf_field(req, o);
    html_printf(o,
                "<label>Title <input name=\"title\" value=\"%s\" required "
                "maxlength=\"500\"></label>\n"
                "<label>Description <textarea name=\"description\" "
                "rows=\"4\">%s</textarea></label>\n"
                "<label>Due <input type=\"date\" name=\"due\" "
                "value=\"%s\"></label>\n",
                web_str(t, "title"), desc, web_str(t, "due"));
    priority_select(o, json_integer_value(json_object_get(t, "priority")));
    stage_select(o, stage);
    g_autofree char *remind = g_strndup(web_str(t, "remind_at"), 16);
    html_printf(o,
                "<label>Reminder <input type=\"datetime-local\" "
                "name=\"remind_at\" value=\"%s\"></label>\n",
                remind);
    project_select(req, o,
                   json_is_integer(proj) ? json_integer_value(proj) : 0);
    g_string_append(o, "<button type=\"submit\">Save</button></form>\n");

    /* reassign */
    g_string_append(o, "<h2 id=\"reassign\">Reassign</h2>\n");
    html_printf(o,
                "<form method=\"post\" action=\"/tasks/%" G_GINT64_FORMAT
                "/reassign\">",
                id);
    web_csrf_field(req, o);
    html_printf(o,
                "<input type=\"hidden\" name=\"responsible_set\" value=\"1\">"
                "<label>Owner (address) <input type=\"email\" name=\"owner\" "
                "value=\"%s\"></label>\n",
                web_str(t, "owner"));
    for (size_t k = 0; k < 3; k++) {
        json_t *ru = json_array_get(resp_users, k);
        html_printf(o,
                    "<label>Responsible (address) <input type=\"email\" "
                    "name=\"responsible\" value=\"%s\"></label>\n",
                    ru ? json_string_value(ru) : "");
    }
    g_string_append(o, "<button type=\"submit\">Reassign</button></form>\n");

    /* history */
    g_string_append(o, "<h2 id=\"history\">History</h2>\n<table "
                       "class=\"history\"><thead><tr><th>When</th><th>Who"
                       "</th><th>What</th><th>From</th><th>To</th></tr>"
                       "</thead><tbody>\n");
    json_array_foreach(json_object_get(t, "history"), i, u)
    {
        g_string_append(o, "<tr><td>");
        web_when(o, u, "at");
        g_string_append(o, "</td><td>");
        json_t *who = json_object_get(u, "user");
        if (json_is_string(who))
            web_text(o, who);
        else
            g_string_append(o, "<span class=\"muted\">system</span>");
        html_printf(o, "</td><td>%s</td><td>", web_str(u, "field"));
        web_text(o, json_object_get(u, "old"));
        g_string_append(o, "</td><td>");
        web_text(o, json_object_get(u, "new"));
        g_string_append(o, "</td></tr>\n");
    }
    g_string_append(o, "</tbody></table>\n");
    web_page_end(resp);
    resp->status = status;
    json_decref(t);
}

void web_task_show(web_req *req, web_resp *resp)
{
    task_page(req, resp, req->id, 200, NULL);
}

/* After a write: 303 to the task, or its page with 409 for the subtask
   rule, or the error. */
static void after_write(web_req *req, web_resp *resp, crm_result r, char *err,
                        const char *anchor)
{
    if (r == CRM_ERR_EXISTS) {
        task_page(req, resp, req->id, 409, err);
        g_free(err);
        return;
    }
    if (r) {
        web_tasks_fail(req, resp, r, err);
        return;
    }
    g_autofree char *loc =
        g_strdup_printf("/tasks/%" G_GINT64_FORMAT "%s", req->id, anchor);
    web_redirect(resp, loc);
}

void web_task_update(web_req *req, web_resp *resp)
{
    tasks_fields f;
    const char *bad = NULL;
    if (!form_fields(req, &f, true, &bad)) {
        web_error(req, resp, 400, bad);
        return;
    }
    /* an edit changes no owner, parent or record */
    f.owner = NULL;
    f.parent_id = 0;
    f.record_type = NULL;
    tasks_actor a = web_tasks_actor(req);
    char *err = NULL;
    crm_result r = tasks_update(req->db, req->cfg, &a, req->id, &f, &err);
    after_write(req, resp, r, err, "");
}

void web_task_complete(web_req *req, web_resp *resp)
{
    tasks_actor a = web_tasks_actor(req);
    char *err = NULL;
    crm_result r = tasks_complete(req->db, &a, req->id, &err);
    after_write(req, resp, r, err, "");
}

void web_task_reassign(web_req *req, web_resp *resp)
{
    tasks_fields f = {0};
    const char *owner = field(req, "owner");
    f.owner = owner && *owner ? owner : NULL;
    g_autofree const char **resp_list = responsible_field(req);
    f.responsible = resp_list;
    tasks_actor a = web_tasks_actor(req);
    char *err = NULL;
    crm_result r = tasks_reassign(req->db, req->cfg, &a, req->id, &f, &err);
    if (r) {
        after_write(req, resp, r, err, "");
        return;
    }
    /* the viewer may have given the task away */
    json_t *t = NULL;
    r = tasks_get(req->db, &a, req->id, &t, &err);
    json_decref(t);
    g_free(err);
    if (r == CRM_OK)
        after_write(req, resp, CRM_OK, NULL, "");
    else
        web_redirect(resp, "/tasks");
}

void web_task_comment(web_req *req, web_resp *resp)
{
    tasks_actor a = web_tasks_actor(req);
    char *err = NULL;
    crm_result r =
        tasks_comment(req->db, &a, req->id, field(req, "body"), &err);
    after_write(req, resp, r, err, "#comments");
}

/* --- new task
 * ------------------------------------------------------------------ */

void web_task_new(web_req *req, web_resp *resp)
{
    const char *parent = webform_get(req->query, "parent");
    const char *record = webform_get(req->query, "record");
    const char *project = webform_get(req->query, "project");
    gint64 pid = 0, proj = 0;
    const char *rt = NULL;
    gint64 rid = 0;
    if ((parent && *parent &&
         (!g_ascii_string_to_signed(parent, 10, 1, G_MAXINT64, &pid, NULL))) ||
        (record && *record && !tasks_parse_record(record, &rt, &rid)) ||
        (project && *project &&
         !g_ascii_string_to_signed(project, 10, 1, G_MAXINT64, &proj, NULL))) {
        web_error(req, resp, 400, "bad parent, record or project");
        return;
    }
    web_page_begin(req, resp, "New task");
    GString *o = resp->body;
    g_string_append(o,
                    "<p><a href=\"/tasks\">Tasks</a></p>\n<h1>New task</h1>\n"
                    "<form method=\"post\" action=\"/tasks\">");
    web_csrf_field(req, o);
    g_string_append(o,
                    "<label>Title <input name=\"title\" required "
                    "maxlength=\"500\" autofocus></label>\n"
                    "<label>Description <textarea name=\"description\" "
                    "rows=\"4\"></textarea></label>\n"
                    "<label>Due <input type=\"date\" name=\"due\"></label>\n");
    priority_select(o, 2);
    stage_select(o, "pending");
    g_string_append(o, "<label>Reminder <input type=\"datetime-local\" "
                       "name=\"remind_at\"></label>\n");
    for (int k = 0; k < 3; k++)
        g_string_append(o, "<label>Responsible (address) <input type=\"email\" "
                           "name=\"responsible\"></label>\n");
    project_select(req, o, proj);
    html_printf(o,
                "<label>Record (TYPE:ID, e.g. deal:42) <input name=\"record\" "
                "value=\"%s\" pattern=\"[a-z]+:[0-9]+\"></label>\n",
                record ? record : "");
    if (pid)
        html_printf(
            o,
            "<input type=\"hidden\" name=\"parent\" value=\"%" G_GINT64_FORMAT
            "\"><p class=\"muted\">A subtask of task %" G_GINT64_FORMAT
            ".</p>\n",
            pid, pid);
    g_string_append(o, "<button type=\"submit\">Create</button></form>\n");
    web_page_end(resp);
}

void web_task_create(web_req *req, web_resp *resp)
{
    tasks_fields f;
    const char *bad = NULL;
    if (!form_fields(req, &f, false, &bad)) {
        web_error(req, resp, 400, bad);
        return;
    }
    f.owner = NULL; /* the poster owns it */
    g_autofree const char **resp_list = responsible_field(req);
    f.responsible = resp_list;
    tasks_actor a = web_tasks_actor(req);
    gint64 id = 0;
    char *err = NULL;
    crm_result r = tasks_add(req->db, req->cfg, &a, &f, &id, &err);
    if (r) {
        web_tasks_fail(req, resp, r, err);
        return;
    }
    g_autofree char *loc = g_strdup_printf("/tasks/%" G_GINT64_FORMAT, id);
    web_redirect(resp, loc);
}

/* --- projects
 * ---------------------------------------------------------------------- */

void web_projects(web_req *req, web_resp *resp)
{
    tasks_actor a = web_tasks_actor(req);
    json_t *out = NULL;
    char *err = NULL;
    crm_result r = tasks_projects(req->db, &a, &out, &err);
    if (r) {
        web_tasks_fail(req, resp, r, err);
        return;
    }
    web_page_begin(req, resp, "Projects");
    GString *o = resp->body;
    g_string_append(o,
                    "<p><a href=\"/tasks\">Tasks</a></p>\n<h1>Projects</h1>\n");
    json_t *list = json_object_get(out, "projects");
    if (json_array_size(list)) {
        g_string_append(o, "<table class=\"projects\"><thead><tr><th>Project"
                           "</th><th>Owner</th><th class=\"num\">Open tasks"
                           "</th></tr></thead><tbody>\n");
        size_t i;
        json_t *p;
        json_array_foreach(list, i, p)
        {
            json_int_t id = json_integer_value(json_object_get(p, "id"));
            html_printf(o,
                        "<tr data-project-id=\"%lld\"><td><a "
                        "href=\"/tasks?view=project:%lld\">%s</a></td><td>%s"
                        "</td><td class=\"num\">%s</td></tr>\n",
                        (long long)id, (long long)id, web_str(p, "name"),
                        web_str(p, "owner"), web_str(p, "open_tasks"));
        }
        g_string_append(o, "</tbody></table>\n");
    } else {
        g_string_append(o, "<p class=\"muted\">No projects.</p>\n");
    }
    g_string_append(o, "<h2>New project</h2>\n<form method=\"post\" "
                       "action=\"/projects\">");
    web_csrf_field(req, o);
    g_string_append(o, "<label>Name <input name=\"name\" required "
                       "maxlength=\"200\"></label>\n<label>Description "
                       "<textarea name=\"description\" rows=\"2\"></textarea>"
                       "</label>\n<button type=\"submit\">Create</button>"
                       "</form>\n");
    web_page_end(resp);
    json_decref(out);
}

void web_project_create(web_req *req, web_resp *resp)
{
    tasks_actor a = web_tasks_actor(req);
    gint64 id = 0;
    char *err = NULL;
    crm_result r = tasks_project_add(req->db, &a, field(req, "name"),
                                     field(req, "description"), &id, &err);
    if (r) {
        web_tasks_fail(req, resp, r, err);
        return;
    }
    web_redirect(resp, "/projects");
}
