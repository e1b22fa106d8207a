/*
 * pool.c - crmgate-worker's threads: worker.threads job threads, each with
 * its own connection (database.worker_dsn, pgbouncer allowed), claiming
 * worker.batch jobs at a time; one LISTEN thread (database.worker_listen_dsn,
 * direct to PostgreSQL; "off" = none) that wakes idle job threads on NOTIFY
 * crmgate_jobs; one heartbeat thread renewing the leases of every job this
 * process holds every worker.heartbeat seconds; and this thread, which
 * waits for SIGTERM/SIGINT, makes jobs_done's partitions daily and checks
 * every minute that each periodic job (handlers.c) is queued.
 *
 * Without NOTIFY (no LISTEN connection, or it is down) idle threads poll
 * every worker.poll_interval_ms. On SIGTERM no new batch is claimed, the
 * job running finishes (its handler sees stopping() true), the rest of the
 * batch is released (snooze 0), done jobs are acked, and the process exits
 * 0; past worker.drain_timeout it exits 0 anyway and the leases of what
 * still runs expire (another worker reruns those jobs). A database that
 * does not answer costs each statement its deadline; threads then pause a
 * second and try again: nothing here crashes or exits for it.
 * Limits: ids are kept as pointers in the held set (64-bit only).
 */
#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "crmgate/log.h"
#include "worker.h"

G_STATIC_ASSERT(sizeof(gpointer) >= sizeof(gint64));

#define ERROR_PAUSE_MS 1000         /* after a failed claim */
#define LISTEN_RETRY_S 5            /* between LISTEN connection attempts */
#define ACK_FLUSH_US G_USEC_PER_SEC /* ack done jobs of a slow batch */
#define DAILY_S 86400
#define RETRY_S 60 /* failed partitions; periodic jobs checked */

static struct {
    const crm_config *cfg;
    GMutex lock;
    GCond wake;       /* idle job threads wait here */
    GCond done;       /* signalled when a job thread ends */
    guint64 wake_seq; /* bumped by each NOTIFY (under lock) */
    GHashTable *held; /* job ids leased by this process (under lock) */
    guint live;       /* job threads still running (under lock) */
    gint stop;        /* atomic: drain */
    gint aux_stop;    /* atomic: the LISTEN and heartbeat threads end */
    char *prefix;     /* "host:pid:", every lease owner starts with it */
} P;

static bool pool_stopping(void)
{
    return g_atomic_int_get(&P.stop) != 0;
}

static void wake_all(void)
{
    g_mutex_lock(&P.lock);
    P.wake_seq++;
    g_cond_broadcast(&P.wake);
    g_mutex_unlock(&P.lock);
}

static guint64 wake_seq(void)
{
    g_mutex_lock(&P.lock);
    guint64 s = P.wake_seq;
    g_mutex_unlock(&P.lock);
    return s;
}

/* Waits up to ms, or until a NOTIFY came after seen (wake_seq) or the
   drain began. */
static void idle_wait(guint64 seen, guint ms)
{
    gint64 end = g_get_monotonic_time() + (gint64)ms * 1000;
    g_mutex_lock(&P.lock);
    while (!pool_stopping() && P.wake_seq == seen)
        if (!g_cond_wait_until(&P.wake, &P.lock, end))
            break;
    g_mutex_unlock(&P.lock);
}

/* Sleeps up to ms in short steps, ending early when *flag is set. */
static void nap(const gint *flag, guint ms)
{
    for (guint t = 0; t < ms && !g_atomic_int_get(flag); t += 100)
        g_usleep(100 * 1000);
}

static void held_add(const jobs_batch *b)
{
    g_mutex_lock(&P.lock);
    for (guint i = 0; i < b->n; i++)
        g_hash_table_add(P.held, GSIZE_TO_POINTER((gsize)b->jobs[i].id));
    g_mutex_unlock(&P.lock);
}

static void held_remove(const jobs_batch *b)
{
    g_mutex_lock(&P.lock);
    for (guint i = 0; i < b->n; i++)
        g_hash_table_remove(P.held, GSIZE_TO_POINTER((gsize)b->jobs[i].id));
    g_mutex_unlock(&P.lock);
}

/* Acks ids, retrying while the database is unreachable for up to half a
   lease (then the lease runs out and the jobs run again elsewhere). */
