/*
 * voip_zadarma.c - Zadarma PBX notifications (form-encoded POSTs to
 * voip.zadarma_path): verifies the Signature header (base64 of the
 * lowercase hex HMAC-SHA1 of a per-event string with
 * voip.zadarma_secret, compared in constant time) and turns the form into
 * a voip_event with the canonical `fields` (voip.h).
 *
 * Signature strings: START, IVR, INTERNAL, END: caller_id . called_did .
 * call_start; ANSWER: caller_id . destination . call_start; OUT_START,
 * OUT_END: internal . destination . call_start; RECORD: pbx_call_id .
 * call_id_with_rec (an absent field counts as "").
 *
 * Limits: at most VOIP_MAX_FIELDS fields, each at most VOIP_FIELD_MAX
 * bytes of valid UTF-8; call ids at most VOIP_CALL_ID_MAX bytes; call ids
 * and numbers printable ASCII; call_start "YYYY-MM-DD HH:MM:SS" in
 * voip.zadarma_timezone or Unix seconds. Fuzzed by
 * tests/fuzz/fuzz_voip_form.c.
 */
#include <sodium.h>
#include <stdarg.h>
#include <string.h>

#include "crmgate/phone.h"
#include "voip_int.h"

typedef struct {
    const char *name; /* the form's "event" */
    const char *kind; /* fields.kind */
    const char *dir;  /* fields.direction, or NULL (RECORD) */
    const char *sig[3];
    bool at_start; /* at = call_start, else the time of receipt */
} zd_event;

static const zd_event zd_events[] = {
    {"NOTIFY_START",
     "start",
     "in",
     {"caller_id", "called_did", "call_start"},
     true},
    {"NOTIFY_IVR",
     "ivr",
     "in",
     {"caller_id", "called_did", "call_start"},
     true},
    {"NOTIFY_INTERNAL",
     "internal",
     "in",
     {"caller_id", "called_did", "call_start"},
     true},
    {"NOTIFY_ANSWER",
     "answer",
     "in",
     {"caller_id", "destination", "call_start"},
     false},
    {"NOTIFY_END",
     "end",
     "in",
     {"caller_id", "called_did", "call_start"},
     false},
    {"NOTIFY_OUT_START",
     "out_start",
     "out",
     {"internal", "destination", "call_start"},
     true},
    {"NOTIFY_OUT_END",
     "out_end",
     "out",
     {"internal", "destination", "call_start"},
     false},
    {"NOTIFY_RECORD",
     "record",
     NULL,
     {"pbx_call_id", "call_id_with_rec", NULL},
     false},
};

/* Fields that are numbers or ids: printable ASCII only. */
static const char *const ascii_fields[] = {
    "pbx_call_id", "call_id_with_rec", "caller_id",  "called_did",
    "destination", "internal",         "status_code"};

char *voip_zadarma_sign(const char *secret, const char *text)
{
    g_autofree char *hex = g_compute_hmac_for_data(
        G_CHECKSUM_SHA1, (const guchar *)secret, strlen(secret),
        (const guchar *)text, strlen(text));
    return g_base64_encode((const guchar *)hex, strlen(hex));
}

/* Constant time for strings of equal length; a different length is a
   mismatch (the expected signature's length is fixed: nothing leaks). */
static bool sig_equal(const char *want, const char *got)
{
    gsize lw = strlen(want), lg = strlen(got);
    int diff = sodium_memcmp(want, lg == lw ? got : want, lw);
    return lg == lw && diff == 0;
}

static const char *get(const webform *form, const char *name)
{
    const char *v = webform_get(form, name);
    return v ? v : "";
}

typedef struct {
    json_t *obj;
    bool bad;
} payload_ctx;

static void add_payload(const char *name, const char *value, void *data)
{
    payload_ctx *p = data;
    if (!voip_text_ok(name, VOIP_FIELD_MAX) ||
        !voip_text_ok(value, VOIP_FIELD_MAX)) {
        p->bad = true;
        return;
    }
    json_object_set_new(p->obj, name, json_string(value));
}

