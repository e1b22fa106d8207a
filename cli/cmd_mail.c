/*
 * cmd_mail.c - parse, ingest, timeline and spool.
 *
 * ingest runs in stages: this thread reads and parses messages and builds
 * plans; INGEST_LANES store threads, each with its own connection, store
 * them in batches of INGEST_BATCH with one crm_capture_batch() call each.
 * A message goes to the lane of its thread (the first References id, else
 * In-Reply-To, else its own Message-ID), so a reply is stored after the
 * message it answers and inherits its links, while unrelated threads are
 * stored in parallel.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "crmgate/ingest.h"
#include "crmgate/message.h"
#include "crmgate/records.h"
#include "crmgate/spool.h"

#define INGEST_BATCH 200
#define INGEST_QUEUE_MAX 4 /* batches waiting for the database per lane */
#define INGEST_LANES 2

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

typedef struct {
    ingest_plan *plans[INGEST_BATCH];
    crm_message *msgs[INGEST_BATCH];
    guint n;
} ingest_batch;

typedef struct ingest_run ingest_run;

/* One store thread with its connection and its queue of batches. */
typedef struct {
    ingest_run *run;
    db_conn *db;
    GAsyncQueue *queue; /* ingest_batch *; the lane itself = end */
    ingest_batch *cur;
    guint queued;
    GThread *thread;
} ingest_lane;

struct ingest_run {
    const crm_config *cfg;
    ingest_direction direction;
    ingest_lane lanes[INGEST_LANES];
    GMutex lock;
    GCond room;
    /* counters (under lock) */
    guint seen, stored, fresh, dups, skipped, errors, parse_errors;
    crm_result fatal;
    char *fatal_error;
    guint total;          /* messages expected, 0 if unknown */
    bool analyze_pending; /* refresh planner statistics after batch one */
    bool progress;
    gint64 started, last_draw;
};

static void batch_free(ingest_batch *b)
{
    for (guint i = 0; i < b->n; i++) {
        ingest_plan_free(&b->plans[i]);
        message_free(&b->msgs[i]);
    }
    g_free(b);
}

static void draw_progress(ingest_run *run, bool final)
{
    gint64 now = g_get_monotonic_time();
    if (!run->progress || (!final && now - run->last_draw < 100000))
        return;
    run->last_draw = now;
    double secs = (double)(now - run->started) / 1e6;
    double rate = secs > 0 ? run->seen / secs : 0;
    if (run->total) {
        int width = 30, done = (int)((double)run->seen * width / run->total);
        fprintf(stderr, "\r[%.*s%*s] %u/%u messages %.0f msg/s ", done,
                "##############################", width - done, "", run->seen,
                run->total, rate);
    } else {
        fprintf(stderr, "\r%u messages %.0f msg/s ", run->seen, rate);
    }
    if (final)
        fputc('\n', stderr);
    fflush(stderr);
}

static gpointer store_main(gpointer data)
{
    ingest_lane *lane = data;
    ingest_run *run = lane->run;
    for (;;) {
        ingest_batch *b = g_async_queue_pop(lane->queue);
        if (b == (gpointer)lane)
            break;
        ingest_result res[INGEST_BATCH] = {{0}};
        char *errs[INGEST_BATCH] = {0};
        char *err = NULL;
        /* After a fatal error in any lane, batches are only freed. */
        crm_result r = CRM_ERR_INTERNAL;
        if (g_atomic_int_get(&run->fatal) == CRM_OK)
            r = ingest_store_batch(lane->db, 0, b->plans,
                                   (const crm_message *const *)b->msgs, b->n,
                                   false, res, errs, &err);
        g_mutex_lock(&run->lock);
        if (r && r != CRM_ERR_INTERNAL && run->fatal == CRM_OK) {
            run->fatal = r;
            run->fatal_error = err;
            err = NULL;
        }
        for (guint i = 0; !r && i < b->n; i++) {
            if (b->plans[i]->verdict != INGEST_LOG) {
                run->skipped++;
            } else if (errs[i]) {
                run->errors++;
                fprintf(stderr, "\ncrmgate: ingest: message <%s>: %s\n",
                        b->msgs[i]->message_id ? b->msgs[i]->message_id : "",
                        errs[i]);
                g_free(errs[i]);
            } else {
                run->stored++;
                if (res[i].is_new)
                    run->fresh++;
                else
                    run->dups++;
                ingest_result_clear(&res[i]);
            }
        }
        lane->queued--;
        g_cond_broadcast(&run->room);
        bool analyze = r == CRM_OK && run->analyze_pending;
        run->analyze_pending = false;
        g_mutex_unlock(&run->lock);
        if (analyze) {
            /* Into a young database, the first batch changes the tables
               more than their statistics know: the planner would keep
               choosing scans (foreign-key checks included) that grow with
               every row. One ANALYZE fixes that for the rest of the run. */
            char *aerr = NULL;
            if (db_exec(lane->db, 0,
                        "ANALYZE messages, message_participants, "
                        "message_links, capture_events",
                        0, NULL, &aerr))
                fprintf(stderr, "\ncrmgate: ingest: analyze: %s\n", aerr);
            g_free(aerr);
        }
        g_free(err);
        batch_free(b);
    }
    return NULL;
}

