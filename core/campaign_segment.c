/*
 * campaign_segment.c - the pure parsing of a campaign's inputs: sending
 * windows ("Mon-Thu 09:00-17:00" in a time zone, and how long until one
 * opens) and segments ("tag:T,company:ID,country:CC,owner:EMAIL,leads,
 * contacts,csv:FILE" into the filter crm_campaign_fill() takes).
 *
 * Limits: a window is at most 200 bytes with one time range; a csv
 * segment at most 1,000,000 rows and 64 MiB; 64 terms. No I/O but the csv
 * file.
 */
#include <csv.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "crmgate/addr.h"
#include "crmgate/campaign.h"

#define CSV_MAX_ROWS 1000000
#define CSV_MAX_BYTES (64 * 1024 * 1024)

static const char *const day_names[] = {"mon", "tue", "wed", "thu",
                                        "fri", "sat", "sun"};

static int day_index(const char *s, gsize n)
{
    for (int i = 0; i < 7; i++)
        if (n == 3 && g_ascii_strncasecmp(s, day_names[i], 3) == 0)
            return i;
    return -1;
}

/* "HH:MM" -> minutes; -1 when malformed. 24:00 is allowed (end of day). */
static int parse_hhmm(const char *s, gsize n)
{
    if (n != 5 || !g_ascii_isdigit(s[0]) || !g_ascii_isdigit(s[1]) ||
        s[2] != ':' || !g_ascii_isdigit(s[3]) || !g_ascii_isdigit(s[4]))
        return -1;
    int h = (s[0] - '0') * 10 + (s[1] - '0');
    int m = (s[3] - '0') * 10 + (s[4] - '0');
    if (m > 59 || h > 24 || (h == 24 && m != 0))
        return -1;
    return h * 60 + m;
}

static crm_result parse_days(const char *s, guint8 *days_r, char **error_r)
{
    g_auto(GStrv) parts = g_strsplit(s, ",", -1);
    guint8 days = 0;
    for (int i = 0; parts[i]; i++) {
        const char *p = g_strstrip(parts[i]);
        const char *dash = strchr(p, '-');
        int a, b;
        if (dash) {
            a = day_index(p, (gsize)(dash - p));
            b = day_index(dash + 1, strlen(dash + 1));
        } else {
            a = b = day_index(p, strlen(p));
        }
        if (a < 0 || b < 0) {
            *error_r = g_strdup_printf("window: '%s' is not a day or a day "
                                       "range (Mon-Fri)",
                                       p);
            return CRM_ERR_USAGE;
        }
        for (int d = a;; d = (d + 1) % 7) {
            days |= (guint8)(1u << d);
            if (d == b)
                break;
        }
    }
    *days_r = days;
    return CRM_OK;
}

crm_result campaign_window_parse(const char *text, campaign_window *w_r,
                                 char **error_r)
{
    campaign_window w = {.days = 0x7f, .start_min = 0, .end_min = 1440};
    if (!text || !*text) {
        *w_r = w;
        return CRM_OK;
    }
    if (strlen(text) > 200) {
        *error_r = g_strdup("window: too long");
        return CRM_ERR_USAGE;
    }
    g_auto(GStrv) words = g_strsplit_set(text, " \t", -1);
    const char *days = NULL, *times = NULL;
    for (int i = 0; words[i]; i++) {
        if (!*words[i])
            continue;
        if (g_ascii_isdigit(words[i][0]) && !times)
            times = words[i];
        else if (!g_ascii_isdigit(words[i][0]) && !days && !times)
            days = words[i];
        else {
            *error_r = g_strdup_printf("window: cannot read '%s' (expected "
                                       "e.g. \"Mon-Thu 09:00-17:00\")",
                                       text);
            return CRM_ERR_USAGE;
        }
    }
    if (days) {
        crm_result r = parse_days(days, &w.days, error_r);
        if (r)
            return r;
    }
    if (times) {
        const char *dash = strchr(times, '-');
        int a = dash ? parse_hhmm(times, (gsize)(dash - times)) : -1;
        int b = dash ? parse_hhmm(dash + 1, strlen(dash + 1)) : -1;
        if (a < 0 || b < 0 || b <= a || a >= 1440) {
            *error_r = g_strdup_printf("window: '%s' is not a time range "
                                       "HH:MM-HH:MM on one day",
                                       times);
            return CRM_ERR_USAGE;
        }
        w.start_min = (guint16)a;
        w.end_min = (guint16)b;
    }
    if (!days && !times) {
        *error_r = g_strdup_printf("window: '%s' names no day or time", text);
        return CRM_ERR_USAGE;
    }
    *w_r = w;
    return CRM_OK;
}