/* call_start: "YYYY-MM-DD HH:MM:SS" in tz, or Unix seconds. */
static bool parse_start(const char *s, GTimeZone *tz, gint64 *unix_r)
{
    gsize n = strlen(s);
    if (n >= 1 && n <= 11 && strspn(s, "0123456789") == n) {
        *unix_r = g_ascii_strtoll(s, NULL, 10);
        return *unix_r > 0 && *unix_r < G_GINT64_CONSTANT(253402300799);
    }
    static const char shape[] = "dddd-dd-dd dd:dd:dd";
    if (n != sizeof shape - 1)
        return false;
    for (gsize i = 0; i < n; i++)
        if (shape[i] == 'd' ? !g_ascii_isdigit(s[i]) : s[i] != shape[i])
            return false;
    int v[6];
    static const int at[6] = {0, 5, 8, 11, 14, 17};
    static const int len[6] = {4, 2, 2, 2, 2, 2};
    for (int i = 0; i < 6; i++) {
        v[i] = 0;
        for (int k = 0; k < len[i]; k++)
            v[i] = v[i] * 10 + (s[at[i] + k] - '0');
    }
    if (v[0] < 1970 || v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > 31 ||
        v[3] > 23 || v[4] > 59 || v[5] > 59)
        return false;
    GDateTime *d = g_date_time_new(tz, v[0], v[1], v[2], v[3], v[4], v[5]);
    if (!d)
        return false;
    /* g_date_time_new accepts 2026-02-30; a round trip does not */
    bool same = g_date_time_get_day_of_month(d) == v[2] &&
                g_date_time_get_month(d) == v[1];
    *unix_r = g_date_time_to_unix(d);
    g_date_time_unref(d);
    return same;
}

static GTimeZone *zone_of(const crm_config *cfg)
{
    const char *name = cfg->voip_zadarma_timezone;
    if (!name || !*name || strcmp(name, "UTC") == 0)
        return g_time_zone_new_utc();
    GTimeZone *tz = g_time_zone_new_identifier(name);
    return tz ? tz : g_time_zone_new_utc();
}

