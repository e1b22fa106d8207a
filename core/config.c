/*
 * config.c - load and validate crmgate.conf with libconfuse.
 *
 * The table (sections, defaults, ranges, validators, error reporting) is
 * config_table.c's; here a parsed table becomes a crm_config, checked
 * across options, with files named in it read. Lists of domains and
 * addresses are normalised once here into hash sets, so the hot path does
 * one lookup.
 */
#include "crmgate/config.h"

#include <confuse.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config_int.h"
#include "crmgate/addr.h"

#define DEFAULT_DSN "host=127.0.0.1 port=55432 dbname=crmgate user=crmgate"

const char *config_default_path(void)
{
    const char *env = g_getenv("CRMGATE_CONFIG");
    if (env && *env)
        return env;
    if (access("etc/crmgate.conf", R_OK) == 0)
        return "etc/crmgate.conf";
    return CRM_SYSCONFDIR "/crmgate/crmgate.conf";
}

static char *resolve_path(const crm_config *cfg, const char *p)
{
    if (g_path_is_absolute(p))
        return g_strdup(p);
    return g_build_filename(cfg->dir, p, NULL);
}

static GHashTable *string_set_new(void)
{
    return g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
}

static void sales_inbox_free(gpointer p)
{
    config_sales_inbox *s = p;
    g_free(s->address);
    g_free(s->lead_source);
    g_free(s->owner);
    g_free(s);
}

/* Adds every value of a list option, normalised, to set. */
static void add_normalized(GHashTable *set, cfg_t *sec, const char *opt,
                           char *(*normalize)(const char *))
{
    for (unsigned i = 0; i < cfg_size(sec, opt); i++) {
        char *v = normalize(cfg_getnstr(sec, opt, i));
        if (v)
            g_hash_table_add(set, v);
    }
}

/* Reads one domain a line; '#' starts a comment. */
static crm_result load_domain_file(GHashTable *set, const char *path,
                                   char **error_r)
{
    g_autofree char *text = NULL;
    g_autoptr(GError) err = NULL;
    if (!g_file_get_contents(path, &text, NULL, &err)) {
        *error_r = g_strdup_printf("%s: %s", path, err->message);
        return CRM_ERR_CONFIG;
    }
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    for (guint i = 0; lines[i]; i++) {
        char *hash = strchr(lines[i], '#');
        if (hash)
            *hash = '\0';
        g_strstrip(lines[i]);
        if (!*lines[i])
            continue;
        char *d = addr_normalize_domain(lines[i]);
        if (!d) {
            *error_r = g_strdup_printf("%s:%u: '%s' is not a domain", path,
                                       i + 1, lines[i]);
            return CRM_ERR_CONFIG;
        }
        g_hash_table_add(set, d);
    }
    return CRM_OK;
}

/* The environment variable when set, else the configured value when not
   empty, else fallback (borrowed). */
static const char *first_set(const char *env_name, const char *value,
                             const char *fallback)
{
    const char *env = g_getenv(env_name);
    if (env && *env)
        return env;
    return value && *value ? value : fallback;
}

/* Builds the configuration from a parsed table (every key present, with
   its table default when the file did not set it). Files named in it are
   read only when read_files is true. */
