/*
 * daemon.c - the shared start-up of crmgate-web and crmgate-worker:
 * arguments, configuration, log (crmgate-milter has its own: libmilter's
 * socket option and the ingester child).
 */
#include "crmgate/daemon.h"

#include <getopt.h>
#include <glib.h>
#include <sysexits.h>

#include "crmgate/log.h"

bool daemon_setup(const char *prog, int argc, char **argv,
                  void (*usage)(FILE *out), crm_config **cfg_r, int *exit_r)
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
    *cfg_r = NULL;
    *exit_r = 0;
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
            return false;
        case 'V':
            printf("%s %s\n", prog, CRM_VERSION);
            return false;
        default:
            usage(stderr);
            *exit_r = EX_USAGE;
            return false;
        }
    }
    if (optind != argc) {
        usage(stderr);
        *exit_r = EX_USAGE;
        return false;
    }
    if (!path)
        path = config_default_path();
    crm_config *cfg = NULL;
    char *err = NULL;
    if (config_load(path, &cfg, &err)) {
        fprintf(stderr, "%s: %s\n", prog, err);
        g_free(err);
        *exit_r = EX_CONFIG;
        return false;
    }
    log_level lv = cfg->log_level;
    if (level && !log_level_parse(level, &lv)) {
        fprintf(stderr, "%s: unknown log level '%s'\n", prog, level);
        config_free(&cfg);
        *exit_r = EX_USAGE;
        return false;
    }
    log_init(prog, lv, cfg->log_syslog);
    *cfg_r = cfg;
    return true;
}