static void ack(db_conn *db, const char *owner, const gint64 *ids, guint n)
{
    if (n == 0)
        return;
    gint64 give_up = g_get_monotonic_time() +
                     (gint64)P.cfg->worker_lease_s * G_USEC_PER_SEC / 2;
    for (;;) {
        char *err = NULL;
        guint acked = 0;
        crm_result r = jobs_ack(db, owner, ids, n, &acked, &err);
        if (r == CRM_OK) {
            if (acked != n)
                log_warn("worker=%s ack jobs=%u acked=%u (the others' "
                         "leases were lost)",
                         owner, n, acked);
            return;
        }
        log_warn("worker=%s ack failed jobs=%u error=\"%s\"", owner, n, err);
        g_free(err);
        if (r != CRM_ERR_DB_DOWN || g_get_monotonic_time() > give_up)
            return;
        g_usleep(ERROR_PAUSE_MS * 1000);
    }
}

static void release(db_conn *db, const char *owner, const gint64 *ids, guint n)
{
    char *err = NULL;
    guint moved = 0;
    if (n && jobs_snooze(db, owner, ids, n, 0, &moved, &err)) {
        log_warn("worker=%s release failed jobs=%u error=\"%s\"", owner, n,
                 err);
        g_free(err);
    } else if (n) {
        log_info("worker=%s released jobs=%u", owner, moved);
    }
}

/* Records a RETRY or DISCARD outcome. */
static void fail_job(db_conn *db, const char *owner, const jobs_job *j,
                     const char *error, bool discard)
{
    char *err = NULL;
    bool discarded = false;
    g_autofree char *quoted = g_strescape(error ? error : "failed", NULL);
    if (jobs_fail(db, P.cfg, owner, j, error, discard, &discarded, &err)) {
        log_warn("job=%" G_GINT64_FORMAT " kind=%s fail not recorded "
                 "error=\"%s\"",
                 j->id, j->kind, err);
        g_free(err);
        return;
    }
    log_warn("job=%" G_GINT64_FORMAT " kind=%s attempt=%d/%d outcome=%s "
             "error=\"%s\"",
             j->id, j->kind, j->attempts, j->max_attempts,
             discarded ? "discarded" : "retry", quoted);
}

static void run_batch(db_conn *db, const char *owner, const jobs_batch *b)
{
    gint64 *done = g_new(gint64, b->n);
    guint nd = 0, i;
    gint64 last_ack = g_get_monotonic_time();
    for (i = 0; i < b->n && !pool_stopping(); i++) {
        const jobs_job *j = &b->jobs[i];
        jobs_handler fn = worker_handler_find(j->kind);
        char *error = NULL;
        guint snooze_s = 0;
        jobs_outcome o = JOBS_DISCARD;
        gint64 t0 = g_get_monotonic_time();
        if (fn) {
            jobs_ctx ctx = {.cfg = P.cfg,
                            .db = db,
                            .job = j,
                            .worker_id = owner,
                            .stopping = pool_stopping};
            o = fn(&ctx, &error, &snooze_s);
        } else {
            error = g_strdup("unknown job kind");
        }
        gint64 now = g_get_monotonic_time();
        switch (o) {
        case JOBS_DONE:
            done[nd++] = j->id;
            if (log_enabled(LOG_LEVEL_DEBUG))
                log_debug("job=%" G_GINT64_FORMAT " kind=%s attempt=%d "
                          "outcome=done ms=%" G_GINT64_FORMAT,
                          j->id, j->kind, j->attempts, (now - t0) / 1000);
            break;
        case JOBS_RETRY:
        case JOBS_DISCARD:
            fail_job(db, owner, j, error, o == JOBS_DISCARD);
            break;
        case JOBS_SNOOZE: {
            char *err = NULL;
            if (jobs_snooze(db, owner, &j->id, 1, snooze_s, NULL, &err)) {
                log_warn("job=%" G_GINT64_FORMAT " kind=%s snooze failed "
                         "error=\"%s\"",
                         j->id, j->kind, err);
                g_free(err);
            }
            break;
        }
        }
        g_free(error);
        /* a slow batch: what is done leaves the queue now, not at the end */
        if (nd && now - last_ack > ACK_FLUSH_US) {
            ack(db, owner, done, nd);
            nd = 0;
            last_ack = now;
        }
    }
    ack(db, owner, done, nd);
    g_free(done);
    if (i < b->n) {
        gint64 *rest = g_new(gint64, b->n - i);
        for (guint k = i; k < b->n; k++)
            rest[k - i] = b->jobs[k].id;
        release(db, owner, rest, b->n - i);
        g_free(rest);
    }
}

