/*
 * pages_records.c - the record pages: GET /contacts/ID, /leads/ID,
 * /companies/ID, /deals/ID, /requests/ID with their fields, related
 * records and one timeline (<section id="timeline">: captured mail grouped
 * by thread with why each message is linked, the record's tasks, a deal's
 * stage history, campaign mail sent to a contact or lead and what came
 * back, calls: web/pages_calls.c renders them and the click-to-call
 * section of contacts and leads), newest first, at most TIMELINE_MAX items
 * with a note when cut; and the two edits: POST /TYPE/ID/owner and POST
 * /deals/ID/stage (303 back to the page, 400 with a message for bad
 * input, 404 when the viewer may not see the record).
 *
 * The data comes from core/views.c (the same JSON the API serves); this
 * file only renders it, every value through html_printf / web_text.
 */
#include <string.h>

#include "crmgate/log.h"
#include "crmgate/views.h"
#include "web.h"

#define TIMELINE_MAX 200

static const struct {
    const char *plural;
    const char *type;
    const char *title;
} kinds[] = {
    {"contacts", "contact", "Contact"},  {"leads", "lead", "Lead"},
    {"companies", "company", "Company"}, {"deals", "deal", "Deal"},
    {"requests", "request", "Request"},
};

const char *web_record_type_of(const char *path)
{
    if (!path || path[0] != '/')
        return NULL;
    const char *seg = path + 1;
    const char *end = strchr(seg, '/');
    gsize n = end ? (gsize)(end - seg) : strlen(seg);
    for (gsize i = 0; i < G_N_ELEMENTS(kinds); i++)
        if (strlen(kinds[i].plural) == n &&
            strncmp(kinds[i].plural, seg, n) == 0)
            return kinds[i].type;
    return NULL;
}

static const char *title_of(const char *type)
{
    for (gsize i = 0; i < G_N_ELEMENTS(kinds); i++)
        if (strcmp(kinds[i].type, type) == 0)
            return kinds[i].title;
    return "";
}

void web_views_error(web_req *req, web_resp *resp, crm_result r,
                     const char *err)
{
    switch (r) {
    case CRM_ERR_NOTFOUND:
        web_error(req, resp, 404, "not found");
        return;
    case CRM_ERR_USAGE:
    case CRM_ERR_PARSE:
    case CRM_ERR_TOOBIG:
        web_error(req, resp, 400, err ? err : crm_strerror(r));
        return;
    case CRM_ERR_DB_DOWN:
        web_error(req, resp, 503, "the database is not answering");
        return;
    case CRM_OK:
    case CRM_ERR_DB:
    case CRM_ERR_IO:
    case CRM_ERR_CONFIG:
    case CRM_ERR_EXISTS:
    case CRM_ERR_INTERNAL:
    case CRM_ERR_BUSY:
    case CRM_ERR_AUTH:
        break;
    }
    log_error("web: %s %s: %s", req->method, req->path,
              err ? err : crm_strerror(r));
    web_error(req, resp, 500, "the database refused the request");
}

/* A "label" dd with a link to a referenced record {id, name}, or "". */
static void ref_link(GString *o, json_t *ref, const char *plural)
{
    if (!json_is_object(ref))
        return;
    html_printf(o, "<a href=\"/%s/%s\">", plural, web_str(ref, "id"));
    web_text(o, json_object_get(ref, "name"));
    g_string_append(o, "</a>");
}

/* One dt/dd pair with a member of rec as text; skipped when empty. */
static void field(GString *o, const char *label, json_t *rec, const char *key)
{
    json_t *v = json_object_get(rec, key);
    if (!v || json_is_null(v) || (json_is_string(v) && !*json_string_value(v)))
        return;
    html_printf(o, "<dt>%s</dt><dd>", label);
    web_text(o, v);
    g_string_append(o, "</dd>\n");
}

static void ref_field(GString *o, const char *label, json_t *rec,
                      const char *key, const char *plural)
{
    json_t *ref = json_object_get(rec, key);
    if (!json_is_object(ref))
        return;
    html_printf(o, "<dt>%s</dt><dd>", label);
    ref_link(o, ref, plural);
    g_string_append(o, "</dd>\n");
}

static void user_field(GString *o, const char *label, json_t *rec,
                       const char *key)
{
    json_t *u = json_object_get(rec, key);
    if (!json_is_object(u))
        return;
    const char *name = web_str(u, "name");
    html_printf(o, "<dt>%s</dt><dd>%s", label,
                *name ? name : web_str(u, "email"));
    html_printf(o, " <span class=\"muted\">%s</span></dd>\n",
                web_str(u, "email"));
}

