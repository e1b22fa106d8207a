/*
 * test_smtp_send.c - core/smtp_send.c against real SMTP servers on
 * loopback: Postfix's smtp-sink (started here on a free port, with the
 * reject options that make it answer 4xx, 5xx or 421), a scripted SMTP
 * server in a thread (queue ids, huge and invalid UTF-8 replies), a port
 * nobody listens on and a listener that never answers. Checks the bytes
 * the sink received, the connection count, the classification of every
 * outcome and the bounds on reply text.
 */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crmgate/smtp_send.h"

#define SINK "/usr/sbin/smtp-sink"

/* --- helpers ------------------------------------------------------------ */

static int listen_any(unsigned *port_r, int backlog)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    g_assert_cmpint(fd, >=, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    g_assert_cmpint(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
    g_assert_cmpint(listen(fd, backlog), ==, 0);
    socklen_t len = sizeof(sa);
    g_assert_cmpint(getsockname(fd, (struct sockaddr *)&sa, &len), ==, 0);
    *port_r = ntohs(sa.sin_port);
    return fd;
}

static unsigned free_port(void)
{
    unsigned port;
    int fd = listen_any(&port, 1);
    close(fd);
    return port;
}

static bool can_connect(unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

/* Sinks alive, killed by the SIGABRT handler when an assertion fails: a
   leaked sink would outlive the test (and hold its output open). */
#define MAX_SINKS 8
static volatile pid_t live_sinks[MAX_SINKS];

static void kill_sinks_on_abort(int sig)
{
    for (int i = 0; i < MAX_SINKS; i++) {
        if (live_sinks[i] > 0)
            kill(live_sinks[i], SIGKILL);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static void sink_register(pid_t pid, pid_t old)
{
    for (int i = 0; i < MAX_SINKS; i++) {
        if (live_sinks[i] == old) {
            live_sinks[i] = pid;
            return;
        }
    }
    g_assert_not_reached();
}

typedef struct {
    pid_t pid;
    unsigned port;
    char *dir; /* dump directory, or NULL */
    char *url;
} sink;

/* Starts smtp-sink on a free loopback port with extra options (NULL
   terminated); dump files in a fresh directory when dump is true. */
static void sink_start(sink *s, bool dump, const char *const *extra)
{
    memset(s, 0, sizeof(*s));
    g_assert_true(g_file_test(SINK, G_FILE_TEST_IS_EXECUTABLE));
    s->port = free_port();
    GPtrArray *argv = g_ptr_array_new_with_free_func(g_free);
    g_ptr_array_add(argv, g_strdup(SINK));
    if (geteuid() == 0) {
        g_ptr_array_add(argv, g_strdup("-u"));
        g_ptr_array_add(argv, g_strdup("nobody"));
    }
    if (dump) {
        s->dir = g_dir_make_tmp("smtp-send-XXXXXX", NULL);
        g_assert_nonnull(s->dir);
        g_assert_cmpint(g_chmod(s->dir, 0777), ==, 0);
        g_ptr_array_add(argv, g_strdup("-d"));
        g_ptr_array_add(argv, g_strdup_printf("%s/%%H%%M%%S.", s->dir));
    }
    for (gsize i = 0; extra != NULL && extra[i] != NULL; i++)
        g_ptr_array_add(argv, g_strdup(extra[i]));
    g_ptr_array_add(argv, g_strdup_printf("127.0.0.1:%u", s->port));
    g_ptr_array_add(argv, g_strdup("64"));
    g_ptr_array_add(argv, NULL);
    s->pid = fork();
    g_assert_cmpint(s->pid, >=, 0);
    if (s->pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        execv(SINK, (char **)argv->pdata);
        _exit(127);
    }
    sink_register(s->pid, 0);
    g_ptr_array_free(argv, TRUE);
    for (int i = 0; i < 200 && !can_connect(s->port); i++)
        g_usleep(25000);
    g_assert_true(can_connect(s->port));
    s->url = g_strdup_printf("smtp://127.0.0.1:%u", s->port);
}

static void rm_tree(const char *dir)
{
    GDir *d = g_dir_open(dir, 0, NULL);
    if (d == NULL)
        return;
    const char *n;
    while ((n = g_dir_read_name(d)) != NULL) {
        g_autofree char *p = g_build_filename(dir, n, NULL);
        g_unlink(p);
    }
    g_dir_close(d);
    g_rmdir(dir);
}

static void sink_stop(sink *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        waitpid(s->pid, NULL, 0);
        sink_register(0, s->pid);
    }
    if (s->dir != NULL)
        rm_tree(s->dir);
    g_free(s->dir);
    g_free(s->url);
    memset(s, 0, sizeof(*s));
}

/* The dump files of the sink, once their number stops growing (at most
   5 s), as full paths. */
static GPtrArray *sink_dumps(const sink *s, guint want)
{
    GPtrArray *files = NULL;
    for (int i = 0; i < 100; i++) {
        if (files != NULL)
            g_ptr_array_free(files, TRUE);
        files = g_ptr_array_new_with_free_func(g_free);
        GDir *d = g_dir_open(s->dir, 0, NULL);
        g_assert_nonnull(d);
        const char *n;
        while ((n = g_dir_read_name(d)) != NULL)
            g_ptr_array_add(files, g_build_filename(s->dir, n, NULL));
        g_dir_close(d);
        if (files->len >= want)
            break;
        g_usleep(50000);
    }
    return files;
}

/* What the sink writes for a message: its lines with LF endings, then one
   empty line. */
static char *as_dumped(const char *crlf)
{
    GString *g = g_string_new(NULL);
    for (const char *p = crlf; *p != '\0'; p++) {
        if (p[0] == '\r' && p[1] == '\n')
            continue;
        g_string_append_c(g, *p);
    }
    g_string_append_c(g, '\n');
    return g_string_free(g, FALSE);
}

static char *test_message(guint seq)
{
    return g_strdup_printf("From: Sender <sender@crm.test>\r\n"
                           "To: rcpt%u@example.test\r\n"
                           "Subject: test %u\r\n"
                           "X-Seq: %u\r\n"
                           "\r\n"
                           "Hello %u,\r\n"
                           ".a line that starts with a dot\r\n"
                           "..two dots\r\n"
                           ".\r\n"
                           "end\r\n",
                           seq, seq, seq, seq);
}

static smtp_route_opts opts_for(const char *url, guint conns, guint timeout)
{
    smtp_route_opts o = {.url = url,
                         .connections = conns,
                         .timeout_s = timeout,
                         .helo_name = "crmgate.test"};
    return o;
}

/* Drives the route until every transfer completed (at most bound_s). */
static void drain(smtp_route *r, int bound_s)
{
    gint64 end = g_get_monotonic_time() + (gint64)bound_s * G_USEC_PER_SEC;
    while (smtp_route_in_flight(r) > 0 && g_get_monotonic_time() < end)
        smtp_route_run(r, 200);
    g_assert_cmpuint(smtp_route_in_flight(r), ==, 0);
}

/* Sends one message to one recipient through a new route. */
static void send_route(const char *url, const char *rcpt, GBytes *msg,
                       guint timeout_s, smtp_result *res)
{
    smtp_route_opts o = opts_for(url, 1, timeout_s);
    smtp_route *r = smtp_route_new(&o);
    g_assert_nonnull(r);
    g_assert_true(smtp_route_submit(r, "bounce+t@crm.test", rcpt, msg,
                                    GINT_TO_POINTER(7)));
    drain(r, (int)timeout_s + 10);
    gpointer ud = NULL;
    g_assert_true(smtp_route_next_done(r, &ud, res));
    g_assert_cmpint(GPOINTER_TO_INT(ud), ==, 7);
    g_assert_false(smtp_route_next_done(r, &ud, &(smtp_result){0}));
    smtp_route_free(&r);
    g_assert_null(r);
}

static GBytes *small_message(void)
{
    char *m = test_message(1);
    return g_bytes_new_take(m, strlen(m));
}

static void assert_reply_bounded(const smtp_result *res)
{
    g_assert_nonnull(res->reply);
    g_assert_cmpuint(strlen(res->reply), <=, SMTP_REPLY_MAX);
    g_assert_true(g_utf8_validate(res->reply, -1, NULL));
    for (const char *p = res->reply; *p != '\0'; p++)
        g_assert_cmpint((unsigned char)*p, >=, 0x20);
}

/* --- pure functions ----------------------------------------------------- */

static void test_classify(void)
{
    g_assert_cmpint(smtp_classify(250), ==, SMTP_SENT);
    g_assert_cmpint(smtp_classify(251), ==, SMTP_SENT);
    g_assert_cmpint(smtp_classify(421), ==, SMTP_THROTTLE);
    g_assert_cmpint(smtp_classify(450), ==, SMTP_THROTTLE);
    g_assert_cmpint(smtp_classify(451), ==, SMTP_THROTTLE);
    g_assert_cmpint(smtp_classify(454), ==, SMTP_THROTTLE);
    g_assert_cmpint(smtp_classify(452), ==, SMTP_TEMP);
    g_assert_cmpint(smtp_classify(499), ==, SMTP_TEMP);
    g_assert_cmpint(smtp_classify(550), ==, SMTP_PERM);
    g_assert_cmpint(smtp_classify(554), ==, SMTP_PERM);
    g_assert_cmpint(smtp_classify(0), ==, SMTP_CONN);
    g_assert_cmpint(smtp_classify(354), ==, SMTP_CONN);
    g_assert_cmpint(smtp_classify(-1), ==, SMTP_CONN);
    g_assert_cmpint(smtp_classify(600), ==, SMTP_CONN);
    g_assert_cmpstr(smtp_outcome_name(SMTP_SENT), ==, "sent");
    g_assert_cmpstr(smtp_outcome_name(SMTP_TEMP), ==, "temp");
    g_assert_cmpstr(smtp_outcome_name(SMTP_THROTTLE), ==, "throttle");
    g_assert_cmpstr(smtp_outcome_name(SMTP_PERM), ==, "perm");
    g_assert_cmpstr(smtp_outcome_name(SMTP_CONN), ==, "conn");
}

static void check_qid(const char *reply, const char *want)
{
    g_autofree char *q = smtp_parse_queue_id(reply);
    g_assert_cmpstr(q, ==, want);
}

static void test_queue_id(void)
{
    check_qid("250 2.0.0 Ok: queued as 4Fz1Xk2Jq9z3Y", "4Fz1Xk2Jq9z3Y");
    check_qid("250 OK id=1qZx9A-0003Ab-Cd", "1qZx9A-0003Ab-Cd");
    check_qid("250 2.0.0 OK (id=abc.def_1)", "abc.def_1");
    check_qid("250 2.0.0 Ok", NULL);
    check_qid("250 2.0.0 Ok: queued as ", NULL);
    check_qid("250 2.0.0 Ok: queued as <>", NULL);
    check_qid("250 valid=yes", NULL); /* "id=" inside a word */
    check_qid(NULL, NULL);
    /* longer than the bound: not an id at all */
    g_autofree char *longid = g_strnfill(SMTP_QUEUE_ID_MAX + 1, 'A');
    g_autofree char *r = g_strdup_printf("250 Ok: queued as %s", longid);
    check_qid(r, NULL);
    g_autofree char *okid = g_strnfill(SMTP_QUEUE_ID_MAX, 'B');
    g_autofree char *r2 = g_strdup_printf("250 Ok: queued as %s done", okid);
    check_qid(r2, okid);
}

static void test_bad_options(void)
{
    smtp_route_opts o = opts_for(NULL, 2, 5);
    g_assert_null(smtp_route_new(&o));
    g_assert_null(smtp_route_new(NULL));
    o.url = "http://127.0.0.1:25";
    g_assert_null(smtp_route_new(&o));
    o.url = "smtp://127.0.0.1:25 \r\nRSET";
    g_assert_null(smtp_route_new(&o));
    o.url = "smtp://127.0.0.1:25";
    o.helo_name = "x\r\nMAIL FROM:<a@b>";
    g_assert_null(smtp_route_new(&o));
    o.helo_name = NULL;
    o.connections = 100000; /* clamped, not refused */
    smtp_route *r = smtp_route_new(&o);
    g_assert_nonnull(r);
    smtp_route_free(&r);
    smtp_route_free(&r); /* NULL: nothing */
    smtp_result res = {0};
    const char *rc[] = {"a@b.test", NULL};
    g_autoptr(GBytes) m = small_message();
    o.url = "ftp://x";
    g_assert_cmpint(smtp_send_one(&o, "s@b.test", rc, m, &res, NULL), ==,
                    CRM_ERR_USAGE);
    o.url = "smtp://127.0.0.1:25";
    const char *none[] = {NULL};
    g_assert_cmpint(smtp_send_one(&o, "s@b.test", none, m, &res, NULL), ==,
                    CRM_ERR_USAGE);
    const char *inj[] = {"a@b.test>\r\nRSET", NULL};
    char *err = NULL;
    g_assert_cmpint(smtp_send_one(&o, "s@b.test", inj, m, &res, &err), ==,
                    CRM_ERR_USAGE);
    g_assert_nonnull(err);
    g_free(err);
}

/* --- against smtp-sink -------------------------------------------------- */

static void test_many_messages(void)
{
    enum { N = 200, CONNS = 4 };
    sink s;
    sink_start(&s, true, NULL);
    smtp_route_opts o = opts_for(s.url, CONNS, 20);
    smtp_route *r = smtp_route_new(&o);
    g_assert_nonnull(r);
    GBytes *msgs[N];
    char *dumped[N];
    for (guint i = 0; i < N; i++) {
        char *m = test_message(i);
        dumped[i] = as_dumped(m);
        msgs[i] = g_bytes_new_take(m, strlen(m));
    }
    guint next = 0, done = 0, sent = 0, busy = 0;
    gint64 end = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;
    while (done < N && g_get_monotonic_time() < end) {
        while (next < N) {
            g_autofree char *rcpt =
                g_strdup_printf("rcpt%u@example.test", next);
            if (!smtp_route_submit(r, "bounce+x@crm.test", rcpt, msgs[next],
                                   GUINT_TO_POINTER(next + 1))) {
                busy++;
                break;
            }
            next++;
        }
        g_assert_cmpuint(smtp_route_in_flight(r), <=, CONNS);
        smtp_route_run(r, 500);
        gpointer ud;
        smtp_result res;
        while (smtp_route_next_done(r, &ud, &res)) {
            guint idx = GPOINTER_TO_UINT(ud);
            g_assert_cmpuint(idx, >=, 1);
            g_assert_cmpuint(idx, <=, N);
            if (res.outcome == SMTP_SENT) {
                g_assert_cmpint(res.code, ==, 250);
                g_assert_nonnull(strstr(res.reply, "250"));
                sent++;
            } else {
                g_test_message("transfer %u: %s %d %s", idx,
                               smtp_outcome_name(res.outcome), res.code,
                               res.reply);
            }
            smtp_result_clear(&res);
            done++;
        }
    }
    g_assert_cmpuint(done, ==, N);
    g_assert_cmpuint(sent, ==, N);
    g_assert_cmpuint(busy, >, 0); /* the free list did fill up */
    guint64 connects = smtp_route_connects(r);
    g_test_message("%u messages over %u connections: %" G_GUINT64_FORMAT
                   " connects",
                   N, CONNS, connects);
    g_assert_cmpuint(connects, >=, 1);
    g_assert_cmpuint(connects, <=, CONNS + 2);
    smtp_route_free(&r);

    GPtrArray *files = sink_dumps(&s, N);
    g_assert_cmpuint(files->len, ==, N);
    /* every dump holds exactly one of our messages, unstuffed */
    gboolean seen[N] = {0};
    for (guint i = 0; i < files->len; i++) {
        g_autofree char *body = NULL;
        g_assert_true(g_file_get_contents(files->pdata[i], &body, NULL, NULL));
        const char *x = strstr(body, "\nX-Seq: ");
        g_assert_nonnull(x);
        guint seq = (guint)g_ascii_strtoull(x + 8, NULL, 10);
        g_assert_cmpuint(seq, <, N);
        g_assert_false(seen[seq]);
        seen[seq] = TRUE;
        g_assert_true(g_str_has_suffix(body, dumped[seq]));
        g_autofree char *rcpt =
            g_strdup_printf("X-Rcpt-Args: <rcpt%u@example.test>", seq);
        g_assert_nonnull(strstr(body, rcpt));
        g_assert_nonnull(strstr(body, "X-Mail-Args: <bounce+x@crm.test>"));
        g_assert_nonnull(strstr(body, "X-Helo-Args: crmgate.test"));
    }
    g_ptr_array_free(files, TRUE);
    for (guint i = 0; i < N; i++) {
        g_bytes_unref(msgs[i]);
        g_free(dumped[i]);
    }
    sink_stop(&s);
}

static void test_rcpt_soft_reject(void)
{
    sink s;
    const char *args[] = {"-r", "rcpt", NULL};
    sink_start(&s, false, args);
    g_autoptr(GBytes) m = small_message();
    smtp_result res;
    send_route(s.url, "x@example.test", m, 10, &res);
    g_assert_cmpint(res.outcome, ==, SMTP_THROTTLE);
    g_assert_cmpint(res.code, ==, 450);
    g_assert_cmpstr(res.reply, ==, "450 4.3.0 Error: command failed");
    g_assert_null(res.queue_id);
    smtp_result_clear(&res);
    /* the blocking form: CRM_ERR_BUSY with the reply in the error */
    smtp_route_opts o = opts_for(s.url, 1, 10);
    const char *rc[] = {"a@example.test", "b@example.test", NULL};
    char *err = NULL;
    g_assert_cmpint(smtp_send_one(&o, "s@crm.test", rc, m, &res, &err), ==,
                    CRM_ERR_BUSY);
    g_assert_cmpint(res.outcome, ==, SMTP_THROTTLE);
    g_assert_nonnull(strstr(err, "throttle"));
    g_assert_nonnull(strstr(err, "450 4.3.0"));
    g_free(err);
    smtp_result_clear(&res);
    g_assert_null(res.reply);
    sink_stop(&s);
}

static void test_rcpt_hard_reject(void)
{
    sink s;
    const char *args[] = {"-f", "rcpt", "-B",
                          "550 5.1.1 <x@example.test>: user unknown", NULL};
    sink_start(&s, false, args);
    g_autoptr(GBytes) m = small_message();
    smtp_result res;
    send_route(s.url, "x@example.test", m, 10, &res);
    g_assert_cmpint(res.outcome, ==, SMTP_PERM);
    g_assert_cmpint(res.code, ==, 550);
    g_assert_cmpstr(res.reply, ==, "550 5.1.1 <x@example.test>: user unknown");
    smtp_result_clear(&res);
    sink_stop(&s);
}

static void test_data_421(void)
{
    sink s;
    const char *args[] = {"-Q", "data", NULL};
    sink_start(&s, false, args);
    g_autoptr(GBytes) m = small_message();
    smtp_result res;
    send_route(s.url, "x@example.test", m, 10, &res);
    g_assert_cmpint(res.outcome, ==, SMTP_THROTTLE);
    g_assert_cmpint(res.code, ==, 421);
    g_assert_true(g_str_has_prefix(res.reply, "421 "));
    smtp_result_clear(&res);
    sink_stop(&s);
}

static void test_disconnect_without_reply(void)
{
    sink s;
    const char *args[] = {"-q", "rcpt", NULL};
    sink_start(&s, false, args);
    g_autoptr(GBytes) m = small_message();
    smtp_result res;
    send_route(s.url, "x@example.test", m, 10, &res);
    g_assert_cmpint(res.outcome, ==, SMTP_CONN);
    g_assert_cmpint(res.code, ==, 0);
    g_assert_true(g_str_has_prefix(res.reply, "curl: "));
    smtp_result_clear(&res);
    sink_stop(&s);
}

static void test_big_message(void)
{
    enum { BIG = 10 * 1024 * 1024 };
    sink s;
    sink_start(&s, true, NULL);
    GString *g = g_string_sized_new(BIG + 1024);
    g_string_append(g, "From: a@crm.test\r\nTo: b@example.test\r\n"
                       "Subject: big\r\n\r\n");
    guint line = 0;
    while (g->len < BIG) {
        /* every 100th line starts with a dot */
        g_string_append_printf(g,
                               "%sline %08u "
                               "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP"
                               "QRSTUVWXYZ0123456789\r\n",
                               line % 100 == 0 ? "." : "", line);
        line++;
    }
    g_autofree char *want = as_dumped(g->str);
    gsize len = g->len;
    g_autoptr(GBytes) m = g_bytes_new_take(g_string_free(g, FALSE), len);
    smtp_route_opts o = opts_for(s.url, 1, 60);
    const char *rc[] = {"b@example.test", NULL};
    smtp_result res;
    gint64 t0 = g_get_monotonic_time();
    g_assert_cmpint(smtp_send_one(&o, "a@crm.test", rc, m, &res, NULL), ==,
                    CRM_OK);
    g_test_message("10 MB sent in %.2f s",
                   (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC);
    g_assert_cmpint(res.outcome, ==, SMTP_SENT);
    g_assert_cmpint(res.code, ==, 250);
    smtp_result_clear(&res);
    GPtrArray *files = sink_dumps(&s, 1);
    g_assert_cmpuint(files->len, ==, 1);
    g_autofree char *body = NULL;
    gsize blen = 0;
    g_assert_true(g_file_get_contents(files->pdata[0], &body, &blen, NULL));
    g_assert_cmpuint(blen, >, strlen(want));
    g_assert_true(g_str_has_suffix(body, want));
    g_ptr_array_free(files, TRUE);
    sink_stop(&s);
}

/* --- no server, a mute server ------------------------------------------ */

static void test_nothing_listening(void)
{
    g_autofree char *url = g_strdup_printf("smtp://127.0.0.1:%u", free_port());
    g_autoptr(GBytes) m = small_message();
    smtp_result res;
    gint64 t0 = g_get_monotonic_time();
    send_route(url, "x@example.test", m, 5, &res);
    g_assert_cmpint(g_get_monotonic_time() - t0, <, 3 * G_USEC_PER_SEC);
    g_assert_cmpint(res.outcome, ==, SMTP_CONN);
    g_assert_cmpint(res.code, ==, 0);
    assert_reply_bounded(&res);
    g_assert_true(g_str_has_prefix(res.reply, "curl: "));
    smtp_result_clear(&res);
}

static void test_mute_server(void)
{
    unsigned port;
    int fd = listen_any(&port, 16); /* the kernel accepts; nobody answers */
    g_autofree char *url = g_strdup_printf("smtp://127.0.0.1:%u", port);
    g_autoptr(GBytes) m = small_message();
    smtp_result res;
    gint64 t0 = g_get_monotonic_time();
    send_route(url, "x@example.test", m, 2, &res);
    gint64 took = g_get_monotonic_time() - t0;
    g_test_message("mute server: %s after %.2f s", res.reply,
                   (double)took / G_USEC_PER_SEC);
    g_assert_cmpint(took, >=, 1 * G_USEC_PER_SEC);
    g_assert_cmpint(took, <, 4 * G_USEC_PER_SEC);
    g_assert_cmpint(res.outcome, ==, SMTP_CONN);
    g_assert_cmpint(res.code, ==, 0);
    smtp_result_clear(&res);
    close(fd);
}

/* --- a scripted server ---------------------------------------------------- */

typedef struct {
    int lfd;
    unsigned port;
    const char *greeting; /* full reply with CRLF */
    const char *auth_reply;
    const char *rcpt_reply;
    const char *end_reply;
    int drop_at_mail; /* close, without a reply, at this MAIL of a session */
    bool close_after_rcpt; /* close the session after the RCPT reply */
    GThread *thread;
    volatile gint stop;
    guint rcpts_seen;
} fake;

static void fake_send(int fd, const char *s)
{
    gsize n = strlen(s);
    while (n > 0) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        s += w;
        n -= (gsize)w;
    }
}

/* Reads one line into buf (without CRLF); false at EOF. */
static bool fake_line(int fd, GString *in, GString *line)
{
    for (;;) {
        char *nl = memchr(in->str, '\n', in->len);
        if (nl != NULL) {
            gsize n = (gsize)(nl - in->str);
            g_string_truncate(line, 0);
            g_string_append_len(line, in->str,
                                n > 0 && in->str[n - 1] == '\r' ? n - 1 : n);
            g_string_erase(in, 0, (gssize)n + 1);
            return true;
        }
        char b[4096];
        ssize_t r = recv(fd, b, sizeof(b), 0);
        if (r <= 0)
            return false;
        g_string_append_len(in, b, r);
    }
}

static void fake_session(fake *f, int fd)
{
    g_autoptr(GString) in = g_string_new(NULL);
    g_autoptr(GString) line = g_string_new(NULL);
    int mails = 0;
    fake_send(fd, f->greeting ? f->greeting : "220 fake ESMTP\r\n");
    while (fake_line(fd, in, line)) {
        char w[5] = {0};
        for (int i = 0; i < 4 && i < (int)line->len; i++)
            w[i] = g_ascii_toupper(line->str[i]);
        if (strcmp(w, "EHLO") == 0) {
            fake_send(fd, "250-fake\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n");
        } else if (strcmp(w, "AUTH") == 0) {
            fake_send(fd, f->auth_reply ? f->auth_reply : "235 ok\r\n");
        } else if (strcmp(w, "MAIL") == 0 && ++mails == f->drop_at_mail) {
            break;
        } else if (strcmp(w, "MAIL") == 0 || strcmp(w, "RSET") == 0) {
            fake_send(fd, "250 2.1.0 Ok\r\n");
        } else if (strcmp(w, "RCPT") == 0) {
            g_atomic_int_inc(&f->rcpts_seen);
            fake_send(fd, f->rcpt_reply ? f->rcpt_reply : "250 2.1.5 Ok\r\n");
            if (f->close_after_rcpt)
                break;
        } else if (strcmp(w, "DATA") == 0) {
            fake_send(fd, "354 go ahead\r\n");
            while (fake_line(fd, in, line) && strcmp(line->str, ".") != 0)
                ;
            fake_send(fd, f->end_reply ? f->end_reply : "250 2.0.0 Ok\r\n");
        } else if (strcmp(w, "QUIT") == 0) {
            fake_send(fd, "221 bye\r\n");
            break;
        } else {
            fake_send(fd, "502 what\r\n");
        }
    }
    close(fd);
}

static gpointer fake_main(gpointer p)
{
    fake *f = p;
    while (!g_atomic_int_get(&f->stop)) {
        int fd = accept(f->lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        fake_session(f, fd);
    }
    return NULL;
}

static char *fake_start(fake *f)
{
    f->lfd = listen_any(&f->port, 16);
    f->thread = g_thread_new("fake-smtp", fake_main, f);
    return g_strdup_printf("smtp://127.0.0.1:%u", f->port);
}

static void fake_stop(fake *f)
{
    g_atomic_int_set(&f->stop, 1);
    shutdown(f->lfd, SHUT_RDWR);
    g_thread_join(f->thread);
    close(f->lfd);
}

static void test_queue_id_from_relay(void)
{
    fake f = {.end_reply = "250 2.0.0 Ok: queued as 4XyZ12AbC\r\n"};
    g_autofree char *url = fake_start(&f);
    smtp_route_opts o = opts_for(url, 1, 10);
    const char *rc[] = {"a@example.test", "b@example.test", "c@example.test",
                        NULL};
    g_autoptr(GBytes) m = small_message();
    smtp_result res;
    g_assert_cmpint(smtp_send_one(&o, "s@crm.test", rc, m, &res, NULL), ==,
                    CRM_OK);
    g_assert_cmpint(res.outcome, ==, SMTP_SENT);
    g_assert_cmpint(res.code, ==, 250);
    g_assert_cmpstr(res.queue_id, ==, "4XyZ12AbC");
    g_assert_cmpstr(res.reply, ==, "250 2.0.0 Ok: queued as 4XyZ12AbC");
    g_assert_cmpuint(g_atomic_int_get(&f.rcpts_seen), ==, 3);
    smtp_result_clear(&res);
    fake_stop(&f);
}

static void test_huge_reply(void)
{
    /* 3,000 bytes of text with invalid UTF-8, a NUL-free control
       character and a multi-byte character across the bound */
    GString *g = g_string_new("550-5.7.1 ");
    for (int i = 0; i < 300; i++)
        g_string_append(g, "\xc3\xa9\xff\x01"
                           "bad\tbyte");
    g_string_append(g, "\r\n550 5.7.1 second line\r\n");
    g_autofree char *reply = g_string_free(g, FALSE);
    fake f = {.rcpt_reply = reply};
    g_autofree char *url = fake_start(&f);
    g_autoptr(GBytes) m = small_message();
    smtp_result res;
    send_route(url, "x@example.test", m, 10, &res);
    g_assert_cmpint(res.outcome, ==, SMTP_PERM);
    g_assert_cmpint(res.code, ==, 550);
    assert_reply_bounded(&res);
    g_assert_true(g_str_has_prefix(res.reply, "550 5.7.1 \xc3\xa9"));
    smtp_result_clear(&res);
    fake_stop(&f);
}

static void test_enormous_reply_line(void)
{
    /* 200 KB in one reply line: libcurl gives up on it; whatever the
       outcome, it is not SENT and the text kept is bounded */
    GString *g = g_string_new("550 ");
    while (g->len < 200 * 1024)
        g_string_append(g, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    g_string_append(g, "\r\n");
    g_autofree char *reply = g_string_free(g, FALSE);
    fake f = {.rcpt_reply = reply};
    g_autofree char *url = fake_start(&f);
    g_autoptr(GBytes) m = small_message();
    smtp_result res;
    send_route(url, "x@example.test", m, 10, &res);
    g_test_message("200 KB reply: %s %d", smtp_outcome_name(res.outcome),
                   res.code);
    g_assert_cmpint(res.outcome, !=, SMTP_SENT);
    assert_reply_bounded(&res);
    smtp_result_clear(&res);
    fake_stop(&f);
}

static void test_auth_failure_is_route_problem(void)
{
    fake f = {.auth_reply = "535 5.7.8 authentication failed\r\n"};
    g_autofree char *url = fake_start(&f);
    smtp_route_opts o = opts_for(url, 1, 10);
    o.user = "campaigns";
    o.password = "s3cret-pw";
    const char *rc[] = {"a@example.test", NULL};
    g_autoptr(GBytes) m = small_message();
    smtp_result res;
    char *err = NULL;
    g_assert_cmpint(smtp_send_one(&o, "s@crm.test", rc, m, &res, &err), ==,
                    CRM_ERR_IO);
    /* not the recipient's fault: CONN, with the relay's words */
    g_assert_cmpint(res.outcome, ==, SMTP_CONN);
    g_assert_cmpint(res.code, ==, 535);
    g_assert_cmpstr(res.reply, ==, "535 5.7.8 authentication failed");
    g_assert_null(strstr(err, "s3cret-pw"));
    g_assert_cmpuint(g_atomic_int_get(&f.rcpts_seen), ==, 0);
    g_free(err);
    smtp_result_clear(&res);
    fake_stop(&f);
}

static void test_greeting_421(void)
{
    fake f = {.greeting = "421 4.3.2 too busy, come back later\r\n"};
    g_autofree char *url = fake_start(&f);
    g_autoptr(GBytes) m = small_message();
    smtp_result res;
    send_route(url, "x@example.test", m, 10, &res);
    g_assert_cmpint(res.outcome, ==, SMTP_THROTTLE);
    g_assert_cmpint(res.code, ==, 421);
    smtp_result_clear(&res);
    fake_stop(&f);
}

static void test_busy_and_invalid_address(void)
{
    unsigned port;
    int fd = listen_any(&port, 16); /* transfers stay in flight */
    g_autofree char *url = g_strdup_printf("smtp://127.0.0.1:%u", port);
    smtp_route_opts o = opts_for(url, 2, 2);
    smtp_route *r = smtp_route_new(&o);
    g_autoptr(GBytes) m = small_message();
    g_assert_true(smtp_route_submit(r, "", "a@example.test", m, NULL));
    g_assert_true(
        smtp_route_submit(r, "s@crm.test", "b@example.test", m, NULL));
    g_assert_cmpuint(smtp_route_in_flight(r), ==, 2);
    g_assert_false(
        smtp_route_submit(r, "s@crm.test", "c@example.test", m, NULL));
    /* an address that would inject a command completes at once, even when
       every connection is busy */
    g_assert_true(smtp_route_submit(r, "s@crm.test",
                                    "d@example.test>\r\nRSET\r\nRCPT TO:<e", m,
                                    GINT_TO_POINTER(4)));
    g_autofree char *longaddr = g_strnfill(SMTP_ADDR_MAX + 1, 'a');
    g_assert_true(
        smtp_route_submit(r, "s@crm.test", longaddr, m, GINT_TO_POINTER(5)));
    g_assert_true(
        smtp_route_submit(r, "s@crm.test", "", m, GINT_TO_POINTER(6)));
    g_assert_cmpuint(smtp_route_in_flight(r), ==, 2);
    g_assert_cmpuint(smtp_route_run(r, 0), ==, 3);
    for (int want = 4; want <= 6; want++) {
        gpointer ud;
        smtp_result res;
        g_assert_true(smtp_route_next_done(r, &ud, &res));
        g_assert_cmpint(GPOINTER_TO_INT(ud), ==, want);
        g_assert_cmpint(res.outcome, ==, SMTP_PERM);
        g_assert_cmpint(res.code, ==, 0);
        smtp_result_clear(&res);
    }
    /* freeing with transfers in flight aborts them */
    smtp_route_free(&r);
    close(fd);
}

static void test_starttls_required_not_offered(void)
{
    sink s;
    sink_start(&s, true, NULL);
    smtp_route_opts o = opts_for(s.url, 1, 10);
    o.starttls_required = true; /* smtp-sink offers no STARTTLS */
    const char *rc[] = {"a@example.test", NULL};
    g_autoptr(GBytes) m = small_message();
    smtp_result res;
    g_assert_cmpint(smtp_send_one(&o, "s@crm.test", rc, m, &res, NULL), ==,
                    CRM_ERR_IO);
    g_assert_cmpint(res.outcome, ==, SMTP_CONN);
    smtp_result_clear(&res);
    /* nothing went out in clear text */
    g_usleep(200000);
    GPtrArray *files = sink_dumps(&s, 0);
    g_assert_cmpuint(files->len, ==, 0);
    g_ptr_array_free(files, TRUE);
    sink_stop(&s);
}

static void test_idle_connection_closed_by_relay(void)
{
    /* the sink drops a session idle for 1 s; the route's cached connection
       is dead when the next message comes and a new one is opened */
    sink s;
    const char *args[] = {"-t", "1", NULL};
    sink_start(&s, true, args);
    smtp_route_opts o = opts_for(s.url, 1, 10);
    smtp_route *r = smtp_route_new(&o);
    g_autoptr(GBytes) m = small_message();
    for (int i = 0; i < 3; i++) {
        g_assert_true(
            smtp_route_submit(r, "s@crm.test", "a@example.test", m, NULL));
        drain(r, 10);
        smtp_result res;
        g_assert_true(smtp_route_next_done(r, NULL, &res));
        g_test_message("message %d: %s %d %s", i,
                       smtp_outcome_name(res.outcome), res.code, res.reply);
        g_assert_cmpint(res.outcome, ==, SMTP_SENT);
        smtp_result_clear(&res);
        if (i < 2)
            g_usleep(i == 0 ? 2000000 : 100000);
    }
    /* two connections: the first died idle, the second carried two (three
       when the sink's timer raced the last message: see the next test) */
    g_assert_cmpuint(smtp_route_connects(r), >=, 2);
    g_assert_cmpuint(smtp_route_connects(r), <=, 3);
    smtp_route_free(&r);
    GPtrArray *files = sink_dumps(&s, 3);
    g_assert_cmpuint(files->len, ==, 3);
    g_ptr_array_free(files, TRUE);
    sink_stop(&s);
}

static void test_reused_connection_dies(void)
{
    /* the relay closes the kept-alive connection at the second MAIL, with
       no reply: nothing was accepted, the route sends again on a new
       connection, once */
    fake f = {.drop_at_mail = 2};
    g_autofree char *url = fake_start(&f);
    smtp_route_opts o = opts_for(url, 1, 10);
    smtp_route *r = smtp_route_new(&o);
    g_autoptr(GBytes) m = small_message();
    for (int i = 0; i < 3; i++) {
        g_assert_true(
            smtp_route_submit(r, "s@crm.test", "a@example.test", m, NULL));
        drain(r, 10);
        smtp_result res;
        g_assert_true(smtp_route_next_done(r, NULL, &res));
        g_assert_cmpint(res.outcome, ==, SMTP_SENT);
        smtp_result_clear(&res);
    }
    g_assert_false(smtp_route_next_done(r, NULL, &(smtp_result){0}));
    /* sessions: {1, drop}, {2, drop}, {3} */
    g_assert_cmpuint(smtp_route_connects(r), ==, 3);
    g_assert_cmpuint(g_atomic_int_get(&f.rcpts_seen), ==, 3);
    smtp_route_free(&r);
    fake_stop(&f);
}

typedef struct {
    const char *url;
    guint id;
    guint sent;
    guint64 connects;
} thread_job;

static gpointer route_thread(gpointer p)
{
    thread_job *j = p;
    smtp_route_opts o = opts_for(j->url, 2, 20);
    smtp_route *r = smtp_route_new(&o);
    g_autoptr(GBytes) m = small_message();
    guint next = 0, done = 0;
    gint64 end = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
    while (done < 50 && g_get_monotonic_time() < end) {
        while (next < 50) {
            g_autofree char *rcpt =
                g_strdup_printf("t%u-%u@example.test", j->id, next);
            if (!smtp_route_submit(r, "s@crm.test", rcpt, m, NULL))
                break;
            next++;
        }
        smtp_route_run(r, 200);
        smtp_result res;
        while (smtp_route_next_done(r, NULL, &res)) {
            if (res.outcome == SMTP_SENT)
                j->sent++;
            smtp_result_clear(&res);
            done++;
        }
    }
    j->connects = smtp_route_connects(r);
    smtp_route_free(&r);
    return NULL;
}

static void test_routes_in_threads(void)
{
    enum { T = 4 };
    sink s;
    sink_start(&s, true, NULL);
    thread_job jobs[T];
    GThread *th[T];
    for (guint i = 0; i < T; i++) {
        jobs[i] = (thread_job){.url = s.url, .id = i};
        th[i] = g_thread_new("route", route_thread, &jobs[i]);
    }
    for (guint i = 0; i < T; i++) {
        g_thread_join(th[i]);
        g_assert_cmpuint(jobs[i].sent, ==, 50);
        g_assert_cmpuint(jobs[i].connects, ==, 2);
    }
    GPtrArray *files = sink_dumps(&s, T * 50);
    g_assert_cmpuint(files->len, ==, T * 50);
    g_ptr_array_free(files, TRUE);
    sink_stop(&s);
}

static void test_truncated_reply(void)
{
    /* "550 ..." without its line end, then the connection closes: not a
       complete reply, so not a permanent failure of the recipient */
    fake f = {.rcpt_reply = "550 5.1.1 no such us", .close_after_rcpt = true};
    g_autofree char *url = fake_start(&f);
    g_autoptr(GBytes) m = small_message();
    smtp_result res;
    send_route(url, "x@example.test", m, 10, &res);
    g_assert_cmpint(res.outcome, ==, SMTP_CONN);
    g_assert_cmpint(res.code, ==, 0);
    assert_reply_bounded(&res);
    smtp_result_clear(&res);
    /* the same reply complete: PERM */
    fake f2 = {.rcpt_reply = "550 5.1.1 no such user\r\n",
               .close_after_rcpt = true};
    g_autofree char *url2 = fake_start(&f2);
    send_route(url2, "x@example.test", m, 10, &res);
    g_assert_cmpint(res.outcome, ==, SMTP_PERM);
    g_assert_cmpint(res.code, ==, 550);
    g_assert_cmpstr(res.reply, ==, "550 5.1.1 no such user");
    smtp_result_clear(&res);
    fake_stop(&f);
    fake_stop(&f2);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGABRT, kill_sinks_on_abort);
    g_test_add_func("/smtp/classify", test_classify);
    g_test_add_func("/smtp/queue_id", test_queue_id);
    g_test_add_func("/smtp/bad_options", test_bad_options);
    g_test_add_func("/smtp/busy_and_invalid_address",
                    test_busy_and_invalid_address);
    g_test_add_func("/smtp/sink/200_messages_4_connections",
                    test_many_messages);
    g_test_add_func("/smtp/sink/rcpt_soft_reject", test_rcpt_soft_reject);
    g_test_add_func("/smtp/sink/rcpt_hard_reject", test_rcpt_hard_reject);
    g_test_add_func("/smtp/sink/data_421", test_data_421);
    g_test_add_func("/smtp/sink/disconnect_without_reply",
                    test_disconnect_without_reply);
    g_test_add_func("/smtp/sink/10mb_message", test_big_message);
    g_test_add_func("/smtp/sink/starttls_required_not_offered",
                    test_starttls_required_not_offered);
    g_test_add_func("/smtp/sink/idle_connection_closed_by_relay",
                    test_idle_connection_closed_by_relay);
    g_test_add_func("/smtp/sink/routes_in_threads", test_routes_in_threads);
    g_test_add_func("/smtp/nothing_listening", test_nothing_listening);
    g_test_add_func("/smtp/mute_server_timeout", test_mute_server);
    g_test_add_func("/smtp/fake/queue_id", test_queue_id_from_relay);
    g_test_add_func("/smtp/fake/huge_reply", test_huge_reply);
    g_test_add_func("/smtp/fake/enormous_reply_line", test_enormous_reply_line);
    g_test_add_func("/smtp/fake/auth_failure",
                    test_auth_failure_is_route_problem);
    g_test_add_func("/smtp/fake/reused_connection_dies",
                    test_reused_connection_dies);
    g_test_add_func("/smtp/fake/truncated_reply", test_truncated_reply);
    g_test_add_func("/smtp/fake/greeting_421", test_greeting_421);
    return g_test_run();
}
