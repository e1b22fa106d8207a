/*
 * main.c - crmgate-worker: runs the jobs of the PostgreSQL queue
 * (core/jobs.c) with a pool of threads (pool.c), each with its own
 * connection. Arguments, configuration, log; the rest is pool.c.
 * SIGTERM/SIGINT drain (worker.drain_timeout) and exit 0.
 */
#include <signal.h>
#include <stdio.h>
#include <sysexits.h>

#include "crmgate/daemon.h"
#include "crmgate/log.h"
#include "worker.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: crmgate-worker [-c FILE] [-l LEVEL]\n"
            "  -c, --config FILE   configuration (default %s)\n"
            "  -l, --log-level L   debug, info, warn or error\n"
            "  -h, --help          this text\n"
            "  -V, --version       print the version\n",
            config_default_path());
}

int main(int argc, char **argv)
{
    crm_config *cfg = NULL;
    int rc;
    if (!daemon_setup("crmgate-worker", argc, argv, usage, &cfg, &rc))
        return rc;
    signal(SIGPIPE, SIG_IGN);
    rc = worker_pool_run(cfg);
    config_free(&cfg);
    return rc;
}
