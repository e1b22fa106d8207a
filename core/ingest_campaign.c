/*
 * ingest_campaign.c - what the capture path does with campaign traffic.
 *
 * Three kinds of message concern campaigns (tokens: core/tokens.c):
 *   - our own campaign mail passing the milter on its way out: its
 *     Message-ID <TOKEN.RANDOM@bounce_domain> verifies; it is not stored
 *     as a captured message (the ledger already has it, and the timeline
 *     shows it as a campaign event);
 *   - mail to the bounce domain: bounce+TOKEN@ (VERP: DSNs, provider
 *     prose, auto-replies to the envelope sender), unsubscribe+TOKEN@ (the
 *     List-Unsubscribe mailto) and fbl@ / abuse@ (feedback-loop reports,
 *     whose attached original names the recipient by its Message-ID): the
 *     feedback is recorded, nothing is captured;
 *   - replies whose In-Reply-To or References carry our token: captured
 *     and linked like any mail, and the recipient is marked replied, or
 *     auto-replied when the reply says it is automatic.
 * Tokens are verified with campaign.secret (HMAC, constant time): a forged
 * bounce+123-... address marks nothing.
 */
#include <jansson.h>
#include <string.h>

#include "crmgate/addr.h"
#include "crmgate/dsn.h"
#include "crmgate/ingest.h"
#include "crmgate/tokens.h"

static void add_feedback(ingest_plan *plan, gint64 rcpt, const char *kind,
                         json_t *doc)
{
    if (!plan->feedback)
        plan->feedback = json_array();
    json_array_append_new(plan->feedback,
                          json_pack("{s:I,s:s,s:o}", "recipient",
                                    (json_int_t)rcpt, "kind", kind, "doc",
                                    doc ? doc : json_object()));
}

/* The local part and domain of a normalised address; false without '@'. */
static bool split(const char *norm, char **local_r, const char **domain_r)
{
    const char *at = strrchr(norm, '@');
    if (!at)
        return false;
    *local_r = g_strndup(norm, (gsize)(at - norm));
    *domain_r = at + 1;
    return true;
}

void ingest_campaign_classify(const crm_config *cfg, const ingest_envelope *env,
                              const crm_message *msg, ingest_plan *plan)
{
    const char *secret = cfg->campaign_secret;
    const char *bd = cfg->bounce_domain;
    if (!secret || !*secret || !bd || !*bd)
        return;
    gint64 id = 0;
    /* 1. our own campaign mail on its way out */
    if (msg->message_id &&
        token_from_message_id(secret, bd, msg->message_id, &id)) {
        plan->verdict = INGEST_SKIP_CAMPAIGN;
        plan->campaign_why = "campaign-mail";
        return;
    }
    /* 2. mail to the bounce domain */
    bool to_bounce_domain = false;
    for (guint i = 0; env->envelope_rcpts && i < env->envelope_rcpts->len;
         i++) {
        g_autofree char *norm =
            addr_normalize(g_ptr_array_index(env->envelope_rcpts, i));
        g_autofree char *local = NULL;
        const char *domain = NULL;
        if (!norm || !split(norm, &local, &domain) ||
            g_ascii_strcasecmp(domain, bd) != 0)
            continue;
        if (token_from_address(secret, bd, "unsubscribe", norm, &id)) {
            add_feedback(plan, id, "unsubscribe",
                         json_pack("{s:s}", "source", "mailto"));
            plan->verdict = INGEST_SKIP_CAMPAIGN;
            plan->campaign_why = "unsubscribe";
        } else if (token_from_address(secret, bd, "bounce", norm, &id)) {
            plan->bounce_rcpt = id;
            to_bounce_domain = true;
        } else if (g_str_has_prefix(local, "bounce") ||
                   strcmp(local, "fbl") == 0 || strcmp(local, "abuse") == 0) {
            to_bounce_domain = true; /* a report naming its original */
        }
    }
    if (to_bounce_domain) {
        plan->parse_bounce = true;
        plan->verdict = INGEST_SKIP_CAMPAIGN;
        plan->campaign_why = "bounce";
        return;
    }
    if (plan->verdict == INGEST_SKIP_CAMPAIGN)
        return;
    /* 3. a reply to a campaign message */
    const char *kind = msg->auto_reply ? "autoreply" : "reply";
    if (msg->in_reply_to &&
        token_from_message_id(secret, bd, msg->in_reply_to, &id)) {
        add_feedback(plan, id, kind, NULL);
        return;
    }
    for (guint i = msg->references ? msg->references->len : 0; i > 0; i--) {
        if (token_from_message_id(
                secret, bd, g_ptr_array_index(msg->references, i - 1), &id)) {
            add_feedback(plan, id, kind, NULL);
            return;
        }
    }
}

