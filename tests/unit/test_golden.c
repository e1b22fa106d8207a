/*
 * test_golden.c - golden tests of core/message.c over the shared corpus.
 *
 * For each mime/{legacy,malformed,rfc,thirdparty}/NNN.eml of the corpus
 * (CRMGATE_CORPUS, default ../shared/corpus from the repository root) one
 * GTest case "/golden/<folder>/NNN" parses the file and compares it twice:
 *
 * 1. With our reviewed golden file tests/golden/<folder>/NNN.json
 *    (CRMGATE_GOLDEN_DIR, default tests/golden; see golden.h): every field
 *    of `crmgate parse --json` (message id, subject, date, addresses,
 *    references, body text, attachments with name, type, size and SHA-256,
 *    warnings) and the digest, exactly. These files are written only by
 *    `make golden-update` (golden_update.c), never by this test.
 * 2. With NNN.json beside the message, mail-parser's output (another
 *    parser, see the corpus README), on what both libraries agree on:
 *    From/To/Cc (addresses case-insensitively, names with white space
 *    folded), Subject, Message-ID and Date (as an instant, UTC seconds).
 *    Known, legitimate differences on single malformed files are listed in
 *    golden_skips with the reason.
 *
 * A message without either expected file fails, and so does a golden file
 * whose message is not in the corpus ("/golden/stale"), and a missing
 * corpus: a golden test that compares nothing must not pass.
 */
#include "crmgate/message.h"
#include "golden.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    const char *file;  /* "folder/NNN" */
    const char *field; /* "from", "to", "cc", "subject", "message_id",
                          "date" */
    const char *reason;
} golden_skip;

static const golden_skip golden_skips[] = {
    /* RFC 1341's examples write "From: Whomever" / "To: Someone" (and
       rfc/004 "Moderator-Address", "Recipient-List"): a bare word without
       @. mail-parser makes it a display name without an address; GMime
       (loose mode) an addr-spec without a domain. Both are readings of an
       invalid header; we keep GMime's, so the address is never lost. */
    {"rfc/001", "from", "bare word: GMime address, mail-parser name"},
    {"rfc/001", "to", "bare word: GMime address, mail-parser name"},
    {"rfc/004", "from", "bare word: GMime address, mail-parser name"},
    {"rfc/004", "to", "bare word: GMime address, mail-parser name"},
    {NULL, NULL, NULL},
};

static bool skipped(const char *file, const char *field)
{
    for (size_t i = 0; golden_skips[i].file != NULL; i++)
        if (strcmp(golden_skips[i].file, file) == 0 &&
            strcmp(golden_skips[i].field, field) == 0)
            return true;
    return false;
}

/* The last top-level header called name (as mail-parser names it). */
static json_t *expected_header(json_t *exp, const char *name)
{
    json_t *parts = json_object_get(exp, "parts");
    json_t *headers = json_object_get(json_array_get(parts, 0), "headers");
    json_t *found = NULL;
    size_t i;
    json_t *h;
    json_array_foreach(headers, i, h)
    {
        json_t *n = json_object_get(h, "name");
        if (json_is_string(n) && strcmp(json_string_value(n), name) == 0)
            found = json_object_get(h, "value");
    }
    return found;
}

/* Equal, except that a U+FFFD in expected matches any one character:
   mail-parser writes it for raw 8-bit header bytes it cannot decode, where
   GMime decodes them with the fallback charsets (windows-1252). */
static bool text_matches(const char *expected, const char *got)
{
    const char *e = expected, *g = got;
    while (*e != '\0' && *g != '\0') {
        gunichar ec = g_utf8_get_char(e), gc = g_utf8_get_char(g);
        if (ec != gc && ec != 0xFFFD)
            return false;
        e = g_utf8_next_char(e);
        g = g_utf8_next_char(g);
    }
    return *e == '\0' && *g == '\0';
}

static char *fold_space(const char *s)
{
    if (s == NULL)
        return g_strdup("");
    GString *o = g_string_new(NULL);
    bool space = false;
    for (const char *p = s; *p != '\0'; p = g_utf8_next_char(p)) {
        gunichar c = g_utf8_get_char(p);
        if (g_unichar_isspace(c)) {
            space = o->len > 0;
            continue;
        }
        if (space)
            g_string_append_c(o, ' ');
        space = false;
        g_string_append_unichar(o, c);
    }
    return g_string_free(o, FALSE);
}

typedef struct {
    const char *file;
    GString *errors;
} golden_run;

