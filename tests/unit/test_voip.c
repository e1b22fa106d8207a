/*
 * test_voip.c - the provider webhook parsers (core/voip_zadarma.c,
 * core/voip_generic.c) and the source allowlist (core/voip.c): known
 * signature vectors (computed with Python's hmac, hashlib and base64),
 * every Zadarma event to its canonical fields, forged, missing and
 * wrongly keyed signatures, bad UTF-8, oversize and too many fields, bad
 * call_start, the PBX time zone; the generic JSON: stale and future
 * timestamps, bad hex, a body changed after signing, duplicate keys, deep
 * nesting.
 */
#include <glib.h>
#include <stdarg.h>
#include <string.h>

#include "crmgate/voip.h"

#define ZSECRET "zadarma-test-secret"
#define GSECRET "events-test-secret"

static crm_config *cfg;

static void set_str(char **field, const char *value)
{
    g_free(*field);
    *field = g_strdup(value);
}

/* A form of name, value pairs (NULL-terminated). */
static webform *form_of(const char *name, ...)
{
    webform *f = webform_new();
    va_list ap;
    va_start(ap, name);
    for (const char *n = name; n; n = va_arg(ap, const char *)) {
        const char *v = va_arg(ap, const char *);
        g_assert_true(webform_add(f, n, v));
    }
    va_end(ap);
    return f;
}

static const char *val(const webform *f, const char *n)
{
    const char *v = webform_get(f, n);
    return v ? v : "";
}

/* The Signature a Zadarma PBX sends for form (with secret). */
static char *sign_form(const webform *f, const char *secret)
{
    const char *e = val(f, "event");
    g_autofree char *text = NULL;
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
    return voip_zadarma_sign(secret, text);
}

/* Signs f with ZSECRET and parses it. */
static crm_result zparse(webform *f, voip_event *ev)
{
    g_autofree char *sig = sign_form(f, ZSECRET);
    char *err = NULL;
    crm_result r = voip_zadarma_parse(cfg, f, sig, ev, &err);
    if (r)
        g_assert_nonnull(err);
    else
        g_assert_null(err);
    g_free(err);
    return r;
}

static const char *fstr(const voip_event *ev, const char *key)
{
    json_t *v = json_object_get(ev->fields, key);
    return v ? json_string_value(v) : NULL;
}

static void test_sign_vectors(void)
{
    static const struct {
        const char *secret, *text, *sig;
    } v[] = {
        {ZSECRET, "4930123456749309999992026-12-06 14:00:00",
         "MGY2MzI1NThiMDU0NmNmZmE2NGM1NjIwNmNkNWU4MWUzZGYwNjY1OA=="},
        {ZSECRET, "493012345671012026-12-06 14:00:00",
         "Y2VjMDJiMzY2NTc4YjZmZGU3OGY0ZjhiYTViZDE1ZmYwYjEyOGM3Nw=="},
        {ZSECRET, "10149305555552026-12-06 14:00:00",
         "MDMwZGFiMThkYTZjZTIyYTlhNTAwZjczNTMxMzFmYTE1NWZmODI3OA=="},
        {ZSECRET, "in-1in-1-rec",
         "ODhlYTZmYzdmZTBhOTY3OTIxYjdkODQzNTExN2Q2ZmYxNjYyMGY4OQ=="},
        {ZSECRET, "",
         "MTBmMGI3ODc3NDRjY2UyYTU3ZDVjNzI1ZjVlNzFjYmM1OTJjM2I3OA=="},
        {"secret", "hello",
         "NTExMjA1NWMwNWY5NDRmODU3NTVlZmM1Y2Q4OTcwZTE5NGU5ZjQ1Yg=="},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(v); i++) {
        g_autofree char *s = voip_zadarma_sign(v[i].secret, v[i].text);
        g_assert_cmpstr(s, ==, v[i].sig);
    }
}

