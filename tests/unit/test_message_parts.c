/*
 * test_message_parts.c - attachments (hash, size, store limit, bad base64,
 * nested messages), part and depth limits with their warnings, and bounded
 * memory while parsing a 20 MB message.
 */
#include "crmgate/config.h"
#include "crmgate/html_text.h"
#include "crmgate/ingest.h"
#include "crmgate/message.h"
#include "message_test.h"

#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char *sha256_hex(const void *data, gsize len)
{
    return g_compute_checksum_for_data(G_CHECKSUM_SHA256, data, len);
}

/* ---- headers ---- */

static GString *base64_lines(const guchar *data, gsize len)
{
    g_autofree char *b64 = g_base64_encode(data, len);
    GString *s = g_string_new(NULL);
    for (gsize i = 0, n = strlen(b64); i < n; i += 76) {
        g_string_append_len(s, b64 + i, (gssize)MIN(76, n - i));
        g_string_append(s, "\r\n");
    }
    return s;
}

static GString *message_with_attachment(const guchar *data, gsize len)
{
    g_autoptr(GString) b64 = base64_lines(data, len);
    GString *s = g_string_new(NULL);
    g_string_append_printf(
        s,
        "From: a@example.com\r\n"
        "Content-Type: multipart/mixed; boundary=\"xyz\"\r\n"
        "\r\n"
        "--xyz\r\n"
        "Content-Type: text/plain\r\n"
        "\r\n"
        "see attached\r\n"
        "--xyz\r\n"
        "Content-Type: application/PDF; name=\"=?UTF-8?Q?r=C3=A9sum=C3=A9?="
        ".pdf\"\r\n"
        "Content-Disposition: attachment; filename*=UTF-8''r%%C3%%A9sum%%C3%%A9"
        ".pdf\r\n"
        "Content-Transfer-Encoding: base64\r\n"
        "\r\n"
        "%s"
        "--xyz--\r\n",
        b64->str);
    return s;
}

static void test_attachment_base64(void)
{
    gsize len = 100000;
    guchar *data = g_malloc(len);
    for (gsize i = 0; i < len; i++)
        data[i] = (guchar)((i * 7 + i / 251) & 0xff);
    g_autofree char *want = sha256_hex(data, len);
    GString *s = message_with_attachment(data, len);

    crm_message *msg = parse(s->str);
    g_assert_cmpstr(msg->text, ==, "see attached");
    g_assert_cmpuint(msg->attachments->len, ==, 1);
    message_attachment *a = g_ptr_array_index(msg->attachments, 0);
    g_assert_cmpstr(a->filename, ==, "résumé.pdf");
    g_assert_cmpstr(a->content_type, ==, "application/pdf");
    g_assert_cmpuint(a->size, ==, len);
    g_assert_cmpstr(a->sha256, ==, want);
    g_assert_nonnull(a->content);
    gsize clen = 0;
    const void *c = g_bytes_get_data(a->content, &clen);
    g_assert_cmpmem(c, clen, data, len);
    g_assert_false(has_warning(msg, "base64"));
    message_free(&msg);

    /* over the store limit: no content, same size and hash */
    message_limits lim;
    message_limits_default(&lim);
    lim.attachment_store_max = 1000;
    msg = parse_lim(s->str, &lim);
    a = g_ptr_array_index(msg->attachments, 0);
    g_assert_null(a->content);
    g_assert_cmpuint(a->size, ==, len);
    g_assert_cmpstr(a->sha256, ==, want);
    message_free(&msg);

    g_string_free(s, TRUE);
    g_free(data);
}

static void test_attachment_bad_base64(void)
{
    crm_message *msg = parse("From: a@example.com\n"
                             "Content-Type: application/octet-stream\n"
                             "Content-Transfer-Encoding: base64\n"
                             "\n"
                             "aGVs!!bG8=\n");
    g_assert_cmpuint(msg->attachments->len, ==, 1);
    g_assert_true(has_warning(msg, "invalid base64"));
    message_free(&msg);
}

