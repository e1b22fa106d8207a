/*
 * campaign_send.c - the send loop of a campaign (the worker's
 * "campaign.send" job) and task notices by mail ("notices.deliver"). The
 * campaign and its messages: campaign_render.c; the ledger statements:
 * campaign_ledger.c.
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

#include "campaign_int.h"
#include "crmgate/log.h"
#include "crmgate/tokens.h"

#define MARK_EVERY_US (250 * 1000)
#define STATE_CHECK_US (2 * G_USEC_PER_SEC)
#define MAX_THROTTLE_S 3600

typedef struct {
    guint in_flight;
    double tokens;
    gint64 last_us;
} domain_state;

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
    camp *c = campaign_camp_load(ctx->db, cfg, id, &err);
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
    campaign_route_opts(cfg, c, &ro);
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
            g_autofree char *st = campaign_ledger_state(ctx->db, id, &err);
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
            campaign_ledger_release_all(&lg, &pending, throttle_s);

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
            if ((r = campaign_ledger_flush(&lg, &err)))
                break;
            guint left;
            if ((r = campaign_ledger_cap_left(&lg, &left, &err)))
                break;
            left = left > in_flight ? left - in_flight : 0;
            bool sample_only = c->nsubjects > 1 && c->ab_winner == 0;
            g_ptr_array_set_size(claimed, 0);
            if (left > 0 && (r = campaign_ledger_claim(
                                 &lg, MIN(cfg->campaign_batch, left), lease_s,
                                 sample_only, claimed, &err)))
                break;
            for (guint i = 0; i < claimed->len; i++)
                g_queue_push_tail(&pending, g_ptr_array_index(claimed, i));
            exhausted = claimed->len == 0;
        }
        if (!draining && !throttle_s && g_queue_is_empty(&pending) &&
            in_flight == 0) {
            if ((r = campaign_ledger_flush(&lg, &err)))
                break;
            guint left;
            if ((r = campaign_ledger_cap_left(&lg, &left, &err)))
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
            if ((r = campaign_ledger_claim(&lg, MIN(cfg->campaign_batch, left),
                                           lease_s, sample_only, claimed,
                                           &err)))
                break;
            for (guint i = 0; i < claimed->len; i++)
                g_queue_push_tail(&pending, g_ptr_array_index(claimed, i));
            if (claimed->len == 0) {
                gint64 ab_wait = 0;
                if (sample_only) {
                    if ((r = campaign_ledger_ab_decide(&lg, &ab_wait, &err)))
                        break;
                    if (ab_wait == 0) {
                        /* decided: reload the winner and go on */
                        camp *fresh =
                            campaign_camp_load(ctx->db, cfg, id, &err);
                        if (!fresh) {
                            r = CRM_ERR_DB;
                            break;
                        }
                        c->ab_winner = fresh->ab_winner;
                        campaign_camp_free(fresh);
                        if (c->ab_winner)
                            continue;
                        ab_wait = 60;
                    }
                }
                bool finished = false;
                gint64 next = 0;
                if ((r = campaign_ledger_try_finish(&lg, &finished, &next,
                                                    &err)))
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
                campaign_ledger_mark(&lg, x, "suppressed", 0,
                                     "suppressed at send time", NULL, 0);
                campaign_rcpt_free(x);
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
            if (!x->msg && (x->unbuildable ||
                            !campaign_build_message(cfg, c, x, "", NULL))) {
                campaign_ledger_mark(&lg, x, "perm", 0,
                                     "message could not be built", NULL, 0);
                campaign_rcpt_free(x);
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
                if (!campaign_build_message(cfg, c, next, "", NULL))
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
                campaign_ledger_mark(&lg, x, "sent", res.code, res.reply,
                                     res.queue_id, 0);
                throttle_s = 0;
                break;
            case SMTP_THROTTLE: {
                guint pause = cfg->campaign_throttle_pause_s;
                campaign_ledger_mark(&lg, x, "throttle", res.code, res.reply,
                                     NULL, pause);
                if (!throttle_s)
                    log_warn("campaign=%" G_GINT64_FORMAT " relay=%s "
                             "throttled code=%d: resting %u s",
                             id, c->relay_url, res.code, pause);
                throttle_s = pause;
                break;
            }
            case SMTP_TEMP:
            case SMTP_CONN:
                campaign_ledger_mark(
                    &lg, x, "temp", res.code,
                    res.reply ? res.reply : smtp_outcome_name(res.outcome),
                    NULL,
                    jobs_backoff_s(cfg->worker_retry_base_s,
                                   cfg->worker_retry_max_s, 1));
                break;
            case SMTP_PERM:
                campaign_ledger_mark(&lg, x, "perm", res.code, res.reply, NULL,
                                     0);
                break;
            }
            smtp_result_clear(&res);
            campaign_rcpt_free(x);
        }
        if (json_array_size(lg.marks) >= 50 ||
            (json_array_size(lg.marks) > 0 &&
             now_us() - lg.last_mark_us > MARK_EVERY_US)) {
            if ((r = campaign_ledger_flush(&lg, &err)))
                break;
        }
    }
    if (!r)
        r = campaign_ledger_flush(&lg, &err);
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
        campaign_rcpt_free(x);
    g_ptr_array_free(claimed, TRUE);
    json_decref(lg.marks);
    g_hash_table_destroy(domains);
    smtp_route_free(&route);
    campaign_camp_free(c);
    g_free(err);
    return outcome;
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
            const char *sealed = campaign_jstr(acc, "password");
            if (sealed) {
                gsize len = 0;
                g_autofree guchar *raw = g_base64_decode(sealed, &len);
                pw = campaign_password_open(cfg, raw, len);
            }
            smtp_route_opts ro = {
                .url = campaign_jstr(acc, "relay"),
                .user = campaign_jstr(acc, "user"),
                .password = pw,
                .starttls_required =
                    g_strcmp0(campaign_jstr(acc, "starttls"), "required") == 0,
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
                campaign_jstr(acc, "from"), to, enc_subject, date);
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
            crm_result sr_r = smtp_send_one(&ro, campaign_jstr(acc, "from"),
                                            rcpts, bytes, &sr, &serr);
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
