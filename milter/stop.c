/*
 * stop.c - a stop that breaks no SMTP session.
 *
 * Postfix skips a milter whose connection breaks for the rest of that SMTP
 * session, and one milter connection carries all the messages of one SMTP
 * session. libmilter's own stop (its signal thread on SIGTERM) ends the
 * listener, and Debian's libmilter, built with its worker pool, stops
 * serving the open connections with it. So the stop signals are ours:
 * libmilter's loop runs in a thread of its own with SIGTERM, SIGINT and
 * SIGHUP blocked, while the main thread keeps them unblocked with a
 * handler (Linux hands a process-directed signal to the main thread when
 * it does not block it). On a stop signal we
 *   1. stop accepting: the listening socket is replaced (dup2) by a
 *      listening socket nobody knows, so the port (or the unix socket,
 *      which is unlinked) refuses new connections and Postfix goes on with
 *      default_action=accept, while libmilter's listener keeps a valid
 *      descriptor and does not treat this as an error;
 *   2. keep serving the open connections until their SMTP sessions end, at
 *      most milter.drain_timeout seconds (a second signal ends the wait);
 *   3. call smfi_stop() and wake the listener so smfi_main() returns.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "crmgate/log.h"
#include "milter.h"

static int wake_pipe[2] = {-1, -1};
static volatile sig_atomic_t stop_signals_seen;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_signals_seen++;
    int saved = errno;
    if (write(wake_pipe[1], "s", 1) < 0) {
        /* full pipe: the main thread wakes anyway */
    }
    errno = saved;
}

int milter_find_listener(void)
{
    int found = -1;
    for (int fd = 3; fd < 65536; fd++) {
        int yes = 0;
        socklen_t len = sizeof(yes);
        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &yes, &len) != 0) {
            if (errno == EBADF && fd > 1024 && found >= 0)
                break;
            continue;
        }
        if (yes) {
            if (found >= 0)
                return -1; /* more than one: we cannot tell */
            found = fd;
        }
    }
    return found;
}

/* A listening socket on an unused loopback port; *port_r gets the port. */
static int decoy_listener(int *port_r)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    if (bind(s, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(s, 1) != 0 ||
        getsockname(s, (struct sockaddr *)&a, &len) != 0) {
        close(s);
        return -1;
    }
    *port_r = ntohs(a.sin_port);
    return s;
}

/* Connects to the decoy once, so libmilter's listener leaves select() and
   notices the stop at once instead of after its 5 s check interval. */
static void poke(int port)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return;
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(s, (struct sockaddr *)&a, sizeof(a)) != 0)
        log_debug("milter: could not wake the listener: %s", g_strerror(errno));
    close(s);
}

void milter_signals_block(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

void milter_wait_and_stop(int listen_fd, const char *unix_path,
                          guint drain_timeout_s)
{
    if (pipe2(wake_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
        log_fatal(1, "milter: pipe: %s", g_strerror(errno));
    struct sigaction sa = {.sa_handler = on_stop_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);

    char c;
    while (!stop_signals_seen) {
        fd_set rd;
        FD_ZERO(&rd);
        FD_SET(wake_pipe[0], &rd);
        select(wake_pipe[0] + 1, &rd, NULL, NULL, NULL);
        while (read(wake_pipe[0], &c, 1) == 1)
            ;
    }

    /* 1. Stop accepting. */
    int port = 0;
    int decoy = decoy_listener(&port);
    if (listen_fd >= 0 && decoy >= 0 && dup2(decoy, listen_fd) >= 0) {
        close(decoy);
        if (unix_path)
            unlink(unix_path);
    } else {
        log_warn("milter: could not close the listener (%s); new "
                 "connections may still arrive",
                 g_strerror(errno));
        if (decoy >= 0)
            close(decoy);
        port = 0;
    }

    /* 2. Serve the open sessions. */
    gint open = g_atomic_int_get(&milter_g.sessions);
    if (open > 0) {
        log_info("milter: stopping: serving %d open sessions for at most %u s",
                 open, drain_timeout_s);
        gint64 deadline =
            g_get_monotonic_time() + drain_timeout_s * G_USEC_PER_SEC;
        sig_atomic_t seen = stop_signals_seen;
        while ((open = g_atomic_int_get(&milter_g.sessions)) > 0) {
            if (g_get_monotonic_time() >= deadline) {
                log_warn("milter: drain timeout: closing %d open sessions",
                         open);
                break;
            }
            if (stop_signals_seen != seen) {
                log_warn("milter: second stop signal: closing %d open "
                         "sessions",
                         open);
                break;
            }
            g_usleep(20000);
        }
        if (open == 0)
            log_info("milter: all sessions ended");
    } else {
        log_info("milter: stopping: no open sessions");
    }

    /* 3. End libmilter's loop. */
    smfi_stop();
    if (port)
        poke(port);
}
