/*
 * cmd_voip.c - "crmgate call list | call NUMBER --from EXT", "crmgate lead
 * list", "crmgate voip line add|list": the call log, click-to-call and the
 * company's own numbers from the shell.
 *
 * Click-to-call queues the request with crm_call_request() (the same
 * function the web button uses) and, unless --wait 0, polls its row until
 * the worker's "voip.callback" job has an answer: exit 0 done, 1 failed
 * (the provider's message), EX_TEMPFAIL when nothing came within --wait
 * seconds (the request stays queued). Numbers are normalised to E.164 with
 * voip.default_country (libphonenumber, core/phone.cc); what is not a
 * number is EX_USAGE. Lists are bounded by --limit (1..100000).
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "cli.h"
#include "crmgate/addr.h"
#include "crmgate/phone.h"

#define VOIP_LIST_DEFAULT 100
#define VOIP_LIST_MAX 100000
#define VOIP_WAIT_DEFAULT 30
#define VOIP_WAIT_MAX 3600
#define VOIP_POLL_US 200000
#define VOIP_LABEL_MAX 200

/* A --limit value: 1..VOIP_LIST_MAX. */
static bool parse_limit(const char *s, guint *limit_r)
{
    guint64 v = 0;
    if (!g_ascii_string_to_unsigned(s, 10, 1, VOIP_LIST_MAX, &v, NULL))
        return false;
    *limit_r = (guint)v;
    return true;
}

/* Options of the list commands: [--limit N]; json via ctx. */
static int list_options(cli_ctx *ctx, int argc, char **argv, guint *limit_r)
{
    static const struct option opts[] = {
        {"limit", required_argument, NULL, 'l'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    optind = 0;
    while ((ch = getopt_long(argc, argv, "l:", opts, NULL)) != -1) {
        if (ch != 'l')
            return cli_usage(ctx);
        if (!parse_limit(optarg, limit_r))
            return cli_fail(CRM_ERR_USAGE, "--limit takes 1..100000");
    }
    return optind == argc ? 0 : cli_usage(ctx);
}

/* A JSON value as table text ("-" for null). */
static const char *cell(json_t *o, const char *key)
{
    static char buf[32];
    json_t *v = json_object_get(o, key);
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v)) {
        g_snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT,
                   json_integer_value(v));
        return buf;
    }
    return "-";
}

/* Runs a list query (parameter $1: the limit) and prints key's array as
   JSON or, per row, the columns (dates through cli_date). */
static int print_list(cli_ctx *ctx, const char *sql, guint limit,
                      const char *key, const char *const *cols)
{
    g_autofree char *lim = g_strdup_printf("%u", limit);
    const char *p[] = {lim};
    json_t *out = NULL;
    char *err = NULL;
    crm_result r =
        db_query_json(cli_db(ctx), 0, sql, 1, p, NULL, NULL, &out, &err);
    if (r)
        return cli_fail_free(r, err);
    if (ctx->json) {
        cli_print_json(out);
        return 0;
    }
    size_t i;
    json_t *row;
    json_array_foreach(json_object_get(out, key), i, row)
    {
        for (int c = 0; cols[c]; c++) {
            const char *name = cols[c];
            bool date = g_str_has_suffix(name, "_at");
            json_t *v = json_object_get(row, name);
            const char *s =
                date && json_is_string(v) ? cli_date(v) : cell(row, name);
            printf("%s%s", c ? "\t" : "", s);
        }
        putchar('\n');
    }
    json_decref(out);
    return 0;
}

static int call_list(cli_ctx *ctx, int argc, char **argv)
{
    guint limit = VOIP_LIST_DEFAULT;
    int rc = list_options(ctx, argc, argv, &limit);
    if (rc)
        return rc;
    static const char *const cols[] = {"id",       "started_at",  "direction",
                                       "state",    "remote_e164", "extension",
                                       "user",     "record",      "disposition",
                                       "duration", "recording",   NULL};
    return print_list(
        ctx,
        "SELECT json_build_object('calls', coalesce(json_agg("
        "json_build_object('id', c.id, 'provider', c.provider, 'call_id', "
        "c.call_id, 'direction', c.direction, 'state', c.state, "
        "'remote_number', c.remote_number, 'remote_e164', c.remote_e164, "
        "'line_e164', c.line_e164, 'extension', c.extension, 'user', "
        "u.email, 'record', c.record_type || ':' || c.record_id, "
        "'started_at', c.started_at, 'answered_at', c.answered_at, "
        "'ended_at', c.ended_at, 'duration', c.duration_s, 'disposition', "
        "c.disposition, 'recording', c.recording_state, 'task_id', "
        "c.task_id, 'request_id', c.request_id) ORDER BY c.k DESC, c.id "
        "DESC), '[]')) FROM (SELECT *, coalesce(started_at, created_at) AS "
        "k FROM calls ORDER BY k DESC, id DESC LIMIT $1::int) c LEFT JOIN "
        "users u ON u.id = c.user_id",
        limit, "calls", cols);
}