static void fields(GString *o, const char *type, json_t *r)
{
    g_string_append(o, "<dl class=\"fields\">\n");
    if (strcmp(type, "contact") == 0 || strcmp(type, "lead") == 0) {
        field(o, "First name", r, "first_name");
        field(o, "Last name", r, "last_name");
        field(o, "Title", r, "title");
        field(o, "Email", r, "email");
        field(o, "Other email", r, "secondary_email");
        field(o, "Phone", r, "phone");
        ref_field(o, "Company", r, "company", "companies");
        field(o, "Company name", r, "company_name");
        field(o, "Website", r, "website");
        ref_field(o, "Contact", r, "contact", "contacts");
        field(o, "Disqualified", r, "disqualified");
        field(o, "Description", r, "description");
    } else if (strcmp(type, "company") == 0) {
        field(o, "Name", r, "name");
        json_t *doms = json_object_get(r, "domains");
        if (json_array_size(doms)) {
            g_string_append(o, "<dt>Domains</dt><dd>");
            gsize i;
            json_t *d;
            json_array_foreach(doms, i, d)
            {
                if (i)
                    g_string_append(o, ", ");
                web_text(o, d);
            }
            g_string_append(o, "</dd>\n");
        }
        field(o, "Website", r, "website");
        field(o, "Phone", r, "phone");
        field(o, "Country", r, "country");
        field(o, "City", r, "city");
        field(o, "Address", r, "address");
        field(o, "Description", r, "description");
    } else if (strcmp(type, "deal") == 0) {
        field(o, "Name", r, "name");
        field(o, "Ticket", r, "ticket");
        json_t *st = json_object_get(r, "stage");
        if (json_is_object(st))
            html_printf(o, "<dt>Stage</dt><dd class=\"stage\">%s</dd>\n",
                        web_str(st, "name"));
        html_printf(o, "<dt>Status</dt><dd class=\"status\">%s</dd>\n",
                    web_str(r, "status"));
        json_t *cr = json_object_get(r, "closing_reason");
        if (json_is_object(cr))
            html_printf(o, "<dt>Closing reason</dt><dd>%s</dd>\n",
                        web_str(cr, "name"));
        if (json_object_get(r, "amount") &&
            !json_is_null(json_object_get(r, "amount")))
            html_printf(o, "<dt>Amount</dt><dd>%s %s</dd>\n",
                        web_str(r, "amount"), web_str(r, "currency"));
        ref_field(o, "Contact", r, "contact", "contacts");
        ref_field(o, "Company", r, "company", "companies");
        ref_field(o, "Lead", r, "lead", "leads");
        ref_field(o, "Request", r, "request", "requests");
        field(o, "Next step", r, "next_step");
        field(o, "Next step date", r, "next_step_date");
        field(o, "Closed", r, "closed_at");
    } else if (strcmp(type, "request") == 0) {
        field(o, "Ticket", r, "ticket");
        field(o, "Subject", r, "subject");
        field(o, "First name", r, "first_name");
        field(o, "Last name", r, "last_name");
        field(o, "Email", r, "email");
        field(o, "Phone", r, "phone");
        field(o, "Pending", r, "pending");
        ref_field(o, "Contact", r, "contact", "contacts");
        ref_field(o, "Lead", r, "lead", "leads");
        ref_field(o, "Company", r, "company", "companies");
        ref_field(o, "Deal", r, "deal", "deals");
        field(o, "Description", r, "description");
    }
    user_field(o, "Owner", r, "owner");
    user_field(o, "Co-owner", r, "co_owner");
    html_printf(o, "<dt>Created</dt><dd>");
    web_when(o, r, "created_at");
    g_string_append(o, "</dd>\n</dl>\n");
}

/* A list of related records, e.g. a company's contacts. */
static void related(GString *o, json_t *r, const char *key, const char *title,
                    const char *plural)
{
    json_t *list = json_object_get(r, key);
    if (!json_array_size(list))
        return;
    html_printf(o, "<h2>%s</h2>\n<ul class=\"related %s\">\n", title, key);
    gsize i;
    json_t *x;
    json_array_foreach(list, i, x)
    {
        g_string_append(o, "<li>");
        ref_link(o, x, plural);
        const char *email = web_str(x, "email");
        if (*email)
            html_printf(o, " <span class=\"muted\">%s</span>", email);
        if (strcmp(key, "deals") == 0)
            html_printf(o, " <span class=\"muted\">%s, %s %s %s</span>",
                        web_str(x, "stage"), web_str(x, "status"),
                        web_str(x, "amount"), web_str(x, "currency"));
        g_string_append(o, "</li>\n");
    }
    g_string_append(o, "</ul>\n");
}

