/*
 * cmd_mail.c - parse, ingest, timeline and spool.
 *
 * ingest is core/import.c (the pipeline, shared with later programs);
 * this file parses the arguments and prints.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "crmgate/import.h"
#include "crmgate/ingest.h"
#include "crmgate/message.h"
#include "crmgate/records.h"
#include "crmgate/spool.h"

int cmd_parse(cli_ctx *ctx, int argc, char **argv)
{
    if (argc != 2)
        return cli_usage(ctx);
    crm_config *cfg =
        ctx->config_path || access(config_default_path(), R_OK) == 0
            ? cli_config(ctx)
            : NULL;
    message_limits lim;
    if (cfg)
        ingest_message_limits(cfg, &lim);
    else
        message_limits_default(&lim);
    if (strcmp(argv[1], "-") != 0 && access(argv[1], R_OK) != 0) {
        g_autofree char *m =
            g_strdup_printf("%s: %s", argv[1], g_strerror(errno));
        return cli_fail(CRM_ERR_NOTFOUND, m);
    }
    crm_message *msg = NULL;
    crm_result r = strcmp(argv[1], "-") == 0
                       ? CRM_ERR_USAGE
                       : message_parse_file(argv[1], &lim, &msg);
    if (r == CRM_ERR_USAGE) {
        /* Standard input: read it whole (bounded by message_bytes). */
        g_autoptr(GByteArray) buf = g_byte_array_new();
        guint8 chunk[65536];
        size_t n;
        while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0 &&
               buf->len < 512u * 1024 * 1024)
            g_byte_array_append(buf, chunk, (guint)n);
        r = message_parse_bytes((const char *)buf->data, buf->len, &lim, &msg);
    }
    if (r) {
        g_autofree char *m =
            g_strdup_printf("%s: %s", argv[1], crm_strerror(r));
        return cli_fail(r == CRM_ERR_IO ? CRM_ERR_NOTFOUND : r, m);
    }
    json_t *j = message_to_json(msg);
    if (ctx->json) {
        cli_print_json(j);
    } else {
        printf("message-id: %s\nsubject: %s\n",
               msg->message_id ? msg->message_id : "(none)", msg->subject);
        const char *lists[] = {"from", "to", "cc", "reply_to"};
        for (size_t i = 0; i < G_N_ELEMENTS(lists); i++) {
            size_t k;
            json_t *a;
            json_array_foreach(json_object_get(j, lists[i]), k, a)
            {
                const char *name =
                    json_string_value(json_object_get(a, "name"));
                printf("%s: %s%s%s%s\n", lists[i], name ? name : "",
                       name ? " <" : "",
                       json_string_value(json_object_get(a, "address")),
                       name ? ">" : "");
            }
        }
        json_t *d = json_object_get(j, "date");
        printf("date: %s\n",
               json_is_string(d) ? json_string_value(d) : "(none)");
        for (guint i = 0; i < msg->attachments->len; i++) {
            const message_attachment *a =
                g_ptr_array_index(msg->attachments, i);
            printf("attachment: %s %s %" G_GSIZE_FORMAT " bytes sha256=%s\n",
                   a->filename ? a->filename : "(no name)", a->content_type,
                   a->size, a->sha256);
        }
        for (guint i = 0; i < msg->warnings->len; i++)
            printf("warning: %s\n",
                   (char *)g_ptr_array_index(msg->warnings, i));
        printf("\n%s\n", msg->text);
        json_decref(j);
    }
    message_free(&msg);
    return 0;
}

/* --- ingest ------------------------------------------------------------ */

static void draw_progress(const import_stats *st, double secs, bool final,
                          void *data)
{
    (void)data;
    double rate = secs > 0 ? st->seen / secs : 0;
    if (st->total) {
        int width = 30, done = (int)((double)st->seen * width / st->total);
        fprintf(stderr, "\r[%.*s%*s] %u/%u messages %.0f msg/s ", done,
                "##############################", width - done, "", st->seen,
                st->total, rate);
    } else {
        fprintf(stderr, "\r%u messages %.0f msg/s ", st->seen, rate);
    }
    if (final)
        fputc('\n', stderr);
    fflush(stderr);
}

