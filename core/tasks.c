/*
 * tasks.c - the writes of tasks, projects, comments and task notices, for
 * the CLI and the web view alike (tasks.h); the reads are in tasks_read.c.
 *
 * The rules live in SQL (sql/0008_tasks_deals.sql):
 * who sees a task (crm_task_visible), the subtask rule and the history
 * triggers. This file adds what SQL cannot know: the acting user (set with
 * set_config('crmgate.user_id', ..., true) in the transaction of every
 * write, so the history names them), input bounds, and the notices with
 * their signed completion links (web.secret is not in the database).
 * Every statement takes parameters; a task the actor may not see is
 * CRM_ERR_NOTFOUND before anything is written. The pure parts (what
 * users type, the signed link) are in tasks_parse.c.
 */
#include "crmgate/tasks.h"

#include <jansson.h>
#include <string.h>

#include "crmgate/addr.h"
#include "crmgate/log.h"
#include "tasks_int.h"

/* --- database helpers ---------------------------------------------------- */

/* A positive decimal id (at most 18 digits). */
static bool parse_id(const char *s, gint64 *id_r)
{
    guint64 v = 0;
    if (!s || !*s || strlen(s) > 18 ||
        !g_ascii_string_to_unsigned(s, 10, 1, G_MAXINT64, &v, NULL))
        return false;
    *id_r = (gint64)v;
    return true;
}

char *tasks_id_text(gint64 id)
{
    return g_strdup_printf("%" G_GINT64_FORMAT, id);
}

/* Maps a failed statement to what the caller should hear: the subtask
   rule (23514 from the trigger) is CRM_ERR_EXISTS, bad values (class 22)
   CRM_ERR_USAGE, a missing referenced row (23503) CRM_ERR_NOTFOUND. */
static crm_result sql_error(db_conn *db, crm_result r, char **error_r)
{
    if (r != CRM_ERR_DB)
        return r;
    const char *st = db_last_sqlstate(db);
    if (strcmp(st, "23514") == 0 && *error_r &&
        strstr(*error_r, "open subtasks")) {
        g_free(*error_r);
        *error_r = g_strdup("the task has open subtasks: complete or cancel "
                            "them first");
        return CRM_ERR_EXISTS;
    }
    if (strncmp(st, "22", 2) == 0 || strcmp(st, "23514") == 0) {
        g_autofree char *e = *error_r;
        *error_r = g_strdup_printf("invalid value: %s", e ? e : "");
        return CRM_ERR_USAGE;
    }
    if (strcmp(st, "23503") == 0) {
        g_free(*error_r);
        *error_r = g_strdup("a referenced user, task or project does not "
                            "exist");
        return CRM_ERR_NOTFOUND;
    }
    return r;
}

crm_result tasks_query(db_conn *db, const char *sql, int n,
                       const char *const *values, PGresult **res_r,
                       char **error_r)
{
    crm_result r =
        db_query(db, TASKS_SQL_MS, sql, n, values, NULL, NULL, res_r, error_r);
    return sql_error(db, r, error_r);
}

static crm_result exec(db_conn *db, const char *sql, int n,
                       const char *const *values, char **error_r)
{
    PGresult *res = NULL;
    crm_result r = tasks_query(db, sql, n, values, &res, error_r);
    if (res)
        PQclear(res);
    return r;
}

/* The first column of the first row as a number; CRM_ERR_NOTFOUND when
   there is no row (or it is NULL). */
static crm_result query_id(db_conn *db, const char *sql, int n,
                           const char *const *values, gint64 *id_r,
                           char **error_r)
{
    PGresult *res = NULL;
    crm_result r = tasks_query(db, sql, n, values, &res, error_r);
    if (r)
        return r;
    if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
        *id_r = g_ascii_strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    else
        r = CRM_ERR_NOTFOUND;
    PQclear(res);
    return r;
}

