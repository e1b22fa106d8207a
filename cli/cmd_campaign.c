/*
 * cmd_campaign.c - "crmgate campaign ...", "account add", "tag add" and
 * "suppress add|remove|list": mass mail from the shell.
 *
 * The logic is in core/campaign.c (and core/campaign_send.c for the test
 * mail); this file parses arguments and prints. Template files are read
 * here, at most 1 MiB each.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "cli.h"
#include "crmgate/campaign.h"
#include "crmgate/campaign_send.h"

#define TEMPLATE_FILE_MAX (1024 * 1024)

static const char *const count_keys[] = {
    "recipients", "queued",  "sent",         "failed", "bounced",
    "suppressed", "replied", "unsubscribed", "opened", "clicked"};

static json_int_t count_of(json_t *st, const char *key)
{
    return json_integer_value(json_object_get(st, key));
}

static void print_status(json_t *st)
{
    printf("campaign %" JSON_INTEGER_FORMAT " \"%s\": %s\n", count_of(st, "id"),
           json_string_value(json_object_get(st, "name")),
           json_string_value(json_object_get(st, "state")));
    for (gsize i = 0; i < G_N_ELEMENTS(count_keys); i++)
        printf("  %-13s %" JSON_INTEGER_FORMAT "\n", count_keys[i],
               count_of(st, count_keys[i]));
}

/* Reads a template file (bounded). NULL and an error message on failure. */
static char *read_template(const char *path, char **error_r)
{
    char *text = NULL;
    gsize len = 0;
    GError *gerr = NULL;
    if (!g_file_get_contents(path, &text, &len, &gerr)) {
        *error_r = g_strdup(gerr->message);
        g_error_free(gerr);
        return NULL;
    }
    if (len > TEMPLATE_FILE_MAX || strlen(text) != len) {
        *error_r = g_strdup_printf(
            "%s: %s", path,
            len > TEMPLATE_FILE_MAX ? "larger than 1 MiB" : "holds a NUL byte");
        g_free(text);
        return NULL;
    }
    return text;
}

static int campaign_create_cmd(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"account", required_argument, NULL, 'a'},
        {"subject", required_argument, NULL, 's'},
        {"ab-subject", required_argument, NULL, 'b'},
        {"text", required_argument, NULL, 't'},
        {"html", required_argument, NULL, 'H'},
        {"segment", required_argument, NULL, 'g'},
        {"rate", required_argument, NULL, 'r'},
        {"window", required_argument, NULL, 'w'},
        {"tz", required_argument, NULL, 'z'},
        {"at", required_argument, NULL, 'A'},
        {"owner", required_argument, NULL, 'o'},
        {"track-opens", no_argument, NULL, 'O'},
        {"track-clicks", no_argument, NULL, 'K'},
        {"no-tracking", no_argument, NULL, 'N'},
        {NULL, 0, NULL, 0},
    };
    campaign_spec s = {.track_opens = -1, .track_clicks = -1};
    const char *text_file = NULL, *html_file = NULL;
    g_autoptr(GPtrArray) ab = g_ptr_array_new();
    int ch;
    optind = 0;
    while ((ch = getopt_long(argc, argv, "a:s:b:t:H:g:r:w:z:A:o:OKN", opts,
                             NULL)) != -1) {
        switch (ch) {
        case 'a':
            if (!cli_parse_id(optarg, &s.account_id))
                return cli_fail(CRM_ERR_USAGE, "--account takes an id");
            break;
        case 's':
            s.subject = optarg;
            break;
        case 'b':
            g_ptr_array_add(ab, optarg);
            break;
        case 't':
            text_file = optarg;
            break;
        case 'H':
            html_file = optarg;
            break;
        case 'g':
            s.segment = optarg;
            break;
        case 'r': {
            gint64 v;
            if (!cli_parse_id(optarg, &v) || v > 1000000)
                return cli_fail(CRM_ERR_USAGE, "--rate takes messages per "
                                               "minute (1-1000000)");
            s.rate_per_min = (guint)v;
            break;
        }
        case 'w':
            s.window = optarg;
            break;
        case 'z':
            s.tz = optarg;
            break;
        case 'A':
            s.at = optarg;
            break;
        case 'o':
            s.owner = optarg;
            break;
        case 'O':
            s.track_opens = 1;
            break;
        case 'K':
            s.track_clicks = 1;
            break;
        case 'N':
            s.track_opens = s.track_clicks = 0;
            break;
        default:
            return cli_usage(ctx);
        }
    }
    if (optind + 1 != argc || !s.subject || !text_file || !s.segment)
        return cli_usage(ctx);
    s.name = argv[optind];
    char *err = NULL;
    g_autofree char *text = read_template(text_file, &err);
    if (!text)
        return cli_fail_free(CRM_ERR_IO, err);
    g_autofree char *html = NULL;
    if (html_file && !(html = read_template(html_file, &err)))
        return cli_fail_free(CRM_ERR_IO, err);
    s.text_template = text;
    s.html_template = html;
    if (ab->len) {
        g_ptr_array_add(ab, NULL);
        s.ab_subjects = (const char *const *)ab->pdata;
    }
    json_t *st = NULL;
    crm_result r = campaign_create(cli_db(ctx), cli_config(ctx), &s, &st, &err);
    if (r)
        return cli_fail_free(r, err);
    if (ctx->json) {
        cli_print_json(st);
    } else {
        print_status(st);
        json_decref(st);
    }
    return EX_OK;
}

