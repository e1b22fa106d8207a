/*
 * golden_update.c - writes the golden files the golden test compares with:
 * for every mime/<folder>/<name>.eml of the corpus, tests/golden/<folder>/
 * <name>.json (see golden.h for what one holds). Run by `make
 * golden-update`; never by the test suite, which only reads them.
 *
 * usage: golden_update CORPUS_DIR GOLDEN_DIR
 *
 * Rewrites every file (unchanged ones come out byte-identical, so `git
 * diff` shows exactly what a parser change moved), removes golden files
 * whose message left the corpus, and prints one line per written, changed
 * and removed file count. Review the diff before committing it. Exit 1 when
 * a message does not parse or a file cannot be written.
 */
#include "golden.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <stdio.h>

/* Removes golden files under golden_dir/<folder>/ that no corpus message
   produced; returns how many. */
static guint remove_stale(const char *golden_dir, GHashTable *written)
{
    guint removed = 0;
    for (size_t f = 0; f < G_N_ELEMENTS(golden_folders); f++) {
        g_autofree char *dir =
            g_build_filename(golden_dir, golden_folders[f], NULL);
        GDir *d = g_dir_open(dir, 0, NULL);
        if (d == NULL)
            continue;
        const char *e;
        while ((e = g_dir_read_name(d)) != NULL) {
            g_autofree char *path = g_build_filename(dir, e, NULL);
            if (g_str_has_suffix(e, ".json") &&
                !g_hash_table_contains(written, path)) {
                if (g_unlink(path) == 0) {
                    printf("removed %s\n", path);
                    removed++;
                }
            }
        }
        g_dir_close(d);
    }
    return removed;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: golden_update CORPUS_DIR GOLDEN_DIR\n");
        return 64;
    }
    const char *corpus = argv[1], *golden_dir = argv[2];
    message_library_init();
    g_autoptr(GPtrArray) files = golden_corpus_files(corpus);
    if (files->len == 0) {
        fprintf(stderr, "golden_update: no mime/<folder>/<name>.eml under %s\n",
                corpus);
        return 1;
    }
    g_autoptr(GHashTable) written =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    guint changed = 0, errors = 0;
    for (guint i = 0; i < files->len; i++) {
        const char *eml = g_ptr_array_index(files, i);
        g_autofree char *name = golden_name(eml);
        g_autofree char *path = golden_path(golden_dir, name);
        crm_message *msg = NULL;
        crm_result r = message_parse_file(eml, NULL, &msg);
        if (r != CRM_OK) {
            fprintf(stderr, "golden_update: %s: %s\n", eml, crm_strerror(r));
            errors++;
            continue;
        }
        json_t *doc = golden_document(msg);
        message_free(&msg);
        char *text = json_dumps(doc, GOLDEN_JSON_FLAGS);
        json_decref(doc);
        g_autofree char *data = g_strconcat(text, "\n", NULL);
        free(text);
        g_autofree char *old = NULL;
        if (!g_file_get_contents(path, &old, NULL, NULL) ||
            strcmp(old, data) != 0) {
            g_autofree char *dir = g_path_get_dirname(path);
            GError *err = NULL;
            if (g_mkdir_with_parents(dir, 0755) != 0 ||
                !g_file_set_contents(path, data, -1, &err)) {
                fprintf(stderr, "golden_update: cannot write %s: %s\n", path,
                        err != NULL ? err->message : g_strerror(errno));
                g_clear_error(&err);
                errors++;
                continue;
            }
            if (old != NULL)
                printf("changed %s\n", path);
            changed++;
        }
        g_hash_table_add(written, g_steal_pointer(&path));
    }
    guint removed = remove_stale(golden_dir, written);
    printf("golden_update: %u messages, %u files written or changed, %u "
           "removed, %u errors\n",
           files->len, changed, removed, errors);
    return errors > 0 ? 1 : 0;
}
