/*
 * pages_voip.c - the provider webhooks of crmgate-web: Zadarma's
 * notifications at voip.zadarma_path (GET ?zd_echo=X: the provider's
 * setup check; POST: a signed event) and the generic signed JSON at
 * /voip/events. Public (no session, no CSRF): the signature decides.
 *
 * Answers: 403 for a source outside voip.allow or a missing or wrong
 * signature (nothing stored; one warning line with the address and the
 * event, never the secret), 400 for an event that does not parse, 413 for
 * an oversized one, 503 when the database is down (the provider retries),
 * else 200: the routing object of a ringing incoming call (`{}` for an
 * unknown caller), {"ok":true} otherwise, also for a re-delivery.
 */
#include <string.h>
#include <time.h>

#include "crmgate/log.h"
#include "crmgate/voip.h"
#include "web.h"

/* zd_echo: at most this many bytes. */
#define VOIP_ECHO_MAX 200

static void voip_error(web_resp *resp, unsigned status, const char *msg)
{
    web_json(resp, status, json_pack("{s:s}", "error", msg));
}

/* The event name for a log line: [A-Za-z0-9_.-], at most 40, else "?". */
static const char *log_name(const char *s)
{
    if (!s || !*s || strlen(s) > 40 ||
        strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                  "0123456789_.-") != strlen(s))
        return "?";
    return s;
}

/* Stores a verified event and answers for it. */
static void store_and_answer(web_req *req, web_resp *resp, voip_event *ev)
{
    bool stored = false;
    gint64 call_pk = 0;
    json_t *route = NULL;
    char *err = NULL;
    /* the database's budget, not the web's five times it: a PBX routing a
       ringing call would rather have a quick 503 and its default route */
    crm_result r =
        voip_event_store(req->db, req->cfg->db_time_budget_ms, ev, req->client,
                         &stored, &call_pk, &route, &err);
    if (r) {
        log_error("voip: store provider=%s event=%s addr=%s: %s", ev->provider,
                  log_name(ev->event), req->client,
                  err ? err : crm_strerror(r));
        g_free(err);
        voip_error(resp, r == CRM_ERR_DB_DOWN ? 503 : 500,
                   r == CRM_ERR_DB_DOWN ? "the database is not answering"
                                        : "the event could not be stored");
        return;
    }
    log_debug("voip: provider=%s event=%s call=%" G_GINT64_FORMAT
              " stored=%s addr=%s",
              ev->provider, log_name(ev->event), call_pk, stored ? "yes" : "no",
              req->client);
    if (route)
        web_json(resp, 200, route);
    else
        web_json(resp, 200, json_pack("{s:b}", "ok", 1));
}

/* Answers a failed parse: 403 (logged), 413 or 400. */
static void parse_failed(web_req *req, web_resp *resp, crm_result r,
                         const char *provider, const char *event,
                         const char *err)
{
    if (r == CRM_ERR_AUTH) {
        log_warn("voip: refused provider=%s event=%s addr=%s: %s", provider,
                 log_name(event), req->client, err ? err : "unsigned");
        voip_error(resp, 403, "signature missing or wrong");
    } else if (r == CRM_ERR_TOOBIG) {
        voip_error(resp, 413, err ? err : "too large");
    } else {
        log_info("voip: bad event provider=%s event=%s addr=%s: %s", provider,
                 log_name(event), req->client, err ? err : "unparsable");
        voip_error(resp, 400, err ? err : "bad event");
    }
}

void web_voip_zadarma(web_req *req, web_resp *resp)
{
    if (!voip_source_allowed(req->cfg, req->client)) {
        log_warn("voip: refused provider=zadarma addr=%s: not in voip.allow",
                 req->client);
        voip_error(resp, 403, "source address not allowed");
        return;
    }
    if (strcmp(req->method, "GET") == 0) {
        const char *echo = webform_get(req->query, "zd_echo");
        resp->ctype = "text/plain; charset=utf-8";
        if (!echo) {
            g_string_assign(resp->body, "crmgate: Zadarma notifications "
                                        "are POSTed here\n");
        } else if (strlen(echo) > VOIP_ECHO_MAX) {
            resp->status = 400;
            g_string_assign(resp->body, "zd_echo longer than 200 bytes\n");
        } else {
            g_string_assign(resp->body, echo);
        }
        return;
    }
    webform *parsed = NULL;
    const webform *form = req->form;
    if (webform_size(form) == 0 && req->body_len > 0) {
        /* a form sent without its Content-Type */
        if (webform_parse(req->body, req->body_len, &parsed) != CRM_OK) {
            voip_error(resp, 413, "too many form fields");
            return;
        }
        form = parsed;
    }
    voip_event ev;
    char *err = NULL;
    crm_result r = voip_zadarma_parse(
        req->cfg, form, web_header_in(req, "Signature"), &ev, &err);
    if (r)
        parse_failed(req, resp, r, "zadarma", webform_get(form, "event"), err);
    else
        store_and_answer(req, resp, &ev);
    g_free(err);
    voip_event_clear(&ev);
    webform_free(&parsed);
}

void web_voip_events(web_req *req, web_resp *resp)
{
    if (!voip_source_allowed(req->cfg, req->client)) {
        log_warn("voip: refused provider=generic addr=%s: not in voip.allow",
                 req->client);
        voip_error(resp, 403, "source address not allowed");
        return;
    }
    voip_event ev;
    char *err = NULL;
    crm_result r = voip_generic_parse(req->cfg, req->body, req->body_len,
                                      web_header_in(req, "X-Crmgate-Timestamp"),
                                      web_header_in(req, "X-Crmgate-Signature"),
                                      time(NULL), &ev, &err);
    if (r)
        parse_failed(req, resp, r, "generic", NULL, err);
    else
        store_and_answer(req, resp, &ev);
    g_free(err);
    voip_event_clear(&ev);
}
