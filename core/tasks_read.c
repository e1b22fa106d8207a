/*
 * tasks_read.c - the task reads of core/tasks.c: a view's list (a page of
 * at most TASKS_LIST_MAX unless the caller asks for more), one task with
 * its subtasks, comments and history, a user's role, the projects. Every
 * query takes the acting user ($1, $2) and sees only what it may see.
 */
#include <jansson.h>

#include "crmgate/tasks.h"
#include "tasks_int.h"

/* The JSON object of a task row t (the API's and the CLI's task). */
#define TASK_JSON                                                              \
    "json_build_object('id', t.id, 'title', t.title, 'description', "          \
    "t.description, 'stage', t.stage, 'priority', t.priority, "                \
    "'owner', (SELECT email FROM users WHERE id = t.owner_id), "               \
    "'owner_id', t.owner_id, "                                                 \
    "'co_owner', (SELECT email FROM users WHERE id = t.co_owner_id), "         \
    "'responsible', coalesce((SELECT json_agg(u.email ORDER BY u.email) "      \
    "FROM task_users tu JOIN users u ON u.id = tu.user_id "                    \
    "WHERE tu.task_id = t.id AND tu.kind = 'responsible'), '[]'), "            \
    "'due', to_char(t.due_date, 'YYYY-MM-DD'), "                               \
    "'overdue', crm_task_open(t.stage) AND t.due_date < current_date, "        \
    "'open', crm_task_open(t.stage), "                                         \
    "'record', CASE WHEN t.record_type IS NULL THEN NULL "                     \
    "ELSE t.record_type || ':' || t.record_id END, "                           \
    "'parent', t.parent_id, 'project', t.project_id, "                         \
    "'project_name', (SELECT name FROM projects WHERE id = t.project_id), "    \
    "'remind_at', t.remind_at, 'created_at', t.created_at, "                   \
    "'updated_at', t.updated_at, 'closed_at', t.closed_at)"

/* --- reads --------------------------------------------------------------- */

crm_result tasks_list(db_conn *db, const tasks_actor *a, const tasks_view *v,
                      json_t **out_r, char **error_r)
{
    const char *kind = "mine";
    switch (v->kind) {
    case TASKS_VIEW_MINE:
        kind = "mine";
        break;
    case TASKS_VIEW_OVERDUE:
        kind = "overdue";
        break;
    case TASKS_VIEW_PROJECT:
        kind = "project";
        break;
    case TASKS_VIEW_ALL:
        kind = "all";
        break;
    case TASKS_VIEW_OPEN:
        kind = "open";
        break;
    }
    g_autofree char *proj = tasks_id_text(v->project_id);
    g_autofree char *max = g_strdup_printf(
        "%u", MIN(v->limit ? v->limit : TASKS_LIST_MAX, (guint)G_MAXINT32));
    const char *vals[] = {kind, proj, max};
    /* The page of at most $5 tasks is chosen first, from index-friendly
       sets (the viewer's own: owner, co-owner, responsible or subscriber),
       and only those rows are turned into JSON. */
    crm_result r = tasks_query_actor_json(
        db, a,
        "SELECT json_build_object('tasks', coalesce(json_agg(" TASK_JSON
        " ORDER BY k.open DESC, k.overdue DESC, k.due NULLS LAST, k.id), "
        "'[]')) FROM (SELECT t.id, crm_task_open(t.stage) AS open, "
        "coalesce(crm_task_open(t.stage) AND t.due_date < current_date, "
        "false) AS overdue, t.due_date AS due FROM tasks t WHERE "
        "CASE WHEN $3 IN ('mine', 'overdue') THEN crm_task_open(t.stage) "
        "AND t.id IN (SELECT id FROM tasks WHERE owner_id = $1 UNION ALL "
        "SELECT id FROM tasks WHERE co_owner_id = $1 UNION ALL SELECT "
        "task_id FROM task_users WHERE user_id = $1 AND kind = "
        "'responsible') AND ($3 = 'mine' OR t.due_date < current_date) "
        "ELSE ($1::bigint = 0 OR $2 IN ('chief', 'admin') OR t.id IN ("
        "SELECT id FROM tasks WHERE owner_id = $1 UNION ALL SELECT id FROM "
        "tasks WHERE co_owner_id = $1 UNION ALL SELECT task_id FROM "
        "task_users WHERE user_id = $1)) AND CASE $3 WHEN 'project' THEN "
        "t.project_id = $4::bigint WHEN 'open' THEN crm_task_open(t.stage) "
        "ELSE true END END "
        "ORDER BY 2 DESC, 3 DESC, 4 NULLS LAST, 1 LIMIT $5::int) k "
        "JOIN tasks t ON t.id = k.id",
        3, vals, out_r, error_r);
    return r;
}