static void test_nested_message(void)
{
    crm_message *msg =
        parse("From: outer@example.com\n"
              "Subject: Fwd: report\n"
              "Content-Type: multipart/mixed; boundary=outer\n"
              "\n"
              "--outer\n"
              "Content-Type: text/plain\n"
              "\n"
              "outer body\n"
              "--outer\n"
              "Content-Type: message/rfc822\n"
              "\n"
              "From: inner@example.com\n"
              "Subject: report\n"
              "Content-Type: multipart/mixed; boundary=inner\n"
              "\n"
              "--inner\n"
              "Content-Type: text/plain\n"
              "\n"
              "inner body\n"
              "--inner\n"
              "Content-Type: text/csv; name=data.csv\n"
              "Content-Disposition: attachment; filename=data.csv\n"
              "\n"
              "a,b\n"
              "--inner--\n"
              "--outer--\n");
    g_assert_cmpstr(msg->text, ==, "outer body");
    g_assert_cmpstr(msg->subject, ==, "Fwd: report");
    g_assert_cmpuint(msg->attachments->len, ==, 2);
    message_attachment *a = g_ptr_array_index(msg->attachments, 0);
    g_assert_cmpstr(a->content_type, ==, "message/rfc822");
    g_assert_cmpuint(a->size, >, 50);
    g_assert_nonnull(a->content);
    g_autofree char *h = sha256_hex(g_bytes_get_data(a->content, NULL),
                                    g_bytes_get_size(a->content));
    g_assert_cmpstr(a->sha256, ==, h);
    a = g_ptr_array_index(msg->attachments, 1);
    g_assert_cmpstr(a->content_type, ==, "text/csv");
    g_assert_cmpstr(a->filename, ==, "data.csv");
    g_assert_cmpuint(a->size, ==, 3);
    message_free(&msg);
}

static void test_part_limits(void)
{
    GString *s = g_string_new("From: a@example.com\n"
                              "Content-Type: multipart/mixed; boundary=b\n\n");
    for (int i = 0; i < 10; i++)
        g_string_append_printf(s, "--b\nContent-Type: image/gif\n\nGIF%d\n", i);
    g_string_append(s, "--b--\n");
    message_limits lim;
    message_limits_default(&lim);
    lim.max_parts = 4;
    crm_message *msg = parse_lim(s->str, &lim);
    g_assert_cmpuint(msg->attachments->len, ==, 3);
    g_assert_true(
        has_warning(msg, "7 MIME parts past the limit of 4 were not captured"));
    message_free(&msg);
    g_string_free(s, TRUE);

    s = g_string_new("From: a@example.com\n");
    for (int i = 0; i < 12; i++)
        g_string_append_printf(
            s, "Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n", i, i);
    g_string_append(s, "Content-Type: image/gif\n\nGIF\n");
    for (int i = 11; i >= 0; i--)
        g_string_append_printf(s, "--b%d--\n", i);
    msg = parse(s->str);
    /* the multipart at depth 8 is kept whole, as one opaque attachment */
    g_assert_cmpuint(msg->attachments->len, ==, 1);
    const message_attachment *deep = g_ptr_array_index(msg->attachments, 0);
    g_assert_cmpstr(deep->content_type, ==, "application/octet-stream");
    g_assert_cmpuint(deep->size, >, 0);
    g_assert_true(has_warning(msg, "1 MIME containers at the nesting limit "
                                   "of 8"));
    message_free(&msg);
    g_string_free(s, TRUE);
}

/* ---- digest ---- */

static long vm_hwm_kb(void)
{
    g_autofree char *status = NULL;
    if (!g_file_get_contents("/proc/self/status", &status, NULL, NULL))
        return -1;
    const char *p = strstr(status, "VmHWM:");
    return p != NULL ? strtol(p + 6, NULL, 10) : -1;
}

static bool under_valgrind(void)
{
    g_autofree char *maps = NULL;
    g_file_get_contents("/proc/self/maps", &maps, NULL, NULL);
    return maps != NULL && strstr(maps, "vgpreload") != NULL;
}