/* A START as a PBX sends it, with the known signature above. */
static void test_start_known_vector(void)
{
    webform *f =
        form_of("event", "NOTIFY_START", "call_start", "2026-12-06 14:00:00",
                "pbx_call_id", "in-1", "caller_id", "49301234567", "called_did",
                "4930999999", NULL);
    voip_event ev;
    char *err = NULL;
    g_assert_cmpint(
        voip_zadarma_parse(
            cfg, f, "MGY2MzI1NThiMDU0NmNmZmE2NGM1NjIwNmNkNWU4MWUzZGYwNjY1OA==",
            &ev, &err),
        ==, CRM_OK);
    g_assert_cmpstr(ev.provider, ==, "zadarma");
    g_assert_cmpstr(ev.call_id, ==, "in-1");
    g_assert_cmpstr(ev.event, ==, "NOTIFY_START");
    g_assert_cmpstr(ev.dedupe, ==, "");
    g_assert_cmpstr(fstr(&ev, "kind"), ==, "start");
    g_assert_cmpstr(fstr(&ev, "direction"), ==, "in");
    /* Europe/Berlin in winter: UTC+1 */
    g_assert_cmpstr(fstr(&ev, "start"), ==, "2026-12-06T13:00:00+00:00");
    g_assert_cmpstr(fstr(&ev, "at"), ==, "2026-12-06T13:00:00+00:00");
    g_assert_cmpstr(fstr(&ev, "remote"), ==, "49301234567");
    g_assert_cmpstr(fstr(&ev, "remote_e164"), ==, "+49301234567");
    g_assert_cmpstr(fstr(&ev, "remote_last9"), ==, "301234567");
    g_assert_cmpstr(fstr(&ev, "line"), ==, "4930999999");
    g_assert_cmpstr(fstr(&ev, "line_e164"), ==, "+4930999999");
    g_assert_null(json_object_get(ev.fields, "line_last9"));
    g_assert_null(json_object_get(ev.fields, "duration"));
    /* the payload: every form field, as strings */
    g_assert_cmpuint(json_object_size(ev.payload), ==, 5);
    g_assert_cmpstr(json_string_value(json_object_get(ev.payload, "caller_id")),
                    ==, "49301234567");
    voip_event_clear(&ev);
    g_assert_null(ev.fields);
    g_assert_null(ev.provider);
    /* the signature may come as a form field instead of the header */
    webform_add(f, "Signature",
                "MGY2MzI1NThiMDU0NmNmZmE2NGM1NjIwNmNkNWU4MWUzZGYwNjY1OA==");
    g_assert_cmpint(voip_zadarma_parse(cfg, f, NULL, &ev, &err), ==, CRM_OK);
    voip_event_clear(&ev);
    webform_free(&f);
}

static void test_every_event(void)
{
    gint64 before = g_get_real_time() / G_USEC_PER_SEC;
    static const char *start = "2026-07-01 10:00:00"; /* CEST: UTC+2 */
    struct {
        webform *f;
        const char *kind, *dir, *dedupe, *remote, *line, *ext;
        bool at_is_start;
    } c[] = {
        {form_of("event", "NOTIFY_START", "call_start", start, "pbx_call_id",
                 "c1", "caller_id", "+49 30 1234567", "called_did",
                 "4930999999", NULL),
         "start", "in", "", "+49301234567", "+4930999999", NULL, true},
        {form_of("event", "NOTIFY_IVR", "call_start", start, "pbx_call_id",
                 "c1", "caller_id", "0301234567", "called_did", "4930999999",
                 NULL),
         "ivr", "in", "", "+49301234567", "+4930999999", NULL, true},
        {form_of("event", "NOTIFY_INTERNAL", "call_start", start, "pbx_call_id",
                 "c1", "caller_id", "0301234567", "called_did", "4930999999",
                 "internal", "102", NULL),
         "internal", "in", "102", "+49301234567", "+4930999999", "102", true},
        {form_of("event", "NOTIFY_ANSWER", "call_start", start, "pbx_call_id",
                 "c1", "caller_id", "0301234567", "destination", "101",
                 "internal", "101", NULL),
         "answer", "in", "101", "+49301234567", NULL, "101", false},
        {form_of("event", "NOTIFY_END", "call_start", start, "pbx_call_id",
                 "c1", "caller_id", "0301234567", "called_did", "4930999999",
                 "internal", "101", "duration", "42", "disposition", "answered",
                 "status_code", "16", "is_recorded", "1", "call_id_with_rec",
                 "c1-rec", NULL),
         "end", "in", "", "+49301234567", "+4930999999", "101", false},
        {form_of("event", "NOTIFY_OUT_START", "call_start", start,
                 "pbx_call_id", "o1", "internal", "101", "destination",
                 "+1 212 555 1234", "caller_id", "4930999999", NULL),
         "out_start", "out", "", "+12125551234", "+4930999999", "101", true},
        {form_of("event", "NOTIFY_OUT_END", "call_start", start, "pbx_call_id",
                 "o1", "internal", "101", "destination", "+12125551234",
                 "caller_id", "4930999999", "duration", "0", "disposition",
                 "busy", "status_code", "17", "is_recorded", "0",
                 "call_id_with_rec", "", NULL),
         "out_end", "out", "", "+12125551234", "+4930999999", "101", false},
        {form_of("event", "NOTIFY_RECORD", "pbx_call_id", "c1",
                 "call_id_with_rec", "c1-rec", NULL),
         "record", NULL, "c1-rec", NULL, NULL, NULL, false},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(c); i++) {
        voip_event ev;
        g_assert_cmpint(zparse(c[i].f, &ev), ==, CRM_OK);
        g_assert_cmpstr(fstr(&ev, "kind"), ==, c[i].kind);
        g_assert_cmpstr(fstr(&ev, "direction"), ==, c[i].dir);
        g_assert_cmpstr(ev.dedupe, ==, c[i].dedupe);
        g_assert_cmpstr(fstr(&ev, "remote_e164"), ==, c[i].remote);
        g_assert_cmpstr(fstr(&ev, "line_e164"), ==, c[i].line);
        g_assert_cmpstr(fstr(&ev, "extension"), ==, c[i].ext);
        if (strcmp(c[i].kind, "record") == 0) {
            g_assert_null(json_object_get(ev.fields, "start"));
            g_assert_cmpstr(fstr(&ev, "recording_id"), ==, "c1-rec");
        } else {
            g_assert_cmpstr(fstr(&ev, "start"), ==,
                            "2026-07-01T08:00:00+00:00");
        }
        if (c[i].at_is_start) {
            g_assert_cmpstr(fstr(&ev, "at"), ==, "2026-07-01T08:00:00+00:00");
        } else { /* the time of receipt */
            GDateTime *at = g_date_time_new_from_iso8601(fstr(&ev, "at"), NULL);
            g_assert_nonnull(at);
            g_assert_cmpint(g_date_time_to_unix(at), >=, before);
            g_date_time_unref(at);
        }
        if (strcmp(c[i].kind, "end") == 0) {
            json_t *d = json_object_get(ev.fields, "duration");
            g_assert_true(json_is_integer(d));
            g_assert_cmpint(json_integer_value(d), ==, 42);
            g_assert_cmpstr(fstr(&ev, "disposition"), ==, "answered");
            g_assert_cmpstr(fstr(&ev, "status_code"), ==, "16");
            g_assert_true(json_is_true(json_object_get(ev.fields, "recorded")));
            g_assert_cmpstr(fstr(&ev, "recording_id"), ==, "c1-rec");
        }
        if (strcmp(c[i].kind, "out_end") == 0) {
            g_assert_true(
                json_is_false(json_object_get(ev.fields, "recorded")));
            g_assert_null(json_object_get(ev.fields, "recording_id"));
            g_assert_cmpint(
                json_integer_value(json_object_get(ev.fields, "duration")), ==,
                0);
        }
        voip_event_clear(&ev);
        webform_free(&c[i].f);
    }
}