static int campaign_id_arg(int argc, char **argv, int at, gint64 *id_r)
{
    return at < argc && cli_parse_id(argv[at], id_r);
}

/* Draws one progress line; on a terminal it rewrites itself. */
static void draw_progress(json_t *st, bool tty, double rate)
{
    json_int_t total = count_of(st, "recipients");
    json_int_t queued = count_of(st, "queued");
    json_int_t done = total - queued;
    int pct = total ? (int)(done * 100 / total) : 100;
    char bar[31];
    int fill = pct * 30 / 100;
    for (int i = 0; i < 30; i++)
        bar[i] = i < fill ? '#' : '-';
    bar[30] = '\0';
    g_autofree char *eta =
        rate > 0.01 && queued > 0
            ? g_strdup_printf("  ~%.0f s left", (double)queued / rate)
            : g_strdup("");
    printf("%s[%s] %3d%%  %" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT
           " done  sent %" JSON_INTEGER_FORMAT "  failed %" JSON_INTEGER_FORMAT
           "  bounced %" JSON_INTEGER_FORMAT "  %s%s%s",
           tty ? "\r" : "", bar, pct, done, total, count_of(st, "sent"),
           count_of(st, "failed"), count_of(st, "bounced"),
           json_string_value(json_object_get(st, "state")), eta,
           tty ? "\033[K" : "\n");
    fflush(stdout);
}

static int campaign_follow(cli_ctx *ctx, gint64 id)
{
    bool tty = isatty(STDOUT_FILENO) && !ctx->json;
    gint64 t0 = g_get_monotonic_time();
    json_int_t done0 = -1;
    for (;;) {
        json_t *st = NULL;
        char *err = NULL;
        crm_result r = campaign_status(cli_db(ctx), id, &st, &err);
        if (r)
            return cli_fail_free(r, err);
        const char *state = json_string_value(json_object_get(st, "state"));
        bool end = strcmp(state, "finished") == 0 ||
                   strcmp(state, "canceled") == 0 ||
                   strcmp(state, "draft") == 0;
        if (ctx->json) {
            char *line = json_dumps(st, JSON_COMPACT);
            printf("%s\n", line);
            free(line);
            fflush(stdout);
        } else {
            json_int_t done =
                count_of(st, "recipients") - count_of(st, "queued");
            if (done0 < 0)
                done0 = done;
            double secs = (double)(g_get_monotonic_time() - t0) / 1e6;
            draw_progress(st, tty,
                          secs > 0.5 ? (double)(done - done0) / secs : 0);
        }
        json_decref(st);
        if (end) {
            if (tty)
                putchar('\n');
            return EX_OK;
        }
        g_usleep(tty ? 500000 : 2000000);
    }
}

static int campaign_status_cmd(cli_ctx *ctx, int argc, char **argv)
{
    gint64 id;
    bool follow = false;
    int at = 1;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--follow") == 0 || strcmp(argv[i], "-f") == 0)
            follow = true;
    while (at < argc && argv[at][0] == '-')
        at++;
    if (!campaign_id_arg(argc, argv, at, &id))
        return cli_usage(ctx);
    if (follow)
        return campaign_follow(ctx, id);
    json_t *st = NULL;
    char *err = NULL;
    crm_result r = campaign_status(cli_db(ctx), id, &st, &err);
    if (r)
        return cli_fail_free(r, err);
    if (ctx->json) {
        cli_print_json(st);
        return EX_OK;
    }
    print_status(st);
    json_t *doms = NULL;
    if (!campaign_domains(cli_db(ctx), id, 10, &doms, &err) &&
        json_array_size(doms) > 0) {
        printf("  by domain (recipients / sent / failed / bounced):\n");
        size_t i;
        json_t *d;
        json_array_foreach(doms, i, d)
        {
            printf("    %-30s %" JSON_INTEGER_FORMAT " / %" JSON_INTEGER_FORMAT
                   " / %" JSON_INTEGER_FORMAT " / %" JSON_INTEGER_FORMAT "\n",
                   json_string_value(json_object_get(d, "domain")),
                   count_of(d, "recipients"), count_of(d, "sent"),
                   count_of(d, "failed"), count_of(d, "bounced"));
        }
    }
    g_free(err);
    json_decref(doms);
    json_decref(st);
    return EX_OK;
}

