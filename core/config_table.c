/*
 * config_table.c - crmgate.conf's declarative libconfuse table: every
 * section's options with their defaults, the range of each integer option
 * (checked in a validation callback, so a value out of range is reported
 * with file and line like a syntax error), the list validators, and the
 * error reporting that puts file and line on libconfuse's messages.
 * config.c turns a parsed table into a crm_config.
 */
#include <confuse.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "config_int.h"
#include "crmgate/addr.h"
#include "crmgate/log.h"
#include "crmgate/mime_guard.h"

typedef struct {
    const char *name;
    long min;
    long max;
} int_range;

static const int_range ranges[] = {
    {"time_budget_ms", 10, 60000},
    {"pool_size", 1, 256},
    {"header_bytes", 1024, 16 * 1024 * 1024},
    {"body_memory_bytes", 4096, 512L * 1024 * 1024},
    {"message_bytes", 65536, 2047L * 1024 * 1024},
    {"text_bytes", 1024, 64L * 1024 * 1024},
    {"attachment_store_bytes", 0, 512L * 1024 * 1024},
    {"open_deals_linked", 0, 100},
    {"max_recipients", 1, 100000},
    {"max_parts", 1, 100000},
    {"max_depth", 1, 64},
    {"part_header_bytes", 1024, 16 * 1024 * 1024},
    {"part_headers", 10, 1000000},
    {"total_header_bytes", 4096, 64L * 1024 * 1024},
    {"total_headers", 10, 10000000},
    {"line_bytes", 1000, 16 * 1024 * 1024},
    {"replay_interval", 1, 86400},
    {"timeout", 1, 3600},
    {"drain_timeout", 0, 3600},
    {"parse_timeout", 1, 3600},
    {"ingest_batch", 1, 1000},
    {"ingest_attempts", 1, 100},
    {"port", 1, 65535},
    {"threads", 1, 256},
    {"connection_limit", 1, 100000},
    {"per_ip_limit", 0, 100000},
    {"body_bytes", 1024, 64L * 1024 * 1024},
    {"request_timeout", 1, 3600},
    {"session_ttl", 60, 90L * 86400},
    {"login_failures_account", 1, 1000},
    {"login_failures_addr", 1, 100000},
    {"login_window", 10, 86400},
    {"poll_interval_ms", 10, 600000},
    {"lease", 5, 86400},
    {"heartbeat", 1, 3600},
    {"batch", 1, 10000},
    {"max_attempts", 1, 1000},
    {"retry_base", 1, 86400},
    {"retry_max", 1, 7L * 86400},
    {"soft_bounce_limit", 1, 1000},
    {"soft_bounce_window", 1, 365},
    {"domain_concurrency", 1, 1000},
    {"domain_rate", 0, 1000000},
    {"concurrency", 1, 1000},
    {"smtp_timeout", 1, 3600},
    {"throttle_pause", 1, 86400},
    {"ab_wait", 0, 30L * 86400},
    {"ab_sample_percent", 1, 50},
    {"replay_window", 1, 86400},
    {"recording_delay", 0, 86400},
    {"recording_max_bytes", 1024, 1024L * 1024 * 1024},
    {"api_timeout", 1, 600},
};

static int validate_int(cfg_t *cfg, cfg_opt_t *opt)
{
    long v = cfg_opt_getnint(opt, cfg_opt_size(opt) - 1);
    for (size_t i = 0; i < G_N_ELEMENTS(ranges); i++) {
        if (strcmp(ranges[i].name, opt->name) != 0)
            continue;
        if (v < ranges[i].min || v > ranges[i].max) {
            cfg_error(cfg, "option '%s' is %ld, must be between %ld and %ld",
                      opt->name, v, ranges[i].min, ranges[i].max);
            return -1;
        }
    }
    return 0;
}

static int validate_level(cfg_t *cfg, cfg_opt_t *opt)
{
    log_level level;
    const char *v = cfg_opt_getnstr(opt, 0);
    if (!log_level_parse(v, &level)) {
        cfg_error(cfg,
                  "option 'level' is '%s', must be debug, info, warn "
                  "or error",
                  v);
        return -1;
    }
    return 0;
}

