/*
 * test_tokens.c - the signed identifiers of campaign mail (core/tokens.c):
 * recipient and campaign tokens (known-answer MAC from an independent
 * HMAC, round trips, upper case, wrong MAC, truncated, extra bytes,
 * non-hex, leading zero, signs, huge ids, wrong secret), finding a token in
 * VERP addresses and Message-IDs (wrong domain, wrong prefix, brackets),
 * and click link signatures.
 */
#include <glib.h>
#include <string.h>

#include "crmgate/tokens.h"

#define SECRET "s3cret-key"

/* The MAC computed here with GLib's one-shot helper, independently of
   tokens.c's incremental one. */
static char *expected_mac(const char *secret, const char *msg)
{
    char *full = g_compute_hmac_for_string(
        G_CHECKSUM_SHA256, (const guchar *)secret, strlen(secret), msg, -1);
    full[TOKEN_MAC_LEN] = '\0';
    return full;
}

static void test_known_answer(void)
{
    char *tok = token_recipient(SECRET, 42);
    g_autofree char *mac = expected_mac(SECRET, "crmgate/r/42");
    g_autofree char *want = g_strconcat("42-", mac, NULL);
    g_assert_cmpstr(tok, ==, want);
    g_free(tok);

    tok = token_campaign(SECRET, 7);
    g_autofree char *cmac = expected_mac(SECRET, "crmgate/c/7");
    g_autofree char *cwant = g_strconcat("c7-", cmac, NULL);
    g_assert_cmpstr(tok, ==, cwant);
    g_free(tok);

    /* a fixed vector, so a change of the message format is caught */
    tok = token_recipient("key", 1);
    g_autofree char *m1 = expected_mac("key", "crmgate/r/1");
    g_assert_cmpuint(strlen(tok), ==, 2 + TOKEN_MAC_LEN);
    g_assert_true(g_str_has_suffix(tok, m1));
    for (const char *p = tok + 2; *p; p++)
        g_assert_true(g_ascii_isxdigit(*p) && !g_ascii_isupper(*p));
    g_free(tok);
}

static void test_roundtrip(void)
{
    const gint64 ids[] = {
        1, 9, 10, 12345, G_GINT64_CONSTANT(999999999999), TOKEN_ID_MAX - 1};
    for (guint i = 0; i < G_N_ELEMENTS(ids); i++) {
        g_autofree char *r = token_recipient(SECRET, ids[i]);
        g_autofree char *c = token_campaign(SECRET, ids[i]);
        g_assert_nonnull(r);
        g_assert_nonnull(c);
        g_assert_cmpuint(strlen(c), <=, TOKEN_MAX_LEN);
        gint64 id = 0;
        g_assert_true(token_recipient_verify(SECRET, r, &id));
        g_assert_cmpint(id, ==, ids[i]);
        id = 0;
        g_assert_true(token_campaign_verify(SECRET, c, &id));
        g_assert_cmpint(id, ==, ids[i]);
        /* kinds do not mix */
        g_assert_false(token_campaign_verify(SECRET, r, NULL));
        g_assert_false(token_recipient_verify(SECRET, c, NULL));
        g_assert_false(token_recipient_verify(SECRET, c + 1, NULL));
        /* upper case is the same token */
        g_autofree char *up = g_ascii_strup(r, -1);
        g_autofree char *cup = g_ascii_strup(c, -1);
        g_assert_true(token_recipient_verify(SECRET, up, NULL));
        g_assert_true(token_campaign_verify(SECRET, cup, NULL));
        /* another secret refuses it */
        g_assert_false(token_recipient_verify("other", r, NULL));
    }
    /* out of range ids and bad secrets make nothing */
    g_assert_null(token_recipient(SECRET, 0));
    g_assert_null(token_recipient(SECRET, -5));
    g_assert_null(token_recipient(SECRET, TOKEN_ID_MAX));
    g_assert_null(token_recipient(SECRET, G_MAXINT64));
    g_assert_null(token_campaign(SECRET, 0));
    g_assert_null(token_recipient("", 1));
    g_assert_null(token_recipient(NULL, 1));
}

