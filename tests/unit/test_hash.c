/*
 * test_hash.c - the SHA-256 helper: known vectors, forked states, and the
 * streaming hash of a GMime object.
 */
#include <glib.h>
#include <gmime/gmime.h>
#include <string.h>

#include "crmgate/hash.h"

static const char abc_hex[] =
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

static void test_vectors(void)
{
    char hex[CRM_SHA256_HEX_SIZE];
    crm_sha256_hex("abc", 3, hex);
    g_assert_cmpstr(hex, ==, abc_hex);
    crm_sha256_hex("", 0, hex);
    g_assert_cmpstr(
        hex, ==,
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_peek_goes_on(void)
{
    crm_sha256 h;
    char hex[CRM_SHA256_HEX_SIZE];
    crm_sha256_init(&h);
    crm_sha256_update(&h, "a", 1);
    crm_sha256_update(&h, "b", 1);
    crm_sha256 fork = h;
    crm_sha256_peek_hex(&h, hex); /* does not finish h */
    crm_sha256_update(&h, "c", 1);
    crm_sha256_peek_hex(&h, hex);
    g_assert_cmpstr(hex, ==, abc_hex);
    crm_sha256_peek_hex(&fork, hex);
    char ab[CRM_SHA256_HEX_SIZE];
    crm_sha256_hex("ab", 2, ab);
    g_assert_cmpstr(hex, ==, ab);
}

/* The streaming hash of an object equals the hash of its serialisation. */
static void test_mime_object(void)
{
    static const char raw[] = "From: a@example.com\n"
                              "Subject: hi\n"
                              "\n"
                              "body line\n";
    GMimeStream *s = g_mime_stream_mem_new_with_buffer(raw, strlen(raw));
    GMimeParser *p = g_mime_parser_new_with_stream(s);
    GMimeMessage *m = g_mime_parser_construct_message(p, NULL);
    g_assert_nonnull(m);
    char *ser = g_mime_object_to_string(GMIME_OBJECT(m), NULL);
    char want[CRM_SHA256_HEX_SIZE], got[CRM_SHA256_HEX_SIZE];
    crm_sha256_hex(ser, strlen(ser), want);
    gsize size = 0;
    crm_sha256_mime_object(GMIME_OBJECT(m), got, &size);
    g_assert_cmpstr(got, ==, want);
    g_assert_cmpuint(size, ==, strlen(ser));
    g_free(ser);
    g_object_unref(m);
    g_object_unref(p);
    g_object_unref(s);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_mime_init();
    g_test_add_func("/hash/vectors", test_vectors);
    g_test_add_func("/hash/peek-goes-on", test_peek_goes_on);
    g_test_add_func("/hash/mime-object", test_mime_object);
    int rc = g_test_run();
    g_mime_shutdown();
    return rc;
}