/* Checks that normalize() accepts every value of a list option. */
static int validate_each(cfg_t *cfg, cfg_opt_t *opt,
                         char *(*normalize)(const char *), const char *what)
{
    for (unsigned i = 0; i < cfg_opt_size(opt); i++) {
        g_autofree char *v = normalize(cfg_opt_getnstr(opt, i));
        if (!v) {
            cfg_error(cfg, "option '%s': '%s' is not %s", opt->name,
                      cfg_opt_getnstr(opt, i), what);
            return -1;
        }
    }
    return 0;
}

static int validate_domains(cfg_t *cfg, cfg_opt_t *opt)
{
    return validate_each(cfg, opt, addr_normalize_domain, "a domain");
}

static int validate_addresses(cfg_t *cfg, cfg_opt_t *opt)
{
    return validate_each(cfg, opt, addr_normalize, "an address");
}

static cfg_opt_t database_opts[] = {
    CFG_STR("dsn", "", CFGF_NONE),
    CFG_STR("milter_dsn", "", CFGF_NONE),
    CFG_STR("web_dsn", "", CFGF_NONE),
    CFG_STR("worker_dsn", "", CFGF_NONE),
    CFG_STR("worker_listen_dsn", "", CFGF_NONE),
    CFG_INT("time_budget_ms", 2000, CFGF_NONE),
    CFG_INT("pool_size", 2, CFGF_NONE),
    CFG_END(),
};

static cfg_opt_t sales_inbox_opts[] = {
    CFG_STR("lead_source", "email", CFGF_NONE),
    CFG_STR("owner", "", CFGF_NONE),
    CFG_END(),
};

static cfg_opt_t mail_opts[] = {
    CFG_STR_LIST("internal_domains", "{}", CFGF_NONE),
    CFG_STR("capture_local_part", "crm", CFGF_NONE),
    CFG_STR("capture_domain", "", CFGF_NONE),
    CFG_BOOL("log_internal", cfg_false, CFGF_NONE),
    CFG_STR("originating_daemon_name", "ORIGINATING", CFGF_NONE),
    CFG_BOOL("token_require_login", cfg_false, CFGF_NONE),
    CFG_STR_LIST("never_log_addresses", "{}", CFGF_NONE),
    CFG_STR_LIST("never_log_domains", "{}", CFGF_NONE),
    CFG_STR("freemail_domains_file", DEFAULT_FREEMAIL_FILE, CFGF_NONE),
    CFG_STR_LIST("freemail_domains", "{}", CFGF_NONE),
    CFG_SEC("sales_inbox", sales_inbox_opts, CFGF_MULTI | CFGF_TITLE),
    CFG_END(),
};

static cfg_opt_t limits_opts[] = {
    CFG_INT("header_bytes", 65536, CFGF_NONE),
    CFG_INT("body_memory_bytes", 1048576, CFGF_NONE),
    CFG_INT("message_bytes", 104857600, CFGF_NONE),
    CFG_INT("text_bytes", 262144, CFGF_NONE),
    CFG_INT("attachment_store_bytes", 10485760, CFGF_NONE),
    CFG_INT("open_deals_linked", 3, CFGF_NONE),
    CFG_INT("max_recipients", 1000, CFGF_NONE),
    CFG_INT("max_parts", MIME_GUARD_MAX_PARTS, CFGF_NONE),
    CFG_INT("max_depth", MIME_GUARD_MAX_DEPTH, CFGF_NONE),
    CFG_INT("part_header_bytes", MIME_GUARD_PART_HEADER_BYTES, CFGF_NONE),
    CFG_INT("part_headers", MIME_GUARD_PART_HEADERS, CFGF_NONE),
    CFG_INT("total_header_bytes", MIME_GUARD_TOTAL_HEADER_BYTES, CFGF_NONE),
    CFG_INT("total_headers", MIME_GUARD_TOTAL_HEADERS, CFGF_NONE),
    CFG_INT("line_bytes", MIME_GUARD_LINE_BYTES, CFGF_NONE),
    CFG_END(),
};

static cfg_opt_t milter_opts[] = {
    CFG_STR("socket", "inet:8891@127.0.0.1", CFGF_NONE),
    CFG_STR("spool_dir", "../var/spool", CFGF_NONE),
    CFG_INT("replay_interval", 30, CFGF_NONE),
    CFG_INT("timeout", 300, CFGF_NONE),
    CFG_INT("drain_timeout", 30, CFGF_NONE),
    CFG_INT("parse_timeout", 30, CFGF_NONE),
    CFG_INT("ingest_batch", 64, CFGF_NONE),
    CFG_INT("ingest_attempts", 3, CFGF_NONE),
    CFG_END(),
};

