/*
 * cmd_job.c - "crmgate job list|retry|add": the job queue from the shell
 * (core/jobs.c), for admins and tests.
 *
 * list prints a table (id, kind, state, attempts/max, run_at, unique key,
 * last error) or with --json {"jobs":[{id,kind,state,attempts,
 * max_attempts,run_at,last_error,unique_key}]}; retry makes discarded jobs
 * available again and prints how many; add enqueues one job through
 * crm_job_enqueue() and prints its id. Input is bounded: kinds and keys
 * by core, --payload ("-": standard input) at JOBS_PAYLOAD_MAX bytes, --limit
 * at JOBS_LIST_MAX.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "cli.h"
#include "crmgate/jobs.h"

static bool parse_limit(const char *s, guint *limit_r)
{
    char *end = NULL;
    guint64 v = g_ascii_strtoull(s, &end, 10);
    if (!*s || *end || !g_ascii_isdigit(*s) || v < 1 || v > JOBS_LIST_MAX)
        return false;
    *limit_r = (guint)v;
    return true;
}

/* A column of the table: the value, or "-" for null. */
static const char *col(json_t *v)
{
    const char *s = json_string_value(v);
    return s ? s : "-";
}

static int job_list(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"state", required_argument, NULL, 's'},
        {"kind", required_argument, NULL, 'k'},
        {"limit", required_argument, NULL, 'n'},
        {"done", no_argument, NULL, 'd'},
        {"json", no_argument, NULL, 'j'},
        {NULL, 0, NULL, 0},
    };
    const char *state = NULL, *kind = NULL;
    guint limit = 100;
    int ch;
    optind = 0;
    while ((ch = getopt_long(argc, argv, "s:k:n:dj", opts, NULL)) != -1) {
        switch (ch) {
        case 's':
            state = optarg;
            break;
        case 'k':
            kind = optarg;
            break;
        case 'n':
            if (!parse_limit(optarg, &limit))
                return cli_fail(CRM_ERR_USAGE,
                                "--limit takes a number from 1 to 10000");
            break;
        case 'd':
            state = "done";
            break;
        case 'j':
            ctx->json = true;
            break;
        default:
            return cli_usage(ctx);
        }
    }
    if (optind != argc)
        return cli_usage(ctx);
    if (kind && !jobs_kind_valid(kind))
        return cli_fail(CRM_ERR_USAGE, "--kind: a job kind is 1-100 "
                                       "characters of a-z 0-9 . _ : -");
    json_t *out = NULL;
    char *err = NULL;
    crm_result r = jobs_list(cli_db(ctx), state, kind, limit, &out, &err);
    if (r)
        return cli_fail_free(r, err);
    if (ctx->json) {
        cli_print_json(out);
        return 0;
    }
    json_t *jobs = json_object_get(out, "jobs");
    size_t i;
    json_t *j;
    printf("ID\tKIND\tSTATE\tATTEMPTS\tRUN_AT\tUNIQUE_KEY\tLAST_ERROR\n");
    json_array_foreach(jobs, i, j)
    {
        json_t *maxa = json_object_get(j, "max_attempts");
        g_autofree char *attempts =
            json_is_integer(maxa)
                ? g_strdup_printf(
                      "%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT,
                      json_integer_value(json_object_get(j, "attempts")),
                      json_integer_value(maxa))
                : g_strdup_printf(
                      "%" JSON_INTEGER_FORMAT,
                      json_integer_value(json_object_get(j, "attempts")));
        /* one line per job: an error with newlines stays on it */
        g_autofree char *error =
            g_strdup(col(json_object_get(j, "last_error")));
        g_strdelimit(error, "\r\n\t", ' ');
        printf("%" JSON_INTEGER_FORMAT "\t%s\t%s\t%s\t%s\t%s\t%s\n",
               json_integer_value(json_object_get(j, "id")),
               col(json_object_get(j, "kind")),
               col(json_object_get(j, "state")), attempts,
               cli_date(json_object_get(j, "run_at")),
               col(json_object_get(j, "unique_key")), error);
    }
    json_decref(out);
    return 0;
}

