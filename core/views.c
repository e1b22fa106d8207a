/*
 * views.c - the viewer-scoped JSON of record pages, timelines, messages
 * and search, and the record pages' two edits (views.h).
 *
 * Each answer is one SQL statement that builds the whole JSON value, so a
 * page costs one round trip per part. Every statement takes $1 = viewer id
 * and $2 = viewer role and filters with the rules of sql/0007, 0008 and
 * 0010; record types are checked against a fixed list and select one of
 * the compiled-in statements below: no SQL is ever built from data.
 * Limits: timelines and related lists are bounded (the caller's limit,
 * 100 related records), search results per kind, search text length
 * (VIEWS_SEARCH_MAX).
 */
#include "crmgate/views.h"

#include <jansson.h>
#include <string.h>

/* Each record type and the first segment of its page's path. */
static const char *const record_types[][2] = {
    {"contact", "contacts"}, {"lead", "leads"},       {"company", "companies"},
    {"deal", "deals"},       {"request", "requests"},
};

bool views_record_type(const char *type)
{
    if (!type)
        return false;
    return views_type_path(type) != NULL;
}

const char *views_type_path(const char *type)
{
    for (gsize i = 0; type && i < G_N_ELEMENTS(record_types); i++)
        if (strcmp(type, record_types[i][0]) == 0)
            return record_types[i][1];
    return NULL;
}

crm_result views_query(const views_viewer *v, const char *sql, int n,
                       const char *const *values, json_t **out_r,
                       char **error_r)
{
    g_autofree char *vid = g_strdup_printf("%" G_GINT64_FORMAT, v->id);
    const char *all[10] = {vid, v->role ? v->role : ""};
    g_assert(n >= 0 && n <= 8);
    for (int i = 0; i < n; i++)
        all[i + 2] = values[i];
    return db_query_json(v->db, v->timeout_ms, sql, n + 2, all, NULL, NULL,
                         out_r, error_r);
}

/* --- records ------------------------------------------------------------ */

/* clang-format off */
#define VIS(type, a)                                                           \
    "crm_visible($1::bigint, $2::text, '" type "', " a ".owner_id, " a         \
    ".co_owner_id)"

/* owner and co_owner of the row aliased r */
#define OWNERS                                                                 \
    "'owner', (SELECT jsonb_build_object('id', u.id, 'name', u.name, "         \
    "'email', u.email) FROM users u WHERE u.id = r.owner_id), "                \
    "'co_owner', (SELECT jsonb_build_object('id', u.id, 'name', u.name, "      \
    "'email', u.email) FROM users u WHERE u.id = r.co_owner_id)"

/* A reference {id, name} to a visible record of table t (type ty) whose
   id is the expression col. */
#define REF(key, ty, t, col)                                                   \
    "'" key "', (SELECT jsonb_build_object('id', x.id, 'name', "               \
    "crm_record_label('" ty "', x.id)) FROM " t " x WHERE x.id = " col         \
    " AND " VIS(ty, "x") ")"

#define PERSON(a)                                                              \
    "coalesce(nullif(btrim(" a ".first_name || ' ' || " a ".last_name), ''), " \
    a ".email, '#' || " a ".id)"

/* Lists of visible related records, where cond holds (x is the row). */
#define DEALS(cond)                                                            \
    "'deals', (SELECT coalesce(jsonb_agg(jsonb_build_object('id', x.id, "      \
    "'name', x.name, 'ticket', x.ticket, 'stage', s.name, 'status', "          \
    "x.status, 'amount', x.amount, 'currency', x.currency) ORDER BY "          \
    "x.created_at DESC, x.id DESC), '[]') FROM (SELECT * FROM deals x WHERE "  \
    cond " AND " VIS("deal", "x") " ORDER BY x.created_at DESC, x.id DESC "    \
    "LIMIT 100) x LEFT JOIN stages s ON s.id = x.stage_id)"
#define CONTACTS(cond)                                                         \
    "'contacts', (SELECT coalesce(jsonb_agg(jsonb_build_object('id', x.id, "   \
    "'name', " PERSON("x") ", 'email', x.email, 'title', x.title) ORDER BY "   \
    "x.id), '[]') FROM (SELECT * FROM contacts x WHERE " cond " AND "          \
    VIS("contact", "x") " ORDER BY x.id LIMIT 100) x)"
#define LEADS(cond)                                                            \
    "'leads', (SELECT coalesce(jsonb_agg(jsonb_build_object('id', x.id, "      \
    "'name', " PERSON("x") ", 'email', x.email) ORDER BY x.id), '[]') FROM "   \
    "(SELECT * FROM leads x WHERE " cond " AND " VIS("lead", "x")              \
    " ORDER BY x.id LIMIT 100) x)"