static void test_big_message(void)
{
    bool vg = under_valgrind();
    gsize text_bytes = vg ? 1 << 20 : 5 << 20;
    gsize att_bytes = vg ? 2 << 20 : 15 << 20;
    g_autofree char *path = NULL;
    int fd = g_file_open_tmp("crmgate-big-XXXXXX.eml", &path, NULL);
    g_assert_cmpint(fd, >=, 0);
    FILE *f = fdopen(fd, "w");
    fputs("From: big@example.com\n"
          "Subject: big\n"
          "Content-Type: multipart/mixed; boundary=BIG\n\n"
          "--BIG\nContent-Type: text/plain; charset=utf-8\n\n",
          f);
    for (gsize n = 0; n < text_bytes; n += 64)
        fputs("0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVW\n",
              f);
    fputs("--BIG\nContent-Type: application/octet-stream\n"
          "Content-Transfer-Encoding: base64\n\n",
          f);
    GChecksum *sum = g_checksum_new(G_CHECKSUM_SHA256);
    guchar block[57 * 1000];
    for (gsize n = 0; n < att_bytes; n += sizeof(block)) {
        for (gsize i = 0; i < sizeof(block); i++)
            block[i] = (guchar)((n + i) * 31 >> 3);
        g_checksum_update(sum, block, sizeof(block));
        for (gsize i = 0; i < sizeof(block); i += 57) {
            g_autofree char *line = g_base64_encode(block + i, 57);
            fputs(line, f);
            fputc('\n', f);
        }
    }
    fputs("--BIG--\n", f);
    fclose(f);
    gsize total =
        ((att_bytes + sizeof(block) - 1) / sizeof(block)) * sizeof(block);

    message_limits lim;
    message_limits_default(&lim);
    lim.attachment_store_max = 1 << 20;
    /* "5" resets the peak RSS to the current RSS (Linux 4.0+) */
    FILE *cr = fopen("/proc/self/clear_refs", "w");
    if (cr != NULL) {
        fputs("5", cr);
        fclose(cr);
    }
    long before = vm_hwm_kb();
    crm_message *msg = NULL;
    g_assert_cmpint(message_parse_file(path, &lim, &msg), ==, CRM_OK);
    long after = vm_hwm_kb();
    g_assert_cmpuint(strlen(msg->text), <=, lim.text_max);
    g_assert_true(msg->text_truncated);
    g_assert_cmpuint(msg->attachments->len, ==, 1);
    message_attachment *a = g_ptr_array_index(msg->attachments, 0);
    g_assert_cmpuint(a->size, ==, total);
    g_assert_cmpstr(a->sha256, ==, g_checksum_get_string(sum));
    g_assert_null(a->content);
    g_assert_cmpuint(msg->raw_size, >, text_bytes + att_bytes);
    if (!vg && before > 0 && after > 0) {
        g_test_message("VmHWM grew by %ld KiB", after - before);
        g_assert_cmpint(after - before, <, 10 * 1024);
    }
    message_free(&msg);
    g_checksum_free(sum);
    g_unlink(path);
}

/* ---- output ---- */

static void test_long_filename(void)
{
    g_autofree char *longname = g_strnfill(2000, 'n');
    g_autofree char *text = g_strdup_printf(
        "From: a@b.test\r\nSubject: long name\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/mixed; boundary=\"B\"\r\n\r\n"
        "--B\r\nContent-Type: text/plain\r\n\r\nbody\r\n"
        "--B\r\nContent-Type: application/octet-stream\r\n"
        "Content-Disposition: attachment; filename=\"%s.bin\"\r\n\r\n"
        "data\r\n--B--\r\n",
        longname);
    crm_message *m = parse(text);
    g_assert_cmpuint(m->attachments->len, ==, 1);
    const message_attachment *a = g_ptr_array_index(m->attachments, 0);
    g_assert_nonnull(a->filename);
    g_assert_cmpuint(strlen(a->filename), <=, 1024);
    g_assert_true(has_warning(m, "file name cut"));
    message_free(&m);
}

/* ---- parsing bounds from crmgate.conf ---- */

static crm_result load_conf(const char *dir, const char *limits,
                            crm_config **cfg_r, char **err_r)
{
    g_autofree char *fm = g_build_filename(dir, "free.txt", NULL);
    g_assert_true(g_file_set_contents(fm, "gmail.com\n", -1, NULL));
    g_autofree char *p = g_build_filename(dir, "c.conf", NULL);
    g_autofree char *text = g_strdup_printf(
        "mail { freemail_domains_file = \"free.txt\" }\nlimits { %s }\n",
        limits);
    g_assert_true(g_file_set_contents(p, text, -1, NULL));
    return config_load(p, cfg_r, err_r);
}

