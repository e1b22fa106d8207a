/*
 * test_mime_guard.c - the bounded MIME pre-scanner (core/mime_guard.c) on
 * its own and through message_parse_bytes: hostile messages built in
 * memory (header floods, 100,000 parts, nesting 10,000 deep, a 20 MB
 * line, totals spread over many parts) must be captured with what fits,
 * report each cut with its count, and keep the peak memory bounded; the
 * copy must not depend on how the input is split into chunks.
 */
#include "crmgate/message.h"
#include "crmgate/mime_guard.h"
#include "message_test.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Peak-memory budget of one hostile parse, beyond its input. */
#define GROWTH_MAX_KB (32 * 1024)

/* ---- helpers ---- */

static long status_kb(const char *field)
{
    g_autofree char *status = NULL;
    if (!g_file_get_contents("/proc/self/status", &status, NULL, NULL))
        return -1;
    const char *p = strstr(status, field);
    return p != NULL ? strtol(p + strlen(field), NULL, 10) : -1;
}

static bool under_valgrind(void)
{
    g_autofree char *maps = NULL;
    g_file_get_contents("/proc/self/maps", &maps, NULL, NULL);
    return maps != NULL && strstr(maps, "vgpreload") != NULL;
}

/* Resets the peak RSS to the current RSS (Linux 4.0+). */
static void reset_peak(void)
{
    FILE *cr = fopen("/proc/self/clear_refs", "w");
    if (cr != NULL) {
        fputs("5", cr);
        fclose(cr);
    }
}

/* Parses text with lim (NULL: defaults) and asserts the peak RSS grew by
   less than max_kb. */
static crm_message *parse_bounded(const GString *text,
                                  const message_limits *lim, long max_kb)
{
    reset_peak();
    long before = status_kb("VmHWM:");
    crm_message *msg = NULL;
    g_assert_cmpint(message_parse_bytes(text->str, text->len, lim, &msg), ==,
                    CRM_OK);
    long after = status_kb("VmHWM:");
    if (before > 0 && after > 0 && !under_valgrind()) {
        g_test_message("%zu bytes: VmHWM grew by %ld KiB", text->len,
                       after - before);
        g_assert_cmpint(after - before, <, max_kb);
    }
    return msg;
}

static const message_attachment *att_at(const crm_message *msg, guint i)
{
    g_assert_cmpuint(i, <, msg->attachments->len);
    return g_ptr_array_index(msg->attachments, i);
}

/* The opening of the hostile messages: a text part and a named
   attachment before the flood. */
static GString *hostile_start(const char *boundary)
{
    GString *s = g_string_new(NULL);
    g_string_append_printf(s,
                           "From: Mallory <mallory@example.net>\n"
                           "To: sales@example.com\n"
                           "Subject: flood\n"
                           "Message-ID: <flood@example.net>\n"
                           "MIME-Version: 1.0\n"
                           "Content-Type: multipart/mixed; boundary=\"%s\"\n"
                           "\n"
                           "--%s\n"
                           "Content-Type: text/plain; charset=utf-8\n"
                           "\n"
                           "The first part still counts.\n"
                           "--%s\n"
                           "Content-Type: application/pdf; name=\"offer.pdf\"\n"
                           "Content-Transfer-Encoding: base64\n"
                           "\n"
                           "JVBERi0xLjQK\n",
                           boundary, boundary, boundary);
    return s;
}

static void assert_first_parts(const crm_message *msg)
{
    g_assert_cmpstr(msg->subject, ==, "flood");
    g_assert_cmpstr(msg->message_id, ==, "flood@example.net");
    g_assert_nonnull(strstr(msg->text, "The first part still counts."));
    const message_attachment *a = att_at(msg, 0);
    g_assert_cmpstr(a->filename, ==, "offer.pdf");
    g_assert_cmpuint(a->size, ==, 9); /* "%PDF-1.4\n" */
}

/* ---- hostile messages through the parser ---- */