static void test_hostile(void)
{
    g_autofree char *good = token_recipient(SECRET, 4242);
    gint64 id = 77;
    g_assert_true(token_recipient_verify(SECRET, good, &id));
    g_assert_cmpint(id, ==, 4242);

    /* every single-character change of the MAC is refused */
    gsize dash = strchr(good, '-') - good;
    for (gsize i = dash + 1; good[i]; i++) {
        g_autofree char *bad = g_strdup(good);
        bad[i] = bad[i] == '0' ? '1' : '0';
        id = 77;
        g_assert_false(token_recipient_verify(SECRET, bad, &id));
        g_assert_cmpint(id, ==, 77); /* untouched on failure */
    }
    /* the id changed keeps the MAC: refused */
    g_autofree char *other = g_strdup(good);
    other[0] = '5';
    g_assert_false(token_recipient_verify(SECRET, other, NULL));

    /* truncated at every length, and extended */
    for (gsize n = 0; n < strlen(good); n++) {
        g_autofree char *cut = g_strndup(good, n);
        g_assert_false(token_recipient_verify(SECRET, cut, NULL));
    }
    const char *suffixes[] = {"0", "a", " ", "\n", "-", "x"};
    for (guint i = 0; i < G_N_ELEMENTS(suffixes); i++) {
        g_autofree char *ext = g_strconcat(good, suffixes[i], NULL);
        g_assert_false(token_recipient_verify(SECRET, ext, NULL));
    }
    g_autofree char *pre = g_strconcat(" ", good, NULL);
    g_assert_false(token_recipient_verify(SECRET, pre, NULL));
    g_autofree char *plus = g_strconcat("+", good, NULL);
    g_assert_false(token_recipient_verify(SECRET, plus, NULL));
    g_autofree char *zero = g_strconcat("0", good, NULL);
    g_assert_false(token_recipient_verify(SECRET, zero, NULL));
    g_autofree char *minus = g_strconcat("-", good, NULL);
    g_assert_false(token_recipient_verify(SECRET, minus, NULL));

    /* non-hex MAC of the right length (g..z) */
    g_autofree char *nonhex = g_strdup(good);
    nonhex[dash + 3] = 'g';
    g_assert_false(token_recipient_verify(SECRET, nonhex, NULL));
    /* a NUL inside: C string stops there, so it is truncated */
    char withnul[64];
    memcpy(withnul, good, strlen(good) + 1);
    withnul[dash + 5] = '\0';
    g_assert_false(token_recipient_verify(SECRET, withnul, NULL));

    /* huge ids: 2^62 exactly, 19 and 25 digits, each signed correctly so
       only the range check can refuse them */
    const char *huge[] = {"4611686018427387904", "9223372036854775807",
                          "9999999999999999999", "18446744073709551617",
                          "1234567890123456789012345"};
    for (guint i = 0; i < G_N_ELEMENTS(huge); i++) {
        g_autofree char *msg = g_strconcat("crmgate/r/", huge[i], NULL);
        g_autofree char *mac = expected_mac(SECRET, msg);
        g_autofree char *tok = g_strconcat(huge[i], "-", mac, NULL);
        g_assert_false(token_recipient_verify(SECRET, tok, NULL));
    }
    /* the largest accepted id, signed by hand */
    {
        g_autofree char *mac =
            expected_mac(SECRET, "crmgate/r/4611686018427387903");
        g_autofree char *tok = g_strconcat("4611686018427387903-", mac, NULL);
        g_assert_true(token_recipient_verify(SECRET, tok, &id));
        g_assert_cmpint(id, ==, TOKEN_ID_MAX - 1);
    }
    /* id 0 signed correctly is still refused */
    {
        g_autofree char *mac = expected_mac(SECRET, "crmgate/r/0");
        g_autofree char *tok = g_strconcat("0-", mac, NULL);
        g_assert_false(token_recipient_verify(SECRET, tok, NULL));
    }
    /* garbage */
    const char *junk[] = {"",
                          "-",
                          "1-",
                          "-0123456789abcdef0123",
                          "c",
                          "c1-",
                          "abc",
                          "1_0123456789abcdef0123",
                          "\xff\xfe-0123456789abcdef0123"};
    for (guint i = 0; i < G_N_ELEMENTS(junk); i++) {
        g_assert_false(token_recipient_verify(SECRET, junk[i], NULL));
        g_assert_false(token_campaign_verify(SECRET, junk[i], NULL));
    }
    g_assert_false(token_recipient_verify(SECRET, NULL, NULL));
    g_assert_false(token_campaign_verify(SECRET, NULL, NULL));
    g_assert_false(token_recipient_verify(NULL, good, NULL));
    g_assert_false(token_recipient_verify("", good, NULL));
    /* a 1 MiB string is refused quickly */
    char *big = g_malloc(1 << 20);
    memset(big, '1', (1 << 20) - 1);
    big[(1 << 20) - 1] = '\0';
    g_assert_false(token_recipient_verify(SECRET, big, NULL));
    g_free(big);
}

