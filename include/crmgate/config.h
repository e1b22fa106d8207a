/*
 * config.h - the crmgate configuration, read with libconfuse.
 *
 * One file (default etc/crmgate.conf, or $CRMGATE_CONFIG) with one
 * declarative option table per section; the milter, the CLI and later the
 * worker and web read the same file. Unknown keys, wrong types and values
 * out of range stop the program with the file and line (EX_CONFIG).
 * Relative paths are relative to the directory holding the config file.
 * Environment overrides, for the local stack and tests: CRMGATE_DSN
 * (database.dsn), CRMGATE_MILTER_DSN (database.milter_dsn) and
 * CRMGATE_SPOOL_DIR (milter.spool_dir).
 */
#ifndef CRMGATE_CONFIG_H
#define CRMGATE_CONFIG_H

#include <glib.h>
#include <stdbool.h>

#include "crmgate/log.h"
#include "crmgate/result.h"

typedef struct {
    char *address;     /* normalised */
    char *lead_source; /* lead source name for leads it creates */
    char *owner;       /* normalised address of the responsible user */
} config_sales_inbox;

typedef struct {
    char *path; /* the file that was read */
    char *dir;  /* its directory, for relative paths */

    /* database */
    char *dsn;               /* libpq connection string */
    char *milter_dsn;        /* the milter's (least privilege) */
    char *web_dsn;           /* crmgate-web's (role crmgate_web) */
    char *worker_dsn;        /* crmgate-worker's (role crmgate_worker) */
    char *worker_listen_dsn; /* the worker's LISTEN connection: direct to
                                PostgreSQL, never through pgbouncer */
    guint db_time_budget_ms; /* longest wait for the database per message */
    guint db_pool_size;      /* connections a daemon keeps open */

    /* mail */
    GHashTable *internal_domains; /* normalised domain -> itself */
    char *capture_local;          /* "crm" */
    char *capture_domain;         /* normalised */
    bool log_internal;            /* keep mail with only internal parties */
    char *originating_daemon;     /* {daemon_name} of the submission service */
    bool token_require_login;     /* tokens need a matching SASL login */
    GHashTable *never_log_addresses;
    GHashTable *never_log_domains;
    GHashTable *freemail_domains;
    GHashTable *sales_inboxes; /* address -> config_sales_inbox * */

    /* limits */
    gsize header_bytes;           /* header bytes kept per message */
    gsize body_memory_bytes;      /* body kept in memory before spilling */
    gsize message_bytes;          /* bytes captured per message at most */
    gsize text_bytes;             /* body text stored */
    gsize attachment_store_bytes; /* attachment content stored up to */
    guint open_deals_linked;      /* open deals linked per message */
    guint max_recipients;         /* envelope recipients recorded */
    guint max_parts;              /* MIME parts parsed per message */
    guint max_depth;              /* multipart / message/rfc822 nesting */
    gsize part_header_bytes;      /* header bytes per MIME part */
    guint part_headers;           /* headers per MIME part */
    gsize total_header_bytes;     /* header bytes of all parts */
    guint total_headers;          /* headers of all parts */
    gsize line_bytes;             /* longer lines are cut or folded */

    /* milter */
    char *milter_socket;
    char *spool_dir;
    guint replay_interval_s;
    guint milter_timeout_s;
    guint drain_timeout_s; /* SIGTERM: serve open sessions this long */
    guint parse_timeout_s; /* ingester: longest parse of one message */
    guint ingest_batch;    /* journal entries stored per transaction */
    guint ingest_attempts; /* database rejections before bad/ */

    /* web */
    char *web_listen; /* address crmgate-web binds */
    guint web_port;
    guint web_threads;                /* libmicrohttpd thread pool */
    guint web_connection_limit;       /* connections at once */
    guint web_per_ip_limit;           /* per client address (0: none) */
    gsize web_body_bytes;             /* request body limit (413 past it) */
    guint web_request_timeout_s;      /* idle connection timeout */
    char *web_base_url;               /* public URL, no trailing slash */
    bool web_cookie_secure;           /* Secure attribute on cookies */
    guint web_session_ttl_s;          /* session lifetime */
    char *web_secret;                 /* key of signed links ("" = none) */
    char **web_metrics_allow;         /* addresses /metrics, /healthz answer */
    guint web_login_failures_account; /* per window, then refused */
    guint web_login_failures_addr;
    guint web_login_window_s;

    /* worker */
    guint worker_threads;          /* job threads, one connection each */
    guint worker_poll_interval_ms; /* fallback poll when no NOTIFY comes */
    guint worker_lease_s;          /* a claimed job's lease */
    guint worker_heartbeat_s;      /* lease renewal interval */
    guint worker_batch;            /* jobs claimed per query */
    guint worker_max_attempts;     /* then the job is discarded */
    guint worker_retry_base_s;     /* backoff: base * 2^attempt, jittered */
    guint worker_retry_max_s;      /* backoff ceiling */
    guint worker_drain_timeout_s;  /* SIGTERM: finish running jobs */

    /* campaign */
    char *campaign_secret; /* HMAC key of recipient tokens (web.secret
                              when empty) */
    char *bounce_domain;   /* VERP domain (mail.capture_domain when empty) */
    char *feedback_id;     /* sender part of the Feedback-ID header */
    guint campaign_batch;  /* recipients leased per claim */
    guint campaign_concurrency;        /* SMTP connections per account */
    guint campaign_domain_concurrency; /* in flight per recipient domain */
    guint campaign_domain_rate;        /* per recipient domain per minute
                                          (0: none) */
    guint campaign_smtp_timeout_s;
    guint campaign_throttle_pause_s; /* a throttled route rests this long */
    guint campaign_max_attempts;     /* 4xx tries, then failed */
    guint soft_bounce_limit;         /* soft bounces in the window, then */
    guint soft_bounce_window_days;   /* the address is suppressed */
    bool track_opens;                /* open pixel */
    bool track_clicks;               /* click redirect */
    bool track_anonymous;            /* counts per campaign, no recipient */
    bool ab_winner_by_clicks;        /* else by replies */
    guint ab_wait_s;                 /* sample sent, wait, pick winner */
    guint ab_sample_percent;         /* per variant */

    /* voip */
    char *voip_zadarma_path;      /* webhook path, default /voip/zadarma */
    char *voip_zadarma_secret;    /* API secret: webhook and API signatures */
    char *voip_zadarma_key;       /* API user key (click-to-call, records) */
    char *voip_zadarma_api_url;   /* https://api.zadarma.com */
    char *voip_zadarma_timezone;  /* zone of the PBX's call_start times */
    char *voip_events_secret;     /* /voip/events HMAC key ("" = off) */
    guint voip_replay_window_s;   /* /voip/events timestamp window */
    char **voip_allow;            /* webhook source addresses/CIDRs; empty:
                                     any */
    char *voip_default_country;   /* ISO 3166 alpha-2 for national numbers */
    guint voip_recording_delay_s; /* after the end, fetch the recording */
    guint64 voip_recording_max_bytes; /* larger recordings are refused */
    guint voip_api_timeout_s;         /* provider API requests */

    /* log */
    log_level log_level;
    bool log_syslog;
} crm_config;

/* Returns the config path to use when -c is not given: $CRMGATE_CONFIG,
   else etc/crmgate.conf when it exists, else SYSCONFDIR/crmgate/crmgate.conf.
 */
const char *config_default_path(void);

/* Loads and validates path. On failure returns CRM_ERR_CONFIG (or
   CRM_ERR_IO) and sets *error_r to "file:line: what is wrong". */
crm_result config_load(const char *path, crm_config **cfg_r, char **error_r);

/* Frees *cfgp and clears the pointer. */
void config_free(crm_config **cfgp);

/* True when the normalised domain is one of ours. */
bool config_is_internal_domain(const crm_config *cfg, const char *domain);
/* True when the normalised address or its domain is on a never-log list. */
bool config_is_never_log(const crm_config *cfg, const char *address);
/* True when the normalised domain is a public free-mail domain. */
bool config_is_freemail(const crm_config *cfg, const char *domain);
/* The sales inbox for a normalised address, or NULL. */
const config_sales_inbox *config_sales_inbox_find(const crm_config *cfg,
                                                  const char *address);
/* Builds the default configuration in memory (tests, parse without a
   file): exactly what an empty file gives, from the same option tables,
   with the environment overrides; no file is read. */
crm_config *config_new_defaults(void);

#endif