#define REQUESTS(cond)                                                         \
    "'requests', (SELECT coalesce(jsonb_agg(jsonb_build_object('id', x.id, "   \
    "'name', crm_record_label('request', x.id), 'ticket', x.ticket, "          \
    "'pending', x.pending) ORDER BY x.id DESC), '[]') FROM (SELECT * FROM "    \
    "requests x WHERE " cond " AND " VIS("request", "x")                       \
    " ORDER BY x.id DESC LIMIT 100) x)"

#define HIDE "- 'email_norm' - 'secondary_email_norm' - 'phone_last9' "

static const char sql_contact[] =
    "SELECT to_jsonb(r) " HIDE "|| jsonb_build_object('type', 'contact', "
    "'name', " PERSON("r") ", " OWNERS ", "
    REF("company", "company", "companies", "r.company_id") ", "
    DEALS("x.contact_id = r.id") ", "
    LEADS("x.contact_id = r.id") ", "
    REQUESTS("x.contact_id = r.id") ") "
    "FROM contacts r WHERE r.id = $3::bigint AND " VIS("contact", "r");

static const char sql_lead[] =
    "SELECT to_jsonb(r) " HIDE "|| jsonb_build_object('type', 'lead', "
    "'name', " PERSON("r") ", " OWNERS ", "
    REF("contact", "contact", "contacts", "r.contact_id") ", "
    REF("company", "company", "companies", "r.company_id") ", "
    REQUESTS("x.lead_id = r.id") ", "
    DEALS("x.lead_id = r.id") ") "
    "FROM leads r WHERE r.id = $3::bigint AND " VIS("lead", "r");

static const char sql_company[] =
    "SELECT to_jsonb(r) || jsonb_build_object('type', 'company', "
    "'domains', (SELECT coalesce(jsonb_agg(d.domain ORDER BY d.domain), "
    "'[]') FROM company_domains d WHERE d.company_id = r.id), "
    OWNERS ", "
    CONTACTS("x.company_id = r.id") ", "
    DEALS("x.company_id = r.id") ", "
    REQUESTS("x.company_id = r.id") ") "
    "FROM companies r WHERE r.id = $3::bigint AND " VIS("company", "r");

static const char sql_deal[] =
    "SELECT to_jsonb(r) || jsonb_build_object('type', 'deal', "
    "'stage', (SELECT jsonb_build_object('id', s.id, 'name', s.name) FROM "
    "stages s WHERE s.id = r.stage_id), "
    "'closing_reason', (SELECT jsonb_build_object('id', c.id, 'name', "
    "c.name) FROM closing_reasons c WHERE c.id = r.closing_reason_id), "
    OWNERS ", "
    REF("contact", "contact", "contacts", "r.contact_id") ", "
    REF("company", "company", "companies", "r.company_id") ", "
    REF("lead", "lead", "leads", "r.lead_id") ", "
    REF("request", "request", "requests", "r.request_id") ", "
    "'choices', jsonb_build_object("
    "'stages', (SELECT jsonb_agg(jsonb_build_object('id', s.id, 'name', "
    "s.name) ORDER BY s.position, s.id) FROM stages s), "
    "'closing_reasons', (SELECT jsonb_agg(jsonb_build_object('id', c.id, "
    "'name', c.name, 'is_success', c.is_success) ORDER BY c.id) FROM "
    "closing_reasons c))) "
    "FROM deals r WHERE r.id = $3::bigint AND " VIS("deal", "r");

static const char sql_request[] =
    "SELECT to_jsonb(r) - 'email_norm' || jsonb_build_object('type', "
    "'request', 'name', crm_record_label('request', r.id), " OWNERS ", "
    REF("contact", "contact", "contacts", "r.contact_id") ", "
    REF("lead", "lead", "leads", "r.lead_id") ", "
    REF("company", "company", "companies", "r.company_id") ", "
    REF("deal", "deal", "deals", "r.deal_id") ") "
    "FROM requests r WHERE r.id = $3::bigint AND " VIS("request", "r");
/* clang-format on */

