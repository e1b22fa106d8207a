/*
 * callview.h - calls (sql/0015) as a viewer may see them in the web view:
 * the call log, a call's recording, and click-to-call from a contact or
 * lead page (the request row and the last requests of a record).
 *
 * The rule (the same for the log, the recording and the calls report): a
 * chief or an admin sees every call; anyone else the calls they took or
 * made (calls.user_id) and the calls of records they may see
 * (crm_record_visible). What the viewer may not see is CRM_ERR_NOTFOUND,
 * exactly as what does not exist. Record timelines show calls through
 * views_timeline() (views.h).
 */
#ifndef CRMGATE_CALLVIEW_H
#define CRMGATE_CALLVIEW_H

#include <glib.h>
#include <stdbool.h>

#include "crmgate/views.h"

/* Rows of one page of the call log. */
#define CALLVIEW_PAGE_SIZE 200
/* The highest page number accepted. */
#define CALLVIEW_PAGE_MAX 100000
/* Longest phone number click-to-call sends (call_requests.to_number). */
#define CALLVIEW_NUMBER_MAX 64

/* SQL text: the viewer ($1 id, $2 role) may see the call aliased c.
   Chief and admin fold this to true at planning (statements are planned
   with their parameters); anyone else gets one hashed set of the ids of
   their calls found through indexes (their own, the calls of records they
   own or co-own, an operator's lead calls) instead of
   crm_record_visible() once per call. The rule of crm_visible() (sql/0007).
   Used by core/callview.c and the calls report (core/reports.c). */
/* clang-format off */
#define CALLVIEW_VISIBLE                                                       \
    "($2::text IN ('chief', 'admin') OR c.id IN ("                            \
    "SELECT x.id FROM calls x WHERE x.user_id = $1::bigint UNION ALL "         \
    "SELECT x.id FROM calls x WHERE $2::text = 'operator' AND "                \
    "x.record_type = 'lead' UNION ALL "                                        \
    CALLVIEW_CALLS_OF("contacts", "contact") " UNION ALL "                     \
    CALLVIEW_CALLS_OF("leads", "lead") " UNION ALL "                           \
    CALLVIEW_CALLS_OF("companies", "company") "))"
/* (the ids of the calls of records of table t, type ty, the viewer owns
   or co-owns) */
#define CALLVIEW_CALLS_OF(t, ty)                                               \
    "SELECT x.id FROM " t " r JOIN calls x ON x.record_type = '" ty "' AND "   \
    "x.record_id = r.id WHERE r.owner_id = $1::bigint UNION ALL SELECT x.id "  \
    "FROM " t " r JOIN calls x ON x.record_type = '" ty "' AND x.record_id = " \
    "r.id WHERE r.co_owner_id = $1::bigint"
/* clang-format on */

/* Filters of the call log; NULL or "" members do not filter. */
typedef struct {
    const char *direction; /* in | out */
    const char *state;     /* missed (incoming, ended, never answered) |
                              answered (answered_at set) */
    const char *user;      /* a users.id (calls.user_id) */
    const char *page;      /* 1.. (CALLVIEW_PAGE_SIZE rows a page) */
} callview_filter;

/* The viewer's calls, newest first (started_at, then id), one page:
   {"calls": [...], "page": N, "per_page": 200, "more": bool}. Each call:
   id, provider, call_id, direction, state, remote_number, remote_e164,
   line_e164, extension, user_id, user (name or address), record
   ("lead:ID" or null), record_name (null unless the viewer may see the
   record), started_at, answered_at, ended_at, duration (s), disposition,
   lead_created, recording_state, recording (the download path once
   fetched, else null). CRM_ERR_USAGE with *error_r for a bad filter. */
crm_result callview_list(const views_viewer *v, const callview_filter *f,
                         json_t **out_r, char **error_r);

/* The fetched recording of call id: *content_r (owned) and *ctype_r
   (static: the stored type when it is a known audio type, audio/mpeg,
   audio/wav, audio/ogg, audio/mp4, audio/aac, audio/flac, audio/webm,
   else application/octet-stream). CRM_ERR_NOTFOUND when the call is
   missing, not visible or its recording is not fetched. */
crm_result callview_recording(const views_viewer *v, gint64 id,
                              GBytes **content_r, const char **ctype_r,
                              char **error_r);

/* A download name for a recording of call id with content type ctype
   ("call-7.mp3"). Newly allocated. */
char *callview_recording_filename(gint64 id, const char *ctype);

/* Click-to-call of record (type contact|lead, id) by the viewer: queues
   crm_call_request(viewer, viewer's extension, the record's phone and
   E.164) and sets *request_r. CRM_ERR_NOTFOUND when the record is
   missing or not visible; *no_extension_r = true (and CRM_ERR_USAGE) when
   the viewer has no extension (users.phone_ext); CRM_ERR_USAGE with
   *error_r when the record has no phone, or one that is not dialable
   (digits and + - . / ( ) space only, at least 3 digits, at most
   CALLVIEW_NUMBER_MAX bytes). */
crm_result callview_request(const views_viewer *v, const char *type, gint64 id,
                            gint64 *request_r, bool *no_extension_r,
                            char **error_r);

/* What a record page shows about click-to-call: {"extension": the
   viewer's or null, "requests": [{id, state, result, to, from_ext, user,
   created_at, finished_at}] (the record's last limit requests, newest
   first)}. CRM_ERR_NOTFOUND when the record is not visible. */
crm_result callview_requests(const views_viewer *v, const char *type, gint64 id,
                             guint limit, json_t **out_r, char **error_r);

#endif
