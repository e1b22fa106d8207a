/*
 * voip_generic.c - the generic signed JSON webhook (/voip/events) for
 * PBXs other than Zadarma (an Asterisk dialplan or AGI script, a PBX's
 * HTTP hook). The timestamp window and the HMAC-SHA256 signature of
 * "TIMESTAMP.BODY" (voip.events_secret, lowercase hex, constant time) are
 * checked before a byte of JSON is parsed; then the body becomes a
 * voip_event with the canonical `fields` (voip.h).
 *
 * Body: {"provider", "call_id", "event", "direction", "time",
 * "call_start", "from", "to", "extension", "disposition", "duration",
 * "recording_url", "id"} (README, "VoIP webhooks"); other members are kept
 * in the payload only.
 *
 * Limits: a body of at most VOIP_JSON_MAX bytes, nesting at most
 * VOIP_JSON_DEPTH, at most VOIP_MAX_FIELDS members, duplicate keys
 * rejected; strings as in voip.h. Fuzzed by tests/fuzz/fuzz_voip_json.c.
 */
#include <sodium.h>
#include <string.h>

#include "voip_int.h"

#define VOIP_JSON_MAX 65536
#define VOIP_JSON_DEPTH 4

static const char *const kinds[] = {"start", "ivr",       "internal", "answer",
                                    "end",   "out_start", "out_end",  "record"};
static const char *const dispositions[] = {"answered", "busy", "cancel",
                                           "no answer", "failed"};

static crm_result fail(crm_result r, char **error_r, const char *msg)
{
    *error_r = g_strdup(msg);
    return r;
}

/* Unix seconds: 1 to 12 digits, nothing else. */
static bool parse_ts(const char *s, gint64 *ts_r)
{
    gsize n = s ? strlen(s) : 0;
    if (n == 0 || n > 12 || strspn(s, "0123456789") != n)
        return false;
    *ts_r = g_ascii_strtoll(s, NULL, 10);
    return true;
}

/* The nesting depth of a JSON text (brackets outside strings). */
static bool depth_ok(const char *s, gsize len)
{
    int depth = 0;
    bool in_str = false;
    for (gsize i = 0; i < len; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == '{' || c == '[') {
            if (++depth > VOIP_JSON_DEPTH)
                return false;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return true;
}

static bool in_list(const char *s, const char *const *list, gsize n)
{
    for (gsize i = 0; i < n; i++)
        if (strcmp(s, list[i]) == 0)
            return true;
    return false;
}

/* A string member: absent (*out_r NULL, true), or a string passing the
   check (ascii: printable ASCII), else false. */
static bool member_str(json_t *body, const char *key, bool ascii, gsize max,
                       const char **out_r)
{
    json_t *v = json_object_get(body, key);
    *out_r = NULL;
    if (!v || json_is_null(v))
        return true;
    if (!json_is_string(v))
        return false;
    const char *s = json_string_value(v);
    if (strlen(s) != json_string_length(v)) /* an embedded NUL */
        return false;
    if (ascii ? !voip_ascii_ok(s, max) : !voip_text_ok(s, max))
        return false;
    *out_r = s;
    return true;
}

/* An integer member in [0, max]: absent (*out_r -1, true), else false. */
static bool member_int(json_t *body, const char *key, json_int_t max,
                       json_int_t *out_r)
{
    json_t *v = json_object_get(body, key);
    *out_r = -1;
    if (!v || json_is_null(v))
        return true;
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) > max)
        return false;
    *out_r = json_integer_value(v);
    return true;
}

