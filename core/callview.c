/*
 * callview.c - calls in the web view (callview.h): the call log, a call's
 * recording bytes, click-to-call requests of contact and lead pages.
 *
 * Each answer is one SQL statement taking $1 = viewer id, $2 = viewer role
 * and filtering with CALLVIEW_VISIBLE (below); filters are checked here and
 * passed as parameters (NULL: no filter), never built into the text.
 * Limits: CALLVIEW_PAGE_SIZE rows a page up to page CALLVIEW_PAGE_MAX; a
 * recording is served as stored (the worker bounds it with
 * voip.recording_max_bytes); the phone number sent to click-to-call at
 * most CALLVIEW_NUMBER_MAX bytes.
 */
#include "crmgate/callview.h"

#include <jansson.h>
#include <string.h>

/* A whole number of 1 to 18 digits. */
static bool is_id(const char *s)
{
    gsize n = strlen(s);
    if (n == 0 || n > 18)
        return false;
    for (gsize i = 0; i < n; i++)
        if (!g_ascii_isdigit(s[i]))
            return false;
    return true;
}

static const char *nonempty(const char *s)
{
    return s && *s ? s : NULL;
}

/* clang-format off */
/* $3 direction, $4 state filter, $5 user id, $6 offset, $7 page size */
static const char sql_list[] =
    "WITH x AS (SELECT c.*, row_number() OVER (ORDER BY c.started_at DESC, "
    " c.id DESC) AS n FROM (SELECT c.* FROM calls c"
    "  WHERE " CALLVIEW_VISIBLE
    "    AND ($3::text IS NULL OR c.direction = $3::text)"
    "    AND ($4::text IS NULL"
    "         OR ($4::text = 'missed' AND c.direction = 'in'"
    "             AND c.state = 'ended' AND c.answered_at IS NULL)"
    "         OR ($4::text = 'answered' AND c.answered_at IS NOT NULL))"
    "    AND ($5::bigint IS NULL OR c.user_id = $5::bigint)"
    "  ORDER BY c.started_at DESC, c.id DESC"
    "  OFFSET $6::bigint LIMIT $7::integer + 1) c) "
    "SELECT jsonb_build_object('page', $6::bigint / $7::integer + 1, "
    " 'per_page', $7::integer, 'more', (SELECT count(*) FROM x) > "
    " $7::integer, 'calls', coalesce((SELECT jsonb_agg(jsonb_build_object("
    " 'id', c.id, 'provider', c.provider, 'call_id', c.call_id, "
    " 'direction', c.direction, 'state', c.state, 'remote_number', "
    " c.remote_number, 'remote_e164', c.remote_e164, 'line_e164', "
    " c.line_e164, 'extension', c.extension, 'user_id', c.user_id, "
    " 'user', (SELECT coalesce(nullif(u.name, ''), u.email) FROM users u "
    " WHERE u.id = c.user_id), 'record', c.record_type || ':' || "
    " c.record_id, 'record_name', CASE WHEN c.record_id IS NOT NULL AND "
    " ($2::text IN ('chief', 'admin') OR crm_record_visible($1::bigint, "
    " $2::text, c.record_type, c.record_id)) THEN "
    " crm_record_label(c.record_type, c.record_id) END, 'started_at', "
    " c.started_at, 'answered_at', c.answered_at, 'ended_at', c.ended_at, "
    " 'duration', c.duration_s, 'disposition', c.disposition, "
    " 'lead_created', c.lead_created, 'recording_state', "
    " c.recording_state, 'recording', CASE WHEN c.recording_state = "
    " 'fetched' THEN '/calls/' || c.id || '/recording' END) ORDER BY c.n) "
    " FROM x c WHERE c.n <= $7::integer), '[]'))";
/* clang-format on */

