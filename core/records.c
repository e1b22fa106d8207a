/*
 * records.c - create and list CRM records; timelines.
 *
 * Each statement returns its row as JSON from PostgreSQL (to_jsonb), which
 * keeps the C side free of per-column plumbing and the output identical to
 * what is stored. Owners are given as addresses and resolved in SQL.
 */
#include "crmgate/records.h"

#include <csv.h>
#include <jansson.h>
#include <string.h>

#include "crmgate/addr.h"
#include "crmgate/pgarray.h"
#include "crmgate/phone.h"

crm_result records_query_json(db_conn *db, const char *sql, int n,
                              const char *const *values, json_t **out_r,
                              char **error_r)
{
    return db_query_json(db, 0, sql, n, values, NULL, NULL, out_r, error_r);
}

/* An id as a query parameter: decimal text, or NULL (SQL NULL) for 0. */
static char *id_param(gint64 id)
{
    return id ? g_strdup_printf("%" G_GINT64_FORMAT, id) : NULL;
}

/* Maps a unique violation to CRM_ERR_EXISTS with a readable message. */
static crm_result exists_or(db_conn *db, crm_result r, char **error_r,
                            const char *what)
{
    if (r == CRM_ERR_DB && strcmp(db_last_sqlstate(db), "23505") == 0) {
        g_free(*error_r);
        *error_r = g_strdup_printf("%s already exists", what);
        return CRM_ERR_EXISTS;
    }
    return r;
}

static crm_result need_address(const char *in, char **norm_r, char **error_r)
{
    *norm_r = in && *in ? addr_normalize(in) : NULL;
    if (in && *in && !*norm_r) {
        *error_r = g_strdup_printf("'%s' is not a valid address", in);
        return CRM_ERR_USAGE;
    }
    return CRM_OK;
}

crm_result records_user_add(db_conn *db, const records_user *u, json_t **rec_r,
                            char **error_r)
{
    g_autofree char *norm = NULL;
    crm_result r = need_address(u->email, &norm, error_r);
    if (r)
        return r;
    if (!norm) {
        *error_r = g_strdup("a user needs an email address");
        return CRM_ERR_USAGE;
    }
    const char *p[] = {u->email, norm, u->name ? u->name : "",
                       u->role ? u->role : "manager",
                       u->extension && *u->extension ? u->extension : NULL};
    r = records_query_json(
        db,
        "INSERT INTO users (email, email_norm, name, role, phone_ext) VALUES "
        "($1, $2, $3, $4, $5) RETURNING to_jsonb(users) - 'password_hash'",
        5, p, rec_r, error_r);
    if (r == CRM_ERR_DB && strcmp(db_last_sqlstate(db), "23514") == 0) {
        g_free(*error_r);
        *error_r = g_strdup("role must be manager, operator, chief or admin");
        return CRM_ERR_USAGE;
    }
    return exists_or(db, r, error_r, "a user with this address");
}

crm_result records_company_add(db_conn *db, const records_company *c,
                               json_t **rec_r, char **error_r)
{
    g_autofree char *owner = NULL;
    crm_result r = need_address(c->owner, &owner, error_r);
    if (r)
        return r;
    pgarray *arr = pgarray_new(PGARRAY_TEXT);
    for (guint i = 0; c->domains && c->domains[i]; i++) {
        g_autofree char *d = addr_normalize_domain(c->domains[i]);
        if (!d) {
            *error_r = g_strdup_printf("'%s' is not a domain", c->domains[i]);
            pgarray_free(&arr);
            return CRM_ERR_USAGE;
        }
        pgarray_append_text(arr, d);
    }
    int len[4] = {0};
    const int fmt[4] = {0, 0, 0, 1};
    const char *p[] = {c->name, c->website, owner, pgarray_bytes(arr, &len[3])};
    r = db_query_json(
        db, 0,
        "WITH c AS (INSERT INTO companies (name, website, owner_id) VALUES "
        "($1, $2, (SELECT id FROM users WHERE email_norm = $3)) RETURNING *),"
        " d AS (INSERT INTO company_domains (domain, company_id) "
        "SELECT unnest($4::text[]), c.id FROM c RETURNING domain) "
        "SELECT to_jsonb(c) || jsonb_build_object('domains', "
        "(SELECT coalesce(jsonb_agg(domain), '[]') FROM d)) FROM c",
        4, p, len, fmt, rec_r, error_r);
    pgarray_free(&arr);
    return exists_or(db, r, error_r, "one of these domains");
}

