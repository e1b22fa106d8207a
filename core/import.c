/*
 * import.c - the backfill pipeline behind `crmgate ingest` (see import.h).
 *
 * mbox: messages are split at "From " lines that start the file or follow
 * a blank line, and ">From " lines (any number of '>') lose one '>', the
 * mboxrd rule, which also undoes mboxo's quoting of "From ". The message
 * then has the bytes the live capture saw, and so the same digest. The
 * split is our own rather than GMime's mbox mode: that mode builds every
 * message's whole MIME tree before we could bound it (the parser's guard
 * works on bytes), and it leaves ">From " quoted.
 */
#include "crmgate/import.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "crmgate/message.h"
#include "crmgate/records.h"

#define IMPORT_BATCH 200
#define IMPORT_QUEUE_MAX 4 /* batches waiting for the database per lane */
#define IMPORT_LANES 2

typedef struct {
    ingest_plan *plans[IMPORT_BATCH];
    crm_message *msgs[IMPORT_BATCH];
    guint n;
} import_batch;

/* One store thread with its connection and its queue of batches. */
typedef struct {
    import_run *run;
    db_conn *db;
    bool own_db;
    GAsyncQueue *queue; /* import_batch *; the lane itself = end */
    import_batch *cur;
    guint queued;
    GThread *thread;
} import_lane;

struct import_run {
    const crm_config *cfg;
    import_opts opts;
    import_lane lanes[IMPORT_LANES];
    GMutex lock;
    GCond room;
    import_stats st; /* under lock */
    crm_result fatal;
    char *fatal_error;
    bool analyze_pending; /* refresh planner statistics after batch one */
    gint64 started, last_draw;
};

static void batch_free(import_batch *b)
{
    for (guint i = 0; i < b->n; i++) {
        ingest_plan_free(&b->plans[i]);
        message_free(&b->msgs[i]);
    }
    g_free(b);
}

static double elapsed(const import_run *run)
{
    return (double)(g_get_monotonic_time() - run->started) / 1e6;
}

static void progress(import_run *run, bool final)
{
    gint64 now = g_get_monotonic_time();
    if (!run->opts.progress || (!final && now - run->last_draw < 100000))
        return;
    run->last_draw = now;
    g_mutex_lock(&run->lock);
    import_stats st = run->st;
    g_mutex_unlock(&run->lock);
    run->opts.progress(&st, elapsed(run), final, run->opts.data);
}

static void report(import_run *run, const char *what, const char *error)
{
    if (run->opts.on_error)
        run->opts.on_error(what, error, run->opts.data);
}

static gpointer store_main(gpointer data)
{
    import_lane *lane = data;
    import_run *run = lane->run;
    for (;;) {
        import_batch *b = g_async_queue_pop(lane->queue);
        if (b == (gpointer)lane)
            break;
        ingest_result res[IMPORT_BATCH] = {{0}};
        char *errs[IMPORT_BATCH] = {0};
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
                run->st.skipped++;
            } else if (errs[i]) {
                run->st.errors++;
                g_autofree char *what = g_strdup_printf(
                    "message <%s>",
                    b->msgs[i]->message_id ? b->msgs[i]->message_id : "");
                report(run, what, errs[i]);
                g_free(errs[i]);
            } else {
                run->st.stored++;
                if (res[i].is_new)
                    run->st.fresh++;
                else
                    run->st.dups++;
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
                report(run, "analyze", aerr);
            g_free(aerr);
        }
        g_free(err);
        batch_free(b);
    }
    return NULL;
}

static void flush_lane(import_lane *lane)
{
    import_run *run = lane->run;
    if (!lane->cur || lane->cur->n == 0)
        return;
    g_mutex_lock(&run->lock);
    while (lane->queued >= IMPORT_QUEUE_MAX)
        g_cond_wait(&run->room, &run->lock);
    lane->queued++;
    g_mutex_unlock(&run->lock);
    g_async_queue_push(lane->queue, lane->cur);
    lane->cur = NULL;
}

/* The lane of a message: by the id that names its thread. */
static import_lane *lane_of(import_run *run, const crm_message *msg)
{
    const char *key = msg->references && msg->references->len
                          ? g_ptr_array_index(msg->references, 0)
                      : msg->in_reply_to ? msg->in_reply_to
                      : msg->message_id  ? msg->message_id
                                         : msg->digest;
    return &run->lanes[g_str_hash(key) % IMPORT_LANES];
}