static void test_address(void)
{
    g_autofree char *tok = token_recipient(SECRET, 99);
    g_autofree char *up = g_ascii_strup(tok, -1);
    const char *dom = "bounces.example.com";
    gint64 id = 0;
    g_autofree char *a1 = g_strdup_printf("bounce+%s@%s", tok, dom);
    g_assert_true(token_from_address(SECRET, dom, "bounce", a1, &id));
    g_assert_cmpint(id, ==, 99);
    g_autofree char *a2 =
        g_strdup_printf("<UNSUBSCRIBE+%s@BOUNCES.Example.COM>", up);
    id = 0;
    g_assert_true(token_from_address(SECRET, dom, "unsubscribe", a2, &id));
    g_assert_cmpint(id, ==, 99);
    g_autofree char *a3 = g_strdup_printf("  <bounce+%s@%s>  ", tok, dom);
    g_assert_true(token_from_address(SECRET, dom, "bounce", a3, NULL));

    /* wrong prefix, domain, separator, structure */
    g_assert_false(token_from_address(SECRET, dom, "unsubscribe", a1, NULL));
    g_autofree char *b1 = g_strdup_printf("bounce+%s@evil.com", tok);
    g_assert_false(token_from_address(SECRET, dom, "bounce", b1, NULL));
    g_autofree char *b2 = g_strdup_printf("bounce+%s@%s.evil.com", tok, dom);
    g_assert_false(token_from_address(SECRET, dom, "bounce", b2, NULL));
    g_autofree char *b3 = g_strdup_printf("bounce-%s@%s", tok, dom);
    g_assert_false(token_from_address(SECRET, dom, "bounce", b3, NULL));
    g_autofree char *b4 = g_strdup_printf("xbounce+%s@%s", tok, dom);
    g_assert_false(token_from_address(SECRET, dom, "bounce", b4, NULL));
    g_autofree char *b5 = g_strdup_printf("bounce+%s@x@%s", tok, dom);
    g_assert_false(token_from_address(SECRET, dom, "bounce", b5, NULL));
    g_autofree char *b6 = g_strdup_printf("bounce+%sx@%s", tok, dom);
    g_assert_false(token_from_address(SECRET, dom, "bounce", b6, NULL));
    g_autofree char *b7 = g_strdup_printf("bounce+@%s", dom);
    g_assert_false(token_from_address(SECRET, dom, "bounce", b7, NULL));
    g_autofree char *b8 = g_strdup_printf("bounce+%s", tok);
    g_assert_false(token_from_address(SECRET, dom, "bounce", b8, NULL));
    g_autofree char *b9 = g_strdup_printf("bounce+%s@", tok);
    g_assert_false(token_from_address(SECRET, dom, "bounce", b9, NULL));
    g_autofree char *b10 = g_strdup_printf("bounce+%s@%s", tok, dom);
    g_assert_false(token_from_address("other", dom, "bounce", b10, NULL));
    g_assert_false(token_from_address(SECRET, "", "bounce", a1, NULL));
    g_assert_false(token_from_address(SECRET, NULL, "bounce", a1, NULL));
    g_assert_false(token_from_address(SECRET, dom, NULL, a1, NULL));
    g_assert_false(token_from_address(SECRET, dom, "bounce", NULL, NULL));
    g_assert_false(token_from_address(SECRET, dom, "bounce", "", NULL));
    g_assert_false(token_from_address(SECRET, dom, "bounce", "<>", NULL));
    g_assert_false(token_from_address(SECRET, dom, "bounce", "@", NULL));
    /* a huge address */
    GString *huge = g_string_new("bounce+");
    for (int i = 0; i < 5000; i++)
        g_string_append(huge, "1");
    g_string_append_printf(huge, "@%s", dom);
    g_assert_false(token_from_address(SECRET, dom, "bounce", huge->str, NULL));
    g_string_free(huge, TRUE);
}

