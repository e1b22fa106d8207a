/*
 * main.c - crmgate-worker: runs the jobs of the PostgreSQL queue
 * (core/jobs.c) with a pool of threads (pool.c), each with its own
 * connection. Arguments, configuration, log; the rest is pool.c.
 * SIGTERM/SIGINT drain (worker.drain_timeout) and exit 0.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <sysexits.h>

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
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"log-level", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *path = NULL, *level = NULL;
    int ch;
    while ((ch = getopt_long(argc, argv, "c:l:hV", opts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            path = optarg;
            break;
        case 'l':
            level = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("crmgate-worker %s\n", CRM_VERSION);
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
    crm_config *cfg = NULL;
    char *err = NULL;
    if (config_load(path, &cfg, &err)) {
        fprintf(stderr, "crmgate-worker: %s\n", err);
        g_free(err);
        return EX_CONFIG;
    }
    log_level lv = cfg->log_level;
    if (level && !log_level_parse(level, &lv)) {
        fprintf(stderr, "crmgate-worker: unknown log level '%s'\n", level);
        config_free(&cfg);
        return EX_USAGE;
    }
    log_init("crmgate-worker", lv, cfg->log_syslog);
    signal(SIGPIPE, SIG_IGN);
    int rc = worker_pool_run(cfg);
    config_free(&cfg);
    return rc;
}
