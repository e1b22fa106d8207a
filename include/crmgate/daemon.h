/*
 * daemon.h - the start-up every crmgate daemon without a protocol of its
 * own shares (crmgate-web, crmgate-worker): -c FILE, -l LEVEL, -h, -V, the
 * configuration and the log.
 */
#ifndef CRMGATE_DAEMON_H
#define CRMGATE_DAEMON_H

#include <stdbool.h>
#include <stdio.h>

#include "crmgate/config.h"

/* Parses argv (-c/--config FILE, -l/--log-level LEVEL, -h/--help,
   -V/--version), loads the configuration and starts the log as prog.
   Returns true with *cfg_r set (config_free it) to go on; false with
   *exit_r the exit code: 0 after --help or --version, EX_USAGE for bad
   arguments, EX_CONFIG for a bad configuration. usage prints the
   program's help to out. */
bool daemon_setup(const char *prog, int argc, char **argv,
                  void (*usage)(FILE *out), crm_config **cfg_r, int *exit_r);

#endif