static void test_message_id(void)
{
    g_autofree char *tok = token_recipient(SECRET, 123456);
    const char *dom = "b.example.org";
    gint64 id = 0;
    g_autofree char *m1 = g_strdup_printf("<%s.0a1b2c3d@%s>", tok, dom);
    g_assert_true(token_from_message_id(SECRET, dom, m1, &id));
    g_assert_cmpint(id, ==, 123456);
    g_autofree char *m2 = g_strdup_printf("%s.0A1B2C3D@B.EXAMPLE.ORG", tok);
    g_assert_true(token_from_message_id(SECRET, dom, m2, NULL));
    g_autofree char *m3 = g_strdup_printf(" <%s.deadbeef@%s>\r\n", tok, dom);
    g_assert_true(token_from_message_id(SECRET, dom, m3, NULL));

    g_autofree char *n1 = g_strdup_printf("<%s.0a1b2c3@%s>", tok, dom);
    g_assert_false(token_from_message_id(SECRET, dom, n1, NULL));
    g_autofree char *n2 = g_strdup_printf("<%s.0a1b2c3dd@%s>", tok, dom);
    g_assert_false(token_from_message_id(SECRET, dom, n2, NULL));
    g_autofree char *n3 = g_strdup_printf("<%s.0a1b2c3z@%s>", tok, dom);
    g_assert_false(token_from_message_id(SECRET, dom, n3, NULL));
    g_autofree char *n4 = g_strdup_printf("<%s@%s>", tok, dom);
    g_assert_false(token_from_message_id(SECRET, dom, n4, NULL));
    g_autofree char *n5 = g_strdup_printf("<%s.0a1b2c3d@other.org>", tok);
    g_assert_false(token_from_message_id(SECRET, dom, n5, NULL));
    g_autofree char *n6 = g_strdup_printf("<x%s.0a1b2c3d@%s>", tok, dom);
    g_assert_false(token_from_message_id(SECRET, dom, n6, NULL));
    g_autofree char *n7 = g_strdup_printf("<%s.0a1b2c3d@%s>", tok, dom);
    n7[3] = n7[3] == '9' ? '8' : '9'; /* the id changed */
    g_assert_false(token_from_message_id(SECRET, dom, n7, NULL));
    g_assert_false(token_from_message_id(SECRET, dom, NULL, NULL));
    g_assert_false(token_from_message_id(SECRET, dom, "", NULL));
    g_assert_false(token_from_message_id(SECRET, dom, "<>", NULL));
    g_assert_false(token_from_message_id(SECRET, dom, "<.@>", NULL));
    g_assert_false(
        token_from_message_id(SECRET, dom, "<abc@b.example.org>", NULL));
}

static void test_link(void)
{
    const char *tok = "42-0123456789abcdef0123";
    const char *url = "https://example.com/a?b=c&d=%20";
    char *sig = token_link_sig(SECRET, tok, url);
    g_autofree char *msg = g_strconcat("crmgate/l/", tok, "\n", url, NULL);
    g_autofree char *want = expected_mac(SECRET, msg);
    g_assert_cmpstr(sig, ==, want);
    g_assert_true(token_link_verify(SECRET, tok, url, sig));
    g_autofree char *up = g_ascii_strup(sig, -1);
    g_assert_true(token_link_verify(SECRET, tok, url, up));
    g_assert_false(
        token_link_verify(SECRET, tok, "https://example.com/a", sig));
    g_assert_false(
        token_link_verify(SECRET, "43-0123456789abcdef0123", url, sig));
    g_assert_false(token_link_verify("other", tok, url, sig));
    g_autofree char *cut = g_strndup(sig, TOKEN_MAC_LEN - 1);
    g_assert_false(token_link_verify(SECRET, tok, url, cut));
    g_autofree char *ext = g_strconcat(sig, "0", NULL);
    g_assert_false(token_link_verify(SECRET, tok, url, ext));
    g_autofree char *bad = g_strdup(sig);
    bad[0] = bad[0] == 'a' ? 'b' : 'a';
    g_assert_false(token_link_verify(SECRET, tok, url, bad));
    g_assert_false(token_link_verify(SECRET, tok, url, NULL));
    g_assert_false(token_link_verify(SECRET, tok, url, ""));
    g_assert_false(token_link_verify(SECRET, NULL, url, sig));
    g_assert_false(token_link_verify(SECRET, tok, NULL, sig));
    g_assert_null(token_link_sig(SECRET, NULL, url));
    g_assert_null(token_link_sig("", tok, url));
    /* the newline between token and url keeps "ab"+"c" apart from
       "a"+"bc" */
    g_autofree char *s1 = token_link_sig(SECRET, "ab", "c");
    g_autofree char *s2 = token_link_sig(SECRET, "a", "bc");
    g_assert_cmpstr(s1, !=, s2);
    g_free(sig);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/tokens/known_answer", test_known_answer);
    g_test_add_func("/tokens/roundtrip", test_roundtrip);
    g_test_add_func("/tokens/hostile", test_hostile);
    g_test_add_func("/tokens/address", test_address);
    g_test_add_func("/tokens/message_id", test_message_id);
    g_test_add_func("/tokens/link", test_link);
    return g_test_run();
}
