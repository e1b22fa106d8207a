/*
 * campaign_render.c - a campaign as the send loop sees it: loaded once per
 * run with its account (templates compiled, the relay password opened,
 * the window parsed), and each recipient's message rendered (templates,
 * open pixel and signed click links) and built (one campaign_msg_builder
 * per run). Also the test mail of `crmgate campaign test`.
 */
#include <jansson.h>
#include <pthread.h>
#include <string.h>

#include "campaign_int.h"
#include "crmgate/addr.h"
#include "crmgate/campaign_send.h"
#include "crmgate/tokens.h"

void campaign_rcpt_free(rcpt *r)
{
    if (!r)
        return;
    g_free(r->address);
    g_free(r->domain);
    json_decref(r->vars);
    g_free(r->token);
    g_free(r->message_id);
    if (r->msg)
        g_bytes_unref(r->msg);
    g_free(r);
}

void campaign_camp_free(camp *c)
{
    if (!c)
        return;
    g_free(c->name);
    g_free(c->state);
    for (guint i = 0; i < c->nsubjects; i++)
        template_free(&c->subjects[i]);
    template_free(&c->text);
    template_free(&c->html);
    if (c->tz)
        g_time_zone_unref(c->tz);
    g_free(c->from_address);
    g_free(c->from_name);
    g_free(c->relay_url);
    g_free(c->relay_user);
    if (c->relay_password) {
        memset(c->relay_password, 0, strlen(c->relay_password));
        g_free(c->relay_password);
    }
    g_free(c->sig_text);
    g_free(c->sig_html);
    campaign_msg_builder_free(c->builder);
    g_free(c->feedback);
    g_free(c);
}

static char *jdup(json_t *o, const char *k)
{
    return g_strdup(campaign_jstr(o, k));
}

/* Compiles text into *t_r (NULL text: NULL); on an error, the first one
   goes to *error_r, naming what. */
static void compile_into(const char *text, const char *what,
                         struct template **t_r, char **error_r)
{
    *t_r = NULL;
    if (!text)
        return;
    char *err = NULL;
    *t_r = template_compile(text, strlen(text), &err);
    if (!*t_r && error_r && !*error_r)
        *error_r = g_strdup_printf("%s: %s", what, err ? err : "invalid");
    g_free(err);
}

/* Loads the campaign and its account. NULL with *error_r, or NULL with
 *error_r NULL when the campaign does not exist. */
