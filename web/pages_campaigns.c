/*
 * pages_campaigns.c - campaigns in the web view: GET /campaigns (the list
 * with its counts), GET /campaigns/ID (state, the counts of `crmgate --json
 * campaign status`, a progress bar without script, the per-domain
 * breakdown, A/B variants, the last bounces, and the state buttons), POST
 * /campaigns/ID/ACTION (start, pause, resume, cancel through
 * campaign_action(); 303 back, 409 when the state does not allow it) and
 * the JSON API GET /api/campaigns and /api/campaigns/ID.
 *
 * Who sees a campaign is crm_campaign_visible() (sql/0013): chief and
 * admin all, a manager those they own, an operator none; a campaign the
 * viewer may not see is not found (404). Limits: the list shows the newest
 * CAMPAIGNS_LIST_MAX campaigns, a page DOMAINS_MAX domains and the last
 * BOUNCES_MAX bounces.
 */
#include <string.h>

#include "crmgate/campaign.h"
#include "crmgate/log.h"
#include "web.h"

#define CAMPAIGNS_LIST_MAX 200
#define DOMAINS_MAX 50
#define BOUNCES_MAX 20

/* clang-format off */
static const char sql_list[] =
    "SELECT coalesce(jsonb_agg(x.j ORDER BY x.created_at DESC, x.id DESC), "
    "'[]') FROM (SELECT c.id, c.created_at, jsonb_build_object('id', c.id, "
    "'name', c.name, 'state', c.state, 'created_at', c.created_at, "
    "'owner', (SELECT coalesce(nullif(u.name, ''), u.email) FROM users u "
    "WHERE u.id = c.owner_id)) || crm_campaign_counts(c.id) AS j "
    "FROM campaigns c "
    "WHERE crm_campaign_visible($1::bigint, $2::text, c.owner_id) "
    "ORDER BY c.created_at DESC, c.id DESC LIMIT $3::integer) x";

/* What campaign_status() does not give: the owner, the A/B variants with
   their numbers and the last bounces; NULL when the viewer may not see the
   campaign. */
static const char sql_extra[] =
    "SELECT jsonb_build_object('id', c.id, "
    "'owner', (SELECT coalesce(nullif(u.name, ''), u.email) FROM users u "
    "WHERE u.id = c.owner_id), "
    "'variants', CASE WHEN cardinality(c.ab_subjects) = 0 THEN '[]'::jsonb "
    "ELSE (SELECT jsonb_agg(jsonb_build_object('variant', v.n, 'subject', "
    "CASE WHEN v.n = 1 THEN c.subject ELSE c.ab_subjects[v.n - 1] END, "
    "'sent', k.sent, 'replies', k.replies, 'clicks', k.clicks, 'winner', "
    "coalesce(c.ab_winner = v.n, false)) ORDER BY v.n) "
    "FROM generate_series(1, 1 + cardinality(c.ab_subjects)) v(n) "
    "CROSS JOIN LATERAL (SELECT "
    "count(*) FILTER (WHERE r.sent_at IS NOT NULL) AS sent, "
    "count(*) FILTER (WHERE r.replied_at IS NOT NULL) AS replies, "
    "count(*) FILTER (WHERE r.clicked_at IS NOT NULL) AS clicks "
    "FROM campaign_recipients r WHERE r.campaign_id = c.id "
    "AND r.variant = v.n) k) END, "
    "'bounces', (SELECT coalesce(jsonb_agg(jsonb_build_object("
    "'address', b.address_norm, 'kind', b.kind, 'hard', b.hard, "
    "'reason', b.reason, 'status', b.status, 'at', b.at) "
    "ORDER BY b.at DESC, b.id DESC), '[]') FROM (SELECT * FROM "
    "campaign_bounces b WHERE b.campaign_id = c.id "
    "ORDER BY b.at DESC, b.id DESC LIMIT $4::integer) b)) "
    "FROM campaigns c WHERE c.id = $3::bigint "
    "AND crm_campaign_visible($1::bigint, $2::text, c.owner_id)";
