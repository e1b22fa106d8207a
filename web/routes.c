/*
 * routes.c - the one table of crmgate-web's routes: method, path pattern
 * (":id" matches a positive number and is also req->id; ":name" any one
 * segment), handler, flags (web.h). First match wins; a path that matches
 * with another method gets 405 with Allow.
 */
#include "web.h"

const web_route web_routes[] = {
    {"GET", "/", web_home, 0, NULL},
    {"GET", "/login", web_login_form, WEB_PUBLIC, NULL},
    {"POST", "/login", web_login_post, WEB_PUBLIC | WEB_NO_CSRF, NULL},
    {"POST", "/logout", web_logout, 0, NULL},
    {"GET", "/healthz", web_healthz, WEB_PUBLIC | WEB_LOCAL, NULL},
    {"GET", "/metrics", web_metrics, WEB_PUBLIC | WEB_LOCAL, NULL},
    {"GET", "/static/style.css", web_style, WEB_PUBLIC, NULL},
    {"GET", "/api/me", web_api_me, WEB_API, NULL},
    /* record pages, messages, search, record API (h-records) */
    {"GET", "/contacts/:id", web_record_page, 0, NULL},
    {"GET", "/leads/:id", web_record_page, 0, NULL},
    {"GET", "/companies/:id", web_record_page, 0, NULL},
    {"GET", "/deals/:id", web_record_page, 0, NULL},
    {"GET", "/requests/:id", web_record_page, 0, NULL},
    {"POST", "/contacts/:id/owner", web_record_owner_post, 0, NULL},
    {"POST", "/leads/:id/owner", web_record_owner_post, 0, NULL},
    {"POST", "/companies/:id/owner", web_record_owner_post, 0, NULL},
    {"POST", "/deals/:id/owner", web_record_owner_post, 0, NULL},
    {"POST", "/requests/:id/owner", web_record_owner_post, 0, NULL},
    {"POST", "/deals/:id/stage", web_deal_stage_post, 0, NULL},
    {"GET", "/messages/:id", web_message_page, 0, NULL},
    {"GET", "/messages/:id/attachments/:pos", web_message_attachment, 0, NULL},
    {"GET", "/search", web_search_page, 0, NULL},
    {"GET", "/api/contacts/:id", web_api_contact, WEB_API, NULL},
    {"GET", "/api/deals/:id", web_api_deal, WEB_API, NULL},
    {"GET", "/api/timeline/:type/:id", web_api_timeline, WEB_API, NULL},
    {"GET", "/api/search", web_api_search, WEB_API, NULL},
    /* tasks (web/pages_tasks.c) */
    {"GET", "/tasks", web_tasks_list, 0, NULL},
    {"POST", "/tasks", web_task_create, 0, NULL},
    {"GET", "/tasks/new", web_task_new, 0, NULL},
    {"GET", "/tasks/:id", web_task_show, 0, NULL},
    {"POST", "/tasks/:id", web_task_update, 0, NULL},
    {"POST", "/tasks/:id/complete", web_task_complete, 0, NULL},
    {"POST", "/tasks/:id/reassign", web_task_reassign, 0, NULL},
    {"POST", "/tasks/:id/comments", web_task_comment, 0, NULL},
    {"GET", "/tasks/:id/done", web_task_done_confirm, WEB_PUBLIC | WEB_NO_CSRF,
     NULL},
    {"POST", "/tasks/:id/done", web_task_done_post, WEB_PUBLIC | WEB_NO_CSRF,
     NULL},
    {"GET", "/projects", web_projects, 0, NULL},
    {"POST", "/projects", web_project_create, 0, NULL},
    {"GET", "/api/tasks", web_api_tasks, WEB_API, NULL},
    {"GET", "/api/tasks/:id", web_api_task, WEB_API, NULL},
    {"GET", "/reports", web_reports_list, 0, NULL},
    {"GET", "/reports/:name", web_report_page, 0, NULL},
    {"GET", "/api/reports/:name", web_api_report, WEB_API, NULL},
    /* campaigns (web/pages_campaigns.c) and what campaign mail links to
       (web/pages_unsubscribe.c: no login, the signed token decides) */
    {"GET", "/campaigns", web_campaigns_list, 0, NULL},
    {"GET", "/campaigns/:id", web_campaign_page, 0, NULL},
    {"POST", "/campaigns/:id/:name", web_campaign_action_post, 0, NULL},
    {"GET", "/api/campaigns", web_api_campaigns, WEB_API, NULL},
    {"GET", "/api/campaigns/:id", web_api_campaign, WEB_API, NULL},
    {"GET", "/unsubscribe/:name", web_unsubscribe_page, WEB_PUBLIC, NULL},
    {"POST", "/unsubscribe/:name", web_unsubscribe_post,
     WEB_PUBLIC | WEB_NO_CSRF, NULL},
    {"GET", "/o/:name", web_open_pixel, WEB_PUBLIC, NULL},
    {"GET", "/c/:name", web_click, WEB_PUBLIC, NULL},
    /* VoIP: the generic signed JSON webhook (web/pages_voip.c); Zadarma's
       configurable path is dispatched by web/server.c */
    {"POST", "/voip/events", web_voip_events, WEB_PUBLIC | WEB_NO_CSRF, NULL},
    /* calls (web/pages_calls.c) */
    {"GET", "/calls", web_calls_page, 0, NULL},
    {"GET", "/calls/:id/recording", web_call_recording, 0, NULL},
    {"POST", "/contacts/:id/call", web_record_call_post, 0, NULL},
    {"POST", "/leads/:id/call", web_record_call_post, 0, NULL},
    {"GET", "/api/calls", web_api_calls, WEB_API, NULL},
    {"POST", "/api/contacts/:id/call", web_api_record_call, WEB_API, NULL},
    {"POST", "/api/leads/:id/call", web_api_record_call, WEB_API, NULL},
};

const gsize web_routes_n = G_N_ELEMENTS(web_routes);