static int job_retry(cli_ctx *ctx, int argc, char **argv)
{
    gint64 id = 0;
    if (argc != 2)
        return cli_usage(ctx);
    if (strcmp(argv[1], "--all-discarded") != 0 && !cli_parse_id(argv[1], &id))
        return cli_usage(ctx);
    guint count = 0;
    char *err = NULL;
    crm_result r = jobs_retry(cli_db(ctx), id, &count, &err);
    if (r)
        return cli_fail_free(r, err);
    if (ctx->json)
        cli_print_json(json_pack("{s:i}", "retried", (int)count));
    else
        printf("%u job%s retried\n", count, count == 1 ? "" : "s");
    return 0;
}

/* --at: RFC 3339 / ISO 8601 with a zone, or +SECONDS from now. */
static GDateTime *parse_at(const char *s)
{
    if (s[0] == '+') {
        char *end = NULL;
        guint64 secs = g_ascii_strtoull(s + 1, &end, 10);
        if (!g_ascii_isdigit(s[1]) || *end || secs > 10ULL * 366 * 86400)
            return NULL;
        g_autoptr(GDateTime) now = g_date_time_new_now_utc();
        return g_date_time_add_seconds(now, (gdouble)secs);
    }
    return g_date_time_new_from_iso8601(s, NULL);
}

/* Standard input up to JOBS_PAYLOAD_MAX bytes; false past that. */
static bool read_stdin_bounded(char **text_r)
{
    GString *buf = g_string_sized_new(4096);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0) {
        if (buf->len + n > JOBS_PAYLOAD_MAX) {
            g_string_free(buf, TRUE);
            return false;
        }
        g_string_append_len(buf, chunk, (gssize)n);
    }
    *text_r = g_string_free(buf, FALSE);
    return true;
}

static int job_add(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"payload", required_argument, NULL, 'p'},
        {"at", required_argument, NULL, 'a'},
        {"unique", required_argument, NULL, 'u'},
        {NULL, 0, NULL, 0},
    };
    const char *payload_text = NULL, *unique = NULL;
    g_autoptr(GDateTime) at = NULL;
    int ch;
    optind = 0;
    while ((ch = getopt_long(argc, argv, "p:a:u:", opts, NULL)) != -1) {
        switch (ch) {
        case 'p':
            payload_text = optarg;
            break;
        case 'a':
            if (at)
                g_date_time_unref(at);
            at = parse_at(optarg);
            if (!at)
                return cli_fail(CRM_ERR_USAGE,
                                "--at takes a time with a zone "
                                "(2026-01-31T09:00:00Z) or +SECONDS");
            break;
        case 'u':
            unique = optarg;
            break;
        default:
            return cli_usage(ctx);
        }
    }
    if (optind + 1 != argc)
        return cli_usage(ctx);
    json_t *payload = NULL;
    g_autofree char *from_stdin = NULL;
    if (payload_text && strcmp(payload_text, "-") == 0) {
        if (!read_stdin_bounded(&from_stdin))
            return cli_fail(CRM_ERR_TOOBIG, "--payload - : more than 1 MiB "
                                            "on standard input");
        payload_text = from_stdin;
    }
    if (payload_text) {
        if (strlen(payload_text) > JOBS_PAYLOAD_MAX)
            return cli_fail(CRM_ERR_TOOBIG, "--payload is over 1 MiB");
        json_error_t jerr;
        payload = json_loads(payload_text, JSON_REJECT_DUPLICATES, &jerr);
        if (!json_is_object(payload)) {
            json_decref(payload);
            return cli_fail(CRM_ERR_USAGE, "--payload takes a JSON object");
        }
    }
    gint64 id = 0;
    char *err = NULL;
    crm_result r =
        jobs_enqueue(cli_db(ctx), argv[optind], payload, at, unique, &id, &err);
    json_decref(payload);
    if (r)
        return cli_fail_free(r, err);
    if (ctx->json)
        cli_print_json(json_pack("{s:I}", "id", (json_int_t)id));
    else
        printf("%" G_GINT64_FORMAT "\n", id);
    return 0;
}

int cmd_job(cli_ctx *ctx, int argc, char **argv)
{
    if (argc < 2)
        return cli_usage(ctx);
    if (strcmp(argv[1], "list") == 0)
        return job_list(ctx, argc - 1, argv + 1);
    if (strcmp(argv[1], "retry") == 0)
        return job_retry(ctx, argc - 1, argv + 1);
    if (strcmp(argv[1], "add") == 0)
        return job_add(ctx, argc - 1, argv + 1);
    return cli_usage(ctx);
}