crm_result views_record(const views_viewer *v, const char *type, gint64 id,
                        json_t **out_r, char **error_r)
{
    const char *sql = NULL;
    *out_r = NULL;
    if (!type)
        sql = NULL;
    else if (strcmp(type, "contact") == 0)
        sql = sql_contact;
    else if (strcmp(type, "lead") == 0)
        sql = sql_lead;
    else if (strcmp(type, "company") == 0)
        sql = sql_company;
    else if (strcmp(type, "deal") == 0)
        sql = sql_deal;
    else if (strcmp(type, "request") == 0)
        sql = sql_request;
    if (!sql) {
        *error_r = g_strdup("unknown record type");
        return CRM_ERR_USAGE;
    }
    g_autofree char *ids = g_strdup_printf("%" G_GINT64_FORMAT, id);
    const char *p[] = {ids};
    crm_result r = views_query(v, sql, 1, p, out_r, error_r);
    if (r == CRM_OK && !*out_r) {
        *error_r = g_strdup("no such record");
        return CRM_ERR_NOTFOUND;
    }
    return r;
}

/* --- timeline ----------------------------------------------------------- */

/* clang-format off */
/* Addresses of message m with role ro, "Name <addr>, ..." */
#define ADDRS(ro)                                                              \
    "(SELECT string_agg(CASE WHEN coalesce(p.name, '') = '' THEN p.address "   \
    "ELSE p.name || ' <' || p.address || '>' END, ', ' ORDER BY "              \
    "p.address_norm) FROM message_participants p WHERE p.message_id = m.id "   \
    "AND p.role = '" ro "')"

static const char sql_timeline[] =
    "WITH rec AS (SELECT 1 WHERE crm_record_visible($1::bigint, $2::text, "
    "$3::text, $4::bigint)), "
    "items AS ("
    " (SELECT coalesce(m.sent_at, m.captured_at) AS at, m.id AS ord, "
    "  jsonb_build_object('kind', 'message', 'at', coalesce(m.sent_at, "
    "  m.captured_at), 'id', m.id, 'subject', m.subject, 'direction', "
    "  m.direction, 'reason', l.reason, 'thread_id', m.thread_id, "
    "  'from', " ADDRS("from") ", 'to', " ADDRS("to") ", 'cc', " ADDRS("cc")
    ",  'snippet', m.snippet, 'attachments', (SELECT count(*) FROM "
    "  message_attachments a WHERE a.message_id = m.id)) AS j"
    "  FROM rec, message_links l JOIN messages m ON m.id = l.message_id"
    "  WHERE l.record_type = $3::text AND l.record_id = $4::bigint"
    "  ORDER BY coalesce(m.sent_at, m.captured_at) DESC, m.id DESC"
    "  LIMIT $5::integer + 1)"
    " UNION ALL"
    " (SELECT t.created_at, t.id, jsonb_build_object('kind', 'task', 'at', "
    "  t.created_at, 'id', t.id, 'title', t.title, 'stage', t.stage, "
    "  'priority', t.priority, 'due_date', t.due_date, 'closed_at', "
    "  t.closed_at, 'owner', u.name)"
    "  FROM rec, tasks t LEFT JOIN users u ON u.id = t.owner_id"
    "  WHERE t.record_type = $3::text AND t.record_id = $4::bigint"
    "    AND crm_task_visible($1::bigint, $2::text, t.id)"
    "  ORDER BY t.created_at DESC, t.id DESC LIMIT $5::integer + 1)"
    " UNION ALL"
    " (SELECT h.changed_at, h.id, jsonb_build_object('kind', 'stage', 'at', "
    "  h.changed_at, 'id', h.id, 'stage', s.name, 'stage_id', h.stage_id, "
    "  'status', h.status, 'user_id', h.user_id, 'user', u.name)"
    "  FROM rec, deal_stage_history h LEFT JOIN stages s ON s.id = h.stage_id"
    "  LEFT JOIN users u ON u.id = h.user_id"
    "  WHERE $3::text = 'deal' AND h.deal_id = $4::bigint"
    "  ORDER BY h.changed_at DESC, h.id DESC LIMIT $5::integer + 1)"
    /* campaign mail to a contact or lead (sql/0012's ledger): sent and
       what came back; the campaign links only for those who see it */
    " UNION ALL"
    " (SELECT e.at, r.id, jsonb_build_object('kind', 'campaign', 'at', "
    "  e.at, 'id', r.id, 'event', e.ev, 'campaign_id', c.id, 'campaign', "
    "  c.name, 'reason', CASE WHEN e.ev = 'bounced' THEN r.bounce_reason "
    "  END, 'linked', crm_campaign_visible($1::bigint, $2::text, "
    "  c.owner_id))"
    "  FROM rec, campaign_recipients r JOIN campaigns c ON c.id = "
    "  r.campaign_id CROSS JOIN LATERAL (VALUES ('sent', r.sent_at), "
    "  ('bounced', r.bounced_at), ('replied', r.replied_at), "
    "  ('unsubscribed', r.unsubscribed_at)) e(ev, at)"
    "  WHERE (r.contact_id = CASE WHEN $3::text = 'contact' THEN "
    "  $4::bigint END OR r.lead_id = CASE WHEN $3::text = 'lead' THEN "
    "  $4::bigint END) AND e.at IS NOT NULL"
    "  ORDER BY e.at DESC, r.id DESC LIMIT $5::integer + 1)"
    /* calls (sql/0015) of a contact, lead or company, and the call a
       request was made for; the recording links only once fetched */
    " UNION ALL"
    " (SELECT coalesce(c.started_at, c.created_at), c.id, "
    "  jsonb_build_object('kind', 'call', 'at', coalesce(c.started_at, "
    "  c.created_at), 'id', c.id, 'direction', c.direction, 'state', "
    "  c.state, 'disposition', c.disposition, 'remote', "
    "  coalesce(c.remote_e164, c.remote_number), 'extension', c.extension, "
    "  'user_id', c.user_id, 'user', coalesce(nullif(u.name, ''), u.email), "
    "  'started_at', c.started_at, 'answered_at', c.answered_at, "
    "  'ended_at', c.ended_at, 'duration', c.duration_s, 'lead_created', "
    "  c.lead_created, 'request_id', c.request_id, 'recording', CASE WHEN "
    "  c.recording_state = 'fetched' THEN '/calls/' || c.id || "
    "  '/recording' END)"
    "  FROM rec, calls c LEFT JOIN users u ON u.id = c.user_id"
    "  WHERE (c.record_type = $3::text AND c.record_id = $4::bigint)"
    "     OR ($3::text = 'request' AND c.request_id = $4::bigint)"
    "  ORDER BY coalesce(c.started_at, c.created_at) DESC, c.id DESC"
    "  LIMIT $5::integer + 1)), "
    "top AS (SELECT * FROM items ORDER BY at DESC, ord DESC "
    " LIMIT $5::integer + 1) "
    "SELECT jsonb_build_object('record', $3::text || ':' || $4::bigint, "
    " 'items', coalesce((SELECT jsonb_agg(j ORDER BY at DESC, ord DESC) FROM "
    " (SELECT * FROM top ORDER BY at DESC, ord DESC LIMIT $5::integer) x), "
    " '[]'), 'truncated', (SELECT count(*) FROM top) > $5::integer) "
    "FROM rec";
