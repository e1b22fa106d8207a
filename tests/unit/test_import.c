/*
 * test_import.c - the mbox reader: where messages start, mboxrd quoting
 * undone, the separator's blank line not kept, CRLF files.
 */
#include <glib.h>
#include <string.h>

#include "crmgate/import.h"

static void collect(const char *msg, gsize len, void *data)
{
    g_ptr_array_add(data, g_strndup(msg, len));
}

static GPtrArray *split(const char *mbox)
{
    GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
    guint n = import_mbox_split(mbox, strlen(mbox), collect, out);
    g_assert_cmpuint(n, ==, out->len);
    return out;
}

static void test_split(void)
{
    g_autoptr(GPtrArray) m =
        split("From a@x Mon Jan  1 00:00:00 2024\n"
              "Subject: one\n"
              "\n"
              "body one\n"
              ">From the start\n"
              ">>From twice\n"
              "From here, no blank line before: not a separator\n"
              "\n"
              "From b@x Mon Jan  1 00:00:00 2024\n"
              "Subject: two\n"
              "\n"
              "body two\n"
              "\n");
    g_assert_cmpuint(m->len, ==, 2);
    g_assert_cmpstr(g_ptr_array_index(m, 0), ==,
                    "Subject: one\n\nbody one\nFrom the start\n>From twice\n"
                    "From here, no blank line before: not a separator\n");
    g_assert_cmpstr(g_ptr_array_index(m, 1), ==, "Subject: two\n\nbody two\n");
}

static void test_split_crlf_and_edges(void)
{
    g_autoptr(GPtrArray) m = split("From a@x Mon Jan  1 00:00:00 2024\r\n"
                                   "Subject: one\r\n\r\n>From x\r\n\r\n"
                                   "From b@x Mon Jan  1 00:00:00 2024\r\n"
                                   "Subject: two\r\n\r\nlast line");
    g_assert_cmpuint(m->len, ==, 2);
    g_assert_cmpstr(g_ptr_array_index(m, 0), ==,
                    "Subject: one\r\n\r\nFrom x\r\n");
    g_assert_cmpstr(g_ptr_array_index(m, 1), ==,
                    "Subject: two\r\n\r\nlast line");
    /* No separator at all: nothing is a message; an empty file neither. */
    g_autoptr(GPtrArray) none = split("Subject: x\n\nbody\n");
    g_assert_cmpuint(none->len, ==, 0);
    g_autoptr(GPtrArray) empty = split("");
    g_assert_cmpuint(empty->len, ==, 0);
    /* Two separators in a row: the empty message between them is skipped. */
    g_autoptr(GPtrArray) two = split("From a@x\n\nFrom b@x\nSubject: b\n\nb\n");
    g_assert_cmpuint(two->len, ==, 1);
    g_assert_cmpstr(g_ptr_array_index(two, 0), ==, "Subject: b\n\nb\n");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/import/mbox-split", test_split);
    g_test_add_func("/import/mbox-split-crlf-edges", test_split_crlf_and_edges);
    return g_test_run();
}