/* An END in the future: `at` is never before the call's start. */
static void test_at_not_before_start(void)
{
    webform *f = form_of("event", "NOTIFY_END", "call_start",
                         "2099-01-01 "
                         "00:00:00",
                         "pbx_call_id", "c9", NULL);
    voip_event ev;
    g_assert_cmpint(zparse(f, &ev), ==, CRM_OK);
    g_assert_cmpstr(fstr(&ev, "at"), ==, fstr(&ev, "start"));
    g_assert_cmpstr(fstr(&ev, "start"), ==, "2098-12-31T23:00:00+00:00");
    voip_event_clear(&ev);
    webform_free(&f);
}

static void test_forged(void)
{
    webform *f =
        form_of("event", "NOTIFY_START", "call_start", "2026-12-06 14:00:00",
                "pbx_call_id", "in-1", "caller_id", "49301234567", "called_did",
                "4930999999", NULL);
    voip_event ev;
    char *err = NULL;
    g_autofree char *good = sign_form(f, ZSECRET);
    g_autofree char *wrong_key = sign_form(f, "another-secret");
    const char *bad[] = {
        NULL, /* none at all */
        "",
        wrong_key,
        "MGY2MzI1NThiMDU0NmNmZmE2NGM1NjIwNmNkNWU4MWUzZGYwNjY1OQ==",  /* 1 bit */
        "MGY2MzI1NThiMDU0NmNmZmE2NGM1NjIwNmNkNWU4MWUzZGYwNjY1OA=",   /* short */
        "MGY2MzI1NThiMDU0NmNmZmE2NGM1NjIwNmNkNWU4MWUzZGYwNjY1OA==x", /* long */
        "0f6325",
    };
    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_assert_cmpint(voip_zadarma_parse(cfg, f, bad[i], &ev, &err), ==,
                        CRM_ERR_AUTH);
        g_assert_nonnull(err);
        g_assert_null(strstr(err, ZSECRET)); /* never the secret */
        g_clear_pointer(&err, g_free);
        g_assert_null(ev.fields);
    }
    /* a field of the signed string changed after signing */
    webform *f2 =
        form_of("event", "NOTIFY_START", "call_start", "2026-12-06 14:00:00",
                "pbx_call_id", "in-1", "caller_id", "49301234568", "called_did",
                "4930999999", NULL);
    g_assert_cmpint(voip_zadarma_parse(cfg, f2, good, &ev, &err), ==,
                    CRM_ERR_AUTH);
    g_clear_pointer(&err, g_free);
    /* the right signature passes (the checks above can fail) */
    g_assert_cmpint(voip_zadarma_parse(cfg, f, good, &ev, &err), ==, CRM_OK);
    voip_event_clear(&ev);
    /* no secret configured: nothing verifies, not even an empty HMAC */
    char *saved = g_strdup(cfg->voip_zadarma_secret);
    set_str(&cfg->voip_zadarma_secret, "");
    g_autofree char *empty_key = sign_form(f, "");
    g_assert_cmpint(voip_zadarma_parse(cfg, f, empty_key, &ev, &err), ==,
                    CRM_ERR_AUTH);
    g_clear_pointer(&err, g_free);
    set_str(&cfg->voip_zadarma_secret, saved);
    g_free(saved);
    webform_free(&f);
    webform_free(&f2);
}

