/*
 * cmd_records.c - migrate, user/company/contact/deal add, contact
 * import and export.
 */
#include <csv.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "cli.h"
#include "crmgate/addr.h"
#include "crmgate/records.h"

/* Prints a new record: JSON, or "kind id=N" plus its fields. */
static int print_record(cli_ctx *ctx, const char *kind, json_t *rec)
{
    if (ctx->json) {
        cli_print_json(rec);
        return 0;
    }
    printf("%s id=%" JSON_INTEGER_FORMAT "\n", kind,
           json_integer_value(json_object_get(rec, "id")));
    const char *key;
    json_t *v;
    json_object_foreach(rec, key, v)
    {
        if (strcmp(key, "id") == 0 || json_is_null(v))
            continue;
        char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        printf("  %s: %s\n", key, json_is_string(v) ? json_string_value(v) : s);
        free(s);
    }
    json_decref(rec);
    return 0;
}

int cmd_migrate(cli_ctx *ctx, int argc, char **argv)
{
    (void)argv;
    if (argc != 1)
        return cli_usage(ctx);
    guint applied = 0;
    char *err = NULL;
    crm_result r = db_migrate(cli_db(ctx), &applied, &err);
    if (r)
        return cli_fail_free(r, err);
    if (ctx->json)
        cli_print_json(json_pack("{s:i}", "applied", (int)applied));
    else
        printf("migrations applied: %u\n", applied);
    return 0;
}

/* Handles one option of an add command; false for a bad one. */
typedef bool (*add_opt_fn)(int ch, const char *arg, void *rec);

/* Parses "KIND add ARG [options]" (argv[0] is KIND): each option goes to
   on_opt with rec. Returns ARG, or NULL when the arguments are wrong. */
static const char *parse_add(int argc, char **argv, const char *shortopts,
                             const struct option *opts, add_opt_fn on_opt,
                             void *rec)
{
    if (argc < 2 || strcmp(argv[1], "add") != 0)
        return NULL;
    int ch;
    optind = 0;
    while ((ch = getopt_long(argc - 1, argv + 1, shortopts, opts, NULL)) != -1)
        if (!on_opt(ch, optarg, rec))
            return NULL;
    if (optind + 1 != argc - 1)
        return NULL;
    return argv[1 + optind];
}

/* Ends an add command: prints the new record, or the error. */
static int added(cli_ctx *ctx, const char *kind, crm_result r, json_t *rec,
                 char *err)
{
    return r ? cli_fail_free(r, err) : print_record(ctx, kind, rec);
}

static bool user_opt(int ch, const char *arg, void *rec)
{
    records_user *u = rec;
    if (ch == 'n')
        u->name = arg;
    else if (ch == 'r')
        u->role = arg;
    else if (ch == 'x')
        u->extension = arg;
    else
        return false;
    return true;
}

int cmd_user(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"name", required_argument, NULL, 'n'},
        {"role", required_argument, NULL, 'r'},
        {"extension", required_argument, NULL, 'x'},
        {NULL, 0, NULL, 0},
    };
    if (argc >= 2 && strcmp(argv[1], "passwd") == 0)
        return cli_user_passwd(ctx, argc, argv);
    records_user u = {0};
    u.email = parse_add(argc, argv, "n:r:x:", opts, user_opt, &u);
    if (!u.email)
        return cli_usage(ctx);
    json_t *rec = NULL;
    char *err = NULL;
    crm_result r = records_user_add(cli_db(ctx), &u, &rec, &err);
    return added(ctx, "user", r, rec, err);
}

typedef struct {
    records_company c;
    GPtrArray *domains;
} company_args;

static bool company_opt(int ch, const char *arg, void *rec)
{
    company_args *a = rec;
    if (ch == 'd')
        g_ptr_array_add(a->domains, (gpointer)arg);
    else if (ch == 'w')
        a->c.website = arg;
    else if (ch == 'o')
        a->c.owner = arg;
    else
        return false;
    return true;
}

int cmd_company(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"domain", required_argument, NULL, 'd'},
        {"website", required_argument, NULL, 'w'},
        {"owner", required_argument, NULL, 'o'},
        {NULL, 0, NULL, 0},
    };
    g_autoptr(GPtrArray) domains = g_ptr_array_new();
    company_args a = {.domains = domains};
    a.c.name = parse_add(argc, argv, "d:w:o:", opts, company_opt, &a);
    if (!a.c.name)
        return cli_usage(ctx);
    g_ptr_array_add(domains, NULL);
    a.c.domains = (const char *const *)domains->pdata;
    json_t *rec = NULL;
    char *err = NULL;
    crm_result r = records_company_add(cli_db(ctx), &a.c, &rec, &err);
    return added(ctx, "company", r, rec, err);
}

typedef struct {
    records_contact c;
    char *first, *last; /* from --name */
    GPtrArray *tags;    /* --tag, repeatable */
} contact_args;

static bool contact_opt(int ch, const char *arg, void *rec)
{
    contact_args *a = rec;
    switch (ch) {
    case 'f':
        a->c.first_name = arg;
        return true;
    case 'l':
        a->c.last_name = arg;
        return true;
    case 'n':
        g_free(a->first);
        g_free(a->last);
        addr_split_name(arg, &a->first, &a->last);
        return true;
    case 't':
        a->c.title = arg;
        return true;
    case 'p':
        a->c.phone = arg;
        return true;
    case 'c':
        a->c.company = arg;
        return true;
    case 'C':
        return cli_parse_id(arg, &a->c.company_id);
    case 'o':
        a->c.owner = arg;
        return true;
    case 'T':
        if (!a->tags)
            a->tags = g_ptr_array_new();
        g_ptr_array_add(a->tags, (gpointer)arg);
        return true;
    case 'K':
        a->c.country = arg;
        return true;
    default:
        return false;
    }
}

