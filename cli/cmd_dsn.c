/*
 * cmd_dsn.c - "crmgate dsn FILE": what the bounce parser (core/dsn.c)
 * reads in a bounce, complaint or auto-reply: a table of recipients, or
 * with --json {"recipients":[...],"kind",...}.
 *
 * Limits: the file is read whole, at most DSN_CLI_MAX bytes (a bounce is
 * small; a bigger file is refused as not a bounce).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "cli.h"
#include "crmgate/dsn.h"

#define DSN_CLI_MAX (64u * 1024 * 1024)

int cmd_dsn(cli_ctx *ctx, int argc, char **argv)
{
    if (argc != 2)
        return cli_usage(ctx);
    g_autofree char *data = NULL;
    gsize len = 0;
    g_autoptr(GError) err = NULL;
    if (!g_file_get_contents(argv[1], &data, &len, &err)) {
        fprintf(stderr, "crmgate: %s\n", err->message);
        return EX_NOINPUT;
    }
    if (len > DSN_CLI_MAX) {
        fprintf(stderr, "crmgate: %s: too big for a bounce (%zu bytes)\n",
                argv[1], (size_t)len);
        return EX_DATAERR;
    }
    dsn_report *r = dsn_parse(data, len);
    if (r == NULL) {
        fprintf(stderr, "crmgate: %s: not a bounce, complaint or auto-reply\n",
                argv[1]);
        return EX_DATAERR;
    }
    if (ctx->json) {
        cli_print_json(dsn_report_json(r));
    } else {
        printf("kind: %s", r->kind);
        if (r->feedback_type != NULL)
            printf("  feedback-type: %s", r->feedback_type);
        if (r->original_message_id != NULL)
            printf("  original: <%s>", r->original_message_id);
        printf("\n%-36s %-9s %-8s %-15s %-4s %s\n", "RECIPIENT", "ACTION",
               "STATUS", "REASON", "HARD", "DIAGNOSTIC");
        for (guint i = 0; i < r->recipients->len; i++) {
            const dsn_recipient *x = g_ptr_array_index(r->recipients, i);
            printf("%-36s %-9s %-8s %-15s %-4s %.100s\n", x->recipient,
                   x->action, *x->status ? x->status : "-", x->reason,
                   x->hard ? "hard" : "soft", x->diagnostic);
        }
    }
    dsn_report_free(&r);
    return 0;
}