/* clang-format on */

/* The counts of a campaign, in the order pages show them. */
static const struct {
    const char *key;
    const char *label;
} counts[] = {
    {"recipients", "Recipients"},
    {"queued", "Queued"},
    {"sent", "Sent"},
    {"failed", "Failed"},
    {"bounced", "Bounced"},
    {"suppressed", "Suppressed"},
    {"replied", "Replied"},
    {"unsubscribed", "Unsubscribed"},
    {"opened", "Opened"},
    {"clicked", "Clicked"},
};

/* The columns of the list page after name and state. */
static const char *const list_counts[] = {
    "recipients", "sent", "failed", "bounced", "replied", "unsubscribed", NULL};

/* Each action, the states it applies to (campaign_action()'s rules) and
   its button. */
static const struct {
    const char *action;
    const char *from;
    const char *button;
} actions[] = {
    {"start", " draft ", "Start"},
    {"pause", " running scheduled ", "Pause"},
    {"resume", " paused ", "Resume"},
    {"cancel", " draft scheduled running paused ", "Cancel"},
};

static json_int_t count_of(json_t *obj, const char *key)
{
    return json_integer_value(json_object_get(obj, key));
}

void web_campaigns_list(web_req *req, web_resp *resp)
{
    g_autofree char *lim = g_strdup_printf("%d", CAMPAIGNS_LIST_MAX);
    const char *p[] = {lim};
    json_t *rows = NULL;
    if (!web_query_json(req, resp, sql_list, 1, p, &rows))
        return;
    web_page_begin(req, resp, "Campaigns");
    GString *o = resp->body;
    g_string_append(o, "<h1>Campaigns</h1>\n");
    if (!json_array_size(rows)) {
        g_string_append(o, "<p class=\"muted\">No campaigns to show.</p>\n");
        web_page_end(resp);
        json_decref(rows);
        return;
    }
    g_string_append(o, "<table class=\"campaigns\"><thead><tr><th>Name</th>"
                       "<th>State</th><th class=\"num\">Recipients</th>"
                       "<th class=\"num\">Sent</th><th class=\"num\">Failed"
                       "</th><th class=\"num\">Bounced</th><th class=\"num\">"
                       "Replied</th><th class=\"num\">Unsubscribed</th>"
                       "<th>Created</th></tr></thead>\n<tbody>\n");
    gsize i;
    json_t *c;
    json_array_foreach(rows, i, c)
    {
        html_printf(o,
                    "<tr data-campaign-id=\"%s\"><td><a "
                    "href=\"/campaigns/%s\">",
                    web_str(c, "id"), web_str(c, "id"));
        web_text(o, json_object_get(c, "name"));
        html_printf(o,
                    "</a></td><td><span class=\"state state-%s\">%s"
                    "</span></td>",
                    web_str(c, "state"), web_str(c, "state"));
        for (const char *const *k = list_counts; *k; k++)
            html_printf(o, "<td class=\"num\" data-count=\"%s\">%s</td>", *k,
                        web_str(c, *k));
        g_string_append(o, "<td>");
        web_when(o, c, "created_at");
        g_string_append(o, "</td></tr>\n");
    }
    g_string_append(o, "</tbody></table>\n");
    if (json_array_size(rows) >= CAMPAIGNS_LIST_MAX)
        html_printf(o,
                    "<p class=\"muted truncated\">Only the newest %d "
                    "campaigns are shown.</p>\n",
                    CAMPAIGNS_LIST_MAX);
    web_page_end(resp);
    json_decref(rows);
}

void web_api_campaigns(web_req *req, web_resp *resp)
{
    g_autofree char *lim = g_strdup_printf("%d", CAMPAIGNS_LIST_MAX);
    const char *p[] = {lim};
    json_t *rows = NULL;
    if (!web_query_json(req, resp, sql_list, 1, p, &rows))
        return;
    web_json(resp, 200,
             json_pack("{s:o}", "campaigns", rows ? rows : json_array()));
}

