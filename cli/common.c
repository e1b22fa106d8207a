/*
 * common.c - configuration, database and output helpers of the CLI.
 */
#include <csv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "cli.h"
#include "crmgate/rfc3339.h"

crm_config *cli_config(cli_ctx *ctx)
{
    if (ctx->cfg)
        return ctx->cfg;
    const char *path =
        ctx->config_path ? ctx->config_path : config_default_path();
    char *err = NULL;
    if (config_load(path, &ctx->cfg, &err)) {
        fprintf(stderr, "crmgate: %s\n", err);
        g_free(err);
        exit(EX_CONFIG);
    }
    return ctx->cfg;
}

db_conn *cli_db(cli_ctx *ctx)
{
    if (ctx->db)
        return ctx->db;
    crm_config *cfg = cli_config(ctx);
    ctx->db = db_conn_new(cfg->dsn);
    char *err = NULL;
    if (db_connect(ctx->db, 10000, &err)) {
        fprintf(stderr, "crmgate: %s\n", err);
        g_free(err);
        exit(EX_UNAVAILABLE);
    }
    return ctx->db;
}

void cli_print_json(json_t *value)
{
    json_dumpf(value, stdout, JSON_INDENT(2) | JSON_ENCODE_ANY);
    fputc('\n', stdout);
    json_decref(value);
}

int cli_fail(crm_result r, const char *what)
{
    fprintf(stderr, "crmgate: %s\n", what && *what ? what : crm_strerror(r));
    switch (r) {
    case CRM_OK:
        return 0;
    case CRM_ERR_USAGE:
        return EX_USAGE;
    case CRM_ERR_CONFIG:
        return EX_CONFIG;
    case CRM_ERR_DB_DOWN:
        return EX_TEMPFAIL;
    case CRM_ERR_IO:
        return EX_IOERR;
    case CRM_ERR_NOTFOUND:
        return EX_NOINPUT;
    case CRM_ERR_PARSE:
    case CRM_ERR_TOOBIG:
    case CRM_ERR_EXISTS:
    case CRM_ERR_DB:
        return EX_DATAERR;
    case CRM_ERR_BUSY:
        return EX_TEMPFAIL;
    case CRM_ERR_AUTH:
        return EX_NOPERM;
    case CRM_ERR_INTERNAL:
        return EX_SOFTWARE;
    }
    return EX_SOFTWARE;
}

int cli_fail_free(crm_result r, char *what)
{
    int rc = cli_fail(r, what);
    g_free(what);
    return rc;
}

int cli_usage(const cli_ctx *ctx)
{
    fprintf(stderr, "usage: crmgate %s\n",
            ctx->cmd ? ctx->cmd->usage : "COMMAND [ARGS]");
    return EX_USAGE;
}

bool cli_parse_id(const char *s, gint64 *id_r)
{
    guint64 v = 0;
    if (!s || !g_ascii_string_to_unsigned(s, 10, 1, G_MAXINT64, &v, NULL))
        return false;
    *id_r = (gint64)v;
    return true;
}

const char *cli_date(json_t *d)
{
    static char *last;
    g_free(last);
    last = rfc3339_normalize(json_string_value(d));
    return last ? last : "(none)";
}

/* Writes one CSV field with libcsv's writer (quoted, quotes doubled); a
   JSON null is an empty unquoted field. False on a write error. */
bool cli_csv_cell(json_t *v, bool last)
{
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;
    g_autofree char *num =
        json_is_integer(v)
            ? g_strdup_printf("%" JSON_INTEGER_FORMAT, json_integer_value(v))
            : NULL;
    if (num)
        s = num;
    if (s && csv_fwrite(stdout, s, strlen(s)) != 0)
        return false;
    return fputc(last ? '\n' : ',', stdout) != EOF;
}