/* BEGIN, and the acting user for the history triggers. */
static crm_result begin(db_conn *db, const tasks_actor *a, char **error_r)
{
    crm_result r = exec(db, "BEGIN", 0, NULL, error_r);
    if (r)
        return r;
    g_autofree char *who = a->id ? tasks_id_text(a->id) : g_strdup("");
    const char *v[] = {who};
    r = exec(db, "SELECT set_config('crmgate.user_id', $1, true)", 1, v,
             error_r);
    if (r) {
        char *e2 = NULL;
        db_exec(db, TASKS_SQL_MS, "ROLLBACK", 0, NULL, &e2);
        g_free(e2);
    }
    return r;
}

/* COMMIT when r is CRM_OK, else ROLLBACK; returns the outcome. */
static crm_result finish(db_conn *db, crm_result r, char **error_r)
{
    if (r == CRM_OK)
        return exec(db, "COMMIT", 0, NULL, error_r);
    char *e2 = NULL;
    db_exec(db, TASKS_SQL_MS, "ROLLBACK", 0, NULL, &e2);
    g_free(e2);
    return r;
}

/* $1 id and $2 role of the actor, then the given values. */
static const char **with_actor(const tasks_actor *a, char *idbuf, gsize len,
                               int n, const char *const *values)
{
    g_snprintf(idbuf, len, "%" G_GINT64_FORMAT, a->id);
    const char **all = g_new0(const char *, n + 2);
    all[0] = idbuf;
    all[1] = a->role ? a->role : "";
    for (int i = 0; i < n; i++)
        all[i + 2] = values[i];
    return all;
}

static crm_result query_actor_id(db_conn *db, const tasks_actor *a,
                                 const char *sql, int n,
                                 const char *const *values, gint64 *id_r,
                                 char **error_r)
{
    char idbuf[32];
    const char **all = with_actor(a, idbuf, sizeof idbuf, n, values);
    crm_result r = query_id(db, sql, n + 2, all, id_r, error_r);
    g_free(all);
    return r;
}

crm_result tasks_query_actor_json(db_conn *db, const tasks_actor *a,
                                  const char *sql, int n,
                                  const char *const *values, json_t **out_r,
                                  char **error_r)
{
    char idbuf[32];
    const char **all = with_actor(a, idbuf, sizeof idbuf, n, values);
    crm_result r = sql_error(db,
                             db_query_json(db, TASKS_SQL_MS, sql, n + 2, all,
                                           NULL, NULL, out_r, error_r),
                             error_r);
    g_free(all);
    return r;
}

/* Locks the task when the actor may see it; CRM_ERR_NOTFOUND otherwise. */
static crm_result lock_visible(db_conn *db, const tasks_actor *a, gint64 id,
                               char **error_r)
{
    g_autofree char *ids = tasks_id_text(id);
    const char *v[] = {ids};
    gint64 got = 0;
    crm_result r = query_actor_id(db, a,
                                  "SELECT t.id FROM tasks t WHERE t.id = $3 "
                                  "AND " TASK_VISIBLE " FOR UPDATE",
                                  1, v, &got, error_r);
    if (r == CRM_ERR_NOTFOUND)
        *error_r = g_strdup_printf("no task %" G_GINT64_FORMAT, id);
    return r;
}

/* An active user named by address or id. */
static crm_result resolve_user(db_conn *db, const char *who, gint64 *id_r,
                               char **error_r)
{
    gint64 id = 0;
    g_autofree char *norm = NULL;
    const char *v[2] = {NULL, NULL};
    g_autofree char *ids = NULL;
    if (parse_id(who, &id)) {
        ids = tasks_id_text(id);
        v[0] = ids;
    } else {
        norm = addr_normalize(who);
        if (!norm) {
            *error_r = g_strdup_printf("'%s' is not a user address or id",
                                       who ? who : "");
            return CRM_ERR_USAGE;
        }
        v[1] = norm;
    }
    crm_result r = query_id(db,
                            "SELECT id FROM users WHERE active AND "
                            "(id = $1::bigint OR email_norm = $2)",
                            2, v, id_r, error_r);
    if (r == CRM_ERR_NOTFOUND)
        *error_r = g_strdup_printf("no active user %s", who);
    return r;
}