/* Reads what a campaign page shows: *extra_r (sql_extra), *st_r
   (campaign_status) and, with domains_r, the domains. False when it
   answered (404 when the viewer may not see the campaign). */
static bool load(web_req *req, web_resp *resp, json_t **extra_r, json_t **st_r,
                 json_t **domains_r)
{
    *extra_r = *st_r = NULL;
    if (domains_r)
        *domains_r = NULL;
    g_autofree char *ids = g_strdup_printf("%" G_GINT64_FORMAT, req->id);
    g_autofree char *lim = g_strdup_printf("%d", BOUNCES_MAX);
    const char *p[] = {ids, lim};
    if (!web_query_json(req, resp, sql_extra, 2, p, extra_r))
        return false;
    if (!*extra_r) {
        web_error(req, resp, 404, "not found");
        return false;
    }
    char *err = NULL;
    crm_result r = campaign_status(req->db, req->id, st_r, &err);
    if (r == CRM_OK && domains_r)
        r = campaign_domains(req->db, req->id, DOMAINS_MAX, domains_r, &err);
    if (r) {
        web_views_error(req, resp, r, err);
        g_free(err);
        json_decref(*extra_r);
        json_decref(*st_r);
        *extra_r = *st_r = NULL;
        return false;
    }
    return true;
}

/* A bar of the share of recipients that are no longer queued. */
static void progress(GString *o, json_t *st)
{
    json_int_t total = count_of(st, "recipients");
    json_int_t queued = count_of(st, "queued");
    json_int_t done = total - queued;
    int pct = total > 0 ? (int)(100 * done / total) : 0;
    int step = (pct / 5) * 5; /* the stylesheet's bar widths: 5 % steps */
    html_printf(o,
                "<div class=\"progress\" role=\"progressbar\" "
                "aria-valuemin=\"0\" aria-valuemax=\"100\" "
                "aria-valuenow=\"%d\"><span class=\"bar w%d\"></span></div>"
                "<p class=\"progress-text\">%d %% done: %lld of %lld "
                "recipients handled, %lld queued</p>\n",
                pct, step, pct, (long long)done, (long long)total,
                (long long)queued);
}

static void action_forms(web_req *req, GString *o, const char *state)
{
    g_autofree char *padded = g_strdup_printf(" %s ", state);
    bool any = false;
    for (gsize i = 0; i < G_N_ELEMENTS(actions); i++) {
        if (!strstr(actions[i].from, padded))
            continue;
        if (!any)
            g_string_append(o, "<div class=\"actions\">");
        any = true;
        html_printf(
            o,
            "<form method=\"post\" action=\"/campaigns/%" G_GINT64_FORMAT
            "/%s\">",
            req->id, actions[i].action);
        web_csrf_field(req, o);
        html_printf(o, "<button>%s</button></form> ", actions[i].button);
    }
    if (any)
        g_string_append(o, "</div>\n");
}

static void domains_table(GString *o, json_t *domains)
{
    static const char *const cols[] = {
        "recipients", "queued",  "sent",         "failed", "bounced",
        "suppressed", "replied", "unsubscribed", NULL};
    g_string_append(o, "<h2>Recipient domains</h2>\n");
    if (!json_array_size(domains)) {
        g_string_append(o, "<p class=\"muted\">No recipients.</p>\n");
        return;
    }
    g_string_append(o, "<table class=\"domains\"><thead><tr><th>Domain</th>");
    for (const char *const *c = cols; *c; c++)
        html_printf(o, "<th class=\"num\">%s</th>", *c);
    g_string_append(o, "</tr></thead>\n<tbody>\n");
    gsize i;
    json_t *d;
    json_array_foreach(domains, i, d)
    {
        html_printf(o, "<tr data-domain=\"%s\"><td>%s</td>",
                    web_str(d, "domain"), web_str(d, "domain"));
        for (const char *const *c = cols; *c; c++)
            html_printf(o, "<td class=\"num\" data-count=\"%s\">%s</td>", *c,
                        web_str(d, *c));
        g_string_append(o, "</tr>\n");
    }
    g_string_append(o, "</tbody></table>\n");
    if (json_array_size(domains) >= DOMAINS_MAX)
        html_printf(o,
                    "<p class=\"muted truncated\">The %d largest domains "
                    "are shown.</p>\n",
                    DOMAINS_MAX);
}