static const char *reason_text(const char *reason)
{
    if (strcmp(reason, "capture-token") == 0)
        return "capture token: sent with this record's crm+ address";
    if (strcmp(reason, "ticket") == 0)
        return "ticket: the subject names this record's ticket";
    if (strcmp(reason, "thread") == 0)
        return "thread: a reply in a thread linked to this record";
    if (strcmp(reason, "participant") == 0)
        return "participant: an address of this record took part";
    if (strcmp(reason, "domain") == 0)
        return "domain: an address of this company's domain took part";
    if (strcmp(reason, "open-deal") == 0)
        return "open deal: an open deal of a participating contact";
    if (strcmp(reason, "sales-inbox") == 0)
        return "sales inbox: mail to the sales inbox created it";
    if (strcmp(reason, "manual") == 0)
        return "manual: linked by hand";
    return reason;
}

static void timeline_message(GString *o, json_t *m)
{
    html_printf(o, "<li class=\"message\" data-message-id=\"%s\">",
                web_str(m, "id"));
    const char *dir = web_str(m, "direction");
    html_printf(o, "<span class=\"dir dir-%s\">%s</span> <time>", dir,
                strcmp(dir, "in") == 0    ? "in"
                : strcmp(dir, "out") == 0 ? "out"
                                          : dir);
    web_when(o, m, "at");
    const char *subj = web_str(m, "subject");
    html_printf(o, "</time> <a href=\"/messages/%s\">%s</a>", web_str(m, "id"),
                *subj ? subj : "(no subject)");
    html_printf(o, "<div class=\"muted\">From: %s", web_str(m, "from"));
    html_printf(o, " &middot; To: %s", web_str(m, "to"));
    if (*web_str(m, "cc"))
        html_printf(o, " &middot; Cc: %s", web_str(m, "cc"));
    g_string_append(o, "</div>");
    const char *reason = web_str(m, "reason");
    html_printf(o,
                "<div>Linked because: <span class=\"reason\" "
                "data-reason=\"%s\">%s</span>",
                reason, reason_text(reason));
    json_int_t na = json_integer_value(json_object_get(m, "attachments"));
    if (na > 0)
        html_printf(o,
                    " &middot; <span class=\"attachments\">%lld "
                    "attachment%s</span>",
                    (long long)na, na == 1 ? "" : "s");
    g_string_append(o, "</div></li>\n");
}

/* The timeline: messages of one thread together (at the place of the
   thread's newest message), tasks and stage changes in between. */