static crm_result config_fill(crm_config *cfg, cfg_t *top, bool read_files,
                              char **error_r)
{
    cfg_t *db = cfg_getsec(top, "database");
    cfg_t *mail = cfg_getsec(top, "mail");
    cfg_t *lim = cfg_getsec(top, "limits");
    cfg_t *mil = cfg_getsec(top, "milter");
    cfg_t *log = cfg_getsec(top, "log");
    cfg_t *web = cfg_getsec(top, "web");
    g_free(cfg->dsn);
    cfg->dsn =
        g_strdup(first_set("CRMGATE_DSN", cfg_getstr(db, "dsn"), DEFAULT_DSN));
    g_free(cfg->milter_dsn);
    cfg->milter_dsn = g_strdup(first_set(
        "CRMGATE_MILTER_DSN", cfg_getstr(db, "milter_dsn"), cfg->dsn));
    g_free(cfg->web_dsn);
    cfg->web_dsn = g_strdup(
        first_set("CRMGATE_WEB_DSN", cfg_getstr(db, "web_dsn"), cfg->dsn));
    g_free(cfg->worker_dsn);
    cfg->worker_dsn = g_strdup(first_set(
        "CRMGATE_WORKER_DSN", cfg_getstr(db, "worker_dsn"), cfg->dsn));
    g_free(cfg->worker_listen_dsn);
    cfg->worker_listen_dsn = g_strdup(
        first_set("CRMGATE_WORKER_LISTEN_DSN",
                  cfg_getstr(db, "worker_listen_dsn"), cfg->worker_dsn));
    cfg->db_time_budget_ms = (guint)cfg_getint(db, "time_budget_ms");
    cfg->db_pool_size = (guint)cfg_getint(db, "pool_size");

    add_normalized(cfg->internal_domains, mail, "internal_domains",
                   addr_normalize_domain);
    g_free(cfg->capture_local);
    cfg->capture_local =
        g_ascii_strdown(cfg_getstr(mail, "capture_local_part"), -1);
    g_free(cfg->capture_domain);
    const char *cd = cfg_getstr(mail, "capture_domain");
    cfg->capture_domain = *cd ? addr_normalize_domain(cd) : g_strdup("");
    if (!cfg->capture_domain) {
        *error_r = g_strdup_printf("%s: mail.capture_domain '%s' is not a "
                                   "domain",
                                   cfg->path, cd);
        return CRM_ERR_CONFIG;
    }
    cfg->log_internal = cfg_getbool(mail, "log_internal");
    cfg->token_require_login = cfg_getbool(mail, "token_require_login");
    g_free(cfg->originating_daemon);
    cfg->originating_daemon =
        g_strdup(cfg_getstr(mail, "originating_daemon_name"));
    add_normalized(cfg->never_log_addresses, mail, "never_log_addresses",
                   addr_normalize);
    add_normalized(cfg->never_log_domains, mail, "never_log_domains",
                   addr_normalize_domain);
    add_normalized(cfg->freemail_domains, mail, "freemail_domains",
                   addr_normalize_domain);
    const char *ff = cfg_getstr(mail, "freemail_domains_file");
    if (*ff && read_files) {
        g_autofree char *p = resolve_path(cfg, ff);
        /* The default file is optional; a file named in the config is not. */
        bool optional =
            strcmp(ff, DEFAULT_FREEMAIL_FILE) == 0 && access(p, F_OK) != 0;
        if (!optional) {
            crm_result r = load_domain_file(cfg->freemail_domains, p, error_r);
            if (r)
                return r;
        }
    }
    for (unsigned i = 0; i < cfg_size(mail, "sales_inbox"); i++) {
        cfg_t *s = cfg_getnsec(mail, "sales_inbox", i);
        config_sales_inbox *si = g_new0(config_sales_inbox, 1);
        si->address = addr_normalize(cfg_title(s));
        si->lead_source = g_strdup(cfg_getstr(s, "lead_source"));
        const char *owner = cfg_getstr(s, "owner");
        si->owner = *owner ? addr_normalize(owner) : NULL;
        if (!si->address || (*owner && !si->owner) || !*si->lead_source) {
            *error_r = g_strdup_printf(
                "%s: sales_inbox '%s': needs a valid address, owner address "
                "and a lead_source",
                cfg->path, cfg_title(s));
            sales_inbox_free(si);
            return CRM_ERR_CONFIG;
        }
        g_hash_table_replace(cfg->sales_inboxes, si->address, si);
    }

    cfg->header_bytes = (gsize)cfg_getint(lim, "header_bytes");
    cfg->body_memory_bytes = (gsize)cfg_getint(lim, "body_memory_bytes");
    cfg->message_bytes = (gsize)cfg_getint(lim, "message_bytes");
    cfg->text_bytes = (gsize)cfg_getint(lim, "text_bytes");
    cfg->attachment_store_bytes =
        (gsize)cfg_getint(lim, "attachment_store_bytes");
    cfg->open_deals_linked = (guint)cfg_getint(lim, "open_deals_linked");
    cfg->max_recipients = (guint)cfg_getint(lim, "max_recipients");
    cfg->max_parts = (guint)cfg_getint(lim, "max_parts");
    cfg->max_depth = (guint)cfg_getint(lim, "max_depth");
    cfg->part_header_bytes = (gsize)cfg_getint(lim, "part_header_bytes");
    cfg->part_headers = (guint)cfg_getint(lim, "part_headers");
    cfg->total_header_bytes = (gsize)cfg_getint(lim, "total_header_bytes");
    cfg->total_headers = (guint)cfg_getint(lim, "total_headers");
    cfg->line_bytes = (gsize)cfg_getint(lim, "line_bytes");

    g_free(cfg->milter_socket);
    cfg->milter_socket = g_strdup(cfg_getstr(mil, "socket"));
    g_free(cfg->spool_dir);
    cfg->spool_dir = resolve_path(
        cfg, first_set("CRMGATE_SPOOL_DIR", cfg_getstr(mil, "spool_dir"), ""));
    cfg->replay_interval_s = (guint)cfg_getint(mil, "replay_interval");
    cfg->milter_timeout_s = (guint)cfg_getint(mil, "timeout");
    cfg->drain_timeout_s = (guint)cfg_getint(mil, "drain_timeout");
    cfg->parse_timeout_s = (guint)cfg_getint(mil, "parse_timeout");
    cfg->ingest_batch = (guint)cfg_getint(mil, "ingest_batch");
    cfg->ingest_attempts = (guint)cfg_getint(mil, "ingest_attempts");

    g_free(cfg->web_listen);
    cfg->web_listen = g_strdup(
        first_set("CRMGATE_WEB_LISTEN", cfg_getstr(web, "listen"), ""));
    const char *port_env = g_getenv("CRMGATE_WEB_PORT");
    cfg->web_port = port_env && *port_env
                        ? (guint)g_ascii_strtoull(port_env, NULL, 10)
                        : (guint)cfg_getint(web, "port");
    if (cfg->web_port == 0 || cfg->web_port > 65535) {
        *error_r = g_strdup_printf("CRMGATE_WEB_PORT: '%s' is not a port",
                                   port_env ? port_env : "");
        return CRM_ERR_CONFIG;
    }
    cfg->web_threads = (guint)cfg_getint(web, "threads");
    cfg->web_connection_limit = (guint)cfg_getint(web, "connection_limit");
    cfg->web_per_ip_limit = (guint)cfg_getint(web, "per_ip_limit");
    cfg->web_body_bytes = (gsize)cfg_getint(web, "body_bytes");
    cfg->web_request_timeout_s = (guint)cfg_getint(web, "request_timeout");
    g_free(cfg->web_base_url);
    const char *base =
        first_set("CRMGATE_WEB_BASE_URL", cfg_getstr(web, "base_url"), "");
    cfg->web_base_url =
        *base ? g_strdup(base)
              : g_strdup_printf("http://%s:%u",
                                strchr(cfg->web_listen, ':')
                                    ? "[::1]"
                                    : (strcmp(cfg->web_listen, "0.0.0.0") == 0
                                           ? "127.0.0.1"
                                           : cfg->web_listen),
                                cfg->web_port);
    gsize bl = strlen(cfg->web_base_url);
    while (bl > 0 && cfg->web_base_url[bl - 1] == '/')
        cfg->web_base_url[--bl] = '\0';
    cfg->web_cookie_secure = cfg_getbool(web, "cookie_secure");
    cfg->web_session_ttl_s = (guint)cfg_getint(web, "session_ttl");
    g_free(cfg->web_secret);
    cfg->web_secret = g_strdup(
        first_set("CRMGATE_WEB_SECRET", cfg_getstr(web, "secret"), ""));
    g_strfreev(cfg->web_metrics_allow);
    guint na = cfg_size(web, "metrics_allow");
    cfg->web_metrics_allow = g_new0(char *, na + 1);
    for (guint i = 0; i < na; i++)
        cfg->web_metrics_allow[i] =
            g_strdup(cfg_getnstr(web, "metrics_allow", i));
    cfg->web_login_failures_account =
        (guint)cfg_getint(web, "login_failures_account");
    cfg->web_login_failures_addr =
        (guint)cfg_getint(web, "login_failures_addr");
    cfg->web_login_window_s = (guint)cfg_getint(web, "login_window");

    cfg_t *wk = cfg_getsec(top, "worker");
    cfg->worker_threads = (guint)cfg_getint(wk, "threads");
    cfg->worker_poll_interval_ms = (guint)cfg_getint(wk, "poll_interval_ms");
    cfg->worker_lease_s = (guint)cfg_getint(wk, "lease");
    cfg->worker_heartbeat_s = (guint)cfg_getint(wk, "heartbeat");
    cfg->worker_batch = (guint)cfg_getint(wk, "batch");
    cfg->worker_max_attempts = (guint)cfg_getint(wk, "max_attempts");
    cfg->worker_retry_base_s = (guint)cfg_getint(wk, "retry_base");
    cfg->worker_retry_max_s = (guint)cfg_getint(wk, "retry_max");
    cfg->worker_drain_timeout_s = (guint)cfg_getint(wk, "drain_timeout");

    cfg_t *cp = cfg_getsec(top, "campaign");
    g_free(cfg->campaign_secret);
    cfg->campaign_secret = g_strdup(first_set(
        "CRMGATE_CAMPAIGN_SECRET", cfg_getstr(cp, "secret"), cfg->web_secret));
    g_free(cfg->bounce_domain);
    const char *bd = cfg_getstr(cp, "bounce_domain");
    cfg->bounce_domain =
        *bd ? addr_normalize_domain(bd) : g_strdup(cfg->capture_domain);
    if (!cfg->bounce_domain) {
        *error_r = g_strdup_printf("%s: campaign.bounce_domain '%s' is not "
                                   "a domain",
                                   cfg->path, bd);
        return CRM_ERR_CONFIG;
    }
    g_free(cfg->feedback_id);
    cfg->feedback_id = g_strdup(cfg_getstr(cp, "feedback_id"));
    cfg->campaign_batch = (guint)cfg_getint(cp, "batch");
    cfg->campaign_concurrency = (guint)cfg_getint(cp, "concurrency");
    cfg->campaign_domain_concurrency =
        (guint)cfg_getint(cp, "domain_concurrency");
    cfg->campaign_domain_rate = (guint)cfg_getint(cp, "domain_rate");
    cfg->campaign_smtp_timeout_s = (guint)cfg_getint(cp, "smtp_timeout");
    cfg->campaign_throttle_pause_s = (guint)cfg_getint(cp, "throttle_pause");
    cfg->campaign_max_attempts = (guint)cfg_getint(cp, "max_attempts");
    cfg->soft_bounce_limit = (guint)cfg_getint(cp, "soft_bounce_limit");
    cfg->soft_bounce_window_days = (guint)cfg_getint(cp, "soft_bounce_window");
    cfg->track_opens = cfg_getbool(cp, "track_opens");
    cfg->track_clicks = cfg_getbool(cp, "track_clicks");
    cfg->track_anonymous = cfg_getbool(cp, "track_anonymous");
    const char *ab = cfg_getstr(cp, "ab_winner_by");
    if (strcmp(ab, "replies") != 0 && strcmp(ab, "clicks") != 0) {
        *error_r = g_strdup_printf("%s: campaign.ab_winner_by is '%s', must "
                                   "be replies or clicks",
                                   cfg->path, ab);
        return CRM_ERR_CONFIG;
    }
    cfg->ab_winner_by_clicks = strcmp(ab, "clicks") == 0;
    cfg->ab_wait_s = (guint)cfg_getint(cp, "ab_wait");
    cfg->ab_sample_percent = (guint)cfg_getint(cp, "ab_sample_percent");

    cfg_t *vp = cfg_getsec(top, "voip");
    const char *zp = cfg_getstr(vp, "zadarma_path");
    if (zp[0] != '/' || strlen(zp) > 200 || strpbrk(zp, "?# \t")) {
        *error_r = g_strdup_printf("%s: voip.zadarma_path '%s' must be a "
                                   "path starting with /",
                                   cfg->path, zp);
        return CRM_ERR_CONFIG;
    }
    g_free(cfg->voip_zadarma_path);
    cfg->voip_zadarma_path = g_strdup(zp);
    g_free(cfg->voip_zadarma_secret);
    cfg->voip_zadarma_secret = g_strdup(first_set(
        "CRMGATE_ZADARMA_SECRET", cfg_getstr(vp, "zadarma_secret"), ""));
    g_free(cfg->voip_zadarma_key);
    cfg->voip_zadarma_key = g_strdup(
        first_set("CRMGATE_ZADARMA_KEY", cfg_getstr(vp, "zadarma_key"), ""));
    g_free(cfg->voip_zadarma_api_url);
    cfg->voip_zadarma_api_url = g_strdup(first_set(
        "CRMGATE_ZADARMA_API_URL", cfg_getstr(vp, "zadarma_api_url"), ""));
    g_free(cfg->voip_zadarma_timezone);
    cfg->voip_zadarma_timezone = g_strdup(cfg_getstr(vp, "zadarma_timezone"));
    g_free(cfg->voip_events_secret);
    cfg->voip_events_secret = g_strdup(first_set(
        "CRMGATE_VOIP_EVENTS_SECRET", cfg_getstr(vp, "events_secret"), ""));
    cfg->voip_replay_window_s = (guint)cfg_getint(vp, "replay_window");
    g_strfreev(cfg->voip_allow);
    guint nv = cfg_size(vp, "allow");
    cfg->voip_allow = g_new0(char *, nv + 1);
    for (guint i = 0; i < nv; i++)
        cfg->voip_allow[i] = g_strdup(cfg_getnstr(vp, "allow", i));
    const char *dc = cfg_getstr(vp, "default_country");
    if (*dc && (strlen(dc) != 2 || !g_ascii_isalpha(dc[0]) ||
                !g_ascii_isalpha(dc[1]))) {
        *error_r = g_strdup_printf("%s: voip.default_country '%s' must be a "
                                   "two-letter country code (e.g. DE)",
                                   cfg->path, dc);
        return CRM_ERR_CONFIG;
    }
    g_free(cfg->voip_default_country);
    cfg->voip_default_country = g_ascii_strup(dc, -1);
    cfg->voip_recording_delay_s = (guint)cfg_getint(vp, "recording_delay");
    cfg->voip_recording_max_bytes =
        (guint64)cfg_getint(vp, "recording_max_bytes");
    cfg->voip_api_timeout_s = (guint)cfg_getint(vp, "api_timeout");

    log_level_parse(cfg_getstr(log, "level"), &cfg->log_level);
    cfg->log_syslog = cfg_getbool(log, "syslog");
    return CRM_OK;
}

