/*
 * test_golden.c - golden tests of core/message.c over the shared corpus.
 *
 * For each mime/{legacy,malformed,rfc,thirdparty}/NNN.eml of the corpus
 * (CRMGATE_CORPUS, default ../shared/corpus from the repository root) one
 * GTest case "/golden/<folder>/NNN" parses the file and compares what the
 * two libraries agree on with NNN.json, mail-parser's output for the same
 * message: From/To/Cc (addresses case-insensitively, names with white
 * space folded), Subject, Message-ID and Date (as an instant, UTC seconds).
 * Attachment counts are not compared: mail-parser counts inline text parts
 * such as text/enriched and alternative bodies differently (see message_mime.c
 * for our rule). Every file must parse with CRM_OK and give JSON that
 * json_dumps accepts. Known, legitimate differences on single malformed
 * files are listed in golden_skips with the reason.
 */
#include "crmgate/message.h"

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

static void test_golden_file(gconstpointer data)
{
    const char *eml = data;
    g_autofree char *dir = g_path_get_dirname(eml);
    g_autofree char *folder = g_path_get_basename(dir);
    g_autofree char *base = g_path_get_basename(eml);
    base[strlen(base) - 4] = '\0'; /* ".eml" */
    g_autofree char *name = g_strdup_printf("%s/%s", folder, base);
    g_autofree char *json_path = g_strdup_printf("%s/%s.json", dir, base);

    crm_message *msg = NULL;
    crm_result r = message_parse_file(eml, NULL, &msg);
    g_assert_cmpint(r, ==, CRM_OK);
    g_assert_nonnull(msg);

    json_t *out = message_to_json(msg);
    g_assert_nonnull(out);
    char *dump = json_dumps(out, JSON_COMPACT);
    g_assert_nonnull(dump);
    free(dump);
    json_decref(out);

    json_error_t jerr;
    json_t *exp = json_load_file(json_path, JSON_ALLOW_NUL, &jerr);
    if (exp == NULL) {
        g_test_message("%s: no expected JSON (%s)", name, jerr.text);
        message_free(&msg);
        return;
    }
    golden_run run = {name, g_string_new(NULL)};
    compare_addresses(&run, "from", expected_header(exp, "from"), msg->from);
    compare_addresses(&run, "to", expected_header(exp, "to"), msg->to);
    compare_addresses(&run, "cc", expected_header(exp, "cc"), msg->cc);
    compare_text(&run, "subject", expected_header(exp, "subject"),
                 msg->subject);
    compare_text(&run, "message_id", expected_header(exp, "message_id"),
                 msg->message_id);
    json_t *date = expected_header(exp, "date");
    if (date != NULL)
        compare_date(&run, date, msg->date);
    if (run.errors->len > 0)
        g_test_fail_printf("%s:%s", name, run.errors->str);
    g_string_free(run.errors, TRUE);
    json_decref(exp);
    message_free(&msg);
}

static void test_no_corpus(gconstpointer data)
{
    g_test_skip_printf("corpus not found at %s (set CRMGATE_CORPUS)",
                       (const char *)data);
}

static int cmp_str(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    message_library_init();

    const char *corpus = g_getenv("CRMGATE_CORPUS");
    if (corpus == NULL)
        corpus = "../shared/corpus";
    static const char *const folders[] = {"legacy", "malformed", "rfc",
                                          "thirdparty"};
    GPtrArray *files = g_ptr_array_new_with_free_func(g_free);
    for (size_t f = 0; f < G_N_ELEMENTS(folders); f++) {
        g_autofree char *dir =
            g_build_filename(corpus, "mime", folders[f], NULL);
        GDir *d = g_dir_open(dir, 0, NULL);
        if (d == NULL)
            continue;
        const char *e;
        while ((e = g_dir_read_name(d)) != NULL)
            if (g_str_has_suffix(e, ".eml"))
                g_ptr_array_add(files, g_build_filename(dir, e, NULL));
        g_dir_close(d);
    }
    g_ptr_array_sort(files, cmp_str);
    if (files->len == 0)
        g_test_add_data_func_full("/golden/corpus", g_strdup(corpus),
                                  test_no_corpus, g_free);
    for (guint i = 0; i < files->len; i++) {
        const char *path = g_ptr_array_index(files, i);
        g_autofree char *dir = g_path_get_dirname(path);
        g_autofree char *folder = g_path_get_basename(dir);
        g_autofree char *base = g_path_get_basename(path);
        base[strlen(base) - 4] = '\0';
        g_autofree char *tname = g_strdup_printf("/golden/%s/%s", folder, base);
        g_test_add_data_func_full(tname, g_strdup(path), test_golden_file,
                                  g_free);
    }
    g_ptr_array_unref(files);
    return g_test_run();
}
