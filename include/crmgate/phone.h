/*
 * phone.h - telephone numbers in the one stored form: E.164 ("+493012345678")
 * plus the last nine digits (what a lookup probes: the same subscriber
 * whatever prefix a PBX or a person wrote). Parsing and validation are
 * libphonenumber's (core/phone.cc, the only C++ in the tree, behind this C
 * interface).
 *
 * Limits: input longer than PHONE_RAW_MAX bytes, with fewer than 3 digits
 * or with bytes other than digits, spaces and "+-()./" and an extension
 * marker is not a number, and neither is a PBX extension (1 to 6 bare
 * digits, phone_is_extension). Thread-safe (libphonenumber's instance is).
 */
#ifndef CRMGATE_PHONE_H
#define CRMGATE_PHONE_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PHONE_RAW_MAX 64

typedef struct {
    char e164[20];  /* "+" and up to 15 digits, or "" when not a number */
    char last9[10]; /* the last 9 digits of e164 (or of the raw digits
                        when e164 is "" and there are at least 9), or "" */
} phone_norm;

/* Normalises raw with default_country (ISO 3166 alpha-2, e.g. "DE"; NULL or
   "" means numbers must carry their country code). Digits without '+'
   that are no valid national number are tried as international (PBXs send
   "4930..." for "+4930..."). Returns true when e164 was found; out is
   always filled (both fields "" for junk). */
bool phone_normalize(const char *raw, const char *default_country,
                     phone_norm *out);

/* True when s looks like a PBX extension (1 to 6 digits), not a number. */
bool phone_is_extension(const char *s);

#ifdef __cplusplus
}
#endif

#endif