/* clang-format on */

crm_result views_timeline(const views_viewer *v, const char *type, gint64 id,
                          guint limit, json_t **out_r, char **error_r)
{
    *out_r = NULL;
    if (!views_record_type(type)) {
        *error_r = g_strdup("unknown record type");
        return CRM_ERR_USAGE;
    }
    g_autofree char *ids = g_strdup_printf("%" G_GINT64_FORMAT, id);
    g_autofree char *lim = g_strdup_printf("%u", limit ? limit : 1);
    const char *p[] = {type, ids, lim};
    crm_result r = views_query(v, sql_timeline, 3, p, out_r, error_r);
    if (r == CRM_OK && !*out_r) {
        *error_r = g_strdup("no such record");
        return CRM_ERR_NOTFOUND;
    }
    return r;
}

/* --- messages ----------------------------------------------------------- */

/* clang-format off */
static const char sql_message[] =
    "SELECT jsonb_build_object('id', m.id, 'message_id', m.message_id, "
    "'subject', m.subject, 'date', m.sent_at, 'captured_at', m.captured_at, "
    "'direction', m.direction, 'text', m.text_body, 'text_truncated', "
    "m.text_truncated, 'size', m.size, 'thread_id', m.thread_id, "
    "'warnings', m.warnings, "
    "'participants', (SELECT coalesce(jsonb_agg(jsonb_build_object('role', "
    " p.role, 'address', p.address, 'name', p.name) ORDER BY "
    " array_position(ARRAY['from','sender','reply_to','to','cc','bcc',"
    " 'envelope_from','envelope_rcpt'], p.role), p.address_norm), '[]') "
    " FROM message_participants p WHERE p.message_id = m.id), "
    "'links', (SELECT coalesce(jsonb_agg(jsonb_build_object('type', "
    " l.record_type, 'id', l.record_id, 'reason', l.reason, 'label', "
    " crm_record_label(l.record_type, l.record_id)) ORDER BY l.created_at, "
    " l.record_type, l.record_id), '[]') FROM message_links l WHERE "
    " l.message_id = m.id AND crm_record_visible($1::bigint, $2::text, "
    " l.record_type, l.record_id)), "
    "'attachments', (SELECT coalesce(jsonb_agg(jsonb_build_object("
    " 'position', a.position, 'filename', a.filename, 'content_type', "
    " a.content_type, 'size', a.size, 'sha256', a.sha256, 'stored', "
    " b.content IS NOT NULL) ORDER BY a.position), '[]') FROM "
    " message_attachments a LEFT JOIN attachment_blobs b ON b.sha256 = "
    " a.sha256 WHERE a.message_id = m.id), "
    "'thread', (SELECT coalesce(jsonb_agg(jsonb_build_object('id', t.id, "
    " 'subject', t.subject, 'at', t.at, 'direction', t.direction) ORDER BY "
    " t.at, t.id), '[]') FROM (SELECT t.id, t.subject, t.direction, "
    " coalesce(t.sent_at, t.captured_at) AS at FROM messages t WHERE "
    " t.thread_id = m.thread_id AND t.id <> m.id AND "
    " crm_message_visible($1::bigint, $2::text, t.id) ORDER BY "
    " coalesce(t.sent_at, t.captured_at), t.id LIMIT 50) t)) "
    "FROM messages m WHERE m.id = $3::bigint AND "
    "crm_message_visible($1::bigint, $2::text, m.id)";