static cfg_opt_t web_opts[] = {
    CFG_STR("listen", "127.0.0.1", CFGF_NONE),
    CFG_INT("port", 8080, CFGF_NONE),
    CFG_INT("threads", 4, CFGF_NONE),
    CFG_INT("connection_limit", 512, CFGF_NONE),
    CFG_INT("per_ip_limit", 64, CFGF_NONE),
    CFG_INT("body_bytes", 1048576, CFGF_NONE),
    CFG_INT("request_timeout", 30, CFGF_NONE),
    CFG_STR("base_url", "", CFGF_NONE),
    CFG_BOOL("cookie_secure", cfg_false, CFGF_NONE),
    CFG_INT("session_ttl", 43200, CFGF_NONE),
    CFG_STR("secret", "", CFGF_NONE),
    CFG_STR_LIST("metrics_allow", "{127.0.0.1, ::1}", CFGF_NONE),
    CFG_INT("login_failures_account", 5, CFGF_NONE),
    CFG_INT("login_failures_addr", 20, CFGF_NONE),
    CFG_INT("login_window", 900, CFGF_NONE),
    CFG_END(),
};

static cfg_opt_t worker_opts[] = {
    CFG_INT("threads", 4, CFGF_NONE),
    CFG_INT("poll_interval_ms", 1000, CFGF_NONE),
    CFG_INT("lease", 60, CFGF_NONE),
    CFG_INT("heartbeat", 10, CFGF_NONE),
    CFG_INT("batch", 100, CFGF_NONE),
    CFG_INT("max_attempts", 10, CFGF_NONE),
    CFG_INT("retry_base", 10, CFGF_NONE),
    CFG_INT("retry_max", 3600, CFGF_NONE),
    CFG_INT("drain_timeout", 30, CFGF_NONE),
    CFG_END(),
};

static cfg_opt_t campaign_opts[] = {
    CFG_STR("secret", "", CFGF_NONE),
    CFG_STR("bounce_domain", "", CFGF_NONE),
    CFG_STR("feedback_id", "crmgate", CFGF_NONE),
    CFG_INT("batch", 100, CFGF_NONE),
    CFG_INT("concurrency", 4, CFGF_NONE),
    CFG_INT("domain_concurrency", 4, CFGF_NONE),
    CFG_INT("domain_rate", 0, CFGF_NONE),
    CFG_INT("smtp_timeout", 60, CFGF_NONE),
    CFG_INT("throttle_pause", 60, CFGF_NONE),
    CFG_INT("max_attempts", 5, CFGF_NONE),
    CFG_INT("soft_bounce_limit", 3, CFGF_NONE),
    CFG_INT("soft_bounce_window", 30, CFGF_NONE),
    CFG_BOOL("track_opens", cfg_false, CFGF_NONE),
    CFG_BOOL("track_clicks", cfg_false, CFGF_NONE),
    CFG_BOOL("track_anonymous", cfg_false, CFGF_NONE),
    CFG_STR("ab_winner_by", "replies", CFGF_NONE),
    CFG_INT("ab_wait", 14400, CFGF_NONE),
    CFG_INT("ab_sample_percent", 10, CFGF_NONE),
    CFG_END(),
};

static cfg_opt_t voip_opts[] = {
    CFG_STR("zadarma_path", "/voip/zadarma", CFGF_NONE),
    CFG_STR("zadarma_secret", "", CFGF_NONE),
    CFG_STR("zadarma_key", "", CFGF_NONE),
    CFG_STR("zadarma_api_url", "https://api.zadarma.com", CFGF_NONE),
    CFG_STR("zadarma_timezone", "UTC", CFGF_NONE),
    CFG_STR("events_secret", "", CFGF_NONE),
    CFG_INT("replay_window", 300, CFGF_NONE),
    CFG_STR_LIST("allow", "{}", CFGF_NONE),
    CFG_STR("default_country", "", CFGF_NONE),
    CFG_INT("recording_delay", 40, CFGF_NONE),
    CFG_INT("recording_max_bytes", 52428800, CFGF_NONE),
    CFG_INT("api_timeout", 10, CFGF_NONE),
    CFG_END(),
};

