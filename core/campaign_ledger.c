/*
 * campaign_ledger.c - the statements of the send loop on the ledger
 * (campaign_recipients): lease a batch (FOR UPDATE SKIP LOCKED; expired
 * leases come back), write the replies in one statement per group and only
 * for rows still leased by this driver, the account's daily count, the
 * A/B decision and the end of a campaign (finished only when no row is
 * queued or leased, in the same statement). Every statement has
 * parameters and works through pgbouncer in transaction mode.
 */
#include <jansson.h>
#include <string.h>

#include "campaign_int.h"
#include "crmgate/log.h"
#include "crmgate/tokens.h"

void campaign_ledger_mark(ledger *lg, const rcpt *r, const char *outcome,
                          int code, const char *reply, const char *queue_id,
                          guint retry_s)
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
crm_result campaign_ledger_flush(ledger *lg, char **error_r)
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
crm_result campaign_ledger_claim(ledger *lg, guint max, guint lease_s,
                                 bool sample_only, GPtrArray *out,
                                 char **error_r)
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
crm_result campaign_ledger_cap_left(ledger *lg, guint *left_r, char **error_r)
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
char *campaign_ledger_state(db_conn *db, gint64 id, char **error_r)
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
crm_result campaign_ledger_ab_decide(ledger *lg, gint64 *wait_r, char **error_r)
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
crm_result campaign_ledger_try_finish(ledger *lg, bool *finished_r,
                                      gint64 *wait_r, char **error_r)
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
void campaign_ledger_release_all(ledger *lg, GQueue *list, guint retry_s)
{
    rcpt *x;
    while ((x = g_queue_pop_head(list))) {
        campaign_ledger_mark(lg, x, "release", 0, NULL, NULL, retry_s);
        campaign_rcpt_free(x);
    }
}
