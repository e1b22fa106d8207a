/*
 * pages_auth.c - logging in and out, the front page, /healthz.
 *
 * The login form is protected against cross-site posting by a double-
 * submit token: GET /login sets a random crmgate_csrf cookie (SameSite=
 * Strict, HttpOnly) and puts the same value in the form; POST /login
 * needs both and equal. A successful login sets the session cookie
 * (HttpOnly, SameSite=Lax, Secure with web.cookie_secure) and redirects
 * (303) to ?next= when that is a path of ours, else /tasks.
 */
#include <microhttpd.h>
#include <string.h>

#include "crmgate/log.h"
#include "web.h"

static void set_cookie(web_req *req, web_resp *resp, const char *name,
                       const char *value, const char *samesite, long max_age)
{
    g_autofree char *c = g_strdup_printf(
        "%s=%s; Path=/; HttpOnly; SameSite=%s; Max-Age=%ld%s", name, value,
        samesite, max_age, req->cfg->web_cookie_secure ? "; Secure" : "");
    web_header(resp, "Set-Cookie", c);
}

/* A redirect target of ours: a path, never "//host" or a scheme. */
static const char *safe_next(const char *next)
{
    if (!next || next[0] != '/' || next[1] == '/' || next[1] == '\\' ||
        strchr(next, '\r') || strchr(next, '\n') ||
        g_str_has_prefix(next, "/login") || g_str_has_prefix(next, "/logout"))
        return "/tasks";
    return next;
}

static void login_page(web_req *req, web_resp *resp, unsigned status,
                       const char *email, const char *message)
{
    g_autofree char *token = auth_random_token();
    set_cookie(req, resp, WEB_CSRF_COOKIE, token, "Strict", 3600);
    auth_viewer none = {0};
    auth_viewer saved = req->viewer;
    req->viewer = none; /* the login page has no navigation bar */
    web_page_begin(req, resp, "Log in");
    req->viewer = saved;
    GString *o = resp->body;
    g_string_append(o, "<h1>crmgate</h1>\n");
    if (message)
        html_printf(o, "<p class=\"error\" role=\"alert\">%s</p>\n", message);
    html_printf(o,
                "<form class=\"login\" method=\"post\" action=\"/login\">\n"
                "<input type=\"hidden\" name=\"csrf\" value=\"%s\">\n"
                "<input type=\"hidden\" name=\"next\" value=\"%s\">\n"
                "<label>Email <input type=\"email\" name=\"email\" "
                "value=\"%s\" autocomplete=\"username\" required "
                "autofocus></label>\n"
                "<label>Password <input type=\"password\" name=\"password\" "
                "autocomplete=\"current-password\" required></label>\n"
                "<button type=\"submit\">Log in</button>\n</form>\n",
                token,
                safe_next(webform_get(req->query, "next")
                              ? webform_get(req->query, "next")
                              : webform_get(req->form, "next")),
                email ? email : "");
    web_page_end(resp);
    resp->status = status;
}

void web_login_form(web_req *req, web_resp *resp)
{
    if (req->viewer.id) {
        web_redirect(resp, safe_next(webform_get(req->query, "next")));
        return;
    }
    login_page(req, resp, 200, NULL, NULL);
}

void web_login_post(web_req *req, web_resp *resp)
{
    const char *email = webform_get(req->form, "email");
    const char *password = webform_get(req->form, "password");
    g_autofree char *cookie = webform_cookie(
        MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "Cookie"),
        WEB_CSRF_COOKIE);
    if (!cookie || !auth_equal(cookie, webform_get(req->form, "csrf"))) {
        web_error(req, resp, 403,
                  "invalid or missing CSRF token; reload the "
                  "login page");
        return;
    }
    if (!email || !password || strlen(password) > 1024 || strlen(email) > 320) {
        login_page(req, resp, 401, email, "Wrong address or password.");
        return;
    }
    auth_login_policy pol = {
        .ttl_s = req->cfg->web_session_ttl_s,
        .max_account = req->cfg->web_login_failures_account,
        .max_addr = req->cfg->web_login_failures_addr,
        .window_s = req->cfg->web_login_window_s,
    };
    char *session = NULL, *err = NULL;
    auth_viewer v;
    crm_result r = auth_login(req->db, &pol, email, password, req->client,
                              &session, &v, &err);
    switch (r) {
    case CRM_OK:
        log_info("web: login user=%s addr=%s", v.email, req->client);
        set_cookie(req, resp, WEB_SESSION_COOKIE, session, "Lax",
                   (long)req->cfg->web_session_ttl_s);
        set_cookie(req, resp, WEB_CSRF_COOKIE, "", "Strict", 0);
        web_redirect(resp, safe_next(webform_get(req->form, "next")));
        auth_viewer_clear(&v);
        break;
    case CRM_ERR_BUSY:
        log_warn("web: login refused (rate limit) addr=%s", req->client);
        login_page(req, resp, 429, email,
                   "Too many failed attempts. Try again later.");
        web_header(resp, "Retry-After", "60");
        break;
    case CRM_ERR_USAGE:
        log_info("web: login failed addr=%s", req->client);
        login_page(req, resp, 401, email, "Wrong address or password.");
        break;
    case CRM_ERR_AUTH:
    case CRM_ERR_PARSE:
    case CRM_ERR_TOOBIG:
    case CRM_ERR_DB:
    case CRM_ERR_DB_DOWN:
    case CRM_ERR_IO:
    case CRM_ERR_CONFIG:
    case CRM_ERR_NOTFOUND:
    case CRM_ERR_EXISTS:
    case CRM_ERR_INTERNAL:
        log_error("web: login: %s", err ? err : crm_strerror(r));
        web_error(req, resp, 503, "cannot check the login now");
        break;
    }
    g_free(session);
    g_free(err);
}

void web_logout(web_req *req, web_resp *resp)
{
    char *err = NULL;
    if (auth_logout(req->db, req->session, &err) != CRM_OK) {
        log_error("web: logout: %s", err);
        g_free(err);
    }
    set_cookie(req, resp, WEB_SESSION_COOKIE, "", "Lax", 0);
    web_redirect(resp, "/login");
}

void web_home(web_req *req, web_resp *resp)
{
    (void)req;
    web_redirect(resp, "/tasks");
}

void web_healthz(web_req *req, web_resp *resp)
{
    char *err = NULL;
    PGresult *res = NULL;
    crm_result r =
        db_query(req->db, 2000, "SELECT 1", 0, NULL, NULL, NULL, &res, &err);
    resp->ctype = "text/plain; charset=utf-8";
    if (r) {
        resp->status = 503;
        g_string_assign(resp->body, "database unavailable\n");
        g_free(err);
        return;
    }
    PQclear(res);
    g_string_assign(resp->body, "ok\n");
}

void web_api_me(web_req *req, web_resp *resp)
{
    web_json(resp, 200,
             json_pack("{s:I,s:s,s:s,s:s}", "id", (json_int_t)req->viewer.id,
                       "email", req->viewer.email, "name",
                       req->viewer.name ? req->viewer.name : "", "role",
                       req->viewer.role));
}
