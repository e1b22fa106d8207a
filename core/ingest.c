/*
 * ingest.c - from envelope + parsed message to rows in PostgreSQL.
 *
 * Policy (pure): direction, never-log, internal-only, participants with
 * their roles, capture tokens, [ticket:...], company domains (never
 * free-mail), sales inbox, and the evidence that mail is outbound (the
 * only ground on which the database trusts a capture token). Storage: one
 * crm_capture() call per message, or one crm_capture_batch() for many
 * (sql/0005_capture_trust.sql); attachment contents travel in the same call
 * as a binary bytea[] and are stored by the function, once per SHA-256, so
 * the milter's role needs no rights on attachment_blobs. Results carry no
 * record ids.
 *
 * Limits: recipients recorded are capped by limits.max_recipients; the
 * message text and attachment bounds were applied by the parser.
 */
#include "crmgate/ingest.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "crmgate/addr.h"
#include "crmgate/log.h"

#define SNIPPET_CHARS 200
#define PG_TEXT_OID 25 /* pg_type oids (catalog/pg_type_d.h) */
#define PG_BYTEA_OID 17

const char *ingest_verdict_name(ingest_verdict v)
{
    switch (v) {
    case INGEST_LOG:
        return "log";
    case INGEST_SKIP_NEVER_LOG:
        return "never-log";
    case INGEST_SKIP_INTERNAL:
        return "internal-only";
    case INGEST_SKIP_NO_PARTY:
        return "no-internal-party";
    case INGEST_SKIP_CAMPAIGN:
        return "campaign";
    }
    return "unknown";
}

void ingest_message_limits(const crm_config *cfg, message_limits *lim)
{
    message_limits_default(lim);
    lim->text_max = cfg->text_bytes;
    lim->attachment_store_max = cfg->attachment_store_bytes;
    lim->max_parts = cfg->max_parts;
    lim->max_depth = cfg->max_depth;
    lim->part_header_bytes = cfg->part_header_bytes;
    lim->part_headers = cfg->part_headers;
    lim->total_header_bytes = cfg->total_header_bytes;
    lim->total_headers = cfg->total_headers;
    lim->line_bytes = cfg->line_bytes;
}

bool ingest_is_capture_rcpt(const crm_config *cfg, const char *rcpt)
{
    g_autofree char *norm = addr_normalize(rcpt);
    capture_token tok;
    return norm && addr_capture_token(norm, cfg->capture_local,
                                      cfg->capture_domain, &tok);
}

/* State while building one plan. */
typedef struct {
    const crm_config *cfg;
    json_t *participants;
    json_t *tokens;
    GHashTable *seen;     /* "role\naddr" already added */
    GHashTable *external; /* external normalised addresses */
    GHashTable *domains;  /* company candidate domains */
    GHashTable *token_seen;
    bool any_internal;
    bool any_external;
    bool never_log;
    bool capture_addr;
    bool internal_rcpt;
    const config_sales_inbox *sales;
    guint rcpts;
} plan_state;

static bool is_internal(const crm_config *cfg, const char *norm)
{
    const char *d = addr_domain(norm);
    return config_is_internal_domain(cfg, d) ||
           (*cfg->capture_domain && strcmp(d, cfg->capture_domain) == 0);
}

static bool is_recipient_role(const char *role)
{
    return strcmp(role, "to") == 0 || strcmp(role, "cc") == 0 ||
           strcmp(role, "bcc") == 0 || strcmp(role, "envelope_rcpt") == 0;
}