/* clang-format on */

crm_result views_message(const views_viewer *v, gint64 id, json_t **out_r,
                         char **error_r)
{
    g_autofree char *ids = g_strdup_printf("%" G_GINT64_FORMAT, id);
    const char *p[] = {ids};
    crm_result r = views_query(v, sql_message, 1, p, out_r, error_r);
    if (r == CRM_OK && !*out_r) {
        *error_r = g_strdup("no such message");
        return CRM_ERR_NOTFOUND;
    }
    return r;
}

crm_result views_attachment(const views_viewer *v, gint64 id, gint64 position,
                            GBytes **content_r, char **filename_r,
                            char **error_r)
{
    *content_r = NULL;
    *filename_r = NULL;
    g_autofree char *vid = g_strdup_printf("%" G_GINT64_FORMAT, v->id);
    g_autofree char *ids = g_strdup_printf("%" G_GINT64_FORMAT, id);
    g_autofree char *pos = g_strdup_printf("%" G_GINT64_FORMAT, position);
    const char *p[] = {vid, v->role ? v->role : "", ids, pos};
    /* the bytes in binary: no hex doubling of up to the stored limit */
    return db_query_blob(
        v->db, v->timeout_ms,
        "SELECT coalesce(a.filename, ''), b.content FROM message_attachments "
        "a JOIN attachment_blobs b ON b.sha256 = a.sha256 WHERE "
        "a.message_id = $3::bigint AND a.position = $4::integer AND "
        "b.content IS NOT NULL AND crm_message_visible($1::bigint, $2::text, "
        "$3::bigint)",
        4, p, "attachment", filename_r, content_r, error_r);
}

char *views_safe_filename(const char *name)
{
    const char *base = name ? name : "";
    const char *slash = strrchr(base, '/');
    if (slash)
        base = slash + 1;
    const char *bslash = strrchr(base, '\\');
    if (bslash)
        base = bslash + 1;
    GString *out = g_string_new(NULL);
    for (const char *c = base; *c && out->len < 100; c++) {
        unsigned char ch = (unsigned char)*c;
        if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\'' || ch == ';' ||
            ch == '%' || ch == '\\')
            g_string_append_c(out, '_');
        else
            g_string_append_c(out, (char)ch);
    }
    /* no hidden or parent names */
    while (out->len && (out->str[0] == '.' || out->str[0] == ' '))
        g_string_erase(out, 0, 1);
    if (out->len == 0)
        g_string_assign(out, "attachment");
    return g_string_free(out, FALSE);
}

/* --- search ------------------------------------------------------------- */

/* clang-format off */
/* the search text as a LIKE pattern matching anywhere, lower case */
#define PAT                                                                    \
    "('%' || replace(replace(replace(lower($3::text), '\\', '\\\\'), '%', "    \
    "'\\%'), '_', '\\_') || '%')"
/* the last nine digits of the search text, when it has nine or more */
#define LAST9                                                                  \
    "(CASE WHEN length(regexp_replace($3::text, '[^0-9]', '', 'g')) >= 9 "     \
    "THEN right(regexp_replace($3::text, '[^0-9]', '', 'g'), 9) END)"
