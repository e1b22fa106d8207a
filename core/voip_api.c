/*
 * voip_api.c - the Zadarma API client (see voip_api.h): request
 * signatures, signed GETs and recording downloads over libcurl.
 *
 * Every transfer is one curl easy handle made and freed here (the worker
 * calls this a few times a minute, a pool would buy nothing); each is
 * bounded in time (voip.api_timeout) and size (a write callback that
 * stops at the bound), and limited to http and https, redirects included.
 * API requests never follow redirects (the signature is for one URL);
 * downloads follow at most 3. Secrets are never logged.
 */
#include "crmgate/voip_api.h"

#include <curl/curl.h>
#include <pthread.h>
#include <string.h>

#define VOIP_API_REDIRECTS_MAX 3

static pthread_once_t voip_curl_once = PTHREAD_ONCE_INIT;
static CURLcode voip_curl_rc = CURLE_OK;

static void voip_curl_init(void)
{
    voip_curl_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

char *voip_api_urlencode(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    GString *out = g_string_sized_new(strlen(s) * 3 + 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (g_ascii_isalnum(*p) || *p == '-' || *p == '_' || *p == '.') {
            g_string_append_c(out, (char)*p);
        } else if (*p == ' ') {
            g_string_append_c(out, '+');
        } else {
            g_string_append_c(out, '%');
            g_string_append_c(out, hex[*p >> 4]);
            g_string_append_c(out, hex[*p & 15]);
        }
    }
    return g_string_free(out, FALSE);
}

typedef struct {
    const char *key, *value;
} kv;

static int kv_cmp(const void *a, const void *b)
{
    return strcmp(((const kv *)a)->key, ((const kv *)b)->key);
}

/* The sorted, encoded query of params (key, value, ...). */
static char *build_query(GPtrArray *params)
{
    guint n = params ? params->len / 2 : 0;
    kv *pairs = g_new0(kv, n ? n : 1);
    for (guint i = 0; i < n; i++) {
        pairs[i].key = g_ptr_array_index(params, 2 * i);
        pairs[i].value = g_ptr_array_index(params, 2 * i + 1);
        if (!pairs[i].value)
            pairs[i].value = "";
    }
    /* ksort: by key; keys are distinct (a PHP array has no duplicates). */
    qsort(pairs, n, sizeof *pairs, kv_cmp);
    GString *q = g_string_new(NULL);
    for (guint i = 0; i < n; i++) {
        g_autofree char *k = voip_api_urlencode(pairs[i].key);
        g_autofree char *v = voip_api_urlencode(pairs[i].value);
        g_string_append_printf(q, "%s%s=%s", i ? "&" : "", k, v);
    }
    g_free(pairs);
    return g_string_free(q, FALSE);
}

char *voip_api_sign(const char *secret, const char *method, GPtrArray *params,
                    char **query_r)
{
    g_autofree char *q = build_query(params);
    g_autofree char *md5 = g_compute_checksum_for_string(G_CHECKSUM_MD5, q, -1);
    g_autofree char *text = g_strconcat(method, q, md5, NULL);
    g_autofree char *hex = g_compute_hmac_for_string(
        G_CHECKSUM_SHA1, (const guchar *)secret, strlen(secret), text, -1);
    char *sign = g_base64_encode((const guchar *)hex, strlen(hex));
    if (query_r)
        *query_r = g_steal_pointer(&q);
    return sign;
}

/* A growing buffer that refuses to pass max bytes. */
typedef struct {
    GByteArray *bytes;
    guint64 max;
    gboolean too_big;
} sink;

static size_t sink_write(char *data, size_t size, size_t nmemb, void *userp)
{
    sink *s = userp;
    size_t n = size * nmemb;
    if ((guint64)s->bytes->len + n > s->max) {
        s->too_big = TRUE;
        return 0; /* curl stops with CURLE_WRITE_ERROR */
    }
    g_byte_array_append(s->bytes, (const guint8 *)data, (guint)n);
    return n;
}

/* A curl handle with the common options: GET url, timeout, http(s) only,
   bounded body into s. NULL when curl cannot start. */
static CURL *easy_new(const crm_config *cfg, const char *url, sink *s,
                      char *errbuf)
{
    pthread_once(&voip_curl_once, voip_curl_init);
    if (voip_curl_rc != CURLE_OK)
        return NULL;
    CURL *e = curl_easy_init();
    if (!e)
        return NULL;
    long timeout = cfg->voip_api_timeout_s ? (long)cfg->voip_api_timeout_s : 10;
    errbuf[0] = '\0';
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, timeout);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, timeout);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_USERAGENT, "crmgate/" CRM_VERSION);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)s->max);
    return e;
}

