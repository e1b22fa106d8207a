/*
 * ingester.c - the journal's consumer, in a process of its own.
 *
 * Supervisor (in crmgate-milter): starts `crmgate-milter --ingester` with
 * the read end of the notification pipe as its standard input, and starts
 * it again when it dies, with back-off (1 s doubling to 30 s, reset after a
 * minute of good running). The pipe outlives every child, so names written
 * while no child runs are read by the next one.
 *
 * Ingester (the child): reads entry names from the pipe and rescans the
 * journal every milter.replay_interval seconds, stores entries in batches
 * of up to milter.ingest_batch (one transaction each) and deletes what was
 * committed. The database down, slow, frozen or not migrated leaves the
 * entries in place and backs off (doubling up to replay_interval). Before
 * each parse the entry's name is written to .inflight and an alarm is set
 * for milter.parse_timeout: a parser crash or hang kills only this process,
 * and the next ingester blames the named entry (.crashes); after
 * milter.ingest_attempts deaths it is moved to bad/ with the reason.
 * Journal depth and age are logged every minute while entries wait.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "crmgate/log.h"
#include "crmgate/message.h"
#include "milter.h"

extern char **environ;

#define RESTART_MAX_S 30
#define GOOD_RUN_S 60
#define DEPTH_LOG_S 60
#define NAME_MAX_LEN 255
/* How often, under sustained load, the report rollups are folded. */
#define FOLD_S 5

/* --- supervisor (crmgate-milter) ----------------------------------------- */

static struct {
    GMutex lock;
    GCond cond;
    GThread *thread;
    int read_fd;
    pid_t pid;
    bool stopping;
    bool done;
} sup;

static pid_t spawn_child(void)
{
    g_autofree char *exe = g_file_read_link("/proc/self/exe", NULL);
    if (!exe)
        return -1;
    char *argv[] = {exe,  "--ingester",
                    "-c", milter_g.config_path,
                    "-l", (char *)milter_g.log_level_name,
                    NULL};
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, sup.read_fd, 0);
    posix_spawnattr_init(&attr);
    /* The milter blocks its stop signals for libmilter's signal thread;
       the child must not inherit that mask. */
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    /* A process group of its own: a Ctrl-C at the terminal (SIGINT to the
       foreground group) reaches the milter, which then stops the ingester
       after the drain, instead of both at once. */
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr,
                             POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);
    pid_t pid = -1;
    int rc = posix_spawn(&pid, exe, &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
        log_error("ingester: cannot start %s: %s", exe, g_strerror(rc));
        return -1;
    }
    return pid;
}

static char *describe_status(int status)
{
    if (WIFEXITED(status))
        return g_strdup_printf("exit=%d", WEXITSTATUS(status));
    if (WIFSIGNALED(status))
        return g_strdup_printf(
            "signal=%d (%s)%s", WTERMSIG(status), g_strsignal(WTERMSIG(status)),
            WTERMSIG(status) == SIGALRM ? " parse timeout" : "");
    return g_strdup_printf("status=%d", status);
}

static gpointer supervise(gpointer data)
{
    (void)data;
    guint backoff = 1;
    g_mutex_lock(&sup.lock);
    while (!sup.stopping) {
        pid_t pid = spawn_child();
        sup.pid = pid > 0 ? pid : 0;
        gint64 started = g_get_monotonic_time();
        g_mutex_unlock(&sup.lock);
        int status = 0;
        if (pid > 0) {
            log_info("ingester: started pid=%d", (int)pid);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        }
        g_mutex_lock(&sup.lock);
        sup.pid = 0;
        if (sup.stopping)
            break;
        if (g_get_monotonic_time() - started > GOOD_RUN_S * G_USEC_PER_SEC)
            backoff = 1;
        g_autofree char *how = pid > 0 ? describe_status(status) : NULL;
        log_error("ingester: died %s; restarting in %u s", how ? how : "",
                  backoff);
        gint64 until = g_get_monotonic_time() + backoff * G_USEC_PER_SEC;
        while (!sup.stopping && g_cond_wait_until(&sup.cond, &sup.lock, until))
            ;
        backoff = MIN(backoff * 2, RESTART_MAX_S);
    }
    sup.done = true;
    g_cond_broadcast(&sup.cond);
    g_mutex_unlock(&sup.lock);
    return NULL;
}