static void test_header_flood(void)
{
    GString *s = hostile_start("F");
    g_string_append(s, "--F\nContent-Type: text/plain\n");
    for (int i = 0; i < 400000; i++)
        g_string_append(s, "X-A: 1\n");
    g_string_append(s, "\nsecond text\n--F--\n");
    crm_message *msg = parse_bounded(s, NULL, GROWTH_MAX_KB);
    assert_first_parts(msg);
    /* the flooded part keeps its first 1000 headers and its body */
    g_assert_nonnull(strstr(msg->text, "second text"));
    g_assert_true(has_warning(msg, "399001 headers past the per-part limit "
                                   "of 1000 were not captured"));
    message_free(&msg);
    g_string_free(s, TRUE);

    /* the same flood in the top-level headers, before Content-Type */
    s = g_string_new("From: a@example.com\nSubject: top flood\n");
    for (int i = 0; i < 400000; i++)
        g_string_append(s, "X-A: 1\n");
    g_string_append(s, "\nplain body\n");
    msg = parse_bounded(s, NULL, GROWTH_MAX_KB);
    g_assert_cmpstr(msg->subject, ==, "top flood");
    g_assert_cmpstr(msg->text, ==, "plain body\n");
    g_assert_true(has_warning(msg, "399002 headers past the per-part limit"));
    message_free(&msg);
    g_string_free(s, TRUE);
}

static void test_many_parts(void)
{
    GString *s = hostile_start("P");
    for (int i = 0; i < 100000; i++)
        g_string_append(s, "--P\n\n");
    g_string_append(s, "--P--\n");
    crm_message *msg = parse_bounded(s, NULL, GROWTH_MAX_KB);
    assert_first_parts(msg);
    /* top, text, attachment and 497 empty parts fill the 500 */
    g_assert_true(has_warning(msg, "99503 MIME parts past the limit of 500 "
                                   "were not captured"));
    message_free(&msg);
    g_string_free(s, TRUE);

    /* parts past the limit inside a nested multipart: the outer message
       goes on after its closing boundary */
    message_limits lim;
    message_limits_default(&lim);
    lim.max_parts = 10;
    s = g_string_new("From: a@example.com\n"
                     "Content-Type: multipart/mixed; boundary=outer\n\n"
                     "--outer\nContent-Type: multipart/mixed; boundary=in\n\n");
    for (int i = 0; i < 50; i++)
        g_string_append_printf(s,
                               "--in\nContent-Type: image/png; name=%d.png\n\n"
                               "PNG\n",
                               i);
    g_string_append(s, "--in--\n--outer\nContent-Type: text/plain\n\n"
                       "after the flood\n--outer--\n");
    msg = parse_bounded(s, &lim, GROWTH_MAX_KB);
    /* top, inner multipart, 8 images; the text part is past the limit */
    g_assert_cmpuint(msg->attachments->len, ==, 8);
    g_assert_cmpstr(att_at(msg, 7)->filename, ==, "7.png");
    g_assert_true(has_warning(msg, "43 MIME parts past the limit of 10"));
    message_free(&msg);
    g_string_free(s, TRUE);
}

static void test_deep_nesting(void)
{
    GString *s = hostile_start("D0");
    g_string_append(s, "--D0\n");
    for (int i = 1; i <= 10000; i++)
        g_string_append_printf(
            s, "Content-Type: multipart/mixed; boundary=D%d\n\n--D%d\n", i, i);
    g_string_append(s, "Content-Type: text/plain\n\ndeepest\n");
    for (int i = 10000; i >= 0; i--)
        g_string_append_printf(s, "--D%d--\n", i);
    crm_message *msg = parse_bounded(s, NULL, GROWTH_MAX_KB);
    assert_first_parts(msg);
    g_assert_null(strstr(msg->text, "deepest"));
    /* the multipart at depth 8 is one opaque attachment */
    g_assert_cmpuint(msg->attachments->len, ==, 2);
    g_assert_cmpstr(att_at(msg, 1)->content_type, ==,
                    "application/octet-stream");
    g_assert_cmpuint(att_at(msg, 1)->size, >, 10000 * 40);
    g_assert_true(has_warning(msg, "1 MIME containers at the nesting limit "
                                   "of 8"));
    message_free(&msg);
    g_string_free(s, TRUE);

    /* message/rfc822 inside message/rfc822, 10,000 deep */
    s = g_string_new("From: a@example.com\nSubject: outer\n"
                     "Content-Type: multipart/mixed; boundary=M\n\n"
                     "--M\nContent-Type: text/plain\n\nouter text\n--M\n");
    for (int i = 0; i < 10000; i++)
        g_string_append_printf(s,
                               "Content-Type: message/rfc822\n\n"
                               "Subject: level %d\n",
                               i);
    g_string_append(s, "\ninnermost\n--M--\n");
    msg = parse_bounded(s, NULL, GROWTH_MAX_KB);
    g_assert_cmpstr(msg->subject, ==, "outer");
    g_assert_cmpstr(msg->text, ==, "outer text");
    /* attached messages at depths 1..7, the one at 8 opaque */
    g_assert_cmpuint(msg->attachments->len, ==, 8);
    g_assert_cmpstr(att_at(msg, 0)->content_type, ==, "message/rfc822");
    g_assert_cmpstr(att_at(msg, 7)->content_type, ==,
                    "application/octet-stream");
    g_assert_true(has_warning(msg, "1 MIME containers at the nesting limit"));
    message_free(&msg);
    g_string_free(s, TRUE);
}

