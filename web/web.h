/*
 * web.h - crmgate-web's private interface: the request and response every
 * handler sees, the route table, and the page helpers.
 *
 * A handler gets a web_req with everything parsed and checked (the route's
 * path arguments, query, form, the viewer from the session cookie or the
 * Bearer token, the CSRF field already verified for POSTs) and fills a
 * web_resp. It never talks to libmicrohttpd itself. All data reads go
 * through SQL that takes the viewer (crm_visible(), sql/0007_web.sql):
 * a record the viewer may not see is simply not found (404).
 */
#ifndef CRMGATE_WEB_H
#define CRMGATE_WEB_H

#include <glib.h>
#include <jansson.h>
#include <stdbool.h>

#include "crmgate/auth.h"
#include "crmgate/config.h"
#include "crmgate/db.h"
#include "crmgate/html.h"
#include "crmgate/views.h"
#include "crmgate/webform.h"

#define WEB_MAX_ARGS 4
#define WEB_SESSION_COOKIE "crmgate_session"
#define WEB_CSRF_COOKIE "crmgate_csrf"

typedef struct web_route web_route;

typedef struct {
    const char *method; /* "GET", "POST", "HEAD" (answered as GET) */
    const char *path;   /* decoded path, without the query */
    const char *args[WEB_MAX_ARGS]; /* the route's :id / :name segments */
    gint64 id;        /* args[0] as a number when the route has :id */
    webform *query;   /* never NULL */
    webform *form;    /* POST urlencoded body; never NULL (may be empty) */
    const char *body; /* raw body ("" when none) */
    gsize body_len;
    const char *content_type; /* request Content-Type or "" */
    auth_viewer viewer;       /* viewer.id == 0: nobody logged in */
    bool via_token;           /* authenticated by an API token */
    const char *session;      /* session cookie value, or NULL */
    const char *client;       /* client address, text */
    const web_route *route;
    db_conn *db; /* this thread's connection (role crmgate_web) */
    const crm_config *cfg;
    void *conn; /* struct MHD_Connection *, for the server only */
} web_req;

typedef struct {
    unsigned status; /* 200 unless set */
    GString *body;
    const char *ctype;  /* default text/html; charset=utf-8 */
    GPtrArray *headers; /* name, value, name, value ... (owned strings) */
    const char *csp;    /* replaces the default Content-Security-Policy */
} web_resp;

/* Route flags. */
enum {
    WEB_PUBLIC = 1 << 0,  /* no login needed */
    WEB_LOCAL = 1 << 1,   /* only from web.metrics_allow addresses */
    WEB_API = 1 << 2,     /* JSON errors, 401 instead of a redirect */
    WEB_NO_CSRF = 1 << 3, /* POST checks its own token (login, links) */
};

typedef void (*web_handler)(web_req *req, web_resp *resp);

struct web_route {
    const char *method; /* GET or POST */
    const char *
        pattern; /* "/deals/:id", "/reports/:name", "/api/timeline/:type/:id" */
    web_handler fn;
    unsigned flags;
    const char *name; /* for /metrics: the pattern by default */
};

/* The route table (web/routes.c) and its length. */
extern const web_route web_routes[];
extern const gsize web_routes_n;

/* --- responses --------------------------------------------------------- */

/* Adds a response header (copied). */
void web_header(web_resp *resp, const char *name, const char *value);
/* 303 See Other to location (a path of ours). */
void web_redirect(web_resp *resp, const char *location);
/* Sets status and a JSON body (takes ownership of value). */
void web_json(web_resp *resp, unsigned status, json_t *value);
/* An error answer: an HTML page, or {"error": msg} on API routes. */
void web_error(web_req *req, web_resp *resp, unsigned status, const char *msg);
/* Sets the body to CSV text (takes ownership of csv) and a download name. */
void web_csv(web_resp *resp, GString *csv, const char *filename);

/* --- pages ------------------------------------------------------------- */

/* Starts an HTML page: doctype, head, the navigation bar (with the
   viewer's name and the logout form) and <main>. title is escaped. */
void web_page_begin(web_req *req, web_resp *resp, const char *title);
/* Closes <main> and the page. */
void web_page_end(web_resp *resp);
/* Appends the hidden csrf field of the viewer's session. */
void web_csrf_field(web_req *req, GString *out);
/* Appends an escaped JSON value as text ("" for null, numbers printed,
   strings escaped); what pages use to print fields of a JSON row. */
void web_text(GString *out, json_t *value);
/* A JSON object member as a string ("" when absent or null; borrowed or
   in a buffer that lives until the next call in this thread). */
const char *web_str(json_t *obj, const char *key);
/* Appends a date or timestamp member, shortened to "YYYY-MM-DD HH:MM". */
void web_when(GString *out, json_t *obj, const char *key);

/* --- data --------------------------------------------------------------- */

/* The viewer's id and role as the first two SQL parameters: every query
   of the web view starts with $1 = viewer id, $2 = viewer role. Runs sql
   with them plus n more parameters and returns the JSON value of the first
   column of the first row (NULL when there is none). On a database error
   answers 503 itself and returns false. */
