/*
 * server.c - crmgate-web's libmicrohttpd wiring: reads each request within
 * web.body_bytes (413 past it), finds its route (404, 405 with Allow),
 * resolves the viewer from the session cookie or the Bearer token, checks
 * the CSRF field of every POST made with a session (403), calls the
 * handler, and sends its answer with the security headers every response
 * carries. Handlers run on libmicrohttpd's thread pool; each thread has
 * its own database connection (role crmgate_web).
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "crmgate/log.h"
#include "web.h"

static const crm_config *server_cfg;

/* One connection's request while its body arrives. */
typedef struct {
    GString *body;
    bool toobig;
    gint64 start_us;
} upload;

static void free_db(gpointer p)
{
    db_conn *db = p;
    db_conn_free(&db);
}

static GPrivate thread_db = G_PRIVATE_INIT(free_db);

static db_conn *this_thread_db(void)
{
    db_conn *db = g_private_get(&thread_db);
    if (!db) {
        db = db_conn_new(server_cfg->web_dsn);
        g_private_set(&thread_db, db);
    }
    return db;
}

/* Matches path against pattern; fills args (pointers into the copy kept
   in segs). */
static bool match(const char *pattern, char **segs, const char **args,
                  gint64 *id_r)
{
    g_auto(GStrv) pat = g_strsplit(pattern + 1, "/", -1);
    guint na = 0, i = 0;
    *id_r = 0;
    for (; pat[i]; i++) {
        if (!segs[i])
            return false;
        if (pat[i][0] == ':') {
            if (na >= WEB_MAX_ARGS || !*segs[i])
                return false;
            if (strcmp(pat[i], ":id") == 0) {
                char *end = NULL;
                if (!g_ascii_isdigit(segs[i][0]) || strlen(segs[i]) > 18)
                    return false;
                gint64 v = g_ascii_strtoll(segs[i], &end, 10);
                if (*end || v <= 0)
                    return false;
                if (!*id_r)
                    *id_r = v;
            }
            args[na++] = segs[i];
        } else if (strcmp(pat[i], segs[i]) != 0) {
            return false;
        }
    }
    return segs[i] == NULL;
}

/* The Zadarma webhook (web/pages_voip.c) as a route: its pattern is
   voip.zadarma_path, set by web_server_start. */
static web_route voip_zadarma_route = {"GET", "/voip/zadarma", web_voip_zadarma,
                                       WEB_PUBLIC | WEB_NO_CSRF, NULL};

/* True when url (a trailing slash ignored) is voip.zadarma_path. */
static bool voip_zadarma_match(const char *url)
{
    const char *p = voip_zadarma_route.pattern;
    gsize n = strlen(p);
    if (strncmp(url, p, n) != 0)
        return false;
    return url[n] == '\0' || (url[n] == '/' && url[n + 1] == '\0');
}

const char *web_header_in(web_req *req, const char *name)
{
    if (!req->conn)
        return NULL;
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

static const char *default_csp =
    "default-src 'none'; style-src 'self'; img-src 'self' data:; "
    "frame-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'";

static enum MHD_Result send_resp(struct MHD_Connection *conn, web_resp *resp)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        resp->body->len, resp->body->str, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type",
                            resp->ctype ? resp->ctype
                                        : "text/html; charset=utf-8");
    MHD_add_response_header(r, "Content-Security-Policy",
                            resp->csp ? resp->csp : default_csp);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "X-Frame-Options",
                            resp->csp ? "SAMEORIGIN" : "DENY");
    MHD_add_response_header(r, "Referrer-Policy", "same-origin");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    for (guint i = 0; i + 1 < resp->headers->len; i += 2)
        MHD_add_response_header(r, g_ptr_array_index(resp->headers, i),
                                g_ptr_array_index(resp->headers, i + 1));
    enum MHD_Result ok = MHD_queue_response(conn, resp->status, r);
    MHD_destroy_response(r);
    return ok;
}

static void resp_init(web_resp *resp)
{
    memset(resp, 0, sizeof(*resp));
    resp->status = 200;
    resp->body = g_string_new(NULL);
    resp->headers = g_ptr_array_new_with_free_func(g_free);
}

static void resp_clear(web_resp *resp)
{
    g_string_free(resp->body, TRUE);
    g_ptr_array_unref(resp->headers);
}

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind,
                                   const char *key, const char *value)
{
    (void)kind;
    return webform_add(cls, key, value) ? MHD_YES : MHD_NO;
}

