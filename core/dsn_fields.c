/*
 * dsn_fields.c - the field-level side of the bounce parser (core/dsn.c):
 * text helpers shared with dsn_text.c (one-line cleaning, addresses,
 * status and reply codes), the message/delivery-status reader (RFC 3464
 * per-recipient groups, continuation lines), Amazon SES notifications
 * (JSON by mail), and the report's life cycle and JSON form.
 *
 * Limits: the callers hand over bounded text (DSN_MAX_TEXT); a field is
 * unfolded up to 4096 bytes; at most DSN_MAX_RECIPIENTS recipients are
 * added (dsn_int_add); diagnostics are cut at DSN_MAX_DIAGNOSTIC bytes.
 */
#include "dsn_int.h"

#include "crmgate/addr.h"

#include <string.h>

/* ---- small helpers shared with dsn_text.c ---- */

char *dsn_int_line(const char *s, gsize len, gsize max)
{
    GString *o = g_string_sized_new(MIN(len, max) + 8);
    bool space = false;
    for (gsize i = 0; i < len && o->len < max + 8; i++) {
        guchar c = (guchar)s[i];
        if (c == '\0')
            continue;
        if (c < 0x20 || c == 0x7f || c == ' ') {
            space = o->len > 0;
            continue;
        }
        if (space)
            g_string_append_c(o, ' ');
        space = false;
        g_string_append_c(o, (char)c);
    }
    char *v = g_utf8_make_valid(o->str, (gssize)o->len);
    g_string_free(o, TRUE);
    gsize n = strlen(v);
    if (n > max) {
        gsize cut = max;
        while (cut > 0 && ((guchar)v[cut] & 0xC0) == 0x80)
            cut--;
        v[cut] = '\0';
    }
    return v;
}

static bool addr_char(guchar c)
{
    return g_ascii_isalnum(c) || c >= 0x80 || strchr("!#$%&'*+-/=?^_`{|}~.", c);
}

char *dsn_int_address(const char *s, gsize len)
{
    for (gsize i = 0; i < len; i++) {
        if (s[i] != '@' || i == 0)
            continue;
        gsize a = i, b = i + 1;
        while (a > 0 && addr_char((guchar)s[a - 1]) && i - a < 64)
            a--;
        while (b < len && addr_char((guchar)s[b]) && b - i < 255)
            b++;
        while (b > i + 1 && s[b - 1] == '.')
            b--;
        while (a < i && s[a] == '.')
            a++;
        if (a == i || b == i + 1 || !memchr(s + i + 1, '.', b - i - 1))
            continue;
        g_autofree char *cand = g_strndup(s + a, b - a);
        char *norm = addr_normalize(cand);
        if (norm != NULL) {
            char *low = g_utf8_strdown(norm, -1);
            g_free(norm);
            return low;
        }
    }
    return NULL;
}

dsn_recipient *dsn_int_find(dsn_report *rep, const char *addr)
{
    for (guint i = 0; i < rep->recipients->len; i++) {
        dsn_recipient *r = g_ptr_array_index(rep->recipients, i);
        if (strcmp(r->recipient, addr) == 0)
            return r;
    }
    return NULL;
}

dsn_recipient *dsn_int_add(dsn_report *rep, const char *addr,
                           const char *action, const char *status,
                           const char *diagnostic)
{
    if (addr == NULL || *addr == '\0' ||
        rep->recipients->len >= DSN_MAX_RECIPIENTS ||
        dsn_int_find(rep, addr) != NULL)
        return NULL;
    dsn_recipient *r = g_new0(dsn_recipient, 1);
    r->recipient = g_strdup(addr);
    r->action = g_strdup(action != NULL ? action : "");
    r->status = g_strdup(status != NULL ? status : "");
    r->diagnostic = dsn_int_line(diagnostic != NULL ? diagnostic : "",
                                 diagnostic != NULL ? strlen(diagnostic) : 0,
                                 DSN_MAX_DIAGNOSTIC);
    g_ptr_array_add(rep->recipients, r);
    return r;
}