/* the ticket of "ticket:XXXX", else NULL */
#define TICKET                                                                 \
    "(CASE WHEN lower($3::text) LIKE 'ticket:%' THEN btrim(substr($3::text, "  \
    "8)) END)"
#define NOTICKET "lower($3::text) NOT LIKE 'ticket:%'"

static const char sql_search[] =
    "WITH r AS ("
    " (SELECT 1 AS k, 'contact' AS type, x.id, " PERSON("x") " AS label, "
    "  concat_ws(' ', x.email, x.phone) AS detail FROM contacts x WHERE "
    "  x.id IN (SELECT id FROM contacts WHERE " NOTICKET " AND "
    "   lower(first_name || ' ' || last_name) LIKE " PAT
    "   UNION SELECT id FROM contacts WHERE " NOTICKET " AND lower(email_norm) LIKE "
    PAT "   UNION SELECT id FROM contacts WHERE phone_last9 = " LAST9 ")"
    "  AND " VIS("contact", "x") " ORDER BY x.id DESC LIMIT $4::integer)"
    " UNION ALL"
    " (SELECT 2, 'lead', x.id, " PERSON("x") ", concat_ws(' ', x.email, "
    "  x.company_name, x.phone) FROM leads x WHERE x.id IN (SELECT id FROM "
    "  leads WHERE " NOTICKET " AND lower(first_name || ' ' || last_name) "
    "  LIKE " PAT " UNION SELECT id FROM leads WHERE " NOTICKET " AND "
    "  lower(email_norm) LIKE " PAT " UNION SELECT id FROM leads WHERE "
    "  phone_last9 = " LAST9 ") AND " VIS("lead", "x")
    "  ORDER BY x.id DESC LIMIT $4::integer)"
    " UNION ALL"
    " (SELECT 3, 'company', x.id, x.name, (SELECT string_agg(d.domain, ' ' "
    "  ORDER BY d.domain) FROM company_domains d WHERE d.company_id = x.id) "
    "  FROM companies x WHERE x.id IN (SELECT id FROM companies WHERE "
    NOTICKET " AND lower(name) LIKE " PAT " UNION SELECT company_id FROM "
    "  company_domains WHERE " NOTICKET " AND lower(domain) LIKE " PAT ") AND "
    VIS("company", "x") " ORDER BY x.id DESC LIMIT $4::integer)"
    " UNION ALL"
    " (SELECT 4, 'deal', x.id, x.name, concat_ws(' ', 'ticket ' || "
    "  x.ticket, x.status) FROM deals x WHERE x.id IN (SELECT id FROM deals "
    "  WHERE " NOTICKET " AND lower(name) LIKE " PAT " UNION SELECT id FROM "
    "  deals WHERE ticket = coalesce(" TICKET ", btrim($3::text))) AND "
    VIS("deal", "x") " ORDER BY x.id DESC LIMIT $4::integer)"
    " UNION ALL"
    " (SELECT 5, 'request', x.id, crm_record_label('request', x.id), "
    "  concat_ws(' ', nullif(btrim(x.first_name || ' ' || x.last_name), ''), "
    "  x.email) FROM requests x WHERE x.id IN (SELECT id FROM requests "
    "  WHERE " NOTICKET " AND lower(subject || ' ' || first_name || ' ' || "
    "  last_name) LIKE " PAT " UNION SELECT id FROM requests WHERE " NOTICKET
    "  AND lower(email_norm) LIKE " PAT " UNION SELECT id FROM requests WHERE "
    "  ticket = coalesce(" TICKET ", btrim($3::text))) AND "
    VIS("request", "x") " ORDER BY x.id DESC LIMIT $4::integer)) "
    "SELECT jsonb_build_object('query', $3::text, 'results', "
    "coalesce(jsonb_agg(jsonb_build_object('type', type, 'id', id, 'label', "
    "label, 'detail', detail) ORDER BY k, id DESC), '[]')) FROM r";
/* clang-format on */