static void test_config_limits(void)
{
    g_autofree char *dir = g_dir_make_tmp("crmgate-lim-XXXXXX", NULL);
    g_assert_nonnull(dir);
    crm_config *cfg = NULL;
    char *err = NULL;
    g_assert_cmpint(load_conf(dir,
                              "max_parts = 3 max_depth = 2 part_headers = 10 "
                              "part_header_bytes = 2048 total_headers = 20 "
                              "total_header_bytes = 8192 line_bytes = 1000",
                              &cfg, &err),
                    ==, CRM_OK);
    message_limits lim;
    ingest_message_limits(cfg, &lim);
    g_assert_cmpuint(lim.max_parts, ==, 3);
    g_assert_cmpuint(lim.max_depth, ==, 2);
    g_assert_cmpuint(lim.part_headers, ==, 10);
    g_assert_cmpuint(lim.part_header_bytes, ==, 2048);
    g_assert_cmpuint(lim.total_headers, ==, 20);
    g_assert_cmpuint(lim.total_header_bytes, ==, 8192);
    g_assert_cmpuint(lim.line_bytes, ==, 1000);
    GString *s = g_string_new("From: a@example.com\n"
                              "Content-Type: multipart/mixed; boundary=b\n\n");
    for (int i = 0; i < 5; i++)
        g_string_append_printf(s, "--b\nContent-Type: image/gif\n\nGIF%d\n", i);
    g_string_append(s, "--b--\n");
    crm_message *msg = parse_lim(s->str, &lim);
    g_assert_cmpuint(msg->attachments->len, ==, 2);
    g_assert_true(has_warning(msg, "3 MIME parts past the limit of 3"));
    message_free(&msg);
    g_string_free(s, TRUE);
    config_free(&cfg);

    /* defaults without the keys; out of range is a config error */
    g_assert_cmpint(load_conf(dir, "", &cfg, &err), ==, CRM_OK);
    ingest_message_limits(cfg, &lim);
    message_limits def;
    message_limits_default(&def);
    g_assert_cmpuint(lim.max_parts, ==, def.max_parts);
    g_assert_cmpuint(lim.line_bytes, ==, def.line_bytes);
    g_assert_cmpuint(lim.total_headers, ==, def.total_headers);
    config_free(&cfg);
    cfg = config_new_defaults();
    ingest_message_limits(cfg, &lim);
    g_assert_cmpuint(lim.max_depth, ==, def.max_depth);
    g_assert_cmpuint(lim.part_headers, ==, def.part_headers);
    g_assert_cmpuint(lim.part_header_bytes, ==, def.part_header_bytes);
    g_assert_cmpuint(lim.total_header_bytes, ==, def.total_header_bytes);
    config_free(&cfg);
    g_assert_cmpint(load_conf(dir, "max_depth = 0", &cfg, &err), ==,
                    CRM_ERR_CONFIG);
    g_assert_nonnull(strstr(err, "max_depth"));
    g_free(err);
    err = NULL;
    g_assert_cmpint(load_conf(dir, "line_bytes = 100", &cfg, &err), ==,
                    CRM_ERR_CONFIG);
    g_free(err);
    g_autofree char *p1 = g_build_filename(dir, "c.conf", NULL);
    g_autofree char *p2 = g_build_filename(dir, "free.txt", NULL);
    g_unlink(p1);
    g_unlink(p2);
    g_rmdir(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    message_library_init();
    g_test_add_func("/message/attachment-base64", test_attachment_base64);
    g_test_add_func("/message/config-limits", test_config_limits);
    g_test_add_func("/message/attachment-bad-base64",
                    test_attachment_bad_base64);
    g_test_add_func("/message/nested-message", test_nested_message);
    g_test_add_func("/message/part-limits", test_part_limits);
    g_test_add_func("/message/big-message", test_big_message);
    g_test_add_func("/message/long-filename", test_long_filename);
    return g_test_run();
}
