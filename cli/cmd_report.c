/*
 * cmd_report.c - "crmgate report NAME" (a report with the admin's view:
 * everything; a table on the terminal, --json the JSON, --csv the CSV) and
 * "crmgate payment add" (what the income report counts). Logic lives in
 * core/reports.c.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "cli.h"
#include "crmgate/reports.h"

/* Prints the report as an aligned text table. */
static void print_table(json_t *rep)
{
    json_t *cols = json_object_get(rep, "columns");
    json_t *rows = json_object_get(rep, "rows");
    gsize nc = json_array_size(cols), nr = json_array_size(rows);
    gsize *width = g_new0(gsize, nc);
    GPtrArray *cells = g_ptr_array_new_with_free_func(g_free);
    for (gsize c = 0; c < nc; c++)
        width[c] = strlen(json_string_value(json_array_get(cols, c)));
    for (gsize r = 0; r < nr; r++) {
        json_t *row = json_array_get(rows, r);
        for (gsize c = 0; c < nc; c++) {
            GString *t = g_string_new(NULL);
            reports_cell_text(
                t, json_object_get(row,
                                   json_string_value(json_array_get(cols, c))));
            /* One line per row: control characters become spaces. */
            for (gsize i = 0; i < t->len; i++)
                if ((unsigned char)t->str[i] < 0x20)
                    t->str[i] = ' ';
            width[c] = MAX(width[c], (gsize)g_utf8_strlen(t->str, -1));
            g_ptr_array_add(cells, g_string_free(t, FALSE));
        }
    }
    printf("%s (%s to %s%s%s)\n",
           json_string_value(json_object_get(rep, "title")),
           json_string_value(
               json_object_get(json_object_get(rep, "filters"), "from")),
           json_string_value(
               json_object_get(json_object_get(rep, "filters"), "to")),
           json_is_string(
               json_object_get(json_object_get(rep, "filters"), "owner"))
               ? ", owner "
               : "",
           json_is_string(
               json_object_get(json_object_get(rep, "filters"), "owner"))
               ? json_string_value(
                     json_object_get(json_object_get(rep, "filters"), "owner"))
               : "");
    for (gsize c = 0; c < nc; c++)
        printf("%-*s%s", (int)width[c],
               json_string_value(json_array_get(cols, c)),
               c + 1 < nc ? "  " : "\n");
    for (gsize r = 0; r < nr; r++)
        for (gsize c = 0; c < nc; c++) {
            const char *s = g_ptr_array_index(cells, r * nc + c);
            int pad = (int)(width[c] - (gsize)g_utf8_strlen(s, -1));
            printf("%s%*s%s", s, pad, "", c + 1 < nc ? "  " : "\n");
        }
    g_ptr_array_free(cells, TRUE);
    g_free(width);
}

int cmd_report(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"owner", required_argument, NULL, 'o'},
        {"from", required_argument, NULL, 'f'},
        {"to", required_argument, NULL, 't'},
        {"csv", no_argument, NULL, 'C'},
        {NULL, 0, NULL, 0},
    };
    reports_filters f = {0};
    bool csv = false;
    int ch;
    optind = 0;
    while ((ch = getopt_long(argc, argv, "o:f:t:C", opts, NULL)) != -1) {
        switch (ch) {
        case 'o':
            f.owner = optarg;
            break;
        case 'f':
            f.from = optarg;
            break;
        case 't':
            f.to = optarg;
            break;
        case 'C':
            csv = true;
            break;
        default:
            return cli_usage(ctx);
        }
    }
    if (optind + 1 != argc) {
        fputs("reports:", stderr);
        for (gsize i = 0; reports_nth(i); i++)
            fprintf(stderr, " %s", reports_nth(i)->name);
        fputc('\n', stderr);
        return cli_usage(ctx);
    }
    json_t *rep = NULL;
    char *err = NULL;
    crm_result r =
        reports_run(cli_db(ctx), argv[optind], 0, "admin", &f, &rep, &err);
    if (r)
        return cli_fail_free(r, err);
    if (ctx->json) {
        cli_print_json(rep);
        return 0;
    }
    if (csv) {
        GString *out = g_string_new(NULL);
        reports_csv(rep, out);
        fwrite(out->str, 1, out->len, stdout);
        g_string_free(out, TRUE);
    } else {
        print_table(rep);
    }
    json_decref(rep);
    return fflush(stdout) == 0 ? 0 : cli_fail(CRM_ERR_IO, "report: write");
}

int cmd_payment(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"currency", required_argument, NULL, 'u'},
        {"status", required_argument, NULL, 's'},
        {"date", required_argument, NULL, 'd'},
        {"contract", required_argument, NULL, 'c'},
        {NULL, 0, NULL, 0},
    };
    if (argc < 2 || strcmp(argv[1], "add") != 0)
        return cli_usage(ctx);
    reports_payment p = {0};
    int ch;
    optind = 0;
    while ((ch = getopt_long(argc - 1, argv + 1, "u:s:d:c:", opts, NULL)) !=
           -1) {
        switch (ch) {
        case 'u':
            p.currency = optarg;
            break;
        case 's':
            p.status = optarg;
            break;
        case 'd':
            p.date = optarg;
            break;
        case 'c':
            p.contract = optarg;
            break;
        default:
            return cli_usage(ctx);
        }
    }
    /* getopt_long permutes: the operands are now at the end. */
    if (optind + 2 != argc - 1 || !cli_parse_id(argv[1 + optind], &p.deal_id))
        return cli_usage(ctx);
    p.amount = argv[2 + optind];
    gint64 id = 0;
    char *err = NULL;
    crm_result r = reports_payment_add(cli_db(ctx), &p, &id, &err);
    if (r)
        return cli_fail_free(r, err);
    if (ctx->json)
        cli_print_json(json_pack("{s:I}", "id", (json_int_t)id));
    else
        printf("%" G_GINT64_FORMAT "\n", id);
    return 0;
}