static void test_long_line(void)
{
    gsize len = 20u << 20;
    GString *s = g_string_sized_new(len + 4096);
    g_string_append(s, "From: a@example.com\nSubject: one line\n"
                       "Content-Type: multipart/mixed; boundary=L\n\n"
                       "--L\nContent-Type: text/plain\n\n");
    for (gsize i = 0; i < len; i++)
        g_string_append_c(s, (char)('a' + i % 26));
    g_string_append(s, "\n--L\nContent-Type: text/csv; name=t.csv\n\n"
                       "a,b\n--L--\n");
    crm_message *msg = parse_bounded(s, NULL, GROWTH_MAX_KB);
    /* 320 pieces of 64 KiB: 319 line breaks inserted */
    g_assert_true(has_warning(msg, "319 body lines longer than 65536 bytes "
                                   "were folded at the bound"));
    g_assert_true(msg->text_truncated);
    g_assert_true(g_str_has_prefix(msg->text, "abcdefghijklmnopqrstuvwxyz"));
    g_assert_cmpuint(msg->attachments->len, ==, 1);
    g_assert_cmpstr(att_at(msg, 0)->filename, ==, "t.csv");
    message_free(&msg);
    g_string_free(s, TRUE);

    /* a 20 MB header line is cut at the bound */
    s = g_string_sized_new(len + 4096);
    g_string_append(s, "From: a@example.com\nX-Long: ");
    for (gsize i = 0; i < len; i++)
        g_string_append_c(s, 'x');
    g_string_append(s, "\nSubject: after\n\nbody\n");
    msg = parse_bounded(s, NULL, GROWTH_MAX_KB);
    g_assert_cmpstr(msg->subject, ==, "after");
    g_assert_cmpstr(msg->text, ==, "body\n");
    g_assert_true(has_warning(msg, "1 header lines longer than 65536 bytes "
                                   "were cut at the bound"));
    message_free(&msg);
    g_string_free(s, TRUE);
}

static void test_totals(void)
{
    GString *s = hostile_start("T");
    /* 40 parts of 200 headers: each part is within its 1000 */
    for (int p = 0; p < 40; p++) {
        g_string_append(s, "--T\nContent-Type: text/plain\n");
        for (int i = 0; i < 200; i++)
            g_string_append_printf(s, "X-H%d: %d\n", i, p);
        g_string_append(s, "\nx\n");
    }
    g_string_append(s, "--T--\n");
    crm_message *msg = parse_bounded(s, NULL, GROWTH_MAX_KB);
    assert_first_parts(msg);
    /* 9 headers above the flood, 40 x 201 after it: 5000 kept, and the
       Content-Type of the 15 parts past the total (it decides what a part
       is, so it is kept) */
    g_assert_true(has_warning(msg, "3034 headers past the total limit of "
                                   "5000 were not captured"));
    message_free(&msg);
    g_string_free(s, TRUE);

    /* 60 parts with 10 headers of 6000 bytes: 60 KB a part, 3.6 MB total */
    s = hostile_start("B");
    g_autofree char *filler = g_strnfill(6000, 'v');
    for (int p = 0; p < 60; p++) {
        g_string_append(s, "--B\nContent-Type: text/plain\n");
        for (int i = 0; i < 10; i++)
            g_string_append_printf(s, "X-B: %s\n", filler);
        g_string_append(s, "\nx\n");
    }
    g_string_append(s, "--B--\n");
    msg = parse_bounded(s, NULL, GROWTH_MAX_KB);
    assert_first_parts(msg);
    g_assert_true(has_warning(msg, "headers past the total limit of 262144 "
                                   "header bytes were not captured"));
    g_assert_false(has_warning(msg, "per-part"));
    message_free(&msg);
    g_string_free(s, TRUE);
}

