/*
 * main.c - the crmgate admin command: global options, then one
 * subcommand. Subcommands live in cmd_*.c; logic lives in core/.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "cli.h"
#include "crmgate/log.h"
#include "crmgate/message.h"

static const char usage_text[] =
    "usage: crmgate [-c FILE] [--json] COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  migrate                         apply database migrations\n"
    "  user add EMAIL [--name N] [--role R]\n"
    "  company add NAME [--domain D]... [--website URL] [--owner EMAIL]\n"
    "  contact add EMAIL [--first F] [--last L] [--name \"F L\"] [--title T]\n"
    "              [--phone P] [--company NAME | --company-id ID] [--owner "
    "EMAIL]\n"
    "  deal add NAME [--contact ID] [--company ID] [--amount N] [--currency "
    "C]\n"
    "              [--stage S] [--ticket T] [--owner EMAIL]\n"
    "  import contacts FILE.csv        import contacts (header row names "
    "columns)\n"
    "  export contacts                 print all contacts (CSV, or --json)\n"
    "  parse FILE                      show what capture would extract\n"
    "  ingest FILE|DIR|MBOX [--direction in|out]\n"
    "                                  capture existing mail (file, Maildir,\n"
    "                                  directory of .eml, mbox)\n"
    "  timeline ADDRESS|contact:ID|company:ID|deal:ID|lead:ID|request:ID\n"
    "              [--limit N]         messages of a record, newest first\n"
    "  spool status|replay [--bad]     the capture journal: depth, age; store now\n"
    "\n"
    "options:\n"
    "  -c, --config FILE   configuration (default: $CRMGATE_CONFIG,\n"
    "                      etc/crmgate.conf, " CRM_SYSCONFDIR
    "/crmgate/crmgate.conf)\n"
    "  -j, --json          print JSON\n"
    "  -h, --help          this text\n"
    "  -V, --version       print the version\n";

static const struct {
    const char *name;
    cli_fn fn;
} commands[] = {
    {"migrate", cmd_migrate},   {"user", cmd_user},   {"company", cmd_company},
    {"contact", cmd_contact},   {"deal", cmd_deal},   {"import", cmd_import},
    {"export", cmd_export},     {"parse", cmd_parse}, {"ingest", cmd_ingest},
    {"timeline", cmd_timeline}, {"spool", cmd_spool},
};

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    cli_ctx ctx = {0};
    int ch;
    /* "+" stops at the first non-option: the subcommand parses the rest. */
    while ((ch = getopt_long(argc, argv, "+c:jhV", opts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            ctx.config_path = optarg;
            break;
        case 'j':
            ctx.json = true;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        case 'V':
            printf("crmgate %s\n", CRM_VERSION);
            return 0;
        default:
            fputs(usage_text, stderr);
            return EX_USAGE;
        }
    }
    if (optind >= argc) {
        fputs(usage_text, stderr);
        return EX_USAGE;
    }
    /* --json is accepted after the subcommand too ("parse --json FILE"). */
    int kept = optind;
    for (int i = optind; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0 || strcmp(argv[i], "-j") == 0)
            ctx.json = true;
        else
            argv[kept++] = argv[i];
    }
    argc = kept;
    argv[argc] = NULL;
    if (optind >= argc) {
        fputs(usage_text, stderr);
        return EX_USAGE;
    }
    log_init("crmgate", LOG_LEVEL_WARN, false);
    message_library_init();
    const char *name = argv[optind];
    int rc = -1;
    for (size_t i = 0; i < G_N_ELEMENTS(commands); i++) {
        if (strcmp(commands[i].name, name) == 0) {
            optind++;
            /* Subcommands see argv from their own name on. */
            rc = commands[i].fn(&ctx, argc - optind + 1, argv + optind - 1);
            break;
        }
    }
    if (rc < 0) {
        fprintf(stderr, "crmgate: unknown command '%s'\n\n%s", name,
                usage_text);
        rc = EX_USAGE;
    }
    db_conn_free(&ctx.db);
    config_free(&ctx.cfg);
    return rc;
}