/* A transfer error as a result: too big, else try again later. */
static crm_result curl_failed(CURLcode rc, const sink *s, const char *errbuf,
                              const char *what, char **error_r)
{
    if (s->too_big || rc == CURLE_FILESIZE_EXCEEDED) {
        *error_r = g_strdup_printf("%s: more than %" G_GUINT64_FORMAT " bytes",
                                   what, s->max);
        return CRM_ERR_TOOBIG;
    }
    *error_r = g_strdup_printf("%s: %s", what,
                               *errbuf ? errbuf : curl_easy_strerror(rc));
    return CRM_ERR_BUSY;
}

crm_result voip_api_get(const crm_config *cfg, const char *method,
                        GPtrArray *params, json_t **answer_r, char **error_r)
{
    *answer_r = NULL;
    if (!cfg->voip_zadarma_key || !*cfg->voip_zadarma_key) {
        *error_r = g_strdup("voip.zadarma_key is not set");
        return CRM_ERR_CONFIG;
    }
    if (!cfg->voip_zadarma_secret || !*cfg->voip_zadarma_secret) {
        *error_r = g_strdup("voip.zadarma_secret is not set");
        return CRM_ERR_CONFIG;
    }
    const char *base = cfg->voip_zadarma_api_url;
    if (!base || !(g_str_has_prefix(base, "https://") ||
                   g_str_has_prefix(base, "http://"))) {
        *error_r = g_strdup("voip.zadarma_api_url is not an http(s) URL");
        return CRM_ERR_CONFIG;
    }
    GPtrArray *all = g_ptr_array_new();
    for (guint i = 0; params && i < params->len; i++)
        g_ptr_array_add(all, g_ptr_array_index(params, i));
    g_ptr_array_add(all, (gpointer) "format");
    g_ptr_array_add(all, (gpointer) "json");
    g_autofree char *query = NULL;
    g_autofree char *sign =
        voip_api_sign(cfg->voip_zadarma_secret, method, all, &query);
    g_ptr_array_unref(all);
    gsize blen = strlen(base);
    while (blen > 0 && base[blen - 1] == '/')
        blen--;
    g_autofree char *url =
        g_strdup_printf("%.*s%s?%s", (int)blen, base, method, query);
    g_autofree char *auth =
        g_strdup_printf("Authorization: %s:%s", cfg->voip_zadarma_key, sign);

    sink s = {.bytes = g_byte_array_new(), .max = VOIP_API_ANSWER_MAX};
    char errbuf[CURL_ERROR_SIZE];
    CURL *e = easy_new(cfg, url, &s, errbuf);
    if (!e) {
        g_byte_array_unref(s.bytes);
        *error_r = g_strdup("libcurl could not start");
        return CRM_ERR_INTERNAL;
    }
    struct curl_slist *hdr = curl_slist_append(NULL, auth);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    CURLcode rc = curl_easy_perform(e);
    long code = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(e);
    curl_slist_free_all(hdr);
    crm_result r = CRM_OK;
    if (rc != CURLE_OK) {
        r = curl_failed(rc, &s, errbuf, method, error_r);
        g_byte_array_unref(s.bytes);
        return r;
    }
    json_error_t jerr;
    json_t *ans = json_loadb((const char *)s.bytes->data, s.bytes->len,
                             JSON_REJECT_DUPLICATES, &jerr);
    g_byte_array_unref(s.bytes);
    const char *status = json_string_value(json_object_get(ans, "status"));
    const char *msg = json_string_value(json_object_get(ans, "message"));
    g_autofree char *msg_ok =
        msg ? g_utf8_make_valid(msg, MIN((gssize)strlen(msg), 500)) : NULL;
    if (code == 401 || code == 403) {
        *error_r = g_strdup_printf("%s: HTTP %ld: %s", method, code,
                                   msg_ok ? msg_ok : "not authorized");
        r = CRM_ERR_AUTH;
    } else if (code == 404) {
        *error_r = g_strdup_printf("%s: HTTP 404%s%s", method,
                                   msg_ok ? ": " : "", msg_ok ? msg_ok : "");
        r = CRM_ERR_NOTFOUND;
    } else if (code >= 500 || code == 429 || !json_is_object(ans)) {
        *error_r =
            g_strdup_printf("%s: HTTP %ld%s", method, code,
                            json_is_object(ans) ? "" : ", answer is no JSON");
        r = CRM_ERR_BUSY;
    } else if (code >= 200 && code < 300 && status &&
               strcmp(status, "success") == 0) {
        r = CRM_OK;
    } else {
        *error_r = g_strdup(msg_ok ? msg_ok : "the provider answered an error");
        r = CRM_ERR_PARSE;
    }
    if (json_is_object(ans) && (r == CRM_OK || r == CRM_ERR_PARSE))
        *answer_r = ans;
    else
        json_decref(ans);
    return r;
}

