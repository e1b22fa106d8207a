/*
 * main.c - crmgate-milter: arguments, configuration, logging, then
 * libmilter's loop. Everything with logic lives in core/ and capture.c.
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

static void usage(FILE *out)
{
    fprintf(out,
            "usage: crmgate-milter [-c FILE] [-p SOCKET] [-l LEVEL]\n"
            "  -c, --config FILE   configuration (default %s)\n"
            "  -p, --socket SOCKET listen here instead of milter.socket,\n"
            "                      e.g. inet:8891@127.0.0.1 or unix:/path\n"
            "  -l, --log-level L   debug, info, warn or error\n"
            "  -h, --help          this text\n"
            "  -V, --version       print the version\n",
            config_default_path());
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"socket", required_argument, NULL, 'p'},
        {"log-level", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *path = NULL, *sock = NULL, *level = NULL;
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
    log_init("crmgate-milter", lv, cfg->log_syslog);
    if (!sock)
        sock = cfg->milter_socket;

    signal(SIGPIPE, SIG_IGN);
    message_library_init();
    g_mutex_init(&milter_g.replay_lock);
    g_cond_init(&milter_g.replay_cond);

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

    /* libmilter waits for SIGTERM, SIGINT and SIGHUP in a thread of its
       own (sigwait): block them before starting any thread, or one of ours
       would take the signal and the process would die uncleanly. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    milter_writers_start(cfg->db_pool_size);
    GThread *replay = milter_replay_start();
    log_info("milter: started version=%s socket=%s spool=%s budget_ms=%u",
             CRM_VERSION, sock, cfg->spool_dir, cfg->db_time_budget_ms);
    /* smfi_main handles SIGTERM, SIGINT and SIGHUP: it stops accepting,
       lets sessions finish and returns. */
    int rc = smfi_main();
    milter_replay_stop(replay);
    milter_writers_stop();
    log_info("milter: stopped");
    config_free(&milter_g.cfg);
    return rc == MI_SUCCESS ? 0 : EX_SOFTWARE;
}
