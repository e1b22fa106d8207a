/*
 * campaign_send.c - the send loop of a campaign: the worker's
 * "campaign.send" job, test mail and task notices by mail.
 *
 * The ledger is the queue: rows are leased in batches (FOR UPDATE SKIP
 * LOCKED, with a lease that outlives an SMTP transfer), each is rendered,
 * built (campaign_msg.c) and handed to the account's SMTP route (libcurl
 * multi, account.concurrency connections kept alive); each reply is
 * written back within a quarter of a second, in one statement per group,
 * and only while this driver still holds the lease. So a crash loses
 * nothing (leases expire back to the queue) and sends again at most what
 * was in flight or unmarked: one batch.
 *
 * Limits applied here: the campaign's rate (messages per minute), the
 * sending window (days and hours in the campaign's time zone), the
 * account's daily cap (UTC days), per recipient domain: messages in flight
 * (campaign.domain_concurrency) and per minute (campaign.domain_rate).
 * Replies: 2xx sent; 421/450/451/454 are the relay slowing us down: the
 * row goes back to the queue uncounted and the route rests
 * (campaign.throttle_pause, doubled while it lasts); other 4xx and
 * connection failures retry with backoff up to campaign.max_attempts,
 * then failed; 5xx failed.
 */
#include "crmgate/campaign_send.h"

#include <gmime/gmime.h>
#include <jansson.h>
#include <pthread.h>
#include <string.h>

#include "crmgate/addr.h"
#include "crmgate/campaign.h"
#include "crmgate/campaign_msg.h"
#include "crmgate/log.h"
#include "crmgate/smtp_send.h"
#include "crmgate/template.h"
#include "crmgate/tokens.h"

#define MAX_SUBJECTS 8
#define MARK_EVERY_US (250 * 1000)
#define STATE_CHECK_US (2 * G_USEC_PER_SEC)
#define MAX_THROTTLE_S 3600

typedef struct {
    gint64 id;
    gint64 account_id;
    char *name;
    char *state;
    template *subjects[MAX_SUBJECTS];
    guint nsubjects;
    template *text;
    template *html;
    int ab_winner;
    guint rate_per_min;
    campaign_window window;
    GTimeZone *tz;
    bool track_opens;
    bool track_clicks;
    gint64 start_in_s;
    /* the account */
    char *from_address;
    char *from_name;
    char *relay_url;
    char *relay_user;
    char *relay_password;
    bool starttls;
    guint daily_cap;
    guint concurrency;
    char *sig_text;
    char *sig_html;
    /* message building, kept for the whole run */
    campaign_msg_builder *builder;
    char *feedback;     /* the Feedback-ID value */
    gint64 view_date_s; /* the second view_date was made in */
    char view_date[16]; /* YYYY-MM-DD in the campaign's zone */
} camp;

typedef struct {
    gint64 id;
    char *address;
    char *domain;
    json_t *vars;
    int variant;
    bool suppressed;
    char *token;
    char *message_id;
    GBytes *msg;
    bool unbuildable; /* build_message failed (marked at submit) */
} rcpt;

typedef struct {
    guint in_flight;
    double tokens;
    gint64 last_us;
} domain_state;

static void rcpt_free(rcpt *r)
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

static void camp_free(camp *c)
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

static const char *jstr(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s && *s ? s : NULL;
}