void milter_ingester_start(void)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        log_fatal(EX_OSERR, "ingester: pipe: %s", g_strerror(errno));
    fcntl(p[1], F_SETFL, O_NONBLOCK);
    fcntl(p[1], F_SETPIPE_SZ, 1 << 20); /* best effort */
    sup.read_fd = p[0];
    milter_notify_fd = p[1];
    g_mutex_init(&sup.lock);
    g_cond_init(&sup.cond);
    sup.thread = g_thread_new("ingester-supervisor", supervise, NULL);
}

void milter_ingester_stop(guint wait_s)
{
    if (!sup.thread)
        return;
    g_mutex_lock(&sup.lock);
    sup.stopping = true;
    if (sup.pid > 0)
        kill(sup.pid, SIGTERM);
    g_cond_broadcast(&sup.cond);
    gint64 until = g_get_monotonic_time() + wait_s * G_USEC_PER_SEC;
    while (!sup.done && g_cond_wait_until(&sup.cond, &sup.lock, until))
        ;
    if (!sup.done && sup.pid > 0) {
        /* Its batch is still in the journal: nothing is lost. */
        log_warn("ingester: pid=%d did not stop in %u s, killing it",
                 (int)sup.pid, wait_s);
        kill(sup.pid, SIGKILL);
    }
    g_mutex_unlock(&sup.lock);
    g_thread_join(sup.thread);
    sup.thread = NULL;
}

/* --- the ingester process ------------------------------------------------ */

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

typedef struct {
    const crm_config *cfg;
    GHashTable *pending; /* name -> NULL, names in order */
    GQueue order;        /* char *, owned by pending's keys */
    GString *partial;    /* an unfinished line from the pipe */
    bool pipe_open;
    int inflight_fd;
    guint parse_timeout_s;
} ingester;

static void add_name(ingester *in, const char *name)
{
    if (!*name || strlen(name) > NAME_MAX_LEN || strchr(name, '/') ||
        !g_str_has_suffix(name, ".msg") ||
        g_hash_table_contains(in->pending, name))
        return;
    char *k = g_strdup(name);
    g_hash_table_add(in->pending, k);
    g_queue_push_tail(&in->order, k);
}

/* Reads what the pipe holds without blocking. */
static void read_pipe(ingester *in)
{
    char buf[65536];
    while (in->pipe_open) {
        ssize_t n = read(0, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return; /* EAGAIN: nothing more for now */
        if (n == 0) {
            in->pipe_open = false; /* the milter is gone */
            return;
        }
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] == '\n') {
                add_name(in, in->partial->str);
                g_string_truncate(in->partial, 0);
            } else if (in->partial->len < NAME_MAX_LEN + 1) {
                g_string_append_c(in->partial, buf[i]);
            }
        }
    }
}

static void rescan(ingester *in)
{
    char *err = NULL;
    GPtrArray *names = spool_list(in->cfg->spool_dir, &err);
    if (!names) {
        log_error("ingester: %s", err);
        g_free(err);
        return;
    }
    for (guint i = 0; i < names->len; i++)
        add_name(in, g_ptr_array_index(names, i));
    g_ptr_array_unref(names);
}

/* Waits at most timeout_ms for the pipe (or a signal). */
static void wait_pipe(ingester *in, int timeout_ms)
{
    if (!in->pipe_open) {
        g_usleep((gulong)timeout_ms * 1000);
        return;
    }
    struct pollfd p = {.fd = 0, .events = POLLIN};
    if (poll(&p, 1, timeout_ms) > 0)
        read_pipe(in);
}

/* The parse hook: name the entry in .inflight and arm the alarm. */
static void on_parse(const char *name, void *data)
{
    ingester *in = data;
    if (name) {
        gsize len = strlen(name);
        if (pwrite(in->inflight_fd, name, len, 0) != (ssize_t)len ||
            ftruncate(in->inflight_fd, (off_t)len) != 0)
            log_warn("ingester: cannot write .inflight: %s", g_strerror(errno));
        alarm(in->parse_timeout_s);
    } else {
        alarm(0);
        if (ftruncate(in->inflight_fd, 0) != 0)
            log_warn("ingester: cannot clear .inflight: %s", g_strerror(errno));
    }
}

/* A previous ingester died while parsing the entry named in .inflight:
   count it in .crashes, and set the entry aside after max deaths. */
