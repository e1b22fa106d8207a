/*
 * test_auth.c - the secrets of core/auth.c that need no database: signed
 * links (auth_sign / auth_sign_verify, with a tampered signature and a
 * different secret), constant-time equality, the shape of random tokens
 * and their digest, and argon2id password hashes.
 */
#include <glib.h>
#include <string.h>

#include "crmgate/auth.h"

static void test_sign_vector(void)
{
    /* RFC 4231, test case 2 */
    char *sig = auth_sign("Jefe", "what do ya want for nothing?");
    g_assert_cmpstr(
        sig, ==,
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    g_free(sig);
}

static void test_sign_verify(void)
{
    const char *secret = "s3cret-web-key", *msg = "unsubscribe:42:campaign-7";
    char *sig = auth_sign(secret, msg);
    g_assert_cmpuint(strlen(sig), ==, 64);
    g_assert_true(auth_sign_verify(secret, msg, sig));

    /* every single-character change of the signature is refused */
    for (gsize i = 0; i < strlen(sig); i++) {
        char *bad = g_strdup(sig);
        bad[i] = bad[i] == '0' ? '1' : '0';
        g_assert_false(auth_sign_verify(secret, msg, bad));
        g_free(bad);
    }
    char *upper = g_ascii_strup(sig, -1);
    if (strcmp(upper, sig) != 0)
        g_assert_false(auth_sign_verify(secret, msg, upper));
    g_free(upper);
    char *cut = g_strndup(sig, 63);
    g_assert_false(auth_sign_verify(secret, msg, cut));
    g_free(cut);
    char *longer = g_strconcat(sig, "0", NULL);
    g_assert_false(auth_sign_verify(secret, msg, longer));
    g_free(longer);
    g_assert_false(auth_sign_verify(secret, msg, ""));
    g_assert_false(auth_sign_verify(secret, msg, NULL));

    /* another secret, another message */
    g_assert_false(auth_sign_verify("s3cret-web-kez", msg, sig));
    g_assert_false(auth_sign_verify(secret, "unsubscribe:43:campaign-7", sig));
    char *other = auth_sign("another secret", msg);
    g_assert_cmpstr(other, !=, sig);
    g_assert_false(auth_sign_verify(secret, msg, other));
    g_free(other);
    /* no secret configured: nothing verifies, not even its own signature */
    char *empty = auth_sign("", msg);
    g_assert_false(auth_sign_verify("", msg, empty));
    g_assert_false(auth_sign_verify(NULL, msg, empty));
    g_free(empty);
    g_free(sig);
}

static void test_equal(void)
{
    g_assert_true(auth_equal("abc", "abc"));
    g_assert_true(auth_equal("", ""));
    g_assert_false(auth_equal("abc", "abd"));
    g_assert_false(auth_equal("abc", "ab"));
    g_assert_false(auth_equal("ab", "abc"));
    g_assert_false(auth_equal("abc", "ABC"));
    g_assert_false(auth_equal(NULL, "abc"));
    g_assert_false(auth_equal("abc", NULL));
    g_assert_false(auth_equal(NULL, NULL));
}

static gboolean token_shape(const char *t)
{
    if (strlen(t) != 43)
        return FALSE;
    for (const char *p = t; *p; p++)
        if (!g_ascii_isalnum(*p) && *p != '-' && *p != '_')
            return FALSE;
    return TRUE;
}

static void test_random_token(void)
{
    GHashTable *seen =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    for (guint i = 0; i < 200; i++) {
        char *t = auth_random_token();
        g_assert_true(token_shape(t));
        g_assert_false(g_hash_table_contains(seen, t));
        g_hash_table_add(seen, t);
    }
    g_hash_table_destroy(seen);
}

static void test_token_digest(void)
{
    guint8 d[32];
    auth_token_digest("abc", d);
    static const guint8 want[32] = {
        0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
        0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
        0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
    g_assert_cmpmem(d, sizeof(d), want, sizeof(want));
    guint8 e[32];
    auth_token_digest("abd", e);
    g_assert_true(memcmp(d, e, sizeof(d)) != 0);
}

static void test_password(void)
{
    char *h = auth_password_hash("correct horse battery staple");
    g_assert_nonnull(h);
    g_assert_true(g_str_has_prefix(h, "$argon2id$"));
    g_assert_null(strstr(h, "correct horse")); /* not the password itself */
    g_assert_true(auth_password_verify(h, "correct horse battery staple"));
    g_assert_false(auth_password_verify(h, "correct horse battery stapl"));
    g_assert_false(auth_password_verify(h, "Correct horse battery staple"));
    g_assert_false(auth_password_verify(h, ""));
    g_assert_false(auth_password_verify(h, NULL));
    g_assert_false(auth_password_verify(NULL, "x"));
    g_assert_false(auth_password_verify("", "x"));
    g_assert_false(auth_password_verify("$argon2id$garbage", "x"));
    /* a hash string longer than libsodium's buffer is refused unread */
    char *huge = g_strnfill(100000, 'a');
    g_assert_false(auth_password_verify(huge, "x"));
    g_free(huge);
    /* a changed hash no longer verifies */
    char *bad = g_strdup(h);
    gsize n = strlen(bad);
    bad[n - 2] = bad[n - 2] == 'A' ? 'B' : 'A';
    g_assert_false(auth_password_verify(bad, "correct horse battery staple"));
    g_free(bad);
    /* salted: the same password hashes differently each time */
    char *h2 = auth_password_hash("correct horse battery staple");
    g_assert_cmpstr(h2, !=, h);
    g_assert_true(auth_password_verify(h2, "correct horse battery staple"));
    g_free(h2);
    g_free(h);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_assert_true(auth_init());
    g_test_add_func("/auth/sign-vector", test_sign_vector);
    g_test_add_func("/auth/sign-verify", test_sign_verify);
    g_test_add_func("/auth/equal", test_equal);
    g_test_add_func("/auth/random-token", test_random_token);
    g_test_add_func("/auth/token-digest", test_token_digest);
    g_test_add_func("/auth/password", test_password);
    return g_test_run();
}