/* The owner of a record the actor may see (0 when it has none);
   CRM_ERR_NOTFOUND when it does not exist or the actor may not see it. */
static crm_result record_owner(db_conn *db, const tasks_actor *a,
                               const char *type, gint64 id, gint64 *owner_r,
                               char **error_r)
{
    g_autofree char *ids = tasks_id_text(id);
    const char *v[] = {type, ids};
    gint64 owner = 0;
    crm_result r = query_actor_id(
        db, a,
        "SELECT coalesce(r.owner_id, 0) FROM ("
        "SELECT 'contact' AS t, owner_id, co_owner_id FROM contacts "
        "WHERE $3 = 'contact' AND id = $4::bigint UNION ALL "
        "SELECT 'lead', owner_id, co_owner_id FROM leads "
        "WHERE $3 = 'lead' AND id = $4::bigint UNION ALL "
        "SELECT 'company', owner_id, co_owner_id FROM companies "
        "WHERE $3 = 'company' AND id = $4::bigint UNION ALL "
        "SELECT 'deal', owner_id, co_owner_id FROM deals "
        "WHERE $3 = 'deal' AND id = $4::bigint UNION ALL "
        "SELECT 'request', owner_id, co_owner_id FROM requests "
        "WHERE $3 = 'request' AND id = $4::bigint) r "
        "WHERE $1::bigint = 0 OR crm_visible($1, $2, r.t, r.owner_id, "
        "r.co_owner_id)",
        2, v, &owner, error_r);
    if (r == CRM_ERR_NOTFOUND)
        *error_r = g_strdup_printf("no record %s:%" G_GINT64_FORMAT, type, id);
    *owner_r = owner;
    return r;
}

/* A notice line: no line breaks (it becomes a Subject), at most max
   characters. */
static char *one_line(const char *s, glong max)
{
    char *c = g_strdup(s);
    g_strdelimit(c, "\r\n\t", ' ');
    if (g_utf8_strlen(c, -1) > max) {
        char *end = g_utf8_offset_to_pointer(c, max);
        *end = '\0';
    }
    return c;
}

/* Queues a notice of kind ('assigned' or 'reminder') about task for user:
   plain text with the title and the signed completion link. A reminder is
   due at the task's remind_at and replaces the user's pending one. */
static crm_result notify(db_conn *db, const crm_config *cfg, gint64 task,
                         gint64 user, const char *kind, char **error_r)
{
    g_autofree char *tids = tasks_id_text(task);
    g_autofree char *uids = tasks_id_text(user);
    const char *v1[] = {tids};
    PGresult *res = NULL;
    crm_result r =
        tasks_query(db,
                    "SELECT title, coalesce(to_char(due_date, "
                    "'YYYY-MM-DD'), ''), greatest(0, coalesce(extract("
                    "epoch FROM remind_at - now()), 0))::bigint "
                    "FROM tasks WHERE id = $1",
                    1, v1, &res, error_r);
    if (r)
        return r;
    if (PQntuples(res) != 1) {
        PQclear(res);
        *error_r = g_strdup_printf("no task %s", tids);
        return CRM_ERR_NOTFOUND;
    }
    g_autofree char *title = one_line(PQgetvalue(res, 0, 0), 200);
    g_autofree char *due = g_strdup(PQgetvalue(res, 0, 1));
    bool reminder = strcmp(kind, "reminder") == 0;
    /* A reminder is sent at remind_at: its link lives 7 days from then. */
    gint64 wait_s =
        reminder ? g_ascii_strtoll(PQgetvalue(res, 0, 2), NULL, 10) : 0;
    PQclear(res);
    g_autofree char *link =
        tasks_done_link(cfg, task, user, TASKS_LINK_TTL_S + wait_s);
    g_autofree char *subject = g_strdup_printf(
        "%s: %s", reminder ? "Reminder" : "Task assigned to you", title);
    GString *body = g_string_new(NULL);
    g_string_append(body, reminder ? "A reminder about your task:\n\n"
                                   : "You are now the owner or responsible "
                                     "user of this task:\n\n");
    g_string_append_printf(body, "  %s\n", title);
    if (*due)
        g_string_append_printf(body, "  Due: %s\n", due);
    g_string_append_printf(body, "\nOpen it: %s/tasks/%s\n", cfg->web_base_url,
                           tids);
    if (link)
        g_string_append_printf(body,
                               "Mark it done with one click (the link is "
                               "valid for 7 days): %s\n",
                               link);
    const char *v[] = {kind, uids, tids, subject, body->str};
    r = exec(db,
             "INSERT INTO notices (kind, user_id, task_id, subject, body, "
             "due_at) SELECT $1, $2::bigint, t.id, $4, $5, "
             "CASE WHEN $1 = 'reminder' THEN coalesce(t.remind_at, now()) "
             "ELSE now() END FROM tasks t WHERE t.id = $3::bigint "
             "ON CONFLICT (task_id, user_id) WHERE kind = 'reminder' "
             "AND sent_at IS NULL DO UPDATE SET due_at = EXCLUDED.due_at, "
             "subject = EXCLUDED.subject, body = EXCLUDED.body",
             5, v, error_r);
    g_string_free(body, TRUE);
    return r;
}

