/*
 * config_int.h - what config.c and config_table.c share: the libconfuse
 * table and its parser with file-and-line errors.
 */
#ifndef CRMGATE_CONFIG_INT_H
#define CRMGATE_CONFIG_INT_H

#include <confuse.h>

#include "crmgate/config.h"

/* The default of mail.freemail_domains_file (next to the config file). */
#define DEFAULT_FREEMAIL_FILE "freemail-domains.txt"

/* A new table with its validators and error reporting (cfg_free it). */
cfg_t *config_table_new(void);

/* Parses path into a new table (*top_r, cfg_free it): CRM_ERR_CONFIG with
   "FILE:LINE: message" for a syntax error, an unknown option, a value out
   of range or a section that is never closed. */
crm_result config_table_parse(const char *path, cfg_t **top_r, char **error_r);

#endif
