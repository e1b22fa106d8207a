/*
 * voip.c - what both provider parsers share (voip_int.h), storing a
 * verified event (crm_voip_event in sql/0015_voip.sql: once per provider,
 * call id, event and dedupe; folded into the call row; the routing answer
 * of a ringing incoming call) and the webhook source allowlist
 * (voip.allow: addresses and CIDRs, IPv4 and IPv6, through GIO).
 *
 * Limits: one statement per event within the caller's budget (the events of a
 * call in progress commit without waiting for the WAL flush: see
 * crm_voip_event); an allow entry that is no address or CIDR matches
 * nothing.
 */
#include <gio/gio.h>
#include <string.h>

#include "crmgate/log.h"
#include "crmgate/phone.h"
#include "crmgate/rfc3339.h"
#include "voip_int.h"

void voip_event_clear(voip_event *ev)
{
    if (!ev)
        return;
    g_free(ev->provider);
    g_free(ev->call_id);
    g_free(ev->event);
    g_free(ev->dedupe);
    if (ev->payload)
        json_decref(ev->payload);
    if (ev->fields)
        json_decref(ev->fields);
    memset(ev, 0, sizeof *ev);
}

void voip_event_fill(voip_event *ev, const char *provider, const char *call_id,
                     const char *event, const char *dedupe, json_t *payload,
                     json_t *fields)
{
    ev->provider = g_strdup(provider);
    ev->call_id = g_strdup(call_id);
    ev->event = g_strdup(event);
    ev->dedupe = g_strdup(dedupe ? dedupe : "");
    ev->payload = payload;
    ev->fields = fields;
}

bool voip_text_ok(const char *s, gsize max)
{
    gsize n = strlen(s);
    return n <= max && g_utf8_validate(s, (gssize)n, NULL);
}

bool voip_ascii_ok(const char *s, gsize max)
{
    gsize n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (gsize i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
            return false;
    return true;
}

void voip_fields_number(json_t *fields, const crm_config *cfg,
                        const char *which, const char *raw)
{
    if (!raw || !*raw)
        return;
    json_object_set_new(fields, which, json_string(raw));
    if (phone_is_extension(raw))
        return;
    phone_norm n;
    bool remote = strcmp(which, "remote") == 0;
    g_autofree char *k_e164 = g_strconcat(which, "_e164", NULL);
    if (phone_normalize(raw, cfg->voip_default_country, &n))
        json_object_set_new(fields, k_e164, json_string(n.e164));
    if (remote && n.last9[0])
        json_object_set_new(fields, "remote_last9", json_string(n.last9));
}

char *voip_time_text(gint64 unix_s)
{
    GDateTime *d = g_date_time_new_from_unix_utc(unix_s);
    if (!d)
        return NULL;
    char *s = rfc3339_format(d);
    g_date_time_unref(d);
    return s;
}

static const char store_sql[] =
    "SELECT stored, call_pk, route FROM crm_voip_event($1, $2, $3, $4, "
    "$5::jsonb, $6::jsonb, $7)";

crm_result voip_event_store(db_conn *db, guint timeout_ms, const voip_event *ev,
                            const char *source, bool *stored_r,
                            gint64 *call_pk_r, json_t **route_r, char **error_r)
{
    *stored_r = false;
    *call_pk_r = 0;
    if (route_r)
        *route_r = NULL;
    g_autofree char *payload =
        json_dumps(ev->payload, JSON_COMPACT | JSON_ENSURE_ASCII);
    g_autofree char *fields =
        json_dumps(ev->fields, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (!payload || !fields) {
        *error_r = g_strdup("event has no payload or fields");
        return CRM_ERR_INTERNAL;
    }
    const char *values[7] = {ev->provider, ev->call_id, ev->event, ev->dedupe,
                             payload,      fields,      source};
    PGresult *res = NULL;
    crm_result r = db_query(db, timeout_ms, store_sql, 7, values, NULL, NULL,
                            &res, error_r);
    if (r)
        return r;
    if (PQntuples(res) != 1) {
        PQclear(res);
        *error_r = g_strdup("crm_voip_event returned no row");
        return CRM_ERR_DB;
    }
    *stored_r = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    *call_pk_r = g_ascii_strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    if (route_r && !PQgetisnull(res, 0, 2)) {
        json_error_t jerr;
        *route_r = json_loads(PQgetvalue(res, 0, 2), 0, &jerr);
        if (!*route_r) {
            PQclear(res);
            *error_r = g_strdup_printf("bad route JSON: %s", jerr.text);
            return CRM_ERR_DB;
        }
    }
    PQclear(res);
    return CRM_OK;
}

/* One allow entry against addr: an address (equal) or a CIDR. */
static bool allow_matches(const char *entry, GInetAddress *addr)
{
    if (strchr(entry, '/')) {
        GInetAddressMask *m = g_inet_address_mask_new_from_string(entry, NULL);
        if (!m)
            return false;
        bool ok = g_inet_address_mask_matches(m, addr);
        g_object_unref(m);
        return ok;
    }
    GInetAddress *a = g_inet_address_new_from_string(entry);
    if (!a)
        return false;
    bool ok = g_inet_address_equal(a, addr);
    g_object_unref(a);
    return ok;
}

bool voip_source_allowed(const crm_config *cfg, const char *addr)
{
    if (!cfg->voip_allow || !cfg->voip_allow[0])
        return true;
    if (!addr || !*addr)
        return false;
    GInetAddress *a = g_inet_address_new_from_string(addr);
    if (!a)
        return false;
    bool ok = false;
    for (char **e = cfg->voip_allow; *e && !ok; e++)
        ok = allow_matches(*e, a);
    g_object_unref(a);
    return ok;
}