static void client_text(struct MHD_Connection *conn, char *buf, gsize len)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    buf[0] = '\0';
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf,
                  (socklen_t)len);
    else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a =
            &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a))
            inet_ntop(AF_INET, &a->s6_addr[12], buf, (socklen_t)len);
        else
            inet_ntop(AF_INET6, a, buf, (socklen_t)len);
    }
}

static bool allowed_local(const crm_config *cfg, const char *client)
{
    for (char **a = cfg->web_metrics_allow; a && *a; a++)
        if (strcmp(*a, client) == 0)
            return true;
    return false;
}

/* Resolves the viewer: a Bearer token on API routes, else the session
   cookie. */
static void resolve_viewer(web_req *req, struct MHD_Connection *conn)
{
    char *err = NULL;
    const char *authz =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    if (authz && g_ascii_strncasecmp(authz, "Bearer ", 7) == 0 &&
        (req->route->flags & WEB_API)) {
        const char *tok = authz + 7;
        while (*tok == ' ')
            tok++;
        if (auth_bearer(req->db, tok, &req->viewer, &err) == CRM_OK)
            req->via_token = true;
        g_free(err);
        return;
    }
    if (req->session)
        auth_session(req->db, req->session, &req->viewer, &err);
    g_free(err);
}

static void dispatch(struct MHD_Connection *conn, const char *method,
                     const char *url, upload *up, web_resp *resp,
                     const char **route_r)
{
    const crm_config *cfg = server_cfg;
    web_req req = {.cfg = cfg, .conn = conn, .body = "", .content_type = ""};
    char client[INET6_ADDRSTRLEN + 1];
    client_text(conn, client, sizeof client);
    req.client = client;
    bool head = strcmp(method, "HEAD") == 0;
    req.method = head ? "GET" : method;
    req.path = url;

    if (!g_utf8_validate(url, -1, NULL) || url[0] != '/' || strstr(url, "//")) {
        web_error(&req, resp, 400, "bad request path");
        return;
    }
    /* segments, a trailing slash ignored */
    g_autofree char *copy = g_strdup(url + 1);
    gsize cl = strlen(copy);
    if (cl > 0 && copy[cl - 1] == '/')
        copy[cl - 1] = '\0';
    g_auto(GStrv) segs = *copy ? g_strsplit(copy, "/", -1) : g_new0(char *, 1);

    const web_route *found = NULL;
    GString *allow = g_string_new(NULL);
    /* The Zadarma webhook's path is configurable (voip.zadarma_path): it
       is matched before the table, GET and POST alike. */
    bool zadarma = voip_zadarma_match(url);
    if (zadarma) {
        if (strcmp(req.method, "GET") == 0 || strcmp(req.method, "POST") == 0)
            found = &voip_zadarma_route;
        else
            g_string_append(allow, "GET, POST");
    }
    for (gsize i = 0; i < web_routes_n && !zadarma; i++) {
        const web_route *rt = &web_routes[i];
        const char *args[WEB_MAX_ARGS] = {0};
        gint64 id = 0;
        if (!match(rt->pattern, segs, args, &id))
            continue;
        if (strcmp(rt->method, req.method) == 0) {
            found = rt;
            memcpy(req.args, args, sizeof(args));
            req.id = id;
            break;
        }
        if (!strstr(allow->str, rt->method))
            g_string_append_printf(allow, "%s%s", allow->len ? ", " : "",
                                   rt->method);
    }
    if (!found) {
        if (allow->len) {
            if (strstr(allow->str, "GET"))
                g_string_append(allow, ", HEAD");
            web_header(resp, "Allow", allow->str);
            g_string_free(allow, TRUE);
            web_error(&req, resp, 405, "method not allowed");
        } else {
            g_string_free(allow, TRUE);
            web_error(&req, resp, 404, "not found");
        }
        return;
    }
    g_string_free(allow, TRUE);
    req.route = found;
    *route_r = found->name ? found->name : found->pattern;

    if ((found->flags & WEB_LOCAL) && !allowed_local(cfg, client)) {
        web_error(&req, resp, 403, "not from this address");
        return;
    }
    /* libmicrohttpd has split and decoded the query string already. */
    webform *query = webform_new();
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_arg, query);
    req.query = query;
    req.form = NULL;
    const char *ctype =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
    req.content_type = ctype ? ctype : "";
    req.body = up->body ? up->body->str : "";
    req.body_len = up->body ? up->body->len : 0;
    if (strcmp(req.method, "POST") == 0 &&
        g_ascii_strncasecmp(req.content_type,
                            "application/x-www-form-urlencoded", 33) == 0) {
        if (webform_parse(req.body, req.body_len, &req.form) != CRM_OK) {
            webform_free(&query);
            web_error(&req, resp, 413, "too many form fields");
            return;
        }
    }
    if (!req.form)
        req.form = webform_new();

    g_autofree char *session = webform_cookie(
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Cookie"),
        WEB_SESSION_COOKIE);
    req.session = session;
    req.db = this_thread_db();
    if (!(found->flags & WEB_LOCAL))
        resolve_viewer(&req, conn);

    if (!(found->flags & WEB_PUBLIC) && req.viewer.id == 0) {
        if (found->flags & WEB_API) {
            web_header(resp, "WWW-Authenticate", "Bearer");
            web_error(&req, resp, 401, "authentication required");
        } else {
            GString *loc = g_string_new("/login?next=");
            html_url_encode(loc, url);
            web_redirect(resp, loc->str);
            g_string_free(loc, TRUE);
        }
    } else if (strcmp(req.method, "POST") == 0 &&
               !(found->flags & WEB_NO_CSRF) && !req.via_token &&
               !auth_equal(webform_get(req.form, "csrf"), req.viewer.csrf)) {
        web_error(&req, resp, 403, "invalid or missing CSRF token");
    } else {
        found->fn(&req, resp);
    }
    auth_viewer_clear(&req.viewer);
    webform_free(&req.form);
    webform_free(&query);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *data,
                                  size_t *data_size, void **con_cls)
{
    (void)cls;
    (void)version;
    const crm_config *cfg = server_cfg;
    upload *up = *con_cls;
    if (!up) {
        up = g_new0(upload, 1);
        up->start_us = g_get_monotonic_time();
        *con_cls = up;
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     "Content-Length");
        if (cl && g_ascii_strtoull(cl, NULL, 10) > cfg->web_body_bytes)
            up->toobig = true;
        if (!up->toobig)
            return MHD_YES;
    } else if (*data_size > 0) {
        if (!up->toobig) {
            if (!up->body)
                up->body = g_string_new(NULL);
            if (up->body->len + *data_size > cfg->web_body_bytes)
                up->toobig = true;
            else
                g_string_append_len(up->body, data, *data_size);
        }
        *data_size = 0;
        return MHD_YES;
    }
    web_resp resp;
    resp_init(&resp);
    const char *route = "-";
    if (up->toobig) {
        web_req req = {.cfg = cfg, .path = url, .method = method};
        web_error(&req, &resp, 413, "request body too large");
        web_header(&resp, "Connection", "close");
        route = "(too large)";
    } else {
        dispatch(conn, method, url, up, &resp, &route);
    }
    enum MHD_Result ok = send_resp(conn, &resp);
    double secs = (double)(g_get_monotonic_time() - up->start_us) / 1e6;
    web_metrics_count(route, resp.status, secs);
    log_debug("web method=%s path=%s status=%u ms=%.1f", method, url,
              resp.status, secs * 1000.0);
    resp_clear(&resp);
    return ok;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    upload *up = *con_cls;
    if (!up)
        return;
    if (up->body)
        g_string_free(up->body, TRUE);
    g_free(up);
    *con_cls = NULL;
}