/* Adds one parsed message to its lane's batch (takes ownership). */
static void add_message(import_run *run, crm_message *msg)
{
    ingest_envelope env = {.source = "import",
                           .direction = run->opts.direction};
    import_lane *lane = lane_of(run, msg);
    if (!lane->cur)
        lane->cur = g_new0(import_batch, 1);
    import_batch *b = lane->cur;
    b->plans[b->n] = ingest_plan_new(run->cfg, &env, msg);
    b->msgs[b->n] = msg;
    b->n++;
    g_mutex_lock(&run->lock);
    run->st.seen++;
    g_mutex_unlock(&run->lock);
    if (b->n == IMPORT_BATCH)
        flush_lane(lane);
    progress(run, false);
}

static void unreadable(import_run *run, const char *what, const char *why)
{
    g_mutex_lock(&run->lock);
    run->st.unreadable++;
    g_mutex_unlock(&run->lock);
    report(run, what, why);
}

static void import_file(import_run *run, const char *path)
{
    message_limits lim;
    ingest_message_limits(run->cfg, &lim);
    crm_message *msg = NULL;
    crm_result r = message_parse_file(path, &lim, &msg);
    if (r)
        unreadable(run, path, crm_strerror(r));
    else
        add_message(run, msg);
}

/* True when the line at p (of n bytes, without its end) is ">+From ". */
static bool quoted_from(const char *p, gsize n)
{
    gsize i = 0;
    while (i < n && p[i] == '>')
        i++;
    return i > 0 && n - i >= 5 && memcmp(p + i, "From ", 5) == 0;
}

/* True when the line at p is a "From " separator line. */
static bool from_line(const char *p, gsize n)
{
    return n >= 5 && memcmp(p, "From ", 5) == 0;
}

guint import_mbox_split(const char *data, gsize len, import_mbox_fn fn,
                        void *fn_data)
{
    GString *msg = g_string_new(NULL);
    guint count = 0;
    bool in_msg = false, prev_blank = true;
    gsize pos = 0;
    while (pos < len) {
        const char *nl = memchr(data + pos, '\n', len - pos);
        gsize end = nl ? (gsize)(nl - data) + 1 : len; /* after the LF */
        gsize n = end - pos;
        gsize content = n; /* without CR LF */
        if (content && data[pos + content - 1] == '\n')
            content--;
        if (content && data[pos + content - 1] == '\r')
            content--;
        if (prev_blank && from_line(data + pos, content)) {
            if (in_msg) {
                /* The blank line before the separator belongs to the
                   mbox, not to the message. */
                gsize keep = msg->len;
                if (keep && msg->str[keep - 1] == '\n')
                    keep--;
                if (keep && msg->str[keep - 1] == '\r')
                    keep--;
                if (keep > 0)
                    fn(msg->str, keep, fn_data), count++;
            }
            g_string_truncate(msg, 0);
            in_msg = true;
        } else if (in_msg) {
            if (quoted_from(data + pos, content))
                g_string_append_len(msg, data + pos + 1, (gssize)(n - 1));
            else
                g_string_append_len(msg, data + pos, (gssize)n);
        }
        prev_blank = content == 0;
        pos = end;
    }
    if (in_msg) {
        /* The mbox's blank line after the last message is not part of it. */
        gsize keep = msg->len;
        if (g_str_has_suffix(msg->str, "\r\n\r\n"))
            keep -= 2;
        else if (g_str_has_suffix(msg->str, "\n\n"))
            keep -= 1;
        if (keep > 0) {
            fn(msg->str, keep, fn_data);
            count++;
        }
    }
    g_string_free(msg, TRUE);
    return count;
}

typedef struct {
    import_run *run;
    message_limits lim;
    const char *path;
    guint n;
} mbox_ctx;

static void mbox_message(const char *bytes, gsize len, void *data)
{
    mbox_ctx *c = data;
    c->n++;
    crm_message *msg = NULL;
    if (g_atomic_int_get(&c->run->fatal) != CRM_OK)
        return;
    if (message_parse_bytes(bytes, len, &c->lim, &msg) == CRM_OK) {
        add_message(c->run, msg);
    } else {
        g_autofree char *what =
            g_strdup_printf("%s: message %u", c->path, c->n);
        unreadable(c->run, what, "cannot be parsed");
    }
}