static void test_bad_fields(void)
{
    voip_event ev;
    /* unknown or missing event */
    webform *f = form_of("event", "NOTIFY_BOGUS", "call_start",
                         "2026-12-06 14:00:00", "pbx_call_id", "x", NULL);
    g_assert_cmpint(zparse(f, &ev), ==, CRM_ERR_PARSE);
    webform_free(&f);
    f = form_of("call_start", "2026-12-06 14:00:00", "pbx_call_id", "x", NULL);
    g_assert_cmpint(zparse(f, &ev), ==, CRM_ERR_PARSE);
    webform_free(&f);
    /* missing pbx_call_id, missing call_start */
    f = form_of("event", "NOTIFY_START", "call_start", "2026-12-06 14:00:00",
                NULL);
    g_assert_cmpint(zparse(f, &ev), ==, CRM_ERR_PARSE);
    webform_free(&f);
    f = form_of("event", "NOTIFY_START", "pbx_call_id", "x", NULL);
    g_assert_cmpint(zparse(f, &ev), ==, CRM_ERR_PARSE);
    webform_free(&f);
    /* bad call_start */
    const char *starts[] = {"2026-12-06T14:00:00", "2026-02-30 10:00:00",
                            "2026-12-06 24:00:00", "2026-12-06 14:00",
                            "yesterday",           "-5",
                            "1969-12-31 23:59:59", "2026-13-01 00:00:00"};
    for (gsize i = 0; i < G_N_ELEMENTS(starts); i++) {
        f = form_of("event", "NOTIFY_START", "call_start", starts[i],
                    "pbx_call_id", "x", NULL);
        g_assert_cmpint(zparse(f, &ev), ==, CRM_ERR_PARSE);
        webform_free(&f);
    }
    /* a call id of 201 bytes; 200 pass */
    g_autofree char *id201 = g_strnfill(201, 'a');
    f = form_of("event", "NOTIFY_START", "call_start", "2026-12-06 14:00:00",
                "pbx_call_id", id201, NULL);
    g_assert_cmpint(zparse(f, &ev), ==, CRM_ERR_PARSE);
    webform_free(&f);
    id201[200] = '\0';
    f = form_of("event", "NOTIFY_START", "call_start", "2026-12-06 14:00:00",
                "pbx_call_id", id201, NULL);
    g_assert_cmpint(zparse(f, &ev), ==, CRM_OK);
    voip_event_clear(&ev);
    webform_free(&f);
    /* control characters in a number */
    f = form_of("event", "NOTIFY_START", "call_start", "2026-12-06 14:00:00",
                "pbx_call_id", "x", "caller_id", "030\n123", NULL);
    g_assert_cmpint(zparse(f, &ev), ==, CRM_ERR_PARSE);
    webform_free(&f);
    /* duration no number */
    f = form_of("event", "NOTIFY_END", "call_start", "2026-12-06 14:00:00",
                "pbx_call_id", "x", "duration", "12s", NULL);
    g_assert_cmpint(zparse(f, &ev), ==, CRM_ERR_PARSE);
    webform_free(&f);
}

static void test_bad_utf8_and_size(void)
{
    voip_event ev;
    /* invalid UTF-8 arrives repaired (U+FFFD): no longer a number */
    webform *f = NULL;
    const char raw[] = "event=NOTIFY_START&call_start=2026-12-06+14%3A00%3A00"
                       "&pbx_call_id=x&caller_id=030%FF%FE1234567";
    g_assert_cmpint(webform_parse(raw, strlen(raw), &f), ==, CRM_OK);
    g_assert_cmpint(zparse(f, &ev), ==, CRM_ERR_PARSE);
    /* signed over the raw bytes: the repaired field no longer verifies */
    char *err = NULL;
    g_autofree char *rawsig =
        voip_zadarma_sign(ZSECRET, "030\xff\xfe"
                                   "12345672026-12-06 14:00:00");
    g_assert_cmpint(voip_zadarma_parse(cfg, f, rawsig, &ev, &err), ==,
                    CRM_ERR_AUTH);
    g_clear_pointer(&err, g_free);
    webform_free(&f);
    /* a field of VOIP_FIELD_MAX + 1 bytes; VOIP_FIELD_MAX passes */
    g_autofree char *big = g_strnfill(VOIP_FIELD_MAX + 1, 'x');
    f = form_of("event", "NOTIFY_START", "call_start", "2026-12-06 14:00:00",
                "pbx_call_id", "x", "extra", big, NULL);
    g_assert_cmpint(zparse(f, &ev), ==, CRM_ERR_PARSE);
    webform_free(&f);
    big[VOIP_FIELD_MAX] = '\0';
    f = form_of("event", "NOTIFY_START", "call_start", "2026-12-06 14:00:00",
                "pbx_call_id", "x", "extra", big, NULL);
    g_assert_cmpint(zparse(f, &ev), ==, CRM_OK);
    voip_event_clear(&ev);
    webform_free(&f);
    /* 64 fields pass, 65 do not */
    f = form_of("event", "NOTIFY_START", "call_start", "2026-12-06 14:00:00",
                "pbx_call_id", "x", NULL);
    for (int i = 3; i < 64; i++) {
        g_autofree char *n = g_strdup_printf("f%d", i);
        webform_add(f, n, "v");
    }
    g_assert_cmpint(zparse(f, &ev), ==, CRM_OK);
    g_assert_cmpuint(json_object_size(ev.payload), ==, 64);
    voip_event_clear(&ev);
    webform_add(f, "one_more", "v");
    g_assert_cmpint(zparse(f, &ev), ==, CRM_ERR_PARSE);
    webform_free(&f);
}

