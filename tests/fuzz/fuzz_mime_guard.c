/*
 * fuzz_mime_guard.c - libFuzzer target for the bounded MIME pre-scanner
 * (core/mime_guard.c).
 *
 * Each input runs through the guard with small limits (so every cut path
 * runs) and the invariants of mime_guard.h are checked:
 *  - the copy fed whole equals the copy fed in chunks whose sizes come from
 *    the input itself (chunk boundaries anywhere: inside CRLF, inside a
 *    boundary line), counters included;
 *  - the copy is never longer than the input plus two bytes per folded
 *    line and one header line per opaque container, and bytes_out is its
 *    length;
 *  - the bounds hold: at most max_parts entities, and a second pass over
 *    the copy with the same limits drops, folds, cuts and rewrites nothing
 *    and gives the copy back unchanged (header byte drops are allowed only
 *    after an opaque rewrite, see below);
 *  - every warning is valid UTF-8 and there is one per kind of cut.
 */
#include "crmgate/message.h"
#include "crmgate/mime_guard.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define OPAQUE_LINE_MAX 40 /* "Content-Type: application/octet-stream\r\n" */

static void collect(const char *d, gsize len, gpointer user)
{
    g_string_append_len(user, d, (gssize)len);
}

/* Runs the guard over data; chunk sizes 1..16 from seed, or all at once
   when seed is NULL. */
static GString *run(const mime_guard_limits *lim, const uint8_t *data,
                    size_t size, const uint8_t *seed, size_t seed_len,
                    mime_guard_stats *st, guint *warnings_r)
{
    GString *out = g_string_new(NULL);
    mime_guard *g = mime_guard_new(lim, collect, out);
    size_t k = 0;
    for (size_t off = 0; off < size;) {
        size_t n = size - off;
        if (seed != NULL && seed_len > 0) {
            size_t piece = (size_t)(seed[k++ % seed_len] % 16) + 1;
            n = MIN(n, piece);
        }
        mime_guard_feed(g, (const char *)data + off, n);
        off += n;
    }
    mime_guard_finish(g);
    *st = *mime_guard_get_stats(g);
    GPtrArray *w = mime_guard_warnings(g);
    for (guint i = 0; i < w->len; i++)
        if (!g_utf8_validate(g_ptr_array_index(w, i), -1, NULL))
            abort();
    if ((w->len > 0) != mime_guard_changed(g))
        abort();
    *warnings_r = w->len;
    g_ptr_array_unref(w);
    mime_guard_free(&g);
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    message_library_init();
    mime_guard_limits lim = {
        .max_parts = 6,
        .max_depth = 3,
        .part_header_bytes = 300,
        .part_headers = 5,
        .total_header_bytes = 1000,
        .total_headers = 12,
        .line_bytes = 80,
    };
    mime_guard_stats st, cst, again_st;
    guint nw, cnw, anw;
    GString *whole = run(&lim, data, size, NULL, 0, &st, &nw);
    GString *chunked = run(&lim, data, size, data, MIN(size, 64), &cst, &cnw);
    if (whole->len != chunked->len ||
        memcmp(whole->str, chunked->str, whole->len) != 0 ||
        memcmp(&st, &cst, sizeof(st)) != 0 || nw != cnw)
        abort();
    if (st.bytes_out != whole->len || st.bytes_in != size)
        abort();
    if (whole->len >
        size + 2 * st.body_lines_folded + OPAQUE_LINE_MAX * st.parts_opaque)
        abort();
    if (st.parts > lim.max_parts)
        abort();
    GString *again = run(&lim, (const uint8_t *)whole->str, whole->len, NULL, 0,
                         &again_st, &anw);
    if (again_st.parts_dropped || again_st.parts_opaque ||
        again_st.body_lines_folded || again_st.header_lines_cut ||
        again_st.duplicate_content_types || again_st.headers_part_count ||
        again_st.headers_total_count)
        abort();
    /* an opaque Content-Type may be longer than the one it replaced, and
       push a later header of its part past the byte bound; else the copy
       is a fixed point */
    if ((again_st.headers_part_bytes || again_st.headers_total_bytes) &&
        st.parts_opaque == 0)
        abort();
    if (!again_st.headers_part_bytes && !again_st.headers_total_bytes &&
        (again->len != whole->len ||
         memcmp(again->str, whole->str, whole->len) != 0))
        abort();
    g_string_free(again, TRUE);
    g_string_free(whole, TRUE);
    g_string_free(chunked, TRUE);
    return 0;
}