static void test_preamble_epilogue(void)
{
    /* 8 MB of preamble and of epilogue around two parts (GMime would keep
       both as strings) */
    GString *s = g_string_new("From: a@example.com\nSubject: faces\n"
                              "Content-Type: multipart/mixed; boundary=E\n\n");
    for (int i = 0; i < 100000; i++)
        g_string_append(s, "preamble line of eighty bytes or so, which no "
                           "mail client ever shows to anyone\n");
    g_string_append(s, "--E\nContent-Type: text/plain\n\nthe text\n"
                       "--E\nContent-Type: image/png; name=p.png\n\nPNG\n"
                       "--E--\n");
    gsize pre = s->len;
    for (int i = 0; i < 100000; i++)
        g_string_append(s, "epilogue line of eighty bytes or so, which no "
                           "mail client ever shows to anyone\n");
    g_assert_cmpuint(s->len - pre, >, 7000000);
    crm_message *msg = parse_bounded(s, NULL, GROWTH_MAX_KB);
    g_assert_cmpstr(msg->text, ==, "the text");
    g_assert_cmpuint(msg->attachments->len, ==, 1);
    g_assert_cmpstr(att_at(msg, 0)->filename, ==, "p.png");
    g_assert_true(has_warning(msg, "bytes of multipart preamble or epilogue "
                                   "past 65536 bytes each were not captured"));
    message_free(&msg);
    g_string_free(s, TRUE);

    /* a multipart without a boundary is all preamble to GMime */
    s = g_string_new("From: a@example.com\nSubject: no boundary\n"
                     "Content-Type: multipart/mixed\n\n");
    for (int i = 0; i < 100000; i++)
        g_string_append(s, "--x\nContent-Type: text/plain\n\nno part\n");
    msg = parse_bounded(s, NULL, GROWTH_MAX_KB);
    g_assert_cmpstr(msg->subject, ==, "no boundary");
    g_assert_true(has_warning(msg, "bytes of multipart preamble or epilogue"));
    message_free(&msg);
    g_string_free(s, TRUE);
}

/* ---- the guard on its own ---- */

static void collect(const char *data, gsize len, gpointer user)
{
    g_string_append_len(user, data, (gssize)len);
}

/* Runs the guard over text, fed in pieces of 1..max_chunk bytes (0: all at
   once); returns the copy and fills *st. */
static GString *run_guard(const GString *text, const mime_guard_limits *lim,
                          guint max_chunk, mime_guard_stats *st)
{
    GString *out = g_string_new(NULL);
    mime_guard *g = mime_guard_new(lim, collect, out);
    for (gsize off = 0; off < text->len;) {
        gsize n = max_chunk == 0
                      ? text->len - off
                      : (gsize)g_test_rand_int_range(1, (gint32)max_chunk + 1);
        n = MIN(n, text->len - off);
        mime_guard_feed(g, text->str + off, n);
        off += n;
    }
    mime_guard_finish(g);
    *st = *mime_guard_get_stats(g);
    mime_guard_free(&g);
    g_assert_null(g);
    return out;
}

