/*
 * message_util.c - the leaf helpers of the message parser, shared by
 * message.c, message_mime.c and mime_guard.c and calling none of them:
 * GMime's one-time initialisation, text cleaning (valid UTF-8, no NUL,
 * bounded), the bounded warning list, SHA-256 hex, and giving freed memory
 * back to the system after a large parse.
 *
 * Limits: at most MSG_WARNINGS_MAX warnings per message (then one
 * "further warnings omitted"), each at most 4 x MSG_WARNING_ITEM_MAX bytes.
 */
#include "crmgate/message.h"
#include "message_int.h"

#include <gmime/gmime.h>
#include <malloc.h>
#include <string.h>

#define MSG_WARNINGS_MAX 64

static gpointer library_init_once(gpointer data)
{
    (void)data;
    g_mime_init();
    return NULL;
}

void message_library_init(void)
{
    static GOnce once = G_ONCE_INIT;
    g_once(&once, library_init_once, NULL);
}

/* Length of s cut to at most max bytes on a UTF-8 character boundary
   (s is valid UTF-8). */
static gsize utf8_cut_len(const char *s, gsize len, gsize max)
{
    if (len <= max)
        return len;
    while (max > 0 && ((guchar)s[max] & 0xC0) == 0x80)
        max--;
    return max;
}

/* Returns valid UTF-8 without NUL bytes, cut to max bytes; *cut_r (may
   be NULL) tells whether it was cut. len < 0: s is NUL-terminated. */
char *message_int_clean_text(const char *s, gssize len, gsize max, bool *cut_r)
{
    gsize n = s == NULL ? 0 : len < 0 ? strlen(s) : (gsize)len;
    if (cut_r != NULL)
        *cut_r = false;
    if (n == 0)
        return g_strdup("");
    GString *nonul = g_string_sized_new(n);
    for (const char *p = s, *end = s + n; p < end;) {
        const char *nul = memchr(p, '\0', (size_t)(end - p));
        const char *stop = nul != NULL ? nul : end;
        g_string_append_len(nonul, p, stop - p);
        p = stop + (nul != NULL);
    }
    char *v = g_utf8_make_valid(nonul->str, (gssize)nonul->len);
    g_string_free(nonul, TRUE);
    gsize vlen = strlen(v);
    gsize keep = utf8_cut_len(v, vlen, max);
    if (cut_r != NULL)
        *cut_r = keep < vlen;
    v[keep] = '\0';
    return v;
}

/* Keeps at most MSG_WARNINGS_MAX warnings, then one "further warnings
   omitted"; an identical warning is kept once. */