static crm_result import_mbox(import_run *run, const char *path, char **error_r)
{
    g_autoptr(GError) gerr = NULL;
    GMappedFile *mf = g_mapped_file_new(path, FALSE, &gerr);
    if (!mf) {
        *error_r = g_strdup(gerr->message);
        return CRM_ERR_IO;
    }
    mbox_ctx c = {.run = run, .path = path};
    ingest_message_limits(run->cfg, &c.lim);
    import_mbox_split(g_mapped_file_get_contents(mf),
                      g_mapped_file_get_length(mf), mbox_message, &c);
    g_mapped_file_unref(mf);
    return CRM_OK;
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

crm_result import_run_new(const crm_config *cfg, db_conn *db,
                          const import_opts *opts, import_run **run_r,
                          char **error_r)
{
    *run_r = NULL;
    import_run *run = g_new0(import_run, 1);
    run->cfg = cfg;
    if (opts)
        run->opts = *opts;
    g_mutex_init(&run->lock);
    g_cond_init(&run->room);
    run->started = g_get_monotonic_time();
    json_t *rows = NULL;
    char *qerr = NULL;
    if (records_query_json(db,
                           "SELECT to_jsonb(reltuples) FROM pg_class WHERE "
                           "oid = 'messages'::regclass",
                           0, NULL, &rows, &qerr) == CRM_OK)
        run->analyze_pending = json_number_value(rows) < 50000;
    json_decref(rows);
    g_free(qerr);
    for (guint i = 0; i < IMPORT_LANES; i++) {
        import_lane *lane = &run->lanes[i];
        lane->run = run;
        if (i == 0) {
            lane->db = db;
        } else {
            lane->db = db_conn_new(cfg->dsn);
            lane->own_db = true;
            crm_result r = db_connect(lane->db, 10000, error_r);
            if (r) {
                run->fatal = r;
                import_finish(&run, NULL, NULL, NULL);
                return r;
            }
        }
        lane->queue = g_async_queue_new();
        lane->thread = g_thread_new("import-store", store_main, lane);
    }
    *run_r = run;
    return CRM_OK;
}

crm_result import_path(import_run *run, const char *path, char **error_r)
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        *error_r = g_strdup_printf("%s: %s", path, g_strerror(errno));
        return CRM_ERR_NOTFOUND;
    }
    if (!S_ISDIR(sb.st_mode)) {
        if (is_mbox(path))
            return import_mbox(run, path, error_r);
        run->st.total = 1;
        import_file(run, path);
        return CRM_OK;
    }
    g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func(g_free);
    g_autofree char *cur = g_build_filename(path, "cur", NULL);
    g_autofree char *new = g_build_filename(path, "new", NULL);
    if (g_file_test(cur, G_FILE_TEST_IS_DIR) ||
        g_file_test(new, G_FILE_TEST_IS_DIR)) {
        list_dir(cur, files);
        list_dir(new, files);
    } else {
        list_dir(path, files);
    }
    run->st.total = files->len;
    for (guint i = 0; i < files->len && g_atomic_int_get(&run->fatal) == CRM_OK;
         i++)
        import_file(run, g_ptr_array_index(files, i));
    return CRM_OK;
}

crm_result import_finish(import_run **runp, import_stats *stats_r,
                         double *seconds_r, char **error_r)
{
    import_run *run = *runp;
    for (guint i = 0; i < IMPORT_LANES; i++) {
        import_lane *lane = &run->lanes[i];
        if (lane->thread) {
            flush_lane(lane);
            g_async_queue_push(lane->queue, lane); /* the end marker */
            g_thread_join(lane->thread);
        }
    }
    /* What the captures queued for the report rollups is folded now, in
       the import's time (sql/0009); a failure only delays the reports. */
    if (run->lanes[0].db && !run->fatal) {
        crm_result fr = CRM_OK;
        PGresult *res = NULL;
        char *ferr = NULL;
        while (!fr) {
            fr = db_query(run->lanes[0].db, 0,
                          "SELECT crm_report_rollups_advance(50000)", 0, NULL,
                          NULL, NULL, &res, &ferr);
            bool more = !fr && PQntuples(res) == 1 &&
                        strcmp(PQgetvalue(res, 0, 0), "0") != 0;
            PQclear(res);
            res = NULL;
            if (!more)
                break;
        }
        if (fr)
            log_warn("import: report rollups not folded: %s",
                     ferr ? ferr : crm_strerror(fr));
        g_free(ferr);
    }
    for (guint i = 0; i < IMPORT_LANES; i++) {
        import_lane *lane = &run->lanes[i];
        if (lane->cur)
            batch_free(lane->cur);
        if (lane->queue)
            g_async_queue_unref(lane->queue);
        if (lane->own_db)
            db_conn_free(&lane->db);
    }
    progress(run, true);
    if (stats_r)
        *stats_r = run->st;
    if (seconds_r)
        *seconds_r = elapsed(run);
    crm_result r = run->fatal;
    if (r && error_r)
        *error_r = run->fatal_error;
    else
        g_free(run->fatal_error);
    g_mutex_clear(&run->lock);
    g_cond_clear(&run->room);
    g_free(run);
    *runp = NULL;
    return r;
}
