/*
 * log.c - the severity ladder: debug, info, warn, error, fatal.
 *
 * One call writes one line, to stderr with an ISO timestamp and the program
 * name, or to syslog (LOG_MAIL). The line is formatted into one buffer and
 * written with a single write() so that threads never interleave halves.
 * Lines longer than 4 KiB are cut and end in "...".
 */
#include "crmgate/log.h"

#include <glib.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#define LOG_LINE_MAX 4096

static char log_ident[64] = "crmgate";
static log_level log_min = LOG_LEVEL_INFO;
static bool log_syslog;

void log_init(const char *ident, log_level level, bool use_syslog)
{
    g_strlcpy(log_ident, ident, sizeof(log_ident));
    log_min = level;
    log_syslog = use_syslog;
    if (use_syslog)
        openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

bool log_level_parse(const char *name, log_level *level_r)
{
    static const struct {
        const char *name;
        log_level level;
    } names[] = {
        {"debug", LOG_LEVEL_DEBUG}, {"info", LOG_LEVEL_INFO},
        {"warn", LOG_LEVEL_WARN},   {"warning", LOG_LEVEL_WARN},
        {"error", LOG_LEVEL_ERROR},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
        if (g_ascii_strcasecmp(name, names[i].name) == 0) {
            *level_r = names[i].level;
            return true;
        }
    }
    return false;
}

const char *log_level_name(log_level level)
{
    switch (level) {
    case LOG_LEVEL_DEBUG:
        return "debug";
    case LOG_LEVEL_INFO:
        return "info";
    case LOG_LEVEL_WARN:
        return "warn";
    case LOG_LEVEL_ERROR:
        return "error";
    }
    return "info";
}

bool log_enabled(log_level level)
{
    return level >= log_min;
}

static void log_write(log_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void log_write(log_level level, const char *fmt, va_list ap)
{
    static const char *const label[] = {"debug", "info", "warn", "error"};
    static const int prio[] = {LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR};
    char line[LOG_LINE_MAX];
    int n;

    if (level < log_min)
        return;
    if (log_syslog) {
        vsnprintf(line, sizeof(line), fmt, ap); // NOLINT: ap is the caller's
        syslog(prio[level], "%s: %s", label[level], line);
        return;
    }
    GDateTime *now = g_date_time_new_now_utc();
    /* RFC 3339 in UTC with microseconds */
    g_autofree char *stamp = g_date_time_format(now, "%Y-%m-%dT%H:%M:%S.%fZ");
    g_date_time_unref(now);
    n = snprintf(line, sizeof(line), "%s %s[%d]: %s: ", stamp, log_ident,
                 (int)getpid(), label[level]);
    if (n < 0 || (size_t)n >= sizeof(line))
        n = 0;
    // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): ap is the caller's
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    size_t len;
    if (m < 0) {
        len = (size_t)n;
    } else if ((size_t)m >= sizeof(line) - (size_t)n - 1) {
        len = sizeof(line) - 2;
        /* Mark the cut; the newline below ends the line, no NUL needed. */
        memcpy(line + len - 3, "...", 3); // NOLINT(bugprone-not-null-*)
    } else {
        len = (size_t)n + (size_t)m;
    }
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

#define LOG_FN(fn, level)                                                      \
    void fn(const char *fmt, ...)                                              \
    {                                                                          \
        va_list ap;                                                            \
        va_start(ap, fmt);                                                     \
        log_write(level, fmt, ap);                                             \
        va_end(ap);                                                            \
    }

LOG_FN(log_debug, LOG_LEVEL_DEBUG)
LOG_FN(log_info, LOG_LEVEL_INFO)
LOG_FN(log_warn, LOG_LEVEL_WARN)
LOG_FN(log_error, LOG_LEVEL_ERROR)

void log_fatal(int exit_code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_write(LOG_LEVEL_ERROR, fmt, ap);
    va_end(ap);
    exit(exit_code);
}