static void variants_table(GString *o, json_t *variants)
{
    if (!json_array_size(variants))
        return;
    g_string_append(o, "<h2>Subject test</h2>\n<table class=\"variants\">"
                       "<thead><tr><th>Variant</th><th>Subject</th><th "
                       "class=\"num\">Sent</th><th class=\"num\">Replies</th>"
                       "<th class=\"num\">Clicks</th><th></th></tr></thead>\n"
                       "<tbody>\n");
    gsize i;
    json_t *v;
    json_array_foreach(variants, i, v)
    {
        json_int_t n = count_of(v, "variant");
        char letter[2] = {n >= 1 && n <= 26 ? (char)('A' + n - 1) : '?', 0};
        html_printf(o, "<tr data-variant=\"%lld\"><td>%s</td><td>",
                    (long long)n, letter);
        web_text(o, json_object_get(v, "subject"));
        /* numbers as numbers: web_str() shares one buffer per thread */
        html_printf(o,
                    "</td><td class=\"num\">%lld</td><td class=\"num\">%lld"
                    "</td><td class=\"num\">%lld</td><td>",
                    (long long)count_of(v, "sent"),
                    (long long)count_of(v, "replies"),
                    (long long)count_of(v, "clicks"));
        if (json_is_true(json_object_get(v, "winner")))
            g_string_append(o, "<b class=\"winner\">winner</b>");
        g_string_append(o, "</td></tr>\n");
    }
    g_string_append(o, "</tbody></table>\n");
}

static void bounces_table(GString *o, json_t *bounces)
{
    html_printf(o, "<h2>Last bounces</h2>\n");
    if (!json_array_size(bounces)) {
        g_string_append(o, "<p class=\"muted\">None.</p>\n");
        return;
    }
    g_string_append(o, "<table class=\"bounces\"><thead><tr><th>Address</th>"
                       "<th>Kind</th><th>Reason</th><th>Status</th><th>When"
                       "</th></tr></thead>\n<tbody>\n");
    gsize i;
    json_t *b;
    json_array_foreach(bounces, i, b)
    {
        bool complaint = strcmp(web_str(b, "kind"), "complaint") == 0;
        html_printf(o, "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>",
                    web_str(b, "address"),
                    complaint                                  ? "complaint"
                    : json_is_true(json_object_get(b, "hard")) ? "hard"
                                                               : "soft",
                    web_str(b, "reason"), web_str(b, "status"));
        web_when(o, b, "at");
        g_string_append(o, "</td></tr>\n");
    }
    g_string_append(o, "</tbody></table>\n");
}

