/*
 * tokens.c - the signed identifiers of campaign mail (see tokens.h): make
 * and verify recipient tokens "ID-MAC" and campaign tokens "cID-MAC", find
 * a recipient token in a VERP address or a Message-ID, sign click links.
 *
 * The MAC is HMAC-SHA256 (GLib's GHmac) cut to TOKEN_MAC_LEN hex
 * characters (80 bits). Parsing is strict and bounded: a token longer than
 * TOKEN_MAX_LEN, an id with a sign, a leading zero, more than 19 digits or
 * not in 0 < id < 2^62, a MAC that is not exactly TOKEN_MAC_LEN hex
 * characters, or any trailing byte is refused. The MAC is compared in
 * constant time (no early exit), letter case folded first.
 */
#include "crmgate/tokens.h"

#include <string.h>

#define TOKEN_DOMAIN_R "crmgate/r/"
#define TOKEN_DOMAIN_C "crmgate/c/"
#define TOKEN_DOMAIN_L "crmgate/l/"
#define TOKEN_MSGID_RANDOM_LEN 8
#define TOKEN_ADDRESS_MAX 998 /* an SMTP line; longer is never ours */

/* The first TOKEN_MAC_LEN lowercase hex characters of HMAC-SHA256(secret,
   the n pieces one after the other) into out (TOKEN_MAC_LEN + 1 bytes). */
static void mac_hex(const char *secret, const char *const *piece,
                    const gsize *plen, guint n, char *out)
{
    GHmac *h =
        g_hmac_new(G_CHECKSUM_SHA256, (const guchar *)secret, strlen(secret));
    for (guint i = 0; i < n; i++)
        g_hmac_update(h, (const guchar *)piece[i], (gssize)plen[i]);
    guint8 digest[32];
    gsize dlen = sizeof digest;
    g_hmac_get_digest(h, digest, &dlen);
    g_hmac_unref(h);
    static const char hex[] = "0123456789abcdef";
    for (gsize i = 0; i < TOKEN_MAC_LEN / 2; i++) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 0xF];
    }
    out[TOKEN_MAC_LEN] = '\0';
}

/* MAC of domain followed by the id's digits s[0..len). */
static void id_mac(const char *secret, const char *domain, const char *s,
                   gsize len, char *out)
{
    const char *piece[] = {domain, s};
    const gsize plen[] = {strlen(domain), len};
    mac_hex(secret, piece, plen, 2, out);
}

static bool secret_ok(const char *secret)
{
    return secret != NULL && *secret != '\0';
}