/* Adds one address in one role; capture addresses become tokens instead. */
static void add_party(plan_state *st, const char *role, const char *address,
                      const char *name)
{
    g_autofree char *norm = addr_normalize(address);
    if (!norm)
        return;
    capture_token tok;
    if (addr_capture_token(norm, st->cfg->capture_local,
                           st->cfg->capture_domain, &tok)) {
        st->capture_addr = true;
        const char *type = addr_token_type_name(tok.type);
        if (type) {
            char *key = g_strdup_printf("%s-%" G_GINT64_FORMAT, type, tok.id);
            if (g_hash_table_add(st->token_seen, key))
                json_array_append_new(st->tokens,
                                      json_pack("{s:s,s:I}", "type", type, "id",
                                                (json_int_t)tok.id));
        }
        return;
    }
    if (config_is_never_log(st->cfg, norm))
        st->never_log = true;
    bool internal = is_internal(st->cfg, norm);
    if (internal) {
        st->any_internal = true;
        if (is_recipient_role(role))
            st->internal_rcpt = true;
    } else {
        st->any_external = true;
        g_hash_table_add(st->external, g_strdup(norm));
        const char *d = addr_domain(norm);
        if (!config_is_freemail(st->cfg, d))
            g_hash_table_add(st->domains, g_strdup(d));
    }
    if (is_recipient_role(role) && !st->sales)
        st->sales = config_sales_inbox_find(st->cfg, norm);
    char *key = g_strconcat(role, "\n", norm, NULL);
    if (!g_hash_table_add(st->seen, key))
        return;
    if (is_recipient_role(role) && ++st->rcpts > st->cfg->max_recipients)
        return;
    g_autofree char *addr_utf8 = g_utf8_make_valid(address, -1);
    json_t *p =
        json_pack("{s:s,s:s,s:s,s:b}", "role", role, "address",
                  g_strstrip(addr_utf8), "norm", norm, "internal", internal);
    if (name && *name)
        json_object_set_new(p, "name", json_string(name));
    json_array_append_new(st->participants, p);
}

static void add_list(plan_state *st, const char *role, GPtrArray *list)
{
    for (guint i = 0; list && i < list->len; i++) {
        const message_addr *a = g_ptr_array_index(list, i);
        add_party(st, role, a->address, a->name);
    }
}

static json_t *set_to_array(GHashTable *set)
{
    json_t *arr = json_array();
    GHashTableIter it;
    gpointer key;
    g_hash_table_iter_init(&it, set);
    while (g_hash_table_iter_next(&it, &key, NULL))
        json_array_append_new(arr, json_string(key));
    return arr;
}

static json_t *string_array(GPtrArray *list)
{
    json_t *arr = json_array();
    for (guint i = 0; list && i < list->len; i++)
        json_array_append_new(arr, json_string(g_ptr_array_index(list, i)));
    return arr;
}

static const char *decide_direction(const crm_config *cfg,
                                    const ingest_envelope *env,
                                    const plan_state *st,
                                    const char *sender_norm)
{
    switch (env->direction) {
    case INGEST_DIR_IN:
        return "in";
    case INGEST_DIR_OUT:
        return "out";
    case INGEST_DIR_AUTO:
        break;
    }
    if ((env->auth_authen && *env->auth_authen) || env->non_smtpd ||
        (env->daemon_name && cfg->originating_daemon &&
         strcmp(env->daemon_name, cfg->originating_daemon) == 0))
        return "out";
    if (st->internal_rcpt)
        return "in";
    if (sender_norm && is_internal(cfg, sender_norm))
        return "out";
    return NULL;
}

/* Why the mail is outbound, when there is evidence: a SASL login, the
   submission service, Postfix's non-SMTP (sendmail) path, or the caller's
   forced direction (the CLI's --direction out, run by the schema owner).
   An internal sender address is not evidence: anyone can write it. */
static const char *outbound_evidence(const crm_config *cfg,
                                     const ingest_envelope *env)
{
    if (env->auth_authen && *env->auth_authen)
        return "auth";
    if (env->daemon_name && cfg->originating_daemon &&
        strcmp(env->daemon_name, cfg->originating_daemon) == 0)
        return "submission";
    if (env->non_smtpd)
        return "sendmail";
    if (env->direction == INGEST_DIR_OUT)
        return "forced";
    return NULL;
}

