/*
 * main.c - crmgate-milter: arguments, configuration, logging, the
 * ingester child, then libmilter's loop and, on SIGTERM, the drain.
 *
 * Shutdown: libmilter's signal thread takes SIGTERM (or SIGINT, SIGHUP),
 * closes the listening socket and smfi_main() returns, but the session
 * threads go on. Postfix skips a milter whose connection breaks for the
 * rest of that SMTP session, so we keep serving the open connections until
 * their sessions end, at most milter.drain_timeout seconds (a second
 * SIGTERM ends the wait), then stop the ingester and exit. Every message
 * answered was journaled first, so nothing accepted is lost.
 */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "crmgate/log.h"
#include "crmgate/message.h"
#include "milter.h"
#include <stdbool.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: crmgate-milter [-c FILE] [-p SOCKET] [-l LEVEL]\n"
            "  -c, --config FILE   configuration (default %s)\n"
            "  -p, --socket SOCKET listen here instead of milter.socket,\n"
            "                      e.g. inet:8891@127.0.0.1 or unix:/path\n"
            "  -l, --log-level L   debug, info, warn or error\n"
            "      --ingester      run as the journal ingester (started by\n"
            "                      crmgate-milter itself)\n"
            "  -h, --help          this text\n"
            "  -V, --version       print the version\n",
            config_default_path());
}

/* Waits until every open MTA connection has closed, at most timeout_s
   seconds or until another stop signal arrives. */
static void drain(guint timeout_s, const sigset_t *stop_signals)
{
    gint open = g_atomic_int_get(&milter_g.sessions);
    if (open == 0)
        return;
    log_info("milter: stopping: serving %d open sessions for at most %u s",
             open, timeout_s);
    gint64 deadline = g_get_monotonic_time() + timeout_s * G_USEC_PER_SEC;
    const struct timespec tick = {0, 50 * 1000 * 1000};
    while ((open = g_atomic_int_get(&milter_g.sessions)) > 0) {
        if (g_get_monotonic_time() >= deadline) {
            log_warn("milter: drain timeout: closing %d open sessions", open);
            return;
        }
        if (sigtimedwait(stop_signals, NULL, &tick) > 0) {
            log_warn("milter: second stop signal: closing %d open sessions",
                     open);
            return;
        }
    }
    log_info("milter: all sessions ended");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"socket", required_argument, NULL, 'p'},
        {"log-level", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {"ingester", no_argument, NULL, 'I'},
        {NULL, 0, NULL, 0},
    };
    const char *path = NULL, *sock = NULL, *level = NULL;
    bool ingester = false;
    int ch;
    while ((ch = getopt_long(argc, argv, "c:p:l:hV", opts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            path = optarg;
            break;
        case 'p':
            sock = optarg;
            break;
        case 'l':
            level = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("crmgate-milter %s\n", CRM_VERSION);
            return 0;
        case 'I':
            ingester = true;
            break;
        default:
            usage(stderr);
            return EX_USAGE;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return EX_USAGE;
    }
    if (!path)
        path = config_default_path();
    char *err = NULL;
    crm_result r = config_load(path, &milter_g.cfg, &err);
    if (r) {
        fprintf(stderr, "crmgate-milter: %s\n", err);
        return EX_CONFIG;
    }
    crm_config *cfg = milter_g.cfg;
    log_level lv = cfg->log_level;
    if (level && !log_level_parse(level, &lv)) {
        fprintf(stderr, "crmgate-milter: unknown log level '%s'\n", level);
        return EX_USAGE;
    }
    log_init(ingester ? "crmgate-ingester" : "crmgate-milter", lv,
             cfg->log_syslog);
    milter_g.config_path = g_canonicalize_filename(path, NULL);
    milter_g.log_level_name = level ? level : log_level_name(lv);
    signal(SIGPIPE, SIG_IGN);
    if (ingester) {
        message_library_init();
        int rc = milter_ingester_main();
        config_free(&milter_g.cfg);
        g_free(milter_g.config_path);
        return rc;
    }
    if (!sock)
        sock = cfg->milter_socket;

    if (g_str_has_prefix(sock, "unix:") || g_str_has_prefix(sock, "local:")) {
        const char *p = strchr(sock, ':') + 1;
        unlink(p);
    }
    if (smfi_setconn((char *)sock) != MI_SUCCESS ||
        smfi_settimeout((int)cfg->milter_timeout_s) != MI_SUCCESS ||
        smfi_setbacklog(128) != MI_SUCCESS ||
        smfi_register(milter_desc) != MI_SUCCESS)
        log_fatal(EX_SOFTWARE, "milter: cannot register with libmilter");
    if (smfi_opensocket(1) != MI_SUCCESS)
        log_fatal(EX_UNAVAILABLE, "milter: cannot listen on %s", sock);

    /* libmilter waits for SIGTERM, SIGINT and SIGHUP in a thread of its
       own (sigwait): block them before starting any thread, or one of ours
       would take the signal and the process would die uncleanly. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    milter_ingester_start();
    log_info("milter: started version=%s socket=%s journal=%s", CRM_VERSION,
             sock, cfg->spool_dir);
    /* smfi_main handles SIGTERM, SIGINT and SIGHUP: it stops accepting and
       returns while the sessions go on. */
    int rc = smfi_main();
    drain(cfg->drain_timeout_s, &stop_signals);
    milter_ingester_stop(10);
    log_info("milter: stopped");
    config_free(&milter_g.cfg);
    g_free(milter_g.config_path);
    return rc == MI_SUCCESS ? 0 : EX_SOFTWARE;
}