static bool id_ok(gint64 id)
{
    return id > 0 && id < TOKEN_ID_MAX;
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static bool is_hex(char c)
{
    c = lower(c);
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* Compares want (lowercase hex, n bytes) with got (any case, n bytes)
   without an early exit. */
static bool hex_equal(const char *want, const char *got, gsize n)
{
    unsigned diff = 0;
    for (gsize i = 0; i < n; i++)
        diff |= (unsigned char)want[i] ^ (unsigned char)lower(got[i]);
    return diff == 0;
}

static char *make(const char *secret, const char *domain, const char *lead,
                  gint64 id)
{
    if (!secret_ok(secret) || !id_ok(id))
        return NULL;
    char digits[24];
    g_snprintf(digits, sizeof digits, "%" G_GINT64_FORMAT, id);
    char mac[TOKEN_MAC_LEN + 1];
    id_mac(secret, domain, digits, strlen(digits), mac);
    return g_strconcat(lead, digits, "-", mac, NULL);
}

/* Verifies s[0..len) as ID-MAC (after the optional 'c', already skipped)
   under domain. */
static bool verify_len(const char *secret, const char *domain, const char *s,
                       gsize len, gint64 *id_r)
{
    if (!secret_ok(secret) || s == NULL)
        return false;
    gsize nd = 0;
    while (nd < len && s[nd] >= '0' && s[nd] <= '9')
        nd++;
    if (nd == 0 || nd > 19 || s[0] == '0')
        return false;
    if (len != nd + 1 + TOKEN_MAC_LEN || s[nd] != '-')
        return false;
    const char *mac_in = s + nd + 1;
    for (gsize i = 0; i < TOKEN_MAC_LEN; i++)
        if (!is_hex(mac_in[i]))
            return false;
    guint64 v = 0;
    for (gsize i = 0; i < nd; i++) {
        v = v * 10 + (guint64)(s[i] - '0'); /* 19 digits fit in 64 bits */
        if (v >= (guint64)TOKEN_ID_MAX)
            return false;
    }
    char mac[TOKEN_MAC_LEN + 1];
    id_mac(secret, domain, s, nd, mac);
    if (!hex_equal(mac, mac_in, TOKEN_MAC_LEN))
        return false;
    if (id_r != NULL)
        *id_r = (gint64)v;
    return true;
}

/* Length of a NUL-terminated token, or TOKEN_MAX_LEN + 1 when longer. */
static gsize bounded_len(const char *s)
{
    return s == NULL ? 0 : strnlen(s, TOKEN_MAX_LEN + 1);
}

char *token_recipient(const char *secret, gint64 id)
{
    return make(secret, TOKEN_DOMAIN_R, "", id);
}

bool token_recipient_verify(const char *secret, const char *tok, gint64 *id_r)
{
    return verify_len(secret, TOKEN_DOMAIN_R, tok, bounded_len(tok), id_r);
}

char *token_campaign(const char *secret, gint64 id)
{
    return make(secret, TOKEN_DOMAIN_C, "c", id);
}

bool token_campaign_verify(const char *secret, const char *tok, gint64 *id_r)
{
    gsize len = bounded_len(tok);
    if (len < 1 || lower(tok[0]) != 'c')
        return false;
    return verify_len(secret, TOKEN_DOMAIN_C, tok + 1, len - 1, id_r);
}

/* Trims blanks and one pair of angle brackets: *start_r and *len_r. */
static bool unwrap(const char *s, const char **start_r, gsize *len_r)
{
    gsize len = strnlen(s, TOKEN_ADDRESS_MAX + 1);
    if (len > TOKEN_ADDRESS_MAX)
        return false;
    while (len > 0 && g_ascii_isspace(*s)) {
        s++;
        len--;
    }
    while (len > 0 && g_ascii_isspace(s[len - 1]))
        len--;
    if (len >= 2 && s[0] == '<' && s[len - 1] == '>') {
        s++;
        len -= 2;
    }
    *start_r = s;
    *len_r = len;
    return len > 0;
}

/* True when s[0..len) equals domain ignoring ASCII case. */
static bool domain_equal(const char *s, gsize len, const char *domain)
{
    return domain != NULL && *domain != '\0' && strlen(domain) == len &&
           g_ascii_strncasecmp(s, domain, len) == 0;
}

bool token_from_address(const char *secret, const char *bounce_domain,
                        const char *prefix, const char *address, gint64 *id_r)
{
    if (prefix == NULL || *prefix == '\0' || address == NULL)
        return false;
    const char *s;
    gsize len;
    if (!unwrap(address, &s, &len))
        return false;
    const char *at = memchr(s, '@', len);
    if (at == NULL || memchr(at + 1, '@', len - (gsize)(at + 1 - s)) != NULL)
        return false;
    gsize local = (gsize)(at - s);
    gsize plen = strlen(prefix);
    if (!domain_equal(at + 1, len - local - 1, bounce_domain))
        return false;
    if (local <= plen + 1 || g_ascii_strncasecmp(s, prefix, plen) != 0 ||
        s[plen] != '+')
        return false;
    return verify_len(secret, TOKEN_DOMAIN_R, s + plen + 1, local - plen - 1,
                      id_r);
}

bool token_from_message_id(const char *secret, const char *bounce_domain,
                           const char *msgid, gint64 *id_r)
{
    if (msgid == NULL)
        return false;
    const char *s;
    gsize len;
    if (!unwrap(msgid, &s, &len))
        return false;
    const char *at = memchr(s, '@', len);
    if (at == NULL)
        return false;
    gsize local = (gsize)(at - s);
    if (!domain_equal(at + 1, len - local - 1, bounce_domain))
        return false;
    const char *dot = memchr(s, '.', local);
    if (dot == NULL)
        return false;
    gsize toklen = (gsize)(dot - s);
    gsize rnd = local - toklen - 1;
    if (rnd != TOKEN_MSGID_RANDOM_LEN)
        return false;
    for (gsize i = 0; i < rnd; i++)
        if (!is_hex(dot[1 + i]))
            return false;
    return verify_len(secret, TOKEN_DOMAIN_R, s, toklen, id_r);
}

static void link_mac(const char *secret, const char *tok, const char *url,
                     char *out)
{
    const char *piece[] = {TOKEN_DOMAIN_L, tok, "\n", url};
    const gsize plen[] = {strlen(TOKEN_DOMAIN_L), strlen(tok), 1, strlen(url)};
    mac_hex(secret, piece, plen, 4, out);
}

char *token_link_sig(const char *secret, const char *tok, const char *url)
{
    if (!secret_ok(secret) || tok == NULL || url == NULL)
        return NULL;
    char mac[TOKEN_MAC_LEN + 1];
    link_mac(secret, tok, url, mac);
    return g_strdup(mac);
}

bool token_link_verify(const char *secret, const char *tok, const char *url,
                       const char *sig)
{
    if (!secret_ok(secret) || tok == NULL || url == NULL || sig == NULL)
        return false;
    if (strnlen(sig, TOKEN_MAC_LEN + 1) != TOKEN_MAC_LEN)
        return false;
    for (gsize i = 0; i < TOKEN_MAC_LEN; i++)
        if (!is_hex(sig[i]))
            return false;
    char mac[TOKEN_MAC_LEN + 1];
    link_mac(secret, tok, url, mac);
    return hex_equal(mac, sig, TOKEN_MAC_LEN);
}
