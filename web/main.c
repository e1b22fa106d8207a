/*
 * main.c - crmgate-web: arguments, configuration, logging, then the HTTP
 * server (server.c) until SIGTERM or SIGINT, which stop accepting, let the
 * requests in progress finish and exit 0.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "crmgate/daemon.h"
#include "crmgate/log.h"
#include "web.h"

static void usage(FILE *out)
{
    fputs("usage: crmgate-web [-c FILE] [-l LEVEL]\n"
          "  -c, --config FILE    configuration (default etc/crmgate.conf)\n"
          "  -l, --log-level LVL  debug, info, warn or error\n"
          "  -h, --help           this text\n"
          "  -V, --version        print the version\n",
          out);
}

int main(int argc, char **argv)
{
    crm_config *cfg = NULL;
    int rc;
    if (!daemon_setup("crmgate-web", argc, argv, usage, &cfg, &rc))
        return rc;
    if (!auth_init())
        log_fatal(EX_SOFTWARE, "web: libsodium cannot be initialised");
    if (!*cfg->web_secret)
        log_warn("web: web.secret is empty: signed links (one-click task "
                 "completion) are refused until it is set");

    /* Signals are taken by this thread with sigwait; the server's threads
       inherit the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    char *err = NULL;
    crm_result r = web_server_start(cfg, &err);
    if (r) {
        log_error("web: %s", err);
        g_free(err);
        config_free(&cfg);
        return r == CRM_ERR_CONFIG ? EX_CONFIG : EX_UNAVAILABLE;
    }
    log_info("web: listening on %s:%u (%s/), %u threads", cfg->web_listen,
             cfg->web_port, cfg->web_base_url, cfg->web_threads);
    int sig = 0;
    for (;;) {
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig == SIGHUP)
            continue; /* nothing to reload yet */
        break;
    }
    log_info("web: stopping (signal %d)", sig);
    web_server_stop();
    log_info("web: stopped");
    config_free(&cfg);
    return 0;
}
