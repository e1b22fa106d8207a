/*
 * cli.h - shared pieces of the crmgate admin command.
 */
#ifndef CRMGATE_CLI_H
#define CRMGATE_CLI_H

#include <jansson.h>
#include <stdbool.h>

#include "crmgate/config.h"
#include "crmgate/db.h"

typedef struct cli_command cli_command;

typedef struct {
    const char *config_path;
    crm_config *cfg;        /* loaded on first need */
    db_conn *db;            /* connected on first need */
    bool json;              /* --json: machine-readable output */
    const cli_command *cmd; /* the command running, set by the dispatcher */
} cli_ctx;

/* A subcommand: argv[0] is its own name. Returns a sysexits.h code. */
typedef int (*cli_fn)(cli_ctx *ctx, int argc, char **argv);

/* One entry of the command table (cli/main.c): the one place a command's
   usage is written. "crmgate COMMAND [SUBCOMMAND] --help" prints it. */
struct cli_command {
    const char *name;
    cli_fn fn;
    const char *usage;   /* after "usage: crmgate ", e.g. "user add EMAIL" */
    const char *summary; /* one line for the command list */
};

/* Loads the configuration or exits with EX_CONFIG. */
crm_config *cli_config(cli_ctx *ctx);
/* Connects to the database or exits with EX_TEMPFAIL / EX_UNAVAILABLE. */
db_conn *cli_db(cli_ctx *ctx);
/* Prints value as JSON (indented) to stdout and frees it. */
void cli_print_json(json_t *value);
/* Prints "crmgate: what" to stderr; returns the exit code for r. */
int cli_fail(crm_result r, const char *what);
/* Same, and frees what (an error string handed over by core). */
int cli_fail_free(crm_result r, char *what);
/* Prints "usage: crmgate USAGE" of the running command (ctx->cmd) to
   stderr and returns EX_USAGE. */
int cli_usage(const cli_ctx *ctx);
/* A JSON date (PostgreSQL gives ISO 8601) as RFC 3339 with seconds, in a
   buffer reused by the next call; "(none)" when d is not a date. */
const char *cli_date(json_t *d);
/* Writes one CSV field to stdout with libcsv's writer (quoted, quotes
   doubled; a string or an integer; anything else an empty field), then
   ',' or, when last, a newline. False on a write error. */
bool cli_csv_cell(json_t *v, bool last);
/* Parses a positive id; false if it is not one. */
bool cli_parse_id(const char *s, gint64 *id_r);

int cmd_migrate(cli_ctx *ctx, int argc, char **argv);
int cmd_user(cli_ctx *ctx, int argc, char **argv);
int cmd_company(cli_ctx *ctx, int argc, char **argv);
int cmd_contact(cli_ctx *ctx, int argc, char **argv);
int cmd_deal(cli_ctx *ctx, int argc, char **argv);
int cmd_import(cli_ctx *ctx, int argc, char **argv);
int cmd_export(cli_ctx *ctx, int argc, char **argv);
int cmd_parse(cli_ctx *ctx, int argc, char **argv);
/* "dsn FILE": the bounce parser's reading of a file (cli/cmd_dsn.c). */
int cmd_dsn(cli_ctx *ctx, int argc, char **argv);
int cmd_ingest(cli_ctx *ctx, int argc, char **argv);
int cmd_timeline(cli_ctx *ctx, int argc, char **argv);
int cmd_spool(cli_ctx *ctx, int argc, char **argv);
int cmd_token(cli_ctx *ctx, int argc, char **argv);
/* "task add|list|done" (cli/cmd_task.c). */
int cmd_task(cli_ctx *ctx, int argc, char **argv);
/* "seed --demo" and the bulk seed (cmd_seed.c). */
int cmd_seed(cli_ctx *ctx, int argc, char **argv);
/* Reports (cli/cmd_report.c). */
int cmd_report(cli_ctx *ctx, int argc, char **argv);
int cmd_payment(cli_ctx *ctx, int argc, char **argv);
/* Campaigns, sending accounts, tags, suppressions (cmd_campaign.c). */
int cmd_campaign(cli_ctx *ctx, int argc, char **argv);
int cmd_account(cli_ctx *ctx, int argc, char **argv);
int cmd_tag(cli_ctx *ctx, int argc, char **argv);
int cmd_suppress(cli_ctx *ctx, int argc, char **argv);
/* "job list|retry|add": the job queue (cli/cmd_job.c). */
int cmd_job(cli_ctx *ctx, int argc, char **argv);
/* "call list|NUMBER", "lead list", "voip line add|list" (cmd_voip.c). */
int cmd_call(cli_ctx *ctx, int argc, char **argv);
int cmd_lead(cli_ctx *ctx, int argc, char **argv);
int cmd_voip(cli_ctx *ctx, int argc, char **argv);
/* "user passwd EMAIL" (cmd_user hands it over). */
int cli_user_passwd(cli_ctx *ctx, int argc, char **argv);

#endif