crm_result callview_list(const views_viewer *v, const callview_filter *f,
                         json_t **out_r, char **error_r)
{
    *out_r = NULL;
    const char *dir = nonempty(f ? f->direction : NULL);
    const char *state = nonempty(f ? f->state : NULL);
    const char *user = nonempty(f ? f->user : NULL);
    const char *page = nonempty(f ? f->page : NULL);
    if (dir && strcmp(dir, "in") != 0 && strcmp(dir, "out") != 0) {
        *error_r = g_strdup("direction: in or out");
        return CRM_ERR_USAGE;
    }
    if (state && strcmp(state, "missed") != 0 &&
        strcmp(state, "answered") != 0) {
        *error_r = g_strdup("state: missed or answered");
        return CRM_ERR_USAGE;
    }
    if (user && !is_id(user)) {
        *error_r = g_strdup("user: a user id");
        return CRM_ERR_USAGE;
    }
    gint64 pg = 1;
    if (page) {
        if (!is_id(page) || strlen(page) > 6 ||
            (pg = g_ascii_strtoll(page, NULL, 10)) < 1 ||
            pg > CALLVIEW_PAGE_MAX) {
            *error_r = g_strdup_printf("page: 1 to %d", CALLVIEW_PAGE_MAX);
            return CRM_ERR_USAGE;
        }
    }
    g_autofree char *off =
        g_strdup_printf("%" G_GINT64_FORMAT, (pg - 1) * CALLVIEW_PAGE_SIZE);
    g_autofree char *lim = g_strdup_printf("%d", CALLVIEW_PAGE_SIZE);
    const char *p[] = {dir, state, user, off, lim};
    return views_query(v, sql_list, 5, p, out_r, error_r);
}

/* Content types a recording is served with, and the file name
   extension of each; anything else is application/octet-stream. */
static const char *const audio_types[][3] = {
    {"audio/mpeg", "audio/mpeg", "mp3"},  {"audio/mp3", "audio/mpeg", "mp3"},
    {"audio/wav", "audio/wav", "wav"},    {"audio/x-wav", "audio/wav", "wav"},
    {"audio/wave", "audio/wav", "wav"},   {"audio/ogg", "audio/ogg", "ogg"},
    {"audio/mp4", "audio/mp4", "m4a"},    {"audio/aac", "audio/aac", "aac"},
    {"audio/flac", "audio/flac", "flac"}, {"audio/webm", "audio/webm", "webm"},
};

crm_result callview_recording(const views_viewer *v, gint64 id,
                              GBytes **content_r, const char **ctype_r,
                              char **error_r)
{
    *content_r = NULL;
    *ctype_r = NULL;
    g_autofree char *vid = g_strdup_printf("%" G_GINT64_FORMAT, v->id);
    g_autofree char *ids = g_strdup_printf("%" G_GINT64_FORMAT, id);
    const char *p[] = {vid, v->role ? v->role : "", ids};
    g_autofree char *stored = NULL;
    crm_result r = db_query_blob(
        v->db, v->timeout_ms,
        "SELECT lower(split_part(r.content_type, ';', 1)), r.bytes FROM "
        "calls c JOIN call_recordings r ON r.call_pk = c.id WHERE c.id = "
        "$3::bigint AND c.recording_state = 'fetched' AND " CALLVIEW_VISIBLE,
        3, p, "recording", &stored, content_r, error_r);
    if (r)
        return r;
    /* The bytes come from the provider: only known audio types pass, so
       nothing it sends can render as a page of ours. */
    g_strstrip(stored);
    *ctype_r = "application/octet-stream";
    for (gsize i = 0; i < G_N_ELEMENTS(audio_types); i++)
        if (strcmp(stored, audio_types[i][0]) == 0)
            *ctype_r = audio_types[i][1];
    return CRM_OK;
}

char *callview_recording_filename(gint64 id, const char *ctype)
{
    const char *e = "bin";
    for (gsize i = 0; ctype && i < G_N_ELEMENTS(audio_types); i++)
        if (strcmp(ctype, audio_types[i][1]) == 0)
            e = audio_types[i][2];
    return g_strdup_printf("call-%" G_GINT64_FORMAT ".%s", id, e);
}

/* A number a PBX can dial: digits with the usual punctuation (+ - . / ( )
   and spaces), at least three digits, at most CALLVIEW_NUMBER_MAX bytes. */
static bool dialable(const char *s)
{
    gsize digits = 0, n = strlen(s);
    if (n == 0 || n > CALLVIEW_NUMBER_MAX)
        return false;
    for (gsize i = 0; i < n; i++) {
        if (g_ascii_isdigit(s[i]))
            digits++;
        else if (!strchr("+-./() ", s[i]))
            return false;
    }
    return digits >= 3;
}

/* The record (contact or lead) a click-to-call is for: its phones and the
   viewer's extension, when the viewer may see it. */
