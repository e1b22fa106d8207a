/*
 * fuzz_tokens.c - libFuzzer target for the signed identifiers read back
 * from outside (core/tokens.c): tokens in unsubscribe and click URLs,
 * VERP addresses of bounces and unsubscribe mail, Message-IDs quoted in
 * replies and DSNs.
 *
 * The input up to its first NUL is tried as a recipient and a campaign
 * token, as "bounce"/"unsubscribe" addresses and as a Message-ID, under a
 * fixed secret and domain (the seeds hold valid ones). Checked: whatever
 * is accepted has 0 < id < 2^62, and signing that id again gives the same
 * token as the input's, letter case folded; a click signature verifies
 * only for its own token and URL.
 */
#include "crmgate/tokens.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SECRET "fuzz-secret"
#define DOMAIN "b.example.com"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_id(gint64 id)
{
    if (id <= 0 || id >= TOKEN_ID_MAX)
        abort();
}

/* The accepted token text s[0..len) must be our token for id. */
static void check_same(const char *s, gsize len, gint64 id, bool campaign)
{
    char *tok =
        campaign ? token_campaign(SECRET, id) : token_recipient(SECRET, id);
    if (tok == NULL || strlen(tok) != len ||
        g_ascii_strncasecmp(tok, s, len) != 0)
        abort();
    g_free(tok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = g_strndup((const char *)data, size);
    gsize len = strlen(s);
    gint64 id = 0;
    if (token_recipient_verify(SECRET, s, &id)) {
        check_id(id);
        check_same(s, len, id, false);
    }
    id = 0;
    if (token_campaign_verify(SECRET, s, &id)) {
        check_id(id);
        check_same(s, len, id, true);
    }
    static const char *const prefixes[] = {"bounce", "unsubscribe"};
    for (guint i = 0; i < G_N_ELEMENTS(prefixes); i++) {
        id = 0;
        if (token_from_address(SECRET, DOMAIN, prefixes[i], s, &id)) {
            check_id(id);
            /* the token sits between the '+' and the '@' */
            const char *plus = strchr(s, '+');
            const char *at = strrchr(s, '@');
            if (plus == NULL || at == NULL || at < plus)
                abort();
            check_same(plus + 1, (gsize)(at - plus - 1), id, false);
        }
    }
    id = 0;
    if (token_from_message_id(SECRET, DOMAIN, s, &id)) {
        check_id(id);
        const char *start = s;
        while (g_ascii_isspace(*start))
            start++;
        if (*start == '<')
            start++;
        const char *dot = strchr(start, '.');
        if (dot == NULL)
            abort();
        check_same(start, (gsize)(dot - start), id, false);
    }
    /* click signatures: the input as URL, under a fixed token */
    char *sig = token_link_sig(SECRET, "42-0123456789abcdef0123", s);
    if (sig == NULL ||
        !token_link_verify(SECRET, "42-0123456789abcdef0123", s, sig))
        abort();
    if (token_link_verify(SECRET, "43-0123456789abcdef0123", s, sig))
        abort();
    if (len > 0 && token_link_verify(SECRET, "42-0123456789abcdef0123", s, s) &&
        g_ascii_strcasecmp(s, sig) != 0)
        abort();
    g_free(sig);
    g_free(s);
    return 0;
}
