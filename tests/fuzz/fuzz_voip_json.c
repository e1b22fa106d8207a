/*
 * fuzz_voip_json.c - libFuzzer target for the generic signed JSON webhook
 * (voip_generic_parse). The harness signs each input itself
 * (HMAC-SHA256 of "TS.BODY" with a fixed secret, a fixed clock) so the
 * JSON parser behind the signature is reached; the same input with a
 * flipped signature digit or a stale timestamp must give CRM_ERR_AUTH.
 * An accepted event must keep the bounds of voip.h (call id 1..200
 * printable ASCII, provider [a-z0-9_.-]{1,40}, a known kind, `at` in RFC
 * 3339, an object payload) and serialise.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crmgate/voip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SECRET "fuzz-events-secret"
#define TS "1765000000"

static crm_config *cfg;

static char *sign(const uint8_t *data, size_t size)
{
    GHmac *h =
        g_hmac_new(G_CHECKSUM_SHA256, (const guchar *)SECRET, strlen(SECRET));
    g_hmac_update(h, (const guchar *)TS ".", -1);
    g_hmac_update(h, data, (gssize)size);
    char *s = g_strdup(g_hmac_get_string(h));
    g_hmac_unref(h);
    return s;
}

static void check_event(const voip_event *ev)
{
    gsize n = strlen(ev->call_id);
    if (n == 0 || n > 200)
        abort();
    for (gsize i = 0; i < n; i++)
        if ((unsigned char)ev->call_id[i] < 0x20 ||
            (unsigned char)ev->call_id[i] > 0x7e)
            abort();
    gsize pl = strlen(ev->provider);
    if (pl == 0 || pl > 40 ||
        strspn(ev->provider, "abcdefghijklmnopqrstuvwxyz0123456789_.-") != pl)
        abort();
    if (strlen(ev->dedupe) > 200 || !json_is_object(ev->payload))
        abort();
    json_t *at = json_object_get(ev->fields, "at");
    if (!json_is_string(json_object_get(ev->fields, "kind")) ||
        !json_is_string(at))
        abort();
    GDateTime *d = g_date_time_new_from_iso8601(json_string_value(at), NULL);
    if (!d)
        abort();
    g_date_time_unref(d);
    char *a = json_dumps(ev->fields, JSON_COMPACT);
    char *b = json_dumps(ev->payload, JSON_COMPACT);
    if (!a || !b)
        abort();
    free(a);
    free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!cfg) {
        cfg = config_new_defaults();
        g_free(cfg->voip_events_secret);
        cfg->voip_events_secret = g_strdup(SECRET);
        g_free(cfg->voip_default_country);
        cfg->voip_default_country = g_strdup("DE");
        cfg->voip_replay_window_s = 300;
    }
    const char *body = (const char *)data;
    char *sig = sign(data, size);
    voip_event ev;
    char *err = NULL;
    crm_result r = voip_generic_parse(cfg, body, size, TS, sig,
                                      (time_t)1765000000, &ev, &err);
    if (r == CRM_OK) {
        if (err)
            abort();
        check_event(&ev);
        voip_event_clear(&ev);
    } else {
        if (!err || ev.fields || ev.payload || r == CRM_ERR_AUTH)
            abort();
        g_free(err);
        err = NULL;
    }
    /* stale: refused */
    r = voip_generic_parse(cfg, body, size, TS, sig, (time_t)1765000301, &ev,
                           &err);
    if (r != CRM_ERR_AUTH || ev.fields)
        abort();
    g_free(err);
    err = NULL;
    /* one digit off: refused */
    sig[0] = sig[0] == '0' ? '1' : '0';
    r = voip_generic_parse(cfg, body, size, TS, sig, (time_t)1765000000, &ev,
                           &err);
    if (r != CRM_ERR_AUTH || ev.fields)
        abort();
    g_free(err);
    g_free(sig);
    return 0;
}