crm_result tasks_get(db_conn *db, const tasks_actor *a, gint64 id,
                     json_t **out_r, char **error_r)
{
    g_autofree char *ids = tasks_id_text(id);
    const char *v[] = {ids};
    crm_result r = tasks_query_actor_json(
        db, a,
        "SELECT " TASK_JSON "::jsonb || jsonb_build_object("
        "'parent_title', (SELECT p.title FROM tasks p WHERE p.id = "
        "t.parent_id AND ($1::bigint = 0 OR crm_task_visible($1, $2, p.id))), "
        "'open_subtasks', (SELECT count(*) FROM tasks s WHERE s.parent_id = "
        "t.id AND crm_task_open(s.stage)), "
        "'subtasks', coalesce((SELECT jsonb_agg(jsonb_build_object('id', s.id, "
        "'title', s.title, 'stage', s.stage, 'due', to_char(s.due_date, "
        "'YYYY-MM-DD')) ORDER BY s.id) FROM tasks s WHERE s.parent_id = t.id "
        "AND ($1::bigint = 0 OR crm_task_visible($1, $2, s.id))), '[]'), "
        "'comments', coalesce((SELECT jsonb_agg(jsonb_build_object('id', c.id, "
        "'author', u.email, 'author_name', u.name, 'body', c.body, 'at', "
        "c.created_at) ORDER BY c.created_at, c.id) FROM task_comments c "
        "LEFT JOIN users u ON u.id = c.author_id WHERE c.task_id = t.id), "
        "'[]'), "
        "'history', coalesce((SELECT jsonb_agg(jsonb_build_object('user', "
        "u.email, 'field', h.field, 'old', h.old_value, 'new', h.new_value, "
        "'at', h.at) ORDER BY h.id) FROM task_history h LEFT JOIN users u "
        "ON u.id = h.user_id WHERE h.task_id = t.id), '[]')) "
        "FROM tasks t WHERE t.id = $3::bigint AND " TASK_VISIBLE,
        1, v, out_r, error_r);
    if (r == CRM_OK && !*out_r) {
        *error_r = g_strdup_printf("no task %" G_GINT64_FORMAT, id);
        r = CRM_ERR_NOTFOUND;
    }
    return r;
}

crm_result tasks_user_role(db_conn *db, gint64 user, char **role_r,
                           char **error_r)
{
    *role_r = NULL;
    g_autofree char *ids = tasks_id_text(user);
    const char *v[] = {ids};
    PGresult *res = NULL;
    crm_result r =
        tasks_query(db,
                    "SELECT role FROM users WHERE id = $1::bigint AND "
                    "active",
                    1, v, &res, error_r);
    if (r)
        return r;
    if (PQntuples(res) == 1)
        *role_r = g_strdup(PQgetvalue(res, 0, 0));
    else {
        *error_r = g_strdup("no such user");
        r = CRM_ERR_NOTFOUND;
    }
    PQclear(res);
    return r;
}

crm_result tasks_projects(db_conn *db, const tasks_actor *a, json_t **out_r,
                          char **error_r)
{
    return tasks_query_actor_json(
        db, a,
        "SELECT json_build_object('projects', coalesce(json_agg("
        "json_build_object('id', p.id, 'name', p.name, 'description', "
        "p.description, 'owner', (SELECT email FROM users WHERE id = "
        "p.owner_id), 'active', p.active, 'open_tasks', (SELECT count(*) "
        "FROM tasks t WHERE t.project_id = p.id AND crm_task_open(t.stage) "
        "AND " TASK_VISIBLE ")) ORDER BY p.name, p.id), '[]')) "
        "FROM projects p WHERE " PROJECT_VISIBLE,
        0, NULL, out_r, error_r);
}