static void blame_crash(const crm_config *cfg, int inflight_fd)
{
    char name[NAME_MAX_LEN + 1];
    ssize_t n = pread(inflight_fd, name, sizeof(name) - 1, 0);
    if (n <= 0)
        return;
    name[n] = '\0';
    if (ftruncate(inflight_fd, 0) != 0)
        log_warn("ingester: cannot clear .inflight: %s", g_strerror(errno));
    g_autofree char *path = g_build_filename(cfg->spool_dir, ".crashes", NULL);
    g_autofree char *text = NULL;
    g_file_get_contents(path, &text, NULL, NULL);
    g_autoptr(GString) out = g_string_new(NULL);
    guint count = 1;
    g_auto(GStrv) lines = g_strsplit(text ? text : "", "\n", -1);
    for (guint i = 0; lines[i]; i++) {
        char *sp = strchr(lines[i], ' ');
        if (!sp)
            continue;
        *sp = '\0';
        const char *entry_name = sp + 1;
        g_autofree char *p = g_build_filename(cfg->spool_dir, entry_name, NULL);
        if (strcmp(entry_name, name) == 0)
            count = (guint)g_ascii_strtoull(lines[i], NULL, 10) + 1;
        else if (access(p, F_OK) == 0) /* forget entries that are gone */
            g_string_append_printf(out, "%s %s\n", lines[i], entry_name);
    }
    g_autofree char *p = g_build_filename(cfg->spool_dir, name, NULL);
    if (access(p, F_OK) != 0)
        count = 0;
    if (count >= cfg->ingest_attempts) {
        g_autofree char *why = g_strdup_printf(
            "the ingester died %u times while parsing it (crash or longer "
            "than milter.parse_timeout)",
            count);
        spool_set_aside(cfg->spool_dir, name, why);
    } else if (count > 0) {
        log_warn("ingester: the previous ingester died parsing file=%s "
                 "(%u of %u)",
                 name, count, cfg->ingest_attempts);
        g_string_append_printf(out, "%u %s\n", count, name);
    }
    if (!g_file_set_contents(path, out->str, (gssize)out->len, NULL))
        log_warn("ingester: cannot write %s", path);
}

static void log_depth(const crm_config *cfg)
{
    spool_stats st;
    char *err = NULL;
    if (spool_status(cfg->spool_dir, &st, &err) != CRM_OK) {
        g_free(err);
        return;
    }
    if (st.files == 0 && st.bad == 0)
        return;
    gint64 now = g_get_real_time() / G_USEC_PER_SEC;
    log_info("journal: depth=%u bytes=%" G_GUINT64_FORMAT
             " oldest_age_s=%" G_GINT64_FORMAT " bad=%u",
             st.files, st.bytes, st.oldest ? now - st.oldest : 0, st.bad);
}

/* Folds what the stored captures queued into the report rollups
   (crm_report_rollups_advance, sql/0009): outside the capture transactions,
   so concurrent captures never wait for each other on a shared rollup row.
   A failure only delays the reports; it is logged once until it heals. */
static void fold_rollups(db_conn *db, guint timeout_ms)
{
    static bool failing;
    char *err = NULL;
    crm_result r =
        db_exec(db, timeout_ms, "SELECT crm_report_rollups_advance(50000)", 0,
                NULL, &err);
    if (r && !failing)
        log_warn("ingester: cannot fold the report rollups: %s",
                 err ? err : crm_strerror(r));
    else if (!r && failing)
        log_info("ingester: folding the report rollups again");
    failing = r != CRM_OK;
    g_free(err);
}

/* Takes the lock that makes this the only ingester of the journal; waits
   for a predecessor that is still finishing. */
static int take_lock(const crm_config *cfg)
{
    g_mkdir_with_parents(cfg->spool_dir, 0750);
    g_autofree char *path =
        g_build_filename(cfg->spool_dir, ".ingester.lock", NULL);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        return -1;
    while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (stop_requested) {
            close(fd);
            return -1;
        }
        g_usleep(100000);
    }
    return fd;
}