static void print_error(const char *what, const char *error, void *data)
{
    (void)data;
    fprintf(stderr, "\ncrmgate: ingest: %s: %s\n", what, error);
}

int cmd_ingest(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"direction", required_argument, NULL, 'd'},
        {NULL, 0, NULL, 0},
    };
    import_opts io = {.direction = INGEST_DIR_AUTO, .on_error = print_error};
    int ch;
    optind = 0;
    while ((ch = getopt_long(argc, argv, "d:", opts, NULL)) != -1) {
        if (ch == 'd' && strcmp(optarg, "in") == 0)
            io.direction = INGEST_DIR_IN;
        else if (ch == 'd' && strcmp(optarg, "out") == 0)
            io.direction = INGEST_DIR_OUT;
        else
            return cli_usage(ctx);
    }
    if (optind + 1 != argc)
        return cli_usage(ctx);
    const char *path = argv[optind];
    if (access(path, R_OK) != 0) {
        g_autofree char *m = g_strdup_printf("%s: %s", path, g_strerror(errno));
        return cli_fail(CRM_ERR_NOTFOUND, m);
    }
    if (isatty(STDERR_FILENO) && !ctx->json)
        io.progress = draw_progress;
    const crm_config *cfg = cli_config(ctx);
    import_run *run = NULL;
    char *err = NULL;
    crm_result r = import_run_new(cfg, cli_db(ctx), &io, &run, &err);
    if (r)
        return cli_fail_free(r, err);
    crm_result pr = import_path(run, path, &err);
    import_stats st;
    double secs = 0;
    char *ferr = NULL;
    r = import_finish(&run, &st, &secs, &ferr);
    if (pr) {
        g_free(ferr);
        return cli_fail_free(pr, err);
    }
    if (r)
        return cli_fail_free(r, ferr);
    double rate = secs > 0 ? st.seen / secs : 0;
    if (ctx->json) {
        cli_print_json(json_pack(
            "{s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:f,s:f}", "messages", (int)st.seen,
            "stored", (int)st.stored, "new", (int)st.fresh, "duplicates",
            (int)st.dups, "skipped", (int)st.skipped, "errors", (int)st.errors,
            "unreadable", (int)st.unreadable, "seconds", secs, "rate", rate));
    } else {
        printf("messages: %u stored: %u (new %u, duplicates %u) skipped: %u "
               "errors: %u unreadable: %u in %.2f s (%.0f msg/s)\n",
               st.seen, st.stored, st.fresh, st.dups, st.skipped, st.errors,
               st.unreadable, secs, rate);
    }
    return st.errors || st.unreadable ? EX_DATAERR : 0;
}

/* --- timeline ------------------------------------------------------------ */

static void print_people(json_t *parts, const char *role, const char *label)
{
    size_t i;
    json_t *p;
    bool first = true;
    json_array_foreach(parts, i, p)
    {
        if (strcmp(json_string_value(json_object_get(p, "role")), role) != 0)
            continue;
        const char *name = json_string_value(json_object_get(p, "name"));
        const char *addr = json_string_value(json_object_get(p, "address"));
        printf("%s%s%s%s%s", first ? label : ", ", name ? name : "",
               name ? " <" : "", addr, name ? ">" : "");
        first = false;
    }
    if (!first)
        printf("\n");
}