void ingest_campaign_bounce(const crm_config *cfg, ingest_plan *plan,
                            const char *raw, gsize len)
{
    dsn_report *rep = dsn_parse(raw, len);
    gint64 id = plan->bounce_rcpt;
    if (rep && rep->original_message_id && !id) {
        gint64 oid = 0;
        if (token_from_message_id(cfg->campaign_secret, cfg->bounce_domain,
                                  rep->original_message_id, &oid))
            id = oid;
    }
    if (!id) {
        dsn_report_free(&rep);
        return; /* nobody of ours: nothing to record */
    }
    if (!rep)
        return; /* not a report of any kind: nothing to record */
    if (strcmp(rep->kind, "arf") == 0) {
        add_feedback(plan, id, "complaint",
                     json_pack("{s:s?,s:s}", "feedback_type",
                               rep->feedback_type, "reason", "feedback"));
    } else if (strcmp(rep->kind, "autoreply") == 0) {
        add_feedback(plan, id, "autoreply", NULL);
    } else {
        /* VERP names the recipient: the first failed one (a DSN for one
           message has one recipient; a relay that merged several still
           failed this one) */
        const dsn_recipient *pick = NULL;
        for (guint i = 0; i < rep->recipients->len; i++) {
            const dsn_recipient *d = g_ptr_array_index(rep->recipients, i);
            if (!pick || (strcmp(pick->action, "failed") != 0 &&
                          strcmp(d->action, "failed") == 0))
                pick = d;
        }
        if (pick)
            add_feedback(plan, id, "bounce",
                         json_pack("{s:b,s:s,s:s,s:s,s:s,s:i,s:i}", "hard",
                                   pick->hard, "action", pick->action, "status",
                                   pick->status, "reason", pick->reason,
                                   "diagnostic", pick->diagnostic, "soft_limit",
                                   (int)cfg->soft_bounce_limit,
                                   "soft_window_days",
                                   (int)cfg->soft_bounce_window_days));
    }
    dsn_report_free(&rep);
}

crm_result ingest_feedback_store(db_conn *db, guint timeout_ms,
                                 const ingest_plan *plan, char **summary_r,
                                 char **error_r)
{
    GString *sum = g_string_new(NULL);
    size_t i;
    json_t *f;
    crm_result r = CRM_OK;
    json_array_foreach(plan->feedback, i, f)
    {
        g_autofree char *id = g_strdup_printf(
            "%" JSON_INTEGER_FORMAT,
            json_integer_value(json_object_get(f, "recipient")));
        g_autofree char *doc =
            json_dumps(json_object_get(f, "doc"), JSON_COMPACT);
        const char *p[] = {id, json_string_value(json_object_get(f, "kind")),
                           doc};
        json_t *out = NULL;
        r = db_query_json(db, timeout_ms,
                          "SELECT to_jsonb(crm_campaign_feedback($1::bigint, "
                          "$2, $3::jsonb))",
                          3, p, NULL, NULL, &out, error_r);
        if (r)
            break;
        if (sum->len)
            g_string_append_c(sum, ',');
        g_string_append(sum,
                        json_string_value(out) ? json_string_value(out) : "?");
        json_decref(out);
    }
    *summary_r = g_string_free(sum, FALSE);
    return r;
}