static cfg_opt_t log_opts[] = {
    CFG_STR("level", "info", CFGF_NONE),
    CFG_BOOL("syslog", cfg_false, CFGF_NONE),
    CFG_END(),
};

static cfg_opt_t top_opts[] = {
    CFG_SEC("database", database_opts, CFGF_NONE),
    CFG_SEC("mail", mail_opts, CFGF_NONE),
    CFG_SEC("limits", limits_opts, CFGF_NONE),
    CFG_SEC("milter", milter_opts, CFGF_NONE),
    CFG_SEC("web", web_opts, CFGF_NONE),
    CFG_SEC("worker", worker_opts, CFGF_NONE),
    CFG_SEC("campaign", campaign_opts, CFGF_NONE),
    CFG_SEC("voip", voip_opts, CFGF_NONE),
    CFG_SEC("log", log_opts, CFGF_NONE),
    CFG_END(),
};

/* libconfuse reports through this; keep the last message for the caller. */
static GPrivate config_error_key = G_PRIVATE_INIT(g_free);
/* The file being parsed: a section's own cfg_t may not carry the line. */
static _Thread_local cfg_t *parsing_top;
static _Thread_local const char *parsing_path;

/* libconfuse does not know the line for some errors inside sections
   ("no such option 'x'"): find the first line where the quoted name is
   used as a key, outside comments. Returns fallback when not found. */
static int guess_line(const char *path, const char *msg, int fallback)
{
    const char *q = strchr(msg, '\'');
    const char *e = q ? strchr(q + 1, '\'') : NULL;
    g_autofree char *text = NULL;
    if (!e || e == q + 1 || !g_file_get_contents(path, &text, NULL, NULL))
        return fallback;
    g_autofree char *name = g_strndup(q + 1, (gsize)(e - q - 1));
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    for (int i = 0; lines[i]; i++) {
        char *hash = strchr(lines[i], '#');
        if (hash)
            *hash = '\0';
        const char *hit = strstr(lines[i], name);
        while (hit) {
            gsize n = strlen(name);
            bool start = hit == lines[i] || !g_ascii_isalnum(hit[-1]);
            bool end = !g_ascii_isalnum(hit[n]) && hit[n] != '_';
            if (start && end && (hit == lines[i] || hit[-1] != '_'))
                return i + 1;
            hit = strstr(hit + 1, name);
        }
    }
    return fallback;
}

/* libconfuse accepts a file that ends inside a section; we do not. Scans
   text for braces outside strings and comments; returns the line of the
   first unclosed '{', or 0 when all are closed. */
static int unclosed_brace_line(const char *text)
{
    GArray *open = g_array_new(FALSE, FALSE, sizeof(int));
    int line = 1;
    for (const char *p = text; *p; p++) {
        if (*p == '\n') {
            line++;
        } else if (*p == '#' || (p[0] == '/' && p[1] == '/')) {
            while (p[1] && p[1] != '\n')
                p++;
        } else if (p[0] == '/' && p[1] == '*') {
            for (p += 2; *p && !(p[0] == '*' && p[1] == '/'); p++)
                line += *p == '\n';
            if (!*p)
                break;
            p++;
        } else if (*p == '"' || *p == '\'') {
            char q = *p;
            for (p++; *p && *p != q; p++) {
                if (*p == '\\' && p[1])
                    p++;
                line += *p == '\n';
            }
            if (!*p)
                break;
        } else if (*p == '{') {
            g_array_append_val(open, line);
        } else if (*p == '}' && open->len > 0) {
            g_array_set_size(open, open->len - 1);
        }
    }
    int first = open->len ? g_array_index(open, int, open->len - 1) : 0;
    g_array_free(open, TRUE);
    return first;
}