static void test_timezone(void)
{
    voip_event ev;
    static const struct {
        const char *zone, *in, *out;
    } v[] = {
        {"Europe/Berlin", "2026-12-06 14:00:00", "2026-12-06T13:00:00+00:00"},
        {"Europe/Berlin", "2026-07-01 14:00:00", "2026-07-01T12:00:00+00:00"},
        {"Europe/Moscow", "2026-07-01 14:00:00", "2026-07-01T11:00:00+00:00"},
        {"UTC", "2026-07-01 14:00:00", "2026-07-01T14:00:00+00:00"},
        {"America/New_York", "2026-01-15 09:30:05",
         "2026-01-15T14:30:05+00:00"},
        /* Unix seconds are zone-free */
        {"Europe/Berlin", "1765000000", "2025-12-06T05:46:40+00:00"},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(v); i++) {
        set_str(&cfg->voip_zadarma_timezone, v[i].zone);
        webform *f = form_of("event", "NOTIFY_START", "call_start", v[i].in,
                             "pbx_call_id", "tz", NULL);
        g_assert_cmpint(zparse(f, &ev), ==, CRM_OK);
        g_assert_cmpstr(fstr(&ev, "start"), ==, v[i].out);
        voip_event_clear(&ev);
        webform_free(&f);
    }
    set_str(&cfg->voip_zadarma_timezone, "Europe/Berlin");
}

/* --- generic JSON ------------------------------------------------------ */

static const gint64 NOW = 1765000000;

static char *gsign(const char *ts, const char *body, gsize len)
{
    GHmac *h =
        g_hmac_new(G_CHECKSUM_SHA256, (const guchar *)GSECRET, strlen(GSECRET));
    g_hmac_update(h, (const guchar *)ts, -1);
    g_hmac_update(h, (const guchar *)".", 1);
    g_hmac_update(h, (const guchar *)body, (gssize)len);
    char *s = g_strdup(g_hmac_get_string(h));
    g_hmac_unref(h);
    return s;
}

/* Signs body at ts and parses it at NOW. */
static crm_result gparse_at(const char *body, gint64 ts, voip_event *ev)
{
    g_autofree char *t = g_strdup_printf("%" G_GINT64_FORMAT, ts);
    g_autofree char *sig = gsign(t, body, strlen(body));
    char *err = NULL;
    crm_result r = voip_generic_parse(cfg, body, strlen(body), t, sig,
                                      (time_t)NOW, ev, &err);
    if (r)
        g_assert_nonnull(err);
    g_free(err);
    return r;
}

static crm_result gparse(const char *body, voip_event *ev)
{
    return gparse_at(body, NOW, ev);
}

static void test_generic_vector(void)
{
    const char *body = "{\"call_id\":\"g-1\",\"event\":\"start\",\"from\":"
                       "\"030 1234567\",\"to\":\"+4930999999\"}";
    voip_event ev;
    char *err = NULL;
    g_assert_cmpint(
        voip_generic_parse(
            cfg, body, strlen(body), "1765000000",
            "f2126ba772012db979a652431203433ae543c1d6388435d6da12170ed1020832",
            (time_t)NOW, &ev, &err),
        ==, CRM_OK);
    g_assert_cmpstr(ev.provider, ==, "pbx");
    g_assert_cmpstr(ev.call_id, ==, "g-1");
    g_assert_cmpstr(ev.event, ==, "start");
    g_assert_cmpstr(ev.dedupe, ==, "");
    g_assert_cmpstr(fstr(&ev, "kind"), ==, "start");
    g_assert_cmpstr(fstr(&ev, "direction"), ==, "in");
    g_assert_cmpstr(fstr(&ev, "remote"), ==, "030 1234567");
    g_assert_cmpstr(fstr(&ev, "remote_e164"), ==, "+49301234567");
    g_assert_cmpstr(fstr(&ev, "remote_last9"), ==, "301234567");
    g_assert_cmpstr(fstr(&ev, "line_e164"), ==, "+4930999999");
    g_assert_cmpstr(fstr(&ev, "at"), ==, "2025-12-06T05:46:40+00:00");
    g_assert_cmpstr(fstr(&ev, "start"), ==, "2025-12-06T05:46:40+00:00");
    g_assert_true(json_is_object(ev.payload));
    g_assert_cmpstr(json_string_value(json_object_get(ev.payload, "from")), ==,
                    "030 1234567");
    voip_event_clear(&ev);
}

