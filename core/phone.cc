/*
 * phone.cc - phone_normalize() over libphonenumber (Debian's
 * libphonenumber-dev): country rules, trunk prefixes, lengths and
 * validity come from its metadata, which a hand-written rule set would
 * only approximate. The one C++ file of the tree; its interface is plain C
 * (include/crmgate/phone.h) and it throws nothing past it.
 */
#include "crmgate/phone.h"

#include <phonenumbers/phonenumber.pb.h>
#include <phonenumbers/phonenumberutil.h>

#include <cstring>
#include <string>

using i18n::phonenumbers::PhoneNumber;
using i18n::phonenumbers::PhoneNumberUtil;

namespace
{

/* Keeps digits only; false for bytes a written phone number never has. */
bool digits_of(const char *raw, std::string *digits, bool *plus)
{
    *plus = false;
    bool seen_digit = false;
    for (const char *p = raw; *p; p++) {
        char c = *p;
        if (c >= '0' && c <= '9') {
            digits->push_back(c);
            seen_digit = true;
        } else if (c == '+') {
            if (seen_digit || *plus)
                return false;
            *plus = true;
        } else if (!strchr(" -().//\t", c)) {
            return false;
        }
    }
    return true;
}

void copy_last9(const std::string &digits, phone_norm *out)
{
    if (digits.size() >= 9)
        memcpy(out->last9, digits.data() + digits.size() - 9, 9);
    out->last9[digits.size() >= 9 ? 9 : 0] = '\0';
}

bool parse_valid(const PhoneNumberUtil *u, const std::string &text,
                 const std::string &region, PhoneNumber *num)
{
    if (u->Parse(text, region, num) != PhoneNumberUtil::NO_PARSING_ERROR)
        return false;
    return u->IsValidNumber(*num);
}

bool parse_possible(const PhoneNumberUtil *u, const std::string &text,
                    const std::string &region, PhoneNumber *num)
{
    if (u->Parse(text, region, num) != PhoneNumberUtil::NO_PARSING_ERROR)
        return false;
    return u->IsPossibleNumber(*num);
}

} // namespace

extern "C" bool phone_normalize(const char *raw, const char *default_country,
                                phone_norm *out)
{
    out->e164[0] = '\0';
    out->last9[0] = '\0';
    if (!raw || strlen(raw) > PHONE_RAW_MAX)
        return false;
    /* a PBX extension ("101") would pass as a short national number */
    if (phone_is_extension(raw))
        return false;
    try {
        std::string digits;
        bool plus = false;
        /* an extension marker ("x12", ";ext=12") is cut, not parsed */
        std::string text(raw);
        size_t cut = text.find_first_of("xX;,");
        if (cut != std::string::npos)
            text.resize(cut);
        if (!digits_of(text.c_str(), &digits, &plus) || digits.size() < 3)
            return false;
        /* without a country code, up to 6 digits is an extension */
        if (!plus && digits.size() < 7)
            return false;
        const PhoneNumberUtil *u = PhoneNumberUtil::GetInstance();
        std::string region =
            default_country && *default_country ? default_country : "ZZ";
        for (char &c : region)
            if (c >= 'a' && c <= 'z')
                c = (char)(c - 'a' + 'A');
        std::string intl = "+" + digits;
        if (!plus && digits.compare(0, 2, "00") == 0)
            intl = "+" + digits.substr(2);
        PhoneNumber num;
        bool ok;
        if (plus)
            ok = parse_possible(u, intl, "ZZ", &num);
        else
            /* valid national first, then valid international, then
               whatever is at least possible nationally */
            ok = parse_valid(u, digits, region, &num) ||
                 parse_valid(u, intl, "ZZ", &num) ||
                 parse_possible(u, digits, region, &num);
        if (!ok) {
            copy_last9(digits, out);
            return false;
        }
        std::string e164;
        u->Format(num, PhoneNumberUtil::E164, &e164);
        /* E.164 has at most 15 digits; a merely "possible" number can
           format longer */
        if (e164.size() < 2 || e164.size() > 16) {
            copy_last9(digits, out);
            return false;
        }
        memcpy(out->e164, e164.c_str(), e164.size() + 1);
        copy_last9(e164.substr(1), out);
        return true;
    } catch (...) {
        out->e164[0] = '\0';
        out->last9[0] = '\0';
        return false;
    }
}

extern "C" bool phone_is_extension(const char *s)
{
    size_t n = 0;
    if (!s)
        return false;
    for (; s[n]; n++)
        if (s[n] < '0' || s[n] > '9' || n >= 6)
            return false;
    return n >= 1;
}