bool dsn_int_status_in(const char *s, char out[16])
{
    for (const char *p = s; *p != '\0'; p++) {
        if ((*p != '2' && *p != '4' && *p != '5') || p[1] != '.' ||
            (p > s && (g_ascii_isdigit(p[-1]) || p[-1] == '.')))
            continue;
        const char *q = p + 2;
        int d1 = 0, d2 = 0;
        while (d1 < 4 && g_ascii_isdigit(q[d1]))
            d1++;
        if (d1 == 0 || d1 > 3 || q[d1] != '.')
            continue;
        q += d1 + 1;
        while (d2 < 4 && g_ascii_isdigit(q[d2]))
            d2++;
        if (d2 == 0 || d2 > 3 || q[d2] == '.' || g_ascii_isdigit(q[d2]))
            continue;
        gsize n = (gsize)(q + d2 - p);
        memcpy(out, p, n);
        out[n] = '\0';
        return true;
    }
    return false;
}

int dsn_int_reply_in(const char *s)
{
    for (const char *p = s; *p != '\0'; p++) {
        if ((*p != '2' && *p != '4' && *p != '5') ||
            (p > s && (g_ascii_isalnum(p[-1]) || p[-1] == '.' || p[-1] == '-' ||
                       p[-1] == '#')))
            continue;
        if (!g_ascii_isdigit(p[1]) || !g_ascii_isdigit(p[2]))
            continue;
        char e = p[3];
        if (e != ' ' && e != '-' && e != '\0' && e != '\n' && e != '\r' &&
            e != ')' && e != ']')
            continue;
        int v = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
        if (p[1] <= '5' && v != 250 && v != 220 && v != 221 && v != 354)
            return v;
    }
    return 0;
}

/* ---- message/delivery-status ---- */

typedef struct {
    char *final;
    char *original;
    char *action;
    char *status;
    GString *diag;
} ds_group;

static void group_clear(ds_group *g)
{
    g_clear_pointer(&g->final, g_free);
    g_clear_pointer(&g->original, g_free);
    g_clear_pointer(&g->action, g_free);
    g_clear_pointer(&g->status, g_free);
    g_string_truncate(g->diag, 0);
}

/* "type; value" -> value (the whole string when there is no ';'). */
const char *dsn_int_after_type(const char *v)
{
    const char *semi = strchr(v, ';');
    const char *at = strchr(v, '@');
    if (semi != NULL && (at == NULL || semi < at))
        v = semi + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    return v;
}

/* Ends a group: adds its recipient when it names one. */
static void group_flush(dsn_report *rep, ds_group *g)
{
    char *addr = NULL;
    if (g->final != NULL) {
        const char *v = dsn_int_after_type(g->final);
        addr = dsn_int_address(v, strlen(v));
    }
    if (addr == NULL && g->original != NULL) {
        const char *v = dsn_int_after_type(g->original);
        addr = dsn_int_address(v, strlen(v));
    }
    if (addr != NULL) {
        char st[16] = "";
        if (g->status != NULL)
            dsn_int_status_in(g->status, st);
        char dst[16] = "";
        /* a vague x.0.0 refined by the diagnostic's own code */
        if ((st[0] == '\0' || strcmp(st + 1, ".0.0") == 0) &&
            dsn_int_status_in(g->diag->str, dst) &&
            (st[0] == '\0' || dst[0] == st[0]))
            memcpy(st, dst, sizeof(st));
        g_autofree char *action =
            g->action != NULL ? g_ascii_strdown(g_strstrip(g->action), -1)
                              : g_strdup(st[0] == '4' ? "delayed" : "failed");
        const char *diag = dsn_int_after_type(g->diag->str);
        dsn_recipient *r = dsn_int_add(rep, addr, action, st, diag);
        if (r != NULL && g_ascii_strncasecmp(g->diag->str, "x-unix", 6) == 0) {
            /* a local delivery program failed (procmail, a pipe) */
            r->reason = g_strdup(dsn_int_mailer_reason(r->diagnostic));
            r->reply_code = dsn_int_reply_in(r->diagnostic);
        }
    }
    g_free(addr);
    group_clear(g);
}

static void set_field(char **slot, const char *v)
{
    if (*slot == NULL)
        *slot = g_strdup(v);
}

