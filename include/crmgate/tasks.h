/*
 * tasks.h - tasks (django-crm's tasks app), shared by the CLI and the web
 * view: create, list, show, edit, complete, reassign, comment, projects,
 * the notices a change owes, and the signed one-click completion link.
 *
 * Every function takes the acting user (tasks_actor). Id 0 is the system
 * (the admin CLI): it sees every task and its changes are recorded in
 * task_history with no user. Anyone else sees what crm_task_visible()
 * (sql/0008) allows; a task they may not see is CRM_ERR_NOTFOUND, for reads
 * and writes alike. Writes run in one transaction with crmgate.user_id set,
 * so the history triggers record who acted. The subtask rule lives in SQL:
 * completing a task with open subtasks is CRM_ERR_EXISTS (SQLSTATE 23514,
 * "open subtasks exist"), with a message for the user.
 */
#ifndef CRMGATE_TASKS_H
#define CRMGATE_TASKS_H

#include <glib.h>
#include <stdbool.h>
typedef struct json_t json_t; /* jansson's; only pointers here */

#include "crmgate/config.h"
#include "crmgate/db.h"
#include "crmgate/result.h"

/* How long the signed completion link in a notice stays valid: 7 days
   (no configuration key: a notice is read within days, and the link is
   bound to one task and one user). */
#define TASKS_LINK_TTL_S (7 * 24 * 3600)
/* Bounds of what a user may type. */
#define TASKS_TITLE_MAX 500
#define TASKS_DESCRIPTION_MAX 20000
#define TASKS_COMMENT_MAX 20000
#define TASKS_RESPONSIBLE_MAX 20
/* Rows a list returns at most. */
#define TASKS_LIST_MAX 200

typedef struct {
    gint64 id;        /* 0: the system: sees all, history user NULL */
    const char *role; /* manager, operator, chief, admin */
} tasks_actor;

typedef enum {
    TASKS_VIEW_MINE = 0, /* open, owner / co-owner / responsible */
    TASKS_VIEW_OVERDUE,  /* the same, due before today */
    TASKS_VIEW_PROJECT,  /* every visible task of one project */
    TASKS_VIEW_ALL,      /* every visible task, closed ones too */
    TASKS_VIEW_OPEN,     /* every visible open task (the CLI's default) */
} tasks_view_kind;

typedef struct {
    tasks_view_kind kind;
    gint64 project_id; /* TASKS_VIEW_PROJECT */
    guint limit;       /* at most this many; 0: TASKS_LIST_MAX (a page) */
} tasks_view;

/* A new task or an edit. NULL strings and 0 numbers mean "not given". */
typedef struct {
    const char *title;
    const char *description;
    const char *due;       /* YYYY-MM-DD; "" clears it (edit) */
    const char *stage;     /* canonical (tasks_parse_stage) */
    int priority;          /* 1-3 */
    const char *remind_at; /* YYYY-MM-DD[ HH:MM] or RFC 3339; "" clears */
    const char *owner;     /* user address or id; NULL: the actor */
    const char *const *responsible; /* addresses or ids, NULL-terminated */
    gint64 project_id;              /* -1 clears it (edit) */
    gint64 parent_id;
    const char *record_type; /* contact, lead, company, deal, request */
    gint64 record_id;
} tasks_fields;

/* Parses a view: NULL or "" or "mine", "overdue", "all", "open",
   "project:ID". False for anything else. */
bool tasks_view_parse(const char *s, tasks_view *v_r);
/* Parses a priority: 1-3, or low, middle (medium), high. */
bool tasks_parse_priority(const char *s, int *p_r);
/* The stored form of a stage (pending, in_progress, done, postponed,
   canceled; "in progress", "in-progress" and "cancelled" accepted), or
   NULL. */
const char *tasks_parse_stage(const char *s);
/* Parses "TYPE:ID" (contact, lead, company, deal, request); *type_r is a
   static string. */