static const char sql_target[] =
    "SELECT jsonb_build_object('extension', (SELECT nullif(btrim("
    "u.phone_ext), '') FROM users u WHERE u.id = $1::bigint AND u.active), "
    "'phone', btrim(coalesce(r.phone, '')), 'e164', r.phone_e164) FROM "
    "(SELECT phone, phone_e164 FROM contacts WHERE $3::text = 'contact' AND "
    "id = $4::bigint UNION ALL SELECT phone, phone_e164 FROM leads WHERE "
    "$3::text = 'lead' AND id = $4::bigint) r WHERE "
    "crm_record_visible($1::bigint, $2::text, $3::text, $4::bigint)";

crm_result callview_request(const views_viewer *v, const char *type, gint64 id,
                            gint64 *request_r, bool *no_extension_r,
                            char **error_r)
{
    *request_r = 0;
    *no_extension_r = false;
    if (!type || (strcmp(type, "contact") != 0 && strcmp(type, "lead") != 0)) {
        *error_r = g_strdup("click-to-call is for contacts and leads");
        return CRM_ERR_USAGE;
    }
    g_autofree char *ids = g_strdup_printf("%" G_GINT64_FORMAT, id);
    const char *p[] = {type, ids};
    json_t *t = NULL;
    crm_result r = views_query(v, sql_target, 2, p, &t, error_r);
    if (r)
        return r;
    if (!t) {
        *error_r = g_strdup("no such record");
        return CRM_ERR_NOTFOUND;
    }
    const char *ext = json_string_value(json_object_get(t, "extension"));
    const char *phone = json_string_value(json_object_get(t, "phone"));
    const char *e164 = json_string_value(json_object_get(t, "e164"));
    if (!ext) {
        json_decref(t);
        *no_extension_r = true;
        *error_r = g_strdup("you have no phone extension: ask an admin to "
                            "set yours (users.phone_ext) to call from here");
        return CRM_ERR_USAGE;
    }
    if (!phone || !*phone) {
        json_decref(t);
        *error_r = g_strdup("the record has no phone number to call");
        return CRM_ERR_USAGE;
    }
    if (!dialable(phone)) {
        json_decref(t);
        *error_r = g_strdup("the record's phone is not a number that can be "
                            "dialled");
        return CRM_ERR_USAGE;
    }
    if (strlen(ext) > 40) {
        json_decref(t);
        *error_r = g_strdup("your phone extension is longer than 40 bytes");
        return CRM_ERR_USAGE;
    }
    const char *q[] = {ext, phone, e164, type, ids};
    json_t *rid = NULL;
    r = views_query(v,
                    "SELECT to_jsonb(crm_call_request($1::bigint, $3::text, "
                    "$4::text, $5::text, $6::text, $7::bigint)) WHERE $2::text "
                    "IS NOT NULL",
                    5, q, &rid, error_r);
    json_decref(t);
    if (r)
        return r;
    if (!json_is_integer(rid)) {
        json_decref(rid);
        *error_r = g_strdup("the call request was not stored");
        return CRM_ERR_DB;
    }
    *request_r = json_integer_value(rid);
    json_decref(rid);
    return CRM_OK;
}

crm_result callview_requests(const views_viewer *v, const char *type, gint64 id,
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
    crm_result r = views_query(
        v,
        "SELECT jsonb_build_object('extension', (SELECT "
        "nullif(btrim(u.phone_ext), '') FROM users u WHERE u.id = $1::bigint "
        "AND u.active), 'requests', coalesce((SELECT jsonb_agg("
        "jsonb_build_object('id', q.id, 'state', q.state, 'result', "
        "q.result, 'to', coalesce(q.to_e164, q.to_number), 'from_ext', "
        "q.from_ext, 'user', (SELECT coalesce(nullif(u.name, ''), u.email) "
        "FROM users u WHERE u.id = q.user_id), 'created_at', q.created_at, "
        "'finished_at', q.finished_at) ORDER BY q.id DESC) FROM (SELECT * "
        "FROM call_requests q WHERE q.record_type = $3::text AND q.record_id "
        "= $4::bigint ORDER BY q.id DESC LIMIT $5::integer) q), '[]')) "
        "WHERE crm_record_visible($1::bigint, $2::text, $3::text, "
        "$4::bigint)",
        3, p, out_r, error_r);
    if (r == CRM_OK && !*out_r) {
        *error_r = g_strdup("no such record");
        return CRM_ERR_NOTFOUND;
    }
    return r;
}
