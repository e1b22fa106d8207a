/*
 * migrate.c - apply the compiled-in schema migrations.
 *
 * Each migration runs in its own transaction together with its row in
 * schema_migrations, under a transaction-level advisory lock, so two
 * processes migrating at once apply each version exactly once. Migration
 * text is our own, compiled in: it is the one place simple-query execution
 * (several statements in one string, no parameters) is used.
 */
#include <string.h>

#include "crmgate/db.h"
#include "crmgate/log.h"
#include "crmgate/migrations.h"

#define MIGRATE_LOCK_KEY "7262616702" /* arbitrary, fixed */

static const char create_sql[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version integer PRIMARY KEY, name text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now())";

crm_result db_migrate(db_conn *conn, guint *applied_r, char **error_r)
{
    crm_result r;
    *applied_r = 0;
    r = db_exec(conn, 0, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", 0,
                NULL, error_r);
    if (r)
        return r;
    r = db_exec(conn, 0, create_sql, 0, NULL, error_r);
    for (unsigned i = 0; !r && i < crm_migrations_count; i++) {
        const crm_migration *m = &crm_migrations[i];
        g_autofree char *ver = g_strdup_printf("%d", m->version);
        const char *p[] = {ver};
        PGresult *res = NULL;
        r = db_query(conn, 0,
                     "SELECT 1 FROM schema_migrations WHERE version = $1", 1, p,
                     NULL, NULL, &res, error_r);
        if (r)
            break;
        bool done = PQntuples(res) > 0;
        PQclear(res);
        if (done)
            continue;
        g_autofree char *script = g_strdup_printf(
            "BEGIN;\n%s\n;INSERT INTO schema_migrations (version, name) "
            "VALUES (%d, '%s');\nCOMMIT;",
            m->sql, m->version, m->name);
        /* Simple query protocol: the text is ours (see the file comment). */
        r = db_exec_script(conn, script, error_r);
        if (r) {
            char *tmp = *error_r;
            *error_r = g_strdup_printf("migration %s failed: %s", m->name, tmp);
            g_free(tmp);
            char *ignored = NULL;
            db_exec(conn, 0, "ROLLBACK", 0, NULL, &ignored);
            g_free(ignored);
            break;
        }
        log_info("migrate: applied version=%d name=%s", m->version, m->name);
        (*applied_r)++;
    }
    char *ignored = NULL;
    db_exec(conn, 0, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")", 0, NULL,
            &ignored);
    g_free(ignored);
    return r;
}
