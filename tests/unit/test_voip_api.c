/*
 * test_voip_api.c - the Zadarma API client without a network: request
 * signatures against values computed by a Python replica of Zadarma's PHP
 * client (ksort, http_build_query, md5, hash_hmac sha1 hex, base64), PHP
 * urlencode rules, and the refusals that need no server (no key, no
 * secret, a link that is not http(s)).
 */
#include <glib.h>
#include <string.h>

#include "crmgate/config.h"
#include "crmgate/voip_api.h"

static GPtrArray *pairs(const char *const *kv)
{
    GPtrArray *a = g_ptr_array_new();
    for (int i = 0; kv[i]; i++)
        g_ptr_array_add(a, (gpointer)kv[i]);
    return a;
}

static void test_sign_callback(void)
{
    /* Unsorted on purpose: the signature sorts by key. */
    static const char *const kv[] = {"to",     "+493012345678", "from", "101",
                                     "format", "json",          NULL};
    GPtrArray *p = pairs(kv);
    char *q = NULL;
    char *sign = voip_api_sign("s3cr3t", "/v1/request/callback/", p, &q);
    g_assert_cmpstr(q, ==, "format=json&from=101&to=%2B493012345678");
    g_assert_cmpstr(sign, ==,
                    "NTkwMTBhZGIwNTFiMDE2ZmQzYjk0OTE3MjM0MWUxYTNkNzBhMjFiYg==");
    g_free(q);
    g_free(sign);
    /* A different secret, a different signature. */
    sign = voip_api_sign("s3cr3T", "/v1/request/callback/", p, NULL);
    g_assert_cmpstr(sign, !=,
                    "NTkwMTBhZGIwNTFiMDE2ZmQzYjk0OTE3MjM0MWUxYTNkNzBhMjFiYg==");
    g_free(sign);
    g_ptr_array_unref(p);
}

static void test_sign_encoding(void)
{
    /* space '+', '~' and '*' encoded (PHP urlencode), UTF-8 bytes %XX */
    static const char *const kv[] = {"pbx_call_id", "in_abc 1~*\xc3\xbc",
                                     "call_id",     "1234.5678",
                                     "format",      "json",
                                     NULL};
    GPtrArray *p = pairs(kv);
    char *q = NULL;
    char *sign = voip_api_sign("s3cr3t", "/v1/pbx/record/request/", p, &q);
    g_assert_cmpstr(
        q, ==,
        "call_id=1234.5678&format=json&pbx_call_id=in_abc+1%7E%2A%C3%BC");
    g_assert_cmpstr(sign, ==,
                    "ZmMzZDE3OTM5NDg1NDM5OTZmNTJjNjI2NmIxNDlkZmZlNzJlM2M1Zg==");
    g_free(q);
    g_free(sign);
    g_ptr_array_unref(p);
}

static void test_urlencode(void)
{
    char *s = voip_api_urlencode("aZ09-_.~* +/&=%");
    g_assert_cmpstr(s, ==, "aZ09-_.%7E%2A+%2B%2F%26%3D%25");
    g_free(s);
    s = voip_api_urlencode("");
    g_assert_cmpstr(s, ==, "");
    g_free(s);
}

static void test_refusals(void)
{
    crm_config cfg = {0};
    cfg.voip_zadarma_key = (char *)"";
    cfg.voip_zadarma_secret = (char *)"x";
    cfg.voip_zadarma_api_url = (char *)"http://127.0.0.1:1";
    cfg.voip_api_timeout_s = 1;
    cfg.voip_recording_max_bytes = 1024;
    json_t *ans = NULL;
    char *err = NULL;
    g_assert_cmpint(
        voip_api_get(&cfg, "/v1/request/callback/", NULL, &ans, &err), ==,
        CRM_ERR_CONFIG);
    g_assert_cmpstr(err, ==, "voip.zadarma_key is not set");
    g_assert_null(ans);
    g_clear_pointer(&err, g_free);
    cfg.voip_zadarma_key = (char *)"k";
    cfg.voip_zadarma_secret = (char *)"";
    g_assert_cmpint(
        voip_api_get(&cfg, "/v1/request/callback/", NULL, &ans, &err), ==,
        CRM_ERR_CONFIG);
    g_assert_cmpstr(err, ==, "voip.zadarma_secret is not set");
    g_clear_pointer(&err, g_free);
    /* nothing listens on port 1: a network error, to be retried */
    cfg.voip_zadarma_secret = (char *)"x";
    g_assert_cmpint(
        voip_api_get(&cfg, "/v1/request/callback/", NULL, &ans, &err), ==,
        CRM_ERR_BUSY);
    g_assert_nonnull(err);
    g_clear_pointer(&err, g_free);

    GByteArray *bytes = NULL;
    char *ctype = NULL;
    static const char *const bad[] = {
        "file:///etc/passwd", "ftp://x/y", "gopher://x", "HTTP:/x", "", NULL};
    for (int i = 0; bad[i]; i++) {
        g_assert_cmpint(voip_api_download(&cfg, bad[i], &bytes, &ctype, &err),
                        ==, CRM_ERR_USAGE);
        g_assert_null(bytes);
        g_clear_pointer(&err, g_free);
    }
    g_assert_cmpint(voip_api_download(&cfg, "http://127.0.0.1:1/r.mp3", &bytes,
                                      &ctype, &err),
                    ==, CRM_ERR_BUSY);
    g_assert_null(bytes);
    g_clear_pointer(&err, g_free);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/voip_api/sign_callback", test_sign_callback);
    g_test_add_func("/voip_api/sign_encoding", test_sign_encoding);
    g_test_add_func("/voip_api/urlencode", test_urlencode);
    g_test_add_func("/voip_api/refusals", test_refusals);
    return g_test_run();
}