crm_result tasks_notify_assigned(db_conn *db, const crm_config *cfg,
                                 gint64 task, char **error_r)
{
    g_autofree char *tids = tasks_id_text(task);
    const char *v[] = {tids};
    PGresult *res = NULL;
    crm_result r = tasks_query(db,
                               "SELECT owner_id FROM tasks WHERE id = $1 AND "
                               "owner_id IS NOT NULL AND NOT EXISTS (SELECT "
                               "1 FROM notices WHERE task_id = $1 AND kind = "
                               "'assigned')",
                               1, v, &res, error_r);
    if (r)
        return r;
    gint64 owner = PQntuples(res) == 1
                       ? g_ascii_strtoll(PQgetvalue(res, 0, 0), NULL, 10)
                       : 0;
    PQclear(res);
    if (!owner)
        return CRM_OK; /* gone, ownerless, or already notified */
    return notify(db, cfg, task, owner, "assigned", error_r);
}

/* Reminders for the owner and the responsible users of a task with a
   remind_at. */
static crm_result notify_reminders(db_conn *db, const crm_config *cfg,
                                   gint64 task, char **error_r)
{
    g_autofree char *tids = tasks_id_text(task);
    const char *v[] = {tids};
    PGresult *res = NULL;
    crm_result r =
        tasks_query(db,
                    "SELECT owner_id FROM tasks WHERE id = $1 AND "
                    "remind_at IS NOT NULL UNION SELECT user_id FROM "
                    "task_users WHERE task_id = $1 AND kind = "
                    "'responsible' AND EXISTS (SELECT 1 FROM tasks "
                    "WHERE id = $1 AND remind_at IS NOT NULL)",
                    1, v, &res, error_r);
    if (r)
        return r;
    for (int i = 0; i < PQntuples(res) && r == CRM_OK; i++)
        r = notify(db, cfg, task,
                   g_ascii_strtoll(PQgetvalue(res, i, 0), NULL, 10), "reminder",
                   error_r);
    PQclear(res);
    return r;
}

/* The task's remind_at as text ("" when none), newly allocated. */
static crm_result remind_text(db_conn *db, gint64 task, char **text_r,
                              char **error_r)
{
    g_autofree char *ids = tasks_id_text(task);
    const char *v[] = {ids};
    PGresult *res = NULL;
    crm_result r =
        tasks_query(db,
                    "SELECT coalesce(remind_at::text, '') FROM tasks "
                    "WHERE id = $1::bigint",
                    1, v, &res, error_r);
    if (r)
        return r;
    *text_r = g_strdup(PQntuples(res) ? PQgetvalue(res, 0, 0) : "");
    PQclear(res);
    return CRM_OK;
}