void web_campaign_page(web_req *req, web_resp *resp)
{
    json_t *extra, *st, *domains;
    if (!load(req, resp, &extra, &st, &domains))
        return;
    g_autofree char *title =
        g_strdup_printf("Campaign: %s", web_str(st, "name"));
    web_page_begin(req, resp, title);
    GString *o = resp->body;
    const char *state = web_str(st, "state");
    html_printf(o,
                "<h1>%s <span class=\"muted\">#%s</span></h1>\n<p>State: "
                "<span class=\"state state-%s\" data-state=\"%s\">%s</span>"
                "</p>\n",
                title, web_str(st, "id"), state, state, state);
    const char *done = webform_get(req->query, "done");
    if (done && *done && strlen(done) < 16 && g_str_is_ascii(done))
        html_printf(o, "<p class=\"card\" role=\"status\">Done: %s.</p>\n",
                    done);
    progress(o, st);
    action_forms(req, o, state);
    g_string_append(o, "<table class=\"counts\"><tbody>\n");
    for (gsize i = 0; i < G_N_ELEMENTS(counts); i++)
        html_printf(o,
                    "<tr data-count=\"%s\"><th>%s</th><td class=\"num\">%s"
                    "</td></tr>\n",
                    counts[i].key, counts[i].label, web_str(st, counts[i].key));
    g_string_append(o, "</tbody></table>\n<dl class=\"fields\">");
    static const struct {
        const char *key;
        const char *label;
    } fields[] = {
        {"subject", "Subject"}, {"account", "Account"},
        {"segment", "Segment"}, {"window", "Window"},
        {"tz", "Time zone"},    {"rate_per_min", "Rate per minute"},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(fields); i++) {
        if (!*web_str(st, fields[i].key))
            continue;
        html_printf(o, "<dt>%s</dt><dd>", fields[i].label);
        web_text(o, json_object_get(st, fields[i].key));
        g_string_append(o, "</dd>");
    }
    if (*web_str(extra, "owner"))
        html_printf(o, "<dt>Owner</dt><dd>%s</dd>", web_str(extra, "owner"));
    static const struct {
        const char *key;
        const char *label;
    } times[] = {{"created_at", "Created"},
                 {"start_at", "Starts"},
                 {"started_at", "Started"},
                 {"finished_at", "Finished"}};
    for (gsize i = 0; i < G_N_ELEMENTS(times); i++) {
        if (!*web_str(st, times[i].key))
            continue;
        html_printf(o, "<dt>%s</dt><dd>", times[i].label);
        web_when(o, st, times[i].key);
        g_string_append(o, "</dd>");
    }
    g_string_append(o, "</dl>\n");
    domains_table(o, domains);
    variants_table(o, json_object_get(extra, "variants"));
    bounces_table(o, json_object_get(extra, "bounces"));
    web_page_end(resp);
    json_decref(extra);
    json_decref(st);
    json_decref(domains);
}

void web_api_campaign(web_req *req, web_resp *resp)
{
    json_t *extra, *st, *domains;
    if (!load(req, resp, &extra, &st, &domains))
        return;
    json_decref(extra);
    json_object_set_new(st, "domains", domains);
    web_json(resp, 200, st);
}

void web_campaign_action_post(web_req *req, web_resp *resp)
{
    const char *action = req->args[1];
    gsize i = 0;
    while (i < G_N_ELEMENTS(actions) && strcmp(actions[i].action, action) != 0)
        i++;
    if (i == G_N_ELEMENTS(actions)) {
        web_error(req, resp, 404, "not found");
        return;
    }
    json_t *extra, *st;
    if (!load(req, resp, &extra, &st, NULL))
        return;
    json_decref(extra);
    json_decref(st);
    st = NULL;
    char *err = NULL;
    crm_result r =
        campaign_action(req->db, req->cfg, req->id, action, &st, &err);
    json_decref(st);
    if (r == CRM_ERR_USAGE) {
        resp->status = 409;
        web_page_begin(req, resp, "Cannot change the campaign");
        html_printf(
            resp->body,
            "<h1>Cannot change the campaign</h1>\n<p class=\"error\" "
            "role=\"alert\">%s</p>\n<p><a href=\"/campaigns/%" G_GINT64_FORMAT
            "\">Back to the campaign</a></p>\n",
            err ? err : "", req->id);
        web_page_end(resp);
        resp->status = 409;
        g_free(err);
        return;
    }
    if (r) {
        web_views_error(req, resp, r, err);
        g_free(err);
        return;
    }
    log_info("web: campaign action=%s campaign=%" G_GINT64_FORMAT
             " by=%" G_GINT64_FORMAT,
             action, req->id, req->viewer.id);
    g_autofree char *loc = g_strdup_printf(
        "/campaigns/%" G_GINT64_FORMAT "?done=%s", req->id, action);
    web_redirect(resp, loc);
}
