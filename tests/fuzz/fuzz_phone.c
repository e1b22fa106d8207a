/*
 * fuzz_phone.c - libFuzzer target for phone_normalize() (core/phone.cc,
 * libphonenumber behind a C interface). The first byte picks the default
 * country, the rest (up to a NUL) is the raw number. Checked: no crash or
 * exception past the interface; e164 is "" or "+" and 3..15 digits; last9
 * is "" or nine digits, and for a number the last nine of its E.164;
 * input past PHONE_RAW_MAX and extensions are never numbers.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "crmgate/phone.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool all_digits(const char *s)
{
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const countries[] = {"DE", "US", "GB", "",
                                            NULL, "ru", "ZZ", "XX"};
    if (size == 0)
        return 0;
    const char *country = countries[data[0] % G_N_ELEMENTS(countries)];
    char *raw = g_strndup((const char *)data + 1, size - 1);
    phone_norm n;
    memset(&n, 'x', sizeof n);
    bool ok = phone_normalize(raw, country, &n);
    gsize el = strnlen(n.e164, sizeof n.e164);
    gsize ll = strnlen(n.last9, sizeof n.last9);
    if (el >= sizeof n.e164 || ll >= sizeof n.last9)
        abort();
    if (ok != (el > 0))
        abort();
    if (ok &&
        (n.e164[0] != '+' || el < 4 || el > 16 || !all_digits(n.e164 + 1)))
        abort();
    if (ll != 0 && (ll != 9 || !all_digits(n.last9)))
        abort();
    if (ok && el - 1 >= 9 && strcmp(n.last9, n.e164 + el - 9) != 0)
        abort();
    if (strlen(raw) > PHONE_RAW_MAX && (ok || ll))
        abort();
    if (phone_is_extension(raw) && ok)
        abort();
    g_free(raw);
    return 0;
}