camp *campaign_camp_load(db_conn *db, const crm_config *cfg, gint64 id,
                         char **error_r)
{
    g_autofree char *ids = g_strdup_printf("%" G_GINT64_FORMAT, id);
    const char *p[] = {ids};
    json_t *o = NULL;
    crm_result r = db_query_json(
        db, 30000,
        "SELECT jsonb_build_object('id', c.id, 'name', c.name, 'state', "
        "c.state, 'subject', c.subject, 'ab_subjects', "
        "to_jsonb(c.ab_subjects), 'ab_winner', c.ab_winner, 'text', "
        "c.text_template, 'html', c.html_template, 'rate', c.rate_per_min, "
        "'window', c.send_window, 'tz', c.tz, 'track_opens', c.track_opens, "
        "'track_clicks', c.track_clicks, 'start_in', greatest(0, "
        "extract(epoch FROM coalesce(c.start_at, now()) - now()))::bigint, "
        "'account_id', a.id, 'from', a.from_address, 'from_name', a.name, "
        "'relay', a.relay_url, 'user', a.relay_user, 'password', "
        "encode(a.relay_password, 'base64'), 'starttls', a.starttls, "
        "'daily_cap', a.daily_cap, 'concurrency', a.concurrency, "
        "'sig_text', a.signature_text, 'sig_html', a.signature_html) "
        "FROM campaigns c JOIN mail_accounts a ON a.id = c.account_id "
        "WHERE c.id = $1::bigint",
        1, p, NULL, NULL, &o, error_r);
    if (r || !o)
        return NULL;
    camp *c = g_new0(camp, 1);
    c->id = id;
    c->account_id = json_integer_value(json_object_get(o, "account_id"));
    c->name = jdup(o, "name");
    c->state = jdup(o, "state");
    compile_into(campaign_jstr(o, "subject"), "subject",
                 &c->subjects[c->nsubjects++], error_r);
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(o, "ab_subjects"), i, v)
    {
        if (c->nsubjects < MAX_SUBJECTS)
            compile_into(json_string_value(v), "A/B subject",
                         &c->subjects[c->nsubjects++], error_r);
    }
    compile_into(campaign_jstr(o, "text"), "text template", &c->text, error_r);
    compile_into(campaign_jstr(o, "html"), "HTML template", &c->html, error_r);
    c->ab_winner = (int)json_integer_value(json_object_get(o, "ab_winner"));
    c->rate_per_min = (guint)json_integer_value(json_object_get(o, "rate"));
    c->start_in_s = json_integer_value(json_object_get(o, "start_in"));
    char *werr = NULL;
    if (campaign_window_parse(campaign_jstr(o, "window"), &c->window, &werr)) {
        if (!*error_r)
            *error_r = werr;
        else
            g_free(werr);
        werr = NULL;
    }
    c->tz = g_time_zone_new_identifier(
        campaign_jstr(o, "tz") ? campaign_jstr(o, "tz") : "UTC");
    if (!c->tz)
        c->tz = g_time_zone_new_utc();
    c->track_opens = json_is_true(json_object_get(o, "track_opens"));
    c->track_clicks = json_is_true(json_object_get(o, "track_clicks"));
    c->from_address = jdup(o, "from");
    c->from_name = jdup(o, "from_name");
    c->relay_url = jdup(o, "relay");
    c->relay_user = jdup(o, "user");
    const char *pw = campaign_jstr(o, "password");
    if (pw) {
        gsize len = 0;
        g_autofree guchar *sealed = g_base64_decode(pw, &len);
        c->relay_password = campaign_password_open(cfg, sealed, len);
        if (!c->relay_password && !*error_r)
            *error_r = g_strdup("the relay password cannot be opened: "
                                "campaign.secret changed?");
    }
    c->starttls = g_strcmp0(campaign_jstr(o, "starttls"), "required") == 0;
    c->daily_cap = (guint)json_integer_value(json_object_get(o, "daily_cap"));
    c->concurrency =
        (guint)json_integer_value(json_object_get(o, "concurrency"));
    if (c->concurrency == 0)
        c->concurrency = cfg->campaign_concurrency;
    c->sig_text = jdup(o, "sig_text");
    c->sig_html = jdup(o, "sig_html");
    json_decref(o);
    bool broken = !c->text || !c->subjects[0];
    for (guint k = 0; k < c->nsubjects; k++)
        broken = broken || !c->subjects[k];
    if (broken || *error_r) {
        if (!*error_r)
            *error_r = g_strdup("campaign templates do not compile");
        campaign_camp_free(c);
        return NULL;
    }
    return c;
}

/* --- rendering --- */

typedef struct {
    const camp *c;
    json_t *vars;
    const char *unsubscribe_url;
    const char *date;
} lookup_ctx;

static const char *lookup_var(const char *name, gpointer data)
{
    const lookup_ctx *l = data;
    if (strcmp(name, "unsubscribe_url") == 0)
        return l->unsubscribe_url;
    if (strcmp(name, "campaign_name") == 0)
        return l->c->name;
    if (strcmp(name, "sender_name") == 0)
        return l->c->from_name;
    if (strcmp(name, "view_date") == 0)
        return l->date;
    return json_string_value(json_object_get(l->vars, name));
}

/* The links click tracking rewrites: compiled once, shared by threads. */
static GRegex *href_re;
static pthread_once_t href_once = PTHREAD_ONCE_INIT;

static void href_init(void)
{
    href_re = g_regex_new("href=\"(https?://[^\"]{1,2000})\"",
                          G_REGEX_CASELESS | G_REGEX_OPTIMIZE, 0, NULL);
}

