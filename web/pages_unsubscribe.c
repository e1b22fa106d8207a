/*
 * pages_unsubscribe.c - what campaign mail links to, all without a login
 * (the signed token of core/tokens.c is the authority):
 *   GET  /unsubscribe/TOKEN   a landing page with the masked address and a
 *                             confirm button (or "already unsubscribed");
 *   POST /unsubscribe/TOKEN   RFC 8058 one-click (body
 *                             List-Unsubscribe=One-Click) or the button:
 *                             crm_campaign_feedback(unsubscribe), 200;
 *   GET  /o/TOKEN.gif         the open pixel (a 1x1 transparent GIF, always);
 *   GET  /c/TOKEN?u=URL&s=SIG a signed click redirect (302), 400 when the
 *                             signature or the scheme is wrong.
 * TOKEN is a recipient token "ID-MAC"; the pixel and the redirect also take
 * a campaign token "cID-MAC" (anonymous tracking: crm_campaign_anon()).
 *
 * A forged or unknown token changes nothing: 404 for the unsubscribe
 * pages, the GIF all the same for the pixel, 400 for a click. Never an open
 * redirect: the target must be http or https, signed with
 * campaign.secret for this token, at most CLICK_URL_MAX bytes, without
 * control characters. Every write goes through the SECURITY DEFINER
 * functions of sql/0012; crmgate_web writes no campaign table itself.
 */
#include <string.h>

#include "crmgate/log.h"
#include "crmgate/tokens.h"
#include "web.h"

#define CLICK_URL_MAX 4096
/* web_query_json passes the viewer as $1 and $2; these pages do not need
   it, but PostgreSQL wants every parameter typed. */
#define VIEWER "AND $1::bigint IS NOT NULL AND $2::text IS NOT NULL"

/* GIF89a, 1x1, one transparent colour. */
static const unsigned char gif[] = {
    'G',  'I',  'F',  '8',  '9',  'a',  0x01, 0x00, 0x01, 0x00, 0x80,
    0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0x21, 0xf9, 0x04,
    0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b};

/* The recipient id of the route's token, or 0 when it is not one of ours
   (404 answered). */
static gint64 recipient_of(web_req *req, web_resp *resp)
{
    gint64 id = 0;
    if (!token_recipient_verify(req->cfg->campaign_secret, req->args[0], &id)) {
        web_error(req, resp, 404, "this link is not valid");
        return 0;
    }
    return id;
}

/* Appends address with its local part masked: "a***e@example.com" (the
   first and, from three characters on, the last character kept). */
static void masked(GString *o, const char *address)
{
    const char *at = strrchr(address, '@');
    if (!at || !g_utf8_validate(address, -1, NULL)) {
        g_string_append(o, "***");
        return;
    }
    glong n = g_utf8_strlen(address, at - address);
    GString *m = g_string_new(NULL);
    if (n > 0) {
        const char *second = g_utf8_next_char(address);
        g_string_append_len(m, address, second - address);
    }
    g_string_append(m, "***");
    if (n >= 3) {
        const char *last = g_utf8_find_prev_char(address, at);
        g_string_append_len(m, last, at - last);
    }
    g_string_append(m, at);
    html_escape(o, m->str);
    g_string_free(m, TRUE);
}

void web_unsubscribe_page(web_req *req, web_resp *resp)
{
    gint64 id = recipient_of(req, resp);
    if (!id)
        return;
    g_autofree char *ids = g_strdup_printf("%" G_GINT64_FORMAT, id);
    const char *p[] = {ids};
    json_t *r = NULL;
    if (!web_query_json(
            req, resp,
            "SELECT jsonb_build_object('address', r.address, 'unsubscribed', "
            "r.unsubscribed_at IS NOT NULL OR EXISTS (SELECT 1 FROM "
            "suppressions s WHERE s.address_norm = r.address_norm)) "
            "FROM campaign_recipients r WHERE r.id = $3::bigint " VIEWER,
            1, p, &r))
        return;
    if (!r) {
        web_error(req, resp, 404, "this link is not valid");
        return;
    }
    web_page_begin(req, resp, "Unsubscribe");
    GString *o = resp->body;
    g_string_append(o, "<h1>Unsubscribe</h1>\n<p>Address: <b class=\"addr\">");
    masked(o, web_str(r, "address"));
    g_string_append(o, "</b></p>\n");
    if (json_is_true(json_object_get(r, "unsubscribed"))) {
        g_string_append(o, "<p class=\"card\" role=\"status\">This address is "
                           "already unsubscribed: it gets no more of these "
                           "mailings.</p>\n");
    } else {
        html_printf(o,
                    "<p>Stop receiving these mailings at this address?</p>\n"
                    "<form method=\"post\" action=\"/unsubscribe/%s\">"
                    "<button>Unsubscribe</button></form>\n",
                    req->args[0]);
    }
    web_page_end(resp);
    json_decref(r);
}

/* True when the body is RFC 8058's one-click POST: the form field
   List-Unsubscribe=One-Click, urlencoded or multipart/form-data. */
