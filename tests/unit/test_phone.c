/*
 * test_phone.c - phone_normalize() and phone_is_extension()
 * (core/phone.cc over libphonenumber): national and international forms
 * with a default country, PBX-style numbers without '+', extensions,
 * junk, the input bound, and the last nine digits every lookup probes.
 */
#include <glib.h>
#include <string.h>

#include "crmgate/phone.h"

typedef struct {
    const char *raw, *country;
    bool ok;
    const char *e164, *last9;
} vector;

static const vector vectors[] = {
    {"030 1234567", "DE", true, "+49301234567", "301234567"},
    {"030/1234567", "DE", true, "+49301234567", "301234567"},
    {"+49 (30) 123-4567", "DE", true, "+49301234567", "301234567"},
    {"0049 30 1234567", "DE", true, "+49301234567", "301234567"},
    {"030 1234567 x12", "DE", true, "+49301234567", "301234567"},
    {"0170 1234567", "DE", true, "+491701234567", "701234567"},
    {"+1 212 555 1234", "DE", true, "+12125551234", "125551234"},
    {"+1 212 555 1234", "", true, "+12125551234", "125551234"},
    {"+44 20 7946 0958", "DE", true, "+442079460958", "079460958"},
    /* a PBX's international number without '+' */
    {"4930123456789", "DE", true, "+4930123456789", "123456789"},
    {"4930123456789", NULL, true, "+4930123456789", "123456789"},
    {"(212) 555-1234", "us", true, "+12125551234", "125551234"},
    /* national without a default country: no E.164, last 9 kept */
    {"030 1234567", "", false, "", "301234567"},
    /* extensions are not numbers */
    {"101", "DE", false, "", ""},
    {"5", "DE", false, "", ""},
    {"123456", "DE", false, "", ""},
    /* junk */
    {"abc", "DE", false, "", ""},
    {"", "DE", false, "", ""},
    {"+", "DE", false, "", ""},
    {"++4930", "DE", false, "", ""},
    {"030 12345<script>", "DE", false, "", ""},
    {"+999 123456789", "DE", false, "", "123456789"},
    {"1234567890123456", "DE", false, "", "890123456"},
    /* found by fuzz_phone: "possible" in DE, but 17 digits are no E.164 */
    {"004930124 1234049 302", "XX", false, "", "234049302"},
};

static void test_vectors(void)
{
    for (gsize i = 0; i < G_N_ELEMENTS(vectors); i++) {
        const vector *v = &vectors[i];
        phone_norm n;
        memset(&n, 'x', sizeof n); /* must be filled either way */
        bool ok = phone_normalize(v->raw, v->country, &n);
        if (ok != v->ok || strcmp(n.e164, v->e164) != 0 ||
            strcmp(n.last9, v->last9) != 0)
            g_error("phone_normalize(\"%s\", %s) = %d \"%s\" \"%s\", want "
                    "%d \"%s\" \"%s\"",
                    v->raw, v->country ? v->country : "NULL", ok, n.e164,
                    n.last9, v->ok, v->e164, v->last9);
    }
}

static void test_bound(void)
{
    phone_norm n;
    /* 64 bytes: still a number; 65: not, whatever it holds */
    GString *s = g_string_new("+49 30 1234567");
    while (s->len < PHONE_RAW_MAX)
        g_string_append_c(s, ' ');
    g_assert_cmpuint(s->len, ==, 64);
    g_assert_true(phone_normalize(s->str, "DE", &n));
    g_assert_cmpstr(n.e164, ==, "+49301234567");
    g_string_append_c(s, ' ');
    memset(&n, 'x', sizeof n);
    g_assert_false(phone_normalize(s->str, "DE", &n));
    g_assert_cmpstr(n.e164, ==, "");
    g_assert_cmpstr(n.last9, ==, "");
    g_string_free(s, TRUE);
    g_assert_false(phone_normalize(NULL, "DE", &n));
    g_assert_cmpstr(n.e164, ==, "");
}

static void test_extension(void)
{
    g_assert_true(phone_is_extension("1"));
    g_assert_true(phone_is_extension("101"));
    g_assert_true(phone_is_extension("999999"));
    g_assert_false(phone_is_extension("1000000"));
    g_assert_false(phone_is_extension(""));
    g_assert_false(phone_is_extension(NULL));
    g_assert_false(phone_is_extension("10a"));
    g_assert_false(phone_is_extension("+101"));
    g_assert_false(phone_is_extension(" 101"));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/phone/vectors", test_vectors);
    g_test_add_func("/phone/bound", test_bound);
    g_test_add_func("/phone/extension", test_extension);
    return g_test_run();
}
