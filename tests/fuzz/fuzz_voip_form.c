/*
 * fuzz_voip_form.c - libFuzzer target for Zadarma notifications as
 * crmgate-web receives them: the input is a form body (webform_parse),
 * verified and parsed by voip_zadarma_parse with a fixed secret.
 *
 * So that the parser behind the signature is reached, the harness signs
 * each form itself (the per-event string of voip_zadarma.c, written again
 * here) and parses it; a one-byte-off signature must give CRM_ERR_AUTH and
 * no event. An accepted event must carry the bounds of voip.h: a call id
 * of 1..200 printable ASCII bytes, a known kind, `at` in RFC 3339, a
 * payload of at most 64 strings of valid UTF-8, an integer duration, and
 * it must serialise.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crmgate/voip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SECRET "fuzz-secret"

static crm_config *cfg;

static const char *val(const webform *f, const char *n)
{
    const char *v = webform_get(f, n);
    return v ? v : "";
}

static char *sign_form(const webform *f)
{
    const char *e = val(f, "event");
    char *text;
    if (strcmp(e, "NOTIFY_ANSWER") == 0)
        text = g_strconcat(val(f, "caller_id"), val(f, "destination"),
                           val(f, "call_start"), NULL);
    else if (g_str_has_prefix(e, "NOTIFY_OUT_"))
        text = g_strconcat(val(f, "internal"), val(f, "destination"),
                           val(f, "call_start"), NULL);
    else if (strcmp(e, "NOTIFY_RECORD") == 0)
        text = g_strconcat(val(f, "pbx_call_id"), val(f, "call_id_with_rec"),
                           NULL);
    else
        text = g_strconcat(val(f, "caller_id"), val(f, "called_did"),
                           val(f, "call_start"), NULL);
    char *sig = voip_zadarma_sign(SECRET, text);
    g_free(text);
    return sig;
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
    if (strcmp(ev->provider, "zadarma") != 0 || strlen(ev->dedupe) > 200)
        abort();
    json_t *kind = json_object_get(ev->fields, "kind");
    json_t *at = json_object_get(ev->fields, "at");
    if (!json_is_string(kind) || !json_is_string(at))
        abort();
    GDateTime *d = g_date_time_new_from_iso8601(json_string_value(at), NULL);
    if (!d)
        abort();
    g_date_time_unref(d);
    json_t *dur = json_object_get(ev->fields, "duration");
    if (dur && !json_is_integer(dur))
        abort();
    if (!json_is_object(ev->payload) || json_object_size(ev->payload) > 64)
        abort();
    const char *k;
    json_t *v;
    json_object_foreach(ev->payload, k, v)
    {
        if (!json_is_string(v) ||
            !g_utf8_validate(json_string_value(v), -1, NULL) ||
            !g_utf8_validate(k, -1, NULL))
            abort();
    }
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
        g_free(cfg->voip_zadarma_secret);
        cfg->voip_zadarma_secret = g_strdup(SECRET);
        g_free(cfg->voip_zadarma_timezone);
        cfg->voip_zadarma_timezone = g_strdup("Europe/Berlin");
        g_free(cfg->voip_default_country);
        cfg->voip_default_country = g_strdup("DE");
    }
    webform *f = NULL;
    if (webform_parse((const char *)data, size, &f) != CRM_OK)
        return 0;
    char *sig = sign_form(f);
    voip_event ev;
    char *err = NULL;
    crm_result r = voip_zadarma_parse(cfg, f, sig, &ev, &err);
    if (r == CRM_OK) {
        if (err)
            abort();
        check_event(&ev);
        voip_event_clear(&ev);
    } else {
        if (!err || ev.fields || ev.payload)
            abort();
        g_free(err);
        err = NULL;
    }
    /* one byte off: never accepted */
    sig[3] = sig[3] == 'A' ? 'B' : 'A';
    r = voip_zadarma_parse(cfg, f, sig, &ev, &err);
    if (r == CRM_OK || ev.fields)
        abort();
    g_free(err);
    g_free(sig);
    webform_free(&f);
    return 0;
}