gint64 campaign_window_wait(const campaign_window *w, GTimeZone *tz,
                            GDateTime *now)
{
    g_autoptr(GDateTime) local = g_date_time_to_timezone(now, tz);
    for (int k = 0; k < 8; k++) {
        g_autoptr(GDateTime) day = g_date_time_add_days(local, k);
        int dow = g_date_time_get_day_of_week(day) - 1; /* 0 = Monday */
        if (!(w->days & (1u << dow)))
            continue;
        g_autoptr(GDateTime) open = g_date_time_new(
            tz, g_date_time_get_year(day), g_date_time_get_month(day),
            g_date_time_get_day_of_month(day), w->start_min / 60,
            w->start_min % 60, 0);
        g_autoptr(GDateTime) close =
            w->end_min == 1440
                ? g_date_time_add_days(open, 1)
                : g_date_time_new(tz, g_date_time_get_year(day),
                                  g_date_time_get_month(day),
                                  g_date_time_get_day_of_month(day),
                                  w->end_min / 60, w->end_min % 60, 0);
        if (!open || !close)
            continue;
        if (w->end_min == 1440) {
            GDateTime *midnight = g_date_time_new(
                tz, g_date_time_get_year(day), g_date_time_get_month(day),
                g_date_time_get_day_of_month(day), 0, 0, 0);
            g_date_time_unref(close);
            close = g_date_time_add_days(midnight, 1);
            g_date_time_unref(midnight);
        }
        if (g_date_time_compare(now, close) >= 0)
            continue;
        if (g_date_time_compare(now, open) >= 0)
            return 0;
        return (g_date_time_difference(open, now) + G_USEC_PER_SEC - 1) /
               G_USEC_PER_SEC;
    }
    return 7 * 86400; /* no day in the mask: cannot happen after parse */
}

/* --- csv segments --- */

typedef struct {
    GPtrArray *header;
    GPtrArray *row;
    json_t *out;
    guint rows;
    int email_col;
    bool too_many;
} csv_seg;

static void seg_field(void *s, size_t len, void *data)
{
    csv_seg *st = data;
    g_ptr_array_add(st->row, g_utf8_make_valid(s ? s : "", (gssize)len));
}

static void seg_row(int c, void *data)
{
    (void)c;
    csv_seg *st = data;
    if (!st->header) {
        st->header = st->row;
        st->email_col = -1;
        for (guint i = 0; i < st->header->len; i++) {
            char *h = g_ptr_array_index(st->header, i);
            g_strstrip(h);
            char *lower = g_ascii_strdown(h, -1);
            g_ptr_array_index(st->header, i) = lower;
            g_free(h);
            if (strcmp(lower, "email") == 0 && st->email_col < 0)
                st->email_col = (int)i;
        }
        st->row = g_ptr_array_new_with_free_func(g_free);
        return;
    }
    if (st->rows >= CSV_MAX_ROWS) {
        st->too_many = true;
    } else if (st->email_col >= 0 && (guint)st->email_col < st->row->len) {
        const char *raw = g_ptr_array_index(st->row, st->email_col);
        /* U+FFFD: the file's bytes were not UTF-8 there: no address */
        char *norm = strstr(raw, "\xef\xbf\xbd") ? NULL : addr_normalize(raw);
        if (norm) {
            static const char *const keep[] = {
                "first_name", "last_name", "company", "title",
                "country",    "city",      "phone"};
            json_t *o = json_object();
            json_object_set_new(o, "email", json_string(norm));
            for (guint i = 0; i < st->header->len && i < st->row->len; i++) {
                const char *h = g_ptr_array_index(st->header, i);
                const char *v = g_ptr_array_index(st->row, i);
                for (gsize k = 0; k < G_N_ELEMENTS(keep); k++)
                    if (strcmp(h, keep[k]) == 0 && *v)
                        json_object_set_new(o, h, json_string(v));
            }
            json_array_append_new(st->out, o);
            st->rows++;
        }
        g_free(norm);
    }
    g_ptr_array_set_size(st->row, 0);
}