/* Adds the open pixel and signed click redirects to rendered HTML. */
static void add_tracking(const crm_config *cfg, const camp *c,
                         const char *rcpt_token, GString *html)
{
    /* anonymous mode: the campaign's token, so a click or an open counts
       for the campaign and names nobody */
    g_autofree char *ctoken = cfg->track_anonymous
                                  ? token_campaign(cfg->campaign_secret, c->id)
                                  : NULL;
    const char *token = ctoken ? ctoken : rcpt_token;
    if (c->track_clicks) {
        pthread_once(&href_once, href_init);
        g_autoptr(GMatchInfo) mi = NULL;
        GString *out = g_string_sized_new(html->len + 256);
        gsize at = 0;
        g_regex_match(href_re, html->str, 0, &mi);
        while (g_match_info_matches(mi)) {
            int s0, e0, s1, e1;
            g_match_info_fetch_pos(mi, 0, &s0, &e0);
            g_match_info_fetch_pos(mi, 1, &s1, &e1);
            /* the URL as the reader clicks it: entities undone */
            g_autofree char *raw = g_strndup(html->str + s1, (gsize)(e1 - s1));
            GString *url = g_string_new(NULL);
            for (const char *p = raw; *p; p++) {
                if (g_str_has_prefix(p, "&amp;")) {
                    g_string_append_c(url, '&');
                    p += 4;
                } else {
                    g_string_append_c(url, *p);
                }
            }
            g_autofree char *sig =
                token_link_sig(cfg->campaign_secret, token, url->str);
            g_autofree char *enc = g_uri_escape_string(url->str, NULL, FALSE);
            g_string_append_len(out, html->str + at, (gssize)((gsize)s0 - at));
            g_string_append_printf(out, "href=\"%s/c/%s?u=%s&amp;s=%s\"",
                                   cfg->web_base_url, token, enc, sig);
            g_string_free(url, TRUE);
            at = (gsize)e0;
            g_match_info_next(mi, NULL);
        }
        g_string_append(out, html->str + at);
        g_string_assign(html, out->str);
        g_string_free(out, TRUE);
    }
    if (c->track_opens)
        g_string_append_printf(html,
                               "<img src=\"%s/o/%s.gif\" width=\"1\" "
                               "height=\"1\" alt=\"\">",
                               cfg->web_base_url, token);
}

/* Renders and builds one message; false when it cannot be built. */
bool campaign_build_message(const crm_config *cfg, camp *c, rcpt *r,
                            const char *subject_prefix, const char *to_override)
{
    g_autofree char *unsub =
        g_strconcat(cfg->web_base_url, "/unsubscribe/", r->token, NULL);
    gint64 now_s = g_get_real_time() / G_USEC_PER_SEC;
    if (c->view_date[0] == '\0' || now_s != c->view_date_s) {
        g_autoptr(GDateTime) now = g_date_time_new_now(c->tz);
        g_autofree char *d = g_date_time_format(now, "%Y-%m-%d");
        g_strlcpy(c->view_date, d ? d : "", sizeof c->view_date);
        c->view_date_s = now_s;
    }
    if (c->builder == NULL) {
        c->builder = campaign_msg_builder_new();
        c->feedback = g_strdup_printf("%" G_GINT64_FORMAT ":%" G_GINT64_FORMAT
                                      ":crmgate:%s",
                                      c->id, c->account_id, cfg->feedback_id);
    }
    lookup_ctx l = {.c = c,
                    .vars = r->vars,
                    .unsubscribe_url = unsub,
                    .date = c->view_date};
    int subj = 0;
    if (r->variant > 0 && (guint)r->variant <= c->nsubjects)
        subj = r->variant - 1;
    else if (c->ab_winner > 0 && (guint)c->ab_winner <= c->nsubjects)
        subj = c->ab_winner - 1;
    GString *subject = g_string_new(subject_prefix);
    template_render(c->subjects[subj], lookup_var, &l, false, subject);
    GString *text = g_string_sized_new(2048);
    template_render(c->text, lookup_var, &l, false, text);
    GString *html = NULL;
    if (c->html) {
        html = g_string_sized_new(4096);
        template_render(c->html, lookup_var, &l, true, html);
        add_tracking(cfg, c, r->token, html);
    }
    const char *to_name =
        json_string_value(json_object_get(r->vars, "full_name"));
    campaign_msg_input in = {
        .from_name = c->from_name,
        .from_address = c->from_address,
        .to_name = to_override ? NULL : to_name,
        .to_address = to_override ? to_override : r->address,
        .subject = subject->str,
        .text = text->str,
        .html = html ? html->str : NULL,
        .signature_text = c->sig_text,
        .signature_html = c->sig_html,
        .token = r->token,
        .bounce_domain = cfg->bounce_domain,
        .unsubscribe_url = unsub,
        .feedback_id = c->feedback,
        .campaign_id = c->id,
    };
    r->msg = campaign_msg_builder_build(c->builder, &in, &r->message_id);
    g_string_free(subject, TRUE);
    g_string_free(text, TRUE);
    if (html)
        g_string_free(html, TRUE);
    return r->msg != NULL;
}