void message_int_add_warning(crm_message *msg, const char *fmt, ...)
{
    if (msg->warnings->len > MSG_WARNINGS_MAX)
        return;
    if (msg->warnings->len == MSG_WARNINGS_MAX) {
        g_ptr_array_add(msg->warnings, g_strdup("further warnings omitted"));
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *raw = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    char *w = message_int_clean_text(raw, -1, 4 * MSG_WARNING_ITEM_MAX, NULL);
    for (guint i = 0; i < msg->warnings->len; i++) {
        if (strcmp(g_ptr_array_index(msg->warnings, i), w) == 0) {
            g_free(w);
            return;
        }
    }
    g_ptr_array_add(msg->warnings, w);
}

/* glibc keeps the memory a parse freed in its arenas (one per thread that
   parsed); malloc_trim(0) hands their free pages back to the system. */
void message_release_memory(void)
{
    malloc_trim(0);
}

/* ---- RFC 2047 encoded words ---- */

/* Parses the encoded word "=?charset?B|Q?text?=" at p: *cs_r gets the
   charset (a new string, RFC 2231 language dropped), *enc_r 'B' or 'Q',
   *text_r and *len_r the encoded text. Returns the end, or NULL. */
static const char *parse_word(const char *p, char **cs_r, char *enc_r,
                              const char **text_r, gsize *len_r)
{
    if (p[0] != '=' || p[1] != '?')
        return NULL;
    const char *cs = p + 2, *q = cs;
    while (*q != '\0' && *q != '?' && !g_ascii_isspace(*q))
        q++;
    if (*q != '?' || q == cs)
        return NULL;
    char e = g_ascii_toupper(q[1]);
    if ((e != 'B' && e != 'Q') || q[2] != '?')
        return NULL;
    const char *t = q + 3, *end = t;
    while (*end != '\0' && !(end[0] == '?' && end[1] == '=')) {
        if (g_ascii_isspace(*end))
            return NULL;
        end++;
    }
    if (*end == '\0')
        return NULL;
    const char *star = memchr(cs, '*', (size_t)(q - cs));
    *cs_r = g_strndup(cs, (gsize)((star != NULL ? star : q) - cs));
    *enc_r = e;
    *text_r = t;
    *len_r = (gsize)(end - t);
    return end + 2;
}

static void decode_word(char enc, const char *t, gsize n, GByteArray *out)
{
    if (enc == 'B') {
        gint state = 0;
        guint save = 0;
        guint old = out->len;
        g_byte_array_set_size(out, old + (guint)(n / 4 * 3 + 3));
        gsize got = g_base64_decode_step(t, n, out->data + old, &state, &save);
        g_byte_array_set_size(out, old + (guint)got);
        return;
    }
    for (gsize i = 0; i < n; i++) {
        guint8 c = (guint8)t[i];
        if (c == '_') {
            c = ' ';
        } else if (c == '=' && i + 2 < n && g_ascii_isxdigit(t[i + 1]) &&
                   g_ascii_isxdigit(t[i + 2])) {
            c = (guint8)(g_ascii_xdigit_value(t[i + 1]) * 16 +
                         g_ascii_xdigit_value(t[i + 2]));
            i += 2;
        }
        g_byte_array_append(out, &c, 1);
    }
}

/* Appends bytes in charset cs (NULL: as written) to out as UTF-8. */
static void append_converted(GString *out, const guint8 *b, gsize n,
                             const char *cs)
{
    if (n == 0)
        return;
    const char *s = (const char *)b;
    g_autofree char *conv = NULL;
    if (cs != NULL && g_ascii_strcasecmp(cs, "utf-8") != 0 &&
        g_ascii_strcasecmp(cs, "us-ascii") != 0)
        conv = g_convert(s, (gssize)n, "UTF-8", cs, NULL, NULL, NULL);
    if (conv == NULL && !g_utf8_validate(s, (gssize)n, NULL))
        conv =
            g_convert(s, (gssize)n, "UTF-8", "windows-1252", NULL, NULL, NULL);
    if (conv != NULL)
        g_string_append(out, conv);
    else
        g_string_append_len(out, s, (gssize)n);
}

/* Decodes a raw header value as RFC 2047 says: unfolded, every encoded
   word decoded (adjacent words of one charset joined as bytes first, so a
   character split across words survives), white space between adjacent
   encoded words dropped, other text kept (8-bit text read as UTF-8, else
   windows-1252), leading and trailing white space trimmed. */
char *message_int_decode_header(const char *raw)
{
    GString *unfolded = g_string_new(NULL);
    for (const char *p = raw; *p != '\0'; p++)
        if (*p != '\r' && *p != '\n')
            g_string_append_c(unfolded, *p);
    g_strstrip(unfolded->str);
    GString *out = g_string_new(NULL);
    GByteArray *pending = g_byte_array_new();
    char *pending_cs = NULL;
    bool prev_word = false;
    for (const char *p = unfolded->str; *p != '\0';) {
        char *cs = NULL, enc = 0;
        const char *text = NULL;
        gsize tlen = 0;
        if (g_ascii_isspace(*p)) {
            const char *ws = p;
            while (g_ascii_isspace(*p))
                p++;
            const char *next = parse_word(p, &cs, &enc, &text, &tlen);
            g_free(cs);
            if (prev_word && next != NULL)
                continue; /* between two encoded words */
            append_converted(out, pending->data, pending->len, pending_cs);
            g_byte_array_set_size(pending, 0);
            g_string_append_len(out, ws, p - ws);
            prev_word = false;
            continue;
        }
        const char *end = parse_word(p, &cs, &enc, &text, &tlen);
        if (end != NULL) {
            if (pending_cs == NULL || g_ascii_strcasecmp(pending_cs, cs) != 0) {
                append_converted(out, pending->data, pending->len, pending_cs);
                g_byte_array_set_size(pending, 0);
                g_free(pending_cs);
                pending_cs = cs;
            } else {
                g_free(cs);
            }
            decode_word(enc, text, tlen, pending);
            prev_word = true;
            p = end;
            continue;
        }
        append_converted(out, pending->data, pending->len, pending_cs);
        g_byte_array_set_size(pending, 0);
        const char *w = p;
        while (*p != '\0' && !g_ascii_isspace(*p) &&
               !(p > w && p[0] == '=' && p[1] == '?'))
            p++;
        append_converted(out, (const guint8 *)w, (gsize)(p - w), NULL);
        prev_word = false;
    }
    append_converted(out, pending->data, pending->len, pending_cs);
    g_byte_array_unref(pending);
    g_free(pending_cs);
    g_string_free(unfolded, TRUE);
    return g_string_free(out, FALSE);
}