crm_result views_search(const views_viewer *v, const char *q, guint per_kind,
                        json_t **out_r, char **error_r)
{
    *out_r = NULL;
    if (!q)
        q = "";
    if (!g_utf8_validate(q, -1, NULL)) {
        *error_r = g_strdup("the search text is not UTF-8");
        return CRM_ERR_PARSE;
    }
    if (g_utf8_strlen(q, -1) > VIEWS_SEARCH_MAX) {
        *error_r = g_strdup_printf("the search text is longer than %d "
                                   "characters",
                                   VIEWS_SEARCH_MAX);
        return CRM_ERR_TOOBIG;
    }
    g_autofree char *t = g_strstrip(g_strdup(q));
    if (g_utf8_strlen(t, -1) < VIEWS_SEARCH_MIN) {
        *out_r = json_pack("{s:s,s:[]}", "query", t, "results");
        return CRM_OK;
    }
    g_autofree char *lim = g_strdup_printf("%u", per_kind ? per_kind : 1);
    const char *p[] = {t, lim};
    return views_query(v, sql_search, 2, p, out_r, error_r);
}

/* --- edits -------------------------------------------------------------- */

/* Per type: set the owner of row $3 to $4 (the checks are done before). */
static const char *owner_update(const char *type)
{
    if (strcmp(type, "contact") == 0)
        return "UPDATE contacts SET owner_id = $2::bigint, updated_at = now() "
               "WHERE id = $1::bigint";
    if (strcmp(type, "lead") == 0)
        return "UPDATE leads SET owner_id = $2::bigint, updated_at = now() "
               "WHERE id = $1::bigint";
    if (strcmp(type, "company") == 0)
        return "UPDATE companies SET owner_id = $2::bigint, updated_at = "
               "now() WHERE id = $1::bigint";
    if (strcmp(type, "deal") == 0)
        return "UPDATE deals SET owner_id = $2::bigint WHERE id = $1::bigint";
    if (strcmp(type, "request") == 0)
        return "UPDATE requests SET owner_id = $2::bigint WHERE id = "
               "$1::bigint";
    return NULL;
}

crm_result views_set_owner(const views_viewer *v, const char *type, gint64 id,
                           const char *owner, bool *forbidden_r, char **error_r)
{
    *forbidden_r = false;
    const char *upd = views_record_type(type) ? owner_update(type) : NULL;
    if (!upd) {
        *error_r = g_strdup("unknown record type");
        return CRM_ERR_USAGE;
    }
    g_autofree char *o = g_strstrip(g_strdup(owner ? owner : ""));
    if (!*o || strlen(o) > 320) {
        *error_r = g_strdup("give the new owner's address or user id");
        return CRM_ERR_USAGE;
    }
    g_autofree char *ids = g_strdup_printf("%" G_GINT64_FORMAT, id);
    const char *p[] = {type, ids, o};
    json_t *chk = NULL;
    crm_result r = views_query(
        v,
        "SELECT jsonb_build_object('owner', o.owner_id, 'new_owner', "
        "(SELECT u.id FROM users u WHERE u.active AND CASE WHEN $5::text ~ "
        "'^[0-9]{1,18}$' THEN u.id = $5::text::bigint ELSE u.email_norm = "
        "lower($5::text) END)) FROM (SELECT owner_id FROM contacts WHERE "
        "$3::text = 'contact' AND id = $4::bigint UNION ALL SELECT owner_id "
        "FROM leads WHERE $3::text = 'lead' AND id = $4::bigint UNION ALL "
        "SELECT owner_id FROM companies WHERE $3::text = 'company' AND id = "
        "$4::bigint UNION ALL SELECT owner_id FROM deals WHERE $3::text = "
        "'deal' AND id = $4::bigint UNION ALL SELECT owner_id FROM requests "
        "WHERE $3::text = 'request' AND id = $4::bigint) o WHERE "
        "crm_record_visible($1::bigint, $2::text, $3::text, $4::bigint)",
        3, p, &chk, error_r);
    if (r)
        return r;
    if (!chk) {
        *error_r = g_strdup("no such record");
        return CRM_ERR_NOTFOUND;
    }
    json_t *cur = json_object_get(chk, "owner");
    json_t *neu = json_object_get(chk, "new_owner");
    bool boss = v->role && (strcmp(v->role, "chief") == 0 ||
                            strcmp(v->role, "admin") == 0);
    bool is_owner = json_is_integer(cur) && json_integer_value(cur) == v->id;
    if (!boss && !is_owner) {
        json_decref(chk);
        *forbidden_r = true;
        *error_r = g_strdup("only the owner, a chief or an admin may change "
                            "the owner");
        return CRM_ERR_USAGE;
    }
    if (!json_is_integer(neu)) {
        json_decref(chk);
        *error_r = g_strdup_printf("no active user '%s'", o);
        return CRM_ERR_USAGE;
    }
    g_autofree char *nid =
        g_strdup_printf("%" JSON_INTEGER_FORMAT, json_integer_value(neu));
    json_decref(chk);
    const char *up[] = {ids, nid};
    return db_exec(v->db, v->timeout_ms, upd, 2, up, error_r);
}