void campaign_route_opts(const crm_config *cfg, const camp *c,
                         smtp_route_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->url = c->relay_url;
    o->user = c->relay_user;
    o->password = c->relay_password;
    o->starttls_required = c->starttls;
    o->connections = c->concurrency;
    o->timeout_s = cfg->campaign_smtp_timeout_s;
}

crm_result campaign_send_test(db_conn *db, const crm_config *cfg, gint64 id,
                              const char *const *to, json_t **out_r,
                              char **error_r)
{
    char *err = NULL;
    camp *c = campaign_camp_load(db, cfg, id, &err);
    if (!c) {
        *error_r = err ? err
                       : g_strdup_printf("campaign %" G_GINT64_FORMAT
                                         " does not exist",
                                         id);
        return err ? CRM_ERR_DB : CRM_ERR_NOTFOUND;
    }
    GPtrArray *rcpts = g_ptr_array_new_with_free_func(g_free);
    for (int i = 0; to && to[i]; i++) {
        char *n = addr_normalize(to[i]);
        if (!n) {
            *error_r = g_strdup_printf("'%s' is not an address", to[i]);
            g_ptr_array_free(rcpts, TRUE);
            campaign_camp_free(c);
            return CRM_ERR_USAGE;
        }
        g_ptr_array_add(rcpts, n);
    }
    if (rcpts->len == 0 || rcpts->len > 50) {
        *error_r = g_strdup("a test goes to 1 to 50 addresses");
        g_ptr_array_free(rcpts, TRUE);
        campaign_camp_free(c);
        return CRM_ERR_USAGE;
    }
    g_ptr_array_add(rcpts, NULL);
    /* the first recipient's fields, so the test looks like the real one */
    g_autofree char *ids = g_strdup_printf("%" G_GINT64_FORMAT, id);
    const char *p[] = {ids};
    json_t *vars = NULL;
    crm_result r = db_query_json(db, 30000,
                                 "SELECT vars FROM campaign_recipients WHERE "
                                 "campaign_id = $1::bigint ORDER BY id LIMIT 1",
                                 1, p, NULL, NULL, &vars, error_r);
    if (r) {
        g_ptr_array_free(rcpts, TRUE);
        campaign_camp_free(c);
        return r;
    }
    rcpt x = {.id = 0,
              .vars = vars ? vars : json_object(),
              .token = g_strdup("0-test"),
              .variant = 1};
    bool built = campaign_build_message(cfg, c, &x, "[TEST] ",
                                        g_ptr_array_index(rcpts, 0));
    if (!built) {
        *error_r = g_strdup("the test message could not be built");
        r = CRM_ERR_INTERNAL;
    } else {
        smtp_route_opts ro;
        campaign_route_opts(cfg, c, &ro);
        ro.connections = 1;
        g_autofree char *from =
            g_strdup_printf("bounce+0-test@%s", cfg->bounce_domain);
        smtp_result res = {0};
        r = smtp_send_one(&ro, from, (const char *const *)rcpts->pdata, x.msg,
                          &res, error_r);
        if (!r && res.outcome != SMTP_SENT) {
            *error_r = g_strdup_printf("the relay refused the test: %d %s",
                                       res.code, res.reply ? res.reply : "");
            r = CRM_ERR_IO;
        }
        if (!r) {
            json_t *tl = json_array();
            for (guint i = 0; i + 1 < rcpts->len; i++)
                json_array_append_new(tl,
                                      json_string(g_ptr_array_index(rcpts, i)));
            *out_r = json_pack("{s:I,s:o,s:i,s:s?,s:s?,s:s?}", "campaign",
                               (json_int_t)id, "to", tl, "code", res.code,
                               "reply", res.reply, "queue_id", res.queue_id,
                               "message_id", x.message_id);
        }
        smtp_result_clear(&res);
    }
    json_decref(x.vars);
    g_free(x.token);
    g_free(x.message_id);
    if (x.msg)
        g_bytes_unref(x.msg);
    g_ptr_array_free(rcpts, TRUE);
    campaign_camp_free(c);
    return r;
}
