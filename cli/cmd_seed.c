/*
 * cmd_seed.c - "crmgate seed --demo" and "crmgate seed --contacts N
 * --deals N --messages N [--managers N]": argument parsing and output;
 * the data is core/seed.c and core/seed_demo.c.
 *
 * Numbers are plain decimal within the bounds of seed.h; anything else is
 * a usage error before the database is touched. The bulk seed draws a
 * progress bar on stderr when it is a terminal, plain lines otherwise.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "cli.h"
#include "crmgate/seed.h"

/* Parses a count in 0..max; false for anything else. */
static bool parse_count(const char *s, guint64 max, guint64 *out)
{
    return s && g_ascii_string_to_unsigned(s, 10, 0, max, out, NULL);
}

typedef struct {
    bool tty;
} progress_ctx;

static void draw(const char *stage, guint64 done, guint64 total, double secs,
                 void *data)
{
    const progress_ctx *p = data;
    if (!p->tty) {
        fprintf(stderr,
                "seed: %s %" G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT
                " (%.1f s)\n",
                stage, done, total, secs);
        return;
    }
    int width = 30;
    int n = total ? (int)((double)done * width / (double)total) : width;
    n = CLAMP(n, 0, width);
    fprintf(stderr,
            "\r\033[K%-10s [%.*s%*s] %" G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT
            " %.1f s",
            stage, n, "##############################", width - n, "", done,
            total, secs);
    if (done >= total)
        fputc('\n', stderr);
    fflush(stderr);
}

static int seed_demo_cmd(cli_ctx *ctx)
{
    crm_config *cfg = cli_config(ctx);
    db_conn *db = cli_db(ctx);
    seed_demo_result res;
    char *err = NULL;
    crm_result r = seed_demo(cfg, db, &res, &err);
    if (r)
        return cli_fail_free(r, err);
    bool changed = res.records_added || res.users_added || res.captured;
    bool rollups = false;
    if (changed && (r = seed_finish(db, &rollups, &err)))
        return cli_fail_free(r, err);
    if (ctx->json) {
        cli_print_json(json_pack(
            "{s:b,s:b,s:i,s:i,s:i,s:s,s:s}", "changed", changed,
            "records_added", res.records_added, "users_added",
            (int)res.users_added, "messages_captured", (int)res.captured,
            "messages_present", (int)res.present, "login", SEED_DEMO_EMAIL,
            "password", SEED_DEMO_PASSWORD));
        return 0;
    }
    if (!changed)
        printf("demo data already present: nothing changed\n");
    else
        printf("demo data: records %s, %u users given the demo password, "
               "%u messages captured (%u were there)\n",
               res.records_added ? "added" : "were there", res.users_added,
               res.captured, res.present);
    printf("demo login: %s %s\n", SEED_DEMO_EMAIL, SEED_DEMO_PASSWORD);
    return 0;
}

int cmd_seed(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"demo", no_argument, NULL, 'D'},
        {"contacts", required_argument, NULL, 'c'},
        {"deals", required_argument, NULL, 'd'},
        {"messages", required_argument, NULL, 'm'},
        {"managers", required_argument, NULL, 'M'},
        {NULL, 0, NULL, 0},
    };
    seed_bulk_opts o = {.managers = 10};
    bool demo = false, bulk = false;
    guint64 v = 0;
    int ch;
    optind = 0;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'D':
            demo = true;
            break;
        case 'c':
            if (!parse_count(optarg, SEED_MAX_CONTACTS, &o.contacts))
                return cli_usage(ctx);
            bulk = true;
            break;
        case 'd':
            if (!parse_count(optarg, SEED_MAX_DEALS, &o.deals))
                return cli_usage(ctx);
            bulk = true;
            break;
        case 'm':
            if (!parse_count(optarg, SEED_MAX_MESSAGES, &o.messages))
                return cli_usage(ctx);
            bulk = true;
            break;
        case 'M':
            if (!parse_count(optarg, SEED_MAX_MANAGERS, &v) || v < 1)
                return cli_usage(ctx);
            o.managers = (guint)v;
            bulk = true;
            break;
        default:
            return cli_usage(ctx);
        }
    }
    if (optind != argc || demo == bulk)
        return cli_usage(ctx);
    if (demo)
        return seed_demo_cmd(ctx);
    char *err = NULL;
    crm_result r = seed_bulk_check(&o, &err);
    if (r) {
        fprintf(stderr, "crmgate: seed: %s\n", err);
        g_free(err);
        return cli_usage(ctx);
    }
    progress_ctx pc = {.tty = isatty(STDERR_FILENO) && !ctx->json};
    seed_bulk_result res;
    gint64 t0 = g_get_monotonic_time();
    r = seed_bulk(cli_db(ctx), &o, draw, &pc, &res, &err);
    double secs = (double)(g_get_monotonic_time() - t0) / 1e6;
    if (r) {
        seed_bulk_result_clear(&res);
        return cli_fail_free(r, err);
    }
    if (ctx->json) {
        cli_print_json(json_pack(
            "{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:b,s:f}", "tag", res.tag,
            "companies", (json_int_t)res.companies, "contacts",
            (json_int_t)res.contacts, "leads", (json_int_t)res.leads,
            "requests", (json_int_t)res.requests, "deals",
            (json_int_t)res.deals, "payments", (json_int_t)res.payments,
            "tasks", (json_int_t)res.tasks, "messages",
            (json_int_t)res.messages, "rollups", res.rollups, "seconds", secs));
    } else {
        printf("seeded (run %s): %" G_GUINT64_FORMAT
               " companies, %" G_GUINT64_FORMAT " contacts, %" G_GUINT64_FORMAT
               " leads, %" G_GUINT64_FORMAT " requests, %" G_GUINT64_FORMAT
               " deals, %" G_GUINT64_FORMAT " payments, %" G_GUINT64_FORMAT
               " tasks, %" G_GUINT64_FORMAT " messages in %.1f s%s\n",
               res.tag, res.companies, res.contacts, res.leads, res.requests,
               res.deals, res.payments, res.tasks, res.messages, secs,
               res.rollups ? " (report rollups rebuilt)" : "");
    }
    seed_bulk_result_clear(&res);
    return 0;
}