static crm_result read_csv_segment(const char *path, json_t **arr_r,
                                   char **error_r)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        *error_r =
            g_strdup_printf("segment csv:%s: %s", path, g_strerror(errno));
        return CRM_ERR_IO;
    }
    struct csv_parser p;
    csv_seg st = {.row = g_ptr_array_new_with_free_func(g_free),
                  .out = json_array()};
    csv_init(&p, CSV_APPEND_NULL);
    char buf[65536];
    size_t n, total = 0;
    crm_result r = CRM_OK;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
        total += n;
        if (total > CSV_MAX_BYTES) {
            *error_r = g_strdup_printf("segment csv:%s: larger than %d MiB",
                                       path, CSV_MAX_BYTES / (1024 * 1024));
            r = CRM_ERR_TOOBIG;
            break;
        }
        if (csv_parse(&p, buf, n, seg_field, seg_row, &st) != n) {
            *error_r = g_strdup_printf("segment csv:%s: %s", path,
                                       csv_strerror(csv_error(&p)));
            r = CRM_ERR_PARSE;
            break;
        }
    }
    fclose(f);
    if (!r)
        csv_fini(&p, seg_field, seg_row, &st);
    csv_free(&p);
    if (!r && (!st.header || st.email_col < 0)) {
        *error_r = g_strdup_printf("segment csv:%s: needs a header row with "
                                   "an 'email' column",
                                   path);
        r = CRM_ERR_PARSE;
    }
    if (!r && st.too_many) {
        *error_r = g_strdup_printf("segment csv:%s: more than %d rows", path,
                                   CSV_MAX_ROWS);
        r = CRM_ERR_TOOBIG;
    }
    if (st.header)
        g_ptr_array_unref(st.header);
    g_ptr_array_unref(st.row);
    if (r)
        json_decref(st.out);
    else
        *arr_r = st.out;
    return r;
}

crm_result campaign_segment_parse(const char *expr, const char *base_dir,
                                  json_t **filter_r, char **error_r)
{
    *filter_r = NULL;
    if (!expr || !*expr) {
        *error_r = g_strdup("a segment is required (e.g. tag:newsletter)");
        return CRM_ERR_USAGE;
    }
    json_t *f = json_object();
    json_t *tags = json_array();
    g_auto(GStrv) terms = g_strsplit(expr, ",", 64);
    crm_result r = CRM_OK;
    for (int i = 0; terms[i] && !r; i++) {
        char *t = g_strstrip(terms[i]);
        char *colon = strchr(t, ':');
        g_autofree char *key =
            colon ? g_ascii_strdown(t, colon - t) : g_ascii_strdown(t, -1);
        const char *val = colon ? colon + 1 : NULL;
        if (!*t) {
            *error_r = g_strdup_printf("segment '%s': empty term", expr);
            r = CRM_ERR_USAGE;
        } else if (strcmp(key, "leads") == 0 && !val) {
            json_object_set_new(f, "leads", json_true());
        } else if (strcmp(key, "contacts") == 0 && !val) {
            json_object_set_new(f, "contacts", json_true());
        } else if (!val || !*val) {
            *error_r = g_strdup_printf(
                "segment term '%s': expected tag:T, company:ID, country:CC, "
                "owner:EMAIL, csv:FILE, leads or contacts",
                t);
            r = CRM_ERR_USAGE;
        } else if (strcmp(key, "tag") == 0) {
            g_autofree char *lt = g_utf8_strdown(val, -1);
            json_array_append_new(tags, json_string(lt));
        } else if (strcmp(key, "company") == 0) {
            char *end = NULL;
            guint64 id = g_ascii_strtoull(val, &end, 10);
            if (!end || *end || id == 0 || id > G_MAXINT64) {
                *error_r = g_strdup_printf("segment: company:%s is not an "
                                           "id",
                                           val);
                r = CRM_ERR_USAGE;
            } else {
                json_object_set_new(f, "company", json_integer((json_int_t)id));
            }
        } else if (strcmp(key, "country") == 0) {
            if (strlen(val) != 2 || !g_ascii_isalpha(val[0]) ||
                !g_ascii_isalpha(val[1])) {
                *error_r = g_strdup_printf("segment: country:%s is not a "
                                           "two-letter code",
                                           val);
                r = CRM_ERR_USAGE;
            } else {
                g_autofree char *up = g_ascii_strup(val, -1);
                json_object_set_new(f, "country", json_string(up));
            }
        } else if (strcmp(key, "owner") == 0) {
            g_autofree char *norm = addr_normalize(val);
            if (!norm) {
                *error_r = g_strdup_printf("segment: owner:%s is not an "
                                           "address",
                                           val);
                r = CRM_ERR_USAGE;
            } else {
                json_object_set_new(f, "owner", json_string(norm));
            }
        } else if (strcmp(key, "csv") == 0) {
            g_autofree char *path = g_path_is_absolute(val) || !base_dir
                                        ? g_strdup(val)
                                        : g_build_filename(base_dir, val, NULL);
            json_t *rows = NULL;
            if (json_object_get(f, "csv")) {
                *error_r = g_strdup("segment: one csv:FILE at most");
                r = CRM_ERR_USAGE;
            } else if (!(r = read_csv_segment(path, &rows, error_r))) {
                json_object_set_new(f, "csv", rows);
            }
        } else {
            *error_r = g_strdup_printf("segment: unknown term '%s'", key);
            r = CRM_ERR_USAGE;
        }
    }
    if (r) {
        json_decref(tags);
        json_decref(f);
        return r;
    }
    json_object_set_new(f, "tags", tags);
    *filter_r = f;
    return CRM_OK;
}