int milter_ingester_main(void)
{
    const crm_config *cfg = milter_g.cfg;
    struct sigaction sa = {.sa_handler = on_stop};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    prctl(PR_SET_PDEATHSIG, SIGTERM);

    int lock_fd = take_lock(cfg);
    if (lock_fd < 0)
        return stop_requested ? 0 : EX_CANTCREAT;
    g_autofree char *inflight =
        g_build_filename(cfg->spool_dir, ".inflight", NULL);
    ingester in = {
        .cfg = cfg,
        .pending = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL),
        .partial = g_string_new(NULL),
        .pipe_open = fcntl(0, F_SETFL, O_NONBLOCK) == 0,
        .inflight_fd = open(inflight, O_RDWR | O_CREAT | O_CLOEXEC, 0640),
        .parse_timeout_s = cfg->parse_timeout_s,
    };
    g_queue_init(&in.order);
    if (in.inflight_fd < 0)
        log_fatal(EX_CANTCREAT, "ingester: %s: %s", inflight,
                  g_strerror(errno));
    blame_crash(cfg, in.inflight_fd);

    db_conn *db = db_conn_new(cfg->milter_dsn);
    spool_attempts *attempts = spool_attempts_new();
    spool_ingest_opts opts = {
        .max_attempts = cfg->ingest_attempts,
        .attempts = attempts,
        .on_parse = on_parse,
        .hook_data = &in,
        .timeout_ms = MAX(10000, cfg->db_time_budget_ms * 5),
    };
    guint batch_max = cfg->ingest_batch ? cfg->ingest_batch : 64;
    const char **batch = g_new0(const char *, batch_max);
    gint64 interval_us = (gint64)cfg->replay_interval_s * G_USEC_PER_SEC;
    gint64 next_scan = 0, next_depth_log = 0, retry_at = 0, down_since = 0;
    gint64 next_fold = 0;
    guint backoff_ms = 500;
    bool worked = false;
    log_info("ingester: started journal=%s batch=%u", cfg->spool_dir,
             batch_max);

    while (!stop_requested) {
        gint64 now = g_get_monotonic_time();
        read_pipe(&in);
        if (now >= next_scan) {
            spool_remove_stale(cfg->spool_dir);
            rescan(&in);
            next_scan = now + interval_us;
        }
        if (now >= next_depth_log) {
            log_depth(cfg);
            next_depth_log = now + DEPTH_LOG_S * G_USEC_PER_SEC;
        }
        if (g_queue_is_empty(&in.order) || now < retry_at) {
            if (worked && g_queue_is_empty(&in.order)) {
                fold_rollups(db, opts.timeout_ms);
                message_release_memory(); /* give a burst's memory back */
                worked = false;
            }
            if (!in.pipe_open && g_queue_is_empty(&in.order))
                break; /* the milter is gone and the journal is done */
            gint64 until = MIN(next_scan, next_depth_log);
            if (retry_at > now)
                until = MIN(until, retry_at);
            wait_pipe(&in, (int)MAX(1, (until - now) / 1000));
            continue;
        }
        guint n = 0;
        GPtrArray *taken = g_ptr_array_new_with_free_func(g_free);
        while (n < batch_max && !g_queue_is_empty(&in.order)) {
            char *k = g_queue_pop_head(&in.order);
            g_hash_table_steal(in.pending, k);
            g_ptr_array_add(taken, k);
            batch[n++] = k;
        }
        spool_replay_stats st = {0};
        char *err = NULL;
        crm_result r = spool_ingest(cfg, db, batch, n, &opts, &st, &err);
        worked = true;
        if (r) {
            /* Nothing was lost: put the batch back and wait. */
            for (guint i = n; i-- > 0;) {
                if (!g_hash_table_contains(in.pending, batch[i])) {
                    char *k = g_strdup(batch[i]);
                    g_hash_table_add(in.pending, k);
                    g_queue_push_head(&in.order, k);
                }
            }
            if (!down_since) {
                down_since = now;
                log_error("ingester: cannot store: %s; %u entries wait in "
                          "the journal, retrying",
                          err ? err : crm_strerror(r),
                          g_queue_get_length(&in.order));
            } else {
                log_debug("ingester: still cannot store: %s",
                          err ? err : crm_strerror(r));
            }
            retry_at = g_get_monotonic_time() + (gint64)backoff_ms * 1000;
            backoff_ms = (guint)MIN((gint64)backoff_ms * 2, interval_us / 1000);
        } else {
            if (down_since) {
                log_info("ingester: storing again after %.1f s",
                         (double)(now - down_since) / G_USEC_PER_SEC);
                down_since = 0;
            }
            backoff_ms = 500;
            retry_at = 0;
            if (now >= next_fold) {
                fold_rollups(db, opts.timeout_ms);
                next_fold = now + FOLD_S * G_USEC_PER_SEC;
            }
        }
        g_free(err);
        g_ptr_array_unref(taken);
    }
    log_info("ingester: stopped");
    g_free(batch);
    g_hash_table_destroy(attempts);
    db_conn_free(&db);
    g_queue_clear(&in.order);
    g_hash_table_destroy(in.pending);
    g_string_free(in.partial, TRUE);
    close(in.inflight_fd);
    close(lock_fd);
    return 0;
}