static char *jdup(json_t *o, const char *k)
{
    return g_strdup(jstr(o, k));
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
static camp *camp_load(db_conn *db, const crm_config *cfg, gint64 id,
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
    compile_into(jstr(o, "subject"), "subject", &c->subjects[c->nsubjects++],
                 error_r);
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(o, "ab_subjects"), i, v)
    {
        if (c->nsubjects < MAX_SUBJECTS)
            compile_into(json_string_value(v), "A/B subject",
                         &c->subjects[c->nsubjects++], error_r);
    }
    compile_into(jstr(o, "text"), "text template", &c->text, error_r);
    compile_into(jstr(o, "html"), "HTML template", &c->html, error_r);
    c->ab_winner = (int)json_integer_value(json_object_get(o, "ab_winner"));
    c->rate_per_min = (guint)json_integer_value(json_object_get(o, "rate"));
    c->start_in_s = json_integer_value(json_object_get(o, "start_in"));
    char *werr = NULL;
    if (campaign_window_parse(jstr(o, "window"), &c->window, &werr)) {
        if (!*error_r)
            *error_r = werr;
        else
            g_free(werr);
        werr = NULL;
    }
    c->tz = g_time_zone_new_identifier(jstr(o, "tz") ? jstr(o, "tz") : "UTC");
    if (!c->tz)
        c->tz = g_time_zone_new_utc();
    c->track_opens = json_is_true(json_object_get(o, "track_opens"));
    c->track_clicks = json_is_true(json_object_get(o, "track_clicks"));
    c->from_address = jdup(o, "from");
    c->from_name = jdup(o, "from_name");
    c->relay_url = jdup(o, "relay");
    c->relay_user = jdup(o, "user");
    const char *pw = jstr(o, "password");
    if (pw) {
        gsize len = 0;
        g_autofree guchar *sealed = g_base64_decode(pw, &len);
        c->relay_password = campaign_password_open(cfg, sealed, len);
        if (!c->relay_password && !*error_r)
            *error_r = g_strdup("the relay password cannot be opened: "
                                "campaign.secret changed?");
    }
    c->starttls = g_strcmp0(jstr(o, "starttls"), "required") == 0;
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
        camp_free(c);
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
static bool build_message(const crm_config *cfg, camp *c, rcpt *r,
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

static void route_opts(const crm_config *cfg, const camp *c, smtp_route_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->url = c->relay_url;
    o->user = c->relay_user;
    o->password = c->relay_password;
    o->starttls_required = c->starttls;
    o->connections = c->concurrency;
    o->timeout_s = cfg->campaign_smtp_timeout_s;
}

/* --- the ledger --- */

typedef struct {
    db_conn *db;
    const crm_config *cfg;
    const camp *c;
    const char *owner;
    json_t *marks;       /* pending marks: [{id, outcome, ...}] */
    guint sent_unmarked; /* for the daily counter */
    gint64 last_mark_us;
} ledger;

static void mark(ledger *lg, const rcpt *r, const char *outcome, int code,
                 const char *reply, const char *queue_id, guint retry_s)
{
    json_t *m = json_pack("{s:I,s:s,s:i,s:s?,s:s?,s:s?,s:i}", "id",
                          (json_int_t)r->id, "outcome", outcome, "code", code,
                          "reply", reply, "queue_id", queue_id, "message_id",
                          r->message_id, "retry_s", (int)retry_s);
    if (m)
        json_array_append_new(lg->marks, m);
    if (strcmp(outcome, "sent") == 0)
        lg->sent_unmarked++;
}

/* Writes the pending marks in one statement (rows this driver still
   leases only) and the account's day count. */
static crm_result flush_marks(ledger *lg, char **error_r)
{
    lg->last_mark_us = g_get_monotonic_time();
    if (json_array_size(lg->marks) == 0)
        return CRM_OK;
    g_autofree char *js = json_dumps(lg->marks, JSON_COMPACT);
    g_autofree char *maxa =
        g_strdup_printf("%u", lg->cfg->campaign_max_attempts);
    g_autofree char *acc =
        g_strdup_printf("%" G_GINT64_FORMAT, lg->c->account_id);
    g_autofree char *nsent = g_strdup_printf("%u", lg->sent_unmarked);
    const char *p[] = {js, lg->owner, maxa, acc, nsent};
    crm_result r = db_exec(
        lg->db, 30000,
        "WITH m AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(id "
        "bigint, outcome text, code int, reply text, queue_id text, "
        "message_id text, retry_s int)), "
        "u AS (UPDATE campaign_recipients r SET state = CASE m.outcome "
        "WHEN 'sent' THEN 'sent' WHEN 'perm' THEN 'failed' "
        "WHEN 'suppressed' THEN 'suppressed' "
        "WHEN 'temp' THEN CASE WHEN r.attempts >= $3::int THEN 'failed' "
        "ELSE 'queued' END "
        "WHEN 'throttle' THEN CASE WHEN r.attempts >= 4 * $3::int THEN "
        "'failed' ELSE 'queued' END ELSE 'queued' END, "
        "attempts = CASE WHEN m.outcome IN ('release', 'suppressed') THEN "
        "greatest(r.attempts - 1, 0) ELSE r.attempts END, "
        "next_attempt_at = now() + make_interval(secs => m.retry_s), "
        "smtp_code = coalesce(nullif(m.code, 0), r.smtp_code), "
        "smtp_reply = coalesce(m.reply, r.smtp_reply), "
        "queue_id = coalesce(m.queue_id, r.queue_id), "
        "message_id = CASE WHEN m.outcome = 'sent' THEN m.message_id ELSE "
        "r.message_id END, "
        "sent_at = CASE WHEN m.outcome = 'sent' THEN now() ELSE r.sent_at "
        "END, failed_at = CASE WHEN m.outcome = 'perm' OR (m.outcome = "
        "'temp' AND r.attempts >= $3::int) OR (m.outcome = 'throttle' AND "
        "r.attempts >= 4 * $3::int) THEN now() ELSE r.failed_at END, "
        "lease_owner = NULL, lease_expires_at = NULL, updated_at = now() "
        "FROM m WHERE r.id = m.id AND r.state = 'leased' AND r.lease_owner = "
        "$2 RETURNING 1) "
        "INSERT INTO mail_account_days (account_id, day, sent) SELECT "
        "$4::bigint, (now() AT TIME ZONE 'UTC')::date, $5::int WHERE "
        "$5::int > 0 AND (SELECT count(*) FROM u) >= 0 ON CONFLICT "
        "(account_id, day) DO UPDATE SET sent = mail_account_days.sent + "
        "excluded.sent",
        5, p, error_r);
    if (!r) {
        json_array_clear(lg->marks);
        lg->sent_unmarked = 0;
    }
    return r;
}

/* Leases up to max rows; A/B: only sample rows until a winner is set. */
static crm_result claim(ledger *lg, guint max, guint lease_s, bool sample_only,
                        GPtrArray *out, char **error_r)
{
    g_autofree char *cid = g_strdup_printf("%" G_GINT64_FORMAT, lg->c->id);
    g_autofree char *n = g_strdup_printf("%u", max);
    g_autofree char *lease = g_strdup_printf("%u", lease_s);
    const char *p[] = {cid, lg->owner, n, lease, sample_only ? "t" : "f"};
    PGresult *res = NULL;
    crm_result r = db_query(
        lg->db, 30000,
        "WITH a AS (SELECT id FROM campaign_recipients WHERE campaign_id = "
        "$1::bigint AND state = 'queued' AND next_attempt_at <= now() AND "
        "(NOT $5::boolean OR variant > 0) ORDER BY next_attempt_at, id LIMIT "
        "$3::int FOR UPDATE SKIP LOCKED), "
        "b AS (SELECT id FROM campaign_recipients WHERE campaign_id = "
        "$1::bigint AND state = 'leased' AND lease_expires_at < now() AND "
        "(NOT $5::boolean OR variant > 0) LIMIT $3::int FOR UPDATE SKIP "
        "LOCKED) "
        "UPDATE campaign_recipients r SET state = 'leased', lease_owner = $2, "
        "lease_expires_at = now() + make_interval(secs => $4::int), attempts "
        "= attempts + 1, updated_at = now() WHERE r.id IN (SELECT id FROM a "
        "UNION SELECT id FROM b) RETURNING r.id, r.address, r.domain, "
        "r.vars::text, r.variant, EXISTS (SELECT 1 FROM suppressions s WHERE "
        "s.address_norm = r.address_norm)",
        5, p, NULL, NULL, &res, error_r);
    if (r)
        return r;
    for (int i = 0; i < PQntuples(res); i++) {
        rcpt *x = g_new0(rcpt, 1);
        x->id = g_ascii_strtoll(PQgetvalue(res, i, 0), NULL, 10);
        x->address = g_strdup(PQgetvalue(res, i, 1));
        x->domain = g_strdup(PQgetvalue(res, i, 2));
        x->vars = json_loads(PQgetvalue(res, i, 3), 0, NULL);
        if (!x->vars)
            x->vars = json_object();
        x->variant = (int)g_ascii_strtoll(PQgetvalue(res, i, 4), NULL, 10);
        x->suppressed = PQgetvalue(res, i, 5)[0] == 't';
        x->token = token_recipient(lg->cfg->campaign_secret, x->id);
        g_ptr_array_add(out, x);
    }
    PQclear(res);
    return CRM_OK;
}

/* How many more this account may send today (G_MAXUINT: no cap). */
static crm_result cap_left(ledger *lg, guint *left_r, char **error_r)
{
    *left_r = G_MAXUINT;
    if (!lg->c->daily_cap)
        return CRM_OK;
    g_autofree char *acc =
        g_strdup_printf("%" G_GINT64_FORMAT, lg->c->account_id);
    const char *p[] = {acc};
    json_t *o = NULL;
    crm_result r = db_query_json(
        lg->db, 30000,
        "SELECT to_jsonb(coalesce((SELECT sent FROM mail_account_days WHERE "
        "account_id = $1::bigint AND day = (now() AT TIME ZONE 'UTC')::date), "
        "0))",
        1, p, NULL, NULL, &o, error_r);
    if (r)
        return r;
    json_int_t sent = json_integer_value(o);
    json_decref(o);
    *left_r = sent >= (json_int_t)lg->c->daily_cap
                  ? 0
                  : (guint)((json_int_t)lg->c->daily_cap - sent);
    return CRM_OK;
}

/* The campaign's state now ("running", "paused", ...), g_free it. */
static char *current_state(db_conn *db, gint64 id, char **error_r)
{
    g_autofree char *ids = g_strdup_printf("%" G_GINT64_FORMAT, id);
    const char *p[] = {ids};
    json_t *o = NULL;
    if (db_query_json(db, 30000,
                      "SELECT to_jsonb(state) FROM campaigns WHERE id = "
                      "$1::bigint",
                      1, p, NULL, NULL, &o, error_r))
        return NULL;
    char *s = g_strdup(json_string_value(o));
    json_decref(o);
    return s ? s : g_strdup("deleted");
}

/* A/B: decides the winner once every sample row is settled and
   campaign.ab_wait has passed since the last was sent. Returns seconds to
   wait (0: decided now or before). */
static crm_result ab_decide(ledger *lg, gint64 *wait_r, char **error_r)
{
    g_autofree char *cid = g_strdup_printf("%" G_GINT64_FORMAT, lg->c->id);
    g_autofree char *wait = g_strdup_printf("%u", lg->cfg->ab_wait_s);
    const char *p[] = {cid, wait, lg->cfg->ab_winner_by_clicks ? "t" : "f"};
    json_t *o = NULL;
    crm_result r = db_query_json(
        lg->db, 30000,
        "WITH s AS (SELECT count(*) FILTER (WHERE state IN ('queued', "
        "'leased')) AS open, max(sent_at) AS last FROM campaign_recipients "
        "WHERE campaign_id = $1::bigint AND variant > 0), "
        "w AS (SELECT variant FROM campaign_recipients WHERE campaign_id = "
        "$1::bigint AND variant > 0 GROUP BY variant ORDER BY CASE WHEN "
        "$3::boolean THEN count(clicked_at) ELSE count(replied_at) END DESC, "
        "count(sent_at) DESC, variant LIMIT 1), "
        "ready AS (SELECT (s.open = 0 AND coalesce(s.last, now()) + "
        "make_interval(secs => $2::int) <= now()) AS ok, CASE WHEN s.open > "
        "0 THEN 60 ELSE greatest(1, ceil(extract(epoch FROM coalesce(s.last, "
        "now()) + make_interval(secs => $2::int) - now())))::int END AS wait "
        "FROM s), "
        "u AS (UPDATE campaigns SET ab_winner = (SELECT variant FROM w), "
        "ab_decided_at = now() WHERE id = $1::bigint AND ab_winner IS NULL "
        "AND (SELECT ok FROM ready) RETURNING ab_winner) "
        "SELECT jsonb_build_object('winner', (SELECT ab_winner FROM u), "
        "'wait', CASE WHEN (SELECT ok FROM ready) THEN 0 ELSE (SELECT wait "
        "FROM ready) END)",
        3, p, NULL, NULL, &o, error_r);
    if (r)
        return r;
    *wait_r = json_integer_value(json_object_get(o, "wait"));
    json_t *w = json_object_get(o, "winner");
    if (json_is_integer(w))
        log_info("campaign=%" G_GINT64_FORMAT " ab_winner=%" JSON_INTEGER_FORMAT
                 " by=%s",
                 lg->c->id, json_integer_value(w),
                 lg->cfg->ab_winner_by_clicks ? "clicks" : "replies");
    json_decref(o);
    return CRM_OK;
}

/* Marks the campaign finished when nothing is queued or leased; *wait_r
   seconds until the next row is due otherwise (retries). */
static crm_result try_finish(ledger *lg, bool *finished_r, gint64 *wait_r,
                             char **error_r)
{
    g_autofree char *cid = g_strdup_printf("%" G_GINT64_FORMAT, lg->c->id);
    const char *p[] = {cid};
    json_t *o = NULL;
    crm_result r = db_query_json(
        lg->db, 30000,
        "WITH open AS (SELECT min(CASE WHEN state = 'queued' THEN "
        "next_attempt_at ELSE lease_expires_at END) AS next, count(*) AS n "
        "FROM campaign_recipients WHERE campaign_id = $1::bigint AND state "
        "IN ('queued', 'leased')), "
        "f AS (UPDATE campaigns SET state = 'finished', finished_at = now(), "
        "updated_at = now() WHERE id = $1::bigint AND state = 'running' AND "
        "(SELECT n FROM open) = 0 RETURNING id) "
        "SELECT jsonb_build_object('finished', EXISTS (SELECT 1 FROM f), "
        "'open', (SELECT n FROM open), 'wait', greatest(1, ceil(extract("
        "epoch FROM (SELECT next FROM open) - now())))::int)",
        1, p, NULL, NULL, &o, error_r);
    if (r)
        return r;
    *finished_r = json_is_true(json_object_get(o, "finished")) ||
                  json_integer_value(json_object_get(o, "open")) == 0;
    *wait_r = json_integer_value(json_object_get(o, "wait"));
    if (*wait_r <= 0)
        *wait_r = 1;
    json_decref(o);
    return CRM_OK;
}

/* Gives every rcpt in list back to the queue (not counted), and frees it. */
static void release_all(ledger *lg, GQueue *list, guint retry_s)
{
    rcpt *x;
    while ((x = g_queue_pop_head(list))) {
        mark(lg, x, "release", 0, NULL, NULL, retry_s);
        rcpt_free(x);
    }
}

/* The first of the next `ahead` pending rows whose message is not built
   yet (suppressed rows are never built), or NULL. */
static rcpt *prebuild_next(GQueue *pending, guint ahead)
{
    guint n = 0;
    for (GList *l = pending->head; l && n < ahead; l = l->next) {
        rcpt *x = l->data;
        if (x->suppressed)
            continue;
        n++;
        if (!x->msg && !x->unbuildable)
            return x;
    }
    return NULL;
}

static gint64 now_us(void)
{
    return g_get_monotonic_time();
}

jobs_outcome campaign_send_job(jobs_ctx *ctx, char **error_r, guint *snooze_s_r)
{
    const crm_config *cfg = ctx->cfg;
    gint64 id =
        json_integer_value(json_object_get(ctx->job->payload, "campaign"));
    if (id <= 0) {
        *error_r = g_strdup("payload has no campaign id");
        return JOBS_DISCARD;
    }
    if (!cfg->campaign_secret || !*cfg->campaign_secret) {
        *error_r = g_strdup("campaign.secret (or web.secret) is not set: "
                            "campaign tokens cannot be signed");
        return JOBS_RETRY;
    }
    char *err = NULL;
    camp *c = camp_load(ctx->db, cfg, id, &err);
    if (!c) {
        if (!err)
            return JOBS_DONE; /* deleted */
        *error_r = err;
        return JOBS_RETRY;
    }
    jobs_outcome outcome = JOBS_DONE;
    smtp_route *route = NULL;
    GHashTable *domains =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    GQueue pending = G_QUEUE_INIT;
    GPtrArray *claimed = g_ptr_array_new();
    ledger lg = {.db = ctx->db,
                 .cfg = cfg,
                 .c = c,
                 .owner = ctx->worker_id,
                 .marks = json_array(),
                 .last_mark_us = now_us()};
    /* a row's lease outlives one SMTP transfer and a mark */
    guint lease_s = MAX(cfg->worker_lease_s, cfg->campaign_smtp_timeout_s + 10);

    if (strcmp(c->state, "scheduled") == 0) {
        if (c->start_in_s > 0) {
            *snooze_s_r = (guint)MIN(c->start_in_s, 86400);
            outcome = JOBS_SNOOZE;
            goto out;
        }
        g_autofree char *ids = g_strdup_printf("%" G_GINT64_FORMAT, id);
        const char *p[] = {ids};
        if (db_exec(ctx->db, 30000,
                    "UPDATE campaigns SET state = 'running', started_at = "
                    "coalesce(started_at, now()), updated_at = now() WHERE id "
                    "= $1::bigint AND state = 'scheduled'",
                    1, p, &err)) {
            *error_r = err;
            outcome = JOBS_RETRY;
            goto out;
        }
        g_free(c->state);
        c->state = g_strdup("running");
    }
    if (strcmp(c->state, "running") != 0)
        goto out; /* paused, canceled, finished: resume queues a new job */

    smtp_route_opts ro;
    route_opts(cfg, c, &ro);
    route = smtp_route_new(&ro);
    if (!route) {
        *error_r = g_strdup_printf("cannot set up the relay %s", c->relay_url);
        outcome = JOBS_RETRY;
        goto out;
    }
    double rate_tokens = 1;
    gint64 rate_last = now_us();
    gint64 state_checked = now_us();
    guint throttle_s = 0; /* >0: the relay throttled; rest this long */
    bool draining = false;
    bool exhausted = false; /* a claim with transfers in flight found none */
    crm_result r = CRM_OK;
    log_info("campaign=%" G_GINT64_FORMAT " job=%" G_GINT64_FORMAT
             " sending via=%s connections=%u",
             id, ctx->job->id, c->relay_url, c->concurrency);

    for (;;) {
        /* the window, pause and cancel, the stop signal */
        if (!draining && now_us() - state_checked > STATE_CHECK_US) {
            state_checked = now_us();
            g_autofree char *st = current_state(ctx->db, id, &err);
            if (!st) {
                r = CRM_ERR_DB;
                break;
            }
            if (strcmp(st, "running") != 0) {
                log_info("campaign=%" G_GINT64_FORMAT " state=%s: stopping", id,
                         st);
                draining = true;
            }
        }
        if (!draining && ctx->stopping && ctx->stopping())
            draining = true;
        g_autoptr(GDateTime) wall = g_date_time_new_now_utc();
        gint64 wait = campaign_window_wait(&c->window, c->tz, wall);
        if (!draining && wait > 0) {
            draining = true;
            *snooze_s_r = (guint)MIN(wait, 86400);
            outcome = JOBS_SNOOZE;
        }
        if (draining || throttle_s)
            release_all(&lg, &pending, throttle_s);

        /* more work: the next batch is claimed as soon as the pending
           queue is empty, while the last transfers of this one are still
           in flight (no stall at the end of each batch); when that finds
           nothing, or the daily cap is reached, the loop waits for the
           transfers to end before it decides (finished, A/B, cap) */
        guint in_flight = smtp_route_in_flight(route);
        if (in_flight == 0)
            exhausted = false;
        if (!draining && !throttle_s && g_queue_is_empty(&pending) &&
            in_flight > 0 && !exhausted) {
            if ((r = flush_marks(&lg, &err)))
                break;
            guint left;
            if ((r = cap_left(&lg, &left, &err)))
                break;
            left = left > in_flight ? left - in_flight : 0;
            bool sample_only = c->nsubjects > 1 && c->ab_winner == 0;
            g_ptr_array_set_size(claimed, 0);
            if (left > 0 && (r = claim(&lg, MIN(cfg->campaign_batch, left),
                                       lease_s, sample_only, claimed, &err)))
                break;
            for (guint i = 0; i < claimed->len; i++)
                g_queue_push_tail(&pending, g_ptr_array_index(claimed, i));
            exhausted = claimed->len == 0;
        }
        if (!draining && !throttle_s && g_queue_is_empty(&pending) &&
            in_flight == 0) {
            if ((r = flush_marks(&lg, &err)))
                break;
            guint left;
            if ((r = cap_left(&lg, &left, &err)))
                break;
            if (left == 0) {
                g_autoptr(GDateTime) tomorrow = g_date_time_add_days(wall, 1);
                g_autoptr(GDateTime) midnight = g_date_time_new_utc(
                    g_date_time_get_year(tomorrow),
                    g_date_time_get_month(tomorrow),
                    g_date_time_get_day_of_month(tomorrow), 0, 0, 1);
                *snooze_s_r = (guint)(g_date_time_difference(midnight, wall) /
                                      G_USEC_PER_SEC) +
                              1;
                log_info("campaign=%" G_GINT64_FORMAT " daily cap reached: "
                         "resting %u s",
                         id, *snooze_s_r);
                outcome = JOBS_SNOOZE;
                break;
            }
            bool sample_only = c->nsubjects > 1 && c->ab_winner == 0;
            g_ptr_array_set_size(claimed, 0);
            if ((r = claim(&lg, MIN(cfg->campaign_batch, left), lease_s,
                           sample_only, claimed, &err)))
                break;
            for (guint i = 0; i < claimed->len; i++)
                g_queue_push_tail(&pending, g_ptr_array_index(claimed, i));
            if (claimed->len == 0) {
                gint64 ab_wait = 0;
                if (sample_only) {
                    if ((r = ab_decide(&lg, &ab_wait, &err)))
                        break;
                    if (ab_wait == 0) {
                        /* decided: reload the winner and go on */
                        camp *fresh = camp_load(ctx->db, cfg, id, &err);
                        if (!fresh) {
                            r = CRM_ERR_DB;
                            break;
                        }
                        c->ab_winner = fresh->ab_winner;
                        camp_free(fresh);
                        if (c->ab_winner)
                            continue;
                        ab_wait = 60;
                    }
                }
                bool finished = false;
                gint64 next = 0;
                if ((r = try_finish(&lg, &finished, &next, &err)))
                    break;
                if (finished && !sample_only) {
                    log_info("campaign=%" G_GINT64_FORMAT " finished", id);
                    break;
                }
                *snooze_s_r = (guint)MIN(MAX(next, ab_wait), 3600);
                if (*snooze_s_r == 0)
                    *snooze_s_r = 1;
                outcome = JOBS_SNOOZE;
                break;
            }
        }
        if ((draining || throttle_s) && smtp_route_in_flight(route) == 0 &&
            g_queue_is_empty(&pending))
            break;

        /* submit what the limits allow */
        guint tries = g_queue_get_length(&pending);
        while (!draining && !throttle_s && tries-- > 0 &&
               !g_queue_is_empty(&pending)) {
            if (c->rate_per_min) {
                gint64 t = now_us();
                rate_tokens +=
                    (double)(t - rate_last) / 1e6 * c->rate_per_min / 60.0;
                rate_last = t;
                if (rate_tokens > 1)
                    rate_tokens = 1;
                if (rate_tokens < 1)
                    break;
            }
            rcpt *x = g_queue_pop_head(&pending);
            if (x->suppressed) {
                mark(&lg, x, "suppressed", 0, "suppressed at send time", NULL,
                     0);
                rcpt_free(x);
                continue;
            }
            domain_state *ds = g_hash_table_lookup(domains, x->domain);
            if (!ds) {
                ds = g_new0(domain_state, 1);
                ds->tokens = 1;
                ds->last_us = now_us();
                g_hash_table_insert(domains, g_strdup(x->domain), ds);
            }
            if (cfg->campaign_domain_rate) {
                gint64 t = now_us();
                ds->tokens += (double)(t - ds->last_us) / 1e6 *
                              cfg->campaign_domain_rate / 60.0;
                ds->last_us = t;
                if (ds->tokens > 1)
                    ds->tokens = 1;
            }
            if (ds->in_flight >= cfg->campaign_domain_concurrency ||
                (cfg->campaign_domain_rate && ds->tokens < 1)) {
                g_queue_push_tail(&pending, x); /* later */
                continue;
            }
            if (!x->msg &&
                (x->unbuildable || !build_message(cfg, c, x, "", NULL))) {
                mark(&lg, x, "perm", 0, "message could not be built", NULL, 0);
                rcpt_free(x);
                continue;
            }
            g_autofree char *from =
                g_strdup_printf("bounce+%s@%s", x->token, cfg->bounce_domain);
            if (!smtp_route_submit(route, from, x->address, x->msg, x)) {
                g_queue_push_head(&pending, x); /* all connections busy */
                break;
            }
            ds->in_flight++;
            if (cfg->campaign_domain_rate)
                ds->tokens -= 1;
            if (c->rate_per_min)
                rate_tokens -= 1;
        }

        /* drive the transfers, collect replies; while every connection
           waits for the relay, build the next messages (at most one per
           connection ahead, so memory does not grow with the batch) */
        if (smtp_route_run(route, 0) == 0) {
            rcpt *next = draining || throttle_s
                             ? NULL
                             : prebuild_next(&pending, c->concurrency);
            if (next) {
                if (!build_message(cfg, c, next, "", NULL))
                    next->unbuildable = true;
            } else if (smtp_route_in_flight(route) == 0 &&
                       !g_queue_is_empty(&pending)) {
                g_usleep(5000); /* rows wait for a rate: do not spin */
            } else {
                smtp_route_run(route, 100);
            }
        }
        gpointer ud;
        smtp_result res;
        while (smtp_route_next_done(route, &ud, &res)) {
            rcpt *x = ud;
            domain_state *ds = g_hash_table_lookup(domains, x->domain);
            if (ds && ds->in_flight)
                ds->in_flight--;
            switch (res.outcome) {
            case SMTP_SENT:
                mark(&lg, x, "sent", res.code, res.reply, res.queue_id, 0);
                throttle_s = 0;
                break;
            case SMTP_THROTTLE: {
                guint pause = cfg->campaign_throttle_pause_s;
                mark(&lg, x, "throttle", res.code, res.reply, NULL, pause);
                if (!throttle_s)
                    log_warn("campaign=%" G_GINT64_FORMAT " relay=%s "
                             "throttled code=%d: resting %u s",
                             id, c->relay_url, res.code, pause);
                throttle_s = pause;
                break;
            }
            case SMTP_TEMP:
            case SMTP_CONN:
                mark(&lg, x, "temp", res.code,
                     res.reply ? res.reply : smtp_outcome_name(res.outcome),
                     NULL,
                     jobs_backoff_s(cfg->worker_retry_base_s,
                                    cfg->worker_retry_max_s, 1));
                break;
            case SMTP_PERM:
                mark(&lg, x, "perm", res.code, res.reply, NULL, 0);
                break;
            }
            smtp_result_clear(&res);
            rcpt_free(x);
        }
        if (json_array_size(lg.marks) >= 50 ||
            (json_array_size(lg.marks) > 0 &&
             now_us() - lg.last_mark_us > MARK_EVERY_US)) {
            if ((r = flush_marks(&lg, &err)))
                break;
        }
    }
    if (!r)
        r = flush_marks(&lg, &err);
    if (r) {
        /* rows we still lease come back when the lease expires */
        *error_r = err ? err : g_strdup("database error");
        err = NULL;
        outcome = JOBS_RETRY;
    } else if (throttle_s && outcome == JOBS_DONE) {
        *snooze_s_r = MIN(throttle_s, MAX_THROTTLE_S);
        outcome = JOBS_SNOOZE;
    } else if (draining && outcome == JOBS_DONE && ctx->stopping &&
               ctx->stopping()) {
        *snooze_s_r = 0;
        outcome = JOBS_SNOOZE;
    }
out:;
    rcpt *x;
    while ((x = g_queue_pop_head(&pending)))
        rcpt_free(x);
    g_ptr_array_free(claimed, TRUE);
    json_decref(lg.marks);
    g_hash_table_destroy(domains);
    smtp_route_free(&route);
    camp_free(c);
    g_free(err);
    return outcome;
}

crm_result campaign_send_test(db_conn *db, const crm_config *cfg, gint64 id,
                              const char *const *to, json_t **out_r,
                              char **error_r)
{
    char *err = NULL;
    camp *c = camp_load(db, cfg, id, &err);
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
            camp_free(c);
            return CRM_ERR_USAGE;
        }
        g_ptr_array_add(rcpts, n);
    }
    if (rcpts->len == 0 || rcpts->len > 50) {
        *error_r = g_strdup("a test goes to 1 to 50 addresses");
        g_ptr_array_free(rcpts, TRUE);
        camp_free(c);
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
        camp_free(c);
        return r;
    }
    rcpt x = {.id = 0,
              .vars = vars ? vars : json_object(),
              .token = g_strdup("0-test"),
              .variant = 1};
    bool built =
        build_message(cfg, c, &x, "[TEST] ", g_ptr_array_index(rcpts, 0));
    if (!built) {
        *error_r = g_strdup("the test message could not be built");
        r = CRM_ERR_INTERNAL;
    } else {
        smtp_route_opts ro;
        route_opts(cfg, c, &ro);
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
    camp_free(c);
    return r;
}

jobs_outcome campaign_notices_job(jobs_ctx *ctx, char **error_r,
                                  guint *snooze_s_r)
{
    const crm_config *cfg = ctx->cfg;
    *snooze_s_r = 10;
    /* claim due notices: sent_at set first with attempts, cleared on
       failure, so two workers never mail one notice twice */
    PGresult *res = NULL;
    const char *p[] = {ctx->worker_id};
    crm_result r = db_query(
        ctx->db, 30000,
        "WITH due AS (SELECT n.id FROM notices n WHERE n.sent_at IS NULL AND "
        "n.due_at <= now() AND n.attempts < 5 ORDER BY n.due_at LIMIT 50 FOR "
        "UPDATE SKIP LOCKED) "
        "UPDATE notices n SET sent_at = now(), attempts = n.attempts + 1 "
        "FROM due, users u WHERE n.id = due.id AND u.id = n.user_id "
        "RETURNING n.id, u.email, u.name, n.subject, n.body, $1::text",
        1, p, NULL, NULL, &res, error_r);
    if (r) {
        log_warn("notices: cannot claim due notices: %s",
                 *error_r ? *error_r : crm_strerror(r));
        return JOBS_SNOOZE;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        return JOBS_SNOOZE;
    }
    json_t *acc = NULL;
    r = db_query_json(ctx->db, 30000,
                      "SELECT jsonb_build_object('from', from_address, "
                      "'name', name, 'relay', relay_url, 'user', relay_user, "
                      "'password', encode(relay_password, 'base64'), "
                      "'starttls', starttls) FROM mail_accounts WHERE "
                      "is_default AND active",
                      0, NULL, NULL, NULL, &acc, error_r);
    for (int i = 0; i < PQntuples(res); i++) {
        const char *nid = PQgetvalue(res, i, 0);
        const char *to = PQgetvalue(res, i, 1);
        g_autofree char *fail = NULL;
        if (r || !acc) {
            fail = g_strdup("no default sending account");
        } else {
            g_autofree char *pw = NULL;
            const char *sealed = jstr(acc, "password");
            if (sealed) {
                gsize len = 0;
                g_autofree guchar *raw = g_base64_decode(sealed, &len);
                pw = campaign_password_open(cfg, raw, len);
            }
            smtp_route_opts ro = {
                .url = jstr(acc, "relay"),
                .user = jstr(acc, "user"),
                .password = pw,
                .starttls_required =
                    g_strcmp0(jstr(acc, "starttls"), "required") == 0,
                .connections = 1,
                .timeout_s = cfg->campaign_smtp_timeout_s,
            };
            g_autoptr(GDateTime) now = g_date_time_new_now_local();
            g_autofree char *date =
                g_date_time_format(now, "%a, %d %b %Y %H:%M:%S %z");
            g_autofree char *subject = g_strdup(PQgetvalue(res, i, 3));
            for (char *s = subject; *s; s++)
                if (*s == '\r' || *s == '\n')
                    *s = ' ';
            g_autofree char *enc_subject =
                g_mime_utils_header_encode_text(NULL, subject, "utf-8");
            GString *m = g_string_new(NULL);
            g_string_append_printf(
                m,
                "From: crmgate <%s>\r\nTo: <%s>\r\nSubject: %s\r\nDate: %s\r\n"
                "Auto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\n"
                "Content-Type: text/plain; charset=utf-8\r\n"
                "Content-Transfer-Encoding: 8bit\r\n\r\n",
                jstr(acc, "from"), to, enc_subject, date);
            for (const char *b = PQgetvalue(res, i, 4); *b; b++) {
                if (*b == '\n' && (b == PQgetvalue(res, i, 4) || b[-1] != '\r'))
                    g_string_append_c(m, '\r');
                g_string_append_c(m, *b);
            }
            g_string_append(m, "\r\n");
            g_autoptr(GBytes) bytes = g_bytes_new_take(m->str, m->len);
            g_string_free(m, FALSE);
            const char *rcpts[] = {to, NULL};
            smtp_result sr = {0};
            char *serr = NULL;
            crm_result sr_r =
                smtp_send_one(&ro, jstr(acc, "from"), rcpts, bytes, &sr, &serr);
            if (sr_r || sr.outcome != SMTP_SENT)
                fail = g_strdup_printf("%d %s", sr.code,
                                       sr.reply ? sr.reply
                                                : (serr ? serr : "error"));
            else
                log_info("notice=%s to=%s sent queue_id=%s", nid, to,
                         sr.queue_id ? sr.queue_id : "-");
            g_free(serr);
            smtp_result_clear(&sr);
        }
        if (fail) {
            const char *q[] = {nid, fail};
            char *e2 = NULL;
            db_exec(ctx->db, 30000,
                    "UPDATE notices SET sent_at = NULL, last_error = $2, "
                    "due_at = now() + make_interval(mins => attempts * 5) "
                    "WHERE id = $1::bigint",
                    2, q, &e2);
            g_free(e2);
            log_warn("notice=%s to=%s not sent: %s", nid, to, fail);
        }
    }
    json_decref(acc);
    PQclear(res);
    g_free(*error_r);
    *error_r = NULL;
    *snooze_s_r = 1;
    return JOBS_SNOOZE;
}
