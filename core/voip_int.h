/*
 * voip_int.h - what core/voip_zadarma.c and core/voip_generic.c share
 * (core/voip.c): the bounds checks every field passes, the number
 * normalisation of the canonical `fields`, and the time format.
 */
#ifndef CRMGATE_VOIP_INT_H
#define CRMGATE_VOIP_INT_H

#include "crmgate/voip.h"

/* Call ids: at most this many bytes. */
#define VOIP_CALL_ID_MAX 200
/* At most this many fields in one event's payload. */
#define VOIP_MAX_FIELDS 64
/* Numbers (from, to, caller_id ...): at most this many bytes. */
#define VOIP_NUMBER_MAX 200

/* True when s is valid UTF-8 of at most max bytes. */
bool voip_text_ok(const char *s, gsize max);
/* True when s is 1..max bytes of printable ASCII (0x21..0x7e and space). */
bool voip_ascii_ok(const char *s, gsize max);
/* Sets fields[which] = raw and, for which "remote", remote_e164 and
   remote_last9, for "line" line_e164 (an extension or junk gets none).
   Nothing for an empty raw. */
void voip_fields_number(json_t *fields, const crm_config *cfg,
                        const char *which, const char *raw);
/* Unix seconds as RFC 3339 in UTC (g_free it). */
char *voip_time_text(gint64 unix_s);
/* Sets *ev's strings (copied) and takes payload and fields. */
void voip_event_fill(voip_event *ev, const char *provider, const char *call_id,
                     const char *event, const char *dedupe, json_t *payload,
                     json_t *fields);

#endif
