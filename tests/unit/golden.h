/*
 * golden.h - what a golden file holds, shared by the golden test
 * (test_golden.c, which only reads golden files) and the program that
 * writes them (golden_update.c, run by `make golden-update`).
 *
 * A golden file tests/golden/<folder>/<name>.json is, for the corpus
 * message mime/<folder>/<name>.eml, the `crmgate parse --json` document
 * (message_to_json: message id, subject, date, addresses, references, body
 * text, attachments with name, type, size and SHA-256, warnings) plus the
 * dedup "digest", parsed with the default limits. Both programs build it
 * with golden_document(), so they cannot drift apart.
 */
#ifndef CRMGATE_GOLDEN_H
#define CRMGATE_GOLDEN_H

#include <glib.h>
#include <jansson.h>
#include <string.h>

#include "crmgate/message.h"

/* The corpus folders under mime/, in the order tests run. */
static const char *const golden_folders[] = {"legacy", "malformed", "rfc",
                                             "thirdparty"};

/* Returns the golden document of msg (new reference). */
static inline json_t *golden_document(const crm_message *msg)
{
    json_t *doc = message_to_json(msg);
    json_object_set_new(doc, "digest", json_string(msg->digest));
    return doc;
}

static inline int golden_cmp_path(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Returns the sorted paths of every mime/<folder>/<name>.eml of the corpus (an
   empty array when there are none). */
static inline GPtrArray *golden_corpus_files(const char *corpus)
{
    GPtrArray *files = g_ptr_array_new_with_free_func(g_free);
    for (size_t f = 0; f < G_N_ELEMENTS(golden_folders); f++) {
        g_autofree char *dir =
            g_build_filename(corpus, "mime", golden_folders[f], NULL);
        GDir *d = g_dir_open(dir, 0, NULL);
        if (d == NULL)
            continue;
        const char *e;
        while ((e = g_dir_read_name(d)) != NULL)
            if (g_str_has_suffix(e, ".eml"))
                g_ptr_array_add(files, g_build_filename(dir, e, NULL));
        g_dir_close(d);
    }
    g_ptr_array_sort(files, golden_cmp_path);
    return files;
}

/* Returns "<folder>/<name>" of a corpus path ".../mime/<folder>/<name>.eml"
   (newly allocated). */
static inline char *golden_name(const char *eml)
{
    g_autofree char *dir = g_path_get_dirname(eml);
    g_autofree char *folder = g_path_get_basename(dir);
    g_autofree char *base = g_path_get_basename(eml);
    if (g_str_has_suffix(base, ".eml"))
        base[strlen(base) - 4] = '\0';
    return g_strdup_printf("%s/%s", folder, base);
}

/* Returns the golden file path of name under golden_dir (newly
   allocated). */
static inline char *golden_path(const char *golden_dir, const char *name)
{
    g_autofree char *file = g_strdup_printf("%s.json", name);
    return g_build_filename(golden_dir, file, NULL);
}

/* How golden files are written: two-space indent, keys in the order
   message_to_json gives them, UTF-8 as is (readable when reviewed). */
#define GOLDEN_JSON_FLAGS (JSON_INDENT(2) | JSON_PRESERVE_ORDER)

#endif
