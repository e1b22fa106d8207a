/*
 * tasks_int.h - what core/tasks.c (writes) and core/tasks_read.c (reads)
 * share: the statement budget, the visibility rules as SQL fragments and
 * the database helpers. Private to core/.
 */
#ifndef CRMGATE_TASKS_INT_H
#define CRMGATE_TASKS_INT_H

#include <libpq-fe.h>

#include "crmgate/db.h"
#include "crmgate/tasks.h"

/* Longest wait for one statement. */
#define TASKS_SQL_MS 10000

/* The actor ($1 id, $2 role) may see task row t. */
#define TASK_VISIBLE "($1::bigint = 0 OR crm_task_visible($1, $2, t.id))"

/* The actor ($1, $2) may see project row p. */
#define PROJECT_VISIBLE                                                        \
    "($1::bigint = 0 OR $2 IN ('chief', 'admin') OR p.owner_id = $1 "          \
    "OR p.co_owner_id = $1 OR EXISTS (SELECT 1 FROM tasks t "                  \
    "WHERE t.project_id = p.id AND crm_task_visible($1, $2, t.id)))"

/* An id as decimal text, newly allocated. */
char *tasks_id_text(gint64 id);
/* db_query within TASKS_SQL_MS, SQL errors mapped to typed results. */
crm_result tasks_query(db_conn *db, const char *sql, int n,
                       const char *const *values, PGresult **res_r,
                       char **error_r);
/* sql with the actor as $1, $2 before the n values; *out_r is the one
   JSON value of the answer (NULL when none). */
crm_result tasks_query_actor_json(db_conn *db, const tasks_actor *a,
                                  const char *sql, int n,
                                  const char *const *values, json_t **out_r,
                                  char **error_r);

#endif