static bool provider_ok(const char *p)
{
    gsize n = strlen(p);
    return n >= 1 && n <= 40 &&
           strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

static crm_result verify(const crm_config *cfg, const char *body, gsize len,
                         const char *ts, const char *sig, time_t now,
                         char **error_r)
{
    const char *secret = cfg->voip_events_secret;
    if (!secret || !*secret)
        return fail(CRM_ERR_AUTH, error_r, "no voip.events_secret configured");
    gint64 t = 0;
    if (!parse_ts(ts, &t))
        return fail(CRM_ERR_AUTH, error_r,
                    "X-Crmgate-Timestamp missing or not Unix seconds");
    gint64 skew = (gint64)now - t;
    if (skew < 0)
        skew = -skew;
    if (skew > (gint64)cfg->voip_replay_window_s)
        return fail(CRM_ERR_AUTH, error_r,
                    "X-Crmgate-Timestamp outside the replay window");
    if (!sig || strlen(sig) != 64 || strspn(sig, "0123456789abcdef") != 64)
        return fail(CRM_ERR_AUTH, error_r,
                    "X-Crmgate-Signature missing or not lowercase hex");
    GHmac *h =
        g_hmac_new(G_CHECKSUM_SHA256, (const guchar *)secret, strlen(secret));
    g_hmac_update(h, (const guchar *)ts, (gssize)strlen(ts));
    g_hmac_update(h, (const guchar *)".", 1);
    g_hmac_update(h, (const guchar *)body, (gssize)len);
    const char *want = g_hmac_get_string(h);
    bool ok = sodium_memcmp(want, sig, 64) == 0;
    g_hmac_unref(h);
    if (!ok)
        return fail(CRM_ERR_AUTH, error_r, "wrong X-Crmgate-Signature");
    return CRM_OK;
}

crm_result voip_generic_parse(const crm_config *cfg, const char *body,
                              gsize len, const char *ts, const char *sig,
                              time_t now, voip_event *ev, char **error_r)
{
    memset(ev, 0, sizeof *ev);
    crm_result r = verify(cfg, body, len, ts, sig, now, error_r);
    if (r)
        return r;
    if (len > VOIP_JSON_MAX)
        return fail(CRM_ERR_TOOBIG, error_r, "body larger than 64 KiB");
    if (!depth_ok(body, len))
        return fail(CRM_ERR_PARSE, error_r, "JSON nested too deep");
    json_error_t jerr;
    json_t *b = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!b) {
        *error_r = g_strdup_printf("bad JSON: %s", jerr.text);
        return CRM_ERR_PARSE;
    }
    if (!json_is_object(b) || json_object_size(b) > VOIP_MAX_FIELDS) {
        json_decref(b);
        return fail(CRM_ERR_PARSE, error_r,
                    "body is no JSON object of at most 64 members");
    }
    const char *provider, *call_id, *event, *dir, *from, *to, *ext, *disp, *url,
        *id;
    json_int_t t_at, t_start, dur;
    if (!member_str(b, "provider", true, 40, &provider) ||
        (provider && !provider_ok(provider)))
        r = fail(CRM_ERR_PARSE, error_r, "provider: [a-z0-9_.-]{1,40}");
    else if (!member_str(b, "call_id", true, VOIP_CALL_ID_MAX, &call_id) ||
             !call_id)
        r = fail(CRM_ERR_PARSE, error_r,
                 "call_id missing, or not 1-200 bytes of printable ASCII");
    else if (!member_str(b, "event", true, 40, &event) || !event ||
             !in_list(event, kinds, G_N_ELEMENTS(kinds)))
        r = fail(CRM_ERR_PARSE, error_r, "event missing or unknown");
    else if (!member_str(b, "direction", true, 3, &dir) ||
             (dir && strcmp(dir, "in") != 0 && strcmp(dir, "out") != 0))
        r = fail(CRM_ERR_PARSE, error_r, "direction: in or out");
    else if (!member_int(b, "time", G_GINT64_CONSTANT(253402300799), &t_at) ||
             !member_int(b, "call_start", G_GINT64_CONSTANT(253402300799),
                         &t_start))
        r = fail(CRM_ERR_PARSE, error_r,
                 "time and call_start: Unix seconds (integers)");
    else if (!member_str(b, "from", true, VOIP_NUMBER_MAX, &from) ||
             !member_str(b, "to", true, VOIP_NUMBER_MAX, &to) ||
             !member_str(b, "extension", true, 40, &ext))
        r = fail(CRM_ERR_PARSE, error_r,
                 "from, to, extension: printable ASCII, bounded");
    else if (!member_str(b, "disposition", true, 20, &disp) ||
             (disp && !in_list(disp, dispositions, G_N_ELEMENTS(dispositions))))
        r = fail(CRM_ERR_PARSE, error_r,
                 "disposition: answered, busy, cancel, no answer or failed");
    else if (!member_int(b, "duration", 100000000, &dur))
        r = fail(CRM_ERR_PARSE, error_r, "duration: a whole number >= 0");
    else if (!member_str(b, "recording_url", true, VOIP_FIELD_MAX, &url) ||
             (url && !g_str_has_prefix(url, "https://") &&
              !g_str_has_prefix(url, "http://")))
        r = fail(CRM_ERR_PARSE, error_r, "recording_url: an http(s) URL");
    else if (!member_str(b, "id", true, VOIP_CALL_ID_MAX, &id))
        r = fail(CRM_ERR_PARSE, error_r, "id: 1-200 bytes of printable ASCII");
    if (r) {
        json_decref(b);
        return r;
    }
    /* every other member: within the field bound, valid UTF-8 (jansson
       checked), and no deeper than the depth bound */
    const char *key;
    json_t *v;
    json_object_foreach(b, key, v)
    {
        if (strlen(key) > VOIP_FIELD_MAX ||
            (json_is_string(v) && json_string_length(v) > VOIP_FIELD_MAX)) {
            json_decref(b);
            return fail(CRM_ERR_PARSE, error_r,
                        "a member is longer than 1024 bytes");
        }
    }

    bool out =
        g_str_has_prefix(event, "out_") || (dir && strcmp(dir, "out") == 0);
    bool is_record = strcmp(event, "record") == 0;
    json_t *f = json_object();
    json_object_set_new(f, "kind", json_string(event));
    if (!is_record || dir)
        json_object_set_new(f, "direction", json_string(out ? "out" : "in"));
    gint64 at = t_at >= 0 ? (gint64)t_at : (gint64)now;
    gint64 start = t_start >= 0 ? (gint64)t_start : 0;
    if (!start &&
        (strcmp(event, "start") == 0 || strcmp(event, "out_start") == 0))
        start = at;
    if (start && at < start)
        at = start;
    g_autofree char *at_s = voip_time_text(at);
    json_object_set_new(f, "at", json_string(at_s));
    if (start) {
        g_autofree char *start_s = voip_time_text(start);
        json_object_set_new(f, "start", json_string(start_s));
    }
    voip_fields_number(f, cfg, "remote", out ? to : from);
    voip_fields_number(f, cfg, "line", out ? from : to);
    if (ext)
        json_object_set_new(f, "extension", json_string(ext));
    if (disp)
        json_object_set_new(f, "disposition", json_string(disp));
    if (dur >= 0)
        json_object_set_new(f, "duration", json_integer(dur));
    if (url) {
        json_object_set_new(f, "recorded", json_true());
        json_object_set_new(f, "recording_id", json_string(url));
    }
    const char *dedupe = "";
    if (id)
        dedupe = id;
    else if (ext &&
             (strcmp(event, "internal") == 0 || strcmp(event, "answer") == 0))
        dedupe = ext;
    voip_event_fill(ev, provider ? provider : "pbx", call_id, event, dedupe, b,
                    f);
    return CRM_OK;
}
