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
    {"GET", "/reports", web_reports_list, 0, NULL},
    {"GET", "/reports/:name", web_report_page, 0, NULL},
    {"GET", "/api/reports/:name", web_api_report, WEB_API, NULL},
};

const gsize web_routes_n = G_N_ELEMENTS(web_routes);
