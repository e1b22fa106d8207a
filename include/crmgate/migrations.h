/*
 * migrations.h - the schema migrations compiled into every binary
 * (generated from sql/NNNN_name.sql by scripts/embed-sql.sh).
 */
#ifndef CRMGATE_MIGRATIONS_H
#define CRMGATE_MIGRATIONS_H

typedef struct {
    int version;
    const char *name;
    const char *sql;
} crm_migration;

extern const crm_migration crm_migrations[];
extern const unsigned crm_migrations_count;

#endif