static void timeline(GString *o, json_t *tl)
{
    json_t *items = json_object_get(tl, "items");
    g_string_append(o, "<section id=\"timeline\">\n<h2>Timeline</h2>\n");
    if (!json_array_size(items)) {
        g_string_append(o, "<p class=\"muted\">Nothing yet.</p>\n</section>\n");
        return;
    }
    GHashTable *done =
        g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
    g_string_append(o, "<ol class=\"timeline\">\n");
    gsize n = json_array_size(items);
    for (gsize i = 0; i < n; i++) {
        json_t *it = json_array_get(items, i);
        const char *kind = web_str(it, "kind");
        if (strcmp(kind, "message") == 0) {
            json_t *tid = json_object_get(it, "thread_id");
            gint64 *key = g_new(gint64, 1);
            *key = json_integer_value(tid);
            if (g_hash_table_contains(done, key)) {
                g_free(key);
                continue;
            }
            g_hash_table_add(done, key);
            html_printf(o,
                        "<li class=\"thread\" data-thread-id=\"%s\">"
                        "<ul class=\"thread-messages\">\n",
                        web_str(it, "thread_id"));
            for (gsize j = i; j < n; j++) {
                json_t *m = json_array_get(items, j);
                if (strcmp(web_str(m, "kind"), "message") == 0 &&
                    json_integer_value(json_object_get(m, "thread_id")) == *key)
                    timeline_message(o, m);
            }
            g_string_append(o, "</ul></li>\n");
        } else if (strcmp(kind, "task") == 0) {
            html_printf(o,
                        "<li class=\"task\">Task <a href=\"/tasks/%s\">%s</a> "
                        "<span class=\"stage\">%s</span>",
                        web_str(it, "id"), web_str(it, "title"),
                        web_str(it, "stage"));
            if (*web_str(it, "due_date"))
                html_printf(o, " &middot; due %s", web_str(it, "due_date"));
            g_string_append(o, " &middot; <time>");
            web_when(o, it, "at");
            g_string_append(o, "</time></li>\n");
        } else if (strcmp(kind, "campaign") == 0) {
            html_printf(o,
                        "<li class=\"campaign-event\" data-event=\"%s\">"
                        "Campaign ",
                        web_str(it, "event"));
            if (json_is_true(json_object_get(it, "linked")))
                html_printf(o, "<a href=\"/campaigns/%s\">",
                            web_str(it, "campaign_id"));
            web_text(o, json_object_get(it, "campaign"));
            if (json_is_true(json_object_get(it, "linked")))
                g_string_append(o, "</a>");
            html_printf(o, ": <b>%s</b>", web_str(it, "event"));
            if (*web_str(it, "reason"))
                html_printf(o, " (%s)", web_str(it, "reason"));
            g_string_append(o, " &middot; <time>");
            web_when(o, it, "at");
            g_string_append(o, "</time></li>\n");
        } else if (strcmp(kind, "call") == 0) {
            web_timeline_call(o, it);
        } else if (strcmp(kind, "stage") == 0) {
            html_printf(o, "<li class=\"stage-change\">Stage <b>%s</b> (%s)",
                        web_str(it, "stage"), web_str(it, "status"));
            if (*web_str(it, "user"))
                html_printf(o, " by %s", web_str(it, "user"));
            g_string_append(o, " &middot; <time>");
            web_when(o, it, "at");
            g_string_append(o, "</time></li>\n");
        }
    }
    g_string_append(o, "</ol>\n");
    if (json_is_true(json_object_get(tl, "truncated")))
        html_printf(o,
                    "<p class=\"muted truncated\">Only the newest %d items "
                    "are shown.</p>\n",
                    TIMELINE_MAX);
    g_string_append(o, "</section>\n");
    g_hash_table_destroy(done);
}

static bool may_change_owner(web_req *req, json_t *rec)
{
    const char *role = req->viewer.role ? req->viewer.role : "";
    json_t *owner = json_object_get(rec, "owner");
    return strcmp(role, "chief") == 0 || strcmp(role, "admin") == 0 ||
           (json_is_object(owner) &&
            json_integer_value(json_object_get(owner, "id")) == req->viewer.id);
}

static void owner_form(web_req *req, GString *o, const char *plural,
                       json_t *rec)
{
    html_printf(o,
                "<form class=\"owner\" method=\"post\" "
                "action=\"/%s/%s/owner\">",
                plural, web_str(rec, "id"));
    web_csrf_field(req, o);
    json_t *owner = json_object_get(rec, "owner");
    html_printf(o,
                "<label>Owner (address or user id) <input name=\"owner\" "
                "value=\"%s\" maxlength=\"320\" required></label> "
                "<button>Change owner</button></form>\n",
                json_is_object(owner) ? web_str(owner, "email") : "");
}

static void stage_form(web_req *req, GString *o, json_t *rec)
{
    html_printf(o,
                "<form class=\"stage\" method=\"post\" "
                "action=\"/deals/%s/stage\">",
                web_str(rec, "id"));
    web_csrf_field(req, o);
    json_t *choices = json_object_get(rec, "choices");
    json_int_t cur = json_integer_value(json_object_get(rec, "stage_id"));
    g_string_append(o, "<label>Stage <select name=\"stage\">");
    gsize i;
    json_t *s;
    json_array_foreach(json_object_get(choices, "stages"), i, s)
    {
        json_int_t id = json_integer_value(json_object_get(s, "id"));
        html_printf(o, "<option value=\"%s\"%s>%s</option>", web_str(s, "id"),
                    id == cur ? " selected" : "", web_str(s, "name"));
    }
    g_string_append(o, "</select></label> <label>Status <select "
                       "name=\"status\">");
    const char *status = web_str(rec, "status");
    static const char *const statuses[] = {"open", "won", "lost"};
    for (gsize k = 0; k < G_N_ELEMENTS(statuses); k++)
        html_printf(o, "<option%s>%s</option>",
                    strcmp(status, statuses[k]) == 0 ? " selected" : "",
                    statuses[k]);
    g_string_append(o, "</select></label> <label>Closing reason (won or "
                       "lost) <select name=\"reason\"><option "
                       "value=\"\"></option>");
    json_int_t rid =
        json_integer_value(json_object_get(rec, "closing_reason_id"));
    json_array_foreach(json_object_get(choices, "closing_reasons"), i, s)
    {
        json_int_t id = json_integer_value(json_object_get(s, "id"));
        html_printf(o, "<option value=\"%s\"%s>%s</option>", web_str(s, "id"),
                    id == rid ? " selected" : "", web_str(s, "name"));
    }
    g_string_append(o, "</select></label> <button>Save stage</button>"
                       "</form>\n");
}