/* Parses the fields of delivery-status text; groups split at blank lines
   and at a second Final-Recipient. */
void dsn_int_parse_ds(dsn_report *rep, const char *text, gsize len)
{
    ds_group g = {.diag = g_string_new(NULL)};
    GString *field = g_string_new(NULL); /* current unfolded field */
    const char *p = text, *end = text + len;
    bool more = true;
    while (more) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl != NULL ? nl : end;
        gsize ll = (gsize)(le - p);
        if (ll > 0 && p[ll - 1] == '\r')
            ll--;
        bool cont = ll > 0 && (p[0] == ' ' || p[0] == '\t');
        bool blank = true;
        for (gsize i = 0; i < ll; i++)
            if (!g_ascii_isspace(p[i]))
                blank = false;
        if (cont && !blank && field->len < 4096) {
            g_string_append_c(field, ' ');
            g_string_append_len(field, p, (gssize)MIN(ll, 4096));
        } else {
            /* the previous field is complete */
            if (field->len > 0) {
                char *f = field->str;
                char *colon = strchr(f, ':');
                if (colon != NULL) {
                    *colon = '\0';
                    char *name = g_strstrip(f);
                    char *val = g_strstrip(colon + 1);
                    if (g_ascii_strcasecmp(name, "Final-Recipient") == 0) {
                        if (g.final != NULL)
                            group_flush(rep, &g);
                        set_field(&g.final, val);
                    } else if (g_ascii_strcasecmp(name, "Original-Recipient") ==
                               0) {
                        if (g.original != NULL && g.final != NULL)
                            group_flush(rep, &g);
                        set_field(&g.original, val);
                    } else if (g_ascii_strcasecmp(name, "Action") == 0) {
                        set_field(&g.action, val);
                    } else if (g_ascii_strcasecmp(name, "Status") == 0) {
                        set_field(&g.status, val);
                    } else if (g_ascii_strcasecmp(name, "Diagnostic-Code") ==
                                   0 &&
                               g.diag->len == 0) {
                        g_string_append(g.diag, val);
                    }
                }
                g_string_truncate(field, 0);
            }
            if (blank) {
                if (g.final != NULL || g.original != NULL)
                    group_flush(rep, &g);
                else
                    group_clear(&g);
            } else {
                g_string_append_len(field, p, (gssize)MIN(ll, 4096));
            }
        }
        more = nl != NULL;
        p = nl != NULL ? nl + 1 : end;
    }
    if (g.final != NULL || g.original != NULL)
        group_flush(rep, &g);
    group_clear(&g);
    g_string_free(g.diag, TRUE);
    g_string_free(field, TRUE);
}

dsn_report *dsn_int_report_new(const char *kind)
{
    dsn_report *rep = g_new0(dsn_report, 1);
    rep->recipients = g_ptr_array_new();
    rep->kind = g_strdup(kind);
    return rep;
}

/* Amazon SES notifications sent by mail (SNS): a JSON body with
   "notificationType" Bounce, Complaint or Delivery. SNS folds long lines
   with "!" + newline + space, undone here. NULL when the prose is none. */