/* Checks the free-text fields against their bounds. */
static crm_result check_fields(const tasks_fields *f, bool need_title,
                               char **error_r)
{
    if (f->title) {
        g_autofree char *t = g_strstrip(g_strdup(f->title));
        if (!*t || g_utf8_strlen(t, -1) > TASKS_TITLE_MAX) {
            *error_r = g_strdup_printf("a title has 1 to %d characters",
                                       TASKS_TITLE_MAX);
            return CRM_ERR_USAGE;
        }
    } else if (need_title) {
        *error_r = g_strdup("a task needs a title");
        return CRM_ERR_USAGE;
    }
    if (f->description &&
        g_utf8_strlen(f->description, -1) > TASKS_DESCRIPTION_MAX) {
        *error_r = g_strdup_printf("a description has at most %d characters",
                                   TASKS_DESCRIPTION_MAX);
        return CRM_ERR_TOOBIG;
    }
    if (f->due && *f->due && !tasks_valid_date(f->due)) {
        *error_r = g_strdup_printf("'%s' is not a date (YYYY-MM-DD)", f->due);
        return CRM_ERR_USAGE;
    }
    if (f->remind_at && strlen(f->remind_at) > 40) {
        *error_r = g_strdup("remind_at is not a date and time");
        return CRM_ERR_USAGE;
    }
    if (f->priority && (f->priority < 1 || f->priority > 3)) {
        *error_r = g_strdup("priority is 1 (low) to 3 (high)");
        return CRM_ERR_USAGE;
    }
    if (f->stage && !tasks_parse_stage(f->stage)) {
        *error_r = g_strdup_printf("unknown stage '%s'", f->stage);
        return CRM_ERR_USAGE;
    }
    guint n = 0;
    for (const char *const *p = f->responsible; p && *p; p++)
        n++;
    if (n > TASKS_RESPONSIBLE_MAX) {
        *error_r = g_strdup_printf("at most %d responsible users",
                                   TASKS_RESPONSIBLE_MAX);
        return CRM_ERR_TOOBIG;
    }
    return CRM_OK;
}

/* Replaces the responsible users of task with those named in names (a
   NULL-terminated list); 'assigned' notices for the users added, but not
   for the actor nor for skip (the owner, who has one already). */
static crm_result set_responsible(db_conn *db, const crm_config *cfg,
                                  const tasks_actor *a, gint64 task,
                                  const char *const *names, gint64 skip,
                                  char **error_r)
{
    GString *arr = g_string_new("{");
    crm_result r = CRM_OK;
    for (const char *const *p = names; p && *p && r == CRM_OK; p++) {
        gint64 uid = 0;
        r = resolve_user(db, *p, &uid, error_r);
        if (r == CRM_OK)
            g_string_append_printf(arr, "%s%" G_GINT64_FORMAT,
                                   arr->len > 1 ? "," : "", uid);
    }
    g_string_append_c(arr, '}');
    g_autofree char *tids = tasks_id_text(task);
    const char *v[] = {tids, arr->str};
    if (r == CRM_OK)
        r = exec(db,
                 "DELETE FROM task_users WHERE task_id = $1 AND kind = "
                 "'responsible' AND NOT (user_id = ANY ($2::bigint[]))",
                 2, v, error_r);
    PGresult *res = NULL;
    if (r == CRM_OK)
        r = tasks_query(db,
                        "INSERT INTO task_users (task_id, user_id, kind) "
                        "SELECT DISTINCT $1::bigint, u, 'responsible' "
                        "FROM unnest($2::bigint[]) u "
                        "ON CONFLICT DO NOTHING RETURNING user_id",
                        2, v, &res, error_r);
    g_string_free(arr, TRUE);
    for (int i = 0; r == CRM_OK && i < PQntuples(res); i++) {
        gint64 uid = g_ascii_strtoll(PQgetvalue(res, i, 0), NULL, 10);
        if (uid != a->id && uid != skip)
            r = notify(db, cfg, task, uid, "assigned", error_r);
    }
    if (res)
        PQclear(res);
    return r;
}