ingest_plan *ingest_plan_new(const crm_config *cfg, const ingest_envelope *env,
                             const crm_message *msg)
{
    ingest_plan *plan = g_new0(ingest_plan, 1);
    plan_state st = {
        .cfg = cfg,
        .participants = json_array(),
        .tokens = json_array(),
        .seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL),
        .external =
            g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL),
        .domains = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL),
        .token_seen =
            g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL),
    };

    add_list(&st, "from", msg->from);
    add_list(&st, "sender", msg->sender);
    add_list(&st, "reply_to", msg->reply_to);
    add_list(&st, "to", msg->to);
    add_list(&st, "cc", msg->cc);
    add_list(&st, "bcc", msg->bcc);
    if (env->envelope_from && *env->envelope_from)
        add_party(&st, "envelope_from", env->envelope_from, NULL);
    for (guint i = 0; env->envelope_rcpts && i < env->envelope_rcpts->len; i++)
        add_party(&st, "envelope_rcpt",
                  g_ptr_array_index(env->envelope_rcpts, i), NULL);
    plan->capture_rcpts = st.capture_addr ? 1 : 0;

    g_autofree char *from_norm = NULL;
    const char *from_name = NULL;
    if (msg->from && msg->from->len > 0) {
        const message_addr *a = g_ptr_array_index(msg->from, 0);
        from_norm = addr_normalize(a->address);
        from_name = a->name;
    }
    g_autofree char *env_from = env->envelope_from && *env->envelope_from
                                    ? addr_normalize(env->envelope_from)
                                    : NULL;
    const char *sender_norm = env_from ? env_from : from_norm;

    const char *direction = decide_direction(cfg, env, &st, sender_norm);
    if (st.never_log) {
        plan->verdict = INGEST_SKIP_NEVER_LOG;
    } else if (!st.any_external && !st.capture_addr && !cfg->log_internal &&
               env->direction == INGEST_DIR_AUTO) {
        plan->verdict =
            st.any_internal ? INGEST_SKIP_INTERNAL : INGEST_SKIP_NO_PARTY;
    } else if (!direction && !st.any_internal) {
        plan->verdict = INGEST_SKIP_NO_PARTY;
    } else {
        plan->verdict = INGEST_LOG;
        if (!st.any_external && env->direction == INGEST_DIR_AUTO)
            direction = "internal";
        else if (!direction)
            direction = "in";
    }
    plan->direction = direction ? direction : "in";

    if (plan->verdict == INGEST_LOG) {
        json_t *doc = json_object();
        json_object_set_new(
            doc, "message_id",
            json_string(msg->message_id ? msg->message_id : ""));
        json_object_set_new(doc, "digest", json_string(msg->digest));
        json_object_set_new(doc, "direction", json_string(plan->direction));
        json_object_set_new(doc, "subject", json_string(msg->subject));
        if (msg->date) {
            g_autofree char *d = g_date_time_format_iso8601(msg->date);
            json_object_set_new(doc, "date", json_string(d));
        }
        json_object_set_new(doc, "text_truncated",
                            json_boolean(msg->text_truncated));
        g_autofree char *snippet = message_snippet(msg, SNIPPET_CHARS);
        json_object_set_new(doc, "snippet", json_string(snippet));
        json_object_set_new(doc, "size",
                            json_integer((json_int_t)msg->raw_size));
        if (msg->in_reply_to)
            json_object_set_new(doc, "in_reply_to",
                                json_string(msg->in_reply_to));
        json_object_set_new(doc, "references", string_array(msg->references));
        json_object_set_new(doc, "warnings", string_array(msg->warnings));
        json_object_set_new(doc, "participants", st.participants);
        st.participants = NULL;
        json_object_set_new(doc, "external", set_to_array(st.external));
        json_object_set_new(doc, "domains", set_to_array(st.domains));
        if (sender_norm)
            json_object_set_new(doc, "sender_norm", json_string(sender_norm));
        if (from_norm)
            json_object_set_new(doc, "from_norm", json_string(from_norm));
        if (from_name)
            json_object_set_new(doc, "from_name", json_string(from_name));
        json_object_set_new(doc, "tokens", st.tokens);
        st.tokens = NULL;
        const char *evidence = outbound_evidence(cfg, env);
        json_object_set_new(doc, "outbound_evidence",
                            evidence ? json_string(evidence) : json_null());
        if (env->auth_authen && *env->auth_authen) {
            g_autofree char *login = g_utf8_make_valid(env->auth_authen, -1);
            json_object_set_new(doc, "auth_login", json_string(login));
        }
        json_object_set_new(doc, "token_require_login",
                            json_boolean(cfg->token_require_login));
        char *ticket = addr_subject_ticket(msg->subject);
        if (ticket)
            json_object_set_new(doc, "ticket", json_string(ticket));
        g_free(ticket);
        json_object_set_new(doc, "open_deals_limit",
                            json_integer(cfg->open_deals_linked));
        if (st.sales && strcmp(plan->direction, "in") == 0)
            json_object_set_new(doc, "sales_inbox",
                                json_pack("{s:s,s:s?}", "lead_source",
                                          st.sales->lead_source, "owner",
                                          st.sales->owner));
        /* blob: the content's 1-based position among the attachments
           that have one: the order add_blobs() sends them in. */
        json_t *atts = json_array();
        json_int_t nblobs = 0;
        for (guint i = 0; i < msg->attachments->len; i++) {
            const message_attachment *a =
                g_ptr_array_index(msg->attachments, i);
            json_t *o = json_pack("{s:s?,s:s,s:I,s:s}", "filename", a->filename,
                                  "content_type", a->content_type, "size",
                                  (json_int_t)a->size, "sha256", a->sha256);
            if (a->content)
                json_object_set_new(o, "blob", json_integer(++nblobs));
            json_array_append_new(atts, o);
        }
        json_object_set_new(doc, "attachments", atts);
        json_object_set_new(doc, "blobs", json_integer(nblobs));
        /* Envelope strings may carry 8-bit bytes: json_pack refuses
           invalid UTF-8 (and would return NULL). */
        g_autofree char *qid_utf8 =
            env->queue_id ? g_utf8_make_valid(env->queue_id, -1) : NULL;
        g_autofree char *from_utf8 =
            env->envelope_from ? g_utf8_make_valid(env->envelope_from, -1)
                               : NULL;
        json_t *ev = json_pack("{s:s,s:s?,s:s?}", "source",
                               env->source ? env->source : "cli", "queue_id",
                               qid_utf8, "envelope_from", from_utf8);
        json_t *rcpts = json_array();
        for (guint i = 0; env->envelope_rcpts && i < env->envelope_rcpts->len &&
                          i < cfg->max_recipients;
             i++) {
            g_autofree char *r = g_utf8_make_valid(
                g_ptr_array_index(env->envelope_rcpts, i), -1);
            json_array_append_new(rcpts, json_string(r));
        }
        json_object_set_new(ev, "envelope_rcpts", rcpts);
        json_object_set_new(doc, "event", ev);
        plan->doc = doc;
    }
    ingest_campaign_classify(cfg, env, msg, plan);
    if (plan->verdict == INGEST_SKIP_CAMPAIGN && plan->doc) {
        json_decref(plan->doc);
        plan->doc = NULL;
    }
    json_decref(st.participants);
    json_decref(st.tokens);
    g_hash_table_destroy(st.seen);
    g_hash_table_destroy(st.external);
    g_hash_table_destroy(st.domains);
    g_hash_table_destroy(st.token_seen);
    return plan;
}

