/*
 * template.c - compiled campaign templates (see template.h): compiling
 * checks the whole text once (size, UTF-8, every tag) and turns it into a
 * list of pieces, literal runs and variable slots, so rendering per
 * recipient is a walk over that list with one lookup per slot.
 *
 * Limits: TEMPLATE_MAX_BYTES of text; a name quoted in an error is cut at
 * TEMPLATE_ERR_NAME_MAX bytes. Rendering allocates nothing when every
 * value is valid UTF-8 and out has room.
 */
#include "crmgate/template.h"

#include <stdarg.h>
#include <string.h>

#define TEMPLATE_ERR_NAME_MAX 64
#define TEMPLATE_VIEW_DATE "view_date"

/* Exactly the variables a template may use. */
static const char *const known[] = {"first_name",      "last_name",
                                    "full_name",       "email",
                                    "company",         "title",
                                    "country",         "city",
                                    "phone",           "owner_name",
                                    "owner_email",     "campaign_name",
                                    "unsubscribe_url", TEMPLATE_VIEW_DATE,
                                    "sender_name",     NULL};

typedef struct {
    gsize off, len;      /* literal: text[off..off+len); slot: the fallback */
    gint var;            /* index in known, or -1 for a literal */
    char *fallback_html; /* the fallback HTML-escaped (slots only) */
} piece;

struct template
{
    char *text;        /* the compiled source, NUL-terminated */
    GArray *pieces;    /* of piece */
    gsize literal_len; /* bytes of literal text, to size the output */
    const char **vars; /* borrowed names from known, NULL-terminated */
};

bool template_is_known_variable(const char *name)
{
    if (name == NULL)
        return false;
    for (guint i = 0; known[i] != NULL; i++)
        if (strcmp(known[i], name) == 0)
            return true;
    return false;
}

const char *const *template_known_variables(void)
{
    return known;
}

static gint known_index(const char *name, gsize len)
{
    for (guint i = 0; known[i] != NULL; i++)
        if (strlen(known[i]) == len && memcmp(known[i], name, len) == 0)
            return (gint)i;
    return -1;
}

/* Sets *error_r to "line L, column C: " what, for byte offset pos of
   text (valid UTF-8 up to pos). */
static void fail(char **error_r, const char *text, gsize pos, const char *fmt,
                 ...) G_GNUC_PRINTF(4, 5);

static void fail(char **error_r, const char *text, gsize pos, const char *fmt,
                 ...)
{
    if (error_r == NULL)
        return;
    guint line = 1, col = 1;
    for (gsize i = 0; i < pos; i++) {
        if (text[i] == '\n') {
            line++;
            col = 1;
        } else if (((guchar)text[i] & 0xC0) != 0x80) {
            col++;
        }
    }
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *what = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    *error_r = g_strdup_printf("line %u, column %u: %s", line, col, what);
}

static bool blank(char c)
{
    return c == ' ' || c == '\t';
}

static void add_piece(GArray *a, gsize off, gsize len, gint var)
{
    if (var < 0 && len == 0)
        return;
    piece p = {off, len, var, NULL};
    g_array_append_val(a, p);
}

/* A name quoted in an error: cut at TEMPLATE_ERR_NAME_MAX bytes on a
   character boundary, newlines shown as spaces. */
