/*
 * voip.h - provider call events: parsing and verifying what a PBX posts
 * (Zadarma's form notifications, the generic signed JSON of /voip/events),
 * storing them once and folding them into the call row (sql/0015_voip.sql,
 * crm_voip_event), and the Zadarma API client the worker uses
 * (click-to-call, recording links).
 *
 * A parsed event carries the raw payload (kept for audit) and `fields`,
 * the provider-independent view the SQL fold reads: kind (start, ivr,
 * internal, answer, end, out_start, out_end, record), direction (in|out),
 * at (RFC 3339, when it happened), start (RFC 3339, the call's start),
 * remote / remote_e164 / remote_last9 (the outside party), line /
 * line_e164 (our number), extension, disposition, duration (int),
 * status_code, recorded (bool), recording_id. Absent values are left out.
 *
 * Limits: a form or body of at most web.body_bytes; each field at most
 * VOIP_FIELD_MAX bytes and valid UTF-8; call ids at most 200 bytes.
 */
#ifndef CRMGATE_VOIP_H
#define CRMGATE_VOIP_H

#include <glib.h>
#include <jansson.h>
#include <stdbool.h>
#include <time.h>

#include "crmgate/config.h"
#include "crmgate/db.h"
#include "crmgate/result.h"
#include "crmgate/webform.h"

#define VOIP_FIELD_MAX 1024

typedef struct {
    char *provider;  /* "zadarma", or the generic body's "provider" */
    char *call_id;   /* the provider's call id (pbx_call_id) */
    char *event;     /* the event name as the provider sent it */
    char *dedupe;    /* tells apart events of one name in one call ("") */
    json_t *payload; /* raw event (owned) */
    json_t *fields;  /* canonical view (owned), see above */
} voip_event;

/* Frees what ev holds and zeroes it. */
void voip_event_clear(voip_event *ev);

/* Zadarma: verifies and parses one form-encoded notification. signature
   is the Signature header (NULL: the form's "Signature" field is used).
   Returns CRM_OK; CRM_ERR_AUTH when the signature is missing or wrong or
   no secret is configured (answer 403, store nothing); CRM_ERR_PARSE for
   an unknown event or a missing or bad field (answer 400). The signature
   is compared in constant time. */
crm_result voip_zadarma_parse(const crm_config *cfg, const webform *form,
                              const char *signature, voip_event *ev,
                              char **error_r);

/* The Zadarma Signature of text: base64 of the lowercase hex HMAC-SHA1
   with secret (newly allocated). */
char *voip_zadarma_sign(const char *secret, const char *text);

/* Generic JSON (/voip/events): verifies X-Crmgate-Timestamp (ts, Unix
   seconds, within cfg->voip_replay_window_s of now) and
   X-Crmgate-Signature (sig, lowercase hex HMAC-SHA256 of "TS.BODY" with
   voip.events_secret, constant time), then parses body. Same results as
   voip_zadarma_parse (a stale timestamp is CRM_ERR_AUTH). */
crm_result voip_generic_parse(const crm_config *cfg, const char *body,
                              gsize len, const char *ts, const char *sig,
                              time_t now, voip_event *ev, char **error_r);

/* Stores ev (crm_voip_event) within timeout_ms (a PBX waits on a ringing
   call: past it the caller answers 503 and the PBX retries); *stored_r
   false when it was a re-delivery;
   *call_pk_r the call row; *route_r (may be NULL) the routing answer of a
   ringing incoming call ({} for an unknown caller), else NULL. */
crm_result voip_event_store(db_conn *db, guint timeout_ms, const voip_event *ev,
                            const char *source, bool *stored_r,
                            gint64 *call_pk_r, json_t **route_r,
                            char **error_r);

/* True when addr (text form) is allowed by voip.allow (empty: any). */
bool voip_source_allowed(const crm_config *cfg, const char *addr);

#endif
