/*
 * log.h - one severity ladder for every crmgate program.
 *
 * Lines go to stderr (with a timestamp) or to syslog. Each call writes one
 * whole line; callers format key=value fields. Never log secrets or bodies.
 */
#ifndef CRMGATE_LOG_H
#define CRMGATE_LOG_H

#include <stdbool.h>

typedef enum {
    LOG_LEVEL_DEBUG = 0,
    LOG_LEVEL_INFO,
    LOG_LEVEL_WARN,
    LOG_LEVEL_ERROR,
} log_level;

/* Sets the program name, the lowest level written and the destination. */
void log_init(const char *ident, log_level level, bool use_syslog);
/* Parses "debug", "info", "warn" or "error"; returns false if unknown. */
bool log_level_parse(const char *name, log_level *level_r);
/* The name log_level_parse() takes for level. */
const char *log_level_name(log_level level);
/* True when messages at level would be written. */
bool log_enabled(log_level level);

void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Logs at error level and exits with the given sysexits.h code. */
void log_fatal(int exit_code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

#endif
