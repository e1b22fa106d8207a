/*
 * campaign.c - campaigns as the CLI and the web manage them: accounts,
 * tags, segments, creation with its ledger, state changes, status, the
 * send log and the suppression list.
 *
 * Windows and segments are parsed in campaign_segment.c. Limits: a
 * template is at most 1 MiB (template.c). Relay passwords
 * are sealed with libsodium's secretbox under a key derived (BLAKE2b) from
 * campaign.secret: the database alone never gives them away.
 */
#include "crmgate/campaign.h"

#include <jansson.h>
#include <sodium.h>
#include <string.h>

#include "crmgate/addr.h"
#include "crmgate/template.h"

/* --- accounts --- */

static void password_key(const crm_config *cfg,
                         unsigned char key[crypto_secretbox_KEYBYTES])
{
    const char *secret = cfg->campaign_secret ? cfg->campaign_secret : "";
    static const char ctx[] = "crmgate/relay-password";
    crypto_generichash(key, crypto_secretbox_KEYBYTES,
                       (const unsigned char *)secret, strlen(secret),
                       (const unsigned char *)ctx, sizeof(ctx) - 1);
}

GBytes *campaign_password_seal(const crm_config *cfg, const char *password)
{
    if (sodium_init() < 0)
        return NULL;
    unsigned char key[crypto_secretbox_KEYBYTES];
    password_key(cfg, key);
    gsize plen = strlen(password);
    gsize len = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + plen;
    unsigned char *out = g_malloc(len);
    randombytes_buf(out, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(out + crypto_secretbox_NONCEBYTES,
                          (const unsigned char *)password, plen, out, key);
    sodium_memzero(key, sizeof(key));
    return g_bytes_new_take(out, len);
}

char *campaign_password_open(const crm_config *cfg, const void *sealed,
                             gsize len)
{
    if (sodium_init() < 0 ||
        len < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES)
        return NULL;
    unsigned char key[crypto_secretbox_KEYBYTES];
    password_key(cfg, key);
    const unsigned char *in = sealed;
    gsize plen = len - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES;
    char *out = g_malloc0(plen + 1);
    int rc = crypto_secretbox_open_easy(
        (unsigned char *)out, in + crypto_secretbox_NONCEBYTES,
        len - crypto_secretbox_NONCEBYTES, in, key);
    sodium_memzero(key, sizeof(key));
    if (rc != 0) {
        g_free(out);
        return NULL;
    }
    return out;
}

/* True for a relay URL on this machine (no TLS needed on loopback). */
static bool relay_is_loopback(const char *url)
{
    const char *host = strstr(url, "://");
    host = host ? host + 3 : url;
    return g_str_has_prefix(host, "127.") ||
           g_str_has_prefix(host, "localhost:") ||
           strcmp(host, "localhost") == 0 || g_str_has_prefix(host, "[::1]");
}

static bool relay_url_ok(const char *url)
{
    const char *rest = NULL;
    if (g_str_has_prefix(url, "smtp://"))
        rest = url + 7;
    else if (g_str_has_prefix(url, "smtps://"))
        rest = url + 8;
    if (!rest || !*rest || strlen(url) > 300)
        return false;
    for (const char *p = rest; *p; p++)
        if (!(g_ascii_isalnum(*p) || strchr(".-:[]_", *p)))
            return false;
    return true;
}

crm_result campaign_account_add(db_conn *db, const crm_config *cfg,
                                const campaign_account *a, json_t **rec_r,
                                char **error_r)
{
    g_autofree char *norm = a->from ? addr_normalize(a->from) : NULL;
    if (!norm) {
        *error_r = g_strdup_printf("'%s' is not a sending address",
                                   a->from ? a->from : "");
        return CRM_ERR_USAGE;
    }
    if (!a->relay || !relay_url_ok(a->relay)) {
        *error_r = g_strdup_printf("--relay '%s': expected smtp://HOST:PORT "
                                   "or smtps://HOST:PORT",
                                   a->relay ? a->relay : "");
        return CRM_ERR_USAGE;
    }
    const char *starttls = a->starttls;
    if (!starttls)
        starttls = g_str_has_prefix(a->relay, "smtps://") ||
                           relay_is_loopback(a->relay)
                       ? "off"
                       : "required";
    if (strcmp(starttls, "required") != 0 && strcmp(starttls, "off") != 0) {
        *error_r =
            g_strdup_printf("--starttls '%s': required or off", starttls);
        return CRM_ERR_USAGE;
    }
    if (a->password && (!cfg->campaign_secret || !*cfg->campaign_secret)) {
        *error_r = g_strdup("a relay password needs campaign.secret (or "
                            "web.secret) in the configuration: it is stored "
                            "sealed under that key");
        return CRM_ERR_CONFIG;
    }
    g_autoptr(GBytes) sealed =
        a->password ? campaign_password_seal(cfg, a->password) : NULL;
    g_autofree char *cap = g_strdup_printf("%u", a->daily_cap);
    g_autofree char *conc = g_strdup_printf(
        "%u", a->concurrency ? a->concurrency : cfg->campaign_concurrency);
    gsize slen = 0;
    const char *sdata = sealed ? g_bytes_get_data(sealed, &slen) : NULL;
    const char *p[] = {a->from,
                       norm,
                       a->name ? a->name : "",
                       a->relay,
                       a->user,
                       sdata,
                       starttls,
                       cap,
                       conc,
                       a->signature_text,
                       a->signature_html,
                       a->is_default ? "t" : "f"};
    int lengths[G_N_ELEMENTS(p)] = {0};
    int formats[G_N_ELEMENTS(p)] = {0};
    lengths[5] = (int)slen;
    formats[5] = 1;
    PGresult *res = NULL;
    crm_result r = db_query(
        db, 0,
        "WITH undefault AS (UPDATE mail_accounts SET is_default = false "
        "WHERE $12::boolean AND is_default RETURNING id), "
        "ins AS (INSERT INTO mail_accounts (from_address, from_norm, name, "
        "relay_url, relay_user, relay_password, starttls, daily_cap, "
        "concurrency, signature_text, signature_html, is_default) "
        "SELECT $1, $2, $3, $4, $5, $6, $7, $8::int, $9::int, $10, $11, "
        "$12::boolean OR NOT EXISTS (SELECT 1 FROM mail_accounts WHERE "
        "is_default AND id NOT IN (SELECT id FROM undefault)) "
        "RETURNING *) "
        "SELECT to_jsonb(ins) - 'relay_password' || jsonb_build_object("
        "'has_password', ins.relay_password IS NOT NULL) FROM ins",
        (int)G_N_ELEMENTS(p), p, lengths, formats, &res, error_r);
    if (r == CRM_ERR_DB && strcmp(db_last_sqlstate(db), "23505") == 0) {
        g_free(*error_r);
        *error_r = g_strdup_printf("an account for %s exists already", norm);
        return CRM_ERR_EXISTS;
    }
    if (r)
        return r;
    json_error_t jerr;
    *rec_r = json_loads(PQgetvalue(res, 0, 0), 0, &jerr);
    PQclear(res);
    return CRM_OK;
}

crm_result campaign_account_list(db_conn *db, json_t **out_r, char **error_r)
{
    return db_query_json(
        db, 0,
        "SELECT jsonb_build_object('accounts', coalesce(jsonb_agg(to_jsonb(a) "
        "- 'relay_password' || jsonb_build_object('has_password', "
        "a.relay_password IS NOT NULL, 'sent_today', coalesce((SELECT sent "
        "FROM mail_account_days d WHERE d.account_id = a.id AND d.day = "
        "(now() AT TIME ZONE 'UTC')::date), 0)) ORDER BY a.id), '[]')) "
        "FROM mail_accounts a",
        0, NULL, NULL, NULL, out_r, error_r);
}

/* --- tags --- */

crm_result campaign_tag_add(db_conn *db, const char *record,
                            const char *const *tags, guint *added_r,
                            char **error_r)
{
    const char *colon = record ? strchr(record, ':') : NULL;
    static const char *const types[] = {"contact", "lead", "company", "deal",
                                        "request"};
    g_autofree char *type = colon ? g_strndup(record, colon - record) : NULL;
    bool type_ok = false;
    for (gsize i = 0; type && i < G_N_ELEMENTS(types); i++)
        type_ok = type_ok || strcmp(type, types[i]) == 0;
    char *end = NULL;
    guint64 id = colon ? g_ascii_strtoull(colon + 1, &end, 10) : 0;
    if (!type_ok || !end || *end || id == 0 || id > G_MAXINT64) {
        *error_r = g_strdup_printf("'%s': expected contact:ID, lead:ID, "
                                   "company:ID, deal:ID or request:ID",
                                   record ? record : "");
        return CRM_ERR_USAGE;
    }
    json_t *arr = json_array();
    for (int i = 0; tags && tags[i]; i++) {
        g_autofree char *t = g_utf8_make_valid(tags[i], -1);
        g_autofree char *lt = g_utf8_strdown(g_strstrip(t), -1);
        if (!*lt || strlen(lt) > 100) {
            json_decref(arr);
            *error_r =
                g_strdup_printf("tag '%s': 1 to 100 characters", tags[i]);
            return CRM_ERR_USAGE;
        }
        json_array_append_new(arr, json_string(lt));
    }
    g_autofree char *js = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    g_autofree char *ids = g_strdup_printf("%" G_GUINT64_FORMAT, id);
    const char *p[] = {type, ids, js};
    json_t *out = NULL;
    crm_result r = db_query_json(db, 0, "SELECT crm_tag_add($1, $2, $3)", 3, p,
                                 NULL, NULL, &out, error_r);
    if (r)
        return r;
    json_int_t n = json_integer_value(out);
    json_decref(out);
    if (n < 0) {
        *error_r = g_strdup_printf("%s does not exist", record);
        return CRM_ERR_NOTFOUND;
    }
    *added_r = (guint)n;
    return CRM_OK;
}

/* --- campaigns --- */

static crm_result check_template(const char *what, const char *text,
                                 char **error_r)
{
    if (!text)
        return CRM_OK;
    char *err = NULL;
    template *t = template_compile(text, strlen(text), &err);
    if (!t) {
        *error_r = g_strdup_printf("%s: %s", what, err ? err : "invalid");
        g_free(err);
        return CRM_ERR_USAGE;
    }
    template_free(&t);
    return CRM_OK;
}

crm_result campaign_create(db_conn *db, const crm_config *cfg,
                           const campaign_spec *s, json_t **rec_r,
                           char **error_r)
{
    (void)cfg;
    if (!s->name || !*s->name || !s->subject || !*s->subject ||
        !s->text_template) {
        *error_r = g_strdup("a campaign needs a name, --subject and --text");
        return CRM_ERR_USAGE;
    }
    crm_result r = check_template("subject", s->subject, error_r);
    for (int i = 0; !r && s->ab_subjects && s->ab_subjects[i]; i++)
        r = check_template("A/B subject", s->ab_subjects[i], error_r);
    if (!r)
        r = check_template("text template", s->text_template, error_r);
    if (!r)
        r = check_template("HTML template", s->html_template, error_r);
    if (r)
        return r;
    campaign_window w;
    if ((r = campaign_window_parse(s->window, &w, error_r)))
        return r;
    const char *tz = s->tz && *s->tz ? s->tz : "UTC";
    GTimeZone *gtz = g_time_zone_new_identifier(tz);
    if (!gtz) {
        *error_r = g_strdup_printf("--tz '%s' is not a time zone", tz);
        return CRM_ERR_USAGE;
    }
    g_time_zone_unref(gtz);
    json_t *filter = NULL;
    if ((r = campaign_segment_parse(s->segment, s->base_dir, &filter, error_r)))
        return r;
    g_autofree char *fjs = json_dumps(filter, JSON_COMPACT);
    json_decref(filter);
    json_t *ab = json_array();
    for (int i = 0; s->ab_subjects && s->ab_subjects[i]; i++)
        json_array_append_new(ab, json_string(s->ab_subjects[i]));
    g_autofree char *abjs = json_dumps(ab, JSON_COMPACT);
    json_decref(ab);
    g_autofree char *acc =
        s->account_id ? g_strdup_printf("%" G_GINT64_FORMAT, s->account_id)
                      : NULL;
    g_autofree char *rate = g_strdup_printf("%u", s->rate_per_min);
    g_autofree char *owner = s->owner ? addr_normalize(s->owner) : NULL;
    if (s->owner && !owner) {
        *error_r = g_strdup_printf("--owner '%s' is not an address", s->owner);
        return CRM_ERR_USAGE;
    }
    const char *p[] = {
        s->name,
        acc,
        s->subject,
        abjs,
        s->text_template,
        s->html_template,
        s->segment,
        rate,
        s->window && *s->window ? s->window : NULL,
        tz,
        s->at,
        owner,
        fjs,
        (s->track_opens < 0 ? cfg->track_opens : s->track_opens) ? "t" : "f",
        (s->track_clicks < 0 ? cfg->track_clicks : s->track_clicks) ? "t"
                                                                    : "f"};
    if ((r = db_exec(db, 0, "BEGIN", 0, NULL, error_r)))
        return r;
    json_t *rec = NULL;
    r = db_query_json(
        db, 0,
        "WITH acc AS (SELECT id FROM mail_accounts WHERE active AND "
        "CASE WHEN $2::bigint IS NULL THEN is_default ELSE id = $2::bigint "
        "END), "
        "ins AS (INSERT INTO campaigns (name, account_id, subject, "
        "ab_subjects, text_template, html_template, segment, rate_per_min, "
        "send_window, tz, start_at, owner_id, track_opens, track_clicks) "
        "SELECT $1, acc.id, $3, ARRAY(SELECT jsonb_array_elements_text("
        "$4::jsonb)), $5, $6, $7, $8::int, $9, $10, "
        "CASE WHEN $11::text IS NULL THEN NULL "
        "WHEN $11 ~ '([zZ]|[+-][0-9]{2}(:?[0-9]{2})?)$' THEN "
        "$11::timestamptz ELSE $11::timestamp AT TIME ZONE $10 END, "
        "(SELECT id FROM users WHERE email_norm = $12), $14::boolean, "
        "$15::boolean FROM acc RETURNING id), "
        "filled AS (SELECT ins.id, crm_campaign_fill(ins.id, $13::jsonb) AS n "
        "FROM ins) SELECT jsonb_build_object('id', id, 'recipients', n) "
        "FROM filled",
        (int)G_N_ELEMENTS(p), p, NULL, NULL, &rec, error_r);
    if (!r && !rec) {
        *error_r =
            g_strdup(s->account_id ? "no active sending account with that id"
                                   : "no default sending account: add one with "
                                     "`crmgate account add`");
        r = CRM_ERR_NOTFOUND;
    }
    if (!r && s->ab_subjects && s->ab_subjects[0]) {
        g_autofree char *id =
            g_strdup_printf("%" JSON_INTEGER_FORMAT,
                            json_integer_value(json_object_get(rec, "id")));
        g_autofree char *pct = g_strdup_printf("%u", cfg->ab_sample_percent);
        const char *q[] = {id, pct};
        r = db_exec(db, 0, "SELECT crm_campaign_assign_variants($1, $2)", 2, q,
                    error_r);
    }
    if (r) {
        char *ignore = NULL;
        db_exec(db, 0, "ROLLBACK", 0, NULL, &ignore);
        g_free(ignore);
        json_decref(rec);
        if (r == CRM_ERR_DB && (strcmp(db_last_sqlstate(db), "22007") == 0 ||
                                strcmp(db_last_sqlstate(db), "22008") == 0)) {
            g_free(*error_r);
            *error_r = g_strdup_printf("--at '%s' is not a date and time",
                                       s->at ? s->at : "");
            return CRM_ERR_USAGE;
        }
        return r;
    }
    if ((r = db_exec(db, 0, "COMMIT", 0, NULL, error_r))) {
        json_decref(rec);
        return r;
    }
    gint64 id = json_integer_value(json_object_get(rec, "id"));
    json_decref(rec);
    return campaign_status(db, id, rec_r, error_r);
}

crm_result campaign_status(db_conn *db, gint64 id, json_t **status_r,
                           char **error_r)
{
    g_autofree char *ids = g_strdup_printf("%" G_GINT64_FORMAT, id);
    const char *p[] = {ids};
    crm_result r = db_query_json(
        db, 0,
        "SELECT jsonb_build_object('id', c.id, 'name', c.name, 'state', "
        "c.state, 'subject', c.subject, 'segment', c.segment, 'account', "
        "a.from_address, 'account_id', a.id, 'rate_per_min', c.rate_per_min, "
        "'window', c.send_window, 'tz', c.tz, 'start_at', c.start_at, "
        "'created_at', c.created_at, 'started_at', c.started_at, "
        "'finished_at', c.finished_at, 'ab_subjects', to_jsonb(c.ab_subjects), "
        "'ab_winner', c.ab_winner) || crm_campaign_counts(c.id) "
        "FROM campaigns c JOIN mail_accounts a ON a.id = c.account_id "
        "WHERE c.id = $1::bigint",
        1, p, NULL, NULL, status_r, error_r);
    if (!r && !*status_r) {
        *error_r = g_strdup_printf("campaign %s does not exist", ids);
        return CRM_ERR_NOTFOUND;
    }
    return r;
}

crm_result campaign_action(db_conn *db, const crm_config *cfg, gint64 id,
                           const char *action, json_t **status_r,
                           char **error_r)
{
    (void)cfg;
    /* from-states and the SQL of each action; the job is queued in the
       same statement so a running campaign always has its driver. */
    static const struct {
        const char *action;
        const char *from;
        const char *sql;
    } acts[] = {
        {"start", "draft",
         "WITH c AS (UPDATE campaigns SET state = CASE WHEN start_at > now() "
         "THEN 'scheduled' ELSE 'running' END, started_at = CASE WHEN "
         "start_at > now() THEN NULL ELSE now() END, updated_at = now() "
         "WHERE id = $1::bigint AND state = 'draft' RETURNING id, state, "
         "start_at) SELECT jsonb_build_object('state', c.state, 'job', "
         "crm_job_enqueue('campaign.send', jsonb_build_object('campaign', "
         "c.id), greatest(now(), coalesce(c.start_at, now())), 'campaign:' "
         "|| c.id)) FROM c"},
        {"pause", "running scheduled",
         "WITH c AS (UPDATE campaigns SET state = 'paused', updated_at = "
         "now() WHERE id = $1::bigint AND state IN ('running', 'scheduled') "
         "RETURNING state) SELECT jsonb_build_object('state', state) FROM c"},
        {"resume", "paused",
         "WITH c AS (UPDATE campaigns SET state = CASE WHEN start_at > now() "
         "THEN 'scheduled' ELSE 'running' END, started_at = coalesce("
         "started_at, CASE WHEN start_at > now() THEN NULL ELSE now() END), "
         "updated_at = now() WHERE id = $1::bigint AND state = 'paused' "
         "RETURNING id, state, start_at) SELECT jsonb_build_object('state', "
         "c.state, 'job', crm_job_enqueue('campaign.send', "
         "jsonb_build_object('campaign', c.id), greatest(now(), "
         "coalesce(c.start_at, now())), 'campaign:' || c.id)) FROM c"},
        {"cancel", "draft scheduled running paused",
         "WITH c AS (UPDATE campaigns SET state = 'canceled', finished_at = "
         "now(), updated_at = now() WHERE id = $1::bigint AND state IN "
         "('draft', 'scheduled', 'running', 'paused') RETURNING state) "
         "SELECT jsonb_build_object('state', state) FROM c"},
    };
    g_autofree char *ids = g_strdup_printf("%" G_GINT64_FORMAT, id);
    const char *p[] = {ids};
    for (gsize i = 0; i < G_N_ELEMENTS(acts); i++) {
        if (strcmp(action, acts[i].action) != 0)
            continue;
        json_t *done = NULL;
        crm_result r =
            db_query_json(db, 0, acts[i].sql, 1, p, NULL, NULL, &done, error_r);
        if (r)
            return r;
        if (!done) {
            json_t *st = NULL;
            r = campaign_status(db, id, &st, error_r);
            if (r)
                return r;
            *error_r = g_strdup_printf(
                "campaign %s is %s: %s needs a campaign that is %s", ids,
                json_string_value(json_object_get(st, "state")), action,
                acts[i].from);
            json_decref(st);
            return CRM_ERR_USAGE;
        }
        json_decref(done);
        return campaign_status(db, id, status_r, error_r);
    }
    *error_r = g_strdup_printf("unknown campaign action '%s'", action);
    return CRM_ERR_USAGE;
}

crm_result campaign_domains(db_conn *db, gint64 id, guint limit,
                            json_t **rows_r, char **error_r)
{
    g_autofree char *ids = g_strdup_printf("%" G_GINT64_FORMAT, id);
    g_autofree char *lim = g_strdup_printf("%u", limit ? limit : 50);
    const char *p[] = {ids, lim};
    return db_query_json(
        db, 0,
        "SELECT coalesce(jsonb_agg(d ORDER BY d.recipients DESC, d.domain), "
        "'[]') FROM (SELECT domain, count(*) AS recipients, "
        "count(*) FILTER (WHERE state IN ('queued', 'leased')) AS queued, "
        "count(*) FILTER (WHERE sent_at IS NOT NULL) AS sent, "
        "count(*) FILTER (WHERE state = 'failed') AS failed, "
        "count(*) FILTER (WHERE state = 'bounced') AS bounced, "
        "count(*) FILTER (WHERE state = 'suppressed') AS suppressed, "
        "count(*) FILTER (WHERE replied_at IS NOT NULL) AS replied, "
        "count(*) FILTER (WHERE unsubscribed_at IS NOT NULL) AS unsubscribed "
        "FROM campaign_recipients WHERE campaign_id = $1::bigint "
        "GROUP BY domain ORDER BY count(*) DESC, domain LIMIT $2::int) d",
        2, p, NULL, NULL, rows_r, error_r);
}

crm_result campaign_log(db_conn *db, gint64 id, json_t **rows_r, char **error_r)
{
    json_t *st = NULL;
    crm_result r = campaign_status(db, id, &st, error_r);
    json_decref(st);
    if (r)
        return r;
    g_autofree char *ids = g_strdup_printf("%" G_GINT64_FORMAT, id);
    const char *p[] = {ids};
    return db_query_json(
        db, 0,
        "SELECT coalesce(jsonb_agg(jsonb_build_object('id', id, 'address', "
        "address, 'state', state, 'variant', variant, 'attempts', attempts, "
        "'smtp_code', smtp_code, 'smtp_reply', smtp_reply, 'queue_id', "
        "queue_id, 'message_id', message_id, 'sent_at', sent_at, "
        "'failed_at', failed_at, 'bounced_at', bounced_at, 'bounce_reason', "
        "bounce_reason, 'replied_at', replied_at, 'unsubscribed_at', "
        "unsubscribed_at, 'opened_at', opened_at, 'clicked_at', clicked_at) "
        "ORDER BY id), '[]') FROM campaign_recipients WHERE campaign_id = "
        "$1::bigint",
        1, p, NULL, NULL, rows_r, error_r);
}

crm_result campaign_resend_failed(db_conn *db, const crm_config *cfg, gint64 id,
                                  guint *n_r, char **error_r)
{
    (void)cfg;
    g_autofree char *ids = g_strdup_printf("%" G_GINT64_FORMAT, id);
    const char *p[] = {ids};
    json_t *out = NULL;
    crm_result r = db_query_json(
        db, 0,
        "WITH c AS (SELECT id, state FROM campaigns WHERE id = $1::bigint), "
        "q AS (UPDATE campaign_recipients r SET state = CASE WHEN EXISTS "
        "(SELECT 1 FROM suppressions s WHERE s.address_norm = r.address_norm) "
        "THEN 'suppressed' ELSE 'queued' END, attempts = 0, next_attempt_at "
        "= now(), failed_at = NULL, updated_at = now() FROM c WHERE "
        "r.campaign_id = c.id AND r.state = 'failed' RETURNING r.state), "
        "n AS (SELECT count(*) FILTER (WHERE state = 'queued') AS n FROM q), "
        "reopen AS (UPDATE campaigns SET state = 'running', finished_at = "
        "NULL, updated_at = now() WHERE id = (SELECT id FROM c) AND state = "
        "'finished' AND (SELECT n FROM n) > 0 RETURNING id), "
        "job AS (SELECT crm_job_enqueue('campaign.send', "
        "jsonb_build_object('campaign', c.id), now(), 'campaign:' || c.id) "
        "FROM c WHERE (c.state IN ('running', 'finished')) AND (SELECT n "
        "FROM n) > 0) "
        "SELECT jsonb_build_object('n', (SELECT n FROM n), 'exists', EXISTS "
        "(SELECT 1 FROM c), 'reopened', (SELECT count(*) FROM reopen), "
        "'job', (SELECT count(*) FROM job))",
        1, p, NULL, NULL, &out, error_r);
    if (r)
        return r;
    bool exists = json_is_true(json_object_get(out, "exists"));
    *n_r = (guint)json_integer_value(json_object_get(out, "n"));
    json_decref(out);
    if (!exists) {
        *error_r = g_strdup_printf("campaign %s does not exist", ids);
        return CRM_ERR_NOTFOUND;
    }
    return CRM_OK;
}

/* --- suppressions --- */

crm_result campaign_suppress_add(db_conn *db, const char *address,
                                 const char *reason, char **error_r)
{
    g_autofree char *norm = address ? addr_normalize(address) : NULL;
    if (!norm) {
        *error_r =
            g_strdup_printf("'%s' is not an address", address ? address : "");
        return CRM_ERR_USAGE;
    }
    const char *p[] = {norm, reason && *reason ? reason : "manual"};
    return db_exec(db, 0, "SELECT crm_suppress($1, $2, 'manual', NULL)", 2, p,
                   error_r);
}

crm_result campaign_suppress_remove(db_conn *db, const char *address,
                                    bool *removed_r, char **error_r)
{
    g_autofree char *norm = address ? addr_normalize(address) : NULL;
    if (!norm) {
        *error_r =
            g_strdup_printf("'%s' is not an address", address ? address : "");
        return CRM_ERR_USAGE;
    }
    const char *p[] = {norm};
    json_t *out = NULL;
    crm_result r = db_query_json(
        db, 0,
        "WITH d AS (DELETE FROM suppressions WHERE address_norm = $1 "
        "RETURNING 1) SELECT to_jsonb(count(*)) FROM d",
        1, p, NULL, NULL, &out, error_r);
    if (r)
        return r;
    *removed_r = json_integer_value(out) > 0;
    json_decref(out);
    return CRM_OK;
}

crm_result campaign_suppress_list(db_conn *db, json_t **out_r, char **error_r)
{
    return db_query_json(
        db, 0,
        "SELECT jsonb_build_object('suppressions', coalesce(jsonb_agg("
        "jsonb_build_object('address', address_norm, 'reason', reason, "
        "'since', since, 'source', source) ORDER BY since, address_norm), "
        "'[]')) FROM suppressions",
        0, NULL, NULL, NULL, out_r, error_r);
}
