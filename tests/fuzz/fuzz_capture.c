/*
 * fuzz_capture.c - libFuzzer target for the capture parser (core/message.c
 * and, through HTML-only bodies, core/html_text.c).
 *
 * Each input is parsed twice: with the default limits, and with small ones
 * (few parts, shallow nesting, few and short headers and lines, tiny text
 * and store bounds) so that every cut path, the MIME guard's included,
 * runs. Each result goes through message_to_json, json_dumps and
 * message_snippet, and the invariants of message.h are checked: valid UTF-8
 * everywhere, lists within their bounds, text within text_max.
 */
#include "crmgate/message.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_addrs(const GPtrArray *list, guint max)
{
    if (list == NULL || list->len > max)
        abort();
    for (guint i = 0; i < list->len; i++) {
        const message_addr *a = g_ptr_array_index(list, i);
        if (a->address == NULL || !g_utf8_validate(a->address, -1, NULL) ||
            (a->name != NULL && !g_utf8_validate(a->name, -1, NULL)))
            abort();
    }
}

static void check(const crm_message *msg, const message_limits *lim)
{
    if (!g_utf8_validate(msg->subject, -1, NULL) ||
        !g_utf8_validate(msg->text, -1, NULL) ||
        strlen(msg->text) > lim->text_max || strlen(msg->digest) != 64)
        abort();
    if (msg->references->len > lim->max_references)
        abort();
    check_addrs(msg->from, lim->max_addresses);
    check_addrs(msg->sender, lim->max_addresses);
    check_addrs(msg->to, lim->max_addresses);
    check_addrs(msg->cc, lim->max_addresses);
    check_addrs(msg->bcc, lim->max_addresses);
    check_addrs(msg->reply_to, lim->max_addresses);
    for (guint i = 0; i < msg->attachments->len; i++) {
        const message_attachment *a = g_ptr_array_index(msg->attachments, i);
        if (a->content != NULL && (g_bytes_get_size(a->content) != a->size ||
                                   a->size > lim->attachment_store_max))
            abort();
        if (strlen(a->sha256) != 64)
            abort();
    }
    json_t *j = message_to_json(msg);
    char *dump = json_dumps(j, JSON_COMPACT);
    if (dump == NULL)
        abort();
    free(dump);
    json_decref(j);
    char *snippet = message_snippet(msg, 120);
    if (!g_utf8_validate(snippet, -1, NULL) || g_utf8_strlen(snippet, -1) > 120)
        abort();
    g_free(snippet);
}

static void run(const uint8_t *data, size_t size, const message_limits *lim)
{
    crm_message *msg = NULL;
    crm_result r = message_parse_bytes((const char *)data, size, lim, &msg);
    if (r == CRM_OK) {
        check(msg, lim);
        message_free(&msg);
    } else if (size > 0 || msg != NULL) {
        abort(); /* only empty input may fail */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    message_library_init();
    message_limits lim;
    message_limits_default(&lim);
    run(data, size, &lim);

    lim.text_max = 64;
    lim.attachment_store_max = 16;
    lim.max_depth = 2;
    lim.max_parts = 4;
    lim.max_addresses = 2;
    lim.max_references = 2;
    lim.part_headers = 6;
    lim.part_header_bytes = 512;
    lim.total_headers = 20;
    lim.total_header_bytes = 2048;
    lim.line_bytes = 100;
    run(data, size, &lim);
    return 0;
}