static void test_generic_auth(void)
{
    const char *body = "{\"call_id\":\"g-1\",\"event\":\"start\"}";
    voip_event ev;
    char *err = NULL;
    /* the replay window (300 s) both ways; its edge passes */
    g_assert_cmpint(gparse_at(body, NOW - 301, &ev), ==, CRM_ERR_AUTH);
    g_assert_cmpint(gparse_at(body, NOW + 301, &ev), ==, CRM_ERR_AUTH);
    g_assert_cmpint(gparse_at(body, NOW - 300, &ev), ==, CRM_OK);
    voip_event_clear(&ev);
    g_assert_cmpint(gparse_at(body, NOW + 300, &ev), ==, CRM_OK);
    voip_event_clear(&ev);
    g_autofree char *sig = gsign("1765000000", body, strlen(body));
    /* bad timestamps */
    const char *tss[] = {NULL,
                         "",
                         "1765000000.0",
                         "-1765000000",
                         " 1765000000",
                         "1765000000x",
                         "99999999999999999"};
    for (gsize i = 0; i < G_N_ELEMENTS(tss); i++) {
        g_assert_cmpint(voip_generic_parse(cfg, body, strlen(body), tss[i], sig,
                                           (time_t)NOW, &ev, &err),
                        ==, CRM_ERR_AUTH);
        g_clear_pointer(&err, g_free);
    }
    /* bad hex: uppercase, short, long, not hex, missing */
    g_autofree char *upper = g_ascii_strup(sig, -1);
    g_autofree char *shortsig = g_strndup(sig, 63);
    g_autofree char *longsig = g_strconcat(sig, "0", NULL);
    g_autofree char *nothex = g_strdup(sig);
    nothex[10] = 'g';
    const char *sigs[] = {upper, shortsig, longsig, nothex, NULL, ""};
    for (gsize i = 0; i < G_N_ELEMENTS(sigs); i++) {
        g_assert_cmpint(voip_generic_parse(cfg, body, strlen(body),
                                           "1765000000", sigs[i], (time_t)NOW,
                                           &ev, &err),
                        ==, CRM_ERR_AUTH);
        g_clear_pointer(&err, g_free);
    }
    /* the body changed after signing (one byte, one byte more) */
    const char *changed = "{\"call_id\":\"g-2\",\"event\":\"start\"}";
    g_assert_cmpint(voip_generic_parse(cfg, changed, strlen(changed),
                                       "1765000000", sig, (time_t)NOW, &ev,
                                       &err),
                    ==, CRM_ERR_AUTH);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(voip_generic_parse(cfg, body, strlen(body) - 1,
                                       "1765000000", sig, (time_t)NOW, &ev,
                                       &err),
                    ==, CRM_ERR_AUTH);
    g_clear_pointer(&err, g_free);
    /* the timestamp is signed too */
    g_assert_cmpint(voip_generic_parse(cfg, body, strlen(body), "1765000001",
                                       sig, (time_t)NOW, &ev, &err),
                    ==, CRM_ERR_AUTH);
    g_clear_pointer(&err, g_free);
    /* the right one passes */
    g_assert_cmpint(voip_generic_parse(cfg, body, strlen(body), "1765000000",
                                       sig, (time_t)NOW, &ev, &err),
                    ==, CRM_OK);
    voip_event_clear(&ev);
    /* no events_secret: refused even when signed with "" */
    set_str(&cfg->voip_events_secret, "");
    g_assert_cmpint(voip_generic_parse(cfg, body, strlen(body), "1765000000",
                                       sig, (time_t)NOW, &ev, &err),
                    ==, CRM_ERR_AUTH);
    g_clear_pointer(&err, g_free);
    set_str(&cfg->voip_events_secret, GSECRET);
}