crm_result records_contact_add(db_conn *db, const records_contact *c,
                               json_t **rec_r, char **error_r)
{
    g_autofree char *norm = NULL, *owner = NULL;
    crm_result r = need_address(c->email, &norm, error_r);
    if (!r)
        r = need_address(c->owner, &owner, error_r);
    if (r)
        return r;
    g_autofree char *cid = id_param(c->company_id);
    json_t *tags = json_array();
    for (int i = 0; c->tags && c->tags[i]; i++) {
        g_autofree char *t = g_utf8_make_valid(c->tags[i], -1);
        g_strstrip(t);
        if (*t)
            json_array_append_new(tags, json_string(t));
    }
    g_autofree char *tjs = json_dumps(tags, JSON_COMPACT);
    json_decref(tags);
    /* The phone as given, in E.164 and its last nine digits (of the raw
       digits when it is no valid number; the trigger does the same). */
    phone_norm pn = {{0}, {0}};
    if (c->phone && *c->phone)
        phone_normalize(
            c->phone, c->country && *c->country ? c->country : c->phone_country,
            &pn);
    const char *p[] = {c->first_name ? c->first_name : "",
                       c->last_name ? c->last_name : "",
                       c->email,
                       norm,
                       c->title,
                       c->phone,
                       cid,
                       c->company && *c->company ? c->company : NULL,
                       owner,
                       c->country && *c->country ? c->country : NULL,
                       *pn.e164 ? pn.e164 : NULL,
                       *pn.last9 ? pn.last9 : NULL};
    /* A company given by name is found (case-insensitively) or created. */
    r = records_query_json(
        db,
        "WITH found AS (SELECT id FROM companies WHERE $8::text IS NOT NULL "
        "AND lower(name) = lower($8) ORDER BY id LIMIT 1),"
        " made AS (INSERT INTO companies (name, owner_id) SELECT $8, "
        "(SELECT id FROM users WHERE email_norm = $9) WHERE $8::text IS NOT "
        "NULL AND NOT EXISTS (SELECT 1 FROM found) RETURNING id),"
        " ins AS (INSERT INTO contacts (first_name, last_name, email, "
        "email_norm, title, phone, company_id, owner_id, country, "
        "phone_e164, phone_last9) VALUES ($1, "
        "$2, $3, $4, $5, $6, coalesce($7::bigint, (SELECT id FROM found), "
        "(SELECT id FROM made)), (SELECT id FROM users WHERE email_norm = $9), "
        "upper($10), $11, $12) RETURNING *) SELECT to_jsonb(ins) FROM ins",
        12, p, rec_r, error_r);
    if (!r && *rec_r && strcmp(tjs, "[]") != 0) {
        g_autofree char *id =
            g_strdup_printf("%" JSON_INTEGER_FORMAT,
                            json_integer_value(json_object_get(*rec_r, "id")));
        const char *q[] = {id, tjs};
        r = db_exec(db, 0, "SELECT crm_tag_add('contact', $1::bigint, $2)", 2,
                    q, error_r);
        if (!r) {
            json_t *tl = json_loads(tjs, 0, NULL);
            json_object_set_new(*rec_r, "tags", tl);
        }
    }
    return r;
}

crm_result records_deal_add(db_conn *db, const records_deal *d, json_t **rec_r,
                            char **error_r)
{
    g_autofree char *owner = NULL;
    crm_result r = need_address(d->owner, &owner, error_r);
    if (r)
        return r;
    g_autofree char *contact = id_param(d->contact_id);
    g_autofree char *company = id_param(d->company_id);
    const char *p[] = {d->name,     contact,  company,   d->amount,
                       d->currency, d->stage, d->ticket, owner};
    r = records_query_json(
        db,
        "INSERT INTO deals (name, contact_id, company_id, amount, currency, "
        "stage_id, ticket, owner_id) VALUES ($1, $2, coalesce($3::bigint, "
        "(SELECT company_id FROM contacts WHERE id = $2::bigint)), $4, "
        "upper($5), coalesce((SELECT id FROM stages WHERE name = $6), "
        "(SELECT id FROM stages WHERE is_default ORDER BY position LIMIT 1)), "
        "coalesce($7, crm_new_ticket()), (SELECT id FROM users WHERE "
        "email_norm = $8)) RETURNING to_jsonb(deals)",
        8, p, rec_r, error_r);
    if (r == CRM_ERR_DB && strcmp(db_last_sqlstate(db), "23503") == 0) {
        g_free(*error_r);
        *error_r = g_strdup("the contact or company does not exist");
        return CRM_ERR_NOTFOUND;
    }
    return exists_or(db, r, error_r, "a deal with this ticket");
}

