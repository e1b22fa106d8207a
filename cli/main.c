/*
 * main.c - the crmgate admin command: global options, then one
 * subcommand. Subcommands live in cmd_*.c; logic lives in core/.
 *
 * The command table below is the one place each command's usage is
 * written: the command list of --help, "crmgate COMMAND --help" (and
 * "crmgate COMMAND SUBCOMMAND --help"), and the usage message a command
 * prints for bad arguments (cli_usage) all come from it.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "cli.h"
#include "crmgate/log.h"
#include "crmgate/message.h"

static const cli_command commands[] = {
    {"migrate", cmd_migrate, "migrate", "apply the database migrations"},
    {"user", cmd_user,
     "user add EMAIL [--name NAME] [--role manager|operator|chief|admin] "
     "[--extension EXT] | user passwd EMAIL (password on standard input)",
     "add a staff member; set a password (ends their web sessions)"},
    {"token", cmd_token, "token add EMAIL [--name NAME]",
     "create an API token for a user (printed once, on the last line)"},
    {"company", cmd_company,
     "company add NAME [--domain DOMAIN]... [--website URL] [--owner EMAIL]",
     "add a company and its mail domains"},
    {"contact", cmd_contact,
     "contact add EMAIL [--first F] [--last L] [--name \"F L\"] [--title T] "
     "[--phone P] [--company NAME | --company-id ID] [--owner EMAIL] "
     "[--country CC] [--tag T]...",
     "add a contact (a company given by name is found or created)"},
    {"deal", cmd_deal,
     "deal add NAME [--contact ID] [--company ID] [--amount N] "
     "[--currency C] [--stage S] [--ticket T] [--owner EMAIL]",
     "add a deal (ticket generated when not given)"},
    {"import", cmd_import, "import contacts FILE.csv",
     "import contacts (a header row names the columns: email, first_name, "
     "last_name, name, title, phone, company, owner, country, tags)"},
    {"export", cmd_export, "export contacts",
     "print all contacts (CSV, or --json)"},
    {"parse", cmd_parse, "parse FILE", "show what capture would extract"},
    {"dsn", cmd_dsn, "dsn FILE",
     "read a bounce, complaint or auto-reply: recipients, status, reason, "
     "hard|soft (--json)"},
    {"ingest", cmd_ingest, "ingest FILE|DIR|MBOX [--direction in|out]",
     "capture existing mail (file, Maildir, directory, mbox)"},
    {"timeline", cmd_timeline,
     "timeline ADDRESS|contact:ID|company:ID|deal:ID|lead:ID|request:ID "
     "[--limit N]",
     "messages of a record, newest first"},
    {"spool", cmd_spool, "spool status|replay [--bad]",
     "the capture journal: depth and age; store it now (--bad: retry what "
     "was set aside)"},
    {"task", cmd_task,
     "task add TITLE [--owner EMAIL] [--due DATE] [--record TYPE:ID] "
     "[--priority N] [--parent ID] | task list [--all] [--json] | "
     "task done ID",
     "add a task (prints its id), list open tasks (--all: every task), "
     "complete a task"},
    {"seed", cmd_seed,
     "seed --demo | seed --contacts N [--deals N] [--messages N] "
     "[--managers N]",
     "fill a demo CRM (idempotent; prints the demo login), or a large "
     "dataset for benchmarks"},
    {"report", cmd_report,
     "report NAME [--owner EMAIL|ID] [--from YYYY-MM-DD] [--to YYYY-MM-DD] "
     "[--csv]",
     "print a report (income, sales, funnel, requests, lead-sources, "
     "conversion, closing-reasons, deals, mail-activity, first-response, "
     "unresolved, campaigns, calls): a table, --csv or --json"},
    {"account", cmd_account,
     "account add FROM --relay smtp://HOST:PORT|smtps://HOST:PORT "
     "[--name N] [--user U --password-stdin] [--starttls required|off] "
     "[--daily-cap N] [--concurrency N] [--signature-text FILE] "
     "[--signature-html FILE] [--default] | account list",
     "add a sending account (the first one is the default); list them"},
    {"tag", cmd_tag,
     "tag add contact:ID|lead:ID|company:ID|deal:ID|request:ID "
     "TAG...",
     "tag a record (tags are lower-case)"},
    {"campaign", cmd_campaign,
     "campaign create NAME --subject S --text FILE [--html FILE] "
     "--segment EXPR [--account ID] [--ab-subject S]... [--rate N] "
     "[--window \"Mon-Thu 09:00-17:00\"] [--tz ZONE] [--at TIME] "
     "[--owner EMAIL] [--track-opens] [--track-clicks] [--no-tracking] | "
     "campaign test ID --to ADDR... | "
     "campaign start|pause|resume|cancel ID | "
     "campaign status ID [--follow] | campaign log ID | "
     "campaign resend-failed ID",
     "mass mail: create (segment: tag:T, company:ID, country:CC, "
     "owner:EMAIL, leads, contacts, csv:FILE joined by ','), send a test, "
     "start, follow, the send log (CSV or --json)"},
    {"suppress", cmd_suppress,
     "suppress add ADDRESS [--reason R] | suppress remove ADDRESS | "
     "suppress list",
     "the suppression list: never mailed by campaigns"},
    {"payment", cmd_payment,
     "payment add DEAL_ID AMOUNT [--currency C] "
     "[--status received|guaranteed|high|low] [--date YYYY-MM-DD] "
     "[--contract TEXT]",
     "add a payment to a deal (prints its id)"},
    {"job", cmd_job,
     "job list [--state available|running|discarded|done] [--done] "
     "[--kind K] [--limit N] [--json] | job retry ID|--all-discarded | "
     "job add KIND [--payload JSON|-] [--at TIME|+SECONDS] [--unique KEY]",
     "the job queue: list jobs, make discarded ones available again "
     "(prints how many), enqueue one (prints its id)"},
    {"call", cmd_call,
     "call list [--limit N] [--json] | call NUMBER --from EXT "
     "[--wait SECONDS]",
     "the call log, newest first; click-to-call: the provider rings EXT, "
     "then NUMBER (waits for the worker's answer: exit 0 done, 1 failed, "
     "75 no answer in time; --wait 0 only queues)"},
    {"lead", cmd_lead, "lead list [--limit N] [--json]",
     "leads, newest first (phone as given and in E.164, source, owner)"},
    {"voip", cmd_voip,
     "voip line add NUMBER [--user EMAIL] [--label TEXT] | "
     "voip line list [--json]",
     "our phone numbers and who answers for each (owner of what an "
     "unknown caller of that number creates)"},
};

/* The global usage, with the command list from the table. */
static void print_usage(FILE *out)
{
    fputs("usage: crmgate [-c FILE] [--json] COMMAND [ARGS]\n"
          "       crmgate COMMAND --help\n"
          "\n"
          "commands:\n",
          out);
    for (size_t i = 0; i < G_N_ELEMENTS(commands); i++)
        fprintf(out, "  %s\n      %s\n", commands[i].usage,
                commands[i].summary);
    fputs("\n"
          "options:\n"
          "  -c, --config FILE   configuration (default: $CRMGATE_CONFIG,\n"
          "                      etc/crmgate.conf, " CRM_SYSCONFDIR
          "/crmgate/crmgate.conf)\n"
          "  -j, --json          print JSON\n"
          "  -h, --help          this text\n"
          "  -V, --version       print the version\n",
          out);
}