/* "call NUMBER --from EXT [--wait S]": click-to-call. */
static int call_number(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"from", required_argument, NULL, 'f'},
        {"wait", required_argument, NULL, 'w'},
        {NULL, 0, NULL, 0},
    };
    const char *from = NULL;
    guint64 wait_s = VOIP_WAIT_DEFAULT;
    int ch;
    optind = 0;
    while ((ch = getopt_long(argc, argv, "f:w:", opts, NULL)) != -1) {
        switch (ch) {
        case 'f':
            from = optarg;
            break;
        case 'w':
            if (!g_ascii_string_to_unsigned(optarg, 10, 0, VOIP_WAIT_MAX,
                                            &wait_s, NULL))
                return cli_fail(CRM_ERR_USAGE, "--wait takes 0..3600 seconds");
            break;
        default:
            return cli_usage(ctx);
        }
    }
    if (optind + 1 != argc || !from)
        return cli_usage(ctx);
    const char *number = argv[optind];
    crm_config *cfg = cli_config(ctx);
    phone_norm to;
    if (strlen(number) > PHONE_RAW_MAX ||
        !phone_normalize(number, cfg->voip_default_country, &to)) {
        g_autofree char *clean = g_utf8_make_valid(number, 80);
        g_autofree char *msg =
            g_strdup_printf("'%s' is not a phone number%s", clean,
                            *cfg->voip_default_country
                                ? ""
                                : " (voip.default_country is not set: give "
                                  "+ and the country code)");
        return cli_fail(CRM_ERR_USAGE, msg);
    }
    /* The caller's side: an extension, or a number of ours. */
    phone_norm fromn;
    g_autofree char *from_arg = NULL;
    if (phone_is_extension(from))
        from_arg = g_strdup(from);
    else if (strlen(from) <= PHONE_RAW_MAX &&
             phone_normalize(from, cfg->voip_default_country, &fromn))
        from_arg = g_strdup(fromn.e164);
    else
        return cli_fail(CRM_ERR_USAGE, "--from takes an extension (1 to 6 "
                                       "digits) or a phone number");
    const char *p[] = {from_arg, number, to.e164, to.last9};
    json_t *out = NULL;
    char *err = NULL;
    crm_result r = db_query_json(
        cli_db(ctx), 0,
        "SELECT to_jsonb(crm_call_request(NULL, $1, $2, $3, m.record_type, "
        "m.record_id)) FROM (SELECT NULL) x LEFT JOIN crm_phone_match($3, "
        "nullif($4, '')) m ON true",
        4, p, NULL, NULL, &out, &err);
    if (r)
        return cli_fail_free(r, err);
    gint64 id = (gint64)json_integer_value(out);
    json_decref(out);
    if (!ctx->json)
        printf("call request %" G_GINT64_FORMAT " queued\n", id);
    fflush(stdout);
    g_autofree char *ids = g_strdup_printf("%" G_GINT64_FORMAT, id);
    const char *q[] = {ids};
    gint64 deadline = g_get_monotonic_time() + (gint64)wait_s * G_USEC_PER_SEC;
    json_t *row = NULL;
    for (;;) {
        r = db_query_json(cli_db(ctx), 0,
                          "SELECT json_build_object('request', id, 'state', "
                          "state, 'result', result, 'to_e164', to_e164, "
                          "'from', from_ext) FROM call_requests WHERE id = "
                          "$1::bigint",
                          1, q, NULL, NULL, &row, &err);
        if (r)
            return cli_fail_free(r, err);
        const char *state = json_string_value(json_object_get(row, "state"));
        if (wait_s == 0 || (state && strcmp(state, "queued") != 0) ||
            g_get_monotonic_time() >= deadline)
            break;
        json_decref(row);
        row = NULL;
        g_usleep(VOIP_POLL_US);
    }
    const char *state = json_string_value(json_object_get(row, "state"));
    const char *result = json_string_value(json_object_get(row, "result"));
    int rc = 0;
    if (state && strcmp(state, "failed") == 0)
        rc = 1;
    else if (wait_s > 0 && (!state || strcmp(state, "queued") == 0))
        rc = EX_TEMPFAIL;
    if (ctx->json) {
        cli_print_json(row);
        return rc;
    }
    if (rc == 1)
        printf("call request %s failed: %s\n", ids, result ? result : "");
    else if (rc == EX_TEMPFAIL)
        fprintf(stderr,
                "crmgate: call request %s: no answer from the worker within "
                "%u s (still queued)\n",
                ids, (guint)wait_s);
    else if (wait_s > 0)
        printf("%s\n", result ? result : "done");
    json_decref(row);
    return rc;
}

int cmd_call(cli_ctx *ctx, int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "list") == 0)
        return call_list(ctx, argc - 1, argv + 1);
    if (argc >= 2 && argv[1][0] != '-')
        return call_number(ctx, argc, argv); /* NUMBER is a positional */
    return cli_usage(ctx);
}