/* An empty configuration named path, in dir, before the table is read. */
static crm_config *config_alloc(const char *path, char *dir)
{
    crm_config *cfg = g_new0(crm_config, 1);
    cfg->path = g_strdup(path);
    cfg->dir = dir;
    cfg->internal_domains = string_set_new();
    cfg->never_log_addresses = string_set_new();
    cfg->never_log_domains = string_set_new();
    cfg->freemail_domains = string_set_new();
    cfg->sales_inboxes =
        g_hash_table_new_full(g_str_hash, g_str_equal, NULL, sales_inbox_free);
    return cfg;
}

crm_config *config_new_defaults(void)
{
    /* The defaults are those of the option tables: parse an empty text. */
    cfg_t *top = config_table_new();
    int rc = cfg_parse_buf(top, "");
    g_assert(rc == CFG_SUCCESS);
    crm_config *cfg = config_alloc("", g_strdup("."));
    char *err = NULL;
    crm_result r = config_fill(cfg, top, false, &err);
    cfg_free(top);
    if (r)
        g_error("config defaults: %s", err);
    return cfg;
}

crm_result config_load(const char *path, crm_config **cfg_r, char **error_r)
{
    *cfg_r = NULL;
    *error_r = NULL;
    if (access(path, R_OK) != 0) {
        *error_r = g_strdup_printf("%s: %s", path, g_strerror(errno));
        return CRM_ERR_IO;
    }
    cfg_t *top = NULL;
    crm_result pr = config_table_parse(path, &top, error_r);
    if (pr)
        return pr;
    crm_config *cfg = config_alloc(path, g_path_get_dirname(path));
    crm_result r = config_fill(cfg, top, true, error_r);
    cfg_free(top);
    if (r) {
        config_free(&cfg);
        return r;
    }
    *cfg_r = cfg;
    return CRM_OK;
}