static gpointer job_thread(gpointer data)
{
    const crm_config *cfg = P.cfg;
    g_autofree char *owner =
        g_strdup_printf("%st%u", P.prefix, GPOINTER_TO_UINT(data));
    db_conn *db = db_conn_new(cfg->worker_dsn);
    bool was_down = false;
    while (!pool_stopping()) {
        guint64 seen = wake_seq();
        jobs_batch b = {0};
        char *err = NULL;
        crm_result r =
            jobs_claim(db, owner, cfg->worker_batch, cfg->worker_lease_s,
                       cfg->worker_max_attempts, &b, &err);
        if (r) {
            if (!was_down)
                log_warn("worker=%s claim failed error=\"%s\"", owner, err);
            was_down = true;
            g_free(err);
            nap(&P.stop, ERROR_PAUSE_MS);
            continue;
        }
        if (was_down)
            log_info("worker=%s database answers again", owner);
        was_down = false;
        if (b.n == 0) {
            jobs_batch_clear(&b);
            idle_wait(seen, cfg->worker_poll_interval_ms);
            continue;
        }
        held_add(&b);
        run_batch(db, owner, &b);
        held_remove(&b);
        jobs_batch_clear(&b);
    }
    db_conn_free(&db);
    g_mutex_lock(&P.lock);
    P.live--;
    g_cond_broadcast(&P.done);
    g_mutex_unlock(&P.lock);
    return NULL;
}

/* A LISTEN connection, or NULL (logged once per outage by the caller). */
static PGconn *listen_connect(const char *dsn, char **error_r)
{
    const char *keys[] = {"dbname", "connect_timeout", NULL};
    const char *vals[] = {dsn, "5", NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(c) != CONNECTION_OK) {
        *error_r = g_strchomp(g_strdup(PQerrorMessage(c)));
        PQfinish(c);
        return NULL;
    }
    PGresult *res =
        PQexecParams(c, "LISTEN crmgate_jobs", 0, NULL, NULL, NULL, NULL, 0);
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    if (!ok) {
        *error_r = g_strchomp(g_strdup(PQerrorMessage(c)));
        PQfinish(c);
        return NULL;
    }
    return c;
}

static gpointer listen_thread(gpointer data)
{
    (void)data;
    PGconn *c = NULL;
    bool reported = false;
    while (!g_atomic_int_get(&P.aux_stop)) {
        if (!c) {
            char *err = NULL;
            c = listen_connect(P.cfg->worker_listen_dsn, &err);
            if (!c) {
                if (!reported)
                    log_warn("listen=down error=\"%s\" (polling every %u ms)",
                             err, P.cfg->worker_poll_interval_ms);
                reported = true;
                g_free(err);
                nap(&P.aux_stop, LISTEN_RETRY_S * 1000);
                continue;
            }
            log_info("listen=up channel=crmgate_jobs");
            reported = false;
            wake_all(); /* what came while nobody listened */
        }
        struct pollfd pfd = {.fd = PQsocket(c), .events = POLLIN};
        int rc = poll(&pfd, 1, 200);
        if (rc < 0 && errno != EINTR) {
            log_warn("listen=down error=\"poll: %s\"", g_strerror(errno));
            PQfinish(c);
            c = NULL;
            continue;
        }
        if (rc <= 0)
            continue;
        if (!PQconsumeInput(c)) {
            log_warn("listen=down error=\"connection lost\"");
            PQfinish(c);
            c = NULL;
            continue;
        }
        bool any = false;
        PGnotify *n;
        while ((n = PQnotifies(c)) != NULL) {
            any = true;
            PQfreemem(n);
        }
        if (any)
            wake_all();
    }
    if (c)
        PQfinish(c);
    return NULL;
}

static gpointer heartbeat_thread(gpointer data)
{
    (void)data;
    db_conn *db = db_conn_new(P.cfg->worker_dsn);
    while (!g_atomic_int_get(&P.aux_stop)) {
        nap(&P.aux_stop, P.cfg->worker_heartbeat_s * 1000);
        if (g_atomic_int_get(&P.aux_stop))
            break;
        g_mutex_lock(&P.lock);
        guint n = g_hash_table_size(P.held);
        gint64 *ids = g_new(gint64, n ? n : 1);
        GHashTableIter it;
        gpointer key;
        guint k = 0;
        g_hash_table_iter_init(&it, P.held);
        while (g_hash_table_iter_next(&it, &key, NULL))
            ids[k++] = (gint64)GPOINTER_TO_SIZE(key);
        g_mutex_unlock(&P.lock);
        char *err = NULL;
        guint renewed = 0;
        if (jobs_heartbeat(db, P.prefix, ids, n, P.cfg->worker_lease_s,
                           &renewed, &err)) {
            log_warn("heartbeat failed jobs=%u error=\"%s\"", n, err);
            g_free(err);
        } else if (n) {
            log_debug("heartbeat jobs=%u renewed=%u", n, renewed);
        }
        g_free(ids);
    }
    db_conn_free(&db);
    return NULL;
}