/* True when a command's arguments (after its name, up to "--") ask for
   help: "--help" or "-h" anywhere, so "spool status --help" works too. */
static bool wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return false;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    }
    return false;
}

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
            print_usage(stdout);
            return 0;
        case 'V':
            printf("crmgate %s\n", CRM_VERSION);
            return 0;
        default:
            print_usage(stderr);
            return EX_USAGE;
        }
    }
    if (optind >= argc) {
        print_usage(stderr);
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
        print_usage(stderr);
        return EX_USAGE;
    }
    log_init("crmgate", LOG_LEVEL_WARN, false);
    message_library_init();
    const char *name = argv[optind];
    int rc = -1;
    for (size_t i = 0; i < G_N_ELEMENTS(commands); i++) {
        if (strcmp(commands[i].name, name) == 0) {
            ctx.cmd = &commands[i];
            /* Subcommands see argv from their own name on. */
            int sub_argc = argc - optind;
            char **sub_argv = argv + optind;
            if (wants_help(sub_argc, sub_argv)) {
                printf("usage: crmgate %s\n  %s\n", ctx.cmd->usage,
                       ctx.cmd->summary);
                rc = 0;
            } else {
                optind++;
                rc = ctx.cmd->fn(&ctx, sub_argc, sub_argv);
            }
            break;
        }
    }
    if (rc < 0) {
        fprintf(stderr, "crmgate: unknown command '%s'\n\n", name);
        print_usage(stderr);
        rc = EX_USAGE;
    }
    db_conn_free(&ctx.db);
    config_free(&ctx.cfg);
    return rc;
}