static void test_generic_bad_json(void)
{
    voip_event ev;
    const char *bad[] = {
        "",
        "null",
        "[]",
        "{\"call_id\":\"a\",\"event\":\"start\",\"call_id\":\"b\"}",
        "{\"call_id\":\"a\",\"event\":\"start\",\"x\":[[[[[1]]]]]}",
        "{\"event\":\"start\"}",
        "{\"call_id\":\"\",\"event\":\"start\"}",
        "{\"call_id\":\"a\"}",
        "{\"call_id\":\"a\",\"event\":\"hangup\"}",
        "{\"call_id\":7,\"event\":\"start\"}",
        "{\"call_id\":\"a\",\"event\":\"start\",\"time\":\"now\"}",
        "{\"call_id\":\"a\",\"event\":\"start\",\"time\":1.5}",
        "{\"call_id\":\"a\",\"event\":\"start\",\"time\":-1}",
        "{\"call_id\":\"a\",\"event\":\"end\",\"duration\":-3}",
        "{\"call_id\":\"a\",\"event\":\"end\",\"disposition\":\"gone\"}",
        "{\"call_id\":\"a\",\"event\":\"start\",\"direction\":\"up\"}",
        "{\"call_id\":\"a\",\"event\":\"start\",\"provider\":\"Big PBX\"}",
        "{\"call_id\":\"a\",\"event\":\"start\",\"from\":\"030\\n1\"}",
        "{\"call_id\":\"a\\u0000b\",\"event\":\"start\"}",
        ("{\"call_id\":\"a\",\"event\":\"record\",\"recording_url\":"
         "\"file:///etc/passwd\"}"),
        "{\"call_id\":\"a\",\"event\":\"start\",\"from\":\"\xff\xfe\"}",
        "{\"call_id\":\"a\",\"event\":\"start\"",
    };
    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
        if (gparse(bad[i], &ev) != CRM_ERR_PARSE)
            g_error("accepted: %s", bad[i]);
    }
    /* nesting up to the bound is fine; a huge one never reaches jansson */
    g_assert_cmpint(
        gparse("{\"call_id\":\"a\",\"event\":\"start\",\"x\":[[[1]]]}", &ev),
        ==, CRM_OK);
    voip_event_clear(&ev);
    GString *deep =
        g_string_new("{\"call_id\":\"a\",\"event\":\"start\",\"x\":");
    for (int i = 0; i < 100000; i++)
        g_string_append_c(deep, '[');
    g_assert_cmpint(gparse(deep->str, &ev), ==, CRM_ERR_TOOBIG);
    g_string_truncate(deep, 40000);
    g_assert_cmpint(gparse(deep->str, &ev), ==, CRM_ERR_PARSE);
    g_string_free(deep, TRUE);
    /* 64 members pass, 65 do not */
    GString *many = g_string_new("{\"call_id\":\"a\",\"event\":\"start\"");
    for (int i = 2; i < 64; i++)
        g_string_append_printf(many, ",\"m%d\":1", i);
    g_string_append_c(many, '}');
    g_assert_cmpint(gparse(many->str, &ev), ==, CRM_OK);
    voip_event_clear(&ev);
    g_string_truncate(many, many->len - 1);
    g_string_append(many, ",\"one_more\":1}");
    g_assert_cmpint(gparse(many->str, &ev), ==, CRM_ERR_PARSE);
    g_string_free(many, TRUE);
}

