/*
 * smtp_test.h - what the SMTP sender's unit tests share: free loopback
 * ports, Postfix's smtp-sink started and stopped on one (killed if a test
 * aborts), its dumps, test messages and routes, and the bound on replies.
 * Included by test_smtp_send.c and test_smtp_relay.c only.
 */
#ifndef CRMGATE_TEST_SMTP_TEST_H
#define CRMGATE_TEST_SMTP_TEST_H

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

/* Each test program uses some of these helpers. */
#pragma GCC diagnostic ignored "-Wunused-function"

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

#endif