/* --- writes -------------------------------------------------------------- */

static crm_result add_in_tx(db_conn *db, const crm_config *cfg,
                            const tasks_actor *a, const tasks_fields *f,
                            gint64 *id_r, char **error_r)
{
    crm_result r;
    gint64 owner = 0, rec_owner = 0, parent_owner = 0;
    if (f->record_type) {
        r = record_owner(db, a, f->record_type, f->record_id, &rec_owner,
                         error_r);
        if (r)
            return r;
    }
    if (f->parent_id) {
        g_autofree char *ps = tasks_id_text(f->parent_id);
        const char *v[] = {ps};
        r = query_actor_id(db, a,
                           "SELECT t.owner_id FROM tasks t WHERE t.id = "
                           "$3::bigint AND " TASK_VISIBLE,
                           1, v, &parent_owner, error_r);
        if (r == CRM_ERR_NOTFOUND)
            *error_r =
                g_strdup_printf("no task %" G_GINT64_FORMAT, f->parent_id);
        if (r)
            return r;
    }
    if (f->project_id > 0) {
        g_autofree char *ps = tasks_id_text(f->project_id);
        const char *v[] = {ps};
        gint64 got = 0;
        r = query_actor_id(db, a,
                           "SELECT p.id FROM projects p WHERE p.id = "
                           "$3::bigint AND " PROJECT_VISIBLE,
                           1, v, &got, error_r);
        if (r == CRM_ERR_NOTFOUND)
            *error_r =
                g_strdup_printf("no project %" G_GINT64_FORMAT, f->project_id);
        if (r)
            return r;
    }
    if (f->owner) {
        r = resolve_user(db, f->owner, &owner, error_r);
        if (r)
            return r;
    } else if (a->id) {
        owner = a->id;
    } else if (rec_owner) {
        owner = rec_owner;
    } else if (parent_owner) {
        owner = parent_owner;
    } else {
        *error_r = g_strdup("give the task an owner (--owner EMAIL)");
        return CRM_ERR_USAGE;
    }
    g_autofree char *owns = tasks_id_text(owner);
    g_autofree char *pri =
        f->priority ? g_strdup_printf("%d", f->priority) : NULL;
    g_autofree char *proj =
        f->project_id > 0 ? tasks_id_text(f->project_id) : NULL;
    g_autofree char *par = f->parent_id ? tasks_id_text(f->parent_id) : NULL;
    g_autofree char *recid =
        f->record_type ? tasks_id_text(f->record_id) : NULL;
    g_autofree char *title = g_strstrip(g_strdup(f->title));
    const char *v[] = {title,
                       f->description ? f->description : "",
                       owns,
                       f->due && *f->due ? f->due : NULL,
                       f->stage ? tasks_parse_stage(f->stage) : "pending",
                       pri,
                       f->remind_at && *f->remind_at ? f->remind_at : NULL,
                       proj,
                       par,
                       f->record_type,
                       recid};
    r = query_id(db,
                 "INSERT INTO tasks (title, description, owner_id, due_date, "
                 "stage, priority, remind_at, project_id, parent_id, "
                 "record_type, record_id) VALUES ($1, $2, $3::bigint, "
                 "$4::date, $5, coalesce($6::smallint, 2), $7::timestamptz, "
                 "$8::bigint, $9::bigint, $10, $11::bigint) RETURNING id",
                 11, v, id_r, error_r);
    if (r)
        return r;
    if (owner != a->id) {
        r = notify(db, cfg, *id_r, owner, "assigned", error_r);
        if (r)
            return r;
    }
    if (f->responsible) {
        r = set_responsible(db, cfg, a, *id_r, f->responsible, owner, error_r);
        if (r)
            return r;
    }
    if (f->remind_at && *f->remind_at)
        r = notify_reminders(db, cfg, *id_r, error_r);
    return r;
}