/* Makes the coming months' partitions of jobs_done; true when it worked. */
static bool partitions(db_conn *db)
{
    char *err = NULL;
    guint made = 0;
    if (jobs_partitions(db, &made, &err)) {
        log_warn("partitions failed error=\"%s\"", err);
        g_free(err);
        return false;
    }
    if (made)
        log_info("partitions made=%u", made);
    return true;
}

/* Makes sure each periodic job is queued (its unique key makes this a
   no-op while it is): one discarded or finished by mistake comes back. */
static void periodic(db_conn *db)
{
    for (const worker_periodic *p = worker_periodics; p->kind; p++) {
        g_autofree char *key = g_strdup_printf("periodic:%s", p->kind);
        gint64 id = 0;
        char *err = NULL;
        if (jobs_enqueue(db, p->kind, NULL, NULL, key, &id, &err)) {
            log_warn("periodic kind=%s enqueue failed error=\"%s\"", p->kind,
                     err);
            g_free(err);
            return;
        }
        log_debug("periodic kind=%s job=%" G_GINT64_FORMAT, p->kind, id);
    }
}

int worker_pool_run(const crm_config *cfg)
{
    const crm_config *c = cfg;
    P.cfg = c;
    g_mutex_init(&P.lock);
    g_cond_init(&P.wake);
    g_cond_init(&P.done);
    P.held = g_hash_table_new(g_direct_hash, g_direct_equal);
    P.prefix = g_strdup_printf("%s:%d:", g_get_host_name(), (int)getpid());

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    /* every thread made from here on inherits the mask: only sigtimedwait
       below takes these signals */
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
        log_fatal(EX_OSERR, "pthread_sigmask failed");

    GThread **threads = g_new0(GThread *, c->worker_threads);
    P.live = c->worker_threads;
    for (guint i = 0; i < c->worker_threads; i++)
        threads[i] = g_thread_new("job", job_thread, GUINT_TO_POINTER(i));
    GThread *hb = g_thread_new("heartbeat", heartbeat_thread, NULL);
    bool listening = strcmp(c->worker_listen_dsn, "off") != 0;
    GThread *ln =
        listening ? g_thread_new("listen", listen_thread, NULL) : NULL;
    log_info("started owner=%s threads=%u batch=%u lease=%u poll_ms=%u "
             "listen=%s",
             P.prefix, c->worker_threads, c->worker_batch, c->worker_lease_s,
             c->worker_poll_interval_ms, listening ? "on" : "off");

    /* this thread's chores, after the start line: a database that does
       not answer must not hold the start up */
    db_conn *db = db_conn_new(c->worker_dsn);
    gint64 next_parts = 0, next_periodic = 0;
    int sig = 0;
    while (sig == 0) {
        gint64 now = g_get_monotonic_time();
        if (now >= next_parts)
            next_parts = now + (gint64)(partitions(db) ? DAILY_S : RETRY_S) *
                                   G_USEC_PER_SEC;
        if (now >= next_periodic) {
            periodic(db);
            next_periodic = now + (gint64)RETRY_S * G_USEC_PER_SEC;
        }
        struct timespec ts = {.tv_sec = 1, .tv_nsec = 0};
        siginfo_t info;
        int s = sigtimedwait(&set, &info, &ts);
        if (s > 0)
            sig = s;
    }
    db_conn_free(&db);

    log_info("draining signal=%s timeout_s=%u", sig == SIGTERM ? "TERM" : "INT",
             c->worker_drain_timeout_s);
    g_atomic_int_set(&P.stop, 1);
    wake_all();
    gint64 deadline = g_get_monotonic_time() +
                      (gint64)c->worker_drain_timeout_s * G_USEC_PER_SEC;
    g_mutex_lock(&P.lock);
    while (P.live > 0)
        if (!g_cond_wait_until(&P.done, &P.lock, deadline))
            break;
    guint left = P.live;
    g_mutex_unlock(&P.lock);
    if (left > 0) {
        /* their leases expire; another worker reruns those jobs */
        log_warn("drain timeout threads_running=%u jobs_held=%u", left,
                 g_hash_table_size(P.held));
        log_info("stopped");
        /* the threads still use the configuration: no clean-up, no exit
           handlers that could pull it away under them */
        fflush(stderr);
        _exit(0);
    }
    for (guint i = 0; i < c->worker_threads; i++)
        g_thread_join(threads[i]);
    g_atomic_int_set(&P.aux_stop, 1);
    g_thread_join(hb);
    if (ln)
        g_thread_join(ln);
    g_free(threads);
    g_hash_table_destroy(P.held);
    g_free(P.prefix);
    log_info("stopped");
    return 0;
}