static crm_result fail(crm_result r, char **error_r, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

static crm_result fail(crm_result r, char **error_r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    *error_r = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    return r;
}

crm_result voip_zadarma_parse(const crm_config *cfg, const webform *form,
                              const char *signature, voip_event *ev,
                              char **error_r)
{
    memset(ev, 0, sizeof *ev);
    const char *secret = cfg->voip_zadarma_secret;
    if (!secret || !*secret)
        return fail(CRM_ERR_AUTH, error_r, "%s",
                    "no voip.zadarma_secret configured");
    if (!signature)
        signature = webform_get(form, "Signature");
    if (!signature || !*signature)
        return fail(CRM_ERR_AUTH, error_r, "%s", "no Signature");
    if (webform_size(form) > VOIP_MAX_FIELDS)
        return fail(CRM_ERR_PARSE, error_r, "more than %s fields",
                    G_STRINGIFY(VOIP_MAX_FIELDS));
    const char *name = get(form, "event");
    const zd_event *e = NULL;
    for (gsize i = 0; i < G_N_ELEMENTS(zd_events); i++)
        if (strcmp(name, zd_events[i].name) == 0)
            e = &zd_events[i];
    if (!e)
        return fail(CRM_ERR_PARSE, error_r, "%s", "unknown or missing event");

    GString *text = g_string_new(NULL);
    for (int i = 0; i < 3 && e->sig[i]; i++)
        g_string_append(text, get(form, e->sig[i]));
    g_autofree char *want = voip_zadarma_sign(secret, text->str);
    g_string_free(text, TRUE);
    if (!sig_equal(want, signature))
        return fail(CRM_ERR_AUTH, error_r, "%s", "wrong Signature");

    /* verified: now the fields */
    payload_ctx pc = {json_object(), false};
    webform_foreach(form, add_payload, &pc);
    if (pc.bad) {
        json_decref(pc.obj);
        return fail(CRM_ERR_PARSE, error_r,
                    "a field is longer than %s "
                    "bytes or not UTF-8",
                    G_STRINGIFY(VOIP_FIELD_MAX));
    }
    for (gsize i = 0; i < G_N_ELEMENTS(ascii_fields); i++) {
        const char *v = get(form, ascii_fields[i]);
        if (*v && !voip_ascii_ok(v, VOIP_FIELD_MAX)) {
            json_decref(pc.obj);
            return fail(CRM_ERR_PARSE, error_r, "%s: not printable ASCII",
                        ascii_fields[i]);
        }
    }
    const char *call_id = get(form, "pbx_call_id");
    const char *rec_id = get(form, "call_id_with_rec");
    if (!*call_id || strlen(call_id) > VOIP_CALL_ID_MAX ||
        strlen(rec_id) > VOIP_CALL_ID_MAX ||
        strlen(get(form, "internal")) > VOIP_CALL_ID_MAX) {
        json_decref(pc.obj);
        return fail(CRM_ERR_PARSE, error_r, "%s",
                    "pbx_call_id missing, or an id longer than 200 bytes");
    }
    gint64 start = 0;
    const char *cs = get(form, "call_start");
    if (strcmp(e->kind, "record") != 0 || *cs) {
        GTimeZone *tz = zone_of(cfg);
        bool ok = parse_start(cs, tz, &start);
        g_time_zone_unref(tz);
        if (!ok) {
            json_decref(pc.obj);
            return fail(CRM_ERR_PARSE, error_r, "%s",
                        "call_start missing or not YYYY-MM-DD HH:MM:SS");
        }
    }
    const char *dur = get(form, "duration");
    gsize dl = strlen(dur);
    if (dl && (dl > 9 || strspn(dur, "0123456789") != dl)) {
        json_decref(pc.obj);
        return fail(CRM_ERR_PARSE, error_r, "%s", "duration is no number");
    }

    json_t *f = json_object();
    json_object_set_new(f, "kind", json_string(e->kind));
    if (e->dir)
        json_object_set_new(f, "direction", json_string(e->dir));
    gint64 now = g_get_real_time() / G_USEC_PER_SEC;
    gint64 at = e->at_start ? start : MAX(now, start);
    g_autofree char *at_s = voip_time_text(at);
    json_object_set_new(f, "at", json_string(at_s));
    if (start) {
        g_autofree char *start_s = voip_time_text(start);
        json_object_set_new(f, "start", json_string(start_s));
    }
    const char *ext = get(form, "internal");
    const char *dedupe = "";
    if (strcmp(e->kind, "out_start") == 0 || strcmp(e->kind, "out_end") == 0) {
        voip_fields_number(f, cfg, "remote", get(form, "destination"));
        voip_fields_number(f, cfg, "line", get(form, "caller_id"));
    } else if (strcmp(e->kind, "record") != 0) {
        voip_fields_number(f, cfg, "remote", get(form, "caller_id"));
        voip_fields_number(f, cfg, "line", get(form, "called_did"));
    }
    if (strcmp(e->kind, "answer") == 0 && !*ext &&
        phone_is_extension(get(form, "destination")))
        ext = get(form, "destination");
    if (*ext)
        json_object_set_new(f, "extension", json_string(ext));
    if (strcmp(e->kind, "internal") == 0 || strcmp(e->kind, "answer") == 0)
        dedupe = get(form, "internal");
    if (strcmp(e->kind, "record") == 0)
        dedupe = rec_id;
    const char *disp = get(form, "disposition");
    if (*disp)
        json_object_set_new(f, "disposition", json_string(disp));
    if (dl)
        json_object_set_new(f, "duration",
                            json_integer(g_ascii_strtoll(dur, NULL, 10)));
    const char *code = get(form, "status_code");
    if (*code)
        json_object_set_new(f, "status_code", json_string(code));
    const char *isrec = webform_get(form, "is_recorded");
    if (isrec)
        json_object_set_new(f, "recorded",
                            json_boolean(strcmp(isrec, "1") == 0));
    if (*rec_id)
        json_object_set_new(f, "recording_id", json_string(rec_id));
    voip_event_fill(ev, "zadarma", call_id, e->name, dedupe, pc.obj, f);
    return CRM_OK;
}