crm_result tasks_add(db_conn *db, const crm_config *cfg, const tasks_actor *a,
                     const tasks_fields *f, gint64 *id_r, char **error_r)
{
    *id_r = 0;
    crm_result r = check_fields(f, true, error_r);
    if (r)
        return r;
    r = begin(db, a, error_r);
    if (r)
        return r;
    r = add_in_tx(db, cfg, a, f, id_r, error_r);
    r = finish(db, r, error_r);
    if (r)
        *id_r = 0;
    else
        log_info("task add id=%" G_GINT64_FORMAT " user=%" G_GINT64_FORMAT,
                 *id_r, a->id);
    return r;
}

crm_result tasks_update(db_conn *db, const crm_config *cfg,
                        const tasks_actor *a, gint64 id, const tasks_fields *f,
                        char **error_r)
{
    crm_result r = check_fields(f, false, error_r);
    if (r)
        return r;
    r = begin(db, a, error_r);
    if (r)
        return r;
    r = lock_visible(db, a, id, error_r);
    if (r == CRM_OK && f->project_id > 0) {
        g_autofree char *ps = tasks_id_text(f->project_id);
        const char *v[] = {ps};
        gint64 got = 0;
        r = query_actor_id(db, a,
                           "SELECT p.id FROM projects p WHERE p.id = "
                           "$3::bigint AND " PROJECT_VISIBLE,
                           1, v, &got, error_r);
        if (r == CRM_ERR_NOTFOUND)
            *error_r =
                g_strdup_printf("no project %" G_GINT64_FORMAT, f->project_id);
    }
    g_autofree char *remind_before = NULL;
    if (r == CRM_OK)
        r = remind_text(db, id, &remind_before, error_r);
    if (r == CRM_OK) {
        g_autofree char *ids = tasks_id_text(id);
        g_autofree char *pri =
            f->priority ? g_strdup_printf("%d", f->priority) : NULL;
        g_autofree char *proj =
            f->project_id ? tasks_id_text(f->project_id) : NULL;
        g_autofree char *title =
            f->title ? g_strstrip(g_strdup(f->title)) : NULL;
        const char *v[] = {ids,
                           title,
                           f->description,
                           f->due,
                           f->stage ? tasks_parse_stage(f->stage) : NULL,
                           pri,
                           f->remind_at,
                           proj};
        r = exec(db,
                 "UPDATE tasks SET title = coalesce($2, title), "
                 "description = coalesce($3, description), "
                 "due_date = CASE WHEN $4::text IS NULL THEN due_date "
                 "WHEN $4 = '' THEN NULL ELSE $4::date END, "
                 "stage = coalesce($5, stage), "
                 "priority = coalesce($6::smallint, priority), "
                 "remind_at = CASE WHEN $7::text IS NULL THEN remind_at "
                 "WHEN $7 = '' THEN NULL ELSE $7::timestamptz END, "
                 "project_id = CASE WHEN $8::bigint IS NULL THEN project_id "
                 "WHEN $8::bigint < 0 THEN NULL ELSE $8::bigint END "
                 "WHERE id = $1::bigint",
                 8, v, error_r);
    }
    g_autofree char *remind_after = NULL;
    if (r == CRM_OK)
        r = remind_text(db, id, &remind_after, error_r);
    /* a reminder when remind_at was set or moved, not on every save */
    if (r == CRM_OK && *remind_after &&
        strcmp(remind_before, remind_after) != 0)
        r = notify_reminders(db, cfg, id, error_r);
    return finish(db, r, error_r);
}

crm_result tasks_complete(db_conn *db, const tasks_actor *a, gint64 id,
                          char **error_r)
{
    crm_result r = begin(db, a, error_r);
    if (r)
        return r;
    r = lock_visible(db, a, id, error_r);
    if (r == CRM_OK) {
        g_autofree char *ids = tasks_id_text(id);
        const char *v[] = {ids};
        r = exec(db,
                 "UPDATE tasks SET stage = 'done' WHERE id = $1::bigint "
                 "AND stage <> 'done'",
                 1, v, error_r);
    }
    r = finish(db, r, error_r);
    if (r == CRM_OK)
        log_info("task done id=%" G_GINT64_FORMAT " user=%" G_GINT64_FORMAT, id,
                 a->id);
    return r;
}