static void test_unchanged(void)
{
    GString *s = hostile_start("U");
    g_string_append(s, "--U\r\nContent-Type: message/rfc822\r\n\r\n"
                       "Subject: inner\r\nContent-Type: multipart/alternative;"
                       "\r\n boundary=\"V\"\r\n\r\n--V\r\n\r\nplain\r\n--V--"
                       "\r\n--U--\r\nepilogue\r\n");
    mime_guard_stats st;
    GString *out = run_guard(s, NULL, 0, &st);
    g_assert_cmpstr(out->str, ==, s->str);
    /* top, text, pdf, message/rfc822, its message, the alternative */
    g_assert_cmpuint(st.parts, ==, 6);
    g_assert_cmpuint(st.bytes_out, ==, s->len);
    mime_guard *g = mime_guard_new(NULL, NULL, NULL);
    mime_guard_feed(g, s->str, s->len);
    mime_guard_finish(g);
    g_assert_false(mime_guard_changed(g));
    GPtrArray *w = mime_guard_warnings(g);
    g_assert_cmpuint(w->len, ==, 0);
    g_ptr_array_unref(w);
    mime_guard_free(&g);
    g_string_free(out, TRUE);
    g_string_free(s, TRUE);
}

static void test_cuts_in_copy(void)
{
    mime_guard_limits lim;
    mime_guard_limits_default(&lim);
    lim.part_headers = 4;
    lim.line_bytes = 100;
    GString *s = g_string_new("A: 1\nB: 2\n folded\nContent-Type: multipart/"
                              "mixed; boundary=x\nContent-Type: text/plain\n"
                              "D: 4\nE: 5\n\n--x\n");
    g_autofree char *longl = g_strnfill(250, 'z');
    g_string_append_printf(s, "\n%s\n--x--\n", longl);
    mime_guard_stats st;
    GString *out = run_guard(s, &lim, 0, &st);
    g_autofree char *z100 = g_strnfill(100, 'z');
    g_autofree char *z50 = g_strnfill(50, 'z');
    g_autofree char *want = g_strdup_printf(
        "A: 1\nB: 2\n folded\nContent-Type: multipart/mixed; boundary=x\n"
        "D: 4\n\n--x\n\n%s\n%s\n%s\n--x--\n",
        z100, z100, z50);
    g_assert_cmpstr(out->str, ==, want);
    g_assert_cmpuint(st.duplicate_content_types, ==, 1);
    g_assert_cmpuint(st.headers_part_count, ==, 1);
    g_assert_cmpuint(st.body_lines_folded, ==, 2);
    g_string_free(out, TRUE);
    g_string_free(s, TRUE);
}

/* A message that runs every cut at small limits (see test_chunked). */
static GString *mixed_message(void)
{
    g_autofree char *longl = g_strnfill(1000, 'q');
    GString *s = g_string_new(NULL);
    g_string_append_printf(s,
                           "From: a@example.com\r\nX-Long: %s\r\n"
                           "Content-Type: multipart/mixed; boundary=C\r\n"
                           "Content-Type: text/plain\r\n\r\n"
                           "--C\nContent-Type: message/rfc822\n\n",
                           longl);
    for (int i = 0; i < 12; i++)
        g_string_append_printf(
            s, "Content-Type: multipart/mixed; boundary=n%d\n\n--n%d\n", i, i);
    g_string_append_printf(s, "\n%s\r\n", longl);
    for (int i = 11; i >= 0; i--)
        g_string_append_printf(s, "--n%d--\n", i);
    for (int i = 0; i < 30; i++) {
        g_string_append(s, "--C\r\nContent-Type: text/plain\r\n");
        for (int k = 0; k < 8; k++)
            g_string_append_printf(s, "X-%d: %d\r\n", k, i);
        g_string_append_printf(s, "\r\n%s %d\r\n", longl, i);
    }
    g_string_append(s, "--C--\r\n");
    return s;
}