static void flush_lane(ingest_lane *lane)
{
    ingest_run *run = lane->run;
    if (!lane->cur || lane->cur->n == 0)
        return;
    g_mutex_lock(&run->lock);
    while (lane->queued >= INGEST_QUEUE_MAX)
        g_cond_wait(&run->room, &run->lock);
    lane->queued++;
    g_mutex_unlock(&run->lock);
    g_async_queue_push(lane->queue, lane->cur);
    lane->cur = NULL;
}

/* The lane of a message: by the id that names its thread. */
static ingest_lane *lane_of(ingest_run *run, const crm_message *msg)
{
    const char *key = msg->references && msg->references->len
                          ? g_ptr_array_index(msg->references, 0)
                      : msg->in_reply_to ? msg->in_reply_to
                      : msg->message_id  ? msg->message_id
                                         : msg->digest;
    return &run->lanes[g_str_hash(key) % INGEST_LANES];
}

/* Adds one parsed message to its lane's batch (takes ownership). */
static void add_message(ingest_run *run, crm_message *msg)
{
    ingest_envelope env = {.source = "import", .direction = run->direction};
    ingest_lane *lane = lane_of(run, msg);
    if (!lane->cur)
        lane->cur = g_new0(ingest_batch, 1);
    ingest_batch *b = lane->cur;
    b->plans[b->n] = ingest_plan_new(run->cfg, &env, msg);
    b->msgs[b->n] = msg;
    b->n++;
    run->seen++;
    if (b->n == INGEST_BATCH)
        flush_lane(lane);
    draw_progress(run, false);
}

static void ingest_file(ingest_run *run, const char *path)
{
    message_limits lim;
    ingest_message_limits(run->cfg, &lim);
    crm_message *msg = NULL;
    crm_result r = message_parse_file(path, &lim, &msg);
    if (r) {
        fprintf(stderr, "\ncrmgate: ingest: %s: %s\n", path, crm_strerror(r));
        run->parse_errors++;
        return;
    }
    add_message(run, msg);
}

/* Splits an mbox at "From " lines that follow a blank line. */
static void ingest_mbox(ingest_run *run, const char *path)
{
    g_autoptr(GError) gerr = NULL;
    GMappedFile *mf = g_mapped_file_new(path, FALSE, &gerr);
    if (!mf) {
        fprintf(stderr, "crmgate: ingest: %s\n", gerr->message);
        run->parse_errors++;
        return;
    }
    const char *data = g_mapped_file_get_contents(mf);
    gsize len = g_mapped_file_get_length(mf);
    message_limits lim;
    ingest_message_limits(run->cfg, &lim);
    gsize pos = 0;
    while (pos < len) {
        /* pos is at a "From " line: the message starts after it. */
        const char *nl = memchr(data + pos, '\n', len - pos);
        gsize start = nl ? (gsize)(nl - data) + 1 : len;
        gsize end = start;
        for (;;) {
            const char *hit =
                g_strstr_len(data + end, (gssize)(len - end), "\nFrom ");
            if (!hit) {
                end = len;
                break;
            }
            gsize at = (gsize)(hit - data);
            if (at >= 1 &&
                (data[at - 1] == '\n' ||
                 (at >= 2 && data[at - 1] == '\r' && data[at - 2] == '\n'))) {
                end = at + 1;
                break;
            }
            end = at + 1;
        }
        if (end > start) {
            crm_message *msg = NULL;
            if (message_parse_bytes(data + start, end - start, &lim, &msg) ==
                CRM_OK)
                add_message(run, msg);
            else
                run->parse_errors++;
        }
        pos = end;
    }
    g_mapped_file_unref(mf);
}

static gint cmp_str(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Regular files directly in dir, sorted. */
static void list_dir(const char *dir, GPtrArray *out)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char *p = g_build_filename(dir, e->d_name, NULL);
        if (g_file_test(p, G_FILE_TEST_IS_REGULAR))
            g_ptr_array_add(names, p);
        else
            g_free(p);
    }
    closedir(d);
    g_ptr_array_sort(names, cmp_str);
    for (guint i = 0; i < names->len; i++)
        g_ptr_array_add(out, g_strdup(g_ptr_array_index(names, i)));
    g_ptr_array_unref(names);
}

