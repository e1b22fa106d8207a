/*
 * tokens.h - signed identifiers carried by campaign mail: the recipient
 * token "ID-MAC" (envelope sender, Message-ID, unsubscribe links), the
 * campaign token "cID-MAC" (anonymous tracking) and the signature of click
 * links.
 *
 * ID is a campaign_recipients (or campaigns) row id in decimal, 0 < ID <
 * 2^62, without leading zeros or sign; MAC is the first TOKEN_MAC_LEN
 * lowercase hex characters of HMAC-SHA256(key = secret, message =
 * "crmgate/r/" ID) ("crmgate/c/" ID for a campaign). Verification accepts
 * any letter case, compares the MAC in constant time and rejects anything
 * else (empty, truncated, extra bytes, non-hex, huge id, NULL, empty
 * secret).
 */
#ifndef CRMGATE_TOKENS_H
#define CRMGATE_TOKENS_H

#include <glib.h>
#include <stdbool.h>

#define TOKEN_MAC_LEN 20
/* Longest token: 'c', 19 digits, '-', the MAC. */
#define TOKEN_MAX_LEN (1 + 19 + 1 + TOKEN_MAC_LEN)
#define TOKEN_ID_MAX ((gint64)1 << 62) /* ids are below this */

/* The recipient token "ID-MAC" (g_free it); NULL when id is out of range
   or secret is NULL/empty. */
char *token_recipient(const char *secret, gint64 id);
/* True when tok is a recipient token signed with secret; sets *id_r (may
   be NULL). */
bool token_recipient_verify(const char *secret, const char *tok, gint64 *id_r);
/* The campaign token "cID-MAC" (g_free it); NULL as token_recipient. */
char *token_campaign(const char *secret, gint64 id);
/* True when tok is a campaign token signed with secret; sets *id_r. */
bool token_campaign_verify(const char *secret, const char *tok, gint64 *id_r);
/* Finds our recipient token in "PREFIX+TOKEN@domain" (prefix "bounce" or
   "unsubscribe", case-insensitive; domain must equal bounce_domain,
   case-insensitive; angle brackets around the address are allowed). */
bool token_from_address(const char *secret, const char *bounce_domain,
                        const char *prefix, const char *address, gint64 *id_r);
/* Finds our recipient token in a Message-ID "<TOKEN.RANDOM@bounce_domain>"
   (angle brackets optional, surrounding blanks ignored). */
bool token_from_message_id(const char *secret, const char *bounce_domain,
                           const char *msgid, gint64 *id_r);
/* Signature of a click link: the first TOKEN_MAC_LEN hex characters of
   HMAC-SHA256(secret, "crmgate/l/" tok "\n" url) (g_free it); NULL when
   an argument is NULL or secret is empty. */
char *token_link_sig(const char *secret, const char *tok, const char *url);
/* True when sig (any case) is token_link_sig(secret, tok, url). */
bool token_link_verify(const char *secret, const char *tok, const char *url,
                       const char *sig);

#endif
