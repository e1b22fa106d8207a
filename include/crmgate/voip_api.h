/*
 * voip_api.h - the Zadarma API client crmgate-worker uses: signed GET
 * requests (click-to-call "/v1/request/callback/", recording links
 * "/v1/pbx/record/request/") and the download of a recording, all over
 * libcurl.
 *
 * Request signature (Zadarma's PHP client): the parameters sorted by key
 * (ksort), encoded like PHP's http_build_query (RFC 1738: [A-Za-z0-9._-]
 * kept, space as '+', every other byte %XX upper case; '~' and '*' are
 * encoded) into Q; sign = base64(lowercase hex HMAC-SHA1(secret, METHOD .
 * Q . md5hex(Q))); header "Authorization: KEY:SIGN"; GET METHOD?Q.
 *
 * Limits: an API answer of at most VOIP_API_ANSWER_MAX bytes; a recording
 * of at most voip.recording_max_bytes; every transfer within
 * voip.api_timeout seconds; only http and https (redirects too).
 */
#ifndef CRMGATE_VOIP_API_H
#define CRMGATE_VOIP_API_H

#include <glib.h>
#include <jansson.h>

#include "crmgate/config.h"
#include "crmgate/result.h"

#define VOIP_API_ANSWER_MAX (1024 * 1024)
#define VOIP_API_CTYPE_MAX 100

/* The Zadarma signature of a request: params (key, value, key, value...)
   are signed exactly as given (voip_api_get adds format=json before it
   calls this); *query_r (may be NULL) gets the encoded, sorted query.
   Returns the base64 signature (newly allocated). */
char *voip_api_sign(const char *secret, const char *method, GPtrArray *params,
                    char **query_r);

/* PHP urlencode() of s (RFC 1738, space as '+'), newly allocated. */
char *voip_api_urlencode(const char *s);

/* GET cfg->voip_zadarma_api_url . method ? Q, signed, with params plus
   format=json. CRM_OK: HTTP 2xx and {"status":"success"} (*answer_r the
   answer). CRM_ERR_CONFIG: voip.zadarma_key or zadarma_secret not set.
   CRM_ERR_AUTH: HTTP 401/403. CRM_ERR_PARSE: the provider answered
   {"status":"error"} (*error_r its message, *answer_r the answer).
   CRM_ERR_BUSY: network error, timeout, HTTP 5xx or 429, an answer that is
   no JSON object (try again later). CRM_ERR_NOTFOUND: HTTP 404.
   CRM_ERR_TOOBIG: an answer over VOIP_API_ANSWER_MAX. */
crm_result voip_api_get(const crm_config *cfg, const char *method,
                        GPtrArray *params, json_t **answer_r, char **error_r);

/* Downloads url (http or https only) into *bytes_r, at most
   cfg->voip_recording_max_bytes (else CRM_ERR_TOOBIG); *ctype_r is the
   answer's Content-Type (NULL when none or not printable ASCII).
   CRM_ERR_USAGE: not an http(s) URL. CRM_ERR_NOTFOUND: HTTP 404.
   CRM_ERR_BUSY: network error, timeout, 5xx, 429. CRM_ERR_IO: any other
   non-2xx answer. */
crm_result voip_api_download(const crm_config *cfg, const char *url,
                             GByteArray **bytes_r, char **ctype_r,
                             char **error_r);

#endif