static bool one_click(web_req *req)
{
    const char *v = webform_get(req->form, "List-Unsubscribe");
    if (v)
        return strcmp(v, "One-Click") == 0;
    if (g_ascii_strncasecmp(req->content_type, "multipart/form-data", 19) == 0)
        return g_strstr_len(req->body, (gssize)req->body_len,
                            "name=\"List-Unsubscribe\"") &&
               g_strstr_len(req->body, (gssize)req->body_len, "One-Click");
    return false;
}

void web_unsubscribe_post(web_req *req, web_resp *resp)
{
    gint64 id = recipient_of(req, resp);
    if (!id)
        return;
    g_autofree char *ids = g_strdup_printf("%" G_GINT64_FORMAT, id);
    const char *source = one_click(req) ? "one-click" : "web";
    const char *p[] = {ids, source};
    json_t *done = NULL;
    if (!web_query_json(req, resp,
                        "SELECT to_jsonb(crm_campaign_feedback($3::bigint, "
                        "'unsubscribe', jsonb_build_object('source', "
                        "$4::text))) WHERE true " VIEWER,
                        2, p, &done))
        return;
    bool known =
        json_is_string(done) && strcmp(json_string_value(done), "unknown") != 0;
    json_decref(done);
    if (!known) {
        web_error(req, resp, 404, "this link is not valid");
        return;
    }
    log_info("web: unsubscribed recipient=%s source=%s", ids, source);
    web_page_begin(req, resp, "Unsubscribed");
    g_string_append(resp->body,
                    "<h1>You are unsubscribed</h1>\n<p>This address gets "
                    "no more of these mailings.</p>\n");
    web_page_end(resp);
}

/* Records an open or a click for a recipient token (feedback) or a
   campaign token (anonymous counts). False when tok is neither; a database
   error is logged, never shown (the reader gets the pixel or the link). */
static bool track(web_req *req, const char *tok, const char *kind)
{
    gint64 id = 0;
    const char *sql;
    if (token_recipient_verify(req->cfg->campaign_secret, tok, &id))
        sql = "SELECT crm_campaign_feedback($1::bigint, $2::text, '{}')";
    else if (token_campaign_verify(req->cfg->campaign_secret, tok, &id))
        sql = "SELECT crm_campaign_anon($1::bigint, $2::text)";
    else
        return false;
    g_autofree char *ids = g_strdup_printf("%" G_GINT64_FORMAT, id);
    const char *p[] = {ids, kind};
    char *err = NULL;
    if (db_exec(req->db, req->cfg->db_time_budget_ms * 5, sql, 2, p, &err)) {
        log_warn("web: %s not recorded token_id=%s: %s", kind, ids,
                 err ? err : "");
        g_free(err);
    }
    return true;
}

void web_open_pixel(web_req *req, web_resp *resp)
{
    const char *seg = req->args[0];
    gsize n = strlen(seg);
    if (n > 4 && n <= TOKEN_MAX_LEN + 4 && strcmp(seg + n - 4, ".gif") == 0) {
        g_autofree char *tok = g_strndup(seg, n - 4);
        track(req, tok, "open");
    }
    resp->status = 200;
    resp->ctype = "image/gif";
    g_string_truncate(resp->body, 0);
    g_string_append_len(resp->body, (const char *)gif, sizeof gif);
    /* the server sends Cache-Control: no-store with every answer */
}

/* The Location value of url: bytes outside ASCII and blanks
   percent-encoded; NULL when url holds a control character. */
static char *location_of(const char *url)
{
    GString *l = g_string_new(NULL);
    for (const unsigned char *p = (const unsigned char *)url; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            g_string_free(l, TRUE);
            return NULL;
        }
        if (*p == ' ' || *p >= 0x80)
            g_string_append_printf(l, "%%%02X", *p);
        else
            g_string_append_c(l, (char)*p);
    }
    return g_string_free(l, FALSE);
}

/* True when url is http:// or https:// with a host. */
static bool http_url(const char *url)
{
    gsize skip = g_ascii_strncasecmp(url, "http://", 7) == 0    ? 7
                 : g_ascii_strncasecmp(url, "https://", 8) == 0 ? 8
                                                                : 0;
    return skip && url[skip] && url[skip] != '/' && url[skip] != '\\' &&
           url[skip] != '?' && url[skip] != '#';
}

void web_click(web_req *req, web_resp *resp)
{
    const char *tok = req->args[0];
    const char *url = webform_get(req->query, "u");
    const char *sig = webform_get(req->query, "s");
    g_autofree char *loc = NULL;
    if (!url || !sig || strlen(url) > CLICK_URL_MAX || !http_url(url) ||
        !(loc = location_of(url)) ||
        !token_link_verify(req->cfg->campaign_secret, tok, url, sig) ||
        !track(req, tok, "click")) {
        web_error(req, resp, 400, "this link is not valid");
        return;
    }
    resp->status = 302;
    g_string_truncate(resp->body, 0);
    web_header(resp, "Location", loc);
}