int cmd_timeline(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"limit", required_argument, NULL, 'n'},
        {NULL, 0, NULL, 0},
    };
    gint64 limit = 50;
    int ch;
    optind = 0;
    while ((ch = getopt_long(argc, argv, "n:", opts, NULL)) != -1) {
        if (ch != 'n' || !cli_parse_id(optarg, &limit) || limit > 100000)
            return cli_usage(ctx);
    }
    if (optind + 1 != argc)
        return cli_usage(ctx);
    json_t *out = NULL;
    char *err = NULL;
    crm_result r =
        records_timeline(cli_db(ctx), argv[optind], (guint)limit, &out, &err);
    if (r)
        return cli_fail_free(r, err);
    if (ctx->json) {
        cli_print_json(out);
        return 0;
    }
    json_t *msgs = json_object_get(out, "messages");
    if (json_array_size(msgs) == 0)
        printf("no messages for %s\n", argv[optind]);
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m)
    {
        json_t *d = json_object_get(m, "date");
        if (!json_is_string(d))
            d = json_object_get(m, "captured_at");
        printf("%s  %-8s %s\n", cli_date(d),
               json_string_value(json_object_get(m, "direction")),
               json_string_value(json_object_get(m, "subject")));
        json_t *parts = json_object_get(m, "participants");
        print_people(parts, "from", "    from: ");
        print_people(parts, "to", "    to: ");
        print_people(parts, "cc", "    cc: ");
        size_t k;
        json_t *l;
        printf("    linked:");
        json_array_foreach(json_object_get(m, "links"), k, l)
        {
            printf(" %s:%" JSON_INTEGER_FORMAT " (%s)",
                   json_string_value(json_object_get(l, "type")),
                   json_integer_value(json_object_get(l, "id")),
                   json_string_value(json_object_get(l, "reason")));
        }
        printf("\n");
        const char *snip = json_string_value(json_object_get(m, "snippet"));
        if (snip && *snip)
            printf("    %s\n", snip);
    }
    json_decref(out);
    return 0;
}

/* --- spool --------------------------------------------------------------- */

int cmd_spool(cli_ctx *ctx, int argc, char **argv)
{
    bool bad = argc == 3 && strcmp(argv[1], "replay") == 0 &&
               strcmp(argv[2], "--bad") == 0;
    if ((argc != 2 && !bad) ||
        (strcmp(argv[1], "status") != 0 && strcmp(argv[1], "replay") != 0))
        return cli_usage(ctx);
    crm_config *cfg = cli_config(ctx);
    char *err = NULL;
    if (strcmp(argv[1], "status") == 0) {
        spool_stats st;
        crm_result r = spool_status(cfg->spool_dir, &st, &err);
        if (r)
            return cli_fail_free(r, err);
        gint64 age = st.oldest ? (gint64)time(NULL) - st.oldest : 0;
        if (ctx->json)
            cli_print_json(json_pack(
                "{s:s,s:i,s:I,s:I,s:i}", "dir", cfg->spool_dir, "files",
                (int)st.files, "bytes", (json_int_t)st.bytes,
                "oldest_age_seconds", (json_int_t)age, "bad", (int)st.bad));
        else
            printf("spool %s: %u messages, %" G_GUINT64_FORMAT
                   " bytes, oldest %" G_GINT64_FORMAT " s ago, %u set aside\n",
                   cfg->spool_dir, st.files, st.bytes, age, st.bad);
        return 0;
    }
    /* --bad: entries set aside go back into the journal and are tried
       again (after a fix or a migrate). */
    guint moved = 0;
    if (bad) {
        crm_result r = spool_unbad(cfg->spool_dir, &moved, &err);
        if (r)
            return cli_fail_free(r, err);
    }
    spool_replay_stats rs;
    crm_result r = spool_replay(cfg, cli_db(ctx), &rs, &err);
    if (ctx->json)
        cli_print_json(json_pack("{s:i,s:i,s:i,s:i,s:i}", "replayed",
                                 (int)rs.replayed, "skipped", (int)rs.skipped,
                                 "bad", (int)rs.bad, "left", (int)rs.left,
                                 "unbad", (int)moved));
    else
        printf("replayed: %u skipped: %u set aside: %u left: %u\n", rs.replayed,
               rs.skipped, rs.bad, rs.left);
    return r ? cli_fail_free(r, err) : 0;
}