/* CSV import state: the header maps column numbers to field names. */
typedef struct {
    GPtrArray *header; /* char * */
    GPtrArray *row;    /* char * */
    GPtrArray *rows;   /* GPtrArray * of char * (the header excluded) */
} csv_state;

static void csv_field(void *s, size_t len, void *data)
{
    csv_state *st = data;
    g_ptr_array_add(st->row, g_strndup(s ? s : "", len));
}

static void csv_row(int c, void *data)
{
    (void)c;
    csv_state *st = data;
    if (!st->header) {
        st->header = st->row;
    } else {
        g_ptr_array_add(st->rows, st->row);
    }
    st->row = g_ptr_array_new_with_free_func(g_free);
}

static const char *column(const csv_state *st, GPtrArray *row, const char *name)
{
    for (guint i = 0; i < st->header->len && i < row->len; i++) {
        char *h = g_ptr_array_index(st->header, i);
        g_autofree char *lh = g_ascii_strdown(h, -1);
        if (strcmp(g_strstrip(lh), name) == 0) {
            const char *v = g_ptr_array_index(row, i);
            return *v ? v : NULL;
        }
    }
    return NULL;
}

crm_result records_import_contacts(db_conn *db, const char *phone_country,
                                   FILE *csv, guint *added_r, guint *skipped_r,
                                   GPtrArray *problems, char **error_r)
{
    struct csv_parser p;
    csv_state st = {.row = g_ptr_array_new_with_free_func(g_free),
                    .rows = g_ptr_array_new_with_free_func(
                        (GDestroyNotify)g_ptr_array_unref)};
    char buf[65536];
    size_t n;
    crm_result r = CRM_OK;
    *added_r = *skipped_r = 0;
    csv_init(&p, CSV_APPEND_NULL);
    while ((n = fread(buf, 1, sizeof(buf), csv)) > 0) {
        if (csv_parse(&p, buf, n, csv_field, csv_row, &st) != n) {
            *error_r =
                g_strdup_printf("CSV error: %s", csv_strerror(csv_error(&p)));
            r = CRM_ERR_PARSE;
            break;
        }
    }
    if (!r)
        csv_fini(&p, csv_field, csv_row, &st);
    csv_free(&p);
    if (!r && !st.header) {
        *error_r = g_strdup("CSV file is empty: a header row is required");
        r = CRM_ERR_PARSE;
    }
    for (guint i = 0; !r && i < st.rows->len; i++) {
        GPtrArray *row = g_ptr_array_index(st.rows, i);
        const char *email = column(&st, row, "email");
        g_autofree char *norm = email ? addr_normalize(email) : NULL;
        if (!norm) {
            g_ptr_array_add(problems,
                            g_strdup_printf("row %u: no valid email", i + 2));
            (*skipped_r)++;
            continue;
        }
        const char *first = column(&st, row, "first_name");
        const char *last = column(&st, row, "last_name");
        g_autofree char *f = NULL, *l = NULL;
        if (!first && !last && column(&st, row, "name")) {
            addr_split_name(column(&st, row, "name"), &f, &l);
            first = f;
            last = l;
        }
        const char *q[] = {norm};
        json_t *have = NULL;
        r = records_query_json(db,
                               "SELECT to_jsonb(id) FROM contacts WHERE "
                               "email_norm = $1 LIMIT 1",
                               1, q, &have, error_r);
        if (r)
            break;
        if (have) {
            json_decref(have);
            (*skipped_r)++;
            continue;
        }
        const char *tag_cell = column(&st, row, "tags");
        g_auto(GStrv) tag_list =
            tag_cell ? g_strsplit_set(tag_cell, ";,|", 64) : NULL;
        records_contact c = {
            .email = email,
            .country = column(&st, row, "country"),
            .tags = (const char *const *)tag_list,
            .first_name = first,
            .last_name = last,
            .title = column(&st, row, "title"),
            .phone = column(&st, row, "phone"),
            .company = column(&st, row, "company"),
            .owner = column(&st, row, "owner"),
            .phone_country = phone_country,
        };
        json_t *rec = NULL;
        char *err = NULL;
        crm_result rr = records_contact_add(db, &c, &rec, &err);
        if (rr == CRM_OK) {
            (*added_r)++;
        } else if (rr == CRM_ERR_USAGE) {
            g_ptr_array_add(problems,
                            g_strdup_printf("row %u: %s", i + 2, err));
            (*skipped_r)++;
        } else {
            r = rr;
            *error_r = err;
            err = NULL;
        }
        g_free(err);
        json_decref(rec);
    }
    if (st.header)
        g_ptr_array_unref(st.header);
    g_ptr_array_unref(st.row);
    g_ptr_array_unref(st.rows);
    return r;
}

