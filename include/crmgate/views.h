/*
 * views.h - what a viewer may see of CRM records, as JSON built by
 * PostgreSQL: a record with its related records, a record's timeline
 * (mail, tasks, deal stages), a captured message, an attachment's bytes,
 * search; and the two edits of the record pages (owner, deal stage).
 *
 * Every function takes the viewer (user id and role) and scopes its SQL
 * with crm_visible() / crm_record_visible() / crm_message_visible() /
 * crm_task_visible() (sql/0007, 0008, 0010): what the viewer may not see
 * is CRM_ERR_NOTFOUND, exactly as what does not exist. The web pages and
 * the JSON API share these functions, so both show the same data.
 */
#ifndef CRMGATE_VIEWS_H
#define CRMGATE_VIEWS_H

#include <glib.h>
#include <stdbool.h>
typedef struct json_t json_t; /* jansson's; only pointers here */

#include "crmgate/db.h"
#include "crmgate/result.h"

/* Longest search text accepted (characters). */
#define VIEWS_SEARCH_MAX 200
/* Shortest search text that searches (characters, after trimming). */
#define VIEWS_SEARCH_MIN 2

/* Who is asking, and over which connection. */
typedef struct {
    db_conn *db;
    gint64 id;        /* users.id */
    const char *role; /* manager, operator, chief, admin */
    guint timeout_ms; /* per query; 0 = no limit */
} views_viewer;

/* Runs sql with the viewer as $1 (id) and $2 (role) and n (at most 8)
   more parameters; *out_r is the JSON value of the first column of the
   first row, or NULL. */
crm_result views_query(const views_viewer *v, const char *sql, int n,
                       const char *const *values, json_t **out_r,
                       char **error_r);

/* True when type is a record type: contact, lead, company, deal, request. */
bool views_record_type(const char *type);
/* The first path segment of a record type's pages ("deal" -> "deals"), or
   NULL when type is not a record type. */
const char *views_type_path(const char *type);

/* The record (type, id) as a JSON object: its columns, "type", "name",
   "owner"/"co_owner" ({id, name, email}), references to related records
   the viewer may see ({id, name}) and lists of them ("contacts", "deals",
   "leads", "requests", at most 100 each); a deal also has "choices"
   ({stages, closing_reasons}) for its edit form. CRM_ERR_NOTFOUND when
   missing or not visible; CRM_ERR_USAGE for an unknown type. */
crm_result views_record(const views_viewer *v, const char *type, gint64 id,
                        json_t **out_r, char **error_r);

/* The timeline of record (type, id), newest first, at most limit items:
   {"record": "TYPE:ID", "items": [...], "truncated": bool}. Items have
   "kind" ("message", "task", "stage", "campaign", "call"), "at" and "id";
   messages: subject, direction, from, to, cc, reason
   (message_links.reason), thread_id, attachments (count); tasks (only
   those crm_task_visible): title, stage, due_date, owner; stages (deals):
   stage, status, user; campaign events (contacts and leads; id: the
   ledger row): event (sent, bounced, replied, unsubscribed), campaign_id,
   campaign (its name), reason (bounces), linked (the viewer may open the
   campaign); calls (contacts, leads, companies, and a request's own call;
   id: calls.id): direction, state, disposition, remote (E.164, else as
   sent), extension, user_id, user (name), started_at, answered_at,
   ended_at, duration (s), lead_created, request_id, recording (the
   download path once fetched, else null). */
crm_result views_timeline(const views_viewer *v, const char *type, gint64 id,
                          guint limit, json_t **out_r, char **error_r);

/* Captured message id: subject, date, direction, text, warnings,
   participants ({role, address, name}), links to records the viewer may
   see ({type, id, reason, label}), attachments ({position, filename,
   content_type, size, sha256, stored}) and the other visible messages of
   its thread. CRM_ERR_NOTFOUND unless crm_message_visible(). */
crm_result views_message(const views_viewer *v, gint64 id, json_t **out_r,
                         char **error_r);

/* The stored bytes of attachment position of message id, under the
   message's visibility rule: *content_r (owned) and *filename_r (as
   declared, owned, may be ""). CRM_ERR_NOTFOUND when not visible, absent,
   or not stored (over the stored-size limit). */
crm_result views_attachment(const views_viewer *v, gint64 id, gint64 position,
                            GBytes **content_r, char **filename_r,
                            char **error_r);

/* A download file name made safe for a Content-Disposition header: the
   last path segment, without quotes, backslashes, control characters or
   non-ASCII (replaced by '_'), at most 100 bytes, "attachment" when
   nothing is left. Newly allocated. */
char *views_safe_filename(const char *name);

/* Searches q: contacts (name, email, phone by its last 9 digits), leads,
   companies (name, domain), deals (name, ticket), requests (subject, name,
   email, ticket); "ticket:XXXX" searches deal and request tickets only.
   At most per_kind results of each kind, scoped by the viewer:
   {"query": q, "results": [{type, id, label, detail}]}. CRM_ERR_TOOBIG
   past VIEWS_SEARCH_MAX characters; a q shorter than VIEWS_SEARCH_MIN
   gives no results. */
crm_result views_search(const views_viewer *v, const char *q, guint per_kind,
                        json_t **out_r, char **error_r);

/* Makes owner (a user id or address of an active user) the owner of
   record (type, id). Allowed to chief, admin and the current owner:
   CRM_ERR_NOTFOUND when the record is missing or not visible;
   *forbidden_r = true (and CRM_ERR_USAGE) when visible but not allowed;
   CRM_ERR_USAGE with *error_r for an unknown owner. */
crm_result views_set_owner(const views_viewer *v, const char *type, gint64 id,
                           const char *owner, bool *forbidden_r,
                           char **error_r);

/* Moves deal id to stage (id or name; NULL or "" keeps it) with status
   open|won|lost (NULL or "" keeps it) and closing reason (id or name),
   required when the status is won or lost and cleared when open;
   closed_at is set when the deal closes and cleared when it reopens. The
   viewer is recorded in deal_stage_history (crmgate.user_id, same
   statement). CRM_ERR_NOTFOUND when not visible; CRM_ERR_USAGE with
   *error_r for bad input (nothing changed). */
crm_result views_set_deal_stage(const views_viewer *v, gint64 id,
                                const char *stage, const char *status,
                                const char *reason, char **error_r);

#endif