static void test_generic_mapping(void)
{
    voip_event ev;
    /* outgoing: remote is "to", line is "from"; out_* imply out */
    g_assert_cmpint(
        gparse("{\"provider\":\"asterisk\",\"call_id\":\"o-1\",\"event\":"
               "\"out_end\",\"from\":\"+4930999999\",\"to\":\"+1 212 555 "
               "1234\",\"extension\":\"101\",\"disposition\":\"no answer\","
               "\"duration\":0,\"time\":1765000100,\"call_start\":1765000050,"
               "\"recording_url\":\"https://pbx.example/rec/1.mp3\"}",
               &ev),
        ==, CRM_OK);
    g_assert_cmpstr(ev.provider, ==, "asterisk");
    g_assert_cmpstr(fstr(&ev, "direction"), ==, "out");
    g_assert_cmpstr(fstr(&ev, "remote_e164"), ==, "+12125551234");
    g_assert_cmpstr(fstr(&ev, "line_e164"), ==, "+4930999999");
    g_assert_cmpstr(fstr(&ev, "extension"), ==, "101");
    g_assert_cmpstr(fstr(&ev, "disposition"), ==, "no answer");
    g_assert_cmpstr(fstr(&ev, "at"), ==, "2025-12-06T05:48:20+00:00");
    g_assert_cmpstr(fstr(&ev, "start"), ==, "2025-12-06T05:47:30+00:00");
    g_assert_cmpstr(fstr(&ev, "recording_id"), ==,
                    "https://pbx.example/rec/1.mp3");
    g_assert_true(json_is_true(json_object_get(ev.fields, "recorded")));
    g_assert_cmpint(json_integer_value(json_object_get(ev.fields, "duration")),
                    ==, 0);
    voip_event_clear(&ev);
    /* dedupe: id, else the extension of internal and answer events */
    g_assert_cmpint(gparse("{\"call_id\":\"a\",\"event\":\"answer\","
                           "\"extension\":\"102\"}",
                           &ev),
                    ==, CRM_OK);
    g_assert_cmpstr(ev.dedupe, ==, "102");
    g_assert_cmpstr(fstr(&ev, "direction"), ==, "in");
    voip_event_clear(&ev);
    g_assert_cmpint(gparse("{\"call_id\":\"a\",\"event\":\"answer\","
                           "\"extension\":\"102\",\"id\":\"ev-9\"}",
                           &ev),
                    ==, CRM_OK);
    g_assert_cmpstr(ev.dedupe, ==, "ev-9");
    voip_event_clear(&ev);
    g_assert_cmpint(gparse("{\"call_id\":\"a\",\"event\":\"end\","
                           "\"extension\":\"102\"}",
                           &ev),
                    ==, CRM_OK);
    g_assert_cmpstr(ev.dedupe, ==, "");
    /* no time: now; an extension or junk gets no e164 */
    g_assert_cmpstr(fstr(&ev, "at"), ==, "2025-12-06T05:46:40+00:00");
    voip_event_clear(&ev);
    g_assert_cmpint(gparse("{\"call_id\":\"a\",\"event\":\"start\","
                           "\"from\":\"101\",\"to\":\"anonymous\"}",
                           &ev),
                    ==, CRM_OK);
    g_assert_cmpstr(fstr(&ev, "remote"), ==, "101");
    g_assert_null(json_object_get(ev.fields, "remote_e164"));
    g_assert_null(json_object_get(ev.fields, "remote_last9"));
    g_assert_cmpstr(fstr(&ev, "line"), ==, "anonymous");
    g_assert_null(json_object_get(ev.fields, "line_e164"));
    voip_event_clear(&ev);
    /* time before call_start: clamped to the start */
    g_assert_cmpint(gparse("{\"call_id\":\"a\",\"event\":\"end\",\"time\":"
                           "1765000000,\"call_start\":1765000600}",
                           &ev),
                    ==, CRM_OK);
    g_assert_cmpstr(fstr(&ev, "at"), ==, fstr(&ev, "start"));
    voip_event_clear(&ev);
}

static void test_allow(void)
{
    /* empty list: any */
    g_assert_true(voip_source_allowed(cfg, "203.0.113.9"));
    char **saved = cfg->voip_allow;
    char *list[] = {"185.45.152.42",  "10.1.0.0/16", "2001:db8::/32",
                    "not-an-address", "300.1.1.1/8", NULL};
    cfg->voip_allow = list;
    g_assert_true(voip_source_allowed(cfg, "185.45.152.42"));
    g_assert_false(voip_source_allowed(cfg, "185.45.152.43"));
    g_assert_true(voip_source_allowed(cfg, "10.1.255.1"));
    g_assert_false(voip_source_allowed(cfg, "10.2.0.1"));
    g_assert_true(voip_source_allowed(cfg, "2001:db8:1::5"));
    g_assert_false(voip_source_allowed(cfg, "2001:db9::5"));
    g_assert_false(voip_source_allowed(cfg, "::ffff:10.1.0.1"));
    g_assert_false(voip_source_allowed(cfg, "not-an-address"));
    g_assert_false(voip_source_allowed(cfg, ""));
    g_assert_false(voip_source_allowed(cfg, NULL));
    g_assert_false(voip_source_allowed(cfg, "300.1.1.1"));
    cfg->voip_allow = saved;
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    cfg = config_new_defaults();
    /* the test stack exports its own secrets: use fixed ones */
    set_str(&cfg->voip_zadarma_secret, ZSECRET);
    set_str(&cfg->voip_events_secret, GSECRET);
    set_str(&cfg->voip_zadarma_timezone, "Europe/Berlin");
    set_str(&cfg->voip_default_country, "DE");
    cfg->voip_replay_window_s = 300;
    g_test_add_func("/voip/zadarma/sign_vectors", test_sign_vectors);
    g_test_add_func("/voip/zadarma/start_known_vector",
                    test_start_known_vector);
    g_test_add_func("/voip/zadarma/every_event", test_every_event);
    g_test_add_func("/voip/zadarma/at_not_before_start",
                    test_at_not_before_start);
    g_test_add_func("/voip/zadarma/forged", test_forged);
    g_test_add_func("/voip/zadarma/bad_fields", test_bad_fields);
    g_test_add_func("/voip/zadarma/bad_utf8_and_size", test_bad_utf8_and_size);
    g_test_add_func("/voip/zadarma/timezone", test_timezone);
    g_test_add_func("/voip/generic/vector", test_generic_vector);
    g_test_add_func("/voip/generic/auth", test_generic_auth);
    g_test_add_func("/voip/generic/bad_json", test_generic_bad_json);
    g_test_add_func("/voip/generic/mapping", test_generic_mapping);
    g_test_add_func("/voip/allow", test_allow);
    int rc = g_test_run();
    config_free(&cfg);
    return rc;
}
