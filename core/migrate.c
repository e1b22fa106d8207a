/*
 * migrate.c - apply the compiled-in schema migrations.
 *
 * Each migration runs in its own transaction together with its row in
 * schema_migrations, under a transaction-level advisory lock
 * (pg_advisory_xact_lock: released by COMMIT or ROLLBACK, so it holds no
 * session state and works through pgbouncer in transaction pooling mode).
 * Two processes migrating at once apply each version exactly once: the
 * second waits for the lock, then sees the version recorded.
 *
 * The migration text is our own, compiled in: it is the one place
 * simple-query execution (several statements in one string, no
 * parameters) is used. Nothing else is built as text: the version check
 * and the schema_migrations row take parameters.
 */
#include <string.h>

#include "crmgate/db.h"
#include "crmgate/log.h"
#include "crmgate/migrations.h"

#define MIGRATE_LOCK_KEY "7262616702" /* arbitrary, fixed */
#define MIGRATE_LOCK "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK_KEY ")"

static const char create_sql[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version integer PRIMARY KEY, name text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now())";

/* Rolls back after a failure inside a transaction; error_r keeps the first
   error. */
static void rollback(db_conn *conn)
{
    char *ignored = NULL;
    db_exec(conn, 0, "ROLLBACK", 0, NULL, &ignored);
    g_free(ignored);
}

/* BEGIN and take the migration lock. */
static crm_result begin_locked(db_conn *conn, char **error_r)
{
    crm_result r = db_exec(conn, 0, "BEGIN", 0, NULL, error_r);
    if (!r)
        r = db_exec(conn, 0, MIGRATE_LOCK, 0, NULL, error_r);
    return r;
}

/* Applies migration m unless recorded; *applied_r says whether it ran. */
static crm_result apply_one(db_conn *conn, const crm_migration *m,
                            bool *applied_r, char **error_r)
{
    *applied_r = false;
    crm_result r = begin_locked(conn, error_r);
    if (r)
        return r;
    g_autofree char *ver = g_strdup_printf("%d", m->version);
    const char *p[] = {ver, m->name};
    PGresult *res = NULL;
    r = db_query(conn, 0, "SELECT 1 FROM schema_migrations WHERE version = $1",
                 1, p, NULL, NULL, &res, error_r);
    if (r)
        return r;
    bool done = PQntuples(res) > 0;
    PQclear(res);
    if (done)
        return db_exec(conn, 0, "COMMIT", 0, NULL, error_r);
    /* Simple query protocol: the text is ours (see the file comment). */
    r = db_exec_script(conn, m->sql, error_r);
    if (!r)
        r = db_exec(conn, 0,
                    "INSERT INTO schema_migrations (version, name) "
                    "VALUES ($1, $2)",
                    2, p, error_r);
    if (!r)
        r = db_exec(conn, 0, "COMMIT", 0, NULL, error_r);
    if (!r)
        *applied_r = true;
    return r;
}

crm_result db_migrate(db_conn *conn, guint *applied_r, char **error_r)
{
    *applied_r = 0;
    /* The table itself under the lock too: two CREATE TABLE IF NOT EXISTS
       racing on a fresh database can both try to create it. */
    crm_result r = begin_locked(conn, error_r);
    if (!r)
        r = db_exec(conn, 0, create_sql, 0, NULL, error_r);
    if (!r)
        r = db_exec(conn, 0, "COMMIT", 0, NULL, error_r);
    if (r) {
        rollback(conn);
        return r;
    }
    for (unsigned i = 0; i < crm_migrations_count; i++) {
        const crm_migration *m = &crm_migrations[i];
        bool applied = false;
        r = apply_one(conn, m, &applied, error_r);
        if (r) {
            char *tmp = *error_r;
            *error_r = g_strdup_printf("migration %s failed: %s", m->name, tmp);
            g_free(tmp);
            rollback(conn);
            return r;
        }
        if (applied) {
            log_info("migrate: applied version=%d name=%s", m->version,
                     m->name);
            (*applied_r)++;
        }
    }
    return CRM_OK;
}