static void config_error_fn(cfg_t *cfg, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void config_error_fn(cfg_t *cfg, const char *fmt, va_list ap)
{
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    char *full;
    if (cfg && !cfg->line && parsing_top)
        cfg = parsing_top;
    int line = cfg ? cfg->line : 0;
    const char *file = cfg && cfg->filename ? cfg->filename : parsing_path;
    if (file && line <= 1)
        line = guess_line(file, msg, line);
    if (file && line)
        full = g_strdup_printf("%s:%d: %s", file, line, msg);
    else if (file)
        full = g_strdup_printf("%s: %s", file, msg);
    else
        full = g_strdup(msg);
    g_private_replace(&config_error_key, full);
}

cfg_t *config_table_new(void)
{
    cfg_t *top = cfg_init(top_opts, CFGF_NONE);
    cfg_set_error_function(top, config_error_fn);
    static const char *const int_opts[][2] = {
        {"database", "time_budget_ms"},
        {"database", "pool_size"},
        {"limits", "header_bytes"},
        {"limits", "body_memory_bytes"},
        {"limits", "message_bytes"},
        {"limits", "text_bytes"},
        {"limits", "attachment_store_bytes"},
        {"limits", "open_deals_linked"},
        {"limits", "max_recipients"},
        {"limits", "max_parts"},
        {"limits", "max_depth"},
        {"limits", "part_header_bytes"},
        {"limits", "part_headers"},
        {"limits", "total_header_bytes"},
        {"limits", "total_headers"},
        {"limits", "line_bytes"},
        {"milter", "replay_interval"},
        {"milter", "timeout"},
        {"milter", "drain_timeout"},
        {"milter", "parse_timeout"},
        {"milter", "ingest_batch"},
        {"milter", "ingest_attempts"},
        {"web", "port"},
        {"web", "threads"},
        {"web", "connection_limit"},
        {"web", "per_ip_limit"},
        {"web", "body_bytes"},
        {"web", "request_timeout"},
        {"web", "session_ttl"},
        {"web", "login_failures_account"},
        {"web", "login_failures_addr"},
        {"web", "login_window"},
        {"worker", "threads"},
        {"worker", "poll_interval_ms"},
        {"worker", "lease"},
        {"worker", "heartbeat"},
        {"worker", "batch"},
        {"worker", "max_attempts"},
        {"worker", "retry_base"},
        {"worker", "retry_max"},
        {"worker", "drain_timeout"},
        {"campaign", "batch"},
        {"campaign", "concurrency"},
        {"campaign", "domain_concurrency"},
        {"campaign", "domain_rate"},
        {"campaign", "smtp_timeout"},
        {"campaign", "throttle_pause"},
        {"campaign", "max_attempts"},
        {"campaign", "soft_bounce_limit"},
        {"campaign", "soft_bounce_window"},
        {"campaign", "ab_wait"},
        {"campaign", "ab_sample_percent"},
        {"voip", "replay_window"},
        {"voip", "recording_delay"},
        {"voip", "recording_max_bytes"},
        {"voip", "api_timeout"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(int_opts); i++) {
        g_autofree char *name =
            g_strdup_printf("%s|%s", int_opts[i][0], int_opts[i][1]);
        cfg_set_validate_func(top, name, validate_int);
    }
    cfg_set_validate_func(top, "log|level", validate_level);
    cfg_set_validate_func(top, "mail|internal_domains", validate_domains);
    cfg_set_validate_func(top, "mail|never_log_domains", validate_domains);
    cfg_set_validate_func(top, "mail|freemail_domains", validate_domains);
    cfg_set_validate_func(top, "mail|never_log_addresses", validate_addresses);
    return top;
}

crm_result config_table_parse(const char *path, cfg_t **top_r, char **error_r)
{
    *top_r = NULL;
    g_autofree char *text = NULL;
    if (g_file_get_contents(path, &text, NULL, NULL)) {
        int open_line = unclosed_brace_line(text);
        if (open_line) {
            *error_r = g_strdup_printf("%s:%d: section opened here is never "
                                       "closed",
                                       path, open_line);
            return CRM_ERR_CONFIG;
        }
    }
    cfg_t *top = config_table_new();
    g_private_replace(&config_error_key, NULL);
    parsing_top = top;
    parsing_path = path;
    int rc = cfg_parse(top, path);
    parsing_top = NULL;
    parsing_path = NULL;
    if (rc != CFG_SUCCESS) {
        const char *msg = g_private_get(&config_error_key);
        *error_r = g_strdup(msg ? msg
                                : (rc == CFG_FILE_ERROR ? "cannot read the file"
                                                        : "parse error"));
        if (!msg || !strstr(*error_r, path)) {
            char *tmp = *error_r;
            *error_r = g_strdup_printf("%s: %s", path, tmp);
            g_free(tmp);
        }
        cfg_free(top);
        return CRM_ERR_CONFIG;
    }
    *top_r = top;
    return CRM_OK;
}