static int campaign_simple(cli_ctx *ctx, int argc, char **argv)
{
    gint64 id;
    if (argc != 2 || !campaign_id_arg(argc, argv, 1, &id))
        return cli_usage(ctx);
    json_t *st = NULL;
    char *err = NULL;
    crm_result r =
        campaign_action(cli_db(ctx), cli_config(ctx), id, argv[0], &st, &err);
    if (r)
        return cli_fail_free(r, err);
    if (ctx->json) {
        cli_print_json(st);
    } else {
        printf("campaign %" G_GINT64_FORMAT ": %s\n", id,
               json_string_value(json_object_get(st, "state")));
        json_decref(st);
    }
    return EX_OK;
}

static int campaign_log_cmd(cli_ctx *ctx, int argc, char **argv)
{
    gint64 id;
    int at = 1;
    while (at < argc && argv[at][0] == '-')
        at++;
    if (!campaign_id_arg(argc, argv, at, &id))
        return cli_usage(ctx);
    json_t *rows = NULL;
    char *err = NULL;
    crm_result r = campaign_log(cli_db(ctx), id, &rows, &err);
    if (r)
        return cli_fail_free(r, err);
    if (ctx->json) {
        cli_print_json(json_pack("{s:o}", "recipients", rows));
        return EX_OK;
    }
    static const char *const cols[] = {"id",
                                       "address",
                                       "state",
                                       "variant",
                                       "attempts",
                                       "smtp_code",
                                       "smtp_reply",
                                       "queue_id",
                                       "message_id",
                                       "sent_at",
                                       "failed_at",
                                       "bounced_at",
                                       "bounce_reason",
                                       "replied_at",
                                       "unsubscribed_at",
                                       "opened_at",
                                       "clicked_at"};
    for (gsize c = 0; c < G_N_ELEMENTS(cols); c++)
        printf("%s%s", cols[c], c + 1 == G_N_ELEMENTS(cols) ? "\n" : ",");
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        for (gsize c = 0; c < G_N_ELEMENTS(cols); c++)
            cli_csv_cell(json_object_get(row, cols[c]),
                         c + 1 == G_N_ELEMENTS(cols));
    }
    json_decref(rows);
    return EX_OK;
}

static int campaign_resend(cli_ctx *ctx, int argc, char **argv)
{
    gint64 id;
    if (argc != 2 || !campaign_id_arg(argc, argv, 1, &id))
        return cli_usage(ctx);
    guint n = 0;
    char *err = NULL;
    crm_result r =
        campaign_resend_failed(cli_db(ctx), cli_config(ctx), id, &n, &err);
    if (r)
        return cli_fail_free(r, err);
    if (ctx->json)
        cli_print_json(json_pack("{s:I,s:i}", "campaign", (json_int_t)id,
                                 "requeued", (int)n));
    else
        printf("campaign %" G_GINT64_FORMAT ": %u failed recipients queued "
               "again\n",
               id, n);
    return EX_OK;
}

static int campaign_test_cmd(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"to", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0},
    };
    g_autoptr(GPtrArray) to = g_ptr_array_new();
    int ch;
    optind = 0;
    while ((ch = getopt_long(argc, argv, "t:", opts, NULL)) != -1) {
        if (ch != 't')
            return cli_usage(ctx);
        g_ptr_array_add(to, optarg);
    }
    /* "--to A B C": addresses after the first --to value are taken too */
    gint64 id = 0;
    for (int i = optind; i < argc; i++) {
        if (!id && cli_parse_id(argv[i], &id))
            continue;
        g_ptr_array_add(to, argv[i]);
    }
    if (!id || to->len == 0)
        return cli_usage(ctx);
    g_ptr_array_add(to, NULL);
    json_t *out = NULL;
    char *err = NULL;
    crm_result r =
        campaign_send_test(cli_db(ctx), cli_config(ctx), id,
                           (const char *const *)to->pdata, &out, &err);
    if (r)
        return cli_fail_free(r, err);
    if (ctx->json) {
        cli_print_json(out);
    } else {
        printf("test of campaign %" G_GINT64_FORMAT " sent to %u address%s: "
               "%s\n",
               id, to->len - 1, to->len == 2 ? "" : "es",
               json_string_value(json_object_get(out, "reply")));
        json_decref(out);
    }
    return EX_OK;
}