static void mismatch(golden_run *run, const char *field, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

static void mismatch(golden_run *run, const char *field, const char *fmt, ...)
{
    if (skipped(run->file, field)) {
        g_test_message("%s: %s differs (listed in golden_skips)", run->file,
                       field);
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *m = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    /* escaped: the report must not depend on the terminal's charset */
    g_autofree char *esc = g_strescape(m, "\"");
    g_string_append_printf(run->errors, "\n  %s: %s", field, esc);
}

static void compare_addresses(golden_run *run, const char *field, json_t *expv,
                              GPtrArray *got)
{
    json_t *list = NULL;
    if (expv != NULL)
        list = json_object_get(json_object_get(expv, "Address"), "List");
    size_t n = json_array_size(list);
    if (n != got->len) {
        mismatch(run, field, "expected %zu addresses, got %u", n, got->len);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(list, i);
        const message_addr *a = g_ptr_array_index(got, i);
        const char *ea = json_string_value(json_object_get(e, "address"));
        if (g_ascii_strcasecmp(ea != NULL ? ea : "", a->address) != 0)
            mismatch(run, field, "address %zu: expected \"%s\", got \"%s\"", i,
                     ea != NULL ? ea : "(null)", a->address);
        g_autofree char *en =
            fold_space(json_string_value(json_object_get(e, "name")));
        g_autofree char *gn = fold_space(a->name);
        if (!text_matches(en, gn))
            mismatch(run, field, "name %zu: expected \"%s\", got \"%s\"", i, en,
                     gn);
    }
}

static void compare_text(golden_run *run, const char *field, json_t *expv,
                         const char *got)
{
    const char *e = json_string_value(json_object_get(expv, "Text"));
    if (expv == NULL) {
        if (got != NULL && *got != '\0')
            mismatch(run, field, "expected none, got \"%s\"", got);
        return;
    }
    if (e == NULL) {
        mismatch(run, field, "expected value is not Text");
        return;
    }
    if (got == NULL || !text_matches(e, got))
        mismatch(run, field, "expected \"%s\", got \"%s\"", e,
                 got != NULL ? got : "(null)");
}

static gint64 days_from_civil(gint64 y, gint64 m, gint64 d)
{
    /* days since 1970-01-01 in the proleptic Gregorian calendar */
    y -= m <= 2;
    gint64 era = (y >= 0 ? y : y - 399) / 400;
    gint64 yoe = y - era * 400;
    gint64 doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    gint64 doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void compare_date(golden_run *run, json_t *expv, GDateTime *got)
{
    json_t *dt = json_object_get(expv, "DateTime");
    if (dt == NULL) {
        if (got != NULL)
            mismatch(run, "date", "expected no date, got one");
        return;
    }
#define F(name) json_integer_value(json_object_get(dt, name))
    gint64 off = F("tz_hour") * 3600 + F("tz_minute") * 60;
    if (json_is_true(json_object_get(dt, "tz_before_gmt")))
        off = -off;
    gint64 want = days_from_civil(F("year"), F("month"), F("day")) * 86400 +
                  F("hour") * 3600 + F("minute") * 60 + F("second") - off;
#undef F
    if (got == NULL) {
        mismatch(run, "date", "expected %" G_GINT64_FORMAT ", got none", want);
        return;
    }
    gint64 have = g_date_time_to_unix(got);
    if (have != want)
        mismatch(run, "date",
                 "expected %" G_GINT64_FORMAT ", got %" G_GINT64_FORMAT, want,
                 have);
}

static const char *golden_dir(void)
{
    const char *d = g_getenv("CRMGATE_GOLDEN_DIR");
    return d != NULL && *d != '\0' ? d : "tests/golden";
}

/* A JSON value as compact text, cut after 400 bytes for the report. */
static char *short_dump(const json_t *v)
{
    if (v == NULL)
        return g_strdup("(absent)");
    char *d = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
    if (d == NULL)
        return g_strdup("(unprintable)");
    GString *s = g_string_new_len(d, MIN(strlen(d), 400));
    if (strlen(d) > 400)
        g_string_append(s, "...");
    free(d);
    return g_string_free(s, FALSE);
}

/* Compares got with the golden document field by field (each key of
   either side), adding one line per differing field to errors. */
static void compare_golden(GString *errors, json_t *want, json_t *got)
{
    const char *key;
    json_t *v;
    json_object_foreach(want, key, v)
    {
        json_t *g = json_object_get(got, key);
        if (g != NULL && json_equal(v, g))
            continue;
        if (json_is_string(v) && json_is_string(g)) {
            /* long texts: show where they part */
            const char *a = json_string_value(v), *b = json_string_value(g);
            size_t i = 0;
            while (a[i] != '\0' && a[i] == b[i])
                i++;
            size_t from = i > 40 ? i - 40 : 0;
            g_autofree char *ca = g_strndup(a + from, 120);
            g_autofree char *cb = g_strndup(b + from, 120);
            g_autofree char *ea = g_strescape(ca, NULL);
            g_autofree char *eb = g_strescape(cb, NULL);
            g_string_append_printf(
                errors,
                "\n  golden %s: differs at byte %zu of %zu "
                "(got %zu)\n    expected ...\"%s\"\n    got      "
                "...\"%s\"",
                key, i, strlen(a), strlen(b), ea, eb);
            continue;
        }
        g_autofree char *w = short_dump(v);
        g_autofree char *h = short_dump(g);
        g_autofree char *esc_w = g_strescape(w, "\"");
        g_autofree char *esc_h = g_strescape(h, "\"");
        g_string_append_printf(errors, "\n  golden %s: expected %s\n    got %s",
                               key, esc_w, esc_h);
    }
    json_object_foreach(got, key, v)
    {
        if (json_object_get(want, key) == NULL)
            g_string_append_printf(
                errors, "\n  golden %s: not in the golden file", key);
    }
}

static void test_golden_file(gconstpointer data)
{
    const char *eml = data;
    g_autofree char *name = golden_name(eml);
    g_autofree char *dir = g_path_get_dirname(eml);
    g_autofree char *base = g_path_get_basename(eml);
    base[strlen(base) - 4] = '\0'; /* ".eml" */
    g_autofree char *json_path = g_strdup_printf("%s/%s.json", dir, base);
    g_autofree char *gold_path = golden_path(golden_dir(), name);

    crm_message *msg = NULL;
    crm_result r = message_parse_file(eml, NULL, &msg);
    g_assert_cmpint(r, ==, CRM_OK);
    g_assert_nonnull(msg);
    json_t *got = golden_document(msg);
    GString *errors = g_string_new(NULL);

    /* 1. our golden file */
    json_error_t jerr;
    json_t *gold = json_load_file(gold_path, 0, &jerr);
    if (gold == NULL)
        g_string_append_printf(errors,
                               "\n  no golden file %s (%s): write it with "
                               "`make golden-update`, review, commit",
                               gold_path, jerr.text);
    else
        compare_golden(errors, gold, got);

    /* 2. mail-parser's output, on what both libraries agree on */
    json_t *exp = json_load_file(json_path, JSON_ALLOW_NUL, &jerr);
    if (exp == NULL) {
        g_string_append_printf(errors, "\n  no mail-parser JSON %s (%s)",
                               json_path, jerr.text);
    } else {
        golden_run run = {name, errors};
        compare_addresses(&run, "from", expected_header(exp, "from"),
                          msg->from);
        compare_addresses(&run, "to", expected_header(exp, "to"), msg->to);
        compare_addresses(&run, "cc", expected_header(exp, "cc"), msg->cc);
        compare_text(&run, "subject", expected_header(exp, "subject"),
                     msg->subject);
        compare_text(&run, "message_id", expected_header(exp, "message_id"),
                     msg->message_id);
        json_t *date = expected_header(exp, "date");
        if (date != NULL)
            compare_date(&run, date, msg->date);
    }
    if (errors->len > 0)
        g_test_fail_printf("%s:%s", name, errors->str);
    g_string_free(errors, TRUE);
    json_decref(exp);
    json_decref(gold);
    json_decref(got);
    message_free(&msg);
}

static void test_no_corpus(gconstpointer data)
{
    g_test_fail_printf("no mime/<folder>/<name>.eml under %s (set "
                       "CRMGATE_CORPUS): the golden tests compared nothing",
                       (const char *)data);
}

/* Every golden file belongs to a corpus message (data: the files). */
static void test_stale(gconstpointer data)
{
    GPtrArray *files = (GPtrArray *)data;
    g_autoptr(GHashTable) names =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    for (guint i = 0; i < files->len; i++)
        g_hash_table_add(names, golden_name(g_ptr_array_index(files, i)));
    GString *stale = g_string_new(NULL);
    guint seen = 0, nstale = 0;
    for (size_t f = 0; f < G_N_ELEMENTS(golden_folders); f++) {
        g_autofree char *dir =
            g_build_filename(golden_dir(), golden_folders[f], NULL);
        GDir *d = g_dir_open(dir, 0, NULL);
        if (d == NULL)
            continue;
        const char *e;
        while ((e = g_dir_read_name(d)) != NULL) {
            if (!g_str_has_suffix(e, ".json"))
                continue;
            seen++;
            g_autofree char *n = g_strdup_printf("%s/%.*s", golden_folders[f],
                                                 (int)strlen(e) - 5, e);
            if (!g_hash_table_contains(names, n) && ++nstale <= 10)
                g_string_append_printf(stale, " %s", n);
        }
        g_dir_close(d);
    }
    if (seen == 0)
        g_test_fail_printf("no golden files under %s", golden_dir());
    else if (nstale > 0)
        g_test_fail_printf("%u golden files without a corpus message:%s%s "
                           "(make golden-update removes them)",
                           nstale, stale->str, nstale > 10 ? " ..." : "");
    g_string_free(stale, TRUE);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    message_library_init();

    const char *corpus = g_getenv("CRMGATE_CORPUS");
    if (corpus == NULL)
        corpus = "../shared/corpus";
    GPtrArray *files = golden_corpus_files(corpus);
    if (files->len == 0)
        g_test_add_data_func_full("/golden/corpus", g_strdup(corpus),
                                  test_no_corpus, g_free);
    for (guint i = 0; i < files->len; i++) {
        const char *path = g_ptr_array_index(files, i);
        g_autofree char *name = golden_name(path);
        g_autofree char *tname = g_strdup_printf("/golden/%s", name);
        g_test_add_data_func_full(tname, g_strdup(path), test_golden_file,
                                  g_free);
    }
    g_test_add_data_func("/golden/stale", files, test_stale);
    int rc = g_test_run();
    g_ptr_array_unref(files);
    return rc;
}