crm_result records_export_contacts(db_conn *db, json_t **arr_r, char **error_r)
{
    crm_result r = records_query_json(
        db,
        "SELECT coalesce(jsonb_agg(jsonb_build_object('id', c.id, "
        "'first_name', c.first_name, 'last_name', c.last_name, 'email', "
        "c.email, 'title', c.title, 'phone', c.phone, 'company', co.name, "
        "'owner', u.email) ORDER BY c.id), '[]') FROM contacts c "
        "LEFT JOIN companies co ON co.id = c.company_id "
        "LEFT JOIN users u ON u.id = c.owner_id",
        0, NULL, arr_r, error_r);
    return r;
}

crm_result records_timeline(db_conn *db, const char *target, guint limit,
                            json_t **out_r, char **error_r)
{
    static const char *const types[] = {"contact", "company", "deal", "lead",
                                        "request"};
    const char *colon = strchr(target, ':');
    const char *type = NULL;
    g_autofree char *id = NULL;
    g_autofree char *addr = NULL;
    g_autofree char *lim = g_strdup_printf("%u", limit);
    if (colon) {
        for (size_t i = 0; i < G_N_ELEMENTS(types); i++) {
            if (strlen(types[i]) == (size_t)(colon - target) &&
                strncmp(types[i], target, (size_t)(colon - target)) == 0)
                type = types[i];
        }
        const char *digits = colon + 1;
        bool ok = type && *digits && strlen(digits) <= 18;
        for (const char *d = digits; ok && *d; d++)
            ok = g_ascii_isdigit(*d);
        if (!ok) {
            *error_r = g_strdup_printf(
                "'%s': expected an address or contact:ID, company:ID, "
                "deal:ID, lead:ID, request:ID",
                target);
            return CRM_ERR_USAGE;
        }
        id = g_strdup(digits);
    } else {
        addr = addr_normalize(target);
        if (!addr) {
            *error_r = g_strdup_printf("'%s' is not an address", target);
            return CRM_ERR_USAGE;
        }
    }
    /* One statement builds the whole answer. The matched set is either the
       links of a record or the participations of an address. */
    const char *p[] = {type, id, addr, lim, target};
    return records_query_json(
        db,
        "WITH hit AS ("
        "  SELECT l.message_id, l.reason FROM message_links l"
        "   WHERE $1::text IS NOT NULL AND l.record_type = $1"
        "     AND l.record_id = $2::bigint"
        "  UNION ALL"
        "  SELECT DISTINCT p.message_id, NULL FROM message_participants p"
        "   WHERE $3::text IS NOT NULL AND p.address_norm = $3),"
        " m AS (SELECT m.*, h.reason FROM messages m JOIN hit h"
        "        ON h.message_id = m.id"
        "  ORDER BY coalesce(m.sent_at, m.captured_at) DESC, m.id DESC"
        "  LIMIT $4::integer)"
        " SELECT jsonb_build_object('target', $5::text, 'messages',"
        "  coalesce(jsonb_agg(jsonb_build_object("
        "   'id', m.id, 'message_id', m.message_id, 'subject', m.subject,"
        "   'date', m.sent_at, 'captured_at', m.captured_at,"
        "   'direction', m.direction, 'snippet', m.snippet, 'reason', m.reason,"
        "   'thread_id', m.thread_id,"
        "   'participants', (SELECT coalesce(jsonb_agg(jsonb_build_object("
        "      'role', p.role, 'address', p.address, 'name', p.name)"
        "      ORDER BY array_position(ARRAY['from','sender','reply_to','to',"
        "      'cc','bcc','envelope_from','envelope_rcpt'], p.role),"
        "      p.address_norm), '[]')"
        "      FROM message_participants p WHERE p.message_id = m.id),"
        "   'links', (SELECT coalesce(jsonb_agg(jsonb_build_object("
        "      'type', l.record_type, 'id', l.record_id, 'reason', l.reason)"
        "      ORDER BY l.created_at, l.record_type, l.record_id), '[]')"
        "      FROM message_links l WHERE l.message_id = m.id),"
        "   'attachments', (SELECT coalesce(jsonb_agg(jsonb_build_object("
        "      'filename', a.filename, 'content_type', a.content_type,"
        "      'size', a.size, 'sha256', a.sha256) ORDER BY a.position), '[]')"
        "      FROM message_attachments a WHERE a.message_id = m.id),"
        "   'captures', (SELECT count(*) FROM capture_events e"
        "      WHERE e.message_id = m.id))"
        "  ORDER BY coalesce(m.sent_at, m.captured_at) DESC, m.id DESC),"
        "  '[]')) FROM m",
        5, p, out_r, error_r);
}