crm_result voip_api_download(const crm_config *cfg, const char *url,
                             GByteArray **bytes_r, char **ctype_r,
                             char **error_r)
{
    *bytes_r = NULL;
    *ctype_r = NULL;
    if (!url || !(g_str_has_prefix(url, "https://") ||
                  g_str_has_prefix(url, "http://"))) {
        *error_r = g_strdup("recording link is not an http(s) URL");
        return CRM_ERR_USAGE;
    }
    sink s = {.bytes = g_byte_array_new(),
              .max = cfg->voip_recording_max_bytes
                         ? cfg->voip_recording_max_bytes
                         : 52428800};
    char errbuf[CURL_ERROR_SIZE];
    CURL *e = easy_new(cfg, url, &s, errbuf);
    if (!e) {
        g_byte_array_unref(s.bytes);
        *error_r = g_strdup("libcurl could not start");
        return CRM_ERR_INTERNAL;
    }
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, (long)VOIP_API_REDIRECTS_MAX);
    CURLcode rc = curl_easy_perform(e);
    long code = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
    const char *ct = NULL;
    curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &ct);
    g_autofree char *ctype = NULL;
    if (ct && *ct && strlen(ct) <= VOIP_API_CTYPE_MAX) {
        gboolean printable = TRUE;
        for (const char *p = ct; *p; p++)
            if (!g_ascii_isprint(*p))
                printable = FALSE;
        if (printable)
            ctype = g_strdup(ct);
    }
    curl_easy_cleanup(e);
    crm_result r = CRM_OK;
    if (rc != CURLE_OK) {
        r = curl_failed(rc, &s, errbuf, "recording download", error_r);
    } else if (code == 404) {
        *error_r = g_strdup("recording download: HTTP 404");
        r = CRM_ERR_NOTFOUND;
    } else if (code >= 500 || code == 429) {
        *error_r = g_strdup_printf("recording download: HTTP %ld", code);
        r = CRM_ERR_BUSY;
    } else if (code < 200 || code >= 300) {
        *error_r = g_strdup_printf("recording download: HTTP %ld", code);
        r = CRM_ERR_IO;
    }
    if (r) {
        g_byte_array_unref(s.bytes);
        return r;
    }
    *bytes_r = s.bytes;
    *ctype_r = g_steal_pointer(&ctype);
    return CRM_OK;
}
