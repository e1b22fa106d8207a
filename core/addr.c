/*
 * addr.c - address normalisation, capture tokens and subject tickets.
 *
 * Normalisation is deliberately simple and total: trim, drop <>, split at
 * the last '@', lower-case the local part (every mail system we meet treats
 * it case-insensitively), convert the domain to ASCII with GLib's IDNA
 * support and lower-case it. Bounds: local part 64 bytes, domain 253,
 * address 254 (RFC 5321).
 */
#include "crmgate/addr.h"

#include <string.h>

#define LOCAL_MAX 64
#define DOMAIN_MAX 253
#define ADDRESS_MAX 254
#define TICKET_MAX 32

char *addr_normalize_domain(const char *domain)
{
    if (!domain)
        return NULL;
    g_autofree char *d = g_strstrip(g_strdup(domain));
    gsize len = strlen(d);
    while (len > 0 && d[len - 1] == '.')
        d[--len] = '\0';
    if (len == 0 || len > DOMAIN_MAX || !g_utf8_validate(d, -1, NULL))
        return NULL;
    /* An address literal like [192.0.2.1] stays as it is. */
    if (d[0] == '[')
        return d[len - 1] == ']' ? g_ascii_strdown(d, -1) : NULL;
    g_autofree char *ascii = g_hostname_to_ascii(d);
    if (!ascii || !*ascii || strlen(ascii) > DOMAIN_MAX)
        return NULL;
    for (const char *p = ascii; *p; p++) {
        if (!g_ascii_isalnum(*p) && *p != '-' && *p != '.' && *p != '_')
            return NULL;
    }
    if (ascii[0] == '.' || strstr(ascii, ".."))
        return NULL;
    return g_ascii_strdown(ascii, -1);
}

char *addr_normalize(const char *address)
{
    if (!address)
        return NULL;
    g_autofree char *a = g_strstrip(g_strdup(address));
    char *s = a;
    gsize len = strlen(s);
    if (len >= 2 && s[0] == '<' && s[len - 1] == '>') {
        s[len - 1] = '\0';
        s++;
        g_strstrip(s);
    }
    char *at = strrchr(s, '@');
    if (!at || at == s || at[1] == '\0')
        return NULL;
    *at = '\0';
    const char *local = s;
    if (strlen(local) > LOCAL_MAX || !g_utf8_validate(local, -1, NULL))
        return NULL;
    for (const char *p = local; *p; p++) {
        if ((unsigned char)*p <= ' ' || *p == '<' || *p == '>' || *p == ',')
            return NULL;
    }
    g_autofree char *domain = addr_normalize_domain(at + 1);
    if (!domain)
        return NULL;
    g_autofree char *lower = g_utf8_strdown(local, -1);
    char *out = g_strconcat(lower, "@", domain, NULL);
    if (strlen(out) > ADDRESS_MAX) {
        g_free(out);
        return NULL;
    }
    return out;
}

const char *addr_domain(const char *norm)
{
    const char *at = norm ? strrchr(norm, '@') : NULL;
    return at ? at + 1 : "";
}

static const struct {
    const char *name;
    capture_token_type type;
} token_names[] = {
    {"deal", TOKEN_DEAL},       {"contact", TOKEN_CONTACT},
    {"lead", TOKEN_LEAD},       {"company", TOKEN_COMPANY},
    {"request", TOKEN_REQUEST},
};

const char *addr_token_type_name(capture_token_type type)
{
    for (size_t i = 0; i < G_N_ELEMENTS(token_names); i++) {
        if (token_names[i].type == type)
            return token_names[i].name;
    }
    return NULL;
}

bool addr_capture_token(const char *norm, const char *capture_local,
                        const char *capture_domain, capture_token *tok_r)
{
    tok_r->type = TOKEN_NONE;
    tok_r->id = 0;
    if (!norm || !capture_domain || !*capture_domain)
        return false;
    const char *at = strrchr(norm, '@');
    if (!at || strcmp(at + 1, capture_domain) != 0)
        return false;
    gsize llen = strlen(capture_local);
    if ((gsize)(at - norm) < llen || strncmp(norm, capture_local, llen) != 0)
        return false;
    const char *p = norm + llen;
    if (p == at)
        return true; /* the plain capture address */
    if (*p != '+')
        return false;
    p++;
    for (size_t i = 0; i < G_N_ELEMENTS(token_names); i++) {
        gsize n = strlen(token_names[i].name);
        if (strncmp(p, token_names[i].name, n) != 0 || p[n] != '-')
            continue;
        const char *digits = p + n + 1;
        if (digits == at || at - digits > 18)
            return true;
        gint64 id = 0;
        for (const char *d = digits; d < at; d++) {
            if (!g_ascii_isdigit(*d))
                return true;
            id = id * 10 + (*d - '0');
        }
        if (id > 0) {
            tok_r->type = token_names[i].type;
            tok_r->id = id;
        }
        return true;
    }
    return true;
}

char *addr_subject_ticket(const char *subject)
{
    static const char key[] = "[ticket:";
    if (!subject)
        return NULL;
    for (const char *p = subject; *p; p++) {
        if (*p != '[' || g_ascii_strncasecmp(p, key, sizeof(key) - 1) != 0)
            continue;
        const char *t = p + sizeof(key) - 1;
        while (*t == ' ')
            t++;
        const char *e = t;
        while (g_ascii_isalnum(*e) && e - t <= TICKET_MAX)
            e++;
        const char *close = e;
        while (*close == ' ')
            close++;
        if (e > t && e - t <= TICKET_MAX && *close == ']')
            return g_strndup(t, (gsize)(e - t));
    }
    return NULL;
}

void addr_split_name(const char *name, char **first_r, char **last_r)
{
    g_autofree char *n = g_strstrip(g_strdup(name ? name : ""));
    char *sp = strchr(n, ' ');
    if (!sp) {
        *first_r = g_strdup(n);
        *last_r = g_strdup("");
        return;
    }
    *first_r = g_strndup(n, (gsize)(sp - n));
    *last_r = g_strstrip(g_strdup(sp + 1));
}