static struct MHD_Daemon *daemon_h;

crm_result web_server_start(const crm_config *cfg, char **error_r)
{
    server_cfg = cfg;
    voip_zadarma_route.pattern = cfg->voip_zadarma_path;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    unsigned flags =
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, cfg->web_listen, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((guint16)cfg->web_port);
    } else if (inet_pton(AF_INET6, cfg->web_listen, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((guint16)cfg->web_port);
        flags |= MHD_USE_IPv6;
    } else {
        *error_r = g_strdup_printf("web.listen: '%s' is not an IPv4 or IPv6 "
                                   "address",
                                   cfg->web_listen);
        return CRM_ERR_CONFIG;
    }
    daemon_h = MHD_start_daemon(
        flags, (uint16_t)cfg->web_port, NULL, NULL, on_request, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->web_threads,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->web_connection_limit,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)cfg->web_per_ip_limit,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->web_request_timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_END);
    if (!daemon_h) {
        *error_r = g_strdup_printf("cannot listen on %s port %u",
                                   cfg->web_listen, cfg->web_port);
        return CRM_ERR_IO;
    }
    return CRM_OK;
}

void web_server_stop(void)
{
    if (!daemon_h)
        return;
    MHD_quiesce_daemon(daemon_h);
    MHD_stop_daemon(daemon_h);
    daemon_h = NULL;
}