bool tasks_parse_record(const char *s, const char **type_r, gint64 *id_r);
/* True when s is a valid date YYYY-MM-DD. */
bool tasks_valid_date(const char *s);

/* The signature of a completion link: auth_sign(secret,
   "task-done:TASK:USER:EXPIRY"), newly allocated. */
char *tasks_done_sig(const char *secret, gint64 task, gint64 user,
                     gint64 expiry);
/* True when sig signs (task, user, expiry) under secret and expiry (unix
   seconds) is after now. False for an empty secret. */
bool tasks_done_verify(const char *secret, gint64 task, gint64 user,
                       gint64 expiry, const char *sig, gint64 now);
/* The one-click completion link for user, valid ttl_s seconds from now:
   BASE/tasks/ID/done?u=USER&e=EXPIRY&s=SIG (web.base_url); newly
   allocated, NULL when web.secret is empty. */
char *tasks_done_link(const crm_config *cfg, gint64 task, gint64 user,
                      gint64 ttl_s);

/* Creates a task owned by f->owner (default the actor; the system needs
   one, or takes the record's or the parent's owner). Checks that the actor
   sees the record (else CRM_ERR_NOTFOUND), the parent and the project, that
   users exist (CRM_ERR_NOTFOUND), and queues the notices it owes. */
/* Queues the 'assigned' notice (with its signed link) for the owner of a
   task made without one: by the request trigger of sql/0008, through the
   worker's "task.assigned" job (sql/0014). CRM_ERR_NOTFOUND for no task. */
crm_result tasks_notify_assigned(db_conn *db, const crm_config *cfg,
                                 gint64 task, char **error_r);
crm_result tasks_add(db_conn *db, const crm_config *cfg, const tasks_actor *a,
                     const tasks_fields *f, gint64 *id_r, char **error_r);
/* Changes the fields given in f (title, description, due, stage, priority,
   remind_at, project). */
crm_result tasks_update(db_conn *db, const crm_config *cfg,
                        const tasks_actor *a, gint64 id, const tasks_fields *f,
                        char **error_r);
/* Sets the stage to done. CRM_ERR_EXISTS when open subtasks exist. */
crm_result tasks_complete(db_conn *db, const tasks_actor *a, gint64 id,
                          char **error_r);
/* New owner (f->owner) and/or responsible users (f->responsible replaces
   the list); 'assigned' notices for the users it adds. */
crm_result tasks_reassign(db_conn *db, const crm_config *cfg,
                          const tasks_actor *a, gint64 id,
                          const tasks_fields *f, char **error_r);
/* Adds a comment by the actor. */
crm_result tasks_comment(db_conn *db, const tasks_actor *a, gint64 id,
                         const char *body, char **error_r);
/* {"tasks": [...]} of a view, at most TASKS_LIST_MAX; open ones first,
   overdue first, then by due date. */
crm_result tasks_list(db_conn *db, const tasks_actor *a, const tasks_view *v,
                      json_t **out_r, char **error_r);
/* One task with "comments", "subtasks", "history" and "parent_title";
   CRM_ERR_NOTFOUND when it does not exist or the actor may not see it. */
crm_result tasks_get(db_conn *db, const tasks_actor *a, gint64 id,
                     json_t **out_r, char **error_r);
/* The role of an active user (newly allocated) or CRM_ERR_NOTFOUND. */
crm_result tasks_user_role(db_conn *db, gint64 user, char **role_r,
                           char **error_r);

/* Creates a project owned by the actor. */
crm_result tasks_project_add(db_conn *db, const tasks_actor *a,
                             const char *name, const char *description,
                             gint64 *id_r, char **error_r);
/* {"projects": [...]}: the projects the actor owns, co-owns or has a
   visible task in (all for chief, admin and the system), with counts. */
crm_result tasks_projects(db_conn *db, const tasks_actor *a, json_t **out_r,
                          char **error_r);

#endif
