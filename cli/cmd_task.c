/*
 * cmd_task.c - "crmgate task add|list|done": tasks from the shell.
 *
 * An admin command: it acts as the system, with no viewer scoping (history
 * rows name no user) but core/tasks.c still checks that the owner, the
 * record and the parent exist. Completing a task with open subtasks is an
 * error (exit EX_DATAERR) with the reason.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "cli.h"
#include "crmgate/tasks.h"

static const tasks_actor system_actor = {.id = 0, .role = "admin"};

static int task_add(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"owner", required_argument, NULL, 'o'},
        {"due", required_argument, NULL, 'd'},
        {"record", required_argument, NULL, 'r'},
        {"priority", required_argument, NULL, 'p'},
        {"parent", required_argument, NULL, 'P'},
        {NULL, 0, NULL, 0},
    };
    tasks_fields f = {0};
    int ch;
    optind = 0;
    while ((ch = getopt_long(argc, argv, "o:d:r:p:P:", opts, NULL)) != -1) {
        switch (ch) {
        case 'o':
            f.owner = optarg;
            break;
        case 'd':
            if (!tasks_valid_date(optarg))
                return cli_fail(CRM_ERR_USAGE, "--due takes a date "
                                               "YYYY-MM-DD");
            f.due = optarg;
            break;
        case 'r':
            if (!tasks_parse_record(optarg, &f.record_type, &f.record_id))
                return cli_fail(CRM_ERR_USAGE,
                                "--record takes TYPE:ID (contact, lead, "
                                "company, deal, request)");
            break;
        case 'p':
            if (!tasks_parse_priority(optarg, &f.priority))
                return cli_fail(CRM_ERR_USAGE,
                                "--priority takes 1-3 or low, middle, high");
            break;
        case 'P':
            if (!cli_parse_id(optarg, &f.parent_id))
                return cli_fail(CRM_ERR_USAGE, "--parent takes a task id");
            break;
        default:
            return cli_usage(ctx);
        }
    }
    if (optind + 1 != argc)
        return cli_usage(ctx);
    f.title = argv[optind];
    gint64 id = 0;
    char *err = NULL;
    crm_result r =
        tasks_add(cli_db(ctx), cli_config(ctx), &system_actor, &f, &id, &err);
    if (r)
        return cli_fail_free(r, err);
    if (ctx->json)
        cli_print_json(json_pack("{s:I}", "id", (json_int_t)id));
    else
        printf("%" G_GINT64_FORMAT "\n", id);
    return 0;
}

static int task_list(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"all", no_argument, NULL, 'a'},
        {NULL, 0, NULL, 0},
    };
    /* the admin's list is whole, not a page */
    tasks_view v = {.kind = TASKS_VIEW_OPEN, .limit = G_MAXINT32};
    int ch;
    optind = 0;
    while ((ch = getopt_long(argc, argv, "a", opts, NULL)) != -1) {
        if (ch != 'a')
            return cli_usage(ctx);
        v.kind = TASKS_VIEW_ALL;
    }
    if (optind != argc)
        return cli_usage(ctx);
    json_t *out = NULL;
    char *err = NULL;
    crm_result r = tasks_list(cli_db(ctx), &system_actor, &v, &out, &err);
    if (r)
        return cli_fail_free(r, err);
    json_t *tasks = json_object_get(out, "tasks");
    if (ctx->json) {
        /* the documented fields only */
        json_t *list = json_array();
        size_t i;
        json_t *t;
        json_array_foreach(tasks, i, t)
        {
            json_array_append_new(
                list, json_pack("{s:O,s:O,s:O,s:O,s:O,s:O,s:O,s:O,s:O}", "id",
                                json_object_get(t, "id"), "title",
                                json_object_get(t, "title"), "stage",
                                json_object_get(t, "stage"), "priority",
                                json_object_get(t, "priority"), "owner",
                                json_object_get(t, "owner"), "due",
                                json_object_get(t, "due"), "record",
                                json_object_get(t, "record"), "parent",
                                json_object_get(t, "parent"), "project",
                                json_object_get(t, "project")));
        }
        json_decref(out);
        cli_print_json(json_pack("{s:o}", "tasks", list));
        return 0;
    }
    size_t i;
    json_t *t;
    json_array_foreach(tasks, i, t)
    {
        const char *due = json_string_value(json_object_get(t, "due"));
        const char *rec = json_string_value(json_object_get(t, "record"));
        printf("%" JSON_INTEGER_FORMAT "\t%s\t%s\t%s\t%s\t%s\n",
               json_integer_value(json_object_get(t, "id")),
               json_string_value(json_object_get(t, "stage")), due ? due : "-",
               json_string_value(json_object_get(t, "owner")), rec ? rec : "-",
               json_string_value(json_object_get(t, "title")));
    }
    json_decref(out);
    return 0;
}

static int task_done(cli_ctx *ctx, int argc, char **argv)
{
    gint64 id = 0;
    if (argc != 2 || !cli_parse_id(argv[1], &id))
        return cli_usage(ctx);
    char *err = NULL;
    crm_result r = tasks_complete(cli_db(ctx), &system_actor, id, &err);
    if (r)
        return cli_fail_free(r, err);
    if (ctx->json)
        cli_print_json(
            json_pack("{s:I,s:s}", "id", (json_int_t)id, "stage", "done"));
    else
        printf("task %" G_GINT64_FORMAT " done\n", id);
    return 0;
}

int cmd_task(cli_ctx *ctx, int argc, char **argv)
{
    if (argc < 2)
        return cli_usage(ctx);
    if (strcmp(argv[1], "add") == 0)
        return task_add(ctx, argc - 1, argv + 1);
    if (strcmp(argv[1], "list") == 0)
        return task_list(ctx, argc - 1, argv + 1);
    if (strcmp(argv[1], "done") == 0)
        return task_done(ctx, argc - 1, argv + 1);
    return cli_usage(ctx);
}