dsn_report *dsn_int_ses_json(const char *prose)
{
    const char *key = strstr(prose, "\"notificationType\"");
    if (key == NULL)
        return NULL;
    const char *open = key;
    while (open > prose && *open != '{')
        open--;
    if (*open != '{')
        return NULL;
    GString *js = g_string_sized_new(strlen(open));
    for (const char *p = open; *p != '\0'; p++) {
        if (p[0] == '!' && p[1] == '\n' && p[2] == ' ') {
            p += 2;
            continue;
        }
        if (p[0] == '!' && p[1] == '\r' && p[2] == '\n' && p[3] == ' ') {
            p += 3;
            continue;
        }
        g_string_append_c(js, *p);
    }
    json_error_t err;
    json_t *j = json_loadb(js->str, js->len, JSON_DISABLE_EOF_CHECK, &err);
    g_string_free(js, TRUE);
    if (j == NULL)
        return NULL;
    const char *type =
        json_string_value(json_object_get(j, "notificationType"));
    json_t *list = NULL;
    dsn_report *rep = NULL;
    const char *reason = NULL;
    if (type != NULL && strcmp(type, "Complaint") == 0) {
        json_t *c = json_object_get(j, "complaint");
        list = json_object_get(c, "complainedRecipients");
        rep = dsn_int_report_new("arf");
        const char *ft =
            json_string_value(json_object_get(c, "complaintFeedbackType"));
        rep->feedback_type = g_ascii_strdown(ft != NULL ? ft : "abuse", -1);
        reason = "feedback";
    } else if (type != NULL && strcmp(type, "Bounce") == 0) {
        list =
            json_object_get(json_object_get(j, "bounce"), "bouncedRecipients");
        rep = dsn_int_report_new("dsn");
    } else if (type != NULL && strcmp(type, "Delivery") == 0) {
        list = json_object_get(json_object_get(j, "delivery"), "recipients");
        rep = dsn_int_report_new("dsn");
        reason = "delivered";
    }
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        const char *addr =
            json_is_string(v)
                ? json_string_value(v)
                : json_string_value(json_object_get(v, "emailAddress"));
        const char *diag =
            json_string_value(json_object_get(v, "diagnosticCode"));
        const char *st = json_string_value(json_object_get(v, "status"));
        const char *action = json_string_value(json_object_get(v, "action"));
        g_autofree char *a =
            addr != NULL ? dsn_int_address(addr, strlen(addr)) : NULL;
        bool delivered = reason != NULL && strcmp(reason, "delivered") == 0;
        if (diag == NULL && delivered)
            diag = json_string_value(json_object_get(
                json_object_get(j, "delivery"), "smtpResponse"));
        char code[16] = "";
        if (st == NULL && diag != NULL && dsn_int_status_in(diag, code))
            st = code;
        dsn_recipient *r = dsn_int_add(
            rep, a,
            action != NULL ? action
            : delivered    ? "delivered"
                           : "failed",
            st != NULL ? st : "", diag != NULL ? dsn_int_after_type(diag) : "");
        if (r != NULL && reason != NULL)
            r->reason = g_strdup(reason);
    }
    if (rep != NULL && rep->recipients->len == 0)
        dsn_report_free(&rep);
    json_decref(j);
    return rep;
}

/* Fills reason, reply code and hard for every recipient; ctx maps an
   address to the prose about it (may be NULL). */
void dsn_report_free(dsn_report **rp)
{
    if (rp == NULL || *rp == NULL)
        return;
    dsn_report *r = *rp;
    for (guint i = 0; i < r->recipients->len; i++) {
        dsn_recipient *x = g_ptr_array_index(r->recipients, i);
        g_free(x->recipient);
        g_free(x->action);
        g_free(x->status);
        g_free(x->diagnostic);
        g_free(x->reason);
        g_free(x);
    }
    g_ptr_array_unref(r->recipients);
    g_free(r->kind);
    g_free(r->feedback_type);
    g_free(r->original_message_id);
    g_free(r->original_envelope_from);
    g_free(r);
    *rp = NULL;
}

static json_t *str_or_null(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

json_t *dsn_report_json(const dsn_report *r)
{
    json_t *list = json_array();
    for (guint i = 0; i < r->recipients->len; i++) {
        const dsn_recipient *x = g_ptr_array_index(r->recipients, i);
        json_t *o = json_object();
        json_object_set_new(o, "recipient", json_string(x->recipient));
        json_object_set_new(o, "action", json_string(x->action));
        json_object_set_new(o, "status", json_string(x->status));
        json_object_set_new(o, "diagnostic", json_string(x->diagnostic));
        json_object_set_new(o, "reason", json_string(x->reason));
        json_object_set_new(o, "hard", json_boolean(x->hard));
        json_array_append_new(list, o);
    }
    json_t *j = json_object();
    json_object_set_new(j, "recipients", list);
    json_object_set_new(j, "kind", str_or_null(r->kind));
    json_object_set_new(j, "feedback_type", str_or_null(r->feedback_type));
    json_object_set_new(j, "original_message_id",
                        str_or_null(r->original_message_id));
    return j;
}
