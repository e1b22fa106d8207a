/*
 * db.h - PostgreSQL access with a time budget, and schema migrations.
 *
 * Every query goes through db_query() with parameters (PQexecParams
 * semantics: no query text is ever built from data) and a deadline; a
 * query that outlives its deadline is cancelled and the connection is
 * dropped, to be re-established by the next call. Nothing here keeps
 * session state, so all of it works through pgbouncer in transaction mode.
 * A db_conn is used by one thread at a time.
 */
#ifndef CRMGATE_DB_H
#define CRMGATE_DB_H

#include <glib.h>
#include <libpq-fe.h>
#include <stdbool.h>

#include "crmgate/result.h"

typedef struct db_conn db_conn;
typedef struct json_t json_t; /* jansson's; only pointers here */

/* Returns a new unconnected handle for dsn; it connects on first use. */
db_conn *db_conn_new(const char *dsn);
/* Closes and frees *connp, clearing the pointer. */
void db_conn_free(db_conn **connp);

/* Connects if needed, within timeout_ms. CRM_ERR_DB_DOWN with *error_r
   set on failure. */
crm_result db_connect(db_conn *conn, guint timeout_ms, char **error_r);

/* Runs sql with n text parameters (NULL = SQL NULL); lengths/formats may be
   NULL for all-text. Waits at most timeout_ms (0 = no limit). On success
   *res_r holds the result (PQclear it). CRM_ERR_DB for an SQL error,
   CRM_ERR_DB_DOWN for a lost connection or a timeout. */
crm_result db_query(db_conn *conn, guint timeout_ms, const char *sql, int n,
                    const char *const *values, const int *lengths,
                    const int *formats, PGresult **res_r, char **error_r);

/* db_query for a statement whose answer is one JSON value: *out_r is the
   parsed first column of the first row (NULL when there is no row or it is
   NULL). CRM_ERR_DB when that text is not JSON. */
crm_result db_query_json(db_conn *conn, guint timeout_ms, const char *sql,
                         int n, const char *const *values, const int *lengths,
                         const int *formats, json_t **out_r, char **error_r);

/* A stored file: runs sql (text parameters) whose first row is (text,
   bytea), with binary results, and returns them: *text_r (a copy) and
   *bytes_r (the bytes, not their hex form). CRM_ERR_NOTFOUND ("no such
   WHAT") when there is no row or the bytes are NULL. */
crm_result db_query_blob(db_conn *conn, guint timeout_ms, const char *sql,
                         int n, const char *const *values, const char *what,
                         char **text_r, GBytes **bytes_r, char **error_r);

/* Shorthand for db_query with text parameters and no result wanted. */
crm_result db_exec(db_conn *conn, guint timeout_ms, const char *sql, int n,
                   const char *const *values, char **error_r);

/* Runs a compiled-in script of several statements (simple query protocol,
   no parameters): never pass text that holds data. */
crm_result db_exec_script(db_conn *conn, const char *sql, char **error_r);

/* The SQLSTATE of the last SQL error on conn ("" if none). */
const char *db_last_sqlstate(const db_conn *conn);

/* Applies the migrations compiled into the binary (sql/NNNN_*.sql) that
   are not yet recorded in schema_migrations, each in its own transaction,
   under an advisory lock. Sets *applied_r to how many ran. */
crm_result db_migrate(db_conn *conn, guint *applied_r, char **error_r);

#endif