int cmd_lead(cli_ctx *ctx, int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "list") != 0)
        return cli_usage(ctx);
    guint limit = VOIP_LIST_DEFAULT;
    int rc = list_options(ctx, argc - 1, argv + 1, &limit);
    if (rc)
        return rc;
    static const char *const cols[] = {"id",         "created_at", "name",
                                       "phone_e164", "email",      "source",
                                       "owner",      NULL};
    return print_list(
        ctx,
        "SELECT json_build_object('leads', coalesce(json_agg("
        "json_build_object('id', l.id, 'name', nullif(btrim(l.first_name || "
        "' ' || l.last_name), ''), 'phone', l.phone, 'phone_e164', "
        "l.phone_e164, 'email', l.email, 'company_name', l.company_name, "
        "'source', s.name, 'owner', u.email, 'created_at', l.created_at) "
        "ORDER BY l.created_at DESC, l.id DESC), '[]')) FROM (SELECT * FROM "
        "leads ORDER BY created_at DESC, id DESC LIMIT $1::int) l LEFT JOIN "
        "lead_sources s ON s.id = l.lead_source_id LEFT JOIN users u ON "
        "u.id = l.owner_id",
        limit, "leads", cols);
}

/* "voip line add NUMBER [--user EMAIL] [--label TEXT]" (upsert). */
static int line_add(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"user", required_argument, NULL, 'u'},
        {"label", required_argument, NULL, 'l'},
        {NULL, 0, NULL, 0},
    };
    const char *user = NULL, *label = "";
    int ch;
    optind = 0;
    while ((ch = getopt_long(argc, argv, "u:l:", opts, NULL)) != -1) {
        switch (ch) {
        case 'u':
            user = optarg;
            break;
        case 'l':
            label = optarg;
            break;
        default:
            return cli_usage(ctx);
        }
    }
    if (optind + 1 != argc)
        return cli_usage(ctx);
    if (!g_utf8_validate(label, -1, NULL) ||
        g_utf8_strlen(label, -1) > VOIP_LABEL_MAX)
        return cli_fail(CRM_ERR_USAGE,
                        "--label takes at most 200 characters of UTF-8");
    crm_config *cfg = cli_config(ctx);
    phone_norm n;
    const char *number = argv[optind];
    if (strlen(number) > PHONE_RAW_MAX ||
        !phone_normalize(number, cfg->voip_default_country, &n))
        return cli_fail(CRM_ERR_USAGE, "NUMBER is not a phone number");
    g_autofree char *norm = user ? addr_normalize(user) : NULL;
    if (user && !norm)
        return cli_fail(CRM_ERR_USAGE, "--user takes a user's address");
    const char *p[] = {n.e164, norm, label};
    json_t *out = NULL;
    char *err = NULL;
    crm_result r = db_query_json(
        cli_db(ctx), 0,
        "WITH u AS (SELECT id, email FROM users WHERE email_norm = $2), "
        "l AS (INSERT INTO voip_lines (number_e164, user_id, label) SELECT "
        "$1, (SELECT id FROM u), $3 WHERE $2::text IS NULL OR EXISTS "
        "(SELECT 1 FROM u) ON CONFLICT (number_e164) DO UPDATE SET user_id "
        "= EXCLUDED.user_id, label = EXCLUDED.label RETURNING *) SELECT "
        "json_build_object('number_e164', l.number_e164, 'user', (SELECT "
        "email FROM u), 'label', l.label, 'created_at', l.created_at) FROM l",
        3, p, NULL, NULL, &out, &err);
    if (r)
        return cli_fail_free(r, err);
    if (!out)
        return cli_fail(CRM_ERR_NOTFOUND, "no user with that address");
    if (ctx->json) {
        cli_print_json(out);
        return 0;
    }
    printf("line %s -> %s\n", n.e164, cell(out, "user"));
    json_decref(out);
    return 0;
}

int cmd_voip(cli_ctx *ctx, int argc, char **argv)
{
    if (argc < 3 || strcmp(argv[1], "line") != 0)
        return cli_usage(ctx);
    if (strcmp(argv[2], "add") == 0)
        return line_add(ctx, argc - 2, argv + 2);
    if (strcmp(argv[2], "list") != 0)
        return cli_usage(ctx);
    guint limit = VOIP_LIST_MAX;
    int rc = list_options(ctx, argc - 2, argv + 2, &limit);
    if (rc)
        return rc;
    static const char *const cols[] = {"number_e164", "user", "label", NULL};
    return print_list(
        ctx,
        "SELECT json_build_object('lines', coalesce(json_agg("
        "json_build_object('number_e164', l.number_e164, 'user', u.email, "
        "'label', l.label, 'created_at', l.created_at) ORDER BY "
        "l.number_e164), '[]')) FROM (SELECT * FROM voip_lines ORDER BY "
        "number_e164 LIMIT $1::int) l LEFT JOIN users u ON u.id = l.user_id",
        limit, "lines", cols);
}