crm_result views_set_deal_stage(const views_viewer *v, gint64 id,
                                const char *stage, const char *status,
                                const char *reason, char **error_r)
{
    g_autofree char *ids = g_strdup_printf("%" G_GINT64_FORMAT, id);
    g_autofree char *st = g_strstrip(g_strdup(stage ? stage : ""));
    g_autofree char *stt = g_strstrip(g_strdup(status ? status : ""));
    g_autofree char *rs = g_strstrip(g_strdup(reason ? reason : ""));
    if (strlen(st) > 200 || strlen(rs) > 200) {
        *error_r = g_strdup("stage or closing reason too long");
        return CRM_ERR_USAGE;
    }
    if (*stt && strcmp(stt, "open") != 0 && strcmp(stt, "won") != 0 &&
        strcmp(stt, "lost") != 0) {
        *error_r = g_strdup("status must be open, won or lost");
        return CRM_ERR_USAGE;
    }
    /* Resolve and check everything first, as the viewer sees it. */
    const char *p[] = {ids, st, stt, rs};
    json_t *chk = NULL;
    crm_result r = views_query(
        v,
        "SELECT jsonb_build_object('stage_id', CASE WHEN $4::text = '' THEN "
        "d.stage_id ELSE (SELECT s.id FROM stages s WHERE CASE WHEN "
        "$4::text ~ '^[0-9]{1,18}$' THEN s.id = $4::text::bigint ELSE "
        "lower(s.name) = lower($4::text) END) END, 'status', "
        "coalesce(nullif($5::text, ''), d.status), 'reason_id', (SELECT c.id "
        "FROM closing_reasons c WHERE $6::text <> '' AND CASE WHEN $6::text ~ "
        "'^[0-9]{1,18}$' THEN c.id = $6::text::bigint ELSE lower(c.name) = "
        "lower($6::text) END)) FROM deals d WHERE d.id = $3::bigint AND " VIS(
            "deal", "d"),
        4, p, &chk, error_r);
    if (r)
        return r;
    if (!chk) {
        *error_r = g_strdup("no such deal");
        return CRM_ERR_NOTFOUND;
    }
    json_t *sid = json_object_get(chk, "stage_id");
    const char *newstatus = json_string_value(json_object_get(chk, "status"));
    json_t *rid = json_object_get(chk, "reason_id");
    g_autofree char *sids = NULL, *rids = NULL;
    g_autofree char *stat = g_strdup(newstatus ? newstatus : "open");
    bool closed = strcmp(stat, "open") != 0;
    if (*st && !json_is_integer(sid))
        r = CRM_ERR_USAGE, *error_r = g_strdup_printf("no stage '%s'", st);
    else if (*rs && !json_is_integer(rid))
        r = CRM_ERR_USAGE,
        *error_r = g_strdup_printf("no closing reason '%s'", rs);
    else if (closed && !json_is_integer(rid))
        r = CRM_ERR_USAGE,
        *error_r = g_strdup_printf("a closing reason is required when the "
                                   "deal is %s",
                                   stat);
    if (json_is_integer(sid))
        sids =
            g_strdup_printf("%" JSON_INTEGER_FORMAT, json_integer_value(sid));
    if (closed && json_is_integer(rid))
        rids =
            g_strdup_printf("%" JSON_INTEGER_FORMAT, json_integer_value(rid));
    json_decref(chk);
    if (r)
        return r;
    /* One statement: the acting user is set (local to this transaction)
       before the row changes, so the stage history trigger records it. */
    const char *u[] = {ids, sids, stat, rids};
    json_t *done = NULL;
    r = views_query(
        v,
        "WITH cfg AS (SELECT set_config('crmgate.user_id', "
        "$1::bigint::text, true) AS uid) "
        "UPDATE deals d SET stage_id = $4::bigint, status = $5::text, "
        "closing_reason_id = $6::bigint, closed_at = CASE WHEN "
        "$5::text = 'open' THEN NULL WHEN d.status = $5::text THEN "
        "coalesce(d.closed_at, now()) ELSE now() END FROM cfg WHERE "
        "cfg.uid IS NOT NULL AND d.id = $3::bigint AND " VIS(
            "deal", "d") " RETURNING to_jsonb(d.id)",
        4, u, &done, error_r);
    if (r)
        return r;
    if (!done) {
        *error_r = g_strdup("no such deal");
        return CRM_ERR_NOTFOUND;
    }
    json_decref(done);
    return CRM_OK;
}