void ingest_plan_free(ingest_plan **planp)
{
    ingest_plan *p = *planp;
    if (!p)
        return;
    json_decref(p->doc);
    json_decref(p->feedback);
    g_free(p);
    *planp = NULL;
}

void ingest_result_clear(ingest_result *r)
{
    g_free(r->links);
    g_free(r->tokens_ignored);
    memset(r, 0, sizeof(*r));
}

/* A one-dimensional array parameter in PostgreSQL's binary format: ndim,
   a has-nulls flag, the element type, the length and lower bound of the
   dimension, then each element as a 4-byte length and its bytes, all in
   network order. Sent as is: no element is escaped here or parsed there. */
typedef struct {
    GByteArray *buf;
    guint32 n;
} pg_array;

static void pg_array_init(pg_array *a, guint32 elem_oid)
{
    const guint32 head[] = {g_htonl(1), 0, g_htonl(elem_oid), 0, g_htonl(1)};
    a->buf = g_byte_array_new();
    a->n = 0;
    g_byte_array_append(a->buf, (const guint8 *)head, sizeof(head));
}

/* Appends one element; len is bounded by the parser limits (text_bytes,
   attachment_store_bytes), far below 2 GiB. */
static void pg_array_add(pg_array *a, const void *data, gsize len)
{
    guint32 nlen = g_htonl((guint32)len);
    g_byte_array_append(a->buf, (const guint8 *)&nlen, sizeof(nlen));
    g_byte_array_append(a->buf, data, (guint)len);
    guint32 count = g_htonl(++a->n);
    memcpy(a->buf->data + 3 * sizeof(guint32), &count, sizeof(count));
}