crm_result tasks_reassign(db_conn *db, const crm_config *cfg,
                          const tasks_actor *a, gint64 id,
                          const tasks_fields *f, char **error_r)
{
    crm_result r = check_fields(f, false, error_r);
    if (r)
        return r;
    if (!f->owner && !f->responsible) {
        *error_r = g_strdup("give a new owner or responsible users");
        return CRM_ERR_USAGE;
    }
    r = begin(db, a, error_r);
    if (r)
        return r;
    r = lock_visible(db, a, id, error_r);
    g_autofree char *ids = tasks_id_text(id);
    gint64 owner = 0;
    if (r == CRM_OK && f->owner && *f->owner) {
        r = resolve_user(db, f->owner, &owner, error_r);
        gint64 old = 0;
        g_autofree char *owns = tasks_id_text(owner);
        const char *v[] = {ids, owns};
        if (r == CRM_OK)
            r = query_id(db, "SELECT owner_id FROM tasks WHERE id = $1::bigint",
                         1, v, &old, error_r);
        if (r == CRM_OK && old != owner) {
            r = exec(db,
                     "UPDATE tasks SET owner_id = $2::bigint "
                     "WHERE id = $1::bigint",
                     2, v, error_r);
            if (r == CRM_OK && owner != a->id)
                r = notify(db, cfg, id, owner, "assigned", error_r);
        }
    }
    if (r == CRM_OK && f->responsible)
        r = set_responsible(db, cfg, a, id, f->responsible, owner, error_r);
    return finish(db, r, error_r);
}

crm_result tasks_comment(db_conn *db, const tasks_actor *a, gint64 id,
                         const char *body, char **error_r)
{
    g_autofree char *text = g_strstrip(g_strdup(body ? body : ""));
    if (!*text) {
        *error_r = g_strdup("a comment needs some text");
        return CRM_ERR_USAGE;
    }
    if (g_utf8_strlen(text, -1) > TASKS_COMMENT_MAX) {
        *error_r = g_strdup_printf("a comment has at most %d characters",
                                   TASKS_COMMENT_MAX);
        return CRM_ERR_TOOBIG;
    }
    crm_result r = begin(db, a, error_r);
    if (r)
        return r;
    r = lock_visible(db, a, id, error_r);
    if (r == CRM_OK) {
        g_autofree char *ids = tasks_id_text(id);
        g_autofree char *who = a->id ? tasks_id_text(a->id) : NULL;
        const char *v[] = {ids, who, text};
        r = exec(db,
                 "INSERT INTO task_comments (task_id, author_id, body) "
                 "VALUES ($1::bigint, $2::bigint, $3)",
                 3, v, error_r);
    }
    return finish(db, r, error_r);
}

crm_result tasks_project_add(db_conn *db, const tasks_actor *a,
                             const char *name, const char *description,
                             gint64 *id_r, char **error_r)
{
    g_autofree char *n = g_strstrip(g_strdup(name ? name : ""));
    if (!*n || g_utf8_strlen(n, -1) > 200) {
        *error_r = g_strdup("a project name has 1 to 200 characters");
        return CRM_ERR_USAGE;
    }
    if (description && g_utf8_strlen(description, -1) > TASKS_DESCRIPTION_MAX) {
        *error_r = g_strdup("the description is too long");
        return CRM_ERR_TOOBIG;
    }
    if (!a->id) {
        *error_r = g_strdup("a project needs an owner");
        return CRM_ERR_USAGE;
    }
    g_autofree char *who = tasks_id_text(a->id);
    const char *v[] = {n, description ? description : "", who};
    return query_id(db,
                    "INSERT INTO projects (name, description, owner_id) "
                    "VALUES ($1, $2, $3::bigint) RETURNING id",
                    3, v, id_r, error_r);
}
