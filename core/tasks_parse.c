/*
 * tasks_parse.c - the pure parts of tasks (tasks.h): views, priorities,
 * stages, record references and dates as users type them, and the signed
 * one-click completion link of notices (HMAC-SHA256 under web.secret,
 * bound to task, user and expiry). No database here: unit-tested in
 * tests/unit/test_tasks.c.
 */
#include <string.h>

#include "crmgate/auth.h"
#include "crmgate/tasks.h"

/* A positive decimal id (at most 18 digits). */
static bool parse_id(const char *s, gint64 *id_r)
{
    guint64 v = 0;
    if (!s || !*s || strlen(s) > 18 ||
        !g_ascii_string_to_unsigned(s, 10, 1, G_MAXINT64, &v, NULL))
        return false;
    *id_r = (gint64)v;
    return true;
}

bool tasks_view_parse(const char *s, tasks_view *v_r)
{
    memset(v_r, 0, sizeof(*v_r));
    if (!s || !*s || strcmp(s, "mine") == 0)
        v_r->kind = TASKS_VIEW_MINE;
    else if (strcmp(s, "overdue") == 0)
        v_r->kind = TASKS_VIEW_OVERDUE;
    else if (strcmp(s, "all") == 0)
        v_r->kind = TASKS_VIEW_ALL;
    else if (strcmp(s, "open") == 0)
        v_r->kind = TASKS_VIEW_OPEN;
    else if (g_str_has_prefix(s, "project:") &&
             parse_id(s + 8, &v_r->project_id))
        v_r->kind = TASKS_VIEW_PROJECT;
    else
        return false;
    return true;
}

bool tasks_parse_priority(const char *s, int *p_r)
{
    if (!s)
        return false;
    if (strcmp(s, "1") == 0 || g_ascii_strcasecmp(s, "low") == 0)
        *p_r = 1;
    else if (strcmp(s, "2") == 0 || g_ascii_strcasecmp(s, "middle") == 0 ||
             g_ascii_strcasecmp(s, "medium") == 0)
        *p_r = 2;
    else if (strcmp(s, "3") == 0 || g_ascii_strcasecmp(s, "high") == 0)
        *p_r = 3;
    else
        return false;
    return true;
}

const char *tasks_parse_stage(const char *s)
{
    static const char *const stages[] = {"pending", "in_progress", "done",
                                         "postponed", "canceled"};
    if (!s)
        return NULL;
    for (gsize i = 0; i < G_N_ELEMENTS(stages); i++)
        if (g_ascii_strcasecmp(s, stages[i]) == 0)
            return stages[i];
    if (g_ascii_strcasecmp(s, "in progress") == 0 ||
        g_ascii_strcasecmp(s, "in-progress") == 0)
        return "in_progress";
    if (g_ascii_strcasecmp(s, "cancelled") == 0)
        return "canceled";
    return NULL;
}

bool tasks_parse_record(const char *s, const char **type_r, gint64 *id_r)
{
    static const char *const types[] = {"contact", "lead", "company", "deal",
                                        "request"};
    const char *colon = s ? strchr(s, ':') : NULL;
    if (!colon)
        return false;
    for (gsize i = 0; i < G_N_ELEMENTS(types); i++) {
        gsize n = strlen(types[i]);
        if ((gsize)(colon - s) == n && strncmp(s, types[i], n) == 0 &&
            parse_id(colon + 1, id_r)) {
            *type_r = types[i];
            return true;
        }
    }
    return false;
}

bool tasks_valid_date(const char *s)
{
    if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && !g_ascii_isdigit(s[i]))
            return false;
    int y = (int)g_ascii_strtoll(s, NULL, 10);
    int m = (int)g_ascii_strtoll(s + 5, NULL, 10);
    int d = (int)g_ascii_strtoll(s + 8, NULL, 10);
    return y >= 1900 && y <= 9999 &&
           g_date_valid_dmy((GDateDay)d, (GDateMonth)m, (GDateYear)y);
}

char *tasks_done_sig(const char *secret, gint64 task, gint64 user,
                     gint64 expiry)
{
    g_autofree char *msg = g_strdup_printf(
        "task-done:%" G_GINT64_FORMAT ":%" G_GINT64_FORMAT ":%" G_GINT64_FORMAT,
        task, user, expiry);
    return auth_sign(secret, msg);
}

bool tasks_done_verify(const char *secret, gint64 task, gint64 user,
                       gint64 expiry, const char *sig, gint64 now)
{
    if (!secret || !*secret || !sig || task <= 0 || user <= 0 || expiry <= now)
        return false;
    g_autofree char *msg = g_strdup_printf(
        "task-done:%" G_GINT64_FORMAT ":%" G_GINT64_FORMAT ":%" G_GINT64_FORMAT,
        task, user, expiry);
    return auth_sign_verify(secret, msg, sig);
}

char *tasks_done_link(const crm_config *cfg, gint64 task, gint64 user,
                      gint64 ttl_s)
{
    if (!cfg->web_secret || !*cfg->web_secret)
        return NULL;
    gint64 expiry = g_get_real_time() / G_USEC_PER_SEC + ttl_s;
    g_autofree char *sig = tasks_done_sig(cfg->web_secret, task, user, expiry);
    return g_strdup_printf("%s/tasks/%" G_GINT64_FORMAT
                           "/done?u=%" G_GINT64_FORMAT "&e=%" G_GINT64_FORMAT
                           "&s=%s",
                           cfg->web_base_url, task, user, expiry, sig);
}