static void pg_array_clear(pg_array *a)
{
    if (a->buf)
        g_byte_array_free(a->buf, TRUE);
    a->buf = NULL;
}

/* Appends the attachment contents of msg in the order the plan numbered
   them ("blob" in each attachment). */
static void add_blobs(pg_array *blobs, const crm_message *msg)
{
    for (guint i = 0; i < msg->attachments->len; i++) {
        const message_attachment *a = g_ptr_array_index(msg->attachments, i);
        if (!a->content)
            continue;
        gsize len = 0;
        const char *data = g_bytes_get_data(a->content, &len);
        pg_array_add(blobs, data ? data : "", data ? len : 0);
    }
}

static void result_from_json(json_t *o, ingest_result *r)
{
    memset(r, 0, sizeof(*r));
    r->is_new = json_is_true(json_object_get(o, "new"));
    r->new_links = (int)json_integer_value(json_object_get(o, "new_links"));
    r->rethreaded = (int)json_integer_value(json_object_get(o, "rethreaded"));
    const char *why = json_string_value(json_object_get(o, "tokens_ignored"));
    r->tokens_ignored = why ? g_strdup(why) : NULL;
    GString *s = g_string_new(NULL);
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(o, "links"), i, l)
    {
        json_int_t n = json_integer_value(json_object_get(l, "n"));
        g_string_append_printf(s, "%s%s/%s", i ? "," : "",
                               json_string_value(json_object_get(l, "type")),
                               json_string_value(json_object_get(l, "reason")));
        if (n > 1)
            g_string_append_printf(s, "*%" JSON_INTEGER_FORMAT, n);
    }
    r->links = g_string_free(s, FALSE);
}

static json_t *parse_json_result(PGresult *res, char **error_r)
{
    json_error_t jerr;
    if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
        *error_r = g_strdup("crm_capture returned no row");
        return NULL;
    }
    json_t *o = json_loads(PQgetvalue(res, 0, 0), 0, &jerr);
    if (!o)
        *error_r =
            g_strdup_printf("crm_capture returned bad JSON: %s", jerr.text);
    return o;
}