static void test_chunked(void)
{
    mime_guard_limits lim;
    mime_guard_limits_default(&lim);
    lim.max_parts = 20;
    lim.max_depth = 5;
    lim.part_headers = 6;
    lim.total_headers = 60;
    lim.line_bytes = 128;
    GString *s = mixed_message();
    mime_guard_stats whole_st;
    GString *whole = run_guard(s, &lim, 0, &whole_st);
    g_assert_cmpuint(whole_st.parts_dropped, >, 0);
    g_assert_cmpuint(whole_st.headers_part_count, >, 0);
    g_assert_cmpuint(whole_st.body_lines_folded, >, 0);
    g_assert_cmpuint(whole_st.header_lines_cut, >, 0);
    g_assert_cmpuint(whole_st.headers_total_count, >, 0);
    g_assert_cmpuint(whole_st.parts_opaque, >, 0);
    g_assert_cmpuint(whole_st.duplicate_content_types, >, 0);
    /* the copy is within every bound: a second pass keeps it as it is */
    mime_guard_stats again_st;
    GString *again = run_guard(whole, &lim, 0, &again_st);
    g_assert_cmpstr(again->str, ==, whole->str);
    g_assert_cmpuint(
        again_st.parts_dropped + again_st.parts_opaque +
            again_st.body_lines_folded + again_st.header_lines_cut +
            again_st.headers_part_count + again_st.headers_total_count +
            again_st.duplicate_content_types,
        ==, 0);
    g_string_free(again, TRUE);
    for (guint max_chunk = 1; max_chunk <= 4096; max_chunk *= 4) {
        for (int round = 0; round < 5; round++) {
            mime_guard_stats st;
            GString *out = run_guard(s, &lim, max_chunk, &st);
            g_assert_cmpuint(out->len, ==, whole->len);
            g_assert_true(memcmp(out->str, whole->str, out->len) == 0);
            g_assert_true(memcmp(&st, &whole_st, sizeof(st)) == 0);
            g_string_free(out, TRUE);
        }
    }
    g_string_free(whole, TRUE);
    g_string_free(s, TRUE);
}

/* ---- memory back after a burst ---- */

typedef struct {
    int kind;
    crm_result r;
} burst_job;

static gpointer burst_thread(gpointer p)
{
    burst_job *job = p;
    GString *s = hostile_start("R");
    if (job->kind == 0) {
        g_string_append(s, "--R\nContent-Type: text/plain\n");
        for (int i = 0; i < 100000; i++)
            g_string_append(s, "X-A: 1\n");
    } else {
        for (int i = 0; i < 50000; i++)
            g_string_append(s, "--R\n\n");
    }
    g_string_append(s, "--R--\n");
    crm_message *msg = NULL;
    job->r = message_parse_bytes(s->str, s->len, NULL, &msg);
    message_free(&msg);
    g_string_free(s, TRUE);
    return NULL;
}

/* Built with AddressSanitizer: its allocator is not glibc's. */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

static void test_release_memory(void)
{
    if (under_valgrind() || UNDER_ASAN) {
        g_test_skip(UNDER_ASAN ? "asan-build: RSS of glibc's allocator only"
                               : "valgrind-run: RSS of glibc's allocator only");
        return;
    }
    long start = status_kb("VmRSS:");
    reset_peak();
    burst_job jobs[8];
    GThread *th[8];
    for (int i = 0; i < 8; i++) {
        jobs[i].kind = i % 2;
        th[i] = g_thread_new("burst", burst_thread, &jobs[i]);
    }
    for (int i = 0; i < 8; i++) {
        g_thread_join(th[i]);
        g_assert_cmpint(jobs[i].r, ==, CRM_OK);
    }
    long peak = status_kb("VmHWM:");
    long before = status_kb("VmRSS:");
    message_release_memory();
    long after = status_kb("VmRSS:");
    g_test_message("8 parallel hostile parses: RSS %ld KiB at start, peak "
                   "%ld, %ld after, %ld after message_release_memory",
                   start, peak, before, after);
    /* bounded parses: eight at once stay far below the 1.2 GB of old */
    g_assert_cmpint(peak - start, <, 8 * GROWTH_MAX_KB);
    g_assert_cmpint(after, <=, before);
    g_assert_cmpint(after - start, <, 16 * 1024);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    message_library_init();
    g_test_add_func("/guard/header-flood", test_header_flood);
    g_test_add_func("/guard/many-parts", test_many_parts);
    g_test_add_func("/guard/deep-nesting", test_deep_nesting);
    g_test_add_func("/guard/long-line", test_long_line);
    g_test_add_func("/guard/totals", test_totals);
    g_test_add_func("/guard/preamble-epilogue", test_preamble_epilogue);
    g_test_add_func("/guard/unchanged", test_unchanged);
    g_test_add_func("/guard/cuts-in-copy", test_cuts_in_copy);
    g_test_add_func("/guard/chunked", test_chunked);
    g_test_add_func("/guard/release-memory", test_release_memory);
    return g_test_run();
}