int cmd_contact(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"first", required_argument, NULL, 'f'},
        {"last", required_argument, NULL, 'l'},
        {"name", required_argument, NULL, 'n'},
        {"title", required_argument, NULL, 't'},
        {"phone", required_argument, NULL, 'p'},
        {"company", required_argument, NULL, 'c'},
        {"company-id", required_argument, NULL, 'C'},
        {"owner", required_argument, NULL, 'o'},
        {"tag", required_argument, NULL, 'T'},
        {"country", required_argument, NULL, 'K'},
        {NULL, 0, NULL, 0},
    };
    contact_args a = {0};
    a.c.email =
        parse_add(argc, argv, "f:l:n:t:p:c:C:o:T:K:", opts, contact_opt, &a);
    g_autofree char *first = a.first, *last = a.last;
    g_autoptr(GPtrArray) tags = a.tags;
    if (tags) {
        g_ptr_array_add(tags, NULL);
        a.c.tags = (const char *const *)tags->pdata;
    }
    if (!a.c.email)
        return cli_usage(ctx);
    if (!a.c.first_name)
        a.c.first_name = first;
    if (!a.c.last_name)
        a.c.last_name = last;
    json_t *rec = NULL;
    char *err = NULL;
    a.c.phone_country = cli_config(ctx)->voip_default_country;
    crm_result r = records_contact_add(cli_db(ctx), &a.c, &rec, &err);
    return added(ctx, "contact", r, rec, err);
}

static bool deal_opt(int ch, const char *arg, void *rec)
{
    records_deal *d = rec;
    switch (ch) {
    case 'c':
        return cli_parse_id(arg, &d->contact_id);
    case 'C':
        return cli_parse_id(arg, &d->company_id);
    case 'a':
        d->amount = arg;
        return true;
    case 'u':
        d->currency = arg;
        return true;
    case 's':
        d->stage = arg;
        return true;
    case 't':
        d->ticket = arg;
        return true;
    case 'o':
        d->owner = arg;
        return true;
    default:
        return false;
    }
}

int cmd_deal(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"contact", required_argument, NULL, 'c'},
        {"company", required_argument, NULL, 'C'},
        {"amount", required_argument, NULL, 'a'},
        {"currency", required_argument, NULL, 'u'},
        {"stage", required_argument, NULL, 's'},
        {"ticket", required_argument, NULL, 't'},
        {"owner", required_argument, NULL, 'o'},
        {NULL, 0, NULL, 0},
    };
    records_deal d = {0};
    d.name = parse_add(argc, argv, "c:C:a:u:s:t:o:", opts, deal_opt, &d);
    if (!d.name)
        return cli_usage(ctx);
    json_t *rec = NULL;
    char *err = NULL;
    crm_result r = records_deal_add(cli_db(ctx), &d, &rec, &err);
    return added(ctx, "deal", r, rec, err);
}

int cmd_import(cli_ctx *ctx, int argc, char **argv)
{
    if (argc != 3 || strcmp(argv[1], "contacts") != 0)
        return cli_usage(ctx);
    FILE *f = strcmp(argv[2], "-") == 0 ? stdin : fopen(argv[2], "r");
    if (!f) {
        g_autofree char *m =
            g_strdup_printf("%s: %s", argv[2], g_strerror(errno));
        return cli_fail(CRM_ERR_IO, m);
    }
    guint added = 0, skipped = 0;
    g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func(g_free);
    char *err = NULL;
    crm_result r = records_import_contacts(
        cli_db(ctx), cli_config(ctx)->voip_default_country, f, &added, &skipped,
        problems, &err);
    if (f != stdin)
        fclose(f);
    if (r)
        return cli_fail_free(r, err);
    for (guint i = 0; i < problems->len; i++)
        fprintf(stderr, "crmgate: %s: %s\n", argv[2],
                (char *)g_ptr_array_index(problems, i));
    if (ctx->json)
        cli_print_json(json_pack("{s:i,s:i}", "added", (int)added, "skipped",
                                 (int)skipped));
    else
        printf("contacts added: %u, skipped: %u\n", added, skipped);
    return 0;
}

int cmd_export(cli_ctx *ctx, int argc, char **argv)
{
    static const char *const cols[] = {"id",        "email", "first_name",
                                       "last_name", "title", "phone",
                                       "company",   "owner"};
    if (argc != 2 || strcmp(argv[1], "contacts") != 0)
        return cli_usage(ctx);
    json_t *arr = NULL;
    char *err = NULL;
    crm_result r = records_export_contacts(cli_db(ctx), &arr, &err);
    if (r)
        return cli_fail_free(r, err);
    if (ctx->json) {
        cli_print_json(arr);
        return 0;
    }
    for (size_t c = 0; c < G_N_ELEMENTS(cols); c++)
        printf("%s%c", cols[c], c + 1 < G_N_ELEMENTS(cols) ? ',' : '\n');
    size_t i;
    json_t *row;
    bool ok = true;
    json_array_foreach(arr, i, row)
    {
        for (size_t c = 0; ok && c < G_N_ELEMENTS(cols); c++)
            ok = cli_csv_cell(json_object_get(row, cols[c]),
                              c + 1 == G_N_ELEMENTS(cols));
    }
    json_decref(arr);
    if (!ok || fflush(stdout) != 0) {
        g_autofree char *m =
            g_strdup_printf("export contacts: %s", g_strerror(errno));
        return cli_fail(CRM_ERR_IO, m);
    }
    return 0;
}
