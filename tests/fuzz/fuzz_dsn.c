/*
 * fuzz_dsn.c - libFuzzer target for the bounce parser (core/dsn.c).
 *
 * Any input is parsed; a report, when there is one, must keep the bounds
 * dsn.h promises: at most DSN_MAX_RECIPIENTS recipients, each with a
 * non-empty address holding '@', a one-line valid UTF-8 diagnostic of at
 * most DSN_MAX_DIAGNOSTIC bytes, a reason, and hard only for the reasons
 * Sisimai calls hard; its JSON form must build. Seeds: tests/fuzz/
 * seeds_dsn (a few bounces of the shared corpus and hostile shapes).
 */
#include "crmgate/dsn.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dsn_report *r = dsn_parse((const char *)data, size);
    if (r == NULL)
        return 0;
    if (r->kind == NULL || r->recipients->len > DSN_MAX_RECIPIENTS)
        abort();
    for (guint i = 0; i < r->recipients->len; i++) {
        const dsn_recipient *x = g_ptr_array_index(r->recipients, i);
        if (x->recipient == NULL || x->recipient[0] == '\0' ||
            strchr(x->recipient, '@') == NULL ||
            !g_utf8_validate(x->recipient, -1, NULL))
            abort();
        if (x->diagnostic == NULL ||
            strlen(x->diagnostic) > DSN_MAX_DIAGNOSTIC ||
            strchr(x->diagnostic, '\n') != NULL ||
            !g_utf8_validate(x->diagnostic, -1, NULL))
            abort();
        if (x->reason == NULL || x->status == NULL || x->action == NULL)
            abort();
        if (x->hard && !dsn_reason_is_hard(x->reason, x->status))
            abort();
    }
    json_t *j = dsn_report_json(r);
    char *text = json_dumps(j, 0);
    if (text == NULL)
        abort();
    free(text);
    json_decref(j);
    dsn_report_free(&r);
    return 0;
}