int cmd_campaign(cli_ctx *ctx, int argc, char **argv)
{
    if (argc < 2)
        return cli_usage(ctx);
    const char *sub = argv[1];
    argc--;
    argv++;
    if (strcmp(sub, "create") == 0)
        return campaign_create_cmd(ctx, argc, argv);
    if (strcmp(sub, "status") == 0)
        return campaign_status_cmd(ctx, argc, argv);
    if (strcmp(sub, "start") == 0 || strcmp(sub, "pause") == 0 ||
        strcmp(sub, "resume") == 0 || strcmp(sub, "cancel") == 0)
        return campaign_simple(ctx, argc, argv);
    if (strcmp(sub, "log") == 0)
        return campaign_log_cmd(ctx, argc, argv);
    if (strcmp(sub, "resend-failed") == 0)
        return campaign_resend(ctx, argc, argv);
    if (strcmp(sub, "test") == 0)
        return campaign_test_cmd(ctx, argc, argv);
    return cli_usage(ctx);
}

/* --- account add --- */

static char *read_password_stdin(void)
{
    char buf[1024];
    if (!fgets(buf, sizeof(buf), stdin))
        return NULL;
    buf[strcspn(buf, "\r\n")] = '\0';
    return g_strdup(buf);
}

int cmd_account(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"name", required_argument, NULL, 'n'},
        {"relay", required_argument, NULL, 'r'},
        {"user", required_argument, NULL, 'u'},
        {"password-stdin", no_argument, NULL, 'P'},
        {"starttls", required_argument, NULL, 's'},
        {"daily-cap", required_argument, NULL, 'd'},
        {"concurrency", required_argument, NULL, 'c'},
        {"signature-text", required_argument, NULL, 'T'},
        {"signature-html", required_argument, NULL, 'H'},
        {"default", no_argument, NULL, 'D'},
        {NULL, 0, NULL, 0},
    };
    if (argc == 2 && strcmp(argv[1], "list") == 0) {
        json_t *out = NULL;
        char *lerr = NULL;
        crm_result lr = campaign_account_list(cli_db(ctx), &out, &lerr);
        if (lr)
            return cli_fail_free(lr, lerr);
        if (ctx->json) {
            cli_print_json(out);
            return EX_OK;
        }
        size_t i;
        json_t *a;
        json_array_foreach(json_object_get(out, "accounts"), i, a)
        {
            printf("%" JSON_INTEGER_FORMAT
                   "  %-32s %-28s cap %" JSON_INTEGER_FORMAT
                   " sent today %" JSON_INTEGER_FORMAT "%s\n",
                   count_of(a, "id"),
                   json_string_value(json_object_get(a, "from_address")),
                   json_string_value(json_object_get(a, "relay_url")),
                   count_of(a, "daily_cap"), count_of(a, "sent_today"),
                   json_is_true(json_object_get(a, "is_default"))
                       ? "  (default)"
                       : "");
        }
        json_decref(out);
        return EX_OK;
    }
    if (argc < 2 || strcmp(argv[1], "add") != 0)
        return cli_usage(ctx);
    argc--;
    argv++;
    campaign_account a = {0};
    bool want_pw = false;
    const char *sig_text = NULL, *sig_html = NULL;
    int ch;
    optind = 0;
    while ((ch = getopt_long(argc, argv, "n:r:u:Ps:d:c:T:H:D", opts, NULL)) !=
           -1) {
        gint64 v;
        switch (ch) {
        case 'n':
            a.name = optarg;
            break;
        case 'r':
            a.relay = optarg;
            break;
        case 'u':
            a.user = optarg;
            break;
        case 'P':
            want_pw = true;
            break;
        case 's':
            a.starttls = optarg;
            break;
        case 'd':
            if (!cli_parse_id(optarg, &v) || v > G_MAXINT32)
                return cli_fail(CRM_ERR_USAGE, "--daily-cap takes a number");
            a.daily_cap = (guint)v;
            break;
        case 'c':
            if (!cli_parse_id(optarg, &v) || v > 100)
                return cli_fail(CRM_ERR_USAGE, "--concurrency takes 1-100");
            a.concurrency = (guint)v;
            break;
        case 'T':
            sig_text = optarg;
            break;
        case 'H':
            sig_html = optarg;
            break;
        case 'D':
            a.is_default = true;
            break;
        default:
            return cli_usage(ctx);
        }
    }
    if (optind + 1 != argc || !a.relay)
        return cli_usage(ctx);
    a.from = argv[optind];
    char *err = NULL;
    g_autofree char *st = NULL, *sh = NULL, *pw = NULL;
    if (sig_text && !(st = read_template(sig_text, &err)))
        return cli_fail_free(CRM_ERR_IO, err);
    if (sig_html && !(sh = read_template(sig_html, &err)))
        return cli_fail_free(CRM_ERR_IO, err);
    if (want_pw && !(pw = read_password_stdin()))
        return cli_fail(CRM_ERR_USAGE, "--password-stdin: no password on "
                                       "standard input");
    a.signature_text = st;
    a.signature_html = sh;
    a.password = pw;
    json_t *rec = NULL;
    crm_result r =
        campaign_account_add(cli_db(ctx), cli_config(ctx), &a, &rec, &err);
    if (pw)
        memset(pw, 0, strlen(pw));
    if (r)
        return cli_fail_free(r, err);
    if (ctx->json) {
        cli_print_json(rec);
    } else {
        printf("account %" JSON_INTEGER_FORMAT " %s via %s%s\n",
               count_of(rec, "id"),
               json_string_value(json_object_get(rec, "from_address")),
               json_string_value(json_object_get(rec, "relay_url")),
               json_is_true(json_object_get(rec, "is_default")) ? " (default)"
                                                                : "");
        json_decref(rec);
    }
    return EX_OK;
}