void config_free(crm_config **cfgp)
{
    crm_config *cfg = *cfgp;
    if (!cfg)
        return;
    g_free(cfg->path);
    g_free(cfg->dir);
    g_free(cfg->dsn);
    g_free(cfg->milter_dsn);
    g_hash_table_destroy(cfg->internal_domains);
    g_free(cfg->capture_local);
    g_free(cfg->capture_domain);
    g_free(cfg->originating_daemon);
    g_hash_table_destroy(cfg->never_log_addresses);
    g_hash_table_destroy(cfg->never_log_domains);
    g_hash_table_destroy(cfg->freemail_domains);
    g_hash_table_destroy(cfg->sales_inboxes);
    g_free(cfg->milter_socket);
    g_free(cfg->spool_dir);
    g_free(cfg->web_dsn);
    g_free(cfg->web_listen);
    g_free(cfg->web_base_url);
    g_free(cfg->web_secret);
    g_strfreev(cfg->web_metrics_allow);
    g_free(cfg->worker_dsn);
    g_free(cfg->worker_listen_dsn);
    g_free(cfg->campaign_secret);
    g_free(cfg->bounce_domain);
    g_free(cfg->feedback_id);
    g_free(cfg->voip_zadarma_path);
    g_free(cfg->voip_zadarma_secret);
    g_free(cfg->voip_zadarma_key);
    g_free(cfg->voip_zadarma_api_url);
    g_free(cfg->voip_zadarma_timezone);
    g_free(cfg->voip_events_secret);
    g_strfreev(cfg->voip_allow);
    g_free(cfg->voip_default_country);
    g_free(cfg);
    *cfgp = NULL;
}

bool config_is_internal_domain(const crm_config *cfg, const char *domain)
{
    return g_hash_table_contains(cfg->internal_domains, domain);
}

bool config_is_never_log(const crm_config *cfg, const char *address)
{
    return g_hash_table_contains(cfg->never_log_addresses, address) ||
           g_hash_table_contains(cfg->never_log_domains, addr_domain(address));
}

bool config_is_freemail(const crm_config *cfg, const char *domain)
{
    return g_hash_table_contains(cfg->freemail_domains, domain);
}

const config_sales_inbox *config_sales_inbox_find(const crm_config *cfg,
                                                  const char *address)
{
    return g_hash_table_lookup(cfg->sales_inboxes, address);
}
