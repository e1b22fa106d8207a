/*
 * main.c - crmgate-milter: arguments, configuration, logging, the
 * ingester child, then libmilter's loop and, on SIGTERM, the drain.
 *
 * Shutdown (stop.c): on SIGTERM, SIGINT or SIGHUP we stop accepting, keep
 * serving the open connections until their SMTP sessions end (at most
 * milter.drain_timeout seconds), then end libmilter's loop, stop the
 * ingester and exit. Every message answered was journaled first, so
 * nothing accepted is lost.
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
#include "crmgate/sockopt.h"
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

/* libmilter's loop, in a thread of its own (see stop.c). */
static gpointer listener_main(gpointer data)
{
    int *rc = data;
    *rc = smfi_main();
    return NULL;
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
    /* TCP only: no Nagle/delayed-ACK stall with the MTA (core/sockopt.c) */
    crm_result tuned = sockopt_tune_listener(sock);
    if (tuned)
        log_warn("milter: socket=%s tcp tuning failed: %s", sock,
                 crm_strerror(tuned));

    int listen_fd = milter_find_listener();
    if (listen_fd < 0)
        log_warn("milter: cannot find the listening socket: a stop will "
                 "refuse no new connections before the open ones end");
    const char *unix_path =
        g_str_has_prefix(sock, "unix:") || g_str_has_prefix(sock, "local:")
            ? strchr(sock, ':') + 1
            : NULL;

    /* Every thread but the main one blocks the stop signals; the main
       thread takes them and runs the stop (stop.c). */
    milter_signals_block();
    milter_ingester_start();
    log_info("milter: started version=%s socket=%s journal=%s", CRM_VERSION,
             sock, cfg->spool_dir);
    int rc = MI_SUCCESS;
    GThread *listener = g_thread_new("milter-listener", listener_main, &rc);
    milter_wait_and_stop(listen_fd, unix_path, cfg->drain_timeout_s);
    g_thread_join(listener);
    milter_ingester_stop(10);
    log_info("milter: stopped");
    config_free(&milter_g.cfg);
    g_free(milter_g.config_path);
    return rc == MI_SUCCESS ? 0 : EX_SOFTWARE;
}
