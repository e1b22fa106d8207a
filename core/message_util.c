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

void message_int_sha256_hex(const crypto_hash_sha256_state *st, char out[65])
{
    crypto_hash_sha256_state copy = *st;
    unsigned char bin[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&copy, bin);
    sodium_bin2hex(out, 65, bin, sizeof(bin));
}

/* glibc keeps the memory a parse freed in its arenas (one per thread that
   parsed); malloc_trim(0) hands their free pages back to the system. */
void message_release_memory(void)
{
    malloc_trim(0);
}