static bool is_mbox(const char *path)
{
    FILE *f = fopen(path, "rb");
    char head[5] = {0};
    bool yes = f && fread(head, 1, 5, f) == 5 && memcmp(head, "From ", 5) == 0;
    if (f)
        fclose(f);
    return yes;
}

int cmd_ingest(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"direction", required_argument, NULL, 'd'},
        {NULL, 0, NULL, 0},
    };
    ingest_run run = {.direction = INGEST_DIR_AUTO};
    int ch;
    optind = 0;
    while ((ch = getopt_long(argc, argv, "d:", opts, NULL)) != -1) {
        if (ch == 'd' && strcmp(optarg, "in") == 0)
            run.direction = INGEST_DIR_IN;
        else if (ch == 'd' && strcmp(optarg, "out") == 0)
            run.direction = INGEST_DIR_OUT;
        else
            return cli_usage(ctx);
    }
    if (optind + 1 != argc)
        return cli_usage(ctx);
    const char *path = argv[optind];
    struct stat sb;
    if (stat(path, &sb) != 0) {
        g_autofree char *m = g_strdup_printf("%s: %s", path, g_strerror(errno));
        return cli_fail(CRM_ERR_NOTFOUND, m);
    }
    run.cfg = cli_config(ctx);
    g_mutex_init(&run.lock);
    g_cond_init(&run.room);
    run.progress = isatty(STDERR_FILENO) && !ctx->json;
    run.started = g_get_monotonic_time();
    json_t *rows = NULL;
    char *qerr = NULL;
    if (records_query_json(cli_db(ctx),
                           "SELECT to_jsonb(reltuples) FROM pg_class WHERE "
                           "oid = 'messages'::regclass",
                           0, NULL, &rows, &qerr) == CRM_OK)
        run.analyze_pending = json_number_value(rows) < 50000;
    json_decref(rows);
    g_free(qerr);
    for (guint i = 0; i < INGEST_LANES; i++) {
        ingest_lane *lane = &run.lanes[i];
        lane->run = &run;
        if (i == 0) {
            lane->db = cli_db(ctx);
        } else {
            char *err = NULL;
            lane->db = db_conn_new(run.cfg->dsn);
            if (db_connect(lane->db, 10000, &err))
                return cli_fail_free(CRM_ERR_DB_DOWN, err);
        }
        lane->queue = g_async_queue_new();
        lane->thread = g_thread_new("ingest-store", store_main, lane);
    }

    g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func(g_free);
    if (S_ISDIR(sb.st_mode)) {
        g_autofree char *cur = g_build_filename(path, "cur", NULL);
        g_autofree char *new = g_build_filename(path, "new", NULL);
        if (g_file_test(cur, G_FILE_TEST_IS_DIR) ||
            g_file_test(new, G_FILE_TEST_IS_DIR)) {
            list_dir(cur, files);
            list_dir(new, files);
        } else {
            list_dir(path, files);
        }
        run.total = files->len;
        for (guint i = 0;
             i < files->len && g_atomic_int_get(&run.fatal) == CRM_OK; i++)
            ingest_file(&run, g_ptr_array_index(files, i));
    } else if (is_mbox(path)) {
        ingest_mbox(&run, path);
    } else {
        run.total = 1;
        ingest_file(&run, path);
    }
    for (guint i = 0; i < INGEST_LANES; i++) {
        ingest_lane *lane = &run.lanes[i];
        flush_lane(lane);
        g_async_queue_push(lane->queue, lane); /* the end marker */
        g_thread_join(lane->thread);
        g_async_queue_unref(lane->queue);
        if (i > 0)
            db_conn_free(&lane->db);
    }
    draw_progress(&run, true);
    double secs = (double)(g_get_monotonic_time() - run.started) / 1e6;
    if (run.fatal)
        return cli_fail_free(run.fatal, run.fatal_error);
    double rate = secs > 0 ? run.seen / secs : 0;
    if (ctx->json) {
        cli_print_json(
            json_pack("{s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:f,s:f}", "messages",
                      (int)run.seen, "stored", (int)run.stored, "new",
                      (int)run.fresh, "duplicates", (int)run.dups, "skipped",
                      (int)run.skipped, "errors", (int)run.errors, "unreadable",
                      (int)run.parse_errors, "seconds", secs, "rate", rate));
    } else {
        printf("messages: %u stored: %u (new %u, duplicates %u) skipped: %u "
               "errors: %u unreadable: %u in %.2f s (%.0f msg/s)\n",
               run.seen, run.stored, run.fresh, run.dups, run.skipped,
               run.errors, run.parse_errors, secs, rate);
    }
    return run.errors || run.parse_errors ? EX_DATAERR : 0;
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