static char *quote_name(const char *s, gsize len)
{
    gsize n = len;
    if (n > TEMPLATE_ERR_NAME_MAX) {
        n = TEMPLATE_ERR_NAME_MAX;
        while (n > 0 && ((guchar)s[n] & 0xC0) == 0x80)
            n--;
    }
    char *q = g_strndup(s, n);
    for (char *p = q; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    if (n < len) {
        char *more = g_strconcat(q, "...", NULL);
        g_free(q);
        return more;
    }
    return q;
}

/* Parses the tag whose "{{" is at open and whose content is
   text[start..end); adds its piece. */
static bool compile_tag(template *t, gsize open, gsize start, gsize end,
                        char **error_r)
{
    const char *s = t->text;
    const char *bar = memchr(s + start, '|', end - start);
    gsize name_end = bar != NULL ? (gsize)(bar - s) : end;
    gsize ns = start, ne = name_end;
    while (ns < ne && blank(s[ns]))
        ns++;
    while (ne > ns && blank(s[ne - 1]))
        ne--;
    if (ns == ne) {
        fail(error_r, s, open, "empty variable name");
        return false;
    }
    gint var = known_index(s + ns, ne - ns);
    if (var < 0) {
        g_autofree char *q = quote_name(s + ns, ne - ns);
        fail(error_r, s, open, "unknown variable '%s'", q);
        return false;
    }
    gsize fs = end, fe = end;
    if (bar != NULL) {
        fs = name_end + 1;
        while (fs < fe && blank(s[fs]))
            fs++;
        while (fe > fs && blank(s[fe - 1]))
            fe--;
    }
    add_piece(t->pieces, fs, fe - fs, var);
    return true;
}

static void collect_vars(template *t)
{
    gboolean seen[G_N_ELEMENTS(known)] = {FALSE};
    GPtrArray *v = g_ptr_array_new();
    for (guint i = 0; i < t->pieces->len; i++) {
        const piece *p = &g_array_index(t->pieces, piece, i);
        if (p->var >= 0 && !seen[p->var]) {
            seen[p->var] = TRUE;
            g_ptr_array_add(v, (gpointer)known[p->var]);
        }
    }
    g_ptr_array_add(v, NULL);
    t->vars = (const char **)g_ptr_array_free(v, FALSE);
}

/* Replacement of each byte that HTML escaping changes, NULL for others. */
static const char *const html_rep[256] = {
    ['&'] = "&amp;",  ['<'] = "&lt;",   ['>'] = "&gt;",
    ['"'] = "&quot;", ['\''] = "&#39;",
};

/* Appends s[0..len) HTML-escaped. */
static void append_html(GString *out, const char *s, gsize len)
{
    gsize run = 0;
    for (gsize i = 0; i < len; i++) {
        const char *rep = html_rep[(guchar)s[i]];
        if (G_LIKELY(rep == NULL))
            continue;
        g_string_append_len(out, s + run, (gssize)(i - run));
        g_string_append(out, rep);
        run = i + 1;
    }
    g_string_append_len(out, s + run, (gssize)(len - run));
}

static bool needs_escape(const char *s, gsize len)
{
    for (gsize i = 0; i < len; i++)
        if (html_rep[(guchar)s[i]] != NULL)
            return true;
    return false;
}

/* Escapes each fallback once, and sums the literal text. */
static void prepare(template *t)
{
    for (guint i = 0; i < t->pieces->len; i++) {
        piece *p = &g_array_index(t->pieces, piece, i);
        if (p->var < 0) {
            t->literal_len += p->len;
        } else if (needs_escape(t->text + p->off, p->len)) {
            GString *e = g_string_new(NULL);
            append_html(e, t->text + p->off, p->len);
            p->fallback_html = g_string_free(e, FALSE);
        }
    }
}

template *template_compile(const char *text, gsize len, char **error_r)
{
    if (error_r != NULL)
        *error_r = NULL;
    if (text == NULL && len > 0) {
        fail(error_r, "", 0, "no template text");
        return NULL;
    }
    if (len > TEMPLATE_MAX_BYTES) {
        fail(error_r, "", 0,
             "template is %" G_GSIZE_FORMAT
             " bytes, over the limit of %d bytes",
             len, TEMPLATE_MAX_BYTES);
        return NULL;
    }
    const char *bad = NULL;
    if (len > 0 && !g_utf8_validate(text, (gssize)len, &bad)) {
        gsize pos = (gsize)(bad - text);
        if (*bad == '\0')
            fail(error_r, text, pos, "NUL byte");
        else
            fail(error_r, text, pos, "invalid UTF-8");
        return NULL;
    }
    template *t = g_new0(template, 1);
    t->text = g_strndup(text != NULL ? text : "", len);
    t->pieces = g_array_new(FALSE, FALSE, sizeof(piece));
    const char *s = t->text;
    gsize lit = 0, i = 0;
    while (i + 1 < len) {
        const char *open = memchr(s + i, '{', len - i - 1);
        if (open == NULL)
            break;
        gsize o = (gsize)(open - s);
        if (s[o + 1] != '{') {
            i = o + 1;
            continue;
        }
        const char *close =
            len - o - 2 >= 2 ? memmem(s + o + 2, len - o - 2, "}}", 2) : NULL;
        if (close == NULL) {
            fail(error_r, s, o, "unclosed '{{'");
            template_free(&t);
            return NULL;
        }
        add_piece(t->pieces, lit, o - lit, -1);
        gsize c = (gsize)(close - s);
        if (!compile_tag(t, o, o + 2, c, error_r)) {
            template_free(&t);
            return NULL;
        }
        i = lit = c + 2;
    }
    add_piece(t->pieces, lit, len - lit, -1);
    collect_vars(t);
    prepare(t);
    return t;
}

void template_free(template **tp)
{
    if (tp == NULL || *tp == NULL)
        return;
    template *t = *tp;
    g_free(t->text);
    for (guint i = 0; i < t->pieces->len; i++)
        g_free(g_array_index(t->pieces, piece, i).fallback_html);
    g_array_free(t->pieces, TRUE);
    g_free(t->vars);
    g_free(t);
    *tp = NULL;
}

const char *const *template_variables(const template *t)
{
    static const char *const none[] = {NULL};
    return t != NULL ? t->vars : none;
}

/* A variable's value for one rendering. */
typedef struct {
    const char *s;
    gsize len;
    bool escape; /* holds a byte HTML escaping changes */
    char *fixed; /* owned copy when the value was not valid UTF-8 */
} value;

/* Resolves variable var once for a rendering: NULL s when empty. */
static void resolve(value *v, gint var, template_lookup lookup,
                    gpointer user_data, char *today, gsize today_size)
{
    const char *s = lookup != NULL ? lookup(known[var], user_data) : NULL;
    if ((s == NULL || *s == '\0') &&
        strcmp(known[var], TEMPLATE_VIEW_DATE) == 0) {
        GDateTime *now = g_date_time_new_now_utc();
        g_snprintf(today, today_size, "%04d-%02d-%02d",
                   g_date_time_get_year(now), g_date_time_get_month(now),
                   g_date_time_get_day_of_month(now));
        g_date_time_unref(now);
        s = today;
    }
    v->fixed = NULL;
    if (s == NULL || *s == '\0') {
        v->s = NULL;
        v->len = 0;
        v->escape = false;
        return;
    }
    gsize len = strlen(s);
    if (!g_utf8_validate(s, (gssize)len, NULL)) {
        v->fixed = g_utf8_make_valid(s, (gssize)len);
        s = v->fixed;
        len = strlen(s);
    }
    v->s = s;
    v->len = len;
    v->escape = needs_escape(s, len);
}

void template_render(const template *t, template_lookup lookup,
                     gpointer user_data, bool html, GString *out)
{
    if (t == NULL || out == NULL)
        return;
    value vals[G_N_ELEMENTS(known)];
    bool used[G_N_ELEMENTS(known)] = {false};
    char today[16];
    for (guint i = 0; t->vars[i] != NULL; i++) {
        gint var = known_index(t->vars[i], strlen(t->vars[i]));
        used[var] = true;
        resolve(&vals[var], var, lookup, user_data, today, sizeof today);
    }
    /* room for the literal text and some values, in one allocation */
    gsize start = out->len;
    g_string_set_size(out, start + t->literal_len + 512);
    g_string_truncate(out, start);
    for (guint i = 0; i < t->pieces->len; i++) {
        const piece *p = &g_array_index(t->pieces, piece, i);
        if (p->var < 0) {
            g_string_append_len(out, t->text + p->off, (gssize)p->len);
            continue;
        }
        const value *v = &vals[p->var];
        if (v->s != NULL) {
            if (html && v->escape)
                append_html(out, v->s, v->len);
            else
                g_string_append_len(out, v->s, (gssize)v->len);
        } else if (html && p->fallback_html != NULL) {
            g_string_append(out, p->fallback_html);
        } else {
            g_string_append_len(out, t->text + p->off, (gssize)p->len);
        }
    }
    for (guint i = 0; i < G_N_ELEMENTS(known); i++)
        if (used[i])
            g_free(vals[i].fixed);
}