void web_record_page(web_req *req, web_resp *resp)
{
    const char *type = web_record_type_of(req->path);
    if (!type) {
        web_error(req, resp, 404, "not found");
        return;
    }
    views_viewer v = web_views_viewer(req);
    json_t *rec = NULL, *tl = NULL;
    char *err = NULL;
    crm_result r = views_record(&v, type, req->id, &rec, &err);
    if (r == CRM_OK)
        r = views_timeline(&v, type, req->id, TIMELINE_MAX, &tl, &err);
    if (r) {
        web_views_error(req, resp, r, err);
        g_free(err);
        json_decref(rec);
        return;
    }
    const char *plural = views_type_path(type);
    g_autofree char *title =
        g_strdup_printf("%s: %s", title_of(type), web_str(rec, "name"));
    web_page_begin(req, resp, title);
    GString *o = resp->body;
    html_printf(o, "<h1>%s <span class=\"muted\">#%s</span></h1>\n", title,
                web_str(rec, "id"));
    const char *msg = webform_get(req->query, "saved");
    if (msg && strcmp(msg, "1") == 0)
        g_string_append(o, "<p class=\"card\" role=\"status\">Saved.</p>\n");
    fields(o, type, rec);
    if (may_change_owner(req, rec))
        owner_form(req, o, plural, rec);
    if (strcmp(type, "deal") == 0)
        stage_form(req, o, rec);
    const char *called = webform_get(req->query, "called");
    if (called && *called)
        html_printf(o,
                    "<p class=\"card\" role=\"status\">Call requested "
                    "(#%s): your phone rings first, then the number.</p>\n",
                    called);
    web_click_to_call(req, o, type, rec);
    related(o, rec, "contacts", "Contacts", "contacts");
    related(o, rec, "deals", "Deals", "deals");
    related(o, rec, "leads", "Leads", "leads");
    related(o, rec, "requests", "Requests", "requests");
    timeline(o, tl);
    web_page_end(resp);
    json_decref(rec);
    json_decref(tl);
}

void web_record_owner_post(web_req *req, web_resp *resp)
{
    const char *type = web_record_type_of(req->path);
    views_viewer v = web_views_viewer(req);
    bool forbidden = false;
    char *err = NULL;
    crm_result r = views_set_owner(
        &v, type, req->id, webform_get(req->form, "owner"), &forbidden, &err);
    if (r == CRM_OK) {
        log_info("web: owner changed type=%s id=%" G_GINT64_FORMAT
                 " by=%" G_GINT64_FORMAT,
                 type, req->id, req->viewer.id);
        g_autofree char *loc = g_strdup_printf(
            "/%s/%" G_GINT64_FORMAT "?saved=1", views_type_path(type), req->id);
        web_redirect(resp, loc);
    } else if (forbidden) {
        web_error(req, resp, 403, err);
    } else {
        web_views_error(req, resp, r, err);
    }
    g_free(err);
}

void web_deal_stage_post(web_req *req, web_resp *resp)
{
    views_viewer v = web_views_viewer(req);
    char *err = NULL;
    crm_result r =
        views_set_deal_stage(&v, req->id, webform_get(req->form, "stage"),
                             webform_get(req->form, "status"),
                             webform_get(req->form, "reason"), &err);
    if (r == CRM_OK) {
        log_info("web: deal stage changed id=%" G_GINT64_FORMAT
                 " by=%" G_GINT64_FORMAT,
                 req->id, req->viewer.id);
        g_autofree char *loc =
            g_strdup_printf("/deals/%" G_GINT64_FORMAT "?saved=1", req->id);
        web_redirect(resp, loc);
    } else {
        web_views_error(req, resp, r, err);
    }
    g_free(err);
}