crm_result ingest_store(db_conn *db, guint timeout_ms, const ingest_plan *plan,
                        const crm_message *msg, ingest_result *result_r,
                        char **error_r)
{
    memset(result_r, 0, sizeof(*result_r));
    if (plan->verdict != INGEST_LOG || !plan->doc)
        return CRM_OK;
    g_autofree char *doc = json_dumps(plan->doc, JSON_COMPACT);
    pg_array blobs;
    pg_array_init(&blobs, PG_BYTEA_OID);
    add_blobs(&blobs, msg);
    const char *p[] = {doc, msg->text,
                       blobs.n ? (const char *)blobs.buf->data : NULL};
    const int lens[] = {0, 0, (int)blobs.buf->len};
    const int fmts[] = {0, 0, 1};
    PGresult *res = NULL;
    crm_result r = db_query(db, timeout_ms,
                            "SELECT crm_capture($1::jsonb, $2::text, "
                            "$3::bytea[])",
                            3, p, lens, fmts, &res, error_r);
    pg_array_clear(&blobs);
    if (r)
        return r;
    json_t *o = parse_json_result(res, error_r);
    PQclear(res);
    if (!o)
        return CRM_ERR_DB;
    result_from_json(o, result_r);
    json_decref(o);
    return CRM_OK;
}

crm_result ingest_store_batch(db_conn *db, guint timeout_ms,
                              ingest_plan *const *plans,
                              const crm_message *const *msgs, guint n,
                              bool want_links, ingest_result *results,
                              char **errors_r, char **error_r)
{
    crm_result r;
    json_t *docs = json_array();
    /* bodies[i] is the text of docs[i]; blobs the attachment contents of
       all documents in order, docs[i]->'blobs' of them docs[i]'s. */
    pg_array bodies, blobs;
    pg_array_init(&bodies, PG_TEXT_OID);
    pg_array_init(&blobs, PG_BYTEA_OID);
    for (guint i = 0; i < n; i++) {
        memset(&results[i], 0, sizeof(results[i]));
        errors_r[i] = NULL;
        if (plans[i]->verdict != INGEST_LOG || !plans[i]->doc)
            continue;
        json_object_set_new(plans[i]->doc, "want_links",
                            json_boolean(want_links));
        json_array_append(docs, plans[i]->doc);
        pg_array_add(&bodies, msgs[i]->text, strlen(msgs[i]->text));
        add_blobs(&blobs, msgs[i]);
    }
    if (json_array_size(docs) == 0) {
        json_decref(docs);
        pg_array_clear(&bodies);
        pg_array_clear(&blobs);
        return CRM_OK;
    }
    char *text = json_dumps(docs, JSON_COMPACT);
    json_decref(docs);
    const char *p[] = {text, (const char *)bodies.buf->data,
                       blobs.n ? (const char *)blobs.buf->data : NULL};
    const int lens[] = {0, (int)bodies.buf->len, (int)blobs.buf->len};
    const int fmts[] = {0, 1, 1};
    PGresult *res = NULL;
    /* Fast path first: one plain transaction. If any document fails, the
       whole batch rolled back; store it again with one subtransaction per
       document, so the failing ones are reported and the others kept. */
    r = db_query(db, timeout_ms,
                 "SELECT * FROM crm_capture_batch($1::jsonb, $2::text[], "
                 "$3::bytea[], false)",
                 3, p, lens, fmts, &res, error_r);
    if (r == CRM_ERR_DB) {
        g_free(*error_r);
        *error_r = NULL;
        r = db_query(db, timeout_ms,
                     "SELECT * FROM crm_capture_batch($1::jsonb, $2::text[], "
                     "$3::bytea[], true)",
                     3, p, lens, fmts, &res, error_r);
    }
    free(text);
    pg_array_clear(&bodies);
    pg_array_clear(&blobs);
    if (r)
        return r;
    int k = 0;
    for (guint i = 0; i < n; i++) {
        if (plans[i]->verdict != INGEST_LOG || !plans[i]->doc)
            continue;
        json_t *o = k < PQntuples(res)
                        ? json_loads(PQgetvalue(res, k, 0), 0, NULL)
                        : NULL;
        k++;
        if (!o) {
            errors_r[i] = g_strdup("missing batch result");
        } else if (json_object_get(o, "error")) {
            errors_r[i] =
                g_strdup(json_string_value(json_object_get(o, "error")));
        } else {
            result_from_json(o, &results[i]);
        }
        json_decref(o);
    }
    PQclear(res);
    return CRM_OK;
}