bool web_query_json(web_req *req, web_resp *resp, const char *sql, int n,
                    const char *const *values, json_t **out_r);
/* The viewer of req for core/views.c, with the web's query budget. */
views_viewer web_views_viewer(web_req *req);
/* Same for a statement without a result wanted (writes). */
bool web_exec(web_req *req, web_resp *resp, const char *sql, int n,
              const char *const *values);

/* Handlers of the server itself (web/pages_auth.c, web/metrics.c). */
void web_login_form(web_req *req, web_resp *resp);
void web_login_post(web_req *req, web_resp *resp);
void web_logout(web_req *req, web_resp *resp);
void web_healthz(web_req *req, web_resp *resp);
void web_metrics(web_req *req, web_resp *resp);
void web_style(web_req *req, web_resp *resp);
void web_home(web_req *req, web_resp *resp);
void web_api_me(web_req *req, web_resp *resp);
/* Reports (web/pages_reports.c). */
void web_reports_list(web_req *req, web_resp *resp);
void web_report_page(web_req *req, web_resp *resp);
void web_api_report(web_req *req, web_resp *resp);

/* Record pages, messages, search and the record API (web/pages_records.c,
   web/pages_messages.c, web/pages_search.c, web/api_records.c). */
void web_record_page(web_req *req, web_resp *resp);
void web_record_owner_post(web_req *req, web_resp *resp);
void web_deal_stage_post(web_req *req, web_resp *resp);
void web_message_page(web_req *req, web_resp *resp);
void web_message_attachment(web_req *req, web_resp *resp);
void web_search_page(web_req *req, web_resp *resp);
void web_api_contact(web_req *req, web_resp *resp);
void web_api_deal(web_req *req, web_resp *resp);
void web_api_timeline(web_req *req, web_resp *resp);
void web_api_search(web_req *req, web_resp *resp);
/* The record type of a path's first segment ("/deals/7" -> "deal"), or
   NULL. */
const char *web_record_type_of(const char *path);
/* Answers a failed views_* call: 404, 400, 503 or 500 (logs the last). */
void web_views_error(web_req *req, web_resp *resp, crm_result r,
                     const char *err);
/* Tasks and projects (web/pages_tasks.c). */
void web_tasks_list(web_req *req, web_resp *resp);
void web_task_new(web_req *req, web_resp *resp);
void web_task_create(web_req *req, web_resp *resp);
void web_task_show(web_req *req, web_resp *resp);
void web_task_update(web_req *req, web_resp *resp);
void web_task_complete(web_req *req, web_resp *resp);
void web_task_reassign(web_req *req, web_resp *resp);
void web_task_comment(web_req *req, web_resp *resp);
void web_task_done_confirm(web_req *req, web_resp *resp);
void web_task_done_post(web_req *req, web_resp *resp);
void web_projects(web_req *req, web_resp *resp);
void web_project_create(web_req *req, web_resp *resp);
void web_api_tasks(web_req *req, web_resp *resp);
void web_api_task(web_req *req, web_resp *resp);

/* Campaigns (web/pages_campaigns.c) and the links of campaign mail
   (web/pages_unsubscribe.c). */
void web_campaigns_list(web_req *req, web_resp *resp);
void web_campaign_page(web_req *req, web_resp *resp);
void web_campaign_action_post(web_req *req, web_resp *resp);
void web_api_campaigns(web_req *req, web_resp *resp);
void web_api_campaign(web_req *req, web_resp *resp);
void web_unsubscribe_page(web_req *req, web_resp *resp);
void web_unsubscribe_post(web_req *req, web_resp *resp);
void web_open_pixel(web_req *req, web_resp *resp);
void web_click(web_req *req, web_resp *resp);

/* VoIP webhooks (web/pages_voip.c): Zadarma at voip.zadarma_path (GET
   and POST, dispatched by web/server.c), the generic JSON /voip/events. */
void web_voip_zadarma(web_req *req, web_resp *resp);
void web_voip_events(web_req *req, web_resp *resp);
/* A request header's value, or NULL (borrowed, lives as long as req). */
const char *web_header_in(web_req *req, const char *name);
/* Calls (web/pages_calls.c): the call log, recordings, click-to-call,
   and the call pieces of record pages. */
void web_calls_page(web_req *req, web_resp *resp);
void web_api_calls(web_req *req, web_resp *resp);
void web_call_recording(web_req *req, web_resp *resp);
void web_record_call_post(web_req *req, web_resp *resp);
void web_api_record_call(web_req *req, web_resp *resp);
/* Appends a timeline item of kind "call" (views_timeline) as an <li>. */
void web_timeline_call(GString *out, json_t *item);
/* Appends the click-to-call section of a contact or lead page (record
   rec, the route's id): the Call form or a hint, and the last requests. */
void web_click_to_call(web_req *req, GString *out, const char *type,
                       json_t *rec);

/* Starts listening (web.listen, web.port) with the thread pool. */
crm_result web_server_start(const crm_config *cfg, char **error_r);
/* Stops accepting, finishes the requests in progress, stops. */
void web_server_stop(void);

/* Counts a request for /metrics. */
void web_metrics_count(const char *route, unsigned status, double seconds);

#endif