/* --- tag add --- */

int cmd_tag(cli_ctx *ctx, int argc, char **argv)
{
    if (argc < 4 || strcmp(argv[1], "add") != 0)
        return cli_usage(ctx);
    for (int i = 2; i < argc; i++)
        if (argv[i][0] == '-')
            return cli_usage(ctx);
    guint added = 0;
    char *err = NULL;
    crm_result r = campaign_tag_add(
        cli_db(ctx), argv[2], (const char *const *)argv + 3, &added, &err);
    if (r)
        return cli_fail_free(r, err);
    if (ctx->json)
        cli_print_json(
            json_pack("{s:s,s:i}", "record", argv[2], "added", (int)added));
    else
        printf("%s: %u tag%s added\n", argv[2], added, added == 1 ? "" : "s");
    return EX_OK;
}

/* --- suppress add|remove|list --- */

int cmd_suppress(cli_ctx *ctx, int argc, char **argv)
{
    char *err = NULL;
    crm_result r;
    if (argc >= 2 && strcmp(argv[1], "list") == 0 && argc == 2) {
        json_t *out = NULL;
        if ((r = campaign_suppress_list(cli_db(ctx), &out, &err)))
            return cli_fail_free(r, err);
        if (ctx->json) {
            cli_print_json(out);
            return EX_OK;
        }
        size_t i;
        json_t *s;
        json_array_foreach(json_object_get(out, "suppressions"), i, s)
        {
            printf("%-40s %-28s %s\n",
                   json_string_value(json_object_get(s, "address")),
                   json_string_value(json_object_get(s, "reason")),
                   cli_date(json_object_get(s, "since")));
        }
        json_decref(out);
        return EX_OK;
    }
    if (argc >= 3 && strcmp(argv[1], "add") == 0) {
        const char *reason = NULL;
        const char *addr = NULL;
        for (int i = 2; i < argc; i++) {
            if (strcmp(argv[i], "--reason") == 0 && i + 1 < argc)
                reason = argv[++i];
            else if (!addr)
                addr = argv[i];
            else
                return cli_usage(ctx);
        }
        if (!addr)
            return cli_usage(ctx);
        if ((r = campaign_suppress_add(cli_db(ctx), addr, reason, &err)))
            return cli_fail_free(r, err);
        if (ctx->json)
            cli_print_json(
                json_pack("{s:s,s:b}", "address", addr, "suppressed", 1));
        else
            printf("%s suppressed\n", addr);
        return EX_OK;
    }
    if (argc == 3 && strcmp(argv[1], "remove") == 0) {
        bool removed = false;
        if ((r = campaign_suppress_remove(cli_db(ctx), argv[2], &removed,
                                          &err)))
            return cli_fail_free(r, err);
        if (ctx->json)
            cli_print_json(
                json_pack("{s:s,s:b}", "address", argv[2], "removed", removed));
        else
            printf("%s %s\n", argv[2],
                   removed ? "removed" : "was not suppressed");
        return removed ? EX_OK : EX_DATAERR;
    }
    return cli_usage(ctx);
}
